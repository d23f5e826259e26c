/* cpu.h: the CPU backend's private state and the ops each file of kernels/cpu provides.
 *
 * One OpenMP thread pool does all the work. Matrix products go to OpenBLAS's OpenMP build,
 * which runs single-threaded when called inside a parallel region and uses the pool when
 * called outside one; the ops are written so that the two are never both at full width:
 * either T threads each run their own GEMMs (convolutions over a batch) or one GEMM runs on
 * T threads (fully connected layers, a convolution of a single image).
 *
 * Determinism: every reduction (bias and filter gradients over the batch) sums per-thread
 * partials over a static partition of the work, then adds them in thread order, so the same
 * inputs and the same thread count give the same bits. Loops whose iterations are
 * independent are scheduled dynamically in coarse chunks instead: on a shared machine a
 * thread slowed down by another program then does not hold the others up, and the result
 * cannot depend on which thread did what.
 */
#ifndef ANET_KERNELS_CPU_H
#define ANET_KERNELS_CPU_H

#include <stddef.h>

#include "kernels/kernels.h"

typedef struct {
	int threads;       /* width of every parallel region and of OpenBLAS */
	float *ws;         /* scratch shared by the ops, grown on demand, never shrunk */
	size_t ws_floats;
	char desc[256];
} CpuState;

/* The hot loops are compiled for AVX-512, AVX2 and plain x86-64, the variant chosen when the
 * program loads. Not under ASan or TSan: gcc instruments the clones' ifunc resolvers, which run
 * while the program is relocated, before the sanitizer's runtime has started (under TSan a
 * segfault before main). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIMD_CLONES
#endif

static inline CpuState *cpu_state(Ctx *ctx) { return (CpuState *)ctx->impl; }
static inline int cpu_threads(Ctx *ctx) { return cpu_state(ctx)->threads; }

/* At least floats floats of scratch, 64-byte aligned, contents undefined; NULL with the ctx
 * error set. Valid until the next call (ops do not run concurrently on one context). */
float *cpu_workspace(Ctx *ctx, size_t floats);

/* [*lo, *hi): part t of n items split into parts near-equal contiguous ranges. */
static inline void cpu_split(size_t n, int parts, int t, size_t *lo, size_t *hi)
{
	size_t q = n / (size_t)parts, r = n % (size_t)parts, ut = (size_t)t;
	*lo = ut * q + (ut < r ? ut : r);
	*hi = *lo + q + (ut < r);
}

/* A float count rounded up to whole cache lines, so per-thread slices do not share one. */
static inline size_t cpu_pad(size_t floats) { return (floats + 15) & ~(size_t)15; }

/* The ops, one file per family. */
int cpu_gemm(Ctx *ctx, GemmTrans ta, GemmTrans tb, int M, int N, int K, float alpha, const float *A, int lda,
	     const float *B, int ldb, float beta, float *C, int ldc);

int cpu_conv_forward(Ctx *ctx, const ConvShape *s, const float *x, const float *w, const float *b, float *y,
		     int relu);
int cpu_conv_backward_data(Ctx *ctx, const ConvShape *s, const float *dy, const float *w, float *dx);
int cpu_conv_backward_filter(Ctx *ctx, const ConvShape *s, const float *x, const float *dy, float *dw, float *db);

/* The Winograd path for stride-1 3x3 and 5x5 convolutions (winograd.c), which conv.c takes
 * when cpu_winograd_fits says so. */
int cpu_winograd_fits(const ConvShape *s);
int cpu_winograd_forward(Ctx *ctx, const ConvShape *s, const float *x, const float *w, const float *b, float *y,
			 int relu);
int cpu_winograd_backward_data(Ctx *ctx, const ConvShape *s, const float *dy, const float *w, float *dx);
int cpu_winograd_backward_filter(Ctx *ctx, const ConvShape *s, const float *x, const float *dy, float *dw,
				 float *db);

int cpu_pool_forward(Ctx *ctx, const PoolShape *s, const float *x, float *y, int32_t *argmax);
int cpu_pool_backward(Ctx *ctx, const PoolShape *s, const float *dy, const int32_t *argmax, float *dx);

int cpu_lrn_forward(Ctx *ctx, const LrnShape *s, const float *x, float *y, float *scale);
int cpu_lrn_backward(Ctx *ctx, const LrnShape *s, const float *x, const float *y, const float *scale,
		     const float *dy, float *dx);

int cpu_relu_forward(Ctx *ctx, size_t n, const float *x, float *y);
int cpu_relu_backward(Ctx *ctx, size_t n, const float *y, const float *dy, float *dx);
int cpu_dropout_forward(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *x, float *y);
int cpu_dropout_backward(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream, const float *dy,
			 float *dx);

int cpu_fc_forward(Ctx *ctx, int N, int I, int O, const float *x, const float *w, const float *b, float *y,
		   int relu);
int cpu_fc_backward_data(Ctx *ctx, int N, int I, int O, const float *dy, const float *w, float *dx);
int cpu_fc_backward_weights(Ctx *ctx, int N, int I, int O, const float *x, const float *dy, float *dw,
			    float *db);

int cpu_softmax_forward(Ctx *ctx, int N, int K, const float *logits, float *probs);
int cpu_xent_backward(Ctx *ctx, int N, int K, const float *probs, const int32_t *labels, float *dlogits);

int cpu_axpby(Ctx *ctx, size_t n, float a, const float *x, float b, float *y);
int cpu_sgd_update(Ctx *ctx, size_t n, float *w, const float *dw, float *v, float lr, float momentum,
		   float decay);

int cpu_augment(Ctx *ctx, const AugmentShape *s, int nviews, const View *views, const uint8_t *src,
		const float *mean, float *out);

#endif
