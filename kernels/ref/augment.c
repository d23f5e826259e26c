/* augment.c (reference): the crop / mirror / colour shift / mean / scale / erasing view, in double. */
#include "kernels/ref/ref.h"

void ref_augment(const AugmentShape *s, int nviews, const View *views, const uint8_t *src, const float *mean,
		 double *out)
{
	for (int v = 0; v < nviews; v++) {
		const View *w = &views[v];
		const uint8_t *img = src + (size_t)w->src * s->H * s->W * s->C;
		for (int c = 0; c < s->C; c++)
			for (int y = 0; y < s->crop_h; y++)
				for (int x = 0; x < s->crop_w; x++) {
					int sy = w->y0 + y, sx = w->x0 + (w->flip ? s->crop_w - 1 - x : x);
					size_t at = ((size_t)sy * s->W + sx) * s->C + c;
					int erased = y >= w->ey0 && y < w->ey0 + w->eh && x >= w->ex0 && x < w->ex0 + w->ew;
					double val = erased ? 0 : ((double)img[at] + w->shift[c] - mean[at]) * s->scale;
					out[(((size_t)v * s->C + c) * s->crop_h + y) * s->crop_w + x] = val;
				}
	}
}
