#!/bin/sh
# anet-train --summary, --time and --check-grads: the paper's network, a spec file, errors with FILE:LINE, usage errors.
. "$ANET_TESTS/lib/shtest.sh"

check_help anet-train

anet-train --summary >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "--summary failed"; }
grep -q "60965224 parameters" "$T/out" || fail "the paper's net does not have 60965224 parameters"
grep -q "alpha on the raw sum" "$T/out" || fail "the summary does not state the LRN convention"
grep -q "v = 0.9 v - 0.0005 lr w - lr dw" "$T/out" || fail "the summary does not state the update rule"
grep -q "^conv1 .* 96x55x55 .* 34944 " "$T/out" || fail "conv1's row is wrong"
grep -q "^pool5 .* 256x6x6 " "$T/out" || fail "pool5's row is wrong"
grep -q "^fc6 .* 37752832 " "$T/out" || fail "fc6's row is wrong"
grep -q "total for training" "$T/out" || fail "no memory estimate"
[ -s "$T/err" ] && fail "--summary wrote to stderr"

# the same net from its file, with 10 classes: fc8 has 10 x 4097 parameters
anet-train --net "$ANET_TESTS/../pipelines/alexnet.net" --classes 10 --summary --batch 4 >"$T/out10"
grep -q "$((60965224 - 990 * 4097)) parameters" "$T/out10" || fail "--classes 10 is not applied"
grep -q "^fc8 .* 10 .* 40970 " "$T/out10" || fail "fc8 with 10 classes is wrong"
grep -q "batch 4" "$T/out10" || fail "--batch is not applied to the memory estimate"
# --accum: the memory of one part, and the summed gradients' buffer; a count that does not divide
anet-train --summary --accum 4 >"$T/acc" || fail "--summary --accum 4 failed"
grep -q "device memory for batch 128 in 4 parts of 32" "$T/acc" || fail "--accum is not in the memory estimate"
grep -q "summed gradients .* 232.6 MiB" "$T/acc" || fail "no summed gradients' buffer in the estimate"
expect_exit 2 anet-train --summary --accum 3
expect_err "\-\-accum 3 does not divide --batch 128 into parts of equal size"

# errors in a spec file name the file and line; unknown keys warn
cat >"$T/bad.net" <<'NET'
# a broken net
input size=32
conv out=8 kernel=40 foo=1
fc out=classes
softmax
NET
expect_exit 1 anet-train --net "$T/bad.net" --summary
expect_err "bad.net:3: warning: unknown key 'foo' ignored"
expect_err "bad.net:3: conv1: kernel 40x40 does not fit the input 3x32x32"
expect_exit 1 anet-train --net "$T/missing.net" --summary
expect_err "missing.net"

# usage errors
expect_exit 2 anet-train --summary --batch 0
expect_err "batch"
expect_exit 2 anet-train
expect_err "give --summary or --time"
expect_exit 2 anet-train --summary somedb

# --time on a small net: the report's lines, on the CPU
cat >"$T/small.net" <<'NET'
input size=32 channels=3
conv out=8 kernel=5 stride=2 pad=2 groups=1 bias=0.1
relu
lrn
pool
conv out=8 kernel=3 pad=1 groups=2
relu
fc out=16 bias=1
relu
dropout
fc out=classes
softmax
NET
anet-train --net "$T/small.net" --classes 5 --time --device cpu --batch 4 --iters 2 -j 1 >"$T/time" 2>"$T/err" ||
	{ cat "$T/err"; fail "--time failed"; }
grep -q "^train: [0-9.]* img/s" "$T/time" || fail "--time printed no training speed"
grep -q "^inference: [0-9.]* img/s" "$T/time" || fail "--time printed no inference speed"
grep -q "^peak memory: [0-9.]* MiB" "$T/time" || fail "--time printed no peak memory"
grep -q "^conv2 .*conv" "$T/time" || fail "--time printed no per-layer table"
grep -q "^update .*sgd" "$T/time" || fail "--time printed no update time"

# --check-grads on the small net: a row per tensor, the kinks line, the verdict, exit 0
anet-train --net "$T/small.net" --classes 5 --check-grads --device cpu --batch 3 --threads 1 >"$T/grads" 2>"$T/err" ||
	{ cat "$T/grads" "$T/err"; fail "--check-grads failed"; }
[ "$(grep -c '^\(conv[12]\|fc[0-9]*\)\.\(weight\|bias\) ' "$T/grads")" = 8 ] || fail "--check-grads: not 8 tensor rows: $(cat "$T/grads")"
grep -q "^kinks: .* of [0-9]* ReLU inputs and .* of [0-9]* pooling windows" "$T/grads" || fail "--check-grads: no kinks line"
grep -q "^gradients agree: 8 tensors" "$T/grads" || fail "--check-grads: no agreement: $(cat "$T/grads")"
grep -q FAIL "$T/grads" && fail "--check-grads: a FAIL in a passing check"
expect_exit 2 anet-train --check-grads somedb
expect_err "need no database"
expect_exit 2 anet-train --check-grads --time
expect_exit 2 anet-train --check-grads --net "$T/small.net" --init-from "$T/m.anw"
expect_err "the model's own network"
expect_exit 1 anet-train --check-grads --init-from "$T/missing.anw"
expect_exit 2 anet-train --check-grads --resume "$T/m.ckpt"
expect_err "with --init-from CKPT, not --resume"
expect_exit 2 anet-train --check-grads --accum 3
expect_exit 2 anet-train --check-grads --init-from "$T/m.anw" --classes 10
expect_exit 2 anet-train --check-grads --init-from "$T/m.anw" --input-scale 0.5
# a chain of in-place layers after a ReLU (relu, relu, dropout, dropout), no pooling, batch 1;
# and a gradient so small that the finite differences meet the loss's rounding
printf 'input size=6 channels=2\nconv out=4 kernel=3 pad=1\nrelu\nrelu\ndropout\ndropout p=0.3\nfc out=classes\nsoftmax\n' >"$T/chain.net"
anet-train --net "$T/chain.net" --classes 3 --check-grads --device cpu --batch 1 >"$T/grads" 2>"$T/err" ||
	{ cat "$T/grads" "$T/err"; fail "--check-grads on the in-place chain failed"; }
grep -q "^kinks: .* at 0 of " "$T/grads" || fail "--check-grads: in-place dropouts counted as kinks: $(cat "$T/grads")"
printf 'input size=4 channels=1\nfc name=f1 out=8\nrelu\nfc name=f2 out=classes init=1e-10\nsoftmax\n' >"$T/small-grad.net"
anet-train --net "$T/small-grad.net" --classes 3 --check-grads --device cpu >"$T/grads" 2>"$T/err" ||
	{ cat "$T/grads" "$T/err"; fail "--check-grads with a tiny gradient failed"; }
grep -q "^f1.bias .*(rounding floor)" "$T/grads" || fail "--check-grads: f1.bias's tiny gradient not measured against rounding: $(cat "$T/grads")"
echo ok
