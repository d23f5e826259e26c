/* image.c: the preparation pipeline (sniff, decode, reduce to luma, resample the crop, widen to RGB) and the codec. */
#include "libcommon/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcommon/image_impl.h"
#include "libcommon/util.h"

ImageCodec *codec_new(void)
{
	ImageCodec *c = xcalloc(1, sizeof *c);
	jpeg_codec_init(c);
	c->avx2 = resample_avx2_available();
	return c;
}

void codec_free(ImageCodec *c)
{
	if (!c)
		return;
	jpeg_codec_free(c);
	axes_free(c);
	Scratch *s[] = { &c->file, &c->pix, &c->conv, &c->tmp, &c->conv_f, &c->jpg, &c->orient };
	for (size_t i = 0; i < ARRAY_LEN(s); i++)
		free(s[i]->p);
	free(c);
}

void image_free(Image *im)
{
	if (!im)
		return;
	free(im->pixels);
	im->pixels = NULL;
}

uint8_t *scratch_get(Scratch *s, size_t n)
{
	if (n > s->cap) {
		free(s->p);
		s->cap = n + n / 4;
		s->p = xmalloc(s->cap);
	}
	return s->p;
}

int image_fail(char *why, size_t whylen, const char *fmt, ...)
{
	if (why && whylen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void prep_options_init(PrepOptions *o)
{
	o->size = PREP_DEFAULT_SIZE;
	o->channels = 3;
	o->strict = 0;
	o->max_pixels = PREP_DEFAULT_MAX_PIXELS;
	o->filter = FILTER_LANCZOS3;
	o->dct = DCT_SCALE_AUTO;
	o->exif_orientation = 0;
}

int orientation_parse(const char *s, int *exif)
{
	if (strcmp(s, "ignore") != 0 && strcmp(s, "exif") != 0)
		return -1;
	*exif = strcmp(s, "exif") == 0;
	return 0;
}

static const char *filter_names[] = { "triangle", "cubic", "lanczos3" };
static const char *dct_names[] = { "auto", "max", "off" };

int resize_filter_parse(const char *s, ResizeFilter *f)
{
	for (size_t i = 0; i < ARRAY_LEN(filter_names); i++)
		if (strcmp(s, filter_names[i]) == 0) {
			*f = (ResizeFilter)i;
			return 0;
		}
	return -1;
}

const char *resize_filter_name(ResizeFilter f) { return (unsigned)f < ARRAY_LEN(filter_names) ? filter_names[f] : "?"; }

int dct_scaling_parse(const char *s, DctScaling *d)
{
	for (size_t i = 0; i < ARRAY_LEN(dct_names); i++)
		if (strcmp(s, dct_names[i]) == 0) {
			*d = (DctScaling)i;
			return 0;
		}
	return -1;
}

const char *dct_scaling_name(DctScaling d) { return (unsigned)d < ARRAY_LEN(dct_names) ? dct_names[d] : "?"; }

void rgb_to_luma(const uint8_t *rgb, uint8_t *y, size_t n)
{
	/* libjpeg's FIX(0.299), FIX(0.587), FIX(0.114) in 16 bits; they sum to 65536 */
	for (size_t i = 0; i < n; i++)
		y[i] = (uint8_t)((19595u * rgb[3 * i] + 38470u * rgb[3 * i + 1] + 7471u * rgb[3 * i + 2] + 32768u) >> 16);
}

void image_crop_geometry(int w, int h, int size, int *rw, int *rh, int *x0, int *y0)
{
	int shorter = w < h ? w : h, longer = w < h ? h : w;
	uint64_t scaled = ((uint64_t)2 * longer * size + shorter) / (2 * (uint64_t)shorter);
	int lng = scaled < (uint64_t)size ? size : (int)scaled;
	*rw = w < h ? size : lng;
	*rh = w < h ? lng : size;
	*x0 = (*rw - size) / 2;
	*y0 = (*rh - size) / 2;
}

/* ------------------------------------------------------------------------------------------ */

static int has_jpeg_name(const char *name)
{
	const char *dot = name ? strrchr(name, '.') : NULL;
	if (!dot || strchr(dot, '/'))
		return 0;
	return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".jpe") ||
	       !strcasecmp(dot, ".jfif");
}

typedef int (*Decoder)(ImageCodec *, const uint8_t *, size_t, const PrepOptions *, Image *, PrepNotes *, char *,
		       size_t);

/* The decoder for buf's magic bytes, or NULL with the reason in why. */
static Decoder sniff(const uint8_t *b, size_t len, char *why, size_t whylen)
{
	static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
	if (len == 0) {
		image_fail(why, whylen, "empty file (0 bytes)");
		return NULL;
	}
	if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
		return jpeg_decode;
	if (len >= 8 && memcmp(b, png_magic, 8) == 0)
		return png_decode;
	if (len >= 3 && b[0] == 'P' && strchr("2356", b[1]) && b[1] && (b[2] == ' ' || (b[2] >= '\t' && b[2] <= '\r')))
		return pnm_decode;
	const char *kind = NULL;
	if (len >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)))
		kind = "GIF";
	else if (len >= 2 && b[0] == 'B' && b[1] == 'M')
		kind = "BMP";
	else if (len >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
		kind = "WebP";
	else if (len >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4)))
		kind = "TIFF";
	else if (len >= 3 && b[0] == 'P' && strchr("14", b[1]) && b[1])
		kind = "PBM bitmap";
	if (kind)
		image_fail(why, whylen, "unsupported image format (%s; anet reads JPEG, PNG and PNM)", kind);
	else
		image_fail(why, whylen, "not an image anet can read (no JPEG, PNG or PNM signature)");
	return NULL;
}

/* Luma reduction, the resampled crop, widening to RGB: src becomes *out (fresh pixels). */
static int finish(ImageCodec *c, const Image *src, const PrepOptions *o, Image *out, PrepNotes *n, char *why,
		  size_t whylen)
{
	if (o->channels != 1 && o->channels != 3)
		return image_fail(why, whylen, "cannot prepare %d channels (1 or 3)", o->channels);
	if (src->width <= 0 || src->height <= 0 || (src->channels != 1 && src->channels != 3))
		return image_fail(why, whylen, "bad source image (%dx%d, %d channels)", src->width, src->height, src->channels);
	Image s = *src;
	size_t npix = (size_t)s.width * s.height;
	if (s.channels == 3 && o->channels == 1) {
		uint8_t *y = scratch_get(&c->conv, npix);
		rgb_to_luma(s.pixels, y, npix);
		s.pixels = y;
		s.channels = 1;
		n->color_to_gray = 1;
	}
	int ow = s.width, oh = s.height;
	if (o->size > 0) {
		ow = oh = o->size;
		int shorter = s.width < s.height ? s.width : s.height, longer = s.width ^ s.height ^ shorter;
		if ((uint64_t)longer * (uint64_t)o->size / (uint64_t)shorter > (1u << 30))
			return image_fail(why, whylen, "aspect ratio too extreme (%dx%d)", s.width, s.height);
	}
	size_t opix = (size_t)ow * oh;
	uint8_t *dst = xmallocarray(opix, (size_t)o->channels);
	if (o->size > 0) {
		int rw, rh, x0, y0;
		image_crop_geometry(s.width, s.height, o->size, &rw, &rh, &x0, &y0);
		image_resample(c, &s, rw, rh, x0, y0, ow, oh, o->filter, dst);
	} else {
		memcpy(dst, s.pixels, opix * s.channels);
	}
	if (s.channels == 1 && o->channels == 3) {
		/* backwards, in place: pixel i's three copies land at or after pixel i */
		for (size_t i = opix; i-- > 0;)
			dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = dst[i];
		n->gray_to_rgb = 1;
	}
	out->width = ow;
	out->height = oh;
	out->channels = o->channels;
	out->pixels = dst;
	return 0;
}

static void notes_init(PrepNotes *n)
{
	memset(n, 0, sizeof *n);
	n->format = "?";
	n->dct_num = n->dct_den = 1;
}

int image_prepare_buffer(ImageCodec *c, const uint8_t *buf, size_t len, const char *name, const PrepOptions *o,
			 Image *out, PrepNotes *notes, char *why, size_t whylen)
{
	PrepNotes local;
	PrepNotes *n = notes ? notes : &local;
	notes_init(n);
	out->pixels = NULL;
	Decoder decode = sniff(buf, len, why, whylen);
	if (!decode)
		return -1;
	if (o->channels != 1 && o->channels != 3)
		return image_fail(why, whylen, "cannot prepare %d channels (1 or 3)", o->channels);
	Image src;
	if (decode(c, buf, len, o, &src, n, why, whylen))
		return -1;
	n->png_disguised_as_jpeg = decode == png_decode && has_jpeg_name(name);
	n->turned = o->exif_orientation && n->orientation > 1;
	if (n->turned)
		image_orient(c, &src, n->orientation);
	return finish(c, &src, o, out, n, why, whylen);
}

/* Reads the whole file into the codec's file buffer. */
static int read_whole(ImageCodec *c, const char *path, size_t *len, char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return image_fail(why, whylen, "%s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return image_fail(why, whylen, "%s", strerror(e));
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return image_fail(why, whylen, "%s", strerror(EISDIR));
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > PREP_MAX_FILE_BYTES) {
		close(fd);
		return image_fail(why, whylen, "file too large (%lld bytes; the limit is %u)", (long long)st.st_size,
			    PREP_MAX_FILE_BYTES);
	}
	size_t n = 0, cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 1 << 16;
	uint8_t *b = scratch_get(&c->file, cap);
	for (;;) {
		if (n == c->file.cap) {
			if (n >= PREP_MAX_FILE_BYTES) {
				close(fd);
				return image_fail(why, whylen, "file too large (over %u bytes)", PREP_MAX_FILE_BYTES);
			}
			uint8_t *bigger = xmalloc(2 * n);
			memcpy(bigger, b, n);
			free(c->file.p);
			c->file.p = b = bigger;
			c->file.cap = 2 * n;
		}
		ssize_t got = read(fd, b + n, c->file.cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			close(fd);
			return image_fail(why, whylen, "read error: %s", strerror(e));
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	*len = n;
	return 0;
}

int image_prepare_file(ImageCodec *c, const char *path, const PrepOptions *o, Image *out, PrepNotes *notes,
		       char *why, size_t whylen)
{
	size_t len = 0;
	out->pixels = NULL;
	if (notes)
		notes_init(notes);
	if (read_whole(c, path, &len, why, whylen))
		return -1;
	return image_prepare_buffer(c, c->file.p, len, path, o, out, notes, why, whylen);
}

int image_prepare_pixels(ImageCodec *c, const Image *src, const PrepOptions *o, Image *out, PrepNotes *notes,
			 char *why, size_t whylen)
{
	PrepNotes local;
	PrepNotes *n = notes ? notes : &local;
	notes_init(n);
	n->format = "pixels";
	n->src_width = src->width;
	n->src_height = src->height;
	n->src_channels = src->channels;
	out->pixels = NULL;
	if ((uint64_t)src->width * (uint64_t)src->height > o->max_pixels)
		return image_fail(why, whylen, "image too large: %dx%d pixels (limit %llu; see --max-pixels)", src->width,
			    src->height, (unsigned long long)o->max_pixels);
	return finish(c, src, o, out, n, why, whylen);
}
