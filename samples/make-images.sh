#!/bin/sh
# Make the sample images in samples/images/ with the vips CLI.
#
# The project makes its own samples, so it owns them and ships no one
# else's pictures. Fixed noise seeds make every run write the same images
# (with the same libvips). Each is small enough to keep in the repository,
# yet looks and compresses like a photo, so recipes have real work to do.
#
# Usage: samples/make-images.sh [OUTDIR]   (default: samples/images)
set -eu

# vips reads an argument that starts with "-" as an option, so negative
# numbers go after "--".

out=${1:-$(dirname "$0")/images}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# landscape OUT W H SEED: sky over rolling ground. The sky fades from deep
# blue to pale at the horizon and has clouds; a noisy line parts it from
# green-brown ground; grain over everything, as a camera would add.
landscape() {
	o=$1 w=$2 h=$3 seed=$4
	horizon=$((h * 62 / 100))

	# Vertical position of each pixel, and the ground below a wavy horizon.
	vips xyz "$tmp/xy.v" "$w" "$h"
	vips extract_band "$tmp/xy.v" "$tmp/y.v" 1
	vips perlin "$tmp/hills.v" "$w" "$h" --cell-size $((w / 4)) --seed "$seed"
	vips linear "$tmp/hills.v" "$tmp/hills-px.v" $((h / 4)) 0
	vips add "$tmp/y.v" "$tmp/hills-px.v" "$tmp/wavy-y.v"
	vips relational_const "$tmp/wavy-y.v" "$tmp/ground-mask.v" more "$horizon"

	# Sky: from (60,110,190) at the top to (190,215,235) at the horizon.
	fade=$(awk -v h="$horizon" 'BEGIN { printf "%f %f %f", 130 / h, 105 / h, 45 / h }')
	vips linear "$tmp/y.v" "$tmp/blue.v" "$fade" "60 110 190"
	vips perlin "$tmp/clouds.v" "$w" "$h" --cell-size $((w / 10)) \
		--seed $((seed + 1))
	vips linear --uchar "$tmp/clouds.v" "$tmp/cloud-light.v" -- 400 -60
	vips add "$tmp/blue.v" "$tmp/cloud-light.v" "$tmp/sky.v"

	# Ground: broad patches of field and finer texture, mixed into colour.
	vips perlin "$tmp/fields.v" "$w" "$h" --cell-size $((w / 6)) \
		--seed $((seed + 2))
	vips perlin "$tmp/texture.v" "$w" "$h" --cell-size 24 --seed $((seed + 3))
	vips black "$tmp/one.v" "$w" "$h"
	vips linear "$tmp/one.v" "$tmp/ones.v" 0 1
	vips bandjoin "$tmp/fields.v $tmp/texture.v $tmp/ones.v" "$tmp/g3.v"
	printf '3 3\n120 40 75\n110 50 100\n40 30 45\n' >"$tmp/ground.mat"
	vips recomb "$tmp/g3.v" "$tmp/ground.v" "$tmp/ground.mat"

	vips ifthenelse "$tmp/ground-mask.v" "$tmp/ground.v" "$tmp/sky.v" \
		"$tmp/scene.v"
	vips gaussnoise "$tmp/grain.v" "$w" "$h" --mean 0 --sigma 3 \
		--seed $((seed + 4))
	vips add "$tmp/scene.v" "$tmp/grain.v" "$tmp/grainy.v"
	vips cast "$tmp/grainy.v" "$o" uchar
}

# badge OUT SIZE SEED: a round badge of coloured cells on a transparent
# background, its edge soft, for recipes that must keep or flatten alpha.
badge() {
	o=$1 s=$2 seed=$3
	r=$((s * 45 / 100))

	# Distance from the centre, and an alpha that is opaque within r and
	# fades to clear over the next 25 pixels.
	vips xyz "$tmp/xy.v" "$s" "$s"
	vips linear "$tmp/xy.v" "$tmp/dxy.v" -- 1 $((-s / 2))
	vips multiply "$tmp/dxy.v" "$tmp/dxy.v" "$tmp/dxy2.v"
	printf '2 1\n1 1\n' >"$tmp/sum.mat"
	vips recomb "$tmp/dxy2.v" "$tmp/d2.v" "$tmp/sum.mat"
	vips math2_const "$tmp/d2.v" "$tmp/d.v" pow 0.5
	vips linear --uchar "$tmp/d.v" "$tmp/alpha.v" -- -10 $((r * 10 + 255))

	# Inside: Worley cells, each shaded from its centre, tinted orange.
	vips worley "$tmp/cells.v" "$s" "$s" --cell-size $((s / 8)) --seed "$seed"
	vips linear --uchar "$tmp/cells.v" "$tmp/rgb.v" -- \
		"-2.2 -1.4 -0.6" "255 190 90"
	vips bandjoin "$tmp/rgb.v $tmp/alpha.v" "$o"
}

# grey OUT W H SEED: a one-band (greyscale) photo-like image.
grey() {
	vips perlin "$tmp/p.v" "$2" "$3" --cell-size $(($2 / 5)) --seed "$4"
	vips gaussnoise "$tmp/n.v" "$2" "$3" --mean 0 --sigma 0.03 --seed $(($4 + 1))
	vips add "$tmp/p.v" "$tmp/n.v" "$tmp/pn.v"
	vips linear "$tmp/pn.v" "$1" 220 128 --uchar
}

landscape "$tmp/landscape.v" 1600 1067 100
vips jpegsave "$tmp/landscape.v" "$out/landscape-1600x1067.jpg" --Q 82 --strip

landscape "$tmp/portrait.v" 1200 1600 200
vips jpegsave "$tmp/portrait.v" "$out/portrait-1200x1600.jpg" --Q 82 --strip

badge "$tmp/badge.v" 800 300
vips pngsave "$tmp/badge.v" "$out/badge-800x800.png" --compression 9 --filter all \
	--strip

landscape "$tmp/wide.v" 1024 768 400
vips webpsave "$tmp/wide.v" "$out/landscape-1024x768.webp" --Q 80 --strip

grey "$tmp/grey.v" 640 480 500
vips jpegsave "$tmp/grey.v" "$out/grey-640x480.jpg" --Q 85 --strip

for f in "$out"/*; do
	echo "$f: $(vipsheader "$f" | sed 's/^[^:]*: //'), $(wc -c <"$f") bytes"
done
