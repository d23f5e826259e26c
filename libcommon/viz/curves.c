/* curves.c: training curves from anet-train's log: loss, top-1 and top-5 error (train and
 * validation), and the learning rate on a log scale, against the step or the epoch, in four
 * panels drawn by plot.c (gnuplot or cairo).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "libcommon/viz/viz.h"

typedef struct {
	const char *title;
	TrainLogField y;
	int log_y;
	int train_only; /* the rate is the trainer's; validation rows repeat it or leave it out */
} Panel;

static const Panel panels[4] = {
	{ "loss (cross-entropy)", LOG_LOSS, 0, 0 },
	{ "top-1 error", LOG_TOP1, 0, 0 },
	{ "top-5 error", LOG_TOP5, 0, 0 },
	{ "learning rate", LOG_LR, 1, 1 },
};

#define TRAIN_COLOR 0x2C5AA0u
#define VAL_COLOR 0xD73027u

static void summary_title(const TrainLog *log, const char *name, char *buf, size_t len)
{
	const TrainLogRow *last = &log->rows[log->count - 1], *lastval = NULL;
	for (size_t i = 0; i < log->count; i++)
		if (log->rows[i].val)
			lastval = &log->rows[i];
	int n = snprintf(buf, len, "%s: step %lld, epoch %g", name, (long long)last->step, last->epoch);
	if (lastval && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; last validation: top-1 %.2f%%, top-5 %.2f%%", 100 * lastval->top1,
			 100 * lastval->top5);
}

int viz_curves(const TrainLog *log, const CurvesOptions *o, const char *name, const char *out)
{
	char title[512];
	summary_title(log, name, title, sizeof title);
	TrainLogField xf = o->x_epoch ? LOG_EPOCH : LOG_STEP;
	PlotPanel pp[4];
	PlotFigure fig = { .title = title, .xlabel = o->x_epoch ? "epoch" : "step", .rows = 2, .columns = 2,
			   .width = o->width, .height = o->height, .npanels = 4, .panels = pp };
	for (int i = 0; i < 4; i++) {
		const Panel *p = &panels[i];
		/* error rates are 0 or more; a loss may be anything */
		pp[i] = (PlotPanel){ .title = p->title, .log_y = p->log_y, .nonneg = p->y != LOG_LOSS };
		for (int val = 0; val <= !p->train_only; val++) {
			PlotSeries *s = plot_panel_series(&pp[i], val ? "val" : "train", val ? VAL_COLOR : TRAIN_COLOR,
							   val ? MARK_ALL : MARK_NONE);
			for (size_t k = 0; k < log->count; k++)
				if (log->rows[k].val == val)
					plot_series_add(s, trainlog_value(&log->rows[k], xf), trainlog_value(&log->rows[k], p->y));
		}
	}
	int rc = plot_draw(&fig, o->plotter, out);
	plot_figure_free(&fig);
	return rc;
}
