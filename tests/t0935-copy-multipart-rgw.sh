#!/bin/sh
# Copies into Ceph RGW, a server that checks every signature, the payload
# hash of V4 and each Content-MD5: a small file goes up whole and a 70 MiB
# file in 5 parts (CreateMultipartUpload, UploadPart, Complete, whose
# query sub-resources are signed), once signed V4 and once V2; a gzip of
# the large file goes up in parts too. Each object is fetched back and
# compared, and its ETag is the MD5 of its parts' MD5s, "-5".
. "$SRCDIR/tests/lib.sh"
command -v radosgw >/dev/null 2>&1 ||
	skip_all "radosgw not found: install ceph-mon ceph-osd radosgw ceph-common (tools/deps.sh)"
plan 15

pg_start || bail "cannot start PostgreSQL"
rgw_start inbox archv4 archv2 || bail "cannot start RGW"

mkdir -p "$T/in"
head -c $((70 * 1048576 + 12345)) /dev/urandom >"$T/in/large.bin" ||
	bail "no large file"
seq 1 100000 >"$T/in/small.txt"

write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:0

[source.files]
type = dir
path = in
recipes = v4, v2, v4gz

[source.archv4]
type = s3
endpoint = $RGW_ENDPOINT
https = no
bucket = archv4
prefix = none-here/
access_key = $RGW_ACCESS_KEY
secret_key = env:OW_RGW_SECRET
poll = 1h
recipes = v4

[source.archv2]
type = s3
endpoint = $RGW_ENDPOINT
https = no
signature = v2
bucket = archv2
prefix = none-here/
access_key = $RGW_ACCESS_KEY
secret_key = env:OW_RGW_SECRET
poll = 1h
recipes = v2

[recipe.v4]
steps = copy
output = s3:archv4/copies/{key}

[recipe.v2]
steps = copy
output = s3:archv2/copies/{key}

[recipe.v4gz]
steps = copy gzip=yes level=1
output = s3:archv4/zipped/{key}.gz
EOF2
OW_RGW_SECRET=$RGW_SECRET_KEY
export OW_RGW_SECRET

ow_start "$T/ow.conf" -v
wait_for_sql "SELECT string_agg(recipe || ' ' || key || ' ' || state, ', '
    ORDER BY recipe, key) FROM objwatch.jobs j
    JOIN objwatch.objects o ON o.id = j.object_id
    WHERE state IN ('done', 'failed', 'dead')" \
    "v2 large.bin done, v2 small.txt done, v4 large.bin done, v4 small.txt done, v4gz large.bin done, v4gz small.txt done" \
    180
ok $? "the six copies are done" || ow_log

sha() { sha256sum "$1" | cut -d' ' -f1; }
# The ETag S3 gives an object uploaded in parts of 16 MiB.
multipart_etag() {
	node -e 'const fs = require("fs"), crypto = require("crypto");
		const fd = fs.openSync(process.argv[1], "r");
		const part = Buffer.alloc(16 << 20), sums = [];
		let n;
		while ((n = fs.readSync(fd, part, 0, part.length, null)) > 0)
			sums.push(crypto.createHash("md5").update(part.subarray(0, n)).digest());
		console.log(crypto.createHash("md5").update(Buffer.concat(sums))
		    .digest("hex") + "-" + sums.length);' "$1"
}
large=$(sha "$T/in/large.bin")
small=$(sha "$T/in/small.txt")
want_etag=$(multipart_etag "$T/in/large.bin")
like "$want_etag" '^[0-9a-f]{32}-5$' "70 MiB make five parts"

for b in archv4 archv2; do
	rgw get "$b" copies/large.bin "$T/back.bin" || bail "cannot get"
	is "$(sha "$T/back.bin")" "$large" "$b: the large object is the file"
	is "$(rgw head "$b" copies/large.bin | cut -f1,2,3,4)" \
	    "200	application/octet-stream	$want_etag	files" \
	    "$b: its ETag is the MD5 of its parts' MD5s, typed, marked"
	rgw get "$b" copies/small.txt "$T/back.txt" || bail "cannot get"
	cmp "$T/back.txt" "$T/in/small.txt"
	ok $? "$b: the small object is the file"
	is "$(rgw head "$b" copies/small.txt | cut -f1,2,3)" \
	    "200	text/plain	$(md5sum <"$T/in/small.txt" | cut -d' ' -f1)" \
	    "$b: sent whole, its ETag its MD5"
done
rm -f "$T/back.bin"

rgw get archv4 zipped/large.bin.gz "$T/back.gz" || bail "cannot get"
zcat "$T/back.gz" | cmp - "$T/in/large.bin"
ok $? "the gzip in the bucket decompresses to the file"
is "$(sql "SELECT sha256 || ' ' || input_sha256 || ' ' || bytes
    FROM objwatch.results WHERE recipe = 'v4gz' AND key = 'large.bin'")" \
    "$(sha "$T/back.gz") $large $(wc -c <"$T/back.gz")" \
    "its row has the sha256 of the gzip, of the input, and its size"
like "$(rgw head archv4 zipped/large.bin.gz | cut -f2,3)" \
    '^application/gzip	[0-9a-f]{32}-5$' "it went up in parts, typed gzip"
is "$(sql "SELECT count(*) FROM objwatch.results WHERE recipe IN ('v4', 'v2')
    AND sha256 = input_sha256 AND sha256 IN ('$large', '$small')")" 4 \
    "the four plain copies record the sha256 of their files"
is "$(grep -c 'cannot abort\|SignatureDoesNotMatch' "$OW_LOG")" 0 \
    "no signature was refused, no upload abandoned"
