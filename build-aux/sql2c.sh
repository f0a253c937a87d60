#!/bin/sh
# Turn numbered migrations into a C table: { version, name, sql }.
# Usage: sql2c.sh sql/0001-name.sql ... > migrations.c
set -e
echo '/* Generated from sql/ by build-aux/sql2c.sh: do not edit. */'
echo '#include <stddef.h>'
echo 'struct migration { int version; const char *name; const char *sql; };'
echo 'const struct migration migrations[] = {'
for f in "$@"; do
	base=$(basename "$f" .sql)
	version=$(echo "$base" | sed 's/^0*\([0-9][0-9]*\)-.*/\1/')
	printf '\t{ %s, "%s",\n' "$version" "$base"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t  "/' -e 's/$/\\n"/' "$f"
	printf '\t},\n'
done
echo '	{ 0, NULL, NULL }'
echo '};'
