/* fc.c (reference): fully connected layers, softmax and cross-entropy, in double. */
#include "kernels/ref/ref.h"

#include <math.h>

void ref_fc_forward(int N, int In, int Out, const double *x, const double *w, const double *b, double *y, int relu)
{
	for (int n = 0; n < N; n++)
		for (int o = 0; o < Out; o++) {
			double v = b ? b[o] : 0;
			for (int i = 0; i < In; i++)
				v += x[(size_t)n * In + i] * w[(size_t)o * In + i];
			y[(size_t)n * Out + o] = relu && v < 0 ? 0 : v;
		}
}

void ref_fc_backward_data(int N, int In, int Out, const double *dy, const double *w, double *dx)
{
	for (int n = 0; n < N; n++)
		for (int i = 0; i < In; i++) {
			double v = 0;
			for (int o = 0; o < Out; o++)
				v += dy[(size_t)n * Out + o] * w[(size_t)o * In + i];
			dx[(size_t)n * In + i] = v;
		}
}

void ref_fc_backward_weights(int N, int In, int Out, const double *x, const double *dy, double *dw, double *db)
{
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
