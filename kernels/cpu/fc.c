/* fc.c: fully connected layers: x[N][I], w[O][I] (PyTorch's layout), b[O], y[N][O].
 *
 *   forward          y  = x w^T + b, then max(0, y) if relu
 *   backward data    dx = dy w
 *   backward weights dw = dy^T x, db = the column sums of dy
 * (In and Out below, since complex.h, which cblas.h includes, takes the name I.)
 * Each product is one cblas_sgemm called outside any parallel region, so OpenBLAS runs it on
 * the whole pool (and splits it by rows and columns, never along the summed dimension, which
 * keeps the result the same from run to run).
 */
#include "kernels/cpu/cpu.h"

#include <cblas.h>
#include <omp.h>

static int check(Ctx *ctx, int N, int In, int Out)
{
	if (N < 1 || In < 1 || Out < 1)
		return CTX_FAIL(ctx, "fully connected: sizes must be positive (N=%d I=%d O=%d)", N, In, Out);
	return 0;
}

int cpu_fc_forward(Ctx *ctx, int N, int In, int Out, const float *x, const float *w, const float *b, float *y,
		   int relu)
{
	if (check(ctx, N, In, Out) != 0)
		return -1;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Out, In, 1.0f, x, In, w, In, 0.0f, y, Out);
	if (!b && !relu)
		return 0;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(ctx)) if ((size_t)N * Out > 65536)
	for (int n = 0; n < N; n++) {
		float *row = y + (size_t)n * Out;
		if (b)
#pragma omp simd
			for (int o = 0; o < Out; o++)
				row[o] += b[o];
		if (relu)
#pragma omp simd
			for (int o = 0; o < Out; o++)
				row[o] = row[o] < 0.0f ? 0.0f : row[o];
	}
	return 0;
}

int cpu_fc_backward_data(Ctx *ctx, int N, int In, int Out, const float *dy, const float *w, float *dx)
{
	if (check(ctx, N, In, Out) != 0)
		return -1;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, Out, 1.0f, dy, Out, w, In, 0.0f, dx, In);
	return 0;
}

int cpu_fc_backward_weights(Ctx *ctx, int N, int In, int Out, const float *x, const float *dy, float *dw, float *db)
{
	if (check(ctx, N, In, Out) != 0)
		return -1;
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Out, In, N, 1.0f, dy, Out, x, In, 0.0f, dw, In);
	if (!db)
		return 0;
	/* column sums, rows added in order: each thread owns a run of columns */
#pragma omp parallel num_threads(cpu_threads(ctx)) if ((size_t)N * Out > 65536)
	{
		size_t lo, hi;
		cpu_split((size_t)Out, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
		for (size_t o = lo; o < hi; o++)
			db[o] = 0.0f;
		for (int n = 0; n < N; n++) {
			const float *row = dy + (size_t)n * Out;
#pragma omp simd
			for (size_t o = lo; o < hi; o++)
				db[o] += row[o];
		}
	}
	return 0;
}
