#!/bin/sh
# bench/steps.sh [N=40]: each recipe step on N real photographs, ms per
# image and peak memory, next to vipsthumbnail on the same files.
#
# Each image is one process (`objwatch process`, `vipsthumbnail`), timed
# with date and measured with GNU time's maximum resident set size, so both
# columns include the start-up of libvips (about 70 ms here, shown by the
# "start-up" row). Photos come from tests/photos.sh (Debian's wallpaper
# packages, cached in /var/tmp/objwatch-photos). Not run by make check.
#
#	OBJWATCH=./objwatch sh bench/steps.sh 40
set -eu
n=${1:-40}
here=$(cd "$(dirname "$0")/.." && pwd)
objwatch=${OBJWATCH:-$here/objwatch}
[ -x /usr/bin/time ] || { echo "steps.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d /tmp/objwatch-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
sh "$here/tests/photos.sh" "$work/photos" "$n" >/dev/null
mkdir -p "$work/in" "$work/out"
vips black "$work/tiny.png" 1 1

cat > "$work/bench.conf" <<EOF
[source.photos]
type = dir
path = in
recipes = info
[recipe.info]
steps = info
[recipe.thumbnail]
steps = thumbnail width=256 height=256 | save format=jpeg
output = dir:out/{stem}.{ext}
[recipe.thumbnail_attention]
steps = thumbnail width=256 height=256 fit=cover crop=attention | save format=jpeg
output = dir:out/{stem}.{ext}
[recipe.thumbnail_focus]
steps = thumbnail width=256 height=256 fit=cover focus=0.3,0.6 | save format=jpeg
output = dir:out/{stem}.{ext}
[recipe.crop_full]
steps = crop ratio=1:1 | save format=jpeg
output = dir:out/{stem}.{ext}
[recipe.crop_attention]
steps = thumbnail width=1024 | crop ratio=16:9 gravity=attention | save format=jpeg
output = dir:out/{stem}.{ext}
[recipe.watermark_text]
steps = thumbnail width=1024 | watermark text="(c) Example" size=28 gravity=south-east margin=16 opacity=0.6 | save format=jpeg
output = dir:out/{stem}.{ext}
[recipe.watermark_tile]
steps = thumbnail width=1024 | watermark text="(c) Example" size=20 tile=yes margin=60 opacity=0.3 | save format=jpeg
output = dir:out/{stem}.{ext}
[recipe.save_jpeg]
steps = thumbnail width=1024 | save format=jpeg
output = dir:out/{stem}.{ext}
[recipe.save_webp]
steps = thumbnail width=1024 | save format=webp
output = dir:out/{stem}.{ext}
[recipe.save_avif]
steps = thumbnail width=1024 | save format=avif
output = dir:out/{stem}.{ext}
[recipe.save_max_bytes]
steps = thumbnail width=1024 | save format=jpeg quality=95 max_bytes=60k
output = dir:out/{stem}.{ext}
EOF

# measure OUT_PREFIX CMD...: run CMD on every photo ({} is the photo);
# print "mean_ms max_rss_mb".
measure() {
	total=0 peak=0
	for f in "$work"/photos/*.jpg; do
		cmd=$(printf '%s\n' "$*" | sed "s|{}|$f|g")
		t0=$(date +%s%N)
		# shellcheck disable=SC2086
		/usr/bin/time -f %M -o "$work/rss" $cmd >/dev/null 2>&1
		t1=$(date +%s%N)
		total=$((total + (t1 - t0) / 1000))
		rss=$(tail -n 1 "$work/rss")
		[ "$rss" -gt "$peak" ] && peak=$rss
	done
	count=$(ls "$work"/photos/*.jpg | wc -l)
	echo "$((total / count / 1000)) $((peak / 1024))"
}

row() {
	printf '%-22s %8s %8s   %s\n' "$1" "$2" "$3" "$4"
}

echo "$(ls "$work"/photos/*.jpg | wc -l) photos, $(du -sh "$work/photos" | cut -f1)," \
    "$(vips --version), $(nproc) cores; one process per image"
row step ms/image peak_MB "same work with vipsthumbnail"
set -- $(measure "$objwatch process -c $work/bench.conf info $work/tiny.png $work/out/x")
row "start-up (1x1 PNG)" "$1" "$2" ""
set -- $(measure "vipsthumbnail $work/tiny.png -s 1 -o $work/out/v.jpg")
row "  vipsthumbnail" "$1" "$2" "vipsthumbnail 1x1 PNG"
for r in info thumbnail thumbnail_attention thumbnail_focus crop_full \
    crop_attention watermark_text watermark_tile save_jpeg save_webp \
    save_avif save_max_bytes; do
	case $r in
	thumbnail|thumbnail_focus)
		v="-s 256x256 -o $work/out/v.jpg[Q=80,strip]" ;;
	thumbnail_attention)
		v="-s 256x256 --smartcrop attention -o $work/out/v.jpg[Q=80,strip]" ;;
	save_webp)
		v="-s 1024x -o $work/out/v.webp[Q=79,strip]" ;;
	save_avif)
		v="-s 1024x -o $work/out/v.avif[Q=63,strip]" ;;
	info|crop_full)
		v="" ;;
	*)
		v="-s 1024x -o $work/out/v.jpg[Q=80,strip]" ;;
	esac
	set -- $(measure "$objwatch process -c $work/bench.conf $r {} $work/out/o")
	if [ -n "$v" ]; then
		ow_ms=$1 ow_mb=$2
		set -- $(measure "vipsthumbnail {} $v")
		row "$r" "$ow_ms" "$ow_mb" "$1 ms, $2 MB: vipsthumbnail $v" |
		    sed "s|$work/out/||g"
	else
		row "$r" "$1" "$2" "(no vipsthumbnail equivalent)"
	fi
done
