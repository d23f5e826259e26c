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

# pkg-config module -> Debian package that ships it. Required ones stop the build when
# missing; optional ones (cairo: anet-viz's text and bars; jansson: anet-convert's JSON) only
# leave their program out.
required="libturbojpeg:libturbojpeg0-dev libpng:libpng-dev lmdb:liblmdb-dev zlib:zlib1g-dev
          openblas:libopenblas-openmp-dev check:check"
optional="cairo:libcairo2-dev jansson:libjansson-dev"
# commands the tests drive (make check) -> their Debian packages; installed like the optional ones
test_tools="mdb_stat:lmdb-utils groff:groff-base"

have() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1" && pkg-config --libs "$1" >/dev/null 2>&1; }
is_command() { command -v "$1" >/dev/null 2>&1; }
# missing_of TEST LIST: the packages of LIST's entries for which TEST fails
missing_of() {
	m=""
	for d in $2; do "$1" "${d%%:*}" || m="$m ${d#*:}"; done
	echo "$m"
}
install() {
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends "$@" >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "$@" >&2; }
}
root=0
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && root=1

missing=$(missing_of have "$required")
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config$missing"
# check's pkg-config file names libsubunit, which Debian packages separately
if pkg-config --exists check 2>/dev/null && ! pkg-config --libs check >/dev/null 2>&1; then
	missing="$missing libsubunit-dev"
fi
if [ -n "$missing" ]; then
	if [ $root = 1 ]; then
		echo "configure: installing:$missing" >&2
		# shellcheck disable=SC2086
		install $missing || { echo "configure: could not install:$missing" >&2; exit 1; }
	else
		echo "configure: missing packages:$missing" >&2
		echo "configure: install them with: sudo apt-get install$missing" >&2
		exit 1
	fi
fi
tools_missing=$(missing_of is_command "$test_tools")
opt_missing=$(missing_of have "$optional")$tools_missing
if [ -n "$opt_missing" ] && [ $root = 1 ]; then
	echo "configure: installing:$opt_missing" >&2
	# shellcheck disable=SC2086
	install $opt_missing || echo "configure: could not install$opt_missing; going on without" >&2
elif [ -n "$tools_missing" ]; then
	echo "configure: make check needs:$tools_missing (sudo apt-get install$tools_missing)" >&2
fi

mark() { if [ "$1" = yes ]; then printf '  \342\234\223 %s\n' "$2"; else printf '  \342\234\227 %s\n' "$2"; fi >&2; }

# OpenMP is part of gcc; check it anyway, since clang needs libomp-dev for it
if printf '#include <omp.h>\nint main(void){return omp_get_max_threads()<1;}\n' |
   ${CC:-cc} -fopenmp -x c - -o /dev/null 2>/dev/null; then mark yes "OpenMP"; else
	mark no "OpenMP (the compiler cannot build -fopenmp programs)"; exit 1; fi

for d in $required; do
	mod=${d%%:*}
	mark yes "$mod $(pkg-config --modversion "$mod")"
done
have_cairo=0
if have cairo; then have_cairo=1; mark yes "cairo $(pkg-config --modversion cairo)"; else
	mark no "cairo (install libcairo2-dev for anet-viz; it is left out)"; fi
have_jansson=0
if have jansson; then have_jansson=1; mark yes "jansson $(pkg-config --modversion jansson)"; else
	mark no "jansson (install libjansson-dev for anet-convert; it is left out)"; fi

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
	echo "HAVE_CAIRO := $have_cairo"
	if [ $have_cairo = 1 ]; then
		echo "CAIRO_CFLAGS := $(pkg-config --cflags cairo)"
		echo "CAIRO_LIBS := $(pkg-config --libs cairo)"
	fi
	echo "HAVE_JANSSON := $have_jansson"
	if [ $have_jansson = 1 ]; then
		echo "JANSSON_CFLAGS := $(pkg-config --cflags jansson)"
		echo "JANSSON_LIBS := $(pkg-config --libs jansson)"
	fi
	echo "HAVE_CUDA := $have_cuda"
	if [ "$have_cuda" = 1 ]; then
		echo "NVCC := $nvcc"
		echo "CUDA_HOME := $cudadir"
	fi
} >"$tmp"
mv "$tmp" "$out"
