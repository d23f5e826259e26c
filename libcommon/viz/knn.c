/* knn.c: the K nearest gallery vectors of each query by Euclidean distance, the search behind the
 * paper's Figure 4 (right): images whose last-hidden-layer activations lie closest.
 *
 * The gallery comes in blocks, so a large one (1.28 M training images x 4096 floats = 21 GB)
 * never sits in memory. For a block G of n rows and the queries Q of m rows,
 *   ||q - g||^2 = ||q||^2 + ||g||^2 - 2 q.g,
 * with all m x n dot products from one cblas_sgemm (Q G^T), the norms in double. Measured on
 * this project's 2-core machine with D = 4096 (fc7): 5 queries against 100,000 rows in 0.62 s
 * (6.6 GFLOP/s: with few queries the 1.6 GB gallery is read once and the time is the reading),
 * a plain loop 1.9 s; 64 queries against 20,000 rows in 0.28 s (37 GFLOP/s), the loop 4.3 s
 * (15x). Computing the features takes far longer than searching them. The expansion
 * loses digits when two vectors nearly coincide (cancellation), which can swap neighbours
 * whose distances agree to about 1e-6 of their norms: harmless for a picture, and the
 * result is clamped at 0. Each query keeps its K best in a sorted array (K is small); ties
 * keep the earlier gallery row, so the result does not depend on the block size.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

struct Knn {
	int nq, dim, k;
	float *q;         /* [nq][dim] */
	double *qnorm;    /* [nq] */
	float *best;      /* [nq][k] squared distances, ascending; INFINITY where empty */
	int64_t *id;      /* [nq][k]; -1 where empty */
	int64_t *exclude; /* [nq]: a gallery id each query must not match (itself); -1: none */
	float *dots;      /* [nq][cap] */
	size_t cap;
};

/* ||x||^2 in double with eight partial sums: independent chains the CPU overlaps (one chain
 * waits 4 cycles an add: 16k cycles a 4096-vector, as long as the GEMM's share of a row) */
static double squared_norm(const float *x, int n)
{
	double acc[8] = { 0 };
	int i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			acc[j] += (double)x[i + j] * x[i + j];
	for (; i < n; i++)
		acc[0] += (double)x[i] * x[i];
	return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

Knn *knn_new(const float *queries, int nq, int dim, int k)
{
	Knn *s = xcalloc(1, sizeof *s);
	s->nq = nq;
	s->dim = dim;
	s->k = k;
	s->q = xmallocarray((size_t)nq * (size_t)dim, sizeof(float));
	memcpy(s->q, queries, (size_t)nq * (size_t)dim * sizeof(float));
	s->qnorm = xmallocarray((size_t)nq, sizeof(double));
	for (int i = 0; i < nq; i++)
		s->qnorm[i] = squared_norm(s->q + (size_t)i * dim, dim);
	s->best = xmallocarray((size_t)nq * (size_t)k, sizeof(float));
	s->id = xmallocarray((size_t)nq * (size_t)k, sizeof(int64_t));
	s->exclude = xmallocarray((size_t)nq, sizeof(int64_t));
	for (size_t i = 0; i < (size_t)nq * (size_t)k; i++) {
		s->best[i] = INFINITY;
		s->id[i] = -1;
	}
	for (int i = 0; i < nq; i++)
		s->exclude[i] = -1;
	return s;
}

void knn_free(Knn *s)
{
	if (!s)
		return;
	free(s->q);
	free(s->qnorm);
	free(s->best);
	free(s->id);
	free(s->exclude);
	free(s->dots);
	free(s);
}

void knn_exclude(Knn *s, int query, int64_t id)
{
	s->exclude[query] = id;
}

/* Puts (d, id) into query i's sorted list if it beats the last. */
static void offer(Knn *s, int i, float d, int64_t id)
{
	float *b = s->best + (size_t)i * s->k;
	int64_t *ids = s->id + (size_t)i * s->k;
	int j = s->k - 1;
	if (!(d < b[j]))
		return;
	while (j > 0 && d < b[j - 1]) {
		b[j] = b[j - 1];
		ids[j] = ids[j - 1];
		j--;
	}
	b[j] = d;
	ids[j] = id;
}

/* One chunk: its rows are read twice (norms, GEMM), so it should stay in the cache. */
static void add_chunk(Knn *s, const float *gallery, int n, const int64_t *ids)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->nq, n, s->dim, 1.0f, s->q, s->dim, gallery, s->dim, 0.0f,
		    s->dots, n);
	for (int j = 0; j < n; j++) {
		double gn = squared_norm(gallery + (size_t)j * s->dim, s->dim);
		for (int i = 0; i < s->nq; i++) {
			if (ids[j] == s->exclude[i])
				continue;
			double d2 = s->qnorm[i] + gn - 2.0 * s->dots[(size_t)i * n + j];
			offer(s, i, (float)(d2 > 0 ? d2 : 0), ids[j]);
		}
	}
}

void knn_add(Knn *s, const float *gallery, int n, const int64_t *ids)
{
	/* chunks of about 2 MiB (128 rows of 4096 floats), which the norms read back from the cache */
	int chunk = (int)((2u << 20) / ((size_t)s->dim * sizeof(float)));
	chunk = chunk < 1 ? 1 : chunk;
	if ((size_t)chunk > s->cap) {
		free(s->dots);
		s->cap = (size_t)chunk;
		s->dots = xmallocarray((size_t)s->nq * s->cap, sizeof(float));
	}
	for (int first = 0; first < n; first += chunk)
		add_chunk(s, gallery + (size_t)first * s->dim, n - first < chunk ? n - first : chunk, ids + first);
}

int knn_result(const Knn *s, int query, int64_t *ids, float *dist)
{
	int found = 0;
	for (int j = 0; j < s->k; j++) {
		int64_t id = s->id[(size_t)query * s->k + j];
		if (id < 0)
			break;
		ids[j] = id;
		dist[j] = sqrtf(s->best[(size_t)query * s->k + j]);
		found++;
	}
	return found;
}
