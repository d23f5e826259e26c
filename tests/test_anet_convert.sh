#!/bin/sh
# test_anet_convert.sh: anet-convert on a trained model, its statistics and features: export and import
# back to the same bytes, PyTorch weights into a model anet-eval uses, refusals and usage errors.
. "$ANET_TESTS/lib/shtest.sh"
[ -x "$ANET_BIN/anet-convert" ] || skip "anet-convert is not built (it needs jansson: libjansson-dev)"
REF=$ANET_TESTS/ref
no_temporaries() { ! ls "$T"/*.tmp.* >/dev/null 2>&1 || fail "temporary files left: $(ls "$T"/*.tmp.*)"; }

check_help anet-convert
for c in export import; do
	anet-convert $c --help >"$T/help" 2>"$T/err" || fail "anet-convert $c --help failed"
	grep -q "^Usage: anet-convert export" "$T/help" || fail "anet-convert $c --help does not show the usage"
	expect_exit 2 anet-convert $c --no-such-option
	expect_err "Try 'anet-convert --help'"
done
expect_exit 2 anet-convert
expect_err "missing command: export or import"
expect_exit 2 anet-convert convert x
expect_err "unknown command 'convert' (export or import)"
expect_exit 2 anet-convert export "$T/m.anw"
expect_err "export: missing -o OUT.safetensors"
expect_exit 2 anet-convert export -o x.safetensors
expect_err "export: missing FILE"
expect_exit 2 anet-convert import a.safetensors b.safetensors -o x
expect_err "too many arguments"
expect_exit 2 anet-convert import --mean 1,2,3 a.safetensors -o x
expect_err "which also need --net"
expect_exit 2 anet-convert import --net alexnet --torchvision --std 1,1,1 a.safetensors -o x
expect_err "--torchvision sets --mean and --std"
expect_exit 2 anet-convert import --net alexnet --mean 1,2 a.safetensors -o x
expect_err "give R,G,B"
expect_exit 2 anet-convert import --net alexnet --mean 1,2,300 a.safetensors -o x
expect_exit 2 anet-convert import --net alexnet --std 0,1,1 a.safetensors -o x
expect_exit 2 anet-convert import --net alexnet --mean 123,116,103 --std 0.229,0.224,0.225 a.safetensors -o x
expect_err "values of the 0-1 scale must be multiplied by 255"
expect_exit 1 anet-convert import --net alexnet --mean 0.485,0.456,0.406 "$T/none.safetensors" -o x
expect_err "warning: --mean: every value is in 0..1"
expect_exit 2 anet-convert import --net alexnet --mean 1,,2,3 a.safetensors -o x
expect_exit 2 anet-convert import --net alexnet --mean 1,2,3 --std 0.5,58,58 a.safetensors -o x
expect_err "values of the 0-1 scale"
expect_exit 2 anet-convert import --net alexnet --stats s --size 256 a.safetensors -o x
expect_err "--stats gives the record size"

# a trained model, its statistics and features: each out and back to the same bytes
fashion_fixture
anet-train --net "$DATA/tiny-gray28.net" --stats "$T/train.stats" --batch 16 --steps 20 --device cpu -q \
	-o "$T/m.anw" "$T/train.lmdb" 2>"$T/err" || { cat "$T/err"; fail "training failed"; }
anet-eval -w "$T/m.anw" --device cpu --features "$T/f.anf" "$T/train.lmdb" >/dev/null 2>&1 || fail "anet-eval failed"
for f in m.anw train.stats f.anf; do
	anet-convert export "$T/$f" -o "$T/$f.safetensors" 2>"$T/err" || { cat "$T/err"; fail "export of $f failed"; }
	anet-convert import -q "$T/$f.safetensors" -o "$T/$f.back" || fail "import of $f failed"
	cmp "$T/$f" "$T/$f.back" || fail "$f came back different"
done
expect_exit 0 anet-convert export "$T/m.anw" -o "$T/m2.safetensors"
expect_err "model .*m.anw: 20 tensors (.*) and 7 metadata entries written to .*m2.safetensors"
expect_exit 2 anet-convert export "$T/m.anw" -o "$T/m.anw"
expect_err "is the input file itself"
anet-convert import -q "$T/m.anw.safetensors" -o /dev/null || fail "import to /dev/null failed"
# a pipe takes no seek back to a tensor file's header: refused at once, not after the file
(set +e; anet-convert import -q "$T/m.anw.safetensors" -o /dev/stdout 2>"$T/err"; echo $? >"$T/rc") | cat >"$T/piped"
[ "$(cat "$T/rc")" = 1 ] || { cat "$T/err"; fail "import to a pipe: exit $(cat "$T/rc"), expected 1"; }
expect_err "/dev/stdout: cannot seek (a pipe?): a tensor file's header is completed when its end is written"
[ -s "$T/piped" ] && fail "import to a pipe wrote $(wc -c <"$T/piped") bytes into it"
# a safetensors file given where an anet file is read: the tool that makes one of it is named
expect_exit 1 anet-eval -w "$T/m.anw.safetensors" --device cpu "$T/train.lmdb"
expect_err "m.anw.safetensors: not an anet tensor file (bad magic)"
expect_err "HINT: .*m.anw.safetensors looks like a safetensors file: 'anet-convert import .*m.anw.safetensors -o FILE'"
# the header: its length, then JSON with the spec as metadata
len=$(od -An -tu8 -N8 "$T/m.anw.safetensors" | tr -d ' ')
[ $((len % 8)) = 0 ] || fail "header length $len is not a multiple of 8"
head -c $((8 + len)) "$T/m.anw.safetensors" | tail -c "$len" >"$T/header.json"
grep -q '"__metadata__":{"anet.kind":"model"' "$T/header.json" || fail "no metadata first: $(head -c 200 "$T/header.json")"
grep -q '"conv1.weight":{"dtype":"F32","shape":\[' "$T/header.json" || fail "no conv1.weight in the header"
no_temporaries

# weights from PyTorch (tests/ref/make_convert_ref.py): a model anet-eval predicts with, named
anet-convert import --net "$REF/owt-tiny.net" --map "$REF/owt-tiny.map" --torchvision --size 40 \
	--classes "$DATA/fashion-classes.txt" "$REF/owt-tiny.safetensors" -o "$T/owt.anw" 2>"$T/err" ||
	{ cat "$T/err"; fail "import of the PyTorch weights failed"; }
grep -q "owt-tiny.safetensors: 8 tensors (6746 numbers) into .*owt.anw, a model of .*owt-tiny.net with 10 classes, 40x40 records; the input's scale folded into the first layer" "$T/err" ||
	fail "no summary line: $(cat "$T/err")"
anet-eval -w "$T/owt.anw" --device cpu -k 3 "$DATA/photo-dog.jpg" >"$T/pred" 2>"$T/err" || { cat "$T/err"; fail "anet-eval on the imported model failed"; }
[ "$(grep -c '%' "$T/pred")" = 3 ] || fail "not 3 predictions: $(cat "$T/pred")"
grep -q "Trouser\|Pullover\|Dress\|Coat\|Sandal\|Shirt\|Sneaker\|Bag\|Ankle boot\|T-shirt/top" "$T/pred" ||
	fail "the predictions are not named: $(cat "$T/pred")"

# a failed import names the problem and leaves the file of that name as it was
cp "$T/owt.anw" "$T/keep.anw"
expect_exit 1 anet-convert import --net "$REF/owt-tiny.net" --map "$REF/owt-tiny.map" --torchvision --size 40 \
	--num-classes 9 "$REF/owt-tiny.safetensors" -o "$T/owt.anw"
expect_err "owt-tiny.safetensors: tensor 'classifier.4.weight' is 10x32, but fc2.weight is 9x32 in"
cmp "$T/owt.anw" "$T/keep.anw" || fail "a failed import changed the output file"
expect_exit 1 anet-convert import --net "$REF/owt-tiny.net" --mean 0,0,0 --num-classes 10 "$REF/owt-tiny.safetensors" -o "$T/x.anw"
expect_err "no tensor 'conv1.weight' for conv1.weight (8x3x5x5); HINT: name the file's tensor with --map"
expect_exit 1 anet-convert import --net "$REF/owt-tiny.net" --map "$REF/owt-tiny.map" --mean 0,0,0 --size 16 \
	"$REF/owt-tiny.safetensors" -o "$T/x.anw"
expect_err "the network's 32x32 input is larger than the 16x16 records (--size)"
expect_exit 1 anet-convert import --net "$DATA/tiny-gray28.net" --map "$REF/owt-tiny.map" --mean 0 "$REF/owt-tiny.safetensors" -o "$T/x.anw"
expect_err "owt-tiny.map:7: the network (.*tiny-gray28.net) has no parameter 'fc1.weight'"
head -n 4 "$DATA/fashion-classes.txt" >"$T/four.txt"
printf 'input size=32 channels=3\nconv name=conv1 out=8 kernel=5 stride=2 pad=2\nrelu\npool size=3 stride=2\nconv name=conv2 out=16 kernel=3 pad=1\nrelu\npool size=3 stride=2\nfc name=fc1 out=32\nrelu\nfc name=fc2 out=10\nsoftmax\n' >"$T/ten.net"
expect_exit 1 anet-convert import --net "$T/ten.net" --map "$REF/owt-tiny.map" --mean 0,0,0 --size 40 \
	--classes "$T/four.txt" "$REF/owt-tiny.safetensors" -o "$T/x.anw"
expect_err "four.txt: 4 class names, but .*ten.net has 10 outputs"
expect_exit 1 anet-convert import --net "$T/ten.net" --map "$REF/owt-tiny.map" --mean 0,0,0 --size 40 \
	--num-classes 4 "$REF/owt-tiny.safetensors" -o "$T/x.anw"
expect_err "num-classes 4: .*ten.net has 10 outputs (it does not say out=classes)"
[ ! -e "$T/x.anw" ] || fail "a failed import left x.anw"

# files that are not safetensors, or not anet's, are refused with the reason
expect_exit 1 anet-convert import "$T/m.anw" -o "$T/x.anw"
expect_err "m.anw: header length .* runs past the end of the file"
printf '\002\000\000\000\000\000\000\000{}' >"$T/empty.safetensors"
expect_exit 1 anet-convert import "$T/empty.safetensors" -o "$T/x.anw"
expect_err "empty.safetensors: not written by anet-convert export (no anet.kind metadata): give the network with --net"
expect_exit 1 anet-convert export "$T/empty.safetensors" -o "$T/x.safetensors"
expect_err "empty.safetensors"
expect_exit 1 anet-convert import "$T/nonexistent.safetensors" -o "$T/x.anw"
expect_err "nonexistent.safetensors: No such file or directory"
no_temporaries
