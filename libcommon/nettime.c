/* nettime.c: anet-train --time: speed of a network on synthetic data (see nettime.h). */
#include "libcommon/nettime.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "kernels/rng.h"
#include "libcommon/util.h"

double peak_rss_bytes(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_maxrss * 1024.0; /* Linux reports KiB */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Inputs of the size of mean-subtracted pixels (50 * N(0,1)) and uniform labels, uploaded
 * once: the timing measures the network, not the data. */
static int synthetic_batch(Net *net, int n, uint64_t seed, int32_t *labels)
{
	const Spec *s = net_spec(net);
	size_t count = (size_t)n * (size_t)dims_count(s->layers[0].out);
	float *x = xmallocarray(count, sizeof *x);
	uint64_t stream = RNG_STREAM(RNG_TEST, 1);
	int threads = net_ctx(net)->threads > 0 ? net_ctx(net)->threads : omp_get_max_threads();
#pragma omp parallel for schedule(static) num_threads(threads)
	for (size_t i = 0; i < count; i++)
		x[i] = 50.0f * rng_normal(seed, stream, i);
	for (int i = 0; i < n; i++)
		labels[i] = (int32_t)rng_below(seed, RNG_STREAM(RNG_TEST, 2), (uint64_t)i, (uint32_t)s->classes);
	int rc = ctx_upload(net_ctx(net), net_input(net), x, count * sizeof *x);
	free(x);
	if (rc != 0) {
		warn_msg("uploading the synthetic batch: %s", ctx_error(net_ctx(net)));
		return -1;
	}
	return net_set_labels(net, labels, n);
}

/* Per-layer seconds of every timed run: [iter][layer] for the training forward and backward
 * passes and the inference pass, and the update of each step. */
typedef struct {
	int iters, layers;
	double *fwd, *bwd, *inf, *update, *step, *pass;
} Times;

static void times_alloc(Times *t, int iters, int layers)
{
	size_t n = (size_t)iters * (size_t)layers;
	t->iters = iters;
	t->layers = layers;
	t->fwd = xcalloc(n, sizeof(double));
	t->bwd = xcalloc(n, sizeof(double));
	t->inf = xcalloc(n, sizeof(double));
	t->update = xcalloc((size_t)iters, sizeof(double));
	t->step = xcalloc((size_t)iters, sizeof(double));
	t->pass = xcalloc((size_t)iters, sizeof(double));
}

static void times_free(Times *t)
{
	free(t->fwd);
	free(t->bwd);
	free(t->inf);
	free(t->update);
	free(t->step);
	free(t->pass);
}

/* The median over the iterations of column layer of a [iter][layer] table. */
static double column_median(const double *v, const Times *t, int layer)
{
	double *c = xmallocarray((size_t)t->iters, sizeof *c);
	for (int i = 0; i < t->iters; i++)
		c[i] = v[(size_t)i * (size_t)t->layers + (size_t)layer];
	double m = median(c, t->iters);
	free(c);
	return m;
}

/* The timed training steps, then the timed inference passes, each layer timed. */
static int timed_runs(Net *net, int n, uint64_t *step, Times *t)
{
	int L = t->layers, rc = 0;
	for (int i = 0; i < t->iters && rc == 0; i++) {
		double t0 = now_seconds();
		rc = net_train_step(net, n, (*step)++, 0.001f, NULL, NULL);
		t->step[i] = now_seconds() - t0;
		for (int l = 0; l < L; l++)
			net_profile_layer(net, l, &t->fwd[i * L + l], &t->bwd[i * L + l]);
		t->update[i] = net_profile_update(net);
	}
	for (int i = 0; i < t->iters && rc == 0; i++) {
		double t0 = now_seconds(), unused;
		rc = net_forward(net, n, NET_EVAL, 0) != 0 || !net_probs(net) ? -1 : 0;
		t->pass[i] = now_seconds() - t0;
		for (int l = 0; l < L; l++)
			net_profile_layer(net, l, &t->inf[i * L + l], &unused);
	}
	return rc;
}

static void print_layers(Net *net, const Times *t, FILE *out)
{
	const Spec *s = net_spec(net);
	double tf = 0, tb = 0, te = 0;
	fprintf(out, "\n%-10s %-8s %12s %12s %12s   (medians; a fused relu's forward is its layer's)\n", "layer",
		"type", "forward ms", "backward ms", "infer ms");
	for (int i = 1; i < s->nlayers; i++) {
		const SpecLayer *l = &s->layers[i];
		double f = column_median(t->fwd, t, i), b = column_median(t->bwd, t, i), e = column_median(t->inf, t, i);
		fprintf(out, "%-10s %-8s %12.2f %12.2f %12.2f\n", l->name, layer_type_name(l->type), f * 1e3, b * 1e3,
			e * 1e3);
		tf += f;
		tb += b;
		te += e;
	}
	double *u = xmallocarray((size_t)t->iters, sizeof *u);
	memcpy(u, t->update, (size_t)t->iters * sizeof *u);
	double up = median(u, t->iters);
	free(u);
	fprintf(out, "%-10s %-8s %12s %12.2f\n", "update", "sgd", "", up * 1e3);
	fprintf(out, "%-10s %-8s %12.2f %12.2f %12.2f\n", "sum", "", tf * 1e3, (tb + up) * 1e3, te * 1e3);
}

int net_time(Net *net, const NetTimeOptions *o, NetTimeResult *r, FILE *out)
{
	Ctx *c = net_ctx(net);
	const Spec *s = net_spec(net);
	int n = o->batch;
	int32_t *labels = xmallocarray((size_t)n, sizeof *labels);
	uint64_t step = 0;
	Times t;
	times_alloc(&t, o->iters, s->nlayers);
	fprintf(out, "timing %s on %s: batch %d, %d timed steps and passes after a warm-up\n", s->source,
		c->be->describe(c), n, o->iters);
	int rc = synthetic_batch(net, n, o->seed, labels);
	/* warm-up: first touches of every buffer, the backend's lazy workspaces, the BLAS pools */
	if (rc == 0)
		rc = net_train_step(net, n, step++, 0.001f, NULL, NULL);
	if (rc == 0)
		rc = net_forward(net, n, NET_EVAL, 0);
	net_profile(net, 1);
	if (rc == 0)
		rc = timed_runs(net, n, &step, &t);
	net_profile(net, 0);
	if (rc == 0) {
		print_layers(net, &t, out);
		r->train_step = median(t.step, t.iters);
		r->infer_pass = median(t.pass, t.iters);
		r->train_ips = n / r->train_step;
		r->infer_ips = n / r->infer_pass;
		r->peak_rss = peak_rss_bytes();
		char b1[32], b2[32];
		fprintf(out, "\ntrain: %.2f img/s (median step %.3f s)\n", r->train_ips, r->train_step);
		fprintf(out, "inference: %.2f img/s (median pass %.3f s)\n", r->infer_ips, r->infer_pass);
		fprintf(out, "peak memory: %.1f MiB (process resident set %s; the network's device buffers %s)\n",
			r->peak_rss / 1048576.0, format_bytes(b1, sizeof b1, r->peak_rss),
			format_bytes(b2, sizeof b2, net_device_bytes(net)));
	}
	times_free(&t);
	free(labels);
	return rc;
}
