/* pcacolor: the mean image and the colour PCA of a database, for anet-train's mean subtraction
 * and colour augmentation. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "libcommon/db.h"
#include "libcommon/opt.h"
#include "libcommon/stats.h"
#include "libcommon/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pcacolor [-o STATS] [--print[=table|values]] [-j N] [--quiet] DB\n"
		"       pcacolor --print[=table|values] STATS\n"
		"Computes, in one pass over the database DB, the mean image, the mean of each channel and\n"
		"the colour covariance of all pixels with its eigenvalues and eigenvectors (the PCA of the\n"
		"paper's colour augmentation), and writes them to a statistics file for anet-train.\n"
		"\n"
		"  -o, --output STATS   the statistics file (default: DB without .lmdb, plus .stats)\n"
		"  -p, --print[=FORMAT] also print the statistics on standard output: as a table, or\n"
		"                       as 'name value...' lines at full precision (values); given a\n"
		"                       statistics file instead of a database, only print it\n"
		"  -j, --threads N      decode and sum with N threads (default: the number of CPUs)\n"
		"  -q, --quiet          no progress on stderr\n"
		"  -h, --help           show this help and exit\n"
		"      --version        show the version and exit\n"
		"\n"
		"All values are on the 0-255 pixel scale. See pcacolor(1), anet-formats(5).\n");
}

static int is_regular_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* -o onto a file of the database would replace it with the statistics once they are written,
 * an hour into the run (imgprep refuses an -o that is one of its inputs the same way). */
static void refuse_db_file(const char *out, const char *db)
{
	static const char *files[] = { "data.mdb", "lock.mdb" };
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *f = xasprintf("%s/%s", db, files[i]);
		if (same_file(out, f))
			usage_error("-o %s is the %s of the database %s", out, files[i], db);
		free(f);
	}
}

enum { PRINT_NONE, PRINT_TABLE, PRINT_VALUES };

static void print_stats(const Stats *s, int print)
{
	if (print == PRINT_VALUES)
		stats_print_values(stdout, s);
	else
		stats_print(stdout, s);
}

static int print_file(const char *path, int print)
{
	Stats s;
	if (stats_load(path, &s))
		return EXIT_RUNTIME;
	print_stats(&s, print);
	stats_free(&s);
	return stdout_check() == 0 ? 0 : EXIT_RUNTIME;
}

static int run(const char *db_path, const char *out, int print, int threads, int quiet)
{
	Db *db = db_open(db_path);
	if (!db)
		return EXIT_RUNTIME;
	char *path = out ? xstrdup(out) : stats_default_path(db_path);
	/* a folder, a missing one or no permission, found now rather than after a pass over
	 * ILSVRC's 1.28 million images */
	if (atomic_probe(path) != 0) {
		db_close(db);
		free(path);
		return EXIT_RUNTIME;
	}
	Stats s;
	int rc = stats_compute(db, threads, quiet, &s);
	db_close(db);
	if (rc) {
		free(path);
		return EXIT_RUNTIME;
	}
	rc = stats_write(path, &s);
	if (rc == 0 && !quiet)
		warn_msg("%s: statistics of %lld images written", path, (long long)s.images);
	if (rc == 0 && print)
		print_stats(&s, print);
	free(path);
	stats_free(&s);
	if (rc == 0 && stdout_check() != 0)
		rc = -1;
	return rc ? EXIT_RUNTIME : 0;
}

int main(int argc, char **argv)
{
	enum { OPT_VERSION = 256 };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' }, { "print", optional_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 'j' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },          { "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	set_progname(argv[0]);
	const char *out = NULL;
	int print = 0, quiet = 0, threads = cpu_count(), c;
	while ((c = getopt_long(argc, argv, "o:pj:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'p':
			if (!optarg || strcmp(optarg, "table") == 0)
				print = PRINT_TABLE;
			else if (strcmp(optarg, "values") == 0)
				print = PRINT_VALUES;
			else
				usage_error("--print: '%s' is neither table nor values", optarg);
			break;
		case 'j': threads = (int)opt_int("--threads", optarg, 1, 1024); break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("pcacolor (anet) %s\n", ANET_VERSION); return 0;
		default: /* getopt_long has said what is wrong */
			fprintf(stderr, "Try 'pcacolor --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		usage_error("missing DB (the database to compute the statistics of)");
	if (optind + 1 < argc)
		usage_error("too many arguments (one DB)");
	const char *arg = argv[optind];
	if (print && is_regular_file(arg)) {
		if (out)
			usage_error("-o with a statistics file: there is nothing to compute");
		return print_file(arg, print);
	}
	if (out)
		refuse_db_file(out, arg);
	return run(arg, out, print, threads, quiet);
}
