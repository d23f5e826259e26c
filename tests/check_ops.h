/* check_ops.h: helpers shared by the kernel suites (check_ops.c, check_ops_layers.c).
 *
 * The suites run each op through a backend's table on random inputs and compare it with the
 * double-precision reference (kernels/ref), and check the reference's gradients against
 * central finite differences of its own forward pass. Buffers go through ctx_alloc and
 * upload/download, so the same helpers serve any backend.
 */
#ifndef ANET_CHECK_OPS_H
#define ANET_CHECK_OPS_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

/* Float rounding unit: float results are compared with tolerances in units of this. */
#define U_FLOAT (1.0 / 16777216.0)

static inline Ctx *open_cpu(int threads)
{
	CtxOptions o = { .device = "cpu", .threads = threads };
	char err[512];
	Ctx *ctx = ctx_open(&o, err, sizeof err, NULL, 0);
	ck_assert_msg(ctx != NULL, "cannot open the CPU backend: %s", err);
	return ctx;
}

/* n random floats in [lo, hi) on the host; the same tag gives the same numbers. */
static inline float *rand_floats(size_t n, uint64_t tag, float lo, float hi)
{
	float *x = xmallocarray(n ? n : 1, sizeof *x);
	fill_uniform(x, n, tag, lo, hi);
	return x;
}

static inline double *to_double(const float *x, size_t n)
{
	double *d = xmallocarray(n ? n : 1, sizeof *d);
	for (size_t i = 0; i < n; i++)
		d[i] = x[i];
	return d;
}

static inline double *zeros_double(size_t n) { return xcalloc(n ? n : 1, sizeof(double)); }

/* A device copy of n host floats (NULL host: uninitialised). */
static inline float *dev_floats(Ctx *ctx, const float *host, size_t n)
{
	float *d = ctx_alloc(ctx, (n ? n : 1) * sizeof(float));
	ck_assert_msg(d != NULL, "%s", ctx_error(ctx));
	if (host)
		ck_assert_int_eq(ctx_upload(ctx, d, host, n * sizeof(float)), 0);
	return d;
}

/* A fresh host copy of n device floats. */
static inline float *host_floats(Ctx *ctx, const float *dev, size_t n)
{
	float *h = xmallocarray(n ? n : 1, sizeof *h);
	ck_assert_int_eq(ctx_download(ctx, h, dev, n * sizeof(float)), 0);
	return h;
}

/* A scalar loss of the reference forward pass, as a function of the arrays in env. */
typedef double (*LossFn)(void *env);

/* Compares analytic[i] with the central difference (L(p+h) - L(p-h)) / 2h of loss() in
 * param[i], for up to `samples` indices spread over [0, n) and not marked in skip (may be
 * NULL). In double with h = 1e-5 the truncation error is ~h^2 |L'''| ~ 1e-10 and the
 * rounding error ~1e-16 |L| / h ~ 1e-10, so 1e-6 of max(1, |analytic|) is ample and still
 * catches any wrong term. Returns the number of mismatches. */
static inline size_t check_gradient(const char *what, LossFn loss, void *env, double *param, size_t n,
				    const double *analytic, const unsigned char *skip, size_t samples)
{
	const double h = 1e-5;
	size_t bad = 0, tested = 0, step = n > samples ? n / samples : 1;
	double worst = 0;
	for (size_t i = step / 2; i < n; i += step) {
		if (skip && skip[i])
			continue;
		double keep = param[i];
		param[i] = keep + h;
		double up = loss(env);
		param[i] = keep - h;
		double down = loss(env);
		param[i] = keep;
		double num = (up - down) / (2 * h), err = fabs(num - analytic[i]);
		double tol = 1e-6 * fmax(1.0, fmax(fabs(num), fabs(analytic[i])));
		worst = fmax(worst, err / tol);
		tested++;
		if (err > tol && bad++ < 5)
			fprintf(stderr, "  %s[%zu]: analytic %.10g, numeric %.10g\n", what, i, analytic[i], num);
	}
	fprintf(stderr, "  %-28s %zu of %zu checked by finite differences, tolerance used %5.1f%%%s\n", what, tested,
		n, 100 * worst, bad ? "  FAILED" : "");
	ck_assert_msg(tested > 0, "%s: every sampled element was skipped", what);
	return bad;
}

static inline double dot(const double *a, const double *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

#endif
