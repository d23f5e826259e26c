/* curves.c: training curves from anet-train's log: loss, top-1 and top-5 error (train and
 * validation), and the learning rate on a log scale, against the step or the epoch.
 *
 * Two plotters draw the same four panels. gnuplot (its pngcairo terminal) when it is
 * installed: its script and data go down a pipe, its PNG comes back on its standard output
 * straight into our AtomicFile, so nothing is left in temporary files. Otherwise cairo
 * itself: axes, "nice" ticks (1, 2 or 5 times a power of ten), a decade scale for the rate,
 * a legend, all text through cairo. The choice: PLOT_AUTO takes gnuplot when it is on the
 * PATH (and falls back to cairo, saying so, if it fails).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libcommon/util.h"
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

static int usable(double v, int log_y)
{
	return isfinite(v) && (!log_y || v > 0);
}

/* Points of one series of a panel. */
static int series_points(const TrainLog *log, const Panel *p, int val, TrainLogField xf)
{
	int n = 0;
	for (size_t i = 0; i < log->count; i++) {
		const TrainLogRow *r = &log->rows[i];
		n += r->val == val && isfinite(trainlog_value(r, xf)) && usable(trainlog_value(r, p->y), p->log_y);
	}
	return n;
}

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

/* ---------------------------------------------------------------------------------------- */
/* ranges, shared by both plotters so that they draw the same axes */

typedef struct {
	double x, y, w, h;           /* the plotting area on the canvas */
	double xmin, xmax, ymin, ymax; /* ymin/ymax as log10 on a log axis */
	int log_y;
} Axes;

static double map_x(const Axes *a, double x) { return a->x + (x - a->xmin) / (a->xmax - a->xmin) * a->w; }
static double map_y(const Axes *a, double y)
{
	double v = a->log_y ? log10(y) : y;
	return a->y + a->h - (v - a->ymin) / (a->ymax - a->ymin) * a->h;
}

/* A step of 1, 2 or 5 times a power of ten giving about n intervals over span. */
static double nice_step(double span, int n)
{
	double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
	return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void data_range(const TrainLog *log, const Panel *p, TrainLogField xf, Axes *a)
{
	a->xmin = a->ymin = INFINITY;
	a->xmax = a->ymax = -INFINITY;
	for (size_t i = 0; i < log->count; i++) {
		const TrainLogRow *r = &log->rows[i];
		double x = trainlog_value(r, xf), y = trainlog_value(r, p->y);
		if (!isfinite(x) || !usable(y, p->log_y) || (p->train_only && r->val))
			continue;
		if (p->log_y)
			y = log10(y);
		a->xmin = fmin(a->xmin, x);
		a->xmax = fmax(a->xmax, x);
		a->ymin = fmin(a->ymin, y);
		a->ymax = fmax(a->ymax, y);
	}
	if (!isfinite(a->xmin)) { /* no data */
		a->xmin = a->ymin = 0;
		a->xmax = a->ymax = 1;
	}
	if (a->xmax <= a->xmin)
		a->xmax = a->xmin + 1;
	if (a->xmin > 0 && a->xmin <= (a->xmax - a->xmin) / 4)
		a->xmin = 0; /* a log's first row comes after some steps: start the axis at 0 */
	double xs = nice_step(a->xmax - a->xmin, 6);
	a->xmax = ceil(a->xmax / xs - 1e-9) * xs;
	if (p->log_y) { /* whole decades, with a margin so that a rate of 0.01 is not on the frame */
		a->ymin = floor(a->ymin - 0.05);
		a->ymax = ceil(a->ymax + 0.05);
		if (a->ymax <= a->ymin)
			a->ymax = a->ymin + 1;
		return;
	}
	if (a->ymax <= a->ymin && p->y != LOG_LOSS) { /* a flat error rate (all 0 with few classes) */
		a->ymin = 0;
		a->ymax = a->ymax > 0 ? a->ymax * 1.25 : 1;
	} else if (a->ymax <= a->ymin) {
		a->ymin -= 0.5;
		a->ymax += 0.5;
	}
	double st = nice_step(a->ymax - a->ymin, 5);
	a->ymin = floor(a->ymin / st) * st;
	a->ymax = ceil(a->ymax / st) * st;
	if (p->y != LOG_LOSS && a->ymin < 0)
		a->ymin = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* gnuplot */

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		return 0;
	char *copy = xstrdup(path), *save = NULL;
	int found = 0;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *f = xasprintf("%s/%s", *dir ? dir : ".", prog);
		struct stat st;
		found = stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0;
		free(f);
	}
	free(copy);
	return found;
}

/* A gnuplot string: double quotes, with \ and " escaped (noenhanced: no other markup). */
static void gp_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('"', f);
}

static void gp_data(FILE *f, const TrainLog *log, int val, TrainLogField xf)
{
	fprintf(f, "$%s << EOD\n", val ? "val" : "train");
	for (size_t i = 0; i < log->count; i++) {
		const TrainLogRow *r = &log->rows[i];
		if (r->val != val)
			continue;
		double v[5] = { trainlog_value(r, xf), r->loss, r->top1, r->top5, r->lr };
		for (int k = 0; k < 5; k++)
			fprintf(f, k ? " %.9g" : "%.9g", isfinite(v[k]) && (k != 4 || v[k] > 0) ? v[k] : NAN);
		fputc('\n', f);
	}
	fputs("EOD\n", f);
}

static void gp_script(FILE *f, const TrainLog *log, const CurvesOptions *o, const char *title)
{
	TrainLogField xf = o->x_epoch ? LOG_EPOCH : LOG_STEP;
	fprintf(f, "set terminal pngcairo noenhanced size %d,%d font \"sans,10\"\n", o->width, o->height);
	gp_data(f, log, 0, xf);
	gp_data(f, log, 1, xf);
	fputs("set datafile missing NaN\nset grid lc rgb \"#dddddd\"\nset key top right\n", f);
	fprintf(f, "set xlabel \"%s\"\n", o->x_epoch ? "epoch" : "step");
	fputs("set multiplot layout 2,2 title ", f);
	gp_string(f, title);
	fputc('\n', f);
	for (int i = 0; i < 4; i++) {
		const Panel *p = &panels[i];
		int col = 2 + (int)(p->y - LOG_LOSS);
		int nt = series_points(log, p, 0, xf), nv = p->train_only ? 0 : series_points(log, p, 1, xf);
		Axes a = { .log_y = p->log_y };
		data_range(log, p, xf, &a);
		fputs("set title ", f);
		gp_string(f, p->title);
		fprintf(f, "\n%s\n", p->log_y ? "set logscale y; set format y \"1e%T\"" : "unset logscale y; set format y");
		fprintf(f, "set xrange [%.9g:%.9g]\n", a.xmin, a.xmax);
		if (p->log_y)
			fprintf(f, "set yrange [1e%d:1e%d]\n", (int)lround(a.ymin), (int)lround(a.ymax));
		else
			fprintf(f, "set yrange [%.9g:%.9g]\n", a.ymin, a.ymax);
		if (nt + nv == 0) {
			fputs("set label 1 \"no data\" at graph 0.5,0.5 center\nplot 1/0 notitle\nunset label 1\n", f);
			continue;
		}
		fputs("plot ", f);
		if (nt)
			fprintf(f, "$train using 1:%d with lines lw 1.5 lc rgb \"#%06x\" title \"train\"%s", col,
				TRAIN_COLOR, nv ? ", " : "");
		if (nv)
			fprintf(f, "$val using 1:%d with linespoints lw 1.5 pt 7 ps 0.6 lc rgb \"#%06x\" title \"val\"",
				col, VAL_COLOR);
		fputc('\n', f);
	}
	fputs("unset multiplot\n", f);
}

/* Runs gnuplot with script on its input and its output into out (an open file). */
static int run_gnuplot(const char *script, size_t len, FILE *out, const char *what)
{
	int fd[2];
	if (pipe(fd) != 0) {
		warn_errno("%s: pipe", what);
		return -1;
	}
	fflush(out);
	pid_t pid = fork();
	if (pid < 0) {
		warn_errno("%s: fork", what);
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fd[0], 0);
		dup2(fileno(out), 1);
		close(fd[0]);
		close(fd[1]);
		execlp("gnuplot", "gnuplot", (char *)NULL);
		_exit(127);
	}
	close(fd[0]);
	/* gnuplot may stop reading on an error: its status says so, not a SIGPIPE here */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigaction(SIGPIPE, &ign, &old);
	size_t done = 0;
	while (done < len) {
		ssize_t k = write(fd[1], script + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	close(fd[1]);
	sigaction(SIGPIPE, &old, NULL);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			warn_errno("%s: waiting for gnuplot", what);
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && done == len)
		return 0;
	if (WIFEXITED(status))
		warn_msg("%s: gnuplot failed (exit status %d)", what, WEXITSTATUS(status));
	else
		warn_msg("%s: gnuplot was killed by signal %d", what, WTERMSIG(status));
	return -1;
}

static int plot_gnuplot(const TrainLog *log, const CurvesOptions *o, const char *title, const char *out)
{
	char *script = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&script, &len);
	if (!mem)
		die("out of memory");
	gp_script(mem, log, o, title);
	if (fclose(mem) != 0)
		die("out of memory");
	AtomicFile af;
	int rc = -1;
	if (atomic_open(&af, out) == 0) {
		rc = run_gnuplot(script, len, af.f, out);
		struct stat st;
		if (rc == 0 && (fstat(fileno(af.f), &st) != 0 || (S_ISREG(st.st_mode) && st.st_size < 8))) {
			warn_msg("%s: gnuplot wrote no picture", out);
			rc = -1;
		}
		/* gnuplot wrote through its own descriptor; ours only syncs and renames */
		if (rc == 0)
			fseek(af.f, 0, SEEK_END);
		rc = rc == 0 ? atomic_commit(&af) : (atomic_abort(&af), -1);
	}
	free(script);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* cairo */

static void tick_label(double v, char *buf, size_t len)
{
	if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-3))
		snprintf(buf, len, "%.0e", v);
	else
		snprintf(buf, len, "%g", fabs(v) < 1e-12 ? 0.0 : v);
}

static void draw_axes(Canvas *cv, const Axes *a, const char *title, const char *xlabel)
{
	cairo_t *cr = cv->cr;
	TextStyle ts = { .size = 10, .color = rgb_hex(0x404040) };
	cairo_set_line_width(cr, 1);
	/* horizontal grid and y ticks */
	double ystep = a->log_y ? 1 : nice_step(a->ymax - a->ymin, 5);
	for (double v = a->ymin; v <= a->ymax + ystep * 1e-6; v += ystep) {
		double y = a->y + a->h - (v - a->ymin) / (a->ymax - a->ymin) * a->h;
		canvas_fill(cv, a->x, floor(y), a->w, 1, rgb_hex(0xDDDDDD));
		char lab[32];
		if (a->log_y)
			snprintf(lab, sizeof lab, "1e%d", (int)lround(v));
		else
			tick_label(v, lab, sizeof lab);
		ts.align = ALIGN_RIGHT;
		canvas_text(cv, a->x - 6, y + 4, &ts, lab);
	}
	double xstep = nice_step(a->xmax - a->xmin, 6);
	for (double v = ceil(a->xmin / xstep) * xstep; v <= a->xmax + xstep * 1e-6; v += xstep) {
		double x = map_x(a, v);
		canvas_fill(cv, floor(x), a->y, 1, a->h, rgb_hex(0xDDDDDD));
		char lab[32];
		tick_label(v, lab, sizeof lab);
		ts.align = ALIGN_CENTRE;
		canvas_text(cv, x, a->y + a->h + 15, &ts, lab);
	}
	cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
	cairo_rectangle(cr, a->x + 0.5, a->y + 0.5, a->w, a->h);
	cairo_stroke(cr);
	TextStyle tt = { .size = 12, .bold = 1, .align = ALIGN_CENTRE, .color = rgb_hex(VIZ_INK) };
	canvas_text(cv, a->x + a->w / 2, a->y - 8, &tt, title);
	ts.align = ALIGN_CENTRE;
	canvas_text(cv, a->x + a->w / 2, a->y + a->h + 32, &ts, xlabel);
}

static void draw_series(Canvas *cv, const Axes *a, const TrainLog *log, const Panel *p, int val, TrainLogField xf)
{
	cairo_t *cr = cv->cr;
	Rgb c = rgb_hex(val ? VAL_COLOR : TRAIN_COLOR);
	cairo_save(cr);
	cairo_rectangle(cr, a->x, a->y, a->w + 1, a->h + 1);
	cairo_clip(cr);
	cairo_set_source_rgb(cr, c.r, c.g, c.b);
	cairo_set_line_width(cr, 1.5);
	cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
	int pen = 0;
	for (size_t i = 0; i < log->count; i++) {
		const TrainLogRow *r = &log->rows[i];
		if (r->val != val)
			continue;
		double x = trainlog_value(r, xf), y = trainlog_value(r, p->y);
		if (!isfinite(x) || !usable(y, p->log_y)) {
			pen = 0; /* a gap where a value is missing */
			continue;
		}
		if (pen)
			cairo_line_to(cr, map_x(a, x), map_y(a, y));
		else
			cairo_move_to(cr, map_x(a, x), map_y(a, y));
		pen = 1;
	}
	cairo_stroke(cr);
	if (val) /* validation points are few: mark each */
		for (size_t i = 0; i < log->count; i++) {
			const TrainLogRow *r = &log->rows[i];
			double x = trainlog_value(r, xf), y = trainlog_value(r, p->y);
			if (r->val && isfinite(x) && usable(y, p->log_y)) {
				cairo_new_sub_path(cr);
				cairo_arc(cr, map_x(a, x), map_y(a, y), 2.5, 0, 2 * M_PI);
			}
		}
	cairo_fill(cr);
	cairo_restore(cr);
}

static void draw_legend(Canvas *cv, const Axes *a, int train, int val)
{
	TextStyle ts = { .size = 10, .color = rgb_hex(VIZ_INK) };
	double x = a->x + a->w - 70, y = a->y + 8;
	canvas_fill(cv, x - 6, y - 4, 72, 8 + 14.0 * (train + val), rgb_hex(0xFFFFFF));
	for (int k = 0; k < 2; k++) {
		if (!(k ? val : train))
			continue;
		canvas_fill(cv, x, y + 5, 18, 2, rgb_hex(k ? VAL_COLOR : TRAIN_COLOR));
		canvas_text(cv, x + 24, y + 10, &ts, k ? "val" : "train");
		y += 14;
	}
}

static int plot_cairo(const TrainLog *log, const CurvesOptions *o, const char *title, const char *out)
{
	Canvas cv;
	if (canvas_init(&cv, o->width, o->height, rgb_hex(0xFFFFFF)) != 0)
		return -1;
	TrainLogField xf = o->x_epoch ? LOG_EPOCH : LOG_STEP;
	TextStyle ts = { .size = 13, .bold = 1, .align = ALIGN_CENTRE, .color = rgb_hex(VIZ_INK),
			 .max_width = o->width - 20.0 };
	canvas_text(&cv, o->width / 2.0, 20, &ts, title);
	double pw = o->width / 2.0, ph = (o->height - 30) / 2.0;
	for (int i = 0; i < 4; i++) {
		const Panel *p = &panels[i];
		Axes a = { .x = (i % 2) * pw + 70, .y = 30 + (i / 2) * ph + 30, .w = pw - 95, .h = ph - 80, .log_y = p->log_y };
		data_range(log, p, xf, &a);
		draw_axes(&cv, &a, p->title, o->x_epoch ? "epoch" : "step");
		int nt = series_points(log, p, 0, xf), nv = p->train_only ? 0 : series_points(log, p, 1, xf);
		if (nt + nv == 0) {
			TextStyle ns = { .size = 12, .align = ALIGN_CENTRE, .color = rgb_hex(0x808080) };
			canvas_text(&cv, a.x + a.w / 2, a.y + a.h / 2, &ns, "no data");
			continue;
		}
		if (nt)
			draw_series(&cv, &a, log, p, 0, xf);
		if (nv)
			draw_series(&cv, &a, log, p, 1, xf);
		draw_legend(&cv, &a, nt > 0, nv > 0);
	}
	int rc = canvas_write_png(&cv, out);
	canvas_free(&cv);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */

int plotter_parse(const char *s, Plotter *p)
{
	if (strcmp(s, "auto") == 0)
		*p = PLOT_AUTO;
	else if (strcmp(s, "gnuplot") == 0)
		*p = PLOT_GNUPLOT;
	else if (strcmp(s, "cairo") == 0)
		*p = PLOT_CAIRO;
	else
		return -1;
	return 0;
}

int viz_curves(const TrainLog *log, const CurvesOptions *o, const char *name, const char *out)
{
	char title[512];
	summary_title(log, name, title, sizeof title);
	Plotter p = o->plotter;
	if (p == PLOT_AUTO)
		p = on_path("gnuplot") ? PLOT_GNUPLOT : PLOT_CAIRO;
	else if (p == PLOT_GNUPLOT && !on_path("gnuplot")) {
		warn_msg("%s: gnuplot is not installed (not on the PATH); try --plotter cairo", out);
		return -1;
	}
	if (p == PLOT_GNUPLOT) {
		if (plot_gnuplot(log, o, title, out) == 0)
			return 0;
		if (o->plotter == PLOT_GNUPLOT)
			return -1;
		warn_msg("%s: drawing with cairo instead", out);
	}
	return plot_cairo(log, o, title, out);
}
