#!/bin/sh
# cpu-alexnet.sh: anet-train --time beside PyTorch on the CPU: the paper's net, batch 128, 224x224.
#
#   sh bench/cpu-alexnet.sh [BATCH [ITERS [THREADS]]]      (defaults 128 5 all)
#
# Both run the same network (groups=2, LRN, dropout 0.5, the paper's SGD) on synthetic data
# with the same thread count, one after the other under /tmp/anet-heavy.lock. PyTorch runs as
# Debian's torch 1.13 (/usr/bin/python3), with glibc's malloc and, if installed, jemalloc
# (per-step allocation is where PyTorch loses most here); and also the newest PyTorch from
# PyPI when a venv holds it (ANET_TORCH_VENV, default /tmp/anet-torch-venv; made with
# "python3 -m venv DIR && DIR/bin/pip install torch --index-url
# https://download.pytorch.org/whl/cpu"). The ratios are against the fastest PyTorch run.
# Prints both reports, the inference ratio, the peak memory of both, and last
# "train ratio anet/pytorch: R".
set -eu
batch=${1:-128}
iters=${2:-5}
threads=${3:-$(nproc)}
bin=${ANET_BIN:-build/bin}
here=$(dirname "$0")
venv=${ANET_TORCH_VENV:-/tmp/anet-torch-venv}
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
out=$(mktemp -d "${TMPDIR:-/tmp}/anet-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

[ -x "$bin/anet-train" ] || { echo "cpu-alexnet.sh: $bin/anet-train missing: run make" >&2; exit 1; }

run_heavy() { flock /tmp/anet-heavy.lock "$@"; }
field() { sed -n "s/^$1: \([0-9.]*\) .*/\1/p" "$2" | head -n 1; }

echo "== anet ($threads threads, batch $batch)"
run_heavy "$bin/anet-train" --net alexnet --time --device cpu --batch "$batch" --iters "$iters" \
	-j "$threads" | tee "$out/anet"

n=0
torch_run() { # NAME PYTHON [PRELOAD]
	n=$((n + 1))
	echo "== $1"
	if LD_PRELOAD=${3:-} run_heavy "$2" "$here/cpu_alexnet_pytorch.py" "$batch" "$iters" "$threads" \
		>"$out/torch$n" 2>"$out/torch$n.err"; then
		cat "$out/torch$n"
		echo "$1" >"$out/torch$n.name"
	else
		echo "($1 failed: $(tail -n 1 "$out/torch$n.err"))"
		rm -f "$out/torch$n"
	fi
}
torch_run "PyTorch (Debian), glibc malloc" /usr/bin/python3
[ -f "$jemalloc" ] && torch_run "PyTorch (Debian), jemalloc" /usr/bin/python3 "$jemalloc"
if [ -x "$venv/bin/python" ]; then
	torch_run "PyTorch (PyPI venv), glibc malloc" "$venv/bin/python"
	[ -f "$jemalloc" ] && torch_run "PyTorch (PyPI venv), jemalloc" "$venv/bin/python" "$jemalloc"
else
	echo "== (no PyTorch venv at $venv: the PyPI build is not compared)"
fi

# the fastest PyTorch run, by training speed
best=""
best_train=0
for f in "$out"/torch[0-9]; do
	[ -f "$f" ] || continue
	t=$(field train "$f")
	if awk "BEGIN { exit !($t > $best_train) }"; then best=$f; best_train=$t; fi
done
[ -n "$best" ] || { echo "cpu-alexnet.sh: no PyTorch run succeeded" >&2; exit 1; }

a_train=$(field train "$out/anet"); a_infer=$(field inference "$out/anet")
t_infer=$(field inference "$best")
a_mem=$(field "peak memory" "$out/anet"); t_mem=$(field "peak memory" "$best")
echo
echo "== summary (against $(cat "$best.name"))"
printf '%-12s %12s %12s %14s\n' "" "train img/s" "infer img/s" "peak RSS MiB"
printf '%-12s %12s %12s %14s\n' anet "$a_train" "$a_infer" "$a_mem"
printf '%-12s %12s %12s %14s\n' pytorch "$best_train" "$t_infer" "$t_mem"
awk "BEGIN { printf \"memory anet/pytorch: %.2f (%s)\\n\", $a_mem / $t_mem, ($a_mem <= $t_mem) ? \"anet uses no more\" : \"anet uses MORE\" }"
awk "BEGIN { printf \"inference ratio anet/pytorch: %.2f\\n\", $a_infer / $t_infer }"
awk "BEGIN { printf \"train ratio anet/pytorch: %.2f\\n\", $a_train / $best_train }"
