/* image.h: decoding, resizing and encoding images, shared by imgprep, anet-eval, pcacolor and anet-train.
 *
 * imgprep's preparation (the paper's §2) lives here, so that anet-eval prepares an image
 * exactly as imgprep did: decode by content (JPEG through TurboJPEG, PNG through libpng, PNM),
 * scale the shorter side to SIZE with an antialiased filter, cut the centre SIZE x SIZE, and
 * convert to the requested channel count. Pixels are HWC uint8, 1 or 3 channels.
 *
 * Speed comes from three places: JPEG decoding reduces large photos in the DCT domain first
 * (see DctScaling); the resampler computes only the rows and columns that survive the crop,
 * in SIMD; and every buffer and weight table is kept in the ImageCodec and reused. An
 * ImageCodec belongs to one thread.
 *
 * Errors: the functions return 0, or -1 with a short reason in why ("truncated JPEG (premature
 * end of file)"); the caller prefixes the file name. Nothing here prints or exits, except the
 * x-allocators on memory exhaustion; libjpeg's and libpng's error handlers return here.
 */
#ifndef ANET_IMAGE_H
#define ANET_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "libcommon/record.h"

/* Per-thread state: TurboJPEG handles, scratch buffers, cached resampling weights. */
typedef struct ImageCodec ImageCodec;

ImageCodec *codec_new(void);
void codec_free(ImageCodec *c);

/* HWC uint8 pixels, channels 1 or 3; pixels from xmalloc, released by image_free. */
typedef struct {
	int width, height, channels;
	uint8_t *pixels;
} Image;

void image_free(Image *im);

/* The antialiased resampling filters (each as in Pillow: the support widens with the
 * reduction factor, so a reduction averages over every source pixel it covers). */
typedef enum { FILTER_TRIANGLE, FILTER_CUBIC, FILTER_LANCZOS3 } ResizeFilter;

/* How a JPEG decode may reduce in the DCT domain (libjpeg-turbo's scaled IDCT) before the
 * resampler: AUTO by 1/2, 3/8, 1/4 or 1/8 (faster than a full decode; the 3/4 and 7/8
 * paths are slower), as far as keeps the shorter side >= 2 * size, so that the antialiased
 * filter still does a reduction of at least 2; MAX by any factor of tjGetScalingFactors, as
 * far as keeps the shorter side >= size (fastest on large photos, least accurate); OFF not
 * at all. */
typedef enum { DCT_SCALE_AUTO, DCT_SCALE_MAX, DCT_SCALE_OFF } DctScaling;

typedef struct {
	int size;            /* shorter side and crop side; 0 keeps the source size (no resample, no crop) */
	int channels;        /* 1 or 3 */
	int strict;          /* a libjpeg warning (corrupt data) fails the image */
	uint64_t max_pixels; /* sources with more pixels are refused from their header */
	ResizeFilter filter;
	DctScaling dct;
	/* turn images upright by their EXIF orientation tag (imgprep --orientation exif); by
	 * default pixels are used as stored, as the ILSVRC preprocessing of cuda-convnet and Caffe
	 * did */
	int exif_orientation;
} PrepOptions;

#define PREP_DEFAULT_SIZE 256
#define PREP_DEFAULT_MAX_PIXELS 178956970ull /* Pillow's decompression-bomb error limit */
#define PREP_MAX_FILE_BYTES (1u << 30)       /* larger files are refused before reading */

/* size 256, 3 channels, not strict, the default pixel limit, Lanczos-3, DCT_SCALE_AUTO, EXIF
 * orientation ignored. */
void prep_options_init(PrepOptions *o);

/* What was found and converted on the way (for imgprep's log and summary). */
typedef struct {
	const char *format;       /* "JPEG", "PNG", "PNM", "pixels" */
	int src_width, src_height, src_channels;
	int dct_num, dct_den;     /* the DCT-domain scaling used (1/1: none) */
	int cmyk;                 /* a CMYK or YCCK JPEG, converted to RGB */
	int ycck;                 /* ... of which YCCK */
	int adobe_inverted;       /* ... with Adobe's inverted CMYK (an APP14 Adobe marker) */
	int png_disguised_as_jpeg;/* PNG content under a .jpg/.jpeg name */
	int orientation;          /* the EXIF orientation tag (a JPEG's APP1, a PNG's eXIf), 1..8 (0: none) */
	int turned;               /* ... other than 1 and applied (PrepOptions.exif_orientation) */
	int gray_to_rgb;          /* a grayscale source replicated to 3 channels */
	int color_to_gray;        /* a colour source reduced to luma (ITU-R 601) */
	int warnings;             /* libjpeg reported corrupt data and decoded anyway */
	char warning[128];        /* the first such message */
} PrepNotes;

/* Decodes (by content, not by name), resizes, crops and converts one image. name (may be
 * NULL) is used only to notice PNG data under a JPEG name. *out receives a fresh image. */
int image_prepare_file(ImageCodec *c, const char *path, const PrepOptions *o, Image *out, PrepNotes *notes,
		       char *why, size_t whylen);
int image_prepare_buffer(ImageCodec *c, const uint8_t *buf, size_t len, const char *name, const PrepOptions *o,
			 Image *out, PrepNotes *notes, char *why, size_t whylen);
/* The same preparation for pixels already in memory (IDX images). */
int image_prepare_pixels(ImageCodec *c, const Image *src, const PrepOptions *o, Image *out, PrepNotes *notes,
			 char *why, size_t whylen);

/* The preparation's geometry: a w x h source whose shorter side becomes size is resized to
 * *rw x *rh (the longer side rounded to nearest), of which the centre size x size window
 * starts at (*x0, *y0) (the odd pixel, if any, falls on the right or bottom). */
void image_crop_geometry(int w, int h, int size, int *rw, int *rh, int *x0, int *y0);

/* Resamples src to a full size of rw x rh with filter and writes only the window of
 * ow x oh starting at (x0, y0), which must lie inside rw x rh, into dst (ow * oh *
 * src->channels bytes). The arithmetic is
 * Pillow's (weights in 22-bit fixed point, a horizontal pass rounded to uint8, then a
 * vertical pass), so the result equals Pillow's resize(...).crop(...) on the same pixels. */
void image_resample(ImageCodec *c, const Image *src, int rw, int rh, int x0, int y0, int ow, int oh,
		    ResizeFilter filter, uint8_t *dst);

/* Encodes im as a baseline JPEG (4:2:0 for colour, grayscale for 1 channel) at quality
 * 1..100; *out is from xmalloc (free it), *len its length. */
int image_encode_jpeg(ImageCodec *c, const Image *im, int quality, uint8_t **out, size_t *len, char *why,
		      size_t whylen);

/* The HWC uint8 pixels of a record (height * width * channels bytes into dst): a copy for a
 * raw payload, a TurboJPEG decode for a JPEG one, which must have exactly the header's size
 * and channel count and decode without warnings. Thread-safe with one codec per thread. */
int record_pixels(ImageCodec *c, const RecordView *r, uint8_t *dst, char *why, size_t whylen);

/* Luma of n RGB pixels (ITU-R 601 weights in libjpeg's 16-bit fixed point); y may equal rgb. */
void rgb_to_luma(const uint8_t *rgb, uint8_t *y, size_t n);

/* Parsers for option values: 0 on success, -1 for an unknown name. */
int resize_filter_parse(const char *s, ResizeFilter *f);
const char *resize_filter_name(ResizeFilter f);
int dct_scaling_parse(const char *s, DctScaling *d);
const char *dct_scaling_name(DctScaling d);
/* "ignore" (0) or "exif" (1), for PrepOptions.exif_orientation. */
int orientation_parse(const char *s, int *exif);

#endif
