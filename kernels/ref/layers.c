/* layers.c (reference): max pooling and LRN as their definitions, in double. */
#include "kernels/ref/ref.h"

#include <math.h>

void ref_pool_forward(const PoolShape *s, const double *x, double *y, int32_t *argmax)
{
	for (int n = 0; n < s->N; n++)
		for (int c = 0; c < s->C; c++) {
			const double *plane = x + ((size_t)n * s->C + c) * s->H * s->W;
			for (int p = 0; p < s->P; p++)
				for (int q = 0; q < s->Q; q++) {
					int best = -1;
					for (int i = 0; i < s->size; i++)
						for (int j = 0; j < s->size; j++) {
							int at = (p * s->stride + i) * s->W + q * s->stride + j;
							if (best < 0 || plane[at] > plane[best])
								best = at;
						}
					size_t o = (((size_t)n * s->C + c) * s->P + p) * s->Q + q;
					y[o] = plane[best];
					argmax[o] = best;
				}
		}
}

void ref_pool_backward(const PoolShape *s, const double *dy, const int32_t *argmax, double *dx)
{
	size_t hw = (size_t)s->H * s->W, pq = (size_t)s->P * s->Q, planes = (size_t)s->N * s->C;
	for (size_t i = 0; i < planes * hw; i++)
		dx[i] = 0;
	for (size_t i = 0; i < planes; i++)
		for (size_t j = 0; j < pq; j++)
			dx[i * hw + (size_t)argmax[i * pq + j]] += dy[i * pq + j];
}

/* k + alpha * the sum of squares over channel c's window, at pixel (n, ., h, w) = base + c*hw. */
static double lrn_scale(const LrnShape *s, const double *x, size_t base, size_t hw, int c)
{
	double sum = 0;
	for (int c2 = c - s->size / 2; c2 <= c + s->size / 2; c2++)
		if (c2 >= 0 && c2 < s->C)
			sum += x[base + (size_t)c2 * hw] * x[base + (size_t)c2 * hw];
	return (double)s->k + (double)s->alpha * sum;
}

void ref_lrn_forward(const LrnShape *s, const double *x, double *y, double *scale)
{
	size_t hw = (size_t)s->H * s->W;
	for (int n = 0; n < s->N; n++)
		for (size_t i = 0; i < hw; i++) {
			size_t base = (size_t)n * s->C * hw + i;
			for (int c = 0; c < s->C; c++) {
				double sc = lrn_scale(s, x, base, hw, c);
				size_t o = base + (size_t)c * hw;
				y[o] = x[o] * pow(sc, -(double)s->beta);
				if (scale)
					scale[o] = sc;
			}
		}
}

/* dx[c] = sum over the outputs c' whose window holds c of dy[c'] dy[c']/dx[c]:
 *   dy[c'] / dx[c] = [c == c'] scale[c']^-beta - 2 alpha beta x[c'] x[c] scale[c']^(-beta-1). */
void ref_lrn_backward(const LrnShape *s, const double *x, const double *dy, double *dx)
{
	size_t hw = (size_t)s->H * s->W;
	double a = s->alpha, b = s->beta;
	for (int n = 0; n < s->N; n++)
		for (size_t i = 0; i < hw; i++) {
			size_t base = (size_t)n * s->C * hw + i;
			for (int c = 0; c < s->C; c++) {
				double g = 0, xc = x[base + (size_t)c * hw];
				for (int c2 = c - s->size / 2; c2 <= c + s->size / 2; c2++) {
					if (c2 < 0 || c2 >= s->C)
						continue;
					size_t o2 = base + (size_t)c2 * hw;
					double sc = lrn_scale(s, x, base, hw, c2);
					double d = -2 * a * b * x[o2] * xc * pow(sc, -b - 1);
					if (c2 == c)
						d += pow(sc, -b);
					g += dy[o2] * d;
				}
				dx[base + (size_t)c * hw] = g;
			}
		}
}
