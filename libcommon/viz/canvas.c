/* canvas.c: the drawing surface every anet-viz picture is made on: cairo for pixels, frames and
 * text, libpng (png_write.c) for the file.
 *
 * Cairo scales pictures with its own filters (nearest neighbour to enlarge, so that a
 * kernel's pixels stay squares; its "good" filter to reduce) and draws text through
 * fontconfig's sans-serif face. Its RGB24 surface stores a pixel as a native 32-bit
 * 0x00RRGGBB word; the PNG is written from those words repacked as RGB bytes.
 */
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/png_write.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

static int cairo_failed(cairo_status_t st, const char *what)
{
	if (st == CAIRO_STATUS_SUCCESS)
		return 0;
	warn_msg("%s: cairo: %s", what, cairo_status_to_string(st));
	return -1;
}

int canvas_init(Canvas *c, int width, int height, Rgb background)
{
	memset(c, 0, sizeof *c);
	if (width < 1 || height < 1 || width > VIZ_MAX_SIDE || height > VIZ_MAX_SIDE) {
		warn_msg("a %dx%d picture is too large (at most %d pixels a side): ask for fewer images or a smaller "
			 "scale",
			 width, height, VIZ_MAX_SIDE);
		return -1;
	}
	c->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
	if (cairo_failed(cairo_surface_status(c->surface), "canvas")) {
		cairo_surface_destroy(c->surface);
		c->surface = NULL;
		return -1;
	}
	c->cr = cairo_create(c->surface);
	c->width = width;
	c->height = height;
	canvas_fill(c, 0, 0, width, height, background);
	return 0;
}

void canvas_free(Canvas *c)
{
	if (c->cr)
		cairo_destroy(c->cr);
	if (c->surface)
		cairo_surface_destroy(c->surface);
	c->cr = NULL;
	c->surface = NULL;
}

void canvas_fill(Canvas *c, double x, double y, double w, double h, Rgb color)
{
	cairo_set_source_rgb(c->cr, color.r, color.g, color.b);
	cairo_rectangle(c->cr, x, y, w, h);
	cairo_fill(c->cr);
}

void canvas_frame(Canvas *c, double x, double y, double w, double h, double line, Rgb color)
{
	/* the frame lies outside the box, so that it never covers the picture in it */
	cairo_set_source_rgb(c->cr, color.r, color.g, color.b);
	cairo_set_line_width(c->cr, line);
	cairo_rectangle(c->cr, x - line / 2, y - line / 2, w + line, h + line);
	cairo_stroke(c->cr);
}

/* HWC uint8 pixels as a cairo surface of their own (RGB24 words). */
static cairo_surface_t *pixels_surface(const uint8_t *px, int pw, int ph, int channels)
{
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, pw, ph);
	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
		return s;
	cairo_surface_flush(s);
	uint8_t *data = cairo_image_surface_get_data(s);
	int stride = cairo_image_surface_get_stride(s);
	for (int y = 0; y < ph; y++) {
		uint32_t *row = (uint32_t *)(void *)(data + (size_t)y * (size_t)stride);
		const uint8_t *p = px + (size_t)y * (size_t)pw * (size_t)channels;
		for (int x = 0; x < pw; x++, p += channels) {
			uint32_t r = p[0], g = channels == 3 ? p[1] : p[0], b = channels == 3 ? p[2] : p[0];
			row[x] = r << 16 | g << 8 | b;
		}
	}
	cairo_surface_mark_dirty(s);
	return s;
}

int canvas_pixels(Canvas *c, const uint8_t *px, int pw, int ph, int channels, double x, double y, double w, double h)
{
	cairo_surface_t *s = pixels_surface(px, pw, ph, channels);
	if (cairo_failed(cairo_surface_status(s), "picture")) {
		cairo_surface_destroy(s);
		return -1;
	}
	cairo_save(c->cr);
	cairo_rectangle(c->cr, x, y, w, h);
	cairo_clip(c->cr);
	cairo_translate(c->cr, x, y);
	cairo_scale(c->cr, w / pw, h / ph);
	cairo_set_source_surface(c->cr, s, 0, 0);
	cairo_pattern_t *pat = cairo_get_source(c->cr);
	/* enlarging: every source pixel a sharp square; reducing: an averaging filter */
	cairo_pattern_set_filter(pat, w >= pw && h >= ph ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
	cairo_pattern_set_extend(pat, CAIRO_EXTEND_PAD);
	cairo_paint(c->cr);
	cairo_restore(c->cr);
	cairo_surface_destroy(s);
	return 0;
}

static void set_font(Canvas *c, double size, int bold)
{
	cairo_select_font_face(c->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
			       bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(c->cr, size);
}

double canvas_text_width(Canvas *c, double size, int bold, const char *text)
{
	cairo_text_extents_t e;
	set_font(c, size, bold);
	cairo_text_extents(c->cr, text, &e);
	return e.x_advance;
}

/* The longest prefix of text (whole UTF-8 characters) that fits max_width with "..." after it. */
static char *shorten(Canvas *c, const char *text, double max_width)
{
	size_t n = strlen(text);
	char *buf = xmalloc(n + 4);
	while (n > 0) {
		do
			n--;
		while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80);
		memcpy(buf, text, n);
		memcpy(buf + n, "...", 4);
		cairo_text_extents_t e;
		cairo_text_extents(c->cr, buf, &e);
		if (e.x_advance <= max_width)
			break;
	}
	if (n == 0)
		memcpy(buf, "...", 4);
	return buf;
}

double canvas_text(Canvas *c, double x, double y, const TextStyle *st, const char *text)
{
	set_font(c, st->size, st->bold);
	cairo_text_extents_t e;
	cairo_text_extents(c->cr, text, &e);
	char *shortened = NULL;
	if (st->max_width > 0 && e.x_advance > st->max_width) {
		shortened = shorten(c, text, st->max_width);
		text = shortened;
		cairo_text_extents(c->cr, text, &e);
	}
	double w = e.x_advance;
	if (st->align == ALIGN_CENTRE)
		x -= w / 2;
	else if (st->align == ALIGN_RIGHT)
		x -= w;
	cairo_set_source_rgb(c->cr, st->color.r, st->color.g, st->color.b);
	cairo_move_to(c->cr, x, y);
	cairo_show_text(c->cr, text);
	free(shortened);
	return w;
}

int canvas_write_png(Canvas *c, const char *path)
{
	cairo_surface_flush(c->surface);
	if (cairo_failed(cairo_status(c->cr), path))
		return -1;
	const uint8_t *data = cairo_image_surface_get_data(c->surface);
	int stride = cairo_image_surface_get_stride(c->surface);
	uint8_t *rgb = xmallocarray((size_t)c->width * 3, (size_t)c->height);
	for (int y = 0; y < c->height; y++) {
		const uint32_t *row = (const uint32_t *)(const void *)(data + (size_t)y * (size_t)stride);
		uint8_t *o = rgb + (size_t)y * (size_t)c->width * 3;
		for (int x = 0; x < c->width; x++) {
			o[3 * x] = (uint8_t)(row[x] >> 16);
			o[3 * x + 1] = (uint8_t)(row[x] >> 8);
			o[3 * x + 2] = (uint8_t)row[x];
		}
	}
	int rc = png_write_file(path, rgb, c->width, c->height, 3, (size_t)c->width * 3);
	free(rgb);
	return rc;
}

Rgb rgb_hex(uint32_t hex)
{
	Rgb c = { ((hex >> 16) & 255) / 255.0, ((hex >> 8) & 255) / 255.0, (hex & 255) / 255.0 };
	return c;
}

/* The last part of a path, for titles ("val.lmdb" of "/data/run/val.lmdb/"). */
const char *viz_base_name(const char *path, char *buf, size_t len)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	size_t b = n;
	while (b > 0 && path[b - 1] != '/')
		b--;
	snprintf(buf, len, "%.*s", (int)(n - b), path + b);
	return buf;
}

void viz_shutdown(void)
{
	/* cairo keeps its font faces, fontconfig its configuration, until the process ends; both
	 * let go of them here so that a leak checker sees only real leaks */
	cairo_debug_reset_static_data();
	FcFini();
}
