/* anet-viz: pictures of a model and its data: first-layer filters (the paper's Figure 3), nearest
 * neighbours and top-5 predictions (Figure 4), contact sheets, training curves, the mean image.
 * main() reads the subcommand and its options; the drawing lives in libcommon/viz/. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/opt.h"
#include "libcommon/stats.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

#define SYN_FILTERS "anet-viz filters -w MODEL -o OUT.png [--normalise kernel|global] [--scale N]\n" \
		    "                [--groups N] [--columns N] [--no-caption]\n"
#define SYN_RECORDS "anet-viz records DB [-n N] [--start I | --random SEED] [--columns N] [--size PX]\n" \
		    "                -o OUT.png\n"
#define SYN_NEIGHBOURS "anet-viz neighbours -w MODEL --query DB --gallery DB [-k K] [-n N]\n" \
		       "                [--start I | --random SEED] [--gallery-limit N] [--size PX]\n" \
		       "                [--device D] [-j N] -o OUT.png\n" \
		       "       anet-viz neighbours --query-features F --gallery-features F --query DB\n" \
		       "                --gallery DB [-k K] [-n N] [--start I | --random SEED] -o OUT.png\n"
#define SYN_PREDICTIONS "anet-viz predictions -w MODEL [--label NAME]... IMAGE... -o OUT.png\n" \
			"       anet-viz predictions -w MODEL --db DB [-n N] [--start I | --random SEED]\n" \
			"                [--crops 1|10] [--device D] [-j N] -o OUT.png\n"
#define SYN_CURVES "anet-viz curves LOG.tsv [--x step|epoch] [--plotter auto|gnuplot|cairo]\n" \
		   "                [--size WxH] -o OUT.png\n"
#define SYN_MEAN "anet-viz mean STATS|MODEL [--scale N] -o OUT.png\n"

static void usage_all(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_FILTERS "       " SYN_RECORDS "       " SYN_NEIGHBOURS "       " SYN_PREDICTIONS
		"       " SYN_CURVES "       " SYN_MEAN "       anet-viz COMMAND --help\n"
		"Draws PNG pictures of a model and its data:\n"
		"  filters      the first learned layer's kernels (the paper's Figure 3)\n"
		"  records      a contact sheet of database images with their labels\n"
		"  neighbours   query images and their nearest gallery images by last-hidden-layer\n"
		"               distance (Figure 4, right)\n"
		"  predictions  images with their top-5 classes and probabilities (Figure 4, left)\n"
		"  curves       loss, top-1/top-5 error and learning rate from anet-train --log\n"
		"  mean         the mean image of a statistics file or model\n"
		"\n"
		"  -h, --help   this help (COMMAND --help: the command's options)\n"
		"      --version\n"
		"See anet-viz(1).\n");
}

/* Every subcommand takes -o and --help; the rest are its own. */
enum {
	OPT_VERSION = 256,
	OPT_NORMALISE,
	OPT_SCALE,
	OPT_GROUPS,
	OPT_COLUMNS,
	OPT_NO_CAPTION,
	OPT_START,
	OPT_RANDOM,
	OPT_SIZE,
	OPT_X,
	OPT_PLOTTER,
};

static _Noreturn void bad_option(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n", progname());
	exit(EXIT_USAGE);
}

static void need_output(const char *out)
{
	if (!out)
		usage_error("missing -o OUT.png (the picture to write)");
}

/* ---------------------------------------------------------------------------------------- */

static void usage_filters(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_FILTERS
		"Draws the kernels of the model's first learned layer as a grid (the paper's Figure 3):\n"
		"RGB for 3 input channels, grey for 1, each kernel enlarged so its weights are squares.\n"
		"The kernels are split into the blocks the next layer groups them in (the two GPU halves\n"
		"of the paper's conv1), drawn apart.\n"
		"\n"
		"  -w, --weights MODEL     a model or checkpoint from anet-train\n"
		"  -o, --output OUT.png    the picture\n"
		"      --normalise MODE    kernel: stretch each kernel to its own range (default);\n"
		"                          global: one range for all, so strong kernels stand out\n"
		"      --scale N           pixels per weight (default: about 56 pixels a kernel)\n"
		"      --groups N          blocks to split the kernels into (default: the next layer's\n"
		"                          groups, 2 for the paper's conv2)\n"
		"      --columns N         kernels per row of a block (default 16)\n"
		"      --no-caption        no line of text under the grid\n"
		"  -h, --help              this help\n");
}

static int run_filters(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "weights", required_argument, NULL, 'w' },      { "output", required_argument, NULL, 'o' },
		{ "normalise", required_argument, NULL, OPT_NORMALISE }, { "normalize", required_argument, NULL, OPT_NORMALISE },
		{ "scale", required_argument, NULL, OPT_SCALE },  { "groups", required_argument, NULL, OPT_GROUPS },
		{ "columns", required_argument, NULL, OPT_COLUMNS }, { "no-caption", no_argument, NULL, OPT_NO_CAPTION },
		{ "help", no_argument, NULL, 'h' },               { NULL, 0, NULL, 0 }
	};
	const char *model = NULL, *out = NULL;
	FilterStyle st = { .norm = NORM_KERNEL, .caption = 1 };
	int c;
	while ((c = getopt_long(argc, argv, "w:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'w': model = optarg; break;
		case 'o': out = optarg; break;
		case OPT_NORMALISE:
			if (strcmp(optarg, "kernel") == 0)
				st.norm = NORM_KERNEL;
			else if (strcmp(optarg, "global") == 0)
				st.norm = NORM_GLOBAL;
			else
				usage_error("--normalise: '%s' is neither kernel nor global", optarg);
			break;
		case OPT_SCALE: st.scale = (int)opt_int("--scale", optarg, 1, 64); break;
		case OPT_GROUPS: st.groups = (int)opt_int("--groups", optarg, 1, 4096); break;
		case OPT_COLUMNS: st.columns = (int)opt_int("--columns", optarg, 1, 4096); break;
		case OPT_NO_CAPTION: st.caption = 0; break;
		case 'h': usage_filters(stdout); return 0;
		default: bad_option();
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (the model goes after -w)", argv[optind]);
	if (!model)
		usage_error("missing -w MODEL (the model whose filters to draw)");
	need_output(out);
	FilterBank fb;
	if (filter_bank_load(model, &fb) != 0)
		return EXIT_RUNTIME;
	int rc = filters_draw(&fb, &st, out);
	filter_bank_free(&fb);
	return rc ? EXIT_RUNTIME : 0;
}

/* ---------------------------------------------------------------------------------------- */

static void usage_records(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_RECORDS
		"Draws database images as a contact sheet, each with its class name (from the database's\n"
		"class table) and key underneath, decoded exactly as anet-train decodes them.\n"
		"\n"
		"  -n, --count N           images to show (default 64)\n"
		"      --start I           the first key shown (default 0)\n"
		"      --random SEED       a random sample instead, the same for a seed\n"
		"      --columns N         images per row (default: about square)\n"
		"      --size PX           pixels a side per image (default: the records' size; under 96\n"
		"                          enlarged by a whole factor, over 160 shown at 128)\n"
		"  -o, --output OUT.png    the picture\n"
		"  -h, --help              this help\n");
}

static int run_records(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "count", required_argument, NULL, 'n' },     { "start", required_argument, NULL, OPT_START },
		{ "random", required_argument, NULL, OPT_RANDOM }, { "columns", required_argument, NULL, OPT_COLUMNS },
		{ "size", required_argument, NULL, OPT_SIZE },   { "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },              { NULL, 0, NULL, 0 }
	};
	RecordsOptions o = { .count = 64 };
	const char *out = NULL;
	int c, have_start = 0;
	while ((c = getopt_long(argc, argv, "n:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o.count = (int)opt_int("--count", optarg, 1, 4096); break;
		case OPT_START: o.start = (uint64_t)opt_int("--start", optarg, 0, INT64_MAX); have_start = 1; break;
		case OPT_RANDOM: o.seed = (uint64_t)opt_int("--random", optarg, 0, INT64_MAX); o.random = 1; break;
		case OPT_COLUMNS: o.columns = (int)opt_int("--columns", optarg, 1, 4096); break;
		case OPT_SIZE: o.size = (int)opt_int("--size", optarg, 8, 4096); break;
		case 'o': out = optarg; break;
		case 'h': usage_records(stdout); return 0;
		default: bad_option();
		}
	}
	if (optind >= argc)
		usage_error("missing DB (the database to draw)");
	if (optind + 1 < argc)
		usage_error("too many arguments (one DB)");
	if (have_start && o.random)
		usage_error("--start and --random exclude each other");
	need_output(out);
	o.db = argv[optind];
	return viz_records(&o, out) ? EXIT_RUNTIME : 0;
}

/* ---------------------------------------------------------------------------------------- */

static void usage_curves(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_CURVES
		"Plots the log anet-train --log writes: the loss, the top-1 and top-5 error (training\n"
		"and validation) and the learning rate (log scale), in four panels.\n"
		"\n"
		"      --x step|epoch      the horizontal axis (default step)\n"
		"      --plotter P         gnuplot (its pngcairo terminal), cairo (drawn by anet-viz),\n"
		"                          or auto: gnuplot when installed (default; $ANET_VIZ_PLOTTER)\n"
		"      --size WxH          the picture's size (default 1200x800)\n"
		"  -o, --output OUT.png    the picture\n"
		"  -h, --help              this help\n");
}

static void parse_size(const char *arg, int *w, int *h)
{
	const char *x = strchr(arg, 'x');
	if (!x)
		usage_error("--size: '%s' is not WIDTHxHEIGHT", arg);
	char wbuf[32];
	snprintf(wbuf, sizeof wbuf, "%.*s", (int)(x - arg), arg);
	*w = (int)opt_int("--size (width)", wbuf, 320, 8192);
	*h = (int)opt_int("--size (height)", x + 1, 240, 8192);
}

static int run_curves(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "x", required_argument, NULL, OPT_X },      { "plotter", required_argument, NULL, OPT_PLOTTER },
		{ "size", required_argument, NULL, OPT_SIZE }, { "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 }
	};
	CurvesOptions o = { .plotter = PLOT_AUTO, .width = 1200, .height = 800 };
	const char *out = NULL, *env = getenv("ANET_VIZ_PLOTTER");
	if (env && *env && plotter_parse(env, &o.plotter) != 0)
		usage_error("ANET_VIZ_PLOTTER: '%s' is not auto, gnuplot or cairo", env);
	int c;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case OPT_X:
			if (strcmp(optarg, "step") != 0 && strcmp(optarg, "epoch") != 0)
				usage_error("--x: '%s' is neither step nor epoch", optarg);
			o.x_epoch = strcmp(optarg, "epoch") == 0;
			break;
		case OPT_PLOTTER:
			if (plotter_parse(optarg, &o.plotter) != 0)
				usage_error("--plotter: '%s' is not auto, gnuplot or cairo", optarg);
			break;
		case OPT_SIZE: parse_size(optarg, &o.width, &o.height); break;
		case 'o': out = optarg; break;
		case 'h': usage_curves(stdout); return 0;
		default: bad_option();
		}
	}
	if (optind >= argc)
		usage_error("missing LOG.tsv (the log anet-train --log wrote)");
	if (optind + 1 < argc)
		usage_error("too many arguments (one LOG.tsv)");
	need_output(out);
	TrainLog log;
	if (trainlog_load(argv[optind], &log) != 0)
		return EXIT_RUNTIME;
	int rc = viz_curves(&log, &o, argv[optind], out);
	trainlog_free(&log);
	return rc ? EXIT_RUNTIME : 0;
}

/* ---------------------------------------------------------------------------------------- */

static void usage_mean(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_MEAN
		"Draws the mean image of a statistics file (pcacolor) or of the one a model carries, as it\n"
		"is and stretched to its range, with the channel means and eigenvalues, so that a bad mean\n"
		"file is seen at a glance.\n"
		"\n"
		"      --scale N           enlargement (default: about 224 pixels a side)\n"
		"  -o, --output OUT.png    the picture\n"
		"  -h, --help              this help\n");
}

static int run_mean(int argc, char **argv)
{
	static const struct option lo[] = { { "scale", required_argument, NULL, OPT_SCALE },
					     { "output", required_argument, NULL, 'o' },
					     { "help", no_argument, NULL, 'h' },
					     { NULL, 0, NULL, 0 } };
	const char *out = NULL;
	int scale = 0, c;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case OPT_SCALE: scale = (int)opt_int("--scale", optarg, 1, 64); break;
		case 'o': out = optarg; break;
		case 'h': usage_mean(stdout); return 0;
		default: bad_option();
		}
	}
	if (optind >= argc)
		usage_error("missing STATS (a statistics file from pcacolor, or a model)");
	if (optind + 1 < argc)
		usage_error("too many arguments (one STATS or MODEL)");
	need_output(out);
	Stats s;
	if (viz_stats_load(argv[optind], &s) != 0)
		return EXIT_RUNTIME;
	int rc = viz_mean(&s, argv[optind], scale, out);
	stats_free(&s);
	return rc ? EXIT_RUNTIME : 0;
}

/* ---------------------------------------------------------------------------------------- */

typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);
} Command;

static const Command commands[] = {
	{ "filters", run_filters }, { "records", run_records }, { "curves", run_curves }, { "mean", run_mean },
};

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	if (argc < 2)
		usage_error("missing COMMAND (filters, records, neighbours, predictions, curves or mean)");
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage_all(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("anet-viz (anet) %s\n", ANET_VERSION);
		return 0;
	}
	if (cmd[0] == '-') {
		fprintf(stderr, "%s: unknown option '%s' (give a COMMAND first)\n", progname(), cmd);
		bad_option();
	}
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (strcmp(cmd, commands[i].name) == 0) {
			/* messages and "Try ... --help" name the command */
			static char name[64];
			snprintf(name, sizeof name, "%s %s", progname(), cmd);
			set_progname(name);
			return commands[i].run(argc - 1, argv + 1);
		}
	usage_error("unknown command '%s' (filters, records, neighbours, predictions, curves or mean)", cmd);
}
