/* conv.c (reference): GEMM and grouped convolution as the defining sums, in double. */
#include "kernels/ref/ref.h"

void ref_gemm(GemmTrans ta, GemmTrans tb, int M, int N, int K, double alpha, const double *A, int lda,
	      const double *B, int ldb, double beta, double *C, int ldc)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double sum = 0;
			for (int k = 0; k < K; k++) {
				double a = ta == GEMM_N ? A[(size_t)i * lda + k] : A[(size_t)k * lda + i];
				double b = tb == GEMM_N ? B[(size_t)k * ldb + j] : B[(size_t)j * ldb + k];
				sum += a * b;
			}
			C[(size_t)i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * C[(size_t)i * ldc + j]);
		}
}

/* Index helpers: x[n][c][h][w], w[k][c'][r][s] (c' within the group), y[n][k][p][q]. */
static size_t xi(const ConvShape *s, int n, int c, int h, int w)
{
	return (((size_t)n * s->C + c) * s->H + h) * s->W + w;
}
static size_t wi(const ConvShape *s, int k, int cg, int r, int q)
{
	return (((size_t)k * (s->C / s->G) + cg) * s->R + r) * s->S + q;
}
static size_t yi(const ConvShape *s, int n, int k, int p, int q)
{
	return (((size_t)n * s->K + k) * s->P + p) * s->Q + q;
}

/* Runs BODY for every term of the convolution: output y[n][k][p][q] takes weight
 * w[k][cg][r][t] times input x[n][c][h][w_], where c is input channel cg of k's group and
 * (h, w_) = (p, q) * stride - pad + (r, t) lies inside the image. Written once so that the
 * forward and both backward passes visit exactly the same terms. */
#define FOR_EACH_TAP(s, BODY) \
	for (int n = 0; n < (s)->N; n++) \
	for (int k = 0; k < (s)->K; k++) \
	for (int p = 0; p < (s)->P; p++) \
	for (int q = 0; q < (s)->Q; q++) \
	for (int cg = 0; cg < (s)->C / (s)->G; cg++) \
	for (int r = 0; r < (s)->R; r++) \
	for (int t = 0; t < (s)->S; t++) { \
		int c = k / ((s)->K / (s)->G) * ((s)->C / (s)->G) + cg; \
		int h = p * (s)->stride - (s)->pad + r, w_ = q * (s)->stride - (s)->pad + t; \
		if (h >= 0 && h < (s)->H && w_ >= 0 && w_ < (s)->W) { \
			BODY; \
		} \
	}

void ref_conv_forward(const ConvShape *s, const double *x, const double *w, const double *b, double *y, int relu)
{
	size_t ny = (size_t)s->N * s->K * s->P * s->Q;
	for (size_t i = 0; i < ny; i++)
		y[i] = 0;
	FOR_EACH_TAP(s, y[yi(s, n, k, p, q)] += w[wi(s, k, cg, r, t)] * x[xi(s, n, c, h, w_)]);
	for (int n = 0; n < s->N; n++)
		for (int k = 0; k < s->K; k++)
			for (int p = 0; p < s->P; p++)
				for (int q = 0; q < s->Q; q++) {
					double *v = &y[yi(s, n, k, p, q)];
					if (b)
						*v += b[k];
					if (relu && *v < 0)
						*v = 0;
				}
}

void ref_conv_backward_data(const ConvShape *s, const double *dy, const double *w, double *dx)
{
	size_t nx = (size_t)s->N * s->C * s->H * s->W;
	for (size_t i = 0; i < nx; i++)
		dx[i] = 0;
	FOR_EACH_TAP(s, dx[xi(s, n, c, h, w_)] += w[wi(s, k, cg, r, t)] * dy[yi(s, n, k, p, q)]);
}

void ref_conv_backward_filter(const ConvShape *s, const double *x, const double *dy, double *dw, double *db)
{
	size_t nw = (size_t)s->K * (s->C / s->G) * s->R * s->S;
	for (size_t i = 0; i < nw; i++)
		dw[i] = 0;
	FOR_EACH_TAP(s, dw[wi(s, k, cg, r, t)] += x[xi(s, n, c, h, w_)] * dy[yi(s, n, k, p, q)]);
	if (!db)
		return;
	for (int k = 0; k < s->K; k++) {
		db[k] = 0;
		for (int n = 0; n < s->N; n++)
			for (int p = 0; p < s->P; p++)
				for (int q = 0; q < s->Q; q++)
					db[k] += dy[yi(s, n, k, p, q)];
	}
}
