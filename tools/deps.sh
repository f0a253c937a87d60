#!/bin/sh
# Install what building and testing objwatch needs on Debian 12.
#
# apt-get runs only when a package is missing, so a second run costs a few
# milliseconds and CI can call this every time. Safe without a terminal:
# nothing asks a question, and sudo fails instead of waiting for a password.
set -eu

packages="build-essential autoconf automake libtool pkg-config
	libvips-dev libvips-tools libinotifytools0-dev libs3-dev libinih-dev
	libmicrohttpd-dev libjansson-dev libpq-dev libcurl4-openssl-dev libssl-dev libxml2-dev
	libpcre2-dev zlib1g-dev
	postgresql postgresql-client inotify-tools imagemagick valgrind groff-base
	ceph-mon ceph-osd radosgw ceph-common openssl curl faketime
	debhelper dpkg-dev lintian systemd bash-completion zsh logrotate"

# A Node.js from elsewhere (NodeSource) ships its own npm and conflicts with
# Debian's: ask for Debian's pair only when there is no node at all.
command -v node >/dev/null 2>&1 || packages="$packages nodejs npm"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: dpkg-query not found: this script installs with apt on Debian 12" >&2
	exit 1
fi

# One dpkg-query for all of them; a package dpkg has never heard of prints
# nothing on stdout, so it counts as missing too.
installed=" $(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $packages 2>/dev/null |
	awk '$2 == "installed" { printf "%s ", $1 }')"
missing=
for p in $packages; do
	case "$installed" in
	*" $p "*) ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -z "$missing" ]; then
	echo "deps: all present"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=
elif command -v sudo >/dev/null 2>&1; then
	# -n: with no terminal to type a password into, fail rather than hang.
	if [ -t 0 ]; then as_root=sudo; else as_root="sudo -n"; fi
else
	echo "deps: missing:$missing" >&2
	echo "deps: run this as root, or install sudo, to install them" >&2
	exit 1
fi

echo "deps: installing:$missing"
# sudo drops the environment, so pass the frontend through env.
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	$missing </dev/null
echo "deps: installed:$missing"
