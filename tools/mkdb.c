/* mkdb: a record stream on stdin into an LMDB database (shuffled, validated, built atomically). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/db.h"
#include "libcommon/opt.h"
#include "libcommon/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mkdb [--seed N] [--no-shuffle] [--map-size BYTES] [--txn-size BYTES] [--force]\n"
		"            [--quiet | --verbose] DB < RECORDS\n"
		"       mkdb --info DB\n"
		"Builds the LMDB database DB (a folder) from the record stream imgprep writes, read on\n"
		"standard input: keys 0000000000 .. N-1, shuffled, every record checked. The database\n"
		"is built in DB.tmp and appears under its name only when complete.\n"
		"\n"
		"  -s, --seed N           shuffle with seed N (default %d; kept in the metadata)\n"
		"      --no-shuffle       keep the input order\n"
		"  -m, --map-size BYTES   initial LMDB map size (default 64M; doubled whenever full)\n"
		"      --txn-size BYTES   input bytes per write transaction (default 4M)\n"
		"  -f, --force            replace an existing DB, once the new one is complete\n"
		"  -i, --info             print the metadata of DB and exit\n"
		"  -q, --quiet            no progress and no summary on stderr\n"
		"  -v, --verbose          also log each growth of the map\n"
		"  -h, --help             show this help and exit\n"
		"      --version          show the version and exit\n"
		"\n"
		"BYTES takes a K, M, G or T suffix. Exit status: 0 success, 1 failure (DB untouched),\n"
		"2 usage error, 128+N killed by signal N (DB.tmp removed). See mkdb(1), anet-formats(5).\n",
		DB_DEFAULT_SEED);
}

/* SIGINT, SIGTERM, SIGHUP: remove DB.tmp (only unlink and rmdir, which are signal-safe). */
static DbScratch scratch;

static void on_signal(int sig)
{
	static const char msg[] = "mkdb: interrupted; the unfinished DB.tmp was removed\n";
	db_scratch_remove(&scratch);
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
		/* nothing more to do */
	}
	_exit(128 + sig);
}

static int show_info(const char *path)
{
	Db *db = db_open(path);
	if (!db)
		return EXIT_RUNTIME;
	db_print_info(stdout, db);
	db_close(db);
	return stdout_check() == 0 ? 0 : EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
	enum { OPT_NO_SHUFFLE = 256, OPT_TXN_SIZE, OPT_VERSION };
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },    { "no-shuffle", no_argument, NULL, OPT_NO_SHUFFLE },
		{ "map-size", required_argument, NULL, 'm' }, { "txn-size", required_argument, NULL, OPT_TXN_SIZE },
		{ "force", no_argument, NULL, 'f' },          { "info", no_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },          { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },           { "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	set_progname(argv[0]);
	DbBuildOptions o;
	db_build_defaults(&o);
	int info = 0, c;
	while ((c = getopt_long(argc, argv, "s:m:fiqvh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o.seed = (uint64_t)opt_int("--seed", optarg, 0, INT64_MAX); break;
		case OPT_NO_SHUFFLE: o.shuffle = 0; break;
		case 'm': o.map_size = opt_bytes("--map-size", optarg, 64 << 10); break;
		case OPT_TXN_SIZE: o.txn_size = opt_bytes("--txn-size", optarg, 1); break;
		case 'f': o.force = 1; break;
		case 'i': info = 1; break;
		case 'q': o.quiet = 1; break;
		case 'v': o.verbose = 1; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("mkdb (anet) %s\n", ANET_VERSION); return 0;
		default: /* getopt_long has said what is wrong */
			fprintf(stderr, "Try 'mkdb --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		usage_error("missing DB (the database folder to create)");
	if (optind + 1 < argc)
		usage_error("too many arguments (one DB; the records come on standard input)");
	if (info)
		return show_info(argv[optind]);
	if (isatty(STDIN_FILENO))
		usage_error("standard input is a terminal; pipe records in: imgprep ... | mkdb %s", argv[optind]);
	catch_stop_signals(on_signal);
	o.scratch = &scratch;
	static char inbuf[1 << 20];
	setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
	return db_build_from_stream(stdin, "stdin", argv[optind], &o) ? EXIT_RUNTIME : 0;
}
