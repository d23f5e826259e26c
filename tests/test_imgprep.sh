# test_imgprep.sh: imgprep as a program: options, every input kind, bad files, order under -j, exit statuses.
# shellcheck source=tests/lib/shtest.sh
. "$ANET_TESTS/lib/shtest.sh"

check_help imgprep
# records lost to a full output are not called written
expect_exit 1 imgprep -s 24 "$DATA/photo-dog.jpg" >/dev/full
expect_err "standard output: write error: No space left on device"
expect_err "1 prepared before the failure above, 0 skipped"
grep -q "written" "$T/err" && fail "records lost to /dev/full called written: $(cat "$T/err")"
# nor records whose file could not be renamed into place (an immutable -o, as root on ext4)
: > "$T/immutable.rec"
if chattr +i "$T/immutable.rec" 2>/dev/null; then
	set +e; imgprep -s 24 -o "$T/immutable.rec" "$DATA/photo-dog.jpg" 2>"$T/err"; rc=$?; set -e
	chattr -i "$T/immutable.rec"
	[ $rc = 1 ] || fail "an -o that cannot be replaced: exit $rc"
	expect_err "immutable.rec: Operation not permitted"
	expect_err "1 prepared before the failure above, 0 skipped"
fi

# usage errors exit 2 and point at --help
for args in "" "-s 0 $DATA/photo-dog.jpg" "-c 2 $DATA/photo-dog.jpg" "--encode png $DATA/photo-dog.jpg" \
	"--encode jpeg:101 $DATA/photo-dog.jpg" "-f gif $DATA/photo-dog.jpg" "-r $DATA $DATA/photo-dog.jpg" \
	"-l $DATA/list.txt $DATA/photo-dog.jpg" "--filter box $DATA/photo-dog.jpg" "-j x $DATA/photo-dog.jpg" \
	"-f ppm --encode raw $DATA/photo-dog.jpg"; do
	# shellcheck disable=SC2086
	expect_exit 2 imgprep $args -o "$T/never"
	expect_err "Try 'imgprep --help'"
done
expect_exit 2 imgprep --idx "$DATA/fashion-64-images.idx"
[ ! -e "$T/never" ] || fail "a usage error left an output file"

# records are binary: not onto a terminal (script(1) gives the command one)
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
	set +e
	script -qec "imgprep '$DATA/photo-dog.jpg'" /dev/null >"$T/tty" 2>&1
	rc=$?
	set -e
	[ "$rc" = 2 ] || { cat "$T/tty" >&2; fail "records to a terminal: exit $rc, expected 2"; }
	grep -q "refusing to write records to a terminal" "$T/tty" || fail "no terminal refusal message"
else
	echo "note: script(1) cannot give a terminal here; the terminal refusal is not checked"
fi

# a class-folder tree: same bytes whatever the thread count, class table first
imgprep -j 1 -s 32 "$DATA/tree" >"$T/tree1" 2>"$T/err"
grep -q "8 written, 0 skipped" "$T/err" || { cat "$T/err" >&2; fail "tree: expected 8 written"; }
imgprep -j 4 -s 32 "$DATA/tree" >"$T/tree4" 2>/dev/null
cmp -s "$T/tree1" "$T/tree4" || fail "tree: -j 1 and -j 4 wrote different bytes"
[ "$(head -c 4 "$T/tree1")" = ANCL ] || fail "tree: the stream does not start with the class table"

# everything at once, good and bad files interleaved: order kept, bad files named and skipped
set -- photo-dog.jpg bad-empty.jpg photo-eagle.jpg bad-truncated.jpg cmyk.jpg bad-huge-header.jpg ycck.jpg \
	bad-not-an-image.jpg gray.jpg png-named.JPEG bad-truncated.png progressive.jpg png-palette.png \
	png-gray16.png pnm-p6.ppm pnm-p3.ppm warn-extraneous.jpg no-such-file.jpg photo-giraffe.jpg
files=""
for f in "$@"; do files="$files $DATA/$f"; done
# shellcheck disable=SC2086
expect_exit 0 imgprep -j 1 -s 40 --max-errors 6 $files -o "$T/mix1"
for bad in bad-empty.jpg bad-truncated.jpg bad-huge-header.jpg bad-not-an-image.jpg bad-truncated.png no-such-file.jpg; do
	expect_err "imgprep: $DATA/$bad: "
done
expect_err "13 written, 6 skipped"
expect_err "$DATA/cmyk.jpg: CMYK JPEG (Adobe, inverted) converted to RGB"
expect_err "$DATA/png-named.JPEG: PNG data under a JPEG name"
expect_err "$DATA/warn-extraneous.jpg: libjpeg warning, decoded anyway"
for j in 2 3 8; do
	# shellcheck disable=SC2086
	imgprep -j $j -s 40 $files >"$T/mix$j" 2>/dev/null || true
	cmp -s "$T/mix1" "$T/mix$j" || fail "-j 1 and -j $j wrote different bytes"
done
# the same in a netpbm stream, which netpbm's tools read image by image
# shellcheck disable=SC2086
imgprep -j 3 -s 40 -f ppm $files >"$T/mix.ppm" 2>/dev/null || true
[ "$(wc -c <"$T/mix.ppm")" = $((13 * (13 + 40 * 40 * 3))) ] || fail "-f ppm: wrong stream length"
if command -v pnmfile >/dev/null 2>&1; then
	[ "$(pnmfile -allimages "$T/mix.ppm" | grep -c '40 by 40')" = 13 ] || fail "pnmfile does not read 13 images"
fi

# --max-errors: more skipped images than allowed is exit 1, yet the output is complete
# shellcheck disable=SC2086
expect_exit 1 imgprep -j 2 -s 40 --max-errors 5 $files -o "$T/mix5"
expect_err "6 images skipped, more than --max-errors 5"
cmp -s "$T/mix1" "$T/mix5" || fail "--max-errors: the failing run wrote something else"
# only bad files: nothing written is always a failure, and -o leaves no file behind
expect_exit 1 imgprep "$DATA/bad-empty.jpg" "$DATA/bad-truncated.jpg" -o "$T/none"
expect_err "no images written"
[ ! -e "$T/none" ] || fail "an empty run left its output file"

# a signal leaves no -o behind, not even its temporary: imgprep waits on a FIFO image after the
# first one (a command run with & starts with SIGINT ignored, which imgprep keeps; env gives
# it back its default)
mkfifo "$T/slow.jpg"
for sig in TERM:143 HUP:129 INT:130; do
	env --default-signal=INT imgprep -j 1 -s 24 -o "$T/cut.rec" "$DATA/photo-dog.jpg" "$T/slow.jpg" 2>"$T/err" &
	pid=$!
	i=0
	while ! ls "$T"/cut.rec.tmp.* >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	sleep 0.2
	kill -"${sig%:*}" "$pid"
	set +e; wait "$pid"; rc=$?; set -e
	[ "$rc" = "${sig#*:}" ] || { cat "$T/err"; fail "SIG${sig%:*}: exit $rc, expected ${sig#*:}"; }
	ls "$T"/cut.rec* >/dev/null 2>&1 && fail "SIG${sig%:*} left $(ls "$T"/cut.rec*)"
	expect_err "interrupted; the unfinished .*cut.rec.tmp.[0-9]* was removed"
done

# --strict: a libjpeg warning skips the image
expect_exit 0 imgprep -s 32 "$DATA/warn-extraneous.jpg" -o "$T/warn"
expect_err "1 decoded despite libjpeg warnings"
expect_exit 1 imgprep --strict -s 32 "$DATA/warn-extraneous.jpg" -o "$T/strict"
expect_err "$DATA/warn-extraneous.jpg: libjpeg warning (refused under --strict)"

# list files: every malformed line reported by file:line before any work, nothing written
expect_exit 1 imgprep -l "$DATA/list-bad.txt" -r "$DATA" -o "$T/bad-list"
for n in 2 3 5 6; do expect_err "$DATA/list-bad.txt:$n: "; done
grep -q "list-bad.txt:1:\|list-bad.txt:4:\|list-bad.txt:7:" "$T/err" && fail "a good line was reported"
grep -q "written" "$T/err" && fail "a malformed list was converted"
# a good list, also read from a pipe; names as the list gives them
expect_exit 0 imgprep -l "$DATA/list.txt" -r "$DATA" --classes "$DATA/fashion-classes.txt" -s 32 -o "$T/list"
expect_err "7 written, 0 skipped"
grep -q "dog with space.jpg" "$T/list" || fail "list: the name with spaces is not in the records"
# a pipe, which cannot be read twice
# shellcheck disable=SC2002
cat "$DATA/list.txt" | imgprep -l - -r "$DATA" --classes "$DATA/fashion-classes.txt" -s 32 >"$T/list-pipe" 2>/dev/null
cmp -s "$T/list" "$T/list-pipe" || fail "list from a pipe differs"
# a root that is no folder: said once, before any image
expect_exit 1 imgprep -l "$DATA/list.txt" -r "$T/no-such-root" -o "$T/x"
expect_err "\-r .*no-such-root: No such file or directory"
[ "$(wc -l <"$T/err")" = 1 ] || fail "a missing root: $(cat "$T/err")"
expect_exit 1 imgprep -l "$DATA/list.txt" -r "$DATA/list.txt" -o "$T/x"
expect_err "\-r .*list.txt: not a folder"
expect_exit 1 imgprep --classes "$DATA/fashion-classes.txt" "$DATA/tree" -o "$T/x"
expect_err "does not apply to a class folder"
printf 'photo-dog.jpg 12\n' >"$T/high.txt"
expect_exit 1 imgprep -l "$T/high.txt" -r "$DATA" --classes "$DATA/fashion-classes.txt" -o "$T/x"
expect_err "names 10 classes, but the input has label 12"

# IDX: gzip or plain, the same pixels; own size and one channel by default, raw payloads
expect_exit 0 imgprep -f ppm --idx "$DATA/fashion-64-images.idx.gz" "$DATA/fashion-64-labels.idx.gz" -o "$T/gz.pgm"
expect_err "64 written"
imgprep -f ppm --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-64-labels.idx" >"$T/plain.pgm" 2>/dev/null
cmp -s "$T/gz.pgm" "$T/plain.pgm" || fail "IDX: gzip and plain files give different images"
[ "$(head -c 2 "$T/gz.pgm")" = P5 ] || fail "IDX: not one channel by default"
[ "$(wc -c <"$T/gz.pgm")" = $((64 * (13 + 28 * 28))) ] || fail "IDX: not 28x28 by default"
imgprep --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-64-labels.idx" --classes "$DATA/fashion-classes.txt" \
	>"$T/idx.rec" 2>/dev/null
grep -q "fashion-64-images.idx:63" "$T/idx.rec" || fail "IDX: record names are not IMAGES:INDEX"
[ "$(wc -c <"$T/idx.rec")" -gt $((64 * 784)) ] || fail "IDX: records are not raw by default"
expect_exit 1 imgprep --idx "$DATA/fashion-64-images.idx" "$DATA/fashion-63-labels.idx" -o "$T/x"
expect_err "holds 63 labels, but"
expect_exit 1 imgprep --idx "$DATA/bad-truncated-images.idx" "$DATA/fashion-64-labels.idx" -o "$T/x"
expect_err "bad-truncated-images.idx: the header promises"
# a pipe, which the check would consume before the conversion, is refused at once
cat "$DATA/fashion-64-images.idx.gz" | expect_exit 1 imgprep --idx /dev/stdin "$DATA/fashion-64-labels.idx.gz" -o "$T/x"
expect_err "/dev/stdin: not a regular file (IDX files are read twice"
# damaged gzip data: said so, the file named once
cp "$DATA/fashion-64-images.idx.gz" "$T/damaged.idx.gz"
printf '\377\377\377\377' | dd of="$T/damaged.idx.gz" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_exit 1 imgprep --idx "$T/damaged.idx.gz" "$DATA/fashion-64-labels.idx.gz" -o "$T/x"
expect_err "damaged.idx.gz: .*corrupt gzip data ("
grep -q "damaged.idx.gz: .*damaged.idx.gz" "$T/err" && fail "the damaged file named twice: $(cat "$T/err")"

# EXIF orientation 6: ignored by default (the stored pixels, the summary says so); --orientation
# exif turns it upright as PIL's exif_transpose does. corners: the colour of pixel (x, y) of a
# 24x24 P6 stream (13 header bytes), as the letters R G B Y of its quadrant colours
corner() {
	od -An -tu1 -j $((13 + ($2 * 24 + $1) * 3)) -N3 "$3" |
		awk '{ r = $1 > 128; g = $2 > 128; b = $3 > 128; printf "%s", r && g ? "Y" : r ? "R" : g ? "G" : b ? "B" : "?" }'
}
corners() { echo "$(corner 1 1 "$1")$(corner 22 1 "$1")$(corner 1 22 "$1")$(corner 22 22 "$1")"; }
imgprep -s 24 -f ppm "$DATA/exif-6.jpg" >"$T/stored.ppm" 2>"$T/err" || fail "exif-6.jpg failed"
[ "$(corners "$T/stored.ppm")" = RGBY ] || fail "EXIF ignored: corners $(corners "$T/stored.ppm"), expected RGBY"
grep -q "1 image has an EXIF orientation other than upright, ignored" "$T/err" || fail "no note of the ignored orientation"
imgprep -s 24 -f ppm --orientation exif "$DATA/exif-6.jpg" >"$T/upright.ppm" 2>"$T/err" || fail "--orientation exif failed"
[ "$(corners "$T/upright.ppm")" = BRYG ] || fail "--orientation exif: corners $(corners "$T/upright.ppm"), expected BRYG (PIL's)"
grep -q "1 turned upright by EXIF orientation" "$T/err" || fail "no count of turned images: $(cat "$T/err")"
imgprep -s 24 -f ppm --orientation exif "$DATA/exif-6.png" >"$T/upright-png.ppm" 2>/dev/null || fail "exif-6.png failed"
[ "$(corners "$T/upright-png.ppm")" = BRYG ] || fail "PNG eXIf: corners $(corners "$T/upright-png.ppm"), expected BRYG"
# the same orientation where PIL's getexif also finds it: the same pixels turned the same way.
# XMP alone (JPEG APP1, PNG iTXt), ImageMagick's hex profile in a PNG; and XMP's 6 beside an
# EXIF 1, which EXIF decides (the pixels as stored). PNG chunks libpng's API does not give: an
# eXIf with "Exif\0\0" in front, the block in a tEXt "exif", and a tEXt "exif" of 6 after an
# eXIf of 1 (the last counts)
for f in xmp-6.jpg:upright xmp-6.png:upright-png rawexif-6.png:upright-png exif-1-xmp-6.jpg:stored \
	exif-prefix-6.png:upright-png textexif-6.png:upright-png exif-1-textexif-6.png:upright-png; do
	imgprep -s 24 -f ppm --orientation exif "$DATA/${f%%:*}" >"$T/other.ppm" 2>/dev/null || fail "${f%%:*} failed"
	cmp -s "$T/other.ppm" "$T/${f#*:}.ppm" || fail "${f%%:*}: corners $(corners "$T/other.ppm"), not those of $T/${f#*:}.ppm"
done
imgprep -s 24 -f ppm "$DATA/xmp-6.png" >/dev/null 2>"$T/err"
grep -q "1 image has an EXIF orientation other than upright, ignored" "$T/err" || fail "the XMP orientation not noted"
imgprep -s 24 -f ppm "$DATA/photo-dog.jpg" >"$T/dog-a.ppm" 2>/dev/null
imgprep -s 24 -f ppm --orientation exif "$DATA/photo-dog.jpg" >"$T/dog-b.ppm" 2>/dev/null
cmp -s "$T/dog-a.ppm" "$T/dog-b.ppm" || fail "--orientation exif changed a JPEG without the tag"
expect_exit 2 imgprep --orientation sideways "$DATA/photo-dog.jpg"
expect_err "is not ignore or exif"

# -o onto an input is refused, the input kept
cp "$DATA/photo-dog.jpg" "$T/dog.jpg"
expect_exit 2 imgprep -s 24 -o "$T/dog.jpg" "$T/dog.jpg"
expect_err "\-o .*dog.jpg is the input .*dog.jpg itself"
cmp "$T/dog.jpg" "$DATA/photo-dog.jpg" || fail "-o onto the input image replaced it"
printf '%s 0\n' "$T/dog.jpg" >"$T/one.txt"
ln -s "$T/one.txt" "$T/link.txt"
expect_exit 2 imgprep -s 24 -l "$T/one.txt" -o "$T/link.txt"
expect_err "\-o .*link.txt is the input .*one.txt itself"
# an image the list names (or a class folder holds) is found when the run reaches it
printf '%s 0\n%s 1\n' "$DATA/gray.jpg" "$T/dog.jpg" >"$T/two.txt"
expect_exit 1 imgprep -s 24 -l "$T/two.txt" -o "$T/dog.jpg"
expect_err "\-o .*dog.jpg is the input .*dog.jpg itself: nothing written"
cmp "$T/dog.jpg" "$DATA/photo-dog.jpg" || fail "-o onto an image of the list replaced it"

# -s, -c and --encode shape the records: 3 channels of 24x24 raw is 1728 payload bytes
imgprep -s 24 --encode raw "$DATA/photo-dog.jpg" >"$T/raw" 2>/dev/null
[ "$(wc -c <"$T/raw")" = $((32 + ${#DATA} + 14 + 1728)) ] || fail "--encode raw: wrong record size"
imgprep -s 24 -c 1 --encode raw "$DATA/photo-dog.jpg" >"$T/raw1" 2>/dev/null
[ "$(wc -c <"$T/raw1")" = $((32 + ${#DATA} + 14 + 576)) ] || fail "-c 1: wrong record size"
echo "ok"
