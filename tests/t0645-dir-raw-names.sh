#!/bin/sh
# File names that are not UTF-8, and names holding U+EF80..U+EFFF (the
# characters that stand for such bytes in keys), are processed like any
# other: the key shows each stray byte as U+EF00 + byte, the output is
# written under the name's own bytes, renames and deletions of files and
# folders follow them (on_delete = remove takes the outputs away), and a
# restart finds them all known.
. "$SRCDIR/tests/lib.sh"
plan 16

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out" "$T/x"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 2
listen = 127.0.0.1:0
[source.photos]
type = dir
path = in
on_delete = remove
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=100 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
make_jpeg "$T/x/a.jpg" 400 300 1

# Names as bytes (octal): 351 is Latin-1 e-acute, 377 and 376 are never
# UTF-8, and 356 276 200 is U+EF80 itself, as valid UTF-8.
caf=$(printf 'caf\351.jpg')
pua=$(printf 'pua-\356\276\200.jpg')
dir1=$(printf 'd\377')
dir2=$(printf 'e\376')
old=$(printf 'old\351.jpg')
new=$(printf 'new\351.jpg')
gone=$(printf 'gone\351.jpg')

# Two at the start (the start-up scan), three as events.
mkdir "$T/in/$dir1"
cp "$T/x/a.jpg" "$T/in/$caf"
cp "$T/x/a.jpg" "$T/in/$dir1/in.jpg"
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || bail "no start"
cp "$T/x/a.jpg" "$T/in/$pua"
cp "$T/x/a.jpg" "$T/in/$old"
cp "$T/x/a.jpg" "$T/in/$gone"

wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'" 5
ok $? "the five files are processed" ||
    { sql "SELECT key, state, error FROM objwatch.results" >&2; ow_log; }
is "$(sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'
	AND width = 100 AND height = 75 AND key IN (E'caf\\uefe9.jpg',
	E'd\\uefff/in.jpg', E'pua-\\uefee\\uefbe\\uef80.jpg',
	E'old\\uefe9.jpg', E'gone\\uefe9.jpg')")" 5 \
    "each key shows a stray byte b as U+EF00 + b, and escapes a real U+EF80"
is "$(sql "SELECT output FROM objwatch.results
	WHERE key = E'd\\uefff/in.jpg'")" \
    "$T/out/$(printf 'd\356\277\277')/in.jpg" \
    "the output row holds the key's text"
sizes=
for f in "$caf" "$dir1/in.jpg" "$pua" "$old" "$gone"; do
	sizes="$sizes $(image_size "$T/out/$f")"
done
is "$sizes $(find "$T/out" -type f | wc -l)" \
    " 100x75 100x75 100x75 100x75 100x75 5" \
    "the outputs are files named with the inputs' own bytes, and only those"

# A file renamed: its old key is deleted, with its output; the new one is
# processed.
mv "$T/in/$old" "$T/in/$new"
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'
	AND key = E'new\\uefe9.jpg'" 1
ok $? "a renamed file is processed under its new key" || ow_log
wait_until 10 test ! -e "$T/out/$old"
ok $? "the output of its old name is removed"
is "$(sql "SELECT deleted_at IS NOT NULL FROM objwatch.objects
	WHERE key = E'old\\uefe9.jpg'") $(image_size "$T/out/$new")" \
    "t 100x75" "its old key is marked deleted; its new output is there"

# A file deleted.
rm "$T/in/$gone"
wait_until 10 test ! -e "$T/out/$gone"
ok $? "a deleted file's output is removed" || ow_log
is "$(sql "SELECT deleted_at IS NOT NULL FROM objwatch.objects
	WHERE key = E'gone\\uefe9.jpg'")" t "and its object is marked deleted"

# A folder renamed.
mv "$T/in/$dir1" "$T/in/$dir2"
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'
	AND key = E'e\\ueffe/in.jpg'" 1
ok $? "a renamed folder's file is processed under its new key" || ow_log
wait_until 10 test ! -e "$T/out/$dir1/in.jpg"
ok $? "the output under the folder's old name is removed"

# A restart over the same files: the listing and the ledger agree.
ow_stop
jobs_before=$(sql "SELECT count(*) || '/' || max(id) FROM objwatch.jobs")
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan: 4 files, 0 new jobs, 0 deleted' \
    "$OW_LOG"
ok $? "a restart finds the four files known: no job, nothing deleted" ||
    ow_log
ow_stop
is "$(sql "SELECT count(*) || '/' || max(id) FROM objwatch.jobs")" \
    "$jobs_before" "no job was added"

# A folder deleted while stopped: the reconcile finds it gone.
rm -r "$T/in/$dir2"
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan: 3 files, 0 new jobs, 1 deleted' \
    "$OW_LOG"
ok $? "a folder deleted while stopped is found gone at start" || ow_log
wait_until 10 test ! -e "$T/out/$dir2/in.jpg"
ok $? "and the output of its file is removed"
ow_stop
is "$(grep -c -e 'warning' -e 'error' "$OW_LOG")" 0 \
    "no warning or error was logged" || ow_log
