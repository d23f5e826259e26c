/* softmax.c: the output layer: softmax over each row and the gradient of the mean cross-entropy.
 *
 * probs[n][k] = exp(z[n][k] - max_k z[n]) / sum_k exp(z[n][k] - max_k z[n]); subtracting the
 * row's maximum keeps exp() in range for any logits. The loss is -1/N sum_n log p[n][label],
 * whose gradient with respect to the logits is (p - onehot(label)) / N.
 */
#include "kernels/cpu/cpu.h"

#include <math.h>

int cpu_softmax_forward(Ctx *ctx, int N, int K, const float *logits, float *probs)
{
	if (N < 1 || K < 1)
		return CTX_FAIL(ctx, "softmax: sizes must be positive (N=%d K=%d)", N, K);
#pragma omp parallel for schedule(static) num_threads(cpu_threads(ctx)) if ((size_t)N * K > 65536)
	for (int n = 0; n < N; n++) {
		const float *z = logits + (size_t)n * K;
		float *p = probs + (size_t)n * K;
		float m = z[0];
		for (int k = 1; k < K; k++)
			m = z[k] > m ? z[k] : m;
		double sum = 0;
		for (int k = 0; k < K; k++) {
			p[k] = expf(z[k] - m);
			sum += p[k];
		}
		float inv = (float)(1.0 / sum);
		for (int k = 0; k < K; k++)
			p[k] *= inv;
	}
	return 0;
}

int cpu_xent_backward(Ctx *ctx, int N, int K, const float *probs, const int32_t *labels, float *dlogits)
{
	if (N < 1 || K < 1)
		return CTX_FAIL(ctx, "cross-entropy: sizes must be positive (N=%d K=%d)", N, K);
	for (int n = 0; n < N; n++)
		if (labels[n] < 0 || labels[n] >= K)
			return CTX_FAIL(ctx, "cross-entropy: label %d of example %d is outside [0, %d)", (int)labels[n], n,
					K);
	const float inv = 1.0f / (float)N;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(ctx)) if ((size_t)N * K > 65536)
	for (int n = 0; n < N; n++) {
		const float *p = probs + (size_t)n * K;
		float *d = dlogits + (size_t)n * K;
#pragma omp simd
		for (int k = 0; k < K; k++)
			d[k] = p[k] * inv;
		d[labels[n]] = (p[labels[n]] - 1.0f) * inv;
	}
	return 0;
}
