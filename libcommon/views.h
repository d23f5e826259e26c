/* views.h: which window of each record the network sees: random crops, flips and colour for training, fixed ones for testing.
 *
 * The paper's §4.1: training takes a random crop of the network's input size from each
 * record (224 of 256), mirrored with probability 1/2, with PCA colour noise; testing takes
 * the centre crop, or ten: the four corners and the centre, each also mirrored, whose
 * softmax outputs are averaged. A View (kernels.h) says where the window lies; the augment op
 * then cuts it out, mirrors it, adds the colour shift and takes the mean image away on the
 * device, so the host draws only a few numbers per image.
 *
 * Every random number is a pure function of (seed, stream, global step, image in the batch)
 * through kernels/rng.h, so a batch's views never depend on which thread loaded what, and a
 * resumed run draws the same ones:
 *   y0   = rng_below(seed, RNG_STREAM(RNG_CROP, step), 3i,     H - crop_h + 1)
 *   x0   = rng_below(seed, RNG_STREAM(RNG_CROP, step), 3i + 1, W - crop_w + 1)
 *   flip = rng_below(seed, RNG_STREAM(RNG_CROP, step), 3i + 2, 2)
 *   a_k  = sigma * rng_normal(seed, RNG_STREAM(RNG_COLOR, step), 3i + k),  k < channels
 *   shift[c] = sum_k a_k * sqrt(eigval[k]) * eigvec[k][c]
 * and, with random erasing (not the paper's: Zhong et al. 2017, "Random Erasing Data
 * Augmentation"), u_j = rng_uniform(seed, RNG_STREAM(RNG_ERASE, step), 5i + j):
 *   erased when u_0 < P; area = (0.02 + 0.38 u_1) crop_h crop_w; aspect = 0.3 (11 ^ u_2)
 *   (log-uniform on [0.3, 3.3]); eh = round(sqrt(area aspect)), ew = round(sqrt(area / aspect)),
 *   each clamped to 1..the crop; ey0 = floor(u_3 (crop_h - eh + 1)), ex0 likewise with u_4.
 * The rectangle is filled with 0 after the mean is taken away: the mean image's own value.
 * The colour shift follows the authors' code (cuda-convnet2's convdata.py): alpha times the
 * standard deviation sqrt(lambda) of each principal component, on the 0-255 scale; the
 * paper's text writes alpha times lambda (pcacolor(1) compares the two readings).
 */
#ifndef ANET_VIEWS_H
#define ANET_VIEWS_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "libcommon/stats.h"

typedef enum { CROP_RANDOM, CROP_CENTER } CropMode;

typedef struct {
	int height, width, channels;  /* the records */
	int crop_h, crop_w;           /* the network's input */
	CropMode crop;                /* CROP_CENTER: no translation (an ablation) */
	int flip;                     /* mirror half of the views */
	float color_sigma;            /* standard deviation of alpha (the paper: 0.1); 0: none */
	float erase;                  /* probability of an erased rectangle; 0: none */
	const Stats *stats;           /* eigval, eigvec (needed when color_sigma > 0) */
	uint64_t seed;
} ViewParams;

/* The training views of the n images of the batch of global step step: view i from image i. */
void views_train(const ViewParams *p, uint64_t step, int n, View *out);

/* Test views of n images (src first .. first+n-1 of the uploaded batch): crops 1 gives the
 * centre crop, view i of image i; crops 10 gives ten per image, view 10i + k of image i:
 * k = 0..4 the top-left, top-right, bottom-left, bottom-right and centre windows, k + 5 the
 * same mirrored; crops 5 gives the first five of those (for a network trained without
 * mirror images, to which a mirrored view is foreign), view 5i + k. The centre window
 * starts at ((H - crop_h) / 2, (W - crop_w) / 2). */
void views_test(int height, int width, int crop_h, int crop_w, int crops, int n, View *out);

/* The colour shift of one set of alphas (channels entries). */
void views_color_shift(const Stats *s, const float *alpha, float shift[3]);

#endif
