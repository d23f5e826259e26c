/* trainlog.c: reads anet-train's TSV log (--log) for the training curves.
 *
 * The columns, found by name (tsv.c): step, epoch, kind (train or val), loss, top1, top5
 * (error rates 0..1), lr, and optionally img_per_s, data_wait, elapsed. A value may be missing
 * ("", "-", "nan": a validation row has no learning rate of its own). Anything else is an
 * error naming the file, line and column.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

enum { C_STEP, C_EPOCH, C_KIND, C_LOSS, C_TOP1, C_TOP5, C_LR, C_RATE, C_WAIT, C_ELAPSED, C_COUNT };
static const char *const column_names[C_COUNT] = { "step", "epoch", "kind", "loss", "top1",
						   "top5", "lr", "img_per_s", "data_wait", "elapsed" };
static const int column_required[C_COUNT] = { 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 };

static const TsvFormat format = {
	.columns = column_names,
	.required = column_required,
	.ncolumns = C_COUNT,
	.what = "an anet-train log",
	.columns_hint = "step, epoch, kind, loss, top1, top5, lr, ...",
};

typedef struct {
	TrainLog *log;
	size_t cap;
} Reading;

static int parse_row(void *ctx, const TsvWhere *w, const char *const *field)
{
	Reading *rd = ctx;
	TrainLog *log = rd->log;
	if (log->count == rd->cap)
		log->rows = xreallocarray(log->rows, rd->cap = rd->cap ? 2 * rd->cap : 256, sizeof *log->rows);
	TrainLogRow *r = &log->rows[log->count];
	const char *kind = field[C_KIND];
	if (strcmp(kind, "train") == 0)
		r->val = 0;
	else if (strcmp(kind, "val") == 0)
		r->val = 1;
	else
		return tsv_bad(w, "kind '%s' is neither train nor val", kind);
	double step = 0;
	if (tsv_number(w, "step", field[C_STEP], 0, 9e15, &step) != 0)
		return -1;
	if (isnan(step))
		return tsv_bad(w, "step is missing");
	r->step = (int64_t)step;
	double *dst[C_COUNT] = { NULL, &r->epoch, NULL, &r->loss, &r->top1, &r->top5, &r->lr,
				 &r->img_per_s, &r->data_wait, &r->elapsed };
	static const double hi[C_COUNT] = { 0, 1e9, 0, 1e30, 1, 1, 1e30, 1e30, 1e30, 1e30 };
	for (int c = 0; c < C_COUNT; c++) {
		if (!dst[c])
			continue;
		*dst[c] = NAN;
		if (field[c] && tsv_number(w, column_names[c], field[c], 0, hi[c], dst[c]) != 0)
			return -1;
	}
	log->count++;
	return 0;
}

int trainlog_load(const char *path, TrainLog *log)
{
	memset(log, 0, sizeof *log);
	Reading rd = { log, 0 };
	int rc = tsv_read(path, &format, parse_row, &rd);
	if (rc != 0)
		trainlog_free(log);
	return rc;
}

void trainlog_free(TrainLog *log)
{
	free(log->rows);
	log->rows = NULL;
	log->count = 0;
}

double trainlog_value(const TrainLogRow *r, TrainLogField f)
{
	switch (f) {
	case LOG_STEP: return (double)r->step;
	case LOG_EPOCH: return r->epoch;
	case LOG_LOSS: return r->loss;
	case LOG_TOP1: return r->top1;
	case LOG_TOP5: return r->top5;
	case LOG_LR: return r->lr;
	}
	return NAN;
}
