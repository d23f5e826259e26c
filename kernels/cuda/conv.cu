/* conv.cu: grouped 2-D convolution (§3.2, §3.5): forward, backward-data, backward-filter,
 * as im2col + cuBLAS SGEMM over a chunk of images at once.
 *
 * Layouts (kernels.h): x[N][C][H][W], w[K][C/G][R][S], b[K], y[N][K][P][Q]; group g maps
 * input channels [g*Cg, (g+1)*Cg) to output channels [g*Kg, (g+1)*Kg), Cg = C/G, Kg = K/G.
 *
 * The batch is cut into chunks of nc images that fit the workspace (usually one chunk: see
 * context.cu). For a chunk, L = nc*P*Q columns, one per output pixel of every image:
 *   col[C*R*S][L]     col[(c*R + r)*S + s][(n*P + p)*Q + q] = x[n][c][p*stride-pad+r][q*stride-pad+s]
 *                     (0 outside the image); group g owns rows [g*Cg*R*S, (g+1)*Cg*R*S)
 *   yt[K][L]          the GEMM's output, channel-major ("CNHW"); one pass turns it into
 *                     NCHW while adding the bias and applying the ReLU
 * and for each group one GEMM (a strided batch over the G groups):
 *   forward           yt_g[Kg][L]   = w_g[Kg][Cg*R*S] col_g[Cg*R*S][L]
 *   backward data     dcol_g        = w_g^T dyt_g, then col2im gathers dcol into dx
 *   backward filter   dw_g[Kg][CgRS] = dyt_g[Kg][L] col_g^T, db[k] = sum of row k of dyt
 * One GEMM per chunk rather than one per image keeps the products large (AlexNet's conv3 at
 * batch 128: 384 x 21632 x 2304 instead of 128 products of 384 x 169 x 2304, whose 169
 * columns would waste a third of every 128-wide tile).
 *
 * The filter gradient's GEMM is short and wide the other way (conv1: 96 x 363 outputs, a
 * sum over 387,200 columns): a handful of output tiles for 132 SMs. We split the sum into
 * slices computed as one batched GEMM and add the slices up in a fixed order with our own
 * kernel, which fills the GPU and keeps the result independent of cuBLAS' split-K choices.
 *
 * Determinism: no atomics. col2im is a gather (each dx element sums its own windows in a
 * fixed order); bias and split-K sums reduce in fixed orders. Numerics: FP32 throughout,
 * FP32 accumulation in cuBLAS; GPU and CPU differ only in summation order.
 */
#include "kernels/cuda/cuda.h"

#include <limits.h>

typedef struct {
	int N, C, H, W, K, R, S, stride, pad, G, P, Q;
	int Cg, Kg, CRS, CRSg; /* C*R*S and (C/G)*R*S: rows of col, whole and per group */
	size_t PQ, HW;
} Geom;

/* Tile edge assumed when estimating how many output tiles a GEMM offers the SMs. */
#define GEMM_TILE 128
/* The split-K slices of the filter gradient: at most this many, each at least this long. */
#define SPLIT_MAX 64
#define SPLIT_MIN_COLS 1024

/* ---------------------------------------------------------------------------------------
 * kernels */

/* One thread per (channel, column): writes the R*S rows of col for that input channel. */
template <typename I>
static __global__ void im2col_kernel(const float *__restrict__ x, int C, int H, int W, int R, int S, int stride, int pad,
			      int Q, I PQ, I L, float *__restrict__ col)
{
	GRID_LOOP(I, t, (I)C * L) {
		I c = t / L, j = t - c * L;
		I n = j / PQ, pq = j - n * PQ;
		int p = (int)(pq / (I)Q), q = (int)(pq - (I)p * (I)Q);
		int h0 = p * stride - pad, w0 = q * stride - pad;
		const float *xp = x + ((size_t)n * C + (size_t)c) * H * W;
		float *cp = col + (size_t)c * R * S * L + j;
		for (int r = 0; r < R; r++) {
			int h = h0 + r;
			for (int s = 0; s < S; s++) {
				int w = w0 + s;
				*cp = (h >= 0 && h < H && w >= 0 && w < W) ? xp[(size_t)h * W + w] : 0.0f;
				cp += L;
			}
		}
	}
}

/* One thread per dx element: the sum over the (p, q) windows that cover it, read from dcol.
 * Window p covers row h when r = h + pad - p*stride lies in [0, R). */
template <typename I>
static __global__ void col2im_kernel(const float *__restrict__ dcol, int C, int H, int W, int R, int S, int stride,
			      int pad, int P, int Q, I L, I total, float *__restrict__ dx)
{
	GRID_LOOP(I, t, total) {
		I rest = t / (I)W;
		int w = (int)(t - rest * (I)W);
		I rest2 = rest / (I)H;
		int h = (int)(rest - rest2 * (I)H);
		I n = rest2 / (I)C;
		int c = (int)(rest2 - n * (I)C);
		int hp = h + pad, wp = w + pad;
		int p0 = hp < R ? 0 : (hp - R) / stride + 1, p1 = min(hp / stride + 1, P);
		int q0 = wp < S ? 0 : (wp - S) / stride + 1, q1 = min(wp / stride + 1, Q);
		const float *cb = dcol + (size_t)c * R * S * L + (size_t)n * P * Q;
		float sum = 0.0f;
		for (int p = p0; p < p1; p++) {
			int r = hp - p * stride;
			for (int q = q0; q < q1; q++) {
				int s = wp - q * stride;
				sum += cb[(size_t)(r * S + s) * L + (size_t)p * Q + q];
			}
		}
		dx[t] = sum;
	}
}

/* y[n][k][pq] = act(yt[k][n*PQ + pq] + b[k]): channel-major GEMM output to NCHW, one thread
 * per y element (reads and writes both run along pq). */
template <typename I>
static __global__ void cnhw_to_nchw_bias_kernel(const float *__restrict__ yt, const float *__restrict__ b, int K, I PQ,
					 I L, int relu, float *__restrict__ y)
{
	GRID_LOOP(I, t, (I)K * L) {
		I rest = t / PQ, pq = t - rest * PQ;
		I n = rest / (I)K;
		int k = (int)(rest - n * (I)K);
		float v = yt[(size_t)k * L + n * PQ + pq];
		if (b)
			v += b[k];
		if (relu)
			v = v < 0.0f ? 0.0f : v;
		y[t] = v;
	}
}

/* dyt[k][n*PQ + pq] = dy[n][k][pq]: the inverse layout change, for the backward GEMMs. */
template <typename I>
static __global__ void nchw_to_cnhw_kernel(const float *__restrict__ dy, int K, I PQ, I L, float *__restrict__ dyt)
{
	GRID_LOOP(I, t, (I)K * L) {
		I rest = t / PQ, pq = t - rest * PQ;
		I n = rest / (I)K;
		int k = (int)(rest - n * (I)K);
		dyt[(size_t)k * L + n * PQ + pq] = dy[t];
	}
}

/* out[k] (+)= sum of row k of a[rows][L]: one block per row, a fixed-shape tree. */
static __global__ void row_sum_kernel(const float *__restrict__ a, size_t L, int accumulate, float *__restrict__ out)
{
	__shared__ float part[CUDA_THREADS];
	const float *row = a + (size_t)blockIdx.x * L;
	float s = 0.0f;
	for (size_t j = threadIdx.x; j < L; j += CUDA_THREADS)
		s += row[j];
	part[threadIdx.x] = s;
	__syncthreads();
	for (int half = CUDA_THREADS / 2; half > 0; half /= 2) {
		if ((int)threadIdx.x < half)
			part[threadIdx.x] += part[threadIdx.x + half];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		out[blockIdx.x] = accumulate ? out[blockIdx.x] + part[0] : part[0];
}

/* dw[i] (+)= sum over slices s of part[s][i], s in order. */
static __global__ void slice_sum_kernel(const float *__restrict__ part, int slices, size_t n, int accumulate,
				 float *__restrict__ dw)
{
	GRID_LOOP(size_t, i, n) {
		float v = 0.0f;
		for (int s = 0; s < slices; s++)
			v += part[(size_t)s * n + i];
		dw[i] = accumulate ? dw[i] + v : v;
	}
}

/* ---------------------------------------------------------------------------------------
 * launchers */

static int conv_geom(Ctx *ctx, const char *op, const ConvShape *s, Geom *g)
{
	ConvShape t = *s;
	const char *why = "";
	if (conv_shape(&t, &why) != 0)
		return CTX_FAIL(ctx, "%s: bad shape: %s", op, why);
	if (t.P != s->P || t.Q != s->Q)
		return CTX_FAIL(ctx, "%s: output %dx%d does not match the geometry (%dx%d; call conv_shape)", op, s->P,
				s->Q, t.P, t.Q);
	size_t PQ = (size_t)t.P * t.Q;
	size_t CRS = (size_t)t.C * t.R * t.S;
	if (PQ > INT_MAX / 2 || CRS > INT_MAX / 2)
		return CTX_FAIL(ctx, "%s: a single image is too large (%zu output pixels, %zu filter taps)", op, PQ, CRS);
	*g = (Geom){ t.N, t.C, t.H, t.W, t.K, t.R, t.S, t.stride, t.pad, t.G, t.P, t.Q, t.C / t.G, t.K / t.G,
		     (int)CRS, (int)(CRS / t.G), PQ, (size_t)t.H * t.W };
	return 0;
}

/* Round a float count up to 64 floats (256 bytes), so sub-buffers start aligned. */
static size_t align64(size_t n) { return CEIL_DIV(n, 64) * 64; }

/* Images per chunk: as many as fit the workspace limit beside fixed bytes, at least one. */
static int chunk_images(Ctx *ctx, const Geom *g, size_t fixed_floats)
{
	size_t per_image = ((size_t)g->CRS + g->K) * g->PQ * sizeof(float);
	size_t limit = impl_of(ctx)->ws_limit, fixed = fixed_floats * sizeof(float);
	size_t room = limit > fixed ? limit - fixed : 0;
	size_t nc = room / (per_image + 2 * 256);
	/* L = nc*PQ must fit cuBLAS' int leading dimension */
	size_t cap = (size_t)(INT_MAX / 2) / g->PQ;
	if (nc > cap)
		nc = cap;
	if (nc < 1)
		nc = 1;
	return nc > (size_t)g->N ? g->N : (int)nc;
}

static int im2col(Ctx *ctx, const Geom *g, const float *x, int nc, float *col)
{
	size_t L = (size_t)nc * g->PQ, total = (size_t)g->C * L;
	cudaStream_t st = impl_of(ctx)->stream;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	if (fits_u32((size_t)g->CRS * L))
		im2col_kernel<unsigned><<<blocks, CUDA_THREADS, 0, st>>>(x, g->C, g->H, g->W, g->R, g->S, g->stride,
									 g->pad, g->Q, (unsigned)g->PQ,
									 (unsigned)L, col);
	else
		im2col_kernel<size_t><<<blocks, CUDA_THREADS, 0, st>>>(x, g->C, g->H, g->W, g->R, g->S, g->stride,
								       g->pad, g->Q, g->PQ, L, col);
	LAUNCH_CHECK(ctx);
	return 0;
}

static int col2im(Ctx *ctx, const Geom *g, const float *dcol, int nc, float *dx)
{
	size_t L = (size_t)nc * g->PQ, total = (size_t)nc * g->C * g->HW;
	cudaStream_t st = impl_of(ctx)->stream;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	if (fits_u32(total) && fits_u32((size_t)g->CRS * L))
		col2im_kernel<unsigned><<<blocks, CUDA_THREADS, 0, st>>>(dcol, g->C, g->H, g->W, g->R, g->S, g->stride,
									 g->pad, g->P, g->Q, (unsigned)L,
									 (unsigned)total, dx);
	else
		col2im_kernel<size_t><<<blocks, CUDA_THREADS, 0, st>>>(dcol, g->C, g->H, g->W, g->R, g->S, g->stride,
								       g->pad, g->P, g->Q, L, total, dx);
	LAUNCH_CHECK(ctx);
	return 0;
}

static int to_nchw(Ctx *ctx, const Geom *g, const float *yt, const float *b, int relu, int nc, float *y)
{
	size_t L = (size_t)nc * g->PQ, total = (size_t)g->K * L;
	cudaStream_t st = impl_of(ctx)->stream;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	if (fits_u32(total))
		cnhw_to_nchw_bias_kernel<unsigned><<<blocks, CUDA_THREADS, 0, st>>>(yt, b, g->K, (unsigned)g->PQ,
										    (unsigned)L, relu, y);
	else
		cnhw_to_nchw_bias_kernel<size_t><<<blocks, CUDA_THREADS, 0, st>>>(yt, b, g->K, g->PQ, L, relu, y);
	LAUNCH_CHECK(ctx);
	return 0;
}

static int to_cnhw(Ctx *ctx, const Geom *g, const float *dy, int nc, float *dyt)
{
	size_t L = (size_t)nc * g->PQ, total = (size_t)g->K * L;
	cudaStream_t st = impl_of(ctx)->stream;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	if (fits_u32(total))
		nchw_to_cnhw_kernel<unsigned><<<blocks, CUDA_THREADS, 0, st>>>(dy, g->K, (unsigned)g->PQ,
									       (unsigned)L, dyt);
	else
		nchw_to_cnhw_kernel<size_t><<<blocks, CUDA_THREADS, 0, st>>>(dy, g->K, g->PQ, L, dyt);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_conv_forward(Ctx *ctx, const ConvShape *s, const float *x, const float *w, const float *b, float *y,
		      int relu)
{
	CUDA_ENTER(ctx);
	Geom g;
	if (conv_geom(ctx, "conv_forward", s, &g) != 0)
		return -1;
	if (!x || !w || !y)
		return CTX_FAIL(ctx, "conv_forward: NULL buffer");
	int nc = chunk_images(ctx, &g, 0);
	size_t Lmax = (size_t)nc * g.PQ, col_n = align64((size_t)g.CRS * Lmax);
	float *col = (float *)cuda_workspace(ctx, (col_n + (size_t)g.K * Lmax) * sizeof(float));
	if (!col)
		return -1;
	float *yt = col + col_n;
	for (int n0 = 0; n0 < g.N; n0 += nc) {
		int m = g.N - n0 < nc ? g.N - n0 : nc;
		int L = m * (int)g.PQ;
		if (im2col(ctx, &g, x + (size_t)n0 * g.C * g.HW, m, col) != 0)
			return -1;
		if (cuda_gemm(ctx, GEMM_N, GEMM_N, g.Kg, L, g.CRSg, 1.0f, w, g.CRSg, (long long)g.Kg * g.CRSg, col, L,
			      (long long)g.CRSg * L, 0.0f, yt, L, (long long)g.Kg * L, g.G) != 0)
			return -1;
		if (to_nchw(ctx, &g, yt, b, relu, m, y + (size_t)n0 * g.K * g.PQ) != 0)
			return -1;
	}
	return 0;
}

int cuda_conv_backward_data(Ctx *ctx, const ConvShape *s, const float *dy, const float *w, float *dx)
{
	CUDA_ENTER(ctx);
	Geom g;
	if (conv_geom(ctx, "conv_backward_data", s, &g) != 0)
		return -1;
	if (!dy || !w || !dx)
		return CTX_FAIL(ctx, "conv_backward_data: NULL buffer");
	int nc = chunk_images(ctx, &g, 0);
	size_t Lmax = (size_t)nc * g.PQ, dyt_n = align64((size_t)g.K * Lmax);
	float *dyt = (float *)cuda_workspace(ctx, (dyt_n + (size_t)g.CRS * Lmax) * sizeof(float));
	if (!dyt)
		return -1;
	float *dcol = dyt + dyt_n;
	for (int n0 = 0; n0 < g.N; n0 += nc) {
		int m = g.N - n0 < nc ? g.N - n0 : nc;
		int L = m * (int)g.PQ;
		if (to_cnhw(ctx, &g, dy + (size_t)n0 * g.K * g.PQ, m, dyt) != 0)
			return -1;
		/* dcol_g[CRSg][L] = w_g^T[CRSg][Kg] dyt_g[Kg][L] */
		if (cuda_gemm(ctx, GEMM_T, GEMM_N, g.CRSg, L, g.Kg, 1.0f, w, g.CRSg, (long long)g.Kg * g.CRSg, dyt, L,
			      (long long)g.Kg * L, 0.0f, dcol, L, (long long)g.CRSg * L, g.G) != 0)
			return -1;
		if (col2im(ctx, &g, dcol, m, dx + (size_t)n0 * g.C * g.HW) != 0)
			return -1;
	}
	return 0;
}

/* How many slices the filter gradient's sum over columns is cut into, for chunks of up to
 * Lmax columns: enough output tiles to give every SM two, within SPLIT_MAX. */
static int split_slices(Ctx *ctx, const Geom *g)
{
	long tiles = (long)g->G * CEIL_DIV(g->Kg, GEMM_TILE) * CEIL_DIV(g->CRSg, GEMM_TILE);
	long want = CEIL_DIV(2L * impl_of(ctx)->sm_count, tiles);
	return want < 1 ? 1 : want > SPLIT_MAX ? SPLIT_MAX : (int)want;
}

/* dw (+)= dyt col^T for one chunk of L columns, split into slices when that helps. */
static int filter_gemm(Ctx *ctx, const Geom *g, const float *dyt, const float *col, int L, int slices, float *part,
		       int accumulate, float *dw)
{
	int S = slices;
	if (S > L / SPLIT_MIN_COLS)
		S = L / SPLIT_MIN_COLS;
	if (S <= 1) /* dw_g[Kg][CRSg] = dyt_g[Kg][L] col_g[CRSg][L]^T, one batch over groups */
		return cuda_gemm(ctx, GEMM_N, GEMM_T, g->Kg, g->CRSg, L, 1.0f, dyt, L, (long long)g->Kg * L, col, L,
				 (long long)g->CRSg * L, accumulate ? 1.0f : 0.0f, dw, g->CRSg,
				 (long long)g->Kg * g->CRSg, g->G);
	/* slices of Ls columns (a multiple of 64 floats keeps every slice aligned), the last
	 * one shorter; part[slice][K][CRSg] */
	int Ls = (int)align64((size_t)CEIL_DIV(L, S));
	int full = L / Ls, rest = L - full * Ls, nslices = full + (rest > 0);
	size_t wn = (size_t)g->K * g->CRSg;
	for (int gi = 0; gi < g->G; gi++) {
		const float *a = dyt + (size_t)gi * g->Kg * L, *bm = col + (size_t)gi * g->CRSg * L;
		float *c = part + (size_t)gi * g->Kg * g->CRSg;
		if (full > 0 && cuda_gemm(ctx, GEMM_N, GEMM_T, g->Kg, g->CRSg, Ls, 1.0f, a, L, Ls, bm, L, Ls, 0.0f, c,
					  g->CRSg, (long long)wn, full) != 0)
			return -1;
		if (rest > 0 && cuda_gemm(ctx, GEMM_N, GEMM_T, g->Kg, g->CRSg, rest, 1.0f, a + (size_t)full * Ls, L, 0,
					  bm + (size_t)full * Ls, L, 0, 0.0f, c + (size_t)full * wn, g->CRSg, 0,
					  1) != 0)
			return -1;
	}
	slice_sum_kernel<<<grid_for(wn, CUDA_THREADS), CUDA_THREADS, 0, impl_of(ctx)->stream>>>(part, nslices, wn,
												  accumulate, dw);
	LAUNCH_CHECK(ctx);
	return 0;
}

int cuda_conv_backward_filter(Ctx *ctx, const ConvShape *s, const float *x, const float *dy, float *dw, float *db)
{
	CUDA_ENTER(ctx);
	Geom g;
	if (conv_geom(ctx, "conv_backward_filter", s, &g) != 0)
		return -1;
	if (!x || !dy || !dw)
		return CTX_FAIL(ctx, "conv_backward_filter: NULL buffer");
	int slices = split_slices(ctx, &g);
	size_t part_n = slices > 1 ? align64((size_t)slices * g.K * g.CRSg) : 0;
	int nc = chunk_images(ctx, &g, part_n);
	size_t Lmax = (size_t)nc * g.PQ, col_n = align64((size_t)g.CRS * Lmax);
	size_t dyt_n = align64((size_t)g.K * Lmax);
	float *col = (float *)cuda_workspace(ctx, (col_n + dyt_n + part_n) * sizeof(float));
	if (!col)
		return -1;
	float *dyt = col + col_n, *part = dyt + dyt_n;
	for (int n0 = 0; n0 < g.N; n0 += nc) {
		int m = g.N - n0 < nc ? g.N - n0 : nc;
		int L = m * (int)g.PQ, acc = n0 > 0;
		if (im2col(ctx, &g, x + (size_t)n0 * g.C * g.HW, m, col) != 0)
			return -1;
		if (to_cnhw(ctx, &g, dy + (size_t)n0 * g.K * g.PQ, m, dyt) != 0)
			return -1;
		if (db) {
			row_sum_kernel<<<g.K, CUDA_THREADS, 0, impl_of(ctx)->stream>>>(dyt, (size_t)L, acc, db);
			LAUNCH_CHECK(ctx);
		}
		if (filter_gemm(ctx, &g, dyt, col, L, slices, part, acc, dw) != 0)
			return -1;
	}
	return 0;
}
