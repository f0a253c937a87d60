#!/bin/sh
# objwatch check: a good config prints what it resolved to and exits 0; a
# bad one prints every error as file:line: message and exits 1.
. "$SRCDIR/tests/lib.sh"
plan 9

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
