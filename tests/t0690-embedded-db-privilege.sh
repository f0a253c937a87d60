#!/bin/sh
# Least privilege in the embedded cluster: objwatch's role owns its
# database and schema but is no superuser, so a session on the socket
# cannot run COPY ... TO PROGRAM or make databases; the superuser
# (objwatch_admin) needs the password in pg/admin.password (0600), and the
# socket's folder is 0700. A cluster made by an older objwatch, where the
# objwatch role was initdb's superuser, is upgraded in place at start,
# its data kept and handed to the new role.
. "$SRCDIR/tests/lib.sh"
plan 16

PG_BIN=$(pg_bindir) || bail "no PostgreSQL server binaries"
mkdir -p "$T/in"
# conf STATE_DIR: a config using the embedded cluster under STATE_DIR.
conf() {
	write_config "$T/$1.conf" <<EOF
[objwatch]
state_dir = $1
workers = 1
listen = 127.0.0.1:0
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=32 | save format=png
output = dir:out-$1/{stem}.{ext}
EOF
}
# q STATE_DIR SQL: psql as objwatch, the way `db psql` connects.
q() { "$OBJWATCH" -c "$T/$1.conf" db psql -XAtq -c "$2" 2>&1; }
# admin STATE_DIR [PASSWORD] SQL: as the superuser, over the socket.
admin() {
	PGPASSWORD=$2 psql -XAtq -w "host=$T/$1/pg/run port=5432 user=objwatch_admin dbname=postgres" \
	    -c "$3" 2>&1 </dev/null
}

conf fresh
make_jpeg "$T/in/a.jpg" 64 48 1 || bail "no image"
ow_start "$T/fresh.conf"
wait_until 60 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }
is "$(q fresh "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")" \
    "objwatch|f|f|f" "objwatch's role is no superuser, cannot create databases or roles"
is "$(q fresh "COPY (SELECT 1) TO PROGRAM 'id'" | head -n 1)" \
    "ERROR:  must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program" \
    "so COPY ... TO PROGRAM is refused"
is "$(q fresh "CREATE DATABASE other" | head -n 1)" \
    "ERROR:  permission denied to create database" "and CREATE DATABASE"
is "$(q fresh "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'objwatch'")" \
    objwatch "it owns the objwatch schema"
is "$(q fresh "SELECT count(*) FROM pg_class WHERE relnamespace = 'objwatch'::regnamespace AND relowner <> 'objwatch'::regrole")" \
    0 "and every table and view in it"
like "$(admin fresh "" "SELECT 1")" "fe_sendauth: no password supplied" \
    "the superuser cannot log in without its password"
is "$(admin fresh "$(cat "$T/fresh/pg/admin.password")" "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")" \
    t "with it, it can"
is "$(stat -c %a "$T/fresh/pg/admin.password") $(stat -c %a "$T/fresh/pg/run")" \
    "600 700" "the password file is 0600 and the socket's folder 0700"
wait_for_file "$T/out-fresh/a.png" 30
ok $? "and objwatch works as that role" || ow_log
ow_stop

# An older cluster: made as objwatch made it before, initdb's superuser
# named objwatch, trust for everyone, with data in the objwatch schema.
mkdir -p "$T/old/pg/run"
[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$T/old/pg"
_lib_as_pg "$PG_BIN/initdb" -D "$T/old/pg/data" -U objwatch --auth=trust \
    -E UTF8 --no-locale --no-sync >"$T/old-initdb.log" 2>&1 ||
    { _lib_diag_file "$T/old-initdb.log"; bail "cannot initdb"; }
printf "\ninclude 'objwatch.conf'\n" >>"$T/old/pg/data/postgresql.conf"
printf "listen_addresses = ''\nport = 5432\nunix_socket_directories = '%s'\n" \
    "$T/old/pg/run" >"$T/old/pg/data/objwatch.conf"
[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$T/old/pg/data/objwatch.conf"
_lib_as_pg "$PG_BIN/pg_ctl" -D "$T/old/pg/data" -l "$T/old/pg/postgres.log" \
    -w start >/dev/null 2>&1 || bail "cannot start the old cluster"
old_psql() { psql -XAtq "host=$T/old/pg/run user=objwatch dbname=$1" -c "$2" 2>&1 </dev/null; }
old_psql postgres "CREATE DATABASE objwatch" >/dev/null
old_psql objwatch "CREATE SCHEMA objwatch; CREATE TABLE objwatch.kept (v text);
    INSERT INTO objwatch.kept VALUES ('from before');
    CREATE VIEW objwatch.kept_view AS SELECT v FROM objwatch.kept;
    CREATE FUNCTION objwatch.kept_fn() RETURNS text LANGUAGE sql AS 'SELECT 1::text'" >/dev/null
is "$(old_psql objwatch "SELECT rolsuper FROM pg_roles WHERE rolname = 'objwatch'")" t \
    "the older cluster's objwatch role is the superuser"
_lib_as_pg "$PG_BIN/pg_ctl" -D "$T/old/pg/data" -w stop >/dev/null 2>&1

conf old
ow_start "$T/old.conf"
# The log holds the first run's lines too: wait for this run's scan.
second_start() { [ "$(grep -c 'start-up scan' "$OW_LOG")" -ge 2 ]; }
wait_until 60 second_start || { ow_log; bail "no start"; }
is "$(grep -c "objwatch's role is a superuser (a cluster made by an older objwatch)" "$OW_LOG")" 1 \
    "objwatch says it upgrades the older cluster"
is "$(q old "SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ('objwatch', 'objwatch_admin', 'objwatch_upgrade') ORDER BY 1" | tr '\n' ' ')" \
    "objwatch|f objwatch_admin|t " "objwatch is now an ordinary role; objwatch_admin the superuser"
is "$(q old "SELECT v || ' ' || objwatch.kept_fn() FROM objwatch.kept_view")" "from before 1" \
    "the data is kept"
is "$(q old "SELECT string_agg(DISTINCT relowner::regrole::text, ',') FROM pg_class WHERE relnamespace = 'objwatch'::regnamespace") $(q old "SELECT proowner::regrole FROM pg_proc WHERE proname = 'kept_fn'") $(q old "SELECT datdba::regrole FROM pg_database WHERE datname = 'objwatch'")" \
    "objwatch objwatch objwatch" "and owned by the new role: tables, views, functions, the database"
wait_for_file "$T/out-old/a.png" 30
ok $? "objwatch works on the upgraded cluster" || ow_log
ow_stop
ok $? "objwatch stops cleanly"
