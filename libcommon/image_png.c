/* image_png.c: PNG decoding from memory through libpng, to 8-bit gray or RGB.
 *
 * Every PNG colour type becomes gray or RGB: palettes are expanded, 1/2/4-bit gray widened,
 * 16-bit samples scaled to 8 bits with rounding (png_set_scale_16), and alpha dropped: the
 * colour stored under a transparent pixel is kept as it is, as Pillow's convert("RGB") does.
 * Gamma and colour profiles are ignored. libpng's errors longjmp back here (never exit);
 * its warnings (a damaged ancillary chunk, an odd sRGB profile) are ignored.
 */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/image_impl.h"
#include "libcommon/util.h"

typedef struct {
	const uint8_t *p;
	size_t len, off;
	size_t stop;    /* where PIL stops reading chunks (pil_stop) */
	int stop_ntext; /* how many text chunks libpng had read by then; -1 until it gets there */
	png_infop info;
	char msg[96];
	png_bytep *rows;
} PngSource;

static void read_mem(png_structp png, png_bytep out, size_t n)
{
	PngSource *s = png_get_io_ptr(png);
	if (n > s->len - s->off)
		png_error(png, "file ends early (truncated)");
	/* libpng reads a chunk's header only once it has stored the text of the chunks before */
	if (s->off == s->stop && s->stop_ntext < 0)
		s->stop_ntext = png_get_text(png, s->info, NULL, NULL);
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

/* The EXIF block that PIL's PngImagePlugin keeps as info["exif"]: of the eXIf chunks and the
 * tEXt chunks with the keyword "exif" (the block itself, not hex: chunk_tEXt keeps its bytes),
 * the last in the len bytes given (those before pil_stop), as PIL sets the key anew at each.
 * Read from the file's bytes, not libpng's: libpng keeps the first eXIf, drops one that starts
 * "Exif\0\0" ("incorrect byte-order specifier", a warning) and ends a tEXt at its first NUL. A
 * zTXt or iTXt "exif" is text to PIL, which its getexif then fails on (TypeError); passed over
 * here. CRCs are not checked (PIL does not, after the image data). In *n the length; in *text
 * whether a tEXt gave it, from which PIL drops up to two "Exif\0\0" (from an eXIf one, as it
 * adds one); NULL if none. */
static const uint8_t *exif_block(const uint8_t *b, size_t len, size_t *n, int *text)
{
	const uint8_t *found = NULL, *type, *data;
	size_t clen;
	for (size_t off = 8; (type = chunk_at(b, len, off, &data, &clen)) && memcmp(type, "IEND", 4) != 0; off += 12 + clen)
		if (memcmp(type, "eXIf", 4) == 0) {
			found = data;
			*n = clen;
			*text = 0;
		} else if (memcmp(type, "tEXt", 4) == 0 && clen >= 4 && memcmp(data, "exif", 4) == 0 &&
			   (clen == 4 || data[4] == 0)) { /* no NUL: the keyword alone, an empty block */
			found = data + (clen > 4 ? 5 : 4);
			*n = clen > 4 ? clen - 5 : 0;
			*text = 1;
		}
	return found;
}

/* Whether s is UTF-8 to Python's strict decoder: no overlong form, surrogate or code point past
 * U+10FFFF. NULL (a field a tEXt has not) passes. */
static int utf8(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p;) {
		unsigned c = *p++;
		int more = c < 0x80 ? 0 : c < 0xC2 ? -1 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : c < 0xF5 ? 3 : -1;
		if (more < 0)
			return 0;
		/* the second byte's range is narrower after E0, ED, F0 and F4; the NUL at the end fails */
		unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
		for (int i = 0; i < more; i++, p++, lo = 0x80, hi = 0xBF)
			if (*p < lo || *p > hi)
				return 0;
	}
	return 1;
}

/* The orientation tag as PIL's getexif finds it: in the EXIF block above, else in ImageMagick's
 * "Raw profile type exif" text; where neither has the tag, in the last XMP text chunk. Only
 * chunks before pil_stop count. */
static int orientation(const PngSource *s, png_structp png, png_infop info)
{
	png_textp text = NULL;
	int ntext = 0;
	png_get_text(png, info, &text, &ntext);
	if (s->stop_ntext >= 0) /* as it always is once png_read_end has passed the stop */
		ntext = s->stop_ntext;
	/* the last of each, as PIL keeps. chunk_iTXt keeps an iTXt under its keyword only where
	 * its language, translated keyword and text are UTF-8; the bytes of an XMP one it keeps
	 * as info["xmp"] all the same, which getexif reads where "XML:com.adobe.xmp" is absent
	 * or empty. */
	const char *raw = NULL, *xmp = NULL, *xmp_bytes = NULL;
	for (int i = 0; i < ntext; i++) {
		const png_text *t = &text[i];
		int itxt = t->compression >= PNG_ITXT_COMPRESSION_NONE;
		int kept = !itxt || (utf8(t->lang) && utf8(t->lang_key) && utf8(t->text));
		if (!t->text)
			continue;
		else if (strcmp(t->key, "Raw profile type exif") == 0 && kept)
			raw = t->text;
		else if (strcmp(t->key, "XML:com.adobe.xmp") == 0) {
			xmp = kept ? t->text : xmp;
			xmp_bytes = itxt ? t->text : xmp_bytes;
		}
	}
	if (!xmp || !*xmp)
		xmp = xmp_bytes;
	size_t n = 0;
	int from_text = 0;
	const uint8_t *exif = exif_block(s->p, s->stop, &n, &from_text);
	if (exif && from_text && n >= 6 && memcmp(exif, "Exif\0\0", 6) == 0) {
		exif += 6; /* exif_orientation drops the second */
		n -= 6;
	}
	/* any block, even one that cannot be read, hides the raw profile, as in PIL */
	int o = exif ? exif_orientation(exif, n) : raw ? raw_profile_orientation(raw) : 0;
	if (!o && xmp)
		o = xmp_orientation((const uint8_t *)xmp, strlen(xmp));
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
	png_read_end(png, info); /* an eXIf chunk, or text, may follow the image data */
	n->orientation = orientation(s, png, info);
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
	PngSource s = { .p = buf, .len = len, .stop = pil_stop(buf, len), .stop_ntext = -1 };
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	s.info = info;
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
		rc = decode(c, &s, png, info, o, img, n, why, whylen);
	}
	png_destroy_read_struct(&png, &info, NULL);
	free(s.rows);
	return rc;
}
