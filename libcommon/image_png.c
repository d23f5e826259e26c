/* image_png.c: PNG decoding from memory through libpng, to 8-bit gray or RGB.
 *
 * Every PNG colour type becomes gray or RGB: palettes are expanded, 1/2/4-bit gray widened,
 * 16-bit samples scaled to 8 bits with rounding (png_set_scale_16), and alpha dropped: the
 * colour stored under a transparent pixel is kept as it is, as Pillow's convert("RGB") does.
 * Gamma and colour profiles are ignored. libpng's errors longjmp back here (never exit);
 * its warnings (a damaged ancillary chunk, an odd sRGB profile) are ignored.
 */
#define ZLIB_CONST /* z_stream's next_in a const pointer, as the file's bytes are */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "libcommon/image_impl.h"
#include "libcommon/util.h"

typedef struct {
	const uint8_t *p;
	size_t len, off;
	char msg[96];
	png_bytep *rows;
} PngSource;

static void read_mem(png_structp png, png_bytep out, size_t n)
{
	PngSource *s = png_get_io_ptr(png);
	if (n > s->len - s->off)
		png_error(png, "file ends early (truncated)");
	memcpy(out, s->p + s->off, n);
	s->off += n;
}

static void on_error(png_structp png, png_const_charp msg)
{
	PngSource *s = png_get_error_ptr(png);
	snprintf(s->msg, sizeof s->msg, "%s", msg);
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* The transformations to 8-bit gray or RGB without alpha; returns the channel count. */
static int set_transforms(png_structp png, png_infop info)
{
	int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (depth == 16)
		png_set_scale_16(png);
	if (type & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	return png_get_channels(png, info);
}

/* The chunk at off of the file's bytes (length, type, data, CRC): its type, its data in *data
 * and their length in *n; NULL where the bytes end before the chunk does. */
static const uint8_t *chunk_at(const uint8_t *b, size_t len, size_t off, const uint8_t **data, size_t *n)
{
	if (off > len || len - off < 12)
		return NULL;
	*n = png_get_uint_32(b + off);
	if (*n > len - off - 12)
		return NULL;
	*data = b + off + 8;
	return b + off + 4;
}

/* Whether every chunk up to IEND lies inside the file's bytes. libpng would refuse the file
 * anyway, but only once it has allocated what a text chunk claims: 1.6 merely warns "chunk data
 * is too large", so a few hundred bytes could have it ask for 2 GiB. */
static int chunks_fit(const uint8_t *b, size_t len)
{
	const uint8_t *type, *data;
	size_t n;
	for (size_t off = 8; (type = chunk_at(b, len, off, &data, &n)); off += 12 + n)
		if (memcmp(type, "IEND", 4) == 0)
			return 1;
	return 0;
}

/* Where PIL stops reading chunks before exif_transpose looks at info: at IEND, or in an animated
 * PNG at the first fcTL after the image data, which starts the next frame (load_end). Animated as
 * _open finds it: an acTL before the first IDAT numbers the frames (chunk_acTL: a second one
 * unsets the count, as does a count of 0 or over 2^31), and one more when the IDAT has no fcTL
 * before it (the default image, no frame); more than one frame is animated. The offset of the
 * chunk PIL stops at. */
static size_t pil_stop(const uint8_t *b, size_t len)
{
	const uint8_t *type, *data;
	size_t off, n;
	uint32_t frames = 0; /* 0: no count, as PIL's None */
	int framed = 0, animated = -1; /* -1 until the first IDAT */
	for (off = 8; (type = chunk_at(b, len, off, &data, &n)) && memcmp(type, "IEND", 4) != 0; off += 12 + n) {
		int fctl = memcmp(type, "fcTL", 4) == 0;
		if (fctl && animated > 0)
			break;
		framed |= fctl;
		if (animated < 0 && memcmp(type, "acTL", 4) == 0 && n >= 8) {
			uint32_t f = png_get_uint_32(data);
			frames = frames ? 0 : f <= 0x80000000u ? f : 0;
		} else if (animated < 0 && memcmp(type, "IDAT", 4) == 0)
			animated = frames && frames + !framed > 1;
	}
	return off;
}

/* Whether s (n bytes) is UTF-8 to Python's strict decoder: no overlong form, surrogate or code
 * point past U+10FFFF; a NUL is a character like any other. */
static int utf8(const uint8_t *s, size_t n)
{
	for (const uint8_t *p = s, *end = s + n; p < end;) {
		unsigned c = *p++;
		int more = c < 0x80 ? 0 : c < 0xC2 ? -1 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : c < 0xF5 ? 3 : -1;
		if (more < 0 || end - p < more)
			return 0;
		/* the second byte's range is narrower after E0, ED, F0 and F4 */
		unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
		for (int i = 0; i < more; i++, p++, lo = 0x80, hi = 0xBF)
			if (*p < lo || *p > hi)
				return 0;
	}
	return 1;
}

enum { MAX_TEXT = 1 << 20 }; /* PIL's MAX_TEXT_CHUNK (ImageFile.SAFEBLOCK) */

/* A text chunk's text in the file's bytes, deflated where z; none where p is NULL. */
typedef struct {
	const uint8_t *p;
	size_t n;
	int z;
} Text;

/* t's bytes as PIL has them, n in *n: t's own, or inflated into *buf (MAX_TEXT bytes, made here)
 * as _safe_zlib_decompress does: at most MAX_TEXT, and a stream cut short gives what it holds.
 * NULL for none, and where zlib refuses the data (PIL's zlib.error; a preset dictionary too) or
 * it inflates past MAX_TEXT (a ValueError that stops PIL, save with LOAD_TRUNCATED_IMAGES, which
 * takes it as the other). */
static const uint8_t *text_bytes(Text t, uint8_t **buf, size_t *n)
{
	*n = t.n;
	if (!t.p || !t.z)
		return t.p;
	if (!*buf)
		*buf = xmalloc(MAX_TEXT);
	z_stream z = { .next_in = t.p, .avail_in = (uInt)t.n, .next_out = *buf, .avail_out = MAX_TEXT };
	if (inflateInit(&z) != Z_OK)
		return NULL;
	int rc = inflate(&z, Z_SYNC_FLUSH);
	*n = MAX_TEXT - z.avail_out;
	inflateEnd(&z);
	return rc == Z_STREAM_END || ((rc == Z_OK || rc == Z_BUF_ERROR) && z.avail_in == 0) ? *buf : NULL;
}

static int is_key(const uint8_t *k, size_t n, const char *key)
{
	return n == strlen(key) && memcmp(k, key, n) == 0;
}

/* The orientation tag as PIL's getexif finds it in the chunks before pil_stop (the len bytes
 * given): in the EXIF block, else in ImageMagick's "Raw profile type exif" text; where neither
 * has the tag, in the XMP text. Each is the last that PngImagePlugin keeps in info (it sets a key
 * anew at each chunk), and read from the file's bytes, not libpng's: libpng keeps the first
 * eXIf, drops one that starts "Exif\0\0", and ends a text at its first NUL, where PIL reads on.
 * CRCs are not checked (PIL does not, after the image data). */
static int orientation(const uint8_t *b, size_t len)
{
	const uint8_t *type, *d, *exif = NULL;
	size_t n, exif_n = 0;
	Text raw = { 0 }, xmp = { 0 }, xmp_bytes = { 0 };
	uint8_t *buf = NULL;
	for (size_t off = 8; (type = chunk_at(b, len, off, &d, &n)) && memcmp(type, "IEND", 4) != 0; off += 12 + n) {
		if (memcmp(type, "eXIf", 4) == 0) {
			exif = d;
			exif_n = n;
			continue;
		}
		int text = memcmp(type, "tEXt", 4) == 0, ztxt = memcmp(type, "zTXt", 4) == 0;
		if (!text && !ztxt && memcmp(type, "iTXt", 4) != 0)
			continue;
		/* chunk_tEXt, chunk_zTXt, chunk_iTXt: the keyword up to the first NUL, or all of the
		 * chunk; the text after it, NULs and all */
		const uint8_t *end = d + n, *nul = memchr(d, 0, n);
		size_t kn = nul ? (size_t)(nul - d) : n;
		Text t = { nul ? nul + 1 : end, nul ? (size_t)(end - nul - 1) : 0, 0 };
		if (text && is_key(d, kn, "exif")) {
			/* the block itself, not hex: chunk_tEXt keeps its bytes, and PIL drops up to two
			 * "Exif\0\0" from them (as it adds one to an eXIf's), exif_orientation the second.
			 * A zTXt or iTXt "exif" is text to PIL, which getexif then fails on (TypeError);
			 * passed over here */
			size_t skip = t.n >= 6 && memcmp(t.p, "Exif\0\0", 6) == 0 ? 6 : 0;
			exif = t.p + skip;
			exif_n = t.n - skip;
			continue;
		}
		int is_raw = is_key(d, kn, "Raw profile type exif"), is_xmp = is_key(d, kn, "XML:com.adobe.xmp");
		if (!is_raw && !is_xmp)
			continue;
		if (ztxt) {
			/* after the compression method (none at all: 0). Another method fails there
			 * (SyntaxError), and a text that does not inflate is empty: here both are */
			int m = t.n ? *t.p : 0;
			t = (Text){ t.p + !!t.n, m ? 0 : t.n - !!t.n, 1 };
		} else if (!text) {
			/* compression flag and method, language, translated keyword and text; a chunk short
			 * of these, compressed by a method other than 0 or whose text does not inflate is
			 * dropped. Kept under its keyword only where the language, translated keyword and
			 * text are UTF-8, but an XMP one's bytes all the same, as info["xmp"], which
			 * getexif reads where no "XML:com.adobe.xmp" is, or an empty one */
			const uint8_t *lang = t.p + 2, *tk, *v, *s;
			size_t sn;
			if (t.n < 2 || (t.p[0] && t.p[1]) || !(tk = memchr(lang, 0, (size_t)(end - lang))) ||
			    !(v = memchr(tk + 1, 0, (size_t)(end - tk - 1))))
				continue;
			Text x = { v + 1, (size_t)(end - v - 1), t.p[0] != 0 };
			if (!(s = text_bytes(x, &buf, &sn)))
				continue;
			xmp_bytes = is_xmp ? x : xmp_bytes;
			if (!utf8(lang, (size_t)(tk - lang)) || !utf8(tk + 1, (size_t)(v - tk - 1)) || !utf8(s, sn))
				continue;
			t = x;
		}
		if (is_raw)
			raw = t;
		else
			xmp = t;
	}
	/* any block, even one that cannot be read, hides the raw profile, as in PIL */
	const uint8_t *s;
	int o = exif ? exif_orientation(exif, exif_n) : (s = text_bytes(raw, &buf, &n)) ? raw_profile_orientation(s, n) : 0;
	if (!o && (!(s = text_bytes(xmp, &buf, &n)) || !n))
		s = text_bytes(xmp_bytes, &buf, &n);
	if (!o && s)
		o = xmp_orientation(s, n);
	free(buf);
	return o > 0 ? o : 0;
}

static int decode(ImageCodec *c, PngSource *s, png_structp png, png_infop info, const PrepOptions *o, Image *img,
		  PrepNotes *n, char *why, size_t whylen)
{
	png_read_info(png, info);
	png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
	n->format = "PNG";
	n->src_width = (int)w;
	n->src_height = (int)h;
	n->src_channels = png_get_channels(png, info);
	if ((uint64_t)w * h > o->max_pixels)
		return image_fail(why, whylen, "image too large: %ux%u pixels (limit %llu; see --max-pixels)", w, h,
			    (unsigned long long)o->max_pixels);
	int ch = set_transforms(png, info);
	if ((ch != 1 && ch != 3) || png_get_rowbytes(png, info) != (size_t)w * ch)
		return image_fail(why, whylen, "PNG: unexpected layout after conversion (%d channels)", ch);
	uint8_t *dst = scratch_get(&c->pix, (size_t)w * h * ch);
	s->rows = xmallocarray(h, sizeof *s->rows);
	for (png_uint_32 y = 0; y < h; y++)
		s->rows[y] = dst + (size_t)y * w * ch;
	png_read_image(png, s->rows);
	png_read_end(png, info); /* to IEND's CRC: a file cut short is refused */
	n->orientation = orientation(s->p, pil_stop(s->p, s->len));
	img->width = (int)w;
	img->height = (int)h;
	img->channels = ch;
	img->pixels = dst;
	return 0;
}

int png_decode(ImageCodec *c, const uint8_t *buf, size_t len, const PrepOptions *o, Image *img, PrepNotes *n,
	       char *why, size_t whylen)
{
	if (!chunks_fit(buf, len))
		return image_fail(why, whylen, "corrupt PNG: a chunk runs past the end of the file (truncated)");
	PngSource s = { .p = buf, .len = len };
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		return image_fail(why, whylen, "libpng: cannot create a decoder");
	}
	int rc;
	/* decode() keeps nothing in locals across the longjmp; s and rc live out here */
	if (setjmp(png_jmpbuf(png)))
		rc = image_fail(why, whylen, "corrupt PNG: %s", s.msg);
	else {
		png_set_read_fn(png, &s, read_mem);
		png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_DEFAULT);
		/* orientation() reads these from the file's bytes. libpng would keep up to 1000 text
		 * chunks, each inflated up to 8 MB (PNG_USER_CHUNK_CACHE_MAX, _MALLOC_MAX): 2.3 GB for
		 * a 2.3 MB file of 300 zTXt */
		png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, (png_const_bytep) "tEXt\0zTXt\0iTXt\0eXIf", 4);
		rc = decode(c, &s, png, info, o, img, n, why, whylen);
	}
	png_destroy_read_struct(&png, &info, NULL);
	free(s.rows);
	return rc;
}
