#!/bin/sh
# Finds anet's dependencies, installs the missing Debian packages when run as root, writes config.mk.
#
#   mk/configure.sh OUT.mk [CUDA=0|1|auto] [NVCC=path]
#
# Called by the Makefile, which includes OUT.mk and restarts when it changes. Prints one
# ✓/✗ line per dependency. Without root, a missing package stops the build with one message
# that names every package to install.
set -eu
out=$1
cuda=${2:-auto}
nvcc=${3:-}

# pkg-config module -> Debian package that ships it
deps="libturbojpeg:libturbojpeg0-dev libpng:libpng-dev lmdb:liblmdb-dev zlib:zlib1g-dev
      openblas:libopenblas-openmp-dev check:check cairo:libcairo2-dev"

missing=""
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config"
for d in $deps; do
	mod=${d%%:*}; pkg=${d#*:}
	if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "$mod"; then
		missing="$missing $pkg"
	fi
done
# check's pkg-config file names libsubunit, which Debian packages separately
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists check &&
   ! pkg-config --libs check >/dev/null 2>&1; then
	missing="$missing libsubunit-dev"
fi

if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "configure: installing:$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086
		apt-get install -y -q --no-install-recommends $missing >&2 ||
			{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends $missing >&2; }
	else
		echo "configure: missing packages:$missing" >&2
		echo "configure: install them with: sudo apt-get install$missing" >&2
		exit 1
	fi
fi

mark() { if [ "$1" = yes ]; then printf '  \342\234\223 %s\n' "$2"; else printf '  \342\234\227 %s\n' "$2"; fi >&2; }

# OpenMP is part of gcc; check it anyway, since clang needs libomp-dev for it
if printf '#include <omp.h>\nint main(void){return omp_get_max_threads()<1;}\n' |
   ${CC:-cc} -fopenmp -x c - -o /dev/null 2>/dev/null; then mark yes "OpenMP"; else
	mark no "OpenMP (the compiler cannot build -fopenmp programs)"; exit 1; fi

for d in $deps; do
	mod=${d%%:*}
	mark yes "$mod $(pkg-config --modversion "$mod")"
done

# CUDA: built whenever nvcc is found, unless CUDA=0
have_cuda=0
if [ "$cuda" != 0 ]; then
	[ -n "$nvcc" ] || nvcc=$(command -v nvcc 2>/dev/null || true)
	[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; } || true
	if [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
		have_cuda=1
		cudadir=$(cd "$(dirname "$nvcc")/.." && pwd)
		mark yes "CUDA $("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') ($nvcc)"
	elif [ "$cuda" = 1 ]; then
		mark no "CUDA: CUDA=1 but nvcc was not found"; exit 1
	else
		mark no "CUDA (nvcc not found: CPU backend only)"
	fi
else
	mark no "CUDA (disabled by CUDA=0)"
fi

tmp=$out.tmp
{
	echo "# written by mk/configure.sh; delete it to re-run the checks"
	echo "DEP_CFLAGS := $(pkg-config --cflags libturbojpeg libpng lmdb zlib openblas)"
	echo "DEP_LIBS := $(pkg-config --libs libturbojpeg libpng lmdb zlib openblas)"
	echo "CHECK_CFLAGS := $(pkg-config --cflags check)"
	echo "CHECK_LIBS := $(pkg-config --libs check)"
	echo "CAIRO_CFLAGS := $(pkg-config --cflags cairo)"
	echo "CAIRO_LIBS := $(pkg-config --libs cairo)"
	echo "HAVE_CUDA := $have_cuda"
	if [ "$have_cuda" = 1 ]; then
		echo "NVCC := $nvcc"
		echo "CUDA_HOME := $cudadir"
	fi
} >"$tmp"
mv "$tmp" "$out"
