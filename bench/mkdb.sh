#!/bin/sh
# bench/mkdb.sh: mkdb beside its peers in one run: the imgprep pipeline (mkdb must not slow it),
# mdb_load loading the same records, and mkdb's peak memory for N and 4N records.
#
#   sh bench/mkdb.sh             (make bench runs it with ANET_BIN set)
#
# Needs vips (libvips-tools), lmdb-utils, GNU time. Takes about three minutes and ~8 GB of
# scratch space in TMPDIR; BENCH_RUNS (default 5) sets the timed rounds (medians are printed).
# Run heavy benchmarks one at a time: flock /tmp/anet-heavy.lock sh bench/mkdb.sh
set -eu
BIN=${ANET_BIN:-build/bin}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
RUNS=${BENCH_RUNS:-5}
for t in vips mdb_load mdb_dump /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench/mkdb.sh: needs $t" >&2; exit 1; }
done
[ -x "$BIN/imgprep" ] && [ -x "$BIN/mkdb" ] || { echo "bench/mkdb.sh: build imgprep and mkdb first (make)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/anet-bench-mkdb.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
PATH=$BIN:$PATH

size_mb() { du -sk "$1" | awk '{ printf "%.1f", $1 / 1024 }'; }
# rounds N NAME=CMD...: runs the commands in turn, N rounds (interleaved, so that load from
# other work on a shared machine hits them alike), after one warm-up round; prints each
# command's median wall time in seconds, in order
rounds() {
	n=$1; shift
	r=0
	while [ $r -le "$n" ]; do
		k=0
		for c in "$@"; do
			k=$((k + 1))
			t0=$(date +%s.%N)
			sh -c "$c"
			t1=$(date +%s.%N)
			[ $r -gt 0 ] && echo "$t0 $t1" | awk '{ print $2 - $1 }' >> "$W/times.$k"
		done
		r=$((r + 1))
	done
	k=0
	for c in "$@"; do
		k=$((k + 1))
		sort -g "$W/times.$k" | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
		rm -f "$W/times.$k"
	done
}

# 1. ImageNet-like inputs: 500x375 tiles (the typical ILSVRC size) at JPEG quality 90, cut
#    from the MATE nature wallpapers, one class folder per wallpaper.
SRC=/usr/share/backgrounds/mate/nature
for f in "$SRC"/*.jpg; do
	name=$(basename "$f" .jpg)
	mkdir -p "$W/jpg/$name"
	w=$(vipsheader -f width "$f")
	h=$(vipsheader -f height "$f")
	y=0
	while [ $((y + 375)) -le "$h" ]; do
		x=0
		while [ $((x + 500)) -le "$w" ]; do
			vips crop "$f" "$W/jpg/$name/${x}_$y.jpg[Q=90]" $x $y 500 375
			x=$((x + 250))
		done
		y=$((y + 250))
	done
done
n=$(find "$W/jpg" -name '*.jpg' | wc -l)
echo "inputs: $n JPEG tiles of 500x375 (q90), $(size_mb "$W/jpg") MB, in $(ls "$W/jpg" | wc -l) classes"

# 2. imgprep | mkdb against imgprep > /dev/null: images/s of the pipeline over imgprep's own,
#    on the tiles listed 20 times (~8000 images, several seconds a run: mkdb's fixed cost at
#    the end, syncing the database to disk, is ~50 ms and would weigh on a short run)
k=0
for d in "$W"/jpg/*/; do
	for f in "$d"*.jpg; do echo "$f $k"; done
	k=$((k + 1))
done > "$W/once.txt"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do cat "$W/once.txt"; done > "$W/list.txt"
n=$(wc -l < "$W/list.txt")
set -- $(rounds "$RUNS" "imgprep -l $W/list.txt 2>/dev/null > /dev/null" \
	"imgprep -l $W/list.txt 2>/dev/null | mkdb -q --force $W/pipe.lmdb")
a=$1 b=$2
awk -v n="$n" -v a="$a" -v b="$b" 'BEGIN {
	printf "imgprep > /dev/null: %7.1f images/s (median of interleaved runs)\n", n / a
	printf "imgprep | mkdb:      %7.1f images/s\n", n / b
	printf "ratio (pipeline / imgprep alone): %.3f   (goal: at least 0.90)\n", a / b }'

# 3. mkdb's write rate against mdb_load on the same records: the JPEG records repeated to
#    about 300 MB, loaded by mkdb (shuffled and not) and, from mdb_dump's text, by mdb_load
imgprep "$W/jpg" > "$W/one.rec" 2>/dev/null
reps=$(( (300 * 1024 * 1024) / $(wc -c < "$W/one.rec") + 1 ))
i=0
while [ $i -lt $reps ]; do cat "$W/one.rec"; i=$((i + 1)); done > "$W/all.rec"
mkdb -q --no-shuffle "$W/ref.lmdb" < "$W/all.rec"
mdb_dump "$W/ref.lmdb" > "$W/ref.dump"
mb=$(awk -v b="$(wc -c < "$W/all.rec")" 'BEGIN { printf "%.1f", b / 1048576 }')
records=$(mkdb --info "$W/ref.lmdb" | awk '/^records:/ { print $2 }')
set -- $(rounds "$RUNS" "mkdb -q --force $W/m.lmdb < $W/all.rec" \
	"mkdb -q --force --no-shuffle $W/n.lmdb < $W/all.rec" \
	"rm -rf $W/l.lmdb && mkdir $W/l.lmdb && mdb_load -f $W/ref.dump $W/l.lmdb 2>/dev/null")
m=$1 s=$2 l=$3
awk -v mb="$mb" -v r="$records" -v m="$m" -v s="$s" -v l="$l" 'BEGIN {
	printf "write %s MB (%d records):\n", mb, r
	printf "  mkdb (shuffled)    %6.3f s  %7.1f MB/s\n", m, mb / m
	printf "  mkdb --no-shuffle  %6.3f s  %7.1f MB/s\n", s, mb / s
	printf "  mdb_load           %6.3f s  %7.1f MB/s (from mdb_dump text)\n", l, mb / l
	printf "ratio mkdb / mdb_load rate: %.2f shuffled, %.2f in order\n", l / m, l / s }'
echo "sizes on disk: mkdb $(size_mb "$W/m.lmdb") MB (shuffled), mdb_load $(size_mb "$W/l.lmdb") MB"
rm -rf "$W/m.lmdb" "$W/n.lmdb" "$W/l.lmdb" "$W/ref.lmdb" "$W/ref.dump" "$W/all.rec"

# 4. peak memory (max RSS) for N and 4N records, of two kinds: raw 256x256x3 records
#    (192 KiB, N of them about 300 MB) and raw 28x28x1 records (~830 bytes, N = 60000, the
#    size of Fashion-MNIST), the stream being the tiles' records repeated
rss() { # STREAM REPS: peak RSS of mkdb over REPS copies of STREAM
	i=0
	while [ $i -lt "$2" ]; do cat "$1"; i=$((i + 1)); done |
		/usr/bin/time -f "%M" -o "$W/rss" mkdb -q --force "$W/rss.lmdb"
	recs=$(mkdb --info "$W/rss.lmdb" | awk '/^records:/ { print $2 }')
	echo "  $recs records ($(size_mb "$W/rss.lmdb") MB): peak RSS $(awk '{ printf "%.1f", $1 / 1024 }' "$W/rss") MB"
	rm -rf "$W/rss.lmdb"
}
imgprep --encode raw "$W/jpg" > "$W/raw.rec" 2>/dev/null
imgprep --encode raw -s 28 -c 1 "$W/jpg" > "$W/small.rec" 2>/dev/null
k=$(( (300 * 1024 * 1024) / $(wc -c < "$W/raw.rec") + 1 ))
echo "peak memory of mkdb, raw 256x256x3 records:"
rss "$W/raw.rec" "$k"
rss "$W/raw.rec" $((4 * k))
k=$(( 60000 / $(grep -c . "$W/once.txt") + 1 ))
echo "peak memory of mkdb, raw 28x28x1 records:"
rss "$W/small.rec" "$k"
rss "$W/small.rec" $((4 * k))
