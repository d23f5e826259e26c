/* check_convert.c: safetensors reading and writing, anet-convert's exact round trip, and PyTorch weights imported against PyTorch's outputs. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcommon/convert/convert.h"
#include "libcommon/convert/safetensors.h"
#include "libcommon/eval.h"
#include "libcommon/model.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

#define OWT "tests/ref/owt-tiny.safetensors"
#define OWT_EXPECT "tests/ref/owt-tiny-expect.safetensors"
#define OWT_NET "tests/ref/owt-tiny.net"
#define OWT_MAP "tests/ref/owt-tiny.map"

static char *dir;

static void setup(void) { dir = make_temp_dir("convert"); }
static void teardown(void)
{
	remove_tree(dir);
	free(dir);
}

/* A safetensors file of the given header text and data bytes (each 0x3f: 0.75 as F32 bytes
 * would be 0x3f400000, so any float read back is finite). */
static char *write_raw(const char *name, const char *header, size_t data)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	uint8_t len[8];
	put_u64(len, strlen(header));
	fwrite(len, 1, 8, f);
	fputs(header, f);
	for (size_t i = 0; i < data; i++)
		fputc(0x3f, f);
	fclose(f);
	return path;
}

static void expect_refused(const char *path, const char *reason)
{
	SafeTensors st;
	Capture c = capture_begin();
	int rc = safetensors_open(&st, path);
	char *msgs = capture_end(c);
	ck_assert_msg(rc == -1, "%s was accepted", path);
	ASSERT_NAMES(msgs, path, reason);
	free(msgs);
}

START_TEST(reader_refuses_damage)
{
	static const struct {
		const char *header;
		size_t data;
		const char *reason;
	} cases[] = {
		{ "[1]", 0, "the header does not start with '{'" },
		{ "{\"a\":", 4, "header: not JSON" },
		{ "{\"a\":1,\"a\":2}", 0, "header: not JSON: duplicate object key" },
		{ "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': unknown dtype 'F33'" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, "tensor 'a': needs \"dtype\"" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
		  "tensor 'a': 2 elements of F32 are 8 bytes, data_offsets give 4" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': shape[0] is not a non-negative" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "tensor 'a': data_offsets must be [BEGIN, END]" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,400]}}", 4, "tensor 'a': its data ends at byte 400 of 4 (truncated file?)" },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4,
		  "tensor 'a': its shape overflows" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
		  "tensor 'b': its data starts at byte 8, but a ends at 4 (the tensors must tile the data)" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
		  "tensor 'b': its data starts at byte 4, but a ends at 8 (the tensors must tile the data)" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "4 bytes after the last tensor's data" },
		{ "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__: 'k' is not a string" },
		{ "{\"__metadata__\":[]}", 0, "__metadata__ is not an object" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char name[32];
		snprintf(name, sizeof name, "bad%zu.safetensors", i);
		char *path = write_raw(name, cases[i].header, cases[i].data);
		expect_refused(path, cases[i].reason);
		free(path);
	}
	/* a length that runs past the end, and a file too short for one */
	char *path = xasprintf("%s/long.safetensors", dir);
	FILE *f = fopen(path, "wb");
	uint8_t len[8];
	put_u64(len, 1000);
	fwrite(len, 1, 8, f);
	fputs("{}", f);
	fclose(f);
	expect_refused(path, "header length 1000 runs past the end of the file (10 bytes");
	f = fopen(path, "wb");
	fputs("abc", f);
	fclose(f);
	expect_refused(path, "3 bytes: too short for a safetensors file");
	free(path);
}
END_TEST

/* Written in pieces, read back: the values, the metadata, the padding the reference writer
 * adds; F16 and BF16 widened exactly; a non-finite value refused. */
START_TEST(writer_round_trip_and_widening)
{
	char *path = xasprintf("%s/w.safetensors", dir);
	StWriter w;
	ck_assert_int_eq(stwriter_open(&w, path), 0);
	uint64_t d23[2] = { 2, 3 }, d4[1] = { 4 }, d1[1] = { 1 };
	ck_assert_int_eq(stwriter_meta(&w, "note", "a \"quoted\"\nline"), 0);
	ck_assert_int_eq(stwriter_declare(&w, "f32", ST_F32, 2, d23), 0);
	ck_assert_int_eq(stwriter_declare(&w, "f16", ST_F16, 1, d4), 0);
	ck_assert_int_eq(stwriter_declare(&w, "bf16", ST_BF16, 1, d4), 0);
	ck_assert_int_eq(stwriter_declare(&w, "nan", ST_F16, 1, d1), 0);
	Capture c = capture_begin();
	ck_assert_int_eq(stwriter_declare(&w, "f32", ST_F32, 1, d1), -1); /* a name twice */
	char *msgs = capture_end(c);
	ASSERT_NAMES(msgs, path, "tensor 'f32': name taken");
	free(msgs);
	w.failed = 0;
	float a[6] = { 1, -2, 3.5f, 4, 5, 6e-30f };
	/* 1, -2, 65504 (the largest half), 2^-24 (the smallest subnormal) */
	uint8_t h[8] = { 0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00 };
	/* 1, -2, 3.140625 (0x4049), 2^-133 (a bf16 subnormal, 0x0001 << 16 as float bits) */
	uint8_t b[8] = { 0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40, 0x01, 0x00 };
	uint8_t nan[2] = { 0x00, 0x7e };
	ck_assert_int_eq(stwriter_append(&w, a, 10), 0); /* pieces of any size */
	ck_assert_int_eq(stwriter_append(&w, (char *)a + 10, 14), 0);
	c = capture_begin();
	ck_assert_int_eq(stwriter_meta(&w, "late", "x"), -1);
	msgs = capture_end(c);
	ASSERT_NAMES(msgs, path, "metadata 'late': added after the data");
	free(msgs);
	w.failed = 0;
	ck_assert_int_eq(stwriter_append(&w, h, 8), 0);
	ck_assert_int_eq(stwriter_append(&w, b, 8), 0);
	ck_assert_int_eq(stwriter_append(&w, nan, 2), 0);
	ck_assert_int_eq(stwriter_commit(&w), 0);

	FILE *f = fopen(path, "rb");
	uint8_t len[8];
	ck_assert_int_eq(fread(len, 1, 8, f), 8);
	fclose(f);
	ck_assert_uint_eq(get_u64(len) % 8, 0);
	SafeTensors st;
	ck_assert_int_eq(safetensors_open(&st, path), 0);
	ck_assert_uint_eq(st.count, 4);
	ck_assert_str_eq(safetensors_meta(&st, "note"), "a \"quoted\"\nline");
	ck_assert_ptr_null(safetensors_meta(&st, "late"));
	const StEntry *e = safetensors_find(&st, "f32");
	ck_assert_uint_eq(e->ndim, 2);
	ck_assert_uint_eq(e->dims[1], 3);
	float got[6];
	ck_assert_int_eq(safetensors_read_float(&st, e, got), 0);
	ck_assert_mem_eq(got, a, sizeof a);
	ck_assert_int_eq(safetensors_read_float(&st, safetensors_find(&st, "f16"), got), 0);
	ck_assert(got[0] == 1 && got[1] == -2 && got[2] == 65504 && got[3] == ldexpf(1, -24));
	ck_assert_int_eq(safetensors_read_float(&st, safetensors_find(&st, "bf16"), got), 0);
	ck_assert(got[0] == 1 && got[1] == -2 && got[2] == 3.140625f && got[3] == ldexpf(1, -133));
	c = capture_begin();
	int rc = safetensors_read_float(&st, safetensors_find(&st, "nan"), got);
	msgs = capture_end(c);
	ck_assert_int_eq(rc, -1);
	ASSERT_NAMES(msgs, path, "tensor 'nan': 1 of its 1 values are not finite");
	free(msgs);
	safetensors_close(&st);
	free(path);
}
END_TEST

/* A writer short of its declared data leaves no file, and the file that was there stays. */
START_TEST(writer_short_data_leaves_the_old_file)
{
	char *path = write_raw("old.safetensors", "{}", 0);
	StWriter w;
	ck_assert_int_eq(stwriter_open(&w, path), 0);
	uint64_t d[1] = { 4 };
	ck_assert_int_eq(stwriter_declare(&w, "x", ST_F32, 1, d), 0);
	float x[2] = { 1, 2 };
	ck_assert_int_eq(stwriter_append(&w, x, sizeof x), 0);
	Capture c = capture_begin();
	int rc = stwriter_commit(&w);
	char *msgs = capture_end(c);
	ck_assert_int_eq(rc, -1);
	ASSERT_MSG(msgs, "8 bytes of data written, the tensors declared 16");
	free(msgs);
	SafeTensors st;
	ck_assert_int_eq(safetensors_open(&st, path), 0);
	ck_assert_uint_eq(st.count, 0);
	safetensors_close(&st);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* import of PyTorch weights */

static ImportOptions owt_options(int bgr)
{
	ImportOptions o = { .net = OWT_NET, .map = OWT_MAP, .nmean = 3, .nstd = 3, .size = 40, .bgr = bgr, .quiet = 1 };
	memcpy(o.mean, convert_torchvision_mean, sizeof o.mean);
	memcpy(o.std, convert_torchvision_std, sizeof o.std);
	return o;
}

/* The imported model's probabilities for the fixture's records against PyTorch's (float64,
 * tests/ref/make_convert_ref.py). Returns the largest difference. */
static double compare_with_torch(const char *model, const char *which)
{
	SafeTensors ex;
	ck_assert_int_eq(safetensors_open(&ex, OWT_EXPECT), 0);
	const StEntry *im = safetensors_find(&ex, "images"), *pr = safetensors_find(&ex, which);
	ck_assert(im && pr && im->dtype == ST_U8 && pr->dtype == ST_F64);
	int n = (int)im->dims[0], classes = (int)pr->dims[1];
	uint8_t *pixels = xmalloc(im->bytes);
	double *want = xmalloc(pr->bytes);
	ck_assert_int_eq(safetensors_read_bytes(&ex, im, 0, im->bytes, pixels), 0);
	ck_assert_int_eq(safetensors_read_bytes(&ex, pr, 0, pr->bytes, want), 0);
	safetensors_close(&ex);

	CtxOptions co = { .device = "cpu", .threads = 1 };
	Ctx *ctx = net_ctx_open(&co);
	Model *m = model_load(ctx, model, n, NET_EVAL);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq((int)m->num_classes, classes);
	Evaluator *e = evaluator_for_model(m, 1);
	ck_assert_ptr_nonnull(e);
	float *probs = xmallocarray((size_t)n * classes, sizeof *probs);
	ck_assert_int_eq(evaluator_run(e, pixels, n, probs, NULL), 0);
	/* float32 through two convolutions and two fc layers against float64: 1e-6 of a
	 * probability is several float32 roundings of each logit */
	ck_assert_uint_eq(compare_doubles(which, probs, want, (size_t)n * classes, 2e-6, 0), 0);
	double worst = 0;
	for (int i = 0; i < n * classes; i++)
		worst = fmax(worst, fabs(probs[i] - want[i]));
	evaluator_free(e);
	model_free(m);
	ctx_close(ctx);
	free(probs);
	free(want);
	free(pixels);
	return worst;
}

START_TEST(imports_torchvision_layout_as_pytorch_computes_it)
{
	char *out = xasprintf("%s/owt.anw", dir);
	ImportOptions o = owt_options(0);
	ck_assert_int_eq(convert_import(OWT, out, &o), 0);
	compare_with_torch(out, "probs");
	/* the same weights taken as BGR: the channels of the first layer reversed */
	o = owt_options(1);
	ck_assert_int_eq(convert_import(OWT, out, &o), 0);
	compare_with_torch(out, "probs_bgr");
	/* which must differ from the RGB answers, or the test above proves nothing about --bgr */
	SafeTensors ex;
	ck_assert_int_eq(safetensors_open(&ex, OWT_EXPECT), 0);
	const StEntry *a = safetensors_find(&ex, "probs"), *b = safetensors_find(&ex, "probs_bgr");
	double *pa = xmalloc(a->bytes), *pb = xmalloc(b->bytes), most = 0;
	ck_assert_int_eq(safetensors_read_bytes(&ex, a, 0, a->bytes, pa), 0);
	ck_assert_int_eq(safetensors_read_bytes(&ex, b, 0, b->bytes, pb), 0);
	for (uint64_t i = 0; i < a->count; i++)
		most = fmax(most, fabs(pa[i] - pb[i]));
	ck_assert_msg(most > 0.05, "RGB and BGR answers differ by only %g", most);
	free(pa);
	free(pb);
	safetensors_close(&ex);
	free(out);
}
END_TEST

static char *import_msgs(const char *in, const char *out, const ImportOptions *o, int want_rc)
{
	Capture c = capture_begin();
	int rc = convert_import(in, out, o);
	char *msgs = capture_end(c);
	ck_assert_msg(rc == want_rc, "import returned %d: %s", rc, msgs);
	return msgs;
}

/* Each missing or misshapen tensor is named, with both shapes; a bad map line by file:line;
 * an existing output stays as it was. */
START_TEST(import_names_every_mismatch)
{
	char *out = write_raw("keep.anw", "{}", 0);
	struct stat before;
	ck_assert_int_eq(stat(out, &before), 0);

	ImportOptions o = owt_options(0);
	o.map = NULL;
	char *msgs = import_msgs(OWT, out, &o, -1);
	ASSERT_NAMES(msgs, OWT_NET, "the network's out=classes needs --classes or --num-classes");
	free(msgs);
	o.num_classes = 10;
	msgs = import_msgs(OWT, out, &o, -1);
	ASSERT_NAMES(msgs, OWT, "no tensor 'conv1.weight' for conv1.weight (8x3x5x5); HINT: name the file's tensor with --map");
	ASSERT_MSG(msgs, "no tensor 'fc2.bias' for fc2.bias (10)");
	ASSERT_MSG(msgs, "tensor 'features.0.weight' is not used");
	free(msgs);

	o = owt_options(0);
	o.num_classes = 9;
	msgs = import_msgs(OWT, out, &o, -1);
	ASSERT_NAMES(msgs, OWT, "tensor 'classifier.4.weight' is 10x32, but fc2.weight is 9x32 in " OWT_NET);
	ASSERT_MSG(msgs, "tensor 'classifier.4.bias' is 10, but fc2.bias is 9");
	free(msgs);

	char *map = xasprintf("%s/bad.map", dir);
	FILE *f = fopen(map, "w");
	fputs("# comment\nconv1.weight features.0.weight\n\nconv9.weight features.0.weight\n"
	      "conv1.bias features.7.bias # no such tensor\nconv1.bias\n", f);
	fclose(f);
	o = owt_options(0);
	o.map = map;
	msgs = import_msgs(OWT, out, &o, -1);
	char *want = xasprintf("%s:4: the network (%s) has no parameter 'conv9.weight'", map, OWT_NET);
	ASSERT_MSG(msgs, want);
	free(want);
	want = xasprintf("%s:5: %s has no tensor 'features.7.bias'", map, OWT);
	ASSERT_MSG(msgs, want);
	free(want);
	want = xasprintf("%s:6: expected 'ANET_PARAMETER FILE_TENSOR'", map);
	ASSERT_MSG(msgs, want);
	free(want);
	free(msgs);

	/* a mean is needed; BGR needs three channels */
	o = owt_options(0);
	o.nmean = 0;
	msgs = import_msgs(OWT, out, &o, -1);
	ASSERT_NAMES(msgs, OWT, "the mean the weights expect is not given");
	free(msgs);

	struct stat after;
	ck_assert_int_eq(stat(out, &after), 0);
	ck_assert_int_eq(after.st_size, before.st_size);
	ck_assert_int_eq(after.st_ino, before.st_ino);
	free(map);
	free(out);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the exact round trip */

static int same_bytes(const char *a, const char *b)
{
	size_t la, lb;
	char *x = read_file(a, &la, 1 << 26), *y = read_file(b, &lb, 1 << 26);
	int same = x && y && la == lb && memcmp(x, y, la) == 0;
	free(x);
	free(y);
	return same;
}

static void round_trip(const char *path)
{
	char *st = xasprintf("%s.safetensors", path), *back = xasprintf("%s.back", path);
	ck_assert_int_eq(convert_export(path, st, 1), 0);
	ImportOptions none = { .quiet = 1 };
	ck_assert_int_eq(convert_import(st, back, &none), 0);
	ck_assert_msg(same_bytes(path, back), "%s came back different", path);
	free(st);
	free(back);
}

START_TEST(export_import_gives_the_same_bytes)
{
	/* a model (the imported one: weights, statistics, a spec) */
	char *model = xasprintf("%s/owt.anw", dir);
	ImportOptions o = owt_options(0);
	ck_assert_int_eq(convert_import(OWT, model, &o), 0);
	round_trip(model);

	/* statistics */
	Stats s = { .height = 2, .width = 3, .channels = 3, .images = 7, .source = "test.lmdb" };
	float mean[18];
	fill_uniform(mean, 18, 1, 0, 255);
	s.mean = mean;
	for (int i = 0; i < 3; i++) {
		s.mean_channel[i] = 100 + i;
		s.eigval[i] = 30 - i;
		s.eigvec[i][i] = 1;
		s.cov[i][i] = 30 - i;
	}
	char *stats = xasprintf("%s/t.stats", dir);
	ck_assert_int_eq(stats_write(stats, &s), 0);
	round_trip(stats);

	/* features: u8, i32, i64, f64 and an empty tensor */
	char *feat = xasprintf("%s/f.antf", dir);
	TensorWriter tw;
	ck_assert_int_eq(tensorwriter_open(&tw, feat, TF_FEATURES), 0);
	uint8_t u[3] = { 1, 2, 255 };
	int32_t i32[2] = { -5, 7 };
	double f64[2] = { M_PI, -1e300 };
	uint64_t d3[1] = { 3 }, d2[1] = { 2 }, d0[2] = { 0, 5 };
	ck_assert_int_eq(tensorwriter_add(&tw, "u", DT_U8, 1, d3, u), 0);
	ck_assert_int_eq(tensorwriter_add(&tw, "i", DT_I32, 1, d2, i32), 0);
	ck_assert_int_eq(tensorwriter_add_i64(&tw, "n", -42), 0);
	ck_assert_int_eq(tensorwriter_add(&tw, "d", DT_F64, 1, d2, f64), 0);
	ck_assert_int_eq(tensorwriter_add(&tw, "empty", DT_F32, 2, d0, NULL), 0);
	ck_assert_int_eq(tensorwriter_add_text(&tw, "layer", "fc7"), 0);
	ck_assert_int_eq(tensorwriter_commit(&tw), 0);
	round_trip(feat);

	/* an exported file with options for weights from elsewhere is refused */
	char *st = xasprintf("%s.safetensors", model);
	o = owt_options(0);
	char *msgs = import_msgs(st, model, &o, -1);
	ASSERT_NAMES(msgs, st, "written by anet-convert export, it holds its own network");
	free(msgs);
	free(st);
	free(model);
	free(stats);
	free(feat);
}
END_TEST

/* A name longer than anet files hold (safetensors has no limit), of a tensor or of text, is
 * refused naming the file imported: the tensor writer's refusal named only the output. */
START_TEST(import_refuses_names_too_long_naming_the_input)
{
	char name[301], want[128];
	memset(name, 'x', 300);
	name[300] = '\0';
	snprintf(want, sizeof want, "'%.40s...' is a name of 300 bytes; anet files hold names of at most %d", name,
		 TENSORFILE_MAX_NAME);
	char *headers[2] = {
		xasprintf("{\"__metadata__\":{\"anet.kind\":\"features\",\"anet.entries\":\"a\\n%s\"},"
			  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
			  "\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", name, name),
		xasprintf("{\"__metadata__\":{\"anet.kind\":\"features\",\"anet.entries\":\"a\\n%s\",\"%s\":\"text\"},"
			  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", name, name),
	};
	char *out = xasprintf("%s/long.antf", dir);
	ImportOptions none = { .quiet = 1 };
	for (int i = 0; i < 2; i++) {
		char in_name[32];
		snprintf(in_name, sizeof in_name, "long%d.safetensors", i);
		char *in = write_raw(in_name, headers[i], 8);
		char *msgs = import_msgs(in, out, &none, -1);
		ASSERT_NAMES(msgs, in, want);
		ck_assert_int_ne(access(out, F_OK), 0);
		free(msgs);
		free(in);
		free(headers[i]);
	}
	free(out);
}
END_TEST

/* A list naming an entry twice is refused; text that is not UTF-8 cannot be metadata, and
 * its export is refused naming the anet file. */
START_TEST(refuses_repeated_entries_and_text_not_utf8)
{
	char *in = write_raw("twice.safetensors",
			     "{\"__metadata__\":{\"anet.kind\":\"features\",\"anet.entries\":\"a\\nb\\na\"},"
			     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
			     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
	char *out = xasprintf("%s/twice.antf", dir);
	ImportOptions none = { .quiet = 1 };
	char *msgs = import_msgs(in, out, &none, -1);
	ASSERT_NAMES(msgs, in, "'a' is listed twice in anet.entries");
	ck_assert_int_ne(access(out, F_OK), 0);
	free(msgs);

	char *feat = xasprintf("%s/latin1.antf", dir), *st = xasprintf("%s/latin1.safetensors", dir);
	TensorWriter tw;
	ck_assert_int_eq(tensorwriter_open(&tw, feat, TF_FEATURES), 0);
	ck_assert_int_eq(tensorwriter_add_text(&tw, "names", "caf\xe9\n"), 0);
	ck_assert_int_eq(tensorwriter_commit(&tw), 0);
	Capture c = capture_begin();
	int rc = convert_export(feat, st, 1);
	msgs = capture_end(c);
	ck_assert_int_eq(rc, -1);
	ASSERT_NAMES(msgs, feat, "text entry 'names' is not valid UTF-8");
	ck_assert_int_ne(access(st, F_OK), 0);
	free(msgs), free(feat), free(st), free(in), free(out);
}
END_TEST

int main(void)
{
	set_progname("check_convert");
	Suite *s = suite_create("convert");
	TCase *t = tcase_create("safetensors");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, reader_refuses_damage);
	tcase_add_test(t, writer_round_trip_and_widening);
	tcase_add_test(t, writer_short_data_leaves_the_old_file);
	suite_add_tcase(s, t);
	t = tcase_create("import");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, imports_torchvision_layout_as_pytorch_computes_it);
	tcase_add_test(t, import_names_every_mismatch);
	tcase_add_test(t, export_import_gives_the_same_bytes);
	tcase_add_test(t, import_refuses_names_too_long_naming_the_input);
	tcase_add_test(t, refuses_repeated_entries_and_text_not_utf8);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
