/* conv.c: grouped convolution forward, backward-data and backward-filter; im2col + GEMM, or Winograd.
 *
 * Convolutions that Winograd's algorithm suits (stride-1 3x3 and 5x5, and strided kernels
 * spanning 3 or 5 strides such as AlexNet's 11x11 stride 4; see winograd.c) go there: 2.5 to
 * 4 times fewer multiplies. The rest are im2col + GEMM, here.
 *
 * Layouts: x[N][C][H][W], w[K][C/G][R][S], y[N][K][P][Q] (kernels.h). For one image,
 * im2col writes the column matrix col[C*R*S][P*Q] (row (c,r,s), column (p,q) holds the input
 * pixel that filter tap (r,s) of channel c meets at output (p,q), zero in the padding); group
 * g's rows are the contiguous block [g*C/G*R*S, (g+1)*C/G*R*S). Then per group
 *   forward          y_g  [K/G][PQ]     = w_g [K/G][CRS/G] * col_g [CRS/G][PQ]
 *   backward data    dcol_g[CRS/G][PQ]  = w_g^T * dy_g, then col2im adds dcol into dx
 *   backward filter  dw_g [K/G][CRS/G] += dy_g * col_g^T
 *
 * Threads: each of T threads takes a contiguous run of images and calls single-threaded
 * GEMMs on them (OpenBLAS runs single-threaded inside a parallel region), so nothing waits
 * on a barrier between images. When the output plane is small (13x13 = 169 columns) a GEMM
 * per image is short and wide, so images are taken nb at a time: their column matrices sit
 * side by side (col[CRS][nb*PQ], image i at column i*PQ) and one GEMM serves them all; the
 * output comes back as [K][nb*PQ] and is scattered to NCHW with the bias and ReLU on the way
 * (the epilogue touches each output once, while it is in cache). With fewer images than
 * threads (evaluating one image) the GEMMs run on all threads instead.
 *
 * Filter gradients: thread 0 accumulates into dw, the others into private partials, which
 * are then added in thread order, element by element: the same bits on every run.
 */
#include "kernels/cpu/cpu.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* Columns per GEMM worth gathering images for: below this OpenBLAS's micro-kernels spend
 * too long packing per flop (measured on conv3-5's 169-column planes). */
enum { CONV_TARGET_COLS = 1024 };

typedef struct {
	int Cg, Kg;    /* channels per group, in and out */
	size_t crs;    /* rows of the column matrix, all groups: C*R*S */
	size_t crs_g;  /* per group */
	size_t pq;     /* output pixels per plane */
	size_t chw;    /* input floats per image */
	size_t kpq;    /* output floats per image */
} Dims;

static int check_shape(Ctx *ctx, const ConvShape *s, Dims *d)
{
	ConvShape t = *s;
	const char *why = NULL;
	if (conv_shape(&t, &why) != 0)
		return CTX_FAIL(ctx, "convolution: %s", why);
	if (t.P != s->P || t.Q != s->Q)
		return CTX_FAIL(ctx, "convolution: output %dx%d does not match the geometry (%dx%d)", s->P, s->Q, t.P,
				t.Q);
	d->Cg = s->C / s->G;
	d->Kg = s->K / s->G;
	d->crs = (size_t)s->C * s->R * s->S;
	d->crs_g = (size_t)d->Cg * s->R * s->S;
	d->pq = (size_t)s->P * s->Q;
	d->chw = (size_t)s->C * s->H * s->W;
	d->kpq = (size_t)s->K * d->pq;
	return 0;
}

/* Images per GEMM for a thread that owns `owned` images. */
static int chunk_images(const Dims *d, size_t owned)
{
	size_t nb = (CONV_TARGET_COLS + d->pq - 1) / d->pq;
	if (nb > owned)
		nb = owned;
	return nb < 1 ? 1 : (int)nb;
}

/* The output columns q whose input column q*stride - pad + sx lies inside [0, W). */
static void valid_q(const ConvShape *s, int sx, int *lo, int *hi)
{
	int first = s->pad - sx, last = s->W - 1 + s->pad - sx; /* q*stride must lie in [first, last] */
	int a = first > 0 ? (first + s->stride - 1) / s->stride : 0;
	int b = last >= 0 ? last / s->stride + 1 : 0;
	if (b > s->Q)
		b = s->Q;
	if (b < a)
		b = a;
	*lo = a;
	*hi = b;
}

/* Column-matrix rows of channels [c0, c1) of one image; row stride ld. */
SIMD_CLONES
static void im2col(const ConvShape *s, const float *x, float *col, size_t ld, int c0, int c1)
{
	const int R = s->R, S = s->S, P = s->P, Q = s->Q, st = s->stride;
	for (int c = c0; c < c1; c++)
		for (int r = 0; r < R; r++)
			for (int sx = 0; sx < S; sx++) {
				float *row = col + ((size_t)(c * R + r) * S + sx) * ld;
				int qlo, qhi;
				valid_q(s, sx, &qlo, &qhi);
				int w0 = qlo * st - s->pad + sx;
				for (int p = 0; p < P; p++) {
					float *d = row + (size_t)p * Q;
					int h = p * st - s->pad + r;
					if (h < 0 || h >= s->H) {
						memset(d, 0, sizeof(float) * (size_t)Q);
						continue;
					}
					const float *src = x + ((size_t)c * s->H + h) * s->W + w0;
					for (int q = 0; q < qlo; q++)
						d[q] = 0;
					if (st == 1)
						memcpy(d + qlo, src, sizeof(float) * (size_t)(qhi - qlo));
					else
#pragma omp simd
						for (int q = qlo; q < qhi; q++)
							d[q] = src[(q - qlo) * st];
					for (int q = qhi; q < Q; q++)
						d[q] = 0;
				}
			}
}

/* dx planes [c0, c1) of one image = the sum of the column-matrix entries that came from
 * them (the adjoint of im2col); row stride ld. */
SIMD_CLONES
static void col2im(const ConvShape *s, const float *col, size_t ld, float *dx, int c0, int c1)
{
	const int R = s->R, S = s->S, P = s->P, Q = s->Q, st = s->stride;
	for (int c = c0; c < c1; c++) {
		float *plane = dx + (size_t)c * s->H * s->W;
		memset(plane, 0, sizeof(float) * (size_t)s->H * s->W);
		for (int r = 0; r < R; r++)
			for (int sx = 0; sx < S; sx++) {
				const float *row = col + ((size_t)(c * R + r) * S + sx) * ld;
				int qlo, qhi;
				valid_q(s, sx, &qlo, &qhi);
				int w0 = qlo * st - s->pad + sx;
				for (int p = 0; p < P; p++) {
					int h = p * st - s->pad + r;
					if (h < 0 || h >= s->H)
						continue;
					float *dst = plane + (size_t)h * s->W + w0;
					const float *src = row + (size_t)p * Q;
					if (st == 1) {
#pragma omp simd
						for (int q = qlo; q < qhi; q++)
							dst[q - qlo] += src[q];
					} else {
						for (int q = qlo; q < qhi; q++)
							dst[(q - qlo) * st] += src[q];
					}
				}
			}
	}
}

/* nt > 1: the caller is not in a parallel region and the helpers below may use nt threads. */
static void im2col_images(const ConvShape *s, const Dims *d, int nb, const float *x, float *col, int nt)
{
	size_t ld = (size_t)nb * d->pq;
	if (nt > 1 && nb == 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
		for (int c = 0; c < s->C; c++)
			im2col(s, x, col, ld, c, c + 1);
		return;
	}
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
	for (int i = 0; i < nb; i++)
		im2col(s, x + (size_t)i * d->chw, col + (size_t)i * d->pq, ld, 0, s->C);
}

/* dy of nb images, [nb][K][PQ], as one [K][nb*PQ] matrix. */
static void gather_dy(const Dims *d, int K, int nb, const float *dy, float *out, int nt)
{
	size_t ld = (size_t)nb * d->pq;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
	for (int k = 0; k < K; k++)
		for (int i = 0; i < nb; i++)
			memcpy(out + k * ld + (size_t)i * d->pq, dy + (size_t)i * d->kpq + (size_t)k * d->pq,
			       sizeof(float) * d->pq);
}

static void forward_chunk(const ConvShape *s, const Dims *d, int nb, const float *x, const float *w,
			  const float *b, float *y, int relu, float *col, float *out, int nt)
{
	size_t L = (size_t)nb * d->pq;
	im2col_images(s, d, nb, x, col, nt);
	float *dst = nb == 1 ? y : out;
	for (int g = 0; g < s->G; g++)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->Kg, (int)L, (int)d->crs_g, 1.0f,
			    w + (size_t)g * d->Kg * d->crs_g, (int)d->crs_g, col + g * d->crs_g * L, (int)L, 0.0f,
			    dst + (size_t)g * d->Kg * L, (int)L);
	/* epilogue: bias, ReLU, and the scatter back to [nb][K][PQ] */
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
	for (int k = 0; k < s->K; k++) {
		float bias = b ? b[k] : 0.0f;
		for (int i = 0; i < nb; i++) {
			const float *src = dst + k * L + (size_t)i * d->pq;
			float *o = y + (size_t)i * d->kpq + (size_t)k * d->pq;
			if (relu) {
#pragma omp simd
				for (size_t j = 0; j < d->pq; j++) {
					float v = src[j] + bias;
					o[j] = v < 0.0f ? 0.0f : v;
				}
			} else {
#pragma omp simd
				for (size_t j = 0; j < d->pq; j++)
					o[j] = src[j] + bias;
			}
		}
	}
}

int cpu_conv_forward(Ctx *ctx, const ConvShape *s, const float *x, const float *w, const float *b, float *y,
		     int relu)
{
	Dims d;
	if (check_shape(ctx, s, &d) != 0)
		return -1;
	if (cpu_winograd_fits(s))
		return cpu_winograd_forward(ctx, s, x, w, b, y, relu);
	int T = s->N < cpu_threads(ctx) ? 1 : cpu_threads(ctx);
	int nb = chunk_images(&d, ((size_t)s->N + T - 1) / T);
	size_t L = (size_t)nb * d.pq, outoff = cpu_pad(d.crs * L), per = outoff + cpu_pad((size_t)s->K * L);
	float *ws = cpu_workspace(ctx, per * T);
	if (!ws)
		return -1;
#pragma omp parallel num_threads(T) if (T > 1)
	{
		int t = omp_get_thread_num(), nt = omp_get_num_threads();
		int inner = nt > 1 ? 1 : cpu_threads(ctx); /* one thread: the helpers may use them all */
		size_t lo, hi;
		cpu_split((size_t)s->N, nt, t, &lo, &hi);
		float *slice = ws + per * t;
		for (size_t n = lo; n < hi; n += (size_t)nb) {
			int m = (int)(hi - n < (size_t)nb ? hi - n : (size_t)nb);
			forward_chunk(s, &d, m, x + n * d.chw, w, b, y + n * d.kpq, relu, slice, slice + outoff, inner);
		}
	}
	return 0;
}

static void backward_data_chunk(const ConvShape *s, const Dims *d, int nb, const float *dy, const float *w,
				float *dx, float *dcol, float *dyg, int nt)
{
	size_t L = (size_t)nb * d->pq;
	const float *src = dy;
	if (nb > 1) {
		gather_dy(d, s->K, nb, dy, dyg, nt);
		src = dyg;
	}
	for (int g = 0; g < s->G; g++)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d->crs_g, (int)L, d->Kg, 1.0f,
			    w + (size_t)g * d->Kg * d->crs_g, (int)d->crs_g, src + (size_t)g * d->Kg * L, (int)L, 0.0f,
			    dcol + g * d->crs_g * L, (int)L);
	if (nt > 1 && nb == 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
		for (int c = 0; c < s->C; c++)
			col2im(s, dcol, L, dx, c, c + 1);
		return;
	}
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
	for (int i = 0; i < nb; i++)
		col2im(s, dcol + (size_t)i * d->pq, L, dx + (size_t)i * d->chw, 0, s->C);
}

int cpu_conv_backward_data(Ctx *ctx, const ConvShape *s, const float *dy, const float *w, float *dx)
{
	Dims d;
	if (check_shape(ctx, s, &d) != 0)
		return -1;
	if (cpu_winograd_fits(s))
		return cpu_winograd_backward_data(ctx, s, dy, w, dx);
	int T = s->N < cpu_threads(ctx) ? 1 : cpu_threads(ctx);
	int nb = chunk_images(&d, ((size_t)s->N + T - 1) / T);
	size_t L = (size_t)nb * d.pq, dygoff = cpu_pad(d.crs * L), per = dygoff + cpu_pad((size_t)s->K * L);
	float *ws = cpu_workspace(ctx, per * T);
	if (!ws)
		return -1;
#pragma omp parallel num_threads(T) if (T > 1)
	{
		int t = omp_get_thread_num(), nt = omp_get_num_threads();
		int inner = nt > 1 ? 1 : cpu_threads(ctx);
		size_t lo, hi;
		cpu_split((size_t)s->N, nt, t, &lo, &hi);
		float *slice = ws + per * t;
		for (size_t n = lo; n < hi; n += (size_t)nb) {
			int m = (int)(hi - n < (size_t)nb ? hi - n : (size_t)nb);
			backward_data_chunk(s, &d, m, dy + n * d.kpq, w, dx + n * d.chw, slice, slice + dygoff, inner);
		}
	}
	return 0;
}

/* dw (+)= dy * col^T for nb images; dbsum[k] += the sum of dy's row k (each chunk's sum in
 * float, vectorised, the chunks' sums in double). first: dw is overwritten, not added to. */
static void backward_filter_chunk(const ConvShape *s, const Dims *d, int nb, const float *x, const float *dy,
				  float *dw, double *dbsum, int first, float *col, float *dyg, int nt)
{
	size_t L = (size_t)nb * d->pq;
	im2col_images(s, d, nb, x, col, nt);
	const float *src = dy;
	if (nb > 1) {
		gather_dy(d, s->K, nb, dy, dyg, nt);
		src = dyg;
	}
	for (int g = 0; g < s->G; g++)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->Kg, (int)d->crs_g, (int)L, 1.0f,
			    src + (size_t)g * d->Kg * L, (int)L, col + g * d->crs_g * L, (int)L, first ? 0.0f : 1.0f,
			    dw + (size_t)g * d->Kg * d->crs_g, (int)d->crs_g);
	if (!dbsum)
		return;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
	for (int k = 0; k < s->K; k++) {
		const float *row = src + k * L;
		float part = 0.0f;
#pragma omp simd reduction(+ : part)
		for (size_t j = 0; j < L; j++)
			part += row[j];
		dbsum[k] += part;
	}
}

/* One thread's scratch for the filter gradient, in floats from the start of its slice. */
typedef struct {
	size_t dyg, part, db, per;
} FilterSlice;

static FilterSlice filter_slice(const Dims *d, int K, size_t L)
{
	FilterSlice f;
	f.dyg = cpu_pad(d->crs * L);
	f.part = f.dyg + cpu_pad((size_t)K * L);
	f.db = f.part + cpu_pad((size_t)K * d->crs_g);
	f.per = f.db + cpu_pad(2 * (size_t)K); /* K doubles */
	return f;
}

int cpu_conv_backward_filter(Ctx *ctx, const ConvShape *s, const float *x, const float *dy, float *dw, float *db)
{
	Dims d;
	if (check_shape(ctx, s, &d) != 0)
		return -1;
	if (cpu_winograd_fits(s))
		return cpu_winograd_backward_filter(ctx, s, x, dy, dw, db);
	int T = cpu_threads(ctx), N = s->N, K = s->K;
	size_t wsize = (size_t)K * d.crs_g;
	if (N < T)
		T = 1; /* one chunk loop, GEMMs on all threads */
	int nb = chunk_images(&d, ((size_t)N + T - 1) / T);
	FilterSlice f = filter_slice(&d, K, (size_t)nb * d.pq);
	float *ws = cpu_workspace(ctx, f.per * T);
	if (!ws)
		return -1;
	int used = T;
#pragma omp parallel num_threads(T) if (T > 1)
	{
		int t = omp_get_thread_num(), nt = omp_get_num_threads();
		size_t lo, hi;
		cpu_split((size_t)N, nt, t, &lo, &hi);
		float *slice = ws + f.per * t;
		double *dbsum = (double *)(slice + f.db);
		memset(dbsum, 0, sizeof(double) * (size_t)K);
		if (t == 0)
			used = nt;
		/* when T was cut to 1 above, the helpers may use every thread */
		int inner = nt > 1 ? 1 : cpu_threads(ctx);
		for (size_t n = lo; n < hi; n += (size_t)nb) {
			int m = (int)(hi - n < (size_t)nb ? hi - n : (size_t)nb);
			backward_filter_chunk(s, &d, m, x + n * d.chw, dy + n * d.kpq, t == 0 ? dw : slice + f.part,
					      db ? dbsum : NULL, n == lo, slice, slice + f.dyg, inner);
		}
	}
	/* the partials of threads 1.. added to thread 0's, in thread order */
	if (used > 1) {
#pragma omp parallel for schedule(static) num_threads(used)
		for (size_t i = 0; i < wsize; i++) {
			float v = dw[i];
			for (int t = 1; t < used; t++)
				v += ws[f.per * t + f.part + i];
			dw[i] = v;
		}
	}
	if (db)
		for (int k = 0; k < K; k++) {
			double v = 0;
			for (int t = 0; t < used; t++)
				v += ((const double *)(ws + f.per * t + f.db))[k];
			db[k] = (float)v;
		}
	return 0;
}
