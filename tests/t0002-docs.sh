#!/bin/sh
# The manual pages render without warnings and document every
# configuration key objwatch knows, and every command it has. The lists
# compared are checked first: every key of src/config.c's table is printed
# by `objwatch check`, every command of src/main.c's table by --help, so
# that an empty or short list cannot pass for a documented one.
. "$SRCDIR/tests/lib.sh"
command -v groff >/dev/null 2>&1 || skip_all "groff is not installed"
plan 10

for page in objwatch.1 objwatch.conf.5; do
	warnings=$(groff -mandoc -Tutf8 -ww -z "$SRCDIR/doc/$page" 2>&1)
	is "$warnings" "" "$page renders without warnings"
done

# The keys the config parser knows: the names in src/config.c's table.
table=$(sed -n '/^static const struct config_key config_keys\[\] = {/,/^};/p' \
	"$SRCDIR/src/config.c" | grep -o '"[a-z_]*"' | tr -d '"' | sort -u)
ntable=$(printf '%s\n' "$table" | grep -c .)
[ "$ntable" -gt 0 ]
ok $? "src/config.c's key table names keys ($ntable)"

# A config with both kinds of source and every optional key set, so that
# `objwatch check` prints every key, with its defaults.
mkdir -p "$T/in"
write_config "$T/ow.conf" <<EOF
[source.s]
type = dir
path = in
recipes = r
[source.b]
type = s3
endpoint = 127.0.0.1:9
bucket = photos
access_key = a
secret_key = b
session_token = t
webhook_token = 0123456789abcdef01234567
recipes = r
[recipe.r]
steps = thumbnail width=1 | save
output = dir:out/{key}
notify = webhook:https://hooks.example/objwatch
notify_secret = 0123456789abcdef0123
notify_attempts = 5
notify_timeout = 5s
[recipe.r2]
after = r
steps = thumbnail width=1 | save
output = dir:out/r2/{key}
[schedule.e]
every = 1h
sql = SELECT 1
into = t
output = dir:out/{schedule}.csv
[schedule.c]
cron = @daily
sql_file = in/q.sql
EOF
echo 'SELECT 1' >"$T/in/q.sql"
printed=$("$OBJWATCH" check -c "$T/ow.conf" 2>"$T/check.err")
ok $? "objwatch check accepts the config" || _lib_diag_file "$T/check.err"
keys=$(printf '%s\n' "$printed" | sed -n 's/^\([a-z_]*\) = .*/\1/p' | sort -u)
is "$keys" "$table" "objwatch check prints each of the $ntable keys"

man5=$(groff -mandoc -Tutf8 "$SRCDIR/doc/objwatch.conf.5" 2>/dev/null |
	sed 's/.\x08//g')
missing=
for k in $table; do
	printf '%s\n' "$man5" | grep -Eq "^ +$k=" || missing="$missing $k"
done
is "$missing" "" "objwatch.conf(5) documents every key"

# The commands: the names in src/main.c's table, and what --help lists.
ctable=$(sed -n '/^static const struct command commands\[\] = {/,/^};/p' \
	"$SRCDIR/src/main.c" | sed -n 's/^	{ "\([a-z]*\)", .*/\1/p' | sort -u)
nctable=$(printf '%s\n' "$ctable" | grep -c .)
[ "$nctable" -gt 0 ]
ok $? "src/main.c's command table names commands ($nctable)"
help=$("$OBJWATCH" --help | sed -n 's/^  objwatch \([a-z]*\).*/\1/p' | sort -u)
is "$help" "$ctable" "objwatch --help lists each of the $nctable commands"

man1=$(groff -mandoc -Tutf8 "$SRCDIR/doc/objwatch.1" 2>/dev/null |
	sed 's/.\x08//g')
missing=
for c in $ctable; do
	[ "$c" = help ] && continue
	printf '%s\n' "$man1" | grep -Eq "^ +$c( |$)" || missing="$missing $c"
done
is "$missing" "" "objwatch(1) documents every command"

# And the comparison can fail: a page without a key is caught.
printf '%s\n' "$man5" | grep -Ev '^ +workers=' >"$T/man5.cut"
missing=
for k in $table; do
	grep -Eq "^ +$k=" "$T/man5.cut" || missing="$missing $k"
done
is "$missing" " workers" "a page that lacks a key is caught (workers taken out)"
