/* context.cu: the CUDA backend's table, opening a GPU, memory, copies and the workspace.
 *
 * A context owns one compute stream (every kernel and cuBLAS call, in program order), a
 * copy stream for upload_async (so the next batch crosses PCIe while this one computes),
 * one cuBLAS handle bound to the compute stream, and a workspace grown on demand.
 *
 * Architecture check: the library carries SASS for CUDA_ARCH (ANET_CUDA_ARCH) and PTX for
 * compute_75, which the driver compiles for any newer GPU at first use. open() asks the
 * runtime for one kernel's attributes: a GPU that neither image fits fails there with the
 * make command that fixes it, rather than with "invalid device function" at the first op.
 *
 * Determinism: no kernel of this backend uses atomics; every reduction (bias and filter
 * gradients, softmax, pooling and LRN backward) sums in a fixed order. cuBLAS is bitwise
 * reproducible on one GPU model and toolkit version with one stream per handle (its
 * documented guarantee) and the split-K partial sums are reduced by our own kernel in a
 * fixed order, so a run repeats bit for bit on the same GPU whether or not
 * ctx->deterministic is set; ctx->deterministic additionally refuses TF32, so that its
 * results are also the FP32 ones (cuBLAS stays in CUBLAS_DEFAULT_MATH, exact FP32). GPU against CPU results agree only within
 * tolerance (different summation orders, fused multiply-adds); tests/check_cuda.c holds
 * the tolerances.
 */
#include "kernels/cuda/cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The workspace may not grow beyond this unless one op needs more for a single image;
 * convolution splits its batch into chunks that fit. 1 GiB covers AlexNet's largest layer
 * (conv2: (2400 + 256) x 729 floats per image, 1 GiB for 138 images) in one chunk at batch
 * 128. ANET_CUDA_WORKSPACE_MB overrides it (a measurement knob, read once at open). */
#define WORKSPACE_LIMIT ((size_t)1 << 30)

/* A kernel whose attributes tell whether this build has code for the device. */
static __global__ void probe_kernel(int *p)
{
	if (p)
		*p = 0;
}

static void fmt_bytes(char *buf, size_t len, size_t bytes)
{
	if (bytes >= ((size_t)1 << 30))
		snprintf(buf, len, "%.2f GiB", (double)bytes / (1 << 30));
	else
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1 << 20));
}

extern "C" int backend_cuda_available(void)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	(void)cudaGetLastError();
	return e == cudaSuccess && n > 0;
}

/* Fails with the make command that would build code for this device. */
static int check_arch(Ctx *ctx, const cudaDeviceProp *p)
{
	cudaFuncAttributes fa;
	cudaError_t e = cudaFuncGetAttributes(&fa, probe_kernel);
	if (e == cudaSuccess)
		return 0;
	(void)cudaGetLastError();
	int cc = p->major * 10 + p->minor;
	if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction ||
	    e == cudaErrorUnsupportedPtxVersion)
		return CTX_FAIL(ctx,
				"%s (compute capability %d.%d) is not in this build (CUDA_ARCH=%d): rebuild with "
				"make CUDA_ARCH=%d",
				p->name, p->major, p->minor, ANET_CUDA_ARCH, cc);
	return CTX_FAIL(ctx, "%s: cannot load the backend's kernels: %s (%s)", p->name, cudaGetErrorString(e),
			cudaGetErrorName(e));
}

static int open_streams(Ctx *ctx, Impl *im)
{
	CUDA_CHECK(ctx, cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking));
	CUDA_CHECK(ctx, cudaStreamCreateWithFlags(&im->copy_stream, cudaStreamNonBlocking));
	CUDA_CHECK(ctx, cudaEventCreateWithFlags(&im->copy_done, cudaEventDisableTiming));
	CUDA_CHECK(ctx, cudaEventCreateWithFlags(&im->queued_mark, cudaEventDisableTiming));
	CUBLAS_CHECK(ctx, cublasCreate(&im->blas));
	CUBLAS_CHECK(ctx, cublasSetStream(im->blas, im->stream));
	/* FP32 unless TF32 was asked for; deterministic runs keep the prescribed precision. */
	CUBLAS_CHECK(ctx, cublasSetMathMode(im->blas, ctx->allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
	CUBLAS_CHECK(ctx, cublasSetPointerMode(im->blas, CUBLAS_POINTER_MODE_HOST));
	return 0;
}

static void cuda_close(Ctx *ctx)
{
	Impl *im = impl_of(ctx);
	if (!im)
		return;
	cudaSetDevice(im->dev);
	if (im->stream)
		cudaStreamSynchronize(im->stream);
	if (im->copy_stream)
		cudaStreamSynchronize(im->copy_stream);
	if (im->blas)
		cublasDestroy(im->blas);
	cudaFree(im->ws);
	cudaFree(im->views_dev);
	free(im->views_host);
	if (im->copy_done)
		cudaEventDestroy(im->copy_done);
	if (im->queued_mark)
		cudaEventDestroy(im->queued_mark);
	if (im->copy_stream)
		cudaStreamDestroy(im->copy_stream);
	if (im->stream)
		cudaStreamDestroy(im->stream);
	(void)cudaGetLastError();
	free(im);
	ctx->impl = NULL;
}

static int cuda_open(Ctx *ctx, int device)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess || n == 0) {
		(void)cudaGetLastError();
		int rt = 0;
		cudaRuntimeGetVersion(&rt);
		if (e == cudaErrorInsufficientDriver)
			return CTX_FAIL(ctx, "no CUDA device: the NVIDIA driver is missing or older than the CUDA %d.%d "
					     "runtime this program was built with",
					rt / 1000, rt % 1000 / 10);
		return CTX_FAIL(ctx, "no CUDA device (%s)",
				e != cudaSuccess ? cudaGetErrorString(e) : "the driver lists none");
	}
	if (device < 0 || device >= n)
		return CTX_FAIL(ctx, "no GPU %d: this machine has %d (numbered from 0)", device, n);
	CUDA_CHECK(ctx, cudaSetDevice(device));
	cudaDeviceProp p;
	CUDA_CHECK(ctx, cudaGetDeviceProperties(&p, device));
	if (check_arch(ctx, &p) != 0)
		return -1;
	if (ctx->deterministic && ctx->allow_tf32)
		return CTX_FAIL(ctx, "TF32 and deterministic mode exclude each other (TF32 rounds inputs; "
				     "deterministic keeps FP32)");

	Impl *im = (Impl *)calloc(1, sizeof *im);
	if (!im)
		return CTX_FAIL(ctx, "out of host memory");
	ctx->impl = im;
	im->dev = device;
	im->sm_count = p.multiProcessorCount;
	im->ws_limit = WORKSPACE_LIMIT;
	const char *env = getenv("ANET_CUDA_WORKSPACE_MB");
	if (env && *env) {
		char *end;
		unsigned long long mb = strtoull(env, &end, 10);
		if (*end || mb < 16 || mb > (1ull << 20)) {
			cuda_close(ctx);
			return CTX_FAIL(ctx, "ANET_CUDA_WORKSPACE_MB='%s': expected a whole number of MiB, 16 or more",
					env);
		}
		im->ws_limit = (size_t)mb << 20;
	}
	if (open_streams(ctx, im) != 0) {
		char keep[sizeof ctx->err];
		memcpy(keep, ctx->err, sizeof keep);
		cuda_close(ctx);
		memcpy(ctx->err, keep, sizeof keep);
		return -1;
	}

	int rt = 0, drv = 0, blas = 0;
	cudaRuntimeGetVersion(&rt);
	cudaDriverGetVersion(&drv);
	cublasGetVersion(im->blas, &blas);
	int cc = p.major * 10 + p.minor;
	/* SASS runs on the same major architecture at an equal or higher minor; anything else
	 * runs the compute_75 PTX through the driver's JIT compiler (slower first start). */
	int native = p.major == ANET_CUDA_ARCH / 10 && p.minor >= ANET_CUDA_ARCH % 10;
	char mem[32], jit[96] = "";
	fmt_bytes(mem, sizeof mem, p.totalGlobalMem);
	if (!native)
		snprintf(jit, sizeof jit, "; running PTX through the JIT: make CUDA_ARCH=%d for native code", cc);
	snprintf(im->desc, sizeof im->desc,
		 "%s (GPU %d, compute capability %d.%d, %d SMs, %s; CUDA runtime %d.%d, driver %d.%d, cuBLAS %d; "
		 "%s%s%s)",
		 p.name, device, p.major, p.minor, p.multiProcessorCount, mem, rt / 1000, rt % 1000 / 10, drv / 1000,
		 drv % 1000 / 10, blas, ctx->allow_tf32 ? "TF32 GEMMs" : "FP32",
		 ctx->deterministic ? ", deterministic" : "", jit);
	return 0;
}

static const char *cuda_describe(Ctx *ctx) { return impl_of(ctx)->desc; }

/* ---------------------------------------------------------------------------------------
 * memory */

static void *fail_alloc(Ctx *ctx, const char *what, size_t bytes, cudaError_t e)
{
	(void)cudaGetLastError();
	size_t free_b = 0, total_b = 0;
	cudaMemGetInfo(&free_b, &total_b);
	(void)cudaGetLastError();
	char a[32], f[32], t[32];
	fmt_bytes(a, sizeof a, bytes);
	fmt_bytes(f, sizeof f, free_b);
	fmt_bytes(t, sizeof t, total_b);
	CTX_FAIL(ctx, "%s: out of GPU memory: asked for %s, %s free of %s on GPU %d (%s)", what, a, f, t,
		 impl_of(ctx)->dev, cudaGetErrorString(e));
	return NULL;
}

static void *cuda_alloc(Ctx *ctx, size_t bytes)
{
	if (cudaSetDevice(impl_of(ctx)->dev) != cudaSuccess) {
		(void)cudaGetLastError();
		CTX_FAIL(ctx, "cannot select GPU %d", impl_of(ctx)->dev);
		return NULL;
	}
	void *p = NULL;
	/* cudaMalloc(0) gives NULL, which callers would take for failure */
	cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
	if (e != cudaSuccess)
		return fail_alloc(ctx, "alloc", bytes, e);
	return p;
}

static void cuda_free(Ctx *ctx, void *p)
{
	cudaSetDevice(impl_of(ctx)->dev);
	cudaFree(p); /* synchronises with the device, so no queued kernel still uses p */
	(void)cudaGetLastError();
}

static void *cuda_host_alloc(Ctx *ctx, size_t bytes)
{
	void *p = NULL;
	cudaSetDevice(impl_of(ctx)->dev);
	cudaError_t e = cudaMallocHost(&p, bytes ? bytes : 64);
	if (e != cudaSuccess) {
		(void)cudaGetLastError();
		CTX_FAIL(ctx, "host_alloc: cannot pin %zu bytes of host memory: %s", bytes, cudaGetErrorString(e));
		return NULL;
	}
	return p;
}

static void cuda_host_free(Ctx *ctx, void *p)
{
	cudaSetDevice(impl_of(ctx)->dev);
	cudaFreeHost(p);
	(void)cudaGetLastError();
}

void *cuda_workspace(Ctx *ctx, size_t bytes)
{
	Impl *im = impl_of(ctx);
	if (bytes <= im->ws_bytes)
		return im->ws;
	/* ops queued on the stream may still use the old buffer */
	if (cudaStreamSynchronize(im->stream) != cudaSuccess) {
		cudaError_t e = cudaGetLastError();
		CTX_FAIL(ctx, "workspace: an earlier op failed: %s", cudaGetErrorString(e));
		return NULL;
	}
	cudaFree(im->ws);
	im->ws = NULL;
	im->ws_bytes = 0;
	/* round up to 64 MiB steps so that a sequence of slightly larger requests does not
	 * reallocate each time */
	size_t step = (size_t)64 << 20, want = CEIL_DIV(bytes, step) * step;
	void *p = NULL;
	cudaError_t e = cudaMalloc(&p, want);
	if (e != cudaSuccess) {
		(void)cudaGetLastError();
		want = bytes;
		e = cudaMalloc(&p, want);
	}
	if (e != cudaSuccess)
		return fail_alloc(ctx, "workspace", bytes, e);
	im->ws = p;
	im->ws_bytes = want;
	return p;
}

/* ---------------------------------------------------------------------------------------
 * copies */

static int cuda_upload(Ctx *ctx, void *dst, const void *src, size_t bytes)
{
	CUDA_ENTER(ctx);
	if (!bytes)
		return 0;
	Impl *im = impl_of(ctx);
	CUDA_CHECK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, im->stream));
	CUDA_CHECK(ctx, cudaStreamSynchronize(im->stream));
	return 0;
}

static int cuda_download(Ctx *ctx, void *dst, const void *src, size_t bytes)
{
	CUDA_ENTER(ctx);
	Impl *im = impl_of(ctx);
	if (bytes)
		CUDA_CHECK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, im->stream));
	CUDA_CHECK(ctx, cudaStreamSynchronize(im->stream));
	return 0;
}

/* The copy runs on the copy stream; the compute stream waits for it before anything queued
 * later. The copy itself first waits for the compute work queued before the previous
 * upload_async: with two input buffers used in turn (upload the next batch while this one
 * computes) that is the last work reading the buffer being overwritten, so double buffering
 * is safe and still overlaps one step. A single buffer would need a sync first. */
static int cuda_upload_async(Ctx *ctx, void *dst, const void *src, size_t bytes)
{
	CUDA_ENTER(ctx);
	if (!bytes)
		return 0;
	Impl *im = impl_of(ctx);
	/* a never-recorded event is waited on as already complete */
	CUDA_CHECK(ctx, cudaStreamWaitEvent(im->copy_stream, im->queued_mark, 0));
	CUDA_CHECK(ctx, cudaEventRecord(im->queued_mark, im->stream));
	CUDA_CHECK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, im->copy_stream));
	CUDA_CHECK(ctx, cudaEventRecord(im->copy_done, im->copy_stream));
	CUDA_CHECK(ctx, cudaStreamWaitEvent(im->stream, im->copy_done, 0));
	return 0;
}

static int cuda_copy(Ctx *ctx, void *dst, const void *src, size_t bytes)
{
	CUDA_ENTER(ctx);
	if (bytes)
		CUDA_CHECK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, impl_of(ctx)->stream));
	return 0;
}

static int cuda_sync(Ctx *ctx)
{
	CUDA_ENTER(ctx);
	CUDA_CHECK(ctx, cudaStreamSynchronize(impl_of(ctx)->stream));
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * the table */

static Backend make_table(void)
{
	Backend b;
	memset(&b, 0, sizeof b);
	b.name = "cuda";
	b.open = cuda_open;
	b.close = cuda_close;
	b.describe = cuda_describe;
	b.alloc = cuda_alloc;
	b.free = cuda_free;
	b.host_alloc = cuda_host_alloc;
	b.host_free = cuda_host_free;
	b.upload = cuda_upload;
	b.download = cuda_download;
	b.upload_async = cuda_upload_async;
	b.copy = cuda_copy;
	b.sync = cuda_sync;
	b.fill = cuda_fill;
	b.gemm = cuda_gemm_op;
	b.conv_forward = cuda_conv_forward;
	b.conv_backward_data = cuda_conv_backward_data;
	b.conv_backward_filter = cuda_conv_backward_filter;
	b.pool_forward = cuda_pool_forward;
	b.pool_backward = cuda_pool_backward;
	b.lrn_forward = cuda_lrn_forward;
	b.lrn_backward = cuda_lrn_backward;
	b.relu_forward = cuda_relu_forward;
	b.relu_backward = cuda_relu_backward;
	b.dropout_forward = cuda_dropout_forward;
	b.dropout_backward = cuda_dropout_backward;
	b.fc_forward = cuda_fc_forward;
	b.fc_backward_data = cuda_fc_backward_data;
	b.fc_backward_weights = cuda_fc_backward_weights;
	b.softmax_forward = cuda_softmax_forward;
	b.xent_backward = cuda_xent_backward;
	b.axpby = cuda_axpby;
	b.sgd_update = cuda_sgd_update;
	b.augment = cuda_augment;
	return b;
}

extern "C" const Backend *backend_cuda(void)
{
	static const Backend table = make_table();
	return &table;
}
