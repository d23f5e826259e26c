/* augment.cu: the training and test views (§4.1) cut from uint8 images on the device.
 *
 *   out[v][c][y][x] = (img[y0+y][x0+xx][c] + shift[c] - mean[y0+y][x0+xx][c]) * scale,
 *   xx = flip ? crop_w-1-x : x
 * and 0 inside the view's erased rectangle (random erasing). img = source image views[v].src
 * of the packed uint8 HWC array src (H x W x C each), mean the HWC float mean image of the
 * same size; out is NCHW float [nviews][C][crop_h][crop_w].
 * Uploading the uint8 records instead of floats moves a quarter of the bytes over PCIe
 * (a 256x256 batch of 128: 25 MB rather than 100 MB per step).
 *
 * The views are a host array (random crops, flips and colour noise are drawn on the host
 * so every backend makes the same batch). They travel with the batch: copied into a
 * private host buffer (so the caller may reuse its array at once), then into a device
 * buffer with a copy queued on the compute stream ahead of the kernel. The staging buffer
 * is ordinary pageable memory on purpose: for pageable sources cudaMemcpyAsync copies the
 * bytes out before it returns, so the next call may overwrite the buffer safely.
 * Numerics: the same three float operations in the same order as the CPU: bit-identical.
 */
#include "kernels/cuda/cuda.h"

#include <stdlib.h>
#include <string.h>

template <typename I>
static __global__ void augment_kernel(const uint8_t *__restrict__ src, const float *__restrict__ mean,
			       const View *__restrict__ views, int H, int W, int C, int ch, int cw, float scale, I total,
			       float *__restrict__ out)
{
	GRID_LOOP(I, t, total) {
		I rest = t / (I)cw;
		int x = (int)(t - rest * (I)cw);
		I rest2 = rest / (I)ch;
		int y = (int)(rest - rest2 * (I)ch);
		I v = rest2 / (I)C;
		int c = (int)(rest2 - v * (I)C);
		View vw = views[v];
		int xx = vw.flip ? cw - 1 - x : x;
		size_t pix = ((size_t)(vw.y0 + y) * W + (size_t)(vw.x0 + xx)) * C + c;
		const uint8_t *img = src + (size_t)vw.src * H * W * C;
		int erased = y >= vw.ey0 && y < vw.ey0 + vw.eh && x >= vw.ex0 && x < vw.ex0 + vw.ew;
		out[t] = erased ? 0.0f : ((float)img[pix] + vw.shift[c] - mean[pix]) * scale;
	}
}

static int check_views(Ctx *ctx, const AugmentShape *s, int nviews, const View *views)
{
	if (s->H < 1 || s->W < 1 || s->crop_h < 1 || s->crop_w < 1 || s->crop_h > s->H || s->crop_w > s->W)
		return CTX_FAIL(ctx, "augment: crop %dx%d does not fit images of %dx%d", s->crop_h, s->crop_w, s->H,
				s->W);
	if (s->C < 1 || s->C > 3)
		return CTX_FAIL(ctx, "augment: %d channels (View carries a shift for at most 3)", s->C);
	for (int v = 0; v < nviews; v++) {
		const View *w = &views[v];
		if (w->src < 0 || w->y0 < 0 || w->x0 < 0 || w->y0 > s->H - s->crop_h || w->x0 > s->W - s->crop_w)
			return CTX_FAIL(ctx, "augment: view %d (image %d at %d,%d) leaves the %dx%d image", v, w->src,
					w->y0, w->x0, s->H, s->W);
		if (w->eh < 0 || w->ew < 0 || w->ey0 < 0 || w->ex0 < 0 || w->ey0 > s->crop_h - w->eh ||
		    w->ex0 > s->crop_w - w->ew)
			return CTX_FAIL(ctx, "augment: view %d's erased %dx%d at %d,%d leaves the %dx%d crop", v, w->eh,
					w->ew, w->ey0, w->ex0, s->crop_h, s->crop_w);
	}
	return 0;
}

/* Grows the view buffers to n entries. */
static int reserve_views(Ctx *ctx, int n)
{
	Impl *im = impl_of(ctx);
	if (n <= im->views_cap)
		return 0;
	/* an augment queued earlier may still read the device buffer */
	CUDA_CHECK(ctx, cudaStreamSynchronize(im->stream));
	CUDA_CHECK(ctx, cudaFree(im->views_dev));
	im->views_dev = NULL;
	free(im->views_host);
	im->views_cap = 0;
	im->views_host = (View *)malloc((size_t)n * sizeof(View));
	if (!im->views_host)
		return CTX_FAIL(ctx, "augment: out of host memory for %d views", n);
	cudaError_t e = cudaMalloc(&im->views_dev, (size_t)n * sizeof(View));
	if (e != cudaSuccess) {
		(void)cudaGetLastError();
		im->views_dev = NULL;
		return CTX_FAIL(ctx, "augment: cannot allocate %d views on the GPU: %s", n, cudaGetErrorString(e));
	}
	im->views_cap = n;
	return 0;
}

int cuda_augment(Ctx *ctx, const AugmentShape *s, int nviews, const View *views, const uint8_t *src,
		 const float *mean, float *out)
{
	CUDA_ENTER(ctx);
	if (nviews < 0)
		return CTX_FAIL(ctx, "augment: %d views", nviews);
	if (nviews == 0)
		return 0;
	if (!views || !src || !mean || !out)
		return CTX_FAIL(ctx, "augment: NULL buffer");
	if (check_views(ctx, s, nviews, views) != 0)
		return -1;
	Impl *im = impl_of(ctx);
	if (reserve_views(ctx, nviews) != 0)
		return -1;
	memcpy(im->views_host, views, (size_t)nviews * sizeof(View));
	CUDA_CHECK(ctx, cudaMemcpyAsync(im->views_dev, im->views_host, (size_t)nviews * sizeof(View),
					cudaMemcpyHostToDevice, im->stream));
	size_t total = (size_t)nviews * s->C * s->crop_h * s->crop_w;
	unsigned blocks = grid_for(total, CUDA_THREADS);
	if (fits_u32(total))
		augment_kernel<unsigned><<<blocks, CUDA_THREADS, 0, im->stream>>>(
			src, mean, im->views_dev, s->H, s->W, s->C, s->crop_h, s->crop_w, s->scale, (unsigned)total, out);
	else
		augment_kernel<size_t><<<blocks, CUDA_THREADS, 0, im->stream>>>(src, mean, im->views_dev, s->H, s->W,
										s->C, s->crop_h, s->crop_w, s->scale,
										total, out);
	LAUNCH_CHECK(ctx);
	return 0;
}
