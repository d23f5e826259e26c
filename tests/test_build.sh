#!/bin/sh
# test_build.sh: the Makefile's knobs, read by mk/configure.sh into the build folder's config.mk,
# take effect when given to a folder already configured (make CUDA=0 after make); dry runs
# (make -n) in a scratch build folder, with a stand-in nvcc that only answers --version.
. "$ANET_TESTS/lib/shtest.sh"
# the outer make's flags (make check SANITIZE=1, -j) are not this make's
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ANET_TESTS/.." -n SANITIZE=0 B="$T/b" NVCC="$T/nvcc" "$@"; }
printf '#!/bin/sh\necho "Cuda compilation tools, release 12.0, V12.0.76"\n' >"$T/nvcc"
chmod +x "$T/nvcc"
have_cuda() { sed -n 's/^HAVE_CUDA := //p' "$T/b/config.mk"; }

mk all >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "make -n with an nvcc"; }
[ "$(have_cuda)" = 1 ] || { cat "$T/err"; fail "an nvcc found, but HAVE_CUDA is '$(have_cuda)'"; }
grep -q -- "-DANET_HAVE_CUDA=1" "$T/out" || fail "the CUDA backend is not built with an nvcc"
# CUDA=0 on the configured folder leaves the CUDA backend out
mk CUDA=0 all >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "make -n CUDA=0"; }
[ "$(have_cuda)" = 0 ] || fail "make CUDA=0 after make: HAVE_CUDA is still '$(have_cuda)'"
grep -q -- "-DANET_HAVE_CUDA=1" "$T/out" && fail "make CUDA=0 after make still builds the CUDA backend"
# the same knobs again configure nothing
mk CUDA=0 all >"$T/out" 2>"$T/err" || fail "make -n CUDA=0 again"
grep -q "^configure:" "$T/err" && { cat "$T/err"; fail "the same knobs configured again"; }
# and back: the CUDA backend again
mk all >"$T/out" 2>"$T/err" || fail "make -n after make CUDA=0"
[ "$(have_cuda)" = 1 ] || fail "make after make CUDA=0: HAVE_CUDA is '$(have_cuda)'"

# make uninstall configures nothing (as root, configure installs packages) and removes every
# program, anet-viz and anet-convert too, whatever this machine would build now
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ANET_TESTS/.." -n B="$T/nb" PREFIX="$T/p" uninstall >"$T/out" 2>"$T/err" ||
	{ cat "$T/err"; fail "make -n uninstall"; }
[ -e "$T/nb/config.mk" ] && fail "make uninstall configured a build folder"
for p in imgprep mkdb pcacolor anet-train anet-eval anet-viz anet-convert; do
	grep -q "$T/p/bin/$p\( \|\$\)" "$T/out" || { cat "$T/out"; fail "make uninstall does not remove $p"; }
done
echo ok
