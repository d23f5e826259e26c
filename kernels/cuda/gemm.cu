/* gemm.cu: row-major matrix products on cuBLAS (column-major), single and strided-batched.
 *
 * anet's matrices are row-major: C[M][N] = alpha op(A)[M][K] op(B)[K][N] + beta C, with row
 * strides lda, ldb, ldc. cuBLAS reads column-major storage, in which a row-major X is X^T.
 * So the row-major product is computed as the column-major one C^T = op(B)^T op(A)^T: swap
 * the operands and M with N, keep each operand's transpose flag. No data moves.
 *
 * Precision: FP32 with FP32 accumulation (CUBLAS_DEFAULT_MATH), or TF32 tensor cores when
 * the context allows it (set on the handle in context.cu). cuBLAS results are bitwise
 * reproducible run to run on one GPU model (its documented guarantee with one stream per
 * handle); they differ from OpenBLAS's in summation order, hence tolerances in the tests.
 */
#include "kernels/cuda/cuda.h"

static cublasOperation_t op_of(GemmTrans t) { return t == GEMM_T ? CUBLAS_OP_T : CUBLAS_OP_N; }

int cuda_gemm(Ctx *ctx, GemmTrans ta, GemmTrans tb, int M, int N, int K, float alpha, const float *A, int lda,
	      long long sa, const float *B, int ldb, long long sb, float beta, float *C, int ldc, long long sc,
	      int batch)
{
	/* row strides at least the stored row length (cuBLAS' leading-dimension rule, seen
	 * from the row-major side) */
	int a_cols = ta == GEMM_N ? K : M, b_cols = tb == GEMM_N ? N : K;
	if (M < 0 || N < 0 || K < 0 || batch < 1)
		return CTX_FAIL(ctx, "gemm: negative size (M=%d N=%d K=%d batch=%d)", M, N, K, batch);
	if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) || ldc < (N > 1 ? N : 1))
		return CTX_FAIL(ctx, "gemm: row stride below the row length (lda=%d for %d, ldb=%d for %d, ldc=%d for %d)",
				lda, a_cols, ldb, b_cols, ldc, N);
	if (M == 0 || N == 0)
		return 0;
	Impl *im = impl_of(ctx);
	if (batch == 1)
		CUBLAS_CHECK(ctx, cublasSgemm(im->blas, op_of(tb), op_of(ta), N, M, K, &alpha, B, ldb, A, lda, &beta,
					      C, ldc));
	else
		CUBLAS_CHECK(ctx, cublasSgemmStridedBatched(im->blas, op_of(tb), op_of(ta), N, M, K, &alpha, B, ldb,
							    sb, A, lda, sa, &beta, C, ldc, sc, batch));
	return 0;
}

int cuda_gemm_op(Ctx *ctx, GemmTrans ta, GemmTrans tb, int M, int N, int K, float alpha, const float *A, int lda,
		 const float *B, int ldb, float beta, float *C, int ldc)
{
	CUDA_ENTER(ctx);
	return cuda_gemm(ctx, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
