/* trainlog.c: reads anet-train's TSV log (--log) for the training curves.
 *
 * The log has a header row naming its columns; these are looked up by name, so columns may
 * come in any order and later anet versions may add more: step, epoch, kind (train or val),
 * loss, top1, top5 (error rates 0..1), lr, and optionally img_per_s, data_wait, elapsed. A
 * value may be missing ("", "-", "nan": a validation row has no learning rate of its own).
 * Anything else is an error naming the file, line and column. Lines starting with '#' are
 * comments.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "libcommon/opt.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

#define TRAINLOG_MAX_BYTES (1ull << 30)
#define MAX_COLUMNS 64

enum { C_STEP, C_EPOCH, C_KIND, C_LOSS, C_TOP1, C_TOP5, C_LR, C_RATE, C_WAIT, C_ELAPSED, C_COUNT };
static const char *const column_names[C_COUNT] = { "step", "epoch", "kind", "loss", "top1",
						   "top5", "lr", "img_per_s", "data_wait", "elapsed" };
static const int column_required[C_COUNT] = { 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 };

/* Splits line at tabs in place; returns the number of fields (at most max). */
static int split_tabs(char *line, char **field, int max)
{
	int n = 0;
	for (char *p = line;; p++) {
		if (n == max)
			return max + 1;
		field[n++] = p;
		p = strchr(p, '\t');
		if (!p)
			return n;
		*p = '\0';
	}
}

/* Also "inf": a diverged run's loss is shown as a gap rather than refused. */
static int missing_value(const char *s)
{
	if (*s == '+' || *s == '-')
		s += s[1] != '\0';
	return s[0] == '\0' || strcmp(s, "-") == 0 || strcasecmp(s, "nan") == 0 || strcasecmp(s, "inf") == 0 ||
	       strcasecmp(s, "infinity") == 0;
}

typedef struct {
	const char *path;
	int line;
} Where;

static int bad(const Where *w, const char *fmt, ...) ANET_PRINTF(2, 3);
static int bad(const Where *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warn_msg("%s:%d: %s", w->path, w->line, msg);
	return -1;
}

static int parse_header(const Where *w, char *line, int *col, int *ncol)
{
	char *field[MAX_COLUMNS + 1];
	*ncol = split_tabs(line, field, MAX_COLUMNS);
	if (*ncol > MAX_COLUMNS)
		return bad(w, "more than %d columns: not an anet-train log", MAX_COLUMNS);
	for (int c = 0; c < C_COUNT; c++) {
		col[c] = -1;
		for (int i = 0; i < *ncol; i++)
			if (strcmp(field[i], column_names[c]) == 0)
				col[c] = i;
		if (col[c] < 0 && column_required[c])
			return bad(w, "the header has no '%s' column: not an anet-train log (its first line names the "
				      "columns: step, epoch, kind, loss, top1, top5, lr, ...)",
				   column_names[c]);
	}
	return 0;
}

static int parse_value(const Where *w, const char *name, const char *s, double lo, double hi, double *v)
{
	if (missing_value(s)) {
		*v = NAN;
		return 0;
	}
	if (parse_double(s, lo, hi, v) != 0)
		return bad(w, "%s: '%s' is not a number in %g..%g", name, s, lo, hi);
	return 0;
}

static int parse_row(const Where *w, char *line, const int *col, int ncol, TrainLogRow *r)
{
	char *field[MAX_COLUMNS + 1];
	int n = split_tabs(line, field, MAX_COLUMNS);
	if (n != ncol)
		return bad(w, "%d fields, the header has %d", n, ncol);
	const char *kind = field[col[C_KIND]];
	if (strcmp(kind, "train") == 0)
		r->val = 0;
	else if (strcmp(kind, "val") == 0)
		r->val = 1;
	else
		return bad(w, "kind '%s' is neither train nor val", kind);
	double step = 0;
	if (parse_value(w, "step", field[col[C_STEP]], 0, 9e15, &step) != 0)
		return -1;
	if (isnan(step))
		return bad(w, "step is missing");
	r->step = (int64_t)step;
	double *dst[C_COUNT] = { NULL, &r->epoch, NULL, &r->loss, &r->top1, &r->top5, &r->lr,
				 &r->img_per_s, &r->data_wait, &r->elapsed };
	static const double hi[C_COUNT] = { 0, 1e9, 0, 1e30, 1, 1, 1e30, 1e30, 1e30, 1e30 };
	for (int c = 0; c < C_COUNT; c++) {
		if (!dst[c])
			continue;
		*dst[c] = NAN;
		if (col[c] >= 0 && parse_value(w, column_names[c], field[col[c]], 0, hi[c], dst[c]) != 0)
			return -1;
	}
	return 0;
}

int trainlog_load(const char *path, TrainLog *log)
{
	memset(log, 0, sizeof *log);
	size_t len;
	char *text = read_file(path, &len, TRAINLOG_MAX_BYTES);
	if (!text)
		return -1;
	Where w = { path, 0 };
	int col[C_COUNT], ncol = 0, have_header = 0, rc = 0;
	size_t cap = 0;
	if (memchr(text, '\0', len)) {
		warn_msg("%s: holds NUL bytes: not a text log", path);
		rc = -1;
	}
	for (char *p = text, *next; rc == 0 && p < text + len; p = next) {
		char *nl = strchr(p, '\n');
		next = nl ? nl + 1 : text + len;
		if (nl)
			*nl = '\0';
		size_t n = strlen(p);
		if (n && p[n - 1] == '\r')
			p[--n] = '\0';
		w.line++;
		if (n == 0 || p[0] == '#')
			continue;
		if (!have_header) {
			rc = parse_header(&w, p, col, &ncol);
			have_header = 1;
			continue;
		}
		if (log->count == cap)
			log->rows = xreallocarray(log->rows, cap = cap ? 2 * cap : 256, sizeof *log->rows);
		rc = parse_row(&w, p, col, ncol, &log->rows[log->count]);
		log->count += rc == 0;
	}
	if (rc == 0 && log->count == 0) {
		warn_msg("%s: %s", path, have_header ? "no rows after the header (has training started?)"
						     : "empty: not an anet-train log");
		rc = -1;
	}
	free(text);
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
