#!/bin/sh
# test_pcacolor.sh: pcacolor against numpy (tests/ref/pcacolor_ref.py, committed values), thread
# invariance, JPEG databases, --print, the statistics file, and refusals.
. "$ANET_TESTS/lib/shtest.sh"
need mdb_dump lmdb-utils
need mdb_load lmdb-utils
REF=$DATA/pcacolor-ref.txt

# Deterministic plain-netpbm images, already at the database's size so that imgprep passes the
# pixels through unchanged: RGB 24x24 (3 classes of 8), gray 20x20 (3 of 4). A small LCG gives
# every image a brightness, a gradient, a colour cast and some pixel noise, so the channels
# correlate (and JPEG keeps most of it).
make_images() { # DIR KIND(rgb|gray) SIDE COUNT
	for c in 0 1 2; do
		mkdir -p "$1/c$c"
		i=0
		while [ $i -lt "$4" ]; do
			awk -v c=$c -v i=$i -v s="$3" -v kind="$2" 'BEGIN {
				x = (c * 97 + i * 31 + 7) % 65537
				print (kind == "rgb" ? "P3" : "P2"), s, s, 255
				x = (x * 75 + 74) % 65537; cast = x % 60
				x = (x * 75 + 74) % 65537; base = x % 100
				for (p = 0; p < s * s; p++) {
					x = (x * 75 + 74) % 65537; n1 = x % 12
					x = (x * 75 + 74) % 65537; n2 = x % 8
					bright = base + 3 * (p % s) + 2 * int(p / s) + n1
					if (kind == "gray") { print bright; continue }
					b = 230 - bright + cast - int(n1 / 2)
					print bright + int(cast / 2), int(bright * 0.8) + n2, (b > 255 ? 255 : b)
				}
			}' > "$1/c$c/i$i.$( [ "$2" = rgb ] && echo ppm || echo pgm)"
			i=$((i + 1))
		done
	done
}
make_images "$T/rgb" rgb 24 8
make_images "$T/gray" gray 20 4
imgprep -s 24 --encode raw "$T/rgb" > "$T/rgb.rec" 2>/dev/null
imgprep -s 20 -c 1 --encode raw "$T/gray" > "$T/gray.rec" 2>/dev/null
imgprep -s 24 "$T/rgb" > "$T/rgbj.rec" 2>/dev/null
# and the shared Fashion-MNIST fixture: IDX pixels go into raw records unchanged
imgprep --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-64-labels.idx" > "$T/fashion.rec" 2>/dev/null
for f in rgb gray rgbj fashion; do # every image made it (the generator stays within 0..255)
	[ "$(grep -c ANRC "$T/$f.rec")" -ge 12 ] || fail "imgprep skipped generated images ($f)"
done
if [ "${ANET_MAKE_REF:-0}" = 1 ]; then
	/usr/bin/python3 "$ANET_TESTS/ref/pcacolor_ref.py" rgb="$T/rgb.rec" gray="$T/gray.rec" \
		fashion="$T/fashion.rec" > "$REF"
	echo "wrote $REF"
fi
[ -s "$REF" ] || fail "$REF is missing (ANET_MAKE_REF=1 writes it)"
for db in rgb gray rgbj fashion; do
	mkdb -q "$T/$db.lmdb" < "$T/$db.rec"
done

# compare TAG VALUES RTOL ATOL MEAN_RTOL: every number of the reference's TAG lines against
# pcacolor --print=values, |got - ref| <= ATOL + RTOL |ref|; prints the worst share used
compare() {
	awk -v tag="$1" -v rtol="$3" -v atol="$4" -v mrtol="$5" '
	FNR == NR { got[$1] = $0; next }
	$1 == tag {
		name = $2
		if (!(name in got)) { printf "%s: %s missing\n", tag, name; bad = 1; next }
		m = split(got[name], g, " ") - 1
		if (m != NF - 2) { printf "%s: %s: %d values, reference %d\n", tag, name, m, NF - 2; bad = 1; next }
		rt = name == "mean" ? mrtol : rtol
		for (i = 1; i <= m; i++) {
			r = $(i + 2); v = g[i + 1]
			if (r !~ /^-?[0-9]/) { if (v != r) { printf "%s: %s: %s, reference %s\n", tag, name, v, r; bad = 1 }; continue }
			d = v - r; if (d < 0) d = -d
			a = r < 0 ? -r : r
			share = d / (atol + rt * a)
			if (share > worst) { worst = share; where = name }
			if (share > 1) { printf "%s: %s[%d] = %.17g, reference %.17g\n", tag, name, i - 1, v, r; bad = 1 }
		}
		n++
	}
	END {
		printf "%s: %d quantities compared, worst %.1f%% of the tolerance (%s)\n", tag, n, 100 * worst, where
		exit bad || n < 11
	}' "$2" "$REF"
}

# --- against numpy. pcacolor's sums are exact and only the last division rounds; numpy
#     rounds every float64 step of ~14000-pixel sums (~1e-13 relative) and LAPACK's
#     eigenvectors carry ~1e-15 / (eigenvalue gap) error: 1e-9 relative (1e-9 absolute for
#     components near 0) leaves margin for that and nothing else. The mean image is stored
#     as float32: 1e-7 relative is a float's half ulp plus margin.
for db in rgb gray fashion; do
	pcacolor -q -j 2 "$T/$db.lmdb"
	[ -f "$T/$db.stats" ] || fail "pcacolor did not write the default $db.stats"
	pcacolor --print=values "$T/$db.stats" > "$T/$db.values"
	compare "$db" "$T/$db.values" 1e-9 1e-9 1e-7 || fail "$db statistics differ from numpy's"
done
grep -q "^channels 1$" "$T/gray.values" || fail "gray database not 1 channel"
grep -q "^eigvec 1$" "$T/gray.values" || fail "1x1 eigenvector is not 1"

# --- the same bits for any thread count
pcacolor -q -j 1 -o "$T/j1.stats" "$T/rgb.lmdb"
pcacolor -q -j 3 -o "$T/j3.stats" "$T/rgb.lmdb"
cmp -s "$T/j1.stats" "$T/j3.stats" || fail "1 and 3 threads gave different statistics"

# --- a JPEG database decodes to close to the raw pixels (q90 on noisy images: the channel
#     means move by well under 3 levels, the largest eigenvalue by under 10%)
pcacolor -q --print=values -o "$T/rgbj.stats" "$T/rgbj.lmdb" > "$T/rgbj.values"
awk 'FNR == NR { if ($1 == "mean_channel" || $1 == "eigval") want[$1] = $0; next }
	$1 == "mean_channel" { split(want[$1], w, " "); for (i = 2; i <= 4; i++) if ((d = $i - w[i]) > 3 || d < -3) bad = 1 }
	$1 == "eigval" { split(want[$1], w, " "); if ((d = $2 / w[2] - 1) > 0.1 || d < -0.1) bad = 1 }
	END { exit bad }' "$T/rgb.values" "$T/rgbj.values" || fail "JPEG database statistics far from the raw ones"

# --- the table
pcacolor --print "$T/rgb.stats" > "$T/table"
for want in "24 images of 24x24x3, pixel scale 0-255" "channel mean:" "covariance" \
	"eigenvalue lambda_i" "sqrt(lambda_i)" "authors' cuda-convnet2 code; anet-train" "levels"; do
	grep -q "$want" "$T/table" || { cat "$T/table"; fail "the table lacks '$want'"; }
done
pcacolor -q --print -o "$T/both.stats" "$T/gray.lmdb" > "$T/table2"
grep -q "Y" "$T/table2" && [ -f "$T/both.stats" ] || fail "--print with a database does not print and write"

# --- refusals
check_help pcacolor
expect_exit 2 pcacolor
expect_err "missing DB"
expect_exit 2 pcacolor -j 0 "$T/rgb.lmdb"
expect_exit 2 pcacolor --print=csv "$T/rgb.lmdb"
expect_exit 1 pcacolor "$T/nothing.lmdb"
expect_err "no such database"
mkdir "$T/plain"
expect_exit 1 pcacolor "$T/plain"
expect_err "not a database"
# -o onto the database's own file is refused before the run, the database kept
cp -r "$T/gray.lmdb" "$T/own.lmdb"
expect_exit 2 pcacolor -o "$T/own.lmdb/data.mdb" "$T/own.lmdb/"
expect_err "\-o .*own.lmdb/data.mdb is the data.mdb of the database .*own.lmdb/"
mkdb --info "$T/own.lmdb" >/dev/null 2>&1 || fail "-o onto data.mdb replaced the database"
# an output that cannot be written is found before the pass over the database
expect_exit 1 pcacolor -o "$T/no/such/dir/x.stats" "$T/rgb.lmdb"
expect_err "no/such/dir/x.stats.tmp.[0-9]*: No such file or directory"
grep -q "images/s" "$T/err" && fail "the database was read before the output was found unwritable"
[ ! -e "$T/no" ] || fail "a failed write left something"
mkdir "$T/statsdir"
expect_exit 1 pcacolor -o "$T/statsdir" "$T/rgb.lmdb"
expect_err "statsdir: is a directory"
grep -q "images/s" "$T/err" && fail "the database was read before the output was found to be a folder"
printf 'not statistics' > "$T/bad.stats"
# a table that never arrived: pcacolor says why it fails
expect_exit 1 pcacolor --print "$T/both.stats" >/dev/full
expect_err "standard output: write error: No space left on device"
expect_exit 1 pcacolor --print "$T/bad.stats"
expect_err "bad.stats"

# an empty database (made with LMDB's own tools: mkdb never makes one)
{
	printf 'VERSION=3\nformat=print\ntype=btree\nmapsize=1048576\nmaxreaders=126\nHEADER=END\n'
	printf ' anet-meta\n anet-db 1\\0acount 0\\0aheight 24\\0awidth 24\\0achannels 3\\0aencoding raw\\0a'
	printf 'labelled no\\0aclasses 0\\0aseed 1\\0ashuffled yes\\0aanet-version 0.1.0\\0acreated 2026-01-01T00:00:00Z\\0a\n'
	printf 'DATA=END\n'
} > "$T/empty.dump"
mkdir "$T/empty.lmdb"
mdb_load -f "$T/empty.dump" "$T/empty.lmdb"
expect_exit 1 pcacolor "$T/empty.lmdb"
expect_err "the database is empty"
[ ! -e "$T/empty.stats" ] || fail "statistics written for an empty database"

# a damaged record: named by its key, and no statistics file
# (hex dump: mdb_load 0.9.24 cannot read back mdb_dump -p's long lines; "ANRC" is 414e5243)
mdb_dump "$T/rgb.lmdb" | awk '/^ 30303030303030303035$/ { print; getline; sub(/^ 414e5243/, " 584e5243") } { print }' > "$T/bad.dump"
mkdir "$T/badrec.lmdb"
mdb_load -f "$T/bad.dump" "$T/badrec.lmdb" 2>/dev/null
expect_exit 1 pcacolor "$T/badrec.lmdb"
expect_err "key 0000000005: not an anet record"
[ ! -e "$T/badrec.stats" ] || fail "statistics written for a damaged database"
echo "test_pcacolor: ok"
