/* kernels.h: the compute API every anet program uses; one backend per device, chosen at run time.
 *
 * A backend (kernels/cpu: OpenBLAS + OpenMP; kernels/cuda: CUDA + cuBLAS) is a table of
 * functions. Callers hold a Ctx, which carries the backend, its device state (streams,
 * library handles, workspace) and its options; there are no globals. Callers never learn
 * which backend runs: they allocate buffers through the context and call the ops below.
 *
 * Conventions
 *  - Tensors are float32, NCHW, contiguous: x[n][c][h][w]. Buffers ("device pointers") come
 *    from ctx_alloc and are opaque to the host on a GPU backend; host memory is only touched
 *    through upload/download.
 *  - Every op returns 0, or -1 with the reason in ctx_error(ctx) ("file:line: what"). Library
 *    code never exits. Ops are asynchronous on a GPU: an error may surface at a later call.
 *  - Backward ops overwrite their outputs (they do not accumulate).
 *  - Randomness (dropout) is a pure function of (seed, stream, element index) through
 *    kernels/rng.h, so every backend draws the same mask.
 *
 * The paper (Krizhevsky et al. 2012) fixes the constants: LRN k=2, n=5, alpha=1e-4,
 * beta=0.75 with alpha multiplying the raw sum of squares (§3.3); pooling 3x3 stride 2
 * (§3.4); the update v = m*v - wd*lr*w - lr*dw, w = w + v (§5).
 */
#ifndef ANET_KERNELS_H
#define ANET_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the CUDA backend is compiled as C++ */
#endif

typedef struct Ctx Ctx;

/* Convolution: x[N][C][H][W] * w[K][C/G][R][S] + b[K] -> y[N][K][P][Q], with zero padding
 * pad on every side, the same stride both ways, and G groups: output channels
 * [g*K/G, (g+1)*K/G) see input channels [g*C/G, (g+1)*C/G) only (the paper's two-GPU split,
 * §3.2). P = (H + 2*pad - R) / stride + 1, likewise Q; conv_shape fills them. */
typedef struct {
	int N, C, H, W; /* batch, input channels, input height, width */
	int K, R, S;    /* output channels, kernel height, kernel width */
	int stride, pad, G;
	int P, Q;       /* output height, width */
} ConvShape;

/* Max pooling, size x size windows every stride pixels, no padding, floor rounding (as
 * PyTorch; the paper's 55 -> 27 -> 13 -> 6 is the same under floor and ceil):
 * P = (H - size) / stride + 1. */
typedef struct {
	int N, C, H, W;
	int size, stride;
	int P, Q;
} PoolShape;

/* Local response normalisation across channels (§3.3):
 *   y = x / scale^beta,  scale = k + alpha * sum_{c' in [c - size/2, c + size/2] ∩ [0, C)} x[c']^2
 * alpha multiplies the raw sum (Caffe and cuda-convnet divide it by size: a trap). */
typedef struct {
	int N, C, H, W;
	int size;
	float alpha, beta, k;
} LrnShape;

/* Augmentation (§4.1) and test-time views: out[v] is a crop x crop window of source image
 * views[v].src (HWC uint8, H x W x C, the images packed one after another), mirrored if
 * flip, with shift[c] added and the mean image (HWC float, H x W x C, the same window) taken
 * away, times scale:
 *   out[v][c][y][x] = (img[y0+y][x0+xx][c] + shift[c] - mean[y0+y][x0+xx][c]) * scale,
 *   xx = flip ? crop_w-1-x : x,
 * except inside the view's erased rectangle (random erasing), where out is 0.
 * The views (and their random numbers) are made on the host, so every backend produces the
 * same batch. */
typedef struct {
	int32_t src;       /* index of the source image */
	int32_t y0, x0;    /* window origin in the source */
	int32_t flip;      /* mirror horizontally */
	float shift[3];    /* added to each channel (PCA colour noise, pixel units) */
	int32_t ey0, ex0;  /* random erasing: out[ey0..ey0+eh)[ex0..ex0+ew) of every channel is 0 */
	int32_t eh, ew;    /* (the mean image's value); eh = 0: nothing erased */
} View;

typedef struct {
	int H, W, C;          /* source image size */
	int crop_h, crop_w;   /* output size */
	float scale;
} AugmentShape;

typedef enum { GEMM_N = 0, GEMM_T = 1 } GemmTrans;

typedef struct Backend {
	const char *name;
	/* device: the CUDA ordinal (ignored by the CPU); fills ctx->impl. -1 with ctx error set. */
	int (*open)(Ctx *ctx, int device);
	void (*close)(Ctx *ctx);
	/* A one-line description of the device ("CPU, 16 threads, OpenBLAS 0.3.21", "NVIDIA H100 ..."). */
	const char *(*describe)(Ctx *ctx);

	void *(*alloc)(Ctx *ctx, size_t bytes);       /* NULL with ctx error set */
	void (*free)(Ctx *ctx, void *p);
	void *(*host_alloc)(Ctx *ctx, size_t bytes);  /* page-locked on a GPU backend */
	void (*host_free)(Ctx *ctx, void *p);
	/* Blocking copies. */
	int (*upload)(Ctx *ctx, void *dst, const void *src, size_t bytes);
	int (*download)(Ctx *ctx, void *dst, const void *src, size_t bytes);
	/* An upload from host_alloc memory that overlaps the work already queued: ops queued
	 * after it see the data; src must stay unchanged until the next sync or download. */
	int (*upload_async)(Ctx *ctx, void *dst, const void *src, size_t bytes);
	int (*copy)(Ctx *ctx, void *dst, const void *src, size_t bytes); /* device to device */
	int (*sync)(Ctx *ctx);
	int (*fill)(Ctx *ctx, float *x, size_t n, float value);

	/* Row-major C[M][N] = alpha * op(A) op(B) + beta * C, lda/ldb/ldc the row strides. */
	int (*gemm)(Ctx *ctx, GemmTrans ta, GemmTrans tb, int M, int N, int K, float alpha,
		    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

	/* y = conv(x, w) + b, then max(0, y) if relu. b may be NULL (no bias). */
	int (*conv_forward)(Ctx *ctx, const ConvShape *s, const float *x, const float *w,
			    const float *b, float *y, int relu);
	/* dx = dL/dx from dy and w. */
	int (*conv_backward_data)(Ctx *ctx, const ConvShape *s, const float *dy, const float *w, float *dx);
	/* dw = dL/dw, db = dL/db (db may be NULL) from x and dy, summed over the batch. */
	int (*conv_backward_filter)(Ctx *ctx, const ConvShape *s, const float *x, const float *dy,
				    float *dw, float *db);

	/* y = max over each window; argmax[n][c][p][q] = index h*W+w of the winner in its plane. */
	int (*pool_forward)(Ctx *ctx, const PoolShape *s, const float *x, float *y, int32_t *argmax);
	int (*pool_backward)(Ctx *ctx, const PoolShape *s, const float *dy, const int32_t *argmax, float *dx);

	/* scale (N*C*H*W floats) is saved for the backward pass. */
	int (*lrn_forward)(Ctx *ctx, const LrnShape *s, const float *x, float *y, float *scale);
	int (*lrn_backward)(Ctx *ctx, const LrnShape *s, const float *x, const float *y,
			    const float *scale, const float *dy, float *dx);

	/* y = max(0, x) (in place allowed); dx = dy where y > 0, else 0 (dx may equal dy). */
	int (*relu_forward)(Ctx *ctx, size_t n, const float *x, float *y);
	int (*relu_backward)(Ctx *ctx, size_t n, const float *y, const float *dy, float *dx);

	/* Inverted dropout: element i is kept when rng_uniform(seed, stream, i) >= p and then
	 * scaled by 1/(1-p); the backward pass recomputes the same mask. In place allowed. */
	int (*dropout_forward)(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
			       const float *x, float *y);
	int (*dropout_backward)(Ctx *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
				const float *dy, float *dx);

	/* Fully connected: x[N][In], w[Out][In] (PyTorch's layout), b[Out] -> y[N][Out]. */
	int (*fc_forward)(Ctx *ctx, int N, int In, int Out, const float *x, const float *w,
			  const float *b, float *y, int relu);
	int (*fc_backward_data)(Ctx *ctx, int N, int In, int Out, const float *dy, const float *w, float *dx);
	int (*fc_backward_weights)(Ctx *ctx, int N, int In, int Out, const float *x, const float *dy,
				   float *dw, float *db);

	/* probs[N][K] = softmax(logits) per row (max-subtracted). */
	int (*softmax_forward)(Ctx *ctx, int N, int K, const float *logits, float *probs);
	/* Gradient of the mean cross-entropy: dlogits = (probs - onehot(labels)) / N. */
	int (*xent_backward)(Ctx *ctx, int N, int K, const float *probs, const int32_t *labels, float *dlogits);

	/* y = a*x + b*y; with b == 0, y = a*x and y is not read (it may hold anything, NaN
	 * included). anet-train --accum sums the gradients of the parts of a batch with it. */
	int (*axpby)(Ctx *ctx, size_t n, float a, const float *x, float b, float *y);

	/* The paper's update (§5): v = momentum*v - decay*lr*w - lr*dw; w = w + v. */
	int (*sgd_update)(Ctx *ctx, size_t n, float *w, const float *dw, float *v, float lr,
			  float momentum, float decay);

	/* nviews outputs from src (uint8 images on the device), views a host array. */
	int (*augment)(Ctx *ctx, const AugmentShape *s, int nviews, const View *views,
		       const uint8_t *src, const float *mean, float *out);
} Backend;

struct Ctx {
	const Backend *be;
	int device;        /* CUDA ordinal */
	int threads;       /* CPU threads for the CPU backend's OpenMP regions */
	int deterministic; /* no atomics in reductions, fixed library math modes */
	int allow_tf32;    /* GPU GEMMs may use TF32 tensor cores */
	void *impl;        /* the backend's own state */
	char err[512];
};

typedef struct {
	const char *device; /* "auto", "cpu", "cuda"; NULL: $ANET_DEVICE, else "auto" */
	int gpu;            /* CUDA device ordinal */
	int threads;        /* CPU threads; 0: all online processors */
	int deterministic;
	int allow_tf32;
} CtxOptions;

/* Opens a context. On failure returns NULL and writes the reason to err. note (may be NULL)
 * receives a line worth telling the user, such as auto's fallback to the CPU ("no CUDA
 * device: using the CPU"), or "" when there is nothing to say. */
Ctx *ctx_open(const CtxOptions *o, char *err, size_t errlen, char *note, size_t notelen);
void ctx_close(Ctx *ctx);
const char *ctx_error(const Ctx *ctx);
/* Records "file:line: message" as the context's error; returns -1 for "return ctx_fail(...)". */
int ctx_fail(Ctx *ctx, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define CTX_FAIL(ctx, ...) ctx_fail((ctx), __FILE__, __LINE__, __VA_ARGS__)

/* The backends compiled into this build, and one by name (NULL if absent). */
const Backend *backend_cpu(void);
const Backend *backend_cuda(void); /* NULL in a build without CUDA */
int backend_cuda_available(void);  /* a CUDA device can be opened */

/* Shape helpers: fill the derived fields; -1 (and a reason) for impossible geometry. */
int conv_shape(ConvShape *s, const char **why);
int pool_shape(PoolShape *s, const char **why);

/* FLOPs of one forward convolution (2 per multiply-add), for rates. */
double conv_flops(const ConvShape *s);

/* Short wrappers so that layer code reads as ops, not as table lookups. */
static inline void *ctx_alloc(Ctx *c, size_t bytes) { return c->be->alloc(c, bytes); }
static inline void ctx_free(Ctx *c, void *p) { if (p) c->be->free(c, p); }
static inline int ctx_upload(Ctx *c, void *d, const void *s, size_t n) { return c->be->upload(c, d, s, n); }
static inline int ctx_download(Ctx *c, void *d, const void *s, size_t n) { return c->be->download(c, d, s, n); }
static inline int ctx_sync(Ctx *c) { return c->be->sync(c); }

#ifdef __cplusplus
}
#endif

#endif
