/* fuzz_image.c: feeds bytes to image_prepare_buffer/_file (JPEG, PNG, PNM by content) and pixels of odd sizes to image_prepare_pixels and the resampler; 4 option bytes first. */
#include <stdlib.h>
#include <string.h>

#include "libcommon/image.h"
#include "libcommon/util.h"
#include "tests/fuzz/fuzzlib.h"

static ImageCodec *codec;

/*  byte 0: the crop side, 0..64 (0: the source size)
 *  byte 1: bit 0 three channels (else one), bits 1-2 filter, bits 3-4 DCT scaling, bit 5
 *          strict, bit 6 a ".jpg" name (else ".png"), bit 7 through a file
 *  byte 2: the pixel limit, 2^(10 + b % 13): 1 Ki to 4 Mi pixels (a small limit keeps runs
 *          fast; the code that applies it is the same for any limit)
 *  byte 3: bit 0 pixels mode: the rest is u16 width, u16 height (each 1..4096) and the pixels
 *          (repeated to fill); bit 1 three source channels; bit 2 EXIF orientation applied */
static void options(FuzzInput *in, PrepOptions *o, uint8_t *flags, uint8_t *mode)
{
	prep_options_init(o);
	o->size = fuzz_byte(in) % 65;
	*flags = fuzz_byte(in);
	o->channels = *flags & 1 ? 3 : 1;
	o->filter = (ResizeFilter)((*flags >> 1 & 3) % 3);
	o->dct = (DctScaling)((*flags >> 3 & 3) % 3);
	o->strict = *flags >> 5 & 1;
	o->max_pixels = 1ull << (10 + fuzz_byte(in) % 13);
	*mode = fuzz_byte(in);
	o->exif_orientation = *mode >> 2 & 1;
}

static void check_output(const PrepOptions *o, const Image *out, int src_w, int src_h)
{
	int w = o->size ? o->size : src_w, h = o->size ? o->size : src_h;
	if (out->width != w || out->height != h || out->channels != o->channels || !out->pixels)
		fuzz_bug("prepared %dx%dx%d, expected %dx%dx%d", out->width, out->height, out->channels, w, h, o->channels);
	/* every byte is written: ASan/MSan would not see a read of stale scratch, so sum them */
	volatile unsigned sum = 0;
	for (size_t i = 0; i < (size_t)w * h * o->channels; i++)
		sum += out->pixels[i];
}

static void pixels_mode(FuzzInput *in, const PrepOptions *o, uint8_t mode)
{
	Image src = { 0 };
	src.width = 1 + (int)((fuzz_byte(in) | fuzz_byte(in) << 8) % 4096);
	src.height = 1 + (int)((fuzz_byte(in) | fuzz_byte(in) << 8) % 4096);
	src.channels = mode & 2 ? 3 : 1;
	size_t n = (size_t)src.width * src.height * src.channels;
	if (n > (1u << 20))
		return;
	src.pixels = malloc(n);
	for (size_t i = 0; i < n; i++)
		src.pixels[i] = in->len ? in->p[i % in->len] : (uint8_t)i;
	Image out;
	char why[256] = "";
	int rc = image_prepare_pixels(codec, &src, o, &out, NULL, why, sizeof why);
	fuzz_check_why(rc, why, "image_prepare_pixels");
	if (rc == 0) {
		check_output(o, &out, src.width, src.height);
		image_free(&out);
	}
	free(src.pixels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!codec)
		codec = codec_new();
	FuzzInput in = { data, size };
	PrepOptions o;
	uint8_t flags, mode;
	options(&in, &o, &flags, &mode);
	if (mode & 1) {
		pixels_mode(&in, &o, mode);
		return 0;
	}
	Image out;
	PrepNotes notes;
	char why[256] = "";
	int rc;
	if (flags & 0x80) {
		const char *path = fuzz_path(flags & 0x40 ? "image.jpg" : "image.png");
		fuzz_write(path, in.p, in.len);
		rc = image_prepare_file(codec, path, &o, &out, &notes, why, sizeof why);
	} else {
		rc = image_prepare_buffer(codec, in.p, in.len, flags & 0x40 ? "image.jpg" : "image.png", &o, &out, &notes,
					  why, sizeof why);
	}
	fuzz_check_why(rc, why, "image_prepare");
	if (rc != 0)
		return 0;
	if ((uint64_t)notes.src_width * notes.src_height > o.max_pixels)
		fuzz_bug("a %dx%d source passed the limit of %llu pixels", notes.src_width, notes.src_height,
			 (unsigned long long)o.max_pixels);
	int sw = notes.src_width * notes.dct_num / notes.dct_den, sh = notes.src_height * notes.dct_num / notes.dct_den;
	int ow = out.width, oh = out.height;
	if (notes.turned != (o.exif_orientation && notes.orientation > 1))
		fuzz_bug("orientation %d turned %d with the option %s", notes.orientation, notes.turned,
			 o.exif_orientation ? "on" : "off");
	if (notes.turned && notes.orientation >= 5) { /* a quarter turn: compare the stored shape */
		ow = out.height;
		oh = out.width;
	}
	if (o.size)
		check_output(&o, &out, 0, 0);
	else if (ow > notes.src_width || oh > notes.src_height || ow < sw || oh < sh)
		fuzz_bug("kept the source size %dx%d, got %dx%d", notes.src_width, notes.src_height, out.width, out.height);
	/* what imgprep does next: encode the crop as JPEG, which must decode to the same shape */
	if (out.width <= 64 && out.height <= 64) {
		uint8_t *jpg;
		size_t len;
		if (image_encode_jpeg(codec, &out, 75, &jpg, &len, why, sizeof why) != 0)
			fuzz_bug("cannot encode the %dx%d result: %s", out.width, out.height, why);
		RecordView r = { .label = -1, .height = (uint32_t)out.height, .width = (uint32_t)out.width,
				 .channels = (uint32_t)out.channels, .encoding = ENC_JPEG, .payload_len = (uint32_t)len,
				 .payload = jpg };
		uint8_t *back = malloc((size_t)out.width * out.height * out.channels);
		if (record_pixels(codec, &r, back, why, sizeof why) != 0)
			fuzz_bug("the encoded %dx%d result does not decode: %s", out.width, out.height, why);
		free(back);
		free(jpg);
	}
	image_free(&out);
	return 0;
}
