#!/bin/sh
# `objwatch check` on s3 sources and s3: outputs: what a mistake says, and
# what a good section resolves to (secrets shown by where they come from).
. "$SRCDIR/tests/lib.sh"
plan 17

# check_err BODY WANT DESC: BODY (a config) fails check with a line like WANT.
check_err() {
	printf '%s\n' "$1" >"$T/c.conf"
	_out=$("$OBJWATCH" check -c "$T/c.conf" 2>&1)
	_st=$?
	if [ "$_st" -eq 1 ]; then
		like "$_out" "$2" "$3"
	else
		fail "$3"
		diag "exit status $_st: $_out"
	fi
}

R='[recipe.t]
steps = thumbnail width=64 | save format=jpeg
output = dir:out/{key}'

check_err "[source.s]
type = s3
recipes = t
$R" "c.conf:1: source 's' has no 'endpoint'" "no endpoint"
check_err "[source.s]
type = s3
endpoint = 127.0.0.1:9000
recipes = t
$R" "c.conf:1: source 's' has no 'bucket'" "no bucket"
check_err "[source.s]
type = s3
endpoint = https://s3.example
bucket = b
access_key = a
secret_key = b
recipes = t
$R" "'endpoint' is host\\[:port\\] without a scheme" "an endpoint with a scheme"
check_err "[source.s]
type = s3
endpoint = s3.example
bucket = b
access_key = a
recipes = t
$R" "set both 'access_key' and 'secret_key', or neither" "one key without the other"
check_err "[source.s]
type = s3
endpoint = s3.example
bucket = b
access_key = a
secret_key = env:OW_T0450_UNSET
recipes = t
$R" "'secret_key' is env:OW_T0450_UNSET, but the environment variable OW_T0450_UNSET is not set" \
    "a secret from an unset variable"
check_err "[source.s]
type = s3
endpoint = s3.example
bucket = b
access_key = a
secret_key = b
webhook_token = short
recipes = t
$R" "'webhook_token' is shorter than 16 characters" "a short webhook token"
check_err "[source.s]
type = s3
endpoint = s3.example
bucket = b
access_key = a
secret_key = b
signature = v2
session_token = env:OW_T0450_TOKEN
recipes = t
$R" "c.conf:1: source 's': 'session_token' needs signature = v4 \\(V2 listings go through libs3, which cannot send one\\)" \
    "a session token with signature = v2"
check_err "[source.s]
type = s3
endpoint = s3.example
bucket = b
access_key = a
secret_key = b
ca_file = /nonexistent/ca.pem
recipes = t
$R" "c.conf:1: source 's': cannot read ca_file '/nonexistent/ca.pem': No such file or directory" \
    "a CA file that cannot be read"
check_err "[source.s]
type = s3
endpoint = s3.example
bucket = b
access_key = a
secret_key = b
signature = v3
recipes = t
$R" "c.conf:7: .*signature.*v3" "a signature that is neither v4 nor v2"
check_err "[source.s]
type = s3
endpoint = s3.example
bucket = b
access_key = a
secret_key = b
region = eu west
recipes = t
$R" "c.conf:1: source 's': 'region' 'eu west' is not a region name" \
    "a region with a space"
check_err "[source.s]
type = s3
endpoint = s3.example
bucket = b
access_key = a
secret_key = b
recipes = t
[recipe.t]
steps = thumbnail width=64 | save format=jpeg
output = s3:b/{key}" "output 's3:b/\\{key\\}' writes over all of what source 's' watches" \
    "an output over the whole watched bucket"
check_err "[source.d]
type = dir
path = .
signature = v4
recipes = t
$R" "c.conf:1: source 'd': 'signature' is for s3 sources, and this one is type = dir" \
    "an s3 key on a dir source"
check_err "[source.d]
type = dir
path = .
recipes = t
[recipe.t]
steps = thumbnail width=64 | save format=jpeg
output = s3:thumbs/{key}" "needs an s3 source to take the endpoint and keys from" \
    "an s3: output with no s3 source"

printf '%s\n' "[source.s]
type = s3
endpoint = s3.example:9000
bucket = photos
access_key = AKIAEXAMPLE
secret_key = env:OW_T0450_SECRET
webhook_token = hook-token-0123456789abcdef
recipes = t
[recipe.t]
steps = thumbnail width=64 | save format=jpeg
output = s3:photos/thumbs/{key}" >"$T/good.conf"
out=$(OW_T0450_SECRET=very-secret "$OBJWATCH" check -c "$T/good.conf" 2>&1)
is "$(printf '%s\n' "$out" | sed -n '/^\[source.s\]/,/^ca_file/p')" \
"[source.s]
type = s3
endpoint = s3.example:9000
bucket = photos
prefix = 
access_key = (set, not shown)
secret_key = env:OW_T0450_SECRET
https = yes
uri_style = path
poll = 60s
webhook_token = (set, not shown)
signature = v4
region = us-east-1
ca_file = (the system's CA bundle)" "a good section resolves: V4, us-east-1, https, secrets not shown"
is "$(printf '%s\n' "$out" | grep -c 'AKIAEXAMPLE\|very-secret\|hook-token')" 0 \
    "no secret is printed"

# A session token is shown by where it comes from, never its value.
sed 's/^webhook_token = .*/session_token = env:OW_T0450_TOKEN\
signature = v4\
region = eu-west-3/' "$T/good.conf" >"$T/tok.conf"
out=$(OW_T0450_SECRET=s OW_T0450_TOKEN=FQoGZXIvYXdzEXAMPLE "$OBJWATCH" check \
    -c "$T/tok.conf" 2>&1)
is "$(printf '%s\n' "$out" | grep -E '^(session_token|region|signature) =')" \
"signature = v4
region = eu-west-3
session_token = env:OW_T0450_TOKEN" "a session token from the environment, and the region, resolved"
is "$(printf '%s\n' "$out" | grep -c FQoGZXIvYXdzEXAMPLE)" 0 \
    "the session token's value is not printed"
