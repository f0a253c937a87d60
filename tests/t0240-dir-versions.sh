#!/bin/sh
# Versions, deletions, renames and the loop guard in watched folders:
# - a file rewritten in place is a new object version with its own job, the
#   old row kept;
# - a deleted file's objects are marked deleted; its outputs stay, unless
#   the source says on_delete = remove (then they go, and outputs say so);
# - a folder renamed inside the source: later files in it (and in its
#   subfolders) carry the new path, never the old one;
# - a folder moved out of the source is no longer watched;
# - outputs written inside a source are never taken as inputs, by events
#   or by the periodic reconcile;
# - files and folders deleted while objwatch was stopped are marked deleted
#   by the start-up reconcile.
. "$SRCDIR/tests/lib.sh"
plan 20

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/keep" "$T/rm" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.keep]
type = dir
path = keep
settle = 1s
recipes = kthumbs

[source.rm]
type = dir
path = rm
settle = 1s
reconcile = 2s
on_delete = remove
recipes = rthumbs

[recipe.kthumbs]
steps = thumbnail width=64 height=64 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}

[recipe.rthumbs]
steps = thumbnail width=32 height=32 | save format=jpeg
output = dir:rm/_thumbs/{dir}/{stem}.{ext}
EOF
i=1
for n in a1 a2 b x y z w s f; do
	make_jpeg "$T/$n.jpg" $((100 + i * 20)) 100 "$i" || bail "no JPEG"
	i=$((i + 1))
done

ow_start "$T/ow.conf"
wait_until 20 grep -q "source 'rm': start-up scan" "$OW_LOG" ||
	{ ow_log; bail "no start"; }

## In place
cp "$T/a1.jpg" "$T/keep/a.jpg"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'a.jpg'" done
ok $? "a.jpg is processed" || ow_log
cat "$T/a2.jpg" >"$T/keep/a.jpg"
wait_for_sql "SELECT string_agg(state || ':' || width, ',' ORDER BY object_id)
	FROM objwatch.results WHERE key = 'a.jpg'" "done:64,done:64"
ok $? "rewritten in place, it is processed again" || ow_log
is "$(sql "SELECT count(*) || '|' || count(DISTINCT version) || '|' ||
	string_agg(size::text, ',' ORDER BY id) FROM objwatch.objects
	WHERE key = 'a.jpg'")" \
    "2|2|$(stat -c %s "$T/a1.jpg"),$(stat -c %s "$T/a2.jpg")" \
    "two object rows, one per version, the old one kept"
is "$(image_size "$T/out/a.jpg")" "64x46" "the output is the new version's"

## Deleted, outputs kept
rm "$T/keep/a.jpg"
wait_for_sql "SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL)
	FROM objwatch.objects WHERE key = 'a.jpg'" 2
ok $? "deleting the file marks both versions deleted" || ow_log
test -f "$T/out/a.jpg"
ok $? "its output is kept (on_delete = keep)"

## Deleted, outputs removed
cp "$T/b.jpg" "$T/rm/b.jpg"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'b.jpg'" done
ok $? "b.jpg is processed, its output inside its own source" || ow_log
test -f "$T/rm/_thumbs/b.jpg"
ok $? "the output is there"
rm "$T/rm/b.jpg"
wait_for_sql "SELECT (o.deleted_at IS NOT NULL) || '|' ||
	(u.removed_at IS NOT NULL) FROM objwatch.objects o
	JOIN objwatch.jobs j ON j.object_id = o.id
	JOIN objwatch.outputs u ON u.job_id = j.id WHERE o.key = 'b.jpg'" "true|true"
ok $? "the object is marked deleted and its output removed" || ow_log
test ! -e "$T/rm/_thumbs/b.jpg"
ok $? "the output file is gone (on_delete = remove)"

## The loop guard, through events and periodic reconciles
cp "$T/s.jpg" "$T/rm/s.jpg"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 's.jpg'" done
ok $? "a new input in a folder holding its output is done" || ow_log
# The next reconcile, begun with the output in place (an earlier one may
# have said the same of b.jpg).
n=$(grep -c "source 'rm': periodic reconcile scan" "$OW_LOG")
another_reconcile() {
	[ "$(grep -c "source 'rm': periodic reconcile scan" "$OW_LOG")" -gt "$n" ]
}
wait_until 10 another_reconcile
ok $? "another periodic reconcile runs" || ow_log
is "$(grep "source 'rm': periodic reconcile scan" "$OW_LOG" |
	sed -n "$((n + 1))s/.*: periodic reconcile scan: \([^,]*, [^,]*\),.*/\1/p")" \
    "1 files, 0 new jobs" "a periodic reconcile sees the one input, not its output"
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key LIKE '_thumbs/%'")" \
    0 "no output was ever recorded as an input"

## Renamed inside the source
mkdir -p "$T/keep/d1/sub"
cp "$T/x.jpg" "$T/keep/d1/x.jpg"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'd1/x.jpg'" done
mv "$T/keep/d1" "$T/keep/d2"
cp "$T/y.jpg" "$T/keep/d2/y.jpg"
cp "$T/z.jpg" "$T/keep/d2/sub/z.jpg"
wait_for_sql "SELECT count(*) FROM objwatch.results
	WHERE key IN ('d2/y.jpg', 'd2/sub/z.jpg') AND state = 'done'" 2
ok $? "files written after the rename are processed" || ow_log
is "$(sql "SELECT key || '|' || (deleted_at IS NOT NULL) FROM objwatch.objects
	WHERE key LIKE 'd_/%' ORDER BY key")" \
"d1/x.jpg|true
d2/sub/z.jpg|false
d2/x.jpg|false
d2/y.jpg|false" "they carry the new path; the old key is marked deleted"

## Moved out of the source
mv "$T/keep/d2" "$T/away"
cp "$T/w.jpg" "$T/away/w.jpg"
cp "$T/w.jpg" "$T/away/sub/w.jpg"
cp "$T/s.jpg" "$T/keep/sync.jpg"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'sync.jpg'" done
ok $? "a file after the move is processed" || ow_log
is "$(sql "SELECT count(*) FILTER (WHERE key LIKE '%w.jpg') || '|' ||
	count(*) FILTER (WHERE key LIKE 'd2/%' AND deleted_at IS NULL)
	FROM objwatch.objects")" "0|0" \
    "files in the moved-out folder are not taken; its objects are deleted"

## Deleted while stopped
mkdir -p "$T/keep/e/f"
cp "$T/f.jpg" "$T/keep/e/f/f.jpg"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'e/f/f.jpg'" done
ow_stop
rm -r "$T/keep/e"
rm "$T/keep/sync.jpg"
ow_start "$T/ow.conf"
wait_until 20 grep -q "source 'keep': start-up scan: 0 files, 0 new jobs, 2 deleted" \
	"$OW_LOG"
ok $? "the start-up reconcile finds the two deletions" || ow_log
is "$(sql "SELECT key FROM objwatch.objects WHERE deleted_at IS NULL
	ORDER BY key")" "s.jpg" "only the file still there is not deleted"
ow_stop
