/* check_common.c: libcommon basics: option parsing, the record stream, atomic files, the RNG. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/rng.h"
#include "libcommon/opt.h"
#include "libcommon/record.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

START_TEST(parse_int_strict)
{
	long long v;
	ck_assert_int_eq(parse_int("42", 0, 100, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(parse_int("010", 0, 100, &v), 0);
	ck_assert_int_eq(v, 10);
	ck_assert_int_eq(parse_int("0x10", 0, 100, &v), -1);
	ck_assert_int_eq(parse_int("-3", -5, 5, &v), 0);
	ck_assert_int_eq(v, -3);
	ck_assert_int_eq(parse_int("12abc", 0, 100, &v), -1);
	ck_assert_int_eq(parse_int("", 0, 100, &v), -1);
	ck_assert_int_eq(parse_int(" 5", 0, 100, &v), -1);
	ck_assert_int_eq(parse_int("101", 0, 100, &v), -1);
	ck_assert_int_eq(parse_int("99999999999999999999999", 0, 100, &v), -1);
}
END_TEST

START_TEST(parse_double_strict)
{
	double v;
	ck_assert_int_eq(parse_double("0.01", 0, 1, &v), 0);
	ck_assert_double_eq_tol(v, 0.01, 1e-15);
	ck_assert_int_eq(parse_double("1e-4", 0, 1, &v), 0);
	ck_assert_int_eq(parse_double("nan", 0, 1, &v), -1);
	ck_assert_int_eq(parse_double("inf", 0, 1e308, &v), -1);
	ck_assert_int_eq(parse_double("0.5x", 0, 1, &v), -1);
	ck_assert_int_eq(parse_double("2", 0, 1, &v), -1);
}
END_TEST

static void bad_batch(void *unused)
{
	(void)unused;
	opt_int("--batch", "abc", 1, 100);
}

/* A bad value is a usage error: exit status 2, a message naming the flag and the value, and
 * the pointer to --help. */
START_TEST(opt_int_exits_2)
{
	set_progname("check_common");
	char *msgs;
	ck_assert_int_eq(capture_exit(bad_batch, NULL, &msgs), EXIT_USAGE);
	ASSERT_MSG(msgs, "check_common: --batch: 'abc' is not an integer");
	ASSERT_MSG(msgs, "Try 'check_common --help' for more information.");
	free(msgs);
}
END_TEST

START_TEST(opt_bytes_suffixes)
{
	ck_assert_uint_eq(opt_bytes("--map-size", "4096", 1), 4096);
	ck_assert_uint_eq(opt_bytes("--map-size", "1K", 1), 1024);
	ck_assert_uint_eq(opt_bytes("--map-size", "2MiB", 1), 2u << 20);
	ck_assert_uint_eq(opt_bytes("--map-size", "1G", 1), 1u << 30);
}
END_TEST

static void bad_map_size(void *unused)
{
	(void)unused;
	opt_bytes("--map-size", "12Q", 1);
}

START_TEST(opt_bytes_rejects)
{
	set_progname("check_common");
	char *msgs;
	ck_assert_int_eq(capture_exit(bad_map_size, NULL, &msgs), EXIT_USAGE);
	ASSERT_MSG(msgs, "check_common: --map-size: '12Q' is not a byte count (suffixes: K, M, G, T)");
	ASSERT_MSG(msgs, "Try 'check_common --help'");
	free(msgs);
}
END_TEST

static RecordView sample_record(uint8_t *pix, int label, const char *name)
{
	for (int i = 0; i < 4 * 5 * 3; i++)
		pix[i] = (uint8_t)(i * 7 + label);
	RecordView r = { .label = label, .height = 4, .width = 5, .channels = 3, .encoding = ENC_RAW,
			 .name_len = (uint32_t)strlen(name), .payload_len = 60, .name = name, .payload = pix };
	return r;
}

START_TEST(record_stream_round_trip)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char *names[] = { "cat", "dog" };
	ClassTable t = { 2, names };
	uint8_t p1[60], p2[60];
	ck_assert_int_eq(classes_write(f, &t, "mem"), 0);
	RecordView a = sample_record(p1, 0, "a dir/with space.jpg"), b = sample_record(p2, 1, "b.png");
	ck_assert_int_eq(record_write(f, &a, "mem"), 0);
	ck_assert_int_eq(record_write(f, &b, "mem"), 0);
	fclose(f);

	FILE *in = fmemopen(buf, len, "rb");
	RecordReader rd;
	record_reader_init(&rd, in, "mem");
	RecordView r;
	ClassTable got = { 0, NULL };
	ck_assert_int_eq(record_read(&rd, &r, &got), FRAME_CLASSES);
	ck_assert_int_eq(classes_equal(&got, &t), 1);
	classes_free(&got);
	ck_assert_int_eq(record_read(&rd, &r, &got), FRAME_RECORD);
	ck_assert_int_eq(r.label, 0);
	ck_assert_int_eq((int)r.name_len, (int)strlen("a dir/with space.jpg"));
	ck_assert_mem_eq(r.payload, p1, 60);
	ck_assert_int_eq(record_read(&rd, &r, &got), FRAME_RECORD);
	ck_assert_int_eq(r.label, 1);
	ck_assert_mem_eq(r.payload, p2, 60);
	ck_assert_int_eq(record_read(&rd, &r, &got), FRAME_END);
	record_reader_free(&rd);
	fclose(in);
	free(buf);
}
END_TEST

START_TEST(record_stream_truncated)
{
	uint8_t pix[60];
	RecordView a = sample_record(pix, 3, "x");
	size_t len;
	uint8_t *packed = record_pack(&a, &len);
	for (size_t cut = 1; cut < len; cut += 7) {
		FILE *in = fmemopen(packed, cut, "rb");
		RecordReader rd;
		record_reader_init(&rd, in, "cut");
		RecordView r;
		ClassTable t = { 0, NULL };
		Capture c = capture_begin();
		ck_assert_int_eq(record_read(&rd, &r, &t), FRAME_ERROR);
		char *msgs = capture_end(c);
		ASSERT_MSG(msgs, "cut: record 0 (byte offset 0): truncated");
		free(msgs);
		record_reader_free(&rd);
		fclose(in);
	}
	free(packed);
}
END_TEST

START_TEST(record_parse_checks_lengths)
{
	uint8_t pix[60];
	RecordView a = sample_record(pix, 2, "name");
	size_t len;
	uint8_t *packed = record_pack(&a, &len);
	RecordView r;
	const char *why;
	ck_assert_int_eq(record_parse(packed, len, &r, &why), 0);
	ck_assert_int_eq(r.label, 2);
	ck_assert_int_eq(record_parse(packed, len - 1, &r, &why), -1);
	packed[0] ^= 1;
	ck_assert_int_eq(record_parse(packed, len, &r, &why), -1);
	packed[0] ^= 1;
	put_u32(packed + 20, 2); /* two channels */
	ck_assert_int_eq(record_parse(packed, len, &r, &why), -1);
	put_u32(packed + 20, 3);
	put_u32(packed + 28, 61); /* raw length disagrees with H*W*C */
	ck_assert_int_eq(record_parse(packed, len, &r, &why), -1);
	free(packed);
}
END_TEST

START_TEST(atomic_file_commit_and_abort)
{
	char *dir = make_temp_dir("atomic");
	char *path = xasprintf("%s/out", dir);
	AtomicFile af;
	ck_assert_int_eq(atomic_open(&af, path), 0);
	fputs("new", af.f);
	atomic_abort(&af);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(atomic_open(&af, path), 0);
	fputs("new", af.f);
	ck_assert_int_ne(access(path, F_OK), 0); /* nothing under the final name before commit */
	ck_assert_int_eq(atomic_commit(&af), 0);
	size_t len;
	char *got = read_file(path, &len, 100);
	ck_assert_str_eq(got, "new");
	free(got);
	free(path);
	remove_tree(dir);
	free(dir);
}
END_TEST

START_TEST(written_in_place_names)
{
	char *dir = make_temp_dir("inplace");
	char *path = xasprintf("%s/out", dir);
	ck_assert_int_eq(written_in_place(path), 0); /* not there yet */
	ck_assert_int_eq(written_in_place("bare-name"), 0);
	ck_assert_int_eq(written_in_place(dir), 0); /* a folder is refused, not written */
	ck_assert_int_eq(written_in_place("/dev/null"), 1);
	ck_assert_int_eq(written_in_place("/dev/no-such-name"), 1); /* never a temporary in /dev */
	ck_assert_int_eq(written_in_place("/proc/self/fd/1"), 1);
	char *fifo = xasprintf("%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(written_in_place(fifo), 1);
	/* a regular file reached through /dev/fd is written in place, not renamed over */
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	char *via = xasprintf("/dev/fd/%d", fileno(f));
	ck_assert_int_eq(written_in_place(via), 1);
	fclose(f);
	free(via);
	free(fifo);
	free(path);
	remove_tree(dir);
	free(dir);
}
END_TEST

/* Philox4x32-10 known-answer vectors from Random123's kat_vectors. */
/* shell_word's word, read back by sh, is the name itself */
START_TEST(shell_word_round_trip)
{
	const char *plain[] = { "model.ckpt", "/tmp/run-1/m_2.ckpt", "a=b,c:d@e%f+g" };
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
		char *w = shell_word(plain[i]);
		ck_assert_str_eq(w, plain[i]);
		free(w);
	}
	const char *odd[] = { "run 4/model.ckpt", "it's", "''", "$HOME/`x`", "a\\b\"c", "new\nline", "*", "", "~x", "a;b&c|d" };
	for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
		char *w = shell_word(odd[i]);
		ck_assert_msg(w[0] == '\'', "'%s' was not quoted: %s", odd[i], w);
		char *cmd = xasprintf("printf '%%s' %s", w);
		FILE *p = popen(cmd, "r");
		ck_assert_ptr_nonnull(p);
		char back[64] = { 0 };
		size_t got = fread(back, 1, sizeof back - 1, p);
		ck_assert_int_eq(pclose(p), 0);
		ck_assert_msg(got == strlen(odd[i]) && memcmp(back, odd[i], got) == 0, "sh read %s as '%s', not '%s'", w,
			      back, odd[i]);
		free(cmd);
		free(w);
	}
}
END_TEST

START_TEST(philox_known_answers)
{
	RngBlock b = rng_block(0, 0, 0);
	ck_assert_uint_eq(b.v[0], 0x6627e8d5u);
	ck_assert_uint_eq(b.v[1], 0xe169c58du);
	ck_assert_uint_eq(b.v[2], 0xbc57ac4cu);
	ck_assert_uint_eq(b.v[3], 0x9b00dbd8u);
	b = rng_block(0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffffffffffull);
	ck_assert_uint_eq(b.v[0], 0x408f276du);
	ck_assert_uint_eq(b.v[1], 0x41c83b0eu);
	ck_assert_uint_eq(b.v[2], 0xa20bc7c6u);
	ck_assert_uint_eq(b.v[3], 0x6d5451fdu);
}
END_TEST

START_TEST(rng_distributions)
{
	double s = 0, s2 = 0;
	int n = 200000;
	for (int i = 0; i < n; i++) {
		double x = rng_normal(7, RNG_STREAM(RNG_TEST, 1), (uint64_t)i);
		s += x;
		s2 += x * x;
	}
	ck_assert_double_le(fabs(s / n), 0.01);
	ck_assert_double_le(fabs(s2 / n - 1), 0.02);
	int hist[10] = { 0 };
	for (int i = 0; i < n; i++)
		hist[rng_below(7, RNG_STREAM(RNG_TEST, 2), (uint64_t)i, 10)]++;
	for (int k = 0; k < 10; k++)
		ck_assert_int_lt(abs(hist[k] - n / 10), n / 100);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("common");
	TCase *t = tcase_create("opt");
	tcase_add_test(t, parse_int_strict);
	tcase_add_test(t, parse_double_strict);
	tcase_add_test(t, opt_int_exits_2);
	tcase_add_test(t, opt_bytes_suffixes);
	tcase_add_test(t, opt_bytes_rejects);
	suite_add_tcase(s, t);
	t = tcase_create("record");
	tcase_add_test(t, record_stream_round_trip);
	tcase_add_test(t, record_stream_truncated);
	tcase_add_test(t, record_parse_checks_lengths);
	suite_add_tcase(s, t);
	t = tcase_create("files");
	tcase_add_test(t, atomic_file_commit_and_abort);
	tcase_add_test(t, written_in_place_names);
	tcase_add_test(t, shell_word_round_trip);
	suite_add_tcase(s, t);
	t = tcase_create("rng");
	tcase_add_test(t, philox_known_answers);
	tcase_add_test(t, rng_distributions);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
