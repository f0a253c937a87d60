#!/bin/sh
# run.sh TARGET [SECONDS=60] [JOBS=1]: build a libFuzzer target with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, and run it on its
# corpus (fuzz/corpus/TARGET, grown in place) and its seeds
# (tests/fuzz/TARGET, which `make check` replays; an input copied there
# needs its outcome in tests/fuzz/TARGET.expect). Run from a configured
# tree (config.h at the top). Targets: recipe, template, config, imgcheck,
# events, keys, s3list, lines.
#
#	fuzz/run.sh recipe 600
set -eu
target=${1:?usage: run.sh TARGET [SECONDS] [JOBS]}
seconds=${2:-60}
jobs=${3:-1}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$top/fuzz/build}
mkdir -p "$build" "$top/fuzz/corpus/$target"

[ -f "$top/config.h" ] || { echo "run.sh: run ./configure first" >&2; exit 1; }
[ -f "$top/src/migrations.c" ] || make -C "$top" src/migrations.c >/dev/null

cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(pkg-config --cflags libmicrohttpd jansson libcurl libxml-2.0)
	-I$top -I$top/src $(pkg-config --cflags vips libpq inih zlib libpcre2-8)"
libs="$(pkg-config --libs vips libpq inih libmicrohttpd jansson libcurl libcrypto libxml-2.0 zlib libpcre2-8) -linotifytools -ls3 -lpthread -lm"
srcs=$(cd "$top" && ls src/*.c handlers/*.c | grep -v '^src/main.c$')
if [ ! -x "$build/fuzz-$target" ] ||
    [ -n "$(cd "$top" && find src handlers fuzz -name '*.[ch]' -newer "$build/fuzz-$target")" ]; then
	# shellcheck disable=SC2086
	(cd "$top" && clang $cflags -o "$build/fuzz-$target" \
	    "fuzz/fuzz-$target.c" $srcs $libs)
fi
# libvips keeps caches and types for the life of the process: not leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="suppressions=$top/fuzz/lsan.supp:print_suppressions=0"
# One job runs in this process (its stats on stderr); more fork workers
# that log to fuzz-N.log.
set --
[ "$jobs" -gt 1 ] && set -- -jobs="$jobs" -workers="$jobs"
exec "$build/fuzz-$target" -max_total_time="$seconds" "$@" \
    -print_final_stats=1 -max_len=4096 \
    "$top/fuzz/corpus/$target" "$top/tests/fuzz/$target"
