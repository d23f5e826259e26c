/* nettime.c: anet-train --time: speed of a network on synthetic data (see nettime.h). */
#include "libcommon/nettime.h"

#include <stdlib.h>
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
#pragma omp parallel for schedule(static)
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

/* iters timed runs of a training step (train) or an inference pass; medians into *t. */
static int timed(Net *net, int n, int iters, int train, uint64_t *step, double *t)
{
	double *v = xmallocarray((size_t)iters, sizeof *v);
	int rc = 0;
	for (int i = 0; i < iters && rc == 0; i++) {
		double t0 = now_seconds();
		if (train)
			rc = net_train_step(net, n, (*step)++, 0.001f, NULL, NULL);
		else
			rc = net_forward(net, n, NET_EVAL, 0) != 0 || !net_probs(net) ? -1 : 0;
		v[i] = now_seconds() - t0;
	}
	*t = median(v, iters);
	free(v);
	return rc;
}

static void print_layers(Net *net, const double *fwd_train, const double *bwd, const double *fwd_eval, FILE *out)
{
	const Spec *s = net_spec(net);
	double tf = 0, tb = 0, te = 0;
	fprintf(out, "\n%-10s %-8s %12s %12s %12s\n", "layer", "type", "forward ms", "backward ms", "infer ms");
	for (int i = 0; i < s->nlayers; i++) {
		const SpecLayer *l = &s->layers[i];
		if (l->type == LAYER_INPUT || (l->type == LAYER_RELU && l->fused))
			continue;
		fprintf(out, "%-10s %-8s %12.2f %12.2f %12.2f\n", l->name, layer_type_name(l->type),
			fwd_train[i] * 1e3, bwd[i] * 1e3, fwd_eval[i] * 1e3);
		tf += fwd_train[i];
		tb += bwd[i];
		te += fwd_eval[i];
	}
	double up = net_profile_update(net);
	fprintf(out, "%-10s %-8s %12s %12.2f\n", "update", "sgd", "", up * 1e3);
	fprintf(out, "%-10s %-8s %12.2f %12.2f %12.2f\n", "total", "", tf * 1e3, (tb + up) * 1e3, te * 1e3);
}

/* One profiled training step and inference pass: the per-layer table. */
static int profile_layers(Net *net, int n, uint64_t step, FILE *out)
{
	int L = net_spec(net)->nlayers;
	double *ft = xcalloc((size_t)L * 3, sizeof *ft), *bt = ft + L, *fe = ft + 2 * L;
	net_profile(net, 1);
	int rc = net_train_step(net, n, step, 0.001f, NULL, NULL);
	for (int i = 0; i < L && rc == 0; i++)
		net_profile_layer(net, i, &ft[i], &bt[i]);
	if (rc == 0)
		rc = net_forward(net, n, NET_EVAL, 0);
	double dummy;
	for (int i = 0; i < L && rc == 0; i++)
		net_profile_layer(net, i, &fe[i], &dummy);
	net_profile(net, 0);
	if (rc == 0)
		print_layers(net, ft, bt, fe, out);
	free(ft);
	return rc;
}

int net_time(Net *net, const NetTimeOptions *o, NetTimeResult *r, FILE *out)
{
	Ctx *c = net_ctx(net);
	const Spec *s = net_spec(net);
	int n = o->batch;
	int32_t *labels = xmallocarray((size_t)n, sizeof *labels);
	uint64_t step = 0;
	fprintf(out, "timing %s on %s: batch %d, %d timed steps after a warm-up\n", s->source, c->be->describe(c), n,
		o->iters);
	int rc = synthetic_batch(net, n, o->seed, labels);
	/* warm-up: first touches of every buffer, the backend's lazy workspaces, the BLAS pools */
	if (rc == 0)
		rc = net_train_step(net, n, step++, 0.001f, NULL, NULL);
	if (rc == 0)
		rc = net_forward(net, n, NET_EVAL, 0);
	if (rc == 0)
		rc = timed(net, n, o->iters, 1, &step, &r->train_step);
	if (rc == 0)
		rc = timed(net, n, o->iters, 0, &step, &r->infer_pass);
	if (rc == 0)
		rc = profile_layers(net, n, step, out);
	free(labels);
	if (rc != 0)
		return -1;
	r->train_ips = n / r->train_step;
	r->infer_ips = n / r->infer_pass;
	r->peak_rss = peak_rss_bytes();
	char b1[32], b2[32];
	fprintf(out, "\ntrain: %.2f img/s (median step %.3f s)\n", r->train_ips, r->train_step);
	fprintf(out, "inference: %.2f img/s (median pass %.3f s)\n", r->infer_ips, r->infer_pass);
	fprintf(out, "peak memory: %.1f MiB (process resident set %s; the network's device buffers %s)\n",
		r->peak_rss / 1048576.0, format_bytes(b1, sizeof b1, r->peak_rss),
		format_bytes(b2, sizeof b2, net_device_bytes(net)));
	return 0;
}
