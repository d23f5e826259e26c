/* ref.h: naive double-precision reference implementations of every kernels.h op, for the tests and --check-grads.
 *
 * Each function is the op's definition written as the plainest loops (no blocking, no
 * threads, no tricks), in double, so that an optimised backend can be compared with it and
 * its gradients can be checked by finite differences of its forward. Shapes and conventions
 * are kernels.h's; arrays are double where the op has float, except the integer argmax and
 * labels. In libkernels.a for the tests and libcommon/refnet.c (anet-train --check-grads);
 * no backend calls them.
 */
#ifndef ANET_KERNELS_REF_H
#define ANET_KERNELS_REF_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* C[M][N] = alpha op(A) op(B) + beta C, row-major. */
void ref_gemm(GemmTrans ta, GemmTrans tb, int M, int N, int K, double alpha, const double *A, int lda,
	      const double *B, int ldb, double beta, double *C, int ldc);

void ref_conv_forward(const ConvShape *s, const double *x, const double *w, const double *b, double *y, int relu);
void ref_conv_backward_data(const ConvShape *s, const double *dy, const double *w, double *dx);
void ref_conv_backward_filter(const ConvShape *s, const double *x, const double *dy, double *dw, double *db);

/* Ties go to the first maximum in row-major window order. */
void ref_pool_forward(const PoolShape *s, const double *x, double *y, int32_t *argmax);
void ref_pool_backward(const PoolShape *s, const double *dy, const int32_t *argmax, double *dx);

/* scale may be NULL. The backward recomputes everything it needs from x. */
void ref_lrn_forward(const LrnShape *s, const double *x, double *y, double *scale);
void ref_lrn_backward(const LrnShape *s, const double *x, const double *dy, double *dx);

void ref_relu_forward(size_t n, const double *x, double *y);
void ref_relu_backward(size_t n, const double *x, const double *dy, double *dx);

/* The mask from kernels/rng.h: element i kept when rng_uniform(seed, stream, i) >= p. */
void ref_dropout_forward(size_t n, double p, uint64_t seed, uint64_t stream, const double *x, double *y);
void ref_dropout_backward(size_t n, double p, uint64_t seed, uint64_t stream, const double *dy, double *dx);

void ref_fc_forward(int N, int In, int Out, const double *x, const double *w, const double *b, double *y, int relu);
void ref_fc_backward_data(int N, int In, int Out, const double *dy, const double *w, double *dx);
void ref_fc_backward_weights(int N, int In, int Out, const double *x, const double *dy, double *dw, double *db);

void ref_softmax_forward(int N, int K, const double *logits, double *probs);
/* The mean cross-entropy -1/N sum_n log softmax(logits)[n][label[n]], and its gradient. */
double ref_xent_loss(int N, int K, const double *logits, const int32_t *labels);
void ref_xent_backward(int N, int K, const double *probs, const int32_t *labels, double *dlogits);

void ref_sgd_update(size_t n, double *w, const double *dw, double *v, double lr, double momentum, double decay);

void ref_augment(const AugmentShape *s, int nviews, const View *views, const uint8_t *src, const float *mean,
		 double *out);

#endif
