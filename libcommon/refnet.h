/* refnet.h: a network in double precision from the reference ops, the oracle of anet-train --check-grads and the tests.
 *
 * A RefNet is a Spec computed with kernels/ref's plain loops in double: the same layers, the
 * same parameter layout as a Net (Spec.params offsets, padding included), the same dropout
 * masks as a whole batch's (net_dropout_stream of part 0), but no
 * fused ReLUs, no in-place layers and no float rounding, so its gradients are what a Net's
 * should be to within float's precision, and its own backward pass can be checked against
 * central differences of its forward pass.
 *
 * The convolutions, nearly all of the time, run on OpenMP threads in pieces of one image, one
 * group and up to 16 output channels (the input gradient: one image and group); a weight
 * gradient is summed over the images in their order, so the result does not depend on the
 * thread count. Memory: the parameters and gradients (16 bytes per parameter) and every
 * layer's output (8 bytes per value and image), about 1 GB for AlexNet at 2 images.
 */
#ifndef ANET_REFNET_H
#define ANET_REFNET_H

#include <stdint.h>

#include "libcommon/spec.h"

typedef struct {
	const Spec *s;
	int n;                  /* images */
	uint64_t seed, step;    /* of the dropout masks */
	double *params, *grads; /* Spec.param_floats each, laid out as a Net's parameter buffer */
	double **act;           /* every layer's output, n images each */
	int32_t **argmax;       /* the pooling layers' winners */

	/* Set by refnet_follow: the side of every kink to take instead of the reference's own. */
	const uint8_t *const *keep; /* per ReLU layer, n x count: 1 where the input passes */
	const int32_t *const *take; /* per pooling layer: the winners, as argmax */
	int64_t *differ;            /* per layer: the units where the last pass's own side differed */
} RefNet;

/* xcalloc's everything (exits when memory runs out, like every allocation of the programs). */
RefNet *refnet_create(const Spec *s, int n, uint64_t seed, uint64_t step);
void refnet_free(RefNet *r);

/* From now on the ReLUs and pooling windows take the sides a backend's float pass took (arrays
 * indexed by layer, NULL for the other layers; they stay the caller's, unchanged). A float
 * input within rounding of a kink can land on the other side of it than its double does: a
 * ReLU input of -1e-9 in double may be +1e-9 in float, two nearly equal values of a window may
 * swap. The gradients below such a kink then differ by a step, not by rounding, wherever the
 * two computations are correct; followed, the difference is float's rounding alone, and
 * r->differ counts the units that would have gone the other way. */
void refnet_follow(RefNet *r, const uint8_t *const *keep, const int32_t *const *take);

/* The training-mode forward pass (dropout on) of the input x (n images of the input layer's
 * shape); returns the mean cross-entropy of labels. */
double refnet_forward(RefNet *r, const double *x, const int32_t *labels);

/* The same from layer first on (at least 1), the layers before it as the last pass left them:
 * what a change of layer first's parameters changes. */
double refnet_forward_from(RefNet *r, int first, const int32_t *labels);

/* Every parameter's gradient of the last forward pass into r->grads. */
void refnet_backward(RefNet *r, const int32_t *labels);

/* A hash of which side of every kink the last forward pass was on from layer first on: the
 * sign of each ReLU's input and each pooling window's winner. A finite difference whose two
 * passes differ here crossed a kink and means nothing. */
uint64_t refnet_kinks(const RefNet *r, int first);

#endif
