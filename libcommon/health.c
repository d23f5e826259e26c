/* health.c: weights, updates and dead ReLUs of a network in training, per layer (see health.h). */
#include "libcommon/health.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"

int health_rows(const Spec *s)
{
	int n = 0;
	for (int i = 0; i < s->nlayers; i++)
		n += s->layers[i].type == LAYER_CONV || s->layers[i].type == LAYER_FC;
	return n;
}

static double mean_abs(const float *x, int64_t n)
{
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += fabs((double)x[i]);
	return n ? sum / (double)n : 0;
}

/* Weights, update and bias of learned layer l into r. */
static int measure_params(Net *net, const SpecLayer *l, float *host, HealthRow *r)
{
	const Spec *s = net_spec(net);
	const SpecParam *w = &s->params[l->param], *b = &s->params[l->param + 1];
	if (net_download_param(net, l->param, host) != 0)
		return -1;
	r->weight_abs = mean_abs(host, w->count);
	r->update_abs = 0;
	const float *v = net_momentum(net, l->param);
	if (v) {
		if (ctx_download(net_ctx(net), host, v, (size_t)w->count * sizeof *host) != 0) {
			warn_msg("downloading the update of %s: %s", w->name, ctx_error(net_ctx(net)));
			return -1;
		}
		r->update_abs = mean_abs(host, w->count);
	}
	if (net_download_param(net, l->param + 1, host) != 0)
		return -1;
	double sum = 0;
	for (int64_t i = 0; i < b->count; i++)
		sum += host[i];
	r->bias_mean = b->count ? sum / (double)b->count : 0;
	return 0;
}

/* Dead units and zeros of the rectified output called name, over n images, an image at a time. */
static int measure_relu(Net *net, const char *name, int n, HealthRow *r)
{
	Dims d;
	const float *y = net_output(net, name, &d);
	int64_t per = dims_count(d), plane = (int64_t)d.h * d.w, zeros = 0;
	float *host = xmallocarray((size_t)per, sizeof *host);
	unsigned char *alive = xcalloc((size_t)d.c, 1);
	for (int i = 0; i < n; i++) {
		if (ctx_download(net_ctx(net), host, y + (size_t)i * (size_t)per, (size_t)per * sizeof *host) != 0) {
			warn_msg("downloading the outputs of %s: %s", name, ctx_error(net_ctx(net)));
			free(host);
			free(alive);
			return -1;
		}
		for (int c = 0; c < d.c; c++)
			for (int64_t k = 0; k < plane; k++) {
				int z = !(host[c * plane + k] > 0);
				zeros += z;
				alive[c] |= !z;
			}
	}
	r->relu = 1;
	r->units = d.c;
	r->dead = 0;
	for (int c = 0; c < d.c; c++)
		r->dead += !alive[c];
	r->zero_share = n ? (double)zeros / ((double)per * n) : 0;
	free(host);
	free(alive);
	return 0;
}

int health_measure(Net *net, int n, HealthRow *rows)
{
	const Spec *s = net_spec(net);
	int64_t largest = 0;
	for (int i = 0; i < s->nparams; i++)
		largest = s->params[i].count > largest ? s->params[i].count : largest;
	float *host = xmallocarray((size_t)largest, sizeof *host);
	int k = 0, rc = 0;
	for (int i = 0; i < s->nlayers && rc == 0; i++) {
		const SpecLayer *l = &s->layers[i];
		if (l->type != LAYER_CONV && l->type != LAYER_FC)
			continue;
		memset(&rows[k], 0, sizeof rows[k]);
		rows[k].layer = i;
		rc = measure_params(net, l, host, &rows[k++]);
	}
	free(host);
	if (rc != 0)
		return -1;
	/* the step's own forward pass ran with dropout; this one shows the units themselves */
	if (n > 0 && net_forward(net, n, NET_EVAL, 0) != 0) /* it says why */
		return -1;
	for (k = 0; k < health_rows(s) && n > 0; k++) {
		int i = rows[k].layer;
		if (i + 1 < s->nlayers && s->layers[i + 1].type == LAYER_RELU &&
		    measure_relu(net, s->layers[i + 1].name, n, &rows[k]) != 0)
			return -1;
	}
	return 0;
}

void health_write_header(FILE *f)
{
	fputs("step\tepoch\tlayer\tweight_abs\tupdate_abs\tupdate_ratio\tbias_mean\tunits\tdead\tzero_share\n", f);
}

void health_write_rows(FILE *f, const Spec *s, const HealthRow *rows, uint64_t step, double epoch)
{
	for (int k = 0; k < health_rows(s); k++) {
		const HealthRow *r = &rows[k];
		fprintf(f, "%" PRIu64 "\t%.4f\t%s\t%.6g\t%.6g\t%.6g\t%.6g\t", step, epoch, s->layers[r->layer].name,
			r->weight_abs, r->update_abs, r->weight_abs > 0 ? r->update_abs / r->weight_abs : 0, r->bias_mean);
		if (r->relu)
			fprintf(f, "%d\t%d\t%.4f\n", r->units, r->dead, r->zero_share);
		else
			fputs("\t\t\n", f);
	}
}

void health_format_dead(char *buf, size_t len, const Spec *s, const HealthRow *rows)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int k = 0; k < health_rows(s) && at < len; k++)
		if (rows[k].relu)
			at += (size_t)snprintf(buf + at, len - at, "%s%s %d/%d", at ? ", " : "", s->layers[rows[k].layer].name,
					       rows[k].dead, rows[k].units);
}
