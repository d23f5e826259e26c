/* healthlog.c: reads anet-train's health log (--health; man 5 anet-formats, HEALTH LOG).
 *
 * The columns, found by name (tsv.c): step, epoch, layer, weight_abs, update_ratio, units and
 * dead, which the plot draws, and update_abs, bias_mean and zero_share if the header has them;
 * one row per conv and fc layer and report. A value may be missing ("", "-", "nan": units, dead
 * and zero_share are empty for a layer no ReLU follows). Anything else is an error naming the
 * file, line and column: a magnitude below 0, a count that is not a whole number, more dead
 * units than units, a share outside 0..1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

enum { C_STEP, C_EPOCH, C_LAYER, C_WEIGHT, C_UPDATE, C_RATIO, C_BIAS, C_UNITS, C_DEAD, C_ZERO, C_COUNT };
static const char *const column_names[C_COUNT] = { "step",	   "epoch",	"layer", "weight_abs", "update_abs",
						   "update_ratio", "bias_mean", "units", "dead",       "zero_share" };
static const int column_required[C_COUNT] = { 1, 1, 1, 1, 0, 1, 0, 1, 1, 0 };

static const TsvFormat format = {
	.columns = column_names,
	.required = column_required,
	.ncolumns = C_COUNT,
	.what = "an anet-train --health log",
	.columns_hint = "step, epoch, layer, weight_abs, update_abs, update_ratio, bias_mean, units, dead, "
			"zero_share",
};

typedef struct {
	HealthLog *log;
	size_t cap;
} Reading;

/* The index of layer name, added when new; -1 after printing why. */
static int layer_index(HealthLog *log, const TsvWhere *w, const char *name)
{
	for (int i = log->nlayers - 1; i >= 0; i--)
		if (strcmp(log->layers[i], name) == 0)
			return i;
	if (!*name)
		return tsv_bad(w, "layer is missing");
	if (strlen(name) >= SPEC_MAX_NAME)
		return tsv_bad(w, "layer '%s' is longer than a layer's name can be (%d bytes)", name, SPEC_MAX_NAME - 1);
	if (log->nlayers == HEALTH_MAX_LAYERS)
		return tsv_bad(w, "layer '%s': more than %d layers", name, HEALTH_MAX_LAYERS);
	log->layers = xreallocarray(log->layers, (size_t)log->nlayers + 1, sizeof *log->layers);
	snprintf(log->layers[log->nlayers], SPEC_MAX_NAME, "%s", name);
	return log->nlayers++;
}

/* A count: a whole number of 0 or more, or missing. */
static int parse_count(const TsvWhere *w, const char *name, const char *s, double *v)
{
	if (tsv_number(w, name, s, 0, 1e15, v) != 0)
		return -1;
	if (!isnan(*v) && *v != floor(*v))
		return tsv_bad(w, "%s: '%s' is not a whole number", name, s);
	return 0;
}

static int parse_row(void *ctx, const TsvWhere *w, const char *const *field)
{
	Reading *rd = ctx;
	HealthLog *log = rd->log;
	if (log->count == rd->cap)
		log->rows = xreallocarray(log->rows, rd->cap = rd->cap ? 2 * rd->cap : 256, sizeof *log->rows);
	HealthLogRow *r = &log->rows[log->count];
	double step = 0;
	if (tsv_number(w, "step", field[C_STEP], 0, 9e15, &step) != 0)
		return -1;
	if (isnan(step))
		return tsv_bad(w, "step is missing");
	r->step = (int64_t)step;
	if ((r->layer = layer_index(log, w, field[C_LAYER])) < 0)
		return -1;
	/* the magnitudes and shares; a bias may be negative */
	double *dst[C_COUNT] = { [C_EPOCH] = &r->epoch,	  [C_WEIGHT] = &r->weight_abs, [C_UPDATE] = &r->update_abs,
				 [C_RATIO] = &r->update_ratio, [C_BIAS] = &r->bias_mean, [C_ZERO] = &r->zero_share };
	static const double lo[C_COUNT] = { [C_BIAS] = -1e30 };
	static const double hi[C_COUNT] = { [C_EPOCH] = 1e9, [C_WEIGHT] = 1e30, [C_UPDATE] = 1e30,
					    [C_RATIO] = 1e30, [C_BIAS] = 1e30,	 [C_ZERO] = 1 };
	for (int c = 0; c < C_COUNT; c++) {
		if (!dst[c])
			continue;
		*dst[c] = NAN;
		if (field[c] && tsv_number(w, column_names[c], field[c], lo[c], hi[c], dst[c]) != 0)
			return -1;
	}
	if (parse_count(w, "units", field[C_UNITS], &r->units) != 0 || parse_count(w, "dead", field[C_DEAD], &r->dead) != 0)
		return -1;
	if (r->dead > r->units) /* false when either is missing */
		return tsv_bad(w, "dead: %s is more than the layer's %s units", field[C_DEAD], field[C_UNITS]);
	log->count++;
	return 0;
}

int healthlog_load(const char *path, HealthLog *log)
{
	memset(log, 0, sizeof *log);
	Reading rd = { log, 0 };
	int rc = tsv_read(path, &format, parse_row, &rd);
	if (rc != 0)
		healthlog_free(log);
	return rc;
}

void healthlog_free(HealthLog *log)
{
	free(log->rows);
	free(log->layers);
	memset(log, 0, sizeof *log);
}
