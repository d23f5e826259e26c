#!/bin/sh
# test_anet_viz.sh: every anet-viz subcommand on a small trained model and the shared fixtures:
# picture sizes and contents, --help, usage errors, and refusals of bad inputs.
. "$ANET_TESTS/lib/shtest.sh"
[ -x "$ANET_BIN/anet-viz" ] || skip "anet-viz is not built (it needs cairo: libcairo2-dev)"

# png_size FILE: "WIDTHxHEIGHT" from the PNG header (IHDR), or fails if FILE is no PNG
png_size() {
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$1 is not a PNG"
	od -An -tu1 -j 16 -N 8 "$1" | awk '{ printf "%dx%d\n", $1 * 16777216 + $2 * 65536 + $3 * 256 + $4,
		$5 * 16777216 + $6 * 65536 + $7 * 256 + $8 }'
}
# png_at_least FILE W H: a PNG of at least W x H pixels, and not a blank one (> 2 KB)
png_at_least() {
	s=$(png_size "$1")
	[ "${s%x*}" -ge "$2" ] && [ "${s#*x}" -ge "$3" ] || fail "$1 is $s, expected at least $2x$3"
	[ "$(wc -c < "$1")" -gt 2000 ] || fail "$1 is suspiciously small ($(wc -c < "$1") bytes)"
}
no_temporaries() { ! ls "$T"/*.tmp.* >/dev/null 2>&1 || fail "temporary files left: $(ls "$T"/*.tmp.*)"; }

check_help anet-viz
for c in filters records neighbours predictions curves health mean acts info; do
	anet-viz $c --help >"$T/help" 2>"$T/err" || fail "anet-viz $c --help failed"
	grep -q "^Usage: anet-viz $c" "$T/help" || fail "anet-viz $c --help does not start with its usage"
	[ -s "$T/err" ] && fail "anet-viz $c --help wrote to stderr"
	expect_exit 2 anet-viz $c --no-such-option
	expect_err "Try 'anet-viz $c --help'"
done
expect_exit 2 anet-viz
expect_err "missing COMMAND"
expect_exit 2 anet-viz draw
expect_err "unknown command 'draw'"

# ---------------------------------------------------------------------------------------------
# the data: Fashion-MNIST (64 gray 28x28, with class names) and a small RGB tree
imgprep --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-64-labels.idx" --classes "$DATA/fashion-classes.txt" \
	2>/dev/null | mkdb -q "$T/fashion.lmdb"
imgprep -s 40 "$DATA/tree" 2>/dev/null | mkdb -q "$T/tree.lmdb"
pcacolor -q "$T/fashion.lmdb"
pcacolor -q "$T/tree.lmdb"

# ---------------------------------------------------------------------------------------------
# records
anet-viz records "$T/fashion.lmdb" -n 12 -o "$T/rec.png"
# 12 images of 28 pixels enlarged 4x (112) in 4 columns of 120, 3 rows of 150 under a 28-pixel heading
[ "$(png_size "$T/rec.png")" = "488x478" ] || fail "records: $(png_size "$T/rec.png"), expected 488x478"
png_at_least "$T/rec.png" 400 400
anet-viz records "$T/tree.lmdb" --random 5 -n 4 --columns 4 --size 64 -o "$T/rec2.png"
png_at_least "$T/rec2.png" 300 100
cmp -s "$T/rec.png" "$T/rec2.png" && fail "records: two different sheets are the same picture"
anet-viz records "$T/tree.lmdb" --random 5 -n 4 --columns 4 --size 64 -o "$T/rec3.png"
cmp -s "$T/rec2.png" "$T/rec3.png" || fail "records --random: the same seed drew another sample"
expect_exit 1 anet-viz records "$T/fashion.lmdb" --start 64 -o "$T/x.png"
expect_err "fashion.lmdb: --start 64 is past the last record (63)"
expect_exit 1 anet-viz records "$T/none.lmdb" -o "$T/x.png"
expect_err "none.lmdb"
expect_exit 2 anet-viz records "$T/fashion.lmdb"
expect_err "missing -o"
expect_exit 2 anet-viz records "$T/fashion.lmdb" --start 1 --random 2 -o "$T/x.png"
expect_exit 2 anet-viz records "$T/fashion.lmdb" -n 0 -o "$T/x.png"
expect_err "count"
[ -e "$T/x.png" ] && fail "a failed run left $T/x.png"

# ---------------------------------------------------------------------------------------------
# mean
anet-viz mean "$T/fashion.stats" -o "$T/mean.png"
png_at_least "$T/mean.png" 460 300
anet-viz mean "$T/tree.stats" --scale 2 -o "$T/mean2.png"
png_at_least "$T/mean2.png" 180 80
expect_exit 1 anet-viz mean "$T/rec.png" -o "$T/x.png"
expect_err "rec.png: not an anet tensor file"
head -c 200 "$T/tree.stats" > "$T/cut.stats"
expect_exit 1 anet-viz mean "$T/cut.stats" -o "$T/x.png"
expect_err "cut.stats"

# ---------------------------------------------------------------------------------------------
# curves from a hand-made log in anet-train's format: a header naming the columns, train rows
# every 10 steps, a val row (no rate of its own) every 100, the rate divided at 300 and 500
awk 'BEGIN { print "step\tepoch\tkind\tloss\ttop1\ttop5\tlr\timg_per_s\tdata_wait\telapsed"; lr = 0.01
	for (s = 10; s <= 600; s += 10) {
		if (s == 300 || s == 500) lr /= 10
		l = 2.3 * exp(-s / 150) + 0.3; t1 = 0.9 * exp(-s / 200) + 0.1
		printf "%d\t%.2f\ttrain\t%.4f\t%.4f\t%.4f\t%g\t500\t0.01\t%.1f\n", s, s / 100, l, t1, t1 / 3, lr, s / 5
		if (s % 100 == 0) printf "%d\t%.2f\tval\t%.4f\t%.4f\t%.4f\t-\t\t\t%.1f\n", s, s / 100, l + 0.2, t1 + 0.05, t1 / 3, s / 5
	} }' > "$T/log.tsv"
anet-viz curves "$T/log.tsv" --plotter cairo -o "$T/curves-cairo.png"
[ "$(png_size "$T/curves-cairo.png")" = "1200x800" ] || fail "curves (cairo): $(png_size "$T/curves-cairo.png")"
png_at_least "$T/curves-cairo.png" 1200 800
ANET_VIZ_PLOTTER=cairo anet-viz curves "$T/log.tsv" --x epoch --size 800x600 -o "$T/curves-env.png"
[ "$(png_size "$T/curves-env.png")" = "800x600" ] || fail "curves --size: $(png_size "$T/curves-env.png")"
if command -v gnuplot >/dev/null 2>&1 && echo 'set terminal pngcairo' | gnuplot 2>/dev/null; then
	anet-viz curves "$T/log.tsv" --plotter gnuplot -o "$T/curves-gp.png"
	[ "$(png_size "$T/curves-gp.png")" = "1200x800" ] || fail "curves (gnuplot): $(png_size "$T/curves-gp.png")"
	png_at_least "$T/curves-gp.png" 1200 800
	cmp -s "$T/curves-gp.png" "$T/curves-cairo.png" && fail "gnuplot and cairo made the same bytes"
else
	echo "gnuplot with pngcairo not installed: its path not tested"
fi
# auto without gnuplot on the PATH falls back to cairo; --plotter gnuplot refuses
mkdir -p "$T/nognuplot"
for p in anet-viz; do ln -sf "$(command -v $p)" "$T/nognuplot/$p"; done
PATH=$T/nognuplot anet-viz curves "$T/log.tsv" -o "$T/curves-auto.png"
cmp -s "$T/curves-auto.png" "$T/curves-cairo.png" || fail "auto without gnuplot did not draw with cairo"
expect_exit 1 env PATH="$T/nognuplot" anet-viz curves "$T/log.tsv" --plotter gnuplot -o "$T/x.png"
expect_err "gnuplot is not installed"
# bad logs name the file and line
printf 'step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n10\t0.1\ttrain\t2.3\t0.9\t0.5\t0.01\n20\t0.2\ttest\t2\t0.8\t0.4\t0.01\n' > "$T/bad.tsv"
expect_exit 1 anet-viz curves "$T/bad.tsv" -o "$T/x.png"
expect_err "bad.tsv:3: kind 'test' is neither train nor val"
expect_exit 1 anet-viz curves "$T/tree.stats" -o "$T/x.png"
expect_err "tree.stats"
expect_exit 2 anet-viz curves "$T/log.tsv" --plotter matplotlib -o "$T/x.png"
expect_exit 2 env ANET_VIZ_PLOTTER=excel anet-viz curves "$T/log.tsv" -o "$T/x.png"
expect_err "ANET_VIZ_PLOTTER"

# ---------------------------------------------------------------------------------------------
# health from a short run's --health log: 10 reports (an epoch of 4 steps each) of 4 layers
fashion_fixture
anet-train --net "$DATA/tiny-gray28.net" --stats "$T/train.stats" --batch 16 --steps 40 --device cpu --threads 1 \
	-j 1 --health "$T/health.tsv" -o "$T/fm.anw" "$T/train.lmdb" 2>"$T/err" || { cat "$T/err"; fail "anet-train --health failed"; }
[ "$(grep -c "$(printf '^40\t')" "$T/health.tsv")" = 4 ] || fail "health.tsv: expected 4 rows at step 40: $(cat "$T/health.tsv")"
anet-viz health "$T/health.tsv" --plotter cairo -o "$T/health-cairo.png"
[ "$(png_size "$T/health-cairo.png")" = "1200x900" ] || fail "health (cairo): $(png_size "$T/health-cairo.png")"
png_at_least "$T/health-cairo.png" 1200 900
ANET_VIZ_PLOTTER=cairo anet-viz health "$T/health.tsv" --x epoch --size 800x600 -o "$T/health-env.png"
[ "$(png_size "$T/health-env.png")" = "800x600" ] || fail "health --size: $(png_size "$T/health-env.png")"
png_at_least "$T/health-env.png" 800 600
if command -v gnuplot >/dev/null 2>&1 && echo 'set terminal pngcairo' | gnuplot 2>/dev/null; then
	anet-viz health "$T/health.tsv" --plotter gnuplot -o "$T/health-gp.png" 2>"$T/err"
	[ -s "$T/err" ] && fail "health (gnuplot) said: $(cat "$T/err")"
	[ "$(png_size "$T/health-gp.png")" = "1200x900" ] || fail "health (gnuplot): $(png_size "$T/health-gp.png")"
	png_at_least "$T/health-gp.png" 1200 900
	cmp -s "$T/health-gp.png" "$T/health-cairo.png" && fail "health: gnuplot and cairo made the same bytes"
else
	echo "gnuplot with pngcairo not installed: health's gnuplot path not tested"
fi
PATH=$T/nognuplot anet-viz health "$T/health.tsv" -o "$T/health-auto.png"
cmp -s "$T/health-auto.png" "$T/health-cairo.png" || fail "health: auto without gnuplot did not draw with cairo"
expect_exit 1 env PATH="$T/nognuplot" anet-viz health "$T/health.tsv" --plotter gnuplot -o "$T/x.png"
expect_err "gnuplot is not installed"
# gaps ("-", "nan", and a layer without a ReLU) are drawn around; one report alone is a dot
head -n 1 "$T/health.tsv" > "$T/gaps.tsv"
printf '4\t1\tconv1\t0.2\t-\tnan\t0\t8\t-\t\n4\t1\tfc2\t0.1\t0.01\t0.1\t0\t\t\t\n' >> "$T/gaps.tsv"
anet-viz health "$T/gaps.tsv" --plotter cairo -o "$T/health-gaps.png"
png_at_least "$T/health-gaps.png" 1200 900
# refused, naming the file and the problem: another log, an empty file, a header alone, bad numbers
expect_exit 1 anet-viz health "$T/log.tsv" -o "$T/x.png"
expect_err "log.tsv:1: the header has no 'layer' column: not an anet-train --health log"
: > "$T/empty.tsv"
expect_exit 1 anet-viz health "$T/empty.tsv" -o "$T/x.png"
expect_err "empty.tsv: empty: not an anet-train --health log"
head -n 1 "$T/health.tsv" > "$T/header.tsv"
expect_exit 1 anet-viz health "$T/header.tsv" -o "$T/x.png"
expect_err "header.tsv: no rows after the header"
awk -F '\t' -v OFS='\t' 'NR == 3 { $4 = "0.1x" } { print }' "$T/health.tsv" > "$T/badnum.tsv"
expect_exit 1 anet-viz health "$T/badnum.tsv" -o "$T/x.png"
expect_err "badnum.tsv:3: weight_abs: '0.1x' is not a number"
awk -F '\t' -v OFS='\t' 'NR == 2 { $9 = $8 + 1 } { print }' "$T/health.tsv" > "$T/baddead.tsv"
expect_exit 1 anet-viz health "$T/baddead.tsv" -o "$T/x.png"
expect_err "baddead.tsv:2: dead: 9 is more than the layer's 8 units"
expect_exit 1 anet-viz health "$T/none.tsv" -o "$T/x.png"
expect_err "none.tsv"
# usage errors
expect_exit 2 anet-viz health "$T/health.tsv"
expect_err "missing -o"
expect_exit 2 anet-viz health -o "$T/x.png"
expect_err "missing HEALTH.tsv"
expect_exit 2 anet-viz health "$T/health.tsv" "$T/gaps.tsv" -o "$T/x.png"
expect_err "too many arguments"
expect_exit 2 anet-viz health "$T/health.tsv" --x time -o "$T/x.png"
expect_err "--x: 'time' is neither step nor epoch"
expect_exit 2 anet-viz health "$T/health.tsv" --plotter matplotlib -o "$T/x.png"
expect_exit 2 anet-viz health "$T/health.tsv" --size 100x100 -o "$T/x.png"
expect_err "--size"
expect_exit 2 env ANET_VIZ_PLOTTER=excel anet-viz health "$T/health.tsv" -o "$T/x.png"
expect_err "ANET_VIZ_PLOTTER"
# ---------------------------------------------------------------------------------------------
# a small model, trained for a few steps on the tree (40x40 records, 32x32 crops, 3 classes)
anet-train --net "$DATA/tiny-rgb32.net" --stats "$T/tree.stats" --batch 4 --steps 6 --lr 0.001 --device cpu --threads 1 \
	-j 1 -o "$T/m.anw" "$T/tree.lmdb" 2>"$T/err" || { cat "$T/err"; fail "anet-train failed"; }

# filters: conv1's 8 kernels of 5x5x3 in conv2's 2 groups: 11x (55-pixel tiles), 4 a row,
# 11-pixel gaps, 22-pixel margins, 33 between the blocks, a 22-pixel caption
anet-viz filters -w "$T/m.anw" -o "$T/f.png"
[ "$(png_size "$T/f.png")" = "297x209" ] || fail "filters: $(png_size "$T/f.png"), expected 297x209"
anet-viz filters -w "$T/m.anw" --scale 2 --groups 1 --columns 8 --no-caption --normalise global -o "$T/f2.png"
[ "$(png_size "$T/f2.png")" = "102x18" ] || fail "filters (options): $(png_size "$T/f2.png"), expected 102x18"
anet-viz filters -w "$T/m.anw" --scale 2 --groups 1 --columns 8 --no-caption -o "$T/f3.png"
cmp -s "$T/f2.png" "$T/f3.png" && fail "--normalise global drew the same picture as per kernel"
expect_exit 1 anet-viz filters -w "$T/none.anw" -o "$T/x.png"
expect_err "none.anw"
expect_exit 1 anet-viz filters -w "$T/tree.stats" -o "$T/x.png"
expect_err "tree.stats: is a statistics file, expected a model or a checkpoint"
head -c 3000 "$T/m.anw" > "$T/cut.anw"
expect_exit 1 anet-viz filters -w "$T/cut.anw" -o "$T/x.png"
expect_err "cut.anw: .*truncated"
expect_exit 1 anet-viz filters -w "$T/m.anw" --groups 3 -o "$T/x.png"
expect_err "8 kernels cannot be split into 3 groups"
expect_exit 2 anet-viz filters -o "$T/x.png"
expect_err "missing -w MODEL"
# -o onto what the command reads is refused, whichever way it is spelled, and the file stays
cp "$T/m.anw" "$T/keep.anw"
expect_exit 2 anet-viz filters -w "$T/m.anw" -o "$T/m.anw"
expect_err "\-o .*m.anw is the input .*m.anw itself"
expect_exit 2 anet-viz filters --weights="$T/m.anw" --output="$T/m.anw"
expect_exit 2 anet-viz predictions -w "$T/m.anw" --device cpu "$DATA/photo-dog.jpg" -o"$DATA/photo-dog.jpg"
expect_err "photo-dog.jpg is the input .*photo-dog.jpg itself"
# getopt_long's abbreviations of --output, and a model attached to -w
expect_exit 2 anet-viz filters -w "$T/m.anw" --out "$T/m.anw"
expect_exit 2 anet-viz filters -w "$T/m.anw" --outp="$T/m.anw"
expect_exit 2 anet-viz filters -w"$T/m.anw" -o "$T/m.anw"
expect_err "is the input $T/m.anw itself"
cmp -s "$T/m.anw" "$T/keep.anw" || fail "the model was changed"
expect_exit 2 anet-viz filters -w "$T/m.anw" --normalise loud -o "$T/x.png"
expect_exit 2 anet-viz filters -w "$T/m.anw" --scale 0 -o "$T/x.png"

# predictions: records with their labels, and files with --label (a name, a number, none),
# among them a CMYK JPEG and a PNG named .JPEG
anet-viz predictions -w "$T/m.anw" --db "$T/tree.lmdb" -n 5 --device cpu -j 1 -o "$T/p.png" 2>/dev/null
[ "$(png_size "$T/p.png")" = "830x538" ] || fail "predictions: $(png_size "$T/p.png"), expected 830x538"
png_at_least "$T/p.png" 830 538
anet-viz predictions -w "$T/m.anw" --label apple --label 2 "$DATA/photo-dog.jpg" "$DATA/cmyk.jpg" "$DATA/gray.jpg" \
	"$DATA/png-named.JPEG" --crops 10 --columns 2 --device cpu -o "$T/p2.png" 2>/dev/null
png_at_least "$T/p2.png" 400 500
expect_exit 1 anet-viz predictions -w "$T/m.anw" --label durian "$DATA/photo-dog.jpg" --device cpu -o "$T/x.png"
expect_err "'durian' is neither a class name of .*m.anw nor a number below 3"
expect_exit 1 anet-viz predictions -w "$T/m.anw" "$DATA/bad-truncated.jpg" --device cpu -o "$T/x.png"
expect_err "bad-truncated.jpg"
expect_exit 1 anet-viz predictions -w "$T/m.anw" --db "$T/fashion.lmdb" --device cpu -o "$T/x.png"
expect_err "fashion.lmdb"
expect_exit 1 anet-viz predictions -w "$T/tree.stats" --db "$T/tree.lmdb" --device cpu -o "$T/x.png"
expect_err "tree.stats"
expect_exit 2 anet-viz predictions -w "$T/m.anw" --db "$T/tree.lmdb" "$DATA/gray.jpg" -o "$T/x.png"
expect_exit 2 anet-viz predictions -w "$T/m.anw" --label apple --label banana "$DATA/gray.jpg" -o "$T/x.png"
expect_exit 2 anet-viz predictions -w "$T/m.anw" --db "$T/tree.lmdb" --crops 3 -o "$T/x.png"
expect_exit 2 anet-viz predictions "$DATA/gray.jpg" -o "$T/x.png"
expect_err "missing -w MODEL"
anet-viz predictions -w "$T/m.anw" --orientation exif "$DATA/exif-6.jpg" --device cpu -o "$T/p3.png" 2>/dev/null ||
	fail "predictions --orientation exif failed"
anet-viz predictions -w "$T/m.anw" "$DATA/exif-6.jpg" --device cpu -o "$T/p4.png" 2>/dev/null || fail "predictions exif-6.jpg failed"
cmp -s "$T/p3.png" "$T/p4.png" && fail "predictions: --orientation exif drew the same picture"
expect_exit 2 anet-viz predictions -w "$T/m.anw" --db "$T/tree.lmdb" --orientation exif -o "$T/x.png"
expect_err "is for image files"

# neighbours: computed, and from anet-eval --features files: the same picture
anet-viz neighbours -w "$T/m.anw" --query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -k 3 -n 2 --device cpu -j 1 \
	-o "$T/n.png" 2>/dev/null
png_at_least "$T/n.png" 400 250
anet-eval -w "$T/m.anw" --device cpu --features "$T/tree.anf" "$T/tree.lmdb" > /dev/null 2>&1 ||
	fail "anet-eval --features failed"
anet-viz neighbours --query-features "$T/tree.anf" --gallery-features "$T/tree.anf" --query "$T/tree.lmdb" \
	--gallery "$T/tree.lmdb" -k 3 -n 2 -o "$T/n2.png" 2>/dev/null
cmp -s "$T/n.png" "$T/n2.png" || fail "neighbours from features files differ from computed ones"
# --layer: another layer's distance, another picture; features files of two layers refused
anet-viz neighbours -w "$T/m.anw" --layer conv1 --query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -k 3 -n 2 \
	--device cpu -j 1 -o "$T/n3.png" 2>/dev/null || fail "neighbours --layer conv1 failed"
png_at_least "$T/n3.png" 400 250
cmp -s "$T/n.png" "$T/n3.png" && fail "neighbours by conv1 drew the last hidden layer's picture"
expect_exit 2 anet-viz neighbours -w "$T/m.anw" --layer conv9 --query "$T/tree.lmdb" --gallery "$T/tree.lmdb" \
	--device cpu -o "$T/x.png"
expect_err "\-\-layer conv9: .*m.anw has no such layer; its layers: data, conv1, relu1"
anet-eval -w "$T/m.anw" --device cpu --features "$T/conv2.anf" --layer conv2 "$T/tree.lmdb" >/dev/null 2>&1 &&
	anet-eval -w "$T/m.anw" --device cpu --features "$T/pool.anf" --layer pool1 "$T/tree.lmdb" >/dev/null 2>&1 ||
	fail "anet-eval --features --layer failed"
expect_exit 1 anet-viz neighbours --query-features "$T/conv2.anf" --gallery-features "$T/pool.anf" \
	--query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -o "$T/x.png"
expect_err "pool.anf: features of layer pool1, but .*conv2.anf holds conv2's"
expect_exit 2 anet-viz neighbours --layer conv1 --query-features "$T/tree.anf" --gallery-features "$T/tree.anf" \
	--query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -o "$T/x.png"
expect_err "\-\-layer goes with -w"
expect_exit 1 anet-viz neighbours -w "$T/m.anw" --query "$T/fashion.lmdb" --gallery "$T/tree.lmdb" --device cpu \
	-o "$T/x.png"
expect_err "fashion.lmdb"
expect_exit 1 anet-viz neighbours --query-features "$T/tree.anf" --gallery-features "$T/tree.anf" \
	--query "$T/fashion.lmdb" --gallery "$T/tree.lmdb" -o "$T/x.png"
expect_err "features of another database"
expect_exit 1 anet-viz neighbours --query-features "$T/tree.stats" --gallery-features "$T/tree.anf" \
	--query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -o "$T/x.png"
expect_err "tree.stats: is a statistics file, expected a features file"
expect_exit 2 anet-viz neighbours -w "$T/m.anw" --query "$T/tree.lmdb" -o "$T/x.png"
expect_err "missing --query DB or --gallery DB"
expect_exit 2 anet-viz neighbours --query-features "$T/tree.anf" --query "$T/tree.lmdb" --gallery "$T/tree.lmdb" \
	-o "$T/x.png"
expect_err "go together"
expect_exit 2 anet-viz neighbours -w "$T/m.anw" --query-features "$T/tree.anf" --gallery-features "$T/tree.anf" \
	--query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -o "$T/x.png"
expect_exit 2 anet-viz neighbours -w "$T/m.anw" --query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -k 0 -o "$T/x.png"
# a gallery smaller than -k: as many columns as there are neighbours, and said; none at all
# (a one-image database as its own gallery) is an error, not a picture of empty columns
anet-viz neighbours -w "$T/m.anw" --query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -k 20 -n 2 --device cpu -j 1 \
	-o "$T/n20.png" 2>"$T/err" || { cat "$T/err"; fail "neighbours -k 20 in 8 images failed"; }
expect_err "tree.lmdb: 7 gallery images to compare with a query: 7 neighbours shown, not 20"
anet-viz neighbours -w "$T/m.anw" --query "$T/tree.lmdb" --gallery "$T/tree.lmdb" -k 7 -n 2 --device cpu -j 1 \
	-o "$T/n7.png" 2>/dev/null || fail "neighbours -k 7 failed"
cmp -s "$T/n7.png" "$T/n20.png" || fail "neighbours -k 20 of 7 possible is not the picture of -k 7"
echo "$DATA/tree/apple/apple-1.jpg 0" >"$T/one.txt"
printf 'apple\nbanana\ncherry\n' >"$T/tree-classes.txt"
imgprep -s 40 -l "$T/one.txt" --classes "$T/tree-classes.txt" 2>/dev/null | mkdb -q "$T/one.lmdb"
expect_exit 1 anet-viz neighbours -w "$T/m.anw" --query "$T/one.lmdb" --gallery "$T/one.lmdb" --device cpu -o "$T/x.png"
expect_err "one.lmdb: no gallery image to compare with: the queries are all it holds"
[ -e "$T/x.png" ] && fail "a picture of no neighbours was written"
# the mean a model carries
anet-viz mean "$T/m.anw" -o "$T/mean3.png"
png_at_least "$T/mean3.png" 400 200

# acts: every convolution by default: 14-pixel margins, a 28-pixel title, the 32x32 crop at 4x
# beside 420 pixels of text (576 wide), then per layer a 22-pixel caption and two groups of 4
# maps 24 pixels apart (conv1: 16x16 at 3x, conv2: 7x7 at 7x), 18 pixels between layers
anet-viz acts -w "$T/m.anw" "$DATA/photo-dog.jpg" --device cpu -j 1 -o "$T/a.png"
[ "$(png_size "$T/a.png")" = "576x506" ] || fail "acts: $(png_size "$T/a.png"), expected 576x506"
png_at_least "$T/a.png" 576 506
anet-viz acts -w "$T/m.anw" --db "$T/tree.lmdb" --key 2 --device cpu -o "$T/a2.png"
[ "$(png_size "$T/a2.png")" = "576x506" ] || fail "acts --db: $(png_size "$T/a2.png"), expected 576x506"
cmp -s "$T/a.png" "$T/a2.png" && fail "acts: an image and a record made the same picture"
anet-viz acts -w "$T/m.anw" --db "$T/tree.lmdb" --key 2 --layer pool1 --device cpu -o "$T/a3.png"
[ "$(png_size "$T/a3.png")" = "576x346" ] || fail "acts --layer pool1: $(png_size "$T/a3.png"), expected 576x346"
anet-viz acts -w "$T/m.anw" --db "$T/tree.lmdb" --key 2 --layer pool1 --layer conv2 --device cpu -o "$T/a4.png"
[ "$(png_size "$T/a4.png")" = "576x508" ] || fail "acts, two layers: $(png_size "$T/a4.png"), expected 576x508"
anet-viz acts -w "$T/m.anw" --db "$T/tree.lmdb" --key 2 --layer pool1 --layer conv2 --normalise layer \
	--device cpu -o "$T/a5.png"
[ "$(png_size "$T/a5.png")" = "576x508" ] || fail "acts --normalise layer: $(png_size "$T/a5.png")"
cmp -s "$T/a4.png" "$T/a5.png" && fail "acts: --normalise layer drew the same picture as map"
# --orientation exif turns the image's crop, so the picture differs
anet-viz acts -w "$T/m.anw" "$DATA/exif-6.jpg" --device cpu -o "$T/a6.png" 2>/dev/null || fail "acts exif-6.jpg failed"
anet-viz acts -w "$T/m.anw" "$DATA/exif-6.jpg" --orientation exif --device cpu -o "$T/a7.png" 2>/dev/null ||
	fail "acts --orientation exif failed"
cmp -s "$T/a6.png" "$T/a7.png" && fail "acts: --orientation exif drew the same picture"
expect_exit 2 anet-viz acts -w "$T/m.anw" --db "$T/tree.lmdb" --orientation exif -o "$T/x.png"
# a layer without maps, an unknown one (the model's layers listed), a key past the end
expect_exit 2 anet-viz acts -w "$T/m.anw" --db "$T/tree.lmdb" --layer fc3 --device cpu -o "$T/x.png"
expect_err "--layer fc3: a fc layer of 16 values has no maps to draw; anet-eval --features FILE --layer fc3"
expect_err "Try 'anet-viz acts --help'"
expect_exit 2 anet-viz acts -w "$T/m.anw" "$DATA/gray.jpg" --layer conv9 --device cpu -o "$T/x.png"
expect_err "m.anw has no such layer; its layers: data, conv1, relu1, pool1, conv2, relu2, fc3, relu3, drop3, fc4, prob"
expect_exit 1 anet-viz acts -w "$T/m.anw" --db "$T/tree.lmdb" --key 8 --device cpu -o "$T/x.png"
expect_err "tree.lmdb: --key 8 is past the end (8 records)"
expect_exit 1 anet-viz acts -w "$T/m.anw" "$DATA/bad-truncated.jpg" --device cpu -o "$T/x.png"
expect_err "bad-truncated.jpg"
expect_exit 1 anet-viz acts -w "$T/m.anw" --db "$T/fashion.lmdb" --device cpu -o "$T/x.png"
expect_err "fashion.lmdb"
expect_exit 2 anet-viz acts -w "$T/m.anw" "$DATA/gray.jpg"
expect_err "missing -o"
expect_exit 2 anet-viz acts -w "$T/m.anw" --db "$T/tree.lmdb" "$DATA/gray.jpg" -o "$T/x.png"
expect_exit 2 anet-viz acts -w "$T/m.anw" --key 1 "$DATA/gray.jpg" -o "$T/x.png"
expect_err "--key chooses a record of --db"
expect_exit 2 anet-viz acts -w "$T/m.anw" "$DATA/gray.jpg" --normalise kernel -o "$T/x.png"
expect_exit 2 anet-viz acts "$DATA/gray.jpg" -o "$T/x.png"
expect_err "missing -w MODEL"

# info: a model, a checkpoint, statistics and features, in one run; rows fit 100 columns
anet-viz info "$T/m.anw" "$T/m.ckpt" "$T/tree.stats" "$T/tree.anf" >"$T/info" 2>"$T/err" ||
	{ cat "$T/err"; fail "anet-viz info failed"; }
[ -s "$T/err" ] && fail "anet-viz info wrote to stderr: $(cat "$T/err")"
has() { grep -qE -- "$1" "$T/info" || { cat "$T/info"; fail "anet-viz info: no line matching '$1'"; }; }
has "^$T/m.anw: model, [0-9]+ bytes \(.*\), 24 entries$"
has "^network: 11 layers, 7243 parameters \(weights and biases\), 3 classes, 32x32x3 input$"
has "^records: 40x40x3, mirrored in training: yes, class names: yes$"
has "^trained on: $T/tree.lmdb$"
has "^  conv1.weight +f32 +8x3x5x5 +-?0\.0[0-9]+ +0\.0[0-9]+ "
has "^  class_names +text +20  3 lines: apple, banana, cherry$"
has "^$T/m.ckpt: checkpoint, "
has "^  train.step +i64 +scalar  6$"
has "^  fc4.bias.momentum +f32 +3 "
has "^$T/tree.stats: statistics, "
has "^  mean +f32 +40x40x3 "
has "^$T/tree.anf: features, "
has "^  features +f32 +8x16 "
grep -q "NaN/Inf" "$T/info" && fail "anet-viz info: NaN/Inf in a healthy model: $(grep NaN/Inf "$T/info")"
awk '/^  / && length > 100 { print; bad = 1 } END { exit bad }' "$T/info" || fail "anet-viz info: rows over 100 columns"
# a NaN written over conv1.weight's first value (its data 52 bytes after its name: 12 bytes of
# name, dtype, rank, 4 dimensions), the checksum made right again: gzip's trailer is the same
# CRC-32 of the bytes between the header and the trailer
need gzip gzip
cp "$T/m.anw" "$T/nan.anw"
at=$(grep -obUa 'conv1\.weight' "$T/nan.anw" | head -n 1 | cut -d: -f1)
printf '\000\000\300\177' | dd of="$T/nan.anw" bs=1 seek=$((at + 52)) conv=notrunc 2>/dev/null
size=$(wc -c <"$T/nan.anw")
tail -c +33 "$T/nan.anw" | head -c $((size - 36)) | gzip -c | tail -c 8 | head -c 4 |
	dd of="$T/nan.anw" bs=1 seek=$((size - 4)) conv=notrunc 2>/dev/null
anet-viz info "$T/nan.anw" >"$T/info" || fail "anet-viz info failed on a model holding a NaN"
has "^  conv1.weight +f32 +8x3x5x5 .*  NaN/Inf: 1$"
has "^NaN/Inf: 1 value in 1 tensor \(the first: conv1.weight\)"
# a truncated file: named, exit 1, and the next file still listed
set +e
anet-viz info "$T/cut.anw" "$T/tree.stats" >"$T/info" 2>"$T/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "anet-viz info on a truncated file exited $rc, expected 1"
expect_err "cut.anw: .*truncated"
has "^$T/tree.stats: statistics, "
expect_exit 1 anet-viz info "$T/rec.png"
expect_err "rec.png: not an anet tensor file"
expect_exit 2 anet-viz info
expect_err "missing FILE"
[ -e "$T/x.png" ] && fail "a failed run left $T/x.png"
no_temporaries
echo ok
