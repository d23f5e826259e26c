/* check_train.c: views, the loader, and training runs: learning, resume equivalence, schedules, refusals, the log. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "kernels/rng.h"
#include "libcommon/db.h"
#include "libcommon/eval.h"
#include "libcommon/health.h"
#include "libcommon/idx.h"
#include "libcommon/loader.h"
#include "libcommon/model.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"
#include "libcommon/train.h"
#include "libcommon/util.h"
#include "libcommon/views.h"
#include "tests/lib/testutil.h"

/* A tiny net in the paper's pattern on 24x24 crops of the 28x28 Fashion-MNIST fixture. */
static const char tiny_net[] = "input size=24 channels=1\n"
			       "conv name=conv1 out=8 kernel=5 pad=2 init=0.2\n"
			       "relu\n"
			       "lrn\n"
			       "pool size=3 stride=2\n"
			       "conv name=conv2 out=8 kernel=3 pad=1 groups=2 bias=0.1 init=0.15\n"
			       "relu\n"
			       "pool size=3 stride=2\n"
			       "fc name=fc3 out=32 bias=0.1 init=0.1\n"
			       "relu\n"
			       "dropout p=0.5\n"
			       "fc name=fc4 out=classes init=0.1\n"
			       "softmax\n";

static char *dir, *dbfile, *stats_path, *net_path;

static char *path_in(const char *name) { return xasprintf("%s/%s", dir, name); }

/* tests/ (run.sh starts the suites in the repository root; ANET_TESTS overrides). */
static const char *tests_dir(void)
{
	const char *t = getenv("ANET_TESTS");
	return t && *t ? t : "tests";
}

/* The 64 Fashion-MNIST images of tests/data as a database (28x28 gray, raw) and its statistics. */
static void make_fixture(void)
{
	IdxReader r;
	char *images = xasprintf("%s/data/fashion-64-images.idx", tests_dir());
	char *labels = xasprintf("%s/data/fashion-64-labels.idx", tests_dir());
	ck_assert_int_eq(idx_open(&r, images, labels), 0);
	DbBuildOptions o;
	db_build_defaults(&o);
	o.quiet = 1;
	DbBuild *b = db_build_open(dbfile, &o);
	ck_assert_ptr_nonnull(b);
	uint8_t pix[28 * 28];
	for (uint32_t i = 0; i < r.count; i++) {
		int label;
		ck_assert_int_eq(idx_read(&r, pix, &label), 0);
		char name[32];
		snprintf(name, sizeof name, "fashion:%u", i);
		RecordView v = { .label = label, .height = 28, .width = 28, .channels = 1, .encoding = ENC_RAW,
				 .name_len = (uint32_t)strlen(name), .payload_len = sizeof pix, .name = name, .payload = pix };
		ck_assert_int_eq(db_build_add(b, &v, "fixture"), 0);
	}
	idx_close(&r);
	ck_assert_int_eq(db_build_finish(b, NULL), 0);
	Db *db = db_open(dbfile);
	ck_assert_ptr_nonnull(db);
	Stats s;
	ck_assert_int_eq(stats_compute(db, 1, 1, &s), 0);
	ck_assert_int_eq(stats_write(stats_path, &s), 0);
	stats_free(&s);
	db_close(db);
	FILE *f = fopen(net_path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(tiny_net, f);
	fclose(f);
	free(images);
	free(labels);
}

static void setup(void)
{
	dir = make_temp_dir("train");
	dbfile = path_in("train.lmdb");
	stats_path = path_in("train.stats");
	net_path = path_in("tiny.net");
	make_fixture();
}

static void teardown(void)
{
	remove_tree(dir);
	free(dir);
	free(dbfile);
	free(stats_path);
	free(net_path);
}

static Ctx *open_cpu(int threads)
{
	CtxOptions o = { .device = "cpu", .threads = threads };
	char err[512];
	Ctx *c = ctx_open(&o, err, sizeof err, NULL, 0);
	if (!c)
		ck_abort_msg("ctx_open: %s", err);
	return c;
}

/* ---------------------------------------------------------------------------------------- */
/* views */

static Stats rgb_stats(void)
{
	Stats s = { .height = 8, .width = 8, .channels = 3 };
	double v[3][3] = { { 0.6, 0.6, 0.52915 }, { -0.70711, 0.70711, 0 }, { 0.37417, 0.37417, -0.84853 } };
	double l[3] = { 14830.4, 1376.0, 388.9 };
	memcpy(s.eigvec, v, sizeof v);
	memcpy(s.eigval, l, sizeof l);
	return s;
}

START_TEST(train_views_are_deterministic_and_in_range)
{
	Stats s = rgb_stats();
	ViewParams p = { .height = 32, .width = 40, .channels = 3, .crop_h = 28, .crop_w = 28, .crop = CROP_RANDOM,
			 .flip = 1, .color_sigma = 0.1f, .stats = &s, .seed = 7 };
	View a[64], b[64];
	views_train(&p, 5, 64, a);
	views_train(&p, 5, 64, b);
	ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
	int flips = 0, xs[13] = { 0 }, ys[5] = { 0 };
	for (int i = 0; i < 64; i++) {
		ck_assert_int_eq(a[i].src, i);
		ck_assert(a[i].y0 >= 0 && a[i].y0 <= 4 && a[i].x0 >= 0 && a[i].x0 <= 12);
		flips += a[i].flip;
		xs[a[i].x0]++;
		ys[a[i].y0]++;
		/* the draws are the documented ones */
		ck_assert_int_eq(a[i].y0, (int)rng_below(7, RNG_STREAM(RNG_CROP, 5), 3 * (uint64_t)i, 5));
		ck_assert_int_eq(a[i].x0, (int)rng_below(7, RNG_STREAM(RNG_CROP, 5), 3 * (uint64_t)i + 1, 13));
		ck_assert_int_eq(a[i].flip, (int)rng_below(7, RNG_STREAM(RNG_CROP, 5), 3 * (uint64_t)i + 2, 2));
	}
	ck_assert(flips > 16 && flips < 48);
	views_train(&p, 6, 64, b);
	ck_assert_int_ne(memcmp(a, b, sizeof a), 0); /* another step, other views */
	p.crop = CROP_CENTER;
	p.flip = 0;
	views_train(&p, 5, 4, b);
	ck_assert_int_eq(b[3].y0, 2);
	ck_assert_int_eq(b[3].x0, 6);
	ck_assert_int_eq(b[3].flip, 0);
}
END_TEST

/* shift[c] = sum_k alpha_k sqrt(lambda_k) p_k[c], alpha_k = 0.1 N(0,1) from RNG_COLOR: by hand in double. */
START_TEST(colour_shift_by_hand)
{
	Stats s = rgb_stats();
	ViewParams p = { .height = 8, .width = 8, .channels = 3, .crop_h = 8, .crop_w = 8, .color_sigma = 0.1f,
			 .stats = &s, .seed = 3 };
	View v[5];
	views_train(&p, 11, 5, v);
	double sd = 0;
	for (int i = 0; i < 5; i++)
		for (int c = 0; c < 3; c++) {
			double want = 0;
			for (int k = 0; k < 3; k++) {
				double alpha = (double)(0.1f * rng_normal(3, RNG_STREAM(RNG_COLOR, 11), 3 * (uint64_t)i + (uint64_t)k));
				want += alpha * sqrt(s.eigval[k]) * s.eigvec[k][c];
			}
			ck_assert_msg(fabs(v[i].shift[c] - want) < 1e-4 * (1 + fabs(want)), "view %d channel %d: %g, want %g", i,
				      c, (double)v[i].shift[c], want);
			sd += want * want;
		}
	/* the authors' sqrt(lambda) reading: about 0.1 * 122 = 12 levels along p_1, not 0.1 * 14830 */
	ck_assert(sqrt(sd / 15) > 2 && sqrt(sd / 15) < 40);
}
END_TEST

/* Random erasing: the rectangles follow views.h's draws, stay in the crop, cover 2-40% of it
 * (up to rounding), and come in about a fraction P of the views; P 0 erases nothing. */
START_TEST(erasing_views_by_hand)
{
	enum { N = 2000 };
	static View v[N];
	ViewParams p = { .height = 32, .width = 32, .channels = 1, .crop_h = 28, .crop_w = 26, .erase = 0.5f, .seed = 5 };
	views_train(&p, 7, N, v);
	int erased = 0;
	for (int i = 0; i < N; i++) {
		const View *w = &v[i];
		uint64_t st = RNG_STREAM(RNG_ERASE, 7), k = 5 * (uint64_t)i;
		int want = rng_uniform(5, st, k) < 0.5f;
		ck_assert_int_eq(w->eh > 0, want);
		if (!want) {
			ck_assert(w->ew == 0 && w->ey0 == 0 && w->ex0 == 0);
			continue;
		}
		erased++;
		ck_assert(w->ey0 >= 0 && w->ex0 >= 0 && w->ey0 + w->eh <= 28 && w->ex0 + w->ew <= 26 && w->ew > 0);
		double area = (0.02 + 0.38 * rng_uniform(5, st, k + 1)) * 28 * 26;
		double aspect = 0.3 * pow(11.0, rng_uniform(5, st, k + 2));
		double h = sqrt(area * aspect), wd = sqrt(area / aspect);
		if (h <= 28 && wd <= 26) { /* not clamped: the sides round the drawn ones */
			ck_assert_msg(fabs(w->eh - h) <= 0.5 + 1e-9 && fabs(w->ew - wd) <= 0.5 + 1e-9,
				      "view %d: %dx%d for %.2fx%.2f", i, w->eh, w->ew, h, wd);
			ck_assert_int_eq(w->ey0, (int)(rng_uniform(5, st, k + 3) * (float)(28 - w->eh + 1)));
		}
		double frac = (double)w->eh * w->ew / (28.0 * 26);
		ck_assert_msg(frac > 0.005 && frac < 0.5, "view %d covers %.3f of the crop", i, frac);
	}
	ck_assert_msg(erased > 900 && erased < 1100, "%d of %d views erased with P 0.5", erased, N);
	p.erase = 0;
	views_train(&p, 7, 50, v);
	for (int i = 0; i < 50; i++)
		ck_assert(v[i].eh == 0 && v[i].ew == 0);
}
END_TEST

START_TEST(test_views_are_the_papers_ten)
{
	View v[20];
	views_test(32, 36, 28, 28, 10, 2, v);
	int want[5][2] = { { 0, 0 }, { 0, 8 }, { 4, 0 }, { 4, 8 }, { 2, 4 } };
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 10; k++) {
			const View *w = &v[10 * i + k];
			ck_assert_int_eq(w->src, i);
			ck_assert_int_eq(w->y0, want[k % 5][0]);
			ck_assert_int_eq(w->x0, want[k % 5][1]);
			ck_assert_int_eq(w->flip, k >= 5);
			ck_assert(w->shift[0] == 0 && w->shift[1] == 0 && w->shift[2] == 0);
		}
	View v5[10];
	views_test(32, 36, 28, 28, 5, 2, v5); /* the five unmirrored, for a model trained without mirrors */
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 5; k++) {
			const View *w = &v5[5 * i + k];
			ck_assert_int_eq(w->src, i);
			ck_assert_int_eq(w->y0, want[k][0]);
			ck_assert_int_eq(w->x0, want[k][1]);
			ck_assert_int_eq(w->flip, 0);
		}
	views_test(32, 36, 28, 28, 1, 2, v);
	ck_assert_int_eq(v[1].src, 1);
	ck_assert_int_eq(v[1].y0, 2);
	ck_assert_int_eq(v[1].x0, 4);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the loader */

START_TEST(permutation_is_a_shuffle)
{
	enum { N = 1000 };
	uint32_t a[N], b[N];
	int seen[N] = { 0 }, fixed = 0;
	loader_permutation(9, 0, a, N);
	for (int i = 0; i < N; i++) {
		ck_assert(a[i] < N);
		seen[a[i]]++;
		fixed += a[i] == (uint32_t)i;
	}
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(seen[i], 1);
	ck_assert(fixed < 10); /* about 1 expected */
	loader_permutation(9, 1, b, N);
	ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
	loader_permutation(9, 0, b, N);
	ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
}
END_TEST

/* Keys, labels and pixels of steps [0, steps) with the given threads, into out (flattened). */
static void run_loader(Db *db, int threads, int steps, uint64_t *keys, uint8_t *pix, int *ns)
{
	LoaderOptions o = { .db = db, .batch = 10, .threads = threads, .depth = 3, .order = LOADER_EPOCHS, .seed = 4 };
	Loader *l = loader_start(&o);
	ck_assert_ptr_nonnull(l);
	size_t at = 0;
	for (int s = 0; s < steps; s++) {
		Batch *b = loader_next(l, NULL);
		ck_assert_ptr_nonnull(b);
		ck_assert_uint_eq(b->step, (uint64_t)s);
		ns[s] = b->n;
		memcpy(keys + at, b->keys, (size_t)b->n * sizeof *keys);
		memcpy(pix + at * 784, b->pixels, (size_t)b->n * 784);
		at += (size_t)b->n;
		ck_assert_int_eq(b->epoch_end, s % 7 == 6);
		ck_assert_uint_eq(b->epoch, (uint64_t)s / 7);
		loader_release(l, b);
	}
	loader_stop(l);
}

START_TEST(loader_epochs_are_permutations_whatever_the_threads)
{
	Db *db = db_open(dbfile);
	ck_assert_ptr_nonnull(db);
	enum { STEPS = 14 }; /* two epochs of 64 at 10 a step: 7 steps, the last of 4 */
	uint64_t k1[128], k3[128];
	uint8_t *p1 = xmalloc(128 * 784), *p3 = xmalloc(128 * 784);
	int n1[STEPS], n3[STEPS];
	run_loader(db, 1, STEPS, k1, p1, n1);
	run_loader(db, 3, STEPS, k3, p3, n3);
	ck_assert_int_eq(memcmp(k1, k3, sizeof k1), 0);
	ck_assert_int_eq(memcmp(p1, p3, 128 * 784), 0);
	ck_assert_int_eq(memcmp(n1, n3, sizeof n1), 0);
	ck_assert_int_eq(n1[6], 4);
	ck_assert_int_eq(n1[0], 10);
	uint32_t perm[64];
	for (int e = 0; e < 2; e++) {
		loader_permutation(4, (uint64_t)e, perm, 64);
		for (int i = 0; i < 64; i++)
			ck_assert_uint_eq(k1[64 * e + i], perm[i]);
	}
	/* the pixels are the records' */
	DbCursor *c = db_cursor_new(db);
	RecordView r;
	ck_assert_int_eq(db_get(c, k1[70], &r), 0);
	ck_assert_int_eq(memcmp(p1 + 70 * 784, r.payload, 784), 0);
	db_cursor_free(c);

	/* starting mid-epoch (a resumed run) gives the same batches from there */
	LoaderOptions o = { .db = db, .batch = 10, .threads = 2, .order = LOADER_EPOCHS, .seed = 4, .step = 9,
			    .epoch = 1, .position = 20, .stop_step = 11 };
	Loader *l = loader_start(&o);
	Batch *b = loader_next(l, NULL);
	ck_assert_uint_eq(b->step, 9);
	ck_assert_int_eq(memcmp(b->keys, k1 + 84, 10 * sizeof *k1), 0);
	loader_release(l, b);
	ck_assert_ptr_nonnull(b = loader_next(l, NULL));
	loader_release(l, b);
	ck_assert_ptr_null(loader_next(l, NULL)); /* stop_step */
	loader_stop(l);
	free(p1);
	free(p3);
	db_close(db);
}
END_TEST

START_TEST(loader_once_reads_a_range_in_order)
{
	Db *db = db_open(dbfile);
	LoaderOptions o = { .db = db, .batch = 16, .threads = 2, .order = LOADER_ONCE, .first = 10, .count = 40 };
	Loader *l = loader_start(&o);
	ck_assert_ptr_nonnull(l);
	uint64_t next = 10;
	int batches = 0;
	Batch *b;
	while ((b = loader_next(l, NULL))) {
		for (int i = 0; i < b->n; i++)
			ck_assert_uint_eq(b->keys[i], next++);
		ck_assert_int_eq(b->epoch_end, next == 50);
		batches++;
		loader_release(l, b);
	}
	ck_assert_uint_eq(next, 50);
	ck_assert_int_eq(batches, 3);
	loader_stop(l);
	db_close(db);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* training runs */

static void options(TrainOptions *o, const char *out, int64_t steps)
{
	train_defaults(o);
	o->db = dbfile;
	o->stats = stats_path;
	o->net = net_path;
	o->output = out;
	o->batch = 16;
	o->steps = steps;
	o->lr = 0.02;
	o->input_scale = 1.0 / 64;
	o->loaders = 2;
	o->quiet = 1;
	o->report_every = 4;
	o->given = 1u << TO_DB | 1u << TO_STATS | 1u << TO_NET | 1u << TO_OUTPUT | 1u << TO_BATCH | 1u << TO_STEPS |
		   1u << TO_LR | 1u << TO_INPUT_SCALE;
}

static int train(Ctx *ctx, TrainOptions *o)
{
	Capture c = capture_begin();
	int rc = train_main(ctx, o);
	char *msgs = capture_end(c);
	if (rc == 1)
		fprintf(stderr, "%s", msgs);
	free(msgs);
	return rc;
}

/* --resume ckpt to step steps, every setting from the checkpoint, with loaders threads. */
static void resume_to(Ctx *ctx, const char *ckpt, int64_t steps, int loaders)
{
	TrainOptions r;
	train_defaults(&r);
	r.resume = ckpt;
	r.steps = steps;
	r.given = 1u << TO_STEPS;
	r.quiet = 1;
	r.loaders = loaders;
	ck_assert_int_eq(train(ctx, &r), 0);
}

/* Every f32 tensor of a file (parameters and momentum), concatenated in entry order. */
static float *all_floats(const char *path, uint32_t kind, size_t *n)
{
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, path, kind), 0);
	float *all = NULL;
	*n = 0;
	for (uint32_t i = 0; i < tf.count; i++) {
		const TensorEntry *e = &tf.entries[i];
		if (e->dtype != DT_F32 || strncmp(e->name, "stats.", 6) == 0)
			continue;
		all = xreallocarray(all, *n + e->count, sizeof *all);
		ck_assert_int_eq(tensorfile_read_range(&tf, e, 0, e->count, all + *n), 0);
		*n += e->count;
	}
	tensorfile_close(&tf);
	return all;
}

static int64_t ckpt_i64(const char *path, const char *name)
{
	TensorFile tf;
	int64_t v;
	ck_assert_int_eq(tensorfile_open(&tf, path, TF_CHECKPOINT), 0);
	ck_assert_int_eq(tensorfile_read_i64(&tf, name, &v), 0);
	tensorfile_close(&tf);
	return v;
}

static double ckpt_f64(const char *path, const char *name)
{
	TensorFile tf;
	double v;
	ck_assert_int_eq(tensorfile_open(&tf, path, TF_CHECKPOINT), 0);
	ck_assert_int_eq(tensorfile_read_f64(&tf, name, &v), 0);
	tensorfile_close(&tf);
	return v;
}

/* Training-set accuracy of a model (the centre crop). */
static double accuracy(Ctx *ctx, const char *model)
{
	Model *m = model_load(ctx, model, 16, NET_EVAL);
	ck_assert_ptr_nonnull(m);
	Evaluator *e = evaluator_for_model(m, 1);
	ck_assert_ptr_nonnull(e);
	Db *db = db_open(dbfile);
	EvalDbOptions eo = { .threads = 1 };
	EvalResult r;
	ck_assert_int_eq(eval_db(e, db, &eo, &r), 0);
	ck_assert_uint_eq(r.labelled, 64);
	db_close(db);
	evaluator_free(e);
	model_free(m);
	return 1 - r.top1;
}

/* The log's train rows: the mean loss of the first and last few. */
static void log_losses(const char *path, double *first, double *last, int *rows, int *vals)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char line[512];
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	ck_assert_str_eq(line, "step\tepoch\tkind\tloss\ttop1\ttop5\tlr\timg_per_s\tdata_wait\telapsed\n");
	double loss[1024];
	int n = 0;
	*vals = 0;
	while (fgets(line, sizeof line, f) && n < 1024) {
		char kind[16];
		double step, epoch, l, t1, t5, lr, ips, wait, el;
		ck_assert_int_eq(sscanf(line, "%lf\t%lf\t%15s\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf", &step, &epoch, kind, &l, &t1,
					&t5, &lr, &ips, &wait, &el),
				 10);
		ck_assert(t1 >= 0 && t1 <= 1 && t5 >= 0 && t5 <= t1 && wait >= 0 && wait <= 1 && lr > 0);
		if (strcmp(kind, "val") == 0) {
			(*vals)++;
			continue;
		}
		ck_assert_str_eq(kind, "train");
		loss[n++] = l;
	}
	fclose(f);
	ck_assert(n >= 6);
	*first = (loss[0] + loss[1] + loss[2]) / 3;
	*last = (loss[n - 1] + loss[n - 2] + loss[n - 3]) / 3;
	*rows = n;
}

START_TEST(training_learns_the_fixture)
{
	Ctx *ctx = open_cpu(2);
	char *model = path_in("m.anw"), *log = path_in("log.tsv");
	TrainOptions o;
	options(&o, model, 160); /* 40 epochs of the 64 images */
	o.log = log;
	o.val = dbfile;      /* the same images: the log gets val rows, the best model is kept */
	o.given |= 1u << TO_LOG | 1u << TO_VAL;
	ck_assert_int_eq(train(ctx, &o), 0);
	double first, last;
	int rows, vals;
	log_losses(log, &first, &last, &rows, &vals);
	ck_assert_int_eq(vals, 40);
	ck_assert_msg(first > 2.0 && last < 0.6 * first, "the loss went from %g to %g", first, last);
	double acc = accuracy(ctx, model);
	ck_assert_msg(acc > 0.6, "training-set accuracy %.3f (chance 0.1)", acc);
	char *best = path_in("m.best.anw");
	struct stat sb;
	ck_assert_int_eq(stat(best, &sb), 0);
	free(best);
	free(model);
	free(log);
	ctx_close(ctx);
}
END_TEST

/* N steps straight, against N/2, a checkpoint, and --resume to N: the same bits. */
START_TEST(resume_gives_the_same_weights)
{
	Ctx *ctx = open_cpu(2);
	char *a = path_in("a.anw"), *b = path_in("b.anw"), *ca = path_in("a.ckpt"), *cb = path_in("b.ckpt");
	TrainOptions o;
	options(&o, a, 22); /* crosses two epoch ends (4 steps each) and stops mid-epoch */
	o.lr_steps = "9s";
	o.given |= 1u << TO_LR_STEPS;
	ck_assert_int_eq(train(ctx, &o), 0);

	options(&o, b, 11);
	o.lr_steps = "9s";
	o.given |= 1u << TO_LR_STEPS;
	ck_assert_int_eq(train(ctx, &o), 0);
	ck_assert_int_eq(ckpt_i64(cb, "train.step"), 11);
	resume_to(ctx, cb, 22, 3); /* the loader's threads do not matter */

	size_t na, nb;
	float *wa = all_floats(ca, TF_CHECKPOINT, &na), *wb = all_floats(cb, TF_CHECKPOINT, &nb);
	ck_assert_uint_eq(na, nb);
	ck_assert_msg(memcmp(wa, wb, na * sizeof *wa) == 0, "resumed weights or momentum differ");
	ck_assert_int_eq(ckpt_i64(cb, "train.step"), 22);
	ck_assert_int_eq(ckpt_i64(cb, "train.epoch"), ckpt_i64(ca, "train.epoch"));
	ck_assert_int_eq(ckpt_i64(cb, "train.position"), ckpt_i64(ca, "train.position"));
	ck_assert(ckpt_f64(cb, "train.lr_now") == ckpt_f64(ca, "train.lr_now"));
	ck_assert(fabs(ckpt_f64(ca, "train.lr_now") - 0.002) < 1e-12);
	free(wa);
	free(wb);
	/* and the models written at the end are the same */
	wa = all_floats(a, TF_MODEL, &na);
	wb = all_floats(b, TF_MODEL, &nb);
	ck_assert_int_eq(memcmp(wa, wb, na * sizeof *wa), 0);
	free(wa);
	free(wb);
	free(a);
	free(b);
	free(ca);
	free(cb);
	ctx_close(ctx);
}
END_TEST

/* Writes tiny_net without its dropout layer to name (a net whose steps in parts equal whole ones
 * up to rounding). */
static char *net_without_dropout(const char *name)
{
	char *path = path_in(name), *text = xstrdup(tiny_net), *d = strstr(text, "dropout p=0.5\n");
	ck_assert_ptr_nonnull(d);
	memmove(d, d + strlen("dropout p=0.5\n"), strlen(d + strlen("dropout p=0.5\n")) + 1);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	free(text);
	return path;
}

/* --accum: batches of 16 in parts of 8 and 4 make the steps of whole batches, up to rounding;
 * with dropout, a run in parts is repeatable and resumes to the same bits; the checkpoint keeps
 * the setting. */
START_TEST(accum_makes_the_whole_batch_step)
{
	Ctx *ctx = open_cpu(2);
	char *net = net_without_dropout("nodrop.net");
	char *whole = path_in("whole.anw"), *parts[2] = { path_in("p2.anw"), path_in("p4.anw") };
	TrainOptions o;
	options(&o, whole, 6);
	o.net = net;
	ck_assert_int_eq(train(ctx, &o), 0);
	size_t nw, np;
	float *ww = all_floats(whole, TF_MODEL, &nw);
	for (int i = 0; i < 2; i++) {
		options(&o, parts[i], 6);
		o.net = net;
		o.accum = i == 0 ? 2 : 4;
		o.given |= 1u << TO_ACCUM;
		ck_assert_int_eq(train(ctx, &o), 0);
		float *wp = all_floats(parts[i], TF_MODEL, &np);
		ck_assert_uint_eq(nw, np);
		/* six steps from the same start; only the order of the gradients' sums differs */
		double worst = 0, scale = 0;
		for (size_t k = 0; k < nw; k++) {
			worst = fmax(worst, fabs((double)wp[k] - ww[k]));
			scale = fmax(scale, fabs((double)ww[k]));
		}
		ck_assert_msg(worst <= 1e-6 * scale, /* 2.5e-8 measured */ "--accum %" PRId64 ": weights differ by %g (largest %g)", o.accum, worst,
			      scale);
		ck_assert_int_ne(memcmp(wp, ww, nw * sizeof *wp), 0); /* and the test can tell them apart */
		free(wp);
	}
	free(ww);

	/* with dropout: the same bits twice, and through a checkpoint at step 3 */
	char *a = path_in("da.anw"), *b = path_in("db.anw"), *cb = path_in("db.ckpt");
	options(&o, a, 6);
	o.accum = 2;
	o.given |= 1u << TO_ACCUM;
	ck_assert_int_eq(train(ctx, &o), 0);
	options(&o, b, 3);
	o.accum = 2;
	o.given |= 1u << TO_ACCUM;
	ck_assert_int_eq(train(ctx, &o), 0);
	ck_assert_int_eq(ckpt_i64(cb, "train.accum"), 2);
	resume_to(ctx, cb, 6, 2);
	size_t na, nb;
	float *wa = all_floats(a, TF_MODEL, &na), *wb = all_floats(b, TF_MODEL, &nb);
	ck_assert_uint_eq(na, nb);
	ck_assert_msg(memcmp(wa, wb, na * sizeof *wa) == 0, "a resumed run in parts differs");
	free(wa);
	free(wb);

	/* a part count that does not divide the batch is refused */
	options(&o, a, 1);
	o.accum = 3;
	Capture c = capture_begin();
	ck_assert_int_eq(train_main(ctx, &o), 1);
	char *msgs = capture_end(c);
	ASSERT_MSG(msgs, "--accum 3 does not divide --batch 16 into parts of equal size");
	free(msgs);
	free(a), free(b), free(cb), free(net), free(whole), free(parts[0]), free(parts[1]);
	ctx_close(ctx);
}
END_TEST

/* Part p > 0 of a batch draws other dropout masks than part 0; part 0 those of a whole batch. */
START_TEST(parts_draw_their_own_dropout_masks)
{
	Ctx *ctx = open_cpu(1);
	Spec *s = spec_parse(tiny_net, "tiny", 10);
	ck_assert_ptr_nonnull(s);
	Net *net = net_create(ctx, s, 4, NET_TRAIN);
	ck_assert_ptr_nonnull(net);
	NetInit init = { .seed = 3 };
	ck_assert_int_eq(net_init(net, &init), 0);
	float in[4 * 24 * 24];
	for (size_t i = 0; i < sizeof in / sizeof *in; i++)
		in[i] = (float)rng_uniform(9, RNG_STREAM(RNG_TEST, 4), i) - 0.5f;
	ck_assert_int_eq(ctx_upload(ctx, net_input(net), in, sizeof in), 0);
	float p[3][4 * 10];
	const int parts[3] = { 0, 1, 0 };
	for (int k = 0; k < 3; k++) {
		net_set_part(net, parts[k]);
		ck_assert_int_eq(net_forward(net, 4, NET_TRAIN, 7), 0);
		memcpy(p[k], net_probs(net), sizeof p[k]);
	}
	ck_assert_int_ne(memcmp(p[0], p[1], sizeof p[0]), 0);
	ck_assert_int_eq(memcmp(p[0], p[2], sizeof p[0]), 0);
	net_free(net);
	spec_free(s);
	ctx_close(ctx);
}
END_TEST

/* The signal flag set before the first step: a checkpoint at step 0 that resumes. */
START_TEST(signal_writes_a_checkpoint)
{
	Ctx *ctx = open_cpu(1);
	char *m = path_in("s.anw"), *ck = path_in("s.ckpt");
	volatile sig_atomic_t stop = SIGTERM;
	TrainOptions o;
	options(&o, m, 8);
	o.stop_signal = &stop;
	ck_assert_int_eq(train(ctx, &o), 128 + SIGTERM);
	ck_assert_int_eq(ckpt_i64(ck, "train.step"), 0);
	struct stat sb;
	ck_assert_int_ne(stat(m, &sb), 0); /* no model: the run did not end */
	TrainOptions r;
	train_defaults(&r);
	r.resume = ck;
	r.quiet = 1;
	ck_assert_int_eq(train(ctx, &r), 0);
	ck_assert_int_eq(ckpt_i64(ck, "train.step"), 8);
	ck_assert_int_eq(stat(m, &sb), 0);
	free(m);
	free(ck);
	ctx_close(ctx);
}
END_TEST

START_TEST(plateau_divides_the_rate_at_most_max_drops_times)
{
	Ctx *ctx = open_cpu(1);
	char *m = path_in("p.anw"), *ck = path_in("p.ckpt");
	TrainOptions o;
	options(&o, m, 0);
	o.lr = 1e-12; /* nothing changes: the validation error never improves after the first */
	o.epochs = 6;
	o.val = dbfile;
	o.plateau = 1;
	o.max_drops = 2;
	o.given |= 1u << TO_EPOCHS | 1u << TO_VAL | 1u << TO_PLATEAU | 1u << TO_MAX_DROPS;
	Capture c = capture_begin();
	ck_assert_int_eq(train_main(ctx, &o), 0);
	char *msgs = capture_end(c);
	ASSERT_MSG(msgs, "learning rate divided by 10 to 1e-13 (drop 1 of 2)");
	ASSERT_MSG(msgs, "learning rate divided by 10 to 1e-14 (drop 2 of 2)");
	ASSERT_MSG(msgs, "but the learning rate was already divided 2 times (--max-drops)");
	free(msgs);
	ck_assert_int_eq(ckpt_i64(ck, "train.drops"), 2);
	ck_assert(fabs(ckpt_f64(ck, "train.lr_now") - 1e-14) < 1e-20);
	ck_assert_int_eq(ckpt_i64(ck, "train.best_epoch"), 1);
	free(m);
	free(ck);
	ctx_close(ctx);
}
END_TEST

START_TEST(resume_refuses_other_files)
{
	Ctx *ctx = open_cpu(1);
	char *m = path_in("r.anw");
	TrainOptions o;
	options(&o, m, 2);
	ck_assert_int_eq(train(ctx, &o), 0);
	TrainOptions r;
	train_defaults(&r);
	r.quiet = 1;
	r.resume = m;
	Capture c = capture_begin();
	ck_assert_int_eq(train_main(ctx, &r), 1);
	char *msgs = capture_end(c);
	ASSERT_MSG(msgs, "r.anw: is a model (weights only), not a checkpoint");
	ASSERT_MSG(msgs, "HINT: to start a new run from these weights, give --init-from");
	free(msgs);
	r.resume = stats_path;
	c = capture_begin();
	ck_assert_int_eq(train_main(ctx, &r), 1);
	msgs = capture_end(c);
	ASSERT_MSG(msgs, "train.stats: is a statistics file, expected a checkpoint written by anet-train");
	free(msgs);
	/* --init-from takes the model's weights and starts at step 0 */
	char *f = path_in("f.anw"), *fc = path_in("f.ckpt");
	options(&o, f, 1);
	o.init_from = m;
	ck_assert_int_eq(train(ctx, &o), 0);
	ck_assert_int_eq(ckpt_i64(fc, "train.step"), 1);
	free(f);
	free(fc);
	free(m);
	ctx_close(ctx);
}
END_TEST

/* One f32 tensor of a model. */
static float *model_tensor(const char *path, const char *name, uint64_t *n)
{
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, path, 0), 0);
	float *v = tensorfile_read_alloc(&tf, name, DT_F32, n);
	ck_assert_ptr_nonnull(v);
	tensorfile_close(&tf);
	return v;
}

static void assert_same_tensor(const char *a, const char *b, const char *name, double tol)
{
	uint64_t na, nb;
	float *x = model_tensor(a, name, &na), *y = model_tensor(b, name, &nb);
	ck_assert_uint_eq(na, nb);
	for (uint64_t i = 0; i < na; i++)
		ck_assert_msg(fabs(x[i] - y[i]) <= tol * fabs(y[i]) + 1e-12, "%s[%" PRIu64 "]: %g against %g", name, i,
			      (double)x[i], (double)y[i]);
	free(x);
	free(y);
}

/* The fixture's images as a database of 4 classes (label mod 4), for fine-tuning. */
static char *four_class_db(void)
{
	char *path = path_in("four.lmdb");
	Db *src = db_open(dbfile);
	ck_assert_ptr_nonnull(src);
	DbBuildOptions o;
	db_build_defaults(&o);
	o.quiet = 1;
	DbBuild *b = db_build_open(path, &o);
	ck_assert_ptr_nonnull(b);
	DbCursor *cur = db_cursor_new(src);
	ck_assert_ptr_nonnull(cur);
	for (uint64_t k = 0; k < db_info(src)->count; k++) {
		RecordView v;
		ck_assert_int_eq(db_get(cur, k, &v), 0);
		v.label %= 4;
		ck_assert_int_eq(db_build_add(b, &v, "fixture"), 0);
	}
	db_cursor_free(cur);
	db_close(src);
	ck_assert_int_eq(db_build_finish(b, NULL), 0);
	return path;
}

/* --init-from on data with other classes: refused without --partial, naming the layer; with
 * it the matching layers come from the model and the last starts as a fresh run's does. */
START_TEST(init_from_fine_tunes_to_other_classes)
{
	Ctx *ctx = open_cpu(1);
	char *m = path_in("ft.anw"), *four = four_class_db();
	TrainOptions o;
	options(&o, m, 3);
	ck_assert_int_eq(train(ctx, &o), 0);

	char *tuned = path_in("tuned.anw"), *fresh = path_in("fresh.anw");
	TrainOptions f;
	options(&f, tuned, 1);
	f.db = four;
	f.lr = 1e-12; /* one step that changes nothing measurable */
	f.init_from = m;
	f.given &= ~(1u << TO_NET); /* the model's own spec, out=classes now 4 */
	Capture c = capture_begin();
	ck_assert_int_eq(train_main(ctx, &f), 1);
	char *msgs = capture_end(c);
	ASSERT_MSG(msgs, "ft.anw: fc4.weight is 10x32 there and 4x32 in the network");
	ASSERT_MSG(msgs, "ft.anw: fc4.bias is 10 there and 4 in the network");
	ASSERT_MSG(msgs, "HINT: --partial takes the parameters that match");
	free(msgs);

	f.partial = 1;
	f.quiet = 0;
	c = capture_begin();
	int rc = train_main(ctx, &f);
	msgs = capture_end(c);
	ck_assert_msg(rc == 0, "%s", msgs);
	ASSERT_MSG(msgs, "fc4.weight is 10x32 there and 4x32 in the network: it starts from the initialisation");
	ASSERT_MSG(msgs, "--init-from");
	ASSERT_MSG(msgs, ": 6 of 8 parameter tensors");
	free(msgs);
	const char *kept[] = { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc3.weight", "fc3.bias" };
	for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
		assert_same_tensor(tuned, m, kept[i], 1e-6);
	options(&o, fresh, 1);
	o.db = four;
	o.lr = 1e-12;
	ck_assert_int_eq(train(ctx, &o), 0);
	assert_same_tensor(tuned, fresh, "fc4.weight", 1e-6);
	assert_same_tensor(tuned, fresh, "fc4.bias", 1e-6);

	/* --net: a layer of another name is missing from the model, and the model's is left out */
	char *renamed = path_in("renamed.net");
	FILE *nf = fopen(renamed, "w");
	ck_assert_ptr_nonnull(nf);
	char *text = xstrdup(tiny_net);
	char *p = strstr(text, "name=fc3 ");
	ck_assert_ptr_nonnull(p);
	memcpy(p, "name=fc9 ", 9);
	fputs(text, nf);
	fclose(nf);
	free(text);
	f.db = dbfile;
	f.net = renamed;
	f.given |= 1u << TO_NET;
	f.quiet = 1;
	c = capture_begin();
	rc = train_main(ctx, &f);
	msgs = capture_end(c);
	ck_assert_msg(rc == 0, "%s", msgs);
	ASSERT_MSG(msgs, "ft.anw: holds no fc9.weight: it starts from the initialisation");
	ASSERT_MSG(msgs, "ft.anw: fc3.weight (32x200) has no place in the network: left out");
	free(msgs);
	assert_same_tensor(tuned, m, "fc4.weight", 1e-6);
	free(renamed);
	free(m);
	free(four);
	free(tuned);
	free(fresh);
	ctx_close(ctx);
}
END_TEST

START_TEST(divergence_keeps_the_last_good_checkpoint)
{
	Ctx *ctx = open_cpu(1);
	char *m = path_in("d.anw"), *ck = path_in("d.ckpt");
	TrainOptions o;
	options(&o, m, 40);
	o.lr = 1e4;
	o.checkpoint_every = "1";
	o.given |= 1u << TO_CHECKPOINT_EVERY;
	Capture c = capture_begin();
	ck_assert_int_eq(train_main(ctx, &o), 1);
	char *msgs = capture_end(c);
	ck_assert_msg(strstr(msgs, "the loss is not finite") || strstr(msgs, "the weights hold NaN or Inf"), "%s", msgs);
	free(msgs);
	struct stat sb;
	ck_assert_int_ne(stat(m, &sb), 0); /* no model from a diverged run */
	if (stat(ck, &sb) == 0) {          /* any checkpoint there holds finite numbers */
		size_t n;
		float *w = all_floats(ck, TF_CHECKPOINT, &n);
		for (size_t i = 0; i < n; i++)
			ck_assert(isfinite(w[i]));
		free(w);
	}
	free(m);
	free(ck);
	ctx_close(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the layers' health */

/* mean |x| of a device tensor of n floats, in double */
static double device_mean_abs(Ctx *ctx, const float *dev, int64_t n)
{
	float *h = xmallocarray((size_t)n, sizeof *h);
	ck_assert_int_eq(ctx_download(ctx, h, dev, (size_t)n * sizeof *h), 0);
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += fabs((double)h[i]);
	free(h);
	return sum / (double)n;
}

static void set_bias(Ctx *ctx, Net *net, const char *name, float value)
{
	int i = net_find_param(net, name);
	int64_t n = net_spec(net)->params[i].count;
	float *b = xmallocarray((size_t)n, sizeof *b);
	for (int64_t k = 0; k < n; k++)
		b[k] = value;
	ck_assert_int_eq(ctx_upload(ctx, net_param(net, i), b, (size_t)n * sizeof *b), 0);
	free(b);
}

/* The figures against their definitions: mean |w|, mean |v| (the change of the last step),
 * dead units where a bias forces them; and measuring changes nothing the next step uses. */
START_TEST(health_measures_weights_updates_and_dead_units)
{
	Ctx *ctx = open_cpu(1);
	Spec *s = spec_parse(tiny_net, "tiny", 10);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(health_rows(s), 4);
	Net *a = net_create(ctx, s, 8, NET_TRAIN), *b = net_create(ctx, s, 8, NET_TRAIN);
	NetInit init = { .seed = 5 };
	ck_assert_int_eq(net_init(a, &init), 0);
	ck_assert_int_eq(net_init(b, &init), 0);
	float in[8 * 24 * 24];
	int32_t labels[8];
	for (size_t i = 0; i < ARRAY_LEN(in); i++)
		in[i] = (float)rng_uniform(2, RNG_STREAM(RNG_TEST, 5), i) - 0.5f;
	for (int i = 0; i < 8; i++)
		labels[i] = i;
	/* fc3 dead whatever its input; conv1 alive everywhere */
	set_bias(ctx, a, "fc3.bias", -100);
	set_bias(ctx, b, "fc3.bias", -100);
	set_bias(ctx, a, "conv1.bias", 100);
	set_bias(ctx, b, "conv1.bias", 100);
	HealthRow rows[4];
	int64_t nw = s->params[0].count;
	float *w0 = xmallocarray((size_t)nw, sizeof *w0), *w1 = xmallocarray((size_t)nw, sizeof *w1);
	ck_assert_int_eq(net_download_param(a, 0, w0), 0);
	for (int step = 0; step < 2; step++) {
		for (int k = 0; k < 2; k++) {
			Net *net = k ? b : a;
			double loss;
			ck_assert_int_eq(ctx_upload(ctx, net_input(net), in, sizeof in), 0);
			ck_assert_int_eq(net_set_labels(net, labels, 8), 0);
			ck_assert_int_eq(net_train_step(net, 8, (uint64_t)step, 0.01f, labels, &loss), 0);
		}
		ck_assert_int_eq(health_measure(a, 8, rows), 0); /* a is measured, b is not */
	}
	/* conv1: mean |w|, and mean |v| is the mean change of the last step */
	ck_assert_int_eq(net_download_param(a, 0, w1), 0);
	double want_w = device_mean_abs(ctx, net_param(a, 0), nw), want_v = device_mean_abs(ctx, net_momentum(a, 0), nw);
	double moved = 0;
	ck_assert_msg(fabs(rows[0].weight_abs - want_w) <= 1e-12 * want_w, "%g %g", rows[0].weight_abs, want_w);
	ck_assert_msg(fabs(rows[0].update_abs - want_v) <= 1e-12 * want_v, "%g %g", rows[0].update_abs, want_v);
	ck_assert(want_v > 0);
	/* two steps moved w by v1 + v2; the second alone is v2: their sizes bound each other */
	for (int64_t i = 0; i < nw; i++)
		moved += fabs((double)w1[i] - w0[i]);
	ck_assert(moved / (double)nw > 0.5 * want_v && moved / (double)nw < 2.5 * want_v);
	ck_assert(fabs(rows[0].bias_mean - 100) < 1);
	ck_assert(rows[0].relu && rows[0].units == 8 && rows[0].dead == 0 && rows[0].zero_share == 0);
	ck_assert(rows[2].relu && rows[2].units == 32 && rows[2].dead == 32 && rows[2].zero_share == 1);
	ck_assert(!rows[3].relu); /* fc4 feeds the softmax */
	/* the measured net and the other are the same to the bit */
	size_t bytes = (size_t)s->param_floats * sizeof(float);
	float *pa = xmalloc(bytes), *pb = xmalloc(bytes);
	ck_assert_int_eq(ctx_download(ctx, pa, net_param_buffer(a), bytes), 0);
	ck_assert_int_eq(ctx_download(ctx, pb, net_param_buffer(b), bytes), 0);
	ck_assert_int_eq(memcmp(pa, pb, bytes), 0);
	ck_assert_int_eq(ctx_download(ctx, pa, net_momentum_buffer(a), bytes), 0);
	ck_assert_int_eq(ctx_download(ctx, pb, net_momentum_buffer(b), bytes), 0);
	ck_assert_int_eq(memcmp(pa, pb, bytes), 0);
	free(pa), free(pb), free(w0), free(w1);
	net_free(a);
	net_free(b);
	spec_free(s);
	ctx_close(ctx);
}
END_TEST

/* --health: a row per learned layer and report, and a run the same to the bit as without. */
START_TEST(health_log_leaves_the_run_unchanged)
{
	Ctx *ctx = open_cpu(1);
	char *plain = path_in("plain.anw"), *with = path_in("health.anw"), *log = path_in("health.tsv");
	TrainOptions o;
	options(&o, plain, 8);
	ck_assert_int_eq(train(ctx, &o), 0);
	options(&o, with, 8);
	o.health = log;
	ck_assert_int_eq(train(ctx, &o), 0);
	size_t na, nb;
	float *a = all_floats(plain, TF_MODEL, &na), *b = all_floats(with, TF_MODEL, &nb);
	ck_assert_uint_eq(na, nb);
	ck_assert_int_eq(memcmp(a, b, na * sizeof *a), 0);
	size_t len;
	char *text = read_file(log, &len, 1 << 20);
	ck_assert_ptr_nonnull(text);
	static const char header[] = "step\tepoch\tlayer\tweight_abs\tupdate_abs\tupdate_ratio\tbias_mean\tunits\tdead\t"
				     "zero_share\n";
	ck_assert_msg(strncmp(text, header, strlen(header)) == 0, "%s", text);
	int lines = 0;
	for (char *p = text; *p; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, 1 + 2 * 4); /* reports at steps 4 and 8, 4 learned layers */
	ck_assert_ptr_nonnull(strstr(text, "\n8\t"));
	ck_assert_ptr_nonnull(strstr(text, "\tfc3\t"));
	free(text), free(a), free(b), free(plain), free(with), free(log);
	ctx_close(ctx);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("train");
	TCase *t = tcase_create("views");
	tcase_add_test(t, train_views_are_deterministic_and_in_range);
	tcase_add_test(t, colour_shift_by_hand);
	tcase_add_test(t, erasing_views_by_hand);
	tcase_add_test(t, test_views_are_the_papers_ten);
	suite_add_tcase(s, t);
	t = tcase_create("loader");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, permutation_is_a_shuffle);
	tcase_add_test(t, loader_epochs_are_permutations_whatever_the_threads);
	tcase_add_test(t, loader_once_reads_a_range_in_order);
	suite_add_tcase(s, t);
	t = tcase_create("runs");
	tcase_set_timeout(t, 120);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, training_learns_the_fixture);
	tcase_add_test(t, resume_gives_the_same_weights);
	tcase_add_test(t, signal_writes_a_checkpoint);
	tcase_add_test(t, plateau_divides_the_rate_at_most_max_drops_times);
	tcase_add_test(t, resume_refuses_other_files);
	tcase_add_test(t, init_from_fine_tunes_to_other_classes);
	tcase_add_test(t, accum_makes_the_whole_batch_step);
	tcase_add_test(t, parts_draw_their_own_dropout_masks);
	tcase_add_test(t, divergence_keeps_the_last_good_checkpoint);
	tcase_add_test(t, health_measures_weights_updates_and_dead_units);
	tcase_add_test(t, health_log_leaves_the_run_unchanged);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	set_progname("check_train");
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
