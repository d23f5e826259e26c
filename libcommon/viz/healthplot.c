/* healthplot.c: the layers' health from anet-train --health, in three panels drawn by plot.c
 * (gnuplot or cairo), a line per layer against the step or the epoch:
 *   - mean |update| / mean |weight| on a log scale, with the rule of thumb's 1e-3 (health.h:
 *     far above, the learning rate is too high; far below, the layer is not learning);
 *   - mean |weight| on a log scale;
 *   - the share of a rectified layer's units that are dead (0..1).
 * A point no line reaches (a layer's single report) is a dot. The title names the layers with
 * the largest share of dead units at the last report.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

#define RULE_OF_THUMB 1e-3
#define TITLE_DEAD 3 /* layers the title names */

/* Ten colours told apart easily (Tableau's, its grey left out for the reference line); a
 * network of more layers repeats them. */
static const uint32_t palette[] = { 0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD,
				    0x8C564B, 0xE377C2, 0xBCBD22, 0x17BECF, 0x393B79 };

static double dead_share(const HealthLogRow *r)
{
	return r->units > 0 && isfinite(r->dead) ? r->dead / r->units : NAN;
}

typedef struct {
	int layer;
	double dead, units;
} Dead;

/* The largest share first; of equal shares, more units dead, then the network's order. */
static int by_share(const void *pa, const void *pb)
{
	const Dead *a = pa, *b = pb;
	double sa = a->dead / a->units, sb = b->dead / b->units;
	if (sa != sb)
		return sa > sb ? -1 : 1;
	if (a->dead != b->dead)
		return a->dead > b->dead ? -1 : 1;
	return a->layer - b->layer;
}

/* "NAME: step S, epoch E; most dead at the last report: conv2 8/8, fc3 15/32": the last report
 * is the rows of the last row's step at the end of the log (the latest row of each layer). */
static void summary_title(const HealthLog *log, const char *name, char *buf, size_t len)
{
	const HealthLogRow *last = &log->rows[log->count - 1];
	int n = snprintf(buf, len, "%s: step %lld, epoch %g", name, (long long)last->step, last->epoch);
	if (n < 0 || (size_t)n >= len)
		return;
	Dead *dead = xcalloc((size_t)log->nlayers, sizeof *dead);
	char *seen = xcalloc((size_t)log->nlayers, 1);
	int ndead = 0, rectified = 0;
	for (size_t i = log->count; i-- > 0 && log->rows[i].step == last->step;) {
		const HealthLogRow *r = &log->rows[i];
		if (seen[r->layer]++ || isnan(dead_share(r)))
			continue;
		rectified = 1;
		if (r->dead > 0)
			dead[ndead++] = (Dead){ r->layer, r->dead, r->units };
	}
	qsort(dead, (size_t)ndead, sizeof *dead, by_share);
	if (rectified && ndead == 0)
		snprintf(buf + n, len - (size_t)n, "; no dead units at the last report");
	for (int k = 0; k < ndead && k < TITLE_DEAD && (size_t)n < len; k++) {
		int m = snprintf(buf + n, len - (size_t)n, "%s%s %.0f/%.0f", k ? ", " : "; most dead at the last report: ",
				 log->layers[dead[k].layer], dead[k].dead, dead[k].units);
		n = m < 0 ? (int)len : n + m;
	}
	free(seen);
	free(dead);
}

int viz_health(const HealthLog *log, const PlotOptions *o, const char *name, const char *out)
{
	char title[512];
	summary_title(log, name, title, sizeof title);
	enum { P_RATIO, P_WEIGHT, P_DEAD, P_COUNT };
	PlotPanel pp[P_COUNT] = {
		[P_RATIO] = { .title = "update / weight (mean |v| / mean |w|)", .log_y = 1,
			      .ref_label = "1e-3: the rule of thumb", .ref_y = RULE_OF_THUMB },
		[P_WEIGHT] = { .title = "weight (mean |w|)", .log_y = 1 },
		[P_DEAD] = { .title = "dead units (share of a rectified layer's)", .ylo = 0, .yhi = 1 },
	};
	PlotFigure fig = { .title = title, .xlabel = o->x_epoch ? "epoch" : "step", .rows = P_COUNT, .columns = 1,
			   .legend_outside = 1, .width = o->width, .height = o->height, .npanels = P_COUNT, .panels = pp };
	for (int l = 0; l < log->nlayers; l++) {
		uint32_t color = palette[l % ARRAY_LEN(palette)];
		PlotSeries *s[P_COUNT];
		for (int p = 0; p < P_COUNT; p++)
			s[p] = plot_panel_series(&pp[p], log->layers[l], color, MARK_LONE);
		for (size_t i = 0; i < log->count; i++) {
			const HealthLogRow *r = &log->rows[i];
			if (r->layer != l)
				continue;
			double x = o->x_epoch ? r->epoch : (double)r->step;
			plot_series_add(s[P_RATIO], x, r->update_ratio);
			plot_series_add(s[P_WEIGHT], x, r->weight_abs);
			plot_series_add(s[P_DEAD], x, dead_share(r));
		}
	}
	int rc = plot_draw(&fig, o->plotter, out);
	plot_figure_free(&fig);
	return rc;
}
