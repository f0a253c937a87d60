#!/bin/sh
# bench/s3-list.sh [N=100000]: what one pass of the S3 poller costs over an
# unchanged bucket of N objects: the listing's time and request count, and
# the rows it writes (there should be none). Not run by `make check`.
#
#	OBJWATCH=$PWD/objwatch SRCDIR=$PWD sh bench/s3-list.sh 100000
#
# The objects are written straight into s3rver's data folder (uploading
# 100,000 through HTTP takes s3rver a quarter of an hour), in 100
# prefixes, and the ledger is filled by SQL to match: that is the state
# after objwatch has seen them all. Then objwatch starts with poll = 1h,
# lists once at start-up, and the figures come from its log, s3rver's
# request log and PostgreSQL's table counters.
N=${1:-100000}
. "$SRCDIR/tests/lib.sh"
_lib_done=1	# not a TAP test

pg_start || bail "cannot start PostgreSQL"
s3_start bench || bail "cannot start s3rver"

echo "bench: writing $N objects into s3rver's folder"
node - "$S3_DIR/bench" "$N" <<'JS'
const fs = require('fs');
const [dir, n] = [process.argv[2], +process.argv[3]];
const md5 = require('crypto').createHash('md5').update('x').digest('hex');
for (let i = 0; i < n; i++) {
	const d = `${dir}/d${String(i % 100).padStart(3, '0')}`;
	if (i < 100)
		fs.mkdirSync(d, { recursive: true });
	const f = `${d}/IMG_${String(i).padStart(7, '0')}.jpg`;
	fs.writeFileSync(`${f}._S3rver_object`, 'x');
	fs.writeFileSync(`${f}._S3rver_object.md5`, md5);
	fs.writeFileSync(`${f}._S3rver_metadata.json`,
	    '{"content-type":"image/jpeg"}');
}
JS

write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 1
listen = 127.0.0.1:0

[source.bench]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = bench
access_key = S3RVER
secret_key = S3RVER
poll = 1h
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=100 | save format=jpeg
output = dir:$T/out/{key}
EOF2
"$OBJWATCH" db -c "$T/ow.conf" migrate >/dev/null || bail "cannot migrate"
sql "INSERT INTO objwatch.objects (source, key, version, etag, size)
	SELECT 'bench', format('d%s/IMG_%s.jpg', lpad((i % 100)::text, 3, '0'),
	    lpad(i::text, 7, '0')), md5('x'), md5('x'), 1
	FROM generate_series(0, $N - 1) AS i" >/dev/null || bail "cannot fill"
sql "ANALYZE objwatch.objects" >/dev/null

writes() {
	sql "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del)
		FROM pg_stat_user_tables WHERE schemaname = 'objwatch'"
}
sleep 1	# table statistics are flushed about once a second
w0=$(writes)
r0=$(grep -c 'Fetched bucket "bench"' "$T/s3rver.log")
ow_start "$T/ow.conf" -v
wait_until 3600 grep -q "source 'bench': listed" "$OW_LOG" ||
	{ ow_log; bail "no listing"; }
r1=$(grep -c 'Fetched bucket "bench"' "$T/s3rver.log")
ow_stop
sleep 1
w1=$(writes)
echo "bench: $(grep "source 'bench': listed" "$OW_LOG" | sed 's/^.*: listed/listed/')"
echo "bench: $((r1 - r0)) list requests seen by s3rver, $((w1 - w0)) rows written"
echo "bench: s3rver's own time answering them: $(sed -n 's/^.*max-keys=1000 200 \([0-9.]*\)ms.*$/\1/p' \
	"$T/s3rver.log" | awk '{ t += $1 } END { printf "%.2f s", t / 1000 }')"
echo "bench: $(nproc) cpus, $(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -n 1)"
