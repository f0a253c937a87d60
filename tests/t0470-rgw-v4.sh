#!/bin/sh
# Against Ceph RGW, a server that verifies every signature: a bucket source
# signed V4 over https (the fixture's CA in ca_file) lists, GETs and PUTs
# outputs, keys with spaces, '+', '%', unicode and 1,024 bytes included,
# each under exactly its name; the HEAD of an event without an ETag is
# signed too; virtual-host style and signature = v2 (libs3 listings) work
# as well. A wrong secret fails outputs with class storage and the
# server's SignatureDoesNotMatch; `check --connect` says what each bucket
# answered and exits 1 when one refused.
. "$SRCDIR/tests/lib.sh"
plan 22

pg_start || bail "cannot start PostgreSQL"
rgw_start --ssl photos thumbs oldstyle vhost denied || bail "cannot start RGW"

make_jpeg "$T/a.jpg" 640 480 1 || bail "no image"
make_jpeg "$T/b.jpg" 320 200 2 || bail "no image"
long=$(printf 'k%.0s' $(seq 1 1015))/long.jpg
: >"$T/keys"
for k in "IMG 0001.jpg" "plus+sign.jpg" "100%.jpg" "%41%2F.jpg" \
	"café/ü 漢字 🙂.jpg" "a/../b.jpg" "$long"; do
	rgw put photos "$k" "$T/a.jpg" image/jpeg || bail "cannot put '$k'"
	printf '%s\n' "$k" >>"$T/keys"
done
rgw put oldstyle "v2 key+1.jpg" "$T/b.jpg" image/jpeg || bail "cannot put"
rgw put vhost "virtual host+1.jpg" "$T/b.jpg" image/jpeg || bail "cannot put"
RGW_PORT=${RGW_ENDPOINT#*:}

write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:0

[source.photos]
type = s3
endpoint = $RGW_SSL_ENDPOINT
https = yes
ca_file = $RGW_CA_FILE
bucket = photos
access_key = $RGW_ACCESS_KEY
secret_key = env:OW_RGW_SECRET
webhook_token = t0470-webhook-token-0123456789
poll = 1s
recipes = thumbs denied meta

[source.thumbs]
type = s3
endpoint = $RGW_SSL_ENDPOINT
ca_file = $RGW_CA_FILE
bucket = thumbs
prefix = none-here/
access_key = $RGW_ACCESS_KEY
secret_key = env:OW_RGW_SECRET
poll = 1h
recipes = thumbs

[source.oldstyle]
type = s3
endpoint = $RGW_ENDPOINT
https = no
signature = v2
bucket = oldstyle
access_key = $RGW_ACCESS_KEY
secret_key = env:OW_RGW_SECRET
poll = 1s
recipes = thumbs

[source.vhost]
type = s3
endpoint = $RGW_DNS_NAME:$RGW_PORT
https = no
uri_style = virtual
bucket = vhost
access_key = $RGW_ACCESS_KEY
secret_key = env:OW_RGW_SECRET
poll = 1s
recipes = thumbs

[source.denied]
type = s3
endpoint = $RGW_ENDPOINT
https = no
bucket = denied
prefix = in/
access_key = $RGW_ACCESS_KEY
secret_key = not-the-secret
poll = 1h
recipes = denied

[recipe.thumbs]
steps = thumbnail width=200 | save format=webp
output = s3:thumbs/out/{source}/{key}.{ext}

[recipe.denied]
steps = thumbnail width=100 | save format=jpeg
output = s3:denied/out/{key}.{ext}

[recipe.meta]
steps = info
EOF2
OW_RGW_SECRET=$RGW_SECRET_KEY
export OW_RGW_SECRET

"$OBJWATCH" check -c "$T/ow.conf" --connect >"$T/connect.out" 2>&1
is "$?" 1 "check --connect exits 1 when a bucket refuses"
is "$(grep '^; connect:' "$T/connect.out")" \
"; connect: source 'photos': listed bucket 'photos' on https://$RGW_SSL_ENDPOINT (signature V4, region us-east-1): ok, it holds objects
; connect: source 'thumbs': listed bucket 'thumbs' under none-here/ on https://$RGW_SSL_ENDPOINT (signature V4, region us-east-1): ok, no objects yet
; connect: source 'oldstyle': listed bucket 'oldstyle' on http://$RGW_ENDPOINT (signature V2): ok, it holds objects
; connect: source 'vhost': listed bucket 'vhost' on http://$RGW_DNS_NAME:$RGW_PORT (signature V4, region us-east-1): ok, it holds objects
; connect: source 'denied': cannot list bucket 'denied' on $RGW_ENDPOINT: 403 SignatureDoesNotMatch: the server computed another signature: check secret_key of source 'denied' (and, for an old server that speaks only V2, signature = v2)" \
    "check --connect: every bucket's answer, the refusal explained"

ow_start "$T/ow.conf"
# Every object but the long key's: its output name would pass the 1,024
# bytes S3 allows, which RGW refuses.
n=$(($(wc -l <"$T/keys") + 1))
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE recipe = 'thumbs'
	AND state = 'done'" "$n" 90
ok $? "every object of the three sources is processed" || ow_log
is "$(sql "SELECT j.state || ' ' || j.error_class || ' ' || j.error
	FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id
	WHERE recipe = 'thumbs' AND length(key) = 1024")" \
    "failed storage cannot put 'out/photos/$long.webp' in bucket 'thumbs': 400 InvalidObjectName" \
    "the long key's output name is refused by the server, said as it is"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE recipe = 'meta'
	AND state = 'done'" "$(wc -l <"$T/keys")" 30
is "$(sql "SELECT r.state || ' ' || i.width || 'x' || i.height
	FROM objwatch.results r JOIN objwatch.images i USING (source, key)
	WHERE r.recipe = 'meta' AND length(r.key) = 1024")" "done 640x480" \
    "the 1,024-byte key is fetched by its exact name (its info recipe)"

# The outputs are in the bucket under exactly the keys they were named.
# An output name is normalised: a/../b.jpg's is b.jpg's.
want=$( (grep -v '^kkkk' "$T/keys" | sed 's|^a/\.\./||; s|^|out/photos/|; s|$|.webp|'
	echo "out/oldstyle/v2 key+1.jpg.webp"
	echo "out/vhost/virtual host+1.jpg.webp") | LC_ALL=C sort)
is "$(rgw ls thumbs | cut -f1)" "$want" "each output's key is its input's, exactly"
is "$(sql "SELECT count(*) FROM objwatch.results WHERE recipe = 'thumbs'
	AND output = 's3:thumbs/out/' || source || '/' ||
	    replace(key, 'a/../', '') || '.webp'")" "$n" \
    "objwatch.results names each output as stored"
rgw --ssl get thumbs "out/photos/café/ü 漢字 🙂.jpg.webp" "$T/uni.webp"
is "$(image_size "$T/uni.webp")" 200x150 "an output fetched back is the thumbnail"
is "$(sql "SELECT key FROM objwatch.objects WHERE source = 'photos'
	AND key LIKE 'a/%'")" "a/../b.jpg" "a key with '..' is a name, not a path"
is "$(sql "SELECT count(DISTINCT version) FROM objwatch.objects WHERE source = 'photos'")" 1 \
    "every photo has the ETag of the same bytes"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE recipe = 'thumbs' AND attempts <> 1")" 0 \
    "each job took one attempt"

# A wrong secret: PUTs to 'denied' are refused; class storage, for good.
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE recipe = 'denied'
	AND state = 'failed'" "$(wc -l <"$T/keys")" 60
ok $? "outputs written with a wrong secret fail" || ow_log
is "$(sql "SELECT DISTINCT error_class || ' ' || (run_after IS NULL)::text
	FROM objwatch.jobs WHERE recipe = 'denied'")" "storage true" \
    "with class storage, not retried"
is "$(sql "SELECT error FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE recipe = 'denied' AND key = 'IMG 0001.jpg'")" \
    "cannot put 'out/IMG 0001.jpg.jpg' in bucket 'denied': 403 SignatureDoesNotMatch: the server computed another signature: check secret_key of source 'denied' (and, for an old server that speaks only V2, signature = v2)" \
    "the error names the object, the server's code and what to check"
is "$(rgw ls denied | wc -l)" 0 "nothing was written with the wrong secret"

# An event without an ETag (as COS and relays send) is HEADed, signed V4.
rgw put photos "late arrival+1.jpg" "$T/b.jpg" image/jpeg || bail "cannot put"
etag=$(rgw head photos "late arrival+1.jpg" | cut -f3)
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OW_LOG" | head -n 1)
sed -e 's/"key": "a b+c.jpg"/"key": "late arrival+1.jpg"/' \
    -e '/"eTag"/d' -e 's/"name": "events"/"name": "photos"/' \
    "$SRCDIR/tests/events/rgw-created.json" >"$T/noetag.json"
is "$(curl -s -o "$T/resp" -w '%{http_code}' \
    -H 'Authorization: Bearer t0470-webhook-token-0123456789' \
    --data-binary "@$T/noetag.json" "http://127.0.0.1:$PORT/events/photos")" 200 \
    "an event without an ETag is taken" || diag "$(cat "$T/resp")"
wait_for_sql "SELECT version FROM objwatch.objects WHERE source = 'photos'
	AND key = 'late arrival+1.jpg'" "$etag" 30
ok $? "its version is the ETag a signed HEAD read" || ow_log

# Nothing went through unsigned or with a signature RGW refused but the
# source meant to, and nothing waited: RGW was up all along.
is "$(grep 'SignatureDoesNotMatch' "$OW_LOG" | grep -vc "source 'denied'")" 0 \
    "only the wrong secret was refused"
is "$(sql "SELECT coalesce(sum(waits), 0) FROM objwatch.jobs")" 0 "no job waited"

# A CA that did not sign RGW's certificate: check says which key to set.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$T/other.key" -out "$T/other.crt" -days 1 -subj "/CN=other" \
	>/dev/null 2>&1 || bail "cannot make a CA"
sed "s|^ca_file = .*|ca_file = $T/other.crt|" "$T/ow.conf" >"$T/badca.conf"
"$OBJWATCH" check -c "$T/badca.conf" --connect >"$T/badca.out" 2>&1
like "$(grep "^; connect: source 'photos'" "$T/badca.out")" \
    "^; connect: source 'photos': cannot list bucket 'photos' on $RGW_SSL_ENDPOINT: the TLS certificate is not trusted \\(SSL certificate problem: .*\\): set ca_file in source 'photos' to the CA that signed it, or check endpoint\$" \
    "a wrong CA: the certificate is not trusted, and ca_file is what to set"

# A bucket that does not exist.
sed "s|^bucket = thumbs\$|bucket = no-such-bucket|" "$T/ow.conf" >"$T/nob.conf"
"$OBJWATCH" check -c "$T/nob.conf" --connect >"$T/nob.out" 2>&1
is "$(grep "^; connect: source 'thumbs'" "$T/nob.out")" \
    "; connect: source 'thumbs': cannot list bucket 'no-such-bucket' on $RGW_SSL_ENDPOINT: bucket 'no-such-bucket' does not exist on $RGW_SSL_ENDPOINT" \
    "a missing bucket is named"

ow_stop
ok $? "objwatch stops cleanly"
