/* info.c: anet-viz info: what a tensor file holds, entry by entry (the "--info" table users asked
 * for, to match weights against a spec and to find a diverged checkpoint).
 *
 * Any kind of tensor file is read the same way (tensorfile.h: the header, every entry and the
 * checksum are verified on opening); a model or checkpoint adds a summary of its network and
 * of the records it was trained on, read with the same code model_load uses. Numeric tensors
 * are read in chunks of INFO_CHUNK elements (4 or 8 MB), so that alexnet's 240 MB of weights,
 * or a features file of a whole database, never sit in memory; the mean and standard deviation
 * of the chunks are combined by Chan et al.'s pairwise update, which keeps the precision of a
 * two-pass computation without a second pass over the file. Text entries are scanned in chunks
 * too (a features file's names hold a line per image) and only a preview is kept.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/net.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

#define INFO_CHUNK ((size_t)1 << 20)
#define PREVIEW 160 /* bytes of a text entry kept for its preview */
#define PREVIEW_LINES 5 /* a list's first lines shown (class names) */
#define INFO_WIDTH 100  /* columns a row should fit in */

static double element(const uint8_t *p, uint32_t dtype)
{
	float f;
	double d;
	int32_t i32;
	int64_t i64;
	switch (dtype) {
	case DT_F32: memcpy(&f, p, 4); return f;
	case DT_F64: memcpy(&d, p, 8); return d;
	case DT_I32: memcpy(&i32, p, 4); return i32;
	case DT_I64: memcpy(&i64, p, 8); return (double)i64;
	case DT_U8: return *p;
	}
	return NAN;
}

/* Folds one chunk's finite values (n, mean, m2: sum of squared deviations) into s. */
static void merge(TensorSummary *s, double *m2, uint64_t n, double mean, double cm2)
{
	if (n == 0)
		return;
	uint64_t total = s->finite + n;
	double delta = mean - s->mean;
	s->mean += delta * (double)n / (double)total;
	*m2 += cm2 + delta * delta * (double)s->finite * (double)n / (double)total;
	s->finite = total;
}

int tensor_summary(TensorFile *tf, const TensorEntry *e, size_t chunk, TensorSummary *s)
{
	memset(s, 0, sizeof *s);
	s->min = s->max = s->mean = s->std = NAN;
	size_t es = dtype_size(e->dtype);
	if (e->dtype == DT_TEXT || es == 0) {
		warn_msg("%s: tensor %s: %s holds no numbers", tf->path, e->name, tensorfile_dtype_name(e->dtype));
		return -1;
	}
	if (chunk == 0)
		chunk = INFO_CHUNK;
	uint8_t *buf = xmallocarray(chunk, es);
	double m2 = 0;
	int rc = 0;
	for (uint64_t first = 0; first < e->count && rc == 0; first += chunk) {
		size_t n = e->count - first < chunk ? (size_t)(e->count - first) : chunk;
		if ((rc = tensorfile_read_range(tf, e, first, n, buf)) != 0)
			break;
		/* two passes over the chunk in memory: its mean, then the deviations from it */
		double sum = 0;
		uint64_t fin = 0;
		for (size_t i = 0; i < n; i++) {
			double v = element(buf + i * es, e->dtype);
			if (!isfinite(v)) {
				s->nonfinite++;
				continue;
			}
			if (!(v >= s->min))
				s->min = v;
			if (!(v <= s->max))
				s->max = v;
			sum += v;
			fin++;
		}
		if (fin == 0)
			continue;
		double mean = sum / (double)fin, cm2 = 0;
		for (size_t i = 0; i < n; i++) {
			double v = element(buf + i * es, e->dtype);
			if (isfinite(v))
				cm2 += (v - mean) * (v - mean);
		}
		if (s->finite == 0)
			s->mean = 0;
		merge(s, &m2, fin, mean, cm2);
	}
	free(buf);
	if (rc == 0 && s->finite)
		s->std = sqrt(m2 / (double)s->finite);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* the table */

typedef struct {
	int name_w, shape_w;
	uint32_t nan_tensors;
	uint64_t nan_values;
	char first_nan[TENSORFILE_MAX_NAME + 1];
} Table;

static void format_number(char *buf, size_t len, double v, uint32_t dtype)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (dtype != DT_F32 && dtype != DT_F64 && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.4g", v);
}

/* A text entry: its line count and, unless it is the network spec (the summary above the table
 * says what it builds), its first lines. */
static int text_cell(TensorFile *tf, const TensorEntry *e, char *cell, size_t len)
{
	char preview[PREVIEW + 1];
	size_t kept = 0;
	uint64_t lines = 0;
	char last = '\n';
	char *buf = xmalloc(INFO_CHUNK);
	int rc = 0;
	for (uint64_t first = 0; first < e->count && rc == 0; first += INFO_CHUNK) {
		size_t n = e->count - first < INFO_CHUNK ? (size_t)(e->count - first) : INFO_CHUNK;
		if ((rc = tensorfile_read_range(tf, e, first, n, buf)) != 0)
			break;
		for (size_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
		if (kept < PREVIEW) {
			size_t k = n < PREVIEW - kept ? n : PREVIEW - kept;
			memcpy(preview + kept, buf, k);
			kept += k;
		}
		last = buf[n - 1];
	}
	free(buf);
	if (rc != 0)
		return -1;
	if (e->count && last != '\n')
		lines++; /* a last line without its newline */
	preview[kept] = '\0';
	if (lines <= 1) {
		/* one line: the text itself (a path, a version), cut at the preview */
		preview[strcspn(preview, "\n")] = '\0';
		snprintf(cell, len, "\"%s%s\"", preview, e->count > kept ? "..." : "");
		return 0;
	}
	int n = snprintf(cell, len, "%" PRIu64 " lines", lines);
	if (strcmp(e->name, "spec") == 0 || n < 0 || (size_t)n >= len)
		return 0;
	/* the first lines, joined (class names: "apple, banana, cherry, ...") */
	char *p = preview;
	for (int i = 0; i < PREVIEW_LINES && *p && (size_t)n < len; i++) {
		size_t l = strcspn(p, "\n");
		int complete = p[l] == '\n';
		n += snprintf(cell + n, len - (size_t)n, "%s%.*s%s", i ? ", " : ": ", (int)l, p, complete ? "" : "...");
		if (!complete)
			return 0;
		p += l + 1;
	}
	if ((uint64_t)PREVIEW_LINES < lines && (size_t)n < len)
		snprintf(cell + n, len - (size_t)n, ", ...");
	return 0;
}

/* The value of an ndim-0 i64 or f64 entry. */
static int scalar_cell(TensorFile *tf, const TensorEntry *e, char *cell, size_t len)
{
	if (e->dtype == DT_I64 || e->dtype == DT_F64) {
		double v;
		int64_t i;
		int rc = e->dtype == DT_I64 ? tensorfile_read_i64(tf, e->name, &i) : tensorfile_read_f64(tf, e->name, &v);
		if (rc != 0)
			return -1;
		if (e->dtype == DT_I64)
			snprintf(cell, len, "%" PRId64, i);
		else
			snprintf(cell, len, "%.9g", v);
		return 0;
	}
	return 1; /* another scalar: summarised as a tensor of one */
}

/* Cuts text to width bytes (at a character boundary), ending it with "...". */
static void fit(char *text, size_t width)
{
	if (strlen(text) <= width || width < 4)
		return;
	size_t n = width - 3;
	while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
		n--;
	memcpy(text + n, "...", 4);
}

static int print_entry(TensorFile *tf, const TensorEntry *e, Table *t, FILE *out)
{
	char shape[96], cell[512];
	tensorfile_format_shape(shape, sizeof shape, e->ndim, e->dims);
	fprintf(out, "  %-*s %-5s %*s", t->name_w, e->name, tensorfile_dtype_name(e->dtype), t->shape_w, shape);
	int rc = e->dtype == DT_TEXT ? text_cell(tf, e, cell, sizeof cell)
	       : e->ndim == 0	     ? scalar_cell(tf, e, cell, sizeof cell)
				     : 1;
	if (rc < 0) {
		fprintf(out, "  (unreadable)\n");
		return -1;
	}
	if (rc == 0) {
		int used = 2 + t->name_w + 1 + 5 + 1 + t->shape_w + 2;
		fit(cell, INFO_WIDTH - used > 20 ? (size_t)(INFO_WIDTH - used) : 20);
		fprintf(out, "  %s\n", cell);
		return 0;
	}
	TensorSummary s;
	if (tensor_summary(tf, e, 0, &s) != 0) {
		fprintf(out, "  (unreadable)\n");
		return -1;
	}
	char v[4][32];
	format_number(v[0], sizeof v[0], s.min, e->dtype);
	format_number(v[1], sizeof v[1], s.max, e->dtype);
	snprintf(v[2], sizeof v[2], isnan(s.mean) ? "-" : "%.4g", s.mean);
	snprintf(v[3], sizeof v[3], isnan(s.std) ? "-" : "%.4g", s.std);
	fprintf(out, " %11s %11s %11s %11s", v[0], v[1], v[2], v[3]);
	if (s.nonfinite) {
		fprintf(out, "  NaN/Inf: %" PRIu64, s.nonfinite);
		if (t->nan_tensors++ == 0)
			snprintf(t->first_nan, sizeof t->first_nan, "%s", e->name);
		t->nan_values += s.nonfinite;
	}
	fputc('\n', out);
	return 0;
}

/* The network and preparation of a model or checkpoint, read as model_load reads them. */
static int print_model(TensorFile *tf, FILE *out)
{
	Model *m = xcalloc(1, sizeof *m);
	m->path = xstrdup(tf->path);
	int rc = -1;
	if (!(m->spec = net_read_spec(tf)) || model_read_extras(tf, m->spec, m) != 0)
		goto out;
	const Dims in = m->spec->layers[0].out;
	fprintf(out, "network: %d layers, %" PRId64 " parameters (weights and biases), %u classes, %dx%dx%d input\n",
		m->spec->nlayers, m->spec->param_count, m->num_classes, in.h, in.w, in.c);
	if (!m->height)
		fprintf(out, "records: unknown (weights only: no record size, mean image or class names)\n");
	else
		fprintf(out, "records: %ux%ux%u, mirrored in training: %s, class names: %s\ntrained on: %s\n", m->height,
			m->width, m->channels, m->mirrored ? "yes" : "no", m->classes.count ? "yes" : "no",
			*m->trained_on ? m->trained_on : "(unknown)");
	rc = 0;
out:
	model_free(m);
	return rc;
}

int viz_info(const char *path, FILE *out)
{
	TensorFile tf;
	if (tensorfile_open(&tf, path, 0) != 0)
		return -1;
	char size[32];
	fprintf(out, "%s: %s, %" PRId64 " bytes (%s), %u entries\n", path, tensorfile_kind_name(tf.kind),
		file_size(tf.f), format_bytes(size, sizeof size, (double)file_size(tf.f)), tf.count);
	int rc = 0;
	if ((tf.kind == TF_MODEL || tf.kind == TF_CHECKPOINT) && print_model(&tf, out) != 0)
		rc = -1;
	Table t = { .name_w = 4, .shape_w = 5 };
	for (uint32_t i = 0; i < tf.count; i++) {
		char shape[96];
		int n = (int)strlen(tf.entries[i].name);
		t.name_w = n > t.name_w ? n : t.name_w;
		tensorfile_format_shape(shape, sizeof shape, tf.entries[i].ndim, tf.entries[i].dims);
		n = (int)strlen(shape);
		t.shape_w = n > t.shape_w ? n : t.shape_w;
	}
	/* a long name or shape pushes its own row out, not every row's columns: 2 + 27 + 1 + 5 + 1 +
	 * 16 + 4 x 12 = INFO_WIDTH */
	t.name_w = t.name_w < 27 ? t.name_w : 27;
	t.shape_w = t.shape_w < 16 ? t.shape_w : 16;
	fprintf(out, "  %-*s %-5s %*s %11s %11s %11s %11s\n", t.name_w, "name", "dtype", t.shape_w, "shape", "min", "max",
		"mean", "std");
	for (uint32_t i = 0; i < tf.count; i++)
		if (print_entry(&tf, &tf.entries[i], &t, out) != 0)
			rc = -1;
	if (t.nan_tensors)
		fprintf(out, "NaN/Inf: %" PRIu64 " value%s in %u tensor%s (the first: %s): a diverged run?\n", t.nan_values,
			t.nan_values > 1 ? "s" : "", t.nan_tensors, t.nan_tensors > 1 ? "s" : "", t.first_nan);
	tensorfile_close(&tf);
	return rc;
}
