/* acts.c: the feature maps of one image, layer by layer: the "deeper activations" users of the
 * peer tools ask for beside the first layer's kernels (filters.c).
 *
 * The image goes through the network exactly as anet-eval sends it (evaluate.c, eval.h: the
 * file prepared as imgprep prepares the model's records, the centre crop, the mean image taken
 * away, eval mode); the outputs of the chosen layers are then brought back from the device.
 * net_output names a layer's buffer: a relu fused into its convolution shares it, so "conv1"
 * and "relu1" both give the rectified maps.
 *
 * Each map is a grey tile: stretched to its own minimum and maximum (ACTS_PER_MAP), or to the
 * layer's (ACTS_PER_LAYER, so strong maps stand out and weak ones fade). A flat map is black
 * with per-map stretching: there is no contrast to show, and the usual flat map is a ReLU's
 * that did not fire, all zeros, which per-layer stretching draws black too after a ReLU. A
 * value that is not finite is drawn red (a diverged model). Maps computed by the two groups of a
 * grouped convolution (the paper's two GPUs, §3.2), or fed to the two groups of the next one
 * (conv1 and conv3 in the paper's net), form two blocks a gap apart, as filters.c draws conv1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"
#include "libcommon/views.h"
#include "libcommon/viz/viz.h"

#define DEFAULT_COLUMNS 16
#define TILE_PIXELS 48.0 /* a map's default size on the picture, within the 40-60 asked for */
#define MARGIN 14
#define GAP 2            /* between tiles: the light background shows between grey maps */
#define TITLE_H 28
#define CAPTION_H 22
#define LAYER_GAP 18
#define CROP_SIDE 112    /* a small crop is enlarged by a whole factor to at least this */
#define TEXT_W 420       /* room for the lines beside the crop */

/* The layer that computes layer i's values: through relus, dropouts, lrns and pools. */
static int source_of(const Spec *s, int i)
{
	while (i > 0 && (s->layers[i].type == LAYER_RELU || s->layers[i].type == LAYER_DROPOUT ||
			 s->layers[i].type == LAYER_LRN || s->layers[i].type == LAYER_POOL))
		i--;
	return i;
}

static int has_maps(const Spec *s, int i)
{
	LayerType t = s->layers[source_of(s, i)].type;
	return s->layers[i].type != LAYER_SOFTMAX && (t == LAYER_CONV || t == LAYER_INPUT);
}

/* The blocks layer i's maps fall into: the groups of the convolution that made them, else
 * those of the next convolution they feed (through layers that keep the channels). */
static int map_groups(const Spec *s, int i)
{
	const SpecLayer *src = &s->layers[source_of(s, i)];
	int g = src->type == LAYER_CONV ? src->groups : 1;
	for (int j = i + 1; g <= 1 && j < s->nlayers; j++) {
		LayerType t = s->layers[j].type;
		if (t == LAYER_CONV)
			g = s->layers[j].groups;
		if (t != LAYER_RELU && t != LAYER_DROPOUT && t != LAYER_LRN && t != LAYER_POOL)
			break;
	}
	int maps = s->layers[i].out.c;
	return g >= 1 && maps % g == 0 ? g : 1;
}

static void describe(const Spec *s, int i, char *buf, size_t len)
{
	const SpecLayer *l = &s->layers[i];
	int relu_next = i + 1 < s->nlayers && s->layers[i + 1].type == LAYER_RELU && s->layers[i + 1].fused;
	switch (l->type) {
	case LAYER_CONV:
		snprintf(buf, len, "%dx%d/%d convolution%s", l->kernel, l->kernel, l->stride,
			 relu_next ? ", after ReLU" : "");
		break;
	case LAYER_POOL: snprintf(buf, len, "%dx%d/%d max pooling", l->size, l->size, l->stride); break;
	case LAYER_LRN: snprintf(buf, len, "response normalisation"); break;
	case LAYER_RELU: snprintf(buf, len, "after ReLU"); break;
	case LAYER_DROPOUT: snprintf(buf, len, "dropout, off when evaluating"); break;
	case LAYER_INPUT: snprintf(buf, len, "the input, mean taken away"); break;
	default: snprintf(buf, len, "%s", layer_type_name(l->type)); break;
	}
}

/* The layers to show, as indices into the spec; VIZ_USAGE after printing why. */
static int resolve_layers(const VizModel *vm, const ActsOptions *o, int **out, int *n)
{
	const Model *m = vm->model;
	const Spec *s = m->spec;
	int *idx = xmallocarray((size_t)(o->nlayers ? o->nlayers : s->nlayers), sizeof *idx);
	*n = 0;
	if (!o->nlayers)
		for (int i = 0; i < s->nlayers; i++)
			if (s->layers[i].type == LAYER_CONV)
				idx[(*n)++] = i;
	for (int k = 0; k < o->nlayers; k++) {
		int i = spec_find_layer(s, o->layers[k], m->path);
		if (i < 0) {
			free(idx);
			return VIZ_USAGE;
		}
		if (!has_maps(s, i)) {
			warn_msg("--layer %s: a %s layer of %d values has no maps to draw; anet-eval --features FILE "
				 "--layer %s writes its values",
				 o->layers[k], layer_type_name(s->layers[i].type), (int)dims_count(s->layers[i].out),
				 o->layers[k]);
			free(idx);
			return VIZ_USAGE;
		}
		idx[(*n)++] = i;
	}
	if (*n == 0) {
		warn_msg("%s: the network has no convolution: name the layers to show with --layer", m->path);
		free(idx);
		return VIZ_USAGE;
	}
	*out = idx;
	return 0;
}

/* Record key of the database, checked against the model, and its class. */
static int record_pixels_of(const ActsOptions *o, const Model *m, uint8_t *pixels, Acts *a)
{
	Db *db = db_open(o->db);
	if (!db)
		return -1;
	int rc = -1;
	uint64_t count = db_info(db)->count;
	if (eval_check_db(m, db) != 0)
		goto out;
	if (o->key >= count) {
		warn_msg("%s: --key %llu is past the end (%llu record%s)", o->db, (unsigned long long)o->key,
			 (unsigned long long)count, count == 1 ? "" : "s");
		goto out;
	}
	int32_t label;
	if ((rc = viz_read_records(db, &o->key, 1, pixels, &label)) != 0)
		goto out;
	if (label >= 0)
		model_class_name(m, label, a->label, sizeof a->label);
	char base[256];
	a->source = xasprintf("%s:%llu", viz_base_name(o->db, base, sizeof base), (unsigned long long)o->key);
out:
	db_close(db);
	return rc;
}

static int image_pixels_of(const ActsOptions *o, const Model *m, uint8_t *pixels, Acts *a)
{
	ImageCodec *codec = codec_new();
	int rc = eval_prepare_image(m, codec, o->image, o->exif_orientation, pixels);
	codec_free(codec);
	char base[256];
	a->source = xstrdup(viz_base_name(o->image, base, sizeof base));
	return rc;
}

/* The centre crop of the record, as views_test places it for the evaluator. */
static void cut_crop(const uint8_t *pixels, Acts *a)
{
	View v;
	views_test(a->record_h, a->record_w, a->crop_h, a->crop_w, 1, 1, &v);
	size_t row = (size_t)a->crop_w * a->channels;
	a->crop = xmallocarray((size_t)a->crop_h, row);
	for (int y = 0; y < a->crop_h; y++)
		memcpy(a->crop + y * row, pixels + (((size_t)(v.y0 + y) * a->record_w) + v.x0) * a->channels, row);
}

static int download_layers(VizModel *vm, const int *idx, int n, Acts *a)
{
	const Spec *s = vm->model->spec;
	a->layers = xcalloc((size_t)n, sizeof *a->layers);
	a->nlayers = n;
	for (int k = 0; k < n; k++) {
		ActsLayer *l = &a->layers[k];
		const SpecLayer *sl = &s->layers[idx[k]];
		Dims d;
		const float *dev = net_output(vm->model->net, sl->name, &d);
		snprintf(l->name, sizeof l->name, "%s", sl->name);
		describe(s, idx[k], l->what, sizeof l->what);
		l->maps = d.c;
		l->height = d.h;
		l->width = d.w;
		l->groups = map_groups(s, idx[k]);
		l->values = xmallocarray((size_t)dims_count(d), sizeof(float));
		if (!dev || ctx_download(vm->ctx, l->values, dev, (size_t)dims_count(d) * sizeof(float)) != 0) {
			warn_msg("downloading the output of %s: %s", sl->name, ctx_error(vm->ctx));
			return -1;
		}
	}
	return 0;
}

int acts_compute(const ActsOptions *o, Acts *a)
{
	memset(a, 0, sizeof *a);
	VizModel vm;
	if (viz_model_open(&vm, o->model, o->device, o->threads, 1, 1) != 0)
		return -1;
	const Model *m = vm.model;
	int *idx = NULL, n = 0;
	int rc = resolve_layers(&vm, o, &idx, &n);
	uint8_t *pixels = xmallocarray((size_t)m->height * m->width, m->channels);
	float *probs = xmallocarray(m->num_classes, sizeof *probs);
	if (rc == 0)
		rc = o->db ? record_pixels_of(o, m, pixels, a) : image_pixels_of(o, m, pixels, a);
	if (rc == 0)
		rc = viz_model_run(&vm, pixels, 1, probs, NULL);
	if (rc == 0)
		rc = download_layers(&vm, idx, n, a);
	if (rc == 0) {
		int top = 0;
		for (uint32_t c = 1; c < m->num_classes; c++)
			if (probs[c] > probs[top])
				top = (int)c;
		model_class_name(m, top, a->top, sizeof a->top);
		a->top_prob = probs[top];
		a->model = xstrdup(m->path);
		a->record_h = (int)m->height;
		a->record_w = (int)m->width;
		a->channels = (int)m->channels;
		a->crop_h = m->spec->layers[0].out.h;
		a->crop_w = m->spec->layers[0].out.w;
		cut_crop(pixels, a);
	}
	free(probs);
	free(pixels);
	free(idx);
	viz_model_close(&vm);
	if (rc != 0)
		acts_free(a);
	return rc;
}

void acts_free(Acts *a)
{
	for (int i = 0; i < a->nlayers; i++)
		free(a->layers[i].values);
	free(a->layers);
	free(a->crop);
	free(a->model);
	free(a->source);
	memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------------------------------- */
/* the picture */

int acts_layout(const Acts *a, const ActsStyle *st, ActsLayout *lay)
{
	memset(lay, 0, sizeof *lay);
	lay->margin = MARGIN;
	lay->gap = GAP;
	lay->crop_x = MARGIN;
	lay->crop_y = MARGIN + TITLE_H;
	int side = a->crop_h > a->crop_w ? a->crop_h : a->crop_w;
	lay->crop_scale = side >= CROP_SIDE ? 1 : (CROP_SIDE + side - 1) / side;
	/* sizes in doubles: --scale 64 with thousands of columns must be refused, not overflow */
	double width = 2.0 * MARGIN + (double)a->crop_w * lay->crop_scale + TEXT_W;
	double y = lay->crop_y + (double)a->crop_h * lay->crop_scale + LAYER_GAP;
	lay->layers = xcalloc((size_t)a->nlayers, sizeof *lay->layers);
	lay->nlayers = a->nlayers;
	for (int i = 0; i < a->nlayers; i++) {
		const ActsLayer *l = &a->layers[i];
		ActsLayerLayout *L = &lay->layers[i];
		int mside = l->height > l->width ? l->height : l->width;
		L->scale = st->scale ? st->scale : (int)lround(TILE_PIXELS / mside);
		L->scale = L->scale < 1 ? 1 : L->scale;
		L->tile_w = l->width * L->scale;
		L->tile_h = l->height * L->scale;
		L->groups = l->groups;
		L->per_group = l->maps / l->groups;
		int cols = st->columns ? st->columns : DEFAULT_COLUMNS;
		L->columns = L->per_group < cols ? L->per_group : cols;
		L->rows = (L->per_group + L->columns - 1) / L->columns;
		L->block_gap = L->tile_h / 2 > 5 * GAP ? L->tile_h / 2 : 5 * GAP;
		double grid_w = (double)L->columns * (L->tile_w + GAP) - GAP;
		double block_h = (double)L->rows * (L->tile_h + GAP) - GAP;
		if (2.0 * MARGIN + grid_w > width)
			width = 2.0 * MARGIN + grid_w;
		L->caption_y = (int)fmin(y + 15, VIZ_MAX_SIDE);
		L->y = (int)fmin(y + CAPTION_H, VIZ_MAX_SIDE);
		L->block_h = (int)fmin(block_h, VIZ_MAX_SIDE);
		y += CAPTION_H + L->groups * block_h + (L->groups - 1.0) * L->block_gap + LAYER_GAP;
	}
	double height = y - LAYER_GAP + MARGIN;
	if (width > VIZ_MAX_SIDE || height > VIZ_MAX_SIDE) {
		warn_msg("the picture would be %.0fx%.0f pixels, more than %d a side: show fewer layers (--layer), "
			 "or use a smaller --scale or other --columns",
			 width, height, VIZ_MAX_SIDE);
		acts_layout_free(lay);
		return -1;
	}
	lay->width = (int)width;
	lay->height = (int)height;
	return 0;
}

void acts_layout_free(ActsLayout *lay)
{
	free(lay->layers);
	lay->layers = NULL;
	lay->nlayers = 0;
}

void acts_map_origin(const ActsLayout *lay, int layer, int map, int *x, int *y)
{
	const ActsLayerLayout *L = &lay->layers[layer];
	int g = map / L->per_group, j = map % L->per_group;
	*x = lay->margin + (j % L->columns) * (L->tile_w + lay->gap);
	*y = L->y + g * (L->block_h + L->block_gap) + (j / L->columns) * (L->tile_h + lay->gap);
}

/* The finite range of n values; NAN, NAN when none is finite. */
static void finite_range(const float *v, size_t n, float *lo, float *hi)
{
	*lo = *hi = NAN;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			continue;
		if (!(v[i] >= *lo))
			*lo = v[i];
		if (!(v[i] <= *hi))
			*hi = v[i];
	}
}

/* A map as RGB bytes: grey from lo (black) to hi (white); black if flat; red if not finite. */
static void map_to_rgb(const float *v, size_t n, float lo, float hi, uint8_t *rgb)
{
	Rgb bad = rgb_hex(VIZ_WRONG);
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i])) {
			rgb[3 * i] = (uint8_t)lrint(bad.r * 255);
			rgb[3 * i + 1] = (uint8_t)lrint(bad.g * 255);
			rgb[3 * i + 2] = (uint8_t)lrint(bad.b * 255);
			continue;
		}
		double t = hi > lo ? ((double)v[i] - lo) / ((double)hi - lo) * 255.0 : 0;
		uint8_t g = (uint8_t)lrint(t < 0 ? 0 : t > 255 ? 255 : t);
		rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g;
	}
}

static int draw_layer(Canvas *cv, const ActsLayout *lay, int li, const ActsLayer *l, const ActsStyle *st)
{
	size_t plane = (size_t)l->height * l->width;
	float glo, ghi;
	finite_range(l->values, plane * (size_t)l->maps, &glo, &ghi);
	uint8_t *rgb = xmallocarray(plane, 3);
	int flat = 0, rc = 0;
	size_t bad = 0;
	for (int k = 0; k < l->maps && rc == 0; k++) {
		const float *v = l->values + (size_t)k * plane;
		float lo, hi;
		finite_range(v, plane, &lo, &hi);
		flat += !(hi > lo);
		for (size_t i = 0; i < plane; i++)
			bad += !isfinite(v[i]);
		if (st->norm == ACTS_PER_LAYER) {
			lo = glo;
			hi = ghi;
		}
		map_to_rgb(v, plane, lo, hi, rgb);
		int x, y;
		acts_map_origin(lay, li, k, &x, &y);
		rc = canvas_pixels(cv, rgb, l->width, l->height, 3, x, y, lay->layers[li].tile_w, lay->layers[li].tile_h);
	}
	free(rgb);
	char cap[512], groups[32] = "", extra[96] = "";
	if (l->groups > 1)
		snprintf(groups, sizeof groups, " in %d groups", l->groups);
	if (flat)
		snprintf(extra, sizeof extra, "; %d flat (black)", flat);
	if (bad)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "; %zu NaN/Inf (red)", bad);
	snprintf(cap, sizeof cap, "%s (%s): %d map%s of %dx%d%s, values %.3g to %.3g%s", l->name, l->what, l->maps,
		 l->maps == 1 ? "" : "s", l->height, l->width, groups, glo, ghi, extra);
	TextStyle ts = { .size = 12, .color = rgb_hex(VIZ_INK), .max_width = lay->width - 2.0 * lay->margin };
	canvas_text(cv, lay->margin, lay->layers[li].caption_y, &ts, cap);
	return rc;
}

int acts_draw(const Acts *a, const ActsStyle *st, const char *out)
{
	ActsLayout lay;
	if (acts_layout(a, st, &lay) != 0)
		return -1;
	Canvas cv;
	if (canvas_init(&cv, lay.width, lay.height, rgb_hex(VIZ_BACKGROUND)) != 0) {
		acts_layout_free(&lay);
		return -1;
	}
	char title[768], base[256], line[256];
	snprintf(title, sizeof title, "%s: %s, top-1 %s (%.1f%%)", viz_base_name(a->model, base, sizeof base), a->source,
		 a->top, 100.0 * a->top_prob);
	TextStyle ts = { .size = 13, .bold = 1, .color = rgb_hex(VIZ_INK), .max_width = lay.width - 2.0 * lay.margin };
	canvas_text(&cv, lay.margin, lay.margin + 14, &ts, title);
	int cw = a->crop_w * lay.crop_scale, ch = a->crop_h * lay.crop_scale;
	int rc = canvas_pixels(&cv, a->crop, a->crop_w, a->crop_h, a->channels, lay.crop_x, lay.crop_y, cw, ch);
	TextStyle ls = { .size = 11, .color = rgb_hex(VIZ_INK), .max_width = TEXT_W - 16 };
	double tx = lay.crop_x + cw + 14, ty = lay.crop_y + 12;
	snprintf(line, sizeof line, "the centre %dx%d crop of the %dx%d record, as the network saw it", a->crop_h, a->crop_w,
		 a->record_h, a->record_w);
	canvas_text(&cv, tx, ty, &ls, line);
	canvas_text(&cv, tx, ty + 16, &ls, "(shown before the mean image is taken away)");
	snprintf(line, sizeof line, "maps stretched %s; black: low, white: high",
		 st->norm == ACTS_PER_MAP ? "each to its own range" : "to their layer's range");
	canvas_text(&cv, tx, ty + 40, &ls, line);
	if (*a->label) {
		snprintf(line, sizeof line, "true class: %s", a->label);
		canvas_text(&cv, tx, ty + 56, &ls, line);
	}
	for (int i = 0; i < a->nlayers && rc == 0; i++)
		rc = draw_layer(&cv, &lay, i, &a->layers[i], st);
	if (rc == 0)
		rc = canvas_write_png(&cv, out);
	canvas_free(&cv);
	acts_layout_free(&lay);
	return rc;
}
