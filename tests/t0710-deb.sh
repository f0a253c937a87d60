#!/bin/sh
# The Debian package, as an admin gets it: dpkg-buildpackage builds it from
# the dist tarball's files, lintian finds no error, dpkg -i installs the
# binary, the manual pages, the conffile, the unit, the user and its
# folders; `objwatch check` passes on the installed config; and the
# installed unit runs the daemon, embedded PostgreSQL included, under a
# real systemd with every restriction it declares. Then dpkg --purge
# leaves the machine as it was (the test also removes the user it made).
#
# No systemd runs this machine, so the test boots one of its own: PID 1 of
# new PID, mount, cgroup, UTS and IPC namespaces, with a private /run and
# only the unit under test and stand-ins for the targets it names (so that
# no unit of the machine starts). The daemon runs as it would on a Debian
# host; only its output goes to a file, and its watchdog is 3 s, so that
# the test sees the pings.
. "$SRCDIR/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "installs a package: needs root"
for c in dpkg-buildpackage dh lintian systemd-analyze nsenter unshare; do
	command -v "$c" >/dev/null 2>&1 || skip_all "$c is not installed"
done
dpkg-query -W -f='${db:Status-Status}' objwatch 2>/dev/null |
	grep -q '^installed$' &&
	skip_all "the objwatch package is installed here: not replacing it"
[ -e /var/lib/objwatch ] &&
	skip_all "/var/lib/objwatch exists: the package would take it over"
plan 33
unset OBJWATCH_CONFIG

# Leave the machine as it was: the package purged, the user removed if
# this test made it, our systemd and its cgroups gone.
had_user=$(getent passwd objwatch)
sd=
cgroups=
cleanup() {
	if [ -n "$sd" ]; then
		kill -KILL "$sd" 2>/dev/null
		wait_until 10 sh -c "! kill -0 $sd 2>/dev/null"
	fi
	for _cg in $cgroups; do
		[ -d "$_cg" ] && find "$_cg" -depth -type d -exec rmdir {} + \
		    2>/dev/null
	done
	# Whatever still runs as the user this test made is the test's own.
	if [ -z "$had_user" ] && getent passwd objwatch >/dev/null; then
		_left=$(pgrep -u objwatch)
		[ -z "$_left" ] || { diag "killing what objwatch left:" $_left
		    kill -KILL $_left; sleep 1; }
	fi
	if dpkg-query -W objwatch >/dev/null 2>&1; then
		dpkg --purge objwatch >>"$T/dpkg.log" 2>&1 ||
		    diag "dpkg --purge objwatch failed: see $T/dpkg.log"
	fi
	if [ -z "$had_user" ] && getent passwd objwatch >/dev/null; then
		userdel objwatch 2>/dev/null
		getent group objwatch >/dev/null && groupdel objwatch
	fi
}
at_exit cleanup

## Build

unset MAKEFLAGS MFLAGS MAKELEVEL
make -s -C "$BUILDDIR" distdir distdir="$T/src" >"$T/dist.log" 2>&1 ||
	{ _lib_diag_file "$T/dist.log"; bail "make distdir failed"; }
# nocheck: make check runs the unit tests already; one core, for the tests
# running beside this one.
(cd "$T/src" && DEB_BUILD_OPTIONS="nocheck parallel=1" \
	dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 </dev/null
ok $? "dpkg-buildpackage -us -uc -b builds it" ||
	{ tail -n 60 "$T/build.log" | sed 's/^/# /' >&2; }
deb=$(ls "$T"/objwatch_*_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ]; ok $? "into objwatch_*.deb" || bail "no package to install"
lintian "$T"/objwatch_*.changes >"$T/lintian.log" 2>&1
_lib_diag_file "$T/lintian.log"
is "$(grep '^E:' "$T/lintian.log")" "" "lintian reports no error"

## Install

dpkg -i "$deb" >"$T/dpkg.log" 2>&1 </dev/null
ok $? "dpkg -i installs it" || _lib_diag_file "$T/dpkg.log"
missing=
for f in /usr/bin/objwatch /usr/share/man/man1/objwatch.1.gz \
    /usr/share/man/man5/objwatch.conf.5.gz /lib/systemd/system/objwatch.service \
    /usr/lib/sysusers.d/objwatch.conf /usr/lib/tmpfiles.d/objwatch.conf \
    /etc/logrotate.d/objwatch /usr/share/bash-completion/completions/objwatch \
    /usr/share/zsh/vendor-completions/_objwatch /etc/objwatch/objwatch.conf; do
	[ -f "$f" ] || missing="$missing $f"
done
is "$missing" "" "binary, manual pages, unit, user, folders, logrotate, completions"
like "$(dpkg-query -W -f='${Conffiles}' objwatch)" "^ /etc/objwatch/objwatch.conf " \
    "/etc/objwatch/objwatch.conf is a conffile"
grep -q '^\[source\.[a-z]*\]' /etc/objwatch/objwatch.conf &&
	grep -q '^type = dir' /etc/objwatch/objwatch.conf
ok $? "it has a folder source, with comments"
uid=$(id -u objwatch 2>/dev/null)
[ -n "$uid" ] && [ "$uid" -lt 1000 ]
ok $? "the system user objwatch exists (uid ${uid:-none})"
is "$(stat -c %U:%G /var/lib/objwatch /var/lib/objwatch/incoming \
    /var/lib/objwatch/outputs /var/log/objwatch 2>&1 | sort -u)" \
    "objwatch:objwatch" "its state and log folders are its own"
objwatch check -c /etc/objwatch/objwatch.conf >"$T/check.log" 2>&1
ok $? "objwatch check passes on the installed config" ||
	_lib_diag_file "$T/check.log"
objwatch check >/dev/null 2>&1
ok $? "and reads it by default"
systemd-analyze verify /lib/systemd/system/objwatch.service \
	>"$T/verify.log" 2>&1
ok $? "systemd-analyze verify passes on the installed unit" ||
	_lib_diag_file "$T/verify.log"
score=$(systemd-analyze security --offline=yes \
	/lib/systemd/system/objwatch.service 2>&1 |
	sed -n 's/.*Overall exposure level for objwatch.service: \([0-9.]*\) .*/\1/p')
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.5) }'
ok $? "systemd-analyze security rates it $score (2.5 or lower)"
if command -v logrotate >/dev/null 2>&1; then
	logrotate -d /etc/logrotate.d/objwatch >"$T/logrotate.log" 2>&1
	ok $? "logrotate accepts its snippet" || _lib_diag_file "$T/logrotate.log"
else
	skip "logrotate is not installed"
fi

## Run the installed unit under a systemd of our own

# The cgroup layout decides how our systemd gets a tree of its own.
cg=objwatch-t0710-$$
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
	cgmode=unified
	cgroups="/sys/fs/cgroup/$cg"
elif [ "$(stat -f -c %T /sys/fs/cgroup/systemd 2>/dev/null)" = cgroupfs ] &&
    [ -d /sys/fs/cgroup/unified ]; then
	cgmode=hybrid
	cgroups="/sys/fs/cgroup/systemd/$cg /sys/fs/cgroup/unified/$cg"
else
	cgmode=
fi

mkdir -p "$T/units/objwatch.service.d"
cp /lib/systemd/system/objwatch.service "$T/units/"
for t in sysinit basic network-online multi-user shutdown; do
	printf '[Unit]\nDescription=%s (a stand-in of t0710)\n' "$t" \
	    >"$T/units/$t.target"
done
printf '[Unit]\nDescription=t0710\n' >"$T/units/t0710.target"
cat >"$T/units/objwatch.service.d/t0710.conf" <<EOF
[Service]
StandardOutput=append:$T/unit.log
StandardError=inherit
WatchdogSec=3s
EOF
cat >"$T/boot.sh" <<EOF
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/units
cp -R "$T/units/." /run/units/
# Other tests mount and unmount file systems under /tmp while this one
# runs; copies of theirs here could vanish as systemd makes the service's
# namespace (status 226/NAMESPACE). The service sees its own /tmp anyway.
awk '\$5 ~ "^/tmp/" { print \$5 }' /proc/self/mountinfo | sort -r |
	while read -r m; do umount -l "\$m" || true; done
if [ $cgmode = hybrid ]; then
	mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
	mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
	mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
	mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
else
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
fi
export container=objwatch-t0710 SYSTEMD_UNIT_PATH=/run/units
exec /lib/systemd/systemd --system --unit=t0710.target --log-target=console
EOF
cat >"$T/enter.sh" <<EOF
for cg in $cgroups; do
	mkdir -p "\$cg" && echo \$\$ >"\$cg/cgroup.procs" || exit 1
done
exec unshare --pid --fork --mount --cgroup --uts --ipc --mount-proc \
	sh "$T/boot.sh"
EOF

in_ns() { nsenter -t "$sd" -m -p "$@"; }
prop() { in_ns systemctl show -p "$1" --value objwatch; }
if [ -n "$cgmode" ]; then
	sh "$T/enter.sh" </dev/null >"$T/systemd.log" 2>&1 &
	ns_unshare=$!
	wait_until 10 sh -c "pgrep -P $ns_unshare >/dev/null"
	sd=$(pgrep -P "$ns_unshare")
	[ -n "$sd" ] && wait_until 30 sh -c "nsenter -t $sd -m -p \
	    systemctl is-system-running 2>/dev/null | grep -Eq 'running|degraded'"
	booted=$?
else
	booted=1
fi
if [ "$booted" -ne 0 ]; then
	diag "cgroups: ${cgmode:-a layout this test does not know}"
	_lib_diag_file "$T/systemd.log"
	fail "a systemd of the test's own boots in namespaces"
	n=0
	while [ $n -lt 16 ]; do
		skip "no systemd to run the unit under"
		n=$((n + 1))
	done
else
	pass "a systemd of the test's own boots in namespaces"

	timeout 120 nsenter -t "$sd" -m -p systemctl start objwatch \
	    >"$T/start.log" 2>&1
	started=$?
	# Now and then, with other tests busy, systemd cannot make the
	# namespace of the first start (226/NAMESPACE): say so, try again.
	if [ $started -ne 0 ] && in_ns systemctl status objwatch 2>&1 |
	    grep -q 'status=226/NAMESPACE'; then
		diag "first start: 226/NAMESPACE; starting again"
		in_ns systemctl status --no-pager -l objwatch 2>&1 | sed 's/^/# /' >&2
		in_ns systemctl stop objwatch >/dev/null 2>&1
		in_ns systemctl reset-failed objwatch >/dev/null 2>&1
		timeout 120 nsenter -t "$sd" -m -p systemctl start objwatch \
		    >"$T/start.log" 2>&1
		started=$?
	fi
	ok $started "systemctl start objwatch returns once it says READY=1" ||
	    { _lib_diag_file "$T/start.log"; _lib_diag_file "$T/unit.log"
	    in_ns systemctl status --no-pager -l objwatch 2>&1 |
	    sed 's/^/# /' >&2; }
	is "$(prop ActiveState)/$(prop SubState)" "active/running" \
	    "the service is active"
	like "$(prop StatusText)" "^running: 1 sources, 1 recipes, [0-9]+ workers$" \
	    "its status line is objwatch's"

	main=$(pgrep -u objwatch -f '^/usr/bin/objwatch -c /etc/objwatch/objwatch.conf run$' |
	    head -n 1)
	pm=$(pgrep -u objwatch -f 'postgres -D data' | head -n 1)
	st() { grep "^$2:" "/proc/$1/status" 2>/dev/null | cut -f 2- | tr -s '\t' ' '; }
	is "$(st "$main" Uid)|$(st "$main" NoNewPrivs)|$(st "$main" Seccomp)|$(st "$main" CapEff)|$(st "$main" CapBnd)" \
	    "$uid $uid $uid $uid|1|2|0000000010000000|0000000010000000" \
	    "objwatch runs as objwatch, no new privileges, seccomp, CAP_LEASE alone"
	is "$(st "$pm" Uid)|$(st "$pm" NoNewPrivs)|$(st "$pm" Seccomp)|$(st "$pm" CapBnd)" \
	    "$uid $uid $uid $uid|1|2|0000000010000000" \
	    "so does its embedded PostgreSQL"

	make_jpeg "$T/photo.jpg" 800 600 1
	cp "$T/photo.jpg" /var/lib/objwatch/incoming/photo.jpg
	wait_for_file /var/lib/objwatch/outputs/thumbs/photo.jpg 60
	ok $? "a photo dropped into incoming gets its thumbnail under the unit" ||
	    _lib_diag_file "$T/unit.log"

	touch /tmp/t0710-host-$$
	view=$(nsenter -t "$main" -m sh -c "
	    test -e /tmp/t0710-host-$$ && echo tmp-shared || echo tmp-private
	    touch /usr/t0710 2>/dev/null && echo usr-writable || echo usr-read-only
	    touch /etc/t0710 2>/dev/null && echo etc-writable || echo etc-read-only
	    ls -A /root /home 2>/dev/null | grep -v ':\$' | grep -c . | sed 's/^/home-entries-/'
	    touch /var/lib/objwatch/t0710 && rm /var/lib/objwatch/t0710 && echo state-writable")
	rm -f /tmp/t0710-host-$$ /usr/t0710 /etc/t0710
	is "$(echo $view)" \
	    "tmp-private usr-read-only etc-read-only home-entries-0 state-writable" \
	    "its view: a private /tmp, /usr and /etc read only, /root and /home empty, state writable"
	is "$(prop MemoryDenyWriteExecute)|$(prop PrivateDevices)|$(prop ProtectSystem)|$(prop RestrictAddressFamilies)" \
	    "yes|yes|strict|AF_INET AF_INET6 AF_NETLINK AF_UNIX" \
	    "systemd applies W^X, private devices, a read-only system, four address families"

	# CAP_LEASE at work: a file root still writes is not taken by the
	# rescan a reload makes, and is taken once closed.
	# As an admin would, as objwatch, on the service's cluster: from the
	# PID namespace of our systemd, where its postmaster's PID is valid.
	results() {
		(cd / && in_ns runuser -u objwatch -- objwatch -c \
		    /etc/objwatch/objwatch.conf db psql -XAtq -c "SELECT state
		    FROM objwatch.results WHERE key = 'held.jpg'") 2>>"$T/psql.log"
	}
	scans=$(grep -c 'start-up scan' "$T/unit.log")
	exec 3>/var/lib/objwatch/incoming/held.jpg
	head -c 4096 "$T/photo.jpg" >&3
	timeout 120 nsenter -t "$sd" -m -p systemctl reload objwatch \
	    >"$T/reload.log" 2>&1
	ok $? "systemctl reload objwatch (SIGHUP, RELOADING=1, READY=1)" ||
	    _lib_diag_file "$T/reload.log"
	wait_until 30 sh -c "[ \$(grep -c 'start-up scan' '$T/unit.log') -gt $scans ]"
	sleep 3	# long enough for a file taken to fail (truncated)
	is "$(results)" "" "a file still open for writing by root is not taken"
	tail -c +4097 "$T/photo.jpg" >&3
	exec 3>&-
	n=0
	while [ "$(results)" != done ] && [ $n -lt 300 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	[ "$(results)" = done ]
	ok $? "once closed it is taken, whole" ||
	    { results | sed 's/^/# /' >&2; _lib_diag_file "$T/unit.log"; }

	ping1=$(prop WatchdogTimestampMonotonic)
	sleep 2
	ping2=$(prop WatchdogTimestampMonotonic)
	[ "${ping2:-0}" -gt "${ping1:-0}" ] && [ "$(prop NRestarts)" = 0 ]
	ok $? "its watchdog is pinged, and never fired" || diag "$ping1 $ping2"

	timeout 150 nsenter -t "$sd" -m -p systemctl stop objwatch \
	    >"$T/stop.log" 2>&1
	ok $? "systemctl stop objwatch" || _lib_diag_file "$T/stop.log"
	is "$(prop Result)|$(prop ExecMainStatus)" "success|0" \
	    "it exits 0 on SIGTERM"
	is "$(pgrep -u objwatch | wc -l)" 0 \
	    "and stopped its PostgreSQL: no process of objwatch is left"
	tail -n 1 "$T/unit.log" | grep -q 'info: stopped$'
	ok $? "after the jobs in hand" || _lib_diag_file "$T/unit.log"
fi

## Purge

cleanup_ns() {
	kill -KILL "$sd" 2>/dev/null
	wait_until 10 sh -c "! kill -0 $sd 2>/dev/null"
	sd=
}
[ -z "$sd" ] || cleanup_ns
dpkg --purge objwatch >>"$T/dpkg.log" 2>&1
ok $? "dpkg --purge objwatch" || _lib_diag_file "$T/dpkg.log"
left=
for f in /usr/bin/objwatch /lib/systemd/system/objwatch.service /etc/objwatch \
    /var/lib/objwatch /var/log/objwatch \
    /etc/systemd/system/multi-user.target.wants/objwatch.service; do
	[ -e "$f" ] && left="$left $f"
done
is "$left" "" "leaves nothing of it behind (but the user)"
