/* check_spec.c: the network specification: the paper's net, shapes, sizes, and every error message. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/spec.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"


/* Parses text as "t.net", capturing what the parser prints; the caller frees *msgs. */
static Spec *parse_capture(const char *text, int classes, char **msgs)
{
	Capture c = capture_begin();
	Spec *s = spec_parse(text, "t.net", classes);
	*msgs = capture_end(c);
	return s;
}

/* text must fail with a message containing want (which starts with "t.net:LINE:"). */
static void expect_error(const char *text, const char *want)
{
	char *msgs;
	Spec *s = parse_capture(text, 10, &msgs);
	if (s || !strstr(msgs, want))
		ck_abort_msg("spec:\n%s\nexpected an error containing \"%s\", got %s\"%s\"", text, want,
			     s ? "success and " : "", msgs);
	spec_free(s);
	free(msgs);
}

#define HEAD "input size=32 channels=3\n"
#define TAIL "fc out=classes\nsoftmax\n"

START_TEST(alexnet_parameter_count)
{
	Spec *s = spec_load("alexnet", 1000);
	ck_assert_ptr_nonnull(s);
	/* REFERENCE.md A.2: 60,965,224 with the two-GPU grouping and biases */
	ck_assert_int_eq(s->param_count, 60965224);
	ck_assert_int_eq(s->classes, 1000);
	ck_assert_int_eq(s->nparams, 16);
	/* 224 -> 55 -> 27 -> 13 -> 6 (Fig. 2) */
	int conv1 = spec_find(s, "conv1"), pool1 = spec_find(s, "pool1"), pool2 = spec_find(s, "pool2");
	int pool5 = spec_find(s, "pool5"), fc6 = spec_find(s, "fc6");
	ck_assert_int_eq(s->layers[conv1].out.h, 55);
	ck_assert_int_eq(s->layers[conv1].out.c, 96);
	ck_assert_int_eq(s->layers[pool1].out.h, 27);
	ck_assert_int_eq(s->layers[pool2].out.h, 13);
	ck_assert_int_eq(s->layers[pool5].out.h, 6);
	ck_assert_int_eq(s->layers[pool5].out.c * 36, 9216);
	/* the two-GPU split: conv2 sees 48 maps per kernel, conv3 all 256 */
	const SpecParam *w2 = &s->params[s->layers[spec_find(s, "conv2")].param];
	const SpecParam *w3 = &s->params[s->layers[spec_find(s, "conv3")].param];
	ck_assert_int_eq((int)w2->dims[1], 48);
	ck_assert_int_eq((int)w3->dims[1], 256);
	ck_assert_str_eq(s->params[s->layers[fc6].param].name, "fc6.weight");
	ck_assert_int_eq((int)s->params[s->layers[fc6].param].dims[1], 9216);
	/* the paper's biases (§5) */
	const char *ones[] = { "conv2", "conv4", "conv5", "fc6", "fc7" }, *zeros[] = { "conv1", "conv3", "fc8" };
	for (size_t i = 0; i < 5; i++)
		ck_assert_float_eq(s->layers[spec_find(s, ones[i])].bias, 1.0f);
	for (size_t i = 0; i < 3; i++)
		ck_assert_float_eq(s->layers[spec_find(s, zeros[i])].bias, 0.0f);
	/* LRN: the paper's constants on the raw sum */
	const SpecLayer *lrn = &s->layers[spec_find(s, "lrn1")];
	ck_assert_int_eq(lrn->size, 5);
	ck_assert_float_eq(lrn->k, 2.0f);
	ck_assert_float_eq_tol(lrn->alpha, 1e-4f, 1e-12f);
	ck_assert_float_eq(lrn->beta, 0.75f);
	/* 1.45 GFLOPs a forward pass (2 per multiply-add) */
	ck_assert_double_eq_tol(s->flops, 1448.8e6, 0.2e6);
	spec_free(s);

	s = spec_load("alexnet", 10);
	ck_assert_int_eq(s->param_count, 60965224 - 990 * 4097);
	spec_free(s);
}
END_TEST

/* pipelines/alexnet.net is the built-in, byte for byte. */
START_TEST(alexnet_file_is_builtin)
{
	size_t len;
	char *text = read_file("pipelines/alexnet.net", &len, 1 << 20);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, spec_alexnet_text);
	free(text);
	Spec *s = spec_load("pipelines/alexnet.net", 1000);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->param_count, 60965224);
	spec_free(s);
}
END_TEST

START_TEST(default_names_and_plan)
{
	Spec *s = spec_load("alexnet", 1000);
	const char *names[] = { "data", "conv1", "relu1", "lrn1", "pool1", "conv2", "relu2", "lrn2",
				"pool2", "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5",
				"fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8", "prob" };
	ck_assert_int_eq(s->nlayers, (int)(sizeof names / sizeof *names));
	for (int i = 0; i < s->nlayers; i++)
		ck_assert_str_eq(s->layers[i].name, names[i]);
	for (int i = 0; i < s->nlayers; i++) {
		const SpecLayer *l = &s->layers[i];
		if (l->type == LAYER_RELU)
			ck_assert_int_eq(l->fused, 1); /* every relu follows a conv or fc */
		if (l->type == LAYER_DROPOUT)
			ck_assert_int_eq(l->inplace, 1);
	}
	spec_free(s);

	char *msgs;
	/* a relu after a pool is not fused; dropout after an lrn is not in place */
	s = parse_capture(HEAD "conv out=4 kernel=3\npool\nrelu\nlrn\ndropout\nrelu\n" TAIL, 10, &msgs);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(msgs, "");
	ck_assert_int_eq(s->layers[3].fused, 0);
	ck_assert_int_eq(s->layers[5].inplace, 0);
	ck_assert_str_eq(s->layers[3].name, "relu1");
	ck_assert_str_eq(s->layers[6].name, "relu1_2");
	ck_assert_str_eq(s->layers[7].name, "fc2");
	spec_free(s);
	free(msgs);
}
END_TEST

START_TEST(comments_blank_lines_and_options)
{
	char *msgs;
	Spec *s = parse_capture("# a comment\n\n  input height=20 width=30 channels=1   # grey\n"
				"conv name=c out=6 kernel=5 stride=2 pad=1 groups=1 bias=0.5 init=0.02\n\n"
				"lrn size=3 alpha=2e-4 beta=0.5 k=1\npool size=2 stride=2\n"
				"fc name=f out=classes\tbias=-1\nsoftmax",
				7, &msgs);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(msgs, "");
	ck_assert_int_eq(s->layers[0].line, 3);
	ck_assert_int_eq(s->layers[1].line, 4);
	ck_assert_int_eq(s->layers[1].out.c, 6);
	ck_assert_int_eq(s->layers[1].out.h, (20 + 2 - 5) / 2 + 1);
	ck_assert_int_eq(s->layers[1].out.w, (30 + 2 - 5) / 2 + 1);
	ck_assert_float_eq(s->layers[1].bias, 0.5f);
	ck_assert_float_eq_tol(s->layers[1].init, 0.02f, 1e-9f);
	ck_assert_int_eq(s->layers[2].size, 3);
	ck_assert_float_eq(s->layers[2].k, 1.0f);
	ck_assert_int_eq(s->layers[3].out.h, 4);
	ck_assert_int_eq(s->layers[3].out.w, 7);
	ck_assert_int_eq(s->classes, 7);
	ck_assert_str_eq(s->params[2].name, "f.weight");
	ck_assert_int_eq((int)s->params[2].dims[1], 6 * 4 * 7);
	ck_assert_int_eq(s->param_count, 6 * 1 * 25 + 6 + 7 * 168 + 7);
	/* every tensor starts on the alignment boundary, and the buffer holds them all */
	for (int t = 0; t < s->nparams; t++)
		ck_assert_int_eq(s->params[t].offset % SPEC_PARAM_ALIGN, 0);
	ck_assert_int_ge(s->param_floats, s->params[3].offset + s->params[3].count);
	spec_free(s);
	free(msgs);
}
END_TEST

START_TEST(unknown_keys_warn)
{
	char *msgs;
	Spec *s = parse_capture(HEAD "conv out=4 kernel=3 foo=1\npool kernel=3\n" TAIL, 10, &msgs);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(msgs, "t.net:2: warning: unknown key 'foo' ignored"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.net:3: warning: key 'kernel' does not apply to pool: ignored"));
	spec_free(s);
	free(msgs);
}
END_TEST

START_TEST(syntax_errors)
{
	expect_error(HEAD "convv out=3\n" TAIL, "t.net:2: unknown layer type 'convv'");
	expect_error(HEAD "conv out=abc kernel=3\n" TAIL, "t.net:2: conv: bad value 'abc' for out");
	expect_error(HEAD "conv out=4 kernel=0\n" TAIL, "t.net:2: conv: bad value '0' for kernel");
	expect_error(HEAD "conv out=4 kernel=3 bias=x\n" TAIL, "t.net:2: conv: bad value 'x' for bias");
	expect_error(HEAD "conv out=4 kernel\n" TAIL, "t.net:2: expected key=value, got 'kernel'");
	expect_error(HEAD "conv out=4 kernel=3 out=5\n" TAIL, "t.net:2: out given twice");
	expect_error(HEAD "conv kernel=3\n" TAIL, "t.net:2: conv needs out=N");
	expect_error(HEAD "conv out=3\n" TAIL, "t.net:2: conv needs kernel=N");
	expect_error(HEAD "dropout p=1\n" TAIL, "t.net:2: dropout: bad value '1' for p");
	expect_error(HEAD "lrn k=0\n" TAIL, "t.net:2: lrn: bad value '0' for k");
	expect_error(HEAD "conv name=a.b out=4 kernel=3\n" TAIL, "t.net:2: bad layer name 'a.b'");
	expect_error("input channels=3\n" TAIL, "t.net:1: input needs size=N");
}
END_TEST

START_TEST(structure_errors)
{
	expect_error("conv out=4 kernel=3\n" TAIL, "t.net:1: the first layer must be 'input'");
	expect_error(HEAD "input size=3\n" TAIL, "t.net:2: only the first layer may be 'input'");
	expect_error(HEAD "fc out=4\n", "t.net:2: the last layer must be 'softmax'");
	expect_error(HEAD TAIL "relu\n", "t.net:4: 'relu' after the softmax");
	expect_error(HEAD "conv name=x out=4 kernel=3\nfc name=x out=2\n" TAIL,
		     "t.net:3: layer name 'x' already used at line 2");
	expect_error("# nothing\n\n", "t.net: no layers");
	expect_error(HEAD "softmax\n", "t.net: no learned layer");
}
END_TEST

START_TEST(impossible_shapes)
{
	expect_error(HEAD "conv out=4 kernel=40\n" TAIL,
		     "t.net:2: conv1: kernel 40x40 does not fit the input 3x32x32 padded by 0");
	expect_error(HEAD "conv out=4 kernel=3 groups=2\n" TAIL,
		     "t.net:2: conv1: groups=2 must divide the 3 input channels (input 3x32x32)");
	expect_error(HEAD "conv out=5 kernel=3\nconv out=4 kernel=3 groups=2\n" TAIL,
		     "t.net:3: conv2: groups=2 must divide the 5 input channels (input 5x30x30)");
	expect_error(HEAD "pool size=3 stride=2\npool size=3 stride=2\npool size=3 stride=2\n"
			  "pool size=3 stride=2\npool size=3 stride=2\n" TAIL,
		     "t.net:6: pool0_5: a 3x3 window does not fit the input 3x1x1");
	expect_error(HEAD "lrn size=4\n" TAIL, "t.net:2: lrn0: size=4 must be odd");
	/* the paper's net on a too-small input fails where it runs out of pixels */
	char *text = xstrdup(spec_alexnet_text);
	char *p = strstr(text, "size=224");
	memcpy(p, "size=40 ", 8); /* 40 -> 9 -> 4 -> 1 */
	expect_error(text, "t.net:21: pool5: a 3x3 window does not fit the input 256x1x1");
	free(text);
}
END_TEST

/* What a specification from a file (a model holds one) must not do with a few kilobytes:
 * overflow the parameter count, or take cubic time naming a run of unnamed layers (found
 * reviewing spec_parse for tests/fuzz/fuzz_spec.c, whose harness reproduces the overflow). */
START_TEST(absurd_sizes)
{
	/* 2^24 outputs x 65536 channels x a 4096x4096 kernel (it fits a 1x1 input padded by
	 * 2048) is 2^64 weights: a signed overflow in add_params */
	expect_error("input size=1 channels=65536\nconv out=16777216 kernel=4096 pad=2048\n" TAIL,
		     "t.net:2: conv1: 16777216 outputs x 65536 input channels x a 4096x4096 kernel is too large");
	/* 3000 unnamed relus in a row: relu1, relu1_2, ..., relu1_3000, in well under the test's
	 * timeout (the names took 28 s) */
	size_t cap = 64 + 3000 * 5;
	char *text = xmalloc(cap), *p = text;
	p += sprintf(p, "%sfc out=4\n", HEAD);
	for (int i = 0; i < 3000; i++)
		p += sprintf(p, "relu\n");
	sprintf(p, "%s", TAIL);
	char *msgs;
	Spec *s = parse_capture(text, 10, &msgs);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->layers[3].name, "relu1_2");
	ck_assert_str_eq(s->layers[3001].name, "relu1_3000");
	spec_free(s);
	free(msgs);
	free(text);
	/* a name already taken by hand is skipped, and a lookalike is not taken */
	s = parse_capture(HEAD "fc out=4\nrelu name=relu1_2\nrelu name=relu1_03\nrelu\nrelu\n" TAIL, 10, &msgs);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->layers[4].name, "relu1");
	ck_assert_str_eq(s->layers[5].name, "relu1_3");
	spec_free(s);
	free(msgs);
	/* at most SPEC_MAX_LAYERS layers */
	text = xmalloc(64 + (SPEC_MAX_LAYERS + 1) * 5);
	p = text + sprintf(text, "%s", HEAD);
	for (int i = 0; i < SPEC_MAX_LAYERS; i++)
		p += sprintf(p, "relu\n");
	expect_error(text, "t.net:4097: more than 4096 layers");
	free(text);
}
END_TEST

START_TEST(missing_file)
{
	Capture c = capture_begin();
	Spec *s = spec_load("/nonexistent/x.net", 10);
	char *msgs = capture_end(c);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(msgs, "/nonexistent/x.net"));
	free(msgs);
}
END_TEST

START_TEST(memory_estimate)
{
	Spec *s = spec_load("alexnet", 1000);
	SpecMemory m;
	spec_memory(s, 128, 1, &m);
	ck_assert_double_eq(m.params, (double)s->param_floats * 4);
	ck_assert(s->param_floats >= s->param_count && s->param_floats < s->param_count + 16 * SPEC_PARAM_ALIGN);
	/* activations by hand: input, conv1, lrn1 (+scale), pool1 (+argmax), conv2, lrn2 (+scale),
	 * pool2 (+argmax), conv3, conv4, conv5, pool5 (+argmax), fc6, fc7, fc8, prob, labels */
	double per_image = 3 * 224 * 224 + 96 * 55 * 55 * 3.0 + 96 * 27 * 27 * 2 + 256 * 27 * 27 * 3.0 +
			   256 * 13 * 13 * 2 + 384 * 169 * 2 + 256 * 169 + 256 * 36 * 2 + 4096 * 2 + 1000 * 2;
	ck_assert_double_eq_tol(m.activations, (per_image * 4 + 4) * 128, 1);
	ck_assert_double_eq(m.gradients, 2.0 * 96 * 55 * 55 * 4 * 128);
	ck_assert_double_eq_tol(m.total, m.params * 3 + m.activations + m.gradients + m.workspace, 1);
	spec_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("spec");
	TCase *t = tcase_create("spec");
	tcase_add_test(t, alexnet_parameter_count);
	tcase_add_test(t, alexnet_file_is_builtin);
	tcase_add_test(t, default_names_and_plan);
	tcase_add_test(t, comments_blank_lines_and_options);
	tcase_add_test(t, unknown_keys_warn);
	tcase_add_test(t, syntax_errors);
	tcase_add_test(t, structure_errors);
	tcase_add_test(t, impossible_shapes);
	tcase_add_test(t, absurd_sizes);
	tcase_add_test(t, missing_file);
	tcase_add_test(t, memory_estimate);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	set_progname("check_spec");
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
