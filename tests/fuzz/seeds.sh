#!/bin/sh
# Writes the seed corpora of the harnesses into build/fuzz/seeds/NAME/, from tests/data and
# from files the programs write (a record stream, a database's metadata, statistics, a model,
# a checkpoint, a features file, a training log, their safetensors exports): nothing large is
# committed. The small
# hand-written seeds in tests/fuzz/corpus/NAME/ are copied in too.
#
#   sh tests/fuzz/seeds.sh            (after make; uses build/bin)
set -eu
bin=${ANET_BIN:-build/bin}
data=tests/data
out=build/fuzz/seeds
[ -x "$bin/imgprep" ] || { echo "seeds: $bin/imgprep not found: run make first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/anet-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
for d in tests/fuzz/corpus/*/; do
	mkdir -p "$out/$(basename "$d")"
	cp "$d"* "$out/$(basename "$d")/"
done
mkdir -p "$out/tensorfile" "$out/record" "$out/idx" "$out/image" "$out/spec" "$out/list" "$out/dbmeta" \
	"$out/trainlog" "$out/safetensors"

# ---- records, a database, its statistics, a model, a checkpoint, features, a log
"$bin/imgprep" --idx $data/fashion-64-images.idx $data/fashion-64-labels.idx -s 8 \
	--classes $data/fashion-classes.txt >"$tmp/idx8.rec" 2>/dev/null
head -c 2000 "$tmp/idx8.rec" >"$out/record/idx8-raw.rec"
"$bin/imgprep" -s 16 --encode jpeg:50 $data/photo-tiny.jpg $data/gray.jpg >"$out/record/jpeg16.rec" 2>/dev/null
"$bin/imgprep" -s 8 -c 3 --encode raw -l $data/list.txt -r $data >"$out/record/list-rgb8.rec" 2>/dev/null
"$bin/mkdb" -q "$tmp/db" <"$tmp/idx8.rec"
"$bin/pcacolor" -q -o "$tmp/db.stats" "$tmp/db" 2>/dev/null
cp "$tmp/db.stats" "$out/tensorfile/stats-8x8x1.anw"
printf 'input size=8 channels=1\nfc name=fc1 out=8 init=0.1\nrelu\nfc name=fc2 out=classes\nsoftmax\n' >"$tmp/tiny.net"
"$bin/anet-train" --net "$tmp/tiny.net" --stats "$tmp/db.stats" --batch 8 --steps 2 --device cpu --threads 1 -j 1 \
	--log "$tmp/log.tsv" --health "$tmp/health.tsv" -o "$tmp/m.anw" "$tmp/db" 2>/dev/null
cp "$tmp/m.anw" "$out/tensorfile/model.anw"
cp "$tmp/m.ckpt" "$out/tensorfile/checkpoint.anw"
cp "$tmp/log.tsv" "$out/trainlog/log.tsv"
cp "$tmp/health.tsv" "$out/trainlog/health.tsv"
"$bin/anet-eval" -q -w "$tmp/m.anw" --device cpu --threads 1 --limit 4 --features "$tmp/f.anw" "$tmp/db" \
	>/dev/null 2>&1 && cp "$tmp/f.anw" "$out/tensorfile/features.anw"
# the metadata entry, decoded from mdb_dump's printable form (\\ and \xx escapes)
if command -v mdb_dump >/dev/null 2>&1; then
	mdb_dump -p "$tmp/db" | awk 'f { print substr($0, 2); exit } $0 == " anet-meta" { f = 1 }' |
		awk '{ for (i = 1; i <= length($0); i++) { c = substr($0, i, 1)
			if (c != "\\") { printf "%s", c; continue }
			if (substr($0, i + 1, 1) == "\\") { printf "\\"; i++; continue }
			printf "%c", index("0123456789abcdef", substr($0, i + 1, 1)) * 16 - 17 + index("0123456789abcdef", substr($0, i + 2, 1))
			i += 2 } }' >"$out/dbmeta/mkdb.txt"
fi

# ---- safetensors: anet-convert's exports of the files above (when it is built: jansson), a
# PyTorch state_dict, and a few by hand (F16, BF16 and F64 data, an empty file, metadata only)
if [ -x "$bin/anet-convert" ]; then
	for f in "$out"/tensorfile/*.anw tests/ref/alexnet.antf; do
		"$bin/anet-convert" export -q "$f" -o "$out/safetensors/$(basename "$f" | sed 's/\.[a-z]*$//').safetensors"
	done
fi
cp tests/ref/owt-tiny.safetensors "$out/safetensors/"
# shellcheck disable=SC2059 # (the length and the data are printf escapes on purpose)
st() { # HEADER DATA (printf escapes): the u64 length (under 64 KiB), the header, the data
	n=${#1}
	printf "\\$(printf %03o $((n & 255)))\\$(printf %03o $((n >> 8)))\\000\\000\\000\\000\\000\\000"
	printf '%s' "$1"
	printf "$2"
}
st '{"__metadata__":{"anet.kind":"features","anet.entries":"h\nb\nd\nnote","note":"x"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"d":{"dtype":"F64","shape":[],"data_offsets":[8,16]},"h":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]}}' \
	'\000\074\000\300\200\077\111\100\000\000\000\000\000\000\360\077' >"$out/safetensors/half.safetensors"
st '{}' '' >"$out/safetensors/empty.safetensors"
st '{"__metadata__":{"format":"pt"},"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"u":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}}' \
	'\001\000\000\000\000\000\000\000' >"$out/safetensors/ints.safetensors"

# ---- IDX: [flags][u32 images length][images][labels]; two images of 28x28, plain and gzip
{
	printf '\000\060\006\000\000' # flags 0 (plain), 1568 + 16 = 0x0630 bytes of images
	printf '\000\000\010\003\000\000\000\002\000\000\000\034\000\000\000\034'
	tail -c +17 $data/fashion-64-images.idx | head -c 1568
	printf '\000\000\010\001\000\000\000\002'
	tail -c +9 $data/fashion-64-labels.idx | head -c 2
} >"$out/idx/two-plain.bin"
{
	printf '\003\060\006\000\000' # flags 3: the harness gzips both parts
	tail -c +6 "$out/idx/two-plain.bin"
} >"$out/idx/two-gzip.bin"

# ---- images: 4 option bytes, then the file (see fuzz_image.c)
for f in $data/*.jpg $data/*.png $data/*.ppm $data/*.pgm $data/*.JPEG; do
	[ "$(wc -c <"$f")" -le 20000 ] || continue
	{ printf '\020\003\010\000'; cat "$f"; } >"$out/image/$(basename "$f" | tr ' ' _)"
done
# ... and the ones with an orientation tag (EXIF, XMP, ImageMagick's text) applied (mode bit 2)
for f in exif-6.jpg exif-6.png xmp-6.jpg xmp-6.png rawexif-6.png exif-1-xmp-6.jpg; do
	{ printf '\020\003\010\004'; cat "$data/$f"; } >"$out/image/turned-$f"
done

# ---- specifications, lists, class names
# (two bytes first: the class count, 10)
for f in $data/*.net; do { printf '\011\000'; cat "$f"; } >"$out/spec/$(basename "$f")"; done
cp $data/list.txt $data/list-bad.txt $data/fashion-classes.txt "$out/list/"
echo "seeds: $out: $(find "$out" -type f | wc -l) files"
