/* train_state.c: the trainer's settings and state in checkpoints, resuming, and the model files it writes. */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/train_impl.h"
#include "libcommon/util.h"

typedef enum { ST_TEXT, ST_INT, ST_REAL } SettingType;

/* Every setting a checkpoint keeps as "train.NAME", and the option that sets it. A setting
 * added after checkpoints existed (optional) reads as absent, the value those runs had. */
typedef struct {
	int bit;
	const char *name, *flag;
	SettingType type;
	size_t off;
	int optional;
	double absent;
	const char *absent_text;
} Setting;

#define SET(bit, name, flag, type, field) { bit, name, flag, type, offsetof(TrainOptions, field), 0, 0, NULL }
#define SET_ADDED(bit, name, flag, field, absent) \
	{ bit, name, flag, ST_REAL, offsetof(TrainOptions, field), 1, absent, NULL }
#define SET_ADDED_INT(bit, name, flag, field, absent) \
	{ bit, name, flag, ST_INT, offsetof(TrainOptions, field), 1, absent, NULL }
#define SET_ADDED_TEXT(bit, name, flag, field, absent) \
	{ bit, name, flag, ST_TEXT, offsetof(TrainOptions, field), 1, 0, absent }
static const Setting settings[] = {
	SET(TO_DB, "db", "DB", ST_TEXT, db),
	SET(TO_VAL, "val", "--val", ST_TEXT, val),
	SET(TO_STATS, "stats", "--stats", ST_TEXT, stats),
	SET(TO_NET, "net", "--net", ST_TEXT, net),
	SET(TO_OUTPUT, "output", "-o", ST_TEXT, output),
	SET(TO_CHECKPOINT, "checkpoint", "--checkpoint", ST_TEXT, checkpoint),
	SET(TO_LOG, "log", "--log", ST_TEXT, log),
	SET_ADDED_TEXT(TO_HEALTH, "health", "--health", health, ""),
	SET(TO_BATCH, "batch", "--batch", ST_INT, batch),
	SET_ADDED_INT(TO_ACCUM, "accum", "--accum", accum, 1),
	SET(TO_EPOCHS, "epochs", "--epochs", ST_INT, epochs),
	SET(TO_STEPS, "steps", "--steps", ST_INT, steps),
	SET(TO_LR, "lr", "--lr", ST_REAL, lr),
	SET(TO_LR_STEPS, "lr_steps", "--lr-steps", ST_TEXT, lr_steps),
	SET(TO_LR_DROP, "lr_drop", "--lr-drop", ST_REAL, lr_drop),
	SET_ADDED_TEXT(TO_LR_DECAY, "lr_decay", "--lr-decay", lr_decay, "none"),
	SET_ADDED(TO_WEIGHT_DECAY, "weight_decay", "--weight-decay", weight_decay, NET_DECAY),
	SET_ADDED(TO_MOMENTUM, "momentum", "--momentum", momentum, NET_MOMENTUM),
	SET(TO_PLATEAU, "plateau", "--plateau", ST_INT, plateau),
	SET(TO_PLATEAU_DELTA, "plateau_delta", "--plateau-delta", ST_REAL, plateau_delta),
	SET(TO_MAX_DROPS, "max_drops", "--max-drops", ST_INT, max_drops),
	SET(TO_SEED, "seed", "--seed", ST_INT, seed),
	SET(TO_CHECKPOINT_EVERY, "checkpoint_every", "--checkpoint-every", ST_TEXT, checkpoint_every),
	SET(TO_CROP, "crop", "--crop", ST_TEXT, crop),
	SET(TO_FLIP, "flip", "--no-flip", ST_INT, flip),
	SET(TO_COLOR_NOISE, "color_noise", "--color-noise", ST_REAL, color_noise),
	SET_ADDED(TO_ERASE, "erase", "--erase", erase, 0),
	SET(TO_INPUT_SCALE, "input_scale", "--input-scale", ST_REAL, input_scale),
	SET(TO_REPORT_EVERY, "report_every", "--report-every", ST_INT, report_every),
	SET(TO_STALL_STEPS, "stall_steps", "--stall-steps", ST_INT, stall_steps),
	SET(TO_BIAS_INIT, "bias_init", "--bias-init", ST_TEXT, bias_init),
};

/* The state entries, "train.NAME". */
typedef struct {
	const char *name;
	SettingType type;
	size_t off;
} StateEntry;

#define STATE(name, type, field) { name, type, offsetof(TrainState, field) }
static const StateEntry state_entries[] = {
	STATE("step", ST_INT, step),		   STATE("epoch", ST_INT, epoch),
	STATE("position", ST_INT, position),	   STATE("lr_now", ST_REAL, lr),
	STATE("milestones", ST_INT, milestones),   STATE("drops", ST_INT, drops),
	STATE("best_top1", ST_REAL, best_top1),	   STATE("best_epoch", ST_INT, best_epoch),
	STATE("bad_epochs", ST_INT, bad_epochs),   STATE("pending_validation", ST_INT, pending_val),
	STATE("elapsed", ST_REAL, elapsed),
};

const char *trainer_keep(Trainer *t, char *s)
{
	t->owned = xreallocarray(t->owned, (size_t)t->nowned + 1, sizeof *t->owned);
	t->owned[t->nowned++] = s;
	return s;
}

static void *field(void *base, size_t off) { return (char *)base + off; }

static void format_setting(const Setting *s, const TrainOptions *o, char *buf, size_t len)
{
	const void *p = (const char *)o + s->off;
	const char *text;
	switch (s->type) {
	case ST_TEXT:
		text = *(const char *const *)p;
		snprintf(buf, len, "%s", text && *text ? text : "(none)");
		break;
	case ST_INT: snprintf(buf, len, "%" PRId64, *(const int64_t *)p); break;
	case ST_REAL: snprintf(buf, len, "%.9g", *(const double *)p); break;
	}
}

static int write_settings(TensorWriter *w, const TrainOptions *o)
{
	for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
		const Setting *s = &settings[i];
		const void *p = (const char *)o + s->off;
		char name[64];
		snprintf(name, sizeof name, "train.%s", s->name);
		const char *text = s->type == ST_TEXT ? *(const char *const *)p : NULL;
		int rc = s->type == ST_TEXT  ? tensorwriter_add_text(w, name, text ? text : "")
			 : s->type == ST_INT ? tensorwriter_add_i64(w, name, *(const int64_t *)p)
					     : tensorwriter_add_f64(w, name, *(const double *)p);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int write_state(TensorWriter *w, const TrainState *st)
{
	for (size_t i = 0; i < ARRAY_LEN(state_entries); i++) {
		const StateEntry *e = &state_entries[i];
		char name[64];
		snprintf(name, sizeof name, "train.%s", e->name);
		const void *p = (const char *)st + e->off;
		int rc = e->type == ST_INT ? tensorwriter_add_i64(w, name, (int64_t) * (const uint64_t *)p)
					   : tensorwriter_add_f64(w, name, *(const double *)p);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int trainer_params_finite(Trainer *t)
{
	const Spec *s = t->spec;
	enum { CHUNK = 1 << 20 };
	float *h = xmallocarray(CHUNK, sizeof *h);
	const float *dev = net_param_buffer(t->net);
	int ok = 1;
	for (int64_t e = 0; e < s->param_floats && ok; e += CHUNK) {
		size_t k = (size_t)(s->param_floats - e < CHUNK ? s->param_floats - e : CHUNK);
		if (ctx_download(t->ctx, h, dev + e, k * sizeof *h) != 0) {
			warn_msg("downloading the parameters: %s", ctx_error(t->ctx));
			ok = 0;
			break;
		}
		for (size_t i = 0; i < k; i++)
			if (!isfinite(h[i])) {
				ok = 0;
				break;
			}
	}
	free(h);
	return ok;
}

static int write_model_entries(Trainer *t, TensorWriter *w)
{
	return model_write(w, t->net, &t->stats, &t->classes, t->H, t->W, t->C, (float)t->o.input_scale, t->o.db,
			   t->o.flip ? 1 : 0);
}

int trainer_write_model(Trainer *t, const char *path)
{
	TensorWriter w;
	if (tensorwriter_open(&w, path, TF_MODEL) != 0)
		return -1;
	if (write_model_entries(t, &w) != 0) {
		tensorwriter_abort(&w);
		return -1;
	}
	return tensorwriter_commit(&w);
}

/* The CPU threads the kernels use (0 in the context means every processor). */
static int compute_threads(const Ctx *c) { return c->threads > 0 ? c->threads : cpu_count(); }

int trainer_write_checkpoint(Trainer *t)
{
	TensorWriter w;
	TrainState st = t->st;
	st.elapsed += now_seconds() - t->t0;
	if (tensorwriter_open(&w, t->ckpt_path, TF_CHECKPOINT) != 0)
		return -1;
	if (write_model_entries(t, &w) != 0 || net_write_momentum(t->net, &w) != 0 || write_settings(&w, &t->o) != 0 ||
	    write_state(&w, &st) != 0 || tensorwriter_add_i64(&w, "train.threads", compute_threads(t->ctx)) != 0 ||
	    tensorwriter_add_i64(&w, "train.records", (int64_t)t->info->count) != 0 ||
	    tensorwriter_add_text(&w, "train.version", ANET_VERSION) != 0) {
		tensorwriter_abort(&w);
		return -1;
	}
	return tensorwriter_commit(&w);
}

/* ---------------------------------------------------------------------------------------- */
/* resuming */

static int read_setting(Trainer *t, TensorFile *tf, const Setting *s, TrainOptions *from)
{
	char name[64];
	snprintf(name, sizeof name, "train.%s", s->name);
	void *p = field(from, s->off);
	if (s->optional && !tensorfile_find(tf, name)) {
		if (s->type == ST_TEXT)
			*(const char **)p = s->absent_text;
		else if (s->type == ST_INT)
			*(int64_t *)p = (int64_t)s->absent;
		else
			*(double *)p = s->absent;
		return 0;
	}
	switch (s->type) {
	case ST_TEXT: {
		char *text = tensorfile_read_text(tf, name);
		if (!text)
			return -1;
		*(const char **)p = trainer_keep(t, text);
		return 0;
	}
	case ST_INT: return tensorfile_read_i64(tf, name, p);
	case ST_REAL: return tensorfile_read_f64(tf, name, p);
	}
	return -1;
}

static int same_setting(const Setting *s, const TrainOptions *a, const TrainOptions *b)
{
	char x[512], y[512];
	format_setting(s, a, x, sizeof x);
	format_setting(s, b, y, sizeof y);
	return strcmp(x, y) == 0;
}

/* Each setting from the checkpoint unless the command line gave it; says which. */
static int merge_settings(Trainer *t, TensorFile *tf)
{
	TrainOptions saved = t->o;
	for (size_t i = 0; i < ARRAY_LEN(settings); i++)
		if (read_setting(t, tf, &settings[i], &saved) != 0)
			return -1;
	for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
		const Setting *s = &settings[i];
		char was[512], now[512];
		format_setting(s, &saved, was, sizeof was);
		if (!(t->o.given & (1u << s->bit))) {
			memcpy(field(&t->o, s->off), field(&saved, s->off),
			       s->type == ST_TEXT ? sizeof(char *) : s->type == ST_INT ? sizeof(int64_t) : sizeof(double));
			warn_msg("resume: %s %s (from the checkpoint)", s->name, was);
			continue;
		}
		format_setting(s, &t->o, now, sizeof now);
		/* the network and its weights are the checkpoint's: what the command line says of them
		 * changes nothing, so the checkpoint goes on naming what the run uses */
		if (s->bit == TO_BIAS_INIT || (s->bit == TO_NET && !same_setting(s, &saved, &t->o))) {
			if (s->bit == TO_BIAS_INIT)
				warn_msg("resume: --bias-init has no effect: the biases come from the checkpoint");
			else
				warn_msg("resume: --net %s has no effect: the network is the checkpoint's (from %s)", now, was);
			memcpy(field(&t->o, s->off), field(&saved, s->off), sizeof(char *));
		} else if (same_setting(s, &saved, &t->o))
			warn_msg("resume: %s %s (the command line's, as in the checkpoint)", s->name, now);
		else if (s->bit == TO_LR)
			warn_msg("resume: --lr %s overrides the checkpoint's (initial %s): the learning rate is now %s", now, was,
				 now);
		else
			warn_msg("resume: %s %s overrides the checkpoint's %s", s->flag, now, was);
	}
	return 0;
}

static int read_state(TensorFile *tf, TrainState *st)
{
	for (size_t i = 0; i < ARRAY_LEN(state_entries); i++) {
		const StateEntry *e = &state_entries[i];
		char name[64];
		snprintf(name, sizeof name, "train.%s", e->name);
		void *p = field(st, e->off);
		int64_t v;
		if (e->type == ST_REAL ? tensorfile_read_f64(tf, name, p) : tensorfile_read_i64(tf, name, &v))
			return -1;
		if (e->type == ST_INT) {
			if (v < -1) {
				warn_msg("%s: %s is %" PRId64 " (corrupt file?)", tf->path, name, v);
				return -1;
			}
			*(int64_t *)p = v;
		}
	}
	if (!isfinite(st->lr) || st->lr <= 0 || !isfinite(st->elapsed)) {
		warn_msg("%s: train.lr_now or train.elapsed holds a bad value (corrupt file?)", tf->path);
		return -1;
	}
	return 0;
}

int trainer_resume(Trainer *t, TensorFile *tf, Model *extras)
{
	const char *path = t->o.resume;
	if (tensorfile_open(tf, path, 0) != 0)
		return -1;
	if (tf->kind == TF_MODEL) {
		warn_msg("%s: is a model (weights only), not a checkpoint: it holds no momentum, step, data position or "
			 "schedule to resume",
			 path);
		warn_msg("HINT: to start a new run from these weights, give --init-from %s instead of --resume", path);
		return -1;
	}
	if (tf->kind != TF_CHECKPOINT) {
		warn_msg("%s: is a %s file, expected a checkpoint written by anet-train", path,
			 tensorfile_kind_name(tf->kind));
		return -1;
	}
	int given_lr = (t->o.given & (1u << TO_LR)) != 0;
	double lr = t->o.lr;
	if (merge_settings(t, tf) != 0 || read_state(tf, &t->st) != 0)
		return -1;
	if (given_lr)
		t->st.lr = lr;
	/* the checkpoint names itself, its model and log as the command line of the run did,
	 * relative to the folder it started in: from another folder (or for a copy under another
	 * name) that is another file, and the run would go on writing a new checkpoint there, the
	 * one resumed from left behind */
	const char *own = t->o.checkpoint;
	if (!(t->o.given & (1u << TO_CHECKPOINT)) && own && *own && !same_file(path, own)) {
		warn_msg("%s: the run's checkpoint is %s, which from here is %s (was the run started in another folder?)",
			 path, own, access(own, F_OK) == 0 ? "another file" : "no file");
		warn_msg("HINT: resume in the folder the run was started in, or give --checkpoint FILE (and -o and --log) "
			 "to go on writing other files");
		return -1;
	}
	int64_t threads;
	if (tensorfile_read_i64(tf, "train.threads", &threads) != 0 ||
	    tensorfile_read_i64(tf, "train.records", &t->ckpt_records) != 0)
		return -1;
	if (threads != compute_threads(t->ctx) && strcmp(t->ctx->be->name, "cpu") == 0)
		warn_msg("resume: the checkpoint was written with %" PRId64 " CPU threads, this run has %d: the weights "
			 "will differ in the last bits from a run that did not stop",
			 threads, compute_threads(t->ctx));
	if (!(t->spec = net_read_spec(tf)) || net_check_file(tf, t->spec, 1) != 0)
		return -1;
	memset(extras, 0, sizeof *extras);
	extras->path = xstrdup(path);
	if (model_read_extras(tf, t->spec, extras) != 0)
		return -1;
	if (!extras->has_stats) {
		warn_msg("%s: has no mean image (corrupt file?)", path);
		return -1;
	}
	warn_msg("resume: %s: step %" PRIu64 ", epoch %" PRIu64 " (image %" PRIu64 " of its order), learning rate %g, "
		 "%" PRId64 " plateau drop%s",
		 path, t->st.step, t->st.epoch, t->st.position, t->st.lr, t->st.drops, t->st.drops == 1 ? "" : "s");
	return 0;
}

int trainer_keep_unfinished(const char *path)
{
	/* only an anet checkpoint is looked into: anything else at the name is replaced as before,
	 * without the reader's complaints about it */
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	uint8_t h[16];
	int ckpt = fread(h, 1, sizeof h, f) == sizeof h && get_u32(h) == TENSORFILE_MAGIC && get_u32(h + 12) == TF_CHECKPOINT;
	fclose(f);
	if (!ckpt)
		return 0;
	TensorFile tf;
	int64_t step, epoch, steps, epochs;
	if (tensorfile_open(&tf, path, TF_CHECKPOINT) != 0 || tensorfile_read_i64(&tf, "train.step", &step) != 0 ||
	    tensorfile_read_i64(&tf, "train.epoch", &epoch) != 0 || tensorfile_read_i64(&tf, "train.steps", &steps) != 0 ||
	    tensorfile_read_i64(&tf, "train.epochs", &epochs) != 0) {
		tensorfile_close(&tf);
		warn_msg("%s: a damaged checkpoint, which no run can resume: this run replaces it", path);
		return 0;
	}
	tensorfile_close(&tf);
	/* a finished run's checkpoint is only a copy of its model with the momentum, and a new run
	 * may replace it as it replaces the model */
	if (step < 0 || epoch < 0 || train_run_ended(steps, epochs, (uint64_t)step, (uint64_t)epoch))
		return 0;
	char end[96];
	if (steps > 0)
		snprintf(end, sizeof end, "step %" PRId64 " of %" PRId64, step, steps);
	else
		snprintf(end, sizeof end, "step %" PRId64 ", after %" PRId64 " of %" PRId64 " epochs", step, epoch, epochs);
	warn_msg("%s: the checkpoint of a run stopped at %s: this new run would replace it, and that run could not "
		 "go on",
		 path, end);
	char *word = shell_word(path);
	warn_msg("HINT: anet-train --resume %s goes on with that run; to start afresh, remove the file or give this "
		 "run another --checkpoint",
		 word);
	free(word);
	return -1;
}
