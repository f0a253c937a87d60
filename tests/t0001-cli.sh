#!/bin/sh
# The command line: every command answers --help with its usage and exits
# 0; unknown commands and missing arguments exit 2 with a message.
. "$SRCDIR/tests/lib.sh"
plan 13

out=$("$OBJWATCH" --help); ok $? "objwatch --help exits 0"
like "$out" '^  objwatch process \[-c FILE\] RECIPE INPUT OUTPUT$' \
    "--help lists the commands"
for cmd in run check process db version; do
	out=$("$OBJWATCH" "$cmd" --help 2>&1)
	like "$out" "^usage: objwatch $cmd" "objwatch $cmd --help shows its usage"
done
out=$("$OBJWATCH" frobnicate 2>&1); st=$?
is "$st" 2 "an unknown command exits 2"
like "$out" "^objwatch: unknown command 'frobnicate'$" "and says which"
"$OBJWATCH" process -c /dev/null thumbs 2>/dev/null; is $? 2 \
    "process without its files exits 2"
is "$("$OBJWATCH" version | head -1)" "objwatch 0.1.0" "version prints it"
out=$("$OBJWATCH" -c "$T/nope.conf" check 2>&1); st=$?
is "$st" 1 "a missing config file is an error"
like "$out" "^$T/nope.conf: cannot open: No such file or directory \\(start from the annotated sample, /[^ ]*/objwatch/samples/objwatch.conf, or give another file with -c FILE or OBJWATCH_CONFIG\\)\$" \
    "naming it, and where to start from"
