/* train_impl.h: what train.c (the run) and train_state.c (settings, checkpoints, resume) share. Not a public API. */
#ifndef ANET_TRAIN_IMPL_H
#define ANET_TRAIN_IMPL_H

#include <stdio.h>

#include "libcommon/db.h"
#include "libcommon/eval.h"
#include "libcommon/health.h"
#include "libcommon/model.h"
#include "libcommon/net.h"
#include "libcommon/stats.h"
#include "libcommon/train.h"

/* The schedule and data position: everything a checkpoint adds to the weights and momentum. */
typedef struct {
	uint64_t step;            /* steps done */
	uint64_t epoch, position; /* the next image: position in epoch's order */
	double lr;                /* the current learning rate */
	int64_t milestones;       /* --lr-steps milestones passed */
	int64_t drops;            /* plateau drops made */
	double best_top1;         /* best validation top-1 error (2: none yet) */
	int64_t best_epoch;       /* the epoch count at that validation (-1: none) */
	int64_t bad_epochs;       /* validations since the last improvement */
	int64_t pending_val;      /* an epoch ended and its validation has not run */
	double elapsed;           /* seconds of training before this process */
} TrainState;

typedef struct {
	double value;
	int steps;                /* 1: a step count, 0: epochs */
	double rate;              /* > 0: the rate from here on (30:0.001); 0: divide by --lr-drop */
} Milestone;

typedef enum { DECAY_NONE, DECAY_COSINE, DECAY_LINEAR } Decay; /* --lr-decay */

typedef struct {
	TrainOptions o;
	Ctx *ctx;
	TrainState st;
	Spec *spec;
	Net *net;
	Db *db, *val;
	const DbInfo *info;
	Stats stats;
	ClassTable classes;
	uint32_t H, W, C;
	ViewParams vp;
	uint8_t *dev_pixels;
	float *dev_mean;
	View *views;
	float *probs;             /* --accum: the batch's probabilities, part by part (host) */
	Evaluator *ev;
	Milestone *milestones;
	int nmilestones;
	int decay;                /* o.lr_decay as a Decay */
	double lr_step;           /* the rate of the last step (the log's and the progress line's) */
	int64_t ckpt_steps;       /* --checkpoint-every in steps, or */
	double ckpt_seconds;      /* in seconds; 0: off */
	double last_ckpt;
	char *ckpt_path, *best_path;
	FILE *log;
	FILE *health;             /* --health */
	int log_lost, health_lost; /* a row did not reach the file (tsv_flush) */
	HealthRow *health_rows;
	int input_n;              /* images in the net's input after the last step (its last part's) */
	int health_seen;          /* the first report's dead-ReLU line was printed */
	unsigned char *dead_warned; /* per health row: the dead-ReLU warning was given */
	double t0;                /* this process's training start */
	uint64_t start_step;
	int64_t ckpt_records;     /* the training database's size when the checkpoint was written */
	char **owned;             /* strings the options point to */
	int nowned;
} Trainer;

/* train.c: whether a run of --steps steps and --epochs epochs (0: no limit) has ended at step
 * and epoch (either limit reached) */
int train_run_ended(int64_t steps, int64_t epochs, uint64_t step, uint64_t epoch);

/* train_state.c */
/* Reads a checkpoint's settings (the command line's win, and each is printed), its state
 * and network; the model entries go to *extras. -1 after printing why. */
int trainer_resume(Trainer *t, TensorFile *tf, Model *extras);
/* -1 after saying why when path holds the checkpoint of a run that has not reached its end,
 * which a new run would replace (re-running the command of a stopped run instead of --resume
 * would lose it); 0 for no file, another kind of file, or a finished run's checkpoint. */
int trainer_keep_unfinished(const char *path);
/* Writes the checkpoint; the model (and the best model) without momentum or state. */
int trainer_write_checkpoint(Trainer *t);
int trainer_write_model(Trainer *t, const char *path);
/* Whether every parameter is finite (a diverged run must not overwrite a good file). */
int trainer_params_finite(Trainer *t);
/* Keeps s for the trainer's lifetime and returns it. */
const char *trainer_keep(Trainer *t, char *s);

#endif
