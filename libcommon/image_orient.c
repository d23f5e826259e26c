/* image_orient.c: the orientation tag, from EXIF (a JPEG's APP1, a PNG's eXIf or ImageMagick's text profile) or XMP, and turning the pixels upright (imgprep --orientation exif). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/image_impl.h"

static unsigned get16(const uint8_t *p, int le) { return le ? p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1]; }

static uint32_t get32(const uint8_t *p, int le)
{
	return le ? p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
		  : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p, int le)
{
	return le ? get32(p, 1) | (uint64_t)get32(p + 4, 1) << 32 : (uint64_t)get32(p, 0) << 32 | get32(p + 4, 0);
}

/* The bytes of one value of each TIFF type PIL's TiffImagePlugin reads; 0 for a type it skips. */
static unsigned type_size(unsigned type)
{
	static const uint8_t size[17] = { [1] = 1, [2] = 1,  [3] = 2,  [4] = 4,  [5] = 8,  [6] = 1,  [7] = 1,
					  [8] = 2, [9] = 4, [10] = 8, [11] = 4, [12] = 8, [13] = 4, [16] = 8 };
	return type < 17 ? size[type] : 0;
}

static double float_at(const uint8_t *v, int le)
{
	uint32_t u = get32(v, le);
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static double double_at(const uint8_t *v, int le)
{
	uint64_t u = get64(v, le);
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

/* The orientation a tag's first value (at v) names, as PIL compares it with 1..8: any number
 * (signed, a rational, a float) equal to one of them; -1 for bytes and text (BYTE, ASCII,
 * UNDEFINED, which PIL keeps as such) and for any other number. */
static int first_value(const uint8_t *v, unsigned type, int le)
{
	int64_t k;
	switch (type) {
	case 3: k = get16(v, le); break;
	case 8: k = (int16_t)get16(v, le); break;
	case 4: case 13: k = get32(v, le); break;
	case 9: k = (int32_t)get32(v, le); break;
	case 6: k = (int8_t)v[0]; break;
	case 16: k = get64(v, le) > 8 ? -1 : (int64_t)get64(v, le); break;
	case 5: case 10: {
		int64_t num = type == 5 ? (int64_t)get32(v, le) : (int32_t)get32(v, le);
		int64_t den = type == 5 ? (int64_t)get32(v + 4, le) : (int32_t)get32(v + 4, le);
		k = den != 0 && num % den == 0 ? num / den : -1;
		break;
	}
	case 11: case 12: {
		double d = type == 11 ? float_at(v, le) : double_at(v, le);
		k = d >= 1 && d <= 8 && d == (int)d ? (int)d : -1;
		break;
	}
	default: return -1;
	}
	return k >= 1 && k <= 8 ? (int)k : -1;
}

int exif_orientation(const uint8_t *t, size_t n)
{
	/* PIL drops up to two "Exif\0\0" in front of the block; the callers one (a JPEG's APP1
	 * header, the one PIL adds to a PNG's eXIf, ImageMagick's text profile's), this the other
	 * (writers that put it into eXIf, or twice into APP1) */
	if (n >= 6 && memcmp(t, "Exif\0\0", 6) == 0) {
		t += 6;
		n -= 6;
	}
	if (n < 8 || !((t[0] == 'I' && t[1] == 'I') || (t[0] == 'M' && t[1] == 'M')))
		return 0;
	int le = t[0] == 'I';
	if (get16(t + 2, le) != 42)
		return 0;
	uint32_t ifd = get32(t + 4, le);
	if (ifd > n - 2)
		return 0;
	unsigned count = get16(t + ifd, le);
	for (unsigned i = 0; i < count; i++) {
		size_t e = (size_t)ifd + 2 + 12 * (size_t)i;
		if (e + 12 > n)
			return 0;
		if (get16(t + e, le) != 0x0112)
			continue;
		/* as PIL's TiffImagePlugin loads an IFD: an entry of a type it does not know, with no
		 * values, or whose values lie past the block is passed over (a later Orientation may
		 * count, else XMP); the first one read is the tag, and its first value (a SHORT, as the
		 * standard has it, or any other number) the orientation */
		unsigned type = get16(t + e + 2, le);
		uint64_t size = (uint64_t)type_size(type) * get32(t + e + 4, le);
		if (size == 0)
			continue;
		const uint8_t *v = t + e + 8;
		if (size > 4) {
			uint32_t off = get32(t + e + 8, le);
			if (off > n || size > n - off)
				continue;
			v = t + off;
		}
		return first_value(v, type, le);
	}
	return 0;
}

int xmp_orientation(const uint8_t *x, size_t n)
{
	static const char key[] = "tiff:Orientation";
	const size_t kn = sizeof key - 1;
	/* the first "tiff:Orientation" written as an attribute (="6") or an element (>6), as PIL's
	 * getexif looks for it; one digit, as there */
	for (const uint8_t *p = x, *end = x + n; (p = memmem(p, (size_t)(end - p), key, kn)); p += kn) {
		const uint8_t *v = p + kn;
		if (v < end && *v == '>')
			v++;
		else if (end - v >= 2 && v[0] == '=' && v[1] == '"')
			v += 2;
		else
			continue;
		if (v < end && *v >= '0' && *v <= '9')
			return *v >= '1' && *v <= '8' ? *v - '0' : -1;
	}
	return 0;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int raw_profile_orientation(const uint8_t *text, size_t len)
{
	/* "\nexif\n<length>\n" and then the block in hex, in lines; PIL joins the lines from the
	 * fourth on and reads them as hex, an "Exif\0\0" in front or not */
	const uint8_t *h = text, *end = text + len;
	for (int i = 0; i < 3 && h; i++)
		if ((h = memchr(h, '\n', (size_t)(end - h))))
			h++;
	if (!h)
		return 0;
	size_t cap = (size_t)(end - h) / 2, n = 0;
	uint8_t *b = malloc(cap ? cap : 1);
	if (!b)
		return 0;
	int hi = -1, bad = 0;
	for (const uint8_t *p = h; p < end && !bad; p++) {
		if (isspace(*p)) /* bytes.fromhex skips whitespace; a NUL is no hex, as there */
			continue;
		int v = hexval(*p);
		if (v < 0)
			bad = 1;
		else if (hi < 0)
			hi = v;
		else {
			b[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	int o = 0;
	if (!bad && hi < 0) {
		size_t skip = n >= 6 && memcmp(b, "Exif\0\0", 6) == 0 ? 6 : 0;
		o = exif_orientation(b + skip, n - skip);
	}
	free(b);
	return o;
}

/* The source pixel of upright pixel (x, y), for a w x h stored image (EXIF 2.3, table of
 * the orientation tag: 2 mirrors left-right, 3 turns half round, 4 mirrors top-bottom, 5
 * transposes, 6 needs a quarter turn clockwise, 7 transposes the other diagonal, 8 needs a
 * quarter turn counter-clockwise). */
static void source_of(int orientation, int w, int h, int x, int y, int *sx, int *sy)
{
	switch (orientation) {
	case 2: *sx = w - 1 - x; *sy = y; break;
	case 3: *sx = w - 1 - x; *sy = h - 1 - y; break;
	case 4: *sx = x; *sy = h - 1 - y; break;
	case 5: *sx = y; *sy = x; break;
	case 6: *sx = y; *sy = h - 1 - x; break;
	case 7: *sx = w - 1 - y; *sy = h - 1 - x; break;
	case 8: *sx = w - 1 - y; *sy = x; break;
	default: *sx = x; *sy = y; break;
	}
}

void image_orient(ImageCodec *c, Image *im, int orientation)
{
	if (orientation < 2 || orientation > 8)
		return;
	int w = im->width, h = im->height, ch = im->channels;
	int ow = orientation >= 5 ? h : w, oh = orientation >= 5 ? w : h;
	uint8_t *dst = scratch_get(&c->orient, (size_t)w * h * ch);
	for (int y = 0; y < oh; y++)
		for (int x = 0; x < ow; x++) {
			int sx, sy;
			source_of(orientation, w, h, x, y, &sx, &sy);
			memcpy(dst + ((size_t)y * ow + x) * ch, im->pixels + ((size_t)sy * w + sx) * ch, (size_t)ch);
		}
	im->width = ow;
	im->height = oh;
	im->pixels = dst;
}
