#!/bin/sh
# gpu.sh: the one GPU session: build, the CUDA op suite, a CPU sanity suite, the benchmark, a TF32 study, a summary.
#
#   sh tests/gpu.sh            (in the project's root; OUT=dir for the logs, default /tmp/gpu-out)
#
# Made for a lent GPU machine that has nvcc, the CUDA libraries and PyTorch but no Debian -dev
# packages and no network: when .device-sysroot/ is present (../shared/device/sysroot.sh packs
# it here and the device call carries it), the build takes its headers and libraries from
# there, through a small pkg-config stand-in, so mk/configure.sh runs as usual. Without a GPU
# the GPU stages say "skipped" and the build and CPU stages still run.
#
# The device call (its $OUT brings back 8 files at most, so the logs travel as one archive):
#   command: OUT=/tmp/gpu-out sh tests/gpu.sh; tar -czf "$OUT/gpu-logs.tar.gz" -C /tmp/gpu-out .
#   carry: [".device-sysroot"], timeout_s: 540
#
# Every stage runs whatever happened before it, has its own time limit inside a total budget
# (GPU_BUDGET seconds, default 450, so the whole script ends well under 8 minutes), writes its
# full log to $OUT/NAME.log, and prints one status line (and the tail of the log when it
# fails). The last lines are the summary table. STAGES="build check_cuda ..." runs only the
# named stages (build check_cuda bench study-fp32 study-tf32 check_ops anet-train-time
# anet-train-time-tf32 e2e-db loader e2e e2e-accum check-grads check-grads-tf32 memcheck ws256 nsys), for a quick second run on a warm machine, whose build is then incremental.
#
# GPU_SH_DRY=1 tries the script on a machine without a GPU (tests/test_gpu_sh.sh does, in every
# make check): the anet-train stages run their command lines on the CPU, with a tiny network, 8
# images a batch, a few steps and 64 records. Their numbers mean nothing; that they pass means
# the one GPU call will not be spent on a broken command line.
set -u
top=$(pwd)
OUT=${OUT:-/tmp/gpu-out}
export OUT
mkdir -p "$OUT"
budget=${GPU_BUDGET:-450}
jobs=${JOBS:-16}
t0=$(date +%s)
B=${ANET_BUILD:-build}
B=${B#"$top"/} # relative to the root, where the script runs
dry=${GPU_SH_DRY:-0}
summary=$OUT/summary.txt
: >"$summary"

say() { echo "gpu.sh: $*"; }
left() { echo $(( budget - ($(date +%s) - t0) )); }
note() { printf '%-34s %s\n' "$1" "$2" >>"$summary"; }

# stage NAME LIMIT CMD...: runs CMD with its output in $OUT/NAME.log, within LIMIT seconds and
# the budget; sets $rc (124: timed out, 125: skipped for lack of time)
stage() {
	name=$1 limit=$2
	shift 2
	case " ${STAGES:-$name} " in
	*" $name "*) ;;
	*) say "$name: skipped (not in STAGES)"; rc=125; : >"$OUT/$name.log"; return ;;
	esac
	room=$(( $(left) - 5 ))
	[ "$room" -lt "$limit" ] && limit=$room
	if [ "$limit" -lt 10 ]; then
		say "$name: skipped (the time budget is spent)"
		rc=125
		: >"$OUT/$name.log"
		return
	fi
	s=$(date +%s)
	timeout -k 5 "$limit" "$@" >"$OUT/$name.log" 2>&1
	rc=$?
	took=$(( $(date +%s) - s ))
	case $rc in
	0) say "$name: ok (${took}s)" ;;
	124 | 137) say "$name: TIMED OUT after ${took}s (limit ${limit}s); last lines of $OUT/$name.log:"
	   tail -n 30 "$OUT/$name.log" | sed 's/^/    /' ;;
	*) say "$name: FAILED with exit $rc after ${took}s; last lines of $OUT/$name.log:"
	   tail -n 40 "$OUT/$name.log" | sed 's/^/    /' ;;
	esac
}
status() { case $rc in 0) echo pass ;; 124 | 137) echo "TIMEOUT" ;; 125) echo "skipped" ;; *) echo "FAIL ($rc)" ;; esac; }
# the number after "KEY: " in a log, or "-"
value() { v=$(sed -n "s|^$1: ||p" "$2" 2>/dev/null | tail -n 1); echo "${v:--}"; }

# ---------------------------------------------------------------------------------------------
# 0. the machine
gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "host: $(uname -srm), $(nproc) CPUs"
	if [ $gpu = 1 ]; then
		nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version,clocks.max.sm,power.limit \
			--format=csv,noheader
	else
		echo "GPU: none (nvidia-smi missing or finds no device)"
	fi
	nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
	echo "nvcc: $("$nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\), \(V[0-9.]*\).*/\1 (\2)/p')"
	echo "cc: $(cc --version 2>/dev/null | head -n 1)"
	echo "make: $(make --version 2>/dev/null | head -n 1); $(ldd --version 2>/dev/null | head -n 1)"
	echo "pkg-config: $(command -v pkg-config || echo none)"
	echo "python3: $(python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())' 2>&1 | tail -n 1)"
	echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(git status --porcelain 2>/dev/null | grep -c . || true) changed files"
} >"$OUT/machine.txt" 2>&1
sed 's/^/    /' "$OUT/machine.txt"

# ---------------------------------------------------------------------------------------------
# 1. build (with the carried sysroot when there is one)
sys=$top/.device-sysroot
if [ -d "$sys/include" ]; then
	shim=$top/$B/device # inside the build folder, which git ignores
	# the sysroot's libraries as links, with two exceptions (below); binaries find them through
	# an RPATH (not RUNPATH, which would not serve OpenBLAS's own libgfortran)
	lib=$shim/lib
	rm -rf "$shim"
	mkdir -p "$shim/bin" "$lib"
	# the local compiler's libgomp, when it has one, is newer and serves older callers; the
	# sysroot's (Debian gcc 12) would shadow it through the rpath
	gomp=$(cc -print-file-name=libgomp.so.1 2>/dev/null)
	for f in "$sys"/lib/*.so* "$sys"/lib/*.a; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		case $(basename "$f") in libgomp*) [ -e "$gomp" ] && [ "$gomp" != libgomp.so.1 ] && continue ;; esac
		ln -sf "$f" "$lib/$(basename "$f")"
	done
	# the sysroot's libz.so points at the packing machine's absolute path; link the local one
	for z in /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 /usr/lib64/libz.so.1 /lib64/libz.so.1; do
		if [ -e "$z" ]; then ln -sf "$z" "$lib/libz.so"; break; fi
	done
	cat >"$shim/bin/pkg-config" <<EOF
#!/bin/sh
# pkg-config stand-in for the device build: answers from $sys for the modules anet needs.
sys=$sys
link="-L$lib -Wl,-rpath,$lib -Wl,--disable-new-dtags"
mode=; mods=
for a; do case \$a in --exists|--libs|--cflags|--modversion) mode=\$a;; --*) ;; *) mods="\$mods \$a";; esac; done
out=
for m in \$mods; do
	case \$m in
	libturbojpeg) c="-I\$sys/include -I\$sys/include/x86_64-linux-gnu"; l=-lturbojpeg ;;
	libpng|libpng16) c="-I\$sys/include/libpng16"; l=-lpng16 ;;
	lmdb) c="-I\$sys/include"; l=-llmdb ;;
	zlib) c="-I\$sys/include"; l=-lz ;;
	openblas) c="-I\$sys/include/x86_64-linux-gnu/openblas-openmp"; l=-lopenblas ;;
	check) c="-I\$sys/include -pthread"; l="-lcheck_pic -lrt -lm -lsubunit" ;;
	*) exit 1 ;;
	esac
	case \$mode in
	--cflags) out="\$out \$c" ;;
	--libs) out="\$out \$link \$l" ;;
	--modversion) v=\$(sed -n 's/^Version: *//p' "\$sys/lib/pkgconfig/\$m.pc" 2>/dev/null); echo "\${v:-sysroot}" ;;
	esac
done
case \$mode in --cflags|--libs) echo "\$out" ;; esac
exit 0
EOF
	printf '#!/bin/sh\necho "apt-get: not on the device (no network); the sysroot provides the libraries" >&2\nexit 1\n' \
		>"$shim/bin/apt-get"
	chmod +x "$shim/bin/pkg-config" "$shim/bin/apt-get"
	# configure again through the stand-in, unless a previous run here already did
	grep -q -- "-L$lib " "$B/config.mk" 2>/dev/null || rm -f "$B/config.mk"
	export PATH="$shim/bin:$PATH"
	say "building with the sysroot $sys (pkg-config stand-in in $shim/bin, libraries linked in $lib)"
else
	say "no .device-sysroot: building with the system's packages"
fi
# make knows which suites this build has (check_viz needs cairo, check_convert jansson: the
# sysroot has neither)
stage build 300 make -j"$jobs" B="$B" WERROR=0 all tests benches
build_rc=$rc
grep -E 'warning|error' "$OUT/build.log" | grep -v -e '^make' -e '^cc ' -e '^/.*nvcc ' | sort -u >"$OUT/build-warnings.txt"
if [ $build_rc = 0 ] && [ -s "$OUT/build-warnings.txt" ]; then
	say "compiler messages (all in $OUT/build-warnings.txt):"
	head -n 12 "$OUT/build-warnings.txt" | cut -c1-180 | sed 's/^/    /'
fi
note "build" "$(status)"

# ---------------------------------------------------------------------------------------------
# 2. the CUDA op suite (every op against the CPU backend, the small net, determinism)
if [ -x $B/tests/check_cuda ]; then
	stage check_cuda 150 env CK_VERBOSITY=normal $B/tests/check_cuda
	if [ $gpu = 1 ] && grep -q 'skipped' "$OUT/check_cuda.log"; then
		rc=1 # nvidia-smi sees a GPU that the CUDA runtime cannot open: a failure here
		say "check_cuda: FAILED: $(grep -m1 'skipped' "$OUT/check_cuda.log")"
	fi
	note "check_cuda (GPU vs CPU ops)" "$(status): $(grep -E '^[0-9]+%: Checks' "$OUT/check_cuda.log" | tail -n 1)$(grep -m1 'skipped' "$OUT/check_cuda.log")"
	grep -E 'FAILED|DIFFERENT|differ|whole network|two GPU runs|driver step|GPU:' "$OUT/check_cuda.log" | head -n 24 |
		cut -c1-180 | sed 's/^/    /'
else
	note "check_cuda (GPU vs CPU ops)" "not built"
fi

# ---------------------------------------------------------------------------------------------
# 3. the benchmark (anet and PyTorch, FP32 and TF32)
if [ $gpu = 1 ] && [ -x $B/bench/gpu_alexnet ]; then
	stage bench 240 env ANET_BUILD=$B sh bench/gpu.sh
	sed -n '/^layer /,/^total /p' "$OUT/bench/anet-fp32.log" 2>/dev/null | sed 's/^/    /'
else
	rc=125
fi
note "benchmark" "$(status)"

# ---------------------------------------------------------------------------------------------
# 4. TF32 study: the same 300 training steps with FP32 and with TF32 GEMMs
if [ $gpu = 1 ] && [ -x $B/bench/gpu_alexnet ]; then
	stage study-fp32 60 $B/bench/gpu_alexnet --study 300
	r32=$(status)
	stage study-tf32 60 $B/bench/gpu_alexnet --study 300 --tf32
	paste "$OUT/study-fp32.log" "$OUT/study-tf32.log" 2>/dev/null | grep '^study [0-9]' |
		awk '{ printf "    step %4d  loss fp32 %.4f  tf32 %.4f\n", $2, $3, $6 }'
	f=$(sed -n 's/^study: mean loss over the last [0-9]* steps: //p' "$OUT/study-fp32.log")
	t=$(sed -n 's/^study: mean loss over the last [0-9]* steps: //p' "$OUT/study-tf32.log")
	fa=$(sed -n 's/^study: held-out accuracy: \([0-9.]*\).*/\1/p' "$OUT/study-fp32.log")
	ta=$(sed -n 's/^study: held-out accuracy: \([0-9.]*\).*/\1/p' "$OUT/study-tf32.log")
	note "TF32 study: loss of last 60 steps" "fp32 ${f:--} ($r32), tf32 ${t:--} ($(status))"
	note "TF32 study: held-out accuracy" "fp32 ${fa:--}, tf32 ${ta:--}"
fi

# ---------------------------------------------------------------------------------------------
# 5. the CPU op suite, as a check of the build itself
if [ -x $B/tests/check_ops ]; then
	stage check_ops 90 env CK_VERBOSITY=normal $B/tests/check_ops
	note "check_ops (CPU ops, sanity)" "$(status): $(grep -E '^[0-9]+%: Checks' "$OUT/check_ops.log" | tail -n 1)"
else
	note "check_ops (CPU ops, sanity)" "not built"
fi

# ---------------------------------------------------------------------------------------------
# 6. anet-train's own timing (the network driver on the same kernels), when the trainer offers it
# (the anet-train stages' sizes: the GPU's, or GPU_SH_DRY's on the CPU)
db=${TMPDIR:-/tmp}/anet-gpu-db # outside $OUT, whose files come back from the device
if [ $gpu = 1 ]; then
	trainer=1 dev=cuda batch=128 steps=200 asteps=40 every=10 iters=20 records=4096 net=alexnet
elif [ $dry = 1 ]; then
	trainer=1 dev=cpu batch=8 steps=4 asteps=4 every=2 iters=2 records=64 net=$db.net
	printf '%s\n' 'input size=32 channels=3' 'conv name=conv1 out=8 kernel=3 pad=1' relu 'pool size=3 stride=2' \
		'lrn size=5 alpha=1e-4 beta=0.75 k=2' 'fc name=fc6 out=16' relu dropout 'fc name=fc8 out=classes' softmax >"$net"
else
	trainer=0 dev=cpu batch=128 steps=200 records=4096
fi
if [ $trainer = 1 ] && [ -x $B/bin/anet-train ] && $B/bin/anet-train --help 2>/dev/null | grep -q -- '--time'; then
	stage anet-train-time 90 $B/bin/anet-train --net $net --time --device $dev --batch $batch --iters $iters
	tr=$(sed -n 's/^train: \([0-9.]*\) img\/s.*/\1/p' "$OUT/anet-train-time.log")
	inf=$(sed -n 's/^inference: \([0-9.]*\) img\/s.*/\1/p' "$OUT/anet-train-time.log")
	note "anet-train --time (net driver)" "$(status): train ${tr:--} img/s, inference ${inf:--} img/s"
	tail -n 24 "$OUT/anet-train-time.log" | sed 's/^/    /'
	# the same with anet-train --tf32 (the context's TF32 math mode, which gpu_alexnet --tf32 sets too)
	stage anet-train-time-tf32 60 $B/bin/anet-train --net $net --time --tf32 --device $dev --batch $batch --iters $iters
	tr=$(sed -n 's/^train: \([0-9.]*\) img\/s.*/\1/p' "$OUT/anet-train-time-tf32.log")
	inf=$(sed -n 's/^inference: \([0-9.]*\) img\/s.*/\1/p' "$OUT/anet-train-time-tf32.log")
	note "anet-train --time --tf32" "$(status): train ${tr:--} img/s, inference ${inf:--} img/s"
elif [ $trainer = 0 ]; then
	note "anet-train --time (net driver)" "skipped (no GPU)"
else
	note "anet-train --time (net driver)" "not available in this build"
fi

# ---------------------------------------------------------------------------------------------
# 6b. the loader and anet-train end to end: a 256x256 JPEG database of the committed photos
# (repeated, labels 0..9), then --loader-only with every core and 200 CUDA training steps from it.
# The loader must outrun the GPU's training rate; the end-to-end rate is read from the log's
# rows after the first (warm-up) one.
# (a shell script of its own: timeout runs programs, not the functions of this shell)
e2e_db='set -e
	rm -rf "$1" && mkdir -p "$1"
	ls tests/data/photo-*.jpg | awk -v n="$2" "{ p[NR - 1] = \$0 } END { for (i = 0; i < n; i++) print p[i % NR], i % 10 }" >"$1/list"
	$B/bin/imgprep -l "$1/list" -j "$jobs" | $B/bin/mkdb -q "$1/db.lmdb"
	$B/bin/pcacolor -q -o "$1/db.stats" "$1/db.lmdb"'
if [ -x $B/bin/anet-train ] && [ -x $B/bin/imgprep ]; then
	stage e2e-db 90 env B="$B" jobs="$jobs" sh -c "$e2e_db" e2e-db "$db" "$records"
	stage loader 60 $B/bin/anet-train --loader-only --batch $batch --steps $steps -j "$jobs" "$db/db.lmdb"
	note "data loader (-j $jobs, JPEG 256x256)" "$(status): $(sed -n 's/.*: \([0-9.]* img\/s\).*/\1/p' "$OUT/loader.log" | tail -n 1)"
	if [ $trainer = 1 ]; then
		# an earlier try's run stopped by its time limit left a checkpoint a new run must not replace
		rm -f "$db/m.ckpt" "$db/m4.ckpt"
		stage e2e 120 $B/bin/anet-train --net $net --device $dev --stats "$db/db.stats" --batch $batch --steps $steps \
			-j "$jobs" --report-every $every --checkpoint-every 0 --log "$OUT/e2e.tsv" -q -o "$db/m.anw" \
			"$db/db.lmdb"
		note "anet-train --device $dev, JPEG db" "$(status): $(awk -F'\t' 'NR == 2 { t0 = $10; s0 = $1 } NR > 2 {
			t = $10; s = $1; w += $9; n++ } END { if (n && t > t0) printf "%.0f img/s, data wait %.1f%%", b * (s - s0) / (t - t0), 100 * w / n }' \
			b=$batch "$OUT/e2e.tsv" 2>/dev/null)"
		# the same in 4 parts of 32 (--accum): the summed gradients (axpby) on the device; and the
		# layers' health measured on the device at every report (--health)
		stage e2e-accum 60 $B/bin/anet-train --net $net --device $dev --stats "$db/db.stats" --batch $batch --accum 4 \
			--steps $asteps -j "$jobs" --report-every $every --checkpoint-every 0 --log "$OUT/e2e-accum.tsv" -q \
			--health "$OUT/e2e-health.tsv" -o "$db/m4.anw" "$db/db.lmdb"
		want="40 expected: 8 layers at steps 10, 20, 30, 32 (the epoch end) and 40"
		[ $gpu = 1 ] || want="6 expected: 3 layers at steps 2 and 4"
		note "anet-train --accum 4 --health, JPEG db" "$(status): $(awk -F'\t' 'NR == 2 { t0 = $10; s0 = $1 } NR > 2 {
			t = $10; s = $1 } END { if (t > t0) printf "%.0f img/s", b * (s - s0) / (t - t0) }' \
			b=$batch "$OUT/e2e-accum.tsv" 2>/dev/null), $(awk 'NR > 1' "$OUT/e2e-health.tsv" 2>/dev/null | wc -l) health rows ($want)"
	fi
fi

# ---------------------------------------------------------------------------------------------
# 6c. the paper's AlexNet's gradients on the GPU against the double-precision reference (whose
# plain loops take 70 s on 2 cores, on every core in pieces) and finite differences
if [ $trainer = 1 ] && [ -x $B/bin/anet-train ]; then
	stage check-grads 150 $B/bin/anet-train --check-grads --net $net --device $dev --batch 2 -q
	note "anet-train --check-grads ($(basename $net))" "$(status): $(sed -n 's/^gradients \(agree\|DISAGREE\): //p' "$OUT/check-grads.log" | tail -n 1)"
	# with TF32 products, against the wider tolerance (2e-2) that --check-grads then applies
	stage check-grads-tf32 120 $B/bin/anet-train --check-grads --tf32 --net $net --device $dev --batch 2 -q
	note "anet-train --check-grads --tf32" "$(status): $(sed -n 's/^gradients \(agree\|DISAGREE\): //p' "$OUT/check-grads-tf32.log" | tail -n 1)"
fi

# ---------------------------------------------------------------------------------------------
# 7. compute-sanitizer memcheck over the elementwise, pooling and LRN cases (before the studies
# below, which matter less if time runs short)
san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ $gpu = 1 ] && [ -x "$san" ] && [ -x $B/tests/check_cuda ]; then
	stage memcheck 60 env CK_RUN_CASE=layers "$san" --tool memcheck --leak-check no --error-exitcode 3 $B/tests/check_cuda
	note "memcheck (layers cases)" "$(status): $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -n 1)"
fi

# ---------------------------------------------------------------------------------------------
# 8. how the conv chunk size matters: the workspace limit at 256 MiB instead of 1 GiB
if [ $gpu = 1 ] && [ -x $B/bench/gpu_alexnet ]; then
	stage ws256 45 env ANET_CUDA_WORKSPACE_MB=256 $B/bench/gpu_alexnet --iters 20
	note "train FP32, workspace 256 MiB" "$(value 'anet fp32 train img/s' "$OUT/ws256.log") img/s"
fi

# ---------------------------------------------------------------------------------------------
# 9. where anet's step goes, kernel by kernel (Nsight Systems, when the toolkit has it); the
# report itself stays outside $OUT (tens of MB), the statistics go to the log
nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys 2>/dev/null || true)
if [ $gpu = 1 ] && [ -n "$nsys" ] && [ -x $B/bench/gpu_alexnet ]; then
	stage nsys 75 "$nsys" profile --stats=true --force-overwrite=true -o /tmp/anet-nsys \
		$B/bench/gpu_alexnet --iters 5 --warmup 2
	awk '/cuda_gpu_kern_sum/ { f = 1 } f && n < 24 { print; n++ }' "$OUT/nsys.log" | cut -c1-170 | sed 's/^/    /'
	note "nsys kernel summary" "$(status) (in $OUT/nsys.log)"
fi

# ---------------------------------------------------------------------------------------------
echo
echo "== summary ($(( $(date +%s) - t0 ))s; logs in $OUT)"
sed -n '1,4p' "$OUT/machine.txt"
cat "$summary"
[ -f "$OUT/bench/table.txt" ] && cat "$OUT/bench/table.txt"
[ $build_rc = 0 ] || [ $build_rc = 125 ] || exit 1
exit 0
