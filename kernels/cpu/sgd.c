/* sgd.c: the paper's update (§5): v = momentum*v - decay*lr*w - lr*dw; w = w + v; and the
 * y = a*x + b*y that sums the gradients of a batch's parts (anet-train --accum).
 *
 * Weight decay sits inside the velocity and is scaled by the learning rate, as in the paper
 * (PyTorch's SGD adds decay*w to the gradient instead; the two agree only while lr is
 * constant). One pass over w, dw and v; memory-bound, so plain vectorised loops.
 */
#include "kernels/cpu/cpu.h"

#include <math.h>

int cpu_axpby(Ctx *ctx, size_t n, float a, const float *x, float b, float *y)
{
	if (!isfinite(a) || !isfinite(b))
		return CTX_FAIL(ctx, "axpby: a and b must be finite");
	if (b == 0) { /* y is not read: it may be uninitialised */
#pragma omp parallel for simd schedule(dynamic, 32768) num_threads(cpu_threads(ctx)) if (n > 65536)
		for (size_t i = 0; i < n; i++)
			y[i] = a * x[i];
	} else {
#pragma omp parallel for simd schedule(dynamic, 32768) num_threads(cpu_threads(ctx)) if (n > 65536)
		for (size_t i = 0; i < n; i++)
			y[i] = a * x[i] + b * y[i];
	}
	return 0;
}

int cpu_sgd_update(Ctx *ctx, size_t n, float *w, const float *dw, float *v, float lr, float momentum, float decay)
{
	if (!isfinite(lr) || !isfinite(momentum) || !isfinite(decay))
		return CTX_FAIL(ctx, "sgd: learning rate, momentum and decay must be finite");
	const float wd = decay * lr;
#pragma omp parallel for simd schedule(dynamic, 32768) num_threads(cpu_threads(ctx)) if (n > 65536)
	for (size_t i = 0; i < n; i++) {
		float vi = momentum * v[i] - wd * w[i] - lr * dw[i];
		v[i] = vi;
		w[i] += vi;
	}
	return 0;
}
