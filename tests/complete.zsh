# zsh -f tests/complete.zsh FPATH_DIR LINE OUT: what zsh offers at the end
# of LINE, one match a line in OUT, as an interactive zsh would complete it
# on TAB (in a pseudo-terminal, with compinit and the _objwatch in
# FPATH_DIR). Each compadd call's matches are written out before they are
# added. Exits 77 without the zsh/zpty module.
zmodload zsh/zpty || exit 77
zpty z zsh -f -i
# -D: no dump file. Never -d /dev/null: compinit removes the file it is
# given and writes a regular one in its place.
zpty -w z "fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D -d ${(q)3}.zcompdump"
zpty -w z 'compadd () {
	if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
		builtin compadd "$@"
		return
	fi
	typeset -a hits
	builtin compadd -A hits "$@"
	(( $#hits )) || return 1
	print -rl -- $hits >>'${(q)3}'
	builtin compadd "$@"
}'
zpty -w z "bindkey '^I' complete-word"
zpty -w -n z "$2"$'\t'
# zle drops what is typed ahead of a completion: wait for its matches
# (3 s at most, for a line that has none) before typing more.
out=
for i in {1..30}; do
	zpty -rt z chunk && out+=$chunk
	[[ -s $3 ]] && break
	sleep 0.1
done
sleep 0.2
# Done when the shell has answered a command typed after the TAB.
zpty -w z $'\C-u'"print -r -- done-\$\$-complete"
for i in {1..100}; do
	zpty -rt z chunk && out+=$chunk
	[[ $out == *done-<->-complete* ]] && break
	sleep 0.1
done
zpty -d z
[[ $out == *done-<->-complete* ]]
