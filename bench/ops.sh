#!/bin/sh
# ops.sh: anet's kernels beside PyTorch on the paper's AlexNet, in one run: per-layer times, img/s, ratios.
#
#   bench/ops.sh [BATCH [ITERS [THREADS]]]        defaults: 128 5 2 (make bench runs it)
#
# Runs $ANET_BUILD/bench/ops (the layer table: where anet's step goes), then bench/ops_torch.py
# (the same net in plain torch.nn, the same thread count) under Debian's torch 1.13
# (/usr/bin/python3) as installed, with glibc malloc tuned to keep freed memory (PyTorch
# allocates every activation afresh each step), and, when anet had to correct OpenBLAS's
# choice of kernels for this CPU (its first line says so), with the same correction given to
# PyTorch's OpenBLAS through OPENBLAS_CORETYPE. A newer torch is measured too when
# $ANET_TORCH_PY names its Python (default /tmp/torch-venv/bin/python if present; make one
# with: python3 -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install torch). Prints
# anet's ratio to each, and to the fastest, which is the one that counts.
#
# Heavy: takes /tmp/anet-heavy.lock so that it never overlaps another heavy run.
set -eu

if [ -z "${ANET_HEAVY_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	ANET_HEAVY_LOCKED=1 exec flock /tmp/anet-heavy.lock sh "$0" "$@"
fi

batch=${1:-128}
iters=${2:-5}
threads=${3:-2}
build=${ANET_BUILD:-build}
here=$(cd "$(dirname "$0")" && pwd)
ops=$build/bench/ops
[ -x "$ops" ] || { echo "ops.sh: $ops not built (make $ops)" >&2; exit 1; }
torch_py=${ANET_TORCH_PY:-/tmp/torch-venv/bin/python}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/anet-ops.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "== anet: $ops --batch $batch --iters $iters --threads $threads"
"$ops" --batch "$batch" --iters "$iters" --threads "$threads" | tee "$tmp/anet"
anet=$(sed -n 's/^result train \([0-9.]*\) infer \([0-9.]*\) .*/\1 \2/p' "$tmp/anet")
[ -n "$anet" ] || { echo "ops.sh: no result line from $ops" >&2; exit 1; }
# "(SkylakeX kernels; chosen by anet ...)": the OpenBLAS correction anet made, if any
core=$(sed -n '1s/.*(\([A-Za-z0-9]*\) kernels; chosen by anet.*/\1/p' "$tmp/anet")

# malloc tuned: no mmap for big blocks and no trimming, so freed activations are reused
tuned="MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824"

# run LABEL PYTHON [ENV...]: one PyTorch configuration, its "torch V train X infer Y" line kept
n=0
run() {
	label=$1 py=$2
	shift 2
	n=$((n + 1))
	echo "== PyTorch: $label"
	if env OMP_NUM_THREADS="$threads" "$@" "$py" "$here/ops_torch.py" "$batch" "$threads" "$iters" >"$tmp/t$n" 2>"$tmp/e$n"; then
		cat "$tmp/t$n"
		printf '%s\t%s\n' "$label" "$(sed -n 's/^torch [^ ]* train \([0-9.]*\) infer \([0-9.]*\)$/\1 \2/p' "$tmp/t$n")" >>"$tmp/torch"
	else
		echo "   failed:"; tail -n 3 "$tmp/e$n" | sed 's/^/   /'
	fi
}

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	v=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')
	run "torch $v as installed" /usr/bin/python3
	# shellcheck disable=SC2086
	run "torch $v, malloc tuned" /usr/bin/python3 $tuned
	if [ -n "$core" ]; then
		# shellcheck disable=SC2086
		run "torch $v, malloc tuned, OPENBLAS_CORETYPE=$core" /usr/bin/python3 $tuned OPENBLAS_CORETYPE="$core"
	fi
else
	echo "== /usr/bin/python3 has no torch (apt-get install python3-torch): Debian's PyTorch skipped"
fi
if [ -x "$torch_py" ] && "$torch_py" -c 'import torch' 2>/dev/null; then
	v=$("$torch_py" -c 'import torch; print(torch.__version__)')
	run "torch $v as installed" "$torch_py"
	# shellcheck disable=SC2086
	run "torch $v, malloc tuned" "$torch_py" $tuned
else
	echo "== no newer torch at $torch_py (set ANET_TORCH_PY): skipped"
fi

[ -s "$tmp/torch" ] || { echo "ops.sh: no PyTorch run succeeded; nothing to compare" >&2; exit 1; }
echo
echo "== AlexNet, batch $batch, $threads threads: images per second (higher is better)"
printf '%s\n' "$anet" | awk -v torch="$tmp/torch" '
{ at = $1; ai = $2 }
END {
	printf "%-62s %8s %8s   %s\n", "", "train", "infer", "anet / this (train, infer)"
	printf "%-62s %8.2f %8.2f\n", "anet", at, ai
	bt = 0; bi = 0
	while ((getline line < torch) > 0) {
		split(line, f, "\t"); split(f[2], v, " ")
		if (v[1] + 0 <= 0) continue
		printf "%-62s %8.2f %8.2f   %.2fx  %.2fx\n", f[1], v[1], v[2], at / v[1], ai / v[2]
		if (v[1] > bt) bt = v[1]
		if (v[2] > bi) bi = v[2]
	}
	printf "%-62s %8.2f %8.2f   %.2fx  %.2fx\n", "fastest PyTorch (the ratio that counts)", bt, bi, at / bt, ai / bi
}'
