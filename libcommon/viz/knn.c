/* knn.c: the K nearest gallery vectors of each query by Euclidean distance, the search behind the
 * paper's Figure 4 (right): images whose last-hidden-layer activations lie closest.
 *
 * The gallery comes in blocks, so a large one (1.28 M training images x 4096 floats = 21 GB)
 * never sits in memory. For a block G of n rows and the queries Q of m rows,
 *   ||q - g||^2 = ||q||^2 + ||g||^2 - 2 q.g,
 * with all m x n dot products from one cblas_sgemm (Q G^T; about 2mnD flops at OpenBLAS's
 * 70-140 GFLOP/s here, against a triple loop's ~1-2), the norms in double. The expansion
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

Knn *knn_new(const float *queries, int nq, int dim, int k)
{
	Knn *s = xcalloc(1, sizeof *s);
	s->nq = nq;
	s->dim = dim;
	s->k = k;
	s->q = xmallocarray((size_t)nq * (size_t)dim, sizeof(float));
	memcpy(s->q, queries, (size_t)nq * (size_t)dim * sizeof(float));
	s->qnorm = xmallocarray((size_t)nq, sizeof(double));
	for (int i = 0; i < nq; i++) {
		double acc = 0;
		for (int d = 0; d < dim; d++)
			acc += (double)s->q[(size_t)i * dim + d] * s->q[(size_t)i * dim + d];
		s->qnorm[i] = acc;
	}
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

void knn_add(Knn *s, const float *gallery, int n, const int64_t *ids)
{
	if (n <= 0)
		return;
	if ((size_t)n > s->cap) {
		free(s->dots);
		s->cap = (size_t)n;
		s->dots = xmallocarray((size_t)s->nq * s->cap, sizeof(float));
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->nq, n, s->dim, 1.0f, s->q, s->dim, gallery, s->dim, 0.0f,
		    s->dots, n);
	for (int j = 0; j < n; j++) {
		const float *g = gallery + (size_t)j * s->dim;
		double gn = 0;
		for (int d = 0; d < s->dim; d++)
			gn += (double)g[d] * g[d];
		for (int i = 0; i < s->nq; i++) {
			if (ids[j] == s->exclude[i])
				continue;
			double d2 = s->qnorm[i] + gn - 2.0 * s->dots[(size_t)i * n + j];
			offer(s, i, (float)(d2 > 0 ? d2 : 0), ids[j]);
		}
	}
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
