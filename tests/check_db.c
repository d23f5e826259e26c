/* check_db.c: LMDB databases: record round trip, the shuffle, map growth, metadata, refusals. */
#include <check.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/rng.h"
#include "libcommon/db.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

static char *dir;

static void setup(void) { dir = make_temp_dir("db"); }
static void teardown(void)
{
	remove_tree(dir);
	free(dir);
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Record i of a test stream: H x W x 3 raw pixels from the RNG, name "rec00042", label i % 3. */
enum { H = 4, W = 5, C = 3 };

typedef struct {
	char name[32];
	uint8_t *pix;
	RecordView r;
} TestRecord;

static void make_record(TestRecord *t, uint64_t i, uint32_t h, uint32_t w)
{
	snprintf(t->name, sizeof t->name, "rec%05llu", (unsigned long long)i);
	t->pix = xmalloc((size_t)h * w * C);
	for (size_t k = 0; k < (size_t)h * w * C; k++)
		t->pix[k] = (uint8_t)rng_below(99, RNG_STREAM(RNG_TEST, i), k, 256);
	t->r = (RecordView){ .label = (int32_t)(i % 3), .height = h, .width = w, .channels = C,
			     .encoding = ENC_RAW, .name_len = (uint32_t)strlen(t->name),
			     .payload_len = h * w * C, .name = t->name, .payload = t->pix };
}

static ClassTable three_classes(void)
{
	static char *names[] = { "cat", "dog", "ship" };
	ClassTable t = { 3, names };
	return t;
}

/* Builds DB dir/name from n test records; returns its path (NULL if the build failed). */
static char *build(const char *name, uint64_t n, const DbBuildOptions *o, uint32_t h, uint32_t w)
{
	char *path = xasprintf("%s/%s", dir, name);
	DbBuild *b = db_build_open(path, o);
	ck_assert_ptr_nonnull(b);
	ClassTable t = three_classes();
	ck_assert_int_eq(db_build_classes(b, &t, "test"), 0);
	for (uint64_t i = 0; i < n; i++) {
		TestRecord tr;
		make_record(&tr, i, h, w);
		ck_assert_int_eq(db_build_add(b, &tr.r, "test"), 0);
		free(tr.pix);
	}
	if (db_build_finish(b, NULL)) {
		free(path);
		return NULL;
	}
	return path;
}

static DbBuildOptions opts(uint64_t seed, int shuffle)
{
	DbBuildOptions o;
	db_build_defaults(&o);
	o.seed = seed;
	o.shuffle = shuffle;
	o.quiet = 1;
	return o;
}

/* The original stream index of every key, from the record names. */
static uint64_t *read_order(const char *path, uint64_t n)
{
	Db *db = db_open(path);
	ck_assert_ptr_nonnull(db);
	ck_assert_uint_eq(db_info(db)->count, n);
	DbCursor *c = db_cursor_new(db);
	uint64_t *order = xcalloc(n, sizeof *order);
	for (uint64_t k = 0; k < n; k++) {
		RecordView r;
		ck_assert_int_eq(db_get(c, k, &r), 0);
		char name[32];
		snprintf(name, sizeof name, "%.*s", (int)r.name_len, r.name);
		order[k] = strtoull(name + 3, NULL, 10);
	}
	db_cursor_free(c);
	db_close(db);
	return order;
}

START_TEST(keys)
{
	char k[DB_KEY_DIGITS + 1];
	db_key(k, 0);
	ck_assert_str_eq(k, "0000000000");
	db_key(k, 42);
	ck_assert_str_eq(k, "0000000042");
	db_key(k, DB_MAX_RECORDS);
	ck_assert_str_eq(k, "4294967295");
	/* record keys sort before the metadata key */
	ck_assert_int_lt(strcmp("4294967295", DB_META_KEY), 0);
}
END_TEST

/* Every record comes back byte for byte, with the metadata written. */
START_TEST(round_trip)
{
	DbBuildOptions o = opts(1, 0);
	char *path = build("rt", 50, &o, H, W);
	ck_assert_ptr_nonnull(path);
	char *tmp = xasprintf("%s.tmp", path);
	ck_assert(!exists(tmp));
	free(tmp);
	Db *db = db_open(path);
	ck_assert_ptr_nonnull(db);
	const DbInfo *m = db_info(db);
	ck_assert_uint_eq(m->count, 50);
	ck_assert_uint_eq(m->height, H);
	ck_assert_uint_eq(m->width, W);
	ck_assert_uint_eq(m->channels, C);
	ck_assert_uint_eq(m->encoding, ENC_RAW);
	ck_assert_int_eq(m->labelled, 1);
	ck_assert_uint_eq(m->num_classes, 3);
	ck_assert_str_eq(m->classes.names[2], "ship");
	ck_assert_int_eq(m->shuffled, 0);
	DbCursor *c = db_cursor_new(db);
	for (uint64_t i = 0; i < 50; i++) {
		TestRecord tr;
		RecordView r;
		make_record(&tr, i, H, W);
		ck_assert_int_eq(db_get(c, i, &r), 0);
		ck_assert_int_eq(r.label, tr.r.label);
		ck_assert_uint_eq(r.name_len, tr.r.name_len);
		ck_assert(memcmp(r.name, tr.name, r.name_len) == 0);
		ck_assert_uint_eq(r.payload_len, tr.r.payload_len);
		ck_assert(memcmp(r.payload, tr.pix, r.payload_len) == 0);
		free(tr.pix);
	}
	RecordView r;
	Capture cap = capture_begin();
	ck_assert_int_eq(db_get(c, 50, &r), -1); /* past the end */
	char *msgs = capture_end(cap);
	ASSERT_NAMES(msgs, path, "record 50 asked for, the database holds 50 (0..49)");
	free(msgs);
	db_cursor_free(c);
	db_close(db);
	free(path);
}
END_TEST

START_TEST(shuffle_determinism)
{
	enum { N = 300 };
	DbBuildOptions o7 = opts(7, 1), o8 = opts(8, 1), keep = opts(7, 0);
	char *a = build("a", N, &o7, H, W), *b = build("b", N, &o7, H, W);
	char *c = build("c", N, &o8, H, W), *d = build("d", N, &keep, H, W);
	uint64_t *oa = read_order(a, N), *ob = read_order(b, N), *oc = read_order(c, N), *od = read_order(d, N);
	ck_assert(memcmp(oa, ob, sizeof(uint64_t) * N) == 0); /* same seed, same order */
	ck_assert(memcmp(oa, oc, sizeof(uint64_t) * N) != 0); /* another seed, another order */
	int seen[N] = { 0 }, moved = 0;
	for (int k = 0; k < N; k++) {
		ck_assert_uint_lt(oa[k], N);
		seen[oa[k]]++;
		moved += oa[k] != (uint64_t)k;
		ck_assert_uint_eq(od[k], (uint64_t)k); /* --no-shuffle keeps the input order */
	}
	for (int k = 0; k < N; k++)
		ck_assert_int_eq(seen[k], 1); /* every record exactly once */
	ck_assert_int_gt(moved, N * 9 / 10);
	Db *db = db_open(a);
	ck_assert_int_eq(db_info(db)->shuffled, 1);
	ck_assert_uint_eq(db_info(db)->seed, 7);
	db_close(db);
	free(oa), free(ob), free(oc), free(od);
	free(a), free(b), free(c), free(d);
}
END_TEST

/* The inside-out shuffle in memory: order[k] = the stream index of the record at key k. */
static void simulate(uint64_t seed, uint64_t n, uint64_t *order)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = db_shuffle_slot(seed, i);
		order[i] = order[j];
		order[j] = i;
	}
}

/* The database holds exactly the simulated permutation. */
START_TEST(shuffle_matches_simulation)
{
	enum { N = 200 };
	DbBuildOptions o = opts(11, 1);
	char *p = build("sim", N, &o, 1, 1);
	uint64_t *got = read_order(p, N), want[N];
	simulate(11, N, want);
	ck_assert(memcmp(got, want, sizeof want) == 0);
	free(got);
	free(p);
}
END_TEST

/* All 24 orders of 4 records over 4800 seeds: a chi-square test of uniformity (23 degrees of
 * freedom, 49.7 is the 0.1% critical value; fixed seeds, so never flaky). Also every key
 * receives each record equally often, for 10 records. */
START_TEST(shuffle_uniform)
{
	int counts[24] = { 0 };
	for (uint64_t seed = 1; seed <= 4800; seed++) {
		uint64_t ord[4];
		simulate(seed, 4, ord);
		int code = 0; /* the permutation's rank (Lehmer code) */
		for (int a = 0; a < 4; a++) {
			int smaller = 0;
			for (int b = a + 1; b < 4; b++)
				smaller += ord[b] < ord[a];
			code = code * (4 - a) + smaller;
		}
		counts[code]++;
	}
	double chi2 = 0;
	for (int k = 0; k < 24; k++)
		chi2 += (counts[k] - 200.0) * (counts[k] - 200.0) / 200.0;
	printf("shuffle_uniform: 24 orders of 4, chi2 %.2f (limit 49.7)\n", chi2);
	ck_assert_double_lt(chi2, 49.7);
	int where[10][10] = { { 0 } };
	for (uint64_t seed = 1; seed <= 5000; seed++) {
		uint64_t ord[10];
		simulate(seed, 10, ord);
		for (int k = 0; k < 10; k++)
			where[ord[k]][k]++;
	}
	double chi = 0; /* 100 cells, expected 500: 81 degrees of freedom (rows and columns fixed) */
	for (int r = 0; r < 10; r++)
		for (int k = 0; k < 10; k++)
			chi += (where[r][k] - 500.0) * (where[r][k] - 500.0) / 500.0;
	printf("shuffle_uniform: record x key for 10, chi2 %.2f (limit 125)\n", chi);
	ck_assert_double_lt(chi, 125); /* 0.1% critical value for 81 degrees of freedom: 124.8 */
}
END_TEST

/* A 64 KiB map and small transactions, several MB of records: the map doubles many times
 * (at puts and at commits, the transaction replayed each time) and nothing is lost. */
START_TEST(map_growth)
{
	DbBuildOptions o = opts(3, 1);
	o.map_size = 64 << 10;
	o.txn_size = 1 << 20;
	char *path = xasprintf("%s/grow", dir);
	DbBuild *b = db_build_open(path, &o);
	ck_assert_ptr_nonnull(b);
	enum { N = 200, S = 64 }; /* 200 records of 64x64x3 = 12 KiB: 2.4 MiB */
	for (uint64_t i = 0; i < N; i++) {
		TestRecord tr;
		make_record(&tr, i, S, S);
		ck_assert_int_eq(db_build_add(b, &tr.r, "test"), 0);
		free(tr.pix);
	}
	uint64_t map = db_build_map_size(b);
	ck_assert_uint_ge(map, 2u << 20); /* at least 5 doublings */
	ck_assert_int_eq(db_build_finish(b, NULL), 0);
	uint64_t *ord = read_order(path, N);
	int seen[N] = { 0 };
	for (int k = 0; k < N; k++)
		seen[ord[k]]++;
	for (int k = 0; k < N; k++)
		ck_assert_int_eq(seen[k], 1);
	/* the payloads too */
	Db *db = db_open(path);
	DbCursor *c = db_cursor_new(db);
	for (int k = 0; k < N; k++) {
		RecordView r;
		TestRecord tr;
		ck_assert_int_eq(db_get(c, (uint64_t)k, &r), 0);
		make_record(&tr, ord[k], S, S);
		ck_assert(memcmp(r.payload, tr.pix, S * S * C) == 0);
		free(tr.pix);
	}
	db_cursor_free(c);
	db_close(db);
	free(ord);
	free(path);
}
END_TEST

/* The share of free pages in the DB at path, as the builder computes it. */
static double free_share_of(const char *path)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat m, f;
	MDB_envinfo info;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	ck_assert_int_eq(mdb_stat(txn, dbi, &m), 0);
	ck_assert_int_eq(mdb_stat(txn, 0, &f), 0);
	ck_assert_int_eq(mdb_env_info(env, &info), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	double used = 2.0 + (double)(m.ms_branch_pages + m.ms_leaf_pages + m.ms_overflow_pages + f.ms_branch_pages +
				    f.ms_leaf_pages + f.ms_overflow_pages);
	return 1 - used / ((double)info.me_last_pgno + 1);
}

/* Small records in many small transactions: the shuffle's copied pages leave 16% of the file
 * free (the verbose line says so); the builder compacts it to none, every record surviving
 * in the shuffled order. */
START_TEST(compaction)
{
	enum { N = 3000 };
	DbBuildOptions o = opts(5, 1);
	o.txn_size = 16 << 10;
	o.verbose = 1;
	Capture cap = capture_begin();
	char *path = build("compact", N, &o, H, W);
	char *msgs = capture_end(cap);
	char *tmp = xasprintf("%s/compact.tmp", dir);
	ASSERT_NAMES(msgs, tmp, "compacted in ");
	ASSERT_MSG(msgs, "% of its pages were free)");
	free(tmp);
	free(msgs);
	double share = free_share_of(path);
	printf("compaction: %.1f%% of the pages free after the build\n", 100 * share);
	ck_assert_double_lt(share, 0.01);
	uint64_t *ord = read_order(path, N);
	int *seen = xcalloc(N, sizeof *seen);
	for (int k = 0; k < N; k++)
		seen[ord[k]]++;
	for (int k = 0; k < N; k++)
		ck_assert_int_eq(seen[k], 1);
	uint64_t want[N];
	simulate(5, N, want);
	ck_assert(memcmp(ord, want, sizeof want) == 0);
	free(seen);
	free(ord);
	free(path);
}
END_TEST

static DbInfo sample_info(void)
{
	DbInfo m = { .count = 1234, .height = 256, .width = 256, .channels = 3, .encoding = ENC_JPEG,
		     .labelled = 1, .num_classes = 3, .seed = 18446744073709551615ull, .shuffled = 1,
		     .version = "0.1.0", .created = "2026-11-27T12:00:00Z" };
	ClassTable t = three_classes();
	m.classes = classes_copy(&t);
	return m;
}

START_TEST(meta_round_trip)
{
	DbInfo m = sample_info(), back;
	size_t len;
	char *text = db_meta_format(&m, &len), why[256];
	ck_assert_int_eq(db_meta_parse(text, len, &back, why, sizeof why), 0);
	ck_assert_uint_eq(back.count, 1234);
	ck_assert_uint_eq(back.encoding, ENC_JPEG);
	ck_assert_uint_eq(back.seed, 18446744073709551615ull);
	ck_assert_uint_eq(back.classes.count, 3);
	ck_assert_str_eq(back.classes.names[1], "dog");
	ck_assert_str_eq(back.created, m.created);
	db_info_free(&back);
	free(text);
	/* without names, and unlabelled */
	db_info_free(&m);
	m = sample_info();
	classes_free(&m.classes);
	m.labelled = 0;
	m.num_classes = 0;
	text = db_meta_format(&m, &len);
	ck_assert_int_eq(db_meta_parse(text, len, &back, why, sizeof why), 0);
	ck_assert_int_eq(back.labelled, 0);
	ck_assert_uint_eq(back.classes.count, 0);
	db_info_free(&back);
	free(text);
	db_info_free(&m);
	/* more names than the parser's first table holds (it grows with the names read) */
	m = sample_info();
	classes_free(&m.classes);
	m.num_classes = m.classes.count = 100;
	m.classes.names = xcalloc(100, sizeof(char *));
	for (int i = 0; i < 100; i++)
		m.classes.names[i] = xasprintf("class %d", i);
	text = db_meta_format(&m, &len);
	ck_assert_int_eq(db_meta_parse(text, len, &back, why, sizeof why), 0);
	ck_assert_uint_eq(back.classes.count, 100);
	ck_assert_str_eq(back.classes.names[99], "class 99");
	db_info_free(&back);
	free(text);
	db_info_free(&m);
}
END_TEST

/* Each damaged text is refused with a reason. */
START_TEST(meta_strict)
{
	DbInfo m = sample_info();
	size_t len;
	char *good = db_meta_format(&m, &len);
	db_info_free(&m);
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "anet-db 1", "anet-db 2" },   { "count 1234", "count 01234" }, { "count 1234", "count +1234" },
		{ "count 1234", "count 0" },     { "count 1234", "count 12a" },   { "height 256", "height 65536" },
		{ "channels 3", "channels 2" },  { "encoding jpeg", "encoding png" },
		{ "labelled yes", "labelled 1" }, { "classes 3", "classes 4" },   { "classes 3", "classes 2" },
		{ "classes 3", "classes 1000000" }, /* 3 names: refused without a table of a million */
		{ "seed 18446744073709551615", "seed 18446744073709551616" },
		{ "shuffled yes", "shuffled" },   { "created 2026-11-27T12:00:00Z", "created yesterday" },
		{ "name 1 dog", "name 2 dog" },   { "name 1 dog", "name 1 " },    { "width 256\n", "" },
		{ "width 256\nchannels 3", "channels 3\nwidth 256" }, { "ship\n", "ship" },
		{ "ship\n", "ship\nextra 1\n" }, { "height", "Height" },          { "count 1234", "count  1234" },
	};
	for (size_t e = 0; e < ARRAY_LEN(edits); e++) {
		const char *at = strstr(good, edits[e].from);
		ck_assert_msg(at != NULL, "edit %zu: '%s' not found", e, edits[e].from);
		char *bad = xasprintf("%.*s%s%s", (int)(at - good), good, edits[e].to, at + strlen(edits[e].from));
		DbInfo back;
		char why[256] = "";
		ck_assert_msg(db_meta_parse(bad, strlen(bad), &back, why, sizeof why) == -1, "edit %zu accepted: %s -> %s",
			      e, edits[e].from, edits[e].to);
		ck_assert_msg(strstr(why, "metadata line") != NULL, "edit %zu: reason '%s'", e, why);
		free(bad);
	}
	/* a NUL inside */
	char *nul = xstrdup(good);
	nul[5] = '\0';
	DbInfo back;
	char why[256];
	ck_assert_int_eq(db_meta_parse(nul, len, &back, why, sizeof why), -1);
	free(nul);
	free(good);
}
END_TEST

/* Rewrites key of the DB at path with value (raw LMDB, as damage would). */
static void poke(const char *path, const char *key, const void *value, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)value };
	if (value)
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	else
		ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

START_TEST(refuse_bad_count)
{
	DbBuildOptions o = opts(1, 1);
	char *path = build("count", 10, &o, H, W);
	Db *db = db_open(path);
	ck_assert_ptr_nonnull(db);
	size_t len;
	DbInfo m = *db_info(db);
	m.count = 11;
	m.classes = classes_copy(&db_info(db)->classes);
	char *text = db_meta_format(&m, &len);
	db_info_free(&m);
	db_close(db);
	poke(path, DB_META_KEY, text, len);
	free(text);
	/* a missing record with the count right is refused too */
	char *path2 = build("hole", 10, &o, H, W);
	poke(path2, "0000000009", NULL, 0);
	poke(path2, "0000000010", "x", 1);
	/* and no metadata at all */
	char *path3 = build("nometa", 3, &o, H, W);
	poke(path3, DB_META_KEY, NULL, 0);
	Capture cap = capture_begin();
	ck_assert_ptr_null(db_open(path)); /* 11 said, 10 there */
	ck_assert_ptr_null(db_open(path2));
	ck_assert_ptr_null(db_open(path3));
	char *msgs = capture_end(cap);
	ASSERT_NAMES(msgs, path, "metadata says 11 records, the database holds 10 entries besides it");
	ASSERT_NAMES(msgs, path2, "the keys are not 0000000000 .. 0000000009 followed by anet-meta");
	ASSERT_NAMES(msgs, path3, "no 'anet-meta' entry: not an anet database");
	free(msgs);
	free(path), free(path2), free(path3);
}
END_TEST

/* A value that is not a record, or has another shape: db_get names the key. */
START_TEST(refuse_bad_record)
{
	DbBuildOptions o = opts(1, 1);
	char *path = build("badrec", 5, &o, H, W);
	poke(path, "0000000002", "garbage", 7);
	TestRecord tr;
	make_record(&tr, 3, H + 1, W);
	size_t len;
	uint8_t *packed = record_pack(&tr.r, &len);
	poke(path, "0000000003", packed, len);
	free(packed);
	free(tr.pix);
	Db *db = db_open(path);
	ck_assert_ptr_nonnull(db);
	DbCursor *c = db_cursor_new(db);
	RecordView r;
	ck_assert_int_eq(db_get(c, 1, &r), 0);
	Capture cap = capture_begin();
	ck_assert_int_eq(db_get(c, 2, &r), -1);
	ck_assert_int_eq(db_get(c, 3, &r), -1);
	char *msgs = capture_end(cap);
	ASSERT_NAMES(msgs, path, "key 0000000002: shorter than a record header");
	ASSERT_NAMES(msgs, path, "key 0000000003: shape 5x5x3 differs from the database's 4x5x3");
	free(msgs);
	db_cursor_free(c);
	db_close(db);
	free(path);
}
END_TEST

/* Bad streams: every failure removes DB.tmp and creates no DB. */
START_TEST(refuse_bad_stream)
{
	DbBuildOptions o = opts(1, 1);
	char *path = xasprintf("%s/bad", dir), *tmp = xasprintf("%s/bad.tmp", dir);
	ClassTable t = three_classes(), other = { 2, t.names };
	static const char *const reasons[] = {
		"record 1 (rec00001): size 5x5x3 differs from the first record's 4x5x3 (rec00000)",
		"record 1 (rec00001): encoding jpeg differs from the first record's raw (rec00000)",
		"record 1 (rec00001): unlabelled (-1), but the records before it are labelled",
		"record 1 (rec00001): label 3 is out of range: the class table has 3 classes (0..2)",
		"after 1 record: a second class table (2 classes) differs from the first (3 classes)",
		"after 2 records: the class table has 2 classes, but record 1 has label 2",
	};
	for (int kind = 0; kind < 7; kind++) {
		DbBuild *b = db_build_open(path, &o);
		ck_assert_ptr_nonnull(b);
		ck_assert(exists(tmp));
		TestRecord a, z;
		make_record(&a, 0, H, W);
		make_record(&z, 1, H, W);
		if (kind != 5)
			ck_assert_int_eq(db_build_classes(b, &t, "s"), 0);
		ck_assert_int_eq(db_build_add(b, &a.r, "s"), 0);
		int rc;
		Capture cap = capture_begin();
		switch (kind) {
		case 0: z.r.height = H + 1; z.r.payload_len = (H + 1) * W * C; rc = db_build_add(b, &z.r, "s"); break;
		case 1: z.r.encoding = ENC_JPEG; rc = db_build_add(b, &z.r, "s"); break;
		case 2: z.r.label = -1; rc = db_build_add(b, &z.r, "s"); break;  /* mixed labelling */
		case 3: z.r.label = 3; rc = db_build_add(b, &z.r, "s"); break;   /* past the class table */
		case 4: rc = db_build_classes(b, &other, "s"); break;             /* a different table */
		case 5: z.r.label = 2; db_build_add(b, &z.r, "s");                /* table after label 2 */
			rc = db_build_classes(b, &other, "s"); break;
		default: rc = db_build_classes(b, &t, "s"); break;                /* the same table: fine */
		}
		char *msgs = capture_end(cap);
		if (kind < 6)
			ASSERT_NAMES(msgs, "s", reasons[kind]);
		else
			ck_assert_msg(msgs[0] == '\0', "the same class table twice: %s", msgs);
		free(msgs);
		free(a.pix), free(z.pix);
		if (kind == 6) {
			ck_assert_int_eq(rc, 0);
			db_build_abort(b);
		} else {
			ck_assert_msg(rc == -1, "bad stream %d accepted", kind);
			db_build_abort(b);
		}
		ck_assert(!exists(tmp));
		ck_assert(!exists(path));
	}
	/* no records at all */
	DbBuild *b = db_build_open(path, &o);
	Capture cap = capture_begin();
	ck_assert_int_eq(db_build_finish(b, NULL), -1);
	char *msgs = capture_end(cap);
	ASSERT_NAMES(msgs, path, "no records");
	free(msgs);
	ck_assert(!exists(tmp));
	ck_assert(!exists(path));
	free(path), free(tmp);
}
END_TEST

START_TEST(existing_and_stale)
{
	DbBuildOptions o = opts(1, 1);
	char *path = build("db", 4, &o, H, W);
	char *tmp = xasprintf("%s.tmp", path);
	/* an existing DB is refused without force and kept */
	Capture cap = capture_begin();
	ck_assert_ptr_null(db_build_open(path, &o));
	char *msgs = capture_end(cap);
	ASSERT_NAMES(msgs, path, "exists (use --force to replace it once the new database is complete)");
	free(msgs);
	ck_assert(!exists(tmp));
	Db *db = db_open(path);
	ck_assert_uint_eq(db_info(db)->count, 4);
	db_close(db);
	/* with force it is replaced by a complete new one */
	DbBuildOptions f = o;
	f.force = 1;
	free(path);
	path = build("db", 7, &f, H, W);
	ck_assert_ptr_nonnull(path);
	db = db_open(path);
	ck_assert_uint_eq(db_info(db)->count, 7);
	db_close(db);
	ck_assert(!exists(tmp));
	/* a stale DB.tmp (killed run: no lock held) is replaced */
	ck_assert_int_eq(mkdir(tmp, 0777), 0);
	char *junk = xasprintf("%s/data.mdb", tmp);
	FILE *jf = fopen(junk, "w");
	fputs("half a database", jf);
	fclose(jf);
	cap = capture_begin();
	char *p2 = build("db", 5, &f, H, W);
	msgs = capture_end(cap);
	ck_assert_ptr_nonnull(p2);
	ASSERT_NAMES(msgs, tmp, "replacing the unfinished build of an earlier run that was killed");
	free(msgs);
	ck_assert(!exists(tmp));
	/* a DB.tmp locked by a running mkdb is not touched */
	ck_assert_int_eq(mkdir(tmp, 0777), 0);
	int fd = open(tmp, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	cap = capture_begin();
	ck_assert_ptr_null(db_build_open(path, &f));
	msgs = capture_end(cap);
	char *busy = xasprintf("another mkdb is building %s (its DB.tmp is locked)", path);
	ASSERT_NAMES(msgs, tmp, busy);
	free(busy);
	free(msgs);
	ck_assert(exists(tmp));
	close(fd);
	rmdir(tmp);
	/* force never replaces a folder that is not a database */
	char *other = xasprintf("%s/photos", dir);
	ck_assert_int_eq(mkdir(other, 0777), 0);
	char *keep = xasprintf("%s/cat.jpg", other);
	jf = fopen(keep, "w");
	fclose(jf);
	cap = capture_begin();
	ck_assert_ptr_null(db_build_open(other, &f));
	msgs = capture_end(cap);
	ASSERT_NAMES(msgs, other, "holds 'cat.jpg', which is not part of an LMDB database; refusing to replace it");
	free(msgs);
	ck_assert(exists(keep));
	free(p2), free(junk), free(other), free(keep), free(tmp), free(path);
}
END_TEST

/* What a signal handler removes is exactly the DB.tmp of the running build. */
START_TEST(scratch_cleanup)
{
	DbScratch s;
	memset(&s, 0, sizeof s);
	DbBuildOptions o = opts(1, 1);
	o.scratch = &s;
	char *path = xasprintf("%s/sig", dir);
	DbBuild *b = db_build_open(path, &o);
	ck_assert_int_eq(s.active, 1);
	TestRecord tr;
	make_record(&tr, 0, H, W);
	ck_assert_int_eq(db_build_add(b, &tr.r, "s"), 0);
	free(tr.pix);
	ck_assert(exists(s.tmp));
	db_scratch_remove(&s); /* as the handler would */
	ck_assert(!exists(s.tmp));
	db_build_abort(b);
	ck_assert_int_eq(s.active, 0);
	/* after a successful build nothing is active */
	free(build("sig", 2, &o, H, W));
	ck_assert_int_eq(s.active, 0);
	db_scratch_remove(&s);
	ck_assert(exists(path));
	free(path);
}
END_TEST

static Suite *db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("db");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, keys);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, shuffle_determinism);
	tcase_add_test(tc, shuffle_uniform);
	tcase_add_test(tc, shuffle_matches_simulation);
	tcase_add_test(tc, map_growth);
	tcase_add_test(tc, compaction);
	tcase_add_test(tc, meta_round_trip);
	tcase_add_test(tc, meta_strict);
	tcase_add_test(tc, refuse_bad_count);
	tcase_add_test(tc, refuse_bad_record);
	tcase_add_test(tc, refuse_bad_stream);
	tcase_add_test(tc, existing_and_stale);
	tcase_add_test(tc, scratch_cleanup);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	set_progname("check_db");
	SRunner *sr = srunner_create(db_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
