/* eval.c: evaluation with 1 or 10 crops over images and databases, per-class tables, features files (see eval.h). */
#include "libcommon/eval.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/progress.h"
#include "libcommon/util.h"
#include "libcommon/views.h"

struct Evaluator {
	Net *net;
	Ctx *ctx;
	uint32_t h, w, c;
	int crop_h, crop_w;
	float scale;
	int crops, images, classes;
	uint8_t *dev_pixels;  /* images x h x w x c */
	float *dev_mean;
	View *views;
	float *view_probs;    /* host: views x classes */
	float *view_feats;    /* host: views x dim */
	const char *feature_layer;
	int dim;
	Evaluator **members;  /* an ensemble's other models */
	int nmembers;
	double *ens_sum;      /* host: images x classes, the models' probabilities summed */
	float *ens_probs;     /* host: images x classes, one member's */
};

/* The input of the last fully connected layer: its predecessor's output, named after the
 * layer that computes it (an in-place dropout and a fused relu share their producer's
 * buffer, so "fc7" names fc7's rectified output). */
static int feature_layer(const Spec *s)
{
	for (int i = s->nlayers - 1; i > 0; i--)
		if (s->layers[i].type == LAYER_FC) {
			int j = i - 1;
			while (j > 0 && (s->layers[j].inplace || (s->layers[j].type == LAYER_RELU && s->layers[j].fused)))
				j--;
			return j;
		}
	return -1;
}

/* Features from layer l: its name, width, and the views' buffer for them. */
static void use_feature_layer(Evaluator *e, int l)
{
	const SpecLayer *sl = &net_spec(e->net)->layers[l];
	e->feature_layer = sl->name;
	e->dim = (int)dims_count(sl->out);
	free(e->view_feats);
	e->view_feats = xmallocarray((size_t)e->images * (size_t)e->crops * (size_t)e->dim, sizeof(float));
}

int evaluator_crops_ok(int crops) { return crops == 1 || crops == 5 || crops == 10; }

Evaluator *evaluator_new(Net *net, const float *mean, uint32_t h, uint32_t w, uint32_t c, float scale, int crops)
{
	const Spec *s = net_spec(net);
	Dims in = s->layers[0].out;
	if (!evaluator_crops_ok(crops)) {
		warn_msg("%d crops: 1, 5 or 10 are possible", crops);
		return NULL;
	}
	if (net_max_batch(net) < crops) {
		warn_msg("internal error: a batch of %d cannot hold %d crops", net_max_batch(net), crops);
		return NULL;
	}
	if ((uint32_t)in.c != c || (uint32_t)in.h > h || (uint32_t)in.w > w) {
		warn_msg("%s: the network's %dx%dx%d input does not fit %ux%ux%u records", s->source, in.h, in.w, in.c, h, w,
			 c);
		return NULL;
	}
	Evaluator *e = xcalloc(1, sizeof *e);
	e->net = net;
	e->ctx = net_ctx(net);
	e->h = h;
	e->w = w;
	e->c = c;
	e->crop_h = in.h;
	e->crop_w = in.w;
	e->scale = scale;
	e->crops = crops;
	e->images = net_max_batch(net) / crops;
	e->classes = s->classes;
	size_t img = (size_t)h * w * c, nviews = (size_t)e->images * (size_t)crops;
	e->dev_pixels = ctx_alloc(e->ctx, (size_t)e->images * img);
	e->dev_mean = ctx_alloc(e->ctx, img * sizeof(float));
	if (!e->dev_pixels || !e->dev_mean || ctx_upload(e->ctx, e->dev_mean, mean, img * sizeof(float)) != 0) {
		warn_msg("preparing the evaluation buffers on %s: %s", e->ctx->be->name, ctx_error(e->ctx));
		evaluator_free(e);
		return NULL;
	}
	e->views = xcalloc(nviews, sizeof *e->views);
	e->view_probs = xmallocarray(nviews * (size_t)e->classes, sizeof(float));
	int fl = feature_layer(s);
	use_feature_layer(e, fl >= 0 ? fl : 0);
	return e;
}

Evaluator *evaluator_for_model(Model *m, int crops)
{
	if (model_need_preparation(m, "evaluation") != 0)
		return NULL;
	return evaluator_new(m->net, m->stats.mean, m->height, m->width, m->channels, m->input_scale, crops);
}

void evaluator_free(Evaluator *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->nmembers; i++)
		evaluator_free(e->members[i]);
	free(e->members);
	free(e->ens_sum);
	free(e->ens_probs);
	ctx_free(e->ctx, e->dev_pixels);
	ctx_free(e->ctx, e->dev_mean);
	free(e->views);
	free(e->view_probs);
	free(e->view_feats);
	free(e);
}

int evaluator_add_member(Evaluator *e, Evaluator *member)
{
	if (member->ctx != e->ctx || member->h != e->h || member->w != e->w || member->c != e->c ||
	    member->classes != e->classes || member->crops != e->crops || member->images != e->images) {
		warn_msg("internal error: an ensemble's member for %ux%ux%u records, %d classes, %d crops of %d images, "
			 "beside %ux%ux%u, %d, %d of %d",
			 member->h, member->w, member->c, member->classes, member->crops, member->images, e->h, e->w, e->c,
			 e->classes, e->crops, e->images);
		return -1;
	}
	if (member->nmembers) {
		warn_msg("internal error: an ensemble as a member of another");
		return -1;
	}
	if (!e->nmembers) {
		size_t len = (size_t)e->images * (size_t)e->classes;
		e->ens_sum = xmallocarray(len, sizeof *e->ens_sum);
		e->ens_probs = xmallocarray(len, sizeof *e->ens_probs);
	}
	e->members = xreallocarray(e->members, (size_t)e->nmembers + 1, sizeof *e->members);
	e->members[e->nmembers++] = member;
	return 0;
}

int evaluator_models(const Evaluator *e) { return 1 + e->nmembers; }

int evaluator_images(const Evaluator *e) { return e->images; }
int evaluator_crops(const Evaluator *e) { return e->crops; }

int evaluator_set_feature_layer(Evaluator *e, const char *name)
{
	const Spec *s = net_spec(e->net);
	int l = spec_find_layer(s, name, s->source);
	if (l < 0)
		return -1;
	int64_t dim = dims_count(s->layers[l].out);
	if (dim > INT32_MAX / 2) {
		warn_msg("%s: layer %s has %" PRId64 " outputs an image, too many for a features file", s->source, name, dim);
		return -1;
	}
	use_feature_layer(e, l);
	return 0;
}

const char *evaluator_feature_layer(const Evaluator *e, int *dim)
{
	if (dim)
		*dim = e->dim;
	return e->feature_layer;
}

/* out[i] = the mean over the crops of in[i * crops + k] (rows of len floats), summed in double. */
static void average_crops(const float *in, int n, int crops, int len, float *out)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < len; j++) {
			double sum = 0;
			for (int k = 0; k < crops; k++)
				sum += in[((size_t)i * crops + k) * (size_t)len + (size_t)j];
			out[(size_t)i * len + j] = (float)(sum / crops);
		}
}

/* probs (e's own, n images) becomes the mean over e and its members, summed in double in the
 * members' order */
static int average_members(Evaluator *e, const uint8_t *pixels, int n, float *probs)
{
	size_t len = (size_t)n * (size_t)e->classes;
	for (size_t j = 0; j < len; j++)
		e->ens_sum[j] = probs[j];
	for (int i = 0; i < e->nmembers; i++) {
		if (evaluator_run(e->members[i], pixels, n, e->ens_probs, NULL) != 0)
			return -1;
		for (size_t j = 0; j < len; j++)
			e->ens_sum[j] += e->ens_probs[j];
	}
	for (size_t j = 0; j < len; j++)
		probs[j] = (float)(e->ens_sum[j] / (1 + e->nmembers));
	return 0;
}

int evaluator_run(Evaluator *e, const uint8_t *pixels, int n, float *probs, float *features)
{
	Ctx *c = e->ctx;
	size_t img = (size_t)e->h * e->w * e->c;
	int nviews = n * e->crops;
	if (n < 1 || n > e->images) {
		warn_msg("internal error: %d images for an evaluator of %d", n, e->images);
		return -1;
	}
	views_test((int)e->h, (int)e->w, e->crop_h, e->crop_w, e->crops, n, e->views);
	AugmentShape as = { .H = (int)e->h, .W = (int)e->w, .C = (int)e->c, .crop_h = e->crop_h, .crop_w = e->crop_w,
			    .scale = e->scale };
	if (ctx_upload(c, e->dev_pixels, pixels, (size_t)n * img) != 0 ||
	    c->be->augment(c, &as, nviews, e->views, e->dev_pixels, e->dev_mean, net_input(e->net)) != 0) {
		warn_msg("preparing the views: %s", ctx_error(c));
		return -1;
	}
	if (net_forward(e->net, nviews, NET_EVAL, 0) != 0)
		return -1;
	const float *p = net_probs(e->net);
	if (!p)
		return -1;
	if (e->crops == 1)
		memcpy(probs, p, (size_t)n * (size_t)e->classes * sizeof *probs);
	else
		average_crops(p, n, e->crops, e->classes, probs);
	if (e->nmembers && average_members(e, pixels, n, probs) != 0)
		return -1;
	if (!features)
		return 0;
	const float *dev = net_output(e->net, e->feature_layer, NULL);
	float *dst = e->crops == 1 ? features : e->view_feats;
	if (ctx_download(c, dst, dev, (size_t)nviews * (size_t)e->dim * sizeof(float)) != 0) {
		warn_msg("downloading the features of %s: %s", e->feature_layer, ctx_error(c));
		return -1;
	}
	if (e->crops > 1)
		average_crops(e->view_feats, n, e->crops, e->dim, features);
	return 0;
}

int eval_rank(const float *probs, int classes, int label)
{
	int rank = 0;
	float p = probs[label];
	/* NaN compares false with everything, which would rank the label first: a diverged model
	 * scored 0 error */
	if (isnan(p))
		return classes > 5 ? classes : 5;
	for (int k = 0; k < classes; k++)
		if (k != label && (probs[k] > p || (probs[k] == p && k < label)))
			rank++;
	return rank;
}

/* ---------------------------------------------------------------------------------------- */
/* a database */

static void count_batch(EvalResult *r, const Batch *b, const float *probs, int per_class)
{
	int K = (int)r->classes;
	for (int i = 0; i < b->n; i++) {
		int32_t y = b->labels[i];
		r->images++;
		if (y < 0 || y >= K)
			continue;
		const float *p = probs + (size_t)i * (size_t)K;
		int rank = eval_rank(p, K, y);
		r->labelled++;
		r->nonfinite += isnan(p[y]);
		r->loss += net_loss(p, &y, 1, K); /* training's own, so that a log's val and train rows agree */
		r->top1 += rank >= 1;
		r->top5 += rank >= 5;
		if (!per_class)
			continue;
		r->count[y]++;
		r->wrong1[y] += rank >= 1;
		r->wrong5[y] += rank >= 5;
		/* probabilities that are NaN (a diverged model) name no class: taken as class 0's, they
		 * put class 0's records on the diagonal, right, beside their top-1 error of 1 */
		if (isnan(p[y]))
			continue;
		int best = 0; /* the first of the largest, as eval_rank ranks ties */
		for (int k = 1; k < K; k++)
			if (p[k] > p[best] || (isnan(p[best]) && !isnan(p[k])))
				best = k;
		r->confusion[(size_t)y * (size_t)K + (size_t)best]++;
	}
}

int eval_db(Evaluator *e, Db *db, const EvalDbOptions *o, EvalResult *r)
{
	const DbInfo *info = db_info(db);
	memset(r, 0, sizeof *r);
	r->classes = (uint32_t)e->classes;
	if (info->height != e->h || info->width != e->w || info->channels != e->c) {
		warn_msg("%s: %ux%ux%u records, the evaluation expects %ux%ux%u", db_path(db), info->height, info->width,
			 info->channels, e->h, e->w, e->c);
		return -1;
	}
	if (o->per_class) {
		r->count = xcalloc(r->classes, sizeof *r->count);
		r->wrong1 = xcalloc(r->classes, sizeof *r->wrong1);
		r->wrong5 = xcalloc(r->classes, sizeof *r->wrong5);
		r->confusion = xcalloc((size_t)r->classes * r->classes, sizeof *r->confusion);
	}
	LoaderOptions lo = { .db = db, .ctx = e->ctx, .batch = e->images, .threads = o->threads, .order = LOADER_ONCE,
			     .first = o->first, .count = o->count ? o->count : info->count - o->first };
	double t0 = now_seconds();
	Loader *l = loader_start(&lo);
	if (!l)
		return -1;
	float *probs = xmallocarray((size_t)e->images * (size_t)e->classes, sizeof *probs);
	float *feats = o->features ? xmallocarray((size_t)e->images * (size_t)e->dim, sizeof *feats) : NULL;
	Progress *pg = o->progress ? progress_start(o->progress, lo.count, "img") : NULL;
	int rc = 0;
	Batch *b;
	while (rc == 0 && (b = loader_next(l, &r->wait))) {
		r->skipped += (uint64_t)b->skipped;
		if (b->n > 0) {
			rc = evaluator_run(e, b->pixels, b->n, probs, feats);
			if (rc == 0) {
				count_batch(r, b, probs, o->per_class);
				if (o->sink)
					o->sink(o->sink_arg, b, probs, feats, e->dim);
			}
		}
		loader_release(l, b);
		if (pg) {
			char extra[96];
			snprintf(extra, sizeof extra, "top-1 error %.2f%%",
				 r->labelled ? 100.0 * r->top1 / (double)r->labelled : 0.0);
			progress_update(pg, r->images + r->skipped, extra);
		}
	}
	if (pg)
		progress_end(pg, r->images + r->skipped, NULL);
	loader_stop(l);
	free(probs);
	free(feats);
	if (r->nonfinite)
		warn_msg("%s: %" PRIu64 " of %" PRIu64 " images have probabilities that are not numbers (NaN): the model's "
			 "weights or mean image hold NaN or Inf (anet-viz info finds them); they count as errors",
			 db_path(db), r->nonfinite, r->labelled);
	if (r->labelled) {
		r->loss /= (double)r->labelled;
		r->top1 /= (double)r->labelled;
		r->top5 /= (double)r->labelled;
	}
	r->seconds = now_seconds() - t0;
	return rc;
}

void eval_result_free(EvalResult *r)
{
	free(r->count);
	free(r->wrong1);
	free(r->wrong5);
	free(r->confusion);
	r->count = r->wrong1 = r->wrong5 = r->confusion = NULL;
}

int eval_check_db(const Model *m, Db *db)
{
	const DbInfo *info = db_info(db);
	if (info->height != m->height || info->width != m->width || info->channels != m->channels) {
		warn_msg("%s: %ux%ux%u records, but %s was trained on %ux%ux%u records (imgprep -s %u%s)", db_path(db),
			 info->height, info->width, info->channels, m->path, m->height, m->width, m->channels, m->height,
			 m->channels == 1 ? " -c 1" : "");
		return -1;
	}
	if (info->labelled && info->num_classes != m->num_classes) {
		warn_msg("%s: %u classes, but %s has %u", db_path(db), info->num_classes, m->path, m->num_classes);
		return -1;
	}
	if (info->classes.count && m->classes.count && !classes_equal(&info->classes, &m->classes)) {
		for (uint32_t i = 0; i < m->classes.count; i++)
			if (strcmp(info->classes.names[i], m->classes.names[i]) != 0) {
				warn_msg("%s: class %u is '%s', but in %s it is '%s' (the class orders differ)", db_path(db), i,
					 info->classes.names[i], m->path, m->classes.names[i]);
				break;
			}
		return -1;
	}
	return 0;
}

int eval_write_per_class(const char *path, const Model *m, const EvalResult *r)
{
	AtomicFile af;
	if (atomic_open(&af, path) != 0)
		return -1;
	fprintf(af.f, "class\tname\tcount\ttop1\ttop5\n");
	for (uint32_t k = 0; k < r->classes; k++) {
		char name[256];
		double n = (double)r->count[k];
		fprintf(af.f, "%u\t", k);
		fput_escaped(model_class_name(m, (int)k, name, sizeof name), af.f);
		fprintf(af.f, "\t%" PRIu64 "\t%.6f\t%.6f\n", r->count[k], n ? (double)r->wrong1[k] / n : 0.0,
			n ? (double)r->wrong5[k] / n : 0.0);
	}
	return atomic_commit(&af);
}

int eval_write_confusion(const char *path, const Model *m, const EvalResult *r)
{
	AtomicFile af;
	char name[256];
	if (atomic_open(&af, path) != 0)
		return -1;
	fprintf(af.f, "true\\predicted");
	for (uint32_t k = 0; k < r->classes; k++) {
		fputc('\t', af.f);
		fput_escaped(model_class_name(m, (int)k, name, sizeof name), af.f);
	}
	fputc('\n', af.f);
	for (uint32_t y = 0; y < r->classes; y++) {
		fput_escaped(model_class_name(m, (int)y, name, sizeof name), af.f);
		for (uint32_t k = 0; k < r->classes; k++)
			fprintf(af.f, "\t%" PRIu64, r->confusion[(size_t)y * r->classes + k]);
		fputc('\n', af.f);
	}
	return atomic_commit(&af);
}

/* ---------------------------------------------------------------------------------------- */
/* features files */

struct FeatureFile {
	TensorWriter w;
	uint64_t n, rows;
	int dim;
	int32_t *labels;
	int64_t *index;
	char *names;       /* the rows' names, one a line */
	size_t names_len, names_cap;
	int have_names;
	char *class_names; /* one a line */
	char *layer, *model, *source;
};

FeatureFile *features_open(const char *path, const Model *m, const char *layer, uint64_t n, int dim,
			   const char *source)
{
	FeatureFile *f = xcalloc(1, sizeof *f);
	if (tensorwriter_open(&f->w, path, TF_FEATURES) != 0) {
		free(f);
		return NULL;
	}
	uint64_t dims[2] = { n, (uint64_t)dim };
	if (tensorwriter_begin(&f->w, "features", DT_F32, 2, dims) != 0) {
		tensorwriter_abort(&f->w);
		free(f);
		return NULL;
	}
	f->n = n;
	f->dim = dim;
	f->labels = xcalloc(n ? n : 1, sizeof *f->labels);
	f->index = xcalloc(n ? n : 1, sizeof *f->index);
	size_t len = 1;
	for (uint32_t k = 0; k < m->classes.count; k++)
		len += strlen(m->classes.names[k]) + 1;
	f->class_names = xcalloc(1, len);
	for (uint32_t k = 0; k < m->classes.count; k++) {
		strcat(f->class_names, m->classes.names[k]);
		strcat(f->class_names, "\n");
	}
	f->layer = xstrdup(layer);
	f->model = xstrdup(m->path);
	f->source = xstrdup(source);
	return f;
}

static void add_name(FeatureFile *f, const char *name)
{
	size_t k = strlen(name);
	if (f->names_len + k + 2 > f->names_cap) {
		f->names_cap = (f->names_len + k + 2) * 2;
		f->names = xrealloc(f->names, f->names_cap);
	}
	for (size_t i = 0; i < k; i++) /* a newline would split the row */
		f->names[f->names_len++] = name[i] == '\n' ? ' ' : name[i];
	f->names[f->names_len++] = '\n';
	f->names[f->names_len] = '\0';
}

int features_append(FeatureFile *f, int k, const float *features, const int32_t *labels, const uint64_t *index,
		    const char *const *names)
{
	if (f->rows + (uint64_t)k > f->n) {
		warn_msg("%s: internal error: more than %" PRIu64 " feature rows", f->w.af.path, f->n);
		return -1;
	}
	if (tensorwriter_append(&f->w, features, (size_t)k * (size_t)f->dim * sizeof(float)) != 0)
		return -1;
	for (int i = 0; i < k; i++) {
		f->labels[f->rows + (uint64_t)i] = labels[i];
		f->index[f->rows + (uint64_t)i] = (int64_t)index[i];
		if (names) {
			add_name(f, names[i]);
			f->have_names = 1;
		}
	}
	f->rows += (uint64_t)k;
	return 0;
}

static void features_free(FeatureFile *f)
{
	free(f->labels);
	free(f->index);
	free(f->names);
	free(f->class_names);
	free(f->layer);
	free(f->model);
	free(f->source);
	free(f);
}

int features_commit(FeatureFile *f)
{
	uint64_t n = f->n;
	int rc = -1;
	if (f->w.failed) {
		tensorwriter_abort(&f->w); /* a write that failed said why: the rows it lost are not unreadable records */
	} else if (f->rows != f->n) {
		warn_msg("%s: %" PRIu64 " of %" PRIu64 " rows computed (unreadable records?): not written", f->w.af.path,
			 f->rows, f->n);
		tensorwriter_abort(&f->w);
	} else if (tensorwriter_add(&f->w, "labels", DT_I32, 1, &n, f->labels) == 0 &&
		   tensorwriter_add(&f->w, "index", DT_I64, 1, &n, f->index) == 0 &&
		   tensorwriter_add_text(&f->w, "names", f->class_names) == 0 &&
		   (!f->have_names || tensorwriter_add_text(&f->w, "sources", f->names) == 0) &&
		   tensorwriter_add_text(&f->w, "layer", f->layer) == 0 &&
		   tensorwriter_add_text(&f->w, "model", f->model) == 0 &&
		   tensorwriter_add_text(&f->w, "source", f->source) == 0) {
		rc = tensorwriter_commit(&f->w); /* removes its temporary itself on failure */
	} else {
		tensorwriter_abort(&f->w);
	}
	features_free(f);
	return rc;
}

void features_abort(FeatureFile *f)
{
	if (!f)
		return;
	tensorwriter_abort(&f->w);
	features_free(f);
}

void features_sink(void *arg, const Batch *b, const float *probs, const float *features, int dim)
{
	FeatureFile *f = arg;
	(void)probs;
	(void)dim;
	if (features_append(f, b->n, features, b->labels, b->keys, NULL) != 0)
		f->w.failed = 1;
}

/* ---------------------------------------------------------------------------------------- */
/* images */

int eval_prepare_image(const Model *m, ImageCodec *c, const char *path, int exif_orientation, uint8_t *dst)
{
	PrepOptions po;
	prep_options_init(&po);
	po.size = (int)m->height;
	po.channels = (int)m->channels;
	po.exif_orientation = exif_orientation;
	Image im = { 0 };
	char why[256];
	if (m->height != m->width) {
		warn_msg("%s: %ux%u records are not square: imgprep's preparation cannot make them", m->path, m->height,
			 m->width);
		return -1;
	}
	if (image_prepare_file(c, path, &po, &im, NULL, why, sizeof why) != 0) {
		warn_msg("%s: %s", path, why);
		return -1;
	}
	memcpy(dst, im.pixels, (size_t)m->height * m->width * m->channels);
	image_free(&im);
	return 0;
}
