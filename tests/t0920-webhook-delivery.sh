#!/bin/sh
# Completion webhooks, delivered at least once: a receiver that answers
# 500 twice before 200 gets the delivery on the third attempt, signed
# (HMAC-SHA256 of timestamp "." body, checked here with openssl), with the
# body's fields exact; a failed job's delivery carries its error class and
# message; a delivery whose receiver is down while objwatch restarts is
# delivered after; one whose attempts run out is dead. objwatch status
# shows them per recipe.
. "$SRCDIR/tests/lib.sh"
command -v openssl >/dev/null 2>&1 || skip_all "openssl is not installed"
plan 16

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out" "$T/gone"
HOOK_SECRET=0123456789abcdef-test-secret
export HOOK_SECRET
# the receiver, on a port we keep for its restart
port=$(_lib_free_ports 1)
start_receiver() {
	node "$SRCDIR/tests/webhook-receiver.js" "$port" "$1" "$T/hooks.jsonl" \
		>>"$T/receiver.log" 2>&1 &
	RECV_PID=$!
	stop_at_exit "$RECV_PID"
	wait_until 10 grep -q "listening on $port" "$T/receiver.log"
}
start_receiver 2 || bail "the receiver does not start"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 1
[source.photos]
type = dir
path = in
recipes = thumbs
[source.elsewhere]
type = dir
path = gone
recipes = lost
[recipe.thumbs]
steps = thumbnail width=200 | save format=jpeg
output = dir:out/{key}.{ext}
notify = webhook:http://127.0.0.1:$port/hooks/objwatch
notify_secret = env:HOOK_SECRET
[recipe.lost]
steps = thumbnail width=100 | save format=jpeg
output = dir:out/lost/{key}.{ext}
notify = webhook:http://127.0.0.1:9/nobody
notify_attempts = 2
EOF
make_jpeg "$T/in/a.jpg" 800 600 1
echo "not a photo" >"$T/in/broken.jpg"
make_jpeg "$T/gone/c.jpg" 300 200 3
ow_start "$T/ow.conf"

wait_for_sql "SELECT count(*) FROM objwatch.deliveries WHERE state = 'delivered'" 2 60
ok $? "both deliveries of thumbs arrive" || ow_log
did=$(sql "SELECT d.id FROM objwatch.deliveries d JOIN objwatch.jobs j
	ON j.id = d.job_id JOIN objwatch.objects o ON o.id = j.object_id
	WHERE o.key = 'a.jpg'")
is "$(sql "SELECT event, attempts, last_status, last_error IS NULL
	FROM objwatch.deliveries WHERE id = ${did:-0}")" "job.done|3|200|t" \
    "after two 500s, delivered on attempt 3"
is "$(node -e '
	const id = process.argv[1];
	const l = require("fs").readFileSync(process.argv[2], "utf8").trim()
	    .split("\n").map(JSON.parse).filter((r) => r.delivery === id);
	console.log(l.map((r) => r.n + ":" + r.status).join(" "));' \
	"$did" "$T/hooks.jsonl")" "1:500 2:500 3:200" \
    "the receiver saw three POSTs of it: 500, 500, 200"

# The last request of delivery $did: its headers and body, one a line.
node -e '
	const id = process.argv[1];
	const l = require("fs").readFileSync(process.argv[2], "utf8").trim()
	    .split("\n").map(JSON.parse).filter((r) => r.delivery === id);
	const r = l[l.length - 1];
	const fs = require("fs");
	fs.writeFileSync(process.argv[3] + "/body", r.body);
	fs.writeFileSync(process.argv[3] + "/ts", r.headers["x-objwatch-timestamp"]);
	fs.writeFileSync(process.argv[3] + "/sig", r.headers["x-objwatch-signature"]);
	' "$did" "$T/hooks.jsonl" "$T"
ok $? "the request was recorded"
is "$(node -e '
	const id = process.argv[1];
	const l = require("fs").readFileSync(process.argv[2], "utf8").trim()
	    .split("\n").map(JSON.parse).filter((r) => r.delivery === id);
	const r = l[l.length - 1];
	console.log([r.method, r.url, r.headers["content-type"],
	    r.headers["x-objwatch-event"], r.headers["x-objwatch-delivery"]
	    ].join(" "));' "$did" "$T/hooks.jsonl")" \
    "POST /hooks/objwatch application/json job.done $did" \
    "POST, Content-Type, X-Objwatch-Event and X-Objwatch-Delivery"
want=$( (printf '%s.' "$(cat "$T/ts")"; cat "$T/body") |
	openssl dgst -sha256 -hmac "$HOOK_SECRET" | sed 's/^.*= *//')
is "$(cat "$T/sig")" "sha256=$want" \
    "X-Objwatch-Signature is HMAC-SHA256(secret, timestamp.body)"
now=$(date +%s)
ts=$(cat "$T/ts")
[ $((now - ts)) -ge 0 ] && [ $((now - ts)) -lt 60 ]
ok $? "X-Objwatch-Timestamp is the time of the POST ($ts)"
job=$(sql "SELECT j.id FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE o.key = 'a.jpg'")
bytes=$(stat -c %s "$T/out/a.jpg.jpg")
is "$(node -e '
	const b = JSON.parse(require("fs").readFileSync(process.argv[1]));
	const o = b.outputs[0];
	console.log([b.event, b.job, b.object.source, b.object.key,
	    typeof b.object.version, b.recipe, b.state, b.outputs.length,
	    o.location, o.format, o.width, o.height, o.bytes,
	    JSON.stringify(b.error),
	    isNaN(Date.parse(b.finished_at))].join("|"));' "$T/body")" \
    "job.done|$job|photos|a.jpg|string|thumbs|done|1|$T/out/a.jpg.jpg|jpeg|200|150|$bytes|null|false" \
    "the body: event, job, object, recipe, state, outputs, error, finished_at"
is "$(sql "SELECT body::json->'object'->>'version' = o.version
	FROM objwatch.deliveries d JOIN objwatch.jobs j ON j.id = d.job_id
	JOIN objwatch.objects o ON o.id = j.object_id WHERE d.id = ${did:-0}")" t \
    "object.version is the object's version"

# The failed job's delivery.
fid=$(sql "SELECT d.id FROM objwatch.deliveries d JOIN objwatch.jobs j
	ON j.id = d.job_id JOIN objwatch.objects o ON o.id = j.object_id
	WHERE o.key = 'broken.jpg'")
is "$(node -e '
	const id = process.argv[1];
	const l = require("fs").readFileSync(process.argv[2], "utf8").trim()
	    .split("\n").map(JSON.parse).filter((r) => r.delivery === id);
	const b = JSON.parse(l[l.length - 1].body);
	console.log([l[0].headers["x-objwatch-event"], b.state,
	    b.outputs.length, b.error.class, b.error.message].join("|"));' \
	"$fid" "$T/hooks.jsonl")" \
    "job.failed|failed|0|$(sql "SELECT error_class || '|' || error
	FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id
	WHERE o.key = 'broken.jpg'")" \
    "a failed job's delivery carries its error class and message"

# Nobody listens for recipe lost: two attempts, then dead.
wait_for_sql "SELECT state, attempts, last_status IS NULL FROM objwatch.deliveries
	WHERE recipe = 'lost'" "dead|2|t" 30
ok $? "a delivery nobody takes is dead after notify_attempts" || ow_log
like "$(sql "SELECT last_error FROM objwatch.deliveries WHERE recipe = 'lost'")" \
    "127.0.0.1 port 9" "its last error says what failed"

# The receiver goes down; a new photo's delivery fails; objwatch restarts
# while it is down, and delivers once it is back.
kill "$RECV_PID"; wait "$RECV_PID" 2>/dev/null
make_jpeg "$T/in/b.jpg" 640 480 2
wait_for_sql "SELECT count(*) FROM objwatch.deliveries d JOIN objwatch.jobs j
	ON j.id = d.job_id JOIN objwatch.objects o ON o.id = j.object_id
	WHERE o.key = 'b.jpg' AND d.state = 'pending' AND d.attempts >= 1" 1 60
ok $? "with the receiver down, b.jpg's delivery fails and waits" || ow_log
status=$("$OBJWATCH" status -c "$T/ow.conf" 2>&1)
like "$status" "^thumbs +1 +1 +0 +2  .*Connection refused|^thumbs +1 +1 +0 +2  .*Couldn't connect" \
    "objwatch status: pending, failing, dead and delivered per recipe"
ow_stop
start_receiver 0 || bail "the receiver does not start again"
ow_start "$T/ow.conf"
wait_for_sql "SELECT d.state, d.last_status FROM objwatch.deliveries d
	JOIN objwatch.jobs j ON j.id = d.job_id JOIN objwatch.objects o
	ON o.id = j.object_id WHERE o.key = 'b.jpg'" "delivered|200" 60
ok $? "after the restart, delivered" || ow_log
is "$(sql "SELECT count(*), count(DISTINCT job_id) FROM objwatch.deliveries")" \
    "4|4" "one delivery per final outcome"
ow_stop
