#!/bin/sh
# ilsvrc2012.sh: the paper's experiment end to end, from an ILSVRC-2012 download to top-1/top-5
# error and the paper's figures.
#
#   sh pipelines/ilsvrc2012.sh ROOT          (or ILSVRC_ROOT=ROOT sh pipelines/ilsvrc2012.sh)
#
# ROOT holds the three parts of the download, unpacked:
#   ROOT/train/n01440764/n01440764_10026.JPEG ...   ILSVRC2012_img_train.tar (one tar per class)
#   ROOT/val/ILSVRC2012_val_00000001.JPEG ...       ILSVRC2012_img_val.tar
#   ROOT/ILSVRC2012_devkit_t12/data/{meta.mat,ILSVRC2012_validation_ground_truth.txt}
#
# Steps, each printed as it runs; each writes a marker in OUT/.done/ once its output is
# complete, so that a rerun after an interruption skips what is finished and anet-train goes
# on from its last checkpoint:
#   1 labels    the devkit's ILSVRC2012_IDs mapped to the sorted-WNID labels of the train
#               tree (pipelines/ilsvrc-devkit.py); refuses a devkit whose classes differ
#   2 train DB  imgprep (shorter side 256, centre crop, JPEG q90 payloads, all cores) | mkdb
#   3 val DB    the same from a list with the mapped labels and the same class table
#   4 stats     pcacolor: mean image and colour PCA
#   5 train     anet-train, the paper's schedule: lr 0.01 divided by 10 when the validation
#               error stops improving (--plateau, at most 3 times), about 90 epochs, batch 128,
#               on the best device; checkpoints every 30 minutes and at each epoch's end; once
#               for each of SEEDS
#   6 eval      anet-eval on the validation set: the centre crop and the paper's 10 crops; with
#               several SEEDS each model, then their ensemble (Table 2's "5 CNNs" row)
#   7 figures   anet-viz: first-layer filters (Figure 3), neighbours and predictions
#               (Figure 4), training curves, a contact sheet of the validation DB, the mean
#               image, the feature maps of one validation image; left out when anet-viz is
#               not built (it needs cairo), drawn by a rerun once it is
# Before step 2 it states the disk space and time it expects (from the image count and a
# timing of imgprep and anet-train --time on this machine; for a stopped run, from the step its
# log reached) and checks the free space.
#
# Settings (environment): OUT (default ./ilsvrc2012), TRAIN_DIR, VAL_DIR, DEVKIT, META (the
# devkit's meta.mat) or SYNSETS (a text mapping, "ILSVRC2012_ID WNID [words]" a line),
# GROUND_TRUTH, NET (alexnet or a spec file), EPOCHS (90), STEPS (stop at this global step
# instead), BATCH (128), LR (0.01), PLATEAU (2: epochs without improvement before a drop),
# SIZE (256), QUALITY (90), SEEDS (1; "1 2 3 4 5" trains five models, model.anw and
# model-seedN.anw, and evaluates them alone, eval-seedN-*crop.txt, and averaged,
# eval-ensemble-*crop.txt; the figures show the first seed's model; adding seeds to a
# finished run trains only the new ones), THREADS (all cores), DEVICE (auto), GALLERY
# (training images searched for the neighbours picture, 50000), NAMES (words: class names
# from the devkit's words, "tench"; wnid: the WNIDs), CHECK_SPACE (1), ESTIMATE (1), ANET_BIN
# (the programs' folder, else PATH), PYTHON (python3).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n '2,/^set -eu/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -eu/d'; }
case ${1:-} in -h | --help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
# one ROOT: a second argument (an output folder, say) is no setting; OUT is
[ $# -le 1 ] || { echo "ilsvrc2012: one ROOT expected, got $# arguments (the output folder is OUT=)" >&2; exit 2; }
ROOT=${1:-${ILSVRC_ROOT:-}}
if [ -z "$ROOT" ] && [ -z "${TRAIN_DIR:-}" ]; then
	usage >&2
	exit 2
fi
OUT=${OUT:-ilsvrc2012}
TRAIN_DIR=${TRAIN_DIR:-$ROOT/train}
VAL_DIR=${VAL_DIR:-$ROOT/val}
DEVKIT=${DEVKIT:-$ROOT/ILSVRC2012_devkit_t12}
SYNSETS=${SYNSETS:-}
META=${META:-$DEVKIT/data/meta.mat}
GROUND_TRUTH=${GROUND_TRUTH:-$DEVKIT/data/ILSVRC2012_validation_ground_truth.txt}
NET=${NET:-alexnet}
EPOCHS=${EPOCHS:-90}
STEPS=${STEPS:-}
BATCH=${BATCH:-128}
LR=${LR:-0.01}
PLATEAU=${PLATEAU:-2}
SIZE=${SIZE:-256}
SEEDS=${SEEDS:-1}
QUALITY=${QUALITY:-90}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 1)}
DEVICE=${DEVICE:-auto}
GALLERY=${GALLERY:-50000}
NAMES=${NAMES:-words}
CHECK_SPACE=${CHECK_SPACE:-1}
ESTIMATE=${ESTIMATE:-1}
PYTHON=${PYTHON:-python3}
if [ -n "${ANET_BIN:-}" ]; then PATH=$ANET_BIN:$PATH; fi

say() { printf '%s\n' "ilsvrc2012: $*" >&2; }
die() { say "$*"; exit 1; }
step() { say "== [$1/7] $2"; }
# the files of seed $1's model: seed 1's are model.anw, model.ckpt, train-log.tsv (the names of a
# run with one seed), the others' model-seedN.anw, ...
sfx() { if [ "$1" = 1 ]; then echo ""; else echo "-seed$1"; fi; }
done_mark() { : > "$OUT/.done/$1"; }
is_done() { [ -e "$OUT/.done/$1" ]; }
skip() { say "   done already ($1): skipped"; }

# SEEDS checked now, not when training reaches them, and kept one space apart: each a positive
# whole number without leading zeros (anet-train's --seed is at most 2^63 - 1; 18 digits here)
bad_seeds() { echo "ilsvrc2012: SEEDS='$SEEDS': $1" >&2; exit 2; }
list=""
set -f # a * in SEEDS is no file name
for seed in $SEEDS; do
	case $seed in *[!0-9]* | 0*) bad_seeds "expected positive whole numbers" ;; esac
	[ ${#seed} -le 18 ] || bad_seeds "$seed: more than 18 digits"
	case " $list " in *" $seed "*) bad_seeds "a seed given twice" ;; esac
	list="${list:+$list }$seed"
done
set +f
[ -n "$list" ] || bad_seeds "no seed"
SEEDS=$list
first=${SEEDS%% *}
todo=0 # models still to train
for p in imgprep mkdb pcacolor anet-train anet-eval; do
	command -v "$p" >/dev/null 2>&1 || die "$p not found: build anet (make) and set ANET_BIN or PATH"
done
# make leaves anet-viz out without cairo: a missing one costs the figures, not the run (said now,
# not after the training)
viz=1
command -v anet-viz >/dev/null 2>&1 ||
	{ viz=0; say "anet-viz not found (make builds it only with cairo: libcairo2-dev): no figures in step 7"; }
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (the devkit reader needs Python 3)"
[ -d "$TRAIN_DIR" ] || die "$TRAIN_DIR: no train tree (unpack ILSVRC2012_img_train.tar, then each class's tar into TRAIN/<WNID>/)"
[ -d "$VAL_DIR" ] || die "$VAL_DIR: no validation images (unpack ILSVRC2012_img_val.tar there)"
[ -f "$GROUND_TRUTH" ] || die "$GROUND_TRUTH: missing (unpack ILSVRC2012_devkit_t12.tar.gz)"
if [ -n "$SYNSETS" ]; then
	[ -f "$SYNSETS" ] || die "$SYNSETS: missing"
	map_opt=--synsets map_file=$SYNSETS
else
	[ -f "$META" ] || die "$META: missing (unpack ILSVRC2012_devkit_t12.tar.gz, or give SYNSETS=ID-WNID.txt)"
	map_opt=--meta map_file=$META
fi
mkdir -p "$OUT/.done" "$OUT/figures"
L=$OUT/labels

# ---------------------------------------------------------------------------------------------
step 1 "labels: devkit IDs -> sorted-WNID labels"
if is_done labels; then skip "$L"; else
	"$PYTHON" "$here/ilsvrc-devkit.py" --train "$TRAIN_DIR" --val "$VAL_DIR" "$map_opt" "$map_file" \
		--ground-truth "$GROUND_TRUTH" --names "$NAMES" --out "$L"
	done_mark labels
fi
ntrain=$(wc -l < "$L/train.list")
nval=$(wc -l < "$L/val.list")
nclasses=$(wc -l < "$L/classes.txt")

# ---------------------------------------------------------------------------------------------
# what it will take
kib_free() { df -Pk "$1" | awk 'NR == 2 { print $4 }'; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u); i = 1; while (b >= 1000 && i < 5) { b /= 1000; i++ }
	printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'; }
hours() { awk -v s="$1" 'BEGIN { if (s < 90) printf "%d s", s; else if (s < 5400) printf "%.0f min", s / 60;
	else if (s < 172800) printf "%.1f hours", s / 3600; else printf "%.1f days", s / 86400 }'; }

params=$(anet-train --net "$NET" --classes "$nclasses" --summary 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\) parameters.*/\1/p' | head -n 1)
[ -n "$params" ] || die "anet-train --summary --net $NET failed"
# about 20 KB a 256x256 JPEG record at q90 (ILSVRC: ~25 GB for 1.28 M), scaling with the area
rec=$(awk -v s="$SIZE" 'BEGIN { printf "%d", 20000 * s * s / 65536 + 600 }')
need=0
is_done train-db || need=$((need + ntrain * rec * 11 / 10))
is_done val-db || need=$((need + nval * rec * 11 / 10))
# each model still to train: the model, the best model and the checkpoint (weights and momentum)
for seed in $SEEDS; do is_done "train$(sfx "$seed")" || todo=$((todo + 1)); done
need=$((need + todo * params * 4 * 4))
say "plan: $nclasses classes, $ntrain training and $nval validation images, $NET ($params parameters)"
say "disk: about $(human $need) still to write into $OUT"
if [ "$CHECK_SPACE" = 1 ]; then
	free=$(( $(kib_free "$OUT") * 1024 ))
	[ "$free" -gt "$need" ] || die "$OUT: $(human "$free") free, about $(human $need) needed (CHECK_SPACE=0 to go on anyway)"
fi
if [ "$ESTIMATE" = 1 ] && [ $todo -gt 0 ]; then
	# the preparation rate, from the first 64 training images, on every core
	head -n 64 "$L/train.list" > "$OUT/.estimate.list"
	t0=$(date +%s.%N)
	imgprep -j "$THREADS" -s "$SIZE" --encode "jpeg:$QUALITY" -l "$OUT/.estimate.list" -r "$TRAIN_DIR" \
		--classes "$L/classes.txt" > /dev/null 2>&1 || true
	t1=$(date +%s.%N)
	rm -f "$OUT/.estimate.list"
	prep=$(awk -v a="$t0" -v b="$t1" -v n="$(( ntrain < 64 ? ntrain : 64 ))" -v t="$((ntrain + nval))" \
		'BEGIN { d = b - a; if (d <= 0) d = 0.001; printf "%d", t * d / n }')
	is_done val-db || say "time: preparing the images, about $(hours "$prep")"
	timing=$(anet-train --net "$NET" --classes "$nclasses" --time --batch "$BATCH" --iters 2 --device "$DEVICE" \
		--threads "$THREADS" 2>/dev/null || true)
	rate=$(printf '%s\n' "$timing" | sed -n 's/^train: \([0-9.]*\) img\/s.*/\1/p' | head -n 1)
	if [ -n "$rate" ]; then
		if [ -n "$STEPS" ]; then images=$((STEPS * BATCH)); else images=$((EPOCHS * ntrain)); fi
		# a stopped run goes on from its checkpoint, near its log's last step: only the rest is
		# to train (counted from the start, a rerun late in a run foretold the whole run again)
		left=0 resumed=""
		for seed in $SEEDS; do
			is_done "train$(sfx "$seed")" && continue
			at=0 slog=$OUT/train-log$(sfx "$seed").tsv
			if [ -f "$OUT/model$(sfx "$seed").ckpt" ] && [ -f "$slog" ]; then
				at=$(awk -F '\t' 'NR > 1 && $1 + 0 > s { s = $1 + 0 } END { print s + 0 }' "$slog")
			fi
			[ "$at" = 0 ] || resumed="$resumed, seed $seed from step $at"
			[ $((images - at * BATCH)) -le 0 ] || left=$((left + images - at * BATCH))
		done
		secs=$(awk -v n="$left" -v r="$rate" 'BEGIN { printf "%d", n / r }')
		device=$(printf '%s\n' "$timing" | sed -n 's/^timing .* on \(.*\): batch .*/\1/p' | head -n 1)
		models=""; [ $todo = 1 ] || models=" for $todo models"
		say "time: training, about $(hours "$secs")$models at $rate img/s${device:+ on $device}${resumed:+ (stopped runs going on: ${resumed#, })}"
	else
		say "time: anet-train --time gave no rate; no training estimate"
	fi
fi

# ---------------------------------------------------------------------------------------------
# prep_db STEP LIST DIR DB [MKDB OPTION]: imgprep | mkdb, the DB renamed into place only when
# imgprep too succeeded (a POSIX shell has no pipefail)
prep_db() {
	name=$1; list=$2; dir=$3; db=$4; shift 4
	if is_done "$name"; then skip "$db"; return; fi
	rm -rf "$db.new" "$OUT/.$name.status"
	{ imgprep -j "$THREADS" -s "$SIZE" --encode "jpeg:$QUALITY" -l "$list" -r "$dir" --classes "$L/classes.txt"
	  echo $? > "$OUT/.$name.status"; } | mkdb "$@" "$db.new"
	[ "$(cat "$OUT/.$name.status")" = 0 ] || { rm -rf "$db.new"; die "imgprep failed on $list; $db not written"; }
	rm -rf "$db" "$OUT/.$name.status"
	mv "$db.new" "$db"
	done_mark "$name"
}

step 2 "train DB: imgprep -j $THREADS -s $SIZE --encode jpeg:$QUALITY | mkdb"
prep_db train-db "$L/train.list" "$TRAIN_DIR" "$OUT/train.lmdb"
step 3 "val DB: the mapped labels, the same class table"
prep_db val-db "$L/val.list" "$VAL_DIR" "$OUT/val.lmdb" --no-shuffle

step 4 "pcacolor: mean image and colour PCA"
if is_done stats; then skip "$OUT/train.stats"; else
	pcacolor -j "$THREADS" -o "$OUT/train.stats" "$OUT/train.lmdb"
	done_mark stats
fi

# ---------------------------------------------------------------------------------------------
stopped() {
	rc=$?
	[ -f "$ckpt" ] && die "anet-train stopped (exit status $rc); run this script again to go on from $ckpt"
	die "anet-train failed (exit status $rc)"
}
if [ -n "$STEPS" ]; then span="$STEPS steps"; else span="$EPOCHS epochs"; fi
nseeds=$(echo $SEEDS | wc -w)
seeds=""; [ "$SEEDS" = 1 ] || seeds=", seeds $(echo $SEEDS)"
step 5 "anet-train: $NET, $span, batch $BATCH, lr $LR divided on plateaus, device $DEVICE$seeds"
models=""
for seed in $SEEDS; do
	model=$OUT/model$(sfx "$seed").anw ckpt=$OUT/model$(sfx "$seed").ckpt log=$OUT/train-log$(sfx "$seed").tsv
	models="$models $model"
	if is_done "train$(sfx "$seed")"; then skip "$model"; continue; fi
	[ "$nseeds" = 1 ] || say "   seed $seed: $model"
	if [ -n "$STEPS" ]; then length="--steps $STEPS"; else length="--epochs $EPOCHS"; fi
	if [ -f "$ckpt" ]; then
		say "   resuming from $ckpt"
		# shellcheck disable=SC2086
		anet-train --resume "$ckpt" $length --device "$DEVICE" --threads "$THREADS" -j "$THREADS" \
			--log "$log" -o "$model" --checkpoint "$ckpt" "$OUT/train.lmdb" || stopped
	else
		rm -f "$log"
		# shellcheck disable=SC2086
		anet-train --net "$NET" --stats "$OUT/train.stats" --val "$OUT/val.lmdb" --batch "$BATCH" $length \
			--lr "$LR" --plateau="$PLATEAU" --seed "$seed" --device "$DEVICE" --threads "$THREADS" -j "$THREADS" \
			--log "$log" -o "$model" --checkpoint "$ckpt" "$OUT/train.lmdb" || stopped
	fi
	[ -f "$model" ] || die "anet-train wrote no $model"
	done_mark "train$(sfx "$seed")"
done
model=$OUT/model$(sfx "$first").anw # the one the figures show

ens=""; [ "$nseeds" = 1 ] || ens=", each model and their ensemble"
step 6 "anet-eval: validation error, centre crop and 10 crops$ens"
# eval_to FILE CROPS MODEL...: anet-eval's report, moved into place whole; each model a -w of
# its own in "$@" (OUT may hold spaces)
eval_to() {
	out=$1 crops=$2; shift 2
	for m; do set -- "$@" -w "$m"; shift; done
	anet-eval "$@" --crops "$crops" --device "$DEVICE" "$OUT/val.lmdb" > "$out.tmp" ||
		{ rm -f "$out.tmp"; die "anet-eval failed; $out not written"; }
	mv "$out.tmp" "$out"
	sed 's/^/   /' "$out" >&2
}
# ensemble CROPS: every seed's model at once
ensemble() {
	set -- "$OUT/eval-ensemble-$1crop.txt" "$1"
	for seed in $SEEDS; do set -- "$@" "$OUT/model$(sfx "$seed").anw"; done
	eval_to "$@"
}
# the eval marker names the seeds: a run given more evaluates again
[ "$SEEDS" = 1 ] && mark=eval || mark=eval-seeds$(printf -- '-%s' $SEEDS)
if is_done "$mark"; then skip "$OUT/eval-*.txt"; else
	for seed in $SEEDS; do
		for crops in 1 10; do
			eval_to "$OUT/eval$(sfx "$seed")-${crops}crop.txt" "$crops" "$OUT/model$(sfx "$seed").anw"
		done
	done
	if [ "$nseeds" -gt 1 ]; then
		for crops in 1 10; do ensemble "$crops"; done
	fi
	done_mark "$mark"
fi

step 7 "anet-viz: filters, neighbours, predictions, curves, records, mean, acts"
F=$OUT/figures
# the marker names the model drawn: a run whose first seed is another draws its own
fmark=figures$(sfx "$first")
if [ "$nseeds" = 1 ]; then pics="pictures in $F/"; else pics="pictures of $model in $F/"; fi
if is_done "$fmark"; then skip "$F"; elif [ $viz = 0 ]; then
	say "   anet-viz not found: no figures (run this again once it is built to draw them)"
	pics="no pictures (no anet-viz)"
else
	anet-viz filters -w "$model" -o "$F/filters.png"
	anet-viz neighbours -w "$model" --query "$OUT/val.lmdb" --gallery "$OUT/train.lmdb" --random 1 \
		--gallery-limit "$GALLERY" --device "$DEVICE" -j "$THREADS" -o "$F/neighbours.png"
	anet-viz predictions -w "$model" --db "$OUT/val.lmdb" -n 8 --random 2 --device "$DEVICE" -o "$F/predictions.png"
	anet-viz curves "$OUT/train-log$(sfx "$first").tsv" --x epoch -o "$F/curves.png"
	anet-viz records "$OUT/val.lmdb" -n 32 --random 3 -o "$F/records.png"
	anet-viz mean "$OUT/train.stats" -o "$F/mean.png"
	anet-viz acts -w "$model" --db "$OUT/val.lmdb" --key 0 --device "$DEVICE" -o "$F/acts.png"
	done_mark "$fmark"
fi
if [ "$nseeds" = 1 ]; then
	say "finished: $model; $OUT/eval$(sfx "$first")-1crop.txt, $OUT/eval$(sfx "$first")-10crop.txt; $pics"
else
	say "finished:$models; $OUT/eval-*crop.txt (each model's, and eval-ensemble-*crop.txt: their averaged predictions); $pics"
fi
