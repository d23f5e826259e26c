/* anet-convert: anet's files to safetensors for Python and other tools, and weights from them into anet models. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "libcommon/convert/convert.h"
#include "libcommon/opt.h"
#include "libcommon/util.h"

#define USAGE_LINES                                                                                          \
	"Usage: anet-convert export [-q] FILE -o OUT.safetensors\n"                                            \
	"       anet-convert import [-q] IN.safetensors -o OUT\n"                                              \
	"       anet-convert import --net alexnet|SPEC (--mean R,G,B [--std R,G,B] | --torchvision |\n"        \
	"                    --stats STATS) [--map FILE] [--classes FILE | --num-classes N] [--size S]\n"      \
	"                    [--bgr] [-q] IN.safetensors -o MODEL.anw\n"

static void usage(FILE *f)
{
	fprintf(f, USAGE_LINES
		"export writes any anet file (model, checkpoint, statistics, features) as safetensors,\n"
		"the format PyTorch, NumPy and Hugging Face read: each tensor under its own name, the\n"
		"network spec and class names as metadata. import turns such a file back into the anet\n"
		"file it came from, or turns another tool's weights into an anet model for anet-eval,\n"
		"anet-viz and anet-train --init-from.\n"
		"\n"
		"  -o, --output FILE      the file to write (required)\n"
		"  -q, --quiet            no summary line on stderr\n"
		"  -h, --help             show this help and exit\n"
		"      --version          show the version and exit\n"
		"\n"
		"Importing weights from elsewhere (a PyTorch state_dict saved with safetensors):\n"
		"      --net NET          the network: alexnet or a spec file whose parameters the\n"
		"                         file's tensors fill (conv weight KxC/GxRxS, fc weight OxI)\n"
		"      --map FILE         'ANET_PARAMETER FILE_TENSOR' lines naming the file's tensor\n"
		"                         for each parameter (default: the same name)\n"
		"      --classes FILE     class names, one a line (also sets the class count)\n"
		"      --num-classes N    the class count without names (default: the rows of the\n"
		"                         last layer's bias)\n"
		"      --mean R,G,B       the weights expect (pixel - mean) / std, each on the 0-255\n"
		"      --std R,G,B        scale in RGB order (std default 1); one value each for a\n"
		"                         grayscale network\n"
		"      --torchvision      torchvision's normalisation: --mean 123.675,116.28,103.53\n"
		"                         --std 58.395,57.12,57.375\n"
		"      --stats STATS      take the mean image (and colour PCA) of a pcacolor file\n"
		"      --size S           the record size images are prepared at, as imgprep -s\n"
		"                         (default 256; with --stats, the statistics' own)\n"
		"      --bgr              the weights' first layer takes BGR (Caffe's order)\n"
		"\n"
		"The std is folded into the first layer's weights, so the model prepares images as\n"
		"anet-train's do. See anet-convert(1), anet-formats(5).\n");
}

/* "R,G,B" or "V": 1 or 3 numbers in [min, max], no field empty. */
static int parse_triple(const char *flag, const char *arg, double min, double max, double *v)
{
	char *copy = xstrdup(arg);
	int n = 0;
	for (char *t = copy, *comma; t; t = comma) {
		if ((comma = strchr(t, ',')))
			*comma++ = '\0';
		if (n == 3)
			usage_error("%s: '%s' has more than 3 values", flag, arg);
		v[n++] = opt_double(flag, t, min, max);
	}
	free(copy);
	if (n != 1 && n != 3)
		usage_error("%s: '%s': give R,G,B (or one value for a grayscale network)", flag, arg);
	return n;
}

/* A command's one input (named in_name, described by in_what when missing), given -o named
 * out_name; an output that would replace the input (a typo loses the file) is refused. */
static const char *sole_input(const char *cmd, int argc, char **argv, const char *out, const char *in_name,
			      const char *in_what, const char *out_name)
{
	if (optind >= argc)
		usage_error("%s: missing %s%s", cmd, in_name, in_what);
	if (optind + 1 < argc)
		usage_error("%s: too many arguments (one %s)", cmd, in_name);
	if (!out)
		usage_error("%s: missing -o %s", cmd, out_name);
	const char *in = argv[optind];
	struct stat a, b;
	if (stat(in, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		usage_error("-o %s is the input file itself", out);
	return in;
}

static int cmd_export(int argc, char **argv)
{
	enum { OPT_VERSION = 256 };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },         { "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	const char *out = NULL;
	int quiet = 0, c;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("anet-convert (anet) %s\n", ANET_VERSION); return 0;
		default:
			fprintf(stderr, "Try 'anet-convert --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	const char *in = sole_input("export", argc, argv, out, "FILE",
				    " (an anet model, checkpoint, statistics or features file)", "OUT.safetensors");
	return convert_export(in, out, quiet) == 0 ? 0 : EXIT_RUNTIME;
}

static int cmd_import(int argc, char **argv)
{
	enum { OPT_NET = 256, OPT_MAP, OPT_CLASSES, OPT_NUM_CLASSES, OPT_MEAN, OPT_STD, OPT_TORCHVISION, OPT_STATS,
	       OPT_SIZE, OPT_BGR, OPT_VERSION };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },  { "quiet", no_argument, NULL, 'q' },
		{ "net", required_argument, NULL, OPT_NET }, { "map", required_argument, NULL, OPT_MAP },
		{ "classes", required_argument, NULL, OPT_CLASSES },
		{ "num-classes", required_argument, NULL, OPT_NUM_CLASSES },
		{ "mean", required_argument, NULL, OPT_MEAN }, { "std", required_argument, NULL, OPT_STD },
		{ "torchvision", no_argument, NULL, OPT_TORCHVISION }, { "stats", required_argument, NULL, OPT_STATS },
		{ "size", required_argument, NULL, OPT_SIZE }, { "bgr", no_argument, NULL, OPT_BGR },
		{ "help", no_argument, NULL, 'h' },            { "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	ImportOptions o = { 0 };
	const char *out = NULL;
	int torchvision = 0, c;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': o.quiet = 1; break;
		case OPT_NET: o.net = optarg; break;
		case OPT_MAP: o.map = optarg; break;
		case OPT_CLASSES: o.classes = optarg; break;
		case OPT_NUM_CLASSES: o.num_classes = (int)opt_int("--num-classes", optarg, 1, 1 << 24); break;
		case OPT_MEAN: o.nmean = parse_triple("--mean", optarg, 0, 255, o.mean); break;
		case OPT_STD: o.nstd = parse_triple("--std", optarg, 1e-6, 1e6, o.std); break;
		case OPT_TORCHVISION: torchvision = 1; break;
		case OPT_STATS: o.stats = optarg; break;
		case OPT_SIZE: o.size = (int)opt_int("--size", optarg, 1, 16384); break; /* imgprep -s's bound */
		case OPT_BGR: o.bgr = 1; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("anet-convert (anet) %s\n", ANET_VERSION); return 0;
		default:
			fprintf(stderr, "Try 'anet-convert --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	const char *in = sole_input("import", argc, argv, out, "IN.safetensors", "", "OUT");
	if (torchvision && (o.nmean || o.nstd))
		usage_error("--torchvision sets --mean and --std: give one or the other");
	if (torchvision) {
		o.nmean = o.nstd = 3;
		memcpy(o.mean, convert_torchvision_mean, sizeof o.mean);
		memcpy(o.std, convert_torchvision_std, sizeof o.std);
	}
	/* torchvision's figures are on the 0-1 scale; given here as they are, they would be off by
	 * 255 and the model silently wrong */
	int small_std = 0, small_mean = o.nmean > 0;
	for (int i = 0; i < o.nstd; i++)
		small_std |= o.std[i] < 1;
	for (int i = 0; i < o.nmean; i++)
		small_mean &= o.mean[i] > 0 && o.mean[i] <= 1;
	if (small_std && !torchvision)
		usage_error("--std: below 1 on the 0-255 scale anet-convert takes: values of the 0-1 scale must be "
			    "multiplied by 255 (torchvision's are --torchvision)");
	if (small_mean && !torchvision)
		warn_msg("warning: --mean: every value is in 0..1; anet-convert takes the 0-255 scale (multiply by 255 "
			 "if these are of the 0-1 scale)");
	if (o.stats && o.nmean)
		usage_error("--stats gives the mean image: --mean (or --torchvision) does not go with it");
	if (o.stats && o.size)
		usage_error("--stats gives the record size: --size does not go with it");
	if (o.classes && o.num_classes)
		usage_error("--classes counts the classes: --num-classes does not go with it");
	int foreign = o.map || o.classes || o.num_classes || o.nmean || o.nstd || o.stats || o.size || o.bgr;
	if (foreign && !o.net)
		usage_error("--map, --classes, --num-classes, --mean, --std, --torchvision, --stats, --size and --bgr "
			    "are for weights from elsewhere, which also need --net");
	return convert_import(in, out, &o) == 0 ? 0 : EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	if (argc < 2)
		usage_error("missing command: export or import");
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("anet-convert (anet) %s\n", ANET_VERSION);
		return 0;
	}
	if (strcmp(cmd, "export") == 0)
		return cmd_export(argc - 1, argv + 1);
	if (strcmp(cmd, "import") == 0)
		return cmd_import(argc - 1, argv + 1);
	usage_error("unknown command '%s' (export or import)", cmd);
}
