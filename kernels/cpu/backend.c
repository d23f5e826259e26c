/* backend.c: the CPU backend's table, its context (threads, scratch), memory ops and GEMM.
 *
 * "Device" memory is ordinary host memory, so uploads and downloads are copies and sync has
 * nothing to wait for. Matrix products are OpenBLAS's cblas_sgemm (see cpu.h for how its
 * threads and ours share one OpenMP pool).
 */
#include "kernels/cpu/cpu.h"

#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* OpenBLAS's own entry points, declared by its cblas.h in most versions but not all. */
extern void openblas_set_num_threads(int num_threads);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

/* Buffers start on a cache line, which is also one AVX-512 vector. */
enum { ALIGN = 64 };

static void *aligned_bytes(size_t bytes)
{
	void *p = NULL;
	if (posix_memalign(&p, ALIGN, bytes ? (bytes + ALIGN - 1) / ALIGN * ALIGN : ALIGN) != 0)
		return NULL;
	return p;
}

float *cpu_workspace(Ctx *ctx, size_t floats)
{
	CpuState *st = cpu_state(ctx);
	if (floats <= st->ws_floats)
		return st->ws;
	free(st->ws);
	st->ws_floats = 0;
	st->ws = aligned_bytes(floats * sizeof(float));
	if (!st->ws) {
		CTX_FAIL(ctx, "out of memory for %zu bytes of scratch", floats * sizeof(float));
		return NULL;
	}
	st->ws_floats = floats;
	return st->ws;
}

/* OpenBLAS builds for many CPUs pick their kernels when the library loads, by CPU model. A
 * release older than the CPU (Debian 12's 0.3.21 on Emerald Rapids, say) does not know the
 * model and falls back to its Prescott (SSE3) kernels: 5x slower GEMMs on this machine
 * (37 against 200 GFLOP/s measured on 2 threads). The library reads OPENBLAS_CORETYPE when it
 * selects, and a dynamic-arch build exports the selection functions, so when the chosen core
 * is such a fallback and the CPU can run the AVX2 or AVX-512 kernels, select again with the
 * right name. A user's own OPENBLAS_CORETYPE is left alone. Like the variable, this sets the
 * library's kernels for the whole process; it happens when the first CPU context opens,
 * before any product. Returns the replacement's name, or NULL when nothing changed. */
static const char *openblas_fix_core(void)
{
#if !defined(__x86_64__) && !defined(__i386__)
	return NULL; /* the fallbacks below are x86 cores */
#else
	static const char *const fallback[] = { "Prescott", "Core2", "Penryn", "Dunnington",
						"Nehalem", "Atom", "Sandybridge", "Unknown" };
	const char *env = getenv("OPENBLAS_CORETYPE");
	if (env && *env)
		return NULL;
	const char *core = openblas_get_corename();
	int is_fallback = 0;
	for (size_t i = 0; i < sizeof fallback / sizeof fallback[0]; i++)
		is_fallback |= core && strcasecmp(core, fallback[i]) == 0;
	if (!is_fallback)
		return NULL;
	const char *want = NULL;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
		want = "SkylakeX";
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		want = "Haswell";
	if (!want)
		return NULL;
	void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
	void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
	if (!quit || !init)
		return NULL;
	if (setenv("OPENBLAS_CORETYPE", want, 1) != 0)
		return NULL;
	quit();
	init();
	unsetenv("OPENBLAS_CORETYPE");
	return want;
#endif
}

static void describe_into(CpuState *st, const char *fixed)
{
	/* openblas_get_config() reads "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...": keep the
	 * name and the version, then say which kernels run */
	char name[32] = "OpenBLAS", version[32] = "";
	const char *cfg = openblas_get_config();
	if (cfg && sscanf(cfg, "%31s %31s", name, version) < 1)
		snprintf(name, sizeof name, "OpenBLAS");
	snprintf(st->desc, sizeof st->desc, "CPU, %d thread%s, %s%s%s (%s kernels%s)", st->threads,
		 st->threads == 1 ? "" : "s", name, *version ? " " : "", version, openblas_get_corename(),
		 fixed ? "; chosen by anet, the library did not know this CPU" : "");
}

static int cpu_open(Ctx *ctx, int device)
{
	(void)device;
	CpuState *st = calloc(1, sizeof *st);
	if (!st)
		return CTX_FAIL(ctx, "out of memory");
	if (ctx->threads < 0) {
		free(st);
		return CTX_FAIL(ctx, "thread count %d is negative", ctx->threads);
	}
	st->threads = ctx->threads > 0 ? ctx->threads : omp_get_num_procs();
	/* OMP_THREAD_LIMIT caps every region: the ops run on the threads they get, but OpenBLAS's
	 * threaded GEMM splits a product for the count it was given and each part spins until the
	 * others have packed theirs, which on fewer threads never happens (a hang) */
	if (st->threads > omp_get_thread_limit())
		st->threads = omp_get_thread_limit();
	if (st->threads < 1)
		st->threads = 1;
	const char *fixed = openblas_fix_core();
	/* OpenBLAS's thread count is the process's: with several CPU contexts, the last opened
	 * sets it for the products they run outside parallel regions */
	openblas_set_num_threads(st->threads);
	describe_into(st, fixed);
	ctx->impl = st;
	return 0;
}

static void cpu_close(Ctx *ctx)
{
	CpuState *st = cpu_state(ctx);
	if (!st)
		return;
	free(st->ws);
	free(st);
	ctx->impl = NULL;
}

static const char *cpu_describe(Ctx *ctx) { return cpu_state(ctx)->desc; }

static void *cpu_alloc(Ctx *ctx, size_t bytes)
{
	void *p = aligned_bytes(bytes);
	if (!p)
		CTX_FAIL(ctx, "out of memory for %zu bytes", bytes);
	return p;
}

static void cpu_free(Ctx *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static int cpu_copy(Ctx *ctx, void *dst, const void *src, size_t bytes)
{
	(void)ctx;
	if (bytes && dst != src)
		memmove(dst, src, bytes);
	return 0;
}

static int cpu_sync(Ctx *ctx)
{
	(void)ctx;
	return 0;
}

static int cpu_fill(Ctx *ctx, float *x, size_t n, float value)
{
#pragma omp parallel for schedule(static) num_threads(cpu_threads(ctx)) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		x[i] = value;
	return 0;
}

int cpu_gemm(Ctx *ctx, GemmTrans ta, GemmTrans tb, int M, int N, int K, float alpha, const float *A, int lda,
	     const float *B, int ldb, float beta, float *C, int ldc)
{
	if (M < 0 || N < 0 || K < 0)
		return CTX_FAIL(ctx, "gemm: negative size %dx%dx%d", M, N, K);
	/* row-major: op(A) is M x K, stored K (N) or M (T) wide */
	if (lda < (ta == GEMM_N ? K : M) || ldb < (tb == GEMM_N ? N : K) || ldc < N || lda < 1 || ldb < 1 ||
	    ldc < 1)
		return CTX_FAIL(ctx, "gemm: leading dimensions %d, %d, %d too small for %dx%dx%d", lda, ldb, ldc, M, N,
				K);
	if (M == 0 || N == 0)
		return 0;
	cblas_sgemm(CblasRowMajor, ta == GEMM_T ? CblasTrans : CblasNoTrans, tb == GEMM_T ? CblasTrans : CblasNoTrans,
		    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
	return 0;
}

static const Backend cpu_backend = {
	.name = "cpu",
	.open = cpu_open,
	.close = cpu_close,
	.describe = cpu_describe,
	.alloc = cpu_alloc,
	.free = cpu_free,
	.host_alloc = cpu_alloc,
	.host_free = cpu_free,
	.upload = cpu_copy,
	.download = cpu_copy,
	.upload_async = cpu_copy,
	.copy = cpu_copy,
	.sync = cpu_sync,
	.fill = cpu_fill,
	.gemm = cpu_gemm,
	.conv_forward = cpu_conv_forward,
	.conv_backward_data = cpu_conv_backward_data,
	.conv_backward_filter = cpu_conv_backward_filter,
	.pool_forward = cpu_pool_forward,
	.pool_backward = cpu_pool_backward,
	.lrn_forward = cpu_lrn_forward,
	.lrn_backward = cpu_lrn_backward,
	.relu_forward = cpu_relu_forward,
	.relu_backward = cpu_relu_backward,
	.dropout_forward = cpu_dropout_forward,
	.dropout_backward = cpu_dropout_backward,
	.fc_forward = cpu_fc_forward,
	.fc_backward_data = cpu_fc_backward_data,
	.fc_backward_weights = cpu_fc_backward_weights,
	.softmax_forward = cpu_softmax_forward,
	.xent_backward = cpu_xent_backward,
	.axpby = cpu_axpby,
	.sgd_update = cpu_sgd_update,
	.augment = cpu_augment,
};

const Backend *backend_cpu(void) { return &cpu_backend; }
