/* lrn.cu: local response normalisation across channels (§3.3), forward and backward.
 *
 *   scale[n][c][h][w] = k + alpha * sum_{c' in [c - size/2, c + size/2] ∩ [0, C)} x[n][c'][h][w]^2
 *   y = x * scale^-beta
 * with the paper's k=2, size=5, alpha=1e-4, beta=0.75 and alpha times the raw sum (not
 * alpha/size as in Caffe and cuda-convnet: kernels.h). The window is clamped at the first
 * and last channel: near the edges it holds fewer maps, never wraps. Layout NCHW; scale is
 * kept for the backward pass:
 *   dx[c] = dy[c] * scale[c]^-beta
 *           - 2 alpha beta x[c] * sum_{c' : c in window(c')} dy[c'] y[c'] / scale[c']
 * and c is in window(c') exactly when c' is in window(c) (the window is symmetric).
 *
 * One thread per element; it re-reads its size neighbours (from cache: the threads of the
 * neighbouring channels read the same lines), sums them in channel order, and writes once.
 * Numerics: scale >= k = 2, so powf is well conditioned; sums of size terms in FP32.
 */
#include "kernels/cuda/cuda.h"

#include <math.h>

template <typename I>
static __global__ void lrn_forward_kernel(const float *__restrict__ x, int C, I HW, I total, int half, float alpha,
				   float beta, float k, float *__restrict__ y, float *__restrict__ scale)
{
	GRID_LOOP(I, t, total) {
		I rest = t / HW, hw = t - rest * HW;
		I n = rest / (I)C;
		int c = (int)(rest - n * (I)C);
		const float *xp = x + (size_t)n * C * HW + hw;
		int lo = max(c - half, 0), hi = min(c + half, C - 1);
		float sum = 0.0f;
		for (int j = lo; j <= hi; j++) {
			float v = xp[(size_t)j * HW];
			sum += v * v;
		}
		float sc = k + alpha * sum;
		scale[t] = sc;
		y[t] = x[t] * powf(sc, -beta);
	}
}

template <typename I>
static __global__ void lrn_backward_kernel(const float *__restrict__ x, const float *__restrict__ y,
				    const float *__restrict__ scale, const float *__restrict__ dy, int C, I HW, I total,
				    int half, float alpha, float beta, float *__restrict__ dx)
{
	GRID_LOOP(I, t, total) {
		I rest = t / HW, hw = t - rest * HW;
		I n = rest / (I)C;
		int c = (int)(rest - n * (I)C);
		size_t base = (size_t)n * C * HW + hw;
		int lo = max(c - half, 0), hi = min(c + half, C - 1);
		float acc = 0.0f;
		for (int j = lo; j <= hi; j++) {
			size_t i = base + (size_t)j * HW;
			acc += dy[i] * y[i] / scale[i];
		}
		dx[t] = dy[t] * powf(scale[t], -beta) - 2.0f * alpha * beta * x[t] * acc;
	}
}

static int lrn_check(Ctx *ctx, const char *op, const LrnShape *s)
{
	if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->size < 1)
		return CTX_FAIL(ctx, "%s: sizes must be positive (N=%d C=%d H=%d W=%d size=%d)", op, s->N, s->C, s->H,
				s->W, s->size);
	if (!isfinite(s->alpha) || !isfinite(s->beta) || !isfinite(s->k))
		return CTX_FAIL(ctx, "%s: alpha, beta and k must be finite (k=%g alpha=%g beta=%g)", op, s->k, s->alpha,
				s->beta);
	return 0;
}

int cuda_lrn_forward(Ctx *ctx, const LrnShape *s, const float *x, float *y, float *scale)
{
	CUDA_ENTER(ctx);
	if (lrn_check(ctx, "lrn_forward", s) != 0)
		return -1;
	if (!x || !y || !scale)
		return CTX_FAIL(ctx, "lrn_forward: NULL buffer");
	if (x == y)
		return CTX_FAIL(ctx, "lrn_forward: y may not overwrite x (neighbouring channels still read it)");
	size_t HW = (size_t)s->H * s->W, total = (size_t)s->N * s->C * HW;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	cudaStream_t st = impl_of(ctx)->stream;
	if (fits_u32(total))
		lrn_forward_kernel<unsigned><<<blocks, CUDA_THREADS, 0, st>>>(x, s->C, (unsigned)HW, (unsigned)total,
									      s->size / 2, s->alpha, s->beta, s->k, y,
									      scale);
	else
		lrn_forward_kernel<size_t><<<blocks, CUDA_THREADS, 0, st>>>(x, s->C, HW, total, s->size / 2, s->alpha,
									    s->beta, s->k, y, scale);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_lrn_backward(Ctx *ctx, const LrnShape *s, const float *x, const float *y, const float *scale,
		      const float *dy, float *dx)
{
	CUDA_ENTER(ctx);
	if (lrn_check(ctx, "lrn_backward", s) != 0)
		return -1;
	if (!x || !y || !scale || !dy || !dx)
		return CTX_FAIL(ctx, "lrn_backward: NULL buffer");
	if (dx == dy || dx == x || dx == y)
		return CTX_FAIL(ctx, "lrn_backward: dx may not overwrite an input (neighbouring channels still read it)");
	size_t HW = (size_t)s->H * s->W, total = (size_t)s->N * s->C * HW;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	cudaStream_t st = impl_of(ctx)->stream;
	if (fits_u32(total))
		lrn_backward_kernel<unsigned><<<blocks, CUDA_THREADS, 0, st>>>(x, y, scale, dy, s->C, (unsigned)HW,
									       (unsigned)total, s->size / 2, s->alpha,
									       s->beta, dx);
	else
		lrn_backward_kernel<size_t><<<blocks, CUDA_THREADS, 0, st>>>(x, y, scale, dy, s->C, HW, total,
									     s->size / 2, s->alpha, s->beta, dx);
	LAUNCH_CHECK(ctx);
	return 0;
}
