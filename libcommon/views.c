/* views.c: training and test views of records (see views.h). */
#include "libcommon/views.h"

#include <math.h>
#include <string.h>

#include "kernels/rng.h"

void views_color_shift(const Stats *s, const float *alpha, float shift[3])
{
	for (uint32_t c = 0; c < 3; c++)
		shift[c] = 0;
	for (uint32_t k = 0; k < s->channels; k++) {
		double a = (double)alpha[k] * sqrt(s->eigval[k] > 0 ? s->eigval[k] : 0);
		for (uint32_t c = 0; c < s->channels; c++)
			shift[c] += (float)(a * s->eigvec[k][c]);
	}
}

static int clamp_side(double side, int most)
{
	long r = lround(side);
	return r < 1 ? 1 : r > most ? most : (int)r;
}

/* The random-erasing rectangle of view i of step (views.h gives the draws). */
static void erase_rect(const ViewParams *p, uint64_t step, int i, View *v)
{
	uint64_t stream = RNG_STREAM(RNG_ERASE, step), k = 5 * (uint64_t)i;
	if (rng_uniform(p->seed, stream, k) >= p->erase)
		return;
	double area = (0.02 + 0.38 * rng_uniform(p->seed, stream, k + 1)) * p->crop_h * p->crop_w;
	double aspect = 0.3 * pow(11.0, rng_uniform(p->seed, stream, k + 2));
	v->eh = clamp_side(sqrt(area * aspect), p->crop_h);
	v->ew = clamp_side(sqrt(area / aspect), p->crop_w);
	v->ey0 = (int32_t)(rng_uniform(p->seed, stream, k + 3) * (float)(p->crop_h - v->eh + 1));
	v->ex0 = (int32_t)(rng_uniform(p->seed, stream, k + 4) * (float)(p->crop_w - v->ew + 1));
	if (v->ey0 > p->crop_h - v->eh) /* a float product can round up to the bound */
		v->ey0 = p->crop_h - v->eh;
	if (v->ex0 > p->crop_w - v->ew)
		v->ex0 = p->crop_w - v->ew;
}

void views_train(const ViewParams *p, uint64_t step, int n, View *out)
{
	uint64_t crop = RNG_STREAM(RNG_CROP, step), color = RNG_STREAM(RNG_COLOR, step);
	uint32_t ny = (uint32_t)(p->height - p->crop_h + 1), nx = (uint32_t)(p->width - p->crop_w + 1);
	for (int i = 0; i < n; i++) {
		View *v = &out[i];
		uint64_t k = 3 * (uint64_t)i;
		memset(v, 0, sizeof *v);
		v->src = i;
		if (p->crop == CROP_RANDOM) {
			v->y0 = (int32_t)rng_below(p->seed, crop, k, ny);
			v->x0 = (int32_t)rng_below(p->seed, crop, k + 1, nx);
		} else {
			v->y0 = (p->height - p->crop_h) / 2;
			v->x0 = (p->width - p->crop_w) / 2;
		}
		v->flip = p->flip ? (int32_t)rng_below(p->seed, crop, k + 2, 2) : 0;
		if (p->color_sigma > 0 && p->stats) {
			float alpha[3] = { 0, 0, 0 };
			for (int c = 0; c < p->channels && c < 3; c++)
				alpha[c] = p->color_sigma * rng_normal(p->seed, color, k + (uint64_t)c);
			views_color_shift(p->stats, alpha, v->shift);
		}
		if (p->erase > 0)
			erase_rect(p, step, i, v);
	}
}

void views_test(int height, int width, int crop_h, int crop_w, int crops, int n, View *out)
{
	int ys[5] = { 0, 0, height - crop_h, height - crop_h, (height - crop_h) / 2 };
	int xs[5] = { 0, width - crop_w, 0, width - crop_w, (width - crop_w) / 2 };
	for (int i = 0; i < n; i++) {
		if (crops == 1) {
			out[i] = (View){ .src = i, .y0 = ys[4], .x0 = xs[4] };
			continue;
		}
		for (int k = 0; k < crops; k++)
			out[crops * i + k] = (View){ .src = i, .y0 = ys[k % 5], .x0 = xs[k % 5], .flip = k >= 5 };
	}
}
