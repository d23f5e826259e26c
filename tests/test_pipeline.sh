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
# the demo (make demo: pipelines/fashion-mnist.sh) on the 64 fixture images, one epoch, into a
# folder with a space in its name
mkdir "$T/fmnist"
for s in train t10k; do
	cp "$DATA/fashion-64-images.idx.gz" "$T/fmnist/$s-images-idx3-ubyte.gz"
	cp "$DATA/fashion-64-labels.idx.gz" "$T/fmnist/$s-labels-idx1-ubyte.gz"
done
demo() { FASHION_MNIST_DIR=$T/fmnist ANET_DEMO_DIR="$T/de mo" ANET_DEMO_EPOCHS=1 sh "$ANET_TESTS/../pipelines/fashion-mnist.sh" "$@"; }
demo >"$T/demo.log" 2>&1 || { cat "$T/demo.log"; fail "the demo failed"; }
grep -q "^  test accuracy, 10 crops: *[0-9.]*%$" "$T/demo.log" || { cat "$T/demo.log"; fail "the demo's summary has no accuracy"; }
for f in model.anw train.tsv eval-1.txt eval-10.txt per-class.tsv summary.txt; do
	[ -s "$T/de mo/$f" ] || fail "the demo wrote no $f"
done
# a FASHION_MNIST_DIR without the files is said to be so; Debian's package, which fills its own
# folder, is not installed for it (apt-get and id stand-ins: as if root)
mkdir "$T/fake"
printf '#!/bin/sh\necho 0\n' >"$T/fake/id"
printf '#!/bin/sh\necho "apt-get $*" >>"%s"\n' "$T/apt.log" >"$T/fake/apt-get"
chmod +x "$T/fake/id" "$T/fake/apt-get"
expect_exit 1 env PATH="$T/fake:$PATH" FASHION_MNIST_DIR="$T/none" ANET_DEMO_DIR="$T/de mo" \
	sh "$ANET_TESTS/../pipelines/fashion-mnist.sh" --reuse
expect_err "the Fashion-MNIST files are not in $T/none"
[ -e "$T/apt.log" ] && fail "the demo ran apt-get for a FASHION_MNIST_DIR: $(cat "$T/apt.log")"
# a mistyped --reuse (anet-train's --resume) is refused, and the last run's outputs are kept
expect_exit 2 demo --resume
expect_err "unknown arguments: --resume; the only one is --reuse"
[ -s "$T/de mo/model.anw" ] && [ -d "$T/de mo/train.lmdb" ] || fail "a refused argument removed the demo's outputs"
demo --help | grep -q "^  *sh pipelines/fashion-mnist.sh \[--reuse" || fail "the demo's --help"
# an evaluation that fails stops the demo, before its summary (it was hidden behind tee, and the
# summary printed empty accuracies with exit status 0)
head -c 2000 "$T/de mo/model.anw" >"$T/cut" && mv "$T/cut" "$T/de mo/model.anw"
set +e
demo --reuse >"$T/demo.log" 2>&1
rc=$?
set -e
[ $rc = 1 ] || { cat "$T/demo.log"; fail "a failed evaluation in the demo: exit $rc, expected 1"; }
grep -q "anet-eval failed; .*de mo/eval-1.txt not written" "$T/demo.log" || { cat "$T/demo.log"; fail "no word of the failed evaluation"; }
grep -q "summary" "$T/demo.log" && fail "the demo printed its summary after a failed evaluation"
[ -e "$T/de mo/eval-1.txt" ] && fail "a failed evaluation left eval-1.txt"
echo ok
