#!/bin/sh
# test_gpu_sh.sh: tests/gpu.sh's anet-train stages, dry on the CPU (GPU_SH_DRY=1), so that a lent GPU's one call never meets a broken command line.
. "$ANET_TESTS/lib/shtest.sh"

# the script runs from the project's root and takes the build folder from ANET_BUILD
cd "$ANET_TESTS/.."
stages="anet-train-time anet-train-time-tf32 e2e-db loader e2e e2e-accum check-grads check-grads-tf32"
GPU_SH_DRY=1 STAGES="$stages" OUT=$T/out JOBS=2 sh tests/gpu.sh >"$T/log" 2>&1 ||
	{ cat "$T/log"; fail "gpu.sh (dry) exited $?"; }
for s in $stages; do
	grep -q "^gpu.sh: $s: ok" "$T/log" || { cat "$T/log"; fail "gpu.sh's stage $s did not pass"; }
done
# the stages outside STAGES said so and ran nothing
grep -q "^gpu.sh: build: skipped (not in STAGES)" "$T/log" || fail "the build stage ran"
# the summary reads the logs the stages wrote
grep -q "^anet-train --check-grads (.*) *pass: 6 tensors" "$T/out/summary.txt" ||
	{ cat "$T/out/summary.txt"; fail "no --check-grads row in the summary"; }
grep -q "pass: .* 6 health rows (6 expected" "$T/out/summary.txt" ||
	{ cat "$T/out/summary.txt"; fail "the --accum --health run wrote the wrong number of health rows"; }
grep -q "^data loader .*pass: [0-9.]* img/s" "$T/out/summary.txt" ||
	{ cat "$T/out/summary.txt"; fail "no loader rate in the summary"; }
exit 0
