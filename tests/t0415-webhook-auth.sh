#!/bin/sh
# POST /events/SOURCE takes the webhook token wherever a sender can put it:
# Authorization: Bearer (MinIO's auth_token), the path
# (/events/SOURCE/TOKEN), the query (?token=TOKEN) and the password of HTTP
# Basic auth, whatever the user name (what Ceph RGW makes of a
# push-endpoint's http://USER:TOKEN@HOST/...). Each form, given real event
# bodies (tests/events/*.json), is answered 200 with the job queued. A
# wrong token in any form, Basic credentials that are not base64 of
# USER:TOKEN, and a right token beside a wrong one are 401 with both
# challenges and nothing written. No token, right or wrong, is ever
# logged, nor the path after the source or the query.
. "$SRCDIR/tests/lib.sh"
plan 49

B=authhooks
TOKEN=0w-auth-7f3a9c1e5b2d4680aa17e3c9
WRONG=0w-auth-7f3a9c1e5b2d4680aa17e3c8
pg_start || bail "cannot start PostgreSQL"
s3_start "$B" || bail "cannot start s3rver"

# poll = 1h: only the webhook tells objwatch about objects. -v: the debug
# lines are searched for the token too.
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 1
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
steps = thumbnail width=64 | save format=jpeg
output = dir:$T/out/{key}.{ext}
EOF
ow_start "$T/ow.conf" -v
wait_until 30 grep -q 'listed 0 objects' "$OW_LOG" || { ow_log; bail "no start"; }
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OW_LOG")
HOST=127.0.0.1:$PORT
URL=http://$HOST/events/hooks

# post FILE CURL-ARGS... URL: POST FILE; prints the HTTP status, the body
# goes to $T/resp and the headers to $T/head.
post() {
	_f=$1
	shift
	curl -s -o "$T/resp" -D "$T/head" -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "@$_f" "$@"
}

# event FORMAT KEY [KEY-AS-SENT]: put a JPEG as KEY and write the FORMAT
# event for it (tests/events/FORMAT.json, KEY-AS-SENT its key field) with
# the object's real size and ETag to $T/ev.json; its ETag to $T/etag.
n=0
event() {
	n=$((n + 1))
	make_jpeg "$T/src$n.jpg" 96 $((64 + n)) "$n" || bail "no image"
	s3 put "$B" "$2" "$T/src$n.jpg" || bail "cannot put $2"
	_etag=$(s3 head "$B" "$2" | cut -f3)
	_size=$(stat -c %s "$T/src$n.jpg")
	printf '%s' "$_etag" >"$T/etag"
	case $1 in
	minio)
		sed -e "s/@BUCKET@/$B/g" -e "s/@SIZE@/$_size/g" \
			-e "s/@ETAG@/$_etag/g" -e "s|minio/a%2Bb+c.jpg|$3|" \
			-e "s|minio%2Fa%2Bb+c.jpg|$3|" \
			"$SRCDIR/tests/events/minio.json" ;;
	aws)
		sed -e "s/@BUCKET@/$B/g" -e "s/@SIZE@/$_size/g" \
			-e "s/@ETAG@/$_etag/g" -e "s|aws/IMG+0001+%281%29.jpg|$2|" \
			"$SRCDIR/tests/events/aws.json" ;;
	rgw)
		sed -e "s|\"events\"|\"$B\"|" -e "s|:::events\"|:::$B\"|" \
			-e "s|\"a b+c.jpg\"|\"$2\"|" -e "s|\"size\": 21,|\"size\": $_size,|" \
			-e "s/600cd234437b6c94aa12ffbc06bc6263/$_etag/g" \
			"$SRCDIR/tests/events/rgw-created.json" ;;
	esac >"$T/ev.json"
}

# job KEY: the queued object's version and the job's recipe, one line a job.
job() {
	sql "SELECT o.version || '|' || j.recipe FROM objwatch.jobs j
		JOIN objwatch.objects o ON o.id = j.object_id
		WHERE o.source = 'hooks' AND o.key = '$1'"
}

b64() { printf '%s' "$1" | base64 -w0; }
OK200='{"queued": 1, "deleted": 0, "ignored": 0}'

# Each form, right.
event minio bearer/minio.jpg 'bearer%2Fminio.jpg'
is "$(post "$T/ev.json" -H "Authorization: Bearer $TOKEN" "$URL") $(cat "$T/resp")" \
    "200 $OK200" "Bearer (MinIO's body): 200, one job"
is "$(job bearer/minio.jpg)" "$(cat "$T/etag")|thumbs" "Bearer: the job is queued"

event rgw path/rgw.jpg
is "$(post "$T/ev.json" "$URL/$TOKEN") $(cat "$T/resp")" "200 $OK200" \
    "/events/hooks/TOKEN (RGW's body): 200, one job"
is "$(job path/rgw.jpg)" "$(cat "$T/etag")|thumbs" "path: the job is queued"

event rgw query/rgw.jpg
is "$(post "$T/ev.json" "$URL?token=$TOKEN&x=y") $(cat "$T/resp")" "200 $OK200" \
    "?token=TOKEN, beside another parameter (RGW's body): 200, one job"
is "$(job query/rgw.jpg)" "$(cat "$T/etag")|thumbs" "query: the job is queued"

event rgw basic/curl-u.jpg
is "$(post "$T/ev.json" -u "anyone:$TOKEN" "$URL") $(cat "$T/resp")" "200 $OK200" \
    "Basic by curl -u anyone:TOKEN (RGW's body): 200, one job"
is "$(job basic/curl-u.jpg)" "$(cat "$T/etag")|thumbs" "curl -u: the job is queued"

event rgw basic/userinfo.jpg
is "$(post "$T/ev.json" "http://objwatch:$TOKEN@$HOST/events/hooks") $(cat "$T/resp")" \
    "200 $OK200" "Basic from http://objwatch:TOKEN@HOST/events/hooks: 200, one job"
is "$(job basic/userinfo.jpg)" "$(cat "$T/etag")|thumbs" "userinfo: the job is queued"

# As RGW sends a push-endpoint's path and query: percent-encoded as given.
event aws encoded/path.jpg
is "$(post "$T/ev.json" "$URL/$(printf '%s' "$TOKEN" | sed 's/-/%2D/g')")" 200 \
    "a percent-encoded token in the path: 200"
is "$(job encoded/path.jpg)" "$(cat "$T/etag")|thumbs" "and the job is queued"
event aws encoded/query.jpg
is "$(post "$T/ev.json" "$URL?token=$(printf '%s' "$TOKEN" | sed 's/-/%2D/g')")" 200 \
    "a percent-encoded token in the query: 200"
is "$(job encoded/query.jpg)" "$(cat "$T/etag")|thumbs" "and the job is queued"

# Base64 of every length: user names of 1, 2 and 3 bytes give credentials
# padded with "=", "==" and nothing (TOKEN is 32 bytes). Padding may be
# left out.
is "$(b64 "a:$TOKEN" | tr -cd = | wc -c) $(b64 "ab:$TOKEN" | tr -cd = | wc -c) $(b64 "abc:$TOKEN" | tr -cd = | wc -c)" \
    "2 1 0" "the credentials below have 2, 1 and 0 padding characters"
for u in a ab abc; do
	event aws "pad/$u.jpg"
	is "$(post "$T/ev.json" -H "Authorization: Basic $(b64 "$u:$TOKEN")" "$URL")" 200 \
	    "Basic for user '$u': 200"
	is "$(job "pad/$u.jpg")" "$(cat "$T/etag")|thumbs" "Basic for user '$u': the job is queued"
done
event aws pad/unpadded.jpg
is "$(post "$T/ev.json" -H "Authorization: basic $(b64 "a:$TOKEN" | tr -d =)" "$URL")" 200 \
    "Basic without its padding, the scheme in lower case: 200"
event aws pad/colon.jpg
is "$(post "$T/ev.json" -H "Authorization: Basic $(b64 ":$TOKEN")" "$URL")" 200 \
    "Basic with an empty user name: 200"
is "$(post "$T/ev.json" -H "Authorization: Bearer $TOKEN" "$URL/$TOKEN?token=$TOKEN") $(cat "$T/resp")" \
    '200 {"queued": 0, "deleted": 0, "ignored": 0}' \
    "the right token in three places at once: 200 (the event again: no new job)"

# Wrong, in each form, and a right one beside a wrong one: 401 and not a
# row. Each body names a key of its own under never/.
m=0
refused() {
	m=$((m + 1))
	sed "s|aws/IMG+0001+%281%29.jpg|never/$m.jpg|" "$SRCDIR/tests/events/aws.json" |
		sed -e "s/@BUCKET@/$B/g" -e 's/@SIZE@/10/' -e 's/@ETAG@/0123/' >"$T/never.json"
	_st=$(post "$T/never.json" "$@")
	echo "$_st $(sql "SELECT count(*) FROM objwatch.objects WHERE key = 'never/$m.jpg'")"
}
is "$(refused "$URL")" "401 0" "no token: 401, nothing written"
is "$(grep -c '^WWW-Authenticate: Bearer realm="objwatch"' "$T/head") $(grep -c '^WWW-Authenticate: Basic realm="objwatch", charset="UTF-8"' "$T/head")" \
    "1 1" "the 401 challenges for Bearer and for Basic"
is "$(cat "$T/resp")" "{\"error\": \"a missing or wrong webhook token: give the token of source 'hooks' as \\\"Authorization: Bearer TOKEN\\\", as the password of HTTP Basic auth (http://USER:TOKEN@HOST/events/hooks), in the path (/events/hooks/TOKEN) or in the query (?token=TOKEN), and only the right one wherever it is given\"}" \
    "the 401 says what was wrong and where a token may be given"
is "$(refused -H "Authorization: Bearer $WRONG" "$URL")" "401 0" "a wrong Bearer token: 401"
is "$(refused "$URL/$WRONG")" "401 0" "a wrong token in the path: 401"
is "$(refused "$URL/$TOKEN/x")" "401 0" "the token and more in the path: 401"
is "$(refused "$URL?token=$WRONG")" "401 0" "a wrong token in the query: 401"
is "$(refused "$URL?token=")" "401 0" "an empty token in the query: 401"
is "$(refused -u "anyone:$WRONG" "$URL")" "401 0" "a wrong Basic password (curl -u): 401"
is "$(refused "http://objwatch:$WRONG@$HOST/events/hooks")" "401 0" \
    "a wrong password in the URL's userinfo: 401"
is "$(refused -u "$TOKEN:wrong" "$URL")" "401 0" \
    "the token as the Basic user name, not the password: 401"
is "$(refused -H "Authorization: Basic $(b64 "$TOKEN")" "$URL")" "401 0" \
    "Basic credentials without a colon: 401"
is "$(refused -H "Authorization: Basic $(b64 "abc:$TOKEN")=" "$URL")" "401 0" \
    "Basic credentials with a padding character after whole groups of four: 401"
is "$(refused -H "Authorization: Basic $(b64 "a:$TOKEN" | tr -d =)*" "$URL")" "401 0" \
    "Basic credentials with a byte outside base64: 401"
is "$(refused -H "Authorization: Bearer $TOKEN" "$URL?token=$WRONG")" "401 0" \
    "a right Bearer token and a wrong one in the query: 401"
is "$(refused -u "anyone:$WRONG" "$URL/$TOKEN")" "401 0" \
    "a right token in the path and a wrong Basic password: 401"
is "$(refused "$URL?token=$TOKEN&token=$WRONG")" "401 0" \
    "the query's token twice, right then wrong: 401"
is "$(curl -s -o "$T/resp" -w '%{http_code}' --data-binary @"$T/never.json" \
    "http://$HOST/events/nosuch/$TOKEN?token=$TOKEN") $(cat "$T/resp")" \
    '404 {"error": "no S3 source of that name takes events (set webhook_token in its section)"}' \
    "a token for a source that does not exist: 404"

# Nothing but the accepted events is in the database.
is "$(sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE key LIKE 'never/%')
	FROM objwatch.objects")" "12 0" "12 objects, from the 12 events accepted"
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 12 "and one job each"

# What the log says of the refusals: where the wrong token was, not it.
logged() { grep -c -F "webhook 'hooks': refused $1 (401)" "$OW_LOG"; }
w='a wrong webhook token in'
is "$(logged 'a request with no webhook token') $(logged "$w the path") $(logged "$w the query string") $(logged "$w an Authorization: Bearer header") $(logged "$w the password of Basic credentials") $(logged "$w Basic credentials that are not base64 of USER:TOKEN")" \
    "1 2 4 1 4 3" "each refusal is logged with where the wrong token was"
is "$(curl -s "http://$HOST/metrics" | grep '^objwatch_webhook_requests_total{source="hooks",status="401"}')" \
    'objwatch_webhook_requests_total{source="hooks",status="401"} 15' \
    "the 401s are counted"

wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 12 60
ok $? "every accepted event's job is done" || ow_log

# No token, right or wrong, plain, percent-encoded or in base64, and no
# query string is in the log.
is "$(grep -c -F -e "$TOKEN" -e "$WRONG" -e "$(printf '%s' "$TOKEN" | sed 's/-/%2D/g')" \
    -e "$(b64 "a:$TOKEN" | cut -c1-20)" -e "$(b64 "anyone:$TOKEN" | cut -c1-20)" \
    -e 'token=' -e '/events/' -e 'nosuch' "$OW_LOG")" 0 \
    "the log holds no token, no query, no webhook URL"
is "$(grep -c "webhook 'hooks'" "$OW_LOG")" 28 "though it has a line for each webhook request"
ow_stop
