/* progress.c: progress bar on a terminal, periodic plain lines otherwise (see progress.h). */
#include "libcommon/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/util.h"

struct Progress {
	char *what, *unit;
	uint64_t total;
	int tty;
	double start, last_draw, interval;
	int drawn; /* an in-place line is on screen */
};

char *format_duration(char *buf, int len, double s)
{
	if (s < 0 || s > 1e9)
		s = 0;
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, (size_t)len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, (size_t)len, "%ld:%02ld", t / 60, t % 60);
	return buf;
}

Progress *progress_start(const char *what, uint64_t total, const char *unit)
{
	Progress *p = xcalloc(1, sizeof *p);
	p->what = xstrdup(what);
	p->unit = xstrdup(unit ? unit : "");
	p->total = total;
	p->tty = isatty(STDERR_FILENO);
	p->start = p->last_draw = now_seconds();
	p->interval = p->tty ? 0.1 : 10;
	const char *env = getenv("ANET_PROGRESS_INTERVAL");
	if (env && !p->tty) {
		double v = atof(env);
		if (v > 0)
			p->interval = v;
	}
	return p;
}

double progress_elapsed(const Progress *p) { return now_seconds() - p->start; }

static void draw(Progress *p, uint64_t done, const char *extra, int final)
{
	double t = now_seconds() - p->start;
	double rate = t > 0 ? (double)done / t : 0;
	char line[512], eta[32], el[32];
	int n = 0;
	n += snprintf(line + n, sizeof line - (size_t)n, "%s", p->what);
	if (p->total && p->tty) {
		int width = 24, fill = (int)((double)width * (double)done / (double)p->total);
		if (fill > width)
			fill = width;
		n += snprintf(line + n, sizeof line - (size_t)n, " [%.*s%.*s]", fill,
			      "########################", width - fill, "........................");
	}
	if (p->total)
		n += snprintf(line + n, sizeof line - (size_t)n, " %3.0f%% %llu/%llu %s",
			      100.0 * (double)done / (double)p->total, (unsigned long long)done,
			      (unsigned long long)p->total, p->unit);
	else
		n += snprintf(line + n, sizeof line - (size_t)n, " %llu %s", (unsigned long long)done, p->unit);
	n += snprintf(line + n, sizeof line - (size_t)n, ", %.1f %s/s", rate, p->unit);
	if (final)
		n += snprintf(line + n, sizeof line - (size_t)n, ", %s", format_duration(el, sizeof el, t));
	else if (p->total && rate > 0 && done <= p->total)
		n += snprintf(line + n, sizeof line - (size_t)n, ", ETA %s",
			      format_duration(eta, sizeof eta, (double)(p->total - done) / rate));
	if (extra && *extra && n < (int)sizeof line)
		snprintf(line + n, sizeof line - (size_t)n, ", %s", extra);
	if (p->tty)
		fprintf(stderr, "\r%s: %s\033[K%s", progname(), line, final ? "\n" : "");
	else
		fprintf(stderr, "%s: %s\n", progname(), line);
	fflush(stderr);
	p->drawn = p->tty && !final;
}

void progress_update(Progress *p, uint64_t done, const char *extra)
{
	double t = now_seconds();
	if (t - p->last_draw < p->interval)
		return;
	p->last_draw = t;
	draw(p, done, extra, 0);
}

void progress_clear(Progress *p)
{
	if (p->drawn) {
		fprintf(stderr, "\r\033[K");
		p->drawn = 0;
		p->last_draw = 0; /* redraw at the next update */
	}
}

void progress_end(Progress *p, uint64_t done, const char *extra)
{
	draw(p, done, extra, 1);
	free(p->what);
	free(p->unit);
	free(p);
}
