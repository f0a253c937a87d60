#!/bin/sh
# POST /events/SOURCE takes the S3 event notifications of AWS, MinIO (its
# webhook wrapper), Ceph RGW and Tencent COS, as those servers send them
# (tests/events/*.json), and enqueues the right bucket, key, size and ETag
# from each; each difference between the formats is checked: keys encoded
# with '+' for a space (AWS, MinIO) or not (Ceph), eventName with or
# without "s3:", size as a string (Ceph), times in ms, µs or epoch seconds
# (COS), COS's /APPID/BUCKET/KEY and wildcard eventName, several Records
# in one body, ObjectRemoved. A wrong token is 401 and writes nothing, a
# malformed body 400, an oversized one 413; with the database stopped the
# answer is 503 and the redelivered event is processed once after. COS's
# Authorization header is never stored or logged.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh).
. "$SRCDIR/tests/lib.sh"
plan 27

B=hooks-1250000000
TOKEN=0123456789abcdef-webhook-token
pg_start || bail "cannot start PostgreSQL"
s3_start "$B" thumbs || bail "cannot start s3rver"

# poll = 1h: the start-up listing finds an empty bucket and then only
# the webhook tells objwatch about objects.
write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:0

[source.hooks]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = $B
access_key = S3RVER
secret_key = S3RVER
poll = 1h
webhook_token = $TOKEN
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=128 | save format=jpeg
output = s3:thumbs/{dir}/{stem}.{ext}
EOF2
ow_start "$T/ow.conf" -v
wait_until 30 grep -q 'listed 0 objects' "$OW_LOG" || { ow_log; bail "no start"; }
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OW_LOG")
URL=http://127.0.0.1:$PORT/events/hooks

# post FILE [TOKEN]: POST FILE; prints the HTTP status, the body to $T/resp.
post() {
	curl -s -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
		-H "Authorization: Bearer ${2-$TOKEN}" --data-binary "@$1" "$URL"
}

# event FORMAT KEY FILE: upload FILE as KEY, write the FORMAT event for it
# with its real size and ETag to $T/FORMAT.json.
i=0
event() {
	i=$((i + 1))
	make_jpeg "$T/src$i.jpg" 320 $((200 + i)) "$i" || bail "no image"
	s3 put "$B" "$2" "$T/src$i.jpg" || bail "cannot put $2"
	_etag=$(s3 head "$B" "$2" | cut -f3)
	_size=$(stat -c %s "$T/src$i.jpg")
	echo "$2|$_size|$_etag" >>"$T/expected"
	sed -e "s/@BUCKET@/$B/g" -e "s/@SIZE@/$_size/g" -e "s/@ETAG@/$_etag/g" \
		-e "s/@COSNAME@/hooks/g" -e "s/@APPID@/1250000000/g" \
		"$SRCDIR/tests/events/$1.json" >"$T/$1.json"
}

row() {
	sql "SELECT key || '|' || size || '|' || version || '|' || etag
		FROM objwatch.objects WHERE source = 'hooks' AND key = '$1'"
}

event aws 'aws/IMG 0001 (1).jpg'
is "$(post "$T/aws.json")" 200 "AWS: 200"
is "$(row 'aws/IMG 0001 (1).jpg')" "$(sed -n 1p "$T/expected")|$(sed -n 1p "$T/expected" | cut -d'|' -f3)" \
    "AWS: key decoded ('+' is a space, %28 a parenthesis), size and ETag"
is "$(sql "SELECT to_char(mtime AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')
	FROM objwatch.objects WHERE key = 'aws/IMG 0001 (1).jpg'")" \
    "2026-01-02 03:04:05.123" "AWS: eventTime with milliseconds"
like "$(cat "$T/resp")" '"queued": 1' "AWS: the answer counts the job"

event minio 'minio/a+b c.jpg'
is "$(post "$T/minio.json")" 200 "MinIO: 200 for its webhook wrapper"
is "$(row 'minio/a+b c.jpg')" "$(sed -n 2p "$T/expected")|$(sed -n 2p "$T/expected" | cut -d'|' -f3)" \
    "MinIO: key decoded (%2F, %2B and '+'), 's3:' eventName, size, ETag"

event ceph 'ceph/café+1.jpg'
is "$(post "$T/ceph.json")" 200 "Ceph: 200"
is "$(row 'ceph/café+1.jpg')" "$(sed -n 3p "$T/expected")|$(sed -n 3p "$T/expected" | cut -d'|' -f3)" \
    "Ceph: key as sent ('+' stays), eventName without 's3:', size as a string"
is "$(sql "SELECT to_char(mtime AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')
	FROM objwatch.objects WHERE key = 'ceph/café+1.jpg'")" \
    "2026-01-02 03:04:05.123456" "Ceph: eventTime with microseconds"

event cos 'cos/photo 2.jpg'
is "$(post "$T/cos.json")" 200 "COS: 200"
is "$(row 'cos/photo 2.jpg')" "$(sed -n 4p "$T/expected")|$(sed -n 4p "$T/expected" | cut -d'|' -f3)" \
    "COS: /APPID/BUCKET/KEY and NAME-APPID resolved, wildcard eventName, ETag asked of the server"
is "$(sql "SELECT extract(epoch FROM mtime)::bigint FROM objwatch.objects
	WHERE key = 'cos/photo 2.jpg'")" 1767323045 "COS: eventTime in epoch seconds"

# Several records in one body.
event aws 'multi/one.jpg'
e1=$(sed -n 5p "$T/expected" | cut -d'|' -f3)
s1=$(sed -n 5p "$T/expected" | cut -d'|' -f2)
event aws 'multi/two two.jpg'
e2=$(sed -n 6p "$T/expected" | cut -d'|' -f3)
s2=$(sed -n 6p "$T/expected" | cut -d'|' -f2)
rec() {
	printf '{"eventSource":"aws:s3","eventTime":"2026-01-02T03:04:05.000Z","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"%s"},"object":{"key":"%s","size":%s,"eTag":"%s"}}}' \
		"$B" "$1" "$2" "$3"
}
printf '{"Records":[%s,%s]}' "$(rec multi/one.jpg "$s1" "$e1")" \
	"$(rec 'multi/two+two.jpg' "$s2" "$e2")" >"$T/multi.json"
is "$(post "$T/multi.json")" 200 "several Records: 200"
is "$(sql "SELECT string_agg(key || '|' || version, ',' ORDER BY key)
	FROM objwatch.objects WHERE key LIKE 'multi/%'")" \
    "multi/one.jpg|$e1,multi/two two.jpg|$e2" "several Records: each one recorded"

wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'" 6 60
ok $? "every object an event named is processed" || ow_log

# Tokens.
sed 's|aws/IMG+0001+%281%29.jpg|never/x.jpg|' "$T/aws.json" >"$T/never.json"
is "$(post "$T/never.json" wrong-token-wrong-token)" 401 "a wrong token: 401"
is "$(curl -s -o /dev/null -w '%{http_code}' --data-binary "@$T/never.json" "$URL")" \
    401 "no token: 401"
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key LIKE 'never/%'")" 0 \
    "a refused event writes nothing"

# Malformed and oversized bodies.
printf '{"Records": [' >"$T/bad.json"
is "$(post "$T/bad.json")" 400 "malformed JSON: 400"
like "$(cat "$T/resp")" '^\{"error": "the body is not JSON' "with a JSON error"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
is "$(post "$T/big.json")" 413 "a body over 1 MiB: 413"

# Removed.
printf '{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"%s"},"object":{"key":"multi/one.jpg","sequencer":"1"}}}]}' \
	"$B" >"$T/rm.json"
is "$(post "$T/rm.json")" 200 "ObjectRemoved: 200"
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key = 'multi/one.jpg'
	AND deleted_at IS NOT NULL")" 1 "ObjectRemoved is recorded as deleted_at"

# The database down: 503, and the redelivery after is processed once.
event aws 'late/IMG 9.jpg'
sed 's|aws/IMG+0001+%281%29.jpg|late/IMG+9.jpg|' "$T/aws.json" >"$T/late.json"
pg_stop || bail "cannot stop PostgreSQL"
is "$(post "$T/late.json")" 503 "the database stopped: 503"
pg_resume || bail "cannot start PostgreSQL again"
is "$(post "$T/late.json")" 200 "the redelivered event: 200"
wait_for_sql "SELECT count(*) FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE key = 'late/IMG 9.jpg' AND state = 'done'" 1 60
ok $? "and it is processed once" || ow_log

# COS's Authorization header went nowhere.
is "$(grep -c 'AKIDLEAKEDSECRET\|deadbeefcafe' "$OW_LOG") $(sql "SELECT count(*)
	FROM objwatch.objects o WHERE o::text LIKE '%AKIDLEAKED%'")" "0 0" \
    "COS's Authorization header is neither logged nor stored"
