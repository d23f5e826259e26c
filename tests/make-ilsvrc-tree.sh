#!/bin/sh
# make-ilsvrc-tree.sh: a tiny ILSVRC-2012-shaped download made from the committed photo fixtures.
#
#   sh tests/make-ilsvrc-tree.sh OUT
#
# OUT/train/<WNID>/<WNID>_<N>.JPEG    3 classes of 3 images, among them a CMYK JPEG and a PNG
#                                      named .JPEG (as ILSVRC's n02105855_2933.JPEG)
# OUT/val/ILSVRC2012_val_0000000N.JPEG 6 images
# OUT/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt   their ILSVRC2012_IDs
# OUT/ILSVRC2012_devkit_t12/data/meta.mat   a MATLAB v5 file shaped as the devkit's: a 4x1
#        struct array `synsets` (the 3 classes and one inner node of the hierarchy) with the
#        devkit's 8 fields, compressed, numbers stored as small integer types and short names
#        in the small-element form, as MATLAB writes them
# OUT/synsets.txt                      the same mapping as "ILSVRC2012_ID WNID words" text
# OUT/bad-devkit/data/meta.mat         a devkit whose classes differ from the train tree's
#
# The devkit's order (ILSVRC2012_ID) differs on purpose from the sorted-WNID order, and two
# classes share the words "crane" (as in ILSVRC: the bird and the machine).
set -eu
out=${1:?usage: make-ilsvrc-tree.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
data=$here/data
mkdir -p "$out/train/n02012849" "$out/train/n02105855" "$out/train/n03126707" "$out/val" \
	"$out/ILSVRC2012_devkit_t12/data" "$out/bad-devkit/data"

t=$out/train
cp "$data/photo-eagle.jpg"       "$t/n02012849/n02012849_1.JPEG"
cp "$data/photo-giraffe.jpg"     "$t/n02012849/n02012849_2.JPEG"
cp "$data/tree/apple/apple-1.jpg" "$t/n02012849/n02012849_3.JPEG"
cp "$data/photo-dog.jpg"         "$t/n02105855/n02105855_1.JPEG"
cp "$data/dog with space.jpg"    "$t/n02105855/n02105855_2.JPEG"
cp "$data/png-named.JPEG"        "$t/n02105855/n02105855_2933.JPEG"
cp "$data/cmyk.jpg"              "$t/n03126707/n03126707_1.JPEG"
cp "$data/photo-meadow.jpg"      "$t/n03126707/n03126707_2.JPEG"
cp "$data/gray.jpg"              "$t/n03126707/n03126707_3.JPEG"
n=1
for f in photo-flower.jpg tree/banana/banana-1.jpg progressive.jpg tree/cherry/cherry-1.jpg ycck.jpg \
	photo-tiny.jpg; do
	cp "$data/$f" "$out/val/$(printf 'ILSVRC2012_val_%08d.JPEG' $n)"
	n=$((n + 1))
done
# ILSVRC2012_ID 1 n03126707, 2 n02012849, 3 n02105855
printf '2\n3\n1\n2\n1\n3\n' > "$out/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
cat > "$out/synsets.txt" <<'EOF'
# ILSVRC2012_ID WNID words
1 n03126707 crane
2 n02012849 crane
3 n02105855 Shetland sheepdog, Shetland sheep dog, Shetland
EOF

# the MAT-file writer (The MathWorks, "MAT-File Format", level 5)
/usr/bin/env python3 - "$out/ILSVRC2012_devkit_t12/data/meta.mat" "$out/bad-devkit/data/meta.mat" <<'EOF'
import struct, sys, zlib

MI_INT8, MI_UINT8, MI_UINT16, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 2, 4, 5, 6, 9, 14, 15
MX_STRUCT, MX_CHAR, MX_DOUBLE = 2, 4, 6

def element(typ, payload):
    if len(payload) <= 4 and typ != MI_MATRIX:  # small data element
        return struct.pack("<HH", typ, len(payload)) + payload.ljust(4, b"\0")
    return struct.pack("<II", typ, len(payload)) + payload + b"\0" * (-len(payload) % 8)

def header(cls, dims, name=b""):
    return (element(MI_UINT32, struct.pack("<II", cls, 0)) +
            element(MI_INT32, struct.pack("<%di" % len(dims), *dims)) + element(MI_INT8, name))

def double(values, dims=None):
    # MATLAB stores whole doubles in the smallest integer type that holds them
    big = max(values) if values else 0
    typ, fmt = (MI_UINT8, "B") if big < 256 else (MI_UINT16, "H") if big < 65536 else (MI_DOUBLE, "d")
    dims = dims or [1, len(values)]
    return element(MI_MATRIX, header(MX_DOUBLE, dims) + element(typ, struct.pack("<%d%s" % (len(values), fmt), *values)))

def char(s):
    return element(MI_MATRIX, header(MX_CHAR, [1, len(s)]) + element(MI_UINT16, s.encode("utf-16-le")))

FIELDS = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
          "num_train_images"]

def synsets(rows):
    flen = 32
    body = header(MX_STRUCT, [len(rows), 1], b"synsets")
    body += element(MI_INT32, struct.pack("<i", flen))
    body += element(MI_INT8, b"".join(f.encode().ljust(flen, b"\0") for f in FIELDS))
    for sid, wnid, words, kids in rows:
        body += double([sid]) + char(wnid) + char(words) + char("a gloss for " + words)
        body += double([len(kids)]) + double(kids, [1, len(kids)] if kids else [0, 0])
        body += double([0 if not kids else 1]) + double([1300 if not kids else 0])
    return element(MI_MATRIX, body)

def write(path, rows):
    head = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Fri Nov 27 12:00:00 2026".ljust(116)
    head += b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    packed = zlib.compress(synsets(rows))
    with open(path, "wb") as f:
        f.write(head + struct.pack("<II", MI_COMPRESSED, len(packed)) + packed)

rows = [(1, "n03126707", "crane", []), (2, "n02012849", "crane", []),
        (3, "n02105855", "Shetland sheepdog, Shetland sheep dog, Shetland", []),
        (4, "n02084071", "dog, domestic dog, Canis familiaris", [3])]
write(sys.argv[1], rows)
rows[0] = (1, "n03126708", "not a crane", [])
write(sys.argv[2], rows)
EOF
cp "$out/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt" "$out/bad-devkit/data/"
