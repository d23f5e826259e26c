/* model.c: self-contained model files: the network plus how its inputs were prepared (see model.h). */
#include "libcommon/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"

/* ---------------------------------------------------------------------------------------- */
/* writing */

static int write_stats(TensorWriter *tw, const Stats *s)
{
	uint64_t c = s->channels, img[3] = { s->height, s->width, c }, cc[2] = { c, c };
	double cov[9], vec[9];
	for (uint32_t i = 0; i < c; i++)
		for (uint32_t j = 0; j < c; j++) {
			cov[i * c + j] = s->cov[i][j];
			vec[i * c + j] = s->eigvec[i][j];
		}
	return tensorwriter_add(tw, "stats.mean", DT_F32, 3, img, s->mean) ||
	       tensorwriter_add(tw, "stats.mean_channel", DT_F64, 1, &c, s->mean_channel) ||
	       tensorwriter_add(tw, "stats.cov", DT_F64, 2, cc, cov) ||
	       tensorwriter_add(tw, "stats.eigval", DT_F64, 1, &c, s->eigval) ||
	       tensorwriter_add(tw, "stats.eigvec", DT_F64, 2, cc, vec) ||
	       tensorwriter_add_i64(tw, "stats.images", s->images) ||
	       tensorwriter_add_text(tw, "stats.source", s->source ? s->source : "")
		       ? -1
		       : 0;
}

/* The names one a line (names hold no newline: record.h). */
static char *join_names(const ClassTable *t)
{
	size_t len = 1;
	for (uint32_t i = 0; i < t->count; i++)
		len += strlen(t->names[i]) + 1;
	char *s = xmalloc(len), *p = s;
	for (uint32_t i = 0; i < t->count; i++) {
		size_t n = strlen(t->names[i]);
		memcpy(p, t->names[i], n);
		p += n;
		*p++ = '\n';
	}
	*p = '\0';
	return s;
}

int model_write(TensorWriter *tw, Net *net, const Stats *stats, const ClassTable *classes, uint32_t h,
		uint32_t w, uint32_t c, float input_scale, const char *trained_on, int64_t mirrored)
{
	if (net_write(net, tw) != 0 || tensorwriter_add_i64(tw, "record_height", h) ||
	    tensorwriter_add_i64(tw, "record_width", w) || tensorwriter_add_i64(tw, "record_channels", c) ||
	    tensorwriter_add_f64(tw, "input_scale", input_scale))
		return -1;
	if (stats && write_stats(tw, stats) != 0)
		return -1;
	if (classes && classes->count > 0) {
		char *names = join_names(classes);
		int rc = tensorwriter_add_text(tw, "class_names", names);
		free(names);
		if (rc != 0)
			return -1;
	}
	if (tensorwriter_add_text(tw, "trained_on", trained_on ? trained_on : ""))
		return -1;
	return tensorwriter_add_i64(tw, "mirrored", mirrored);
}

int model_save(const char *path, Net *net, const Stats *stats, const ClassTable *classes, uint32_t h, uint32_t w,
	       uint32_t c, float input_scale)
{
	TensorWriter tw;
	if (tensorwriter_open(&tw, path, TF_MODEL) != 0)
		return -1;
	if (model_write(&tw, net, stats, classes, h, w, c, input_scale, NULL, 1) != 0) {
		tensorwriter_abort(&tw);
		return -1;
	}
	return tensorwriter_commit(&tw);
}

/* ---------------------------------------------------------------------------------------- */
/* reading */

static int read_dim(TensorFile *tf, const char *name, int64_t max, uint32_t *v)
{
	int64_t x;
	if (tensorfile_read_i64(tf, name, &x) != 0)
		return -1;
	if (x < 1 || x > max)
		return tensorfile_fail(tf, "%s %" PRId64 " out of range 1..%" PRId64 " (corrupt file?)", name, x, max);
	*v = (uint32_t)x;
	return 0;
}

/* The values a preparation relies on: finite, a mean on the pixel scale. */
static int check_stats(TensorFile *tf, const Stats *s)
{
	size_t n = (size_t)s->height * s->width * s->channels;
	for (size_t k = 0; k < n; k++)
		if (!isfinite(s->mean[k]) || s->mean[k] < 0 || s->mean[k] > 255)
			return tensorfile_fail(tf, "stats.mean holds a value outside 0..255 (corrupt file?)");
	for (uint32_t i = 0; i < s->channels; i++) {
		if (!isfinite(s->eigval[i]) || s->eigval[i] < 0 || !isfinite(s->mean_channel[i]))
			return tensorfile_fail(tf, "stats.eigval or stats.mean_channel holds a bad value (corrupt file?)");
		for (uint32_t j = 0; j < s->channels; j++)
			if (!isfinite(s->eigvec[i][j]) || !isfinite(s->cov[i][j]))
				return tensorfile_fail(tf, "stats.eigvec or stats.cov holds a value that is not finite");
	}
	return 0;
}

static int read_stats(TensorFile *tf, Model *m)
{
	Stats *s = &m->stats;
	uint64_t c = m->channels, img[3] = { m->height, m->width, c }, cc[2] = { c, c };
	double cov[9], vec[9];
	memset(s, 0, sizeof *s);
	s->height = m->height;
	s->width = m->width;
	s->channels = m->channels;
	/* the record size comes from other entries: up to 65535 x 65535 x 3 floats (48 GiB)
	 * before the file is known to hold them */
	if (tensorfile_check(tf, "stats.mean", DT_F32, 3, img) != 0)
		return -1;
	s->mean = xmallocarray((size_t)img[0] * img[1] * c, sizeof(float));
	if (tensorfile_read(tf, "stats.mean", DT_F32, 3, img, s->mean) ||
	    tensorfile_read(tf, "stats.mean_channel", DT_F64, 1, &c, s->mean_channel) ||
	    tensorfile_read(tf, "stats.cov", DT_F64, 2, cc, cov) ||
	    tensorfile_read(tf, "stats.eigval", DT_F64, 1, &c, s->eigval) ||
	    tensorfile_read(tf, "stats.eigvec", DT_F64, 2, cc, vec) ||
	    tensorfile_read_i64(tf, "stats.images", &s->images) || !(s->source = tensorfile_read_text(tf, "stats.source")))
		return -1;
	for (uint32_t i = 0; i < c; i++)
		for (uint32_t j = 0; j < c; j++) {
			s->cov[i][j] = cov[i * c + j];
			s->eigvec[i][j] = vec[i * c + j];
		}
	if (check_stats(tf, s) != 0)
		return -1;
	m->has_stats = 1;
	return 0;
}

/* "a\nb\n" into a class table of exactly count names. */
static int read_names(TensorFile *tf, Model *m)
{
	char *text = tensorfile_read_text(tf, "class_names");
	if (!text)
		return -1;
	ClassTable *t = &m->classes;
	/* room for the names the text can hold (each ends in a newline), not for every class
	 * the network claims (up to 2^24) */
	uint32_t room = 0;
	for (const char *q = text; *q && room < m->num_classes; q++)
		room += *q == '\n';
	t->names = xcalloc(room ? room : 1, sizeof *t->names);
	char *p = text;
	int rc = 0;
	while (*p && rc == 0) {
		char *nl = strchr(p, '\n');
		if (!nl || nl == p)
			rc = tensorfile_fail(tf, "class_names: name %u is %s (corrupt file?)", t->count + 1,
				  nl ? "empty" : "not ended by a newline");
		else if (t->count == m->num_classes)
			rc = tensorfile_fail(tf, "class_names holds more than the %u classes of the network", m->num_classes);
		else {
			size_t n = (size_t)(nl - p);
			char *name = xmalloc(n + 1);
			memcpy(name, p, n);
			name[n] = '\0';
			t->names[t->count++] = name;
			p = nl + 1;
		}
	}
	if (rc == 0 && t->count != m->num_classes)
		rc = tensorfile_fail(tf, "class_names holds %u names for %u classes", t->count, m->num_classes);
	free(text);
	return rc;
}

int model_read_extras(TensorFile *tf, const Spec *spec, Model *m)
{
	m->num_classes = (uint32_t)spec->classes;
	m->input_scale = 1;
	m->mirrored = 1;
	m->kind = tf->kind;
	if (!tensorfile_find(tf, "record_height")) { /* a bare net_save: weights only */
		m->trained_on = xstrdup("");
		return 0;
	}
	double scale;
	if (read_dim(tf, "record_height", RECORD_MAX_SIDE, &m->height) ||
	    read_dim(tf, "record_width", RECORD_MAX_SIDE, &m->width) || read_dim(tf, "record_channels", 3, &m->channels) ||
	    tensorfile_read_f64(tf, "input_scale", &scale) != 0)
		return -1;
	if (!isfinite(scale) || scale <= 0)
		return tensorfile_fail(tf, "input_scale %g is not a positive number (corrupt file?)", scale);
	m->input_scale = (float)scale;
	const Dims in = spec->layers[0].out;
	if ((uint32_t)in.c != m->channels)
		return tensorfile_fail(tf, "the network takes %d channels, its records have %u (corrupt file?)", in.c, m->channels);
	if ((uint32_t)in.h > m->height || (uint32_t)in.w > m->width)
		return tensorfile_fail(tf, "the network's %dx%d input is larger than its %ux%u records (corrupt file?)", in.h, in.w,
			    m->height, m->width);
	if (tensorfile_find(tf, "stats.mean") && read_stats(tf, m) != 0)
		return -1;
	if (tensorfile_find(tf, "class_names") && read_names(tf, m) != 0)
		return -1;
	if (tensorfile_find(tf, "mirrored")) {
		int64_t v;
		if (tensorfile_read_i64(tf, "mirrored", &v) != 0)
			return -1;
		if (v != 0 && v != 1)
			return tensorfile_fail(tf, "mirrored is %" PRId64 ", not 0 or 1 (corrupt file?)", v);
		m->mirrored = (int)v;
	}
	return (m->trained_on = tensorfile_read_text(tf, "trained_on")) ? 0 : -1;
}

Model *model_load(Ctx *ctx, const char *path, int max_batch, NetMode mode)
{
	TensorFile tf;
	if (tensorfile_open(&tf, path, 0) != 0)
		return NULL;
	Model *m = xcalloc(1, sizeof *m);
	m->path = xstrdup(path);
	int rc = -1;
	if (tf.kind != TF_MODEL && tf.kind != TF_CHECKPOINT)
		warn_msg("%s: is a %s file, expected a model or a checkpoint", path, tensorfile_kind_name(tf.kind));
	else if ((m->spec = net_read_spec(&tf)) && model_read_extras(&tf, m->spec, m) == 0 &&
		 net_check_file(&tf, m->spec, 0) == 0 && (m->net = net_create(ctx, m->spec, max_batch, mode)))
		rc = net_read(m->net, &tf);
	tensorfile_close(&tf);
	if (rc != 0) {
		model_free(m);
		return NULL;
	}
	return m;
}

void model_free(Model *m)
{
	if (!m)
		return;
	net_free(m->net);
	spec_free(m->spec);
	stats_free(&m->stats);
	classes_free(&m->classes);
	free(m->trained_on);
	free(m->path);
	free(m);
}

const char *model_class_name(const Model *m, int label, char *buf, size_t len)
{
	if (label >= 0 && (uint32_t)label < m->classes.count)
		snprintf(buf, len, "%s", m->classes.names[label]);
	else
		snprintf(buf, len, "class %d", label);
	return buf;
}

int model_need_preparation(const Model *m, const char *what)
{
	if (m->height && m->has_stats)
		return 0;
	warn_msg("%s: %s needs the record size and mean image a model from anet-train holds; this file has only "
		 "weights",
		 m->path, what);
	return -1;
}
