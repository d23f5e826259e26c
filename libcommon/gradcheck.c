/* gradcheck.c: anet-train --check-grads (see gradcheck.h). */
#include "libcommon/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rng.h"
#include "libcommon/progress.h"
#include "libcommon/refnet.h"
#include "libcommon/util.h"

/* The dropout masks of this global step, as any step's. */
enum { CHECK_STEP = 0 };

double grad_check_tolerance(const Ctx *ctx)
{
	return ctx->allow_tf32 && strcmp(ctx->be->name, "cpu") != 0 ? 2e-2 : 1e-4;
}

/* The inputs in float for the net and the same numbers in double for the reference. */
static void synthetic_inputs(const Spec *s, int n, uint64_t seed, double scale, float *xf, double *x, int32_t *labels)
{
	size_t count = (size_t)n * (size_t)dims_count(s->layers[0].out);
	float k = (float)(50 * (scale > 0 ? scale : 1));
	for (size_t i = 0; i < count; i++) {
		xf[i] = k * rng_normal(seed, RNG_STREAM(RNG_TEST, 1), i);
		x[i] = xf[i];
	}
	for (int i = 0; i < n; i++)
		labels[i] = (int32_t)rng_below(seed, RNG_STREAM(RNG_TEST, 2), (uint64_t)i, (uint32_t)s->classes);
}

/* The sides of the kinks the backend's forward pass took: keep[i] for each ReLU layer (its
 * output is positive where the input passed; a fused ReLU's is its conv's, an in-place
 * dropout after it zeroes units whose gradient is zero either way), take[i] for each pooling
 * layer. */
static int backend_kinks(Net *net, int n, uint8_t **keep, int32_t **take)
{
	Ctx *c = net_ctx(net);
	const Spec *s = net_spec(net);
	for (int i = 1; i < s->nlayers; i++) {
		const SpecLayer *l = &s->layers[i];
		size_t count = (size_t)n * (size_t)dims_count(l->out);
		if (l->type == LAYER_RELU) {
			float *y = xmallocarray(count, sizeof *y);
			int rc = ctx_download(c, y, net_output(net, l->name, NULL), count * sizeof *y);
			keep[i] = xmallocarray(count, 1);
			for (size_t e = 0; e < count && rc == 0; e++)
				keep[i][e] = y[e] > 0;
			free(y);
			if (rc != 0) {
				warn_msg("downloading %s's output: %s", l->name, ctx_error(c));
				return -1;
			}
		} else if (l->type == LAYER_POOL) {
			take[i] = xmallocarray(count, sizeof(int32_t));
			if (ctx_download(c, take[i], net_pool_argmax(net, i), count * sizeof(int32_t)) != 0) {
				warn_msg("downloading %s's winners: %s", l->name, ctx_error(c));
				return -1;
			}
		}
	}
	return 0;
}

/* The backend's pass: its loss and probabilities, the sides of its kinks, and every parameter
 * and gradient on the host. */
static int backend_pass(Net *net, int n, const float *xf, const int32_t *labels, float *params, float *grads,
			double *loss, float *out_probs, uint8_t **keep, int32_t **take)
{
	Ctx *c = net_ctx(net);
	const Spec *s = net_spec(net);
	size_t bytes = (size_t)s->param_floats * sizeof(float);
	if (ctx_upload(c, net_input(net), xf, (size_t)n * (size_t)dims_count(s->layers[0].out) * sizeof *xf) != 0) {
		warn_msg("uploading the inputs: %s", ctx_error(c));
		return -1;
	}
	if (net_set_labels(net, labels, n) != 0 || net_forward(net, n, NET_TRAIN, CHECK_STEP) != 0)
		return -1;
	const float *probs = net_probs(net);
	if (!probs)
		return -1;
	*loss = net_loss(probs, labels, n, s->classes);
	memcpy(out_probs, probs, (size_t)n * (size_t)s->classes * sizeof *probs);
	if (backend_kinks(net, n, keep, take) != 0 || net_backward(net) != 0)
		return -1;
	if (ctx_download(c, params, net_param_buffer(net), bytes) != 0 ||
	    ctx_download(c, grads, net_grad_buffer(net), bytes) != 0) {
		warn_msg("downloading the parameters and gradients: %s", ctx_error(c));
		return -1;
	}
	return 0;
}

static double norm2(const double *v, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += v[i] * v[i];
	return sqrt(s);
}

/* |g - ref| / |ref| over a tensor; 0 when both are zero, infinity when only ref is. */
static double relative_difference(const float *g, const double *ref, int64_t n)
{
	double d = 0, m = 0;
	for (int64_t i = 0; i < n; i++) {
		double e = (double)g[i] - ref[i];
		d += e * e;
		m += ref[i] * ref[i];
	}
	if (m == 0)
		return d == 0 ? 0 : INFINITY;
	return sqrt(d / m);
}

/* The reference's derivative along a random direction d of tensor t (|d| = 1), against
 * g_ref . d, as a share of |g_ref|. Its last forward pass was the unperturbed one; the passes
 * here run the layers from t's on, and the kinks' sides are the followed ones, so the loss is
 * smooth in w. h = 1e-8 L / |g_ref| makes the loss's rounding (about 1e-15 L) cost 1e-7 of
 * |g_ref|, but is capped at 1% of |w| (or of 0.01 per value, for a tensor still at zero); a
 * gradient so small that the cap binds is measured against that rounding instead (*floored
 * set), as Caffe's gradient checker floors its scale. */
static double directional_difference(RefNet *r, int t, double gn, uint64_t seed, const int32_t *labels,
				     double loss, int *floored)
{
	const SpecParam *p = &r->s->params[t];
	double *w = r->params + p->offset;
	const double *g = r->grads + p->offset;
	double *w0 = xmallocarray((size_t)p->count, sizeof *w0), *d = xmallocarray((size_t)p->count, sizeof *d);
	memcpy(w0, w, (size_t)p->count * sizeof *w0);
	for (int64_t e = 0; e < p->count; e++)
		d[e] = rng_normal(seed, RNG_STREAM(RNG_TEST, 1000 + (uint64_t)t), (uint64_t)e);
	double dn = norm2(d, p->count), gd = 0, wn = norm2(w0, p->count);
	for (int64_t e = 0; e < p->count; e++) {
		d[e] /= dn;
		gd += g[e] * d[e];
	}
	double scale = fmax(fabs(loss), 1.0);
	double h = fmin(1e-8 * scale / gn, 0.01 * fmax(wn, 0.01 * sqrt((double)p->count)));
	double denominator = fmax(gn, 1e-8 * scale / h);
	*floored = denominator > gn;
	for (int64_t e = 0; e < p->count; e++)
		w[e] = w0[e] + h * d[e];
	double lp = refnet_forward_from(r, p->layer, labels);
	for (int64_t e = 0; e < p->count; e++)
		w[e] = w0[e] - h * d[e];
	double lm = refnet_forward_from(r, p->layer, labels);
	memcpy(w, w0, (size_t)p->count * sizeof *w0);
	free(w0);
	free(d);
	return fabs((lp - lm) / (2 * h) - gd) / denominator;
}

static void print_row(FILE *out, const SpecParam *p, double gn, double backend, double tol, double fd, int floored)
{
	char b[32], f[32];
	if (isinf(backend))
		snprintf(b, sizeof b, "%s", "not zero FAIL");
	else
		snprintf(b, sizeof b, "%.1e%s", backend, backend > tol ? " FAIL" : "");
	if (gn == 0)
		snprintf(f, sizeof f, "%s", "zero gradient");
	else
		snprintf(f, sizeof f, "%.1e%s%s", fd, fd > GRAD_CHECK_FD_TOLERANCE ? " FAIL" : "",
			 floored ? " (rounding floor)" : "");
	fprintf(out, "%-20s %11lld %10.3e   %-16s %s\n", p->name, (long long)p->count, gn, b, f);
}

/* Both comparisons of every tensor, the last layer's first: a finite difference runs the
 * layers from its tensor's on, so the layers below it still hold the unperturbed pass. */
static void compare_tensors(RefNet *r, const float *grads, double tol, const GradCheckOptions *o,
			    const int32_t *labels, double loss, GradCheckResult *res, FILE *out)
{
	const Spec *s = r->s;
	double *backend = xcalloc((size_t)s->nparams, sizeof(double)), *fd = xcalloc((size_t)s->nparams, sizeof(double));
	double *gn = xcalloc((size_t)s->nparams, sizeof(double));
	int *floored = xcalloc((size_t)s->nparams, sizeof(int));
	Progress *pr = o->quiet ? NULL : progress_start("finite differences", (uint64_t)s->nparams, "tensors");
	for (int t = s->nparams - 1; t >= 0; t--) {
		const SpecParam *p = &s->params[t];
		backend[t] = relative_difference(grads + p->offset, r->grads + p->offset, p->count);
		gn[t] = norm2(r->grads + p->offset, p->count);
		if (gn[t] > 0)
			fd[t] = directional_difference(r, t, gn[t], o->seed, labels, loss, &floored[t]);
		if (pr)
			progress_update(pr, (uint64_t)(s->nparams - t), p->name);
	}
	if (pr)
		progress_end(pr, (uint64_t)s->nparams, NULL);
	fprintf(out, "\n%-20s %11s %10s   %-16s %s\n", "tensor", "values", "|gradient|", "vs reference",
		"finite differences");
	for (int t = 0; t < s->nparams; t++) {
		print_row(out, &s->params[t], gn[t], backend[t], tol, fd[t], floored[t]);
		res->tensors++;
		res->worst_backend = fmax(res->worst_backend, backend[t]);
		res->failed += !(backend[t] <= tol);
		if (gn[t] == 0) {
			res->unchecked++;
			continue;
		}
		res->worst_fd = fmax(res->worst_fd, fd[t]);
		res->failed += !(fd[t] <= GRAD_CHECK_FD_TOLERANCE);
	}
	free(backend);
	free(fd);
	free(gn);
	free(floored);
}

/* How many ReLU inputs and pooling windows the backend's float pass put on the other side of
 * a kink than double precision does (differ: the unperturbed pass's counts per layer). A
 * handful in a million is rounding near the kink; more than 2, and more than 1 in per (1000
 * in FP32, 100 with TF32), of either is a backend that decides differently. TF32's 10-bit mantissa moves a
 * value by about 1e-3 of its size, which puts about that share of a layer's inputs within
 * reach of zero: 1 in 100 leaves it the same margin. */
static int report_kinks(const RefNet *r, const int64_t *differ_at, int per, FILE *out)
{
	const Spec *s = r->s;
	int64_t units[2] = { 0, 0 }, differ[2] = { 0, 0 };
	for (int i = 1; i < s->nlayers; i++) {
		int kind = s->layers[i].type == LAYER_RELU ? 0 : s->layers[i].type == LAYER_POOL ? 1 : -1;
		if (kind < 0)
			continue;
		units[kind] += (int64_t)r->n * dims_count(s->layers[i].out);
		differ[kind] += differ_at[i];
	}
	fprintf(out, "kinks: the backend's float pass took the other side at %lld of %lld ReLU inputs and %lld of %lld "
		     "pooling windows (the reference follows it there)\n",
		(long long)differ[0], (long long)units[0], (long long)differ[1], (long long)units[1]);
	int bad = 0;
	for (int k = 0; k < 2; k++)
		if (differ[k] > 2 && differ[k] > (double)units[k] / per) {
			fprintf(out, "  FAIL: more than 1 in %d of the %s: the backend decides them otherwise\n", per,
				k ? "pooling windows" : "ReLU inputs");
			bad++;
		}
	return bad;
}

static void free_kinks(const Spec *s, uint8_t **keep, int32_t **take)
{
	for (int i = 0; i < s->nlayers; i++) {
		free(keep[i]);
		free(take[i]);
	}
	free(keep);
	free(take);
}

int grad_check(Net *net, const GradCheckOptions *o, GradCheckResult *res, FILE *out)
{
	Ctx *c = net_ctx(net);
	const Spec *s = net_spec(net), *rs = o->reference ? o->reference : s;
	int n = o->batch;
	*res = (GradCheckResult){ 0 };
	int same = rs->param_floats == s->param_floats && rs->nlayers == s->nlayers && rs->classes == s->classes;
	for (int i = 0; same && i < s->nlayers; i++)
		same = rs->layers[i].type == s->layers[i].type && dims_count(rs->layers[i].out) == dims_count(s->layers[i].out);
	if (!same) {
		warn_msg("%s: the reference's specification (%s) has another shape", s->source, rs->source);
		return -1;
	}
	double tol = grad_check_tolerance(c);
	fprintf(out, "checking the gradients of %s on %s: %d images of 50 N(0,1) x %g, seed %llu\n", s->source,
		c->be->describe(c), n, o->input_scale > 0 ? o->input_scale : 1.0, (unsigned long long)o->seed);
	fprintf(out, "against the same network in double precision (kernels/ref), relative tolerance %.0e%s;\n", tol,
		tol > 1e-4 ? " (GEMMs in TF32)" : "");
	fprintf(out, "the reference against central differences along a random direction, tolerance %.0e\n",
		GRAD_CHECK_FD_TOLERANCE);
	fflush(out);

	size_t nx = (size_t)n * (size_t)dims_count(s->layers[0].out), np = (size_t)n * (size_t)s->classes;
	float *xf = xmallocarray(nx, sizeof *xf), *probs = xmallocarray(np, sizeof *probs);
	double *x = xmallocarray(nx, sizeof *x);
	int32_t *labels = xmallocarray((size_t)n, sizeof *labels);
	float *params = xmallocarray((size_t)s->param_floats, sizeof *params);
	float *grads = xmallocarray((size_t)s->param_floats, sizeof *grads);
	uint8_t **keep = xcalloc((size_t)s->nlayers, sizeof *keep);
	int32_t **take = xcalloc((size_t)s->nlayers, sizeof *take);
	synthetic_inputs(s, n, o->seed, o->input_scale, xf, x, labels);
	int rc = backend_pass(net, n, xf, labels, params, grads, &res->loss, probs, keep, take);
	if (rc == 0) {
		RefNet *r = refnet_create(rs, n, net_seed(net), CHECK_STEP);
		for (int64_t e = 0; e < s->param_floats; e++)
			r->params[e] = params[e];
		refnet_follow(r, (const uint8_t *const *)keep, (const int32_t *const *)take);
		if (!o->quiet)
			fprintf(stderr, "%s: the reference's forward and backward pass (plain loops in double)\n", progname());
		double t0 = now_seconds();
		res->loss_ref = refnet_forward(r, x, labels);
		double dp = relative_difference(probs, r->act[s->nlayers - 1], (int64_t)np);
		int64_t *differ = xmallocarray((size_t)s->nlayers, sizeof *differ); /* the finite differences' passes reset it */
		memcpy(differ, r->differ, (size_t)s->nlayers * sizeof *differ);
		refnet_backward(r, labels);
		if (!o->quiet)
			fprintf(stderr, "%s: took %.1f s\n", progname(), now_seconds() - t0);
		compare_tensors(r, grads, tol, o, labels, res->loss_ref, res, out);
		fprintf(out, "\nloss: %.9g on %s, %.9g in double; the probabilities differ by %.1e%s\n", res->loss,
			c->be->name, res->loss_ref, dp, dp > tol ? " FAIL" : "");
		res->failed += !(dp <= tol) + report_kinks(r, differ, tol > 1e-4 ? 100 : 1000, out);
		free(differ);
		refnet_free(r);
		if (res->failed)
			fprintf(out, "gradients DISAGREE: %d failure%s (marked FAIL above)\n", res->failed,
				res->failed == 1 ? "" : "s");
		else if (res->unchecked)
			fprintf(out, "gradients agree: %d tensors, worst %.1e against the reference and %.1e against "
				     "finite differences (%d without: a zero gradient)\n",
				res->tensors, res->worst_backend, res->worst_fd, res->unchecked);
		else
			fprintf(out, "gradients agree: %d tensors, worst %.1e against the reference and %.1e against "
				     "finite differences\n",
				res->tensors, res->worst_backend, res->worst_fd);
	}
	free_kinks(s, keep, take);
	free(xf);
	free(probs);
	free(x);
	free(labels);
	free(params);
	free(grads);
	return rc;
}
