/* check_tensorfile.c: the tensor container: round trip, and refusal of every kind of damage. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

static char *dir;

static void setup(void) { dir = make_temp_dir("tensorfile"); }
static void teardown(void)
{
	remove_tree(dir);
	free(dir);
}

/* A model-like file: a 2x3 float tensor, a text, two scalars, and a big entry in pieces. */
static char *write_sample(void)
{
	char *path = xasprintf("%s/sample.anw", dir);
	TensorWriter w;
	ck_assert_int_eq(tensorwriter_open(&w, path, TF_MODEL), 0);
	float a[6] = { 1, -2, 3.5f, 4, 5, 6 };
	uint64_t da[2] = { 2, 3 };
	ck_assert_int_eq(tensorwriter_add(&w, "conv1.w", DT_F32, 2, da, a), 0);
	ck_assert_int_eq(tensorwriter_add_text(&w, "spec", "input size=8 channels=1\n"), 0);
	ck_assert_int_eq(tensorwriter_add_i64(&w, "step", 1234567890123ll), 0);
	ck_assert_int_eq(tensorwriter_add_f64(&w, "lr", 0.01), 0);
	uint64_t db[1] = { 1000 };
	ck_assert_int_eq(tensorwriter_begin(&w, "big", DT_I32, 1, db), 0);
	for (int32_t i = 0; i < 1000; i += 100) {
		int32_t chunk[100];
		for (int j = 0; j < 100; j++)
			chunk[j] = i + j;
		ck_assert_int_eq(tensorwriter_append(&w, chunk, sizeof chunk), 0);
	}
	ck_assert_int_eq(tensorwriter_commit(&w), 0);
	return path;
}

START_TEST(round_trip)
{
	char *path = write_sample();
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, path, TF_MODEL), 0);
	ck_assert_uint_eq(tf.count, 5);
	float a[6];
	uint64_t da[2] = { 2, 3 };
	ck_assert_int_eq(tensorfile_read(&tf, "conv1.w", DT_F32, 2, da, a), 0);
	ck_assert_float_eq(a[2], 3.5f);
	ck_assert_float_eq(a[1], -2.0f);
	char *spec = tensorfile_read_text(&tf, "spec");
	ck_assert_str_eq(spec, "input size=8 channels=1\n");
	free(spec);
	int64_t step;
	double lr;
	ck_assert_int_eq(tensorfile_read_i64(&tf, "step", &step), 0);
	ck_assert_int_eq(step, 1234567890123ll);
	ck_assert_int_eq(tensorfile_read_f64(&tf, "lr", &lr), 0);
	ck_assert_double_eq(lr, 0.01);
	int32_t part[10];
	ck_assert_int_eq(tensorfile_read_range(&tf, tensorfile_find(&tf, "big"), 495, 10, part), 0);
	ck_assert_int_eq(part[0], 495);
	ck_assert_int_eq(part[9], 504);
	/* wrong shape, wrong dtype, missing */
	uint64_t wrong[2] = { 3, 2 };
	Capture c = capture_begin();
	ck_assert_int_eq(tensorfile_read(&tf, "conv1.w", DT_F32, 2, wrong, a), -1);
	ck_assert_int_eq(tensorfile_read(&tf, "conv1.w", DT_F64, 2, da, a), -1);
	ck_assert_int_eq(tensorfile_read(&tf, "conv9.w", DT_F32, 2, da, a), -1);
	tensorfile_close(&tf);
	/* wrong kind */
	ck_assert_int_eq(tensorfile_open(&tf, path, TF_CHECKPOINT), -1);
	char *msgs = capture_end(c);
	ASSERT_NAMES(msgs, path, "tensor conv1.w: shape 2x3, expected 3x2");
	ASSERT_NAMES(msgs, path, "tensor conv1.w is f32, expected f64");
	ASSERT_NAMES(msgs, path, "tensor conv9.w is missing (model file)");
	ASSERT_NAMES(msgs, path, "is a model file, expected a checkpoint file");
	free(msgs);
	free(path);
}
END_TEST

static void copy_damaged(const char *from, const char *to, size_t keep, long flip)
{
	size_t len;
	unsigned char *buf = read_file(from, &len, 1 << 20);
	ck_assert_ptr_nonnull(buf);
	if (flip >= 0)
		buf[flip] ^= 0x40;
	FILE *f = fopen(to, "wb");
	fwrite(buf, 1, keep < len ? keep : len, f);
	fclose(f);
	free(buf);
}

/* tensorfile_open must refuse the damaged file with a message that names it and gives a
 * reason; returns the message (the caller frees it). */
static char *refused_naming(TensorFile *tf, const char *bad, const char *what, size_t n)
{
	Capture c = capture_begin();
	int rc = tensorfile_open(tf, bad, 0);
	char *msg = capture_end(c);
	ck_assert_msg(rc == -1, "%s %zu: accepted", what, n);
	const char *at = strstr(msg, bad);
	ck_assert_msg(at != NULL, "%s %zu: the message does not name the file: %s", what, n, msg);
	at += strlen(bad);
	ck_assert_msg(at[0] == ':' && at[1] == ' ' && at[2] != '\n' && at[2] != '\0', "%s %zu: no reason: %s", what,
		      n, msg);
	return msg;
}

/* Every truncation and every single-byte corruption must be refused (and not crash). */
START_TEST(refuses_damage)
{
	char *path = write_sample();
	char *bad = xasprintf("%s/bad.anw", dir);
	size_t len;
	free(read_file(path, &len, 1 << 20));
	TensorFile tf;
	for (size_t keep = 0; keep < len; keep += (keep < 200 ? 1 : 97)) {
		copy_damaged(path, bad, keep, -1);
		char *msg = refused_naming(&tf, bad, "truncated to bytes:", keep);
		ck_assert_msg(strstr(msg, "truncated") || strstr(msg, "too short"), "truncated to %zu bytes: %s", keep,
			      msg);
		free(msg);
	}
	for (size_t at = 0; at < len; at += (at < 200 ? 1 : 53)) {
		if (at >= 20 && at < 24)
			continue; /* the reserved word is not checked */
		copy_damaged(path, bad, len, (long)at);
		free(refused_naming(&tf, bad, "flipped byte", at));
	}
	free(bad);
	free(path);
}
END_TEST

/* An entry whose header runs into the checksum: 14 bytes of entries, an entry header of 16
 * (name length 4, "abcd", dtype u8, ndim 0) whose last two bytes are the checksum's first
 * two. The room left after it was computed as 46 - 48, which wrapped, so the entry passed
 * and the refusal read "18446744073709551613 bytes between the last tensor and the checksum"
 * (found reviewing tensorfile_open for tests/fuzz/fuzz_tensorfile.c). */
START_TEST(entry_runs_into_checksum)
{
	uint8_t b[50] = { 0 };
	put_u32(b, TENSORFILE_MAGIC);
	put_u32(b + 4, TENSORFILE_VERSION);
	put_u32(b + 8, 0x01020304u);
	put_u32(b + 12, TF_STATS);
	put_u32(b + 16, 1);
	put_u64(b + 24, sizeof b);
	put_u32(b + 32, 4);
	memcpy(b + 36, "abcd", 4);
	put_u32(b + 40, DT_U8);
	char *path = xasprintf("%s/into-checksum.anw", dir);
	FILE *f = fopen(path, "wb");
	ck_assert_uint_eq(fwrite(b, 1, sizeof b, f), sizeof b);
	fclose(f);
	TensorFile tf;
	char *msg = refused_naming(&tf, path, "entry into the checksum", 0);
	ASSERT_NAMES(msg, path, "entry 0: its header runs past the end of the entries (corrupt file?)");
	free(msg);
	free(path);
}
END_TEST

START_TEST(abort_leaves_nothing)
{
	char *path = xasprintf("%s/aborted.anw", dir);
	TensorWriter w;
	ck_assert_int_eq(tensorwriter_open(&w, path, TF_STATS), 0);
	ck_assert_int_eq(tensorwriter_add_text(&w, "x", "y"), 0);
	tensorwriter_abort(&w);
	ck_assert_int_ne(access(path, F_OK), 0);
	/* an entry left short fails the commit and leaves nothing either */
	ck_assert_int_eq(tensorwriter_open(&w, path, TF_STATS), 0);
	uint64_t d = 10;
	ck_assert_int_eq(tensorwriter_begin(&w, "short", DT_F32, 1, &d), 0);
	Capture c = capture_begin();
	ck_assert_int_eq(tensorwriter_commit(&w), -1);
	char *msg = capture_end(c);
	ck_assert_msg(strstr(msg, "40 bytes short") != NULL, "commit's message: %s", msg);
	free(msg);
	ck_assert_int_ne(access(path, F_OK), 0);
	free(path);
}
END_TEST

int main(void)
{
	set_progname("check_tensorfile");
	Suite *s = suite_create("tensorfile");
	TCase *t = tcase_create("container");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, round_trip);
	tcase_add_test(t, refuses_damage);
	tcase_add_test(t, entry_runs_into_checksum);
	tcase_add_test(t, abort_leaves_nothing);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
