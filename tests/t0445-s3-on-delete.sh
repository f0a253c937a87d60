#!/bin/sh
# on_delete = remove takes away the outputs of a deleted object wherever
# they are: a bucket source's outputs in a bucket (the poller sees the
# object gone, or the webhook says ObjectRemoved), and a folder source's
# outputs in a bucket; outputs.removed_at says when. A source that keeps
# (the default) leaves its outputs in place.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh).
. "$SRCDIR/tests/lib.sh"
plan 10

pg_start || bail "cannot start PostgreSQL"
s3_start media keep || bail "cannot start s3rver"
TOKEN=on-delete-webhook-token-0123456789
mkdir -p "$T/in" "$T/stage"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:0

[source.media]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = media
prefix = in/
access_key = S3RVER
secret_key = S3RVER
poll = 1s
webhook_token = $TOKEN
on_delete = remove
recipes = thumbs

[source.kept]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = keep
prefix = in/
access_key = S3RVER
secret_key = S3RVER
poll = 1s
recipes = keepthumbs

[source.folder]
type = dir
path = in
on_delete = remove
recipes = tobucket

[recipe.thumbs]
steps = thumbnail width=64 | save format=png
output = s3:media/thumbs/{stem}.{ext}

[recipe.keepthumbs]
steps = thumbnail width=64 | save format=png
output = s3:keep/thumbs/{stem}.{ext}

[recipe.tobucket]
steps = thumbnail width=64 | save format=png
output = s3:media/fromdir/{stem}.{ext}
EOF
make_jpeg "$T/a.jpg" 200 100 1
make_jpeg "$T/b.jpg" 200 100 2

ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }
s3 put media in/a.jpg "$T/a.jpg" image/jpeg &&
s3 put media in/b.jpg "$T/b.jpg" image/jpeg &&
s3 put media in/c.jpg "$T/b.jpg" image/jpeg &&
s3 put keep in/k.jpg "$T/a.jpg" image/jpeg || bail "cannot upload"
cp "$T/a.jpg" "$T/stage/d.jpg" && mv "$T/stage/d.jpg" "$T/in/"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 5 60
ok $? "the five objects are processed" || ow_log
is "$(s3 ls media thumbs/ | cut -f1 | tr '\n' ' ')" \
    "thumbs/a.png thumbs/b.png thumbs/c.png " "their outputs are in the bucket"

# Deleted in the bucket: the poller sees it gone.
s3 rm media in/a.jpg
wait_for_sql "SELECT count(*) FROM objwatch.outputs WHERE removed_at IS NOT NULL" 1 30
ok $? "the poller marks a.jpg's output removed" || ow_log
is "$(s3 ls media thumbs/ | cut -f1 | tr '\n' ' ')" "thumbs/b.png thumbs/c.png " \
    "and deletes it from the bucket"

# Deleted, and said so by the webhook at once (whichever of it and the
# next poll comes first removes the output; the other finds it done).
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OW_LOG" | head -n 1)
s3 rm media in/b.jpg
code=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    --data-binary '{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"media"},"object":{"key":"in/b.jpg"}}}]}' \
    "http://127.0.0.1:$PORT/events/media")
is "$code" 200 "the webhook takes an ObjectRemoved event"
wait_for_sql "SELECT count(*) FROM objwatch.outputs WHERE removed_at IS NOT NULL" 2 30
ok $? "the deleted object's output is marked removed" || ow_log
is "$(s3 ls media thumbs/ | cut -f1 | tr '\n' ' ')" "thumbs/c.png " \
    "and b.jpg's output is gone from the bucket"

# A folder's file, its output in a bucket.
rm "$T/in/d.jpg"
wait_for_sql "SELECT count(*) FROM objwatch.outputs WHERE removed_at IS NOT NULL" 3 30
ok $? "a deleted file's bucket output is marked removed" || ow_log
is "$(s3 ls media fromdir/ | cut -f1 | tr '\n' ' ')" "" \
    "and deleted from the bucket"

# on_delete = keep (the default): the output stays.
s3 rm keep in/k.jpg
wait_for_sql "SELECT count(*) FROM objwatch.objects WHERE source = 'kept'
	AND deleted_at IS NOT NULL" 1 30 || ow_log
is "$(s3 ls keep thumbs/ | cut -f1)" "thumbs/k.png" \
    "a source that keeps leaves its output in the bucket"
ow_stop
