#!/bin/sh
# test_ilsvrc.sh: pipelines/ilsvrc2012.sh end to end on a tiny ILSVRC-shaped download
# (tests/make-ilsvrc-tree.sh): the devkit mapping and its refusal, every output, a rerun that
# skips finished steps, and a run killed during training that a rerun completes.
. "$ANET_TESTS/lib/shtest.sh"
[ -x "$ANET_BIN/anet-viz" ] || skip "anet-viz is not built (it needs cairo: libcairo2-dev)"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed (the devkit reader needs it)"
command -v setsid >/dev/null 2>&1 || skip "setsid not installed (util-linux)"
P=$ANET_TESTS/../pipelines/ilsvrc2012.sh
sh "$P" --help | grep -q "ROOT/val/ILSVRC2012_val_00000001.JPEG" || fail "--help does not describe the input"
expect_exit 2 sh "$P"
sh "$ANET_TESTS/make-ilsvrc-tree.sh" "$T/il"

# a tiny net on 32x32 crops of 40x40 records, 3 classes
export NET="$DATA/tiny-rgb32.net" SIZE=40 BATCH=4 LR=0.001 THREADS=2 DEVICE=cpu GALLERY=100 ANET_BIN
run() { # OUT STEPS: the pipeline's output in $T/OUT.log
	OUT=$T/$1 STEPS=$2 sh "$P" "$T/il" > "$T/$1.log" 2>&1
}
# a second argument is refused before anything is written, not taken for OUT and ignored
expect_exit 2 env OUT="$T/two" STEPS=1 sh "$P" "$T/il" "$T/out"
expect_err "one ROOT expected, got 2 arguments"
[ -e "$T/two" ] && fail "a refused command line wrote into OUT"

# a devkit whose classes differ from the train tree's is refused, naming both sides
set +e
OUT=$T/bad META=$T/il/bad-devkit/data/meta.mat STEPS=5 sh "$P" "$T/il" > "$T/bad.log" 2>&1
rc=$?
set -e
[ $rc = 1 ] || { cat "$T/bad.log"; fail "a mismatched devkit: exit $rc, expected 1"; }
grep -q "in the devkit, not in the train tree (1): n03126708" "$T/bad.log" || { cat "$T/bad.log"; fail "no list of the devkit's extra class"; }
grep -q "in the train tree, not in the devkit (1): n03126707" "$T/bad.log" || fail "no list of the tree's extra class"
[ -e "$T/bad/train.lmdb" ] && fail "a refused devkit still built a database"

# the whole pipeline
run a 12 || { cat "$T/a.log"; fail "the pipeline failed"; }
A=$T/a
for f in train.lmdb/data.mdb val.lmdb/data.mdb train.stats model.anw model.ckpt train-log.tsv eval-1crop.txt \
	eval-10crop.txt labels/classes.txt labels/val.list figures/filters.png figures/neighbours.png \
	figures/predictions.png figures/curves.png figures/records.png figures/mean.png figures/acts.png; do
	[ -s "$A/$f" ] || { cat "$T/a.log"; fail "$f is missing or empty"; }
done
for f in "$A"/figures/*.png; do
	[ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$f is not a PNG"
done
grep -q "^ilsvrc2012: disk: about " "$T/a.log" || fail "no disk estimate"
grep -q "^ilsvrc2012: time: training, about " "$T/a.log" || fail "no training time estimate"
grep -c "^ilsvrc2012: == \[[1-7]/7\]" "$T/a.log" | grep -qx 7 || fail "not every step was announced"
# all 9 training images made it (the CMYK JPEG and the PNG named .JPEG among them), the 6
# validation ones with the devkit's labels mapped to the sorted-WNID order, one class table
mkdb --info "$A/train.lmdb" > "$T/train.info"
mkdb --info "$A/val.lmdb" > "$T/val.info"
grep -q "^records: *9$" "$T/train.info" || { cat "$T/train.info"; fail "the train DB does not hold 9 records"; }
grep -q "^records: *6$" "$T/val.info" || fail "the val DB does not hold 6 records"
grep "^labels:" "$T/train.info" > "$T/l1"
grep "^labels:" "$T/val.info" > "$T/l2"
cmp -s "$T/l1" "$T/l2" || fail "train and val DBs have different class tables: $(cat "$T/l1") / $(cat "$T/l2")"
grep -q "crane (n02012849), Shetland sheepdog, crane (n03126707)" "$T/l1" || fail "class names: $(cat "$T/l1")"
printf '%s\n' "ILSVRC2012_val_00000001.JPEG 0" "ILSVRC2012_val_00000002.JPEG 1" "ILSVRC2012_val_00000003.JPEG 2" \
	"ILSVRC2012_val_00000004.JPEG 0" "ILSVRC2012_val_00000005.JPEG 2" "ILSVRC2012_val_00000006.JPEG 1" > "$T/want.list"
cmp -s "$A/labels/val.list" "$T/want.list" || fail "the validation labels are mapped wrongly: $(cat "$A/labels/val.list")"
# the text mapping gives the same labels
python3 "$ANET_TESTS/../pipelines/ilsvrc-devkit.py" --train "$T/il/train" --val "$T/il/val" \
	--synsets "$T/il/synsets.txt" --ground-truth "$T/il/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt" \
	--out "$T/text" 2>/dev/null
cmp -s "$T/text/val.list" "$T/want.list" || fail "the text mapping gives other labels"
grep -q "top-1" "$A/eval-10crop.txt" || fail "eval-10crop.txt holds no top-1 error"

# a rerun does nothing again
run a 12 || { cat "$T/a.log"; fail "the rerun failed"; }
[ "$(grep -c "done already" "$T/a.log")" = 7 ] || { cat "$T/a.log"; fail "the rerun did not skip all 7 steps"; }
grep -q "resuming\|^ilsvrc2012: time:" "$T/a.log" && { cat "$T/a.log"; fail "the rerun did work again"; }

# without anet-viz (make leaves it out without cairo) the run goes on without figures, and says
# so before it starts; a rerun with it draws them
mkdir "$T/noviz"
for p in imgprep mkdb pcacolor anet-train anet-eval; do ln -s "$ANET_BIN/$p" "$T/noviz/$p"; done
rm -r "$A/.done/figures" "$A/figures"
mkdir "$A/figures"
OUT=$T/a STEPS=12 ANET_BIN=$T/noviz PATH=$T/noviz:/usr/bin:/bin sh "$P" "$T/il" > "$T/nv.log" 2>&1 ||
	{ cat "$T/nv.log"; fail "a run without anet-viz failed"; }
head -n 1 "$T/nv.log" | grep -q "anet-viz not found (make builds it only with cairo" ||
	{ cat "$T/nv.log"; fail "a missing anet-viz was not said first"; }
grep -q "finished: .*; no pictures (no anet-viz)" "$T/nv.log" || { cat "$T/nv.log"; fail "the end of a run without anet-viz"; }
[ -e "$A/.done/figures" ] && fail "the figures were marked done without anet-viz"
run a 12 || { cat "$T/a.log"; fail "the rerun with anet-viz failed"; }
[ -s "$A/figures/filters.png" ] || { cat "$T/a.log"; fail "the rerun with anet-viz drew no figures"; }

# a second seed added to the finished run (Table 2's ensemble, in small): only the new model
# is trained, then every model is evaluated alone and the two together
OUT=$T/a STEPS=12 SEEDS="1 2" sh "$P" "$T/il" > "$T/s.log" 2>&1 || { cat "$T/s.log"; fail "SEEDS='1 2' failed"; }
grep -q "done already (.*a/model.anw): skipped" "$T/s.log" || { cat "$T/s.log"; fail "seed 1 was trained again"; }
for f in model-seed2.anw train-log-seed2.tsv eval-seed2-1crop.txt eval-seed2-10crop.txt eval-ensemble-1crop.txt \
	eval-ensemble-10crop.txt; do
	[ -s "$A/$f" ] || { cat "$T/s.log"; fail "SEEDS='1 2': $f is missing or empty"; }
done
grep -q "^ensemble: 2 models" "$A/eval-ensemble-10crop.txt" || fail "eval-ensemble-10crop.txt: $(cat "$A/eval-ensemble-10crop.txt")"
grep -q "^model: .*a/model-seed2.anw" "$A/eval-ensemble-10crop.txt" || fail "the ensemble does not name model-seed2.anw"
cmp -s "$A/model.anw" "$A/model-seed2.anw" && fail "seeds 1 and 2 trained the same model"
# seed 2 alone on that run: its evaluation is named, and the figures are drawn of its model
# (those of model.anw are not passed off as its)
OUT=$T/a STEPS=12 SEEDS=2 sh "$P" "$T/il" > "$T/s2.log" 2>&1 || { cat "$T/s2.log"; fail "SEEDS=2 failed"; }
grep -q "finished: .*a/model-seed2.anw; .*a/eval-seed2-1crop.txt, .*a/eval-seed2-10crop.txt; pictures in" "$T/s2.log" ||
	{ cat "$T/s2.log"; fail "SEEDS=2: the final message names other files"; }
[ -e "$A/.done/figures-seed2" ] || { cat "$T/s2.log"; fail "SEEDS=2: the figures of model.anw were kept as seed 2's"; }
# an OUT and a ROOT (so the devkit's meta.mat) with a space in them, seeds apart by a tab:
# each path and each model is one argument
ln -s il "$T/i l"
OUT="$T/o u" STEPS=4 SEEDS="2	3" sh "$P" "$T/i l" > "$T/u.log" 2>&1 || { cat "$T/u.log"; fail "OUT and ROOT with a space failed"; }
grep -q "^ensemble: 2 models" "$T/o u/eval-ensemble-1crop.txt" || fail "OUT with a space: no ensemble"
expect_exit 2 env OUT=$T/a SEEDS="1 x" sh "$P" "$T/il"
expect_err "SEEDS='1 x': expected positive whole numbers"
expect_exit 2 env OUT=$T/a SEEDS="2 2" sh "$P" "$T/il"
expect_err "a seed given twice"
expect_exit 2 env OUT=$T/a SEEDS=" 	" sh "$P" "$T/il"
expect_err "SEEDS=' 	': no seed"
expect_exit 2 env OUT=$T/a SEEDS=9223372036854775808000 sh "$P" "$T/il"
expect_err "more than 18 digits"
mkdir "$T/glob" && : > "$T/glob/3" # a * in SEEDS is no file name
expect_exit 2 sh -c 'cd "$1/glob" && OUT=$1/a SEEDS="*" sh "$2" "$1/il"' sh "$T" "$P"
expect_err "SEEDS='\*': expected positive whole numbers"

# killed during training: the rerun resumes from the checkpoint and finishes
OUT=$T/k STEPS=100000 setsid sh "$P" "$T/il" > "$T/k.log" 2>&1 &
pid=$!
i=0
until [ -f "$T/k/train-log.tsv" ] && [ "$(wc -l < "$T/k/train-log.tsv")" -ge 8 ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || { kill -TERM -$pid; cat "$T/k.log"; fail "training did not start within 60 s"; }
	kill -0 $pid 2>/dev/null || { cat "$T/k.log"; fail "the pipeline ended before it was interrupted"; }
	sleep 0.1
done
kill -TERM -$pid
wait $pid || true
# the shell ends at once, anet-train after its step and checkpoint: its log is complete then
i=0
while kill -0 -$pid 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "anet-train did not stop within 60 s of SIGTERM"
	sleep 0.1
done
[ -e "$T/k/.done/train" ] && fail "training was marked done after an interruption"
[ -s "$T/k/model.ckpt" ] || { cat "$T/k.log"; fail "no checkpoint after the interruption"; }
last=$(awk -F '\t' 'NR > 1 { s = $1 } END { print s }' "$T/k/train-log.tsv")
run k $((last + 12)) || { cat "$T/k.log"; fail "the rerun after the interruption failed"; }
grep -q "resuming from" "$T/k.log" || fail "the rerun did not resume from the checkpoint"
# its time estimate counts only the steps left
grep -q "^ilsvrc2012: time: training, about .* (stopped runs going on: seed 1 from step $last)$" "$T/k.log" ||
	{ cat "$T/k.log"; fail "the rerun's time estimate does not start from the stopped run's step $last"; }
grep "^ilsvrc2012: time: training, about " "$T/s.log" | grep -q -v "stopped runs going on" ||
	fail "a new seed's estimate: $(grep "time: training" "$T/s.log")"
[ "$(grep -c "done already" "$T/k.log")" = 4 ] || { cat "$T/k.log"; fail "the rerun did not skip the 4 steps before training"; }
[ -s "$T/k/figures/filters.png" ] && [ -e "$T/k/.done/figures" ] || fail "the resumed run did not finish"
first=$(awk -F '\t' 'NR == 2 { print $1 }' "$T/k/train-log.tsv")
[ "$(awk -F '\t' -v s="$first" '$1 == s && $3 == "train"' "$T/k/train-log.tsv" | wc -l)" = 1 ] ||
	fail "the resumed run started training again (two rows of step $first)"
[ "$(awk -F '\t' 'NR > 1 { s = $1 } END { print s }' "$T/k/train-log.tsv")" = $((last + 12)) ] ||
	fail "the resumed run did not train on to step $((last + 12))"

# an evaluation that fails stops the run and leaves no half-written report
rm "$T/k/.done/eval" "$T/k/eval-1crop.txt"
head -c 2000 "$T/k/model.anw" > "$T/k/cut" && mv "$T/k/cut" "$T/k/model.anw"
set +e
OUT=$T/k STEPS=$((last + 12)) sh "$P" "$T/il" > "$T/k.log" 2>&1
rc=$?
set -e
[ $rc = 1 ] || { cat "$T/k.log"; fail "a failed evaluation: exit $rc, expected 1"; }
grep -q "anet-eval failed; .*k/eval-1crop.txt not written" "$T/k.log" || { cat "$T/k.log"; fail "no word of the failed evaluation"; }
[ -e "$T/k/eval-1crop.txt.tmp" ] && fail "a failed evaluation left eval-1crop.txt.tmp"
[ -e "$T/k/eval-1crop.txt" ] && fail "a failed evaluation wrote eval-1crop.txt"
echo ok
