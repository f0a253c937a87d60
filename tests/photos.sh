#!/bin/sh
# photos.sh DIR [N=40]: put the N largest distinct real photographs from
# Debian's wallpaper packages into DIR, as JPEG files named photo-NN.jpg.
#
# The packages are fetched once with `apt-get download` (no root needed)
# into a cache, $OBJWATCH_PHOTO_CACHE or /var/tmp/objwatch-photos, and
# unpacked with dpkg -x; nothing is installed. Used by the real-photo test
# and by the benchmark.
set -eu
dir=${1:?usage: photos.sh DIR [N]}
n=${2:-40}
cache=${OBJWATCH_PHOTO_CACHE:-/var/tmp/objwatch-photos}
packages="gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers
	ukui-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04"

mkdir -p "$cache" "$dir"
if [ ! -f "$cache/.unpacked" ]; then
	(
		cd "$cache"
		# shellcheck disable=SC2086
		apt-get download $packages >/dev/null 2>&1 ||
		    { apt-get update -qq >/dev/null 2>&1 &&
		      apt-get download $packages >/dev/null 2>&1; } ||
		    { echo "photos.sh: cannot download $packages" >&2; exit 1; }
		for deb in ./*.deb; do
			dpkg -x "$deb" tree
		done
		touch .unpacked
	)
fi

# The largest first, skipping byte-identical copies.
i=0
find "$cache/tree" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) \
    -printf '%s %p\n' | sort -rn | while read -r size path; do
	sum=$(md5sum "$path" | cut -c1-32)
	case " ${seen:-} " in
	*" $sum "*) continue ;;
	esac
	seen="${seen:-} $sum"
	i=$((i + 1))
	cp "$path" "$dir/$(printf 'photo-%02d.jpg' "$i")"
	[ "$i" -ge "$n" ] && break
done
count=$(find "$dir" -name 'photo-*.jpg' | wc -l)
if [ "$count" -lt "$n" ]; then
	echo "photos.sh: found only $count photographs, wanted $n" >&2
	exit 1
fi
