/* anet-eval: top-1/top-5 error of a model on a database (1, 5 or 10 crops), predictions for images, feature dumps. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/kernels.h"
#include "libcommon/db.h"
#include "libcommon/eval.h"
#include "libcommon/model.h"
#include "libcommon/opt.h"
#include "libcommon/util.h"

typedef struct {
	const char **models; /* -w, once or more (an ensemble) */
	int nmodels;
	int crops;
	int top;
	int batch;          /* images per pass */
	int jobs;
	uint64_t limit;     /* records evaluated (0: all) */
	const char *per_class, *confusion, *features;
	const char *layer;  /* of the features; NULL: the last hidden layer */
	const char *device;
	int gpu, threads;
	int quiet;
	int exif_orientation; /* image files: turned upright by their EXIF tag */
	char **inputs;
	int ninputs;
} Options;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: anet-eval -w MODEL [-w MODEL]... [--crops 1|5|10] [--device D] [--top K] [OPTION]...\n"
		"                 (DB | IMAGE...)\n"
		"Evaluates a model from anet-train: top-1 and top-5 error on a database, or the most\n"
		"probable classes of image files, prepared exactly as imgprep and anet-train did.\n"
		"\n"
		"  -w, --weights MODEL      a model or checkpoint written by anet-train; given again,\n"
		"                           an ensemble: the models' softmax outputs averaged (the\n"
		"                           paper's Table 2 averages five CNNs)\n"
		"      --crops 1|5|10       the centre crop (default), or the paper's ten: four corners\n"
		"                           and the centre, each mirrored, softmax outputs averaged;\n"
		"                           5: those without the mirrors (a model trained --no-flip)\n"
		"  -k, --top K              classes shown per image (default 5)\n"
		"      --per-class FILE     per-class counts and errors as TSV (database)\n"
		"      --confusion FILE     the confusion matrix as TSV (database)\n"
		"      --features FILE      the last hidden layer of every input, averaged over the crops,\n"
		"                           as a features file (man 5 anet-formats)\n"
		"      --layer NAME         the features of this layer instead (pool5, fc6, ...)\n"
		"      --limit N            evaluate the first N records only\n"
		"      --orientation MODE   image files: ignore (default) or exif, as imgprep's option\n"
		"  -b, --batch N            images per pass (default 64)\n"
		"  -j, --jobs N             decode threads (default: processors, at most 16)\n"
		"  -d, --device D           auto, cpu or cuda (default $ANET_DEVICE, else auto)\n"
		"      --gpu N              the CUDA device (default 0)\n"
		"      --threads N          CPU threads of the kernels (default: every processor)\n"
		"  -q, --quiet              no header, no progress\n"
		"  -h, --help               this help\n"
		"      --version            the version\n"
		"\n"
		"A DB is a folder made by mkdb; any other argument is an image file. See anet-eval(1).\n");
}

enum { OPT_CROPS = 256, OPT_PER_CLASS, OPT_CONFUSION, OPT_FEATURES, OPT_LAYER, OPT_LIMIT, OPT_GPU, OPT_THREADS, OPT_VERSION,
       OPT_ORIENTATION };

static void parse_options(int argc, char **argv, Options *o)
{
	static const struct option longopts[] = {
		{ "weights", required_argument, NULL, 'w' },   { "crops", required_argument, NULL, OPT_CROPS },
		{ "top", required_argument, NULL, 'k' },       { "per-class", required_argument, NULL, OPT_PER_CLASS },
		{ "confusion", required_argument, NULL, OPT_CONFUSION },
		{ "features", required_argument, NULL, OPT_FEATURES }, { "layer", required_argument, NULL, OPT_LAYER },
		{ "orientation", required_argument, NULL, OPT_ORIENTATION },
		{ "limit", required_argument, NULL, OPT_LIMIT }, { "batch", required_argument, NULL, 'b' },
		{ "jobs", required_argument, NULL, 'j' },      { "device", required_argument, NULL, 'd' },
		{ "gpu", required_argument, NULL, OPT_GPU },   { "threads", required_argument, NULL, OPT_THREADS },
		{ "quiet", no_argument, NULL, 'q' },           { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION }, { NULL, 0, NULL, 0 }
	};
	int cpus = cpu_count();
	*o = (Options){ .crops = 1, .top = 5, .batch = 64, .jobs = cpus < 16 ? cpus : 16 };
	int c;
	while ((c = getopt_long(argc, argv, "w:k:b:j:d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			o->models = xreallocarray(o->models, (size_t)o->nmodels + 1, sizeof *o->models);
			o->models[o->nmodels++] = optarg;
			break;
		case OPT_CROPS:
			o->crops = (int)opt_int("--crops", optarg, 1, 10);
			if (!evaluator_crops_ok(o->crops))
				usage_error("--crops: %d: 1 (the centre), 10 (the paper's) or 5 (without mirrors) are possible",
					    o->crops);
			break;
		case 'k': o->top = (int)opt_int("--top", optarg, 1, 1000000); break;
		case OPT_PER_CLASS: o->per_class = optarg; break;
		case OPT_CONFUSION: o->confusion = optarg; break;
		case OPT_FEATURES: o->features = optarg; break;
		case OPT_LAYER: o->layer = optarg; break;
		case OPT_ORIENTATION:
			if (orientation_parse(optarg, &o->exif_orientation))
				usage_error("--orientation: '%s' is not ignore or exif", optarg);
			break;
		case OPT_LIMIT: o->limit = (uint64_t)opt_int("--limit", optarg, 1, INT64_MAX); break;
		case 'b': o->batch = (int)opt_int("--batch", optarg, 1, 1 << 16); break;
		case 'j': o->jobs = (int)opt_int("--jobs", optarg, 1, 256); break;
		case 'd': o->device = opt_device("--device", optarg); break;
		case OPT_GPU: o->gpu = (int)opt_int("--gpu", optarg, 0, 1024); break;
		case OPT_THREADS: o->threads = (int)opt_int("--threads", optarg, 1, 4096); break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		case OPT_VERSION: printf("anet-eval (anet) %s\n", ANET_VERSION); exit(0);
		default: fprintf(stderr, "Try '%s --help' for more information.\n", progname()); exit(EXIT_USAGE);
		}
	}
	if (!o->nmodels)
		usage_error("no model: give -w MODEL");
	if (o->nmodels > 1 && (o->features || o->layer))
		usage_error("--features and --layer take one model (each of an ensemble's has features of its own)");
	if (optind == argc)
		usage_error("nothing to evaluate: give a database or image files");
	if (o->layer && !o->features)
		usage_error("--layer chooses the layer of --features FILE");
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* A folder holding data.mdb is a database; anything else an image. */
static int is_database(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return 0;
	char *data = xasprintf("%s/data.mdb", path);
	int yes = stat(data, &sb) == 0;
	free(data);
	return yes;
}

static void print_views(const Options *o, const Model *m, const char *whose)
{
	Dims in = m->spec->layers[0].out;
	printf("views%s: ", whose);
	if (o->crops == 10)
		printf("10 crops of %dx%d from %ux%u records (4 corners and the centre, each mirrored; softmax "
		       "outputs averaged)\n",
		       in.h, in.w, m->height, m->width);
	else if (o->crops == 5)
		printf("5 crops of %dx%d from %ux%u records (4 corners and the centre, not mirrored; softmax "
		       "outputs averaged)\n",
		       in.h, in.w, m->height, m->width);
	else
		printf("the centre %dx%d crop of %ux%u records\n", in.h, in.w, m->height, m->width);
}

/* What was evaluated and how; an ensemble's models each with a line, and a views line for any
 * whose input differs from the first's. */
static void print_header(const Options *o, Model *const *ms)
{
	for (int i = 0; i < o->nmodels; i++)
		printf("model: %s (%s; %u classes%s%s)\n", ms[i]->path, tensorfile_kind_name(ms[i]->kind),
		       ms[i]->num_classes, *ms[i]->trained_on ? ", trained on " : "", ms[i]->trained_on);
	if (o->nmodels > 1)
		printf("ensemble: %d models, their softmax outputs averaged\n", o->nmodels);
	Dims in0 = ms[0]->spec->layers[0].out;
	print_views(o, ms[0], "");
	for (int i = 1; i < o->nmodels; i++) {
		Dims in = ms[i]->spec->layers[0].out;
		if (in.h != in0.h || in.w != in0.w) {
			char *whose = xasprintf(" of %s", ms[i]->path);
			print_views(o, ms[i], whose);
			free(whose);
		}
	}
	for (int i = 0; i < o->nmodels; i++)
		printf("preprocessing%s%s: the training mean image (%ux%ux%u) subtracted, times %g\n",
		       o->nmodels > 1 ? " of " : "", o->nmodels > 1 ? ms[i]->path : "", ms[i]->height, ms[i]->width,
		       ms[i]->channels, (double)ms[i]->input_scale);
}

/* ---------------------------------------------------------------------------------------- */
/* a database */

static int write_tables(const Options *o, const Model *m, const EvalResult *r)
{
	if (o->per_class && eval_write_per_class(o->per_class, m, r) != 0)
		return -1;
	if (o->confusion && eval_write_confusion(o->confusion, m, r) != 0)
		return -1;
	return 0;
}

/* REFERENCE.md B.4: a 1000-class run is most likely ILSVRC-2012, where these numbers say how
 * far off it is (A.10; the paper's Table 2 does not say how many crops, §4.1 suggests 10). */
static void print_paper_numbers(int models)
{
	printf("for comparison, on ILSVRC-2012's validation set (top-1 / top-5 error):\n"
	       "  the paper's one CNN: 0.407 / 0.182 (Table 2; presumably 10 crops)\n");
	if (models > 1)
		printf("  the paper's five CNNs, averaged: 0.381 / 0.164 (Table 2)\n");
	printf("  Caffe's replication, bvlc_alexnet: 0.429 / 0.198 (the centre crop)\n");
}

static int eval_database(const Options *o, Model *const *ms, Evaluator *e)
{
	Model *m = ms[0];
	Db *db = db_open(o->inputs[0]);
	if (!db)
		return -1;
	const DbInfo *info = db_info(db);
	int rc = -1;
	FeatureFile *ff = NULL;
	uint64_t count = o->limit && o->limit < info->count ? o->limit : info->count;
	for (int i = 0; i < o->nmodels; i++)
		if (eval_check_db(ms[i], db) != 0)
			goto out;
	/* the tables count labels; left unwritten, they would be missed only later */
	if (!info->labelled && (o->per_class || o->confusion)) {
		warn_msg("%s: the records have no labels: %s needs them", o->inputs[0],
			 o->per_class ? "--per-class" : "--confusion");
		goto out;
	}
	if (!info->labelled && !o->features) {
		warn_msg("%s: the records have no labels: nothing to measure (give --features, or images)", o->inputs[0]);
		goto out;
	}
	if (!o->quiet) {
		print_header(o, ms);
		printf("database: %s: %" PRIu64 " of %" PRIu64 " records, %ux%ux%u %s\n", o->inputs[0], count, info->count,
		       info->height, info->width, info->channels, encoding_name(info->encoding));
		fflush(stdout);
	}
	int dim;
	const char *layer = evaluator_feature_layer(e, &dim);
	if (o->features && !(ff = features_open(o->features, m, layer, count, dim, o->inputs[0])))
		goto out;
	EvalDbOptions eo = { .threads = o->jobs, .count = count, .features = ff != NULL, .sink = ff ? features_sink : NULL,
			     .sink_arg = ff, .progress = o->quiet ? NULL : "evaluating", .per_class = 1 };
	EvalResult r;
	if (eval_db(e, db, &eo, &r) != 0) {
		eval_result_free(&r);
		goto out;
	}
	if (r.labelled) {
		printf("images: %" PRIu64 " (%" PRIu64 " skipped)\n", r.images, r.skipped);
		printf("top-1 error: %.4f (accuracy %.2f%%)\n", r.top1, 100 * (1 - r.top1));
		printf("top-5 error: %.4f (accuracy %.2f%%)\n", r.top5, 100 * (1 - r.top5));
		printf("loss: %.4f\n", r.loss);
		if (!o->quiet && m->num_classes == 1000)
			print_paper_numbers(o->nmodels);
	}
	if (!o->quiet)
		printf("time: %.2f s (%.0f img/s, %.0f%% of it waiting for data)\n", r.seconds,
		       r.seconds > 0 ? (double)r.images / r.seconds : 0.0, r.seconds > 0 ? 100 * r.wait / r.seconds : 0.0);
	rc = r.labelled ? write_tables(o, m, &r) : 0;
	eval_result_free(&r);
	if (ff) {
		int frc = features_commit(ff);
		ff = NULL;
		if (frc != 0)
			rc = -1;
		else if (!o->quiet)
			printf("features: %s (%" PRIu64 " x %d, layer %s)\n", o->features, count, dim, layer);
	}
out:
	features_abort(ff);
	db_close(db);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* images */

static void print_predictions(const Options *o, const Model *m, const char *path, const float *p)
{
	int K = (int)m->num_classes, top = o->top < K ? o->top : K;
	int *order = xcalloc((size_t)K, sizeof *order);
	for (int k = 0; k < K; k++)
		order[k] = k;
	/* a partial selection sort (top is small); of equal probabilities the lower class first, as
	 * eval_rank ranks them, which a swap alone would not keep */
	for (int i = 0; i < top; i++)
		for (int j = i + 1; j < K; j++)
			if (p[order[j]] > p[order[i]] || (p[order[j]] == p[order[i]] && order[j] < order[i])) {
				int t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
	fput_escaped(path, stdout); /* a newline in a name would start a line that reads as a prediction */
	putchar('\n');
	for (int i = 0; i < top; i++) {
		char name[256];
		printf("  %7.3f%%  %d  %s\n", 100.0 * p[order[i]], order[i], model_class_name(m, order[i], name, sizeof name));
	}
	free(order);
}

/* Runs the prepared images [0, n) and prints (and stores) their results. */
static int flush_images(const Options *o, Model *m, Evaluator *e, FeatureFile *ff, uint8_t *pixels, char **paths,
			const uint64_t *index, int n, float *probs, float *feats)
{
	if (n == 0)
		return 0;
	if (evaluator_run(e, pixels, n, probs, ff ? feats : NULL) != 0)
		return -1;
	for (int i = 0; i < n; i++)
		print_predictions(o, m, paths[i], probs + (size_t)i * m->num_classes);
	if (ff) {
		int32_t *none = xcalloc((size_t)n, sizeof *none);
		for (int i = 0; i < n; i++)
			none[i] = -1;
		int rc = features_append(ff, n, feats, none, index, (const char *const *)paths);
		free(none);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int eval_images(const Options *o, Model *const *ms, Evaluator *e)
{
	Model *m = ms[0];
	size_t img = (size_t)m->height * m->width * m->channels;
	int cap = evaluator_images(e), n = 0, failed = 0, dim;
	const char *layer = evaluator_feature_layer(e, &dim);
	uint8_t *pixels = xmallocarray((size_t)cap, img);
	float *probs = xmallocarray((size_t)cap * m->num_classes, sizeof *probs);
	float *feats = o->features ? xmallocarray((size_t)cap * (size_t)dim, sizeof *feats) : NULL;
	char **paths = xcalloc((size_t)cap, sizeof *paths);
	uint64_t *index = xcalloc((size_t)cap, sizeof *index);
	ImageCodec *codec = codec_new();
	FeatureFile *ff = NULL;
	int rc = 0;
	if (!o->quiet) {
		print_header(o, ms);
		printf("images: prepared as imgprep -s %u -c %u%s does (shorter side to %u, centre crop)\n", m->height,
		       m->channels, o->exif_orientation ? " --orientation exif" : "", m->height);
	}
	/* every image, readable or not, has a row: count them first */
	if (o->features && !(ff = features_open(o->features, m, layer, (uint64_t)o->ninputs, dim, "images")))
		rc = -1;
	for (int i = 0; i < o->ninputs && rc == 0; i++) {
		if (eval_prepare_image(m, codec, o->inputs[i], o->exif_orientation, pixels + (size_t)n * img) != 0) {
			failed++;
			continue;
		}
		paths[n] = o->inputs[i];
		index[n++] = (uint64_t)i;
		if (n == cap) {
			rc = flush_images(o, m, e, ff, pixels, paths, index, n, probs, feats);
			n = 0;
		}
	}
	if (rc == 0)
		rc = flush_images(o, m, e, ff, pixels, paths, index, n, probs, feats);
	if (ff) {
		if (rc == 0 && failed)
			warn_msg("%s: not written: %d image%s could not be read", o->features, failed, failed == 1 ? "" : "s");
		if (rc == 0 && !failed)
			rc = features_commit(ff);
		else
			features_abort(ff);
	}
	codec_free(codec);
	free(pixels);
	free(probs);
	free(feats);
	free(paths);
	free(index);
	return rc != 0 || failed ? -1 : 0;
}

/* An ensemble's model beside the first: the same records and classes (their names too). */
static int same_task(const Model *first, const Model *m)
{
	if (m->height != first->height || m->width != first->width || m->channels != first->channels) {
		warn_msg("%s was trained on %ux%ux%u records, %s on %ux%ux%u: an ensemble's models read the same records",
			 m->path, m->height, m->width, m->channels, first->path, first->height, first->width,
			 first->channels);
		return -1;
	}
	if (m->num_classes != first->num_classes) {
		warn_msg("%s has %u classes, %s %u: an ensemble's models share their classes", m->path, m->num_classes,
			 first->path, first->num_classes);
		return -1;
	}
	if (m->classes.count && first->classes.count && !classes_equal(&m->classes, &first->classes)) {
		warn_msg("%s names its classes otherwise than %s (or in another order)", m->path, first->path);
		return -1;
	}
	return 0;
}

/* The models of -w, each with its evaluator, the others members of the first's; NULL after
 * printing why (ms holds what was loaded, for the caller to free). */
static Evaluator *load_models(const Options *o, Ctx *ctx, Model **ms)
{
	Evaluator *e = NULL;
	for (int i = 0; i < o->nmodels; i++) {
		if (!(ms[i] = model_load(ctx, o->models[i], o->batch * o->crops, NET_EVAL)))
			break;
		if (o->crops == 10 && !ms[i]->mirrored)
			warn_msg("%s was trained without mirror images (--no-flip): 5 of the 10 views are foreign to it; "
				 "--crops 5 leaves them out",
				 o->models[i]);
		if (i > 0 && same_task(ms[0], ms[i]) != 0)
			break;
		Evaluator *ei = evaluator_for_model(ms[i], o->crops);
		if (!ei)
			break;
		if (i == 0)
			e = ei;
		else if (evaluator_add_member(e, ei) != 0) {
			evaluator_free(ei);
			break;
		}
		if (i == o->nmodels - 1)
			return e;
	}
	evaluator_free(e);
	return NULL;
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	Options o;
	parse_options(argc, argv, &o);
	int db = is_database(o.inputs[0]);
	if (db && o.ninputs > 1)
		usage_error("one database at a time ('%s' is a database)", o.inputs[0]);
	if (!db && (o.per_class || o.confusion || o.limit))
		usage_error("--per-class, --confusion and --limit are for a database");
	if (db && o.exif_orientation)
		usage_error("--orientation is for image files; a database's records were prepared by imgprep");
	/* a table onto the model, an input or another table would replace it (a typo loses the
	 * file); and one that cannot be created is found now, not after the evaluation */
	const char *outs[][2] = { { "--per-class", o.per_class }, { "--confusion", o.confusion }, { "--features", o.features } };
	for (size_t i = 0; i < ARRAY_LEN(outs); i++) {
		if (!outs[i][1])
			continue;
		for (int k = 0; k < o.nmodels; k++)
			if (same_file(outs[i][1], o.models[k]))
				usage_error("%s %s is the model file (-w) itself", outs[i][0], outs[i][1]);
		for (int k = 0; k < o.ninputs; k++)
			if (same_file(outs[i][1], o.inputs[k]))
				usage_error("%s %s is the input %s itself", outs[i][0], outs[i][1], o.inputs[k]);
		for (size_t k = 0; k < i; k++)
			if (same_output(outs[i][1], outs[k][1]))
				usage_error("%s %s is the file of %s too: give each its own", outs[i][0], outs[i][1], outs[k][0]);
		if (atomic_probe(outs[i][1]) != 0)
			return EXIT_RUNTIME;
	}
	CtxOptions co = { .device = o.device, .gpu = o.gpu, .threads = o.threads };
	Ctx *ctx = net_ctx_open(&co);
	if (!ctx)
		return EXIT_FAILURE;
	Model **ms = xcalloc((size_t)o.nmodels, sizeof *ms);
	Evaluator *e = load_models(&o, ctx, ms);
	int rc = -1, usage = 0;
	if (e && o.layer) {
		if (spec_find_layer(ms[0]->spec, o.layer, o.models[0]) < 0)
			usage = 1;
		else if (evaluator_set_feature_layer(e, o.layer) != 0) {
			evaluator_free(e);
			e = NULL;
		}
	}
	if (usage)
		fprintf(stderr, "Try '%s --help' for more information.\n", progname());
	else if (e)
		rc = db ? eval_database(&o, ms, e) : eval_images(&o, ms, e);
	evaluator_free(e);
	for (int i = 0; i < o.nmodels; i++)
		model_free(ms[i]);
	free(ms);
	free(o.models);
	ctx_close(ctx);
	return usage ? EXIT_USAGE : rc == 0 ? 0 : EXIT_RUNTIME;
}
