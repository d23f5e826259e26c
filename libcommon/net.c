/* net.c: the network driver: buffers, forward, backward, update, init and weight files (see net.h). */
#include "libcommon/net.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rng.h"
#include "libcommon/util.h"

typedef struct {
	float *y;          /* output; an in-place layer's is its input's */
	float *scale;      /* lrn: saved for the backward pass */
	int32_t *argmax;   /* pool: the winner of each window */
	int owns_y;
	double t_forward, t_backward;
} NetLayer;

struct Net {
	Ctx *ctx;
	const Spec *spec;
	int max_batch;
	int train;                       /* made for training: gradients, momentum exist */
	float momentum, decay;
	uint64_t seed;

	float *params, *grads, *moments; /* Spec.param_floats each */
	float *acc;                      /* the gradients summed over a batch's parts (--accum), when used */
	int part;                        /* which part of its batch the next forward pass is */
	int32_t *labels;
	float *gbuf[2];                  /* gradient buffers, used alternately */
	float *g;                        /* during the backward pass: the one holding the gradient */
	NetLayer *layers;
	float *host_probs;               /* max_batch x classes, host_alloc'd */
	int first_learned;               /* layer index of the first conv or fc */
	double bytes;                    /* device memory allocated here */

	/* the last forward pass, which the backward pass follows */
	int n;
	NetMode mode;
	uint64_t step;
	int ready;

	int profile;
	double t_update;
};

/* ---------------------------------------------------------------------------------------- */
/* creation */

static void *dev_alloc(Net *net, double count, size_t elem, const char *what)
{
	double bytes = count * (double)elem;
	char b[32];
	if (bytes > (double)SIZE_MAX / 2) {
		warn_msg("%s: %s is too large for this machine", net->spec->source, what);
		return NULL;
	}
	void *p = ctx_alloc(net->ctx, (size_t)bytes);
	if (!p) {
		warn_msg("cannot allocate %s for %s (batch %d) on %s: %s", format_bytes(b, sizeof b, bytes), what,
			 net->max_batch, net->ctx->be->name, ctx_error(net->ctx));
		/* the users' question after an out-of-memory is what would fit: the estimate, and
		 * what shrinks it (the activations grow with the batch, the rest does not) */
		SpecMemory m;
		char need[32], act[32];
		spec_memory(net->spec, net->max_batch, net->ctx->threads, &m);
		warn_msg("HINT: the network needs about %s at a batch of %d, %s of it the activations, which shrink "
			 "with the batch: a smaller --batch needs less (anet-train: or --accum N, each batch in N "
			 "parts; anet-train --summary shows the memory layer by layer)",
			 format_bytes(need, sizeof need, net->train ? m.total : m.inference), net->max_batch,
			 format_bytes(act, sizeof act, m.activations + (net->train ? m.gradients : 0)));
		return NULL;
	}
	net->bytes += bytes;
	return p;
}

static int alloc_layer(Net *net, int i)
{
	const SpecLayer *l = &net->spec->layers[i];
	NetLayer *L = &net->layers[i];
	double n = (double)net->max_batch * (double)dims_count(l->out);
	char what[SPEC_MAX_NAME + 32];
	if (l->inplace || (l->type == LAYER_RELU && l->fused)) {
		L->y = net->layers[i - 1].y;
		return 0;
	}
	snprintf(what, sizeof what, "%s's output", l->name);
	if (!(L->y = dev_alloc(net, n, sizeof(float), what)))
		return -1;
	L->owns_y = 1;
	if (l->type == LAYER_LRN) {
		snprintf(what, sizeof what, "%s's scale", l->name);
		if (!(L->scale = dev_alloc(net, n, sizeof(float), what)))
			return -1;
	}
	if (l->type == LAYER_POOL) {
		snprintf(what, sizeof what, "%s's argmax", l->name);
		if (!(L->argmax = dev_alloc(net, n, sizeof(int32_t), what)))
			return -1;
	}
	return 0;
}

static int alloc_params(Net *net)
{
	double n = (double)net->spec->param_floats;
	Ctx *c = net->ctx;
	if (!(net->params = dev_alloc(net, n, sizeof(float), "the parameters")))
		return -1;
	if (net->train && (!(net->grads = dev_alloc(net, n, sizeof(float), "the gradients")) ||
			   !(net->moments = dev_alloc(net, n, sizeof(float), "the momentum"))))
		return -1;
	/* zero everywhere, so that the padding between tensors stays 0 through every update */
	size_t count = (size_t)net->spec->param_floats;
	if (c->be->fill(c, net->params, count, 0) ||
	    (net->train && (c->be->fill(c, net->grads, count, 0) || c->be->fill(c, net->moments, count, 0)))) {
		warn_msg("clearing the parameters: %s", ctx_error(c));
		return -1;
	}
	return 0;
}

Ctx *net_ctx_open(const CtxOptions *co)
{
	char err[512], note[256];
	Ctx *ctx = ctx_open(co, err, sizeof err, note, sizeof note);
	if (!ctx)
		warn_msg("%s", err);
	else if (note[0])
		warn_msg("%s", note);
	return ctx;
}

Net *net_create(Ctx *ctx, const Spec *spec, int max_batch, NetMode mode)
{
	Net *net = xcalloc(1, sizeof *net);
	net->ctx = ctx;
	net->spec = spec;
	net->max_batch = max_batch;
	net->train = mode == NET_TRAIN;
	net->momentum = (float)NET_MOMENTUM;
	net->decay = (float)NET_DECAY;
	net->layers = xcalloc((size_t)spec->nlayers, sizeof *net->layers);
	net->first_learned = -1;
	for (int i = 0; i < spec->nlayers && net->first_learned < 0; i++)
		if (spec->layers[i].param >= 0)
			net->first_learned = i;
	if (max_batch < 1) {
		warn_msg("%s: batch size %d must be positive", spec->source, max_batch);
		goto fail;
	}
	if (alloc_params(net) != 0)
		goto fail;
	for (int i = 0; i < spec->nlayers; i++)
		if (alloc_layer(net, i) != 0)
			goto fail;
	double g = (double)max_batch * (double)spec_max_activation(spec);
	if (net->train && (!(net->gbuf[0] = dev_alloc(net, g, sizeof(float), "the gradient buffers")) ||
			   !(net->gbuf[1] = dev_alloc(net, g, sizeof(float), "the gradient buffers"))))
		goto fail;
	if (!(net->labels = dev_alloc(net, max_batch, sizeof(int32_t), "the labels")))
		goto fail;
	size_t probs = (size_t)max_batch * (size_t)spec->classes * sizeof(float);
	if (!(net->host_probs = ctx->be->host_alloc(ctx, probs))) {
		warn_msg("cannot allocate host memory for the probabilities: %s", ctx_error(ctx));
		goto fail;
	}
	return net;
fail:
	net_free(net);
	return NULL;
}

void net_free(Net *net)
{
	if (!net)
		return;
	Ctx *c = net->ctx;
	for (int i = 0; i < net->spec->nlayers; i++) {
		NetLayer *L = &net->layers[i];
		if (L->owns_y)
			ctx_free(c, L->y);
		ctx_free(c, L->scale);
		ctx_free(c, L->argmax);
	}
	ctx_free(c, net->params);
	ctx_free(c, net->grads);
	ctx_free(c, net->moments);
	ctx_free(c, net->acc);
	ctx_free(c, net->gbuf[0]);
	ctx_free(c, net->gbuf[1]);
	ctx_free(c, net->labels);
	if (net->host_probs)
		c->be->host_free(c, net->host_probs);
	free(net->layers);
	free(net);
}

const Spec *net_spec(const Net *net) { return net->spec; }
Ctx *net_ctx(const Net *net) { return net->ctx; }
int net_max_batch(const Net *net) { return net->max_batch; }
float *net_input(Net *net) { return net->layers[0].y; }
int32_t *net_labels(Net *net) { return net->labels; }
double net_device_bytes(const Net *net) { return net->bytes; }

void net_set_seed(Net *net, uint64_t seed) { net->seed = seed; }
uint64_t net_seed(const Net *net) { return net->seed; }

void net_set_hyper(Net *net, float momentum, float decay)
{
	net->momentum = momentum;
	net->decay = decay;
}

/* ---------------------------------------------------------------------------------------- */
/* initialisation */

static float *param_ptr(const Net *net, float *base, int index)
{
	return base ? base + net->spec->params[index].offset : NULL; /* an eval net has no gradients */
}

/* One weight tensor from the counter RNG: a pure function of (seed, index, element), so the
 * threads (as many as the context's) may split it any way. */
static void draw_weights(const Ctx *c, float *w, int64_t count, float std, uint64_t seed, int index)
{
	uint64_t stream = RNG_STREAM(RNG_INIT, (uint64_t)index);
	int threads = c->threads > 0 ? c->threads : omp_get_max_threads();
#pragma omp parallel for schedule(static) num_threads(threads)
	for (int64_t e = 0; e < count; e++)
		w[e] = std * rng_normal(seed, stream, (uint64_t)e);
}

static int64_t largest_param(const Spec *s)
{
	int64_t m = 1;
	for (int t = 0; t < s->nparams; t++)
		if (s->params[t].count > m)
			m = s->params[t].count;
	return m;
}

int net_init(Net *net, const NetInit *init)
{
	const Spec *s = net->spec;
	Ctx *c = net->ctx;
	float *host = xmallocarray((size_t)largest_param(s), sizeof(float));
	net->seed = init->seed;
	int rc = 0;
	for (int t = 0; t < s->nparams && rc == 0; t++) {
		const SpecParam *p = &s->params[t];
		const SpecLayer *l = &s->layers[p->layer];
		if (p->is_bias) {
			float b = init->override_bias && l->bias != 0 ? init->bias : l->bias;
			for (int64_t e = 0; e < p->count; e++)
				host[e] = b;
		} else {
			draw_weights(c, host, p->count, l->init, init->seed, t);
		}
		rc = ctx_upload(c, param_ptr(net, net->params, t), host, (size_t)p->count * sizeof(float));
	}
	free(host);
	if (rc == 0 && net->train)
		rc = c->be->fill(c, net->moments, (size_t)s->param_floats, 0);
	if (rc != 0)
		warn_msg("initialising the parameters: %s", ctx_error(c));
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* forward */

static ConvShape conv_of(const SpecLayer *l, int n)
{
	ConvShape cs = { .N = n, .C = l->in.c, .H = l->in.h, .W = l->in.w, .K = l->outputs, .R = l->kernel,
			 .S = l->kernel, .stride = l->stride, .pad = l->pad, .G = l->groups };
	const char *why;
	conv_shape(&cs, &why); /* the spec's shape inference already accepted it */
	return cs;
}

static PoolShape pool_of(const SpecLayer *l, int n)
{
	PoolShape ps = { .N = n, .C = l->in.c, .H = l->in.h, .W = l->in.w, .size = l->size, .stride = l->stride };
	const char *why;
	pool_shape(&ps, &why);
	return ps;
}

static LrnShape lrn_of(const SpecLayer *l, int n)
{
	LrnShape ls = { .N = n, .C = l->in.c, .H = l->in.h, .W = l->in.w, .size = l->size, .alpha = l->alpha,
			.beta = l->beta, .k = l->k };
	return ls;
}

/* Part p > 0 of an --accum batch adds p << 48: its images' masks are other draws of the same
 * distribution (the parts' images are numbered from 0 each), and part 0, or a whole batch,
 * keeps the masks of earlier versions. In a net of more than 256 layers a part's stream can
 * be a later layer's; the masks of two layers are independent draws either way. */
uint64_t net_dropout_stream(int layer, uint64_t step, int part)
{
	return RNG_STREAM(RNG_DROPOUT,
			  ((uint64_t)layer << 40 | (step & (((uint64_t)1 << 40) - 1))) + ((uint64_t)part << 48));
}

/* Whether layer i's relu is folded into it (the next layer is a fused relu). */
static int relu_after(const Spec *s, int i)
{
	return i + 1 < s->nlayers && s->layers[i + 1].type == LAYER_RELU && s->layers[i + 1].fused;
}

static int layer_forward(Net *net, int i)
{
	const Spec *s = net->spec;
	const SpecLayer *l = &s->layers[i];
	NetLayer *L = &net->layers[i];
	Ctx *c = net->ctx;
	const Backend *be = c->be;
	int n = net->n;
	size_t count = (size_t)n * (size_t)dims_count(l->out);
	const float *x = i > 0 ? net->layers[i - 1].y : NULL;
	const float *w = l->param >= 0 ? param_ptr(net, net->params, l->param) : NULL;
	const float *b = l->param >= 0 ? param_ptr(net, net->params, l->param + 1) : NULL;
	switch (l->type) {
	case LAYER_INPUT:
		return 0;
	case LAYER_CONV: {
		ConvShape cs = conv_of(l, n);
		return be->conv_forward(c, &cs, x, w, b, L->y, relu_after(s, i));
	}
	case LAYER_FC:
		return be->fc_forward(c, n, (int)dims_count(l->in), l->outputs, x, w, b, L->y, relu_after(s, i));
	case LAYER_RELU:
		return l->fused ? 0 : be->relu_forward(c, count, x, L->y);
	case LAYER_LRN: {
		LrnShape ls = lrn_of(l, n);
		return be->lrn_forward(c, &ls, x, L->y, L->scale);
	}
	case LAYER_POOL: {
		PoolShape ps = pool_of(l, n);
		return be->pool_forward(c, &ps, x, L->y, L->argmax);
	}
	case LAYER_DROPOUT:
		if (net->mode == NET_TRAIN)
			return be->dropout_forward(c, count, l->p, net->seed, net_dropout_stream(i, net->step, net->part), x, L->y);
		return l->inplace ? 0 : be->copy(c, L->y, x, count * sizeof(float));
	case LAYER_SOFTMAX:
		return be->softmax_forward(c, n, l->out.c, x, L->y);
	}
	return 0;
}

/* Runs fn on layer i, timing it (with a sync) when profiling; prints the failure. */
static int run_layer(Net *net, int i, int (*fn)(Net *, int), double *t, const char *pass)
{
	double t0 = net->profile ? now_seconds() : 0;
	int rc = fn(net, i);
	if (rc == 0 && net->profile) {
		rc = ctx_sync(net->ctx);
		*t = now_seconds() - t0;
	}
	if (rc != 0)
		warn_msg("%s: %s %s: %s", net->spec->layers[i].name, layer_type_name(net->spec->layers[i].type),
			 pass, ctx_error(net->ctx));
	return rc;
}

int net_forward(Net *net, int n, NetMode mode, uint64_t step)
{
	if (n < 1 || n > net->max_batch) {
		warn_msg("batch of %d images: the network was made for 1 to %d", n, net->max_batch);
		return -1;
	}
	net->n = n;
	net->mode = mode;
	net->step = step;
	net->ready = 0;
	for (int i = 0; i < net->spec->nlayers; i++)
		if (run_layer(net, i, layer_forward, &net->layers[i].t_forward, "forward") != 0)
			return -1;
	net->ready = 1;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* backward */

/* The gradient buffer that is not g. */
static float *other(Net *net, const float *g) { return g == net->gbuf[0] ? net->gbuf[1] : net->gbuf[0]; }

static int learned_backward(Net *net, int i, float **g)
{
	const Spec *s = net->spec;
	const SpecLayer *l = &s->layers[i];
	Ctx *c = net->ctx;
	const Backend *be = c->be;
	int n = net->n;
	const float *x = net->layers[i - 1].y;
	const float *w = param_ptr(net, net->params, l->param);
	float *dw = param_ptr(net, net->grads, l->param), *db = param_ptr(net, net->grads, l->param + 1);
	int need_dx = i > net->first_learned; /* nobody needs dL/dx below the first learned layer */
	float *dx = other(net, *g);
	int rc;
	if (l->type == LAYER_CONV) {
		ConvShape cs = conv_of(l, n);
		rc = be->conv_backward_filter(c, &cs, x, *g, dw, db);
		if (rc == 0 && need_dx)
			rc = be->conv_backward_data(c, &cs, *g, w, dx);
	} else {
		int I = (int)dims_count(l->in);
		rc = be->fc_backward_weights(c, n, I, l->outputs, x, *g, dw, db);
		if (rc == 0 && need_dx)
			rc = be->fc_backward_data(c, n, I, l->outputs, *g, w, dx);
	}
	*g = dx;
	return rc;
}

/* The gradient at layer i's output is in *g on entry; on return *g holds it at its input. */
static int layer_backward_g(Net *net, int i, float **g)
{
	const SpecLayer *l = &net->spec->layers[i];
	NetLayer *L = &net->layers[i];
	Ctx *c = net->ctx;
	const Backend *be = c->be;
	int n = net->n;
	size_t count = (size_t)n * (size_t)dims_count(l->out);
	const float *x = i > 0 ? net->layers[i - 1].y : NULL;
	float *dx = other(net, *g);
	int rc = 0;
	switch (l->type) {
	case LAYER_INPUT:
		return 0;
	case LAYER_SOFTMAX:
		*g = net->gbuf[0];
		return be->xent_backward(c, n, l->out.c, L->y, net->labels, *g);
	case LAYER_CONV:
	case LAYER_FC:
		return learned_backward(net, i, g);
	case LAYER_RELU: /* in place; a fused relu's output is its conv's */
		return be->relu_backward(c, count, L->y, *g, *g);
	case LAYER_DROPOUT:
		if (net->mode != NET_TRAIN)
			return 0;
		return be->dropout_backward(c, count, l->p, net->seed, net_dropout_stream(i, net->step, net->part), *g, *g);
	case LAYER_LRN: {
		LrnShape ls = lrn_of(l, n);
		rc = be->lrn_backward(c, &ls, x, L->y, L->scale, *g, dx);
		break;
	}
	case LAYER_POOL: {
		PoolShape ps = pool_of(l, n);
		rc = be->pool_backward(c, &ps, *g, L->argmax, dx);
		break;
	}
	}
	*g = dx;
	return rc;
}

static int layer_backward(Net *net, int i) { return layer_backward_g(net, i, &net->g); }

/* Refuses the training calls on a net made for evaluation. */
static int need_train(const Net *net, const char *what)
{
	if (net->train)
		return 0;
	warn_msg("%s: the network was set up for evaluation only", what);
	return -1;
}

int net_backward(Net *net)
{
	if (need_train(net, "backward pass"))
		return -1;
	if (!net->ready) {
		warn_msg("backward pass without a forward pass");
		return -1;
	}
	net->g = NULL;
	for (int i = net->spec->nlayers - 1; i >= net->first_learned; i--)
		if (run_layer(net, i, layer_backward, &net->layers[i].t_backward, "backward") != 0)
			return -1;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* update, loss, the step */

int net_update(Net *net, float lr)
{
	Ctx *c = net->ctx;
	if (need_train(net, "update"))
		return -1;
	double t0 = net->profile ? now_seconds() : 0;
	/* one call over the whole buffer: the padding holds w = dw = v = 0 and stays so */
	int rc = c->be->sgd_update(c, (size_t)net->spec->param_floats, net->params, net->grads, net->moments, lr,
				   net->momentum, net->decay);
	if (rc == 0 && net->profile) {
		rc = ctx_sync(c);
		net->t_update = now_seconds() - t0;
	}
	if (rc != 0)
		warn_msg("update: %s", ctx_error(c));
	return rc;
}

void net_set_part(Net *net, int part) { net->part = part; }

int net_accumulate(Net *net, float weight, int first)
{
	Ctx *c = net->ctx;
	if (need_train(net, "accumulating the gradients"))
		return -1;
	if (!net->acc && !(net->acc = dev_alloc(net, (double)net->spec->param_floats, sizeof(float),
						 "the summed gradients (--accum)")))
		return -1;
	/* the first part overwrites: the buffer is not read (it starts uninitialised) */
	if (c->be->axpby(c, (size_t)net->spec->param_floats, weight, net->grads, first ? 0.0f : 1.0f, net->acc) != 0) {
		warn_msg("accumulating the gradients: %s", ctx_error(c));
		return -1;
	}
	return 0;
}

int net_update_accumulated(Net *net, float lr)
{
	if (!net->acc) {
		warn_msg("internal error: an update of accumulated gradients before any were accumulated");
		return -1;
	}
	/* the sum becomes the gradient (net_grad sees it); the next backward pass writes over the
	 * other buffer, so no copy is needed */
	float *g = net->grads;
	net->grads = net->acc;
	net->acc = g;
	return net_update(net, lr);
}

int net_set_labels(Net *net, const int32_t *labels, int n)
{
	if (n < 1 || n > net->max_batch) {
		warn_msg("batch of %d labels: the network was made for 1 to %d", n, net->max_batch);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (labels[i] < 0 || labels[i] >= net->spec->classes) {
			warn_msg("label %" PRId32 " out of range (the network has %d classes)", labels[i],
				 net->spec->classes);
			return -1;
		}
	if (ctx_upload(net->ctx, net->labels, labels, (size_t)n * sizeof *labels) != 0) {
		warn_msg("uploading the labels: %s", ctx_error(net->ctx));
		return -1;
	}
	return 0;
}

const float *net_probs(Net *net)
{
	if (!net->ready) {
		warn_msg("probabilities asked for before a forward pass");
		return NULL;
	}
	const SpecLayer *l = &net->spec->layers[net->spec->nlayers - 1];
	size_t bytes = (size_t)net->n * (size_t)l->out.c * sizeof(float);
	if (ctx_download(net->ctx, net->host_probs, net->layers[net->spec->nlayers - 1].y, bytes) != 0) {
		warn_msg("downloading the probabilities: %s", ctx_error(net->ctx));
		return NULL;
	}
	return net->host_probs;
}

double net_loss(const float *probs, const int32_t *labels, int n, int classes)
{
	double sum = 0;
	for (int i = 0; i < n; i++) {
		float p = probs[(size_t)i * (size_t)classes + (size_t)labels[i]];
		/* NaN fails p > FLT_TRUE_MIN: taken as an underflow, a diverged network's loss read
		 * 103.28, finite, and its run went on to the next checkpoint's check of the weights */
		sum -= isnan(p) ? NAN : log(p > FLT_TRUE_MIN ? (double)p : (double)FLT_TRUE_MIN);
	}
	return sum / n;
}

int net_train_step(Net *net, int n, uint64_t step, float lr, const int32_t *labels, double *loss)
{
	if (net_forward(net, n, NET_TRAIN, step) != 0 || net_backward(net) != 0 || net_update(net, lr) != 0)
		return -1;
	/* the update does not touch the probabilities: one download after all of it, which on a
	 * GPU is also the step's only wait */
	const float *p = net_probs(net);
	if (!p)
		return -1;
	if (loss && labels)
		*loss = net_loss(p, labels, n, net->spec->classes);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* access */

int net_find_param(const Net *net, const char *name) { return spec_find_param(net->spec, name); }

float *net_param(Net *net, int index) { return param_ptr(net, net->params, index); }
float *net_grad(Net *net, int index) { return param_ptr(net, net->grads, index); }
float *net_momentum(Net *net, int index) { return param_ptr(net, net->moments, index); }
float *net_param_buffer(Net *net) { return net->params; }
float *net_grad_buffer(Net *net) { return net->grads; }
float *net_momentum_buffer(Net *net) { return net->moments; }

const float *net_output(const Net *net, const char *name, Dims *dims)
{
	int i = spec_find(net->spec, name);
	if (i < 0)
		return NULL;
	if (dims)
		*dims = net->spec->layers[i].out;
	return net->layers[i].y;
}

const int32_t *net_pool_argmax(const Net *net, int layer)
{
	return layer >= 0 && layer < net->spec->nlayers ? net->layers[layer].argmax : NULL;
}

int net_download_param(Net *net, int index, float *host)
{
	size_t bytes = (size_t)net->spec->params[index].count * sizeof(float);
	if (ctx_download(net->ctx, host, net_param(net, index), bytes) != 0) {
		warn_msg("downloading %s: %s", net->spec->params[index].name, ctx_error(net->ctx));
		return -1;
	}
	return 0;
}

void net_profile(Net *net, int on) { net->profile = on; }

void net_profile_layer(const Net *net, int i, double *forward, double *backward)
{
	*forward = net->layers[i].t_forward;
	*backward = net->layers[i].t_backward;
}

double net_profile_update(const Net *net) { return net->t_update; }

/* ---------------------------------------------------------------------------------------- */
/* weight files */

/* Writes each tensor of base (parameters or momentum) as "NAME" + suffix, in pieces so that
 * the host never holds more than a few MiB of it. */
static int write_tensors(Net *net, TensorWriter *w, float *base, const char *suffix)
{
	enum { CHUNK = 1 << 22 };
	const Spec *s = net->spec;
	float *host = xmallocarray(CHUNK, sizeof(float));
	int rc = 0;
	for (int t = 0; t < s->nparams && rc == 0; t++) {
		const SpecParam *p = &s->params[t];
		char name[SPEC_PARAM_NAME + 16];
		snprintf(name, sizeof name, "%s%s", p->name, suffix);
		rc = tensorwriter_begin(w, name, DT_F32, (uint32_t)p->ndim, p->dims);
		for (int64_t e = 0; e < p->count && rc == 0; e += CHUNK) {
			size_t k = (size_t)(p->count - e < CHUNK ? p->count - e : CHUNK);
			rc = ctx_download(net->ctx, host, param_ptr(net, base, t) + e, k * sizeof(float));
			if (rc != 0)
				warn_msg("downloading %s: %s", name, ctx_error(net->ctx));
			else
				rc = tensorwriter_append(w, host, k * sizeof(float));
		}
	}
	free(host);
	return rc;
}

int net_write(Net *net, TensorWriter *w)
{
	if (tensorwriter_add_text(w, "spec", net->spec->text) != 0 ||
	    tensorwriter_add_i64(w, "classes", net->spec->classes) != 0)
		return -1;
	return write_tensors(net, w, net->params, "");
}

int net_write_momentum(Net *net, TensorWriter *w)
{
	return need_train(net, "saving the momentum") ? -1 : write_tensors(net, w, net->moments, ".momentum");
}

int net_save(Net *net, const char *path)
{
	TensorWriter w;
	if (tensorwriter_open(&w, path, TF_MODEL) != 0)
		return -1;
	if (net_write(net, &w) != 0) {
		tensorwriter_abort(&w);
		return -1;
	}
	return tensorwriter_commit(&w);
}

/* Parameter t's tensor "NAME" + suffix from the file into base's slot, through host (the
 * largest parameter's size). */
static int read_param(Net *net, TensorFile *tf, float *base, int t, const char *suffix, float *host)
{
	const SpecParam *p = &net->spec->params[t];
	char name[SPEC_PARAM_NAME + 16];
	snprintf(name, sizeof name, "%s%s", p->name, suffix);
	if (tensorfile_read(tf, name, DT_F32, (uint32_t)p->ndim, p->dims, host) != 0)
		return -1;
	if (ctx_upload(net->ctx, param_ptr(net, base, t), host, (size_t)p->count * sizeof(float)) != 0) {
		warn_msg("uploading %s: %s", name, ctx_error(net->ctx));
		return -1;
	}
	return 0;
}

static int read_tensors(Net *net, TensorFile *tf, float *base, const char *suffix)
{
	const Spec *s = net->spec;
	float *host = xmallocarray((size_t)largest_param(s), sizeof(float));
	int rc = 0;
	for (int t = 0; t < s->nparams && rc == 0; t++)
		rc = read_param(net, tf, base, t, suffix, host);
	free(host);
	return rc;
}

int net_read(Net *net, TensorFile *tf) { return read_tensors(net, tf, net->params, ""); }

int net_check_file(TensorFile *tf, const Spec *s, int momentum)
{
	for (int k = 0; k < (momentum ? 2 : 1); k++)
		for (int t = 0; t < s->nparams; t++) {
			const SpecParam *p = &s->params[t];
			char name[SPEC_PARAM_NAME + 16];
			snprintf(name, sizeof name, "%s%s", p->name, k ? ".momentum" : "");
			if (tensorfile_check(tf, name, DT_F32, (uint32_t)p->ndim, p->dims) != 0)
				return -1;
		}
	return 0;
}

static int same_shape(const SpecParam *a, const SpecParam *b)
{
	if (a->ndim != b->ndim)
		return 0;
	for (int d = 0; d < a->ndim; d++)
		if (a->dims[d] != b->dims[d])
			return 0;
	return 1;
}

static const char *shape_text(const SpecParam *p, char *buf, size_t len)
{
	tensorfile_format_shape(buf, len, (uint32_t)p->ndim, p->dims);
	return buf;
}

int net_read_matching(Net *net, TensorFile *tf, const Spec *from, int partial, NetMatch *m)
{
	const Spec *s = net->spec;
	float *host = xmallocarray((size_t)largest_param(s), sizeof(float));
	const char *fresh = partial ? ": it starts from the initialisation" : "";
	char here[64], there[64];
	int rc = 0, mismatches = 0;
	*m = (NetMatch){ .tensors = s->nparams, .numbers = s->param_count };
	for (int t = 0; t < s->nparams && rc == 0; t++) {
		const SpecParam *p = &s->params[t];
		int f = spec_find_param(from, p->name);
		if (f < 0 || !same_shape(p, &from->params[f])) {
			if (f < 0)
				warn_msg("%s: holds no %s%s", tf->path, p->name, fresh);
			else
				warn_msg("%s: %s is %s there and %s in the network%s", tf->path, p->name,
					 shape_text(&from->params[f], there, sizeof there), shape_text(p, here, sizeof here), fresh);
			mismatches++;
			continue;
		}
		rc = read_param(net, tf, net->params, t, "", host);
		m->copied++;
		m->copied_numbers += p->count;
	}
	for (int f = 0; f < from->nparams && rc == 0; f++)
		if (spec_find_param(s, from->params[f].name) < 0) {
			warn_msg("%s: %s (%s) has no place in the network%s", tf->path, from->params[f].name,
				 shape_text(&from->params[f], there, sizeof there), partial ? ": left out" : "");
			mismatches++;
		}
	free(host);
	if (rc != 0)
		return -1;
	if (mismatches && !partial) {
		warn_msg("HINT: --partial takes the parameters that match and starts the others from the initialisation "
			 "(fine-tuning to other classes, or other layers)");
		return -1;
	}
	if (m->copied == 0) {
		warn_msg("%s: not one parameter matches the network's in name and shape", tf->path);
		return -1;
	}
	return 0;
}
int net_read_momentum(Net *net, TensorFile *tf)
{
	return need_train(net, "loading the momentum") ? -1 : read_tensors(net, tf, net->moments, ".momentum");
}

Spec *net_read_spec(TensorFile *tf)
{
	int64_t classes;
	char *text = tensorfile_read_text(tf, "spec");
	if (!text || tensorfile_read_i64(tf, "classes", &classes) != 0) {
		free(text);
		return NULL;
	}
	Spec *s = NULL;
	if (classes < 1 || classes > (1 << 24)) {
		warn_msg("%s: class count %" PRId64 " out of range (corrupt file?)", tf->path, classes);
	} else {
		char *source = xasprintf("%s:spec", tf->path);
		s = spec_parse(text, source, (int)classes);
		free(source);
	}
	free(text);
	return s;
}

Net *net_load(Ctx *ctx, const char *path, int max_batch, NetMode mode, Spec **spec)
{
	TensorFile tf;
	*spec = NULL;
	if (tensorfile_open(&tf, path, 0) != 0)
		return NULL;
	Net *net = NULL;
	if (tf.kind != TF_MODEL && tf.kind != TF_CHECKPOINT) {
		warn_msg("%s: is a %s file, expected a model or a checkpoint", path, tensorfile_kind_name(tf.kind));
		goto out;
	}
	if (!(*spec = net_read_spec(&tf)) || net_check_file(&tf, *spec, 0) != 0)
		goto out;
	if (!(net = net_create(ctx, *spec, max_batch, mode)))
		goto out;
	if (net_read(net, &tf) != 0) {
		net_free(net);
		net = NULL;
	}
out:
	tensorfile_close(&tf);
	if (!net) {
		spec_free(*spec);
		*spec = NULL;
	}
	return net;
}
