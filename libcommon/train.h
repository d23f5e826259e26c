/* train.h: anet-train's training run: data, schedule, validation, checkpoints, signals and logs.
 *
 * One run is a loop over global steps. Step s takes the next batch from the loader (its
 * images are fixed by the seed, the epoch's permutation and the step), cuts the training
 * views out of it on the device (views.h), and does one SGD step with the paper's update.
 * Everything random is a function of (seed, step), so that the only state a checkpoint needs
 * is the weights, the momentum, the step, the data position (epoch and images into it) and
 * the schedule's variables: a run stopped and resumed ends, on the CPU with the same thread
 * count, with exactly the weights of a run that never stopped.
 *
 * Learning rate (the paper's §5: start at 0.01, divide by 10 when the validation error stops
 * improving, three times):
 *  - --lr-steps: a list of milestones in epochs ("30,60,80", fractions allowed) or steps
 *    ("10000s,20000s"); passing each divides the rate by --lr-drop (10);
 *  - --plateau P: after each epoch's validation, the top-1 error counts as improved when it
 *    is below the best so far by more than --plateau-delta (0.001, a tenth of a percentage
 *    point); after P validations in a row without improvement the rate is divided by
 *    --lr-drop and the count starts again; at most --max-drops (3) times.
 *  - --lr-decay cosine|linear: the rate also falls continuously to 0 at the run's end,
 *    multiplied by (1 + cos(pi f)) / 2 or by 1 - f, f the fraction of the run done: epochs
 *    done over --epochs or, without --epochs, steps over --steps (so --steps with --epochs
 *    stops part way along the epochs' curve). A function of the step and data position: a
 *    resumed run follows the same curve.
 * They may be combined: the drops divide the rate the decay multiplies.
 *
 * Files: the model (-o), the best model by validation top-1 error, the checkpoint (written
 * at every epoch's end, every --checkpoint-every steps or minutes, at the end, and when
 * SIGINT or SIGTERM stops the run), and the TSV log. Everything is written to a temporary
 * name and renamed; nothing is written once a loss is not finite, so a good checkpoint is
 * never replaced by a diverged one.
 */
#ifndef ANET_TRAIN_H
#define ANET_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "libcommon/views.h"

/* The settings a checkpoint keeps; TO_* bits mark the ones the command line gave. */
enum {
	TO_DB, TO_VAL, TO_STATS, TO_OUTPUT, TO_CHECKPOINT, TO_LOG, TO_BATCH, TO_EPOCHS, TO_STEPS, TO_LR,
	TO_LR_STEPS, TO_LR_DROP, TO_PLATEAU, TO_PLATEAU_DELTA, TO_MAX_DROPS, TO_SEED, TO_CHECKPOINT_EVERY,
	TO_CROP, TO_FLIP, TO_COLOR_NOISE, TO_INPUT_SCALE, TO_REPORT_EVERY, TO_STALL_STEPS, TO_NET, TO_BIAS_INIT,
	TO_WEIGHT_DECAY, TO_MOMENTUM, TO_LR_DECAY, TO_ERASE, TO_ACCUM, TO_HEALTH, TO_COUNT
};
_Static_assert(TO_COUNT <= 32, "TrainOptions.given holds a bit per setting in 32 bits");

typedef struct {
	/* files */
	const char *db, *val, *stats, *net;
	const char *output;        /* the model; "model.anw" by default */
	const char *checkpoint;    /* NULL: from the model's name (model.anw -> model.ckpt) */
	const char *log;           /* NULL: no log */
	const char *health;        /* NULL or "": no health log (health.h) */
	const char *resume;        /* a checkpoint to continue */
	const char *init_from;     /* a model whose weights start a new run */
	int partial;               /* --init-from: parameters that do not match start fresh */
	/* the run */
	int64_t batch, epochs, steps;    /* epochs/steps 0: no such limit */
	int64_t accum;             /* a batch goes through the network in this many parts (1: whole) */
	double lr;
	const char *lr_steps;      /* "" for none */
	double lr_drop;
	const char *lr_decay;      /* "none", "cosine" or "linear" */
	double weight_decay;       /* the update's decay and momentum (the paper's 0.0005 and 0.9) */
	double momentum;
	int64_t plateau;           /* 0: off */
	double plateau_delta;
	int64_t max_drops;
	int64_t seed;
	const char *checkpoint_every; /* "N" steps or "Nm" minutes */
	const char *crop;          /* "random" or "center" */
	int64_t flip;
	double color_noise;        /* sigma of the PCA alphas */
	double erase;              /* probability of random erasing (views.h); 0: none */
	double input_scale;
	int64_t report_every;      /* steps between log rows */
	int64_t stall_steps;       /* warn when the loss sits at ln(classes) this long; 0: never */
	const char *bias_init;     /* "" (the spec's) or a number for every non-zero bias */
	/* how */
	int loaders;               /* decode threads (-j) */
	int quiet;                 /* no layer table, no progress */
	int loader_only;           /* measure the loader alone */
	uint32_t given;            /* 1 << TO_* for the options on the command line */
	volatile sig_atomic_t *stop_signal; /* set (to the signal) by the tool's handler */
	/* set by the tool's SIGHUP handler: a checkpoint after this step, and go on (Caffe's
	 * snapshot on SIGHUP); cleared when written */
	volatile sig_atomic_t *snapshot_signal;
	/* set by the tool's SIGUSR1 handler: divide the rate by --lr-drop before the next step
	 * (the paper's own rule was a person's judgement that validation had stopped improving);
	 * cleared when done */
	volatile sig_atomic_t *drop_signal;
} TrainOptions;

void train_defaults(TrainOptions *o);

/* 0 if a --lr-steps list ("30,60,80" epochs, "1000s,2000s" steps), a --lr-decay name or a
 * --checkpoint-every value ("1000" steps, "30m" minutes) is well formed, else -1 (nothing
 * printed). */
int train_check_lr_steps(const char *s);
int train_check_lr_decay(const char *s);
int train_check_checkpoint_every(const char *s);

/* Runs the training (or the loader benchmark) on ctx. Returns the exit status: 0; 1 after
 * printing why; 128 + signal when a signal stopped the run after its checkpoint was
 * written. */
int train_main(Ctx *ctx, TrainOptions *o);

#endif
