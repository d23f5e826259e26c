/* lrn.c: local response normalisation across channels (§3.3), forward and backward.
 *
 *   scale[c] = k + alpha * sum_{c' in win(c)} x[c']^2,  win(c) = [c - size/2, c + size/2] ∩ [0, C)
 *   y[c]     = x[c] * scale[c]^-beta
 *   dx[c]    = dy[c] * scale[c]^-beta - 2 alpha beta x[c] sum_{c' in win(c)} dy[c'] y[c'] / scale[c']
 * (the window is symmetric, so c' in win(c) exactly when c in win(c')). alpha multiplies the
 * raw sum, as in the paper; k=2, size=5, alpha=1e-4, beta=0.75 there.
 *
 * Speed: PyTorch spends a quarter of AlexNet's inference in LRN, mostly in pow(). Here the
 * work is split into (image, run of BLOCK pixels) items; inside one, channels go in order so
 * the window's rows stay in L1, and every loop runs along contiguous pixels so it vectorises
 * (compiled for AVX-512 and AVX2 as well as the baseline, picked at load time). For beta =
 * 0.75, scale^-beta = a * a * a^(-1/2) with a = scale^(-1/2), and x^(-1/2) comes from the
 * classic bit-level estimate refined by three Newton steps: plain arithmetic, so it
 * vectorises where libm's sqrtf (which may set errno) does not, and it lands within 4 ulp of
 * the exact power. Other exponents take powf. The layer is memory-bound on big planes (conv1's
 * output is 148 MB at batch 128), so the backward pass reads x, scale and dy but not y,
 * which it recomputes in passing.
 */
#include "kernels/cpu/cpu.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

enum { BLOCK = 512 }; /* pixels per item: 5 window rows of 2 KB stay in L1 */

/* s^(-1/2) for s > 0, within 2 ulp: the bit-level first guess (3.5% off) squares its error
 * with each Newton step: 3.5e-2 -> 1.8e-3 -> 4.6e-6 -> below float precision. */
static inline float rsqrt_newton(float s)
{
	uint32_t i;
	float a, h = 0.5f * s;
	memcpy(&i, &s, sizeof i);
	i = 0x5f3759dfu - (i >> 1);
	memcpy(&a, &i, sizeof a);
	a = a * (1.5f - h * a * a);
	a = a * (1.5f - h * a * a);
	a = a * (1.5f - h * a * a);
	return a;
}

/* s^-0.75 = s^-1 * s^(1/4) = a^2 * a^(-1/2), a = s^(-1/2). */
static inline float pow_m075(float s)
{
	float a = rsqrt_newton(s);
	return a * a * rsqrt_newton(a);
}

static int fast_beta(const LrnShape *s) { return s->beta == 0.75f && s->k > 0.0f && s->alpha >= 0.0f; }

static int check_shape(Ctx *ctx, const LrnShape *s)
{
	if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->size < 1)
		return CTX_FAIL(ctx, "LRN: sizes must be positive (N=%d C=%d H=%d W=%d size=%d)", s->N, s->C, s->H, s->W,
				s->size);
	if (!isfinite(s->alpha) || !isfinite(s->beta) || !isfinite(s->k))
		return CTX_FAIL(ctx, "LRN: alpha, beta and k must be finite");
	return 0;
}

/* Channels of one image, pixels [0, len) of a block starting at x (plane stride hw). */
SIMD_CLONES
static void lrn_forward_block(const LrnShape *s, size_t hw, int len, const float *x, float *y, float *scale)
{
	const int C = s->C, half = s->size / 2;
	const float alpha = s->alpha, k = s->k, beta = s->beta;
	const int fast = fast_beta(s);
	float acc[BLOCK];
	for (int c = 0; c < C; c++) {
		int lo = c - half < 0 ? 0 : c - half, hi = c + half >= C ? C - 1 : c + half;
		memset(acc, 0, sizeof(float) * (size_t)len);
		for (int c2 = lo; c2 <= hi; c2++) {
			const float *xr = x + (size_t)c2 * hw;
#pragma omp simd
			for (int j = 0; j < len; j++)
				acc[j] += xr[j] * xr[j];
		}
		const float *xc = x + (size_t)c * hw;
		float *yc = y + (size_t)c * hw, *sc = scale + (size_t)c * hw;
		if (fast) {
#pragma omp simd
			for (int j = 0; j < len; j++) {
				float v = k + alpha * acc[j];
				sc[j] = v;
				yc[j] = xc[j] * pow_m075(v);
			}
		} else {
			for (int j = 0; j < len; j++) {
				float v = k + alpha * acc[j];
				sc[j] = v;
				yc[j] = xc[j] * powf(v, -beta);
			}
		}
	}
}

/* For one channel of a block: p = scale^-beta (for dx's own term) and t = dy * y / scale,
 * computed as dy * x * p / scale so that y need not be read (one stream less of five). */
static inline __attribute__((always_inline)) void lrn_ratio_row(int len, int fast, float beta, const float *dy,
								 const float *x, const float *sc, float *t, float *p)
{
	if (fast) {
#pragma omp simd
		for (int j = 0; j < len; j++) {
			float pj = pow_m075(sc[j]);
			p[j] = pj;
			t[j] = dy[j] * x[j] * pj / sc[j];
		}
	} else {
		for (int j = 0; j < len; j++) {
			float pj = powf(sc[j], -beta);
			p[j] = pj;
			t[j] = dy[j] * x[j] * pj / sc[j];
		}
	}
}

/* ring: 2 * (2*half + 1) rows of BLOCK floats: t and p for channels c-half..c+half. */
SIMD_CLONES
static void lrn_backward_block(const LrnShape *s, size_t hw, int len, const float *x, const float *scale,
			       const float *dy, float *dx, float *ring)
{
	const int C = s->C, half = s->size / 2, R = 2 * half + 1;
	const float coef = -2.0f * s->alpha * s->beta, beta = s->beta;
	const int fast = fast_beta(s);
	float *tr = ring, *pr = ring + (size_t)R * BLOCK;
	float acc[BLOCK];
	for (int c = 0; c < half && c < C; c++)
		lrn_ratio_row(len, fast, beta, dy + (size_t)c * hw, x + (size_t)c * hw, scale + (size_t)c * hw,
			      tr + (size_t)(c % R) * BLOCK, pr + (size_t)(c % R) * BLOCK);
	for (int c = 0; c < C; c++) {
		int ahead = c + half;
		if (ahead < C)
			lrn_ratio_row(len, fast, beta, dy + (size_t)ahead * hw, x + (size_t)ahead * hw,
				      scale + (size_t)ahead * hw, tr + (size_t)(ahead % R) * BLOCK,
				      pr + (size_t)(ahead % R) * BLOCK);
		int lo = c - half < 0 ? 0 : c - half, hi = ahead >= C ? C - 1 : ahead;
		memset(acc, 0, sizeof(float) * (size_t)len);
		for (int c2 = lo; c2 <= hi; c2++) {
			const float *t = tr + (size_t)(c2 % R) * BLOCK;
#pragma omp simd
			for (int j = 0; j < len; j++)
				acc[j] += t[j];
		}
		const size_t o = (size_t)c * hw;
		const float *p = pr + (size_t)(c % R) * BLOCK;
#pragma omp simd
		for (int j = 0; j < len; j++)
			dx[o + j] = dy[o + j] * p[j] + coef * x[o + j] * acc[j];
	}
}

int cpu_lrn_forward(Ctx *ctx, const LrnShape *s, const float *x, float *y, float *scale)
{
	if (check_shape(ctx, s) != 0)
		return -1;
	size_t hw = (size_t)s->H * s->W, chw = (size_t)s->C * hw, nblk = (hw + BLOCK - 1) / BLOCK;
	size_t items = (size_t)s->N * nblk;
#pragma omp parallel for schedule(dynamic, 4) num_threads(cpu_threads(ctx))
	for (size_t it = 0; it < items; it++) {
		size_t n = it / nblk, j0 = it % nblk * BLOCK;
		int len = (int)(hw - j0 < BLOCK ? hw - j0 : BLOCK);
		size_t o = n * chw + j0;
		lrn_forward_block(s, hw, len, x + o, y + o, scale + o);
	}
	return 0;
}

int cpu_lrn_backward(Ctx *ctx, const LrnShape *s, const float *x, const float *y, const float *scale,
		     const float *dy, float *dx)
{
	(void)y; /* y = x * scale^-beta: recomputed from x and scale, which are read anyway */
	if (check_shape(ctx, s) != 0)
		return -1;
	int T = cpu_threads(ctx);
	size_t hw = (size_t)s->H * s->W, chw = (size_t)s->C * hw, nblk = (hw + BLOCK - 1) / BLOCK;
	size_t items = (size_t)s->N * nblk, per = 2 * (size_t)(2 * (s->size / 2) + 1) * BLOCK;
	float *ws = cpu_workspace(ctx, per * T);
	if (!ws)
		return -1;
#pragma omp parallel num_threads(T)
	{
		float *ring = ws + per * omp_get_thread_num();
#pragma omp for schedule(dynamic, 4)
		for (size_t it = 0; it < items; it++) {
			size_t n = it / nblk, j0 = it % nblk * BLOCK;
			int len = (int)(hw - j0 < BLOCK ? hw - j0 : BLOCK);
			size_t o = n * chw + j0;
			lrn_backward_block(s, hw, len, x + o, scale + o, dy + o, dx + o, ring);
		}
	}
	return 0;
}
