#!/bin/sh
# test_pipeline.sh: the whole pipeline on the fixtures, as a user runs it: imgprep -> mkdb -> pcacolor
# -> anet-train -> anet-eval (database, images, features) -> anet-viz (when built); RGB photos in
# JPEG records (the paper's path) and the Fashion-MNIST images in raw ones.
. "$ANET_TESTS/lib/shtest.sh"

# RGB: the class folders (apple, banana, cherry) as JPEG records of 40x40, 32x32 crops
imgprep -s 40 --encode jpeg:90 "$DATA/tree" 2>"$T/err" | mkdb -q "$T/fruit.lmdb" || { cat "$T/err"; fail "imgprep | mkdb"; }
pcacolor -o "$T/fruit.stats" "$T/fruit.lmdb" 2>/dev/null || fail "pcacolor"
cat >"$T/rgb.net" <<'NET'
# the paper's pattern, tiny: conv/relu/lrn/pool, a grouped conv, dropout fc layers
input size=32 channels=3
conv out=8 kernel=5 stride=2 pad=2 init=0.1
relu
lrn
pool size=3 stride=2
conv out=8 kernel=3 pad=1 groups=2 bias=0.1 init=0.15
relu
pool size=3 stride=2
fc out=16 bias=0.1 init=0.1
relu
dropout
fc out=classes init=0.1
softmax
NET
anet-train --net "$T/rgb.net" --stats "$T/fruit.stats" --val "$T/fruit.lmdb" --batch 4 --epochs 3 \
	--input-scale 0.02 --device cpu -j 2 --log "$T/fruit.tsv" -o "$T/fruit.anw" "$T/fruit.lmdb" 2>"$T/err" ||
	{ cat "$T/err"; fail "anet-train on JPEG records"; }
grep -q "training on .*fruit.lmdb .*8 records 40x40x3 jpeg, 3 classes" "$T/err" || fail "the start message"
[ "$(grep -c '	val	' "$T/fruit.tsv")" = 3 ] || fail "three epochs, three validations"
anet-eval -w "$T/fruit.anw" --crops 10 --device cpu "$T/fruit.lmdb" >"$T/eval" 2>/dev/null || fail "anet-eval on the database"
grep -q "^images: 8 " "$T/eval" || fail "anet-eval did not see 8 images: $(cat "$T/eval")"
anet-eval -w "$T/fruit.anw" --device cpu -k 2 --features "$T/img.anf" "$DATA/photo-dog.jpg" "$DATA/cmyk.jpg" \
	"$DATA/png-named.JPEG" >"$T/pred" 2>/dev/null || fail "anet-eval on images"
for c in apple banana cherry; do grep -q " $c\$" "$T/pred" && found=1; done
[ "${found:-0}" = 1 ] || fail "no class name in the predictions: $(cat "$T/pred")"
[ "$(grep -c '%' "$T/pred")" = 6 ] || fail "2 classes for each of 3 images expected"
[ -s "$T/img.anf" ] || fail "no features file for the images"

# gray: Fashion-MNIST, raw records upsampled to 30, as the demo
imgprep --idx "$DATA/fashion-64-images.idx.gz" "$DATA/fashion-64-labels.idx.gz" -s 30 \
	--classes "$DATA/fashion-classes.txt" 2>/dev/null | mkdb -q "$T/fm.lmdb"
pcacolor -o "$T/fm.stats" "$T/fm.lmdb" 2>/dev/null
anet-train --net "$ANET_TESTS/../pipelines/fashion-mnist.net" --stats "$T/fm.stats" --batch 16 --steps 6 --input-scale 0.015625 \
	--device cpu -q -o "$T/fm.anw" "$T/fm.lmdb" 2>"$T/err" || { cat "$T/err"; fail "the demo's network does not train"; }
anet-eval -w "$T/fm.anw" --device cpu --features "$T/fm.anf" "$T/fm.lmdb" >"$T/fmeval" 2>/dev/null ||
	fail "anet-eval on the demo's network"
grep -q "^top-1 error: " "$T/fmeval" || fail "no error rate for the demo's network"
grep -q "^features: .*(64 x " "$T/fmeval" || fail "no features for the demo's network"

# the first-layer filters, when anet-viz is built
if command -v anet-viz >/dev/null 2>&1; then
	anet-viz filters -w "$T/fruit.anw" -o "$T/filters.png" 2>"$T/err" || { cat "$T/err"; fail "anet-viz filters"; }
	[ "$(od -An -c -j1 -N3 "$T/filters.png" | tr -d ' ')" = PNG ] || fail "filters.png is not a PNG"
fi
echo ok
