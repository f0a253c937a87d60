#!/bin/sh
# Migrations: applied once, recorded, safe when two processes start at the
# same moment; the results view has the columns people query.
. "$SRCDIR/tests/lib.sh"
plan 7

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=64 | save
output = dir:out/{key}.{ext}
EOF

# Four at once on an empty database: the advisory lock serialises them.
for i in 1 2 3 4; do
	"$OBJWATCH" -c "$T/ow.conf" db migrate >"$T/m$i.log" 2>&1 &
done
st=0
for i in 1 2 3 4; do wait %$i || st=1; done
ok $st "four concurrent migrations all succeed"
is "$(cat "$T"/m*.log | grep -c 'applied migration 0001-schema')" 1 \
    "exactly one of them applied the schema"
# Every migration under sql/, each recorded once, in order.
want=$(for f in "$SRCDIR"/sql/[0-9]*.sql; do
	b=$(basename "$f" .sql)
	echo "$(echo "$b" | sed 's/^0*\([0-9][0-9]*\)-.*/\1/')|$b"
done)
latest=$(echo "$want" | tail -n 1 | cut -d'|' -f1)
is "$(sql "SELECT version, name FROM objwatch.schema_migrations
	ORDER BY version")" "$want" "each migration is recorded once"

out=$("$OBJWATCH" -c "$T/ow.conf" db migrate 2>&1)
like "$out" "database schema is up to date \(version $latest\)" \
    "migrating again applies nothing"
is "$(sql "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
	FROM information_schema.columns WHERE table_schema = 'objwatch'
	AND table_name = 'results'" | cut -d, -f1-11)" \
    "source,key,recipe,state,output,width,height,format,bytes,error,finished_at" \
    "objwatch.results has the documented columns first"
is "$(sql "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM
	information_schema.tables WHERE table_schema = 'objwatch'")" \
    "jobs,objects,outputs,results,schema_migrations" "the schema's tables"

sql "INSERT INTO objwatch.schema_migrations VALUES (99, '0099-future')"
out=$("$OBJWATCH" -c "$T/ow.conf" db migrate 2>&1)
like "$out" "the database schema is at version 99, newer than this objwatch knows \($latest\): upgrade objwatch" \
    "a schema newer than the binary is refused"
