#!/bin/sh
# Shell completion: bash and zsh complete objwatch's commands and each
# command's options, as `objwatch --help` lists them, and the names of the
# sources and recipes of the config the command line would read (-c FILE
# before or after the command, --config=FILE, $OBJWATCH_CONFIG).
. "$SRCDIR/tests/lib.sh"
bash_completion=/usr/share/bash-completion/bash_completion
command -v bash >/dev/null 2>&1 || skip_all "bash is not installed"
[ -f "$bash_completion" ] || skip_all "bash-completion is not installed"
plan 25
unset OBJWATCH_CONFIG

mkdir -p "$T/in"
cd "$T" || bail "no $T"
write_config "$T/ow.conf" <<EOF
[source.incoming]
type = dir
path = in
recipes = thumbs
[source.uploads]
type = dir
path = in
recipes = thumbs big
[recipe.thumbs]
steps = thumbnail width=64 | save
output = dir:out/{key}
[recipe.big]
steps = thumbnail width=1024 | save
output = dir:big/{key}
EOF
touch "$T/photo.jpg"

# What bash offers at the end of LINE, sorted, on one line.
cat >"$T/complete.bash" <<'EOF'
. "$1"
. "$2"
line=$3
COMP_LINE=$line
COMP_POINT=${#line}
eval "COMP_WORDS=($line)"
[[ $line == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_objwatch objwatch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
EOF
bc() {
	bash "$T/complete.bash" "$bash_completion" \
	    "$BUILDDIR/contrib/completions/objwatch" "$1" 2>"$T/bash.err"
}

commands=$("$OBJWATCH" --help | sed -n 's/^  objwatch \([a-z]*\).*/\1/p' |
	sort | tr '\n' ' ' | sed 's/ $//')
is "$(bc 'objwatch ')" "$commands" "bash: the commands objwatch --help lists"
is "$(bc 'objwatch st')" "status" "bash: a command from its start"
is "$(bc 'objwatch -c ow.conf sc')" "scan" "bash: a command after -c FILE"
missing=
for c in $commands; do
	usage=$("$OBJWATCH" --help | sed -n "s/^  objwatch $c //p")
	offered=" $(bc "objwatch $c --") "
	for o in $(printf '%s\n' "$usage" | grep -o -- '--[a-z]*' | sort -u); do
		case $offered in
		*" $o "*) ;;
		*) missing="$missing $c:$o" ;;
		esac
	done
done
is "$missing" "" "bash: every command's long options, as its usage lists them"
is "$(bc 'objwatch scan -c ow.conf ')" "incoming uploads" \
    "bash: scan offers the sources of -c FILE"
is "$(bc 'objwatch -c ow.conf scan incoming ')" "incoming uploads" \
    "bash: and of a -c FILE before the command"
is "$(bc 'objwatch --config=ow.conf process ')" "big thumbs" \
    "bash: process offers the recipes of --config=FILE"
is "$(bc 'objwatch process -c ow.conf thumbs ph')" "photo.jpg" \
    "bash: then files"
is "$(export OBJWATCH_CONFIG="$T/ow.conf"; bc 'objwatch retry --recipe ')" "big thumbs" \
    "bash: retry --recipe offers the recipes of \$OBJWATCH_CONFIG"
is "$(bc 'objwatch -c ow.conf retry --source=u')" "uploads" \
    "bash: retry --source=S offers the sources"
classes=$("$OBJWATCH" help retry | tr '\n' ' ' |
	sed -n 's/.*an error class (\([a-z, ]*\)).*/\1/p' | tr -d ',' |
	tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
is "$(bc 'objwatch retry --class ')" "$classes" \
    "bash: retry --class offers the error classes objwatch help retry names"
is "$(bc 'objwatch db ')" "migrate psql url" "bash: db offers its subcommands"
is "$(bc 'objwatch -c ow.conf wait ')" "incoming uploads" \
    "bash: wait offers the sources first"
is "$(bc 'objwatch -c ow.conf wait -t 30 uploads photo.jpg ')" "big thumbs" \
    "bash: then, after the key, the recipes"
is "$(bc 'objwatch scan ')" "" \
    "bash: no names when the default config is not there"
default=$("$OBJWATCH" --help | sed -n 's/.*else \(\/[^ ]*\)\.$/\1/p')
grep -q "OBJWATCH_CONFIG:-$default}" "$BUILDDIR/contrib/completions/objwatch" &&
	grep -q "OBJWATCH_CONFIG:-$default}" "$BUILDDIR/contrib/completions/_objwatch"
ok $? "both read the binary's default config ($default)"

## zsh: a real interactive zsh, in a pseudo-terminal, completes a TAB.

if ! command -v zsh >/dev/null 2>&1; then
	n=0
	while [ $n -lt 9 ]; do
		skip "zsh is not installed"
		n=$((n + 1))
	done
	exit 0
fi
zsh -n "$BUILDDIR/contrib/completions/_objwatch"
ok $? "zsh: _objwatch parses"
# What zsh offers at the end of LINE, sorted, on one line.
zc() {
	rm -f "$T/zsh.out"
	timeout 30 zsh -f "$SRCDIR/tests/complete.zsh" \
	    "$BUILDDIR/contrib/completions" "$1" "$T/zsh.out" 2>"$T/zsh.err" ||
	    diag "complete.zsh: '$1' timed out or failed"
	sort -u "$T/zsh.out" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'
}
is "$(zc 'objwatch ')" "$commands" "zsh: the commands"
is "$(zc 'objwatch retry --c')" "--class --config" "zsh: a command's options"
is "$(zc 'objwatch -c ow.conf scan ')" "incoming uploads" \
    "zsh: scan offers the sources of a -c FILE before the command"
is "$(zc 'objwatch scan -c ow.conf ')" "incoming uploads" \
    "zsh: and after it"
is "$(zc 'objwatch --config=ow.conf process ')" "big thumbs" \
    "zsh: process offers the recipes"
is "$(export OBJWATCH_CONFIG="$T/ow.conf"; zc 'objwatch retry --source=')" \
    "incoming uploads" "zsh: retry --source= offers those of \$OBJWATCH_CONFIG"
is "$(zc 'objwatch retry --class ')" "$classes" "zsh: retry --class"
is "$(zc 'objwatch -c ow.conf wait uploads photo.jpg ')" "big thumbs" \
    "zsh: wait offers the recipes after the source and key"
