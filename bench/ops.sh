#!/bin/sh
# bench/ops.sh: anet's kernels beside PyTorch on the paper's AlexNet, in one run: per-layer times, img/s, ratios.
#
#   sh bench/ops.sh [BATCH [ITERS [THREADS [ROUNDS]]]]      defaults: 128 5 2 2 (make bench runs it)
#
# Runs $ANET_BUILD/bench/ops (the layer table: where anet's step goes), then bench/ops_torch.py
# (the same net in plain torch.nn, the same thread count) under Debian's torch 1.13
# (/usr/bin/python3) as installed, with glibc malloc tuned to keep freed memory (PyTorch
# allocates every activation afresh each step), and, when anet had to correct OpenBLAS's
# choice of kernels for this CPU (its first line says so), with the same correction given to
# PyTorch's OpenBLAS through OPENBLAS_CORETYPE. A newer torch is measured too when a venv
# holds one: $ANET_TORCH_PY names its Python, else $ANET_TORCH_VENV/bin/python (default
# /tmp/anet-torch-venv, as bench/cpu-alexnet.sh; made with "python3 -m venv DIR &&
# DIR/bin/pip install torch"), else /tmp/torch-venv/bin/python.
#
# Each program reports the median of ITERS timed steps after a warm-up. The whole sequence
# runs ROUNDS times, interleaved, and each configuration's best round counts: on a shared
# machine that is the round least disturbed by others. Prints anet's layer table from its
# best round, then anet's ratio to each PyTorch configuration, and to the fastest, which is
# the one that counts. Holds /tmp/anet-heavy.lock so that heavy runs do not overlap.
set -eu

if [ -z "${ANET_BENCH_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	ANET_BENCH_LOCKED=1 exec flock /tmp/anet-heavy.lock sh "$0" "$@"
fi

batch=${1:-128}
iters=${2:-5}
threads=${3:-2}
rounds=${4:-2}
build=${ANET_BUILD:-build}
here=$(cd "$(dirname "$0")" && pwd)
ops=$build/bench/ops
[ -x "$ops" ] || { echo "bench/ops.sh: $ops not built (make $ops)" >&2; exit 1; }
torch_py=${ANET_TORCH_PY:-${ANET_TORCH_VENV:-/tmp/anet-torch-venv}/bin/python}
[ -x "$torch_py" ] || [ -n "${ANET_TORCH_PY:-}" ] || torch_py=/tmp/torch-venv/bin/python
tmp=$(mktemp -d "${TMPDIR:-/tmp}/anet-ops.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# malloc tuned: no mmap for big blocks and no trimming, so freed activations are reused
tuned="MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824"

# The PyTorch configurations, one per line: label, then the python and its environment.
: >"$tmp/configs"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	v=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')
	printf 'torch %s as installed\t/usr/bin/python3\n' "$v" >>"$tmp/configs"
	printf 'torch %s, malloc tuned\t/usr/bin/python3 %s\n' "$v" "$tuned" >>"$tmp/configs"
else
	echo "== /usr/bin/python3 has no torch (apt-get install python3-torch): Debian's PyTorch skipped"
fi
if [ -x "$torch_py" ] && "$torch_py" -c 'import torch' 2>/dev/null; then
	v=$("$torch_py" -c 'import torch; print(torch.__version__)')
	printf 'torch %s as installed\t%s\n' "$v" "$torch_py" >>"$tmp/configs"
	printf 'torch %s, malloc tuned\t%s %s\n' "$v" "$torch_py" "$tuned" >>"$tmp/configs"
else
	echo "== no newer torch at $torch_py (set ANET_TORCH_PY): skipped"
fi

# keep LABEL TRAIN INFER: remember the configuration's best round
keep() {
	printf '%s\t%s %s\n' "$1" "$2" "$3" >>"$tmp/all"
}

r=1
while [ "$r" -le "$rounds" ]; do
	echo "== round $r of $rounds: anet: $ops --batch $batch --iters $iters --threads $threads"
	"$ops" --batch "$batch" --iters "$iters" --threads "$threads" >"$tmp/anet$r"
	res=$(sed -n 's/^result train \([0-9.]*\) infer \([0-9.]*\) .*/\1 \2/p' "$tmp/anet$r")
	[ -n "$res" ] || { cat "$tmp/anet$r"; echo "bench/ops.sh: no result line from $ops" >&2; exit 1; }
	echo "   $res (train, infer img/s)"
	keep anet $res
	# "(SkylakeX kernels; chosen by anet ...)": the OpenBLAS correction anet made, if any,
	# given to Debian's PyTorch as well
	core=$(sed -n '1s/.*(\([A-Za-z0-9]*\) kernels; chosen by anet.*/\1/p' "$tmp/anet$r")
	if [ -n "$core" ] && [ "$r" = 1 ] && grep -q '/usr/bin/python3' "$tmp/configs"; then
		v=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')
		printf 'torch %s, malloc tuned, OPENBLAS_CORETYPE=%s\t/usr/bin/python3 %s OPENBLAS_CORETYPE=%s\n' \
			"$v" "$core" "$tuned" "$core" >>"$tmp/configs"
	fi
	while IFS="$(printf '\t')" read -r label cmd; do
		echo "== round $r of $rounds: PyTorch: $label"
		py=${cmd%% *}
		envs=${cmd#"$py"}
		# shellcheck disable=SC2086
		if env OMP_NUM_THREADS="$threads" $envs "$py" "$here/ops_torch.py" "$batch" "$threads" "$iters" \
			>"$tmp/out" 2>"$tmp/err"; then
			res=$(sed -n 's/^torch [^ ]* train \([0-9.]*\) infer \([0-9.]*\)$/\1 \2/p' "$tmp/out")
			echo "   $res (train, infer img/s)"
			[ -n "$res" ] && keep "$label" $res
		else
			echo "   failed:"; tail -n 3 "$tmp/err" | sed 's/^/   /'
		fi
	done <"$tmp/configs"
	r=$((r + 1))
done

# anet's layer table from its best round (by training img/s)
best=1 bestv=0 r=1
while [ "$r" -le "$rounds" ]; do
	v=$(sed -n 's/^result train \([0-9.]*\) .*/\1/p' "$tmp/anet$r")
	if awk -v a="$v" -v b="$bestv" 'BEGIN { exit !(a > b) }'; then best=$r bestv=$v; fi
	r=$((r + 1))
done
echo
echo "== anet's best round ($best):"
cat "$tmp/anet$best"

echo
echo "== AlexNet, batch $batch, $threads threads, best of $rounds rounds: images per second (higher is better)"
awk -F '\t' '
{
	split($2, v, " ")
	if (!($1 in bt)) { order[++n] = $1; bt[$1] = 0; bi[$1] = 0 }
	if (v[1] > bt[$1]) bt[$1] = v[1]
	if (v[2] > bi[$1]) bi[$1] = v[2]
}
END {
	printf "%-62s %8s %8s   %s\n", "", "train", "infer", "anet / this (train, infer)"
	at = bt["anet"]; ai = bi["anet"]; ft = 0; fi = 0
	for (k = 1; k <= n; k++) {
		l = order[k]
		if (l == "anet") { printf "%-62s %8.2f %8.2f\n", l, at, ai; continue }
		printf "%-62s %8.2f %8.2f   %.2fx  %.2fx\n", l, bt[l], bi[l], at / bt[l], ai / bi[l]
		if (bt[l] > ft) ft = bt[l]
		if (bi[l] > fi) fi = bi[l]
	}
	if (ft > 0)
		printf "%-62s %8.2f %8.2f   %.2fx  %.2fx\n", "fastest PyTorch (the ratio that counts)", ft, fi, at / ft, ai / fi
	else
		print "no PyTorch run succeeded: nothing to compare"
}' "$tmp/all"
