/* act.c: element-wise activations: ReLU and inverted dropout (§4.2), forward and backward.
 *
 * Dropout keeps element i when rng_uniform(seed, stream, i) >= p and scales it by 1/(1-p), so
 * the expected output equals the input and test time needs no rescaling. The mask is a pure
 * function of (seed, stream, i): the backward pass recomputes it instead of storing it, every
 * thread count and every backend draws the same one.
 */
#include "kernels/cpu/cpu.h"

#include <math.h>

#include "kernels/rng.h"

/* Below this many elements a parallel region costs more than it saves. */
enum { PAR_MIN = 1 << 15 };

int cpu_relu_forward(Ctx *ctx, size_t n, const float *x, float *y)
{
	/* x < 0 ? 0 : x keeps a NaN visible instead of hiding it as 0 */
#pragma omp parallel for simd schedule(dynamic, 32768) num_threads(cpu_threads(ctx)) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] < 0.0f ? 0.0f : x[i];
	return 0;
}

int cpu_relu_backward(Ctx *ctx, size_t n, const float *y, const float *dy, float *dx)
{
#pragma omp parallel for simd schedule(dynamic, 32768) num_threads(cpu_threads(ctx)) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
	return 0;
}

static int check_p(Ctx *ctx, float p)
{
	if (!(p >= 0.0f && p < 1.0f))
		return CTX_FAIL(ctx, "dropout: probability %g is outside [0, 1)", (double)p);
	return 0;
}

/* y = mask * x / (1-p); forward and backward are the same map. */
static void dropout_apply(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *x, float *y)
{
	const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(dynamic, 32768) num_threads(cpu_threads(ctx)) if (n > PAR_MIN / 16)
	for (size_t i = 0; i < n; i++)
		y[i] = rng_uniform(seed, stream, i) >= p ? x[i] * scale : 0.0f;
}

int cpu_dropout_forward(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *x, float *y)
{
	if (check_p(ctx, p) != 0)
		return -1;
	dropout_apply(ctx, n, p, seed, stream, x, y);
	return 0;
}

int cpu_dropout_backward(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *dy, float *dx)
{
	if (check_p(ctx, p) != 0)
		return -1;
	dropout_apply(ctx, n, p, seed, stream, dy, dx);
	return 0;
}
