/* augment.c: the training and test views of §4.1, from uint8 HWC images to float NCHW.
 *
 *   out[v][c][y][x] = (img[y0+y][x0+xx][c] + shift[c] - mean[y0+y][x0+xx][c]) * scale,
 *   xx = flip ? crop_w-1-x : x
 * for view v of image views[v].src: a crop (translation), an optional mirror, the PCA colour
 * shift (drawn on the host) and the mean image taken away; 0 (the mean) inside the view's
 * erased rectangle, if any. The views' random numbers are made by the caller, so every
 * backend produces the same batch.
 */
#include "kernels/cpu/cpu.h"

static int check_views(Ctx *ctx, const AugmentShape *s, int nviews, const View *views)
{
	if (s->H < 1 || s->W < 1 || s->C < 1 || s->C > 3 || s->crop_h < 1 || s->crop_w < 1)
		return CTX_FAIL(ctx, "augment: bad geometry (%dx%dx%d images, %dx%d crops; 1 to 3 channels)", s->H, s->W,
				s->C, s->crop_h, s->crop_w);
	if (s->crop_h > s->H || s->crop_w > s->W)
		return CTX_FAIL(ctx, "augment: %dx%d crop larger than the %dx%d image", s->crop_h, s->crop_w, s->H, s->W);
	if (nviews < 0)
		return CTX_FAIL(ctx, "augment: negative view count %d", nviews);
	for (int v = 0; v < nviews; v++) {
		const View *w = &views[v];
		if (w->src < 0 || w->y0 < 0 || w->x0 < 0 || w->y0 > s->H - s->crop_h || w->x0 > s->W - s->crop_w)
			return CTX_FAIL(ctx, "augment: view %d (image %d, origin %d,%d) leaves the %dx%d image", v,
					(int)w->src, (int)w->y0, (int)w->x0, s->H, s->W);
		if (w->eh < 0 || w->ew < 0 || w->ey0 < 0 || w->ex0 < 0 || w->ey0 > s->crop_h - w->eh ||
		    w->ex0 > s->crop_w - w->ew)
			return CTX_FAIL(ctx, "augment: view %d's erased %dx%d at %d,%d leaves the %dx%d crop", v, (int)w->eh,
					(int)w->ew, (int)w->ey0, (int)w->ex0, s->crop_h, s->crop_w);
	}
	return 0;
}

int cpu_augment(Ctx *ctx, const AugmentShape *s, int nviews, const View *views, const uint8_t *src,
		const float *mean, float *out)
{
	if (check_views(ctx, s, nviews, views) != 0)
		return -1;
	if (!mean)
		return CTX_FAIL(ctx, "augment: no mean image");
	const int C = s->C, ch = s->crop_h, cw = s->crop_w;
	const size_t img = (size_t)s->H * s->W * C, rowlen = (size_t)s->W * C;
	const size_t rows = (size_t)nviews * C * ch;
	const float scale = s->scale;
#pragma omp parallel for schedule(static) num_threads(cpu_threads(ctx)) if (rows > 256)
	for (size_t r = 0; r < rows; r++) {
		int v = (int)(r / ((size_t)C * ch)), c = (int)(r / ch % C), y = (int)(r % ch);
		const View *w = &views[v];
		size_t base = (size_t)(w->y0 + y) * rowlen + (size_t)w->x0 * C + c;
		const uint8_t *in = src + (size_t)w->src * img + base;
		const float *m = mean + base;
		float shift = w->shift[c];
		float *o = out + r * cw;
		if (w->flip)
			for (int x = 0; x < cw; x++) {
				size_t at = (size_t)(cw - 1 - x) * C;
				o[x] = ((float)in[at] + shift - m[at]) * scale;
			}
		else
			for (int x = 0; x < cw; x++) {
				size_t at = (size_t)x * C;
				o[x] = ((float)in[at] + shift - m[at]) * scale;
			}
		if (w->eh > 0 && y >= w->ey0 && y < w->ey0 + w->eh)
			for (int x = w->ex0; x < w->ex0 + w->ew; x++)
				o[x] = 0;
	}
	return 0;
}
