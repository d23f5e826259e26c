# shtest.sh: helpers sourced by the shell tests (tests/test_*.sh).
# Each test runs with ANET_BIN, ANET_TESTS and its own TMPDIR (see tests/run.sh).
set -eu
: "${ANET_BIN:?run the shell tests through make check}"
PATH=$ANET_BIN:$PATH
DATA=$ANET_TESTS/data
T=$TMPDIR

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "$*"; exit 77; }
# a command the test drives and the Debian package that has it (mk/configure.sh installs them as root)
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found: install $2 (apt-get install $2)"; }

# expect_exit CODE CMD...: runs CMD (stderr kept in $T/err), checks its exit status
expect_exit() {
	want=$1; shift
	set +e; "$@" 2>"$T/err"; got=$?; set -e
	[ "$got" = "$want" ] || { cat "$T/err" >&2; fail "'$*' exited $got, expected $want"; }
}

# expect_err PATTERN: the last expect_exit's stderr matches the grep pattern
expect_err() { grep -q -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr lacks '$1'"; }; }

# check_help PROG: --help exits 0 on stdout, mentions the man page's synopsis; bad option exits 2
check_help() {
	"$1" --help >"$T/help" 2>"$T/err" || fail "$1 --help failed"
	grep -q "^Usage: $1" "$T/help" || fail "$1 --help does not start its usage with 'Usage: $1'"
	[ -s "$T/err" ] && fail "$1 --help wrote to stderr"
	expect_exit 2 "$1" --no-such-option
	expect_err "Try '$1 --help'"
	"$1" --version >/dev/null || fail "$1 --version failed"
	# help that never arrived is no success
	expect_exit 1 "$1" --help >/dev/full
	expect_err "standard output: write error"
}

# fashion_fixture: the 64 Fashion-MNIST fixture images as 32x32 records (upsampled, as the
# demo does) in $T/train.lmdb, their statistics in $T/train.stats; the net for them is
# $DATA/tiny-gray28.net
fashion_fixture() {
	imgprep --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-64-labels.idx" -s 32 \
		--classes "$DATA/fashion-classes.txt" 2>/dev/null | mkdb -q "$T/train.lmdb"
	pcacolor -o "$T/train.stats" "$T/train.lmdb" 2>/dev/null
}
