/* image_orient.c: EXIF orientation: the tag in a TIFF block (a JPEG's APP1, a PNG's eXIf), and turning the pixels upright (imgprep --orientation exif). */
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
			return 0;
		uint32_t v = type == 3 ? get16(t + e + 8, le) : get32(t + e + 8, le);
		return v >= 1 && v <= 8 ? (int)v : 0;
	}
	return 0;
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
