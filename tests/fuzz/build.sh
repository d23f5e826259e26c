#!/bin/sh
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c) into build/fuzz/ with clang: `make fuzz`.
#
#   sh tests/fuzz/build.sh [HARNESS...]      (default: every tests/fuzz/fuzz_*.c)
#
# The project's libraries are built by the Makefile itself, with clang, CUDA off, and
# coverage, ASan and UBSan instrumentation, into build/fuzz/lib (a build folder of its own,
# like build-san/); each harness is then linked against them with -fsanitize=fuzzer. Not
# part of `make`, `make check` or CI: only this needs clang.
set -eu
CLANG=${CLANG:-clang}
out=build/fuzz
lib=$out/lib
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
command -v "$CLANG" >/dev/null 2>&1 || { echo "fuzz: $CLANG not found (libFuzzer needs clang)" >&2; exit 1; }

# the libraries (libviz.a for the training-log reader, when cairo is there; libconvert.a for
# the safetensors reader, when jansson is there)
${MAKE:-make} --no-print-directory B=$lib CC="$CLANG" CUDA=0 SANITIZE=0 \
	CFLAGS="-O1 -g -Wno-pass-failed -fsanitize=fuzzer-no-link $san" $lib/config.mk
libs="$lib/libcommon.a $lib/libkernels.a"
targets="$libs"
grep -q '^HAVE_CAIRO := 1' $lib/config.mk && targets="$targets $lib/libviz.a"
grep -q '^HAVE_JANSSON := 1' $lib/config.mk && targets="$targets $lib/libconvert.a"
# shellcheck disable=SC2086
${MAKE:-make} --no-print-directory B=$lib CC="$CLANG" CUDA=0 SANITIZE=0 \
	CFLAGS="-O1 -g -Wno-pass-failed -fsanitize=fuzzer-no-link $san" $targets

dep_cflags=$(sed -n 's/^DEP_CFLAGS := //p' $lib/config.mk)
dep_libs=$(sed -n 's/^DEP_LIBS := //p' $lib/config.mk)
harnesses=${*:-$(ls tests/fuzz/fuzz_*.c)}
for h in $harnesses; do
	name=$(basename "$h" .c)
	extra=""
	if [ "$name" = fuzz_trainlog ]; then
		[ -f $lib/libviz.a ] || { echo "fuzz: $name skipped (no cairo, no libviz.a)"; continue; }
		extra="$lib/libviz.a $(sed -n 's/^CAIRO_CFLAGS := //p' $lib/config.mk)"
	fi
	if [ "$name" = fuzz_safetensors ]; then
		[ -f $lib/libconvert.a ] || { echo "fuzz: $name skipped (no jansson, no libconvert.a)"; continue; }
		extra="$lib/libconvert.a $(pkg-config --cflags --libs jansson)"
	fi
	echo "fuzz: $out/$name"
	# shellcheck disable=SC2086
	$CLANG -std=c11 -D_GNU_SOURCE -I. -O1 -g -fsanitize=fuzzer $san -fopenmp $dep_cflags \
		"$h" tests/fuzz/fuzzlib.c $extra $libs $dep_libs -lpthread -lm -o "$out/$name"
done
