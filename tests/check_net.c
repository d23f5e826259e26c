/* check_net.c: the network driver against PyTorch fixtures, finite differences, and itself (determinism, files). */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "kernels/rng.h"
#include "libcommon/gradcheck.h"
#include "libcommon/net.h"
#include "libcommon/refnet.h"
#include "libcommon/spec.h"
#include "libcommon/tensorfile.h"
#include "kernels/ref/ref.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

static Ctx *open_cpu(int threads)
{
	CtxOptions o = { .device = "cpu", .threads = threads };
	char err[512];
	Ctx *c = ctx_open(&o, err, sizeof err, NULL, 0);
	if (!c)
		ck_abort_msg("ctx_open: %s", err);
	return c;
}

/* The test input anet and tests/ref/make_ref.py share: scale * rng_normal(seed, RNG_TEST 1, i). */
static void upload_input(Net *net, int n, uint64_t seed, float scale)
{
	size_t count = (size_t)n * (size_t)dims_count(net_spec(net)->layers[0].out);
	float *x = xmallocarray(count, sizeof *x);
	for (size_t i = 0; i < count; i++)
		x[i] = scale * rng_normal(seed, RNG_STREAM(RNG_TEST, 1), i);
	ck_assert_int_eq(ctx_upload(net_ctx(net), net_input(net), x, count * sizeof *x), 0);
	free(x);
}

static float *download(Net *net, const float *dev, size_t count)
{
	float *h = xmallocarray(count, sizeof *h);
	ck_assert_int_eq(ctx_download(net_ctx(net), h, dev, count * sizeof *h), 0);
	return h;
}

static float *fixture(TensorFile *tf, const char *name, uint64_t *count)
{
	float *p = tensorfile_read_alloc(tf, name, DT_F32, count);
	ck_assert_msg(p != NULL, "fixture %s: tensor %s missing", tf->path, name);
	return p;
}

static double max_abs(const float *x, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs(x[i]));
	return m;
}

/* The output of layer name (the logits for "fc8") against a fixture tensor. */
static size_t check_output(Net *net, TensorFile *tf, const char *layer, const char *ref, int n, double atol,
			   double rtol)
{
	Dims d;
	const float *dev = net_output(net, layer, &d);
	ck_assert_ptr_nonnull(dev);
	uint64_t count;
	float *want = fixture(tf, ref, &count);
	ck_assert_uint_eq(count, (uint64_t)n * (uint64_t)dims_count(d));
	float *got = download(net, dev, count);
	size_t bad = compare_floats(ref, got, want, count, atol, rtol);
	free(got);
	free(want);
	return bad;
}

/* The first 8 weights of every weight tensor are exactly the reference's: the same Philox
 * draws, the same Box-Muller, the same float rounding. */
static void check_init_sample(Net *net, TensorFile *tf)
{
	const Spec *s = net_spec(net);
	uint64_t count;
	float *want = fixture(tf, "init.sample", &count);
	size_t k = 0;
	for (int t = 0; t < s->nparams; t++) {
		if (s->params[t].is_bias)
			continue;
		float *got = download(net, net_param(net, t), 8);
		ck_assert_uint_le(k + 8, count);
		for (int i = 0; i < 8; i++, k++)
			ck_assert_msg(got[i] == want[k], "%s[%d]: init %.9g, reference %.9g", s->params[t].name, i,
				      (double)got[i], (double)want[k]);
		free(got);
	}
	ck_assert_uint_eq(k, count);
	free(want);
}

static double loss_of(Net *net, const int32_t *labels, int n)
{
	const float *p = net_probs(net);
	ck_assert_ptr_nonnull(p);
	return net_loss(p, labels, n, net_spec(net)->classes);
}

/* Every parameter (prefix "grad." against the gradients, "step3." against the weights). */
static size_t check_params(Net *net, TensorFile *tf, const char *prefix, int grads, double atol_rel, double rtol)
{
	const Spec *s = net_spec(net);
	size_t bad = 0;
	for (int t = 0; t < s->nparams; t++) {
		char name[SPEC_PARAM_NAME + 16];
		snprintf(name, sizeof name, "%s%s", prefix, s->params[t].name);
		uint64_t count;
		float *want = fixture(tf, name, &count);
		ck_assert_uint_eq(count, (uint64_t)s->params[t].count);
		float *got = download(net, grads ? net_grad(net, t) : net_param(net, t), count);
		/* absolute tolerance relative to the tensor's scale: small entries of a tensor carry
		 * the rounding error of its large ones */
		bad += compare_floats(name, got, want, count, atol_rel * max_abs(want, count), rtol);
		free(got);
		free(want);
	}
	return bad;
}

/* w - w0 against the reference's step3 - w0, for every parameter. */
static size_t check_deltas(Net *net, TensorFile *tf, const float *w0, double atol_rel, double rtol)
{
	const Spec *s = net_spec(net);
	float *w = download(net, net_param_buffer(net), (size_t)s->param_floats);
	size_t bad = 0;
	for (int t = 0; t < s->nparams; t++) {
		const SpecParam *p = &s->params[t];
		char name[SPEC_PARAM_NAME + 16];
		snprintf(name, sizeof name, "step3.%s", p->name);
		uint64_t count;
		float *ref = fixture(tf, name, &count);
		float *got = xmallocarray((size_t)count, sizeof *got);
		for (uint64_t e = 0; e < count; e++) {
			got[e] = w[p->offset + (int64_t)e] - w0[p->offset + (int64_t)e];
			ref[e] -= w0[p->offset + (int64_t)e];
		}
		snprintf(name, sizeof name, "delta.%s", p->name);
		bad += compare_floats(name, got, ref, count, atol_rel * max_abs(ref, count), rtol);
		free(got);
		free(ref);
	}
	free(w);
	return bad;
}

/* The paper's topology at widths /8 (tests/ref/make_ref.py small()), in float32 against
 * PyTorch in float64: eval logits, train logits and loss with dropout, every gradient, and
 * 3 steps of the paper's update. */
START_TEST(small_net_matches_pytorch)
{
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, "tests/ref/small.antf", TF_FEATURES), 0);
	Spec *spec = net_read_spec(&tf);
	ck_assert_ptr_nonnull(spec);
	int64_t seed;
	double scale, lr, want;
	ck_assert_int_eq(tensorfile_read_i64(&tf, "seed", &seed), 0);
	ck_assert_int_eq(tensorfile_read_f64(&tf, "input_scale", &scale), 0);
	ck_assert_int_eq(tensorfile_read_f64(&tf, "lr", &lr), 0);
	uint64_t n64, nl;
	int32_t *labels = tensorfile_read_alloc(&tf, "labels", DT_I32, &n64);
	double *losses = tensorfile_read_alloc(&tf, "train.loss", DT_F64, &nl);
	ck_assert_ptr_nonnull(labels);
	ck_assert_ptr_nonnull(losses);
	int n = (int)n64;

	Ctx *ctx = open_cpu(0);
	Net *net = net_create(ctx, spec, n, NET_TRAIN);
	ck_assert_ptr_nonnull(net);
	NetInit init = { .seed = (uint64_t)seed };
	ck_assert_int_eq(net_init(net, &init), 0);
	check_init_sample(net, &tf);
	float *w0 = download(net, net_param_buffer(net), (size_t)spec->param_floats);
	upload_input(net, n, (uint64_t)seed, (float)scale);
	ck_assert_int_eq(net_set_labels(net, labels, n), 0);

	/* float32 logits of order 1 after 8 layers with sums of up to 1200 terms: the CPU
	 * backend is within 5e-6 (float rounding, measured); 3e-5 leaves room for another
	 * summation order and still catches a wrong connection, which is off by 1e-2 or more */
	ck_assert_int_eq(net_forward(net, n, NET_EVAL, 0), 0);
	ck_assert_uint_eq(check_output(net, &tf, "fc8", "eval.logits", n, 3e-5, 3e-5), 0);
	ck_assert_int_eq(tensorfile_read_f64(&tf, "eval.loss", &want), 0);
	ck_assert_double_eq_tol(loss_of(net, labels, n), want, 1e-5 * want);

	/* step 0 in training mode: the dropout masks are drawn from the same Philox stream */
	ck_assert_int_eq(net_forward(net, n, NET_TRAIN, 0), 0);
	ck_assert_uint_eq(check_output(net, &tf, "fc8", "train.logits", n, 3e-5, 3e-5), 0);
	ck_assert_double_eq_tol(loss_of(net, labels, n), losses[0], 1e-5 * losses[0]);
	ck_assert_int_eq(net_backward(net), 0);
	/* gradients go through the LRN's derivative and long sums; the small entries of a tensor
	 * carry the rounding of its large ones, hence an absolute floor relative to the tensor's
	 * largest entry. Direct sums are within 4e-7 of it; the CPU backend's Winograd
	 * convolutions (3x3, 5x5, and conv1 folded to 3x3) round about 10x more, within 4e-6:
	 * 3e-5 of the largest entry and 3e-4 relative keep a margin and still catch a wrong
	 * derivative, which is off by far more */
	ck_assert_uint_eq(check_params(net, &tf, "grad.", 1, 3e-5, 3e-4), 0);
	ck_assert_int_eq(net_update(net, (float)lr), 0);

	for (int step = 1; step < (int)nl; step++) {
		double loss;
		ck_assert_int_eq(net_train_step(net, n, (uint64_t)step, (float)lr, labels, &loss), 0);
		ck_assert_msg(fabs(loss - losses[step]) <= 1e-4 * losses[step], "step %d: loss %.9g, PyTorch %.9g",
			      step, loss, losses[step]);
	}
	/* the weights after 3 steps: 1e-5 of each tensor's largest weight, and 3e-4 relative for
	 * the tensors that start at 0 (biases), which hold nothing but the update and so carry
	 * the gradients' error; then their change from the initial weights (both sides start
	 * from the same ones, see check_init_sample), which is about 3 lr dw: 1e-3 relative is
	 * well below what a wrong momentum, decay or sign would do */
	ck_assert_uint_eq(check_params(net, &tf, "step3.", 0, 1e-5, 3e-4), 0);
	ck_assert_uint_eq(check_deltas(net, &tf, w0, 1e-3, 1e-3), 0);

	free(w0);
	free(labels);
	free(losses);
	net_free(net);
	spec_free(spec);
	ctx_close(ctx);
	tensorfile_close(&tf);
}
END_TEST

/* The full-size paper's net, forward on 2 images, against PyTorch (tests/ref/make_ref.py
 * alexnet()). */
START_TEST(alexnet_matches_pytorch)
{
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, "tests/ref/alexnet.antf", TF_FEATURES), 0);
	int64_t seed;
	double scale;
	ck_assert_int_eq(tensorfile_read_i64(&tf, "seed", &seed), 0);
	ck_assert_int_eq(tensorfile_read_f64(&tf, "input_scale", &scale), 0);
	Spec *spec = spec_load("alexnet", 1000);
	Ctx *ctx = open_cpu(0);
	Net *net = net_create(ctx, spec, 2, NET_EVAL);
	ck_assert_ptr_nonnull(net);
	NetInit init = { .seed = (uint64_t)seed };
	ck_assert_int_eq(net_init(net, &init), 0);
	check_init_sample(net, &tf);
	upload_input(net, 2, (uint64_t)seed, (float)scale);
	ck_assert_int_eq(net_forward(net, 2, NET_EVAL, 0), 0);
	/* logits of order 0.1 to 1 from sums of up to 9216 terms in float32: measured within
	 * 2e-6; 3e-5 as for the small net */
	ck_assert_uint_eq(check_output(net, &tf, "fc8", "eval.logits", 2, 3e-5, 3e-5), 0);
	net_free(net);
	spec_free(spec);
	ctx_close(ctx);
	tensorfile_close(&tf);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the double-precision twin (libcommon/refnet.c) against finite differences, and the driver against it */

/* A tiny net with every kind of layer and groups=2; LRN's alpha is large so that its
 * normalisation matters at these small activations. */
static const char tiny_spec[] =
	"input size=9 channels=4\n"
	"conv out=6 kernel=3 pad=1 groups=2 bias=0.1 init=0.3\n"
	"relu\n"
	"lrn size=3 alpha=0.1 beta=0.75 k=1\n"
	"pool size=3 stride=2\n"
	"fc out=8 bias=0.1 init=0.2\n"
	"relu\n"
	"dropout p=0.3\n"
	"fc out=classes init=0.3\n"
	"softmax\n";

enum { TINY_N = 3, TINY_SEED = 5, TINY_STEP = 7 };

static void tiny_data(const Spec *s, double *x, int32_t *labels)
{
	size_t count = (size_t)(TINY_N * dims_count(s->layers[0].out));
	for (size_t i = 0; i < count; i++)
		x[i] = 2.0 * rng_uniform(TINY_SEED, RNG_STREAM(RNG_TEST, 9), i) - 1.0;
	for (int i = 0; i < TINY_N; i++)
		labels[i] = i % s->classes;
}

/* The reference twin's gradients against central differences of its own loss, in double,
 * skipping the parameters whose +-h runs cross a kink. */
START_TEST(reference_gradients_match_finite_differences)
{
	Spec *s = spec_parse(tiny_spec, "tiny", 3);
	ck_assert_ptr_nonnull(s);
	RefNet *r = refnet_create(s, TINY_N, TINY_SEED, TINY_STEP);
	double *x = xcalloc((size_t)(TINY_N * dims_count(s->layers[0].out)), sizeof *x);
	int32_t labels[TINY_N];
	tiny_data(s, x, labels);
	for (int t = 0; t < s->nparams; t++) {
		const SpecParam *p = &s->params[t];
		float std = s->layers[p->layer].init, b = s->layers[p->layer].bias;
		for (int64_t e = 0; e < p->count; e++)
			r->params[p->offset + e] =
				p->is_bias ? b : std * rng_normal(TINY_SEED, RNG_STREAM(RNG_INIT, t), (uint64_t)e);
	}
	refnet_forward(r, x, labels);
	uint64_t kinks = refnet_kinks(r, 1);
	refnet_backward(r, labels);
	const double h = 1e-5;
	int checked = 0, skipped = 0;
	double worst = 0;
	for (int t = 0; t < s->nparams; t++) {
		const SpecParam *p = &s->params[t];
		for (int64_t e = 0; e < p->count; e++) {
			double *w = &r->params[p->offset + e], w0 = *w;
			*w = w0 + h;
			double lp = refnet_forward(r, x, labels);
			int crossed = refnet_kinks(r, 1) != kinks;
			*w = w0 - h;
			double lm = refnet_forward(r, x, labels);
			crossed |= refnet_kinks(r, 1) != kinks;
			*w = w0;
			if (crossed) {
				skipped++;
				continue;
			}
			double fd = (lp - lm) / (2 * h), a = r->grads[p->offset + e];
			/* central differences in double: truncation h^2 f''' and rounding 1e-16 / h
			 * are both far below 1e-5 of the gradient's scale */
			double err = fabs(a - fd) / (fmax(fabs(a), fabs(fd)) + 1e-6);
			worst = fmax(worst, err);
			ck_assert_msg(err < 1e-5, "%s[%lld]: analytic %.12g, finite difference %.12g", p->name,
				      (long long)e, a, fd);
			checked++;
		}
	}
	printf("  finite differences: %d parameters checked, %d skipped at kinks, worst relative error %.2g\n",
	       checked, skipped, worst);
	ck_assert_int_gt(checked, (int)(0.9 * (double)s->param_count));
	free(x);
	refnet_free(r);
	spec_free(s);
}
END_TEST

/* The float network's gradients (the backend through net.c: fused ReLUs, in-place dropout,
 * no dL/dx at the first layer) against the double twin's. */
START_TEST(net_gradients_match_reference)
{
	Spec *s = spec_parse(tiny_spec, "tiny", 3);
	RefNet *r = refnet_create(s, TINY_N, TINY_SEED, TINY_STEP);
	size_t nx = (size_t)(TINY_N * dims_count(s->layers[0].out));
	double *x = xcalloc(nx, sizeof *x);
	int32_t labels[TINY_N];
	tiny_data(s, x, labels);
	Ctx *ctx = open_cpu(0);
	Net *net = net_create(ctx, s, TINY_N, NET_TRAIN);
	NetInit init = { .seed = TINY_SEED };
	ck_assert_int_eq(net_init(net, &init), 0);
	float *w = download(net, net_param_buffer(net), (size_t)s->param_floats);
	for (int64_t e = 0; e < s->param_floats; e++)
		r->params[e] = w[e];
	float *xf = xmallocarray(nx, sizeof *xf);
	for (size_t i = 0; i < nx; i++) {
		xf[i] = (float)x[i];
		x[i] = xf[i];
	}
	ck_assert_int_eq(ctx_upload(ctx, net_input(net), xf, nx * sizeof *xf), 0);
	ck_assert_int_eq(net_set_labels(net, labels, TINY_N), 0);

	double want = refnet_forward(r, x, labels);
	refnet_backward(r, labels);
	ck_assert_int_eq(net_forward(net, TINY_N, NET_TRAIN, TINY_STEP), 0);
	double loss = net_loss(net_probs(net), labels, TINY_N, s->classes);
	ck_assert_double_eq_tol(loss, want, 1e-6 * want);
	ck_assert_int_eq(net_backward(net), 0);
	size_t bad = 0;
	for (int t = 0; t < s->nparams; t++) {
		const SpecParam *p = &s->params[t];
		float *got = download(net, net_grad(net, t), (size_t)p->count);
		double m = 0;
		for (int64_t e = 0; e < p->count; e++)
			m = fmax(m, fabs(r->grads[p->offset + e]));
		/* float32 through 5 layers of sums of at most 96 terms: 1e-5 relative is rounding */
		bad += compare_doubles(p->name, got, r->grads + p->offset, (size_t)p->count, 1e-5 * m, 1e-4);
		free(got);
	}
	ck_assert_uint_eq(bad, 0);
	free(w);
	free(xf);
	free(x);
	net_free(net);
	ctx_close(ctx);
	refnet_free(r);
	spec_free(s);
}
END_TEST

/* The reference made to take other sides of its kinks than its own: the outputs follow, and
 * the units are counted. */
START_TEST(reference_follows_given_kinks)
{
	Spec *s = spec_parse(tiny_spec, "tiny", 3);
	RefNet *r = refnet_create(s, TINY_N, TINY_SEED, TINY_STEP);
	double *x = xcalloc((size_t)(TINY_N * dims_count(s->layers[0].out)), sizeof *x);
	int32_t labels[TINY_N];
	tiny_data(s, x, labels);
	for (int64_t e = 0; e < s->param_floats; e++)
		r->params[e] = 0.3 * rng_normal(TINY_SEED, RNG_STREAM(RNG_TEST, 3), (uint64_t)e);
	refnet_forward(r, x, labels);
	/* layer 2 is the first relu, 4 the pooling: flip one ReLU side and move one winner */
	ck_assert_int_eq(s->layers[2].type, LAYER_RELU);
	ck_assert_int_eq(s->layers[4].type, LAYER_POOL);
	size_t nr = (size_t)(TINY_N * dims_count(s->layers[2].out)), np = (size_t)(TINY_N * dims_count(s->layers[4].out));
	uint8_t *keep = xmallocarray(nr, 1);
	int32_t *take = xmallocarray(np, sizeof *take);
	for (size_t e = 0; e < nr; e++)
		keep[e] = r->act[1][e] > 0;
	memcpy(take, r->argmax[4], np * sizeof *take);
	size_t flip = 0;
	while (r->act[1][flip] <= 0)
		flip++;
	keep[flip] = 0;
	int W = s->layers[4].in.w;
	take[0] = take[0] == 0 ? W + 1 : 0; /* both in window 0 of a 3x3 pool */
	const uint8_t *keeps[16] = { 0 };
	const int32_t *takes[16] = { 0 };
	keeps[2] = keep;
	takes[4] = take;
	refnet_follow(r, keeps, takes);
	refnet_forward(r, x, labels);
	ck_assert_int_eq(r->differ[2], 1);
	ck_assert_int_eq(r->differ[4], 1);
	ck_assert_double_eq(r->act[2][flip], 0);
	ck_assert_int_eq(r->argmax[4][0], take[0]);
	ck_assert_double_eq(r->act[4][0], r->act[3][take[0]]);
	/* a winner outside its window is counted but not taken */
	take[0] = 4 * W;
	refnet_forward(r, x, labels);
	ck_assert_int_eq(r->differ[4], 1);
	ck_assert_int_ne(r->argmax[4][0], take[0]);
	free(keep);
	free(take);
	free(x);
	refnet_free(r);
	spec_free(s);
}
END_TEST

/* anet-train --check-grads on the CPU: the tiny net agrees; a backend computing another network
 * (the reference's LRN alpha differs) does not. */
START_TEST(grad_check_agrees_and_catches_a_difference)
{
	Spec *s = spec_parse(tiny_spec, "tiny", 3);
	Ctx *ctx = open_cpu(2);
	Net *net = net_create(ctx, s, TINY_N, NET_TRAIN);
	NetInit init = { .seed = TINY_SEED };
	ck_assert_int_eq(net_init(net, &init), 0);
	GradCheckOptions o = { .batch = TINY_N, .seed = 9, .quiet = 1 };
	GradCheckResult r;
	FILE *out = tmpfile();
	ck_assert_int_eq(grad_check(net, &o, &r, out), 0);
	ck_assert_int_eq(r.failed, 0);
	ck_assert_int_eq(r.tensors, s->nparams);
	ck_assert(r.worst_backend < 1e-5 && r.worst_fd < 1e-7);
	ck_assert_double_eq_tol(r.loss, r.loss_ref, 1e-6 * r.loss_ref);

	char *other_text = xstrdup(tiny_spec);
	char *alpha = strstr(other_text, "alpha=0.1");
	memcpy(alpha, "alpha=0.2", 9);
	Spec *other = spec_parse(other_text, "other", 3);
	o.reference = other;
	ck_assert_int_eq(grad_check(net, &o, &r, out), 0);
	/* conv1's two tensors lie below the LRN; the loss's probabilities differ too */
	ck_assert_int_ge(r.failed, 3);
	ck_assert(r.worst_backend > 1e-3);
	rewind(out);
	char line[256];
	int disagree = 0;
	while (fgets(line, sizeof line, out))
		disagree += strncmp(line, "gradients DISAGREE", 18) == 0;
	ck_assert_int_eq(disagree, 1);
	fclose(out);
	spec_free(other);
	free(other_text);
	net_free(net);
	ctx_close(ctx);
	spec_free(s);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the driver's own promises */

static Spec *small_spec(void)
{
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, "tests/ref/small.antf", TF_FEATURES), 0);
	Spec *s = net_read_spec(&tf);
	tensorfile_close(&tf);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* A few training steps from a seed; returns the parameters (host copy). */
static float *train_a_little(Ctx *ctx, const Spec *s, int steps)
{
	Net *net = net_create(ctx, s, 4, NET_TRAIN);
	NetInit init = { .seed = 42 };
	ck_assert_int_eq(net_init(net, &init), 0);
	upload_input(net, 4, 42, 20.0f);
	int32_t labels[4] = { 3, 1, 4, 1 };
	ck_assert_int_eq(net_set_labels(net, labels, 4), 0);
	for (int i = 0; i < steps; i++)
		ck_assert_int_eq(net_train_step(net, 4, (uint64_t)i, 0.01f, NULL, NULL), 0);
	float *w = download(net, net_param_buffer(net), (size_t)s->param_floats);
	net_free(net);
	return w;
}

/* The same seed and thread count give the same weights, bit for bit. */
/* A probability that underflowed counts as the smallest float's; a NaN one (a diverged
 * network) keeps the loss NaN, which stops a training run at once. */
START_TEST(loss_of_underflow_and_nan)
{
	float probs[2 * 3] = { 0.25f, 0.5f, 0.25f, 0, 1, 0 };
	int32_t labels[2] = { 1, 2 };
	ck_assert_double_eq_tol(net_loss(probs, labels, 2, 3), (log(2.0) - log((double)FLT_TRUE_MIN)) / 2, 1e-12);
	float nan[2 * 3] = { 0.25f, 0.5f, 0.25f, NAN, NAN, NAN };
	ck_assert(isnan(net_loss(nan, labels, 2, 3)));
}
END_TEST

START_TEST(training_is_deterministic)
{
	Spec *s = small_spec();
	Ctx *ctx = open_cpu(2);
	float *a = train_a_little(ctx, s, 3), *b = train_a_little(ctx, s, 3);
	ck_assert_int_eq(memcmp(a, b, (size_t)s->param_floats * sizeof *a), 0);
	/* and the steps did something */
	float *c = train_a_little(ctx, s, 0);
	ck_assert_int_ne(memcmp(a, c, (size_t)s->param_floats * sizeof *a), 0);
	free(a);
	free(b);
	free(c);
	ctx_close(ctx);
	spec_free(s);
}
END_TEST

/* The initial weights do not depend on the thread count (each draw is a function of the
 * element index alone). */
START_TEST(init_is_thread_independent)
{
	Spec *s = small_spec();
	Ctx *c1 = open_cpu(1), *c2 = open_cpu(2);
	float *a = train_a_little(c1, s, 0), *b = train_a_little(c2, s, 0);
	ck_assert_int_eq(memcmp(a, b, (size_t)s->param_floats * sizeof *a), 0);
	free(a);
	free(b);
	ctx_close(c1);
	ctx_close(c2);
	spec_free(s);
}
END_TEST

/* --bias-init: the biases the spec makes non-zero start at the override, the others stay 0,
 * and the weights do not change. */
START_TEST(bias_override)
{
	Spec *s = small_spec();
	Ctx *ctx = open_cpu(0);
	Net *a = net_create(ctx, s, 1, NET_EVAL), *b = net_create(ctx, s, 1, NET_EVAL);
	NetInit paper = { .seed = 3 }, caffe = { .seed = 3, .override_bias = 1, .bias = 0.1f };
	ck_assert_int_eq(net_init(a, &paper), 0);
	ck_assert_int_eq(net_init(b, &caffe), 0);
	for (int t = 0; t < s->nparams; t++) {
		const SpecParam *p = &s->params[t];
		float *x = download(a, net_param(a, t), (size_t)p->count), *y = download(b, net_param(b, t), (size_t)p->count);
		float spec_bias = s->layers[p->layer].bias;
		if (!p->is_bias)
			ck_assert_int_eq(memcmp(x, y, (size_t)p->count * sizeof *x), 0);
		else
			for (int64_t e = 0; e < p->count; e++) {
				ck_assert_float_eq(x[e], spec_bias);
				ck_assert_float_eq(y[e], spec_bias != 0 ? 0.1f : 0.0f);
			}
		free(x);
		free(y);
	}
	net_free(a);
	net_free(b);
	ctx_close(ctx);
	spec_free(s);
}
END_TEST

/* A backend that counts what the driver asks of it. */
static const Backend *real_be;
static int n_alloc, n_upload, n_download, n_conv_bdata, n_fc_bdata, n_relu;

static void *count_alloc(Ctx *c, size_t b)
{
	n_alloc++;
	return real_be->alloc(c, b);
}
static void *count_host_alloc(Ctx *c, size_t b)
{
	n_alloc++;
	return real_be->host_alloc(c, b);
}
static int count_upload(Ctx *c, void *d, const void *s, size_t n)
{
	n_upload++;
	return real_be->upload(c, d, s, n);
}
static int count_download(Ctx *c, void *d, const void *s, size_t n)
{
	n_download++;
	return real_be->download(c, d, s, n);
}
static int count_conv_bdata(Ctx *c, const ConvShape *s, const float *dy, const float *w, float *dx)
{
	n_conv_bdata++;
	return real_be->conv_backward_data(c, s, dy, w, dx);
}
static int count_fc_bdata(Ctx *c, int N, int I, int O, const float *dy, const float *w, float *dx)
{
	n_fc_bdata++;
	return real_be->fc_backward_data(c, N, I, O, dy, w, dx);
}
static int count_relu(Ctx *c, size_t n, const float *x, float *y)
{
	n_relu++;
	return real_be->relu_forward(c, n, x, y);
}

/* A training step allocates nothing, moves one download (the probabilities), uses the fused
 * ReLUs, and computes no dL/dx for conv1. */
START_TEST(step_allocates_nothing)
{
	Spec *s = small_spec();
	Ctx *ctx = open_cpu(0);
	real_be = ctx->be;
	Backend counting = *real_be;
	counting.alloc = count_alloc;
	counting.host_alloc = count_host_alloc;
	counting.upload = count_upload;
	counting.download = count_download;
	counting.conv_backward_data = count_conv_bdata;
	counting.fc_backward_data = count_fc_bdata;
	counting.relu_forward = count_relu;
	ctx->be = &counting;
	Net *net = net_create(ctx, s, 4, NET_TRAIN);
	NetInit init = { .seed = 1 };
	ck_assert_int_eq(net_init(net, &init), 0);
	upload_input(net, 4, 1, 20.0f);
	int32_t labels[4] = { 0, 1, 2, 3 };
	ck_assert_int_eq(net_set_labels(net, labels, 4), 0);
	n_alloc = n_upload = n_download = n_conv_bdata = n_fc_bdata = n_relu = 0;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(net_train_step(net, 4, (uint64_t)i, 0.01f, labels, NULL), 0);
	ck_assert_int_eq(n_alloc, 0);
	ck_assert_int_eq(n_upload, 0);
	ck_assert_int_eq(n_download, 3);
	ck_assert_int_eq(n_conv_bdata, 3 * 4); /* conv2..conv5, not conv1 */
	ck_assert_int_eq(n_fc_bdata, 3 * 3);
	ck_assert_int_eq(n_relu, 0);           /* every relu is fused into its conv or fc */
	net_free(net);
	ctx->be = real_be;
	ctx_close(ctx);
	spec_free(s);
}
END_TEST

static Net *trained_net(Ctx *ctx, const Spec *s)
{
	Net *net = net_create(ctx, s, 4, NET_TRAIN);
	NetInit init = { .seed = 9 };
	ck_assert_int_eq(net_init(net, &init), 0);
	upload_input(net, 4, 9, 20.0f);
	int32_t labels[4] = { 0, 1, 2, 3 };
	ck_assert_int_eq(net_set_labels(net, labels, 4), 0);
	ck_assert_int_eq(net_train_step(net, 4, 0, 0.01f, NULL, NULL), 0);
	return net;
}

/* A model holds the spec and every parameter under its documented name; loading it gives
 * the same network bit for bit, and a checkpoint adds the momentum. */
START_TEST(weights_round_trip)
{
	Spec *s = small_spec();
	Ctx *ctx = open_cpu(0);
	Net *net = trained_net(ctx, s);
	char *dir = make_temp_dir("net");
	char *model = xasprintf("%s/m.anw", dir), *ckpt = xasprintf("%s/c.anw", dir);
	ck_assert_int_eq(net_save(net, model), 0);

	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, model, TF_MODEL), 0);
	char *text = tensorfile_read_text(&tf, "spec");
	ck_assert_str_eq(text, s->text);
	free(text);
	const TensorEntry *e = tensorfile_find(&tf, "conv2.weight");
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq((int)e->ndim, 4);
	ck_assert_int_eq((int)e->dims[1], 12 / 2); /* groups=2: half of conv1's 12 maps */
	ck_assert_ptr_nonnull(tensorfile_find(&tf, "fc8.bias"));
	ck_assert_uint_eq(tf.count, 2 + 16);
	tensorfile_close(&tf);

	Spec *s2;
	Net *back = net_load(ctx, model, 2, NET_EVAL, &s2);
	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(s2->classes, s->classes);
	float *a = download(net, net_param_buffer(net), (size_t)s->param_floats);
	float *b = download(back, net_param_buffer(back), (size_t)s->param_floats);
	ck_assert_int_eq(memcmp(a, b, (size_t)s->param_floats * sizeof *a), 0);
	net_free(back);
	spec_free(s2);

	TensorWriter w;
	ck_assert_int_eq(tensorwriter_open(&w, ckpt, TF_CHECKPOINT), 0);
	ck_assert_int_eq(net_write(net, &w), 0);
	ck_assert_int_eq(net_write_momentum(net, &w), 0);
	ck_assert_int_eq(tensorwriter_add_i64(&w, "step", 1), 0);
	ck_assert_int_eq(tensorwriter_commit(&w), 0);
	ck_assert_int_eq(tensorfile_open(&tf, ckpt, TF_CHECKPOINT), 0);
	Net *resumed = net_create(ctx, s, 4, NET_TRAIN);
	ck_assert_int_eq(net_read(resumed, &tf), 0);
	ck_assert_int_eq(net_read_momentum(resumed, &tf), 0);
	tensorfile_close(&tf);
	float *va = download(net, net_momentum_buffer(net), (size_t)s->param_floats);
	float *vb = download(resumed, net_momentum_buffer(resumed), (size_t)s->param_floats);
	ck_assert_int_eq(memcmp(va, vb, (size_t)s->param_floats * sizeof *va), 0);
	ck_assert_double_ne(max_abs(va, (size_t)s->param_floats), 0); /* one step made momentum */

	free(a);
	free(b);
	free(va);
	free(vb);
	net_free(resumed);
	net_free(net);
	remove_tree(dir);
	free(dir);
	free(model);
	free(ckpt);
	ctx_close(ctx);
	spec_free(s);
}
END_TEST

/* Loading checks names, shapes and the container, naming the file and the tensor. */
START_TEST(weights_errors)
{
	Spec *s = small_spec();
	Ctx *ctx = open_cpu(0);
	Net *net = trained_net(ctx, s);
	char *dir = make_temp_dir("net");
	char *model = xasprintf("%s/m.anw", dir), *cut = xasprintf("%s/cut.anw", dir);
	char *stats = xasprintf("%s/s.stats", dir);
	ck_assert_int_eq(net_save(net, model), 0);

	/* a network whose conv3 is narrower */
	char *text = xstrdup(s->text), *p = strstr(text, "name=conv3 out=48");
	ck_assert_ptr_nonnull(p);
	memcpy(p, "name=conv3 out=40", 17);
	Spec *other = spec_parse(text, "other", s->classes);
	ck_assert_ptr_nonnull(other);
	Net *o = net_create(ctx, other, 1, NET_EVAL);
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, model, TF_MODEL), 0);
	Capture c = capture_begin();
	ck_assert_int_eq(net_read(o, &tf), -1);
	char *msgs = capture_end(c);
	ASSERT_MSG(msgs, "m.anw: tensor conv3.weight: shape 48x32x3x3, expected 40x32x3x3");
	free(msgs);
	tensorfile_close(&tf);
	net_free(o);
	spec_free(other);
	free(text);

	/* truncated */
	size_t len;
	char *bytes = read_file(model, &len, 1 << 26);
	FILE *f = fopen(cut, "wb");
	fwrite(bytes, 1, len / 2, f);
	fclose(f);
	Spec *s2;
	c = capture_begin();
	ck_assert_ptr_null(net_load(ctx, cut, 1, NET_EVAL, &s2));
	msgs = capture_end(c);
	ASSERT_MSG(msgs, "cut.anw: file is");
	ASSERT_MSG(msgs, "truncated");
	free(msgs);
	free(bytes);

	/* another kind of tensor file */
	TensorWriter w;
	ck_assert_int_eq(tensorwriter_open(&w, stats, TF_STATS), 0);
	ck_assert_int_eq(tensorwriter_add_i64(&w, "count", 1), 0);
	ck_assert_int_eq(tensorwriter_commit(&w), 0);
	c = capture_begin();
	ck_assert_ptr_null(net_load(ctx, stats, 1, NET_EVAL, &s2));
	msgs = capture_end(c);
	ASSERT_MSG(msgs, "s.stats: is a statistics file, expected a model or a checkpoint");
	free(msgs);

	/* labels out of range, and training calls on an evaluation net */
	int32_t bad[2] = { 0, 10 };
	c = capture_begin();
	ck_assert_int_eq(net_set_labels(net, bad, 2), -1);
	msgs = capture_end(c);
	ASSERT_MSG(msgs, "label 10 out of range (the network has 10 classes)");
	free(msgs);
	Net *ev = net_create(ctx, s, 1, NET_EVAL);
	ck_assert_ptr_null(net_grad(ev, 0));
	upload_input(ev, 1, 1, 1.0f);
	ck_assert_int_eq(net_forward(ev, 1, NET_EVAL, 0), 0);
	c = capture_begin();
	ck_assert_int_eq(net_backward(ev), -1);
	ck_assert_int_eq(net_forward(ev, 2, NET_EVAL, 0), -1);
	msgs = capture_end(c);
	ASSERT_MSG(msgs, "backward pass: the network was set up for evaluation only");
	ASSERT_MSG(msgs, "batch of 2 images: the network was made for 1 to 1");
	free(msgs);
	net_free(ev);

	net_free(net);
	remove_tree(dir);
	free(dir);
	free(model);
	free(cut);
	free(stats);
	ctx_close(ctx);
	spec_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("net");
	TCase *t = tcase_create("pytorch");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, small_net_matches_pytorch);
	tcase_add_test(t, alexnet_matches_pytorch);
	suite_add_tcase(s, t);
	t = tcase_create("gradients");
	tcase_add_test(t, reference_gradients_match_finite_differences);
	tcase_add_test(t, net_gradients_match_reference);
	tcase_add_test(t, reference_follows_given_kinks);
	tcase_add_test(t, grad_check_agrees_and_catches_a_difference);
	suite_add_tcase(s, t);
	t = tcase_create("driver");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, loss_of_underflow_and_nan);
	tcase_add_test(t, training_is_deterministic);
	tcase_add_test(t, init_is_thread_independent);
	tcase_add_test(t, bias_override);
	tcase_add_test(t, step_allocates_nothing);
	tcase_add_test(t, weights_round_trip);
	tcase_add_test(t, weights_errors);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	set_progname("check_net");
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
