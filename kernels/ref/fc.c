/* fc.c (reference): fully connected layers, softmax and cross-entropy, in double. */
#include "kernels/ref/ref.h"

#include <math.h>

/* Each output element is summed by one thread, in the same order whatever the thread count, so
 * the results do not depend on it (fc6 of AlexNet is 38M products an image: worth the cores).
 * A small layer stays on one thread: a parallel region costs more than it saves there, far
 * more where other processes share the cores (a small net's finite differences run thousands). */
#define PARALLEL(n, in, out) ((int64_t)(n) * (in) * (out) >= (1 << 20))

void ref_fc_forward(int N, int In, int Out, const double *x, const double *w, const double *b, double *y, int relu)
{
#pragma omp parallel for collapse(2) schedule(static) if (PARALLEL(N, In, Out))
	for (int n = 0; n < N; n++)
		for (int o = 0; o < Out; o++) {
			double v = b ? b[o] : 0;
			for (int i = 0; i < In; i++)
				v += x[(size_t)n * In + i] * w[(size_t)o * In + i];
			y[(size_t)n * Out + o] = relu && v < 0 ? 0 : v;
		}
}

/* dx[n][i] = sum over o, ascending, of dy[n][o] w[o][i]: the rows of w are walked in order (the
 * same sums as a loop over o inside, which strides through w) */
void ref_fc_backward_data(int N, int In, int Out, const double *dy, const double *w, double *dx)
{
	enum { SPAN = 512 }; /* the columns i a thread owns: each thread's part of dx stays in cache */
	int spans = (In + SPAN - 1) / SPAN;
#pragma omp parallel for collapse(2) schedule(static) if (PARALLEL(N, In, Out))
	for (int n = 0; n < N; n++)
		for (int s = 0; s < spans; s++) {
			int i0 = s * SPAN, i1 = i0 + SPAN < In ? i0 + SPAN : In;
			double *d = dx + (size_t)n * In;
			for (int i = i0; i < i1; i++)
				d[i] = 0;
			for (int o = 0; o < Out; o++) {
				double g = dy[(size_t)n * Out + o];
				const double *wr = w + (size_t)o * In;
				for (int i = i0; i < i1; i++)
					d[i] += g * wr[i];
			}
		}
}

void ref_fc_backward_weights(int N, int In, int Out, const double *x, const double *dy, double *dw, double *db)
{
#pragma omp parallel for schedule(static) if (PARALLEL(N, In, Out))
	for (int o = 0; o < Out; o++) {
		for (int i = 0; i < In; i++) {
			double v = 0;
			for (int n = 0; n < N; n++)
				v += dy[(size_t)n * Out + o] * x[(size_t)n * In + i];
			dw[(size_t)o * In + i] = v;
		}
		if (db) {
			double v = 0;
			for (int n = 0; n < N; n++)
				v += dy[(size_t)n * Out + o];
			db[o] = v;
		}
	}
}

void ref_softmax_forward(int N, int K, const double *logits, double *probs)
{
	for (int n = 0; n < N; n++) {
		const double *z = logits + (size_t)n * K;
		double m = z[0], sum = 0;
		for (int k = 1; k < K; k++)
			m = z[k] > m ? z[k] : m;
		for (int k = 0; k < K; k++)
			sum += exp(z[k] - m);
		for (int k = 0; k < K; k++)
			probs[(size_t)n * K + k] = exp(z[k] - m) / sum;
	}
}

double ref_xent_loss(int N, int K, const double *logits, const int32_t *labels)
{
	double loss = 0;
	for (int n = 0; n < N; n++) {
		const double *z = logits + (size_t)n * K;
		double m = z[0], sum = 0;
		for (int k = 1; k < K; k++)
			m = z[k] > m ? z[k] : m;
		for (int k = 0; k < K; k++)
			sum += exp(z[k] - m);
		loss -= z[labels[n]] - m - log(sum);
	}
	return loss / N;
}

void ref_xent_backward(int N, int K, const double *probs, const int32_t *labels, double *dlogits)
{
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++)
			dlogits[(size_t)n * K + k] = (probs[(size_t)n * K + k] - (k == labels[n])) / N;
}
