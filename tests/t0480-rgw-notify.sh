#!/bin/sh
# Ceph RGW's own bucket notifications, end to end: topics made with RGW's
# CreateTopic whose push-endpoint is objwatch's webhook, with the token as
# Basic credentials in the URL (RGW cannot send a Bearer header) or as a
# path segment; PutBucketNotificationConfiguration for ObjectCreated and
# ObjectRemoved; uploads and a delete. poll = 1h and the start-up listing
# done before the first upload: what is processed came from RGW's events.
# A clock an hour off (faketime) is refused by RGW with
# RequestTimeTooSkewed, and `check --connect` says to set the clock.
. "$SRCDIR/tests/lib.sh"
plan 13

TOKEN=t0480-webhook-token-0123456789abcdef
pg_start || bail "cannot start PostgreSQL"
rgw_start --ssl uploads drops thumbs || bail "cannot start RGW"
PORT=$(_lib_free_ports 1) || bail "no free port"

write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:$PORT

[source.uploads]
type = s3
endpoint = $RGW_ENDPOINT
https = no
bucket = uploads
access_key = $RGW_ACCESS_KEY
secret_key = $RGW_SECRET_KEY
poll = 1h
webhook_token = $TOKEN
recipes = thumbs

[source.drops]
type = s3
endpoint = $RGW_ENDPOINT
https = no
bucket = drops
access_key = $RGW_ACCESS_KEY
secret_key = $RGW_SECRET_KEY
poll = 1h
webhook_token = $TOKEN
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=160 | save format=jpeg
output = s3:thumbs/{source}/{key}.{ext}
EOF2
ow_start "$T/ow.conf" -v
# Both sources have listed their empty buckets once (debug lines): the next
# listing is an hour away.
wait_until 30 sh -c "[ \$(grep -c \"source '[a-z]*': listed 0 objects\" '$OW_LOG') -ge 2 ]" ||
    { ow_log; bail "the first listings did not happen"; }

# Basic credentials in the URL: RGW takes a password only over https.
arn1=$(rgw --ssl topic ow-basic "http://objwatch:$TOKEN@127.0.0.1:$PORT/events/uploads")
is "$arn1" "arn:aws:sns:default::ow-basic" "a topic pushing to the webhook with Basic credentials"
arn2=$(rgw topic ow-path "http://127.0.0.1:$PORT/events/drops/$TOKEN")
is "$arn2" "arn:aws:sns:default::ow-path" "a topic pushing to the webhook with the token in the path"
rgw notify uploads "$arn1" ow 's3:ObjectCreated:*' 's3:ObjectRemoved:*'
ok $? "uploads notifies its topic of creations and removals"
rgw notify drops "$arn2" ow 's3:ObjectCreated:*'
ok $? "drops notifies its topic of creations"

make_jpeg "$T/a.jpg" 640 480 1 || bail "no image"
make_jpeg "$T/b.jpg" 400 300 2 || bail "no image"
rgw put uploads "a b+c.jpg" "$T/a.jpg" image/jpeg || bail "cannot put"
rgw put uploads "café/ü 2.jpg" "$T/b.jpg" image/jpeg || bail "cannot put"
rgw put drops "drop 1.jpg" "$T/b.jpg" image/jpeg || bail "cannot put"
etag=$(rgw head uploads "a b+c.jpg" | cut -f3)

wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 3 60
ok $? "the three uploads are processed" || ow_log
is "$(sql "SELECT source || '|' || key || '|' || version FROM objwatch.objects
	WHERE key = 'a b+c.jpg'")" "uploads|a b+c.jpg|$etag" \
    "the key from RGW's event, unencoded, and its ETag"
is "$(sql "SELECT source || '|' || output || '|' || width || 'x' || height
	FROM objwatch.results ORDER BY source, key" | tr '\n' ' ')" \
    "drops|s3:thumbs/drops/drop 1.jpg.jpg|160x120 uploads|s3:thumbs/uploads/a b+c.jpg.jpg|160x120 uploads|s3:thumbs/uploads/café/ü 2.jpg.jpg|160x120 " \
    "each has its thumbnail in the output bucket"
is "$(grep -c "webhook 'uploads': 1 new jobs" "$OW_LOG")" 2 \
    "the uploads arrived as two webhook events"
is "$(grep -c "webhook 'drops': 1 new jobs" "$OW_LOG")" 1 \
    "the drop arrived as a webhook event, token in the path"
is "$(grep -c "source '[a-z]*': listed [1-9]" "$OW_LOG")" 0 \
    "no listing found them"

rgw rm uploads "a b+c.jpg" || bail "cannot delete"
wait_for_sql "SELECT deleted_at IS NOT NULL FROM objwatch.objects
	WHERE key = 'a b+c.jpg'" t 30
ok $? "RGW's ObjectRemoved event records the deletion" || ow_log
is "$(grep -c "$TOKEN" "$OW_LOG")" 0 "the token is never logged"

# A clock an hour behind: RGW refuses the signature's date.
if command -v faketime >/dev/null 2>&1; then
	# An ASan build wants its runtime first among preloads; faketime's
	# libfaketime comes first here, which is harmless to ASan.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	    faketime -f -1h "$OBJWATCH" check -c "$T/ow.conf" --connect \
	    >"$T/skew.out" 2>&1
	is "$(grep "^; connect: source 'uploads': " "$T/skew.out")" \
	    "; connect: source 'uploads': cannot list bucket 'uploads' on $RGW_ENDPOINT: 403 RequestTimeTooSkewed: this machine's clock is more than 15 minutes away from the server's: set the clock (timedatectl set-ntp true, or chrony); waiting for it" \
	    "a clock an hour off: RGW's RequestTimeTooSkewed, and what to do"
else
	fail "a clock an hour off: faketime is not installed (tools/deps.sh)"
fi

ow_stop
