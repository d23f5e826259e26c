#!/bin/sh
# gpu.sh: the paper's AlexNet on one GPU, anet against PyTorch + cuDNN in the same run: training and inference img/s.
#
#   sh bench/gpu.sh          (after make bench; ANET_BUILD=build, OUT=/tmp/gpu-out, BATCH=128, PYTHON=python3)
#
# anet's side is build/bench/gpu_alexnet (the layer sequence through the kernels.h table,
# synthetic data on the device; FP32, then TF32); PyTorch's is bench/gpu_pytorch.py (the same
# net in torch.nn, cudnn.benchmark on, TF32 off for FP32 and on for TF32). Both report the
# median of timed steps after a warm-up. Logs go to $OUT/bench/. Ends with a table and the
# anet/PyTorch ratios; on a machine without a GPU it says so and exits 0.
set -u
build=${ANET_BUILD:-build}
out=${OUT:-/tmp/gpu-out}/bench
batch=${BATCH:-128}
iters=${ITERS:-30}
py=${PYTHON:-python3}
here=$(dirname "$0")
mkdir -p "$out"
alex=$build/bench/gpu_alexnet

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
	echo "gpu bench: skipped: no GPU (nvidia-smi finds none)"
	exit 0
fi
if [ ! -x "$alex" ]; then
	echo "gpu bench: $alex is missing: run make bench (or make $alex) first"
	exit 1
fi

# value KEY FILE: the number after "KEY: " in FILE, or "-"
value() { v=$(sed -n "s|^$1: ||p" "$2" 2>/dev/null | tail -n 1); echo "${v:--}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
failed=0
run() { # run NAME CMD...: log to $out/NAME.log, say how it ended
	name=$1; shift
	start=$(date +%s)
	"$@" >"$out/$name.log" 2>&1
	rc=$?
	echo "gpu bench: $name: exit $rc after $(( $(date +%s) - start ))s (log $out/$name.log)"
	[ $rc = 0 ] || { failed=$((failed + 1)); tail -n 15 "$out/$name.log" | sed 's/^/    /'; }
}

run anet-fp32 "$alex" --batch "$batch" --iters "$iters" --warmup 5 --layers --augment
run anet-tf32 "$alex" --batch "$batch" --iters "$iters" --warmup 5 --tf32
run pytorch "$py" "$here/gpu_pytorch.py" --batch "$batch" --iters "$iters" --warmup 10
# which kernels cuDNN picked and what they cost, for the comparison's breakdown (log only)
run pytorch-profile "$py" "$here/gpu_pytorch.py" --batch "$batch" --warmup 5 --profile

af=$out/anet-fp32.log at=$out/anet-tf32.log pt=$out/pytorch.log
sed -n '/^layer /,/^total /p' "$af"
a_tr=$(value "anet fp32 train img/s" "$af") a_in=$(value "anet fp32 infer img/s" "$af")
a_tr32=$(value "anet tf32 train img/s" "$at") a_in32=$(value "anet tf32 infer img/s" "$at")
a_aug=$(value "anet fp32 train+augment img/s" "$af")
p_tr=$(value "pytorch fp32 train img/s" "$pt") p_in=$(value "pytorch fp32 infer img/s" "$pt")
p_tr32=$(value "pytorch tf32 train img/s" "$pt") p_in32=$(value "pytorch tf32 infer img/s" "$pt")
{
	echo "device: $(value device "$af")"
	echo "pytorch: $(value device "$pt")"
	printf '%-28s %12s %12s %8s\n' "AlexNet, batch $batch" "anet img/s" "torch img/s" "ratio"
	printf '%-28s %12s %12s %8s\n' "train FP32" "$a_tr" "$p_tr" "$(ratio "$a_tr" "$p_tr")"
	printf '%-28s %12s %12s %8s\n' "infer FP32" "$a_in" "$p_in" "$(ratio "$a_in" "$p_in")"
	printf '%-28s %12s %12s %8s\n' "train TF32" "$a_tr32" "$p_tr32" "$(ratio "$a_tr32" "$p_tr32")"
	printf '%-28s %12s %12s %8s\n' "infer TF32" "$a_in32" "$p_in32" "$(ratio "$a_in32" "$p_in32")"
	printf '%-28s %12s %12s %8s\n' "train FP32 + upload/augment" "$a_aug" "" ""
} | tee "$out/table.txt"
[ $failed = 0 ] || { echo "gpu bench: $failed of the runs failed"; exit 1; }
