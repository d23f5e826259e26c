/* softmax.cu: the output layer (§3.5: a 1000-way softmax) and the cross-entropy gradient.
 *
 *   probs[n][k] = exp(logits[n][k] - m_n) / sum_j exp(logits[n][j] - m_n), m_n = max_j logits[n][j]
 *   dlogits[n][k] = (probs[n][k] - [k == labels[n]]) / N        (gradient of the mean loss)
 * Layout: row-major [N][K]; labels[N] int32 on the device.
 *
 * Softmax runs one block per row: the threads stride over the row, then combine max and sum
 * through a fixed-shape shared-memory tree (deterministic). Subtracting the row maximum
 * keeps exp from overflowing; expf is the accurate one (not __expf).
 * A label outside [0, K) cannot be reported from the device: that row's gradient becomes
 * NaN, which the loss and every later step make visible.
 */
#include "kernels/cuda/cuda.h"

#include <math.h>

/* Reduces v over the block (max or sum); every thread gets the result. */
static __device__ float block_reduce(float v, float *sh, int is_max)
{
	sh[threadIdx.x] = v;
	__syncthreads();
	for (int half = CUDA_THREADS / 2; half > 0; half /= 2) {
		if ((int)threadIdx.x < half) {
			float o = sh[threadIdx.x + half];
			sh[threadIdx.x] = is_max ? fmaxf(sh[threadIdx.x], o) : sh[threadIdx.x] + o;
		}
		__syncthreads();
	}
	float r = sh[0];
	__syncthreads(); /* sh is reused by the next reduction */
	return r;
}

static __global__ void softmax_kernel(const float *__restrict__ logits, int K, float *__restrict__ probs)
{
	__shared__ float sh[CUDA_THREADS];
	const float *x = logits + (size_t)blockIdx.x * K;
	float *p = probs + (size_t)blockIdx.x * K;
	float m = -INFINITY;
	for (int k = threadIdx.x; k < K; k += CUDA_THREADS)
		m = fmaxf(m, x[k]);
	m = block_reduce(m, sh, 1);
	float s = 0.0f;
	for (int k = threadIdx.x; k < K; k += CUDA_THREADS)
		s += expf(x[k] - m);
	s = block_reduce(s, sh, 0);
	float inv = 1.0f / s;
	for (int k = threadIdx.x; k < K; k += CUDA_THREADS)
		p[k] = expf(x[k] - m) * inv;
}

static __global__ void xent_backward_kernel(const float *probs, const int32_t *labels, int N, int K, float *dlogits)
{
	size_t total = (size_t)N * K;
	float invN = 1.0f / (float)N;
	GRID_LOOP(size_t, i, total) {
		int n = (int)(i / (size_t)K), k = (int)(i - (size_t)n * K);
		int label = labels[n];
		float onehot = k == label ? 1.0f : 0.0f;
		float g = (probs[i] - onehot) * invN;
		dlogits[i] = (label >= 0 && label < K) ? g : NAN;
	}
}

int cuda_softmax_forward(Ctx *ctx, int N, int K, const float *logits, float *probs)
{
	CUDA_ENTER(ctx);
	if (N < 1 || K < 1)
		return CTX_FAIL(ctx, "softmax_forward: sizes must be positive (N=%d K=%d)", N, K);
	if (!logits || !probs)
		return CTX_FAIL(ctx, "softmax_forward: NULL buffer");
	softmax_kernel<<<N, CUDA_THREADS, 0, impl_of(ctx)->stream>>>(logits, K, probs);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_xent_backward(Ctx *ctx, int N, int K, const float *probs, const int32_t *labels, float *dlogits)
{
	CUDA_ENTER(ctx);
	if (N < 1 || K < 1)
		return CTX_FAIL(ctx, "xent_backward: sizes must be positive (N=%d K=%d)", N, K);
	if (!probs || !labels || !dlogits)
		return CTX_FAIL(ctx, "xent_backward: NULL buffer");
	size_t total = (size_t)N * K;
	xent_backward_kernel<<<grid_for(total, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(
		probs, labels, N, K, dlogits);
	LAUNCH_CHECK(ctx);
	return 0;
}
