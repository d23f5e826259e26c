/* mean.c: the mean image of a statistics file (or of the one a model carries), drawn so that a bad
 * one is seen at a glance.
 *
 * An all-zero or 8-byte mean file silently ruined training runs of other tools (USERS.md:
 * BVLC/caffe#6570). The picture shows the mean as it is (for ImageNet a brownish grey, brighter
 * in the middle), the same mean with its range stretched to 0..255 (its structure: the
 * centre bias of photographs, the shape of Fashion-MNIST's clothes), and the numbers:
 * channel means, range, eigenvalues, image count; a flat mean is called out in red.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/model.h"
#include "libcommon/net.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

/* The statistics inside a model or checkpoint (the preparation entries, no network built). */
static int load_from_model(TensorFile *tf, Stats *s)
{
	Model *m = xcalloc(1, sizeof *m);
	m->path = xstrdup(tf->path);
	int rc = -1;
	if ((m->spec = net_read_spec(tf)) && model_read_extras(tf, m->spec, m) == 0) {
		if (!m->has_stats)
			warn_msg("%s: this model holds weights only, no mean image (give the statistics file pcacolor "
				 "wrote)",
				 tf->path);
		else {
			*s = m->stats;
			memset(&m->stats, 0, sizeof m->stats);
			rc = 0;
		}
	}
	model_free(m);
	return rc;
}

int viz_stats_load(const char *path, Stats *s)
{
	memset(s, 0, sizeof *s);
	TensorFile tf;
	if (tensorfile_open(&tf, path, 0) != 0)
		return -1;
	uint32_t kind = tf.kind;
	int rc = -1;
	if (kind == TF_MODEL || kind == TF_CHECKPOINT)
		rc = load_from_model(&tf, s);
	else if (kind != TF_STATS)
		warn_msg("%s: is a %s file, expected statistics (pcacolor) or a model", path, tensorfile_kind_name(kind));
	tensorfile_close(&tf);
	if (kind == TF_STATS)
		rc = stats_load(path, s);
	return rc;
}

static void line_text(Canvas *cv, double x, double *y, Rgb color, const char *fmt, ...) ANET_PRINTF(5, 6);
static void line_text(Canvas *cv, double x, double *y, Rgb color, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	TextStyle ts = { .size = 12, .color = color, .max_width = cv->width - x - 8 };
	canvas_text(cv, x, *y, &ts, buf);
	*y += 17;
}

int viz_mean(const Stats *s, const char *name, int scale, const char *out)
{
	size_t n = (size_t)s->height * s->width * s->channels;
	float lo = INFINITY, hi = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		lo = fminf(lo, s->mean[i]);
		hi = fmaxf(hi, s->mean[i]);
	}
	int side = (int)(s->width > s->height ? s->width : s->height);
	if (!scale)
		scale = side >= 224 ? 1 : (int)lround(224.0 / side);
	int dw = (int)s->width * scale, dh = (int)s->height * scale, pad = 12;
	Canvas cv;
	int width = 3 * pad + 2 * dw < 520 ? 520 : 3 * pad + 2 * dw;
	if (canvas_init(&cv, width, 2 * pad + 22 + dh + 8 + 6 * 17, rgb_hex(VIZ_BACKGROUND)) != 0)
		return -1;
	uint8_t *plain = xmalloc(n), *stretched = xmalloc(n);
	for (size_t i = 0; i < n; i++) {
		double v = s->mean[i];
		plain[i] = (uint8_t)lrint(v < 0 ? 0 : v > 255 ? 255 : v);
		stretched[i] = hi > lo ? (uint8_t)lrint((v - lo) / (hi - lo) * 255) : 128;
	}
	double y = pad + 14;
	TextStyle hs = { .size = 12, .bold = 1, .color = rgb_hex(VIZ_INK) };
	canvas_text(&cv, pad, y, &hs, "mean image");
	canvas_text(&cv, 2 * pad + dw, y, &hs, "stretched to its range");
	y += 8;
	int rc = canvas_pixels(&cv, plain, (int)s->width, (int)s->height, (int)s->channels, pad, y, dw, dh) ||
		 canvas_pixels(&cv, stretched, (int)s->width, (int)s->height, (int)s->channels, 2 * pad + dw, y, dw, dh);
	free(plain);
	free(stretched);
	y += dh + 22;
	Rgb ink = rgb_hex(VIZ_INK);
	line_text(&cv, pad, &y, ink, "%s: the mean of %lld images of %s, %ux%ux%u", name, (long long)s->images,
		  s->source && *s->source ? s->source : "(unknown)", s->height, s->width, s->channels);
	if (s->channels == 3)
		line_text(&cv, pad, &y, ink, "channel means: R %.2f  G %.2f  B %.2f (0-255)", s->mean_channel[0],
			  s->mean_channel[1], s->mean_channel[2]);
	else
		line_text(&cv, pad, &y, ink, "mean: %.2f (0-255)", s->mean_channel[0]);
	line_text(&cv, pad, &y, ink, "per-pixel range: %.2f .. %.2f", lo, hi);
	if (s->channels == 3)
		line_text(&cv, pad, &y, ink, "colour PCA eigenvalues: %.1f  %.1f  %.1f", s->eigval[0], s->eigval[1],
			  s->eigval[2]);
	else
		line_text(&cv, pad, &y, ink, "variance: %.1f", s->eigval[0]);
	if (!(hi > lo))
		line_text(&cv, pad, &y, rgb_hex(VIZ_WRONG), "WARNING: the mean image is flat (every value %.2f): a bad "
			  "statistics file?", lo);
	else if (hi - lo < 1)
		line_text(&cv, pad, &y, rgb_hex(VIZ_WRONG), "WARNING: the mean image varies by less than one level");
	if (rc == 0)
		rc = canvas_write_png(&cv, out);
	canvas_free(&cv);
	return rc;
}
