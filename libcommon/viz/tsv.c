/* tsv.c: the tab-separated logs anet-train writes (--log, --health), read for anet-viz's plots.
 *
 * A log has a header row naming its columns; these are looked up by name, so columns may come
 * in any order and later anet versions may add more. Lines starting with '#' and empty lines
 * are skipped, a CR before the newline is dropped. The caller's row function gets each row's
 * fields of the columns it asked for, and checks them: a value may be missing ("", "-",
 * "nan", and "inf": a diverged run's loss is shown as a gap rather than refused), anything
 * else that is not a number in range is an error naming the file, line and column. A last
 * line without its newline and short of fields is a row still being written (a log read while
 * anet-train runs) or cut short (a full disk, a killed run): left out, with a note.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "libcommon/opt.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

#define TSV_MAX_BYTES (1ull << 30)
#define MAX_COLUMNS 64

/* Splits line at tabs in place; returns the number of fields (max + 1: more than max). */
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

int tsv_missing(const char *s)
{
	if (*s == '+' || *s == '-')
		s += s[1] != '\0';
	return s[0] == '\0' || strcmp(s, "-") == 0 || strcasecmp(s, "nan") == 0 || strcasecmp(s, "inf") == 0 ||
	       strcasecmp(s, "infinity") == 0;
}

int tsv_bad(const TsvWhere *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warn_msg("%s:%d: %s", w->path, w->line, msg);
	return -1;
}

int tsv_number(const TsvWhere *w, const char *name, const char *s, double lo, double hi, double *v)
{
	if (tsv_missing(s)) {
		*v = NAN;
		return 0;
	}
	if (parse_double(s, lo, hi, v) != 0)
		return tsv_bad(w, "%s: '%s' is not a number in %g..%g", name, s, lo, hi);
	return 0;
}

/* col[c]: the header's index of the format's column c, -1 where it has none. */
static int parse_header(const TsvWhere *w, const TsvFormat *fmt, char *line, int *col, int *ncol)
{
	char *field[MAX_COLUMNS + 1];
	*ncol = split_tabs(line, field, MAX_COLUMNS);
	if (*ncol > MAX_COLUMNS)
		return tsv_bad(w, "more than %d columns: not %s", MAX_COLUMNS, fmt->what);
	for (int c = 0; c < fmt->ncolumns; c++) {
		col[c] = -1;
		for (int i = 0; i < *ncol; i++)
			if (strcmp(field[i], fmt->columns[c]) == 0)
				col[c] = i;
		if (col[c] < 0 && fmt->required[c])
			return tsv_bad(w, "the header has no '%s' column: not %s (its first line names the columns: %s)",
				       fmt->columns[c], fmt->what, fmt->columns_hint);
	}
	return 0;
}

static int parse_row(const TsvWhere *w, const TsvFormat *fmt, char *line, const int *col, int ncol, TsvRow row,
		     void *ctx)
{
	char *field[MAX_COLUMNS + 1];
	const char *mine[MAX_COLUMNS];
	int n = split_tabs(line, field, MAX_COLUMNS);
	if (n != ncol)
		return tsv_bad(w, "%d fields, the header has %d", n, ncol);
	for (int c = 0; c < fmt->ncolumns; c++)
		mine[c] = col[c] >= 0 ? field[col[c]] : NULL;
	return row(ctx, w, mine);
}

int tsv_read(const char *path, const TsvFormat *fmt, TsvRow row, void *ctx)
{
	if (fmt->ncolumns > MAX_COLUMNS) {
		warn_msg("%s: reading %d columns, at most %d", path, fmt->ncolumns, MAX_COLUMNS);
		return -1;
	}
	size_t len;
	char *text = read_file(path, &len, TSV_MAX_BYTES);
	if (!text)
		return -1;
	TsvWhere w = { path, 0 };
	int col[MAX_COLUMNS], ncol = 0, have_header = 0, rc = 0;
	size_t rows = 0;
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
			rc = parse_header(&w, fmt, p, col, &ncol);
			have_header = 1;
			continue;
		}
		if (!nl) {
			int fields = 1;
			for (const char *t = p; (t = strchr(t, '\t')); t++)
				fields++;
			if (fields < ncol) {
				warn_msg("%s:%d: the last line is incomplete (%d of %d fields; a run still writing, or one cut "
					 "short): left out",
					 path, w.line, fields, ncol);
				continue;
			}
		}
		rc = parse_row(&w, fmt, p, col, ncol, row, ctx);
		rows += rc == 0;
	}
	if (rc == 0 && rows == 0) {
		if (have_header)
			warn_msg("%s: no rows after the header (has training started?)", path);
		else
			warn_msg("%s: empty: not %s", path, fmt->what);
		rc = -1;
	}
	free(text);
	return rc;
}
