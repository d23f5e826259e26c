/* fc.cu: fully connected layers (§3.5: fc6, fc7 4096 units, fc8 1000) on cuBLAS.
 *
 * Layout (PyTorch's): x[N][I], w[O][I], b[O] -> y[N][O].
 *   forward           y = x w^T (+ b, then ReLU if asked), one GEMM and one epilogue pass
 *   backward data     dx[N][I] = dy[N][O] w[O][I]
 *   backward weights  dw[O][I] = dy^T x, db[o] = sum_n dy[n][o]
 * The bias gradient is a column sum, one thread per output summing its N rows in order (no
 * atomics; N is the batch, 128 in the paper, so the loop is short).
 */
#include "kernels/cuda/cuda.h"

/* y[n][o] = act(y[n][o] + b[o]) in place */
static __global__ void bias_act_kernel(float *y, const float *b, int O, size_t total, int relu)
{
	GRID_LOOP(size_t, i, total) {
		float v = y[i];
		if (b)
			v += b[i % (size_t)O];
		if (relu)
			v = v < 0.0f ? 0.0f : v;
		y[i] = v;
	}
}

static __global__ void column_sum_kernel(const float *dy, int N, int O, float *db)
{
	int o = blockIdx.x * blockDim.x + threadIdx.x;
	if (o >= O)
		return;
	float s = 0.0f;
	for (int n = 0; n < N; n++)
		s += dy[(size_t)n * O + o];
	db[o] = s;
}

int cuda_bias_act_rows(Ctx *ctx, int N, int O, float *y, const float *b, int relu)
{
	if (!b && !relu)
		return 0;
	size_t total = (size_t)N * O;
	bias_act_kernel<<<grid_for(total, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(y, b, O, total,
												  relu);
	LAUNCH_CHECK(ctx);
	return 0;
}

static int fc_check(Ctx *ctx, const char *op, int N, int I, int O)
{
	if (N < 1 || I < 1 || O < 1)
		return CTX_FAIL(ctx, "%s: sizes must be positive (N=%d I=%d O=%d)", op, N, I, O);
	return 0;
}

int cuda_fc_forward(Ctx *ctx, int N, int I, int O, const float *x, const float *w, const float *b, float *y,
		    int relu)
{
	CUDA_ENTER(ctx);
	if (fc_check(ctx, "fc_forward", N, I, O) != 0)
		return -1;
	if (!x || !w || !y)
		return CTX_FAIL(ctx, "fc_forward: NULL buffer");
	if (cuda_gemm(ctx, GEMM_N, GEMM_T, N, O, I, 1.0f, x, I, 0, w, I, 0, 0.0f, y, O, 0, 1) != 0)
		return -1;
	return cuda_bias_act_rows(ctx, N, O, y, b, relu);
}

int cuda_fc_backward_data(Ctx *ctx, int N, int I, int O, const float *dy, const float *w, float *dx)
{
	CUDA_ENTER(ctx);
	if (fc_check(ctx, "fc_backward_data", N, I, O) != 0)
		return -1;
	if (!dy || !w || !dx)
		return CTX_FAIL(ctx, "fc_backward_data: NULL buffer");
	return cuda_gemm(ctx, GEMM_N, GEMM_N, N, I, O, 1.0f, dy, O, 0, w, I, 0, 0.0f, dx, I, 0, 1);
}

int cuda_fc_backward_weights(Ctx *ctx, int N, int I, int O, const float *x, const float *dy, float *dw, float *db)
{
	CUDA_ENTER(ctx);
	if (fc_check(ctx, "fc_backward_weights", N, I, O) != 0)
		return -1;
	if (!x || !dy || !dw)
		return CTX_FAIL(ctx, "fc_backward_weights: NULL buffer");
	if (cuda_gemm(ctx, GEMM_T, GEMM_N, O, I, N, 1.0f, dy, O, 0, x, I, 0, 0.0f, dw, I, 0, 1) != 0)
		return -1;
	if (db) {
		column_sum_kernel<<<CEIL_DIV(O, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(dy, N, O, db);
		LAUNCH_CHECK(ctx);
	}
	return 0;
}
