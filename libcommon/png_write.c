/* png_write.c: 8-bit PNG files through libpng, written atomically (see png_write.h). */
#include "libcommon/png_write.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "libcommon/util.h"

typedef struct {
	const char *path;
	char why[200];
} PngSink;

static void on_error(png_structp png, png_const_charp msg)
{
	PngSink *s = png_get_error_ptr(png);
	snprintf(s->why, sizeof s->why, "%s", msg);
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	PngSink *s = png_get_error_ptr(png);
	warn_msg("%s: PNG: warning: %s", s->path, msg);
}

static int color_type(int channels)
{
	switch (channels) {
	case 1: return PNG_COLOR_TYPE_GRAY;
	case 3: return PNG_COLOR_TYPE_RGB;
	case 4: return PNG_COLOR_TYPE_RGB_ALPHA;
	default: return -1;
	}
}

/* The libpng part, apart so that nothing of the caller's lives across the longjmp. */
static int encode(FILE *f, PngSink *sink, const uint8_t *pixels, int width, int height, int type, size_t stride)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, on_error, on_warning);
	if (!png) {
		snprintf(sink->why, sizeof sink->why, "out of memory");
		return -1;
	}
	png_infop info = png_create_info_struct(png);
	if (!info || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, info ? &info : NULL);
		if (!sink->why[0])
			snprintf(sink->why, sizeof sink->why, "out of memory");
		return -1;
	}
	png_init_io(png, f);
	/* pictures of filters and photos: the default filters and a moderate level keep files
	 * small without making a big contact sheet slow */
	png_set_compression_level(png, 6);
	png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, type, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < height; y++)
		png_write_row(png, pixels + (size_t)y * stride);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int png_write_file(const char *path, const uint8_t *pixels, int width, int height, int channels, size_t stride)
{
	int type = color_type(channels);
	if (type < 0 || width < 1 || height < 1 || stride < (size_t)width * (size_t)channels) {
		warn_msg("%s: PNG: cannot write %dx%d pixels of %d channels", path, width, height, channels);
		return -1;
	}
	AtomicFile af;
	if (atomic_open(&af, path) != 0)
		return -1;
	PngSink sink = { .path = path };
	if (encode(af.f, &sink, pixels, width, height, type, stride) != 0) {
		warn_msg("%s: PNG: %s", path, sink.why);
		atomic_abort(&af);
		return -1;
	}
	return atomic_commit(&af);
}
