/* plot.c: line plots in panels (the training curves, the layers' health), drawn by gnuplot or
 * by cairo.
 *
 * A PlotFigure is a grid of panels, each a set of series of (x, y) points; a point whose x or
 * y is not finite (or whose y is not above 0 on a log axis) is a gap in its line. Both
 * plotters draw the same panels on the same axes (data_range below). gnuplot (its pngcairo
 * terminal) when it is installed: its script and data go down a pipe, its PNG comes back on
 * its standard output straight into our AtomicFile, so nothing is left in temporary files.
 * Otherwise cairo itself: axes, "nice" ticks (1, 2 or 5 times a power of ten), decades on a
 * log axis, a legend, a labelled reference line, all text through cairo. The choice:
 * PLOT_AUTO takes gnuplot when it is on the PATH (and falls back to cairo, saying so, if it
 * fails).
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

#define LEGEND_TEXT 10    /* pixels */
#define LEGEND_MIN_W 72   /* the legend box inside a panel, at its narrowest */
#define REF_COLOR 0x606060u

PlotSeries *plot_panel_series(PlotPanel *p, const char *name, uint32_t color, PlotMarks marks)
{
	p->series = xreallocarray(p->series, (size_t)p->nseries + 1, sizeof *p->series);
	PlotSeries *s = &p->series[p->nseries++];
	*s = (PlotSeries){ .name = name, .color = color, .marks = marks };
	return s;
}

void plot_series_add(PlotSeries *s, double x, double y)
{
	if (s->count == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->x = xreallocarray(s->x, s->cap, sizeof *s->x);
		s->y = xreallocarray(s->y, s->cap, sizeof *s->y);
	}
	s->x[s->count] = x;
	s->y[s->count++] = y;
}

void plot_figure_free(PlotFigure *f)
{
	for (int i = 0; i < f->npanels; i++) {
		PlotPanel *p = &f->panels[i];
		for (int k = 0; k < p->nseries; k++) {
			free(p->series[k].x);
			free(p->series[k].y);
		}
		free(p->series);
		p->series = NULL;
		p->nseries = 0;
	}
}

static int usable(double v, int log_y)
{
	return isfinite(v) && (!log_y || v > 0);
}

static int point_usable(const PlotPanel *p, const PlotSeries *s, size_t i)
{
	return isfinite(s->x[i]) && usable(s->y[i], p->log_y);
}

/* Whether point i gets a dot. */
static int marked(const PlotPanel *p, const PlotSeries *s, size_t i)
{
	if (s->marks == MARK_NONE || !point_usable(p, s, i))
		return 0;
	return s->marks == MARK_ALL ||
	       ((i == 0 || !point_usable(p, s, i - 1)) && (i + 1 == s->count || !point_usable(p, s, i + 1)));
}

static int lone_points(const PlotPanel *p, const PlotSeries *s)
{
	int n = 0;
	for (size_t i = 0; s->marks == MARK_LONE && i < s->count; i++)
		n += marked(p, s, i);
	return n;
}

/* Points a series draws. */
static int series_points(const PlotPanel *p, const PlotSeries *s)
{
	int n = 0;
	for (size_t i = 0; i < s->count; i++)
		n += point_usable(p, s, i);
	return n;
}

static int panel_points(const PlotPanel *p)
{
	int n = 0;
	for (int k = 0; k < p->nseries; k++)
		n += series_points(p, &p->series[k]);
	return n;
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

static int has_fixed_y(const PlotPanel *p) { return !p->log_y && p->ylo < p->yhi; }

static void data_range(const PlotPanel *p, Axes *a)
{
	a->xmin = a->ymin = INFINITY;
	a->xmax = a->ymax = -INFINITY;
	for (int k = 0; k < p->nseries; k++) {
		const PlotSeries *s = &p->series[k];
		for (size_t i = 0; i < s->count; i++) {
			if (!point_usable(p, s, i))
				continue;
			double y = p->log_y ? log10(s->y[i]) : s->y[i];
			a->xmin = fmin(a->xmin, s->x[i]);
			a->xmax = fmax(a->xmax, s->x[i]);
			a->ymin = fmin(a->ymin, y);
			a->ymax = fmax(a->ymax, y);
		}
	}
	if (!isfinite(a->xmin)) { /* no data */
		a->xmin = a->ymin = 0;
		a->xmax = a->ymax = 1;
	} else if (p->ref_label && usable(p->ref_y, p->log_y)) { /* the reference line is always in view */
		double y = p->log_y ? log10(p->ref_y) : p->ref_y;
		a->ymin = fmin(a->ymin, y);
		a->ymax = fmax(a->ymax, y);
	}
	if (a->xmax <= a->xmin)
		a->xmax = a->xmin + 1;
	if (a->xmin > 0 && a->xmin <= (a->xmax - a->xmin) / 4)
		a->xmin = 0; /* a log's first row comes after some steps: start the axis at 0 */
	double xs = nice_step(a->xmax - a->xmin, 6);
	a->xmax = ceil(a->xmax / xs - 1e-9) * xs;
	if (has_fixed_y(p)) { /* with a margin, so that a line at either end is not on the frame */
		double m = 0.03 * (p->yhi - p->ylo);
		a->ymin = p->ylo - m;
		a->ymax = p->yhi + m;
		return;
	}
	if (p->log_y) { /* whole decades, with a margin so that a rate of 0.01 is not on the frame */
		a->ymin = floor(a->ymin - 0.05);
		a->ymax = ceil(a->ymax + 0.05);
		if (a->ymax <= a->ymin)
			a->ymax = a->ymin + 1;
		return;
	}
	if (a->ymax <= a->ymin && p->nonneg) { /* a flat error rate (all 0 with few classes) */
		a->ymin = 0;
		a->ymax = a->ymax > 0 ? a->ymax * 1.25 : 1;
	} else if (a->ymax <= a->ymin) {
		a->ymin -= 0.5;
		a->ymax += 0.5;
	}
	double st = nice_step(a->ymax - a->ymin, 5);
	a->ymin = floor(a->ymin / st) * st;
	a->ymax = ceil(a->ymax / st) * st;
	if (p->nonneg && a->ymin < 0)
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

/* A gnuplot string in single quotes (noenhanced: no markup), where nothing is special but
 * the quote itself, doubled: in double quotes gnuplot would run `backquoted` text as a shell
 * command, and titles carry file names and the layer names a log file holds. */
static void gp_string(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('\'', f);
}

/* Series k of panel i as the datablock $s<i>_<k>: x and y a line, NaN for a gap; its lone
 * points (MARK_LONE) also as $l<i>_<k>, which gets a dot each. */
static void gp_data(FILE *f, const PlotPanel *p, int i, int k)
{
	const PlotSeries *s = &p->series[k];
	fprintf(f, "$s%d_%d << EOD\n", i, k);
	for (size_t j = 0; j < s->count; j++)
		fprintf(f, "%.9g %.9g\n", isfinite(s->x[j]) ? s->x[j] : NAN, usable(s->y[j], p->log_y) ? s->y[j] : NAN);
	fputs("EOD\n", f);
	if (!lone_points(p, s))
		return;
	fprintf(f, "$l%d_%d << EOD\n", i, k);
	for (size_t j = 0; j < s->count; j++)
		if (marked(p, s, j))
			fprintf(f, "%.9g %.9g\n", s->x[j], s->y[j]);
	fputs("EOD\n", f);
}

static void gp_script(FILE *f, const PlotFigure *fig)
{
	fprintf(f, "set terminal pngcairo noenhanced size %d,%d font \"sans,10\"\n", fig->width, fig->height);
	for (int i = 0; i < fig->npanels; i++)
		for (int k = 0; k < fig->panels[i].nseries; k++)
			if (series_points(&fig->panels[i], &fig->panels[i].series[k]))
				gp_data(f, &fig->panels[i], i, k);
	fprintf(f, "set datafile missing NaN\nset grid lc rgb \"#dddddd\"\nset key %s\n",
		fig->legend_outside ? "outside right top" : "top right");
	fputs("set xlabel ", f);
	gp_string(f, fig->xlabel);
	fprintf(f, "\nset multiplot layout %d,%d title ", fig->rows, fig->columns);
	gp_string(f, fig->title);
	fputc('\n', f);
	for (int i = 0; i < fig->npanels; i++) {
		const PlotPanel *p = &fig->panels[i];
		Axes a = { .log_y = p->log_y };
		data_range(p, &a);
		fputs("set title ", f);
		gp_string(f, p->title);
		fprintf(f, "\n%s\n", p->log_y ? "set logscale y; set format y \"1e%T\"" : "unset logscale y; set format y");
		fprintf(f, "set xrange [%.9g:%.9g]\n", a.xmin, a.xmax);
		if (p->log_y)
			fprintf(f, "set yrange [1e%d:1e%d]\n", (int)lround(a.ymin), (int)lround(a.ymax));
		else
			fprintf(f, "set yrange [%.9g:%.9g]\n", a.ymin, a.ymax);
		if (panel_points(p) == 0) {
			fputs("set label 1 \"no data\" at graph 0.5,0.5 center\nplot 1/0 notitle\nunset label 1\n", f);
			continue;
		}
		int ref = p->ref_label && usable(p->ref_y, p->log_y);
		if (ref) {
			fprintf(f, "set arrow 1 from graph 0, first %.9g to graph 1, first %.9g nohead dt 2 lw 1.2 "
				   "lc rgb \"#%06x\" front\n",
				p->ref_y, p->ref_y, REF_COLOR);
			fputs("set label 2 ", f);
			gp_string(f, p->ref_label);
			fprintf(f, " at graph 0.01, first %.9g offset 0,0.7 tc rgb \"#%06x\" front\n", p->ref_y, REF_COLOR);
		}
		fputs("plot ", f);
		const char *sep = "";
		for (int k = 0; k < p->nseries; k++) {
			const PlotSeries *s = &p->series[k];
			if (!series_points(p, s))
				continue;
			int all = s->marks == MARK_ALL;
			fprintf(f, "%s$s%d_%d using 1:2 with %s lw 1.5 %slc rgb \"#%06x\" title ", sep, i, k,
				all ? "linespoints" : "lines", all ? "pt 7 ps 0.6 " : "", s->color);
			gp_string(f, s->name);
			if (lone_points(p, s))
				fprintf(f, ", $l%d_%d using 1:2 with points pt 7 ps 0.6 lc rgb \"#%06x\" notitle", i, k,
					s->color);
			sep = ", ";
		}
		fputc('\n', f);
		if (ref)
			fputs("unset arrow 1\nunset label 2\n", f);
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

static int plot_gnuplot(const PlotFigure *fig, const char *out)
{
	char *script = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&script, &len);
	if (!mem)
		die("out of memory");
	gp_script(mem, fig);
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
	/* horizontal grid and y ticks (from the first multiple of the step: a fixed range has a
	 * margin below its low end) */
	double ystep = a->log_y ? 1 : nice_step(a->ymax - a->ymin, 5);
	for (double v = ceil(a->ymin / ystep - 1e-9) * ystep; v <= a->ymax + ystep * 1e-6; v += ystep) {
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

static void draw_reference(Canvas *cv, const Axes *a, const PlotPanel *p)
{
	cairo_t *cr = cv->cr;
	Rgb c = rgb_hex(REF_COLOR);
	double y = floor(map_y(a, p->ref_y)) + 0.5;
	static const double dash[] = { 6, 4 };
	cairo_save(cr);
	cairo_set_source_rgb(cr, c.r, c.g, c.b);
	cairo_set_line_width(cr, 1.2);
	cairo_set_dash(cr, dash, 2, 0);
	cairo_move_to(cr, a->x, y);
	cairo_line_to(cr, a->x + a->w, y);
	cairo_stroke(cr);
	cairo_restore(cr);
	TextStyle ts = { .size = 10, .color = c };
	canvas_text(cv, a->x + 6, y - 4, &ts, p->ref_label);
}

static void draw_series(Canvas *cv, const Axes *a, const PlotPanel *p, const PlotSeries *s)
{
	cairo_t *cr = cv->cr;
	Rgb c = rgb_hex(s->color);
	cairo_save(cr);
	cairo_rectangle(cr, a->x, a->y, a->w + 1, a->h + 1);
	cairo_clip(cr);
	cairo_set_source_rgb(cr, c.r, c.g, c.b);
	cairo_set_line_width(cr, 1.5);
	cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
	int pen = 0;
	for (size_t i = 0; i < s->count; i++) {
		if (!point_usable(p, s, i)) {
			pen = 0; /* a gap where a value is missing */
			continue;
		}
		if (pen)
			cairo_line_to(cr, map_x(a, s->x[i]), map_y(a, s->y[i]));
		else
			cairo_move_to(cr, map_x(a, s->x[i]), map_y(a, s->y[i]));
		pen = 1;
	}
	cairo_stroke(cr);
	for (size_t i = 0; i < s->count; i++)
		if (marked(p, s, i)) {
			cairo_new_sub_path(cr);
			cairo_arc(cr, map_x(a, s->x[i]), map_y(a, s->y[i]), 2.5, 0, 2 * M_PI);
		}
	cairo_fill(cr);
	cairo_restore(cr);
}

/* The width of the legend's text: its longest name. */
static double legend_text_width(Canvas *cv, const PlotFigure *fig)
{
	double w = 0;
	for (int i = 0; i < fig->npanels; i++)
		for (int k = 0; k < fig->panels[i].nseries; k++)
			w = fmax(w, canvas_text_width(cv, LEGEND_TEXT, 0, fig->panels[i].series[k].name));
	return w;
}

/* The series that draw, a line of colour and the name each, in a white box whose left end is
 * at x (or, with x NAN, whose right end is at the panel's). */
static void draw_legend(Canvas *cv, const Axes *a, const PlotPanel *p, double x, double text_w)
{
	TextStyle ts = { .size = LEGEND_TEXT, .color = rgb_hex(VIZ_INK) };
	double box_w = fmax(LEGEND_MIN_W, 36 + text_w), y = a->y + 8;
	if (isnan(x))
		x = a->x + a->w - box_w + 2;
	else
		x += 6;
	int n = 0;
	for (int k = 0; k < p->nseries; k++)
		n += series_points(p, &p->series[k]) > 0;
	canvas_fill(cv, x - 6, y - 4, box_w, 8 + 14.0 * n, rgb_hex(0xFFFFFF));
	for (int k = 0; k < p->nseries; k++) {
		const PlotSeries *s = &p->series[k];
		if (!series_points(p, s))
			continue;
		canvas_fill(cv, x, y + 5, 18, 2, rgb_hex(s->color));
		canvas_text(cv, x + 24, y + 10, &ts, s->name);
		y += 14;
	}
}

static int plot_cairo(const PlotFigure *fig, const char *out)
{
	Canvas cv;
	if (canvas_init(&cv, fig->width, fig->height, rgb_hex(0xFFFFFF)) != 0)
		return -1;
	TextStyle ts = { .size = 13, .bold = 1, .align = ALIGN_CENTRE, .color = rgb_hex(VIZ_INK),
			 .max_width = fig->width - 20.0 };
	canvas_text(&cv, fig->width / 2.0, 20, &ts, fig->title);
	double text_w = legend_text_width(&cv, fig);
	/* an outside legend takes its box and a gap from the panel's width */
	double legend_w = fig->legend_outside ? fmax(LEGEND_MIN_W, 36 + text_w) + 12 : 0;
	double pw = (double)fig->width / fig->columns, ph = (fig->height - 30.0) / fig->rows;
	for (int i = 0; i < fig->npanels; i++) {
		const PlotPanel *p = &fig->panels[i];
		int row = i / fig->columns, col = i % fig->columns;
		Axes a = { .x = col * pw + 70, .y = 30 + row * ph + 30, .w = pw - 95 - legend_w, .h = ph - 80,
			   .log_y = p->log_y };
		data_range(p, &a);
		draw_axes(&cv, &a, p->title, fig->xlabel);
		if (panel_points(p) == 0) {
			TextStyle ns = { .size = 12, .align = ALIGN_CENTRE, .color = rgb_hex(0x808080) };
			canvas_text(&cv, a.x + a.w / 2, a.y + a.h / 2, &ns, "no data");
			continue;
		}
		if (p->ref_label && usable(p->ref_y, p->log_y))
			draw_reference(&cv, &a, p);
		for (int k = 0; k < p->nseries; k++)
			if (series_points(p, &p->series[k]))
				draw_series(&cv, &a, p, &p->series[k]);
		draw_legend(&cv, &a, p, fig->legend_outside ? a.x + a.w + 12 : NAN, text_w);
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

int plot_draw(const PlotFigure *fig, Plotter plotter, const char *out)
{
	Plotter p = plotter;
	if (p == PLOT_AUTO)
		p = on_path("gnuplot") ? PLOT_GNUPLOT : PLOT_CAIRO;
	else if (p == PLOT_GNUPLOT && !on_path("gnuplot")) {
		warn_msg("%s: gnuplot is not installed (not on the PATH); try --plotter cairo", out);
		return -1;
	}
	if (p == PLOT_GNUPLOT) {
		if (plot_gnuplot(fig, out) == 0)
			return 0;
		if (plotter == PLOT_GNUPLOT)
			return -1;
		warn_msg("%s: drawing with cairo instead", out);
	}
	return plot_cairo(fig, out);
}
