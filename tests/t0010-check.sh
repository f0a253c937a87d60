#!/bin/sh
# objwatch check: a good config prints what it resolved to and exits 0; a
# bad one prints every error as file:line: message and exits 1.
. "$SRCDIR/tests/lib.sh"
plan 11

mkdir -p "$T/conf/in"
cd "$T/conf" || bail "no $T/conf"
write_config good.conf <<EOF
[objwatch]
database = postgresql://objwatch:secret@db.example/objwatch
workers = 3

[source.photos]
type = dir
path = in
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=256 height=256 | save format=webp
output = dir:out/{dir}/{stem}.{ext}
EOF
out=$("$OBJWATCH" check -c good.conf); ok $? "a good config passes"
like "$out" "^path = $T/conf/in\$" "the source path is resolved against the config's folder"
like "$out" "^output = dir:$T/conf/out/\{dir\}/\{stem\}\.\{ext\}\$" \
    "the output template is made absolute"
like "$out" "^workers = 3\$" "settings are printed"
case "$out" in
*secret*) fail "the database password is never printed" ;;
*) pass "the database password is never printed" ;;
esac

write_config bad.conf <<EOF
[objwatch]
workers = many
colour = blue

[source.photos]
type = dir
path = missing
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=256 hieght=10 | save format=gif
output = dir:out/{key}.{ext}
EOF
out=$("$OBJWATCH" check -c bad.conf 2>&1); st=$?
is "$st" 1 "a bad config exits 1"
is "$out" "bad.conf:2: 'workers' must be a whole number from 0 to 256, not 'many'
bad.conf:3: unknown key 'colour' in [objwatch]
bad.conf:11: recipe 'thumbs': step 'thumbnail': unknown parameter 'hieght' (expected width, height, fit, crop, focus, enlarge, autorotate, background, pages)
bad.conf:7: source 'photos': path '$T/conf/missing': No such file or directory" \
    "every error, with its file and line"

# The two samples the README points at pass check as shipped.
mkdir -p "$T/samples"
cp "$SRCDIR/samples/objwatch.conf" "$SRCDIR/samples/bucket.conf" "$T/samples/"
mkdir -p "$T/samples/incoming"
"$OBJWATCH" check -c "$T/samples/objwatch.conf" >"$T/check.out" 2>&1
ok $? "samples/objwatch.conf passes check" || diag "$(cat "$T/check.out")"
out=$(AWS_ACCESS_KEY_ID=AKIAEXAMPLE AWS_SECRET_ACCESS_KEY=example-secret \
    "$OBJWATCH" check -c "$T/samples/bucket.conf" 2>&1 |
    grep -E '^(signature|region|uri_style|https) =')
is "$out" "https = yes
uri_style = virtual
signature = v4
region = eu-west-3" "samples/bucket.conf passes check: V4, its region, https"

# What check says of mistakes that would fail every job later.
printf 'x\n' >"$T/conf/a-file"
write_config more.conf <<EOF
[objwatch]
log_level = info
[source.photos]
type = dir
path = in
recipes = thumbs blocked
[recipe.thumbs]
steps = thumbnail width=256 quality=80 | save format=webp
output = dir:out/{key}.{ext}
[recipe.blocked]
steps = thumbnail width=64 | save
output = dir:a-file/sub/{key}.{ext}
EOF
out=$("$OBJWATCH" check -c more.conf 2>&1)
is "$out" "more.conf:8: recipe 'thumbs': step 'thumbnail': unknown parameter 'quality' (expected width, height, fit, crop, focus, enlarge, autorotate, background, pages; 'quality' is a parameter of step 'save')
more.conf:12: recipe 'blocked': output folder '$T/conf/a-file/sub' cannot be made: '$T/conf/a-file' is not a folder" \
    "a parameter given to the wrong step, and an output folder that cannot be made"
sed -i 's/ quality=80//; s|dir:a-file/sub|dir:out2|' more.conf
is "$("$OBJWATCH" check -c more.conf 2>&1 | grep '^log_level')" "log_level = info" \
    "log_level is printed as configured"
