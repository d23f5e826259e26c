/* pool.cu: overlapping max pooling (§3.4: 3x3 windows every 2 pixels), forward and backward.
 *
 * Layout: x[N][C][H][W] -> y[N][C][P][Q], P = (H - size) / stride + 1 (no padding, floor),
 * argmax[N][C][P][Q] = h*W + w of the window's winner within its plane. The winner is the
 * first maximum in row-major window order (a strictly greater value replaces it; a NaN
 * replaces a number, so it propagates), as on the CPU, so ties pick the same pixel on both
 * backends.
 *
 * Backward is a gather rather than a scatter: overlapping windows (size > stride) can pick
 * the same input pixel, so each dx thread visits the few windows that contain its pixel
 * and adds the dy of those that chose it, in (p, q) order. No atomics, no races, the same
 * sum order every run.
 */
#include "kernels/cuda/cuda.h"

template <typename I>
static __global__ void pool_forward_kernel(const float *__restrict__ x, int H, int W, int size, int stride, int P, int Q,
				    I total, float *__restrict__ y, int32_t *__restrict__ argmax)
{
	GRID_LOOP(I, t, total) {
		I plane = t / ((I)P * Q);
		I pq = t - plane * ((I)P * Q);
		int p = (int)(pq / (I)Q), q = (int)(pq - (I)p * Q);
		const float *xp = x + (size_t)plane * H * W;
		int h0 = p * stride, w0 = q * stride;
		int best = h0 * W + w0;
		float m = xp[best];
		for (int r = 0; r < size; r++)
			for (int s = 0; s < size; s++) {
				int i = (h0 + r) * W + w0 + s;
				float v = xp[i];
				if (v > m || (v != v && m == m)) { /* a NaN wins, as on the CPU */
					m = v;
					best = i;
				}
			}
		y[t] = m;
		argmax[t] = best;
	}
}

template <typename I>
static __global__ void pool_backward_kernel(const float *__restrict__ dy, const int32_t *__restrict__ argmax, int H, int W,
				     int size, int stride, int P, int Q, I total, float *__restrict__ dx)
{
	GRID_LOOP(I, t, total) {
		I plane = t / ((I)H * W);
		I hw = t - plane * ((I)H * W);
		int h = (int)(hw / (I)W), w = (int)(hw - (I)h * W);
		/* windows p with p*stride <= h < p*stride + size */
		int p0 = h < size ? 0 : (h - size) / stride + 1, p1 = min(h / stride + 1, P);
		int q0 = w < size ? 0 : (w - size) / stride + 1, q1 = min(w / stride + 1, Q);
		const float *dyp = dy + (size_t)plane * P * Q;
		const int32_t *ap = argmax + (size_t)plane * P * Q;
		int me = h * W + w;
		float sum = 0.0f;
		for (int p = p0; p < p1; p++)
			for (int q = q0; q < q1; q++)
				if (ap[p * Q + q] == me)
					sum += dyp[p * Q + q];
		dx[t] = sum;
	}
}

static int pool_check(Ctx *ctx, const char *op, const PoolShape *s)
{
	PoolShape t = *s;
	const char *why = "";
	if (pool_shape(&t, &why) != 0)
		return CTX_FAIL(ctx, "%s: bad shape: %s", op, why);
	if (t.P != s->P || t.Q != s->Q)
		return CTX_FAIL(ctx, "%s: output %dx%d does not match the geometry (%dx%d; call pool_shape)", op, s->P,
				s->Q, t.P, t.Q);
	if ((size_t)s->H * s->W > INT32_MAX)
		return CTX_FAIL(ctx, "%s: plane of %dx%d too large for 32-bit argmax", op, s->H, s->W);
	return 0;
}

int cuda_pool_forward(Ctx *ctx, const PoolShape *s, const float *x, float *y, int32_t *argmax)
{
	CUDA_ENTER(ctx);
	if (pool_check(ctx, "pool_forward", s) != 0)
		return -1;
	if (!x || !y || !argmax)
		return CTX_FAIL(ctx, "pool_forward: NULL buffer");
	size_t total = (size_t)s->N * s->C * s->P * s->Q;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	cudaStream_t st = impl_of(ctx)->stream;
	if (fits_u32(total))
		pool_forward_kernel<unsigned><<<blocks, CUDA_THREADS, 0, st>>>(x, s->H, s->W, s->size, s->stride, s->P,
									       s->Q, (unsigned)total, y, argmax);
	else
		pool_forward_kernel<size_t><<<blocks, CUDA_THREADS, 0, st>>>(x, s->H, s->W, s->size, s->stride, s->P,
									     s->Q, total, y, argmax);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_pool_backward(Ctx *ctx, const PoolShape *s, const float *dy, const int32_t *argmax, float *dx)
{
	CUDA_ENTER(ctx);
	if (pool_check(ctx, "pool_backward", s) != 0)
		return -1;
	if (!dy || !dx || !argmax)
		return CTX_FAIL(ctx, "pool_backward: NULL buffer");
	size_t total = (size_t)s->N * s->C * s->H * s->W;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	cudaStream_t st = impl_of(ctx)->stream;
	if (fits_u32(total))
		pool_backward_kernel<unsigned><<<blocks, CUDA_THREADS, 0, st>>>(dy, argmax, s->H, s->W, s->size,
										s->stride, s->P, s->Q,
										(unsigned)total, dx);
	else
		pool_backward_kernel<size_t><<<blocks, CUDA_THREADS, 0, st>>>(dy, argmax, s->H, s->W, s->size,
									      s->stride, s->P, s->Q, total, dx);
	LAUNCH_CHECK(ctx);
	return 0;
}
