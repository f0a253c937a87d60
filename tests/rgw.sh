#!/bin/sh
# tests/rgw.sh: a real S3 server for the tests, Ceph RADOS Gateway, on a
# throwaway single-host cluster (one monitor, one in-memory OSD, no mgr, no
# cephx) with every bit of state, log, socket and PID under DIR.
#
#	rgw.sh start [--sts] DIR PORT [SSLPORT]
#					make the cluster, start everything
#	rgw.sh stop DIR			stop everything (DIR and its logs stay)
#	rgw.sh stop-gateway DIR		stop radosgw only: the endpoint goes
#					away, the objects stay in the OSD
#	rgw.sh start-gateway DIR	start radosgw again on the same ports
#
# Unlike s3rver, RGW verifies AWS Signature V4, answers with AWS's error
# codes and sends bucket notifications to a topic's push-endpoint.
#
# start prints, for eval, on stdout:
#	RGW_ENDPOINT=127.0.0.1:PORT
#	RGW_ACCESS_KEY=...  RGW_SECRET_KEY=...
#	RGW_DNS_NAME=s3.localhost	(virtual-host style: BUCKET.s3.localhost:PORT)
#	RGW_CEPH_CONF=DIR/ceph.conf	(for radosgw-admin -c)
# and with SSLPORT, radosgw also serves https on it with a certificate for
# 127.0.0.1, localhost, *.localhost, s3.localhost and *.s3.localhost from a
# CA made for this cluster:
#	RGW_SSL_ENDPOINT=127.0.0.1:SSLPORT
#	RGW_CA_FILE=DIR/tls/ca.crt
# With --sts, radosgw also serves STS (AssumeRole, POST / signed with
# service sts, on the same endpoints) and takes the temporary credentials
# it hands out with their x-amz-security-token; sessions may be as short
# as 1 s (rgw sts min session duration; 900 by default), so that a test can
# see them expire. The role it makes may be assumed by the user above and
# allows s3:* on every bucket:
#	RGW_ROLE_ARN=arn:aws:iam:::role/objwatch-s3
# Progress and errors go to stderr. Exit status 2 means a port was taken
# (another one may work), 1 any other failure.
#
# What radosgw 16.2.15 does that a test may trip on:
#  - Path style goes to 127.0.0.1:PORT. A Host of plain localhost (not
#    the configured s3.localhost) is taken for a bucket named localhost.
#  - A topic's push-endpoint keeps its path and query; its userinfo is sent
#    as HTTP Basic auth, and CreateTopic refuses a URL with a password
#    (400 InvalidInput) unless it comes over https.
#  - Notifications of a topic that is not persistent are POSTed during the
#    object's request; when the endpoint is down the request still succeeds
#    and the event is lost (logged, with the URL's password).
#  - A multi-object delete in a bucket with a notification aborts radosgw.
#  - With --sts, every refusal of keys is 403 AccessDenied with an empty
#    Message: the keys of an expired session (no ExpiredToken; only
#    radosgw's log says "ERROR: Token expired"), a session's keys without
#    their x-amz-security-token or with another session's, the user's own
#    keys with any token, and even an access key nobody has
#    (InvalidAccessKeyId without --sts). AssumeRole refuses
#    a DurationSeconds under 1 or over the role's 3600 with 400
#    InvalidArgument, and an unknown role with 404 NoSuchEntity.
#
# No systemd, nothing read from or written to /etc/ceph or /var/*/ceph:
# every command gets -c DIR/ceph.conf, which points every path into DIR.
# Needs no terminal; runs as root or not. Debian 12 packages: ceph-mon
# ceph-osd radosgw ceph-common (16.2.15).
set -u

usage() {
	echo "usage: rgw.sh start [--sts] DIR PORT [SSLPORT] | stop DIR |" \
		"stop-gateway DIR | start-gateway DIR" >&2
	exit 1
}
[ $# -ge 2 ] || usage
CMD=$1
STS=
if [ "$CMD" = start ] && [ "$2" = --sts ]; then
	STS=1
	shift
fi
DIR=$2
# Fixed credentials: this is a test fixture, not a deployment.
ACCESS_KEY=OBJWATCHTESTKEY00001
SECRET_KEY=objwatch-test-secret-0123456789abcdefghij
# --sts: the key that encrypts session tokens (16 characters), and the role.
STS_KEY=objwatchstskey16
ROLE=objwatch-s3
# Seconds for each wait: a loaded CI machine can be slow, but a daemon that
# is not up after this has failed.
TIMEOUT=${RGW_TIMEOUT:-60}

say() { echo "rgw: $*" >&2; }
# die [STATUS] MSG: fail with status 1, or STATUS (2: a port taken).
die() {
	_st=1
	case $1 in [0-9]) _st=$1; shift ;; esac
	say "$*"
	exit "$_st"
}
# broke MSG: a daemon failed; the tail of each log may say why.
broke() {
	say "$*"
	for _f in "$DIR"/log/*.log "$DIR"/log/*.out; do
		[ -s "$_f" ] || continue
		echo "--- $_f" >&2
		tail -n 8 "$_f" >&2
	done
	exit 1
}
now() { date +%s%3N; }
since() { _ms=$(($(now) - T0)); printf '%d.%03d' $((_ms / 1000)) $((_ms % 1000)); }

# ceph CLI with a bounded wait (by itself it retries for ever).
cephc() { timeout 30 ceph -c "$DIR/ceph.conf" --connect-timeout 20 "$@"; }

# wait_for WHAT NAME CMD...: run CMD every 0.1 s until it succeeds, as
# long as daemon NAME runs.
wait_for() {
	_what=$1
	_name=$2
	shift 2
	_end=$(($(now) + TIMEOUT * 1000))
	until "$@" >/dev/null 2>&1; do
		alive "$_name" || exited "$_name"
		[ "$(now)" -lt "$_end" ] || broke "timed out after $TIMEOUT s waiting for $_what"
		sleep 0.1
	done
}

# exited NAME: daemon NAME exited at its start; status 2 if it could not
# listen (another process took the port since it was picked).
exited() {
	if grep -q 'Address already in use' "$DIR/log/$1.out" 2>/dev/null; then
		die 2 "$1 cannot listen: a port is taken"
	fi
	broke "$1 exited at start"
}

alive() {
	[ -r "$DIR/run/$1.pid" ] || return 1
	_p=$(cat "$DIR/run/$1.pid")
	[ -n "$_p" ] && [ -r "/proc/$_p/stat" ] || return 1
	# a zombie is not alive
	case $(sed 's/^.*) \(.\).*/\1/' "/proc/$_p/stat" 2>/dev/null) in
	Z | X | '') return 1 ;;
	esac
}

# daemon NAME CMD...: start a daemon in the foreground (-f; it still logs
# to its log file), in a session of its own so that it outlives this script
# and no terminal signal reaches it, with its PID in DIR/run/NAME.pid.
daemon() {
	_name=$1
	shift
	echo "--- $(date '+%F %T') $*" >>"$DIR/log/$_name.out"
	setsid "$@" -f -c "$DIR/ceph.conf" </dev/null >>"$DIR/log/$_name.out" 2>&1 &
	echo $! >"$DIR/run/$_name.pid"
}

# stop_daemon NAME: SIGTERM, up to 10 s, then SIGKILL; waits until it is
# gone, so that its port is free when this returns.
stop_daemon() {
	alive "$1" || { rm -f "$DIR/run/$1.pid"; return 0; }
	_p=$(cat "$DIR/run/$1.pid")
	kill -TERM "$_p" 2>/dev/null
	_end=$(($(now) + 10000))
	while alive "$1" && [ "$(now)" -lt "$_end" ]; do
		sleep 0.05
	done
	if alive "$1"; then
		say "$1 (pid $_p) still running 10 s after SIGTERM: killed"
		kill -KILL "$_p" 2>/dev/null
		while alive "$1"; do sleep 0.05; done
	fi
	rm -f "$DIR/run/$1.pid"
}

# The same checks as a client makes: the plain endpoint, and the TLS one
# with the cluster's CA. Any HTTP answer counts.
gw_answers() {
	curl -sS -o /dev/null --max-time 2 "http://$(sed -n 1p "$DIR/endpoints")/" &&
	{ [ -z "$(sed -n 2p "$DIR/endpoints")" ] ||
		curl -sS -o /dev/null --max-time 2 --cacert "$DIR/tls/ca.crt" \
			"https://$(sed -n 2p "$DIR/endpoints")/"; }
}

start_gateway() {
	alive rgw && die "radosgw is already running (pid $(cat "$DIR/run/rgw.pid"))"
	# A new rgw.out for each start, so that exited sees this one's errors.
	[ ! -f "$DIR/log/rgw.out" ] || cat "$DIR/log/rgw.out" >>"$DIR/log/rgw.out.old"
	: >"$DIR/log/rgw.out"
	daemon rgw radosgw -n client.rgw
	wait_for "radosgw" rgw gw_answers
}

# tls DIR/tls: a CA of this cluster's own and a certificate it signed for
# the names a test connects to. EC keys: they are made in milliseconds.
make_tls() {
	mkdir -p "$DIR/tls" && cd "$DIR/tls" || return 1
	cat >server.ext <<-EOF
		basicConstraints = CA:FALSE
		keyUsage = critical, digitalSignature, keyEncipherment
		extendedKeyUsage = serverAuth
		subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:*.localhost, DNS:s3.localhost, DNS:*.s3.localhost
	EOF
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout ca.key -out ca.crt -days 30 \
		-subj "/CN=objwatch test CA $(basename "$DIR")" \
		-addext "basicConstraints = critical, CA:TRUE" \
		-addext "keyUsage = critical, keyCertSign, cRLSign" &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout server.key -out server.csr -subj /CN=localhost &&
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
		-CAcreateserial -out server.crt -days 30 -extfile server.ext
	_st=$?
	cd - >/dev/null || return 1
	return $_st
}

cmd_start() {
	PORT=$1
	SSLPORT=${2:-}
	for _c in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool; do
		command -v "$_c" >/dev/null 2>&1 ||
			die "$_c not found: install ceph-mon ceph-osd radosgw ceph-common (tools/deps.sh)"
	done
	for _c in openssl curl node; do
		command -v "$_c" >/dev/null 2>&1 ||
			die "$_c not found: install it (tools/deps.sh)"
	done
	if [ -e "$DIR/ceph.conf" ]; then
		die "$DIR holds a cluster already: stop it and remove $DIR first"
	fi
	mkdir -p "$DIR" || exit 1
	DIR=$(cd "$DIR" && pwd) || exit 1	# absolute: the daemons chdir to /
	mkdir -p "$DIR/mon" "$DIR/osd" "$DIR/rgw" "$DIR/log" "$DIR/run" \
		"$DIR/crash" || exit 1
	T0=$(now)

	frontends="beast endpoint=127.0.0.1:$PORT"
	if [ -n "$SSLPORT" ]; then
		make_tls >"$DIR/log/tls.out" 2>&1 || broke "cannot make the certificates"
		frontends="$frontends ssl_endpoint=127.0.0.1:$SSLPORT"
		frontends="$frontends ssl_certificate=$DIR/tls/server.crt"
		frontends="$frontends ssl_private_key=$DIR/tls/server.key"
	fi
	printf '127.0.0.1:%s\n%s\n' "$PORT" "${SSLPORT:+127.0.0.1:$SSLPORT}" \
		>"$DIR/endpoints"

	# The monitor's port: a free one the kernel picks, so that clusters of
	# tests running side by side do not meet.
	MON_PORT=$(node -e 'const s = require("net").createServer();
		s.listen(0, "127.0.0.1", () => {
			console.log(s.address().port); s.close(); });') ||
		die "cannot find a free port for the monitor"
	FSID=$(cat /proc/sys/kernel/random/uuid)

	cat >"$DIR/ceph.conf" <<-EOF
		[global]
		fsid = $FSID
		# Loopback, msgr2 only: no v1 port 6789 to clash with a real cluster.
		mon host = [v2:127.0.0.1:$MON_PORT]
		mon initial members = a
		public addr = 127.0.0.1
		ms bind msgr1 = false
		# No cephx, so no keyrings to keep; keyring names an empty file so
		# that no client looks in /etc/ceph.
		auth cluster required = none
		auth service required = none
		auth client required = none
		keyring = $DIR/keyring
		# Every path under DIR.
		run dir = $DIR/run
		admin socket = $DIR/run/\$name.asok
		log file = $DIR/log/\$name.log
		mon cluster log file = $DIR/log/cluster.log
		crash dir = $DIR/crash
		# One OSD: one copy of everything, placed on any OSD, few placement
		# groups (32 per pool times RGW's pools would pass the per-OSD
		# limit) and no autoscaler (it lives in the mgr, which is not run).
		osd pool default size = 1
		osd pool default min size = 1
		osd crush chooseleaf type = 0
		osd pool default pg num = 8
		osd pool default pgp num = 8
		osd pool default pg autoscale mode = off
		mon max pg per osd = 1000
		mon allow pool size one = true
		# Health warnings that cannot apply to a throwaway cluster; never
		# refuse writes because the host's disk is fullish.
		mon warn on pool no redundancy = false
		mon data avail warn = 1
		mon data avail crit = 0
		# Commit map changes every 0.1 s, not 1 s: RGW's first start makes
		# its pools one osdmap epoch each, most of the start-up time.
		paxos propose interval = 0.1
		paxos min wait = 0.01
		debug ms = 0
		debug rgw = 1
		debug osd = 0
		debug mon = 0
		debug paxos = 0

		[mon.a]
		mon data = $DIR/mon

		[osd.0]
		osd data = $DIR/osd
		# Objects live in RAM: nothing to format, and gone at stop. The cap
		# is a cap, not an allocation.
		osd objectstore = memstore
		memstore device bytes = 1073741824
		osd op num shards = 1
		osd op num threads per shard = 2
		# RGW needs object classes (rgw, lock, log, 2pc_queue...).
		osd class load list = *
		osd class default list = *

		[client.rgw]
		# radosgw asks for an encrypted monitor session, which needs cephx;
		# without it, crc, or it never connects (-13).
		ms mon client mode = crc
		rgw frontends = $frontends
		rgw data = $DIR/rgw
		# Virtual-host style: RGW takes the bucket from a Host header of
		# BUCKET.s3.localhost (it drops any :PORT before comparing). Without
		# a name such a request silently becomes one to /, the list of
		# buckets. Not plain "localhost": TLS clients (OpenSSL, Node) refuse
		# a *.localhost certificate, a wildcard right above a top-level
		# name; *.s3.localhost they take. And curl, so libs3, resolves
		# every name under .localhost to loopback by itself.
		rgw dns name = s3.localhost
		rgw thread pool size = 32
		# No background resharding, usage log or lifecycle noise.
		rgw dynamic resharding = false
		rgw enable usage log = false
		# radosgw 16.2.15 aborts (boost "nullptr != fctx_") on a
		# multi-object delete in a bucket with a notification topic: delete
		# those objects one DELETE at a time.
	EOF
	if [ -n "$STS" ]; then
		cat >>"$DIR/ceph.conf" <<-EOF
			# --sts: AssumeRole, and S3 requests with a session token.
			rgw sts key = $STS_KEY
			rgw s3 auth use sts = true
			# Sessions as short as 1 s, so that a test sees one expire.
			rgw sts min session duration = 1
		EOF
	fi
	: >"$DIR/keyring"

	# Monitor: its store from a one-entry monmap, then run it.
	monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" \
		"$DIR/monmap" >"$DIR/log/mkfs-mon.out" 2>&1 &&
	ceph-mon -c "$DIR/ceph.conf" -i a --mkfs --monmap "$DIR/monmap" \
		--keyring "$DIR/keyring" >>"$DIR/log/mkfs-mon.out" 2>&1 ||
		broke "ceph-mon --mkfs failed"
	daemon mon ceph-mon -i a
	wait_for "the monitor" mon cephc mon stat
	say "mon up after $(since) s"

	# OSD 0: register it, put it in the CRUSH map, make its store, run it.
	osd_id=$(cephc osd create 2>"$DIR/log/osd-create.out")
	[ "$osd_id" = 0 ] || broke "expected osd 0, got '$osd_id'"
	cephc osd crush add osd.0 1 root=default >>"$DIR/log/osd-create.out" 2>&1 ||
		broke "cannot add osd.0 to the crush map"
	ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs >"$DIR/log/mkfs-osd.out" 2>&1 ||
		broke "ceph-osd --mkfs failed"
	daemon osd ceph-osd -i 0
	wait_for "osd.0 up" osd osd_up
	say "osd up after $(since) s"

	# radosgw makes its pools and default zone at its first start.
	start_gateway
	say "radosgw up after $(since) s"

	timeout 60 radosgw-admin -c "$DIR/ceph.conf" -n client.rgw user create \
		--uid=objwatch --display-name=objwatch \
		--access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" \
		>"$DIR/log/user.out" 2>&1 || broke "radosgw-admin user create failed"
	if [ -n "$STS" ]; then
		make_role || broke "cannot make role $ROLE"
	fi
	say "up in $(since) s (pids: mon $(cat "$DIR/run/mon.pid")," \
		"osd $(cat "$DIR/run/osd.pid"), rgw $(cat "$DIR/run/rgw.pid"))"

	echo "RGW_ENDPOINT=127.0.0.1:$PORT"
	echo "RGW_ACCESS_KEY=$ACCESS_KEY"
	echo "RGW_SECRET_KEY=$SECRET_KEY"
	echo "RGW_DNS_NAME=s3.localhost"
	echo "RGW_CEPH_CONF=$DIR/ceph.conf"
	if [ -n "$SSLPORT" ]; then
		echo "RGW_SSL_ENDPOINT=127.0.0.1:$SSLPORT"
		echo "RGW_CA_FILE=$DIR/tls/ca.crt"
	fi
	[ -z "$STS" ] || echo "RGW_ROLE_ARN=arn:aws:iam:::role/$ROLE"
}

# make_role: the role of --sts, which the user may assume (its trust
# policy) and which may do anything in S3 (its permission policy).
make_role() {
	timeout 60 radosgw-admin -c "$DIR/ceph.conf" -n client.rgw role create \
		--role-name="$ROLE" --assume-role-policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/objwatch"]},"Action":["sts:AssumeRole"]}]}' \
		>"$DIR/log/role.out" 2>&1 &&
	timeout 60 radosgw-admin -c "$DIR/ceph.conf" -n client.rgw role-policy put \
		--role-name="$ROLE" --policy-name=s3-all \
		--policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}' \
		>>"$DIR/log/role.out" 2>&1
}

osd_up() {
	cephc osd dump 2>/dev/null | grep -q '^osd\.0 up .* in '
}

case $CMD in
start)
	[ $# -ge 3 ] && [ $# -le 4 ] || usage
	cmd_start "$3" "${4:-}"
	;;
stop)
	[ -d "$DIR" ] || exit 0
	# The gateway first: it talks to the others until it is gone.
	stop_daemon rgw
	stop_daemon osd
	stop_daemon mon
	;;
stop-gateway)
	[ -f "$DIR/ceph.conf" ] || die "no cluster in $DIR"
	alive rgw || die "radosgw is not running"
	stop_daemon rgw
	;;
start-gateway)
	[ -f "$DIR/ceph.conf" ] || die "no cluster in $DIR"
	alive mon && alive osd || die "the cluster in $DIR is not running"
	T0=$(now)
	start_gateway
	say "radosgw up after $(since) s"
	;;
*)
	usage
	;;
esac
