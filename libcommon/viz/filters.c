/* filters.c: the first learned layer's kernels as a picture, the paper's Figure 3 (§6.1).
 *
 * The weights are read straight from the model or checkpoint file (no device, no network):
 * the stored spec says which layer learns first and how the next one groups its inputs.
 * For the paper's net conv2 has groups=2, so conv1's 96 maps fall in two halves of 48 (the
 * two GPUs of §3.2); each half is drawn as its own block, the blocks a clear gap apart, as
 * the paper's top and bottom rows. A kernel of 3 input channels is drawn in colour, one of 1
 * in grey, any other count as that many grey tiles side by side; a first fc layer's rows are
 * drawn as pictures of its input.
 *
 * Each kernel is stretched to 0..255 from its own minimum and maximum (all channels together,
 * so its colour balance stays), or from the whole bank's with NORM_GLOBAL (which shows which
 * kernels are strong), then enlarged by nearest neighbour so that each weight is a square.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/net.h"
#include "libcommon/spec.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

/* The learned layer after layer i, or -1. */
static int next_learned(const Spec *s, int i)
{
	for (int j = i + 1; j < s->nlayers; j++)
		if (s->layers[j].param >= 0)
			return j;
	return -1;
}

static int first_learned(const Spec *s)
{
	return next_learned(s, -1);
}

int filter_bank_load(const char *path, FilterBank *fb)
{
	memset(fb, 0, sizeof *fb);
	TensorFile tf;
	if (tensorfile_open(&tf, path, 0) != 0)
		return -1;
	int rc = -1;
	Spec *spec = NULL;
	if (tf.kind != TF_MODEL && tf.kind != TF_CHECKPOINT) {
		warn_msg("%s: is a %s file, expected a model or a checkpoint", path, tensorfile_kind_name(tf.kind));
		goto out;
	}
	if (!(spec = net_read_spec(&tf)))
		goto out;
	int li = first_learned(spec);
	if (li < 0) {
		warn_msg("%s: the network has no learned layer", path);
		goto out;
	}
	const SpecLayer *l = &spec->layers[li];
	const SpecParam *p = &spec->params[l->param];
	snprintf(fb->layer, sizeof fb->layer, "%s", l->name);
	fb->count = l->outputs;
	if (l->type == LAYER_CONV) {
		fb->channels = (int)p->dims[1];
		fb->height = (int)p->dims[2];
		fb->width = (int)p->dims[3];
	} else { /* an fc layer: each row is a picture of the layer's input */
		fb->channels = l->in.c;
		fb->height = l->in.h;
		fb->width = l->in.w;
	}
	int nx = next_learned(spec, li);
	fb->groups = nx >= 0 && spec->layers[nx].type == LAYER_CONV ? spec->layers[nx].groups : 1;
	if (fb->groups < 1 || fb->count % fb->groups != 0)
		fb->groups = 1;
	fb->weights = xmallocarray((size_t)p->count, sizeof(float));
	if (tensorfile_read(&tf, p->name, DT_F32, (uint32_t)p->ndim, p->dims, fb->weights) != 0)
		goto out;
	for (int64_t i = 0; i < p->count; i++)
		if (!isfinite(fb->weights[i])) {
			warn_msg("%s: %s holds a value that is not finite (a diverged run?)", path, p->name);
			goto out;
		}
	rc = 0;
out:
	spec_free(spec);
	tensorfile_close(&tf);
	if (rc != 0)
		filter_bank_free(fb);
	return rc;
}

void filter_bank_free(FilterBank *fb)
{
	free(fb->weights);
	fb->weights = NULL;
}

/* Default enlargement: about 56 pixels a kernel (the paper's 11x11 kernels at 5x). */
static int auto_scale(const FilterBank *fb)
{
	int side = fb->width > fb->height ? fb->width : fb->height;
	int s = (int)lround(56.0 / side);
	return s < 1 ? 1 : s > 16 ? 16 : s;
}

int filters_layout(const FilterBank *fb, const FilterStyle *st, FilterLayout *lay)
{
	memset(lay, 0, sizeof *lay);
	int groups = st->groups ? st->groups : fb->groups;
	if (groups < 1 || fb->count % groups != 0) {
		warn_msg("%s: %d kernels cannot be split into %d groups", fb->layer, fb->count, groups);
		return -1;
	}
	lay->groups = groups;
	lay->per_group = fb->count / groups;
	lay->scale = st->scale ? st->scale : auto_scale(fb);
	/* the paper's figure: 16 kernels a row, 3 rows a half; a small bank in rows of 8 */
	int cols = lay->per_group <= 24 ? 8 : 16;
	lay->columns = st->columns ? st->columns : lay->per_group < cols ? lay->per_group : cols;
	lay->rows = (lay->per_group + lay->columns - 1) / lay->columns;
	lay->tiles = fb->channels == 3 ? 1 : fb->channels;
	lay->tile_w = fb->width * lay->scale;
	lay->tile_h = fb->height * lay->scale;
	lay->gap = lay->scale < 3 ? 2 : lay->scale;
	lay->cell_w = lay->tiles * lay->tile_w + (lay->tiles - 1) * (lay->gap / 2 + 1);
	lay->cell_h = lay->tile_h;
	lay->block_gap = lay->tile_h / 2 > 3 * lay->gap ? lay->tile_h / 2 : 3 * lay->gap;
	lay->margin = 2 * lay->gap;
	lay->block_h = lay->rows * lay->cell_h + (lay->rows - 1) * lay->gap;
	lay->width = 2 * lay->margin + lay->columns * lay->cell_w + (lay->columns - 1) * lay->gap;
	lay->caption_h = st->caption ? 22 : 0;
	lay->height = 2 * lay->margin + groups * lay->block_h + (groups - 1) * lay->block_gap + lay->caption_h;
	if (lay->width < 240 && st->caption)
		lay->width = 240; /* room for the caption; the grid stays at the left */
	return 0;
}

void filters_kernel_origin(const FilterLayout *lay, int k, int *x, int *y)
{
	int g = k / lay->per_group, j = k % lay->per_group;
	*x = lay->margin + (j % lay->columns) * (lay->cell_w + lay->gap);
	*y = lay->margin + g * (lay->block_h + lay->block_gap) + (j / lay->columns) * (lay->cell_h + lay->gap);
}

static void range_of(const float *w, size_t n, float *lo, float *hi)
{
	*lo = FLT_MAX;
	*hi = -FLT_MAX;
	for (size_t i = 0; i < n; i++) {
		if (w[i] < *lo)
			*lo = w[i];
		if (w[i] > *hi)
			*hi = w[i];
	}
}

static uint8_t to_byte(float v, float lo, float hi)
{
	if (!(hi > lo))
		return 128; /* a constant kernel: mid grey */
	double t = ((double)v - lo) / ((double)hi - lo) * 255.0;
	return (uint8_t)lrint(t < 0 ? 0 : t > 255 ? 255 : t);
}

/* Kernel k's picture: channels planes of height x width weights into HWC bytes (RGB for 3
 * channels, else one grey plane per tile, side by side in out's tiles). */
static void kernel_pixels(const FilterBank *fb, int k, float lo, float hi, uint8_t *out)
{
	size_t plane = (size_t)fb->height * fb->width;
	const float *w = fb->weights + (size_t)k * fb->channels * plane;
	if (fb->channels == 3) {
		for (size_t i = 0; i < plane; i++)
			for (int c = 0; c < 3; c++)
				out[3 * i + c] = to_byte(w[c * plane + i], lo, hi);
		return;
	}
	for (size_t i = 0; i < (size_t)fb->channels * plane; i++)
		out[i] = to_byte(w[i], lo, hi);
}

int filters_draw(const FilterBank *fb, const FilterStyle *st, const char *out)
{
	FilterLayout lay;
	if (filters_layout(fb, st, &lay) != 0)
		return -1;
	Canvas cv;
	if (canvas_init(&cv, lay.width, lay.height, rgb_hex(VIZ_BACKGROUND)) != 0)
		return -1;
	size_t ksize = (size_t)fb->channels * fb->height * fb->width;
	float glo, ghi;
	range_of(fb->weights, ksize * (size_t)fb->count, &glo, &ghi);
	uint8_t *px = xmalloc(ksize > 3 ? ksize : 3);
	int rc = 0;
	for (int k = 0; k < fb->count && rc == 0; k++) {
		float lo = glo, hi = ghi;
		if (st->norm == NORM_KERNEL)
			range_of(fb->weights + (size_t)k * ksize, ksize, &lo, &hi);
		kernel_pixels(fb, k, lo, hi, px);
		int x, y;
		filters_kernel_origin(&lay, k, &x, &y);
		if (fb->channels == 3) {
			rc = canvas_pixels(&cv, px, fb->width, fb->height, 3, x, y, lay.tile_w, lay.tile_h);
			continue;
		}
		for (int t = 0; t < lay.tiles && rc == 0; t++)
			rc = canvas_pixels(&cv, px + (size_t)t * fb->height * fb->width, fb->width, fb->height, 1,
					   x + t * (lay.tile_w + lay.gap / 2 + 1), y, lay.tile_w, lay.tile_h);
	}
	free(px);
	if (rc == 0 && lay.caption_h) {
		char cap[256], split[48] = "";
		if (lay.groups > 1)
			snprintf(split, sizeof split, " in %d groups", lay.groups);
		snprintf(cap, sizeof cap, "%s: %d kernels %dx%dx%d%s, %s normalisation", fb->layer, fb->count,
			 fb->height, fb->width, fb->channels, split, st->norm == NORM_KERNEL ? "per-kernel" : "global");
		TextStyle ts = { .size = 12, .color = rgb_hex(VIZ_INK), .max_width = lay.width - 2.0 * lay.margin };
		canvas_text(&cv, lay.margin, lay.height - lay.margin - 6, &ts, cap);
	}
	if (rc == 0)
		rc = canvas_write_png(&cv, out);
	canvas_free(&cv);
	return rc;
}
