/* check_stats.c: pcacolor's statistics against a two-pass double reference, the Jacobi solver,
 * thread-count invariance, and the statistics file's round trip and refusals. */
#include <check.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/rng.h"
#include "libcommon/db.h"
#include "libcommon/image.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

static char *dir;

static void setup(void) { dir = make_temp_dir("stats"); }
static void teardown(void)
{
	remove_tree(dir);
	free(dir);
}

/* Pixel k of image i: correlated channels (a shared brightness plus per-channel noise), so
 * that the covariance has a clear structure, from the counter RNG. */
static uint8_t pixel(uint64_t i, size_t k, uint32_t c)
{
	size_t p = k / c;
	uint32_t bright = rng_below(5, RNG_STREAM(RNG_TEST, i), p, 200);
	uint32_t noise = rng_below(6, RNG_STREAM(RNG_TEST, i), k, 56);
	uint32_t v = (k % c == 2) ? 255 - bright - noise / 2 : bright + noise * (uint32_t)(k % c + 1) / 3;
	return (uint8_t)(v > 255 ? 255 : v);
}

/* A database of n raw h x w x c images. */
static char *build(const char *name, uint64_t n, uint32_t h, uint32_t w, uint32_t c)
{
	char *path = xasprintf("%s/%s", dir, name);
	DbBuildOptions o;
	db_build_defaults(&o);
	o.quiet = 1;
	DbBuild *b = db_build_open(path, &o);
	ck_assert_ptr_nonnull(b);
	uint8_t *px = xmalloc((size_t)h * w * c);
	for (uint64_t i = 0; i < n; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "img%llu", (unsigned long long)i);
		for (size_t k = 0; k < (size_t)h * w * c; k++)
			px[k] = pixel(i, k, c);
		RecordView r = { .label = -1, .height = h, .width = w, .channels = c, .encoding = ENC_RAW,
				 .name_len = (uint32_t)strlen(nm), .payload_len = h * w * c, .name = nm, .payload = px };
		ck_assert_int_eq(db_build_add(b, &r, "test"), 0);
	}
	free(px);
	ck_assert_int_eq(db_build_finish(b, NULL), 0);
	return path;
}

/* The reference: two passes in double, straight from the generator. */
typedef struct {
	double *mean, chmean[3], cov[3][3];
} Ref;

static Ref reference(uint64_t n, uint32_t h, uint32_t w, uint32_t c)
{
	size_t m = (size_t)h * w * c;
	Ref r = { .mean = xcalloc(m, sizeof(double)) };
	double pixels = (double)n * h * w;
	for (uint64_t i = 0; i < n; i++)
		for (size_t k = 0; k < m; k++) {
			r.mean[k] += pixel(i, k, c) / (double)n;
			r.chmean[k % c] += pixel(i, k, c) / pixels;
		}
	for (uint64_t i = 0; i < n; i++)
		for (size_t p = 0; p < (size_t)h * w; p++)
			for (uint32_t a = 0; a < c; a++)
				for (uint32_t b = 0; b < c; b++)
					r.cov[a][b] += (pixel(i, p * c + a, c) - r.chmean[a]) *
						       (pixel(i, p * c + b, c) - r.chmean[b]) / pixels;
	return r;
}

static void check_eigen(uint32_t n, double a[3][3], const double val[3], double vec[3][3])
{
	double norm = 0;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < n; j++)
			norm = fmax(norm, fabs(a[i][j]));
	for (uint32_t i = 0; i < n; i++) {
		if (i > 0)
			ck_assert_double_le(val[i], val[i - 1]);
		uint32_t big = 0;
		for (uint32_t k = 0; k < n; k++) {
			double av = 0;
			for (uint32_t j = 0; j < n; j++)
				av += a[k][j] * vec[i][j];
			/* A p = lambda p to rounding: double epsilon times the matrix's size */
			ck_assert_double_le(fabs(av - val[i] * vec[i][k]), 1e-13 * (norm + 1));
			if (fabs(vec[i][k]) > fabs(vec[i][big]))
				big = k;
		}
		ck_assert_double_gt(vec[i][big], 0); /* the sign convention */
		for (uint32_t j = 0; j < n; j++) {
			double dot = 0;
			for (uint32_t k = 0; k < n; k++)
				dot += vec[i][k] * vec[j][k];
			ck_assert_double_le(fabs(dot - (i == j)), 1e-14);
		}
	}
}

START_TEST(eigen_random)
{
	for (uint64_t t = 0; t < 200; t++) {
		/* A = B B^T with B uniform in [-100, 100): symmetric positive semi-definite */
		double bm[3][3], a[3][3] = { { 0 } }, val[3], vec[3][3];
		for (int k = 0; k < 9; k++)
			bm[k / 3][k % 3] = 200.0 * rng_uniform(7, RNG_STREAM(RNG_TEST, 1000 + t), (uint64_t)k) - 100;
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++)
				for (int k = 0; k < 3; k++)
					a[i][j] += bm[i][k] * bm[j][k];
		stats_eigen(3, a, val, vec);
		check_eigen(3, a, val, vec);
	}
	/* diagonal with a repeated eigenvalue, and the 1 x 1 case */
	double d[3][3] = { { 2, 0, 0 }, { 0, 5, 0 }, { 0, 0, 2 } }, val[3], vec[3][3];
	stats_eigen(3, d, val, vec);
	check_eigen(3, d, val, vec);
	ck_assert_double_eq(val[0], 5);
	double one[3][3] = { { 42.5 } };
	stats_eigen(1, one, val, vec);
	ck_assert_double_eq(val[0], 42.5);
	ck_assert_double_eq(vec[0][0], 1);
}
END_TEST

/* The authors' ILSVRC colour statistics (REFERENCE.md A.7): rebuild the covariance from their
 * sigma and eigenvectors and get back sigma = (121.78, 37.09, 19.72). */
START_TEST(eigen_ilsvrc_anchor)
{
	double sig[3] = { 121.78, 37.09, 19.72 };
	double p[3][3] = { { -0.564, -0.576, -0.592 }, { -0.713, -0.024, 0.701 }, { 0.418, -0.817, 0.397 } };
	/* the published vectors are rounded: make them orthonormal (Gram-Schmidt) */
	for (int i = 0; i < 3; i++) {
		for (int j = 0; j < i; j++) {
			double dot = 0;
			for (int k = 0; k < 3; k++)
				dot += p[i][k] * p[j][k];
			for (int k = 0; k < 3; k++)
				p[i][k] -= dot * p[j][k];
		}
		double len = sqrt(p[i][0] * p[i][0] + p[i][1] * p[i][1] + p[i][2] * p[i][2]);
		for (int k = 0; k < 3; k++)
			p[i][k] /= len;
	}
	double a[3][3] = { { 0 } }, val[3], vec[3][3];
	for (int i = 0; i < 3; i++)
		for (int r = 0; r < 3; r++)
			for (int c = 0; c < 3; c++)
				a[r][c] += sig[i] * sig[i] * p[i][r] * p[i][c];
	stats_eigen(3, a, val, vec);
	check_eigen(3, a, val, vec);
	for (int i = 0; i < 3; i++)
		ck_assert_double_eq_tol(sqrt(val[i]), sig[i], 1e-9);
	/* the luminance axis comes out with all components positive */
	ck_assert_double_eq_tol(vec[0][0], -p[0][0], 1e-9);
}
END_TEST

static void compare_to_reference(const Stats *s, const Ref *r, uint32_t h, uint32_t w, uint32_t c)
{
	/* mean image: the exact sum / n rounded once to float, within half a float ulp (6e-8
	 * relative); the reference's own double rounding is far below that */
	ck_assert_uint_eq(compare_doubles("mean", s->mean, r->mean, (size_t)h * w * c, 0, 1e-7), 0);
	for (uint32_t a = 0; a < c; a++) {
		/* stats are exact up to the final division; the reference adds ~1e4 rounded terms in
		 * double, off by ~1e-12 relative: 1e-10 absolute (values ~100) and 1e-9 of the
		 * variance leave room for that and nothing else */
		ck_assert_double_eq_tol(s->mean_channel[a], r->chmean[a], 1e-10);
		for (uint32_t b = 0; b < c; b++)
			ck_assert_double_eq_tol(s->cov[a][b], r->cov[a][b], 1e-9 * fabs(r->cov[a][a]));
	}
}

START_TEST(rgb_against_reference)
{
	enum { N = 150, Hh = 7, Ww = 9 };
	char *path = build("rgb", N, Hh, Ww, 3);
	Db *db = db_open(path);
	ck_assert_ptr_nonnull(db);
	Stats s;
	ck_assert_int_eq(stats_compute(db, 2, 1, &s), 0);
	ck_assert_int_eq(s.images, N);
	Ref r = reference(N, Hh, Ww, 3);
	compare_to_reference(&s, &r, Hh, Ww, 3);
	check_eigen(3, s.cov, s.eigval, s.eigvec);
	/* exact sums: any thread count gives the same bits */
	for (int t = 1; t <= 5; t++) {
		Stats u;
		ck_assert_int_eq(stats_compute(db, t, 1, &u), 0);
		ck_assert(memcmp(u.mean, s.mean, sizeof(float) * Hh * Ww * 3) == 0);
		ck_assert(memcmp(u.cov, s.cov, sizeof s.cov) == 0);
		ck_assert(memcmp(u.eigvec, s.eigvec, sizeof s.eigvec) == 0);
		stats_free(&u);
	}
	free(r.mean);
	stats_free(&s);
	db_close(db);
	free(path);
}
END_TEST

START_TEST(gray_against_reference)
{
	enum { N = 90, Hh = 6, Ww = 4 };
	char *path = build("gray", N, Hh, Ww, 1);
	Db *db = db_open(path);
	Stats s;
	ck_assert_int_eq(stats_compute(db, 3, 1, &s), 0);
	Ref r = reference(N, Hh, Ww, 1);
	compare_to_reference(&s, &r, Hh, Ww, 1);
	ck_assert_double_eq(s.eigval[0], s.cov[0][0]); /* the variance */
	ck_assert_double_eq(s.eigvec[0][0], 1);
	free(r.mean);
	stats_free(&s);
	db_close(db);
	free(path);
}
END_TEST

/* A record whose shape disagrees (damage): the pass stops, naming the key. */
START_TEST(refuse_bad_record)
{
	char *path = build("bad", 200, 3, 3, 3);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	uint8_t px[12] = { 0 };
	RecordView r = { .label = -1, .height = 2, .width = 2, .channels = 3, .encoding = ENC_RAW,
			 .name_len = 1, .payload_len = 12, .name = "x", .payload = px };
	size_t len;
	uint8_t *packed = record_pack(&r, &len);
	MDB_val k = { 10, "0000000150" }, v = { len, packed };
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(packed);
	Db *db = db_open(path);
	Stats s;
	Capture cap = capture_begin();
	ck_assert_int_eq(stats_compute(db, 2, 1, &s), -1);
	char *msgs = capture_end(cap);
	ASSERT_NAMES(msgs, path, "key 0000000150: shape 2x2x3 differs from the database's 3x3x3");
	free(msgs);
	db_close(db);
	free(path);
}
END_TEST

/* JPEG payloads: the statistics equal those of a raw database holding the decoded pixels
 * (the decode path, bit for bit; the decoder itself is the image library's to test). */
START_TEST(jpeg_payloads)
{
	enum { N = 40, S = 16 };
	char *jpath = xasprintf("%s/jpeg", dir), *rpath = xasprintf("%s/decoded", dir);
	DbBuildOptions o;
	db_build_defaults(&o);
	o.quiet = 1;
	DbBuild *jb = db_build_open(jpath, &o), *rb = db_build_open(rpath, &o);
	ImageCodec *codec = codec_new();
	uint8_t px[S * S * 3], back[S * S * 3];
	char why[256];
	for (uint64_t i = 0; i < N; i++) {
		for (size_t k = 0; k < sizeof px; k++)
			px[k] = pixel(i, k, 3);
		Image im = { S, S, 3, px };
		uint8_t *jpg;
		size_t len;
		ck_assert_int_eq(image_encode_jpeg(codec, &im, 90, &jpg, &len, why, sizeof why), 0);
		RecordView r = { .label = -1, .height = S, .width = S, .channels = 3, .encoding = ENC_JPEG,
				 .name_len = 1, .payload_len = (uint32_t)len, .name = "j", .payload = jpg };
		ck_assert_int_eq(db_build_add(jb, &r, "test"), 0);
		ck_assert_int_eq(record_pixels(codec, &r, back, why, sizeof why), 0);
		r.encoding = ENC_RAW;
		r.payload = back;
		r.payload_len = sizeof back;
		ck_assert_int_eq(db_build_add(rb, &r, "test"), 0);
		free(jpg);
	}
	codec_free(codec);
	ck_assert_int_eq(db_build_finish(jb, NULL), 0);
	ck_assert_int_eq(db_build_finish(rb, NULL), 0);
	Db *jd = db_open(jpath), *rd = db_open(rpath);
	Stats js, rs;
	ck_assert_int_eq(stats_compute(jd, 3, 1, &js), 0);
	ck_assert_int_eq(stats_compute(rd, 2, 1, &rs), 0);
	ck_assert(memcmp(js.mean, rs.mean, sizeof(float) * S * S * 3) == 0);
	ck_assert(memcmp(js.cov, rs.cov, sizeof js.cov) == 0);
	ck_assert(memcmp(js.eigval, rs.eigval, sizeof js.eigval) == 0);
	stats_free(&js);
	stats_free(&rs);
	db_close(jd);
	db_close(rd);
	free(jpath);
	free(rpath);
}
END_TEST

START_TEST(file_round_trip)
{
	char *path = build("f", 20, 4, 5, 3);
	Db *db = db_open(path);
	Stats s, t;
	ck_assert_int_eq(stats_compute(db, 1, 1, &s), 0);
	db_close(db);
	char *file = stats_default_path(path);
	ck_assert_int_eq(stats_write(file, &s), 0);
	ck_assert_int_eq(stats_load(file, &t), 0);
	ck_assert_uint_eq(t.height, 4);
	ck_assert_uint_eq(t.width, 5);
	ck_assert_uint_eq(t.channels, 3);
	ck_assert_int_eq(t.images, 20);
	ck_assert(memcmp(t.mean, s.mean, sizeof(float) * 60) == 0);
	ck_assert(memcmp(t.mean_channel, s.mean_channel, sizeof s.mean_channel) == 0);
	ck_assert(memcmp(t.cov, s.cov, sizeof s.cov) == 0);
	ck_assert(memcmp(t.eigval, s.eigval, sizeof s.eigval) == 0);
	ck_assert(memcmp(t.eigvec, s.eigvec, sizeof s.eigvec) == 0);
	ck_assert_str_eq(t.source, path);
	stats_free(&t);
	stats_free(&s);
	free(file);
	free(path);
}
END_TEST

START_TEST(default_path)
{
	const char *cases[][2] = { { "train.lmdb", "train.stats" }, { "d/val.db/", "d/val.stats" },
				   { "plain", "plain.stats" },       { "x/.lmdb", "x/.lmdb.stats" } };
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *p = stats_default_path(cases[i][0]);
		ck_assert_str_eq(p, cases[i][1]);
		free(p);
	}
	/* named from inside: beside the database's folder, under its own name */
	char *db = xasprintf("%s/in.lmdb", dir), *sub = xasprintf("%s/sub", db), *real = realpath(dir, NULL);
	ck_assert_int_eq(mkdir(db, 0777), 0);
	ck_assert_int_eq(mkdir(sub, 0777), 0);
	char *want = xasprintf("%s/in.stats", real), *dot = xasprintf("%s/.", db), *up = xasprintf("%s/..", sub);
	const char *inside[] = { dot, up };
	for (size_t i = 0; i < ARRAY_LEN(inside); i++) {
		char *p = stats_default_path(inside[i]);
		ck_assert_str_eq(p, want);
		free(p);
	}
	free(want);
	free(dot);
	free(up);
	free(real);
	free(sub);
	free(db);
}
END_TEST

/* A statistics file with one thing wrong: each is refused, and the message names the file and
 * says what is wrong (reason; NULL for the good control). */
static int load_variant(int variant, const char *reason)
{
	char *file = xasprintf("%s/v%d.stats", dir, variant);
	TensorWriter w;
	ck_assert_int_eq(tensorwriter_open(&w, file, variant == 1 ? TF_MODEL : TF_STATS), 0);
	float mean[2 * 2 * 3];
	for (int k = 0; k < 12; k++)
		mean[k] = variant == 7 ? 300.0f : 100.0f + k;
	double chm[3] = { 1, 2, 3 }, cov[9] = { 3, 0, 0, 0, 2, 0, 0, 0, 1 }, val[3] = { 3, 2, 1 };
	double vec[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
	if (variant == 5)
		val[0] = 0.5; /* not descending */
	if (variant == 6)
		vec[0] = 2; /* not unit length */
	uint64_t img[3] = { 2, 2, 3 }, c = 3, cc[2] = { 3, 3 }, c2[2] = { 2, 2 };
	tensorwriter_add(&w, "mean", DT_F32, 3, img, mean);
	tensorwriter_add(&w, "mean_channel", DT_F64, 1, &c, chm);
	tensorwriter_add(&w, "cov", DT_F64, 2, variant == 2 ? c2 : cc, cov);
	tensorwriter_add(&w, "eigval", DT_F64, 1, &c, val);
	if (variant != 3)
		tensorwriter_add(&w, "eigvec", DT_F64, 2, cc, vec);
	tensorwriter_add_i64(&w, "images", 10);
	tensorwriter_add_text(&w, "pixel_scale", variant == 4 ? "0-1" : "0-255");
	tensorwriter_add_text(&w, "source", "test");
	ck_assert_int_eq(tensorwriter_commit(&w), 0);
	Stats s;
	Capture cap = capture_begin();
	int rc = stats_load(file, &s);
	char *msgs = capture_end(cap);
	if (rc == 0)
		stats_free(&s);
	if (reason)
		ASSERT_NAMES(msgs, file, reason);
	else
		ck_assert_msg(msgs[0] == '\0', "the good file: %s", msgs);
	free(msgs);
	free(file);
	return rc;
}

START_TEST(load_refusals)
{
	static const char *const reasons[] = { NULL,
					       "is a model file, expected a statistics file",
					       "tensor cov: shape 2x2, expected 3x3",
					       "tensor eigvec is missing (statistics file)",
					       "pixel_scale is not 0-255",
					       "eigval is not in descending order",
					       "an eigenvector is not of unit length",
					       "the mean image holds a value outside 0..255" };
	ck_assert_int_eq(load_variant(0, NULL), 0); /* the control: a good file loads */
	for (int v = 1; v <= 7; v++)
		ck_assert_msg(load_variant(v, reasons[v]) == -1, "variant %d accepted", v);
	Stats s;
	char *missing = xasprintf("%s/none.stats", dir);
	Capture cap = capture_begin();
	ck_assert_int_eq(stats_load(missing, &s), -1);
	char *msgs = capture_end(cap);
	ASSERT_NAMES(msgs, missing, "No such file or directory");
	free(msgs);
	free(missing);
}
END_TEST

int main(void)
{
	set_progname("check_stats");
	Suite *s = suite_create("stats");
	TCase *t = tcase_create("stats");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, eigen_random);
	tcase_add_test(t, eigen_ilsvrc_anchor);
	tcase_add_test(t, rgb_against_reference);
	tcase_add_test(t, gray_against_reference);
	tcase_add_test(t, refuse_bad_record);
	tcase_add_test(t, jpeg_payloads);
	tcase_add_test(t, file_round_trip);
	tcase_add_test(t, default_path);
	tcase_add_test(t, load_refusals);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
