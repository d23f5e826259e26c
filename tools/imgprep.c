/* imgprep.c: image collections to anet's record stream: options only; the run is libcommon/imgprep.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/imgprep.h"
#include "libcommon/opt.h"
#include "libcommon/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: imgprep [-s SIZE] [-j N] [-f records|ppm] [--encode raw|jpeg[:Q]] [--strict] [--max-errors N]\n"
		"               (-l LIST [-r ROOT] | --idx IMAGES LABELS | DIR | FILE...) > records\n"
		"Decode images, scale the shorter side to SIZE, cut the centre SIZE x SIZE and write anet records.\n"
		"\n"
		"Input (one kind):\n"
		"  -l, --list LIST          'PATH LABEL' lines (the label is the last field)\n"
		"  -r, --root ROOT          take the list's relative paths under ROOT\n"
		"      --idx IMAGES LABELS  IDX (MNIST-format) files, gzip-compressed or not\n"
		"  DIR                      one subfolder per class; sorted names are labels 0..K-1\n"
		"  FILE...                  image files, unlabelled (label -1)\n"
		"      --classes FILE       class names for list or IDX labels, one a line\n"
		"\n"
		"Preparation:\n"
		"  -s, --size SIZE          shorter side and crop side (default 256; IDX: the images' own)\n"
		"  -c, --channels 1|3       output channels (default 3; IDX: 1)\n"
		"      --filter NAME        triangle, cubic or lanczos3 (default lanczos3)\n"
		"      --dct-scale MODE     JPEG DCT-domain reduction: auto, max or off (default auto)\n"
		"      --max-pixels N       refuse larger images (default %llu)\n"
		"      --strict             skip images that libjpeg warns about (corrupt data)\n"
		"      --orientation MODE   ignore (default: pixels as stored, as ILSVRC's were) or exif\n"
		"                           (turn images upright by their EXIF orientation tag)\n"
		"\n"
		"Output:\n"
		"  -f, --format FORMAT      records (default) or ppm (a netpbm P6/P5 stream)\n"
		"      --encode ENC         record payload: raw or jpeg[:Q] (default jpeg:90; IDX: raw)\n"
		"  -o, --output FILE        write to FILE (atomically) instead of standard output\n"
		"  -j, --jobs N             decode threads (default: all %d cores)\n"
		"      --max-errors N       fail (exit 1) when more than N images are skipped\n"
		"  -h, --help               show this help\n"
		"      --version            show the version\n"
		"\n"
		"Bad images are reported as 'imgprep: PATH: reason' and skipped. See imgprep(1).\n",
		(unsigned long long)PREP_DEFAULT_MAX_PIXELS, cpu_count());
}

enum { OPT_ENCODE = 256, OPT_STRICT, OPT_MAX_ERRORS, OPT_MAX_PIXELS, OPT_IDX, OPT_CLASSES, OPT_FILTER, OPT_DCT,
       OPT_ORIENTATION, OPT_VERSION };

static const struct option longopts[] = {
	{ "size", required_argument, NULL, 's' },
	{ "channels", required_argument, NULL, 'c' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "format", required_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "list", required_argument, NULL, 'l' },
	{ "root", required_argument, NULL, 'r' },
	{ "encode", required_argument, NULL, OPT_ENCODE },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "max-errors", required_argument, NULL, OPT_MAX_ERRORS },
	{ "max-pixels", required_argument, NULL, OPT_MAX_PIXELS },
	{ "idx", required_argument, NULL, OPT_IDX },
	{ "classes", required_argument, NULL, OPT_CLASSES },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "dct-scale", required_argument, NULL, OPT_DCT },
	{ "orientation", required_argument, NULL, OPT_ORIENTATION },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* "raw", "jpeg" or "jpeg:Q". */
static void parse_encode(ImgprepArgs *a, const char *arg)
{
	if (strcmp(arg, "raw") == 0) {
		a->encoding = ENC_RAW;
	} else if (strcmp(arg, "jpeg") == 0) {
		a->encoding = ENC_JPEG;
	} else if (strncmp(arg, "jpeg:", 5) == 0) {
		a->encoding = ENC_JPEG;
		a->quality = (int)opt_int("--encode jpeg:Q", arg + 5, 1, 100);
	} else {
		usage_error("--encode: '%s' is not raw, jpeg or jpeg:Q", arg);
	}
}

/* The input and defaults that depend on it; usage errors exit 2. */
static void check_inputs(ImgprepArgs *a, int size_given, int channels_given, int encode_given, char **rest, int nrest)
{
	int kinds = (a->list != NULL) + (a->idx_images != NULL) + (nrest > 0);
	if (kinds == 0)
		usage_error("no input (give -l LIST, --idx IMAGES LABELS, a class folder or image files)");
	if (kinds > 1)
		usage_error("give one kind of input: -l LIST, --idx IMAGES LABELS, or folders/files");
	if (a->root && !a->list)
		usage_error("-r ROOT applies to a list (-l LIST)");
	a->files = rest;
	a->nfiles = nrest;
	if (a->idx_images) {
		if (!size_given)
			a->prep.size = 0; /* IDX images keep their own size */
		if (!channels_given)
			a->prep.channels = 1;
		if (!encode_given)
			a->encoding = ENC_RAW;
	}
	if (encode_given && a->format != OUT_RECORDS)
		usage_error("--encode applies to records, not to -f ppm");
	/* -o onto an input would replace it once the run ends (a typo loses the file) */
	const char *named[] = { a->list, a->classes, a->idx_images, a->idx_labels };
	for (size_t i = 0; a->output && i < ARRAY_LEN(named); i++)
		if (same_file(a->output, named[i]))
			usage_error("-o %s is the input %s itself", a->output, named[i]);
	for (int i = 0; a->output && i < a->nfiles; i++)
		if (same_file(a->output, a->files[i]))
			usage_error("-o %s is the input %s itself", a->output, a->files[i]);
	if (!a->output && isatty(STDOUT_FILENO))
		usage_error("refusing to write %s to a terminal; redirect standard output or use -o FILE",
			    a->format == OUT_RECORDS ? "records" : "binary images");
}

/* -o's temporary, removed on SIGINT, SIGTERM and SIGHUP (by unlink and write, which are
 * signal-safe): a run over ILSVRC stopped near its end would leave gigabytes under a name nobody
 * looks for. One already renamed into place is not there to remove. */
static char *output_tmp;

static void say(const char *s)
{
	if (write(STDERR_FILENO, s, strlen(s)) < 0) {
		/* nothing more to do */
	}
}

static void on_signal(int sig)
{
	if (unlink(output_tmp) == 0) {
		say("imgprep: interrupted; the unfinished ");
		say(output_tmp);
		say(" was removed\n");
	} else {
		say("imgprep: interrupted\n");
	}
	_exit(128 + sig);
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	ImgprepArgs a = { .threads = cpu_count(), .format = OUT_RECORDS, .encoding = ENC_JPEG, .quality = 90,
			  .max_errors = -1 };
	prep_options_init(&a.prep);
	int size_given = 0, channels_given = 0, encode_given = 0, c;
	while ((c = getopt_long(argc, argv, "s:c:j:f:o:l:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': a.prep.size = (int)opt_int("--size", optarg, 1, 16384); size_given = 1; break;
		case 'c': a.prep.channels = (int)opt_int("--channels", optarg, 1, 3); channels_given = 1; break;
		case 'j': a.threads = (int)opt_int("--jobs", optarg, 1, 1024); break;
		case 'o': a.output = optarg; break;
		case 'l': a.list = optarg; break;
		case 'r': a.root = optarg; break;
		case OPT_CLASSES: a.classes = optarg; break;
		case OPT_STRICT: a.prep.strict = 1; break;
		case OPT_MAX_ERRORS: a.max_errors = opt_int("--max-errors", optarg, 0, INT64_MAX); break;
		case OPT_MAX_PIXELS: a.prep.max_pixels = (uint64_t)opt_int("--max-pixels", optarg, 1, INT64_MAX); break;
		case OPT_ENCODE: parse_encode(&a, optarg); encode_given = 1; break;
		case 'f':
			if (strcmp(optarg, "records") && strcmp(optarg, "ppm"))
				usage_error("--format: '%s' is not records or ppm", optarg);
			a.format = strcmp(optarg, "ppm") ? OUT_RECORDS : OUT_PPM;
			break;
		case OPT_FILTER:
			if (resize_filter_parse(optarg, &a.prep.filter))
				usage_error("--filter: '%s' is not triangle, cubic or lanczos3", optarg);
			break;
		case OPT_DCT:
			if (dct_scaling_parse(optarg, &a.prep.dct))
				usage_error("--dct-scale: '%s' is not auto, max or off", optarg);
			break;
		case OPT_ORIENTATION:
			if (orientation_parse(optarg, &a.prep.exif_orientation))
				usage_error("--orientation: '%s' is not ignore or exif", optarg);
			break;
		case OPT_IDX:
			if (optind >= argc)
				usage_error("--idx needs two files: IMAGES LABELS");
			a.idx_images = optarg;
			a.idx_labels = argv[optind++];
			break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("imgprep (anet) %s\n", ANET_VERSION); return 0;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", progname()); return EXIT_USAGE;
		}
	}
	if (a.prep.channels == 2)
		usage_error("--channels: 2 is not 1 or 3");
	check_inputs(&a, size_given, channels_given, encode_given, argv + optind, argc - optind);
	if (a.output && !written_in_place(a.output)) {
		output_tmp = atomic_tmp_name(a.output);
		catch_stop_signals(on_signal);
	}
	return imgprep_main(&a);
}
