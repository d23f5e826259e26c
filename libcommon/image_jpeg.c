/* image_jpeg.c: JPEG decoding and encoding through the TurboJPEG API (libjpeg-turbo 2.1).
 *
 * TurboJPEG installs its own setjmp error manager around every libjpeg call, so libjpeg's
 * default error_exit (which ends the process) never runs; nothing in anet calls libjpeg
 * directly. Warnings (corrupt entropy data and the like) make tjDecompress2 return -1 with
 * tjGetErrorCode() == TJERR_WARNING after decoding the whole image anyway; they are kept in
 * PrepNotes, or fail the image under PrepOptions.strict. One warning is always an error: a
 * file that ends before its image does ("Premature end of JPEG file"), which libjpeg would
 * otherwise pad with grey.
 *
 * CMYK and YCCK files (about 22 in ILSVRC-2012 train, written by Adobe software) decode to
 * TJPF_CMYK and are converted here. Adobe stores CMYK inverted (255 = no ink), and marks
 * such files with an APP14 "Adobe" segment; with it, R = C * K / 255 (and likewise G from M,
 * B from Y), without it R = (255 - C) * (255 - K) / 255.
 *
 * A handle that failed is replaced (reset_decoder). TurboJPEG 2.1's tjDecompressHeader3
 * returns from a libjpeg error without aborting the decompressor, which is left inside the
 * bad file's markers: every later JPEG on that handle then fails too ("Bogus DQT index 15"
 * for good files after one with a bad quantisation table index), so one corrupt file would
 * have cost imgprep every image its thread decoded afterwards.
 */
#include <string.h>
#include <turbojpeg.h>

#include "libcommon/image_impl.h"
#include "libcommon/util.h"

void jpeg_codec_init(ImageCodec *c)
{
	c->dec = tjInitDecompress();
	c->enc = tjInitCompress();
	if (!c->dec || !c->enc)
		die("TurboJPEG: cannot create a handle: %s", tjGetErrorStr2(NULL));
	c->scaling = tjGetScalingFactors(&c->nscaling);
	if (!c->scaling)
		c->nscaling = 0;
}

/* A fresh decompressor in place of one that failed (its message already read). */
static void reset_decoder(ImageCodec *c)
{
	tjDestroy(c->dec);
	c->dec = tjInitDecompress();
	if (!c->dec)
		die("TurboJPEG: cannot create a handle: %s", tjGetErrorStr2(NULL));
}

void jpeg_codec_free(ImageCodec *c)
{
	if (c->dec)
		tjDestroy(c->dec);
	if (c->enc)
		tjDestroy(c->enc);
	c->dec = c->enc = NULL;
}

const uint8_t *jpeg_segment(const uint8_t *b, size_t len, uint8_t marker, const char *tag, size_t taglen, size_t *n)
{
	size_t i = 2;
	while (i + 4 <= len) {
		if (b[i] != 0xFF)
			return NULL;
		uint8_t m = b[i + 1];
		if (m == 0xFF) { /* fill byte */
			i++;
			continue;
		}
		if (m == 0xDA || m == 0xD9) /* start of scan, end of image */
			return NULL;
		if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* no length field */
			i += 2;
			continue;
		}
		size_t seg = (size_t)b[i + 2] << 8 | b[i + 3];
		if (seg < 2)
			return NULL;
		size_t have = len - (i + 4) < seg - 2 ? len - (i + 4) : seg - 2;
		if (m == marker && have >= taglen && memcmp(b + i + 4, tag, taglen) == 0) {
			*n = have;
			return b + i + 4;
		}
		i += 2 + seg;
	}
	return NULL;
}

/* The orientation in the last XMP packet (APP1 "http://ns.adobe.com/xap/1.0/"), the one PIL
 * keeps of several. */
static int xmp_segment_orientation(const uint8_t *b, size_t len)
{
	static const char tag[] = "http://ns.adobe.com/xap/1.0/"; /* and its NUL */
	const uint8_t *last = NULL, *x;
	size_t last_n = 0, n;
	/* jpeg_segment reads from b + 2 (after SOI): the next search starts where this segment
	 * ends, so its base is 2 bytes before that */
	for (const uint8_t *base = b; (x = jpeg_segment(base, len - (size_t)(base - b), 0xE1, tag, sizeof tag, &n));
	     base = x + n - 2) {
		last = x;
		last_n = n;
	}
	return last ? xmp_orientation(last + sizeof tag, last_n - sizeof tag) : 0;
}

static int has_adobe_marker(const uint8_t *b, size_t len)
{
	size_t n;
	return jpeg_segment(b, len, 0xEE, "Adobe", 5, &n) != NULL;
}

/* The largest allowed DCT-domain reduction (see DctScaling in image.h). libjpeg's reduced
 * IDCT keeps the lowest frequencies of each block: cheap, but it rings and aliases, so by
 * default it stops while the shorter side is still >= 2 * size and the antialiased filter
 * does the last reduction of at least 2 (which removes what the IDCT added). Measured on
 * the mate-backgrounds photos against Pillow's Lanczos on the full decode: mean absolute
 * difference 0.0 to 0.8 grey levels this way, 0.3 to 5.1 when the IDCT goes down to size. */
static void choose_scale(const ImageCodec *c, int w, int h, const PrepOptions *o, int *num, int *den)
{
	*num = *den = 1;
	if (o->size <= 0 || o->dct == DCT_SCALE_OFF)
		return;
	int floor = o->dct == DCT_SCALE_AUTO ? 2 * o->size : o->size;
	const tjscalingfactor *sf = c->scaling;
	double best = 1.0;
	for (int i = 0; i < c->nscaling; i++) {
		double f = (double)sf[i].num / sf[i].denom;
		if (f >= best)
			continue;
		if (o->dct == DCT_SCALE_AUTO && 2 * sf[i].num > sf[i].denom)
			continue; /* 3/4, 7/8 ...: slower than the full decode they replace */
		if (TJSCALED(w, sf[i]) < floor || TJSCALED(h, sf[i]) < floor)
			continue;
		best = f;
		*num = sf[i].num;
		*den = sf[i].denom;
	}
}

static void cmyk_to_rgb(uint8_t *p, size_t n, int inverted)
{
	/* in place: pixel i's 3 outputs never overtake pixel i's 4 inputs */
	for (size_t i = 0; i < n; i++) {
		unsigned cy = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
		if (!inverted) {
			cy = 255 - cy;
			m = 255 - m;
			y = 255 - y;
			k = 255 - k;
		}
		p[3 * i] = (uint8_t)((cy * k + 127) / 255);
		p[3 * i + 1] = (uint8_t)((m * k + 127) / 255);
		p[3 * i + 2] = (uint8_t)((y * k + 127) / 255);
	}
}

/* Returns 0 if a failed TurboJPEG call is only a tolerable warning (noted), else -1. */
static int judge_warning(ImageCodec *c, const PrepOptions *o, PrepNotes *n, char *why, size_t whylen)
{
	const char *msg = tjGetErrorStr2(c->dec);
	if (tjGetErrorCode(c->dec) != TJERR_WARNING)
		return image_fail(why, whylen, "corrupt JPEG: %s", msg);
	if (strncmp(msg, "Premature end of JPEG file", 26) == 0)
		return image_fail(why, whylen, "truncated JPEG (premature end of file)");
	if (o->strict)
		return image_fail(why, whylen, "libjpeg warning (refused under --strict): %s", msg);
	if (!n->warnings++)
		snprintf(n->warning, sizeof n->warning, "%s", msg);
	return 0;
}

int jpeg_decode(ImageCodec *c, const uint8_t *buf, size_t len, const PrepOptions *o, Image *img, PrepNotes *n,
		char *why, size_t whylen)
{
	int w = 0, h = 0, subsamp = 0, cs = 0;
	if (len > 0xFFFFFFFFul)
		return image_fail(why, whylen, "JPEG file too large");
	if (tjDecompressHeader3(c->dec, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
		int rc = w <= 0 || h <= 0 || tjGetErrorCode(c->dec) != TJERR_WARNING
				 ? image_fail(why, whylen, "not a readable JPEG: %s", tjGetErrorStr2(c->dec))
				 : judge_warning(c, o, n, why, whylen);
		reset_decoder(c);
		if (rc)
			return -1;
	}
	n->format = "JPEG";
	n->src_width = w;
	n->src_height = h;
	size_t exif_len;
	const uint8_t *exif = jpeg_segment(buf, len, 0xE1, "Exif\0\0", 6, &exif_len);
	int orientation = exif ? exif_orientation(exif + 6, exif_len - 6) : 0;
	if (!orientation)
		orientation = xmp_segment_orientation(buf, len);
	n->orientation = orientation > 0 ? orientation : 0;
	n->src_channels = cs == TJCS_GRAY ? 1 : cs == TJCS_CMYK || cs == TJCS_YCCK ? 4 : 3;
	if ((uint64_t)w * (uint64_t)h > o->max_pixels)
		return image_fail(why, whylen, "image too large: %dx%d pixels (limit %llu; see --max-pixels)", w, h,
			    (unsigned long long)o->max_pixels);

	int num, den;
	choose_scale(c, w, h, o, &num, &den);
	tjscalingfactor f = { num, den };
	int sw = TJSCALED(w, f), sh = TJSCALED(h, f);
	n->dct_num = num;
	n->dct_den = den;

	int pf, ch;
	if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
		pf = TJPF_CMYK;
		ch = 4;
		n->cmyk = 1;
		n->ycck = cs == TJCS_YCCK;
		n->adobe_inverted = has_adobe_marker(buf, len);
	} else if (cs == TJCS_GRAY || o->channels == 1) {
		pf = TJPF_GRAY; /* libjpeg gives the Y plane: ITU-R 601 luma */
		ch = 1;
		n->color_to_gray = cs != TJCS_GRAY;
	} else {
		pf = TJPF_RGB;
		ch = 3;
	}
	uint8_t *dst = scratch_get(&c->pix, (size_t)sw * sh * ch);
	/* each scan of a progressive file is a pass over every block: a few kilobytes of repeated
	 * scans would hold a decode thread for minutes; real files have about ten */
	int flags = TJFLAG_LIMITSCANS | (o->strict ? TJFLAG_STOPONWARNING : 0);
	if (tjDecompress2(c->dec, buf, (unsigned long)len, dst, sw, 0, sh, pf, flags) != 0) {
		int rc = judge_warning(c, o, n, why, whylen);
		reset_decoder(c);
		if (rc)
			return -1;
	}
	if (ch == 4) {
		cmyk_to_rgb(dst, (size_t)sw * sh, n->adobe_inverted);
		ch = 3;
		if (o->channels == 1) {
			rgb_to_luma(dst, dst, (size_t)sw * sh);
			ch = 1;
			n->color_to_gray = 1;
		}
	}
	img->width = sw;
	img->height = sh;
	img->channels = ch;
	img->pixels = dst;
	return 0;
}

int image_encode_jpeg(ImageCodec *c, const Image *im, int quality, uint8_t **out, size_t *len, char *why,
		      size_t whylen)
{
	if (im->channels != 1 && im->channels != 3)
		return image_fail(why, whylen, "cannot encode %d channels as JPEG", im->channels);
	if (quality < 1 || quality > 100)
		return image_fail(why, whylen, "JPEG quality %d is not in 1..100", quality);
	int samp = im->channels == 1 ? TJSAMP_GRAY : TJSAMP_420;
	unsigned long cap = tjBufSize(im->width, im->height, samp);
	if (cap == (unsigned long)-1)
		return image_fail(why, whylen, "cannot encode a %dx%d JPEG", im->width, im->height);
	unsigned char *dst = scratch_get(&c->jpg, cap);
	unsigned long n = cap;
	if (tjCompress2(c->enc, im->pixels, im->width, 0, im->height, im->channels == 1 ? TJPF_GRAY : TJPF_RGB, &dst,
			&n, samp, quality, TJFLAG_NOREALLOC) != 0)
		return image_fail(why, whylen, "JPEG encoding failed: %s", tjGetErrorStr2(c->enc));
	*out = memcpy(xmalloc(n), dst, n);
	*len = n;
	return 0;
}

int record_pixels(ImageCodec *c, const RecordView *r, uint8_t *dst, char *why, size_t whylen)
{
	size_t bytes = (size_t)r->height * r->width * r->channels;
	if (r->channels != 1 && r->channels != 3)
		return image_fail(why, whylen, "record has %u channels", r->channels);
	if (r->encoding == ENC_RAW) {
		if (r->payload_len != bytes)
			return image_fail(why, whylen, "raw payload holds %u bytes, header says %zu", r->payload_len, bytes);
		memcpy(dst, r->payload, bytes);
		return 0;
	}
	if (r->encoding != ENC_JPEG)
		return image_fail(why, whylen, "unknown payload encoding %u", r->encoding);
	int w, h, subsamp, cs;
	if (tjDecompressHeader3(c->dec, r->payload, r->payload_len, &w, &h, &subsamp, &cs) != 0) {
		image_fail(why, whylen, "corrupt JPEG payload: %s", tjGetErrorStr2(c->dec));
		reset_decoder(c);
		return -1;
	}
	int ch = cs == TJCS_GRAY ? 1 : cs == TJCS_CMYK || cs == TJCS_YCCK ? 4 : 3;
	if ((uint32_t)w != r->width || (uint32_t)h != r->height || (uint32_t)ch != r->channels)
		return image_fail(why, whylen, "JPEG payload is %dx%d with %d channels, header says %ux%u with %u", w, h, ch,
			    r->width, r->height, r->channels);
	if (tjDecompress2(c->dec, r->payload, r->payload_len, dst, w, 0, h, ch == 1 ? TJPF_GRAY : TJPF_RGB,
			  TJFLAG_STOPONWARNING) != 0) {
		image_fail(why, whylen, "corrupt JPEG payload: %s", tjGetErrorStr2(c->dec));
		reset_decoder(c);
		return -1;
	}
	return 0;
}
