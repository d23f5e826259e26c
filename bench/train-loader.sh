#!/bin/sh
# bench/train-loader.sh: does the loader keep the CPU backend busy? anet-train end to end on the
# paper's network over a real JPEG database, against the bare training step (anet-train --time),
# and the loader's own rate.
#
#   sh bench/train-loader.sh [RECORDS] [STEPS]     (ANET_BIN: the programs; default build/bin)
#
# Makes RECORDS (default 1024) 256x256 JPEG-payload records (imgprep's default jpeg:90) from the
# photos of mate-backgrounds and darknet, repeated, labels 0..9, in a temporary folder, then, in
# one run holding /tmp/anet-heavy.lock, ROUNDS (default 3) rounds of
#   1. anet-train --time: the median training step of the paper's net (batch 128, 10 classes) on
#      synthetic data already on the device: the kernels alone;
#   2. anet-train on the database for STEPS (default 6) steps, a log row per step: the median
#      of the steps after the first (warm-up), with the loader decoding and augmenting, no
#      epoch end inside;
# alternating, because the machine is shared and its speed drifts over minutes; the medians of
# the rounds are compared. Then anet-train --loader-only with 1 and 2 decode threads: the JPEG
# decode rate alone.
# The last line is "end-to-end/--time: R" (the goal: at least 0.95).
set -eu
if [ -z "${ANET_BENCH_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	ANET_BENCH_LOCKED=1 exec flock /tmp/anet-heavy.lock sh "$0" "$@"
fi
records=${1:-1024}
steps=${2:-6}
bin=${ANET_BIN:-build/bin}
threads=${ANET_THREADS:-$(nproc)}
[ -x "$bin/anet-train" ] || { echo "bench/train-loader.sh: $bin/anet-train not found (run make first)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/anet-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ls /usr/share/backgrounds/mate/nature/*.jpg /usr/share/darknet/data/*.jpg 2>/dev/null >"$tmp/photos" || true
[ -s "$tmp/photos" ] || { echo "bench/train-loader.sh: no photos (apt-get install mate-backgrounds darknet)" >&2; exit 1; }
awk -v n="$records" '{ p[NR - 1] = $0 } END { for (i = 0; i < n; i++) print p[i % NR], i % 10 }' "$tmp/photos" >"$tmp/list"
echo "== database: $records records from $(wc -l <"$tmp/photos") photos, 256x256 JPEG"
"$bin/imgprep" -l "$tmp/list" -j "$threads" 2>/dev/null | "$bin/mkdb" -q "$tmp/db.lmdb"
"$bin/pcacolor" -o "$tmp/db.stats" "$tmp/db.lmdb" 2>/dev/null
du -sh "$tmp/db.lmdb" | sed 's/^/   /'
uptime | sed 's/^/   load:/'

# The machine is shared: the two measurements alternate, ROUNDS times, and the medians count.
rounds=${ROUNDS:-3}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: >"$tmp/bare" && : >"$tmp/e2e"
r=1
while [ $r -le "$rounds" ]; do
	echo "== round $r of $rounds"
	"$bin/anet-train" --time --classes 10 --batch 128 --iters 3 --device cpu --threads "$threads" >"$tmp/time" 2>/dev/null
	b=$(sed -n 's/^train: \([0-9.]*\) img\/s.*/\1/p' "$tmp/time")
	echo "   1. anet-train --time (batch 128, $threads threads, median of 3 steps): $b img/s"
	echo "$b" >>"$tmp/bare"
	"$bin/anet-train" --stats "$tmp/db.stats" --batch 128 --steps "$steps" --device cpu --threads "$threads" \
		-j "$threads" --report-every 1 --checkpoint-every 0 --log "$tmp/log.tsv" -q -o "$tmp/m.anw" \
		"$tmp/db.lmdb" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
	# each log row is one step: its img/s, and the share of it spent waiting for data; the
	# first step (warm-up) is left out
	e=$(awk -F'\t' 'NR > 2 && $3 == "train" { print $8 }' "$tmp/log.tsv" | median)
	w=$(awk -F'\t' 'NR > 2 && $3 == "train" { w += $9; n++ } END { printf "%.4f", w / n }' "$tmp/log.tsv")
	echo "   2. anet-train on the database ($steps steps, median of the steps after the first): $e img/s, data wait $w"
	echo "$e" >>"$tmp/e2e"
	r=$((r + 1))
done
bare=$(median <"$tmp/bare")
rate=$(median <"$tmp/e2e")
echo "== medians: --time $bare img/s, end to end $rate img/s"

echo "== 3. the loader alone"
for j in 1 2; do
	"$bin/anet-train" --loader-only --batch 128 --steps 8 -j $j "$tmp/db.lmdb" | sed 's/^/   /'
done
awk -v a="$rate" -v b="$bare" 'BEGIN { printf "end-to-end/--time: %.3f\n", a / b }'
