#!/bin/sh
# bench/imgprep.sh: imgprep's single-thread speed beside vipsthumbnail's, its -j 2 scaling and its memory.
#
#   sh bench/imgprep.sh [N]        (ANET_BIN: where imgprep is; default build/bin)
#
# Makes N (default 400) ImageNet-like JPEGs (500x375, some 500x333 and 375x500, quality 90,
# cut from the photos in mate-backgrounds and darknet) in a temporary folder, then times, in
# one run and interleaved, five times each (the median and the best are reported; on a shared
# machine the best is the run least disturbed by others):
#   imgprep -j 1 -s 256 (the default Lanczos-3 and jpeg:90 records, to a file)
#   vipsthumbnail -s 256x256 -m centre (one process over the whole list, one thread, to files)
#   imgprep -j 2 -s 256
# and prints TurboJPEG's bare full-size decode rate (tjbench, from libjpeg-turbo-progs) for
# scale, and imgprep's peak memory for N and 4N images (it must not grow). The last line is
# "imgprep/vipsthumbnail single-thread ratio: R". Needs /usr/bin/python3 with PIL, vipsthumbnail
# (libvips-tools), GNU time; holds /tmp/anet-heavy.lock so that heavy runs do not overlap.
set -eu
if [ -z "${ANET_BENCH_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	ANET_BENCH_LOCKED=1 exec flock /tmp/anet-heavy.lock sh "$0" "$@"
fi
n=${1:-400}
bin=${ANET_BIN:-build/bin}
imgprep=$bin/imgprep
[ -x "$imgprep" ] || { echo "bench/imgprep.sh: $imgprep not found (run make first)" >&2; exit 1; }
command -v vipsthumbnail >/dev/null || { echo "bench/imgprep.sh: vipsthumbnail not found (apt-get install libvips-tools)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/imgprep.sh: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/anet-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

/usr/bin/python3 - "$tmp/img" "$n" <<'EOF'
import glob, os, random, sys
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
srcs = sorted(glob.glob('/usr/share/backgrounds/mate/nature/*.jpg') + glob.glob('/usr/share/darknet/data/*.jpg'))
photos = [Image.open(s).convert('RGB') for s in srcs]
rnd = random.Random(2012)
for i in range(n):
    im = photos[i % len(photos)]
    w, h = rnd.choice([(500, 375)] * 7 + [(500, 333)] * 2 + [(375, 500)])
    s = rnd.uniform(max(w / im.width, h / im.height), max(w / im.width, h / im.height, 1.0))
    t = im.resize((max(w, round(im.width * s)), max(h, round(im.height * s))), Image.BILINEAR)
    x, y = rnd.randrange(t.width - w + 1), rnd.randrange(t.height - h + 1)
    t.crop((x, y, x + w, y + h)).save('%s/%05d.jpg' % (out, i), quality=90)
EOF
ls "$tmp"/img/*.jpg >"$tmp/list1"
cat "$tmp/list1" "$tmp/list1" "$tmp/list1" "$tmp/list1" >"$tmp/list4"
sed 's/$/ 0/' "$tmp/list1" >"$tmp/labels1"
sed 's/$/ 0/' "$tmp/list4" >"$tmp/labels4"
mkdir "$tmp/vips"

now() { date +%s.%N; }
rate() { echo "$1 $2 $3" | awk '{ printf "%.1f", $1 / ($3 - $2) }'; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
best() { printf '%s\n' "$@" | sort -g | tail -n 1; }

run_imgprep() { # JOBS -> images/s
	t0=$(now)
	"$imgprep" -j "$1" -s 256 -l "$tmp/labels1" -o "$tmp/out.rec" 2>/dev/null
	rate "$n" "$t0" "$(now)"
}
run_vips() {
	t0=$(now)
	VIPS_CONCURRENCY=1 xargs vipsthumbnail -s 256x256 -m centre -o "$tmp/vips/%s.jpg" <"$tmp/list1"
	rate "$n" "$t0" "$(now)"
}

run_imgprep 1 >/dev/null # warm the page cache
run_vips >/dev/null
i1="" v1="" i2=""
for _ in 1 2 3 4 5; do
	i1="$i1 $(run_imgprep 1)"
	v1="$v1 $(run_vips)"
	i2="$i2 $(run_imgprep 2)"
done
# shellcheck disable=SC2086
mi1=$(median $i1) mv1=$(median $v1) mi2=$(median $i2)
# shellcheck disable=SC2086
bi1=$(best $i1) bv1=$(best $v1) bi2=$(best $i2)

decode="(tjbench not installed: apt-get install libjpeg-turbo-progs)"
if command -v tjbench >/dev/null 2>&1; then
	fps=""
	for f in $(head -n 5 "$tmp/list1"); do
		fps="$fps $(tjbench "$f" -benchtime 1 -warmup 0.2 -nowrite 2>/dev/null | awk '/Decompress.*Frame rate/ { print $(NF-1) }')"
	done
	# shellcheck disable=SC2086
	decode="$(median $fps) img/s (median of 5 images)"
fi

rss() { # LIST -> peak resident KiB of imgprep -j 2 over it
	/usr/bin/time -f %M "$imgprep" -j 2 -s 256 -l "$1" -o "$tmp/out.rec" 2>&1 >/dev/null | tail -n 1
}
r1=$(rss "$tmp/labels1")
r4=$(rss "$tmp/labels4")

echo "bench/imgprep.sh: $n JPEGs of about 500x375, quality 90; 5 interleaved runs each on $(nproc) cores"
echo "  TurboJPEG bare decode, full size (tjbench):     $decode"
echo "  vipsthumbnail -s 256x256 -m centre, 1 thread:  median $mv1 img/s, best $bv1   (runs:$v1)"
echo "  imgprep -j 1 -s 256:                           median $mi1 img/s, best $bi1   (runs:$i1)"
echo "  imgprep -j 2 -s 256:                           median $mi2 img/s, best $bi2   (runs:$i2)"
echo "  -j 2 / -j 1: $(echo "$mi2 $mi1" | awk '{ printf "%.2f", $1 / $2 }') (medians), $(echo "$bi2 $bi1" | awk '{ printf "%.2f", $1 / $2 }') (best runs)"
echo "  imgprep/vipsthumbnail, best runs: $(echo "$bi1 $bv1" | awk '{ printf "%.2f", $1 / $2 }')"
echo "  imgprep -j 2 peak memory: $r1 KiB for $n images, $r4 KiB for $((4 * n))"
echo "imgprep/vipsthumbnail single-thread ratio: $(echo "$mi1 $mv1" | awk '{ printf "%.2f", $1 / $2 }')" # medians
