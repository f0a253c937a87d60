#!/bin/sh
# A copy recipe chained after an image recipe archives that recipe's
# output, not the source's file: thumbnails made into a folder are copied
# as they are into a bucket (and from there into a folder again), and
# gzipped into another folder, each named
# by the thumbnail's own extension, with the SHA-256 of both sides equal
# to the thumbnail's; a thumbnail gone before its copy runs fails the copy
# with class io, naming it.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh).
. "$SRCDIR/tests/lib.sh"
plan 10

pg_start || bail "cannot start PostgreSQL"
s3_start archive || bail "cannot start s3rver"
mkdir -p "$T/in" "$T/stage"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.photos]
type = dir
path = in
recipes = thumbs

; its endpoint and keys write the bucket
[source.media]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = archive
prefix = nothing-here/
access_key = S3RVER
secret_key = S3RVER
poll = 1s
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=320 | save format=webp
output = dir:out/thumbs/{stem}.{ext}

[recipe.shelf]
after = thumbs
steps = copy
output = s3:archive/thumbs/{stem}.{ext}

; a copy of a copy, read back from the bucket
[recipe.mirror]
after = shelf
steps = copy
output = dir:out/mirror/{stem}.{ext}

[recipe.packed]
after = thumbs
steps = copy gzip=yes
output = dir:out/packed/{stem}.{ext}
EOF
make_jpeg "$T/stage/a.jpg" 1200 800 1
make_jpeg "$T/stage/b.jpg" 640 960 2
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }
mv "$T/stage/a.jpg" "$T/stage/b.jpg" "$T/in/"
wait_for_sql "SELECT count(*) FILTER (WHERE state = 'done') FROM objwatch.jobs" 8 60
ok $? "two photos: a thumbnail each, archived to the bucket, mirrored and packed" ||
    ow_log

sha() { sha256sum "$1" | cut -d' ' -f1; }
is "$(sql "SELECT key, recipe, coalesce(after, '-'), format,
	regexp_replace(output, '^.*/', '') FROM objwatch.results
	ORDER BY key, recipe")" \
"a.jpg|mirror|shelf|webp|a.webp
a.jpg|packed|thumbs|gzip|a.webp.gz
a.jpg|shelf|thumbs|webp|a.webp
a.jpg|thumbs|-|webp|a.webp
b.jpg|mirror|shelf|webp|b.webp
b.jpg|packed|thumbs|gzip|b.webp.gz
b.jpg|shelf|thumbs|webp|b.webp
b.jpg|thumbs|-|webp|b.webp" \
    "each copy follows the thumbnail, named by the thumbnail's extension"

s3 get archive thumbs/a.webp "$T/a.back" >/dev/null 2>&1
cmp -s "$T/a.back" "$T/out/thumbs/a.webp"
ok $? "the bucket holds a's thumbnail byte for byte"
is "$(sql "SELECT sha256 || ' ' || input_sha256 FROM objwatch.results
	WHERE key = 'a.jpg' AND recipe = 'shelf'")" \
    "$(sha "$T/out/thumbs/a.webp") $(sha "$T/out/thumbs/a.webp")" \
    "its SHA-256s, both sides, are the thumbnail's"
is "$(image_size "$T/a.back")" "320x213" "and it is the 320 px thumbnail, not the photo"
cmp -s "$T/out/mirror/b.webp" "$T/out/thumbs/b.webp"
ok $? "the mirror, read back from the bucket, is b's thumbnail byte for byte"
zcat "$T/out/packed/b.webp.gz" | cmp -s - "$T/out/thumbs/b.webp"
ok $? "b's packed copy unzips to its thumbnail"
is "$(sql "SELECT input_sha256 || ' ' || sha256 FROM objwatch.results
	WHERE key = 'b.jpg' AND recipe = 'packed'")" \
    "$(sha "$T/out/thumbs/b.webp") $(sha "$T/out/packed/b.webp.gz")" \
    "the packed copy records the thumbnail's SHA-256 and the gzip's"

# The thumbnail removed, then packed changed with reprocess = yes: its new
# jobs read the thumbnails again, and a's is gone, which its copy says.
ow_stop >/dev/null
rm "$T/out/thumbs/a.webp"
sed -i 's/^steps = copy gzip=yes$/steps = copy gzip=yes level=9\nreprocess = yes/' \
    "$T/ow.conf"
ow_start "$T/ow.conf"
wait_for_sql "SELECT string_agg(o.key || ' ' || j.state, ', ' ORDER BY o.key)
	FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id
	WHERE j.recipe = 'packed' AND j.recipe_hash = (SELECT recipe_hash
	FROM objwatch.jobs WHERE recipe = 'packed' ORDER BY id DESC LIMIT 1)" \
    "a.jpg failed, b.jpg done" 30
ok $? "a's copy, its input gone, fails; b's is made again" || ow_log
is "$(sql "SELECT error FROM objwatch.results
	WHERE key = 'a.jpg' AND recipe = 'packed'")" \
    "io: '$(sql "SELECT input FROM objwatch.results WHERE key = 'a.jpg'
	AND recipe = 'packed'")', the output of recipe 'thumbs' this recipe follows, no longer exists (removed before it was read)" \
    "and says whose output it was"
ow_stop >/dev/null
