/* train.c: anet-train's run: setup, the step loop, schedule, validation, reports (see train.h). */
#include "libcommon/train.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/rng.h"
#include "libcommon/loader.h"
#include "libcommon/opt.h"
#include "libcommon/progress.h"
#include "libcommon/train_impl.h"
#include "libcommon/util.h"

#define DEFAULT_OUTPUT "model.anw"
#define DEFAULT_CKPT_EVERY "30m"
#define LOG_HEADER "step\tepoch\tkind\tloss\ttop1\ttop5\tlr\timg_per_s\tdata_wait\telapsed\n"

void train_defaults(TrainOptions *o)
{
	memset(o, 0, sizeof *o);
	o->net = "alexnet";
	o->output = DEFAULT_OUTPUT;
	o->batch = 128;
	o->accum = 1;
	o->lr = 0.01;
	o->lr_steps = "";
	o->lr_drop = 10;
	o->lr_decay = "none";
	o->weight_decay = NET_DECAY;
	o->momentum = NET_MOMENTUM;
	o->plateau_delta = 0.001;
	o->max_drops = 3;
	o->seed = 1;
	o->checkpoint_every = DEFAULT_CKPT_EVERY;
	o->crop = "random";
	o->flip = 1;
	o->color_noise = 0.1;
	o->input_scale = 1;
	o->report_every = 20;
	o->stall_steps = 1000;
	o->bias_init = "";
	o->loaders = 2;
}

/* ---------------------------------------------------------------------------------------- */
/* settings that need parsing */

/* "30,60,80" (epochs) or "10000s,20000s" (steps), each perhaps with ":RATE" to set the rate
 * instead of dividing it, into *out (may be NULL to check only). A list with rates must be in
 * one unit and ascending: the milestones are then applied in its order, which is time's;
 * divisions alone may come in any order. */
static int milestones_parse(const char *text, Milestone **out, int *n)
{
	const char *p = text ? text : "";
	int count = 0, rates = 0, units = 0, ascending = 1;
	double last = 0;
	while (*p) {
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno || !isfinite(v) || v <= 0)
			return -1;
		Milestone m = { v, *end == 's', 0 };
		if (m.steps)
			end++;
		if (*end == ':') {
			const char *r = end + 1;
			errno = 0;
			m.rate = strtod(r, &end);
			if (end == r || errno || !isfinite(m.rate) || m.rate <= 0)
				return -1;
			rates++;
		}
		if (*end && (*end != ',' || !end[1]))
			return -1;
		units |= 1 << m.steps;
		ascending &= v > last;
		last = v;
		if (out) {
			*out = xreallocarray(*out, (size_t)count + 1, sizeof **out);
			(*out)[count] = m;
		}
		count++;
		p = *end ? end + 1 : end;
	}
	if (rates && (units == 3 || !ascending))
		return -1;
	if (n)
		*n = count;
	return 0;
}

/* "N" steps or "Nm" minutes into one of the two; "0" turns periodic checkpoints off. */
static int every_parse(const char *text, int64_t *steps, double *seconds)
{
	const char *s = text ? text : "";
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0 || v > 1e15 || (*end && strcmp(end, "m") != 0) ||
	    (!*end && v != floor(v)) || !isdigit((unsigned char)*s))
		return -1;
	*steps = *end ? 0 : (int64_t)v;
	*seconds = *end ? 60 * v : 0;
	return 0;
}

int train_check_lr_steps(const char *s) { return milestones_parse(s, NULL, NULL); }

/* --lr-decay's name as a Decay (train_impl.h), -1 for none of them. */
static int decay_parse(const char *s)
{
	static const char *const names[] = { [DECAY_NONE] = "none", [DECAY_COSINE] = "cosine", [DECAY_LINEAR] = "linear" };
	for (int i = 0; i < (int)ARRAY_LEN(names); i++)
		if (s && strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int train_check_lr_decay(const char *s) { return decay_parse(s) < 0 ? -1 : 0; }

int train_check_checkpoint_every(const char *s)
{
	int64_t steps;
	double seconds;
	return every_parse(s, &steps, &seconds);
}

static int parse_schedule(Trainer *t)
{
	if (milestones_parse(t->o.lr_steps, &t->milestones, &t->nmilestones) != 0) {
		warn_msg("--lr-steps: '%s' is not a list like 30,60,80 (epochs), 10000s,20000s (steps) or "
			 "30:0.001,60:0.0001 (ascending, one unit)", t->o.lr_steps);
		return -1;
	}
	if (every_parse(t->o.checkpoint_every, &t->ckpt_steps, &t->ckpt_seconds) != 0) {
		warn_msg("--checkpoint-every: '%s' is neither a step count (1000) nor minutes (30m)", t->o.checkpoint_every);
		return -1;
	}
	return 0;
}

/* MODEL.anw -> MODEL.SUFFIX.anw-less forms: model.anw gives model.ckpt and model.best.anw. */
static char *derived_path(const char *model, const char *suffix, const char *ext)
{
	size_t n = strlen(model);
	if (n > 4 && strcmp(model + n - 4, ".anw") == 0)
		return xasprintf("%.*s%s%s", (int)(n - 4), model, suffix, ext);
	return xasprintf("%s%s", model, suffix);
}

static int check_settings(Trainer *t)
{
	const TrainOptions *o = &t->o;
	if (strcmp(o->crop, "random") != 0 && strcmp(o->crop, "center") != 0) {
		warn_msg("--crop: '%s' is neither random nor center", o->crop);
		return -1;
	}
	if (o->plateau && !(o->val && *o->val)) {
		warn_msg("--plateau needs a validation database (--val): the rule watches the validation error");
		return -1;
	}
	if (o->accum < 1 || o->accum > o->batch || o->batch % o->accum != 0) {
		warn_msg("--accum %" PRId64 " does not divide --batch %" PRId64 " into parts of equal size", o->accum, o->batch);
		return -1;
	}
	if (o->batch < 1 || o->lr <= 0 || o->lr_drop <= 1 || o->report_every < 1 || !(o->weight_decay >= 0) ||
	    o->weight_decay > 1 || !(o->momentum >= 0) || o->momentum >= 1 || !(o->erase >= 0) || o->erase > 1) {
		warn_msg("a setting from the checkpoint is out of range (batch, lr, lr-drop, report-every, weight-decay, "
			 "momentum, erase): corrupt file?");
		return -1;
	}
	if ((t->decay = decay_parse(o->lr_decay)) < 0) {
		warn_msg("--lr-decay: '%s' is none of none, cosine, linear (corrupt checkpoint?)", o->lr_decay);
		return -1;
	}
	if (parse_schedule(t) != 0)
		return -1;
	/* -o /dev/null or /dev/stdout: the files named after it would be /dev/null.ckpt and
	 * /dev/null.best.anw (--loader-only writes none) */
	int no_file = !o->loader_only && written_in_place(o->output);
	if (no_file && o->val && *o->val) {
		warn_msg("-o %s is written in place (a device, or a name in /dev or /proc), and the best model of --val "
			 "is named after it: give -o FILE",
			 o->output);
		return -1;
	}
	if (no_file && (!o->checkpoint || !*o->checkpoint)) {
		warn_msg("-o %s is written in place (a device, or a name in /dev or /proc), and the checkpoint is named "
			 "after it: give --checkpoint FILE",
			 o->output);
		return -1;
	}
	if (!o->checkpoint || !*o->checkpoint)
		t->o.checkpoint = trainer_keep(t, derived_path(o->output, ".ckpt", ""));
	t->ckpt_path = xstrdup(t->o.checkpoint);
	t->best_path = derived_path(o->output, ".best", ".anw");
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* data */

static int open_data(Trainer *t)
{
	if (!t->o.db || !*t->o.db) {
		warn_msg("no training database given");
		return -1;
	}
	if (!(t->db = db_open(t->o.db)))
		return -1;
	t->info = db_info(t->db);
	if (!t->info->labelled || t->info->num_classes < 2) {
		warn_msg("%s: %s: training needs labelled records of at least 2 classes", t->o.db,
			 t->info->labelled ? "a single class" : "the records have no labels");
		return -1;
	}
	t->H = t->info->height;
	t->W = t->info->width;
	t->C = t->info->channels;
	t->classes = classes_copy(&t->info->classes);
	if (t->o.val && *t->o.val) {
		if (!(t->val = db_open(t->o.val)))
			return -1;
		const DbInfo *v = db_info(t->val);
		if (v->height != t->H || v->width != t->W || v->channels != t->C) {
			warn_msg("%s: %ux%ux%u records, but the training database %s has %ux%ux%u", t->o.val, v->height, v->width,
				 v->channels, t->o.db, t->H, t->W, t->C);
			return -1;
		}
		if (!v->labelled || v->num_classes != t->info->num_classes ||
		    (v->classes.count && t->classes.count && !classes_equal(&v->classes, &t->classes))) {
			warn_msg("%s: its classes (%u%s) are not those of %s (%u)", t->o.val, v->num_classes,
				 v->labelled ? "" : ", unlabelled", t->o.db, t->info->num_classes);
			return -1;
		}
	}
	return 0;
}

static int check_stats(Trainer *t, const char *source)
{
	if (t->stats.height != t->H || t->stats.width != t->W || t->stats.channels != t->C) {
		warn_msg("%s: statistics of %ux%ux%u images, but %s holds %ux%ux%u records", source, t->stats.height,
			 t->stats.width, t->stats.channels, t->o.db, t->H, t->W, t->C);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* the network */

/* Images per forward pass: the batch, or one --accum part of it. */
static int part_batch(const Trainer *t) { return (int)(t->o.batch / t->o.accum); }

static int check_input(Trainer *t)
{
	Dims in = t->spec->layers[0].out;
	if ((uint32_t)in.c != t->C || (uint32_t)in.h > t->H || (uint32_t)in.w > t->W) {
		warn_msg("%s: the network's input is %dx%dx%d (channels x height x width), which cannot be cut from %s's "
			 "%ux%ux%u records",
			 t->spec->source, in.c, in.h, in.w, t->o.db, t->C, t->H, t->W);
		return -1;
	}
	if ((uint32_t)t->spec->classes != t->info->num_classes) {
		warn_msg("%s: the network has %d classes, %s has %u", t->spec->source, t->spec->classes, t->o.db,
			 t->info->num_classes);
		return -1;
	}
	return 0;
}

static int init_net(Trainer *t)
{
	NetInit init = { .seed = (uint64_t)t->o.seed };
	if (t->o.bias_init && *t->o.bias_init) {
		double b;
		if (parse_double(t->o.bias_init, -1e6, 1e6, &b) != 0) {
			warn_msg("--bias-init: '%s' is not a number", t->o.bias_init);
			return -1;
		}
		init.override_bias = 1;
		init.bias = (float)b;
	}
	return net_init(t->net, &init);
}

/* A new run from --init-from's weights, fresh momentum and step 0. The network is --net's, or
 * the model's own spec with out=classes resolved for this database (so the paper's net
 * trained on ILSVRC fine-tunes to 10 classes with --partial). */
static int load_init_from(Trainer *t)
{
	TensorFile tf;
	const char *path = t->o.init_from;
	if (tensorfile_open(&tf, path, 0) != 0)
		return -1;
	int rc = -1;
	Spec *from = NULL;
	NetMatch m;
	if (tf.kind != TF_MODEL && tf.kind != TF_CHECKPOINT) {
		warn_msg("%s: is a %s file, expected a model", path, tensorfile_kind_name(tf.kind));
		goto out;
	}
	if (!(from = net_read_spec(&tf)))
		goto out;
	if (t->o.given & (1u << TO_NET)) {
		t->spec = spec_load(t->o.net, (int)t->info->num_classes);
	} else { /* the model's text again, out=classes now this database's */
		char *source = xasprintf("%s:spec", path);
		t->spec = spec_parse(from->text, source, (int)t->info->num_classes);
		free(source);
	}
	if (!t->spec || check_input(t) != 0 || !(t->net = net_create(t->ctx, t->spec, part_batch(t), NET_TRAIN)) ||
	    init_net(t) != 0 || net_read_matching(t->net, &tf, from, t->o.partial, &m) != 0)
		goto out;
	if (!t->o.quiet)
		warn_msg("--init-from %s: %d of %d parameter tensors (%.1f%% of the %" PRId64 " numbers) from it%s", path,
			 m.copied, m.tensors, 100.0 * (double)m.copied_numbers / (double)m.numbers, m.numbers,
			 m.copied < m.tensors ? ", the others from the initialisation" : "");
	rc = 0;
out:
	spec_free(from);
	tensorfile_close(&tf);
	return rc;
}

static int device_buffers(Trainer *t)
{
	size_t img = (size_t)t->H * t->W * t->C;
	t->dev_pixels = ctx_alloc(t->ctx, (size_t)t->o.batch * img);
	t->dev_mean = ctx_alloc(t->ctx, img * sizeof(float));
	if (!t->dev_pixels || !t->dev_mean || ctx_upload(t->ctx, t->dev_mean, t->stats.mean, img * sizeof(float)) != 0) {
		warn_msg("allocating the input batch on %s: %s", t->ctx->be->name, ctx_error(t->ctx));
		return -1;
	}
	t->views = xcalloc((size_t)t->o.batch, sizeof *t->views);
	if (t->o.accum > 1)
		t->probs = xmallocarray((size_t)t->o.batch * (size_t)t->spec->classes, sizeof *t->probs);
	Dims in = t->spec->layers[0].out;
	t->vp = (ViewParams){ .height = (int)t->H, .width = (int)t->W, .channels = (int)t->C, .crop_h = in.h,
			      .crop_w = in.w, .crop = strcmp(t->o.crop, "center") == 0 ? CROP_CENTER : CROP_RANDOM,
			      .flip = t->o.flip != 0, .color_sigma = (float)t->o.color_noise, .stats = &t->stats,
			      .erase = (float)t->o.erase, .seed = (uint64_t)t->o.seed };
	if (t->val && !(t->ev = evaluator_new(t->net, t->stats.mean, t->H, t->W, t->C, (float)t->o.input_scale, 1)))
		return -1;
	return 0;
}

/* Everything before the first step: a resumed run, a run from a model's weights, or a fresh one. */
static int setup(Trainer *t)
{
	TensorFile tf = { 0 };
	Model extras = { 0 };
	int rc = -1;
	t->st = (TrainState){ .lr = t->o.lr, .best_top1 = 2, .best_epoch = -1 };
	if (t->o.resume && trainer_resume(t, &tf, &extras) != 0)
		goto out;
	if (check_settings(t) != 0 || open_data(t) != 0)
		goto out;
	if (t->o.resume && !(t->o.given & (1u << TO_STATS))) {
		t->stats = extras.stats; /* the checkpoint's own */
		memset(&extras.stats, 0, sizeof extras.stats);
		if (check_stats(t, t->o.resume) != 0)
			goto out;
	} else if (stats_load(t->o.stats, &t->stats) != 0 || check_stats(t, t->o.stats) != 0) {
		goto out;
	} else if ((uint64_t)t->stats.images != t->info->count) {
		/* pcacolor counts every record of its database: the records' size alone does not tell
		 * the validation set's statistics, or an older database's, from the right ones */
		warn_msg("warning: %s: statistics of %" PRId64 " images (of %s), but %s holds %" PRIu64 " records: "
			 "another database's? (pcacolor -o STATS %s makes its own)",
			 t->o.stats, t->stats.images, t->stats.source && *t->stats.source ? t->stats.source : "?", t->o.db,
			 t->info->count, t->o.db);
	}
	if (t->o.resume) {
		if (t->ckpt_records != (int64_t)t->info->count)
			warn_msg("resume: %s holds %" PRIu64 " records, the run was on %" PRId64 ": the data order from here on "
				 "differs from the run's",
				 t->o.db, t->info->count, t->ckpt_records);
		if (check_input(t) != 0 || !(t->net = net_create(t->ctx, t->spec, part_batch(t), NET_TRAIN)) ||
		    net_read(t->net, &tf) != 0 || net_read_momentum(t->net, &tf) != 0)
			goto out;
		net_set_seed(t->net, (uint64_t)t->o.seed);
	} else if (t->o.init_from) {
		if (load_init_from(t) != 0)
			goto out;
	} else {
		if (!(t->spec = spec_load(t->o.net, (int)t->info->num_classes)) || check_input(t) != 0 ||
		    !(t->net = net_create(t->ctx, t->spec, part_batch(t), NET_TRAIN)) || init_net(t) != 0)
			goto out;
	}
	if (t->st.position >= t->info->count) {
		warn_msg("%s: the checkpoint's data position %" PRIu64 " is past the %" PRIu64 " records of %s", t->o.resume,
			 t->st.position, t->info->count, t->o.db);
		goto out;
	}
	net_set_hyper(t->net, (float)t->o.momentum, (float)t->o.weight_decay);
	rc = device_buffers(t);
out:
	if (tf.f)
		tensorfile_close(&tf);
	stats_free(&extras.stats);
	classes_free(&extras.classes);
	free(extras.trained_on);
	free(extras.path);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* the schedule */

static double epochs_done(const Trainer *t)
{
	return (double)t->st.epoch + (double)t->st.position / (double)t->info->count;
}

/* The rate of the next step: the drops' rate, times --lr-decay's factor for the fraction of
 * the run done (train.h). */
static double lr_now(const Trainer *t)
{
	if (t->decay == DECAY_NONE)
		return t->st.lr;
	double f = t->o.epochs > 0  ? epochs_done(t) / (double)t->o.epochs
		   : t->o.steps > 0 ? (double)t->st.step / (double)t->o.steps
				    : 0;
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	double k = t->decay == DECAY_COSINE ? 0.5 * (1 + cos(M_PI * f)) : 1 - f;
	return t->st.lr * k;
}

/* Divides the rate by --lr-drop, or sets it, for every milestone passed since the last step
 * (in the list's order: see milestones_parse). */
static void apply_milestones(Trainer *t, Progress *pg)
{
	int64_t passed = 0;
	for (int i = 0; i < t->nmilestones; i++) {
		const Milestone *m = &t->milestones[i];
		passed += m->steps ? (double)t->st.step >= m->value : epochs_done(t) >= m->value - 1e-9;
	}
	while (t->st.milestones < passed) {
		const Milestone *m = &t->milestones[t->st.milestones++];
		if (m->rate > 0)
			t->st.lr = m->rate;
		else
			t->st.lr /= t->o.lr_drop;
		if (pg)
			progress_clear(pg);
		warn_msg("step %" PRIu64 ", epoch %.2f: milestone %" PRId64 " of --lr-steps: learning rate %g",
			 t->st.step, epochs_done(t), t->st.milestones, lr_now(t));
	}
}

/* A drop asked for by SIGUSR1: the next step's rate, and every checkpoint's after it. */
static void apply_asked_drop(Trainer *t, Progress *pg)
{
	if (!t->o.drop_signal || !*t->o.drop_signal)
		return;
	*t->o.drop_signal = 0;
	t->st.lr /= t->o.lr_drop;
	if (pg)
		progress_clear(pg);
	warn_msg("step %" PRIu64 ", epoch %.2f: SIGUSR1: learning rate divided by %g to %g", t->st.step, epochs_done(t),
		 t->o.lr_drop, lr_now(t));
}

/* The plateau rule after a validation of top-1 error err. */
static void apply_plateau(Trainer *t, double err)
{
	if (err < t->st.best_top1 - t->o.plateau_delta || t->st.best_top1 > 1) {
		t->st.bad_epochs = 0;
		return;
	}
	t->st.bad_epochs++;
	if (!t->o.plateau || t->st.bad_epochs < t->o.plateau)
		return;
	t->st.bad_epochs = 0;
	if (t->st.drops >= t->o.max_drops) {
		warn_msg("epoch %" PRIu64 ": validation error has not improved for %" PRId64 " epoch%s, but the learning "
			 "rate was already divided %" PRId64 " times (--max-drops)",
			 t->st.epoch, t->o.plateau, t->o.plateau == 1 ? "" : "s", t->st.drops);
		return;
	}
	t->st.drops++;
	t->st.lr /= t->o.lr_drop;
	warn_msg("epoch %" PRIu64 ": validation top-1 error %.4f has not improved on %.4f by more than %g for %" PRId64
		 " epoch%s: learning rate divided by %g to %g (drop %" PRId64 " of %" PRId64 ")",
		 t->st.epoch, err, t->st.best_top1, t->o.plateau_delta, t->o.plateau, t->o.plateau == 1 ? "" : "s",
		 t->o.lr_drop, lr_now(t), t->st.drops, t->o.max_drops);
}

/* ---------------------------------------------------------------------------------------- */
/* reports */

typedef struct {
	uint64_t steps, images;
	double loss, top1, top5;  /* sums over images */
	double wait, t0;
	double stall;             /* steps the loss has sat at ln(classes) */
	int stall_warned;
} Window;

static void window_reset(Window *w)
{
	double stall = w->stall;
	int warned = w->stall_warned;
	memset(w, 0, sizeof *w);
	w->t0 = now_seconds();
	w->stall = stall;
	w->stall_warned = warned;
}

static double elapsed(const Trainer *t) { return t->st.elapsed + now_seconds() - t->t0; }

/* Rows that did not reach a TSV file (a full disk) are said once, when it happens. The run
 * goes on, since its weights matter more than its log, but ends in failure (finish). */
static void tsv_flush(const Trainer *t, FILE *f, const char *path, int *lost)
{
	int err = fflush(f) != 0 ? errno : 0;
	if (!err && !ferror(f))
		return;
	clearerr(f);
	if ((*lost)++)
		return;
	warn_msg("%s: write error%s%s: rows from step %" PRIu64 " on are missing; training goes on", path,
		 err ? ": " : "", err ? strerror(err) : "", t->st.step);
}

static void log_row(Trainer *t, const char *kind, double loss, double top1, double top5, double ips, double wait)
{
	if (!t->log)
		return;
	fprintf(t->log, "%" PRIu64 "\t%.4f\t%s\t%.6f\t%.6f\t%.6f\t%.6g\t%.2f\t%.4f\t%.1f\n", t->st.step, epochs_done(t),
		kind, loss, top1, top5, t->lr_step, ips, wait, elapsed(t));
	tsv_flush(t, t->log, t->o.log, &t->log_lost);
}

/* The layers' health (health.h) on the last step's input: the health log's rows, the dead
 * ReLUs once, early (REFERENCE.md A.9), and a warning for a layer that has lost half its units.
 * It changes nothing the next step uses, so a run is the same with or without it. */
static void check_health(Trainer *t, Progress *pg)
{
	const Spec *s = t->spec;
	int rows = health_rows(s);
	if (!t->health_rows) {
		t->health_rows = xcalloc((size_t)rows, sizeof *t->health_rows);
		t->dead_warned = xcalloc((size_t)rows, 1);
	}
	if (pg)
		progress_clear(pg);
	int first = !t->health_seen;
	t->health_seen = 1; /* a failure is not tried again at every report, unless --health asks */
	if (health_measure(t->net, t->input_n, t->health_rows) != 0) {
		warn_msg("step %" PRIu64 ": the layers' health could not be measured (above)", t->st.step);
		return;
	}
	if (t->health) {
		health_write_rows(t->health, s, t->health_rows, t->st.step, epochs_done(t));
		tsv_flush(t, t->health, t->o.health, &t->health_lost);
	}
	/* with --accum the net's input holds the step's last part */
	char images[64];
	snprintf(images, sizeof images, t->o.accum > 1 ? "%d images of the step's last part" : "%d images of the step",
		 t->input_n);
	if (first && !t->o.quiet) {
		char dead[1024];
		health_format_dead(dead, sizeof dead, s, t->health_rows);
		warn_msg("step %" PRIu64 ": dead ReLUs (maps or features zero for all %s): %s", t->st.step, images,
			 *dead ? dead : "none rectified");
	}
	for (int k = 0; k < rows; k++) {
		const HealthRow *r = &t->health_rows[k];
		/* units active for few images look dead in a small batch: judge on 32 or more */
		if (r->relu && 2 * r->dead >= r->units && t->input_n >= 32 && !t->dead_warned[k]) {
			warn_msg("warning: step %" PRIu64 ": %d of the %d %s of %s are dead (zero for all %s): they pass "
				 "no gradient. Biases that start too low, or a learning rate too high, cause this: try "
				 "--bias-init or a lower --lr",
				 t->st.step, r->dead, r->units, s->layers[r->layer].type == LAYER_CONV ? "maps" : "features",
				 s->layers[r->layer].name, images);
			t->dead_warned[k] = 1;
		}
	}
}

/* The report of a window of steps: a log row, the layers' health, and the stall warning. */
static void report(Trainer *t, Window *w, Progress *pg)
{
	if (!w->images)
		return;
	double dt = now_seconds() - w->t0, n = (double)w->images;
	double loss = w->loss / n;
	log_row(t, "train", loss, w->top1 / n, w->top5 / n, n / dt, dt > 0 ? w->wait / dt : 0);
	double chance = log((double)t->spec->classes);
	if (t->o.stall_steps > 0 && fabs(loss - chance) < 0.02 * chance) {
		w->stall += (double)w->steps;
		if (w->stall >= (double)t->o.stall_steps && !w->stall_warned) {
			if (pg)
				progress_clear(pg);
			warn_msg("warning: the loss has stayed at ln(%d) = %.3f, chance, for %.0f steps: the network is not "
				 "learning. A known cause is the paper's bias 1 on conv2, conv4, conv5, fc6 and fc7 (Caffe's "
				 "replication used 0.1): try --bias-init 0.1, or a lower --lr",
				 t->spec->classes, chance, w->stall);
			w->stall_warned = 1;
		}
	} else {
		w->stall = 0;
	}
	/* before the next window starts, so that its rate does not pay for the measurement */
	if ((t->health || !t->health_seen) && t->input_n > 0)
		check_health(t, pg);
	window_reset(w);
}

static void progress_line(const Trainer *t, const Window *w, Progress *pg, uint64_t done)
{
	char extra[256];
	double n = w->images ? (double)w->images : 1, dt = now_seconds() - w->t0;
	snprintf(extra, sizeof extra, "epoch %.2f, loss %.4f, error top-1 %.1f%% top-5 %.1f%%, lr %.3g, %.0f img/s, data wait %.0f%%",
		 epochs_done(t), w->loss / n, 100 * w->top1 / n, 100 * w->top5 / n, t->lr_step,
		 dt > 0 ? (double)w->images / dt : 0, dt > 0 ? 100 * w->wait / dt : 0);
	progress_update(pg, done, extra);
}

/* ---------------------------------------------------------------------------------------- */
/* the step */

/* Views first .. first + k - 1 of the uploaded batch into the network's input. */
static int augment_views(Trainer *t, const AugmentShape *as, int first, int k)
{
	Ctx *c = t->ctx;
	if (c->be->augment(c, as, k, t->views + first, t->dev_pixels, t->dev_mean, net_input(t->net)) != 0) {
		warn_msg("step %" PRIu64 ": preparing the batch: %s", t->st.step, ctx_error(c));
		return -1;
	}
	return 0;
}

/* The batch's forward and backward passes in --accum parts of at most the net's batch, their
 * gradients summed (weighted by their shares), then one update: the step a whole batch makes,
 * up to rounding and the dropout masks. *probs receives the batch's probabilities. */
static int step_in_parts(Trainer *t, const Batch *b, const AugmentShape *as, double *loss, const float **probs)
{
	int P = net_max_batch(t->net), K = t->spec->classes;
	double sum = 0;
	for (int first = 0, part = 0; first < b->n; first += P, part++) {
		int k = b->n - first < P ? b->n - first : P;
		if (augment_views(t, as, first, k) != 0)
			return -1;
		net_set_part(t->net, part);
		const float *p;
		if (net_set_labels(t->net, b->labels + first, k) != 0 || net_forward(t->net, k, NET_TRAIN, t->st.step) != 0 ||
		    net_backward(t->net) != 0 || net_accumulate(t->net, (float)k / (float)b->n, part == 0) != 0 ||
		    !(p = net_probs(t->net)))
			return -1;
		memcpy(t->probs + (size_t)first * (size_t)K, p, (size_t)k * (size_t)K * sizeof *p);
		sum += net_loss(p, b->labels + first, k, K) * k;
		t->input_n = k;
	}
	net_set_part(t->net, 0);
	if (net_update_accumulated(t->net, (float)t->lr_step) != 0)
		return -1;
	*loss = sum / b->n;
	*probs = t->probs;
	return 0;
}

/* One SGD step on batch b; adds to the window. -1 after printing why, -2 on a loss that is not finite. */
static int train_step(Trainer *t, const Batch *b, Window *w)
{
	Ctx *c = t->ctx;
	size_t img = (size_t)t->H * t->W * t->C;
	views_train(&t->vp, t->st.step, b->n, t->views);
	AugmentShape as = { .H = (int)t->H, .W = (int)t->W, .C = (int)t->C, .crop_h = t->vp.crop_h,
			    .crop_w = t->vp.crop_w, .scale = (float)t->o.input_scale };
	if (c->be->upload_async(c, t->dev_pixels, b->pixels, (size_t)b->n * img) != 0) {
		warn_msg("step %" PRIu64 ": preparing the batch: %s", t->st.step, ctx_error(c));
		return -1;
	}
	double loss;
	const float *probs;
	t->lr_step = lr_now(t);
	if (t->o.accum > 1) {
		if (step_in_parts(t, b, &as, &loss, &probs) != 0)
			return -1;
	} else {
		if (augment_views(t, &as, 0, b->n) != 0)
			return -1;
		if (net_set_labels(t->net, b->labels, b->n) != 0 ||
		    net_train_step(t->net, b->n, t->st.step, (float)t->lr_step, b->labels, &loss) != 0)
			return -1;
		probs = net_probs(t->net); /* net_train_step's download, already on the host */
	}
	if (!isfinite(loss))
		return -2;
	int K = t->spec->classes;
	if (t->o.accum <= 1)
		t->input_n = b->n;
	for (int i = 0; i < b->n; i++) {
		int rank = eval_rank(probs + (size_t)i * (size_t)K, K, b->labels[i]);
		w->top1 += rank >= 1;
		w->top5 += rank >= 5;
	}
	w->loss += loss * b->n;
	w->images += (uint64_t)b->n;
	w->steps++;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* validation and files */

static int validate(Trainer *t, Progress *pg)
{
	EvalResult r;
	EvalDbOptions eo = { .threads = t->o.loaders, .progress = NULL };
	if (pg)
		progress_clear(pg);
	double t0 = now_seconds();
	if (eval_db(t->ev, t->val, &eo, &r) != 0)
		return -1;
	double dt = now_seconds() - t0;
	int improved = r.top1 < t->st.best_top1 - 1e-12;
	warn_msg("epoch %" PRIu64 " validation on %s: top-1 error %.4f, top-5 error %.4f, loss %.4f (%" PRIu64
		 " images, centre crop, %.1f s)%s",
		 t->st.epoch, t->o.val, r.top1, r.top5, r.loss, r.images, dt, improved ? ", best so far" : "");
	log_row(t, "val", r.loss, r.top1, r.top5, dt > 0 ? (double)r.images / dt : 0, dt > 0 ? r.wait / dt : 0);
	apply_plateau(t, r.top1);
	eval_result_free(&r); /* no per-class arrays; the figures are kept */
	if (improved) {
		t->st.best_top1 = r.top1;
		t->st.best_epoch = (int64_t)t->st.epoch;
		if (trainer_write_model(t, t->best_path) != 0)
			return -1;
	}
	t->st.pending_val = 0;
	return 0;
}

static int save_checkpoint(Trainer *t, Progress *pg, const char *why)
{
	if (pg)
		progress_clear(pg);
	if (!trainer_params_finite(t)) {
		warn_msg("step %" PRIu64 ": the weights hold NaN or Inf: no checkpoint written (the last one is kept)",
			 t->st.step);
		return -1;
	}
	double t0 = now_seconds();
	if (trainer_write_checkpoint(t) != 0)
		return -1;
	t->last_ckpt = now_seconds();
	if (!t->o.quiet && why) /* the epochs' own are not worth a line each */
		warn_msg("step %" PRIu64 ": checkpoint %s written (%s, %.1f s)", t->st.step, t->ckpt_path, why,
			 t->last_ckpt - t0);
	return 0;
}

/* A run stopped without its last steps' checkpoint (a second signal, a crash) logged steps
 * past the one it resumes from, which the resumed run logs again: the rows past the
 * checkpoint's step, and a last row cut short, are cut off, so that the file reads as one run
 * (its steps ascending, as anet-viz plots them). The first field of every row is the step. */
static int trim_tsv(const Trainer *t, const char *path)
{
	FILE *f = fopen(path, "r+");
	if (!f) {
		warn_errno("%s", path);
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	off_t at = 0, keep = -1;
	uint64_t rows = 0;
	for (int first = 1; (n = getline(&line, &cap, f)) > 0; first = 0, at += n) {
		char *end;
		uint64_t step = strtoull(line, &end, 10);
		if (keep < 0 && !first && (line[n - 1] != '\n' || (end != line && *end == '\t' && step > t->st.step)))
			keep = at;
		rows += keep >= 0;
	}
	free(line);
	int rc = 0;
	if (ferror(f) || (keep >= 0 && ftruncate(fileno(f), keep) != 0)) {
		warn_errno("%s", path);
		rc = -1;
	} else if (keep >= 0) {
		warn_msg("resume: %s: %" PRIu64 " row%s past step %" PRIu64 ", logged before the run stopped without "
			 "their checkpoint, cut off (the run logs those steps again)",
			 path, rows, rows == 1 ? "" : "s", t->st.step);
	}
	if (fclose(f) != 0 && rc == 0) {
		warn_errno("%s", path);
		rc = -1;
	}
	return rc;
}

/* A TSV file of the run: a resumed run appends to it, a new one starts it with its header. */
static FILE *open_tsv(const Trainer *t, const char *path, void (*header)(FILE *))
{
	struct stat sb;
	int append = t->o.resume && stat(path, &sb) == 0 && sb.st_size > 0;
	if (append && S_ISREG(sb.st_mode) && trim_tsv(t, path) != 0)
		return NULL;
	FILE *f = fopen(path, append ? "a" : "w");
	if (!f) {
		warn_errno("%s", path);
		return NULL;
	}
	if (!append)
		header(f);
	if (fflush(f) != 0) { /* a full disk before the first step costs nothing yet */
		warn_errno("%s: write error", path);
		fclose(f);
		return NULL;
	}
	return f;
}

static void log_header(FILE *f) { fputs(LOG_HEADER, f); }

/* The files the run will write, checked before the first step rather than found unwritable
 * after an epoch: none may be one of its inputs (the run would replace its own statistics,
 * spec or starting weights), and each must be creatable where it is named. */
static int check_outputs(const Trainer *t)
{
	const TrainOptions *o = &t->o;
	const char *out[][2] = { { "-o", o->output }, { "the checkpoint", t->ckpt_path },
				 { "--log", o->log }, { "--health", o->health } };
	const char *in[][2] = { { "--net", o->net }, { "--stats", o->stats }, { "--init-from", o->init_from },
				{ "--resume", o->resume } };
	for (size_t i = 0; i < ARRAY_LEN(out); i++) {
		if (!out[i][1] || !*out[i][1])
			continue;
		for (size_t k = 0; k < ARRAY_LEN(in); k++) {
			if (i == 1 && k == 3)
				continue; /* a resumed run goes on writing its checkpoint */
			if (same_file(out[i][1], in[k][1])) {
				warn_msg("%s %s is the file of %s, which the run reads: give the output another name", out[i][0],
					 out[i][1], in[k][0]);
				return -1;
			}
		}
	}
	/* two outputs on one file: the later write replaces the earlier (the log, or the checkpoint
	 * under the model), and the run ends with status 0 all the same */
	const char *own[][2] = { { "-o", o->output }, { "the checkpoint", t->ckpt_path },
				 { "the best model", t->val ? t->best_path : NULL }, { "--log", o->log },
				 { "--health", o->health } };
	for (size_t i = 0; i < ARRAY_LEN(own); i++)
		for (size_t k = i + 1; k < ARRAY_LEN(own); k++)
			if (same_output(own[k][1], own[i][1])) {
				warn_msg("%s %s: the same file as %s: give each its own", own[k][0], own[k][1], own[i][0]);
				return -1;
			}
	if (tensorwriter_probe(o->output) != 0 || tensorwriter_probe(t->ckpt_path) != 0 ||
	    (t->val && tensorwriter_probe(t->best_path) != 0))
		return -1;
	if (!o->resume && trainer_keep_unfinished(t->ckpt_path) != 0)
		return -1;
	/* a killed run's half-written checkpoint is as large as a whole one: say where it lies */
	note_stale_temporaries(o->output);
	note_stale_temporaries(t->ckpt_path);
	if (t->val)
		note_stale_temporaries(t->best_path);
	return 0;
}

static int open_log(Trainer *t)
{
	if (t->o.log && *t->o.log && !(t->log = open_tsv(t, t->o.log, log_header)))
		return -1;
	if (t->o.health && *t->o.health && !(t->health = open_tsv(t, t->o.health, health_write_header)))
		return -1;
	struct stat a, b;
	if (t->log && t->health && fstat(fileno(t->log), &a) == 0 && fstat(fileno(t->health), &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		warn_msg("--health %s: the same file as --log: give each its own", t->o.health);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* the loop */

static uint64_t target_steps(const Trainer *t)
{
	uint64_t spe = loader_epoch_steps(t->info->count, (int)t->o.batch), by_epochs = 0;
	if (t->o.epochs > 0) /* exact when the batch never changed; else an estimate for the ETA */
		by_epochs = t->st.step + ((uint64_t)t->o.epochs > t->st.epoch
						  ? ((uint64_t)t->o.epochs - t->st.epoch) * spe - t->st.position / (uint64_t)t->o.batch
						  : 0);
	if (t->o.steps > 0 && (!by_epochs || (uint64_t)t->o.steps < by_epochs))
		return (uint64_t)t->o.steps;
	return by_epochs;
}

int train_run_ended(int64_t steps, int64_t epochs, uint64_t step, uint64_t epoch)
{
	return (steps > 0 && step >= (uint64_t)steps) || (epochs > 0 && epoch >= (uint64_t)epochs);
}

static int finished(const Trainer *t) { return train_run_ended(t->o.steps, t->o.epochs, t->st.step, t->st.epoch); }

static Loader *start_loader(Trainer *t)
{
	LoaderOptions lo = { .db = t->db, .ctx = t->ctx, .batch = (int)t->o.batch, .threads = t->o.loaders,
			     .order = LOADER_EPOCHS, .seed = (uint64_t)t->o.seed, .step = t->st.step, .epoch = t->st.epoch,
			     .position = t->st.position, .stop_step = t->o.steps > 0 ? (uint64_t)t->o.steps : 0,
			     .stop_epoch = t->o.epochs > 0 ? (uint64_t)t->o.epochs : 0 };
	return loader_start(&lo);
}

static void print_start(const Trainer *t)
{
	if (t->o.quiet)
		return;
	spec_print_summary(t->spec, (int)t->o.batch, (int)t->o.accum, t->ctx->threads, t->o.momentum, t->o.weight_decay, stderr);
	warn_msg("training on %s (%s): %" PRIu64 " records %ux%ux%u %s, %u classes; %s%s%s", t->o.db,
		 t->ctx->be->describe(t->ctx), t->info->count, t->H, t->W, t->C, encoding_name(t->info->encoding),
		 t->info->num_classes, t->val ? "validating on " : "no validation", t->val ? t->o.val : "",
		 t->val ? " every epoch" : "");
	char decay[64] = "", erase[64] = "", parts[64] = "";
	if (t->o.accum > 1)
		snprintf(parts, sizeof parts, " in %" PRId64 " parts of %d", t->o.accum, part_batch(t));
	if (t->decay != DECAY_NONE)
		snprintf(decay, sizeof decay, ", %s decay to 0 at the end", t->o.lr_decay);
	if (t->o.erase > 0)
		snprintf(erase, sizeof erase, ", random erasing on %g of them", t->o.erase);
	warn_msg("batch %" PRId64 "%s, lr %g%s%s%s%s, %s %dx%d crops%s%s, PCA colour sigma %g, input scale %g, seed %" PRId64
		 ", %d loader threads",
		 t->o.batch, parts, lr_now(t), *t->o.lr_steps ? ", --lr-steps " : "", t->o.lr_steps, decay,
		 t->o.plateau ? ", plateau rule on" : "", t->o.crop, t->vp.crop_h, t->vp.crop_w,
		 t->o.flip ? " and mirrors" : "", erase, t->o.color_noise, t->o.input_scale, t->o.seed, t->o.loaders);
}

/* What the run does at the end of a step: reports, epoch end, checkpoints. 1 to stop. */
static int after_step(Trainer *t, const Batch *b, Window *w, Progress *pg)
{
	t->st.step++;
	t->st.position = b->position + (uint64_t)(b->n + b->skipped);
	if (b->epoch_end) {
		t->st.epoch = b->epoch + 1;
		t->st.position = 0;
		t->st.pending_val = t->val != NULL;
	}
	if (t->st.step % (uint64_t)t->o.report_every == 0 || b->epoch_end)
		report(t, w, pg);
	/* a validation or a checkpoint trains nothing: the window's clock stops for it, or the
	 * next row's img_per_s (and data_wait) would count its seconds as the steps' */
	double paused = now_seconds();
	if (t->st.pending_val && validate(t, pg) != 0)
		return -1;
	/* (a SIGINT or SIGTERM in the same step writes the checkpoint anyway, at the stop) */
	int asked = t->o.snapshot_signal && *t->o.snapshot_signal && !(t->o.stop_signal && *t->o.stop_signal);
	int due = b->epoch_end || asked || (t->ckpt_steps && t->st.step % (uint64_t)t->ckpt_steps == 0) ||
		  (t->ckpt_seconds > 0 && now_seconds() - t->last_ckpt >= t->ckpt_seconds);
	if (asked)
		*t->o.snapshot_signal = 0;
	/* the run's end writes one anyway */
	if (due && !finished(t) && save_checkpoint(t, pg, asked ? "SIGHUP" : b->epoch_end ? NULL : "periodic") != 0)
		return -1;
	w->t0 += now_seconds() - paused;
	return 0;
}

static int run_loop(Trainer *t, Loader *l, Progress *pg, uint64_t target)
{
	Window w = { 0 };
	window_reset(&w);
	while (!finished(t)) {
		if (t->o.stop_signal && *t->o.stop_signal)
			return 1;
		apply_milestones(t, pg);
		apply_asked_drop(t, pg);
		Batch *b = loader_next(l, &w.wait);
		if (!b) {
			warn_msg("internal error: the loader ended at step %" PRIu64, t->st.step);
			return -1;
		}
		int rc = b->n > 0 ? train_step(t, b, &w) : 0;
		if (rc == -2) {
			if (pg)
				progress_clear(pg);
			warn_msg("step %" PRIu64 ": the loss is not finite (NaN or Inf): stopping. The weights have diverged; "
				 "nothing was written, %s is the last good checkpoint. Try a lower --lr",
				 t->st.step, t->ckpt_path);
			loader_release(l, b);
			return -1;
		}
		if (rc == 0)
			rc = after_step(t, b, &w, pg);
		loader_release(l, b);
		if (rc != 0)
			return -1;
		/* right after a report the window is empty: the line keeps the last window's figures */
		if (pg && w.images)
			progress_line(t, &w, pg, t->st.step - t->start_step);
	}
	(void)target;
	report(t, &w, pg);
	return 0;
}

static int finish(Trainer *t, double seconds)
{
	if (!trainer_params_finite(t)) {
		warn_msg("the weights hold NaN or Inf: nothing written");
		return -1;
	}
	if (trainer_write_checkpoint(t) != 0 || trainer_write_model(t, t->o.output) != 0)
		return -1;
	uint64_t steps = t->st.step - t->start_step;
	warn_msg("done: step %" PRIu64 ", %.2f epochs; this run: %" PRIu64 " steps in %.1f s (%.2f steps/s)", t->st.step,
		 epochs_done(t), steps, seconds, seconds > 0 ? (double)steps / seconds : 0.0);
	if (t->st.best_epoch >= 0)
		warn_msg("best validation top-1 error %.4f after epoch %" PRId64 ": %s", t->st.best_top1, t->st.best_epoch,
			 t->best_path);
	warn_msg("model %s, checkpoint %s%s%s", t->o.output, t->ckpt_path, t->log ? ", log " : "", t->log ? t->o.log : "");
	if (t->log_lost || t->health_lost) {
		warn_msg("%s misses rows that could not be written (above)", t->log_lost ? t->o.log : t->o.health);
		return -1;
	}
	return 0;
}

static int loader_only(Trainer *t)
{
	if (check_settings(t) != 0 || open_data(t) != 0)
		return 1;
	uint64_t steps = t->o.steps > 0 ? (uint64_t)t->o.steps : loader_epoch_steps(t->info->count, (int)t->o.batch);
	t->o.steps = (int64_t)steps;
	t->o.epochs = 0;
	Loader *l = start_loader(t);
	if (!l)
		return 1;
	double t0 = now_seconds(), wait = 0;
	uint64_t images = 0;
	for (uint64_t s = 0; s < steps; s++) {
		Batch *b = loader_next(l, &wait);
		if (!b)
			break;
		images += (uint64_t)b->n;
		loader_release(l, b);
	}
	double dt = now_seconds() - t0;
	loader_stop(l);
	printf("loader: %" PRIu64 " images (%" PRIu64 " batches of %" PRId64 ", %ux%ux%u %s) in %.2f s: %.1f img/s with %d "
	       "threads\n",
	       images, steps, t->o.batch, t->H, t->W, t->C, encoding_name(t->info->encoding), dt, dt > 0 ? (double)images / dt : 0,
	       t->o.loaders);
	return 0;
}

static void trainer_free(Trainer *t)
{
	evaluator_free(t->ev);
	if (t->ctx) {
		ctx_free(t->ctx, t->dev_pixels);
		ctx_free(t->ctx, t->dev_mean);
	}
	net_free(t->net);
	spec_free(t->spec);
	db_close(t->db);
	db_close(t->val);
	stats_free(&t->stats);
	classes_free(&t->classes);
	free(t->views);
	free(t->probs);
	free(t->milestones);
	free(t->ckpt_path);
	free(t->best_path);
	if (t->log)
		fclose(t->log);
	if (t->health)
		fclose(t->health);
	free(t->health_rows);
	free(t->dead_warned);
	for (int i = 0; i < t->nowned; i++)
		free(t->owned[i]);
	free(t->owned);
}

int train_main(Ctx *ctx, TrainOptions *o)
{
	Trainer t = { .o = *o, .ctx = ctx };
	int status = 1;
	if (o->loader_only) {
		status = loader_only(&t);
		trainer_free(&t);
		return status;
	}
	if (setup(&t) != 0 || check_outputs(&t) != 0 || open_log(&t) != 0)
		goto out;
	print_start(&t);
	t.t0 = t.last_ckpt = now_seconds();
	t.start_step = t.st.step;
	if (t.st.pending_val && validate(&t, NULL) != 0)
		goto out;
	uint64_t target = target_steps(&t);
	Loader *l = finished(&t) ? NULL : start_loader(&t);
	if (!finished(&t) && !l)
		goto out;
	Progress *pg = t.o.quiet ? NULL : progress_start("training", target > t.start_step ? target - t.start_step : 0, "steps");
	int rc = l ? run_loop(&t, l, pg, target) : 0;
	double seconds = now_seconds() - t.t0;
	if (pg)
		progress_end(pg, t.st.step - t.start_step, NULL);
	loader_stop(l);
	if (rc == 1) {
		int sig = (int)*o->stop_signal;
		warn_msg("%s at step %" PRIu64 ": writing the checkpoint", sig == SIGTERM ? "terminated" : "interrupted",
			 t.st.step);
		if (save_checkpoint(&t, NULL, "signal") == 0) {
			char *word = shell_word(t.ckpt_path);
			warn_msg("stopped; continue with: anet-train --resume %s", word);
			free(word);
			status = 128 + sig;
		}
	} else if (rc == 0 && finish(&t, seconds) == 0) {
		status = 0;
	}
out:
	trainer_free(&t);
	return status;
}
