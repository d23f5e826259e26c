/* cuda.h: what the CUDA backend's files share: the context state, error checks, grid helpers.
 *
 * Every CUDA runtime and cuBLAS call goes through CUDA_CHECK / CUBLAS_CHECK, and every
 * kernel launch is followed by LAUNCH_CHECK; each turns a failure into ctx_fail(...) with
 * this file's name and line and returns -1 from the calling launcher. Library code never
 * exits. Kernels run on the context's one compute stream, in order; the copy stream only
 * carries upload_async's transfers (see context.cu).
 *
 * Thread use: all calls on one Ctx come from one host thread at a time (the stream order
 * is the program order of that thread). Each entry point makes the context's GPU current,
 * so that thread may differ from the one that opened the context.
 */
#ifndef ANET_CUDA_H
#define ANET_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kernels/rng.h"

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

/* Threads per block for the simple one-element-per-thread kernels. */
#define CUDA_THREADS 256
/* Upper bound on blocks of a grid-stride launch (gridDim.x may reach 2^31 - 1; more blocks
 * than this only add scheduling work, since each thread loops). */
#define CUDA_MAX_BLOCKS (1u << 20)

/* The backend's state behind ctx->impl. */
typedef struct {
	int dev;                  /* CUDA ordinal */
	cudaStream_t stream;      /* every kernel and cuBLAS call */
	cudaStream_t copy_stream; /* upload_async's transfers */
	cudaEvent_t copy_done;    /* recorded on copy_stream, waited on by stream */
	cudaEvent_t queued_mark;  /* on stream at the last upload_async: its copy's WAR guard */
	cublasHandle_t blas;
	int sm_count;
	/* Scratch for im2col columns, transposed gradients and split-K partial sums; grown on
	 * demand (never shrunk) and reused by every op, which is safe because they all run in
	 * order on one stream. */
	void *ws;
	size_t ws_bytes;
	size_t ws_limit;          /* conv chunks are sized to fit this */
	/* augment's views, staged through pageable host memory (see augment.cu) */
	View *views_dev;
	View *views_host;
	int views_cap;
	char desc[1024];
} Impl;

static inline Impl *impl_of(Ctx *ctx) { return (Impl *)ctx->impl; }

#define CUDA_CHECK(ctx, call)                                                                  \
	do {                                                                                   \
		cudaError_t e_ = (call);                                                       \
		if (e_ != cudaSuccess) {                                                       \
			(void)cudaGetLastError(); /* clear a non-sticky error */               \
			return CTX_FAIL((ctx), "%s: %s (%s)", #call, cudaGetErrorString(e_),  \
					cudaGetErrorName(e_));                                 \
		}                                                                              \
	} while (0)

#define CUBLAS_CHECK(ctx, call)                                                                \
	do {                                                                                   \
		cublasStatus_t s_ = (call);                                                    \
		if (s_ != CUBLAS_STATUS_SUCCESS)                                               \
			return CTX_FAIL((ctx), "%s: %s", #call, cublasGetStatusString(s_));   \
	} while (0)

/* After every <<<...>>>: a bad configuration shows here; a fault inside the kernel shows at
 * a later call (ops are asynchronous, as kernels.h says). */
#define LAUNCH_CHECK(ctx)                                                                      \
	do {                                                                                   \
		cudaError_t e_ = cudaGetLastError();                                           \
		if (e_ != cudaSuccess)                                                         \
			return CTX_FAIL((ctx), "kernel launch: %s (%s)", cudaGetErrorString(e_), \
					cudaGetErrorName(e_));                                 \
	} while (0)

/* First line of every entry point: the context's GPU becomes the calling thread's. */
#define CUDA_ENTER(ctx) CUDA_CHECK((ctx), cudaSetDevice(impl_of(ctx)->dev))

/* Blocks for a grid-stride loop over n items. */
static inline unsigned grid_for(size_t n, unsigned threads)
{
	size_t b = CEIL_DIV(n, (size_t)threads);
	if (b < 1)
		b = 1;
	return b > CUDA_MAX_BLOCKS ? CUDA_MAX_BLOCKS : (unsigned)b;
}

/* Grid-stride loop: each thread takes i, i + stride, ... below n. I is the index type; the
 * hot kernels are instantiated with 32-bit indices when the sizes allow it (64-bit division
 * costs about ten times as much on the GPU) and 64-bit otherwise. */
#define GRID_LOOP(I, i, n)                                                                     \
	for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < (I)(n); i += (I)gridDim.x * blockDim.x)

static inline int fits_u32(size_t n) { return n < ((size_t)1 << 31); }

/* The scratch buffer, at least bytes large; NULL with the context error set. */
void *cuda_workspace(Ctx *ctx, size_t bytes);

/* Row-major C[M][N] = alpha op(A) op(B) + beta C through cuBLAS (column-major), for one
 * matrix or a strided batch of them (batch 1: a plain cublasSgemm). */
int cuda_gemm(Ctx *ctx, GemmTrans ta, GemmTrans tb, int M, int N, int K, float alpha, const float *A,
	      int lda, long long sa, const float *B, int ldb, long long sb, float beta, float *C, int ldc,
	      long long sc, int batch);

/* Bias and activation epilogue shared by the fully connected layer: y[n][o] = act(y + b). */
int cuda_bias_act_rows(Ctx *ctx, int N, int O, float *y, const float *b, int relu);

/* The backend's entry points, defined one op family per file. */
int cuda_fill(Ctx *ctx, float *x, size_t n, float value);
int cuda_gemm_op(Ctx *ctx, GemmTrans ta, GemmTrans tb, int M, int N, int K, float alpha, const float *A,
		 int lda, const float *B, int ldb, float beta, float *C, int ldc);
int cuda_conv_forward(Ctx *ctx, const ConvShape *s, const float *x, const float *w, const float *b, float *y,
		      int relu);
int cuda_conv_backward_data(Ctx *ctx, const ConvShape *s, const float *dy, const float *w, float *dx);
int cuda_conv_backward_filter(Ctx *ctx, const ConvShape *s, const float *x, const float *dy, float *dw,
			      float *db);
int cuda_pool_forward(Ctx *ctx, const PoolShape *s, const float *x, float *y, int32_t *argmax);
int cuda_pool_backward(Ctx *ctx, const PoolShape *s, const float *dy, const int32_t *argmax, float *dx);
int cuda_lrn_forward(Ctx *ctx, const LrnShape *s, const float *x, float *y, float *scale);
int cuda_lrn_backward(Ctx *ctx, const LrnShape *s, const float *x, const float *y, const float *scale,
		      const float *dy, float *dx);
int cuda_relu_forward(Ctx *ctx, size_t n, const float *x, float *y);
int cuda_relu_backward(Ctx *ctx, size_t n, const float *y, const float *dy, float *dx);
int cuda_dropout_forward(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *x,
			 float *y);
int cuda_dropout_backward(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *dy,
			  float *dx);
int cuda_fc_forward(Ctx *ctx, int N, int I, int O, const float *x, const float *w, const float *b, float *y,
		    int relu);
int cuda_fc_backward_data(Ctx *ctx, int N, int I, int O, const float *dy, const float *w, float *dx);
int cuda_fc_backward_weights(Ctx *ctx, int N, int I, int O, const float *x, const float *dy, float *dw,
			     float *db);
int cuda_softmax_forward(Ctx *ctx, int N, int K, const float *logits, float *probs);
int cuda_xent_backward(Ctx *ctx, int N, int K, const float *probs, const int32_t *labels, float *dlogits);
int cuda_axpby(Ctx *ctx, size_t n, float a, const float *x, float b, float *y);
int cuda_sgd_update(Ctx *ctx, size_t n, float *w, const float *dw, float *v, float lr, float momentum,
		    float decay);
int cuda_augment(Ctx *ctx, const AugmentShape *s, int nviews, const View *views, const uint8_t *src,
		 const float *mean, float *out);

#endif
