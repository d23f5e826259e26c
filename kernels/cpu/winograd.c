/* winograd.c: stride-1 3x3 and 5x5 convolutions by Winograd's minimal filtering, F(5x5,3x3) and F(3x3,5x5).
 *
 * Lavin and Gray, "Fast algorithms for convolutional neural networks" (CVPR 2016). The output
 * is cut into m x m tiles; tile t of channel k is
 *   Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_ct B) ] A
 * with d_ct the 7x7 input patch under the tile (alpha = m + r - 1 = 7 for both kernels) and
 * g_kc the r x r filter. After the transforms, the sum over channels is, for each of the 49
 * entries xi of the 7x7 transform, one matrix product
 *   M[xi] (K x tiles) = U[xi] (K x C) * V[xi] (C x tiles)
 * which OpenBLAS does. Multiplies per output: 49*C*K/(m*m) instead of r*r*C*K: 4.6x fewer
 * for 3x3 (m=5) and 4.6x fewer for 5x5 (m=3), less the tiles that overhang the plane. The
 * tile sizes suit AlexNet: 27x27 planes (conv2) are exactly 9x9 tiles of 3, and 13x13 planes
 * (conv3-5) take 3x3 tiles of 5 (75% used: 3.4x fewer multiplies; F(4x4,3x3) would give
 * 2.6x). The transforms are a few adds per value and cheap next to the products.
 *
 * Both kernel sizes use the interpolation points 0, 1, -1, 1/2, -1/2, 2 and infinity, so they
 * share B^T; G (7 x r) and A^T (m x 7) follow from the points (Toom-Cook; the tests check the
 * results against the direct sums). The backward passes reuse the machinery:
 *  - backward data is a forward convolution of dy with the filters flipped and their in and
 *    out channels swapped, padding r-1-pad;
 *  - backward filter sums, per 7x7 entry, (A dY_t A^T) .* (B^T d_t B) over every tile t of the
 *    batch (one matrix product over the tiles, per xi), then dw = G^T [that] G once.
 *
 * Accuracy: the transforms amplify float rounding: on random data the errors measure 2.6
 * (3x3) and 1.6 (5x5) u * C*r*r at worst, against ~0.3 for direct sums: ~1e-5 of a typical
 * output, far below what SGD notices. These points were chosen among the alpha = 7 sets for
 * the smallest error. The tests allow for it.
 *
 * Layout: the transforms work on LANES images at once, which are the vector lanes: each image
 * chunk's planes are first copied, zero-padded, into [row][column][image] order, so that
 * every step of a transform is a plain vector operation over the images (no gathers, and as
 * wide as the vector unit whatever the plane size). The products' columns are ordered (tile
 * row, tile column, image); a block of tile rows gives each product ~TARGET_COLS columns.
 *
 * Threads: in the forward pass (and backward data) the blocks go to whichever thread is
 * free; for the filter gradient each thread takes a fixed run of images and keeps partial
 * sums, added in thread order at the end, so that the result does not depend on timing.
 */
#include "kernels/cpu/cpu.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

enum {
	ALPHA = 7,          /* transform size for both kernels */
	XI = ALPHA * ALPHA, /* entries of a transformed tile: one product each */
	LANES = 16,         /* images transformed together: one AVX-512 vector */
	TARGET_COLS = 256,  /* columns per product */
	MAX_SIDE = 1024     /* largest plane side taken: keeps the scratch sizes sane */
};

/* Tiling of one convolution (stride 1, square kernel r, m x m output tiles). */
typedef struct {
	int m, r;
	int tp, tq;     /* tiles down and across */
	int wp;         /* width of the zero-padded input rows the patches are read from */
	int rows;       /* tile rows per block */
	int Cg, Kg;     /* channels per group, in and out */
} Tiling;

/* A unit of work: nb images (the lanes) and tile rows [ty0, ty1); product column
 * ((ty - ty0) * tq + tx) * nb + i holds tile (ty, tx) of image i. */
typedef struct {
	int nb, ty0, ty1;
	size_t cols;
} Block;

/* A strided convolution whose kernel spans 3 or 5 strides is folded to a stride-1 one (see
 * "strided convolutions" below); f gets the folded shape. */
static int fold_shape(const ConvShape *s, ConvShape *f)
{
	int st = s->stride, rf = (s->R + st - 1) / st;
	if (st < 2 || s->R != s->S || (rf != 3 && rf != 5))
		return 0;
	*f = (ConvShape){ .N = s->N, .C = s->C * st * st, .H = s->P + rf - 1, .W = s->Q + rf - 1, .K = s->K, .R = rf,
			  .S = rf, .stride = 1, .pad = 0, .G = s->G, .P = s->P, .Q = s->Q };
	return 1;
}

static int plain_fits(const ConvShape *s)
{
	if (s->stride != 1 || s->R != s->S || (s->R != 3 && s->R != 5) || s->pad > s->R - 1)
		return 0;
	/* too few channels to amortise the transforms (a first layer on grey images, say) */
	if ((s->C / s->G) * s->R * s->R < 64 || s->K / s->G < 8)
		return 0;
	return s->P <= MAX_SIDE && s->Q <= MAX_SIDE && s->H <= MAX_SIDE && s->W <= MAX_SIDE;
}

int cpu_winograd_fits(const ConvShape *s)
{
	ConvShape f;
	if (s->stride == 1)
		return plain_fits(s);
	/* the folded kernel is padded up to whole strides: not worth it when that more than
	 * doubles the work (AlexNet's 11x11 stride 4 becomes 12x12, 1.2x) */
	return fold_shape(s, &f) && plain_fits(&f) && f.R * f.R * s->stride * s->stride <= 2 * s->R * s->R;
}

static Tiling tiling(const ConvShape *s, int lanes)
{
	Tiling t;
	t.r = s->R;
	t.m = s->R == 3 ? 5 : 3;
	t.tp = (s->P + t.m - 1) / t.m;
	t.tq = (s->Q + t.m - 1) / t.m;
	t.wp = t.tq * t.m + t.r - 1;
	int per_row = t.tq * lanes;
	t.rows = (TARGET_COLS + per_row - 1) / per_row;
	if (t.rows > t.tp)
		t.rows = t.tp;
	t.Cg = s->C / s->G;
	t.Kg = s->K / s->G;
	return t;
}

static size_t block_cols(const Tiling *t, int lanes) { return (size_t)t->rows * t->tq * lanes; }

/* ---------------------------------------------------------------------------------------- */
/* the transforms */

/* G (7 x r) for r = 3 and 5: row k is (p_k^j / prod_{l != k} (p_k - p_l))_j at the points
 * 0, 1, -1, 1/2, -1/2, 2, and (0, ..., 0, 1) at infinity. */
static const float G3[ALPHA][3] = {
	{ -2.0f, 0, 0 },
	{ -2.0f / 3, -2.0f / 3, -2.0f / 3 },
	{ -2.0f / 9, 2.0f / 9, -2.0f / 9 },
	{ 16.0f / 9, 8.0f / 9, 4.0f / 9 },
	{ 16.0f / 15, -8.0f / 15, 4.0f / 15 },
	{ 2.0f / 45, 4.0f / 45, 8.0f / 45 },
	{ 0, 0, 1 },
};
static const float G5[ALPHA][5] = {
	{ -2.0f, 0, 0, 0, 0 },
	{ -2.0f / 3, -2.0f / 3, -2.0f / 3, -2.0f / 3, -2.0f / 3 },
	{ -2.0f / 9, 2.0f / 9, -2.0f / 9, 2.0f / 9, -2.0f / 9 },
	{ 16.0f / 9, 8.0f / 9, 4.0f / 9, 2.0f / 9, 1.0f / 9 },
	{ 16.0f / 15, -8.0f / 15, 4.0f / 15, -2.0f / 15, 1.0f / 15 },
	{ 2.0f / 45, 4.0f / 45, 8.0f / 45, 16.0f / 45, 32.0f / 45 },
	{ 0, 0, 0, 0, 1 },
};

/* u[xi][l] (the 49 entries ustride apart, lanes contiguous) = G f_l G^T for the lanes' r x r
 * filters f[i*r + j][l]; n lanes are stored. One function per r so the loops unroll. */
#define FILTER_TRANSFORM(NAME, R, GM)                                                          \
	SIMD_CLONES static void NAME(const float *f, float *u, size_t ustride, int n)          \
	{                                                                                      \
		float t[ALPHA][R][LANES];                                                      \
		for (int k = 0; k < ALPHA; k++)                                                \
			for (int j = 0; j < R; j++) {                                          \
				_Pragma("omp simd") for (int l = 0; l < LANES; l++)            \
				{                                                              \
					float v = 0;                                           \
					for (int i = 0; i < R; i++)                            \
						v += GM[k][i] * f[(i * R + j) * LANES + l];    \
					t[k][j][l] = v;                                        \
				}                                                              \
			}                                                                      \
		for (int k = 0; k < ALPHA; k++)                                                \
			for (int k2 = 0; k2 < ALPHA; k2++) {                                   \
				float *dst = u + (size_t)(k * ALPHA + k2) * ustride;           \
				_Pragma("omp simd") for (int l = 0; l < n; l++)                \
				{                                                              \
					float v = 0;                                           \
					for (int j = 0; j < R; j++)                            \
						v += t[k][j][l] * GM[k2][j];                   \
					dst[l] = v;                                            \
				}                                                              \
			}                                                                      \
	}
FILTER_TRANSFORM(filter_transform3, 3, G3)
FILTER_TRANSFORM(filter_transform5, 5, G5)

/* out[(a*r + b)][l] = (G^T m_l G)[a][b] for the lanes' transformed gradients m[xi][l] (the
 * 49 entries mstride apart, lanes contiguous). */
#define FILTER_UNTRANSFORM(NAME, R, GM)                                                        \
	SIMD_CLONES static void NAME(const float *m, size_t mstride, float *out)               \
	{                                                                                      \
		float t[ALPHA][R][LANES];                                                      \
		for (int x1 = 0; x1 < ALPHA; x1++)                                             \
			for (int b = 0; b < R; b++) {                                          \
				_Pragma("omp simd") for (int l = 0; l < LANES; l++)            \
				{                                                              \
					float v = 0;                                           \
					for (int x2 = 0; x2 < ALPHA; x2++)                     \
						v += m[(size_t)(x1 * ALPHA + x2) * mstride + l] * GM[x2][b]; \
					t[x1][b][l] = v;                                       \
				}                                                              \
			}                                                                      \
		for (int a = 0; a < R; a++)                                                    \
			for (int b = 0; b < R; b++) {                                          \
				_Pragma("omp simd") for (int l = 0; l < LANES; l++)            \
				{                                                              \
					float v = 0;                                           \
					for (int x1 = 0; x1 < ALPHA; x1++)                     \
						v += GM[x1][a] * t[x1][b][l];                  \
					out[(a * R + b) * LANES + l] = v;                      \
				}                                                              \
			}                                                                      \
	}
FILTER_UNTRANSFORM(filter_untransform3, 3, G3)
FILTER_UNTRANSFORM(filter_untransform5, 5, G5)

/* B^T applied to seven values is apart, for n lanes; the seven results os apart. B^T's
 * rows are the coefficients of prod_{l != k} (x - p_l) and, last, of prod_l (x - p_l). */
static inline __attribute__((always_inline)) void bt_lanes(const float *in, size_t is, float *out, size_t os, int n)
{
#pragma omp simd
	for (int l = 0; l < n; l++) {
		float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
		float d4 = in[4 * is + l], d5 = in[5 * is + l], d6 = in[6 * is + l];
		out[l] = d5 - 2 * d4 - 0.5f * d0 + 0.25f * d1 + 2.5f * d2 - 1.25f * d3;
		out[os + l] = d5 - d4 + 0.5f * d1 + 0.25f * d2 - 2.25f * d3;
		out[2 * os + l] = d5 - 3 * d4 - 0.5f * d1 + 0.75f * d2 + 1.75f * d3;
		out[3 * os + l] = d5 + d1 - 2 * d3 + 1.5f * (d2 - d4);
		out[4 * os + l] = d5 - d1 + 2.5f * (d2 - d4);
		out[5 * os + l] = d5 + 0.25f * d1 - 1.25f * d3;
		out[6 * os + l] = d6 - 2 * d5 - 0.5f * d1 + 0.25f * d2 + 2.5f * d3 - 1.25f * d4;
	}
}

/* A^T applied to seven values is apart (m = 5 or 3 results, os apart), for n lanes: row i is
 * p_k^i at the finite points, and 1 at infinity in the last row. */
static inline __attribute__((always_inline)) void at_lanes(int m, const float *in, size_t is, float *out, size_t os,
							   int n)
{
	if (m == 5) {
#pragma omp simd
		for (int l = 0; l < n; l++) {
			float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
			float d4 = in[4 * is + l], d5 = in[5 * is + l], d6 = in[6 * is + l];
			float sp = d1 + d2, sm = d1 - d2, hp = d3 + d4, hm = d3 - d4;
			out[l] = d0 + sp + hp + d5;
			out[os + l] = sm + 0.5f * hm + 2 * d5;
			out[2 * os + l] = sp + 0.25f * hp + 4 * d5;
			out[3 * os + l] = sm + 0.125f * hm + 8 * d5;
			out[4 * os + l] = sp + 0.0625f * hp + 16 * d5 + d6;
		}
	} else {
#pragma omp simd
		for (int l = 0; l < n; l++) {
			float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
			float d4 = in[4 * is + l], d5 = in[5 * is + l], d6 = in[6 * is + l];
			float sp = d1 + d2, hp = d3 + d4;
			out[l] = d0 + sp + hp + d5;
			out[os + l] = d1 - d2 + 0.5f * (d3 - d4) + 2 * d5;
			out[2 * os + l] = sp + 0.25f * hp + 4 * d5 + d6;
		}
	}
}

/* A (7 x m) applied to m values is apart, seven results os apart, for n lanes: the transform
 * of an output-gradient tile for the filter gradient. */
static inline __attribute__((always_inline)) void a_lanes(int m, const float *in, size_t is, float *out, size_t os,
							  int n)
{
	if (m == 5) {
#pragma omp simd
		for (int l = 0; l < n; l++) {
			float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
			float d4 = in[4 * is + l];
			float e = d0 + d2 + d4, o = d1 + d3;
			out[l] = d0;
			out[os + l] = e + o;
			out[2 * os + l] = e - o;
			float he = d0 + 0.25f * d2 + 0.0625f * d4, ho = 0.5f * d1 + 0.125f * d3;
			out[3 * os + l] = he + ho;
			out[4 * os + l] = he - ho;
			out[5 * os + l] = d0 + 2 * d1 + 4 * d2 + 8 * d3 + 16 * d4;
			out[6 * os + l] = d4;
		}
	} else {
#pragma omp simd
		for (int l = 0; l < n; l++) {
			float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l];
			out[l] = d0;
			out[os + l] = d0 + d1 + d2;
			out[2 * os + l] = d0 - d1 + d2;
			out[3 * os + l] = d0 + 0.5f * d1 + 0.25f * d2;
			out[4 * os + l] = d0 - 0.5f * d1 + 0.25f * d2;
			out[5 * os + l] = d0 + 2 * d1 + 4 * d2;
			out[6 * os + l] = d2;
		}
	}
}

/* Where the transforms read one channel: image i's value at (row, col) of the engine's
 * plane is base[i*istride + (step*row + dh)*W + step*col + dw], zero outside the H x W
 * plane. step = 1 and dh = dw = 0 for a plane read as it is; for a plane folded out of a
 * strided convolution's input, step is the stride (see "strided convolutions" below). */
typedef struct {
	const float *base;
	size_t istride;
	int H, W, step, dh, dw;
} Source;

static Source plain_source(const float *plane, size_t istride, int H, int W)
{
	return (Source){ .base = plane, .istride = istride, .H = H, .W = W, .step = 1 };
}

/* ceil(a / b) for b > 0 and any a. */
static int div_up(int a, int b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }

/* dst[r][j][i] = the source's value at (row0 + r, j - col0) for image i: `rows` rows of `width`
 * columns, nb lanes. With sum, the values are also added up (row by row in float, the rows in
 * double, in a fixed order). */
SIMD_CLONES
static void gather_rows(const Source *src, int row0, int col0, int rows, int width, int nb, float *dst, double *sum)
{
	const int st = src->step;
	/* columns j whose source column st*(j - col0) + dw lies in [0, W) */
	int lo = col0 + div_up(-src->dw, st), hi = col0 + div_up(src->W - src->dw, st);
	lo = lo < 0 ? 0 : lo > width ? width : lo;
	hi = hi < lo ? lo : hi > width ? width : hi;
	for (int r = 0; r < rows; r++) {
		float *d = dst + (size_t)r * width * nb;
		int h = st * (row0 + r) + src->dh;
		if (h < 0 || h >= src->H) {
			memset(d, 0, sizeof(float) * (size_t)width * nb);
			continue;
		}
		memset(d, 0, sizeof(float) * (size_t)lo * nb);
		memset(d + (size_t)hi * nb, 0, sizeof(float) * (size_t)(width - hi) * nb);
		const float *row = src->base + (size_t)h * src->W + (st * (lo - col0) + src->dw);
		const size_t is = src->istride;
		float part = 0.0f;
		for (int j = lo; j < hi; j++, row += st) {
			float *dj = d + (size_t)j * nb;
			for (int i = 0; i < nb; i++) {
				float v = row[(size_t)i * is];
				dj[i] = v;
				part += v;
			}
		}
		if (sum)
			*sum += part;
	}
}

/* The transforms below come in two copies, one for full blocks where the lane count nb is
 * the constant LANES (so each lane loop is a fixed number of whole vectors, no remainder),
 * one for any nb; BY_LANES picks. */
#define BY_LANES(NB, CALL)                     \
	do {                                   \
		if ((NB) == LANES) {           \
			const int nb_ = LANES; \
			CALL;                  \
		} else {                       \
			const int nb_ = (NB);  \
			CALL;                  \
		}                              \
	} while (0)

/* V[xi][col] (entries xs apart) = B^T d B for the block's tiles of one input channel, read
 * from src. xt, t1: scratch. */
static inline __attribute__((always_inline)) void input_block_n(const ConvShape *s, const Tiling *t, const Block *b,
								 const int nb, const Source *src, float *V, size_t xs,
								 float *xt, float *t1)
{
	const int m = t->m, wp = t->wp;
	const size_t row = (size_t)wp * nb;
	gather_rows(src, b->ty0 * m - s->pad, s->pad, (b->ty1 - b->ty0) * m + t->r - 1, wp, nb, xt, NULL);
	for (int ty = b->ty0; ty < b->ty1; ty++) {
		/* down the columns of all tiles of the row at once: t1[xi1][col][i] */
		bt_lanes(xt + (size_t)(ty - b->ty0) * m * row, row, t1, row, (int)row);
		/* across each tile */
		for (int x1 = 0; x1 < ALPHA; x1++)
			for (int tx = 0; tx < t->tq; tx++) {
				size_t col = ((size_t)(ty - b->ty0) * t->tq + tx) * nb;
				bt_lanes(t1 + x1 * row + (size_t)tx * m * nb, (size_t)nb, V + (size_t)x1 * ALPHA * xs + col, xs,
					 nb);
			}
	}
}

SIMD_CLONES
static void input_block(const ConvShape *s, const Tiling *t, const Block *b, const Source *src, float *V, size_t xs,
			float *xt, float *t1)
{
	BY_LANES(b->nb, input_block_n(s, t, b, nb_, src, V, xs, xt, t1));
}

/* D[xi][col] (entries xs apart) = A dY A^T for the block's m x m tiles of one output-gradient
 * channel (zero beyond the plane); dy is image 0's plane, the others istride after it. The
 * block's dy values are added to *sum. */
static inline __attribute__((always_inline)) void grad_block_n(const ConvShape *s, const Tiling *t, const Block *b,
								const int nb, const float *dy, size_t istride, float *D,
								size_t xs, float *dyt, float *t1, double *sum)
{
	const int m = t->m, wq = t->tq * t->m;
	const size_t row = (size_t)wq * nb;
	Source src = plain_source(dy, istride, s->P, s->Q);
	gather_rows(&src, b->ty0 * m, 0, (b->ty1 - b->ty0) * m, wq, nb, dyt, sum);
	for (int ty = b->ty0; ty < b->ty1; ty++) {
		a_lanes(m, dyt + (size_t)(ty - b->ty0) * m * row, row, t1, row, (int)row);
		for (int x1 = 0; x1 < ALPHA; x1++)
			for (int tx = 0; tx < t->tq; tx++) {
				size_t col = ((size_t)(ty - b->ty0) * t->tq + tx) * nb;
				a_lanes(m, t1 + x1 * row + (size_t)tx * m * nb, (size_t)nb, D + (size_t)x1 * ALPHA * xs + col, xs,
					nb);
			}
	}
}

SIMD_CLONES
static void grad_block(const ConvShape *s, const Tiling *t, const Block *b, const float *dy, size_t istride,
		       float *D, size_t xs, float *dyt, float *t1, double *sum)
{
	BY_LANES(b->nb, grad_block_n(s, t, b, nb_, dy, istride, D, xs, dyt, t1, sum));
}

/* One output channel of the block's images: Y = A^T M A per tile (M[xi] at Mo + xi*xs + col),
 * plus the bias, then the ReLU, into y (image 0's plane, the others istride after it).
 * z: ALPHA*m*tq*nb floats of scratch, o: m*m*tq*nb; qidx[q] = ((q % m)*tq + q/m)*nb, the
 * place of output column q in a row of o. */
static inline __attribute__((always_inline)) void output_block_n(const ConvShape *s, const Tiling *t,
								  const Block *b, const int nb, const float *Mo,
								  size_t xs, float *y, size_t istride, float bias,
								  int relu, float *z, float *o, const int32_t *qidx)
{
	const int m = t->m, tq = t->tq;
	const float floor = relu ? 0.0f : -INFINITY; /* v < -inf never holds, and a NaN stays */
	const size_t zrow = (size_t)tq * nb, zx = (size_t)m * zrow; /* z[x1][j][tx][i] */
	for (int ty = b->ty0; ty < b->ty1; ty++) {
		for (int x1 = 0; x1 < ALPHA; x1++)
			for (int tx = 0; tx < tq; tx++) {
				size_t col = ((size_t)(ty - b->ty0) * tq + tx) * nb;
				at_lanes(m, Mo + (size_t)x1 * ALPHA * xs + col, xs, z + x1 * zx + (size_t)tx * nb, zrow, nb);
			}
		at_lanes(m, z, zx, o, zx, (int)zx); /* o[i2][j][tx][i] */
		/* o[i2][j][tx][i] to y[i][ty*m + i2][q = tx*m + j]: one image at a time, so that the
		 * stores run along the output rows (the loads gather) */
		for (int i = 0; i < nb; i++)
			for (int i2 = 0; i2 < m && ty * m + i2 < s->P; i2++) {
				float *dst = y + (size_t)i * istride + (size_t)(ty * m + i2) * s->Q;
				const float *src = o + i2 * zx + i;
#pragma omp simd
				for (int q = 0; q < s->Q; q++) {
					float v = src[qidx[q]] + bias;
					dst[q] = v < floor ? floor : v;
				}
			}
	}
}

SIMD_CLONES
static void output_block(const ConvShape *s, const Tiling *t, const Block *b, const float *Mo, size_t xs, float *y,
			 size_t istride, float bias, int relu, float *z, float *o, const int32_t *qidx)
{
	BY_LANES(b->nb, output_block_n(s, t, b, nb_, Mo, xs, y, istride, bias, relu, z, o, qidx));
}

/* ---------------------------------------------------------------------------------------- */
/* forward (and backward data, which is a forward convolution) */

/* U[g][xi][k][c] for the forward filters w[K][Cg][r][r] (transposed = 0), or, for backward
 * data, U[g][xi][c][k] from the same w flipped (transposed = 1). The work goes in runs of
 * LANES consecutive entries of a group's U block, transformed together. */
static void transform_filters(Ctx *ctx, const ConvShape *s, const float *w, int transposed, float *U)
{
	const int G = s->G, Kg = s->K / G, Cg = s->C / G, r = s->R, rr = r * r;
	const size_t per = (size_t)Kg * Cg; /* one xi block of one group */
	const size_t runs = (per + LANES - 1) / LANES;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(ctx))
	for (size_t gr = 0; gr < (size_t)G * runs; gr++) {
		size_t g = gr / runs, o0 = gr % runs * LANES;
		int n = (int)(per - o0 < LANES ? per - o0 : LANES);
		float f[25 * LANES] = { 0 };
		for (int l = 0; l < n; l++) {
			size_t o = o0 + (size_t)l;
			size_t kg = transposed ? o % (size_t)Kg : o / (size_t)Cg, c = transposed ? o / (size_t)Kg : o % (size_t)Cg;
			const float *src = w + ((g * Kg + kg) * Cg + c) * rr;
			for (int i = 0; i < rr; i++)
				f[i * LANES + l] = transposed ? src[rr - 1 - i] : src[i]; /* flipped: both axes reversed */
		}
		float *u = U + g * XI * per + o0;
		if (r == 3)
			filter_transform3(f, u, per, n);
		else
			filter_transform5(f, u, per, n);
	}
}

/* Per-thread scratch of the forward pass, offsets in floats. */
typedef struct {
	size_t V, M, xt, t1, z, o, qidx, per;
} FwdScratch;

static FwdScratch fwd_scratch(const Tiling *t, size_t cols)
{
	FwdScratch f;
	f.V = 0;
	f.M = cpu_pad(XI * (size_t)t->Cg * cols);
	f.xt = f.M + cpu_pad(XI * (size_t)t->Kg * cols);
	f.t1 = f.xt + cpu_pad((size_t)(t->rows * t->m + t->r - 1) * t->wp * LANES);
	f.z = f.t1 + cpu_pad((size_t)ALPHA * t->wp * LANES);
	f.o = f.z + cpu_pad((size_t)ALPHA * t->m * t->tq * LANES);
	f.qidx = f.o + cpu_pad((size_t)t->m * t->m * t->tq * LANES);
	f.per = f.qidx + cpu_pad((size_t)t->tq * t->m); /* int32s */
	return f;
}

/* Where input channel c of the convolution s is read: x's own plane, or, when s was folded
 * from the strided convolution fold, the pixels of x that make up the folded channel. */
static Source source_of(const ConvShape *s, const ConvShape *fold, const float *x, int c)
{
	if (!fold)
		return plain_source(x + (size_t)c * s->H * s->W, (size_t)s->C * s->H * s->W, s->H, s->W);
	int st = fold->stride, c0 = c / (st * st), u = c / st % st, v = c % st;
	return (Source){ .base = x + (size_t)c0 * fold->H * fold->W, .istride = (size_t)fold->C * fold->H * fold->W,
			 .H = fold->H, .W = fold->W, .step = st, .dh = u - fold->pad, .dw = v - fold->pad };
}

/* The block's outputs of the convolution s (filters already in U); x, y: the first image
 * (x: of the strided convolution fold, if s was folded from one). */
static void forward_block(const ConvShape *s, const ConvShape *fold, const Tiling *t, const Block *b, const float *x,
			  const float *U, const float *bias, float *y, int relu, float *scratch, const FwdScratch *f)
{
	const size_t cols = b->cols, ld = XI * cols; /* channel c's 49 rows at c * ld */
	const size_t pq = (size_t)s->P * s->Q, ystride = (size_t)s->K * pq;
	float *V = scratch + f->V, *Mo = scratch + f->M;
	for (int g = 0; g < s->G; g++) {
		for (int c = 0; c < t->Cg; c++) {
			Source src = source_of(s, fold, x, g * t->Cg + c);
			input_block(s, t, b, &src, V + (size_t)c * ld, cols, scratch + f->xt, scratch + f->t1);
		}
		const float *Ug = U + (size_t)g * XI * t->Kg * t->Cg;
		for (int xi = 0; xi < XI; xi++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t->Kg, (int)cols, t->Cg, 1.0f,
				    Ug + (size_t)xi * t->Kg * t->Cg, t->Cg, V + xi * cols, (int)ld, 0.0f,
				    Mo + xi * t->Kg * cols, (int)cols);
		int32_t *qidx = (int32_t *)(scratch + f->qidx);
		for (int q = 0; q < s->Q; q++)
			qidx[q] = ((q % t->m) * t->tq + q / t->m) * b->nb;
		for (int k = 0; k < t->Kg; k++) {
			int kk = g * t->Kg + k;
			output_block(s, t, b, Mo + (size_t)k * cols, (size_t)t->Kg * cols, y + (size_t)kk * pq, ystride,
				     bias ? bias[kk] : 0.0f, relu, scratch + f->z, scratch + f->o, qidx);
		}
	}
}

/* Images [lo, hi) in blocks: LANES images at a time, `rows` tile rows at a time. */
#define FOR_EACH_BLOCK(t, lo, hi, b, BODY)                                                      \
	for (size_t n_ = (lo); n_ < (hi); n_ += LANES) {                                        \
		Block b = { .nb = (int)((hi) - n_ < LANES ? (hi) - n_ : LANES) };               \
		for (b.ty0 = 0; b.ty0 < (t)->tp; b.ty0 += (t)->rows) {                          \
			b.ty1 = b.ty0 + (t)->rows < (t)->tp ? b.ty0 + (t)->rows : (t)->tp;      \
			b.cols = (size_t)(b.ty1 - b.ty0) * (t)->tq * b.nb;                      \
			size_t n0 = n_;                                                         \
			BODY;                                                                   \
		}                                                                               \
	}

/* The scratch the forward engine needs for the convolution s, in floats. */
static size_t forward_need(Ctx *ctx, const ConvShape *s)
{
	int T = s->N < cpu_threads(ctx) ? 1 : cpu_threads(ctx);
	Tiling t = tiling(s, LANES);
	FwdScratch f = fwd_scratch(&t, block_cols(&t, LANES));
	return cpu_pad((size_t)XI * s->K * t.Cg) + f.per * T;
}

/* Runs the convolution s: the forward pass (w its filters, transposed = 0), or backward
 * data (s the twin convolution of dy, orig the real one, w its filters, transposed = 1).
 * fold: the strided convolution s was folded from (x is its input), or NULL. ws:
 * forward_need(s) floats. */
static void forward_run(Ctx *ctx, const ConvShape *s, const ConvShape *orig, const ConvShape *fold, const float *x,
			const float *w, int transposed, const float *bias, float *y, int relu, float *ws)
{
	int T = s->N < cpu_threads(ctx) ? 1 : cpu_threads(ctx);
	Tiling t = tiling(s, LANES);
	FwdScratch f = fwd_scratch(&t, block_cols(&t, LANES));
	size_t usize = cpu_pad((size_t)XI * s->K * t.Cg);
	float *U = ws;
	transform_filters(ctx, orig, w, transposed, U);
	const size_t chw = fold ? (size_t)fold->C * fold->H * fold->W : (size_t)s->C * s->H * s->W;
	const size_t kpq = (size_t)s->K * s->P * s->Q;
	const size_t chunks = ((size_t)s->N + LANES - 1) / LANES, rowblocks = (size_t)((t.tp + t.rows - 1) / t.rows);
#pragma omp parallel num_threads(T) if (T > 1)
	{
		float *scratch = U + usize + f.per * omp_get_thread_num();
		/* no sum crosses the blocks, so each goes to whichever thread is free: one slowed
		 * down by another program on the machine does not hold the others up */
#pragma omp for schedule(dynamic, 1)
		for (size_t unit = 0; unit < chunks * rowblocks; unit++) {
			size_t n0 = unit / rowblocks * LANES;
			Block b = { .nb = (int)((size_t)s->N - n0 < LANES ? (size_t)s->N - n0 : LANES) };
			b.ty0 = (int)(unit % rowblocks) * t.rows;
			b.ty1 = b.ty0 + t.rows < t.tp ? b.ty0 + t.rows : t.tp;
			b.cols = (size_t)(b.ty1 - b.ty0) * t.tq * b.nb;
			forward_block(s, fold, &t, &b, x + n0 * chw, U, bias, y + n0 * kpq, relu, scratch, &f);
		}
	}
}

/* The convolution dy -> dx that is the backward-data pass of s: dy convolved with the
 * flipped filters, in and out channels swapped, padding r-1-pad, mapping P x Q planes back to
 * H x W. */
static ConvShape twin_of(const ConvShape *s)
{
	return (ConvShape){ .N = s->N, .C = s->K, .H = s->P, .W = s->Q, .K = s->C, .R = s->R, .S = s->S,
			    .stride = 1, .pad = s->R - 1 - s->pad, .G = s->G, .P = s->H, .Q = s->W };
}

/* ---------------------------------------------------------------------------------------- */
/* backward filter */

typedef struct {
	size_t V, D, M, db, xt, t1, per;
} FilterScratch;

static FilterScratch filter_scratch(const ConvShape *s, const Tiling *t, size_t cols)
{
	FilterScratch f;
	size_t wide = (size_t)(t->wp > t->tq * t->m ? t->wp : t->tq * t->m);
	f.V = 0;
	f.D = cpu_pad(XI * (size_t)t->Cg * cols);
	f.M = f.D + cpu_pad(XI * (size_t)t->Kg * cols);
	f.db = f.M + cpu_pad(XI * (size_t)s->K * t->Cg);
	f.xt = f.db + cpu_pad(2 * (size_t)s->K); /* K doubles */
	f.t1 = f.xt + cpu_pad((size_t)(t->rows * t->m + t->r - 1) * wide * LANES);
	f.per = f.t1 + cpu_pad(ALPHA * wide * LANES);
	return f;
}

/* Mw[g][xi] (Kg x Cg) (+)= sum over the block's tiles of (A dY A^T)[xi] (B^T d B)[xi]; the
 * per-channel sums of dy (for the bias gradient) are added to the thread's db partials. */
static void filter_block(const ConvShape *s, const ConvShape *fold, const Tiling *t, const Block *b, const float *x,
			 const float *dy, int first, float *scratch, const FilterScratch *f)
{
	const size_t cols = b->cols, ld = XI * cols; /* channel c's 49 rows at c * ld */
	const size_t pq = (size_t)s->P * s->Q, blk = (size_t)t->Kg * t->Cg;
	const size_t ystride = (size_t)s->K * pq;
	float *V = scratch + f->V, *D = scratch + f->D;
	double *dbsum = (double *)(scratch + f->db);
	for (int g = 0; g < s->G; g++) {
		for (int c = 0; c < t->Cg; c++) {
			Source src = source_of(s, fold, x, g * t->Cg + c);
			input_block(s, t, b, &src, V + (size_t)c * ld, cols, scratch + f->xt, scratch + f->t1);
		}
		for (int k = 0; k < t->Kg; k++) {
			int kk = g * t->Kg + k;
			grad_block(s, t, b, dy + (size_t)kk * pq, ystride, D + (size_t)k * ld, cols, scratch + f->xt,
				   scratch + f->t1, dbsum + kk);
		}
		float *Mg = scratch + f->M + (size_t)g * XI * blk;
		for (int xi = 0; xi < XI; xi++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t->Kg, t->Cg, (int)cols, 1.0f, D + xi * cols,
				    (int)ld, V + xi * cols, (int)ld, first ? 0.0f : 1.0f, Mg + xi * blk, t->Cg);
	}
}

static size_t filter_need(Ctx *ctx, const ConvShape *s)
{
	int T = s->N < cpu_threads(ctx) ? 1 : cpu_threads(ctx);
	Tiling t = tiling(s, LANES);
	return filter_scratch(s, &t, block_cols(&t, LANES)).per * T;
}

/* dw (and db, if not NULL) of the stride-1 convolution s (folded from the strided fold, whose
 * input x is, or NULL); ws: filter_need(s) floats. */
static void filter_run(Ctx *ctx, const ConvShape *s, const ConvShape *fold, const float *x, const float *dy, float *dw,
		       float *db, float *ws)
{
	int T = s->N < cpu_threads(ctx) ? 1 : cpu_threads(ctx);
	Tiling t = tiling(s, LANES);
	FilterScratch f = filter_scratch(s, &t, block_cols(&t, LANES));
	const size_t chw = fold ? (size_t)fold->C * fold->H * fold->W : (size_t)s->C * s->H * s->W;
	const size_t kpq = (size_t)s->K * s->P * s->Q, msize = (size_t)XI * s->K * t.Cg;
	int used = T;
#pragma omp parallel num_threads(T) if (T > 1)
	{
		int th = omp_get_thread_num(), nt = omp_get_num_threads();
		size_t lo, hi;
		cpu_split((size_t)s->N, nt, th, &lo, &hi);
		if (th == 0)
			used = nt;
		float *scratch = ws + f.per * th;
		memset(scratch + f.db, 0, sizeof(double) * (size_t)s->K);
		int first = 1;
		FOR_EACH_BLOCK(&t, lo, hi, b, {
			filter_block(s, fold, &t, &b, x + n0 * chw, dy + n0 * kpq, first, scratch, &f);
			first = 0;
		});
	}
	/* the partial sums of threads 1.. added to thread 0's, in thread order */
	float *Mw = ws + f.M;
	if (used > 1) {
#pragma omp parallel for schedule(static) num_threads(used)
		for (size_t i = 0; i < msize; i++) {
			float v = Mw[i];
			for (int th = 1; th < used; th++)
				v += ws[f.per * th + f.M + i];
			Mw[i] = v;
		}
	}
	/* dw = G^T Mw G, LANES filters at a time (consecutive in dw as in Mw's group blocks) */
	const int rr = s->R * s->R;
	const size_t blk = (size_t)t.Kg * t.Cg, runs = (blk + LANES - 1) / LANES;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(ctx))
	for (size_t gr = 0; gr < (size_t)s->G * runs; gr++) {
		size_t g = gr / runs, o0 = gr % runs * LANES;
		int n = (int)(blk - o0 < LANES ? blk - o0 : LANES);
		float m[XI * LANES], out[25 * LANES];
		for (int xi = 0; xi < XI; xi++)
			for (int l = 0; l < LANES; l++)
				m[xi * LANES + l] = l < n ? Mw[(g * XI + (size_t)xi) * blk + o0 + (size_t)l] : 0.0f;
		if (s->R == 3)
			filter_untransform3(m, LANES, out);
		else
			filter_untransform5(m, LANES, out);
		float *d = dw + (g * blk + o0) * rr;
		for (int l = 0; l < n; l++)
			for (int i = 0; i < rr; i++)
				d[(size_t)l * rr + i] = out[i * LANES + l];
	}
	/* db: the threads' partial sums, in thread order */
	for (int k = 0; db && k < s->K; k++) {
		double v = 0;
		for (int th = 0; th < used; th++)
			v += ((const double *)(ws + f.per * th + f.db))[k];
		db[k] = (float)v;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* strided convolutions
 *
 * A convolution with stride st is a stride-1 convolution of the input cut into st x st
 * blocks, each block's pixels becoming channels (space to depth): with u, v the position in
 * the block and i, j the block,
 *   X[(c*st + u)*st + v][i][j] = x[c][st*i + u - pad][st*j + v - pad]       (0 outside)
 *   Wf[k][(c*st + u)*st + v][a][b] = w[k][c][st*a + u][st*b + v]            (0 past r)
 * and y = X (*) Wf, stride 1, no padding, kernel ceil(r/st). AlexNet's conv1 (3 channels,
 * 11x11 stride 4) becomes 48 channels and a 3x3 kernel on 57x57 planes, whose 55x55 outputs
 * are exactly 11x11 Winograd tiles: 3.9x fewer multiplies than the direct sums. Channels stay
 * grouped, (c*st + u)*st + v running within c's group. */

static size_t fold_size(const ConvShape *f) { return (size_t)f->N * f->C * f->H * f->W; }

/* dx from the gradient dX of the folded input: each input pixel has one place in dX; pixels
 * that no block row or column reaches (past the last output's window) get no gradient. */
static void unfold_input(Ctx *ctx, const ConvShape *s, const ConvShape *f, const float *dX, float *dx)
{
	const int st = s->stride;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(ctx))
	for (int nc = 0; nc < s->N * s->C; nc++) {
		float *plane = dx + (size_t)nc * s->H * s->W;
		const float *blocks = dX + (size_t)nc * st * st * f->H * f->W;
		for (int h = 0; h < s->H; h++)
			for (int w = 0; w < s->W; w++) {
				int i = (h + s->pad) / st, u = (h + s->pad) % st, j = (w + s->pad) / st, v = (w + s->pad) % st;
				plane[(size_t)h * s->W + w] =
					i < f->H && j < f->W ? blocks[((size_t)(u * st + v) * f->H + i) * f->W + j] : 0.0f;
			}
	}
}

/* Wf from w, or (unfold = 1) dw from the folded gradient dWf. */
static void fold_filters(const ConvShape *s, const ConvShape *f, float *w, float *Wf, int unfold)
{
	const int st = s->stride, Cg = s->C / s->G, r = s->R, rf = f->R;
	for (int k = 0; k < s->K; k++)
		for (int c = 0; c < Cg; c++)
			for (int u = 0; u < st; u++)
				for (int v = 0; v < st; v++)
					for (int a = 0; a < rf; a++)
						for (int b = 0; b < rf; b++) {
							int rr = st * a + u, ss = st * b + v;
							size_t at = ((((size_t)k * Cg + c) * st + u) * st + v) * rf * rf +
								    (size_t)a * rf + b;
							int inside = rr < r && ss < r;
							if (!unfold)
								Wf[at] = inside ? w[(((size_t)k * Cg + c) * r + rr) * r + ss] : 0.0f;
							else if (inside)
								w[(((size_t)k * Cg + c) * r + rr) * r + ss] = Wf[at];
						}
}

/* ---------------------------------------------------------------------------------------- */
/* the entry points */

int cpu_winograd_forward(Ctx *ctx, const ConvShape *s, const float *x, const float *w, const float *b, float *y,
			 int relu)
{
	ConvShape f;
	if (s->stride == 1) {
		float *ws = cpu_workspace(ctx, forward_need(ctx, s));
		if (!ws)
			return -1;
		forward_run(ctx, s, s, NULL, x, w, 0, b, y, relu, ws);
		return 0;
	}
	fold_shape(s, &f);
	size_t wsz = cpu_pad((size_t)f.K * (f.C / f.G) * f.R * f.R);
	float *ws = cpu_workspace(ctx, wsz + forward_need(ctx, &f));
	if (!ws)
		return -1;
	fold_filters(s, &f, (float *)w, ws, 0);
	forward_run(ctx, &f, &f, s, x, ws, 0, b, y, relu, ws + wsz);
	return 0;
}

int cpu_winograd_backward_data(Ctx *ctx, const ConvShape *s, const float *dy, const float *w, float *dx)
{
	ConvShape f, twin;
	if (s->stride == 1) {
		twin = twin_of(s);
		float *ws = cpu_workspace(ctx, forward_need(ctx, &twin));
		if (!ws)
			return -1;
		forward_run(ctx, &twin, s, NULL, dy, w, 1, NULL, dx, 0, ws);
		return 0;
	}
	/* the folded input's gradient, then each pixel's share back in place */
	fold_shape(s, &f);
	twin = twin_of(&f);
	size_t xs = cpu_pad(fold_size(&f)), wsz = cpu_pad((size_t)f.K * (f.C / f.G) * f.R * f.R);
	float *ws = cpu_workspace(ctx, xs + wsz + forward_need(ctx, &twin));
	if (!ws)
		return -1;
	fold_filters(s, &f, (float *)w, ws + xs, 0);
	forward_run(ctx, &twin, &f, NULL, dy, ws + xs, 1, NULL, ws, 0, ws + xs + wsz);
	unfold_input(ctx, s, &f, ws, dx);
	return 0;
}

int cpu_winograd_backward_filter(Ctx *ctx, const ConvShape *s, const float *x, const float *dy, float *dw, float *db)
{
	ConvShape f;
	if (s->stride == 1) {
		float *ws = cpu_workspace(ctx, filter_need(ctx, s));
		if (!ws)
			return -1;
		filter_run(ctx, s, NULL, x, dy, dw, db, ws);
		return 0;
	}
	fold_shape(s, &f);
	size_t wsz = cpu_pad((size_t)f.K * (f.C / f.G) * f.R * f.R);
	float *ws = cpu_workspace(ctx, wsz + filter_need(ctx, &f));
	if (!ws)
		return -1;
	filter_run(ctx, &f, s, x, dy, ws, db, ws + wsz);
	fold_filters(s, &f, dw, ws, 1);
	return 0;
}
