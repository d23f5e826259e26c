/* refnet.c: a network in double precision from the reference ops (see refnet.h). */
#include "libcommon/refnet.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "kernels/rng.h"
#include "libcommon/net.h"
#include "libcommon/util.h"

RefNet *refnet_create(const Spec *s, int n, uint64_t seed, uint64_t step)
{
	RefNet *r = xcalloc(1, sizeof *r);
	*r = (RefNet){ .s = s, .n = n, .seed = seed, .step = step };
	r->params = xcalloc((size_t)s->param_floats, sizeof(double));
	r->grads = xcalloc((size_t)s->param_floats, sizeof(double));
	r->act = xcalloc((size_t)s->nlayers, sizeof *r->act);
	r->argmax = xcalloc((size_t)s->nlayers, sizeof *r->argmax);
	r->differ = xcalloc((size_t)s->nlayers, sizeof *r->differ);
	for (int i = 0; i < s->nlayers; i++) {
		size_t count = (size_t)n * (size_t)dims_count(s->layers[i].out);
		r->act[i] = xcalloc(count, sizeof(double));
		if (s->layers[i].type == LAYER_POOL)
			r->argmax[i] = xcalloc(count, sizeof(int32_t));
	}
	return r;
}

void refnet_free(RefNet *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->s->nlayers; i++) {
		free(r->act[i]);
		free(r->argmax[i]);
	}
	free(r->act);
	free(r->argmax);
	free(r->differ);
	free(r->params);
	free(r->grads);
	free(r);
}

/* A convolution cut into pieces for the threads: one image, one group, up to CHUNK output
 * channels, each a convolution of its own with G = 1. */
enum { CHUNK = 16 };

typedef struct {
	ConvShape one;      /* one image and one group: C/G inputs, K/G outputs */
	int groups, chunks; /* chunks of each group's outputs */
	size_t xs, ys;      /* an image's input and output values */
	size_t xg, wk, yk;  /* a group's input values; an output channel's weights and values */
} ConvPieces;

/* (The shapes were checked when the spec was made.) */
static ConvPieces conv_pieces(const SpecLayer *l)
{
	ConvShape one = { .N = 1, .C = l->in.c / l->groups, .H = l->in.h, .W = l->in.w, .K = l->outputs / l->groups,
			  .R = l->kernel, .S = l->kernel, .stride = l->stride, .pad = l->pad, .G = 1 };
	const char *why;
	if (conv_shape(&one, &why) != 0)
		die("%s: %s", l->name, why);
	return (ConvPieces){ .one = one, .groups = l->groups, .chunks = (one.K + CHUNK - 1) / CHUNK,
			     .xs = (size_t)dims_count(l->in), .ys = (size_t)dims_count(l->out),
			     .xg = (size_t)one.C * (size_t)one.H * (size_t)one.W,
			     .wk = (size_t)one.C * (size_t)one.R * (size_t)one.S, .yk = (size_t)one.P * (size_t)one.Q };
}

/* Piece c of group g: its first output channel (of all K) and its shape. */
static int piece(const ConvPieces *cp, int g, int c, ConvShape *s)
{
	*s = cp->one;
	s->K = cp->one.K - c * CHUNK < CHUNK ? cp->one.K - c * CHUNK : CHUNK;
	return g * cp->one.K + c * CHUNK;
}

/* Whether a pass of this convolution over n images is worth the threads: a small one costs more
 * in the parallel region than it saves, far more where other processes share the cores. */
static int worth_threads(const ConvPieces *cp, int n)
{
	return (double)n * cp->groups * cp->one.K * (double)cp->wk * (double)cp->yk >= (double)(1 << 20);
}

static void conv_forward(const ConvPieces *cp, int n, const double *x, const double *w, const double *b, double *y)
{
	int per_image = cp->groups * cp->chunks;
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(cp, n))
	for (int t = 0; t < n * per_image; t++) {
		int m = t / per_image, g = t % per_image / cp->chunks;
		ConvShape s;
		size_t k0 = (size_t)piece(cp, g, t % cp->chunks, &s);
		ref_conv_forward(&s, x + m * cp->xs + g * cp->xg, w + k0 * cp->wk, b ? b + k0 : NULL,
				 y + m * cp->ys + k0 * cp->yk, 0);
	}
}

/* dx, image by image and group by group (each sums over all of its group's outputs). */
static void conv_backward_data(const ConvPieces *cp, int n, const double *dy, const double *w, double *dx)
{
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(cp, n))
	for (int t = 0; t < n * cp->groups; t++) {
		int m = t / cp->groups, g = t % cp->groups;
		size_t k0 = (size_t)g * (size_t)cp->one.K;
		ref_conv_backward_data(&cp->one, dy + m * cp->ys + k0 * cp->yk, w + k0 * cp->wk, dx + m * cp->xs + g * cp->xg);
	}
}

/* dw and db piece by piece, each summed over the images in their order whatever the threads. */
static void conv_backward_filter(const ConvPieces *cp, int n, const double *x, const double *dy, double *dw, double *db)
{
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(cp, n))
	for (int t = 0; t < cp->groups * cp->chunks; t++) {
		int g = t / cp->chunks;
		ConvShape s;
		size_t k0 = (size_t)piece(cp, g, t % cp->chunks, &s), nw = (size_t)s.K * cp->wk;
		double *tw = xcalloc(nw + (size_t)s.K, sizeof *tw), *tb = tw + nw;
		double *pw = dw + k0 * cp->wk, *pb = db + k0;
		memset(pw, 0, nw * sizeof *pw);
		memset(pb, 0, (size_t)s.K * sizeof *pb);
		for (int m = 0; m < n; m++) {
			ref_conv_backward_filter(&s, x + m * cp->xs + g * cp->xg, dy + m * cp->ys + k0 * cp->yk, tw, tb);
			for (size_t e = 0; e < nw; e++)
				pw[e] += tw[e];
			for (int e = 0; e < s.K; e++)
				pb[e] += tb[e];
		}
		free(tw);
	}
}

static PoolShape pool_of(const SpecLayer *l, int n)
{
	PoolShape ps = { .N = n, .C = l->in.c, .H = l->in.h, .W = l->in.w, .size = l->size, .stride = l->stride };
	const char *why;
	if (pool_shape(&ps, &why) != 0)
		die("%s: %s", l->name, why);
	return ps;
}

static LrnShape lrn_of(const SpecLayer *l, int n)
{
	return (LrnShape){ .N = n, .C = l->in.c, .H = l->in.h, .W = l->in.w, .size = l->size, .alpha = l->alpha,
			   .beta = l->beta, .k = l->k };
}

static const double *weight_of(const RefNet *r, const SpecLayer *l, const double *base)
{
	return l->param >= 0 ? base + r->s->params[l->param].offset : NULL;
}

static const double *bias_of(const RefNet *r, const SpecLayer *l, const double *base)
{
	return l->param >= 0 ? base + r->s->params[l->param + 1].offset : NULL;
}

void refnet_follow(RefNet *r, const uint8_t *const *keep, const int32_t *const *take)
{
	r->keep = keep;
	r->take = take;
}

static uint64_t dropout_stream(int layer, uint64_t step) { return net_dropout_stream(layer, step, 0); }

/* Whether the ReLU of layer i passes unit e. A backend's ReLU output shows its side, except
 * where a dropout working in place after it (the layers that follow in place share its
 * buffer) dropped the unit: that reads 0 whatever the side, and takes no gradient either way.
 * There, the reference's own side. */
static int relu_passes(const RefNet *r, int i, size_t e, double in)
{
	for (int j = i + 1; j < r->s->nlayers && r->s->layers[j].inplace; j++) {
		const SpecLayer *l = &r->s->layers[j];
		if (l->type == LAYER_DROPOUT && rng_uniform(r->seed, dropout_stream(j, r->step), e) < l->p)
			return in > 0;
	}
	return r->keep[i][e] != 0;
}

/* A ReLU that takes the followed sides. */
static int64_t relu_follow(const RefNet *r, int i, size_t count, const double *in, double *out)
{
	int64_t differ = 0;
	for (size_t e = 0; e < count; e++) {
		int pass = relu_passes(r, i, e, in[e]);
		differ += (in[e] > 0) != pass;
		out[e] = pass ? in[e] : 0;
	}
	return differ;
}

/* A pooling layer whose own winners (already in argmax and out) give way to take's. */
static int64_t pool_follow(const PoolShape *ps, const double *in, const int32_t *take, int32_t *argmax, double *out)
{
	size_t pq = (size_t)ps->P * ps->Q, hw = (size_t)ps->H * ps->W, count = (size_t)ps->N * ps->C * pq;
	int64_t differ = 0;
	for (size_t o = 0; o < count; o++) {
		if (take[o] == argmax[o])
			continue;
		differ++;
		/* a winner outside its window (a broken backend) counts, but is not followed */
		int p = (int)(o / (size_t)ps->Q % (size_t)ps->P), q = (int)(o % (size_t)ps->Q);
		int row = take[o] / ps->W, col = take[o] % ps->W;
		if (take[o] < 0 || (size_t)take[o] >= hw || row < p * ps->stride || row >= p * ps->stride + ps->size ||
		    col < q * ps->stride || col >= q * ps->stride + ps->size)
			continue;
		argmax[o] = take[o];
		out[o] = in[o / pq * hw + (size_t)take[o]];
	}
	return differ;
}

double refnet_forward(RefNet *r, const double *x, const int32_t *labels)
{
	memcpy(r->act[0], x, (size_t)r->n * (size_t)dims_count(r->s->layers[0].out) * sizeof *x);
	return refnet_forward_from(r, 1, labels);
}

double refnet_forward_from(RefNet *r, int first, const int32_t *labels)
{
	const Spec *s = r->s;
	int n = r->n;
	double loss = 0;
	for (int i = first; i < s->nlayers; i++) {
		const SpecLayer *l = &s->layers[i];
		size_t count = (size_t)n * (size_t)dims_count(l->out);
		const double *in = r->act[i - 1], *w = weight_of(r, l, r->params), *b = bias_of(r, l, r->params);
		double *out = r->act[i];
		switch (l->type) {
		case LAYER_CONV: {
			ConvPieces cp = conv_pieces(l);
			conv_forward(&cp, n, in, w, b, out);
			break;
		}
		case LAYER_FC: ref_fc_forward(n, (int)dims_count(l->in), l->outputs, in, w, b, out, 0); break;
		case LAYER_RELU:
			if (r->keep && r->keep[i])
				r->differ[i] = relu_follow(r, i, count, in, out);
			else
				ref_relu_forward(count, in, out);
			break;
		case LAYER_LRN: {
			LrnShape ls = lrn_of(l, n);
			ref_lrn_forward(&ls, in, out, NULL);
			break;
		}
		case LAYER_POOL: {
			PoolShape ps = pool_of(l, n);
			ref_pool_forward(&ps, in, out, r->argmax[i]);
			if (r->take && r->take[i])
				r->differ[i] = pool_follow(&ps, in, r->take[i], r->argmax[i], out);
			break;
		}
		case LAYER_DROPOUT: ref_dropout_forward(count, l->p, r->seed, dropout_stream(i, r->step), in, out); break;
		case LAYER_SOFTMAX:
			ref_softmax_forward(n, l->out.c, in, out);
			loss = ref_xent_loss(n, l->out.c, in, labels);
			break;
		case LAYER_INPUT: break;
		}
	}
	return loss;
}

void refnet_backward(RefNet *r, const int32_t *labels)
{
	const Spec *s = r->s;
	int n = r->n;
	size_t most = (size_t)n * (size_t)spec_max_activation(s);
	double *g = xcalloc(most, sizeof *g), *dx = xcalloc(most, sizeof *dx);
	for (int i = s->nlayers - 1; i > 0; i--) {
		const SpecLayer *l = &s->layers[i];
		size_t count = (size_t)n * (size_t)dims_count(l->out);
		const double *in = r->act[i - 1], *w = weight_of(r, l, r->params);
		double *dw = l->param >= 0 ? r->grads + s->params[l->param].offset : NULL;
		double *db = l->param >= 0 ? r->grads + s->params[l->param + 1].offset : NULL;
		switch (l->type) {
		case LAYER_SOFTMAX: ref_xent_backward(n, l->out.c, r->act[i], labels, dx); break;
		case LAYER_CONV: {
			ConvPieces cp = conv_pieces(l);
			conv_backward_filter(&cp, n, in, g, dw, db);
			conv_backward_data(&cp, n, g, w, dx);
			break;
		}
		case LAYER_FC:
			ref_fc_backward_weights(n, (int)dims_count(l->in), l->outputs, in, g, dw, db);
			ref_fc_backward_data(n, (int)dims_count(l->in), l->outputs, g, w, dx);
			break;
		case LAYER_RELU:
			if (r->keep && r->keep[i])
				for (size_t e = 0; e < count; e++)
					dx[e] = relu_passes(r, i, e, in[e]) ? g[e] : 0;
			else
				ref_relu_backward(count, in, g, dx);
			break;
		case LAYER_LRN: {
			LrnShape ls = lrn_of(l, n);
			ref_lrn_backward(&ls, in, g, dx);
			break;
		}
		case LAYER_POOL: {
			PoolShape ps = pool_of(l, n);
			ref_pool_backward(&ps, g, r->argmax[i], dx);
			break;
		}
		case LAYER_DROPOUT: ref_dropout_backward(count, l->p, r->seed, dropout_stream(i, r->step), g, dx); break;
		case LAYER_INPUT: break;
		}
		double *t = g;
		g = dx;
		dx = t;
	}
	free(g);
	free(dx);
}

uint64_t refnet_kinks(const RefNet *r, int first)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (int i = first > 1 ? first : 1; i < r->s->nlayers; i++) {
		const SpecLayer *l = &r->s->layers[i];
		if (l->type != LAYER_RELU && l->type != LAYER_POOL)
			continue;
		size_t count = (size_t)r->n * (size_t)dims_count(l->out);
		for (size_t e = 0; e < count; e++) {
			uint64_t v = l->type == LAYER_RELU ? (r->act[i - 1][e] > 0) : (uint64_t)r->argmax[i][e];
			h = (h ^ v) * 1099511628211ull;
		}
	}
	return h;
}
