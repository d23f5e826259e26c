/* anet-viz: pictures of a model and its data: first-layer filters (the paper's Figure 3), nearest
 * neighbours and top-5 predictions (Figure 4), feature maps, contact sheets, training curves, the
 * layers' health, the mean image; and the table of a tensor file's entries. main() reads the
 * subcommand and its options; the work lives in libcommon/viz/. */
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
#define SYN_NEIGHBOURS "anet-viz neighbours -w MODEL [--layer NAME] --query DB --gallery DB [-k K] [-n N]\n" \
		       "                [--start I | --random SEED] [--gallery-limit N] [--size PX]\n" \
		       "                [--device D] [-j N] -o OUT.png\n" \
		       "       anet-viz neighbours --query-features F --gallery-features F --query DB\n" \
		       "                --gallery DB [-k K] [-n N] [--start I | --random SEED] -o OUT.png\n"
#define SYN_PREDICTIONS "anet-viz predictions -w MODEL [--label NAME]... [--orientation ignore|exif] IMAGE...\n" \
			"                -o OUT.png\n" \
			"       anet-viz predictions -w MODEL --db DB [-n N] [--start I | --random SEED]\n" \
			"                [--crops 1|5|10] [--columns N] [--size PX] [--device D] [-j N] -o OUT.png\n"
#define SYN_CURVES "anet-viz curves LOG.tsv [--x step|epoch] [--plotter auto|gnuplot|cairo]\n" \
		   "                [--size WxH] -o OUT.png\n"
#define SYN_HEALTH "anet-viz health HEALTH.tsv [--x step|epoch] [--plotter auto|gnuplot|cairo]\n" \
		   "                [--size WxH] -o OUT.png\n"
#define SYN_MEAN "anet-viz mean STATS|MODEL [--scale N] -o OUT.png\n"
#define SYN_ACTS "anet-viz acts -w MODEL [--layer NAME]... [--normalise map|layer] [--columns N]\n" \
		 "                [--scale N] [--orientation ignore|exif] [--device D] [-j N] IMAGE -o OUT.png\n" \
		 "       anet-viz acts -w MODEL --db DB [--key I] [--layer NAME]... [--normalise map|layer]\n" \
		 "                [--columns N] [--scale N] [--device D] [-j N] -o OUT.png\n"
#define SYN_INFO "anet-viz info FILE...\n"

static void usage_all(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_FILTERS "       " SYN_RECORDS "       " SYN_NEIGHBOURS "       " SYN_PREDICTIONS
		"       " SYN_CURVES "       " SYN_HEALTH "       " SYN_MEAN "       " SYN_ACTS "       " SYN_INFO
		"       anet-viz COMMAND --help\n"
		"Draws PNG pictures of a model and its data, and lists what anet's files hold:\n"
		"  filters      the first learned layer's kernels (the paper's Figure 3)\n"
		"  records      a contact sheet of database images with their labels\n"
		"  neighbours   query images and their nearest gallery images by last-hidden-layer\n"
		"               distance (Figure 4, right)\n"
		"  predictions  images with their top-5 classes and probabilities (Figure 4, left)\n"
		"  curves       loss, top-1/top-5 error and learning rate from anet-train --log\n"
		"  health       each layer's update/weight ratio, weight size and dead ReLUs from\n"
		"               anet-train --health\n"
		"  mean         the mean image of a statistics file or model\n"
		"  acts         the feature maps of one image, layer by layer\n"
		"  info         the entries of tensor files (models, checkpoints, statistics, features),\n"
		"               with their shapes, ranges and NaN/Inf counts (on stdout)\n"
		"\n"
		"  -h, --help     this help (COMMAND --help: the command's options)\n"
		"      --version  the version\n"
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
	OPT_QUERY,
	OPT_GALLERY,
	OPT_QUERY_FEATURES,
	OPT_GALLERY_FEATURES,
	OPT_GALLERY_LIMIT,
	OPT_DEVICE,
	OPT_LABEL,
	OPT_DB,
	OPT_CROPS,
	OPT_LAYER,
	OPT_KEY,
	OPT_ORIENTATION,
};

static void orientation_option(const char *arg, int *exif)
{
	if (orientation_parse(arg, exif))
		usage_error("--orientation: '%s' is not ignore or exif", arg);
}

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
		"      --columns N         kernels per row of a block (default 16, the paper's; 8\n"
		"                          for blocks of up to 24)\n"
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

static void usage_neighbours(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_NEIGHBOURS
		"Draws query images, each followed by the K gallery images nearest to it in Euclidean\n"
		"distance of the last hidden layer (the input of the last fc layer, after its ReLU; fc7's\n"
		"4096 values for the paper's net): the paper's Figure 4, right. A neighbour of the\n"
		"query's class is framed green, one of another class red. The features are computed with\n"
		"the model (eval mode, centre crop), or read from anet-eval --features files, whose index\n"
		"entries are keys of the --query and --gallery databases. The gallery is searched in\n"
		"blocks, so it never sits in memory; with one database as both, a query is not its own\n"
		"neighbour.\n"
		"\n"
		"  -w, --weights MODEL          compute the features with this model\n"
		"      --layer NAME             compare this layer's outputs instead (with -w)\n"
		"      --query DB               the query images (a database)\n"
		"      --gallery DB             the images searched (a database)\n"
		"      --query-features F       the queries' features (anet-eval --features of --query)\n"
		"      --gallery-features F     the gallery's features (anet-eval --features of --gallery)\n"
		"  -k, --neighbours K           neighbours per query (default 6, the paper's)\n"
		"  -n, --count N                queries (default 5, the paper's)\n"
		"      --start I                the first query (default 0)\n"
		"      --random SEED            a random sample of queries instead\n"
		"      --gallery-limit N        search only the first N gallery images\n"
		"      --size PX                pixels a side per image (default as records)\n"
		"  -d, --device D               auto, cpu or cuda (default $ANET_DEVICE, else auto)\n"
		"  -j, --threads N              CPU and decode threads (default: every processor)\n"
		"  -o, --output OUT.png         the picture\n"
		"  -h, --help                   this help\n");
}

static int run_neighbours(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "weights", required_argument, NULL, 'w' },
		{ "layer", required_argument, NULL, OPT_LAYER },
		{ "query", required_argument, NULL, OPT_QUERY },
		{ "gallery", required_argument, NULL, OPT_GALLERY },
		{ "query-features", required_argument, NULL, OPT_QUERY_FEATURES },
		{ "gallery-features", required_argument, NULL, OPT_GALLERY_FEATURES },
		{ "neighbours", required_argument, NULL, 'k' },
		{ "neighbors", required_argument, NULL, 'k' },
		{ "count", required_argument, NULL, 'n' },
		{ "start", required_argument, NULL, OPT_START },
		{ "random", required_argument, NULL, OPT_RANDOM },
		{ "gallery-limit", required_argument, NULL, OPT_GALLERY_LIMIT },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "device", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	NeighboursOptions o = { .k = 6, .queries = 5 };
	const char *out = NULL;
	int c, have_start = 0;
	while ((c = getopt_long(argc, argv, "w:k:n:d:j:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'w': o.model = optarg; break;
		case OPT_LAYER: o.layer = optarg; break;
		case OPT_QUERY: o.query_db = optarg; break;
		case OPT_GALLERY: o.gallery_db = optarg; break;
		case OPT_QUERY_FEATURES: o.query_features = optarg; break;
		case OPT_GALLERY_FEATURES: o.gallery_features = optarg; break;
		case 'k': o.k = (int)opt_int("--neighbours", optarg, 1, 64); break;
		case 'n': o.queries = (int)opt_int("--count", optarg, 1, 256); break;
		case OPT_START: o.start = (uint64_t)opt_int("--start", optarg, 0, INT64_MAX); have_start = 1; break;
		case OPT_RANDOM: o.seed = (uint64_t)opt_int("--random", optarg, 0, INT64_MAX); o.random = 1; break;
		case OPT_GALLERY_LIMIT: o.gallery_limit = (uint64_t)opt_int("--gallery-limit", optarg, 1, INT64_MAX); break;
		case OPT_SIZE: o.size = (int)opt_int("--size", optarg, 8, 4096); break;
		case 'd': o.device = opt_device("--device", optarg); break;
		case 'j': o.threads = (int)opt_int("--threads", optarg, 1, 4096); break;
		case 'o': out = optarg; break;
		case 'h': usage_neighbours(stdout); return 0;
		default: bad_option();
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (databases go after --query and --gallery)", argv[optind]);
	if (!o.query_db || !o.gallery_db)
		usage_error("missing --query DB or --gallery DB (the databases whose images are shown)");
	if (!o.query_features != !o.gallery_features)
		usage_error("--query-features and --gallery-features go together");
	if (o.model && o.query_features)
		usage_error("-w and the features files exclude each other (the files hold the features)");
	if (!o.model && !o.query_features)
		usage_error("missing -w MODEL (or --query-features F --gallery-features F)");
	if (o.layer && !o.model)
		usage_error("--layer goes with -w (a features file holds one layer: anet-eval --features --layer)");
	if (have_start && o.random)
		usage_error("--start and --random exclude each other");
	need_output(out);
	int rc = viz_neighbours(&o, out);
	if (rc == VIZ_USAGE)
		bad_option();
	return rc ? EXIT_RUNTIME : 0;
}

/* ---------------------------------------------------------------------------------------- */

static void usage_predictions(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_PREDICTIONS
		"Draws images, each with the model's five most probable classes as bars as long as their\n"
		"probability, the true class written under the image (when known) and its bar red: the\n"
		"paper's Figure 4, left. Image files are prepared as imgprep prepares the model's records;\n"
		"images and records are evaluated as anet-eval evaluates them.\n"
		"\n"
		"  -w, --weights MODEL     a model or checkpoint from anet-train\n"
		"      --label NAME        the true class of the next IMAGE (a class name or number);\n"
		"                          the i-th --label goes with the i-th IMAGE\n"
		"      --db DB             records of a database instead of image files\n"
		"  -n, --count N           records to show (default 8)\n"
		"      --start I           the first key shown (default 0)\n"
		"      --random SEED       a random sample of records instead\n"
		"      --crops 1|5|10      the centre crop (default), the paper's 10 crops averaged, or\n"
		"                          5: those without the mirrors (a model trained --no-flip)\n"
		"      --columns N         images per row (default 4)\n"
		"      --size PX           pixels a side per image (default 160; small ones enlarged)\n"
		"      --orientation MODE  image files: ignore (default) or exif, as imgprep's option\n"
		"  -d, --device D          auto, cpu or cuda (default $ANET_DEVICE, else auto)\n"
		"  -j, --threads N         CPU threads (default: every processor)\n"
		"  -o, --output OUT.png    the picture\n"
		"  -h, --help              this help\n");
}

static int run_predictions(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "weights", required_argument, NULL, 'w' },  { "label", required_argument, NULL, OPT_LABEL },
		{ "db", required_argument, NULL, OPT_DB },     { "count", required_argument, NULL, 'n' },
		{ "start", required_argument, NULL, OPT_START }, { "random", required_argument, NULL, OPT_RANDOM },
		{ "crops", required_argument, NULL, OPT_CROPS }, { "columns", required_argument, NULL, OPT_COLUMNS },
		{ "size", required_argument, NULL, OPT_SIZE },  { "device", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 'j' },   { "output", required_argument, NULL, 'o' },
		{ "orientation", required_argument, NULL, OPT_ORIENTATION },
		{ "help", no_argument, NULL, 'h' },            { NULL, 0, NULL, 0 }
	};
	PredictionsOptions o = { .count = 8, .crops = 1 };
	const char *out = NULL;
	const char **labels = xcalloc((size_t)argc, sizeof *labels);
	int c, have_start = 0, have_count = 0;
	while ((c = getopt_long(argc, argv, "w:n:d:j:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'w': o.model = optarg; break;
		case OPT_LABEL: labels[o.nlabels++] = optarg; break;
		case OPT_DB: o.db = optarg; break;
		case 'n': o.count = (int)opt_int("--count", optarg, 1, 1024); have_count = 1; break;
		case OPT_START: o.start = (uint64_t)opt_int("--start", optarg, 0, INT64_MAX); have_start = 1; break;
		case OPT_RANDOM: o.seed = (uint64_t)opt_int("--random", optarg, 0, INT64_MAX); o.random = 1; break;
		case OPT_CROPS:
			o.crops = (int)opt_int("--crops", optarg, 1, 10);
			if (!evaluator_crops_ok(o.crops))
				usage_error("--crops: %s is not 1, 5 or 10", optarg);
			break;
		case OPT_COLUMNS: o.columns = (int)opt_int("--columns", optarg, 1, 64); break;
		case OPT_SIZE: o.size = (int)opt_int("--size", optarg, 16, 1024); break;
		case OPT_ORIENTATION: orientation_option(optarg, &o.exif_orientation); break;
		case 'd': o.device = opt_device("--device", optarg); break;
		case 'j': o.threads = (int)opt_int("--threads", optarg, 1, 4096); break;
		case 'o': out = optarg; break;
		case 'h': usage_predictions(stdout); free(labels); return 0;
		default: bad_option();
		}
	}
	if (!o.model)
		usage_error("missing -w MODEL (the model whose predictions to draw)");
	o.images = (const char *const *)argv + optind;
	o.nimages = argc - optind;
	o.labels = labels;
	if (o.db && o.nimages)
		usage_error("image files and --db exclude each other");
	if (!o.db && !o.nimages)
		usage_error("missing IMAGE... (or --db DB)");
	if (o.db && o.nlabels)
		usage_error("--label is for image files; a database's records have their labels");
	if (o.db && o.exif_orientation)
		usage_error("--orientation is for image files; a database's records were prepared by imgprep");
	if (!o.db && (have_start || o.random || have_count))
		usage_error("-n, --start and --random choose records of --db");
	if (o.nlabels > o.nimages)
		usage_error("%d --label for %d images", o.nlabels, o.nimages);
	if (have_start && o.random)
		usage_error("--start and --random exclude each other");
	need_output(out);
	int rc = viz_predictions(&o, out);
	free(labels);
	return rc ? EXIT_RUNTIME : 0;
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

/* The options curves and health share, into o (which holds the defaults); usage prints the
 * command's help. Returns the index of the first operand, or -1 after --help. */
static int parse_plot_options(int argc, char **argv, PlotOptions *o, const char **out, void (*usage)(FILE *))
{
	static const struct option lo[] = {
		{ "x", required_argument, NULL, OPT_X },      { "plotter", required_argument, NULL, OPT_PLOTTER },
		{ "size", required_argument, NULL, OPT_SIZE }, { "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 }
	};
	*out = NULL;
	const char *env = getenv("ANET_VIZ_PLOTTER");
	if (env && *env && plotter_parse(env, &o->plotter) != 0)
		usage_error("ANET_VIZ_PLOTTER: '%s' is not auto, gnuplot or cairo", env);
	int c;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case OPT_X:
			if (strcmp(optarg, "step") != 0 && strcmp(optarg, "epoch") != 0)
				usage_error("--x: '%s' is neither step nor epoch", optarg);
			o->x_epoch = strcmp(optarg, "epoch") == 0;
			break;
		case OPT_PLOTTER:
			if (plotter_parse(optarg, &o->plotter) != 0)
				usage_error("--plotter: '%s' is not auto, gnuplot or cairo", optarg);
			break;
		case OPT_SIZE: parse_size(optarg, &o->width, &o->height); break;
		case 'o': *out = optarg; break;
		case 'h': usage(stdout); return -1;
		default: bad_option();
		}
	}
	return optind;
}

static int run_curves(int argc, char **argv)
{
	PlotOptions o = { .plotter = PLOT_AUTO, .width = 1200, .height = 800 };
	const char *out;
	int i = parse_plot_options(argc, argv, &o, &out, usage_curves);
	if (i < 0)
		return 0;
	if (i >= argc)
		usage_error("missing LOG.tsv (the log anet-train --log wrote)");
	if (i + 1 < argc)
		usage_error("too many arguments (one LOG.tsv)");
	need_output(out);
	TrainLog log;
	if (trainlog_load(argv[i], &log) != 0)
		return EXIT_RUNTIME;
	int rc = viz_curves(&log, &o, argv[i], out);
	trainlog_free(&log);
	return rc ? EXIT_RUNTIME : 0;
}

/* ---------------------------------------------------------------------------------------- */

static void usage_health(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_HEALTH
		"Plots the log anet-train --health writes, a line per conv and fc layer: the size of the\n"
		"last update over the size of the weights (log scale; the rule of thumb's 1e-3 drawn), the\n"
		"weights' mean magnitude (log scale) and the share of dead units of each rectified layer, in\n"
		"three panels. The title names the layers with the most dead units at the last report.\n"
		"\n"
		"      --x step|epoch      the horizontal axis (default step)\n"
		"      --plotter P         gnuplot (its pngcairo terminal), cairo (drawn by anet-viz),\n"
		"                          or auto: gnuplot when installed (default; $ANET_VIZ_PLOTTER)\n"
		"      --size WxH          the picture's size (default 1200x900)\n"
		"  -o, --output OUT.png    the picture\n"
		"  -h, --help              this help\n");
}

static int run_health(int argc, char **argv)
{
	PlotOptions o = { .plotter = PLOT_AUTO, .width = 1200, .height = 900 };
	const char *out;
	int i = parse_plot_options(argc, argv, &o, &out, usage_health);
	if (i < 0)
		return 0;
	if (i >= argc)
		usage_error("missing HEALTH.tsv (the log anet-train --health wrote)");
	if (i + 1 < argc)
		usage_error("too many arguments (one HEALTH.tsv)");
	need_output(out);
	HealthLog log;
	if (healthlog_load(argv[i], &log) != 0)
		return EXIT_RUNTIME;
	int rc = viz_health(&log, &o, argv[i], out);
	healthlog_free(&log);
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

static void usage_acts(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_ACTS
		"Draws what the network computes from one image: the centre crop it sees, then the maps of\n"
		"each layer as grey tiles (black low, white high), in two blocks where the paper's two GPUs\n"
		"split them. The image is prepared and evaluated as anet-eval does it.\n"
		"\n"
		"  -w, --weights MODEL     a model or checkpoint from anet-train\n"
		"      --db DB             a record of a database instead of an image file\n"
		"      --key I             the record's key (default 0)\n"
		"      --layer NAME        a layer to show (repeat for more; default: every convolution,\n"
		"                          rectified where a ReLU follows); any layer with maps: conv,\n"
		"                          relu, lrn, pool\n"
		"      --normalise MODE    map: stretch each map to its own range, a flat map black\n"
		"                          (default); layer: one range for the layer, so strong maps\n"
		"                          stand out\n"
		"      --columns N         maps per row of a block (default 16)\n"
		"      --scale N           pixels per value (default: about 48 pixels a map)\n"
		"      --orientation MODE  an image file: ignore (default) or exif, as imgprep's option\n"
		"  -d, --device D          auto, cpu or cuda (default $ANET_DEVICE, else auto)\n"
		"  -j, --threads N         CPU threads (default: every processor)\n"
		"  -o, --output OUT.png    the picture\n"
		"  -h, --help              this help\n");
}

static int run_acts(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "weights", required_argument, NULL, 'w' },	       { "db", required_argument, NULL, OPT_DB },
		{ "key", required_argument, NULL, OPT_KEY },	       { "layer", required_argument, NULL, OPT_LAYER },
		{ "normalise", required_argument, NULL, OPT_NORMALISE }, { "normalize", required_argument, NULL, OPT_NORMALISE },
		{ "columns", required_argument, NULL, OPT_COLUMNS },   { "scale", required_argument, NULL, OPT_SCALE },
		{ "device", required_argument, NULL, 'd' },	       { "threads", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },	       { "help", no_argument, NULL, 'h' },
		{ "orientation", required_argument, NULL, OPT_ORIENTATION }, { NULL, 0, NULL, 0 }
	};
	ActsOptions o = { 0 };
	ActsStyle st = { .norm = ACTS_PER_MAP };
	const char *out = NULL;
	const char **layers = xcalloc((size_t)argc, sizeof *layers);
	int c, have_key = 0;
	while ((c = getopt_long(argc, argv, "w:d:j:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'w': o.model = optarg; break;
		case OPT_DB: o.db = optarg; break;
		case OPT_KEY: o.key = (uint64_t)opt_int("--key", optarg, 0, INT64_MAX); have_key = 1; break;
		case OPT_LAYER: layers[o.nlayers++] = optarg; break;
		case OPT_NORMALISE:
			if (strcmp(optarg, "map") == 0)
				st.norm = ACTS_PER_MAP;
			else if (strcmp(optarg, "layer") == 0)
				st.norm = ACTS_PER_LAYER;
			else
				usage_error("--normalise: '%s' is neither map nor layer", optarg);
			break;
		case OPT_COLUMNS: st.columns = (int)opt_int("--columns", optarg, 1, 4096); break;
		case OPT_SCALE: st.scale = (int)opt_int("--scale", optarg, 1, 64); break;
		case OPT_ORIENTATION: orientation_option(optarg, &o.exif_orientation); break;
		case 'd': o.device = opt_device("--device", optarg); break;
		case 'j': o.threads = (int)opt_int("--threads", optarg, 1, 4096); break;
		case 'o': out = optarg; break;
		case 'h': usage_acts(stdout); free(layers); return 0;
		default: bad_option();
		}
	}
	if (!o.model)
		usage_error("missing -w MODEL (the model whose maps to draw)");
	if (o.db && optind < argc)
		usage_error("an IMAGE and --db exclude each other");
	if (!o.db && optind >= argc)
		usage_error("missing IMAGE (or --db DB)");
	if (optind + 1 < argc)
		usage_error("too many arguments (one IMAGE)");
	if (have_key && !o.db)
		usage_error("--key chooses a record of --db");
	if (o.db && o.exif_orientation)
		usage_error("--orientation is for an image file; a database's records were prepared by imgprep");
	need_output(out);
	o.image = o.db ? NULL : argv[optind];
	o.layers = layers;
	Acts a;
	int rc = acts_compute(&o, &a);
	free(layers);
	if (rc == VIZ_USAGE) {
		fprintf(stderr, "Try '%s --help' for more information.\n", progname());
		return EXIT_USAGE;
	}
	if (rc == 0)
		rc = acts_draw(&a, &st, out);
	acts_free(&a);
	return rc ? EXIT_RUNTIME : 0;
}

/* ---------------------------------------------------------------------------------------- */

static void usage_info(FILE *f)
{
	fprintf(f,
		"Usage: " SYN_INFO
		"Prints what each tensor file (a model, checkpoint, statistics or features file) holds: its\n"
		"kind, size and entries, a line each with the name, type and shape, the minimum, maximum,\n"
		"mean and standard deviation of numbers, and the count of NaN and infinite values; scalars'\n"
		"values and texts' first lines. For a model or checkpoint also its network (parameter\n"
		"count) and the records it was trained on. A file that cannot be read is reported and\n"
		"skipped; the exit status is then 1.\n"
		"\n"
		"  -h, --help              this help\n");
}

static int run_info(int argc, char **argv)
{
	static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'h': usage_info(stdout); return 0;
		default: bad_option();
		}
	}
	if (optind >= argc)
		usage_error("missing FILE (a model, checkpoint, statistics or features file)");
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		if (i > optind)
			putchar('\n');
		if (viz_info(argv[i], stdout) != 0)
			rc = EXIT_RUNTIME;
		/* the table so far before the next file's messages, which go to stderr */
		if (stdout_check() != 0)
			return EXIT_RUNTIME;
	}
	return rc;
}

/* ---------------------------------------------------------------------------------------- */

typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);
} Command;

#define COMMAND_LIST "filters, records, neighbours, predictions, curves, health, mean, acts or info"

static const Command commands[] = {
	{ "filters", run_filters }, { "records", run_records }, { "neighbours", run_neighbours },
	{ "neighbors", run_neighbours }, { "predictions", run_predictions }, { "curves", run_curves },
	{ "health", run_health }, { "mean", run_mean }, { "acts", run_acts }, { "info", run_info },
};

/* -o, -oFILE, --output or any abbreviation getopt_long takes for it (--out FILE, --outp=FILE):
 * 1, with *value the attached value or NULL when it is the next argument. */
static int output_option(const char *a, const char **value)
{
	if (strncmp(a, "-o", 2) == 0) {
		*value = a[2] ? a + 2 : NULL;
		return 1;
	}
	size_t k = strncmp(a, "--", 2) == 0 ? strcspn(a + 2, "=") : 0;
	if (!k || k > strlen("output") || strncmp(a + 2, "output", k) != 0)
		return 0;
	*value = a[2 + k] == '=' ? a + 3 + k : NULL;
	return 1;
}

/* The picture (-o) onto a file the command reads (-w, a features file, an image, a log) would
 * replace it: refused for every command at once, from the arguments as given (after args[0],
 * the command; options up to "--"). An input may be an argument of its own, a long option's
 * value after '=' or a short option's attached to it (-wMODEL). */
static void refuse_output_onto_input(int argc, char **argv)
{
	const char *out = NULL, *v;
	int at = -1, value = -1;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (output_option(argv[i], &v) && (v || i + 1 < argc)) {
			out = v ? v : argv[i + 1];
			at = i;
			value = v ? i : ++i;
		}
	if (!out)
		return;
	for (int i = 1; i < argc; i++) {
		if (i == at || i == value)
			continue;
		const char *a = argv[i], *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		const char *in = eq ? eq + 1 : a[0] == '-' && a[1] && a[1] != '-' && a[2] ? a + 2 : a;
		const char *hit = same_file(out, a) ? a : same_file(out, in) ? in : NULL;
		if (hit)
			usage_error("-o %s is the input %s itself", out, hit);
	}
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	if (argc < 2)
		usage_error("missing COMMAND (" COMMAND_LIST ")");
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
			refuse_output_onto_input(argc - 1, argv + 1);
			int rc = commands[i].run(argc - 1, argv + 1);
			viz_shutdown();
			return rc;
		}
	usage_error("unknown command '%s' (" COMMAND_LIST ")", cmd);
}
