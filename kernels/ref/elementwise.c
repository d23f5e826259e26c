/* elementwise.c (reference): ReLU, dropout and the SGD update, in double. */
#include "kernels/ref/ref.h"

#include "kernels/rng.h"

void ref_relu_forward(size_t n, const double *x, double *y)
{
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] > 0 ? x[i] : 0;
}

void ref_relu_backward(size_t n, const double *x, const double *dy, double *dx)
{
	for (size_t i = 0; i < n; i++)
		dx[i] = x[i] > 0 ? dy[i] : 0;
}

void ref_dropout_forward(size_t n, double p, uint64_t seed, uint64_t stream, const double *x, double *y)
{
	for (size_t i = 0; i < n; i++)
		y[i] = rng_uniform(seed, stream, i) >= p ? x[i] / (1 - p) : 0;
}

void ref_dropout_backward(size_t n, double p, uint64_t seed, uint64_t stream, const double *dy, double *dx)
{
	ref_dropout_forward(n, p, seed, stream, dy, dx);
}

void ref_sgd_update(size_t n, double *w, const double *dw, double *v, double lr, double momentum, double decay)
{
	for (size_t i = 0; i < n; i++) {
		v[i] = momentum * v[i] - decay * lr * w[i] - lr * dw[i];
		w[i] = w[i] + v[i];
	}
}
