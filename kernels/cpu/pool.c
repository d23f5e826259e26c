/* pool.c: overlapping max pooling (§3.4: 3x3 windows every 2 pixels), forward and backward.
 *
 * x[N][C][H][W] -> y[N][C][P][Q], no padding, P = (H - size) / stride + 1. The forward saves
 * the winner of each window as its index h*W + w in the plane; the first maximum in row-major
 * order wins a tie, and a NaN wins over any number (as PyTorch), so NaNs propagate. The
 * backward adds each dy to its winner's place; windows overlap, so one input can collect
 * several. Planes are independent: the threads split them, and each plane's sums happen in
 * a fixed order. (A NaN wins a window, as in PyTorch, so it propagates.)
 */
#include "kernels/cpu/cpu.h"

#include <string.h>

static int check_shape(Ctx *ctx, const PoolShape *s)
{
	PoolShape t = *s;
	const char *why = NULL;
	if (pool_shape(&t, &why) != 0)
		return CTX_FAIL(ctx, "pooling: %s", why);
	if (t.P != s->P || t.Q != s->Q)
		return CTX_FAIL(ctx, "pooling: output %dx%d does not match the geometry (%dx%d)", s->P, s->Q, t.P, t.Q);
	return 0;
}

/* One plane. Each output row is done for all its columns at once: the window's taps are
 * visited in row-major order and each tap updates the running maxima of the whole row (kept
 * in y and arg themselves), a compare and two selects that vectorise, where a branch per
 * compare would be mispredicted half the time on real data. Strictly greater replaces, so
 * the first maximum stays. The stride is a constant in the common cases (AlexNet's 2, and
 * 1), so that the strided loads become shuffles rather than gathers. */
#define POOL_PLANE(NAME, STRIDE)                                                                  \
	SIMD_CLONES static void NAME(const PoolShape *s, const float *x, float *y, int32_t *arg)   \
	{                                                                                         \
		const int W = s->W, Q = s->Q, k = s->size, st = (STRIDE);                         \
		for (int p = 0; p < s->P; p++) {                                                  \
			float *m = y + (size_t)p * Q;                                             \
			int32_t *a = arg + (size_t)p * Q;                                         \
			const int h0 = p * st;                                                    \
			const float *first = x + (size_t)h0 * W;                                  \
			_Pragma("omp simd") for (int q = 0; q < Q; q++)                           \
			{                                                                         \
				m[q] = first[q * st];                                             \
				a[q] = h0 * W + q * st;                                           \
			}                                                                         \
			for (int i = 0; i < k; i++)                                               \
				for (int j = 0; j < k; j++) {                                     \
					const float *row = x + (size_t)(h0 + i) * W + j;          \
					const int32_t at = (h0 + i) * W + j;                      \
					_Pragma("omp simd") for (int q = 0; q < Q; q++)           \
					{                                                         \
						float v = row[q * st];                            \
						int win = (v > m[q]) | (v != v);                  \
						m[q] = win ? v : m[q];                            \
						a[q] = win ? at + q * st : a[q];                  \
					}                                                         \
				}                                                                 \
		}                                                                                 \
	}
POOL_PLANE(pool_plane_s2, 2)
POOL_PLANE(pool_plane_s1, 1)
POOL_PLANE(pool_plane_any, s->stride)

/* The 3x3 window of both AlexNet and the demo, stride 2, over a whole plane at once: org[o]
 * is output o's window origin (computed once a call), the nine taps are unrolled so that
 * the running maximum and index stay in registers, and the loop runs over all P*Q outputs
 * rather than row by row: rows are short (13, 6, 3 outputs in the demo, 27 in AlexNet), and
 * a row loop spends its time in the remainder of vectors 16 wide. Same taps in the same
 * order, same rule as the general case. Measured on the demo's net at batch 128 (forward):
 * pool1 8.2 -> 2.7 ms, pool2 5.4 -> 1.5 ms. */
enum { ORIGINS_MAX = 4096 }; /* planes up to 64x64 outputs take this path */

#define TAP(I, J)                                                                                 \
	do {                                                                                      \
		float v = x[at + (I) * W + (J)];                                                  \
		int win = (v > m) | (v != v);                                                     \
		m = win ? v : m;                                                                  \
		a = win ? at + (I) * W + (J) : a;                                                 \
	} while (0)

SIMD_CLONES static void pool_plane_k3(const PoolShape *s, const int32_t *org, const float *x, float *y,
				      int32_t *arg)
{
	const int W = s->W, n = s->P * s->Q;
#pragma omp simd
	for (int o = 0; o < n; o++) {
		const int32_t at = org[o];
		float m = x[at];
		int32_t a = at;
		TAP(0, 1);
		TAP(0, 2);
		TAP(1, 0);
		TAP(1, 1);
		TAP(1, 2);
		TAP(2, 0);
		TAP(2, 1);
		TAP(2, 2);
		y[o] = m;
		arg[o] = a;
	}
}
#undef TAP

static void pool_plane(const PoolShape *s, const float *x, float *y, int32_t *arg)
{
	if (s->stride == 2)
		pool_plane_s2(s, x, y, arg);
	else if (s->stride == 1)
		pool_plane_s1(s, x, y, arg);
	else
		pool_plane_any(s, x, y, arg);
}

int cpu_pool_forward(Ctx *ctx, const PoolShape *s, const float *x, float *y, int32_t *argmax)
{
	if (check_shape(ctx, s) != 0)
		return -1;
	size_t planes = (size_t)s->N * s->C, hw = (size_t)s->H * s->W, pq = (size_t)s->P * s->Q;
	if (s->size == 3 && pq <= ORIGINS_MAX) {
		int32_t org[ORIGINS_MAX];
		for (int p = 0; p < s->P; p++)
			for (int q = 0; q < s->Q; q++)
				org[p * s->Q + q] = p * s->stride * s->W + q * s->stride;
#pragma omp parallel for schedule(dynamic, 16) num_threads(cpu_threads(ctx))
		for (size_t i = 0; i < planes; i++)
			pool_plane_k3(s, org, x + i * hw, y + i * pq, argmax + i * pq);
		return 0;
	}
#pragma omp parallel for schedule(dynamic, 16) num_threads(cpu_threads(ctx))
	for (size_t i = 0; i < planes; i++)
		pool_plane(s, x + i * hw, y + i * pq, argmax + i * pq);
	return 0;
}

int cpu_pool_backward(Ctx *ctx, const PoolShape *s, const float *dy, const int32_t *argmax, float *dx)
{
	if (check_shape(ctx, s) != 0)
		return -1;
	size_t planes = (size_t)s->N * s->C, hw = (size_t)s->H * s->W, pq = (size_t)s->P * s->Q;
	int bad = 0;
#pragma omp parallel for schedule(dynamic, 16) num_threads(cpu_threads(ctx)) reduction(| : bad)
	for (size_t i = 0; i < planes; i++) {
		float *d = dx + i * hw;
		const float *g = dy + i * pq;
		const int32_t *a = argmax + i * pq;
		memset(d, 0, sizeof(float) * hw);
		for (size_t j = 0; j < pq; j++) {
			if ((uint32_t)a[j] >= hw) {
				bad = 1;
				continue;
			}
			d[a[j]] += g[j];
		}
	}
	if (bad)
		return CTX_FAIL(ctx, "pooling backward: an argmax index lies outside its %dx%d plane", s->H, s->W);
	return 0;
}
