#!/bin/sh
# Runs one harness (after make fuzz and tests/fuzz/seeds.sh), niced, for SECONDS (default 240):
#
#   sh tests/fuzz/run.sh NAME [SECONDS] [LIBFUZZER-FLAG...]      (NAME: tensorfile, spec, ...)
#
# New inputs go to build/fuzz/corpus/NAME (kept between runs), crashes, leaks, timeouts and
# allocations over the limit to build/fuzz/artifacts/NAME/. Memory is capped: a reader that
# asks for more than 1 GiB at once (or grows past 2 GiB) on a small input is a bug too.
set -eu
name=$1
secs=${2:-240}
[ $# -ge 2 ] && shift 2 || shift 1
bin=build/fuzz/fuzz_$name
[ -x "$bin" ] || { echo "run: $bin not built (make fuzz)" >&2; exit 1; }
mkdir -p "build/fuzz/corpus/$name" "build/fuzz/artifacts/$name"
dict=""
[ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
# shellcheck disable=SC2086
exec nice -n 19 "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$name/" $dict "$@" \
	"build/fuzz/corpus/$name" "build/fuzz/seeds/$name"
