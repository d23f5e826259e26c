#!/bin/sh
# Regenerates every image fixture in tests/data/ from Debian packages (see tests/data/README).
#
#   sh tests/make-fixtures.sh
#
# Needs: /usr/bin/python3 with PIL and numpy (python3-pil, python3-numpy), darknet (its sample
# photos), mate-backgrounds, dataset-fashion-mnist, a C compiler and libturbojpeg0-dev (the YCCK
# file: only TurboJPEG writes YCCK), gzip. Only this script needs them; the tests read the
# committed files. The output is deterministic: running it again changes nothing.
set -eu
cd "$(dirname "$0")/data"
py=/usr/bin/python3
darknet=/usr/share/darknet/data
mate=/usr/share/backgrounds/mate/nature
fmnist=/usr/share/datasets/fashion-mnist
for f in "$darknet/dog.jpg" "$mate/FreshFlower.jpg" "$fmnist/train-images-idx3-ubyte.gz"; do
	[ -f "$f" ] || { echo "make-fixtures: $f is missing (install darknet, mate-backgrounds, dataset-fashion-mnist)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -rf tree ref
mkdir -p tree/apple tree/banana tree/cherry ref

"$py" - "$darknet" "$mate" "$tmp" <<'EOF'
import sys, zlib, numpy as np
from PIL import Image, PngImagePlugin
darknet, mate, tmp = sys.argv[1:4]

def photo(src, w, h, x=0.5, y=0.5):
    """A w x h cut of src after scaling its shorter side to fit (x, y: where the cut sits)."""
    im = Image.open(src).convert('RGB')
    s = max(w / im.width, h / im.height)
    im = im.resize((max(w, round(im.width * s)), max(h, round(im.height * s))), Image.LANCZOS)
    x0, y0 = int((im.width - w) * x), int((im.height - h) * y)
    return im.crop((x0, y0, x0 + w, y0 + h))

# real photographs, re-encoded small
dog = photo(darknet + '/dog.jpg', 320, 240)
dog.save('photo-dog.jpg', quality=90)
photo(darknet + '/eagle.jpg', 320, 213).save('photo-eagle.jpg', quality=90)
photo(darknet + '/giraffe.jpg', 180, 240).save('photo-giraffe.jpg', quality=90)
photo(mate + '/FreshFlower.jpg', 320, 240).save('photo-flower.jpg', quality=90)
photo(mate + '/GreenMeadow.jpg', 320, 256).save('photo-meadow.jpg', quality=90)
horses = photo(darknet + '/horses.jpg', 160, 120)
horses.save('photo-horses.png', optimize=True)
photo(darknet + '/person.jpg', 320, 240).save('dog with space.jpg', quality=85)

# the same picture in other encodings
photo(mate + '/Wood.jpg', 160, 120).convert('L').save('gray.jpg', quality=90)
photo(mate + '/LadyBird.jpg', 240, 180).save('progressive.jpg', quality=90, progressive=True)
photo(mate + '/YellowFlower.jpg', 64, 48).save('png-named.JPEG', format='PNG')
small = photo(darknet + '/kite.jpg', 32, 24)
photo(darknet + '/scream.jpg', 64, 48).save('photo-tiny.jpg', quality=90)
small.save('pnm-p6.ppm')
small.convert('L').save('pnm-p5.pgm')
small.save('pnm-ref.png')
a = np.asarray(small)
with open('pnm-p3.ppm', 'w') as f:
    f.write('P3\n# plain pixmap\n%d %d\n255\n' % (small.width, small.height))
    f.write('\n'.join(' '.join(str(v) for v in row.ravel()) for row in a) + '\n')

# PNG colour types: palette, 16-bit gray and RGB, RGBA, gray+alpha; with their 8-bit
# RGB/gray meaning as references (16 bits to 8 with rounding, alpha dropped)
pal = photo(mate + '/Garden.jpg', 64, 48).quantize(colors=32)
pal.save('png-palette.png')
pal.convert('RGB').save('ref/png-palette.png')
g16 = (np.arange(32 * 24, dtype=np.uint32).reshape(24, 32) * 85 + 7) % 65536
Image.fromarray(g16.astype(np.uint16)).save('png-gray16.png')
Image.fromarray(((g16 * 255 + 32767) // 65535).astype(np.uint8)).save('ref/png-gray16.png')
rgb16 = np.stack([g16, 65535 - g16, (g16 * 3) % 65536], axis=2).astype('>u2')
with open(tmp + '/rgb16.raw', 'wb') as f:
    f.write(rgb16.tobytes())
Image.fromarray(((rgb16.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)).save('ref/png-rgb16.png')
rgba = photo(mate + '/Storm.jpg', 64, 48).convert('RGBA')
alpha = np.asarray(rgba).copy()
alpha[:, :, 3] = np.arange(64, dtype=np.uint8)[None, :] * 4
Image.fromarray(alpha, 'RGBA').save('png-rgba.png')
Image.fromarray(alpha[:, :, :3]).save('ref/png-rgba.png')
la = np.stack([np.asarray(small.convert('L')), np.full((24, 32), 128, np.uint8)], axis=2)
Image.fromarray(la, 'LA').save('png-gray-alpha.png')
small.convert('L').save('ref/png-gray-alpha.png')

# CMYK with a real black channel, as Adobe software writes it (PIL stores it inverted,
# with an APP14 Adobe marker); the RGB it came from is the reference
src = photo(mate + '/TwoWings.jpg', 128, 96)
src.save('cmyk-source.png')
rgb = np.asarray(src).astype(np.float64)
k = 255 - rgb.max(axis=2)
den = np.where(k < 255, 255 - k, 1)
cmy = [np.round((255 - rgb[:, :, i] - k) * 255 / den) for i in range(3)]
cmyk = np.stack(cmy + [k], axis=2).clip(0, 255).astype(np.uint8)
Image.fromarray(cmyk, 'CMYK').save('cmyk.jpg', quality=95)
with open(tmp + '/cmyk.raw', 'wb') as f:  # inverted, as Adobe stores it, for the YCCK file
    f.write((255 - cmyk).tobytes())

# EXIF orientation 6 (a camera held upright stores the picture a quarter turn anticlockwise):
# 40x24 in four coloured quadrants, a white corner; upright (PIL's ImageOps.exif_transpose) it
# is 24x40, blue top left, red top right, yellow bottom left, green bottom right
q = np.zeros((24, 40, 3), np.uint8)
q[:12, :20], q[:12, 20:], q[12:, :20], q[12:, 20:] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
q[:4, :6] = 255
exif = Image.Exif()
exif[0x0112] = 6
Image.fromarray(q).save('exif-6.jpg', quality=100, subsampling=0, exif=exif.tobytes())
Image.fromarray(q).save('exif-6.png', exif=exif.tobytes())   # the tag in an eXIf chunk
# the same orientation elsewhere, where PIL's getexif finds it too: XMP alone (a JPEG's APP1, as
# an element; a PNG's iTXt, as an attribute), and ImageMagick's hex text profile in a PNG; and
# an EXIF tag of 1 beside XMP's 6, which leaves the picture as stored (EXIF comes first)
def xmp(tag):
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" %s</rdf:Description></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>' % tag)
def with_xmp(path, packet):  # an APP1 XMP segment after SOI (Pillow before 11 cannot write one)
    b = open(path, 'rb').read()
    seg = b'http://ns.adobe.com/xap/1.0/\0' + packet.encode()
    open(path, 'wb').write(b[:2] + b'\xff\xe1' + (len(seg) + 2).to_bytes(2, 'big') + seg + b[2:])
Image.fromarray(q).save('xmp-6.jpg', quality=100, subsampling=0)
with_xmp('xmp-6.jpg', xmp('><tiff:Orientation>6</tiff:Orientation>'))
info = PngImagePlugin.PngInfo()
info.add_itxt('XML:com.adobe.xmp', xmp('tiff:Orientation="6">'))
Image.fromarray(q).save('xmp-6.png', pnginfo=info)
raw = exif.tobytes().hex()
info = PngImagePlugin.PngInfo()
info.add_text('Raw profile type exif', '\nexif\n%8d\n%s\n' % (len(raw) // 2, '\n'.join(
    raw[i:i + 72] for i in range(0, len(raw), 72))), zip=True)
Image.fromarray(q).save('rawexif-6.png', pnginfo=info)
exif1 = Image.Exif()
exif1[0x0112] = 1
Image.fromarray(q).save('exif-1-xmp-6.jpg', quality=100, subsampling=0, exif=exif1.tobytes())
with_xmp('exif-1-xmp-6.jpg', xmp('><tiff:Orientation>6</tiff:Orientation>'))
# where PIL finds the EXIF block but libpng's API does not (imgprep reads these chunks from the
# file's bytes): an eXIf chunk that starts "Exif\0\0" (libpng drops it, "incorrect byte-order
# specifier"); the block itself in a tEXt chunk "exif" (PngImagePlugin's chunk_tEXt keeps its
# bytes); and an eXIf chunk with orientation 1 before the image data, a tEXt "exif" with 6
# after it: PIL keeps the last. Spliced from exif-6.png's chunks, so that no encoder's output
# changes them
def png_chunks(path):
    b, o, out = open(path, 'rb').read(), 8, {}
    while o < len(b):
        n = int.from_bytes(b[o:o + 4], 'big')
        out[b[o + 4:o + 8]] = b[o + 8:o + 8 + n]
        o += 12 + n
    return out
def write_png(path, chunks):
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        for t, d in chunks:
            f.write(len(d).to_bytes(4, 'big') + t + d + zlib.crc32(t + d).to_bytes(4, 'big'))
c = png_chunks('exif-6.png')  # IHDR, eXIf, IDAT, IEND
tag6 = bytes.fromhex('0112 0003 00000001 0006')  # Orientation, SHORT, 1 value: 6
assert c[b'eXIf'].count(tag6) == 1
exif1_block = c[b'eXIf'].replace(tag6, tag6[:-1] + b'\1')
write_png('exif-prefix-6.png', [(b'IHDR', c[b'IHDR']), (b'eXIf', b'Exif\0\0' + c[b'eXIf']), (b'IDAT', c[b'IDAT']),
                                (b'IEND', b'')])
write_png('textexif-6.png', [(b'IHDR', c[b'IHDR']), (b'tEXt', b'exif\0' + c[b'eXIf']), (b'IDAT', c[b'IDAT']),
                             (b'IEND', b'')])
write_png('exif-1-textexif-6.png', [(b'IHDR', c[b'IHDR']), (b'eXIf', exif1_block), (b'IDAT', c[b'IDAT']),
                                    (b'tEXt', b'exif\0' + c[b'eXIf']), (b'IEND', b'')])

# the tree of class folders (labels apple 0, banana 1, cherry 2); a hidden file to skip
for cls, srcs in [('apple', ['Aqua', 'Blinds', 'Dune']), ('banana', ['Garden', 'RainDrops']),
                  ('cherry', ['Storm', 'TwoWings', 'Wood'])]:
    for i, s in enumerate(srcs):
        photo(mate + '/' + s + '.jpg', 96, 72).save('tree/%s/%s-%d.jpg' % (cls, cls, i + 1), quality=85)
open('tree/apple/.DS_Store', 'w').write('not an image\n')

# Pillow's antialiased resize, shorter side to S then the centre S x S, as imgprep cuts it
def geometry(w, h, S):
    s, l = min(w, h), max(w, h)
    L = max(S, (2 * l * S + s) // (2 * s))
    rw, rh = (S, L) if w < h else (L, S)
    return rw, rh, (rw - S) // 2, (rh - S) // 2

def reference(im, S, flt, name):
    rw, rh, x0, y0 = geometry(im.width, im.height, S)
    im.resize((rw, rh), flt).crop((x0, y0, x0 + S, y0 + S)).save('ref/' + name)

filters = {'triangle': Image.BILINEAR, 'cubic': Image.BICUBIC, 'lanczos3': Image.LANCZOS}
for name, flt in filters.items():
    reference(horses, 96, flt, 'photo-horses.%s.96.png' % name)
reference(horses, 144, Image.LANCZOS, 'photo-horses.lanczos3.144.png')   # enlarging
reference(Image.open('photo-giraffe.jpg').convert('RGB'), 120, Image.LANCZOS, 'photo-giraffe.lanczos3.120.png')
reference(Image.open('photo-dog.jpg').convert('RGB'), 48, Image.LANCZOS, 'photo-dog.lanczos3.48.png')
reference(Image.open('photo-flower.jpg').convert('RGB'), 100, Image.LANCZOS, 'photo-flower.lanczos3.100.png')
reference(Image.open('gray.jpg'), 96, Image.LANCZOS, 'gray.lanczos3.96.png')
EOF

# YCCK: only TurboJPEG writes it (a CMYK image compressed with chroma subsampling)
cat >"$tmp/ycck.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>
int main(int argc, char **argv)
{
	static unsigned char px[128 * 96 * 4];
	FILE *f = fopen(argv[1], "rb");
	if (!f || fread(px, 1, sizeof px, f) != sizeof px)
		return 1;
	fclose(f);
	tjhandle h = tjInitCompress();
	unsigned char *jpg = NULL;
	unsigned long len = 0;
	if (tjCompress2(h, px, 128, 0, 96, TJPF_CMYK, &jpg, &len, TJSAMP_420, 95, 0) != 0)
		return 1;
	f = fopen(argv[2], "wb");
	if (!f || fwrite(jpg, 1, len, f) != len || fclose(f) != 0)
		return 1;
	tjFree(jpg);
	tjDestroy(h);
	return 0;
}
EOF
cc -O2 -o "$tmp/ycck" "$tmp/ycck.c" -lturbojpeg
"$tmp/ycck" "$tmp/cmyk.raw" ycck.jpg

"$py" - "$tmp" <<'EOF'
import sys, struct
tmp = sys.argv[1]
# 16-bit RGB PNG from raw big-endian samples (PIL cannot write it directly)
import zlib
raw = open(tmp + '/rgb16.raw', 'rb').read()
w, h = 32, 24
rows = b''.join(b'\0' + raw[y * w * 6:(y + 1) * w * 6] for y in range(h))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open('png-rgb16.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0))
                                  + chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b''))

# broken files: each must be skipped with its path named, never crash the run
dog = open('photo-tiny.jpg', 'rb').read()
open('bad-truncated.jpg', 'wb').write(dog[:len(dog) // 2])
open('bad-empty.jpg', 'wb').close()
open('bad-not-an-image.jpg', 'w').write('This is text, not a JPEG.\n')
open('bad-truncated.png', 'wb').write(open('photo-horses.png', 'rb').read()[:3000])
# the header claims 60000 x 60000 pixels (SOF0 height and width patched); must be refused
# from the header, without allocating 10 GB
i = dog.index(b'\xff\xc0')
open('bad-huge-header.jpg', 'wb').write(dog[:i + 5] + struct.pack('>HH', 60000, 60000) + dog[i + 9:])
# decodes, but libjpeg warns "Corrupt JPEG data: 3 extraneous bytes before marker 0xd9"
assert dog.endswith(b'\xff\xd9')
open('warn-extraneous.jpg', 'wb').write(dog[:-2] + b'\x00\x00\x00\xff\xd9')
EOF

# Fashion-MNIST: the first 64 training images and labels, plain and gzip-compressed
"$py" - "$fmnist" <<'EOF'
import sys, gzip, struct
d = sys.argv[1]
img = gzip.open(d + '/train-images-idx3-ubyte.gz').read(16 + 64 * 784)
lab = gzip.open(d + '/train-labels-idx1-ubyte.gz').read(8 + 64)
img = img[:4] + struct.pack('>I', 64) + img[8:]
lab = lab[:4] + struct.pack('>I', 64) + lab[8:]
open('fashion-64-images.idx', 'wb').write(img)
open('fashion-64-labels.idx', 'wb').write(lab)
open('fashion-63-labels.idx', 'wb').write(lab[:4] + struct.pack('>I', 63) + lab[8:-1])
open('bad-truncated-images.idx', 'wb').write(img[:4] + struct.pack('>I', 8) + img[8:16 + 8 * 784 - 100])
open('fashion-classes.txt', 'w').write('\n'.join(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
                                                  'Shirt', 'Sneaker', 'Bag', 'Ankle boot']) + '\n')
EOF
gzip -n -9 -c fashion-64-images.idx >fashion-64-images.idx.gz
gzip -n -9 -c fashion-64-labels.idx >fashion-64-labels.idx.gz

# list files (paths relative to tests/data: give -r tests/data)
printf '%s\n' '# photos for imgprep, mkdb and pcacolor tests' 'photo-dog.jpg 0' 'photo-eagle.jpg 1' '' \
	'  photo-flower.jpg	2  ' 'dog with space.jpg 3' 'photo-giraffe.jpg 1' 'gray.jpg 2' >list.txt
printf 'photo-meadow.jpg 0\r\n' >>list.txt
printf '%s\n' 'photo-dog.jpg 0' 'photo-eagle.jpg' 'photo-flower.jpg cat' '# a comment' 'photo-meadow.jpg -3' \
	'photo-giraffe.jpg 99999999999' 'gray.jpg 1' >list-bad.txt
echo "make-fixtures: $(du -sk . | cut -f1) KiB in tests/data"
