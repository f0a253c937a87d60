#!/bin/sh
# No assertion in the tests can pass whatever happens: tests/noop-check.sh
# finds none in the tree, and finds each kind it knows when planted.
. "$SRCDIR/tests/lib.sh"
plan 2

is "$(sh "$SRCDIR/tests/noop-check.sh" 2>&1)" "" \
    "the tests hold no assertion that cannot fail"

cat >"$T/planted.sh" <<'PLANTED'
plan 4
ok 0 "always"
is "same" "same" "always"
run_something || true
ok $? "always"
is "$got" "same" "this one can fail"
[ -x /bin/true ] || skip_all "no true"
PLANTED
printf 'ok(1, "always");\nok(x == 1, "this one can fail");\n' >"$T/planted.c"
is "$(sh "$SRCDIR/tests/noop-check.sh" "$T/planted.sh" "$T/planted.c" 2>&1 |
	sed "s|^$T/||")" \
"planted.sh:2: ok with a constant status
planted.sh:3: is with two equal literals
planted.sh:5: ok \$? after || true: the status is always 0
planted.sh:7: skip_all after plan: a skipped run prints two plans
planted.c:1: ok with a constant condition" \
    "each kind of no-op it knows is found, and nothing else"
