#!/bin/sh
# tests/noop-check.sh [FILE...]: list assertions that cannot fail, in the
# tests' sources (default: tests/*.sh, tests/unit/*.c, fuzz/*.c), one
# "file:line: why" each; exit 1 when there is any. Run by t0003 and by
# .ci/run. The patterns are the ones that have been found in this tree:
#
#   ok 0 ...                  a shell ok whose status is a constant
#   ok(1, ...) / ok(true ...  a C ok whose condition is a constant
#   is "TEXT" "TEXT"          a shell is comparing two equal literals
#   || true before ok $?      a status forced to success, then asserted
#   skip_all after plan       a skipped run prints two plans
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
	set -- "$top"/tests/*.sh "$top"/tests/unit/*.c "$top"/fuzz/*.c
fi
found=0
for f in "$@"; do
	case $f in
	*/noop-check.sh|*/t0003-noop-asserts.sh) continue ;;
	esac
	awk -v file="${f#"$top"/}" '
	function say(why) { printf "%s:%d: %s\n", file, FNR, why; n++ }
	/^[ \t]*ok[ \t]+0([ \t]|$)/ { say("ok with a constant status") }
	/(^|[^a-z_])ok\([ \t]*(1|true)[ \t]*[,)]/ { say("ok with a constant condition") }
	/^[ \t]*is[ \t]+"[^"$`\\]*"[ \t]+"[^"$`\\]*"/ {
		s = $0; sub(/^[ \t]*is[ \t]+"/, "", s)
		a = s; sub(/".*/, "", a)
		b = s; sub(/^[^"]*"[ \t]+"/, "", b); sub(/".*/, "", b)
		if (a == b) say("is with two equal literals")
	}
	prev ~ /\|\|[ \t]*true[ \t]*$/ && /^[ \t]*ok[ \t]+\$\?/ {
		say("ok $? after || true: the status is always 0")
	}
	/^plan[ \t]/ { planned = 1 }
	planned && /skip_all[ \t]/ && !/^[ \t]*#/ {
		say("skip_all after plan: a skipped run prints two plans")
	}
	{ prev = $0 }
	END { exit n > 0 }' "$f" || found=1
done
exit $found
