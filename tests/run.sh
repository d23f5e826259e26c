#!/bin/sh
# Runs the whole suite: every Check binary, then every shell test (tests/test_*.sh).
#
#   sh tests/run.sh BUILD_DIR CHECK_BINARY...
#
# Shell tests get ANET_BIN (the programs), ANET_BUILD, ANET_TESTS (this folder) and a fresh
# scratch folder in TMPDIR; a test that cannot run here (a missing optional tool) exits 77
# and is counted as skipped. ANET_TESTS_ONLY=pattern runs only the matching tests.
set -u
build=$1; shift
# tests check results, not times: Check's 4 s default fails a suite on a busy machine
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}
top=$(pwd)
case $build in /*) ;; *) build=$top/$build ;; esac # B= may name a folder anywhere
pass=0; fail=0; skip=0; failed=""
only=${ANET_TESTS_ONLY:-}

want() { [ -z "$only" ] || case "$1" in *$only*) return 0;; *) return 1;; esac; }

for t in "$@"; do
	want "$t" || continue
	name=$(basename "$t")
	start=$(date +%s)
	if CK_VERBOSITY=${CK_VERBOSITY:-normal} "$t"; then
		pass=$((pass + 1)); echo "PASS: $name ($(( $(date +%s) - start ))s)"
	else
		fail=$((fail + 1)); failed="$failed $name"; echo "FAIL: $name"
	fi
done

for t in tests/test_*.sh; do
	[ -f "$t" ] || continue
	want "$t" || continue
	name=$(basename "$t" .sh)
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/anet-$name.XXXXXX")
	start=$(date +%s)
	ANET_BIN=$build/bin ANET_BUILD=$build ANET_TESTS=$top/tests TMPDIR=$scratch \
		sh "$t" >"$scratch.log" 2>&1
	rc=$?
	case $rc in
	0) pass=$((pass + 1)); echo "PASS: $name ($(( $(date +%s) - start ))s)" ;;
	77) skip=$((skip + 1)); echo "SKIP: $name: $(tail -n 1 "$scratch.log")" ;;
	*) fail=$((fail + 1)); failed="$failed $name"; echo "FAIL: $name (exit $rc); its output:"
	   sed 's/^/    /' "$scratch.log" | tail -n 40 ;;
	esac
	rm -rf "$scratch" "$scratch.log"
done

echo "== $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] || { echo "== failed:$failed"; exit 1; }
