/* gradcheck.h: anet-train --check-grads: a network's gradients on a backend against double precision and finite differences.
 *
 * cuda-convnet's --check-grads, for anet's backends and any specification: on synthetic
 * inputs (50 N(0,1), the size of mean-subtracted pixels, times the input scale) and labels, one training-mode pass
 * of the Net gives the loss and every parameter's gradient in float; a RefNet (refnet.h) with
 * the same parameters, inputs and dropout masks, taking the sides of the kinks the backend's
 * pass took (refnet_follow), gives them in double. Per parameter tensor:
 *  - the backend against the reference: |g - g_ref| / |g_ref| over the whole tensor (L2
 *    norms), at most 1e-4 in float32 (float's rounding through sums of thousands of terms
 *    gives 1e-6 to 2e-5 on AlexNet), 2e-2 in a context whose GEMMs may use TF32 tensor
 *    cores (10-bit mantissas; no tool asks for them, tests/gpu.sh's study does);
 *  - the reference against itself: the derivative of its loss along a random direction d of
 *    the tensor, (L(w + h d) - L(w - h d)) / 2h, against g_ref . d, the difference divided by
 *    |g_ref|, at most 1e-5 (about 1e-8 is usual). Only the layers from the tensor's on run
 *    again, and with the kinks' sides fixed the loss is smooth in w. A gradient too small
 *    for its h (capped at 1% of |w|) is measured against the loss's rounding instead.
 * The first shows a backend that computes something other than the specification says; the
 * second, a reference (the definition both are tested against) whose backward pass is not its
 * forward pass's derivative. Also failures: output probabilities that differ by more than the
 * tolerance, and more than 2, and more than 1 in 1000 (1 in 100 with TF32), ReLU inputs or
 * pooling windows on another side of their kink than double precision puts them (rounding
 * accounts for a handful in a million).
 */
#ifndef ANET_GRADCHECK_H
#define ANET_GRADCHECK_H

#include <stdint.h>
#include <stdio.h>

#include "libcommon/net.h"

typedef struct {
	int batch;     /* images, at most the net's max_batch */
	uint64_t seed; /* the inputs, labels and directions (the dropout masks are the net's seed's) */
	double input_scale; /* the inputs are 50 N(0,1) times this, as training scales them (0: 1) */
	int quiet;     /* no progress on stderr */
	/* NULL: the net's own specification. The tests give one that differs in one number (with
	 * the same parameter layout) to see the check fail. */
	const Spec *reference;
} GradCheckOptions;

typedef struct {
	double loss, loss_ref;    /* the backend's and the reference's mean cross-entropy */
	double worst_backend;     /* the largest relative difference, backend against reference */
	double worst_fd;          /* the largest of the finite differences */
	int tensors, failed;      /* parameter tensors checked; those over a tolerance */
	int unchecked;            /* finite differences left out: a zero gradient */
} GradCheckResult;

/* The tolerances above, for a context. */
double grad_check_tolerance(const Ctx *ctx);
#define GRAD_CHECK_FD_TOLERANCE 1e-5

/* Runs the check, prints a table per parameter tensor and a verdict to out. Returns 0 when it
 * ran (r->failed says whether the gradients agree), -1 after printing why it could not. */
int grad_check(Net *net, const GradCheckOptions *o, GradCheckResult *r, FILE *out);

#endif
