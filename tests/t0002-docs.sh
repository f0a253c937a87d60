#!/bin/sh
# The manual pages render without warnings and document every
# configuration key objwatch knows, and every command it has.
. "$SRCDIR/tests/lib.sh"
command -v groff >/dev/null 2>&1 || skip_all "groff is not installed"
plan 4

for page in objwatch.1 objwatch.conf.5; do
	warnings=$(groff -mandoc -Tutf8 -ww -z "$SRCDIR/doc/$page" 2>&1)
	is "$warnings" "" "$page renders without warnings"
done

# Every key `objwatch check` prints, with its defaults, is in the manual.
mkdir -p "$T/in"
write_config "$T/ow.conf" <<EOF
[source.s]
type = dir
path = in
recipes = r
[recipe.r]
steps = thumbnail width=1 | save
output = dir:out/{key}
EOF
keys=$("$OBJWATCH" check -c "$T/ow.conf" | sed -n 's/^\([a-z_]*\) = .*/\1/p' |
	sort -u)
man5=$(groff -mandoc -Tutf8 "$SRCDIR/doc/objwatch.conf.5" 2>/dev/null |
	sed 's/.\x08//g')
missing=
for k in $keys; do
	printf '%s\n' "$man5" | grep -Eq "^ +$k=" || missing="$missing $k"
done
is "$missing" "" "objwatch.conf(5) documents every key"

man1=$(groff -mandoc -Tutf8 "$SRCDIR/doc/objwatch.1" 2>/dev/null |
	sed 's/.\x08//g')
missing=
for c in $("$OBJWATCH" --help | sed -n 's/^  objwatch \([a-z]*\).*/\1/p'); do
	[ "$c" = help ] && continue
	printf '%s\n' "$man1" | grep -Eq "^ +$c( |$)" || missing="$missing $c"
done
is "$missing" "" "objwatch(1) documents every command"
