/* convert.c: anet-convert's export to safetensors and import from it (see convert.h). */
#include "libcommon/convert/convert.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/convert/safetensors.h"
#include "libcommon/inputs.h"
#include "libcommon/model.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"

const double convert_torchvision_mean[3] = { 0.485 * 255, 0.456 * 255, 0.406 * 255 };
const double convert_torchvision_std[3] = { 0.229 * 255, 0.224 * 255, 0.225 * 255 };

#define META_KIND "anet.kind"
#define META_ENTRIES "anet.entries"
#define META_VERSION "anet.version"

static const struct {
	uint32_t tf;
	StDtype st;
} dtype_pairs[] = { { DT_F32, ST_F32 }, { DT_F64, ST_F64 }, { DT_I32, ST_I32 }, { DT_I64, ST_I64 }, { DT_U8, ST_U8 } };

static int st_of_tf(uint32_t tf, StDtype *st)
{
	for (size_t i = 0; i < ARRAY_LEN(dtype_pairs); i++)
		if (dtype_pairs[i].tf == tf)
			return *st = dtype_pairs[i].st, 0;
	return -1;
}

static int tf_of_st(StDtype st, uint32_t *tf)
{
	for (size_t i = 0; i < ARRAY_LEN(dtype_pairs); i++)
		if (dtype_pairs[i].st == st)
			return *tf = dtype_pairs[i].tf, 0;
	return -1;
}

static void format_st_shape(char *buf, size_t len, const StEntry *e)
{
	tensorfile_format_shape(buf, len, e->ndim, e->dims);
}

/* ---------------------------------------------------------------------------------------- */
/* export */

int convert_export(const char *in, const char *out, int quiet)
{
	TensorFile tf;
	if (tensorfile_open(&tf, in, 0) != 0)
		return -1;
	StWriter w;
	if (stwriter_open(&w, out) != 0) {
		tensorfile_close(&tf);
		return -1;
	}
	size_t names_len = 1;
	for (uint32_t i = 0; i < tf.count; i++)
		names_len += strlen(tf.entries[i].name) + 1;
	char *names = xmalloc(names_len), *p = names;
	int rc = stwriter_meta(&w, META_KIND, tensorfile_kind_name(tf.kind)) ||
		 stwriter_meta(&w, META_VERSION, ANET_VERSION);
	uint64_t tensors = 0, bytes = 0;
	for (uint32_t i = 0; i < tf.count && rc == 0; i++) {
		const TensorEntry *e = &tf.entries[i];
		p += sprintf(p, "%s\n", e->name);
		if (strncmp(e->name, "anet.", 5) == 0) {
			rc = tensorfile_fail(&tf, "entry '%s': names starting 'anet.' are the export's own", e->name);
		} else if (e->dtype == DT_TEXT) {
			char *text = tensorfile_read_text(&tf, e->name);
			if (text && !st_text_ok(text))
				rc = tensorfile_fail(&tf, "text entry '%s' is not valid UTF-8, which safetensors metadata "
							  "must be", e->name);
			else
				rc = !text || stwriter_meta(&w, e->name, text);
			free(text);
		} else {
			StDtype st;
			if (st_of_tf(e->dtype, &st) != 0)
				rc = tensorfile_fail(&tf, "entry '%s': dtype %u has no safetensors counterpart", e->name, e->dtype);
			else if ((rc = stwriter_declare(&w, e->name, st, e->ndim, e->dims)) != 0)
				tensorfile_fail(&tf, "entry '%s' cannot be exported (above)", e->name);
			tensors++;
			bytes += e->bytes;
		}
	}
	if (rc == 0)
		rc = stwriter_meta(&w, META_ENTRIES, names);
	free(names);
	/* the data, in the order declared, a megabyte at a time */
	enum { CHUNK = 1 << 20 };
	unsigned char *buf = xmalloc(CHUNK);
	for (uint32_t i = 0; i < tf.count && rc == 0; i++) {
		const TensorEntry *e = &tf.entries[i];
		size_t es = dtype_size(e->dtype);
		if (e->dtype == DT_TEXT)
			continue;
		for (uint64_t at = 0; at < e->count && rc == 0; at += CHUNK / es) {
			uint64_t n = e->count - at < CHUNK / es ? e->count - at : CHUNK / es;
			rc = tensorfile_read_range(&tf, e, at, n, buf) || stwriter_append(&w, buf, (size_t)(n * es));
		}
	}
	free(buf);
	if (rc != 0) {
		stwriter_abort(&w);
		tensorfile_close(&tf);
		return -1;
	}
	rc = stwriter_commit(&w);
	if (rc == 0 && !quiet) {
		char b[32];
		fprintf(stderr, "%s: %s %s: %" PRIu64 " tensors (%s) and %u metadata entries written to %s\n", progname(),
			tensorfile_kind_name(tf.kind), in, tensors, format_bytes(b, sizeof b, (double)bytes),
			tf.count - (uint32_t)tensors + 3, out);
	}
	tensorfile_close(&tf);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* import: the tensor file is written under a temporary name, loaded back, then renamed */

/* Loads the finished temporary file as the programs will, by its kind. */
static int verify_written(const char *tmp, uint32_t kind)
{
	if (kind == TF_STATS) {
		Stats s;
		int rc = stats_load(tmp, &s);
		if (rc == 0)
			stats_free(&s);
		return rc;
	}
	if (kind == TF_MODEL || kind == TF_CHECKPOINT) {
		CtxOptions co = { .device = "cpu", .threads = 1 };
		Ctx *ctx = net_ctx_open(&co);
		if (!ctx)
			return -1;
		Model *m = model_load(ctx, tmp, 1, NET_EVAL);
		model_free(m);
		ctx_close(ctx);
		return m ? 0 : -1;
	}
	TensorFile tf; /* features: the checksum and the layout */
	if (tensorfile_open(&tf, tmp, kind) != 0)
		return -1;
	tensorfile_close(&tf);
	return 0;
}

static int finish_import(TensorWriter *tw, const char *in, const char *out)
{
	if (tensorwriter_finish(tw) != 0)
		return -1;
	/* a device written in place (-o /dev/null) has nothing to load back */
	if (tw->af.tmp && verify_written(tw->af.tmp, tw->kind) != 0) {
		warn_msg("%s: the %s imported from it does not load (above); %s is left as it was", in,
			 tensorfile_kind_name(tw->kind), out);
		tensorwriter_abort(tw);
		return -1;
	}
	return tensorwriter_commit(tw);
}

/* A tensor of the safetensors file into an open tensor writer, as dtype (f32 from any float). */
static int copy_tensor(SafeTensors *st, const StEntry *e, TensorWriter *tw, uint32_t dtype)
{
	if (tensorwriter_begin(tw, e->name, dtype, e->ndim, e->dims) != 0)
		return -1;
	if (dtype == DT_F32 && e->dtype != ST_F32) {
		float *v = xmallocarray(e->count ? e->count : 1, sizeof *v);
		int rc = safetensors_read_float(st, e, v) || tensorwriter_append(tw, v, e->count * sizeof *v);
		free(v);
		return rc ? -1 : 0;
	}
	enum { CHUNK = 1 << 20 };
	unsigned char *buf = xmalloc(CHUNK);
	int rc = 0;
	for (uint64_t at = 0; at < e->bytes && rc == 0; at += CHUNK) {
		size_t n = e->bytes - at < CHUNK ? (size_t)(e->bytes - at) : CHUNK;
		rc = safetensors_read_bytes(st, e, at, n, buf) || tensorwriter_append(tw, buf, n);
	}
	free(buf);
	return rc ? -1 : 0;
}

static uint32_t kind_by_name(const char *name)
{
	const uint32_t kinds[] = { TF_STATS, TF_MODEL, TF_CHECKPOINT, TF_FEATURES };
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if (strcmp(name, tensorfile_kind_name(kinds[i])) == 0)
			return kinds[i];
	return 0;
}

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The lines of anet.entries, split once: in order (the file's), and sorted (for the checks). */
typedef struct {
	char *text;
	char **names, **sorted;
	size_t count;
} EntryList;

static void entries_split(EntryList *l, const char *list)
{
	memset(l, 0, sizeof *l);
	l->text = xstrdup(list);
	char *save = NULL;
	for (char *name = strtok_r(l->text, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		l->names = xreallocarray(l->names, l->count + 1, sizeof *l->names);
		l->names[l->count++] = name;
	}
	l->sorted = xmallocarray(l->count ? l->count : 1, sizeof *l->sorted);
	if (l->count)
		memcpy(l->sorted, l->names, l->count * sizeof *l->names);
	qsort(l->sorted, l->count, sizeof *l->sorted, by_string);
}

static int entries_have(const EntryList *l, const char *name)
{
	return bsearch(&name, l->sorted, l->count, sizeof *l->sorted, by_string) != NULL;
}

static void entries_free(EntryList *l)
{
	free(l->names);
	free(l->sorted);
	free(l->text);
}

/* A file anet-convert export wrote (perhaps edited since): entry for entry, back. */
static int import_anet(SafeTensors *st, const char *out, const ImportOptions *o)
{
	if (o->net)
		return safetensors_fail(st, "written by anet-convert export, it holds its own network and preparation: "
					    "--net and the options that go with it do not apply");
	const char *kind_name = safetensors_meta(st, META_KIND), *entries = safetensors_meta(st, META_ENTRIES);
	uint32_t kind = kind_by_name(kind_name);
	if (!kind)
		return safetensors_fail(st, "metadata %s is '%s', not a kind of anet file", META_KIND, kind_name);
	if (!entries)
		return safetensors_fail(st, "metadata %s is missing (it lists the entries in their order)", META_ENTRIES);
	EntryList list;
	entries_split(&list, entries);
	int rc = 0;
	/* an anet file holds each name once */
	for (size_t i = 1; i < list.count && rc == 0; i++)
		if (strcmp(list.sorted[i - 1], list.sorted[i]) == 0)
			rc = safetensors_fail(st, "'%.300s' is listed twice in %s", list.sorted[i], META_ENTRIES);
	TensorWriter tw;
	if (rc != 0 || tensorwriter_open(&tw, out, kind) != 0) {
		entries_free(&list);
		return -1;
	}
	int n = (int)list.count;
	for (size_t i = 0; i < list.count && rc == 0; i++) {
		const char *name = list.names[i];
		const StEntry *e = safetensors_find(st, name);
		const char *text = safetensors_meta(st, name);
		uint32_t dtype = DT_F32;
		/* safetensors names have no length limit and anet's do: refused here, naming the
		 * input, not by the tensor writer, which would name only the output file */
		if (strlen(name) > TENSORFILE_MAX_NAME)
			rc = safetensors_fail(st, "'%.40s...' is a name of %zu bytes; anet files hold names of at most %d",
					      name, strlen(name), TENSORFILE_MAX_NAME);
		else if (e && text)
			rc = safetensors_fail(st, "'%s' is both a tensor and a metadata entry", name);
		else if (text)
			rc = tensorwriter_add_text(&tw, name, text);
		else if (!e)
			rc = safetensors_fail(st, "'%s' is listed in %s but is neither a tensor nor metadata", name, META_ENTRIES);
		else if (tf_of_st(e->dtype, &dtype) != 0 && !st_dtype_is_float(e->dtype))
			rc = safetensors_fail(st, "tensor '%s' is %s, which anet files do not hold", name, st_dtype_name(e->dtype));
		else
			rc = copy_tensor(st, e, &tw, st_dtype_is_float(e->dtype) && e->dtype != ST_F64 ? DT_F32 : dtype);
	}
	/* tensors added in Python and not listed have no place in the anet file: say so */
	for (uint32_t i = 0; i < st->count && rc == 0; i++)
		if (!entries_have(&list, st->entries[i].name))
			warn_msg("%s: tensor '%s' is not in %s: left out", st->path, st->entries[i].name, META_ENTRIES);
	entries_free(&list);
	if (rc != 0) {
		tensorwriter_abort(&tw);
		return -1;
	}
	if (finish_import(&tw, st->path, out) != 0)
		return -1;
	if (!o->quiet)
		fprintf(stderr, "%s: %s: %d entries written to %s (%s)\n", progname(), st->path, n, out, kind_name);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* import of another tool's weights */

typedef struct {
	char **param, **tensor; /* anet parameter -> file tensor */
	int count;
} NameMap;

static void map_free(NameMap *m)
{
	for (int i = 0; i < m->count; i++) {
		free(m->param[i]);
		free(m->tensor[i]);
	}
	free(m->param);
	free(m->tensor);
}

/* "ANET_PARAMETER FILE_TENSOR" lines; '#' starts a comment. Each side is checked: the
 * parameter against the network, the tensor against the file. */
static int map_load(NameMap *m, const char *path, const Spec *spec, const SafeTensors *st)
{
	memset(m, 0, sizeof *m);
	size_t len;
	char *text = read_file(path, &len, 1 << 22);
	if (!text)
		return -1;
	int rc = 0, line = 0;
	for (char *l = text, *next; l && *l; l = next) {
		line++;
		if ((next = strchr(l, '\n')))
			*next++ = '\0';
		char *hash = strchr(l, '#');
		if (hash)
			*hash = '\0';
		char a[256], b[1024], extra[2];
		int k = sscanf(l, "%255s %1023s %1s", a, b, extra);
		if (k <= 0)
			continue;
		if (k != 2) {
			warn_msg("%s:%d: expected 'ANET_PARAMETER FILE_TENSOR'", path, line);
			rc = -1;
		} else if (spec_find_param(spec, a) < 0) {
			warn_msg("%s:%d: the network (%s) has no parameter '%s'", path, line, spec->source, a);
			rc = -1;
		} else if (!safetensors_find(st, b)) {
			warn_msg("%s:%d: %s has no tensor '%s'", path, line, st->path, b);
			rc = -1;
		} else {
			m->param = xreallocarray(m->param, (size_t)m->count + 1, sizeof *m->param);
			m->tensor = xreallocarray(m->tensor, (size_t)m->count + 1, sizeof *m->tensor);
			m->param[m->count] = xstrdup(a);
			m->tensor[m->count++] = xstrdup(b);
		}
	}
	free(text);
	return rc;
}

static const char *map_tensor(const NameMap *m, const char *param)
{
	for (int i = m->count - 1; i >= 0; i--) /* a later line wins */
		if (strcmp(m->param[i], param) == 0)
			return m->tensor[i];
	return param;
}

/* The class count for "out=classes": --classes or --num-classes, or else the rows of the
 * tensor feeding the softmax. 1 when the spec does not use it. */
static int infer_classes(const char *text, const char *source, const SafeTensors *st, const NameMap *map)
{
	Spec *one = spec_parse(text, source, 1), *two = one ? spec_parse(text, source, 2) : NULL;
	int k = -1;
	if (one && two && one->classes == two->classes) {
		k = 1;
	} else if (one && two) {
		const SpecParam *bias = &one->params[one->nparams - 1];
		const char *name = map_tensor(map, bias->name);
		const StEntry *e = safetensors_find(st, name);
		if (!e || e->ndim != 1 || e->dims[0] < 1 || e->dims[0] > (1u << 24))
			warn_msg("%s: the network's out=classes needs --classes or --num-classes (%s has no 1-d tensor '%s' "
				 "to count them by)", source, st->path, name);
		else
			k = (int)e->dims[0];
	}
	spec_free(one);
	spec_free(two);
	return k;
}

/* Every parameter from its tensor: all missing and misshapen ones are named before failing. */
static int read_params(SafeTensors *st, const Spec *s, const NameMap *map, float *host, int *used)
{
	int bad = 0;
	for (int i = 0; i < s->nparams; i++) {
		const SpecParam *p = &s->params[i];
		const char *name = map_tensor(map, p->name);
		const StEntry *e = safetensors_find(st, name);
		char want[64], have[64];
		tensorfile_format_shape(want, sizeof want, (uint32_t)p->ndim, p->dims);
		if (!e) {
			warn_msg("%s: no tensor '%s' for %s (%s)%s", st->path, name, p->name, want,
				 map->count ? "" : "; HINT: name the file's tensor with --map");
			bad++;
			continue;
		}
		used[e - st->entries] = 1;
		int same = e->ndim == (uint32_t)p->ndim;
		for (int d = 0; same && d < p->ndim; d++)
			same = e->dims[d] == p->dims[d];
		if (!same) {
			format_st_shape(have, sizeof have, e);
			warn_msg("%s: tensor '%s' is %s, but %s is %s in %s", st->path, name, have, p->name, want, s->source);
			bad++;
			continue;
		}
		if (safetensors_read_float(st, e, host + p->offset) != 0)
			bad++;
	}
	return bad ? -1 : 0;
}

/* x = (pixel - mean) / std into the first layer's weights (see convert.h): channel c of the
 * input scales by 1/std[c]; with bgr the weights' channel 2 - c is the image's channel c. */
static int fold_input(const Spec *s, float *host, const double *std, int bgr, const char *path)
{
	const SpecLayer *l = &s->layers[1];
	const Dims in = s->layers[0].out;
	if ((l->type != LAYER_CONV && l->type != LAYER_FC) || (l->type == LAYER_CONV && l->groups != 1))
		return warn_msg("%s: the first layer after the input must be a conv (groups=1) or an fc to take the "
				"input's normalisation into its weights; %s is a %s", path, l->name,
				layer_type_name(l->type)), -1;
	const SpecParam *w = &s->params[l->param];
	float *p = host + w->offset;
	int64_t outs = (int64_t)w->dims[0], per_channel = w->count / outs / in.c; /* R*S, or H*W for fc */
	float *tmp = xmallocarray((size_t)in.c * per_channel, sizeof *tmp);
	for (int64_t k = 0; k < outs; k++) {
		float *row = p + k * in.c * per_channel;
		memcpy(tmp, row, (size_t)in.c * per_channel * sizeof *tmp);
		for (int c = 0; c < in.c; c++) {
			const float *from = tmp + (int64_t)(bgr ? in.c - 1 - c : c) * per_channel;
			for (int64_t j = 0; j < per_channel; j++)
				row[c * per_channel + j] = (float)(from[j] / std[c]);
		}
	}
	free(tmp);
	return 0;
}

/* The model's preparation: the statistics file's, or a flat mean image of the record size. */
static int make_stats(const ImportOptions *o, const Spec *s, Stats *stats)
{
	int C = s->layers[0].out.c;
	memset(stats, 0, sizeof *stats);
	if (o->stats) {
		if (stats_load(o->stats, stats) != 0)
			return -1;
		if ((int)stats->channels != C)
			return warn_msg("%s: %u channels, the network takes %d", o->stats, stats->channels, C), -1;
		return 0;
	}
	int S = o->size ? o->size : 256;
	stats->height = stats->width = (uint32_t)S;
	stats->channels = (uint32_t)C;
	stats->mean = xmallocarray((size_t)S * S * C, sizeof *stats->mean);
	for (size_t i = 0; i < (size_t)S * S; i++)
		for (int c = 0; c < C; c++)
			stats->mean[i * C + c] = (float)o->mean[c];
	for (int c = 0; c < C; c++) {
		stats->mean_channel[c] = o->mean[c];
		stats->eigvec[c][c] = 1; /* no colour PCA: the eigenvalues stay 0 */
	}
	char m[96] = "", d[96] = "";
	for (int c = 0; c < C; c++) {
		snprintf(m + strlen(m), sizeof m - strlen(m), "%s%g", c ? "," : "", o->mean[c]);
		snprintf(d + strlen(d), sizeof d - strlen(d), "%s%g", c ? "," : "", o->std[c]);
	}
	stats->source = xasprintf("anet-convert import: mean %s, std %s%s", m, d, o->bgr ? ", BGR weights" : "");
	return 0;
}

static int import_foreign(SafeTensors *st, const char *out, const ImportOptions *o)
{
	if (!o->net)
		return safetensors_fail(st, "not written by anet-convert export (no %s metadata): give the network with "
					    "--net, and the input's normalisation", META_KIND);
	NameMap map = { 0 };
	Spec *s = NULL;
	ClassTable classes = { 0 };
	Stats stats = { 0 };
	Ctx *ctx = NULL;
	Net *net = NULL;
	float *host = NULL;
	char *text = NULL;
	int *used = xcalloc(st->count + 1, sizeof *used), rc = -1;
	ImportOptions opt = *o;
	if (o->classes) {
		if (classes_load(o->classes, &classes) != 0)
			goto out;
		opt.num_classes = (int)classes.count;
	}
	/* the map names parameters, which a spec of one class has as well; then the class count
	 * may come from the tensor the map gives the last bias */
	if (!(text = spec_read_text(o->net)) || !(s = spec_parse(text, o->net, 1)))
		goto out;
	if (o->map && map_load(&map, o->map, s, st) != 0)
		goto out;
	if (!opt.num_classes && (opt.num_classes = infer_classes(text, o->net, st, &map)) < 1)
		goto out;
	spec_free(s);
	if (!(s = spec_parse(text, o->net, opt.num_classes)))
		goto out;
	if (classes.count && (int)classes.count != s->classes) {
		warn_msg("%s: %u class names, but %s has %d outputs", o->classes, classes.count, s->source, s->classes);
		goto out;
	}
	if (o->num_classes && o->num_classes != s->classes) {
		warn_msg("--num-classes %d: %s has %d outputs (it does not say out=classes)", o->num_classes, s->source,
			 s->classes);
		goto out;
	}
	const Dims in = s->layers[0].out;
	if ((o->nmean && o->nmean != in.c) || (o->nstd && o->nstd != in.c)) {
		warn_msg("%s: the network takes %d channels: --mean and --std need %d values", s->source, in.c, in.c);
		goto out;
	}
	if (!o->nmean && !o->stats) {
		warn_msg("%s: the mean the weights expect is not given: --mean R,G,B, --torchvision or --stats FILE", st->path);
		goto out;
	}
	if (o->bgr && in.c != 3) {
		warn_msg("%s: --bgr is for a network of 3 input channels; it takes %d", s->source, in.c);
		goto out;
	}
	for (int c = 0; c < in.c && !o->nstd; c++)
		opt.std[c] = 1;
	if (make_stats(&opt, s, &stats) != 0)
		goto out;
	if ((int)stats.height < in.h || (int)stats.width < in.w) {
		warn_msg("%s: the network's %dx%d input is larger than the %ux%u records (--size)", s->source, in.h, in.w,
			 stats.height, stats.width);
		goto out;
	}
	host = xcalloc((size_t)s->param_floats, sizeof *host);
	int params_ok = read_params(st, s, &map, host, used) == 0;
	for (uint32_t i = 0; i < st->count; i++) /* on failure too: they are what a --map can name */
		if (!used[i])
			warn_msg("%s: tensor '%s' is not used by %s", st->path, st->entries[i].name, s->source);
	if (!params_ok)
		goto out;
	int scaled = o->bgr;
	for (int c = 0; c < in.c; c++)
		scaled |= opt.std[c] != 1;
	if (scaled && fold_input(s, host, opt.std, o->bgr, s->source) != 0)
		goto out;
	CtxOptions co = { .device = "cpu", .threads = 1 };
	if (!(ctx = net_ctx_open(&co)) || !(net = net_create(ctx, s, 1, NET_EVAL)) ||
	    ctx_upload(ctx, net_param_buffer(net), host, (size_t)s->param_floats * sizeof *host) != 0)
		goto out;
	TensorWriter tw;
	if (tensorwriter_open(&tw, out, TF_MODEL) != 0)
		goto out;
	if (model_write(&tw, net, &stats, classes.count ? &classes : NULL, stats.height, stats.width, stats.channels, 1,
			NULL, 1) != 0) {
		tensorwriter_abort(&tw);
		goto out;
	}
	if (finish_import(&tw, st->path, out) != 0)
		goto out;
	if (!o->quiet) {
		fprintf(stderr, "%s: %s: %d tensors (%" PRId64 " numbers) into %s, a model of %s with %d classes, %ux%u records%s\n",
			progname(), st->path, s->nparams, s->param_count, out,
			s->source, s->classes, stats.height, stats.width,
			scaled ? "; the input's scale folded into the first layer" : "");
	}
	rc = 0;
out:
	if (net)
		net_free(net);
	if (ctx)
		ctx_close(ctx);
	free(host);
	free(text);
	free(used);
	stats_free(&stats);
	classes_free(&classes);
	spec_free(s);
	map_free(&map);
	return rc;
}

int convert_import(const char *in, const char *out, const ImportOptions *o)
{
	SafeTensors st;
	if (safetensors_open(&st, in) != 0)
		return -1;
	int rc = safetensors_meta(&st, META_KIND) ? import_anet(&st, out, o) : import_foreign(&st, out, o);
	safetensors_close(&st);
	return rc;
}
