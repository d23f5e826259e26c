#!/bin/sh
# test_anet_train.sh: anet-train on the Fashion-MNIST fixture: the log, SIGINT and --resume (the
# same weights as a run that never stopped), SIGHUP's checkpoint, --steps across a resume, --weight-decay and --momentum,
# --lr-decay, --erase, refusals, usage errors.
. "$ANET_TESTS/lib/shtest.sh"

check_help anet-train

# the fixture (shtest.sh) and a tiny net on its 28x28 crops
fashion_fixture
train() { anet-train --net "$DATA/tiny-gray28.net" --stats "$T/train.stats" --batch 8 --lr 0.02 --input-scale 0.015625 \
	--device cpu --threads 1 -j 2 "$@"; }

# a short run: the log's columns, a validation row per epoch, the files
train --steps 24 --val "$T/train.lmdb" --log "$T/log.tsv" -o "$T/m.anw" "$T/train.lmdb" 2>"$T/out" ||
	{ cat "$T/out"; fail "training failed"; }
[ "$(head -n 1 "$T/log.tsv")" = "$(printf 'step\tepoch\tkind\tloss\ttop1\ttop5\tlr\timg_per_s\tdata_wait\telapsed')" ] ||
	fail "the log's header is wrong: $(head -n 1 "$T/log.tsv")"
awk -F'\t' 'NR > 1 && NF != 10 { bad = 1 } END { exit bad }' "$T/log.tsv" || fail "a log row has not 10 columns"
[ "$(grep -c '	val	' "$T/log.tsv")" = 3 ] || fail "expected 3 validation rows (epochs of 8 steps)"
[ "$(grep -c '	train	' "$T/log.tsv")" -ge 3 ] || fail "no train rows"
tail -n 1 "$T/log.tsv" | grep -q '^24	3.0000	val	' || fail "the last row is not step 24's validation"
for f in m.anw m.ckpt m.best.anw; do [ -s "$T/$f" ] || fail "$f was not written"; done
grep -q "conv1 .*8x28x28" "$T/out" || fail "no layer table at the start"
grep -q "total for training" "$T/out" || fail "no memory estimate at the start"
grep -q "validation on .*top-1 error" "$T/out" || fail "no validation message"
grep -q "step 8: dead ReLUs (maps or features zero for all 8 images of the step): conv1 [0-9]*/8, conv2 [0-9]*/8, fc3 [0-9]*/32$" \
	"$T/out" || fail "no dead-ReLU line at the first report: $(grep -i dead "$T/out")"

# a row every --report-every steps and at each epoch's end (4 steps of 16)
train --steps 12 --batch 16 --report-every 3 --log "$T/rows.tsv" -o "$T/rows.anw" "$T/train.lmdb" 2>/dev/null ||
	fail "the run with --report-every 3 failed"
[ "$(awk -F'\t' 'NR > 1 { printf "%s ", $1 }' "$T/rows.tsv")" = "3 4 6 8 9 12 " ] ||
	fail "--report-every 3: rows at steps $(awk -F'\t' 'NR > 1 { printf "%s ", $1 }' "$T/rows.tsv")"

# img_per_s is the steps' rate: a validation 40 times the size of the training set, at each epoch
# end, made the first row after it read about 30 times too slow when its seconds counted
imgprep --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-64-labels.idx" -s 32 --classes "$DATA/fashion-classes.txt" \
	-o "$T/train.rec" 2>/dev/null
for i in $(seq 40); do cat "$T/train.rec"; done | mkdb -q "$T/val40.lmdb"
train --steps 16 --batch 16 --report-every 2 --val "$T/val40.lmdb" --log "$T/rate.tsv" -o "$T/rate.anw" \
	"$T/train.lmdb" 2>/dev/null || fail "the run with a large --val failed"
awk -F'\t' '$3 == "train" { r[++n] = $8; after[n] = prev == "val" } { prev = $3 }
	END { for (i = 1; i <= n; i++) if (!after[i] && (min == "" || r[i] < min)) min = r[i]
	      for (i = 1; i <= n; i++) if (after[i] && r[i] < min / 4) bad = 1; exit bad }' "$T/rate.tsv" ||
	fail "a row after a validation counts its time: $(cut -f 1,3,8 "$T/rate.tsv" | tr '\n' ' ')"

# --health: a row per learned layer and report, and the same weights as the run without it;
# a resumed run keeps writing it
train --steps 16 --health "$T/h.tsv" -o "$T/hm.anw" "$T/train.lmdb" 2>/dev/null || fail "--health run failed"
train --steps 16 -o "$T/nh.anw" "$T/train.lmdb" 2>/dev/null || fail "the run without --health failed"
cmp "$T/hm.anw" "$T/nh.anw" || fail "--health changed the weights"
[ "$(head -n 1 "$T/h.tsv")" = "$(printf 'step\tepoch\tlayer\tweight_abs\tupdate_abs\tupdate_ratio\tbias_mean\tunits\tdead\tzero_share')" ] ||
	fail "the health log's header is wrong: $(head -n 1 "$T/h.tsv")"
[ "$(awk -F'\t' 'NR > 1 && NF == 10' "$T/h.tsv" | wc -l)" = 8 ] || fail "not 8 rows (2 reports, 4 layers): $(cat "$T/h.tsv")"
awk -F'\t' 'NR > 1 && $3 == "fc4" && $8 != "" { bad = 1 } NR > 1 && $3 == "fc3" && $8 != 32 { bad = 1 } END { exit bad }' \
	"$T/h.tsv" || fail "units: fc3 has 32, fc4 (no ReLU) none: $(cat "$T/h.tsv")"
expect_exit 1 train --steps 4 --health "$T/same.tsv" --log "$T/same.tsv" -o "$T/same.anw" "$T/train.lmdb"
expect_err "health .*same.tsv: the same file as --log"
# nor may two outputs share a file, which the later write would replace (the log under the
# model, the checkpoint under the model or the best model), written or not yet
expect_exit 1 train --steps 4 --log "$T/o.anw" -o "$T/o.anw" "$T/train.lmdb"
expect_err "\-\-log .*o.anw: the same file as -o"
expect_exit 1 train --steps 4 --checkpoint "$T/o.anw" -o "$T/./o.anw" "$T/train.lmdb"
expect_err "the checkpoint .*o.anw: the same file as -o"
expect_exit 1 train --steps 4 --val "$T/train.lmdb" --checkpoint "$T/o.best.anw" -o "$T/o.anw" "$T/train.lmdb"
expect_err "the best model .*o.best.anw: the same file as the checkpoint"
expect_exit 1 train --steps 4 --health "$T/o.ckpt" -o "$T/o.anw" "$T/train.lmdb"
expect_err "\-\-health .*o.ckpt: the same file as the checkpoint"
[ -e "$T/o.anw" ] || [ -e "$T/o.ckpt" ] && fail "a refused run wrote a file"
anet-train --resume "$T/hm.ckpt" --steps 24 --device cpu --threads 1 2>"$T/err" || { cat "$T/err"; fail; }
expect_err "resume: health .*h.tsv (from the checkpoint)"
[ "$(awk -F"\t" "NR > 1" "$T/h.tsv" | wc -l)" = 16 ] || fail "the resumed run did not append its reports (steps 20, 24)"

# signalled_run NAME SIG [OPTION]...: the fixture's run of 800 steps (as train), logging to
# $T/NAME.tsv, sent SIG once 4 lines are there; $rc is its exit status, $T/NAME.err its stderr.
# anet-train itself goes to the background, not the train function, whose subshell (ignoring
# SIGINT, as the shell's background jobs do) would take the signal instead.
signalled_run() {
	name=$1 sig=$2
	shift 2
	anet-train --net "$DATA/tiny-gray28.net" --stats "$T/train.stats" --batch 8 --lr 0.02 --input-scale 0.015625 \
		--device cpu --threads 1 -j 2 --steps 800 --log "$T/$name.tsv" -o "$T/$name.anw" "$@" "$T/train.lmdb" \
		2>"$T/$name.err" &
	pid=$!
	i=0
	while [ "$({ wc -l <"$T/$name.tsv"; } 2>/dev/null || echo 0)" -lt 4 ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	kill -"$sig" $pid
	set +e; wait $pid; rc=$?; set -e
}

# SIGINT in the middle of a run: exit 130, a checkpoint, and --resume ends with the same weights
train --steps 800 -o "$T/straight.anw" "$T/train.lmdb" 2>/dev/null || fail "the straight run failed"
signalled_run int INT
[ $rc = 130 ] || { cat "$T/int.err"; fail "SIGINT: exit $rc, expected 130"; }
grep -q "interrupted at step" "$T/int.err" || fail "SIGINT: no message"
[ -s "$T/int.ckpt" ] || fail "SIGINT: no checkpoint"
[ -e "$T/int.anw" ] && fail "SIGINT: a model was written for an unfinished run"
stopped=$(tail -n 1 "$T/int.tsv" | cut -f 1)
[ "$stopped" -lt 800 ] || fail "the run ended before the signal (make it longer)"
# the stopped run's command again, without --resume: refused, the checkpoint and log kept
cp "$T/int.ckpt" "$T/int.ckpt.before"
cp "$T/int.tsv" "$T/int.tsv.before"
expect_exit 1 train --steps 800 --log "$T/int.tsv" -o "$T/int.anw" "$T/train.lmdb"
expect_err "int.ckpt: the checkpoint of a run stopped at step [0-9]* of 800: this new run would replace it"
expect_err "HINT: anet-train --resume .*int.ckpt goes on with that run"
cmp -s "$T/int.ckpt" "$T/int.ckpt.before" && cmp -s "$T/int.tsv" "$T/int.tsv.before" ||
	fail "a new run refused for the stopped run's checkpoint changed its files"
anet-train --resume "$T/int.ckpt" --device cpu --threads 1 2>"$T/resume.err" || { cat "$T/resume.err"; fail "--resume failed"; }
grep -q "resume: batch 8 (from the checkpoint)" "$T/resume.err" || fail "--resume does not say what it takes"
cmp "$T/straight.anw" "$T/int.anw" || fail "interrupted and resumed: the weights differ from the straight run's"
tail -n 1 "$T/int.tsv" | grep -q '^800	' || fail "the resumed run did not end at step 800"

# SIGHUP: a checkpoint in the middle of the run, which goes on to the same weights as the straight run
signalled_run hup HUP
[ $rc = 0 ] || { cat "$T/hup.err"; fail "SIGHUP: exit $rc, expected the run to go on to its end"; }
grep -q "step [0-9]*: checkpoint .*hup.ckpt written (SIGHUP" "$T/hup.err" ||
	fail "SIGHUP: no checkpoint message (or the run ended before the signal: make it longer): $(cat "$T/hup.err")"
cmp "$T/straight.anw" "$T/hup.anw" || fail "SIGHUP's checkpoint changed the run's weights"

# SIGUSR1: the rate divided by --lr-drop from the next step on, in the log and the checkpoint
signalled_run usr1 USR1 --report-every 4
[ $rc = 0 ] || { cat "$T/usr1.err"; fail "SIGUSR1: exit $rc"; }
grep -q "SIGUSR1: learning rate divided by 10 to 0.002$" "$T/usr1.err" || fail "SIGUSR1: no message: $(cat "$T/usr1.err")"
[ "$(awk -F'\t' 'NR == 2 { print $7 }' "$T/usr1.tsv")" = 0.02 ] || fail "SIGUSR1: the first row's rate is not 0.02"
[ "$(awk -F'\t' '$3 == "train" { r = $7 } END { print r }' "$T/usr1.tsv")" = 0.002 ] ||
	fail "SIGUSR1: the last row's rate is not 0.002: $(tail -n 2 "$T/usr1.tsv")"
anet-train --resume "$T/usr1.ckpt" --steps 804 --device cpu --threads 1 2>"$T/err" || { cat "$T/err"; fail "resume after SIGUSR1"; }
grep -q "lr 0.002" "$T/err" || fail "the resumed run does not keep the dropped rate: $(cat "$T/err")"

# a run stopped without its checkpoint (a second SIGINT, a crash) logged steps past the one it
# resumes from: those rows, and a row cut short, are cut off, and the log reads as the straight run's
train --steps 20 --report-every 2 --log "$T/cs.tsv" --health "$T/cs.h" -o "$T/cs.anw" "$T/train.lmdb" 2>/dev/null ||
	fail "the straight run failed"
train --steps 10 --report-every 2 --log "$T/cut.tsv" --health "$T/cut.h" -o "$T/cut.anw" "$T/train.lmdb" 2>/dev/null ||
	fail "the run to step 10 failed"
cp "$T/cut.ckpt" "$T/cut10.ckpt"
anet-train --resume "$T/cut.ckpt" --steps 16 --device cpu --threads 1 2>/dev/null || fail "the resume to step 16 failed"
printf '17\t2.1' >>"$T/cut.tsv"
cp "$T/cut10.ckpt" "$T/cut.ckpt"
anet-train --resume "$T/cut.ckpt" --steps 20 --device cpu --threads 1 2>"$T/err" || { cat "$T/err"; fail "the resume from step 10 failed"; }
expect_err "resume: .*cut.tsv: 4 rows past step 10, logged before the run stopped without their checkpoint, cut off"
expect_err "resume: .*cut.h: 12 rows past step 10"
[ "$(cut -f 1-7 "$T/cut.tsv")" = "$(cut -f 1-7 "$T/cs.tsv")" ] ||
	fail "the log of the resumed run is not the straight run's: $(cut -f 1,3 "$T/cut.tsv" | tr '\n' ' ')"
[ "$(cut -f 1-3 "$T/cut.h")" = "$(cut -f 1-3 "$T/cs.h")" ] || fail "the health log of the resumed run is not the straight run's"

# --lr-steps with rates: set, not divided, when a step starts at or past each milestone
train --steps 16 --report-every 4 --lr-steps 6s:0.005,10s:0.001 --log "$T/sched.tsv" -o "$T/sched.anw" "$T/train.lmdb" \
	2>"$T/err" || { cat "$T/err"; fail "--lr-steps with rates failed"; }
[ "$(awk -F'\t' '$3 == "train" { printf "%s ", $7 }' "$T/sched.tsv")" = "0.02 0.005 0.001 0.001 " ] ||
	fail "--lr-steps 6s:0.005,10s:0.001: rates $(awk -F'\t' '$3 == "train" { printf "%s ", $7 }' "$T/sched.tsv")"
grep -q "milestone 2 of --lr-steps: learning rate 0.001" "$T/err" || fail "no message for the second milestone"

# --net on resume changes nothing (the checkpoint holds the network and its weights): it says
# so, and the checkpoint goes on naming the network the run has
anet-train --resume "$T/sched.ckpt" --steps 18 --net "$DATA/tiny-rgb32.net" --device cpu --threads 1 2>"$T/err" ||
	{ cat "$T/err"; fail "resume with --net failed"; }
expect_err "resume: --net .*tiny-rgb32.net has no effect: the network is the checkpoint's (from .*tiny-gray28.net)"
grep -q "overrides the checkpoint's .*tiny-gray28.net" "$T/err" && fail "--net on resume reported as an override"
anet-train --resume "$T/sched.ckpt" --steps 20 --device cpu --threads 1 2>"$T/err" || { cat "$T/err"; fail; }
expect_err "resume: net .*tiny-gray28.net (from the checkpoint)"

# --steps given again on resume ends where it says; an override is reported
train --steps 10 -o "$T/s.anw" "$T/train.lmdb" 2>/dev/null
anet-train --resume "$T/s.ckpt" --steps 20 --log "$T/s.tsv" --device cpu --threads 1 2>"$T/err" || { cat "$T/err"; fail; }
grep -q "resume: --steps 20 overrides the checkpoint's 10" "$T/err" || fail "the override is not reported"
tail -n 1 "$T/s.tsv" | grep -q '^20	' || fail "the resumed run did not stop at step 20"

# --weight-decay and --momentum change the update, and a checkpoint keeps them: a run stopped at
# step 10 and resumed without them ends with the weights of one that went straight to 20
train --steps 20 -o "$T/d.anw" "$T/train.lmdb" 2>/dev/null || fail "the default run failed"
train --steps 20 --weight-decay 0.01 --momentum 0.5 -o "$T/h20.anw" "$T/train.lmdb" 2>/dev/null ||
	fail "--weight-decay/--momentum run failed"
cmp -s "$T/d.anw" "$T/h20.anw" && fail "--weight-decay 0.01 --momentum 0.5 left the weights as the defaults do"
train --steps 10 --weight-decay 0.01 --momentum 0.5 -o "$T/h.anw" "$T/train.lmdb" 2>/dev/null
anet-train --resume "$T/h.ckpt" --steps 20 --device cpu --threads 1 2>"$T/err" || { cat "$T/err"; fail; }
expect_err "resume: weight_decay 0.01 (from the checkpoint)"
expect_err "resume: momentum 0.5 (from the checkpoint)"
cmp "$T/h20.anw" "$T/h.anw" || fail "resumed with the checkpoint's decay and momentum: the weights differ"
train --steps 20 --erase 1 -o "$T/e20.anw" "$T/train.lmdb" 2>"$T/err" || { cat "$T/err"; fail "--erase 1 failed"; }
expect_err "random erasing on 1 of them"
cmp -s "$T/d.anw" "$T/e20.anw" && fail "--erase 1 left the weights as the defaults do"

# --lr-decay: the log's rate (the one each step used) follows the curve to 0 at the run's end,
# from steps (cosine) or epochs of 8 steps (linear); a checkpoint keeps it, and a run resumed
# half way ends with the weights of a straight one (random erasing too)
train --steps 24 --lr-decay cosine --report-every 1 --log "$T/cos.tsv" -o "$T/cos.anw" "$T/train.lmdb" 2>/dev/null ||
	fail "--lr-decay cosine failed"
awk -F'\t' -v pi=3.141592653589793 'NR > 1 && $3 == "train" {
	want = 0.02 * 0.5 * (1 + cos(pi * ($1 - 1) / 24)); d = $7 - want
	if (d > 2e-7 || -d > 2e-7) { print "step " $1 ": lr " $7 ", expected " want; bad = 1 }
	n++ } END { exit bad || n != 24 }' "$T/cos.tsv" || fail "--lr-decay cosine: the rates are not the curve's"
train --epochs 2 --lr-decay linear --report-every 1 --log "$T/lin.tsv" -o "$T/lin.anw" "$T/train.lmdb" 2>/dev/null ||
	fail "--lr-decay linear failed"
awk -F'\t' 'NR > 1 && $3 == "train" { want = 0.02 * (1 - ($1 - 1) / 16); d = $7 - want
	if (d > 2e-7 || -d > 2e-7) { print "step " $1 ": lr " $7 ", expected " want; bad = 1 }
	n++ } END { exit bad || n != 16 }' "$T/lin.tsv" || fail "--lr-decay linear: the rates are not the line's"
# (--steps 10 stops the 3 epochs' curve at step 10; resumed with --steps 24, its end)
train --epochs 3 --lr-decay cosine --erase 0.5 -o "$T/c24.anw" "$T/train.lmdb" 2>/dev/null
train --epochs 3 --steps 10 --lr-decay cosine --erase 0.5 -o "$T/c10.anw" "$T/train.lmdb" 2>/dev/null
anet-train --resume "$T/c10.ckpt" --steps 24 --device cpu --threads 1 2>"$T/err" || { cat "$T/err"; fail; }
expect_err "resume: lr_decay cosine (from the checkpoint)"
expect_err "resume: erase 0.5 (from the checkpoint)"
cmp "$T/c24.anw" "$T/c10.anw" || fail "--lr-decay cosine resumed: the weights differ from the straight run's"

# a diverged run stops at the first step whose loss is NaN, not at the next checkpoint's check
# of the weights (NaN probabilities read as underflows gave a finite loss, 103.28): at --lr 100
# the weights turn NaN in the third epoch of 8 steps, which ends at step 24
expect_exit 1 train --lr 100 --steps 200 --log "$T/div.tsv" -o "$T/div.anw" --checkpoint "$T/div.ckpt" "$T/train.lmdb"
expect_err "step 1[7-9]: the loss is not finite (NaN or Inf): stopping"
awk -F'\t' 'NR > 1 && $4 + 0 > 103 { bad = 1 } END { exit bad }' "$T/div.tsv" ||
	fail "a diverged run logged the loss of NaN probabilities: $(cut -f 1,4 "$T/div.tsv" | tr '\n' ' ')"

# a checkpoint names itself relative to the folder its run started in: resumed from another
# folder (or a copy under another name) it would start a new checkpoint there, and is refused
mkdir "$T/away"
(cd "$T" && train --steps 4 -o rel.anw "$T/train.lmdb" 2>/dev/null) || fail "the run with relative names failed"
(cd "$T/away" && set +e && anet-train --resume ../rel.ckpt --steps 8 --device cpu 2>"$T/err"; echo $? >"$T/rc")
[ "$(cat "$T/rc")" = 1 ] || { cat "$T/err"; fail "resumed from another folder: exit $(cat "$T/rc"), expected 1"; }
expect_err "\.\./rel.ckpt: the run's checkpoint is rel.ckpt, which from here is no file (was the run started in another folder?)"
[ -e "$T/away/rel.ckpt" ] && fail "a run resumed from another folder wrote a new checkpoint there"
cp "$T/rel.ckpt" "$T/copy.ckpt"
expect_exit 1 anet-train --resume "$T/copy.ckpt" --steps 8 --device cpu
expect_err "copy.ckpt: the run's checkpoint is rel.ckpt, which from here is "
anet-train --resume "$T/copy.ckpt" --checkpoint "$T/copy.ckpt" -o "$T/copy.anw" --steps 8 --device cpu 2>"$T/err" ||
	{ cat "$T/err"; fail "resuming a copy with --checkpoint failed"; }
(cd "$T" && anet-train --resume rel.ckpt --steps 8 --device cpu 2>"$T/err") || { cat "$T/err"; fail "resuming in the run's folder failed"; }

# refusals
expect_exit 1 anet-train --resume "$T/m.anw" --device cpu
expect_err "m.anw: is a model (weights only), not a checkpoint"
expect_err "HINT: to start a new run from these weights, give --init-from"
head -c 2000 "$T/m.ckpt" >"$T/cut.ckpt"
expect_exit 1 anet-train --resume "$T/cut.ckpt" --device cpu
expect_err "cut.ckpt: file is .* (truncated)"
expect_exit 1 train --steps 1 "$T/missing.lmdb"
expect_err "missing.lmdb"
# a log that cannot be written: refused before the first step; rows lost later (a disk that
# fills, here a 4 KiB tmpfs where root may mount one) are said, and the run ends in failure
expect_exit 1 train --steps 4 --log /dev/full -o "$T/full.anw" "$T/train.lmdb"
expect_err "/dev/full: write error: No space left on device"
expect_exit 1 train --steps 4 --health /dev/full -o "$T/full.anw" "$T/train.lmdb"
expect_err "/dev/full: write error: No space left on device"
# an output that is an input, or that cannot be created, is refused before the first step
cp "$T/train.stats" "$T/copy.stats"
expect_exit 1 train --steps 4 --stats "$T/copy.stats" -o "$T/copy.stats" "$T/train.lmdb"
expect_err "\-o .*copy.stats is the file of --stats, which the run reads"
cmp "$T/copy.stats" "$T/train.stats" || fail "-o onto --stats replaced the statistics"
cp "$DATA/tiny-gray28.net" "$T/copy.net"
expect_exit 1 anet-train --net "$T/copy.net" --stats "$T/train.stats" --steps 4 --device cpu --log "$T/copy.net" \
	-o "$T/x.anw" "$T/train.lmdb"
expect_err "\-\-log .*copy.net is the file of --net, which the run reads"
cmp "$T/copy.net" "$DATA/tiny-gray28.net" || fail "--log onto --net replaced the spec"
expect_exit 1 train --steps 4 --init-from "$T/m.anw" --health "$T/m.anw" -o "$T/x.anw" "$T/train.lmdb"
expect_err "\-\-health .*m.anw is the file of --init-from"
expect_exit 1 train --steps 4 -o "$T/no/such/x.anw" "$T/train.lmdb"
expect_err "no/such/x.anw.tmp.[0-9]*: No such file or directory"
grep -q "training" "$T/err" && fail "a model that cannot be written was found only after training"
# what a killed run left (NAME.tmp.PID of a process that is gone) is named with its size, and kept
sh -c 'exit 0' &
dead=$!
wait $dead
head -c 3000 /dev/zero >"$T/left.ckpt.tmp.$dead"
train --steps 2 -o "$T/left.anw" "$T/train.lmdb" 2>"$T/err" || { cat "$T/err"; fail "training beside a stale temporary failed"; }
expect_err "left.ckpt.tmp.$dead: left by a writer that was stopped (process $dead no longer runs): 2.9 KiB that can be removed"
[ -f "$T/left.ckpt.tmp.$dead" ] || fail "the stale temporary was removed"
# -o /dev/null: nothing named after it (/dev/null.ckpt) unless the checkpoint has a name of its own
expect_exit 1 train --steps 4 -o /dev/null "$T/train.lmdb"
expect_err "\-o /dev/null is written in place (a device, or a name in /dev or /proc), and the checkpoint is named after it: give --checkpoint FILE"
# -o /dev/stdout into a regular file is that file through a link: written in place, never a
# temporary in /dev renamed over the link
expect_exit 1 train --steps 4 -o /dev/stdout "$T/train.lmdb" >"$T/stdout.anw"
expect_err "\-o /dev/stdout is written in place"
train --steps 2 -o /dev/stdout --checkpoint "$T/stdout.ckpt" "$T/train.lmdb" >"$T/stdout.anw" 2>"$T/err" ||
	{ cat "$T/err"; fail "-o /dev/stdout into a file failed"; }
[ -L /dev/stdout ] || fail "/dev/stdout is no longer a link"
ls /dev | grep -q "stdout.tmp" && fail "a temporary was left in /dev"
anet-eval -w "$T/stdout.anw" "$T/train.lmdb" >/dev/null 2>"$T/err" || { cat "$T/err"; fail "the model written to /dev/stdout does not load"; }
# -o /dev/stdout into a pipe, which takes no seek back to the header: refused before the first
# step, not when the model is written at the end
(set +e; train --steps 2 -o /dev/stdout --checkpoint "$T/pipe.ckpt" "$T/train.lmdb" 2>"$T/err"; echo $? >"$T/rc") | cat >/dev/null
[ "$(cat "$T/rc")" = 1 ] || { cat "$T/err"; fail "-o /dev/stdout into a pipe: exit $(cat "$T/rc"), expected 1"; }
expect_err "/dev/stdout: is a pipe or socket: a tensor file's header is completed when its end is written"
[ -e "$T/pipe.ckpt" ] && fail "-o /dev/stdout into a pipe: the run was not refused before training"
expect_exit 1 train --steps 4 -o /dev/null --checkpoint "$T/null.ckpt" --val "$T/train.lmdb" "$T/train.lmdb"
expect_err "the best model of --val is named after it"
train --steps 4 -o /dev/null --checkpoint "$T/null.ckpt" "$T/train.lmdb" 2>"$T/err" || { cat "$T/err"; fail "-o /dev/null failed"; }
[ -s "$T/null.ckpt" ] || fail "-o /dev/null --checkpoint FILE wrote no checkpoint"
anet-train --loader-only --steps 2 -o /dev/null --val "$T/train.lmdb" "$T/train.lmdb" >/dev/null 2>"$T/err" ||
	{ cat "$T/err"; fail "--loader-only, which writes nothing, refused -o /dev/null"; }
mkdir "$T/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=4k tmpfs "$T/small" 2>/dev/null; then
	set +e
	train --steps 200 --report-every 1 --log "$T/small/log.tsv" -o "$T/full.anw" "$T/train.lmdb" 2>"$T/err"
	rc=$?
	set -e
	umount "$T/small"
	[ $rc = 1 ] || { cat "$T/err"; fail "rows lost to a full disk: exit $rc, expected 1"; }
	expect_err "small/log.tsv: write error: No space left on device: rows from step [0-9]* on are missing; training goes on"
	expect_err "small/log.tsv misses rows that could not be written"
	[ -s "$T/full.anw" ] || fail "rows lost to a full disk: the model was not written"
fi
cat >"$T/rgb.net" <<'NET'
input size=28 channels=3
fc out=classes
softmax
NET
expect_exit 1 anet-train --net "$T/rgb.net" --stats "$T/train.stats" --steps 1 --device cpu "$T/train.lmdb"
expect_err "the network's input is 3x28x28 .* cannot be cut from .* 1x32x32 records"
# statistics of another database of the same record size (here 2 images) are said to be that
! grep -q "another database's" "$T/out" || fail "the fixture's own statistics were called another database's"
echo "$DATA/gray.jpg 0
$DATA/photo-dog.jpg 1" >"$T/two.txt"
imgprep -s 32 -c 1 -l "$T/two.txt" 2>/dev/null | mkdb -q "$T/two.lmdb"
pcacolor -q -o "$T/two.stats" "$T/two.lmdb"
expect_exit 0 train --steps 1 --stats "$T/two.stats" -q -o "$T/two.anw" "$T/train.lmdb"
expect_err "warning: .*two.stats: statistics of 2 images (of .*two.lmdb), but .*train.lmdb holds 64 records: another database's?"

# usage errors
expect_exit 2 anet-train --summary --device gpu
expect_err "\-\-device: 'gpu' is none of auto, cpu, cuda"
# an empty file name ("$UNSET") is no file: --val and --log would read as not given, and -o
# would fail only once the run had ended
for o in -o --val --log --health --checkpoint --stats --net; do
	expect_exit 2 train --steps 1 $o "" "$T/train.lmdb"
	expect_err "\\$o: an empty file name"
done
expect_exit 2 anet-train "$T/train.lmdb"
expect_err "\-\-stats is required"
expect_exit 2 anet-train --stats "$T/train.stats" --lr-steps 30,x "$T/train.lmdb"
expect_err "\-\-lr-steps: '30,x' is not a list"
for bad in 8s:0.1,4s:0.2 8:0.1,12s 30: 30:0 30:-1 30:0.1,; do
	expect_exit 2 anet-train --stats "$T/train.stats" --lr-steps "$bad" "$T/train.lmdb"
	expect_err "(ascending, one unit)"
done
expect_exit 2 anet-train --stats "$T/train.stats" --checkpoint-every 5h "$T/train.lmdb"
expect_err "\-\-checkpoint-every"
expect_exit 2 anet-train --stats "$T/train.stats" --batch 0 "$T/train.lmdb"
expect_exit 2 anet-train --stats "$T/train.stats" --lr 1e400 "$T/train.lmdb"
expect_err "\-\-lr: 1e400 is out of range"
expect_exit 2 anet-train --stats "$T/train.stats" --lr nan "$T/train.lmdb"
expect_err "\-\-lr: 'nan' is not a number"
expect_exit 2 anet-train --stats "$T/train.stats" --crop corner "$T/train.lmdb"
expect_exit 2 anet-train --stats "$T/train.stats" --momentum 1 "$T/train.lmdb"
expect_err "\-\-momentum"
expect_exit 2 anet-train --stats "$T/train.stats" --weight-decay -0.1 "$T/train.lmdb"
expect_err "\-\-weight-decay"
expect_exit 2 anet-train --stats "$T/train.stats" --erase 1.5 "$T/train.lmdb"
expect_err "\-\-erase"
expect_exit 2 anet-train --stats "$T/train.stats" --lr-decay exp "$T/train.lmdb"
expect_err "\-\-lr-decay: 'exp' is none of none, cosine, linear"
expect_exit 2 anet-train --stats "$T/train.stats" "$T/train.lmdb" "$T/train.lmdb"
expect_exit 2 anet-train --resume "$T/m.ckpt" --init-from "$T/m.anw"
expect_exit 2 anet-train --stats "$T/train.stats" --partial "$T/train.lmdb"
expect_err "\-\-partial goes with --init-from"
expect_exit 2 anet-train --stats "$T/train.stats" --tf32 --deterministic "$T/train.lmdb"
expect_err "\-\-tf32 and --deterministic exclude each other"

# --check-grads at a trained model's weights (its own network, from the file), and a checkpoint's
for f in m.anw m.ckpt; do
	anet-train --check-grads --init-from "$T/$f" --device cpu --threads 1 -q >"$T/grads" 2>"$T/err" ||
		{ cat "$T/grads" "$T/err"; fail "--check-grads --init-from $f failed"; }
	grep -q "^gradients agree: 8 tensors" "$T/grads" || fail "--check-grads --init-from $f: $(cat "$T/grads")"
	grep -q "2 images of 50 N(0,1) x 0.015625," "$T/grads" || fail "--check-grads --init-from $f: not the model's input scale"
	[ -s "$T/err" ] && fail "--check-grads -q wrote to stderr: $(cat "$T/err")"
done
# --tf32 on the CPU: said to change nothing, and nothing changes (the tolerance included; the
# checkpoint, the loop's last)
anet-train --check-grads --tf32 --init-from "$T/m.ckpt" --device cpu --threads 1 -q >"$T/grads-tf32" 2>"$T/err" ||
	{ cat "$T/grads-tf32" "$T/err"; fail "--check-grads --tf32 failed"; }
grep -q "^anet-train: --tf32: the CPU computes in FP32 throughout" "$T/err" || fail "--tf32 on the CPU: $(cat "$T/err")"
cmp -s "$T/grads" "$T/grads-tf32" || { diff "$T/grads" "$T/grads-tf32"; fail "--tf32 changed the CPU's gradient check"; }

# the loader benchmark
# SIGTERM ends --loader-only, which has no checkpoint to write (it used to promise one and go on;
# SIGINT, which the shell's background jobs ignore, likewise from a terminal)
anet-train --loader-only --batch 64 --steps 100000000 -j 1 "$T/train.lmdb" >/dev/null 2>"$T/err" &
pid=$!
sleep 0.5
kill -TERM $pid
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 $pid 2>/dev/null && { kill -KILL $pid; fail "--loader-only went on after SIGTERM: $(cat "$T/err")"; }
set +e; wait $pid; rc=$?; set -e
[ $rc = 143 ] || fail "--loader-only after SIGTERM: exit $rc, expected 143"
grep -q checkpoint "$T/err" && fail "--loader-only promised a checkpoint: $(cat "$T/err")"
anet-train --loader-only --batch 16 --steps 8 -j 2 "$T/train.lmdb" >"$T/loader" 2>/dev/null ||
	fail "--loader-only failed"
grep -q "^loader: 128 images (8 batches of 16, 32x32x1 raw) in .* img/s with 2 threads" "$T/loader" ||
	fail "--loader-only: $(cat "$T/loader")"
echo ok
