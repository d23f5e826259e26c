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

int exif_orientation(const uint8_t *t, size_t n)
{
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
		/* one SHORT, as the standard has it, held in the first two bytes of the value field;
		 * or one LONG, as some writers store it and PIL accepts */
		unsigned type = get16(t + e + 2, le);
		if ((type != 3 && type != 4) || get32(t + e + 4, le) != 1)
			return -1;
		uint32_t v = type == 3 ? get16(t + e + 8, le) : get32(t + e + 8, le);
		return v >= 1 && v <= 8 ? (int)v : -1;
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

int raw_profile_orientation(const char *text)
{
	/* "\nexif\n<length>\n" and then the block in hex, in lines; PIL joins the lines from the
	 * fourth on and reads them as hex, an "Exif\0\0" in front or not */
	const char *h = text;
	for (int i = 0; i < 3 && h; i++)
		if ((h = strchr(h, '\n')))
			h++;
	if (!h)
		return 0;
	size_t cap = strlen(h) / 2, n = 0;
	uint8_t *b = malloc(cap ? cap : 1);
	if (!b)
		return 0;
	int hi = -1, bad = 0;
	for (const char *p = h; *p && !bad; p++) {
		if (isspace((unsigned char)*p)) /* bytes.fromhex skips whitespace */
			continue;
		int v = hexval((unsigned char)*p);
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
