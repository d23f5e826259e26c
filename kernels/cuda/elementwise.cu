/* elementwise.cu: the one-pass ops: fill, ReLU, dropout, and the paper's SGD update.
 *
 * All are flat over n floats, one element per thread in a grid-stride loop, and may work in
 * place where kernels.h allows it (each element is read before it is written, by the same
 * thread).
 *  - ReLU (§3.1): y = max(0, x); backward dx = dy where y > 0, else 0.
 *  - Dropout (§4.2), inverted: element i is kept when rng_uniform(seed, stream, i) >= p and
 *    then scaled by 1/(1-p), so the test-time net needs no rescaling. The mask is the same
 *    pure function of (seed, stream, i) as on the CPU (kernels/rng.h compiles for both), so
 *    the two backends drop exactly the same units; backward recomputes it instead of
 *    storing it.
 *  - SGD (§5): v = momentum*v - decay*lr*w - lr*dw; w = w + v.
 * Numerics: nvcc contracts a*b + c into one fused multiply-add, which rounds once where the
 * CPU rounds twice: the SGD result may differ from the CPU's in the last bit.
 */
#include "kernels/cuda/cuda.h"

static __global__ void fill_kernel(float *x, size_t n, float value)
{
	GRID_LOOP(size_t, i, n) x[i] = value;
}

static __global__ void relu_forward_kernel(const float *x, float *y, size_t n)
{
	GRID_LOOP(size_t, i, n) {
		float v = x[i];
		y[i] = v < 0.0f ? 0.0f : v;
	}
}

static __global__ void relu_backward_kernel(const float *y, const float *dy, float *dx, size_t n)
{
	GRID_LOOP(size_t, i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* forward and backward alike: out = keep(i) ? in * scale : 0 */
static __global__ void dropout_kernel(const float *in, float *out, size_t n, float p, float scale, uint64_t seed,
			       uint64_t stream)
{
	GRID_LOOP(size_t, i, n) {
		float u = rng_uniform(seed, stream, (uint64_t)i);
		out[i] = u >= p ? in[i] * scale : 0.0f;
	}
}

/* b == 0 must not read y (it may be uninitialised, NaN included): a separate branch, not 0 * y */
static __global__ void axpby_kernel(size_t n, float a, const float *x, float b, float *y)
{
	GRID_LOOP(size_t, i, n) {
		y[i] = b == 0.0f ? a * x[i] : a * x[i] + b * y[i];
	}
}

static __global__ void sgd_kernel(float *w, const float *dw, float *v, size_t n, float lr, float momentum, float decay)
{
	GRID_LOOP(size_t, i, n) {
		float wi = w[i];
		float vi = momentum * v[i] - decay * lr * wi - lr * dw[i];
		v[i] = vi;
		w[i] = wi + vi;
	}
}

int cuda_fill(Ctx *ctx, float *x, size_t n, float value)
{
	CUDA_ENTER(ctx);
	if (!n)
		return 0;
	if (!x)
		return CTX_FAIL(ctx, "fill: NULL buffer");
	fill_kernel<<<grid_for(n, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(x, n, value);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_relu_forward(Ctx *ctx, size_t n, const float *x, float *y)
{
	CUDA_ENTER(ctx);
	if (!n)
		return 0;
	if (!x || !y)
		return CTX_FAIL(ctx, "relu_forward: NULL buffer");
	relu_forward_kernel<<<grid_for(n, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(x, y, n);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_relu_backward(Ctx *ctx, size_t n, const float *y, const float *dy, float *dx)
{
	CUDA_ENTER(ctx);
	if (!n)
		return 0;
	if (!y || !dy || !dx)
		return CTX_FAIL(ctx, "relu_backward: NULL buffer");
	relu_backward_kernel<<<grid_for(n, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(y, dy, dx, n);
	LAUNCH_CHECK(ctx);
	return 0;
}

static int dropout(Ctx *ctx, const char *op, size_t n, float p, uint64_t seed, uint64_t stream, const float *in,
		   float *out)
{
	CUDA_ENTER(ctx);
	if (!(p >= 0.0f && p < 1.0f))
		return CTX_FAIL(ctx, "%s: drop probability %g outside [0, 1)", op, p);
	if (!n)
		return 0;
	if (!in || !out)
		return CTX_FAIL(ctx, "%s: NULL buffer", op);
	float scale = 1.0f / (1.0f - p);
	dropout_kernel<<<grid_for(n, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(in, out, n, p, scale,
											      seed, stream);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_dropout_forward(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *x, float *y)
{
	return dropout(ctx, "dropout_forward", n, p, seed, stream, x, y);
}

int cuda_dropout_backward(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *dy, float *dx)
{
	return dropout(ctx, "dropout_backward", n, p, seed, stream, dy, dx);
}

int cuda_axpby(Ctx *ctx, size_t n, float a, const float *x, float b, float *y)
{
	CUDA_ENTER(ctx);
	if (!n)
		return 0;
	if (!x || !y)
		return CTX_FAIL(ctx, "axpby: NULL buffer");
	if (!isfinite(a) || !isfinite(b))
		return CTX_FAIL(ctx, "axpby: a and b must be finite");
	axpby_kernel<<<grid_for(n, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(n, a, x, b, y);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_sgd_update(Ctx *ctx, size_t n, float *w, const float *dw, float *v, float lr, float momentum, float decay)
{
	CUDA_ENTER(ctx);
	if (!n)
		return 0;
	if (!w || !dw || !v)
		return CTX_FAIL(ctx, "sgd_update: NULL buffer");
	sgd_kernel<<<grid_for(n, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(w, dw, v, n, lr, momentum,
											  decay);
	LAUNCH_CHECK(ctx);
	return 0;
}
