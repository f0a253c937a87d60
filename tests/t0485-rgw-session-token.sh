#!/bin/sh
# Temporary credentials against a server that checks them: Ceph RGW with
# STS on hands out keys and a session token (AssumeRole). With all three,
# `check --connect` lists the bucket and `objwatch run` GETs inputs and
# PUTs outputs; the same keys without the token are refused. Keys that
# expire while objwatch runs make a new job wait (its attempt given back),
# not fail; fresh keys written into the config and a SIGHUP, and the job
# finishes by itself on its first attempt. No token is ever logged.
. "$SRCDIR/tests/lib.sh"
plan 27

TOKEN=t0485-webhook-token-0123456789abcdef
pg_start || bail "cannot start PostgreSQL"
rgw_start --sts photos thumbs || bail "cannot start RGW"
PORT=$(_lib_free_ports 1) || bail "no free port"

make_jpeg "$T/a.jpg" 640 480 1 || bail "no image"
make_jpeg "$T/b.jpg" 400 300 2 || bail "no image"
make_jpeg "$T/c.jpg" 800 600 3 || bail "no image"
# Put with the user's own keys, which never expire.
rgw put photos "a 1.jpg" "$T/a.jpg" image/jpeg || bail "cannot put"
rgw put photos "b+2.jpg" "$T/b.jpg" image/jpeg || bail "cannot put"

# assume SESSION SECONDS: AssumeRole's three lines, checked, into
# $T/SESSION.creds.
assume() {
	rgw assume-role "$RGW_ROLE_ARN" "$1" "$2" >"$T/$1.creds" ||
		bail "AssumeRole $1 failed"
	[ "$(cut -d= -f1 "$T/$1.creds" | tr '\n' ' ')" = \
	    "AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN " ] ||
		bail "AssumeRole $1: not three lines: $(cat "$T/$1.creds")"
}
# ls_with CREDS: list photos with the keys of a session, by s3cli.
ls_with() {
	(eval "$(cat "$1")"
	RGW_ACCESS_KEY=$AWS_ACCESS_KEY_ID RGW_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
	    RGW_SESSION_TOKEN=$AWS_SESSION_TOKEN rgw ls photos)
}

assume long 3600
eval "$(cat "$T/long.creds")"
[ -n "$AWS_ACCESS_KEY_ID" ] && [ "$AWS_ACCESS_KEY_ID" != "$RGW_ACCESS_KEY" ]
ok $? "AssumeRole hands out an access key of its own, not the user's"
is "$(ls_with "$T/long.creds" | cut -f1 | tr '\n' '|')" "a 1.jpg|b+2.jpg|" \
    "the fixture: RGW takes the session's keys with their token"
(RGW_ACCESS_KEY=$AWS_ACCESS_KEY_ID RGW_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
    rgw ls photos) >/dev/null 2>"$T/notoken.err"
is "$(cat "$T/notoken.err")" "s3cli: list photos: HTTP 403 AccessDenied" \
    "the fixture: RGW refuses the session's keys without their token"

# (1), (2): check --connect, the keys from the environment.
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
write_config "$T/check.conf" <<EOF2
[objwatch]
database = $PGURL

[source.photos]
type = s3
endpoint = $RGW_ENDPOINT
https = no
bucket = photos
access_key = env:AWS_ACCESS_KEY_ID
secret_key = env:AWS_SECRET_ACCESS_KEY
session_token = env:AWS_SESSION_TOKEN
recipes = thumbs

[source.notoken]
type = s3
endpoint = $RGW_ENDPOINT
https = no
bucket = photos
access_key = env:AWS_ACCESS_KEY_ID
secret_key = env:AWS_SECRET_ACCESS_KEY
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=160 | save format=jpeg
output = s3:thumbs/{key}.{ext}
EOF2
"$OBJWATCH" check -c "$T/check.conf" --connect >"$T/connect.out" 2>&1
is "$?" 1 "check --connect exits 1: one source has no session token"
is "$(grep '^; connect:' "$T/connect.out")" \
"; connect: source 'photos': listed bucket 'photos' on http://$RGW_ENDPOINT (signature V4, region us-east-1): ok, it holds objects
; connect: source 'notoken': cannot list bucket 'photos' on $RGW_ENDPOINT: 403 AccessDenied: the keys of source 'notoken' are not allowed to: check the user's or bucket's policy
; connect: source 'photos' for recipe 'thumbs': listed bucket 'thumbs' on http://$RGW_ENDPOINT (signature V4, region us-east-1): ok, no objects yet" \
    "with the session token both buckets list; without it RGW says AccessDenied"
is "$(grep -c '^session_token = env:AWS_SESSION_TOKEN$' "$T/connect.out")" 1 \
    "check shows where the session token comes from"
is "$(grep -cF "$AWS_SESSION_TOKEN" "$T/connect.out")" 0 \
    "check never prints the session token"

# (3): objwatch run with the session's keys, written into the config (a
# reload reads the file again, not the environment).
# run_config CREDS: the run config with the keys of a session.
run_config() {
	eval "$(cat "$1")"
	write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 2
listen = 127.0.0.1:$PORT

[source.photos]
type = s3
endpoint = $RGW_ENDPOINT
https = no
bucket = photos
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
session_token = $AWS_SESSION_TOKEN
webhook_token = $TOKEN
poll = 1s
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=160 | save format=jpeg
output = s3:thumbs/{key}.{ext}
EOF2
}
run_config "$T/long.creds"
ow_start "$T/ow.conf" -v
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 2 60
ok $? "both objects are processed with the temporary credentials" || ow_log
is "$(sql "SELECT key || '|' || attempts || '|' || waits || '|' ||
	coalesce(error, '') FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id ORDER BY key" | tr '\n' ' ')" \
    "a 1.jpg|1|0| b+2.jpg|1|0| " "each on its first attempt, none waited"
is "$(rgw ls thumbs | cut -f1 | tr '\n' '|')" "a 1.jpg.jpg|b+2.jpg.jpg|" \
    "the outputs were PUT into the bucket"
rgw get thumbs "a 1.jpg.jpg" "$T/a.out.jpg" || bail "cannot get an output"
is "$(image_size "$T/a.out.jpg")" 160x120 "an output fetched back is the thumbnail"

# (4): keys that live 5 s, loaded by a reload; RGW refuses them once they
# have expired, checked by s3cli.
assume short 5
run_config "$T/short.creds"
kill -HUP "$OW_PID"
wait_until 30 grep -q "SIGHUP: reloading" "$OW_LOG"
ok $? "objwatch reloads with the short-lived keys" || ow_log
expired() {
	ls_with "$T/short.creds" >/dev/null 2>"$T/expired.err" && return 1
	return 0
}
wait_until 30 expired
ok $? "the short-lived keys expire" || diag "$(cat "$T/expired.err")"
is "$(cat "$T/expired.err")" "s3cli: list photos: HTTP 403 AccessDenied" \
    "RGW refuses expired keys with 403 AccessDenied"

# A new object, put with the user's keys, announced by an event (the
# listings are refused too now).
rgw put photos "c 3.jpg" "$T/c.jpg" image/jpeg || bail "cannot put"
etag=$(rgw head photos "c 3.jpg" | cut -f3)
sed -e 's/"key": "a b+c.jpg"/"key": "c 3.jpg"/' \
    -e "s/\"eTag\": \"[0-9a-f]*\"/\"eTag\": \"$etag\"/" \
    -e 's/"name": "events"/"name": "photos"/' \
    "$SRCDIR/tests/events/rgw-created.json" >"$T/c.json"
is "$(curl -s -o "$T/resp" -w '%{http_code}' \
    -H "Authorization: Bearer $TOKEN" --data-binary "@$T/c.json" \
    "http://127.0.0.1:$PORT/events/photos")" 200 \
    "the event of the new object is taken" || diag "$(cat "$T/resp")"
JOB="(SELECT j.id FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE key = 'c 3.jpg')"
wait_for_sql "SELECT state FROM objwatch.jobs WHERE id = $JOB" failed 30
ok $? "its GET with the expired keys fails" || ow_log
# One snapshot of the job while it waits (between two tries it is
# 'running' a moment, with its attempt counted).
wait_for_sql "SELECT state || ' run_after ' || (run_after IS NOT NULL)::text ||
	' waits>0 ' || (waits > 0)::text || ' attempts ' || attempts || ' ' ||
	error_class FROM objwatch.jobs WHERE id = $JOB" \
    "failed run_after true waits>0 true attempts 0 io" 20
ok $? "the job waits: tried again later, its attempt given back" || ow_log
wait_for_sql "SELECT error FROM objwatch.jobs WHERE id = $JOB
	AND state = 'failed'" \
    "cannot get 'c 3.jpg' in bucket 'photos': 403 AccessDenied: the session token of source 'photos' may have expired (or its keys are not allowed to): get new credentials, set access_key, secret_key and session_token, and reload (SIGHUP); waiting for them" 10
ok $? "the error gives RGW's answer and says to get new credentials and reload"
is "$(rgw ls thumbs | grep -c '^c 3')" 0 "nothing was written with the expired keys"

# Fresh keys into the config, SIGHUP, and the job finishes by itself.
assume fresh 3600
run_config "$T/fresh.creds"
kill -HUP "$OW_PID"
wait_until 30 sh -c "[ \$(grep -c 'SIGHUP: reloading' '$OW_LOG') -ge 2 ]"
ok $? "objwatch reloads with fresh keys" || ow_log
wait_for_sql "SELECT state FROM objwatch.jobs WHERE id = $JOB" done 60
ok $? "the waiting job is done, with no retry asked for" || ow_log
is "$(sql "SELECT attempts || ' ' || (waits > 0)::text || ' ' ||
	coalesce(error, '(none)') FROM objwatch.jobs WHERE id = $JOB")" \
    "1 true (none)" "on its first attempt: the waits cost none"
is "$(sql "SELECT output || '|' || width || 'x' || height
	FROM objwatch.results WHERE key = 'c 3.jpg'")" \
    "s3:thumbs/c 3.jpg.jpg|160x120" "its output is recorded"
is "$(rgw ls thumbs | cut -f1 | tr '\n' '|')" \
    "a 1.jpg.jpg|b+2.jpg.jpg|c 3.jpg.jpg|" "and PUT with the fresh keys"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state <> 'done'")" 0 \
    "every job is done"

n=0
for s in long short fresh; do
	tok=$(eval "$(cat "$T/$s.creds")"; echo "$AWS_SESSION_TOKEN")
	sec=$(eval "$(cat "$T/$s.creds")"; echo "$AWS_SECRET_ACCESS_KEY")
	n=$((n + $(grep -cF -e "$tok" -e "$sec" "$OW_LOG")))
done
is "$n" 0 "no session token or secret is ever logged, even with -v"

ow_stop
ok $? "objwatch stops cleanly"
