/* image_impl.h: what image.c, image_jpeg.c, image_png.c, image_pnm.c and image_resize.c share (not for tools). */
#ifndef ANET_IMAGE_IMPL_H
#define ANET_IMAGE_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "libcommon/image.h"

/* One axis of a resampling: for each of count outputs (from first, of a full target of
 * out_full), the first source index and the taps' weights in Pillow's fixed point. */
typedef struct {
	int in, out_full, first, count, filter; /* the key this table was computed for */
	int kmax;                               /* the most taps of any output */
	int kmax2;                              /* kmax rounded up to a multiple of 2 */
	int ksize;                              /* kmax rounded up to a multiple of 4 */
	int *start, *taps;
	float *w;                               /* ksize weights an output (Pillow's, exactly) */
	float *w4;                              /* kmax2 weights an output, each repeated 4 times */
	unsigned long used;                     /* for replacing the least recently used */
} Axis;

#define CODEC_AXES 6

/* Growable scratch buffer. */
typedef struct {
	uint8_t *p;
	size_t cap;
} Scratch;

struct ImageCodec {
	void *dec, *enc;            /* tjhandle */
	void *scaling;              /* tjscalingfactor array */
	int nscaling;
	Scratch file;               /* the bytes of the file being decoded */
	Scratch pix;                /* decoded source pixels */
	Scratch conv;               /* channel conversions */
	Scratch tmp;                /* the resampler's horizontal pass (floats) */
	Scratch conv_f;             /* one source row as floats */
	Scratch jpg;                /* encoder output */
	Scratch orient;             /* pixels turned upright by their EXIF orientation */
	Axis axes[CODEC_AXES];
	unsigned long clock;
	int avx2;                   /* the resampler's AVX2 loops (else SSE2 or plain C) */
};

/* Whether this CPU runs the resampler's AVX2 loops; codec_new sets codec->avx2 from it (the
 * tests clear it to check the other loops too). */
int resample_avx2_available(void);

uint8_t *scratch_get(Scratch *s, size_t n);

/* The first JPEG segment with this marker whose payload starts with tag, among those before
 * the first scan: its payload (after the length field) and in *n its length, cut at the end
 * of the buffer; NULL if none. */
const uint8_t *jpeg_segment(const uint8_t *b, size_t len, uint8_t marker, const char *tag, size_t taglen, size_t *n);

/* The orientation tag (274) of an EXIF block's first IFD (tiff: the TIFF header on, n bytes,
 * after one more "Exif\0\0" if there is one), read as PIL's getexif reads it: 1..8, the first
 * value of any numeric type; -1 when the tag is there but holds no orientation (bytes, text,
 * 9), which leaves the image as stored without a look at XMP, as PIL does; 0 when absent (or
 * of no type PIL reads, or empty) or the block is malformed. */
int exif_orientation(const uint8_t *tiff, size_t n);

/* The same from an XMP packet (x, n bytes): tiff:Orientation="6" or <tiff:Orientation>6<, 1..8;
 * -1 for the digit 0 or 9; 0 when absent. Read only where EXIF has no tag. */
int xmp_orientation(const uint8_t *x, size_t n);

/* The same from the EXIF block that ImageMagick keeps in a PNG text chunk "Raw profile type
 * exif" (text, len bytes: three header lines, then hex), read where the PNG has no other EXIF
 * block (an eXIf chunk, or a tEXt chunk "exif" holding the block itself). */
int raw_profile_orientation(const uint8_t *text, size_t len);

/* Turns im upright by EXIF orientation 2..8 (mirrors and quarter turns); the pixels move to
 * the codec's orient scratch. */
void image_orient(ImageCodec *c, Image *im, int orientation);

/* why/whylen formatting; always returns -1. */
int image_fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Decoders: fill *img (pixels in c->pix or c->conv, owned by the codec) with the source at
 * its natural channel count (1 or 3, or 1 when want_channels is 1 and the decoder can give
 * luma directly), refusing more than o->max_pixels before allocating. */
int jpeg_decode(ImageCodec *c, const uint8_t *buf, size_t len, const PrepOptions *o, Image *img, PrepNotes *n,
		char *why, size_t whylen);
int png_decode(ImageCodec *c, const uint8_t *buf, size_t len, const PrepOptions *o, Image *img, PrepNotes *n,
	       char *why, size_t whylen);
int pnm_decode(ImageCodec *c, const uint8_t *buf, size_t len, const PrepOptions *o, Image *img, PrepNotes *n,
	       char *why, size_t whylen);

void jpeg_codec_init(ImageCodec *c);
void jpeg_codec_free(ImageCodec *c);
void axes_free(ImageCodec *c);

#endif
