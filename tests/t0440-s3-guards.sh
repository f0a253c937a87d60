#!/bin/sh
# S3 sources guard themselves: outputs written into the watched bucket are
# never taken as inputs (skipped by prefix when listing; refused by their
# x-amz-meta-objwatch-source at fetch); an object deleted before it is
# processed fails for good with a 404 message, bad keys with a 403 one;
# `objwatch check` explains a bad s3 section and never prints a secret.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh).
. "$SRCDIR/tests/lib.sh"
plan 18

pg_start || bail "cannot start PostgreSQL"
s3_start media || bail "cannot start s3rver"
TOKEN=guards-webhook-token-0123456789

write_config "$T/ow.conf" <<EOF2
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
access_key = S3RVER
secret_key = S3RVER
poll = 1s
webhook_token = $TOKEN
recipes = thumbs

[source.denied]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = media
prefix = nothing/
access_key = NOT-A-KEY
secret_key = wrong-secret-do-not-print
poll = 1h
webhook_token = $TOKEN
recipes = thumbs

[source.local]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = media
prefix = local/
access_key = S3RVER
secret_key = S3RVER
poll = 1s
recipes = tofolder

[recipe.thumbs]
steps = thumbnail width=100 | save format=png
output = s3:media/thumbs/{key}.{ext}

[recipe.tofolder]
steps = thumbnail width=90 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF2

out=$("$OBJWATCH" check -c "$T/ow.conf" 2>&1)
ok $? "the config checks"
is "$(printf '%s\n' "$out" | grep -c 'wrong-secret-do-not-print\|NOT-A-KEY')" 0 \
    "check prints no key or secret"

make_jpeg "$T/a.jpg" 500 300 1
make_jpeg "$T/b.jpg" 300 500 2
s3 put media 'in/a one.jpg' "$T/a.jpg"
s3 put media 'in/b+two.jpg' "$T/b.jpg"
# An output of another objwatch, copied in: it says so in its metadata.
S3_META_SOURCE=elsewhere s3 put media 'in/copied.jpg' "$T/a.jpg"

ow_start "$T/ow.conf" -v
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE source = 'media'
	AND state IN ('done', 'failed')" 3 60
ok $? "three objects are taken" || ow_log
is "$(s3 ls media thumbs/ | cut -f1 | LC_ALL=C sort)" \
"thumbs/in/a one.jpg.png
thumbs/in/b+two.jpg.png" "the outputs are in the watched bucket"
# Two listings after the outputs were made: they have seen them.
mark=$(grep -c "source 'media': listed" "$OW_LOG")
wait_until 30 sh -c "[ \$(grep -c \"source 'media': listed\" '$OW_LOG') -ge $((mark + 2)) ]"
ok $? "the bucket is listed twice more with the outputs in it" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key LIKE 'thumbs/%'")" 0 \
    "outputs under the output prefix are never recorded as inputs"
is "$(sql "SELECT state, error_class FROM objwatch.results
	WHERE key = 'in/copied.jpg'")" "failed|config" \
    "an object carrying objwatch's metadata is refused at fetch"
is "$(sql "SELECT error FROM objwatch.results WHERE key = 'in/copied.jpg'")" \
    "config: 'in/copied.jpg' in bucket 'media' is an output of objwatch (from source 'elsewhere'): outputs are never processed as inputs" \
    "saying where it came from"
is "$(s3 head media 'thumbs/in/copied.jpg.png' | cut -f1)" 404 \
    "and nothing is made of it"

# Deleted before it was processed: a 404, failed for good.
post() {
	curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		--data-binary "@$2" "http://127.0.0.1:$PORT/events/$1"
}
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OW_LOG" | head -n 1)
printf '{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"in/ghost.jpg","size":10,"eTag":"0123456789abcdef0123456789abcdef"}}}]}' >"$T/ghost.json"
is "$(post media "$T/ghost.json")" 200 "an event for an object already gone is taken"
wait_for_sql "SELECT state || '|' || error_class || '|' || attempts
	FROM objwatch.results WHERE key = 'in/ghost.jpg'" "failed|io|1" 30
ok $? "its job fails at once, not retried" || ow_log
is "$(sql "SELECT error FROM objwatch.results WHERE key = 'in/ghost.jpg'")" \
    "io: cannot get 'in/ghost.jpg' in bucket 'media': 404: it was deleted before it was processed" \
    "with a 404 message"

# Wrong keys: a 403, failed for good, with what to check.
sed 's|in/ghost.jpg|nothing/x.jpg|' "$T/ghost.json" >"$T/denied.json"
is "$(post denied "$T/denied.json")" 200 "an event for the source with bad keys"
wait_for_sql "SELECT state || '|' || error_class FROM objwatch.results
	WHERE source = 'denied'" "failed|io" 30
ok $? "its job fails at once" || ow_log
# The middle part is the server's own message (s3rver's, pinned).
is "$(sql "SELECT error FROM objwatch.results WHERE source = 'denied'")" \
    "io: cannot get 'nothing/x.jpg' in bucket 'media': 403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.: the server knows no such access key: check access_key of source 'denied'" \
    "fails with a 403 message that says what to check"
# An S3 source with a dir: output.
s3 put media 'local/in a folder.jpg' "$T/a.jpg"
wait_for_sql "SELECT state || '|' || output FROM objwatch.results
	WHERE source = 'local'" "done|$T/out/local/in a folder.jpg" 30
ok $? "an S3 source writes a dir: output" || ow_log
is "$(image_size "$T/out/local/in a folder.jpg")" 90x54 "the file is the thumbnail"
ow_stop
ok $? "objwatch stops cleanly"
