#!/bin/sh
# The RGW fixture (tests/rgw.sh, rgw_start in lib.sh) is a real S3 server:
# exact bytes round-trip over http and https, awkward keys come back as put,
# a wrong secret is refused (s3rver does not check V4 signatures), a CA
# that did not sign its certificate is refused, virtual-host style works,
# and stopping only the gateway is an outage the objects survive.
#
# It also pins what RGW sends to a notification's push-endpoint, which
# the webhook relies on: the bodies of tests/events/rgw-created.json and
# rgw-removed.json (captured by this test, from a PUT and a DELETE of
# "a b+c.jpg"; KEEP=1 keeps them in $T/events, pretty-printed), the path
# and query of the push-endpoint URL kept as given, and its userinfo sent
# as HTTP Basic auth, which RGW accepts only on a topic made over https.
. "$SRCDIR/tests/lib.sh"
plan 36

rgw_start --ssl || bail "cannot start RGW"
B=fixture
rgw mb "$B"
ok $? "mb makes a bucket"

# Exact bytes: every byte value, and more than a few TCP segments of them.
node -e 'const b = Buffer.alloc(300000);
	for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 8)) & 255;
	process.stdout.write(b);' >"$T/blob"
blob_md5=$(md5sum <"$T/blob" | cut -d' ' -f1)
rgw put "$B" blob.bin "$T/blob" application/octet-stream
ok $? "put over http"
rgw get "$B" blob.bin "$T/blob.http"
is "$(md5sum <"$T/blob.http" | cut -d' ' -f1)" "$blob_md5" \
	"get over http gives the bytes put"
rgw --ssl get "$B" blob.bin "$T/blob.https"
is "$(md5sum <"$T/blob.https" | cut -d' ' -f1)" "$blob_md5" \
	"get over https, trusting the fixture's CA, gives the bytes put"
rgw --ssl put "$B" blob2.bin "$T/blob" application/octet-stream
ok $? "put over https"
is "$(rgw head "$B" blob2.bin)" "200	application/octet-stream	$blob_md5	" \
	"an object put over https has the bytes' MD5 as ETag"

# Keys as users name them: spaces, '+', '%' (never decoded: %41 is not A),
# unicode of 2, 3 and 4 bytes, and a key of 1,024 bytes, S3's longest.
long=$(printf 'k%.0s' $(seq 1 1015))/long.jpg
printf 'small\n' >"$T/small"
small_md5=$(md5sum <"$T/small" | cut -d' ' -f1)
: >"$T/keys"
for k in "a b c.jpg" "plus+sign.jpg" "100%.jpg" "%41%2F.jpg" \
	"café/ü 漢字 🙂.jpg" "$long"; do
	rgw put "$B" "$k" "$T/small" || diag "cannot put '$k'"
	printf '%s\t6\t%s\n' "$k" "$small_md5" >>"$T/keys"
done
is "$(printf '%s' "$long" | wc -c)" 1024 "the long key is 1,024 bytes"
got=$(rgw put "$B" "k$long" "$T/small" 2>&1)
is "$?:$got" "1:s3cli: put k$long: HTTP 400 InvalidObjectName" \
	"a key of 1,025 bytes is refused"
printf 'blob.bin\t300000\t%s\nblob2.bin\t300000\t%s\n' "$blob_md5" \
	"$blob_md5" >>"$T/keys"
want_ls=$(LC_ALL=C sort "$T/keys")
got_ls=$(rgw ls "$B")
is "$got_ls" "$want_ls" "ls gives every key back exactly, in byte order"
rgw get "$B" "café/ü 漢字 🙂.jpg" "$T/uni"
is "$(cat "$T/uni")" small "get by a unicode key"

# Signatures are checked: s3rver would have taken these.
got=$( (RGW_SECRET_KEY=wrong-secret; rgw ls "$B") 2>&1)
is "$?:$got" "1:s3cli: list $B: HTTP 403 SignatureDoesNotMatch" \
	"a wrong secret gets 403 SignatureDoesNotMatch"
got=$( (RGW_SECRET_KEY=wrong-secret; rgw put "$B" x.jpg "$T/small") 2>&1)
is "$?:$got" "1:s3cli: put x.jpg: HTTP 403 SignatureDoesNotMatch" \
	"a put with a wrong secret gets 403 SignatureDoesNotMatch"
got=$( (RGW_ACCESS_KEY=NOSUCHKEY0000000000; rgw ls "$B") 2>&1)
is "$?:$got" "1:s3cli: list $B: HTTP 403 InvalidAccessKeyId" \
	"an unknown access key gets 403 InvalidAccessKeyId"
got=$(rgw ls nosuchbucket 2>&1)
is "$?:$got" "1:s3cli: list nosuchbucket: HTTP 404 NoSuchBucket" \
	"a missing bucket gets 404 NoSuchBucket"

# TLS is checked: a CA of another fixture is not this one's.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$T/other-ca.key" -out "$T/other-ca.crt" -days 1 \
	-subj "/CN=another CA" >/dev/null 2>&1 || bail "cannot make a CA"
got=$( (RGW_CA_FILE=$T/other-ca.crt; rgw --ssl ls "$B") 2>&1)
is "$?:$got" "1:s3cli: unable to verify the first certificate" \
	"https with another CA fails"
curl -sS -o /dev/null --cacert "$T/other-ca.crt" \
	"https://$RGW_SSL_ENDPOINT/" 2>/dev/null
is "$?" 60 "curl with another CA fails the certificate check"
# The certificate names localhost too. RGW takes a Host of plain localhost
# for a bucket of that name (a CNAME, to it), so path style goes to
# 127.0.0.1.
is "$(curl -sS -w ' %{http_code}' --cacert "$RGW_CA_FILE" \
	"https://localhost:${RGW_SSL_ENDPOINT#*:}/$B/" 2>&1 |
	sed 's|.*<Code>\(.*\)</Code>.*<BucketName>\(.*\)</BucketName>.*</Error>|\1 \2|')" \
	"NoSuchBucket localhost 404" \
	"the certificate is valid for localhost, where RGW takes the Host for a bucket"

# Virtual-host style: the bucket only in the Host name. curl (so libs3)
# resolves any name under .localhost to loopback itself.
rgw --virtual put "$B" "virtual host+1.jpg" "$T/small"
ok $? "put in virtual-host style"
is "$(rgw ls "$B" virtual)" "virtual host+1.jpg	6	$small_md5" \
	"the object put in virtual-host style is in the bucket its Host named"
is "$(rgw --virtual ls "$B" 100)" "100%.jpg	6	$small_md5" \
	"ls in virtual-host style"
rgw --ssl --virtual get "$B" blob.bin "$T/blob.vhost"
is "$(md5sum <"$T/blob.vhost" | cut -d' ' -f1)" "$blob_md5" \
	"get in virtual-host style over https (certificate for *.$RGW_DNS_NAME)"
is "$(curl -sS -w ' %{http_code} %{remote_ip}' \
	"http://$B.$RGW_DNS_NAME:${RGW_ENDPOINT#*:}/" 2>&1 |
	sed 's|.*<Code>\(.*\)</Code>.*<BucketName>\(.*\)</BucketName>.*</Error>|\1 \2|')" \
	"AccessDenied $B 403 127.0.0.1" \
	"curl resolves $B.$RGW_DNS_NAME to 127.0.0.1 and RGW reads the bucket from it"

# The requests above named the bucket only in the Host header: beast logs
# each request line as it came.
is "$(grep -c -e '"PUT /virtual%20host%2B1.jpg HTTP/1.1" 200' \
	-e '"GET /?prefix=100 HTTP/1.1" 200' -e '"GET /blob.bin HTTP/1.1" 200' \
	"$RGW_DIR/log/client.rgw.log")" 3 \
	"virtual-host requests carry no bucket in their path"

# An outage of the gateway alone.
rgw_stop_gateway
ok $? "stop-gateway"
curl -sS -o /dev/null "http://$RGW_ENDPOINT/" 2>/dev/null
is "$?" 7 "the endpoint refuses connections while the gateway is stopped"
got=$(rgw ls "$B" 2>&1)
is "$?:$got" "1:s3cli: connect ECONNREFUSED $RGW_ENDPOINT" \
	"s3cli says the connection was refused"
curl -sS -o /dev/null --cacert "$RGW_CA_FILE" "https://$RGW_SSL_ENDPOINT/" \
	2>/dev/null
is "$?" 7 "the https endpoint refuses connections too"
rgw_start_gateway
ok $? "start-gateway"
is "$(rgw ls "$B")" "$(printf '%s\n' "$want_ls" "virtual host+1.jpg	6	$small_md5" |
	LC_ALL=C sort)" "after the outage every object is still there"
rgw --ssl get "$B" blob.bin "$T/blob.after"
is "$(md5sum <"$T/blob.after" | cut -d' ' -f1)" "$blob_md5" \
	"and has the same bytes"

# Notifications, to an endpoint that records what it gets.
mkdir -p "$T/cap" "$T/events"
node "$SRCDIR/tests/capture-events.js" "$T/cap" >"$T/cap.log" 2>&1 &
stop_at_exit $!
wait_for_file "$T/cap/port" 10 || bail "the capture server did not start"
CAP=127.0.0.1:$(cat "$T/cap/port")

got=$(rgw topic secret "http://user:pa%3Ass@$CAP/hook/basic?x=1" 2>&1)
is "$?:$got" "1:s3cli: topic secret: HTTP 400 InvalidInput" \
	"a push-endpoint with a password is refused on a topic made over http"
arn=$(rgw --ssl topic objwatch "http://objwatch:tok%2Fen@$CAP/events/rgw?token=t0k%2B1&x=y")
is "$arn" "arn:aws:sns:default::objwatch" "a topic made over https prints its ARN"
E=events
rgw mb "$E" &&
rgw notify "$E" "$arn" objwatch 's3:ObjectCreated:*' 's3:ObjectRemoved:*'
ok $? "a notification for created and removed objects"

printf 'objwatch rgw fixture\n' >"$T/ev.jpg"
rgw put "$E" "a b+c.jpg" "$T/ev.jpg" image/jpeg &&
	wait_for_file "$T/cap/1.req" 10 &&
	rgw rm "$E" "a b+c.jpg" &&
	wait_for_file "$T/cap/2.req" 10 || diag "no notification came"

# What RGW sends: the request, and each body with what changes from one
# run to the next masked. Pretty-printed copies go to $T/events.
show_req() {
	node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
		console.log(r.method + " " + r.url);
		for (const [k, v] of r.headers)
			console.log(k + ": " + (k === "Content-Length" ? "N" : v));' "$1"
}
masked() {
	node -e 'const fs = require("fs");
		const j = JSON.parse(fs.readFileSync(process.argv[1]));
		if (process.argv[2])
			fs.writeFileSync(process.argv[2], JSON.stringify(j, null, 2) + "\n");
		for (const r of j.Records) {
			r.eventTime = r.eventId = r.s3.bucket.id = "*";
			r.s3.object.sequencer = "*";
			for (const k of Object.keys(r.responseElements))
				r.responseElements[k] = "*";
			for (const m of r.s3.object.metadata)
				if (m.key === "x-amz-date") m.val = "*";
		}
		console.log(JSON.stringify(j, null, 2));' "$@"
}
is "$(show_req "$T/cap/1.req" 2>&1)" "POST /events/rgw?token=t0k%2B1&x=y
Host: $CAP
Authorization: Basic $(printf 'objwatch:tok/en' | base64)
Accept: */*
Content-Type: application/json
Content-Length: N" \
	"RGW POSTs to the push-endpoint's path and query, its userinfo (decoded) as Basic auth"
is "$(masked "$T/cap/1.body" "$T/events/rgw-created.json" 2>&1)" \
	"$(masked "$SRCDIR/tests/events/rgw-created.json" 2>&1)" \
	"a PUT's notification is the body in tests/events/rgw-created.json"
is "$(masked "$T/cap/2.body" "$T/events/rgw-removed.json" 2>&1)" \
	"$(masked "$SRCDIR/tests/events/rgw-removed.json" 2>&1)" \
	"a DELETE's notification is the body in tests/events/rgw-removed.json"
