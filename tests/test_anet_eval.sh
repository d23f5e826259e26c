#!/bin/sh
# test_anet_eval.sh: anet-eval on a model trained on the Fashion-MNIST fixture: 1, 5 and 10 crops, the
# header, per-class and confusion tables, features, images, refusals, usage errors.
. "$ANET_TESTS/lib/shtest.sh"

check_help anet-eval

fashion_fixture
anet-train --net "$DATA/tiny-gray28.net" --stats "$T/train.stats" --batch 16 --lr 0.02 --input-scale 0.015625 --steps 200 \
	--device cpu -q -o "$T/m.anw" "$T/train.lmdb" 2>"$T/err" || { cat "$T/err"; fail "training failed"; }

# a database, one crop and ten: the header says what was done
anet-eval -w "$T/m.anw" --device cpu "$T/train.lmdb" >"$T/one" 2>/dev/null || fail "anet-eval (1 crop) failed"
grep -q "^model: .*m.anw (model; 10 classes, trained on .*train.lmdb)" "$T/one" || fail "no model line: $(cat "$T/one")"
grep -q "^views: the centre 28x28 crop of 32x32 records" "$T/one" || fail "no views line"
grep -q "^preprocessing: the training mean image (32x32x1) subtracted, times 0.015625" "$T/one" || fail "no preprocessing line"
grep -q "^database: .*train.lmdb: 64 of 64 records, 32x32x1 raw" "$T/one" || fail "no database line"
err1=$(sed -n 's/^top-1 error: \([0-9.]*\) .*/\1/p' "$T/one")
[ -n "$err1" ] || fail "no top-1 error"
awk -v e="$err1" 'BEGIN { exit !(e < 0.5) }' || fail "top-1 error $err1 on the training images (chance 0.9)"
anet-eval -w "$T/m.anw" --crops 10 --device cpu --per-class "$T/pc.tsv" --confusion "$T/cm.tsv" \
	--features "$T/f.anf" "$T/train.lmdb" >"$T/ten" 2>/dev/null || fail "anet-eval (10 crops) failed"
grep -q "^views: 10 crops of 28x28 from 32x32 records (4 corners and the centre, each mirrored; softmax outputs averaged)" \
	"$T/ten" || fail "no 10-crop views line"
grep -q "^top-5 error: " "$T/ten" || fail "no top-5 error"
grep -q "^features: .*f.anf (64 x 32, layer fc3)" "$T/ten" || fail "no features line: $(cat "$T/ten")"
[ "$(head -n 1 "$T/pc.tsv")" = "$(printf 'class\tname\tcount\ttop1\ttop5')" ] || fail "per-class header"
[ "$(wc -l <"$T/pc.tsv")" = 11 ] || fail "per-class: not 10 rows"
grep -q "^9	Ankle boot	" "$T/pc.tsv" || fail "per-class: no Ankle boot row"
[ "$(awk -F'\t' 'NR > 1 { n += $3 } END { print n }' "$T/pc.tsv")" = 64 ] || fail "per-class counts do not add to 64"
head -n 1 "$T/cm.tsv" | grep -q "^true\\\\predicted	T-shirt/top	Trouser	" || fail "confusion header: $(head -n 1 "$T/cm.tsv")"
[ "$(awk -F'\t' 'NR > 1 { for (i = 2; i <= NF; i++) n += $i } END { print n }' "$T/cm.tsv")" = 64 ] ||
	fail "the confusion matrix does not count 64 images"
# the features file: 64 x 32 floats in a tensor file of kind 4 (features)
[ "$(od -An -tu4 -j12 -N4 "$T/f.anf" | tr -d ' ')" = 4 ] || fail "the features file is not of kind 4"
[ "$(stat -c %s "$T/f.anf")" -gt $((64 * 32 * 4)) ] || fail "the features file is too small"
# --layer: another layer's outputs, flattened; a name the network lacks is refused with the list
anet-eval -w "$T/m.anw" --device cpu --features "$T/c1.anf" --layer conv1 --limit 8 "$T/train.lmdb" >"$T/c1" 2>/dev/null ||
	fail "anet-eval --layer conv1 failed"
grep -q "^features: .*c1.anf (8 x [0-9]*, layer conv1)" "$T/c1" || fail "no conv1 features line: $(cat "$T/c1")"
[ "$(stat -c %s "$T/c1.anf")" -gt "$(stat -c %s "$T/f.anf")" ] || fail "conv1's features are not larger than fc3's"
expect_exit 2 anet-eval -w "$T/m.anw" --device cpu --features "$T/x.anf" --layer conv9 "$T/train.lmdb"
expect_err "\-\-layer conv9: .*m.anw has no such layer; its layers: data, conv1"
[ -e "$T/x.anf" ] && fail "a features file was written for an unknown layer"
expect_exit 2 anet-eval -w "$T/m.anw" --layer conv1 "$T/train.lmdb"
expect_err "\-\-layer chooses the layer of --features FILE"
anet-eval -w "$T/m.anw" --device cpu --limit 10 -q "$T/train.lmdb" >"$T/lim" || fail "--limit failed"
grep -q "^images: 10 " "$T/lim" || fail "--limit 10 evaluated $(cat "$T/lim")"
# an output onto the model or an input is refused, the file kept; one that cannot be created
# is refused before the evaluation
cp "$T/m.anw" "$T/keep.anw"
expect_exit 2 anet-eval -w "$T/keep.anw" --device cpu --per-class "$T/keep.anw" "$T/train.lmdb"
expect_err "\-\-per-class .*keep.anw is the model file (-w) itself"
expect_exit 2 anet-eval -w "$T/keep.anw" --device cpu --features "$T/keep.anw" "$T/train.lmdb"
cmp "$T/keep.anw" "$T/m.anw" || fail "an output onto -w replaced the model"
expect_exit 2 anet-eval -w "$T/m.anw" --device cpu --per-class "$T/t.tsv" --confusion "$T/./t.tsv" "$T/train.lmdb"
expect_err "\-\-confusion .*t.tsv is the file of --per-class too"
cp "$DATA/gray.jpg" "$T/keep.jpg"
expect_exit 2 anet-eval -w "$T/m.anw" --device cpu --features "$T/keep.jpg" "$T/keep.jpg"
expect_err "\-\-features .*keep.jpg is the input .*keep.jpg itself"
cmp "$T/keep.jpg" "$DATA/gray.jpg" || fail "--features onto an image replaced it"
expect_exit 1 anet-eval -w "$T/m.anw" --device cpu --confusion "$T/no/cm.tsv" "$T/train.lmdb"
expect_err "no/cm.tsv.tmp.[0-9]*: No such file or directory"
grep -q "evaluating" "$T/err" && fail "a table that cannot be written was found only after the evaluation"
# results that never arrived: a full disk, a closed standard output
expect_exit 1 anet-eval -w "$T/m.anw" --device cpu --limit 10 -q "$T/train.lmdb" >/dev/full
expect_err "standard output: write error: No space left on device"
expect_exit 1 anet-eval -w "$T/m.anw" --device cpu -q "$DATA/gray.jpg" >&-
expect_err "standard output: write error: Bad file descriptor"
# an empty output name is refused before the evaluation, not when the file takes its name
expect_exit 1 anet-eval -w "$T/m.anw" --device cpu -q --features "" "$T/train.lmdb" >"$T/out"
expect_err "the file to write has an empty name"
[ -s "$T/out" ] && fail "the evaluation ran with an empty --features: $(cat "$T/out")"
# a features file that cannot be written is said to be that, not rows lost to unreadable records
expect_exit 1 anet-eval -w "$T/m.anw" --device cpu -q --features /dev/full "$T/train.lmdb"
expect_err "/dev/full: write error: No space left on device"
grep -q "unreadable records" "$T/err" && fail "a full disk was blamed on unreadable records: $(cat "$T/err")"

# an unlabelled database: no tables to write, which is said rather than passed over
imgprep -s 32 -c 1 "$DATA/gray.jpg" "$DATA/photo-dog.jpg" 2>/dev/null | mkdb -q "$T/unl.lmdb"
expect_exit 1 anet-eval -w "$T/m.anw" --device cpu --features "$T/u.anf" --per-class "$T/u.tsv" "$T/unl.lmdb"
expect_err "unl.lmdb: the records have no labels: --per-class needs them"
[ -e "$T/u.anf" ] && fail "a refused run wrote its features"
anet-eval -w "$T/m.anw" --device cpu -q --features "$T/u.anf" "$T/unl.lmdb" || fail "features of an unlabelled database"

# an ensemble (-w twice): a model beside itself gives its own figures; beside another model,
# figures of their own, and the header names both
anet-train --net "$DATA/tiny-gray28.net" --stats "$T/train.stats" --batch 16 --lr 0.02 --input-scale 0.015625 --steps 60 \
	--seed 2 --device cpu -q -o "$T/m2.anw" "$T/train.lmdb" 2>"$T/err" || { cat "$T/err"; fail "training m2 failed"; }
anet-eval -w "$T/m.anw" -w "$T/m.anw" --device cpu "$T/train.lmdb" >"$T/twice" 2>/dev/null || fail "anet-eval -w m -w m failed"
grep -q "^ensemble: 2 models, their softmax outputs averaged" "$T/twice" || fail "no ensemble line: $(cat "$T/twice")"
[ "$(grep -c '^model: ' "$T/twice")" = 2 ] || fail "not a model line for each of the ensemble"
[ "$(grep -e '^top-' -e '^loss' "$T/twice")" = "$(grep -e '^top-' -e '^loss' "$T/one")" ] ||
	fail "a model beside itself: $(grep -e '^top-' -e '^loss' "$T/twice"), alone $(grep -e '^top-' -e '^loss' "$T/one")"
anet-eval -w "$T/m2.anw" --device cpu -q "$T/train.lmdb" >"$T/m2" || fail "anet-eval -w m2 failed"
anet-eval -w "$T/m.anw" -w "$T/m2.anw" --device cpu -q "$T/train.lmdb" >"$T/pair" || fail "anet-eval -w m -w m2 failed"
loss() { sed -n 's/^loss: //p' "$1"; }
[ "$(loss "$T/pair")" != "$(loss "$T/one")" ] && [ "$(loss "$T/pair")" != "$(loss "$T/m2")" ] ||
	fail "the ensemble's loss $(loss "$T/pair") is one of its models' ($(loss "$T/one"), $(loss "$T/m2"))"
expect_exit 2 anet-eval -w "$T/m.anw" -w "$T/m2.anw" --features "$T/e.anf" "$T/train.lmdb"
expect_err "\-\-features and --layer take one model"

# OMP_THREAD_LIMIT under --threads: OpenBLAS's GEMM, split for 2 threads and given 1, used to spin
# for ever
OMP_THREAD_LIMIT=1 timeout 120 anet-eval -w "$T/m.anw" --device cpu --threads 2 "$T/train.lmdb" >"$T/limited" 2>&1 ||
	fail "anet-eval under OMP_THREAD_LIMIT=1 --threads 2 failed or hung: $(cat "$T/limited")"
grep -q "^top-1 error: " "$T/limited" || fail "no result under OMP_THREAD_LIMIT=1: $(cat "$T/limited")"

# images: prepared as imgprep does, the top classes with names and probabilities
anet-eval -w "$T/m.anw" --device cpu -k 3 "$DATA/gray.jpg" "$DATA/photo-dog.jpg" >"$T/img" 2>/dev/null ||
	fail "anet-eval on images failed"
grep -q "^images: prepared as imgprep -s 32 -c 1 does" "$T/img" || fail "no preparation line for images"
grep -q "^$DATA/gray.jpg\$" "$T/img" || fail "no line for gray.jpg"
[ "$(grep -c '^  *[0-9.]*%  [0-9]  ' "$T/img")" = 6 ] || fail "expected 3 classes for each of 2 images: $(cat "$T/img")"
# a name with a newline, a tab or a backslash takes one line, in C escapes
odd=$(printf '%s/two\nlines\tand\\.jpg' "$T")
cp "$DATA/gray.jpg" "$odd"
anet-eval -w "$T/m.anw" --device cpu -k 2 "$odd" >"$T/img" 2>/dev/null || fail "anet-eval on an odd name failed"
grep -qF "$T/two\nlines\tand\\\\.jpg" "$T/img" || fail "the odd name is not escaped: $(cat "$T/img")"
[ "$(grep -c '^  *[0-9.]*%  [0-9]  ' "$T/img")" = 2 ] || fail "expected 2 classes for the odd name: $(cat "$T/img")"
grep -q "^lines" "$T/img" && fail "the newline of a name started a line"
expect_exit 1 anet-eval -w "$T/m.anw" --device cpu "$DATA/bad-truncated.jpg"
expect_err "bad-truncated.jpg"
# --orientation exif: the header says so, and a JPEG with the tag gives other probabilities
anet-eval -w "$T/m.anw" --device cpu -k 10 "$DATA/exif-6.jpg" >"$T/stored" 2>/dev/null || fail "anet-eval exif-6.jpg failed"
anet-eval -w "$T/m.anw" --device cpu -k 10 --orientation exif "$DATA/exif-6.jpg" >"$T/turned" 2>/dev/null ||
	fail "anet-eval --orientation exif failed"
grep -q "^images: prepared as imgprep -s 32 -c 1 --orientation exif does" "$T/turned" || fail "no --orientation in the header"
[ "$(grep '%' "$T/stored")" != "$(grep '%' "$T/turned")" ] || fail "--orientation exif changed nothing"
expect_exit 2 anet-eval -w "$T/m.anw" --orientation up "$DATA/exif-6.jpg"
expect_exit 2 anet-eval -w "$T/m.anw" --orientation exif "$T/train.lmdb"
expect_err "is for image files"

# refusals: a truncated model, a corrupt byte, a database of another record size, a stats file
head -c 3000 "$T/m.anw" >"$T/cut.anw"
expect_exit 1 anet-eval -w "$T/cut.anw" --device cpu "$T/train.lmdb"
expect_err "cut.anw: file is .* (truncated)"
cp "$T/m.anw" "$T/bad.anw"
printf '\377' | dd of="$T/bad.anw" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect_exit 1 anet-eval -w "$T/bad.anw" --device cpu "$T/train.lmdb"
expect_err "bad.anw: checksum mismatch"
imgprep --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-64-labels.idx" -s 36 2>/dev/null | mkdb -q "$T/big.lmdb"
expect_exit 1 anet-eval -w "$T/m.anw" --device cpu "$T/big.lmdb"
expect_err "big.lmdb: 36x36x1 records, but .*m.anw was trained on 32x32x1 records"
# an ensemble's models read the same records
pcacolor -q -o "$T/big.stats" "$T/big.lmdb"
anet-train --net "$DATA/tiny-gray28.net" --stats "$T/big.stats" --batch 16 --steps 2 --device cpu -q -o "$T/m36.anw" \
	"$T/big.lmdb" 2>"$T/err" || { cat "$T/err"; fail "training on 36x36 records failed"; }
expect_exit 1 anet-eval -w "$T/m.anw" -w "$T/m36.anw" --device cpu "$T/train.lmdb"
expect_err "m36.anw was trained on 36x36x1 records, .*m.anw on 32x32x1: an ensemble's models read the same records"
expect_exit 1 anet-eval -w "$T/train.stats" --device cpu "$T/train.lmdb"
expect_err "train.stats: is a statistics file, expected a model or a checkpoint"
# a diverged model (a NaN weight, put in through safetensors, which has no checksum) is not
# scored 100% because NaN compares false: its images count as errors and the loss is nan
anet-convert export -q "$T/m.anw" -o "$T/m.safetensors"
hlen=$(od -An -tu8 -N8 "$T/m.safetensors" | tr -d ' ')
off=$(head -c $((8 + hlen)) "$T/m.safetensors" | tail -c "$hlen" |
	sed -n 's/.*"conv1\.weight":{[^}]*"data_offsets":\[\([0-9]*\),.*/\1/p')
[ -n "$off" ] || fail "no offset of conv1.weight in the safetensors header"
printf '\000\000\300\177' | dd of="$T/m.safetensors" bs=1 seek=$((8 + hlen + off)) conv=notrunc 2>/dev/null
anet-convert import -q "$T/m.safetensors" -o "$T/nan.anw" || fail "importing the NaN model failed"
anet-eval -w "$T/nan.anw" --device cpu -q --per-class "$T/nan-pc.tsv" --confusion "$T/nan-cm.tsv" "$T/train.lmdb" \
	>"$T/nan" 2>"$T/err" || fail "anet-eval of the NaN model failed"
grep -q "^top-1 error: 1.0000 " "$T/nan" || fail "a NaN model's top-1 error: $(cat "$T/nan")"
grep -q "^top-5 error: 1.0000 " "$T/nan" || fail "a NaN model's top-5 error: $(cat "$T/nan")"
grep -q "^loss: nan" "$T/nan" || fail "a NaN model's loss: $(cat "$T/nan")"
expect_err "train.lmdb: 64 of 64 images have probabilities that are not numbers (NaN)"
# nor are they the first class's, right in the confusion matrix beside its top-1 error of 1
awk -F'\t' 'NR > 1 && $4 != "1.000000" { bad = 1 } END { exit bad }' "$T/nan-pc.tsv" ||
	fail "a NaN model's per-class top-1 errors: $(cat "$T/nan-pc.tsv")"
awk -F'\t' 'NR > 1 { for (i = 2; i <= NF; i++) if ($i != 0) bad = 1 } END { exit bad }' "$T/nan-cm.tsv" ||
	fail "a NaN model's records predicted a class in the confusion matrix: $(cat "$T/nan-cm.tsv")"
anet-eval -w "$T/m.anw" -w "$T/nan.anw" --device cpu -q "$T/train.lmdb" >"$T/nan" 2>/dev/null || fail "the ensemble failed"
grep -q "^top-1 error: 1.0000 " "$T/nan" || fail "an ensemble with a NaN model: $(cat "$T/nan")"
# a probability that underflowed to 0 costs -ln of the smallest float, 103.28, as in training
# (where it was 69.08 against training's 103.28, a log's val and train rows measured other
# losses): fc4's bias 1e30 for class 2 gives the 57 records of other classes a probability of 0
anet-convert export -q "$T/m.anw" -o "$T/sat.safetensors"
hlen=$(od -An -tu8 -N8 "$T/sat.safetensors" | tr -d ' ')
off=$(head -c $((8 + hlen)) "$T/sat.safetensors" | tail -c "$hlen" |
	sed -n 's/.*"fc4\.bias":{[^}]*"data_offsets":\[\([0-9]*\),.*/\1/p')
[ -n "$off" ] || fail "no offset of fc4.bias in the safetensors header"
printf '\312\362\111\161' | dd of="$T/sat.safetensors" bs=1 seek=$((8 + hlen + off + 8)) conv=notrunc 2>/dev/null
anet-convert import -q "$T/sat.safetensors" -o "$T/sat.anw" || fail "importing the saturated model failed"
anet-eval -w "$T/sat.anw" --device cpu -q "$T/train.lmdb" >"$T/sat" 2>"$T/err" || fail "anet-eval of the saturated model failed"
grep -q "^top-1 error: 0.8906 " "$T/sat" || fail "the saturated model's top-1 error: $(cat "$T/sat")"
grep -q "^loss: 91.982[0-9]$" "$T/sat" || fail "the saturated model's loss is not 57/64 x 103.2789: $(cat "$T/sat")"
# --top: of equal probabilities the lower class first, as the error rates rank them (a selection
# sort's swap put class 1 before class 0 here)
anet-eval -w "$T/sat.anw" --device cpu -q -k 4 "$DATA/gray.jpg" >"$T/sat" 2>"$T/err" || fail "--top on the saturated model failed"
[ "$(awk 'NR > 1 { printf "%s ", $2 }' "$T/sat")" = "2 0 1 3 " ] || fail "--top's order of equal probabilities: $(cat "$T/sat")"

# a model trained without mirror images says so: 5 crops are its test, and 10 warn
anet-train --net "$DATA/tiny-gray28.net" --stats "$T/train.stats" --batch 16 --lr 0.02 --input-scale 0.015625 --steps 20 \
	--no-flip --device cpu -q -o "$T/nf.anw" "$T/train.lmdb" 2>"$T/err" || { cat "$T/err"; fail "training --no-flip failed"; }
anet-eval -w "$T/nf.anw" --crops 5 --device cpu "$T/train.lmdb" >"$T/five" 2>"$T/err" || fail "anet-eval (5 crops) failed"
grep -q "^views: 5 crops of 28x28 from 32x32 records (4 corners and the centre, not mirrored; softmax outputs averaged)" \
	"$T/five" || fail "no 5-crop views line: $(cat "$T/five")"
! grep -q mirror "$T/err" || fail "5 crops of a --no-flip model warned: $(cat "$T/err")"
anet-eval -w "$T/nf.anw" --crops 10 --device cpu -q "$T/train.lmdb" >/dev/null 2>"$T/err" || fail "anet-eval (10 crops) failed"
expect_err "anet-eval: .*nf.anw was trained without mirror images (--no-flip): 5 of the 10 views are foreign to it; --crops 5 leaves them out"
anet-eval -w "$T/m.anw" --crops 10 --device cpu -q --limit 4 "$T/train.lmdb" >/dev/null 2>"$T/err" || fail "anet-eval (10 crops) failed"
! grep -q mirror "$T/err" || fail "10 crops of a model trained with mirrors warned: $(cat "$T/err")"

# a 1000-class model (the fixture's 10 classes among 1000 names) is shown the paper's numbers; a
# 10-class one and -q are not
(cat "$DATA/fashion-classes.txt"; i=10; while [ $i -lt 1000 ]; do echo "class $i"; i=$((i + 1)); done) >"$T/c1000.txt"
imgprep --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-64-labels.idx" -s 32 --classes "$T/c1000.txt" 2>/dev/null |
	mkdb -q "$T/k.lmdb"
pcacolor -o "$T/k.stats" "$T/k.lmdb" 2>/dev/null
anet-train --net "$DATA/tiny-gray28.net" --stats "$T/k.stats" --steps 2 --batch 8 --device cpu -q -o "$T/k.anw" \
	"$T/k.lmdb" 2>/dev/null || fail "training the 1000-class model failed"
anet-eval -w "$T/k.anw" --device cpu "$T/k.lmdb" >"$T/k" 2>/dev/null || fail "anet-eval of the 1000-class model failed"
grep -q "^  the paper's one CNN: 0.407 / 0.182" "$T/k" || fail "no paper numbers for 1000 classes: $(cat "$T/k")"
grep -q "for comparison" "$T/one" && fail "paper numbers for a 10-class model"
anet-eval -w "$T/k.anw" --device cpu -q "$T/k.lmdb" | grep -q "for comparison" && fail "paper numbers with -q"

# a checkpoint evaluates like its model
anet-eval -w "$T/m.ckpt" --device cpu -q "$T/train.lmdb" >"$T/ck" || fail "a checkpoint was not accepted"
[ "$(grep top-1 "$T/ck")" = "$(grep top-1 "$T/one")" ] || fail "the checkpoint and the model disagree"

# usage errors
# a --device that is none: named as the option's, at once (it was a runtime error, exit 1);
# ANET_DEVICE's is said to be that variable's
expect_exit 2 anet-eval -w "$T/m.anw" --device gpu "$T/train.lmdb"
expect_err "\-\-device: 'gpu' is none of auto, cpu, cuda"
expect_exit 1 env ANET_DEVICE=bogus anet-eval -w "$T/m.anw" "$T/train.lmdb"
expect_err "ANET_DEVICE: unknown device 'bogus'"
expect_exit 2 anet-eval "$T/train.lmdb"
expect_err "give -w MODEL"
expect_exit 2 anet-eval -w "$T/m.anw"
expect_err "nothing to evaluate"
expect_exit 2 anet-eval -w "$T/m.anw" --crops 3 "$T/train.lmdb"
expect_err "\-\-crops: 3: 1 (the centre), 10 (the paper's) or 5 (without mirrors) are possible"
expect_exit 2 anet-eval -w "$T/m.anw" --per-class "$T/x" "$DATA/gray.jpg"
expect_exit 2 anet-eval -w "$T/m.anw" "$T/train.lmdb" "$T/train.lmdb"
echo ok
