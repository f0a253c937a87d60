#!/bin/sh
# The webhook under abuse: no token, a wrong one, huge bodies (announced or
# chunked), invalid JSON, JSON nested 100,000 deep, and slow clients that
# never finish their body. Each gets a clean 4xx or is cut off, nothing is
# written, other requests are still served, and memory stays bounded.
. "$SRCDIR/tests/lib.sh"
plan 16

B=abuse
TOKEN=abuse-test-token-0123456789
pg_start || bail "cannot start PostgreSQL"
s3_start "$B" || bail "cannot start s3rver"
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
steps = thumbnail width=64 | save
output = dir:out/{key}.{ext}
EOF
ow_start "$T/ow.conf"
wait_until 30 grep -q 'listening on' "$OW_LOG" || { ow_log; bail "no start"; }
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OW_LOG")
URL=http://127.0.0.1:$PORT/events/hooks
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$OW_PID/status"; }
code() { curl -s -o "$T/resp" -w '%{http_code}' "$@"; }
rss0=$(rss)

is "$(code -X POST --data-binary '{}' "$URL")" 401 "no token: 401"
is "$(code -X POST -H 'Authorization: Bearer nope' --data-binary '{}' "$URL")" \
    401 "a wrong token: 401"
head -c 5000000 /dev/zero | tr '\0' ' ' > "$T/big.json"
is "$(code -X POST -H "Authorization: Bearer $TOKEN" \
    --data-binary "@$T/big.json" "$URL")" 413 "an announced 5 MB body: 413"
is "$(node "$SRCDIR/tests/http-abuse.js" chunked "$PORT" /events/hooks \
    "$TOKEN" 5000000)" 413 "a chunked 5 MB body: 413"
is "$(code -X POST -H "Authorization: Bearer $TOKEN" --data-binary '{"Records": [' \
    "$URL")" 400 "invalid JSON: 400"
# The parser's words, without the body: where it broke off.
is "$(cat "$T/resp")" \
    "{\"error\": \"the body is not JSON: ']' expected near end of file (line 1, column 13)\"}" \
    "with a JSON error saying where the body broke off"
is "$(node "$SRCDIR/tests/http-abuse.js" deep "$PORT" /events/hooks "$TOKEN" \
    100000)" 400 "JSON nested 100,000 deep: 400"

# Twenty clients trickle a body they never finish; meanwhile others are
# served at once.
node "$SRCDIR/tests/http-abuse.js" trickle "$PORT" /events/hooks "$TOKEN" \
    20 25 > "$T/trickle.out" 2> "$T/trickle.err" &
trickle=$!
stop_at_exit $trickle
wait_until 20 grep -qx 'trickling 20' "$T/trickle.err"
ok $? "twenty slow clients have sent their headers" ||
	_lib_diag_file "$T/trickle.err"
t0=$(date +%s%N)
st=$(code "http://127.0.0.1:$PORT/healthz")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$st" 200 "healthz answers while slow clients hang on"
# A bound is the contract here: an answer within 2 s, not after the cut-off.
[ "$ms" -lt 2000 ]; ok $? "within 2 s ($ms ms)"
ow_alive "$trickle"; ok $? "and the slow clients were still hanging on"
is "$(grep -c "webhook 'hooks': a body took over 10 s to arrive; closing the connection" "$OW_LOG")" \
    0 "none of them cut off yet"
wait $trickle
is "$(cat "$T/trickle.out")" 20 \
    "every slow client is cut off by the server (10 s for a body)"
is "$(grep -c "webhook 'hooks': a body took over 10 s to arrive; closing the connection" "$OW_LOG")" \
    20 "each cut-off is logged"

is "$(sql "SELECT count(*) FROM objwatch.objects")" 0 "nothing was written"
rss1=$(rss)
diag "RSS before $rss0 kB, after $rss1 kB"
if sanitized; then
	skip "memory grew by less than 30 MB: RSS is not memory use under ASan"
else
	[ $((rss1 - rss0)) -lt 30000 ]; ok $? "memory grew by less than 30 MB"
fi
ow_stop
