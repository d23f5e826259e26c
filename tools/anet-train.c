/* anet-train: trains the paper's network (or a spec file's) on a database; also --summary, --time, --check-grads and --loader-only. */
#include <getopt.h>
#include <inttypes.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "libcommon/gradcheck.h"
#include "libcommon/model.h"
#include "libcommon/net.h"
#include "libcommon/nettime.h"
#include "libcommon/opt.h"
#include "libcommon/spec.h"
#include "libcommon/train.h"
#include "libcommon/util.h"

enum Mode { MODE_TRAIN, MODE_SUMMARY, MODE_TIME, MODE_GRADS, MODE_LOADER };

typedef struct {
	enum Mode mode;
	TrainOptions t;
	int classes, classes_given;
	int iters;
	int threads;        /* CPU threads; 0: every processor */
	int gpu;
	int deterministic;
	int tf32;
	const char *device; /* NULL: $ANET_DEVICE, else auto */
} Options;

static volatile sig_atomic_t stop_signal, snapshot_signal, drop_signal;

static void on_signal(int sig)
{
	static const char msg[] = "\nanet-train: stopping after this step to write a checkpoint (signal again to stop at once)\n";
	stop_signal = sig;
	ssize_t rc = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)rc;
}

static void on_hangup(int sig)
{
	(void)sig;
	snapshot_signal = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	drop_signal = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: anet-train [--net alexnet|FILE] --stats STATS [--val DB] [--batch N] [--epochs N]\n"
		"                  [--steps N] [--lr X] [--device auto|cpu|cuda] [--seed N] [-j N]\n"
		"                  [--log FILE] [-o MODEL] [--resume CKPT] [OPTION]... DB\n"
		"       anet-train --resume CKPT [OPTION]... [DB]\n"
		"       anet-train [--net alexnet|FILE] --summary [--classes N] [--batch N] [--threads N]\n"
		"       anet-train [--net alexnet|FILE] --time [--classes N] [--batch N] [--iters N]\n"
		"                  [--device auto|cpu|cuda] [--seed N] [--threads N]\n"
		"       anet-train [--net alexnet|FILE | --init-from MODEL] --check-grads [--classes N]\n"
		"                  [--batch N] [--device auto|cpu|cuda] [--seed N] [--threads N]\n"
		"       anet-train --loader-only [--batch N] [--steps N] [-j N] DB\n"
		"Trains the network of Krizhevsky, Sutskever and Hinton (2012), or a variant from a\n"
		"specification file (man 5 anet-formats), on a database made by mkdb, with the paper's\n"
		"augmentation (random crops, mirrors, PCA colour noise), SGD and update rule.\n"
		"\n"
		"Data and files:\n"
		"  -n, --net alexnet|FILE     the network (default alexnet, the paper's)\n"
		"      --stats STATS          pcacolor's statistics of DB (mean image, colour PCA)\n"
		"      --val DB               validate on this database after every epoch\n"
		"  -o, --output MODEL         the trained model (default model.anw); the best by\n"
		"                             validation goes to MODEL.best.anw\n"
		"      --checkpoint FILE      the checkpoint (default MODEL.ckpt, without .anw)\n"
		"      --checkpoint-every N|Nm  also every N steps or N minutes (default 30m; 0: off);\n"
		"                             always at each epoch's end, at the end and on a signal\n"
		"      --resume CKPT          continue a stopped run from its checkpoint\n"
		"      --init-from MODEL      start a new run from a model's weights (fine-tuning)\n"
		"      --partial              with --init-from: parameters that do not match the network\n"
		"                             (other classes, other layers) start from the initialisation\n"
		"      --log FILE             a TSV row per report and per validation\n"
		"      --health FILE          a TSV row per layer and report: weight and update sizes,\n"
		"                             dead ReLUs (costs a download of the weights and a forward\n"
		"                             pass per report)\n"
		"Schedule:\n"
		"  -b, --batch N              images per step (default 128)\n"
		"      --accum N              pass each batch through the network in N parts, their\n"
		"                             gradients summed: the same step in 1/N of the activations'\n"
		"                             memory (default 1)\n"
		"      --epochs N             stop after N epochs (default 90 without --steps)\n"
		"      --steps N              stop when the global step reaches N\n"
		"      --lr X                 learning rate (default 0.01)\n"
		"      --lr-steps LIST        divide it at these epochs (30,60,80) or steps (1000s,2000s),\n"
		"                             or set it there (30:0.001,60:0.0001)\n"
		"      --lr-decay none|cosine|linear  also lower it continuously to 0 at the run's end\n"
		"                             (default none, the paper's)\n"
		"      --plateau[=P]          divide it when the validation top-1 error has not improved\n"
		"                             for P epochs (default 2), at most --max-drops times\n"
		"      --plateau-delta X      smaller improvements do not count (default 0.001)\n"
		"      --max-drops N          plateau drops at most (default 3)\n"
		"      --lr-drop X            the divisor (default 10)\n"
		"      --weight-decay X       the update's weight decay (default 0.0005, the paper's)\n"
		"      --momentum X           the update's momentum (default 0.9, the paper's)\n"
		"Augmentation and initialisation:\n"
		"      --crop random|center   random crops (default) or the centre one\n"
		"      --no-flip              no mirror images\n"
		"      --color-noise X        sigma of the PCA colour alphas (default 0.1; 0: off)\n"
		"      --erase P              random erasing: a rectangle of 2-40%% of the crop set to the\n"
		"                             mean in a fraction P of the views (default 0: off)\n"
		"      --input-scale X        multiply the mean-subtracted input by X (default 1)\n"
		"      --bias-init X          start every non-zero bias at X (Caffe used 0.1)\n"
		"      --seed N               seed of the weights, data order, crops, colour, dropout (default 1)\n"
		"Devices and output:\n"
		"  -d, --device D             auto, cpu or cuda (default $ANET_DEVICE, else auto)\n"
		"      --gpu N                the CUDA device (default 0)\n"
		"      --threads N            CPU threads of the kernels (default: every processor)\n"
		"      --deterministic        GPU: reproducible reductions, no TF32\n"
		"      --tf32                 GPU: matrix products on TF32 tensor cores (faster; inputs\n"
		"                             rounded to 10-bit mantissas; default FP32)\n"
		"  -j, --jobs N               decode threads (default: processors, at most 16)\n"
		"      --report-every N       steps per log row (default 20)\n"
		"      --stall-steps N        warn when the loss sits at chance this long (default 1000)\n"
		"  -q, --quiet                no layer table, no progress\n"
		"Other modes:\n"
		"      --summary              the layers, shapes, parameters, FLOPs and memory; no data\n"
		"      --time                 training and inference speed on synthetic data\n"
		"      --classes N            what 'out=classes' means for --summary, --time and\n"
		"                             --check-grads (default 1000)\n"
		"      --iters N              timed steps for --time (default 5)\n"
		"      --check-grads          the gradients of the network (or of --init-from's model)\n"
		"                             on this device against a double-precision reference, and\n"
		"                             that against finite differences (default --batch 2;\n"
		"                             inputs times --input-scale, or the model's);\n"
		"                             exit status 1 when they disagree\n"
		"      --loader-only          how fast the loader prepares batches (--steps, default one\n"
		"                             epoch), without computing\n"
		"  -h, --help                 this help\n"
		"      --version              the version\n"
		"\n"
		"The paper's choices: LRN alpha multiplies the raw sum of squares (k=2, n=5, alpha=1e-4,\n"
		"beta=0.75); groups=2 on conv2, conv4, conv5; 224x224 crops with conv1 pad 2 (55x55);\n"
		"v = 0.9 v - 0.0005 lr w - lr dw, w = w + v on every parameter (the default update);\n"
		"PCA colour noise adds sum_i alpha_i sqrt(lambda_i) p_i on the 0-255 scale. See\n"
		"anet-train(1).\n");
}

enum {
	OPT_SUMMARY = 256, OPT_TIME, OPT_CLASSES, OPT_ITERS, OPT_SEED, OPT_VERSION, OPT_STATS, OPT_VAL, OPT_EPOCHS,
	OPT_STEPS, OPT_LR, OPT_LR_STEPS, OPT_LR_DECAY, OPT_LR_DROP, OPT_ACCUM, OPT_WEIGHT_DECAY, OPT_MOMENTUM, OPT_PLATEAU, OPT_PLATEAU_DELTA, OPT_MAX_DROPS, OPT_BIAS_INIT,
	OPT_RESUME, OPT_INIT_FROM, OPT_PARTIAL, OPT_CHECKPOINT, OPT_CHECKPOINT_EVERY, OPT_LOG, OPT_HEALTH, OPT_CROP, OPT_NO_FLIP, OPT_COLOR, OPT_ERASE,
	OPT_SCALE, OPT_GPU, OPT_THREADS, OPT_DETERMINISTIC, OPT_TF32, OPT_REPORT, OPT_STALL, OPT_LOADER_ONLY, OPT_CHECK_GRADS
};

static const struct option longopts[] = {
	{ "net", required_argument, NULL, 'n' },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "val", required_argument, NULL, OPT_VAL },
	{ "output", required_argument, NULL, 'o' },
	{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
	{ "checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY },
	{ "resume", required_argument, NULL, OPT_RESUME },
	{ "init-from", required_argument, NULL, OPT_INIT_FROM },
	{ "partial", no_argument, NULL, OPT_PARTIAL },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "health", required_argument, NULL, OPT_HEALTH },
	{ "batch", required_argument, NULL, 'b' },
	{ "epochs", required_argument, NULL, OPT_EPOCHS },
	{ "steps", required_argument, NULL, OPT_STEPS },
	{ "lr", required_argument, NULL, OPT_LR },
	{ "lr-steps", required_argument, NULL, OPT_LR_STEPS },
	{ "lr-decay", required_argument, NULL, OPT_LR_DECAY },
	{ "lr-drop", required_argument, NULL, OPT_LR_DROP },
	{ "accum", required_argument, NULL, OPT_ACCUM },
	{ "weight-decay", required_argument, NULL, OPT_WEIGHT_DECAY },
	{ "momentum", required_argument, NULL, OPT_MOMENTUM },
	{ "plateau", optional_argument, NULL, OPT_PLATEAU },
	{ "plateau-delta", required_argument, NULL, OPT_PLATEAU_DELTA },
	{ "max-drops", required_argument, NULL, OPT_MAX_DROPS },
	{ "crop", required_argument, NULL, OPT_CROP },
	{ "no-flip", no_argument, NULL, OPT_NO_FLIP },
	{ "color-noise", required_argument, NULL, OPT_COLOR },
	{ "erase", required_argument, NULL, OPT_ERASE },
	{ "input-scale", required_argument, NULL, OPT_SCALE },
	{ "bias-init", required_argument, NULL, OPT_BIAS_INIT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "device", required_argument, NULL, 'd' },
	{ "gpu", required_argument, NULL, OPT_GPU },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "deterministic", no_argument, NULL, OPT_DETERMINISTIC },
	{ "tf32", no_argument, NULL, OPT_TF32 },
	{ "jobs", required_argument, NULL, 'j' },
	{ "report-every", required_argument, NULL, OPT_REPORT },
	{ "stall-steps", required_argument, NULL, OPT_STALL },
	{ "quiet", no_argument, NULL, 'q' },
	{ "summary", no_argument, NULL, OPT_SUMMARY },
	{ "time", no_argument, NULL, OPT_TIME },
	{ "classes", required_argument, NULL, OPT_CLASSES },
	{ "iters", required_argument, NULL, OPT_ITERS },
	{ "loader-only", no_argument, NULL, OPT_LOADER_ONLY },
	{ "check-grads", no_argument, NULL, OPT_CHECK_GRADS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

static void set_mode(Options *o, enum Mode m)
{
	if (o->mode != MODE_TRAIN && o->mode != m)
		usage_error("--summary, --time, --check-grads and --loader-only exclude each other");
	o->mode = m;
}

/* A file option's name: an empty one (--val "$UNSET") would read as not given, the run going
 * on without its validation or log, or train to the end and fail to write its model. */
static const char *file_arg(const char *flag, const char *arg)
{
	if (!*arg)
		usage_error("%s: an empty file name", flag);
	return arg;
}

/* The options of a training run; 1 if c was one. */
static int training_option(TrainOptions *t, int c, const char *arg)
{
	switch (c) {
	case 'n': t->net = file_arg("--net", arg); t->given |= 1u << TO_NET; break;
	case OPT_STATS: t->stats = file_arg("--stats", arg); t->given |= 1u << TO_STATS; break;
	case OPT_VAL: t->val = file_arg("--val", arg); t->given |= 1u << TO_VAL; break;
	case 'o': t->output = file_arg("-o", arg); t->given |= 1u << TO_OUTPUT; break;
	case OPT_CHECKPOINT: t->checkpoint = file_arg("--checkpoint", arg); t->given |= 1u << TO_CHECKPOINT; break;
	case OPT_CHECKPOINT_EVERY:
		if (train_check_checkpoint_every(arg) != 0)
			usage_error("--checkpoint-every: '%s' is neither a step count (1000) nor minutes (30m)", arg);
		t->checkpoint_every = arg;
		t->given |= 1u << TO_CHECKPOINT_EVERY;
		break;
	case OPT_RESUME: t->resume = file_arg("--resume", arg); break;
	case OPT_INIT_FROM: t->init_from = file_arg("--init-from", arg); break;
	case OPT_PARTIAL: t->partial = 1; break;
	case OPT_LOG: t->log = file_arg("--log", arg); t->given |= 1u << TO_LOG; break;
	case OPT_HEALTH: t->health = file_arg("--health", arg); t->given |= 1u << TO_HEALTH; break;
	case 'b': t->batch = opt_int("--batch", arg, 1, 1 << 16); t->given |= 1u << TO_BATCH; break;
	case OPT_ACCUM: t->accum = opt_int("--accum", arg, 1, 1 << 16); t->given |= 1u << TO_ACCUM; break;
	case OPT_EPOCHS: t->epochs = opt_int("--epochs", arg, 1, 1000000); t->given |= 1u << TO_EPOCHS; break;
	case OPT_STEPS: t->steps = opt_int("--steps", arg, 1, INT64_MAX / 2); t->given |= 1u << TO_STEPS; break;
	case OPT_LR: t->lr = opt_double("--lr", arg, 1e-12, 1e6); t->given |= 1u << TO_LR; break;
	case OPT_LR_STEPS:
		if (train_check_lr_steps(arg) != 0)
			usage_error("--lr-steps: '%s' is not a list like 30,60,80 (epochs), 10000s,20000s (steps) or "
				    "30:0.001,60:0.0001 (ascending, one unit)", arg);
		t->lr_steps = arg;
		t->given |= 1u << TO_LR_STEPS;
		break;
	case OPT_LR_DECAY:
		if (train_check_lr_decay(arg) != 0)
			usage_error("--lr-decay: '%s' is none of none, cosine, linear", arg);
		t->lr_decay = arg;
		t->given |= 1u << TO_LR_DECAY;
		break;
	case OPT_LR_DROP: t->lr_drop = opt_double("--lr-drop", arg, 1.0001, 1e6); t->given |= 1u << TO_LR_DROP; break;
	case OPT_WEIGHT_DECAY:
		t->weight_decay = opt_double("--weight-decay", arg, 0, 1);
		t->given |= 1u << TO_WEIGHT_DECAY;
		break;
	case OPT_MOMENTUM: t->momentum = opt_double("--momentum", arg, 0, 0.999); t->given |= 1u << TO_MOMENTUM; break;
	case OPT_PLATEAU:
		t->plateau = arg ? opt_int("--plateau", arg, 1, 1000000) : 2;
		t->given |= 1u << TO_PLATEAU;
		break;
	case OPT_PLATEAU_DELTA:
		t->plateau_delta = opt_double("--plateau-delta", arg, 0, 1);
		t->given |= 1u << TO_PLATEAU_DELTA;
		break;
	case OPT_MAX_DROPS: t->max_drops = opt_int("--max-drops", arg, 0, 1000); t->given |= 1u << TO_MAX_DROPS; break;
	case OPT_CROP:
		if (strcmp(arg, "random") != 0 && strcmp(arg, "center") != 0)
			usage_error("--crop: '%s' is neither random nor center", arg);
		t->crop = arg;
		t->given |= 1u << TO_CROP;
		break;
	case OPT_NO_FLIP: t->flip = 0; t->given |= 1u << TO_FLIP; break;
	case OPT_ERASE: t->erase = opt_double("--erase", arg, 0, 1); t->given |= 1u << TO_ERASE; break;
	case OPT_COLOR: t->color_noise = opt_double("--color-noise", arg, 0, 100); t->given |= 1u << TO_COLOR_NOISE; break;
	case OPT_SCALE: t->input_scale = opt_double("--input-scale", arg, 1e-9, 1e9); t->given |= 1u << TO_INPUT_SCALE; break;
	case OPT_BIAS_INIT:
		opt_double("--bias-init", arg, -1e6, 1e6);
		t->bias_init = arg;
		t->given |= 1u << TO_BIAS_INIT;
		break;
	case OPT_SEED: t->seed = opt_int("--seed", arg, 0, INT64_MAX); t->given |= 1u << TO_SEED; break;
	case 'j': t->loaders = (int)opt_int("--jobs", arg, 1, 256); break;
	case OPT_REPORT: t->report_every = opt_int("--report-every", arg, 1, 1 << 30); t->given |= 1u << TO_REPORT_EVERY; break;
	case OPT_STALL: t->stall_steps = opt_int("--stall-steps", arg, 0, INT64_MAX / 2); t->given |= 1u << TO_STALL_STEPS; break;
	case 'q': t->quiet = 1; break;
	default: return 0;
	}
	return 1;
}

static void check_modes(Options *o, int nargs, char **args)
{
	TrainOptions *t = &o->t;
	/* a resumed run may take its batch from the checkpoint: train_main checks that one; a
	 * gradient check has no parts */
	if (o->mode != MODE_GRADS && (!t->resume || (t->given & (1u << TO_BATCH))) && t->batch % t->accum != 0)
		usage_error("--accum %" PRId64 " does not divide --batch %" PRId64 " into parts of equal size", t->accum,
			    t->batch);
	if (o->mode == MODE_SUMMARY || o->mode == MODE_TIME || o->mode == MODE_GRADS) {
		if (nargs > 0)
			usage_error("unexpected argument '%s' (--summary, --time and --check-grads need no database)",
				    args[0]);
		if (o->mode == MODE_GRADS && t->init_from &&
		    ((t->given & (1u << TO_NET)) || o->classes_given ||
		     (t->given & ((1u << TO_BIAS_INIT) | (1u << TO_INPUT_SCALE)))))
			usage_error("--check-grads --init-from checks the model's own network, weights and input scale: "
				    "--net, --classes, --bias-init and --input-scale do not apply");
		if (o->mode == MODE_GRADS && t->partial)
			usage_error("--check-grads takes a model's network as it is: --partial does not apply");
		if (o->mode == MODE_GRADS && t->resume)
			usage_error("--check-grads checks a checkpoint's weights with --init-from CKPT, not --resume");
		if (o->mode == MODE_GRADS && (t->given & (1u << TO_ACCUM)))
			usage_error("--check-grads passes its --batch whole: --accum does not apply");
		return;
	}
	if (nargs > 1)
		usage_error("one training database, not %d", nargs);
	if (nargs == 1) {
		t->db = args[0];
		t->given |= 1u << TO_DB;
	}
	if (o->mode == MODE_LOADER) {
		if (!t->db)
			usage_error("--loader-only needs a database");
		return;
	}
	if (!t->db && !t->resume)
		usage_error("nothing to do: give a training database to train on, or give --summary or --time");
	if (!t->stats && !t->resume)
		usage_error("--stats is required: make it with 'pcacolor -o %s.stats %s'", "DB", t->db);
	if (t->resume && t->init_from)
		usage_error("--resume and --init-from exclude each other");
	if (t->partial && !t->init_from)
		usage_error("--partial goes with --init-from (the weights to take what matches from)");
	if (!t->resume && !(t->given & (1u << TO_EPOCHS)) && !(t->given & (1u << TO_STEPS)))
		t->epochs = 90; /* the paper's */
}

static void parse_options(int argc, char **argv, Options *o)
{
	*o = (Options){ .mode = MODE_TRAIN, .classes = 1000, .iters = 5 };
	train_defaults(&o->t);
	int cpus = cpu_count();
	o->t.loaders = cpus < 16 ? cpus : 16;
	int c;
	while ((c = getopt_long(argc, argv, "n:o:b:d:j:qh", longopts, NULL)) != -1) {
		if (training_option(&o->t, c, optarg))
			continue;
		switch (c) {
		case OPT_SUMMARY: set_mode(o, MODE_SUMMARY); break;
		case OPT_TIME: set_mode(o, MODE_TIME); break;
		case OPT_LOADER_ONLY: set_mode(o, MODE_LOADER); break;
		case OPT_CHECK_GRADS: set_mode(o, MODE_GRADS); break;
		case OPT_CLASSES:
			o->classes = (int)opt_int("--classes", optarg, 1, 1 << 24);
			o->classes_given = 1;
			break;
		case OPT_ITERS: o->iters = (int)opt_int("--iters", optarg, 1, 100000); break;
		case 'd': o->device = opt_device("--device", optarg); break;
		case OPT_GPU: o->gpu = (int)opt_int("--gpu", optarg, 0, 1024); break;
		case OPT_THREADS: o->threads = (int)opt_int("--threads", optarg, 1, 4096); break;
		case OPT_DETERMINISTIC: o->deterministic = 1; break;
		case OPT_TF32: o->tf32 = 1; break;
		case 'h': usage(stdout); exit(0);
		case OPT_VERSION: printf("anet-train (anet) %s\n", ANET_VERSION); exit(0);
		default: fprintf(stderr, "Try '%s --help' for more information.\n", progname()); exit(EXIT_USAGE);
		}
	}
	if (o->tf32 && o->deterministic)
		usage_error("--tf32 and --deterministic exclude each other (TF32 rounds the products' inputs; "
			    "deterministic mode keeps FP32)");
	check_modes(o, argc - optind, argv + optind);
}

static Ctx *open_device(const Options *o)
{
	CtxOptions co = { .device = o->device, .gpu = o->gpu, .threads = o->threads, .deterministic = o->deterministic,
			  .allow_tf32 = o->tf32 };
	Ctx *ctx = net_ctx_open(&co);
	if (!ctx)
		exit(EXIT_FAILURE);
	if (o->tf32 && ctx->be == backend_cpu())
		warn_msg("--tf32: the CPU computes in FP32 throughout; the option changes nothing there");
	return ctx;
}

static int run_time(const Options *o, const Spec *spec)
{
	Ctx *ctx = open_device(o);
	int batch = (int)(o->t.batch / o->t.accum); /* one part's */
	Net *net = net_create(ctx, spec, batch, NET_TRAIN);
	NetInit init = { .seed = (uint64_t)o->t.seed };
	int rc = net && net_init(net, &init) == 0 ? 0 : -1;
	if (rc == 0) {
		NetTimeOptions to = { .batch = batch, .iters = o->iters, .seed = (uint64_t)o->t.seed };
		NetTimeResult r;
		rc = net_time(net, &to, &r, stdout);
	}
	net_free(net);
	ctx_close(ctx);
	return rc;
}

/* A small batch by default: the reference's plain loops take about 10 s per AlexNet image. */
static int run_check_grads(const Options *o)
{
	Ctx *ctx = open_device(o);
	int batch = (o->t.given & (1u << TO_BATCH)) ? (int)o->t.batch : 2;
	Spec *spec = NULL;
	Net *net = NULL;
	Model *m = NULL;
	/* inputs of the size training gave the network: a model's own scale */
	double scale = o->t.input_scale;
	if (o->t.init_from) {
		if ((m = model_load(ctx, o->t.init_from, batch, NET_TRAIN))) {
			net = m->net;
			scale = m->input_scale;
		}
	} else if ((spec = spec_load(o->t.net, o->classes))) {
		NetInit init = { .seed = (uint64_t)o->t.seed };
		if (o->t.bias_init) {
			init.override_bias = 1;
			init.bias = strtof(o->t.bias_init, NULL);
		}
		net = net_create(ctx, spec, batch, NET_TRAIN);
		if (net && net_init(net, &init) != 0) {
			net_free(net);
			net = NULL;
		}
	}
	if (o->threads)
		omp_set_num_threads(o->threads); /* the reference's threads, as the backend's */
	GradCheckOptions go = { .batch = batch, .seed = (uint64_t)o->t.seed, .input_scale = scale, .quiet = o->t.quiet };
	GradCheckResult r;
	int rc = net ? grad_check(net, &go, &r, stdout) : -1;
	if (m)
		model_free(m);
	else
		net_free(net);
	spec_free(spec);
	ctx_close(ctx);
	return rc != 0 || r.failed ? EXIT_RUNTIME : 0;
}

static int run_model_modes(const Options *o)
{
	if (o->mode == MODE_GRADS)
		return run_check_grads(o);
	Spec *spec = spec_load(o->t.net, o->classes);
	if (!spec)
		return EXIT_RUNTIME;
	int rc = 0;
	if (o->mode == MODE_SUMMARY)
		spec_print_summary(spec, (int)o->t.batch, (int)o->t.accum, o->threads ? o->threads : cpu_count(), NET_MOMENTUM, NET_DECAY,
				   stdout);
	else
		rc = run_time(o, spec);
	spec_free(spec);
	return rc == 0 ? 0 : EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	Options o;
	parse_options(argc, argv, &o);
	if (o.mode == MODE_SUMMARY || o.mode == MODE_TIME || o.mode == MODE_GRADS)
		return run_model_modes(&o);
	o.t.loader_only = o.mode == MODE_LOADER;
	Ctx *ctx = open_device(&o);
	/* --loader-only writes nothing: a signal ends it as it ends any program, rather than
	 * promising a checkpoint and going on */
	if (!o.t.loader_only) {
		struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		o.t.stop_signal = &stop_signal;
		struct sigaction hup = { .sa_handler = on_hangup, .sa_flags = SA_RESTART };
		sigemptyset(&hup.sa_mask);
		sigaction(SIGHUP, &hup, NULL);
		o.t.snapshot_signal = &snapshot_signal;
		struct sigaction usr1 = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
		sigemptyset(&usr1.sa_mask);
		sigaction(SIGUSR1, &usr1, NULL);
		o.t.drop_signal = &drop_signal;
	}
	int status = train_main(ctx, &o.t);
	ctx_close(ctx);
	return status;
}
