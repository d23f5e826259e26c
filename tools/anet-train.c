/* anet-train: trains the paper's network; for now its --summary (shapes, sizes, memory) and --time modes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "libcommon/net.h"
#include "libcommon/nettime.h"
#include "libcommon/opt.h"
#include "libcommon/spec.h"
#include "libcommon/util.h"

enum Mode { MODE_NONE, MODE_SUMMARY, MODE_TIME };

typedef struct {
	enum Mode mode;
	const char *net;    /* "alexnet" or a spec file */
	int classes;
	int batch;
	int iters;
	int threads;        /* 0: every processor */
	const char *device; /* NULL: $ANET_DEVICE, else auto */
	uint64_t seed;
} Options;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: anet-train [--net alexnet|FILE] --summary [--classes N] [--batch N] [-j N]\n"
		"       anet-train [--net alexnet|FILE] --time [--classes N] [--batch N] [--iters N]\n"
		"                  [--device auto|cpu|cuda] [--seed N] [-j N]\n"
		"Trains the network of Krizhevsky, Sutskever and Hinton (2012), or a variant from a\n"
		"specification file (man 5 anet-formats).\n"
		"\n"
		"  -n, --net alexnet|FILE   the network (default alexnet, the paper's)\n"
		"      --summary            print the layers, their shapes, parameters and FLOPs,\n"
		"                           and the memory a batch needs; needs no data\n"
		"      --time               time training steps and inference passes on synthetic\n"
		"                           data, with per-layer times and peak memory\n"
		"      --classes N          what 'out=classes' means (default 1000)\n"
		"  -b, --batch N            images per step (default 128, the paper's)\n"
		"      --iters N            timed steps for --time (default 5)\n"
		"  -d, --device D           auto, cpu or cuda (default $ANET_DEVICE, else auto)\n"
		"      --seed N             seed of the weights and synthetic data (default 1)\n"
		"  -j, --threads N          CPU threads (default: every processor)\n"
		"  -h, --help               this help\n"
		"      --version            the version\n"
		"\n"
		"The paper's choices: LRN alpha multiplies the raw sum of squares (k=2, n=5, alpha=1e-4,\n"
		"beta=0.75); groups=2 on conv2, conv4, conv5; 224x224 crops with conv1 pad 2 (55x55);\n"
		"v = 0.9 v - 0.0005 lr w - lr dw, w = w + v on every parameter. See anet-train(1).\n");
}

static void parse_options(int argc, char **argv, Options *o)
{
	enum { OPT_SUMMARY = 256, OPT_TIME, OPT_CLASSES, OPT_ITERS, OPT_SEED, OPT_VERSION };
	static const struct option longopts[] = {
		{ "net", required_argument, NULL, 'n' },       { "summary", no_argument, NULL, OPT_SUMMARY },
		{ "time", no_argument, NULL, OPT_TIME },         { "classes", required_argument, NULL, OPT_CLASSES },
		{ "batch", required_argument, NULL, 'b' },     { "iters", required_argument, NULL, OPT_ITERS },
		{ "device", required_argument, NULL, 'd' },    { "seed", required_argument, NULL, OPT_SEED },
		{ "threads", required_argument, NULL, 'j' },   { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION }, { NULL, 0, NULL, 0 }
	};
	*o = (Options){ .net = "alexnet", .classes = 1000, .batch = 128, .iters = 5, .seed = 1 };
	int c;
	while ((c = getopt_long(argc, argv, "n:b:d:j:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->net = optarg; break;
		case OPT_SUMMARY: o->mode = MODE_SUMMARY; break;
		case OPT_TIME: o->mode = MODE_TIME; break;
		case OPT_CLASSES: o->classes = (int)opt_int("--classes", optarg, 1, 1 << 24); break;
		case 'b': o->batch = (int)opt_int("--batch", optarg, 1, 1 << 16); break;
		case OPT_ITERS: o->iters = (int)opt_int("--iters", optarg, 1, 100000); break;
		case 'd': o->device = optarg; break;
		case OPT_SEED: o->seed = (uint64_t)opt_int("--seed", optarg, 0, INT64_MAX); break;
		case 'j': o->threads = (int)opt_int("--threads", optarg, 1, 4096); break;
		case 'h': usage(stdout); exit(0);
		case OPT_VERSION: printf("anet-train %s\n", ANET_VERSION); exit(0);
		default: fprintf(stderr, "Try '%s --help' for more information.\n", progname()); exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (training from a database is not in this version)", argv[optind]);
	if (o->mode == MODE_NONE)
		usage_error("nothing to do: give --summary or --time");
}

static Ctx *open_device(const Options *o)
{
	CtxOptions co = { .device = o->device, .threads = o->threads };
	char err[512], note[256];
	Ctx *ctx = ctx_open(&co, err, sizeof err, note, sizeof note);
	if (!ctx)
		die("%s", err);
	if (note[0])
		warn_msg("%s", note);
	return ctx;
}

static int run_time(const Options *o, const Spec *spec)
{
	Ctx *ctx = open_device(o);
	Net *net = net_create(ctx, spec, o->batch, NET_TRAIN);
	NetInit init = { .seed = o->seed };
	int rc = net && net_init(net, &init) == 0 ? 0 : -1;
	if (rc == 0) {
		NetTimeOptions to = { .batch = o->batch, .iters = o->iters, .seed = o->seed };
		NetTimeResult r;
		rc = net_time(net, &to, &r, stdout);
	}
	net_free(net);
	ctx_close(ctx);
	return rc;
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	Options o;
	parse_options(argc, argv, &o);
	Spec *spec = spec_load(o.net, o.classes);
	if (!spec)
		return EXIT_RUNTIME;
	int rc = 0;
	if (o.mode == MODE_SUMMARY)
		spec_print_summary(spec, o.batch, o.threads ? o.threads : cpu_count(), NET_MOMENTUM, NET_DECAY, stdout);
	else
		rc = run_time(&o, spec);
	spec_free(spec);
	return rc == 0 ? 0 : EXIT_RUNTIME;
}
