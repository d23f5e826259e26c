/* image_pnm.c: netpbm graymaps and pixmaps (P2, P3 plain; P5, P6 raw) from memory.
 *
 * Samples above maxval 255 (two bytes, big-endian, in the raw forms) and any maxval other
 * than 255 are rescaled to 0..255 with rounding. Only the first image of a multi-image
 * stream is read. Every length is checked against the buffer before it is used.
 */
#include <ctype.h>
#include <string.h>

#include "libcommon/image_impl.h"
#include "libcommon/util.h"

typedef struct {
	const uint8_t *p;
	size_t len, off;
} Cursor;

static void skip_space(Cursor *c)
{
	while (c->off < c->len) {
		if (c->p[c->off] == '#') {
			while (c->off < c->len && c->p[c->off] != '\n')
				c->off++;
		} else if (isspace(c->p[c->off])) {
			c->off++;
		} else {
			break;
		}
	}
}

/* An unsigned decimal up to limit; -1 if there is none or it is larger. */
static long read_number(Cursor *c, long limit)
{
	skip_space(c);
	if (c->off >= c->len || !isdigit(c->p[c->off]))
		return -1;
	long v = 0;
	while (c->off < c->len && isdigit(c->p[c->off])) {
		v = v * 10 + (c->p[c->off++] - '0');
		if (v > limit)
			return -1;
	}
	return v;
}

static uint8_t rescale(long v, long maxval)
{
	if (v > maxval)
		v = maxval;
	return maxval == 255 ? (uint8_t)v : (uint8_t)((v * 255 + maxval / 2) / maxval);
}

int pnm_decode(ImageCodec *c, const uint8_t *buf, size_t len, const PrepOptions *o, Image *img, PrepNotes *n,
	       char *why, size_t whylen)
{
	Cursor cur = { buf, len, 2 };
	int kind = buf[1] - '0', ch = kind == 3 || kind == 6 ? 3 : 1, plain = kind <= 3;
	long w = read_number(&cur, 1L << 30), h = read_number(&cur, 1L << 30), maxval = read_number(&cur, 65535);
	n->format = "PNM";
	if (w <= 0 || h <= 0 || maxval <= 0)
		return image_fail(why, whylen, "corrupt PNM header (width, height or maxval missing or out of range)");
	n->src_width = (int)w;
	n->src_height = (int)h;
	n->src_channels = ch;
	if ((uint64_t)w * (uint64_t)h > o->max_pixels)
		return image_fail(why, whylen, "image too large: %ldx%ld pixels (limit %llu; see --max-pixels)", w, h,
			    (unsigned long long)o->max_pixels);
	size_t samples = (size_t)w * (size_t)h * (size_t)ch, bps = maxval > 255 ? 2 : 1;
	if (!plain) {
		/* exactly one whitespace byte separates maxval from the data */
		if (cur.off >= len || !isspace(buf[cur.off]))
			return image_fail(why, whylen, "corrupt PNM header (no space after maxval)");
		cur.off++;
		if (len - cur.off < samples * bps)
			return image_fail(why, whylen, "truncated PNM (%zu of %zu data bytes)", len - cur.off, samples * bps);
	} else if ((len - cur.off) / 2 < samples) {
		/* each plain sample takes a blank and a digit at least: a 20-byte header must not
		 * get the 512 MiB its dimensions would need before the first sample is missed */
		return image_fail(why, whylen, "truncated plain PNM (%zu bytes cannot hold %zu samples)", len - cur.off,
				  samples);
	}
	uint8_t *dst = scratch_get(&c->pix, samples);
	for (size_t i = 0; i < samples; i++) {
		long v;
		if (plain) {
			if ((v = read_number(&cur, maxval)) < 0)
				return image_fail(why, whylen, "truncated or corrupt plain PNM at sample %zu of %zu", i, samples);
		} else if (bps == 2) {
			v = (long)buf[cur.off + 2 * i] << 8 | buf[cur.off + 2 * i + 1];
		} else {
			v = buf[cur.off + i];
		}
		dst[i] = rescale(v, maxval);
	}
	img->width = (int)w;
	img->height = (int)h;
	img->channels = ch;
	img->pixels = dst;
	return 0;
}
