/* predictions.c: the paper's Figure 4 (left): images with the model's five most probable classes as
 * bars, the true class written under the image and its bar drawn red (§6.1).
 *
 * Image files are prepared as imgprep prepares the model's records and evaluated as anet-eval
 * evaluates (eval.h: the centre crop or the ten crops, softmax averaged), so the bars are the
 * numbers anet-eval would print. Records of a database come with their labels; for files a
 * --label per image gives them (a class name of the model, or its number).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/opt.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

#define TOP 5
#define BAR_COLOR 0x4A78B8u

/* A class given by name (exactly as the model has it) or by number; -1 after printing why. */
static int resolve_label(const Model *m, const char *name)
{
	for (uint32_t i = 0; i < m->classes.count; i++)
		if (strcmp(m->classes.names[i], name) == 0)
			return (int)i;
	long long v;
	if (parse_int(name, 0, (long long)m->num_classes - 1, &v) == 0)
		return (int)v;
	warn_msg("--label '%s' is neither a class name of %s nor a number below %u", name, m->path, m->num_classes);
	return -1;
}

/* The TOP most probable classes, most probable first (ties: the lower class). */
static int top_classes(const float *p, int classes, int *top)
{
	int n = classes < TOP ? classes : TOP;
	for (int j = 0; j < n; j++) {
		int best = -1;
		for (int c = 0; c < classes; c++) {
			int taken = 0;
			for (int i = 0; i < j && !taken; i++)
				taken = top[i] == c;
			if (!taken && (best < 0 || p[c] > p[best]))
				best = c;
		}
		top[j] = best;
	}
	return n;
}

typedef struct {
	int n;
	uint8_t *pixels; /* n record-sized images */
	int32_t *labels; /* -1: unknown */
	char **captions; /* a file name or "#key" */
} Items;

static void items_free(Items *it)
{
	for (int i = 0; i < it->n && it->captions; i++)
		free(it->captions[i]);
	free(it->captions);
	free(it->pixels);
	free(it->labels);
}

static int items_from_files(const PredictionsOptions *o, const Model *m, Items *it)
{
	size_t img = (size_t)m->height * m->width * m->channels;
	it->n = o->nimages;
	it->pixels = xmallocarray((size_t)it->n, img);
	it->labels = xmallocarray((size_t)it->n, sizeof *it->labels);
	it->captions = xcalloc((size_t)it->n, sizeof *it->captions);
	ImageCodec *codec = codec_new();
	int rc = 0;
	for (int i = 0; i < it->n && rc == 0; i++) {
		const char *base = strrchr(o->images[i], '/');
		it->captions[i] = xstrdup(base ? base + 1 : o->images[i]);
		it->labels[i] = -1;
		if (i < o->nlabels && (it->labels[i] = resolve_label(m, o->labels[i])) < 0)
			rc = -1;
		else
			rc = eval_prepare_image(m, codec, o->images[i], o->exif_orientation, it->pixels + (size_t)i * img);
	}
	codec_free(codec);
	return rc;
}

static int items_from_db(const PredictionsOptions *o, const Model *m, Items *it)
{
	Db *db = db_open(o->db);
	if (!db)
		return -1;
	int rc = -1;
	uint64_t count = db_info(db)->count, *keys = NULL;
	if (eval_check_db(m, db) != 0)
		goto out;
	if (!o->random && o->start >= count) {
		warn_msg("%s: --start %llu is past the last record (%llu)", o->db, (unsigned long long)o->start,
			 (unsigned long long)count - 1);
		goto out;
	}
	uint64_t avail = o->random ? count : count - o->start;
	it->n = (uint64_t)o->count < avail ? o->count : (int)avail;
	keys = xmallocarray((size_t)it->n, sizeof *keys);
	if (o->random)
		viz_sample(count, (uint64_t)it->n, o->seed, keys);
	else
		for (int i = 0; i < it->n; i++)
			keys[i] = o->start + (uint64_t)i;
	it->pixels = xmallocarray((size_t)it->n, (size_t)m->height * m->width * m->channels);
	it->labels = xmallocarray((size_t)it->n, sizeof *it->labels);
	it->captions = xcalloc((size_t)it->n, sizeof *it->captions);
	for (int i = 0; i < it->n; i++)
		it->captions[i] = xasprintf("#%llu", (unsigned long long)keys[i]);
	rc = viz_read_records(db, keys, it->n, it->pixels, it->labels);
out:
	free(keys);
	db_close(db);
	return rc;
}

/* One image with its caption, true class and bars, its top-left corner at (x, y). */
static int draw_item(Canvas *cv, const Model *m, const Items *it, int i, const float *p, double x, double y, int cell,
		     int cell_w)
{
	char name[256];
	double ix = x + (cell_w - cell) / 2.0;
	if (canvas_pixels(cv, it->pixels + (size_t)i * m->height * m->width * m->channels, (int)m->width,
			  (int)m->height, (int)m->channels, ix, y, cell, cell))
		return -1;
	int top[TOP], n = top_classes(p, (int)m->num_classes, top), label = it->labels[i];
	int right = label >= 0 && top[0] == label;
	if (label >= 0)
		canvas_frame(cv, ix, y, cell, cell, 3, rgb_hex(right ? VIZ_RIGHT : VIZ_WRONG));
	y += cell + 15;
	TextStyle ts = { .size = 12, .bold = 1, .align = ALIGN_CENTRE, .color = rgb_hex(VIZ_INK), .max_width = cell_w };
	canvas_text(cv, x + cell_w / 2.0, y, &ts,
		    label >= 0 ? model_class_name(m, label, name, sizeof name) : "(true class unknown)");
	TextStyle cs = { .size = 9, .align = ALIGN_CENTRE, .color = rgb_hex(0x707070), .max_width = cell_w };
	canvas_text(cv, x + cell_w / 2.0, y + 12, &cs, it->captions[i]);
	y += 20;
	for (int j = 0; j < n; j++) {
		double by = y + j * 17;
		canvas_fill(cv, x, by, cell_w, 14, rgb_hex(0xE2E2E2));
		double w = p[top[j]] * cell_w;
		canvas_fill(cv, x, by, w > 0.5 ? w : 0.5, 14, rgb_hex(top[j] == label ? VIZ_WRONG : BAR_COLOR));
		TextStyle ls = { .size = 10, .color = rgb_hex(VIZ_INK), .max_width = cell_w - 46 };
		canvas_text(cv, x + 3, by + 11, &ls, model_class_name(m, top[j], name, sizeof name));
		char pct[16];
		snprintf(pct, sizeof pct, "%.1f%%", 100.0 * p[top[j]]);
		TextStyle ps = { .size = 10, .align = ALIGN_RIGHT, .color = rgb_hex(VIZ_INK) };
		canvas_text(cv, x + cell_w - 3, by + 11, &ps, pct);
	}
	return 0;
}

static int draw(const PredictionsOptions *o, const Model *m, const Items *it, const float *probs, int crops,
		const char *out)
{
	int side = (int)(m->width > m->height ? m->width : m->height);
	int cell = o->size ? o->size : side >= 160 ? 160 : side * (int)ceil(112.0 / side);
	int cell_w = cell < 190 ? 190 : cell, pad = 14, head = 30, text_h = 35 + TOP * 17;
	int cols = o->columns ? o->columns : it->n < 4 ? it->n : 4;
	int rows = (it->n + cols - 1) / cols;
	Canvas cv;
	if (canvas_init(&cv, pad + cols * (cell_w + pad), head + rows * (cell + text_h + pad), rgb_hex(VIZ_BACKGROUND)))
		return -1;
	char title[512];
	const char *base = strrchr(m->path, '/');
	snprintf(title, sizeof title, "%s: top-%d predictions, %s (red: the true class)", base ? base + 1 : m->path, TOP,
		 crops == 10 ? "10 crops averaged" : "centre crop");
	TextStyle ts = { .size = 13, .bold = 1, .color = rgb_hex(VIZ_INK), .max_width = cv.width - 2.0 * pad };
	canvas_text(&cv, pad, 20, &ts, title);
	int rc = 0;
	for (int i = 0; i < it->n && rc == 0; i++)
		rc = draw_item(&cv, m, it, i, probs + (size_t)i * m->num_classes, pad + (i % cols) * (cell_w + pad),
			       head + (i / cols) * (cell + text_h + pad), cell, cell_w);
	if (rc == 0)
		rc = canvas_write_png(&cv, out);
	canvas_free(&cv);
	return rc;
}

int viz_predictions(const PredictionsOptions *o, const char *out)
{
	VizModel vm;
	if (viz_model_open(&vm, o->model, o->device, o->threads, o->crops, 8) != 0)
		return -1;
	Items it = { 0 };
	float *probs = NULL;
	int rc = o->db ? items_from_db(o, vm.model, &it) : items_from_files(o, vm.model, &it);
	if (rc == 0) {
		probs = xmallocarray((size_t)it.n * vm.model->num_classes, sizeof(float));
		rc = viz_model_run(&vm, it.pixels, it.n, probs, NULL);
	}
	if (rc == 0)
		rc = draw(o, vm.model, &it, probs, o->crops, out);
	free(probs);
	items_free(&it);
	viz_model_close(&vm);
	return rc;
}
