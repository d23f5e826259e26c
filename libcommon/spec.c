/* spec.c: parsing network specifications, inferring their shapes, sizes and memory (see spec.h). */
#include "libcommon/spec.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "libcommon/opt.h"
#include "libcommon/util.h"

const char spec_alexnet_text[] =
	"# The network of Krizhevsky, Sutskever and Hinton, NIPS 2012 (Fig. 2, sections 3 and 5).\n"
	"# 224x224 crops; conv1's pad 2 gives 55x55 as the paper's figure (torchvision does the same).\n"
	"# groups=2 is the paper's two-GPU split: conv2, conv4 and conv5 see only their own half.\n"
	"# LRN alpha multiplies the raw sum of squares over 5 maps (the paper's formula).\n"
	"# Weights start N(0, 0.01^2) (init=, default 0.01); bias= is each layer's initial bias (§5).\n"
	"input size=224 channels=3\n"
	"conv name=conv1 out=96 kernel=11 stride=4 pad=2 bias=0\n"
	"relu\n"
	"lrn size=5 alpha=1e-4 beta=0.75 k=2\n"
	"pool size=3 stride=2\n"
	"conv name=conv2 out=256 kernel=5 pad=2 groups=2 bias=1\n"
	"relu\n"
	"lrn size=5 alpha=1e-4 beta=0.75 k=2\n"
	"pool size=3 stride=2\n"
	"conv name=conv3 out=384 kernel=3 pad=1 bias=0\n"
	"relu\n"
	"conv name=conv4 out=384 kernel=3 pad=1 groups=2 bias=1\n"
	"relu\n"
	"conv name=conv5 out=256 kernel=3 pad=1 groups=2 bias=1\n"
	"relu\n"
	"pool size=3 stride=2\n"
	"fc name=fc6 out=4096 bias=1\n"
	"relu\n"
	"dropout p=0.5\n"
	"fc name=fc7 out=4096 bias=1\n"
	"relu\n"
	"dropout p=0.5\n"
	"fc name=fc8 out=classes bias=0\n"
	"softmax\n";

static const char *type_names[] = { "input", "conv", "fc", "relu", "lrn", "pool", "dropout", "softmax" };

const char *layer_type_name(LayerType t)
{
	return (unsigned)t < ARRAY_LEN(type_names) ? type_names[t] : "?";
}

/* ---------------------------------------------------------------------------------------- */
/* keys */

enum { K_INT, K_FLOAT, K_NAME, K_OUT };
#define T(x) (1u << (x))
#define ALL 0xFFu

/* Every key a layer accepts, with its range. The defaults are set in layer_defaults. */
typedef struct {
	const char *key;
	unsigned types;
	int kind;
	size_t offset;
	double min, max;
} KeyDef;

#define F(field) offsetof(SpecLayer, field)
static const KeyDef keys[] = {
	{ "name", ALL, K_NAME, F(name), 0, 0 },
	{ "size", T(LAYER_INPUT), K_INT, F(in.h), 1, 65536 }, /* sets height and width */
	{ "height", T(LAYER_INPUT), K_INT, F(in.h), 1, 65536 },
	{ "width", T(LAYER_INPUT), K_INT, F(in.w), 1, 65536 },
	{ "channels", T(LAYER_INPUT), K_INT, F(in.c), 1, 65536 },
	{ "out", T(LAYER_CONV) | T(LAYER_FC), K_OUT, F(outputs), 1, 1 << 24 },
	{ "kernel", T(LAYER_CONV), K_INT, F(kernel), 1, 4096 },
	{ "stride", T(LAYER_CONV) | T(LAYER_POOL), K_INT, F(stride), 1, 4096 },
	{ "pad", T(LAYER_CONV), K_INT, F(pad), 0, 4096 },
	{ "groups", T(LAYER_CONV), K_INT, F(groups), 1, 65536 },
	{ "bias", T(LAYER_CONV) | T(LAYER_FC), K_FLOAT, F(bias), -1e6, 1e6 },
	{ "init", T(LAYER_CONV) | T(LAYER_FC), K_FLOAT, F(init), 0, 1e3 },
	{ "size", T(LAYER_LRN) | T(LAYER_POOL), K_INT, F(size), 1, 4096 },
	{ "alpha", T(LAYER_LRN), K_FLOAT, F(alpha), 0, 1e6 },
	{ "beta", T(LAYER_LRN), K_FLOAT, F(beta), 0, 100 },
	{ "k", T(LAYER_LRN), K_FLOAT, F(k), 1e-30, 1e6 },
	{ "p", T(LAYER_DROPOUT), K_FLOAT, F(p), 0, 0.999 },
};
#undef F
_Static_assert(ARRAY_LEN(keys) <= 32, "seen is a 32-bit mask over keys[]");

static void layer_defaults(SpecLayer *l)
{
	l->stride = 1;
	l->groups = 1;
	l->init = 0.01f;  /* §5: N(0, 0.01^2) */
	l->in.c = 3;
	l->param = -1;
	switch (l->type) {
	case LAYER_LRN: /* §3.3 */
		l->size = 5;
		l->alpha = 1e-4f;
		l->beta = 0.75f;
		l->k = 2;
		break;
	case LAYER_POOL: /* §3.4 */
		l->size = 3;
		l->stride = 2;
		break;
	case LAYER_DROPOUT: /* §4.2 */
		l->p = 0.5f;
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* parsing */

typedef struct {
	const char *source;
	int line;
	int failed;
} Parser;

static void perr(Parser *p, const char *fmt, ...) ANET_PRINTF(2, 3);
static void perr(Parser *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->line)
		warn_msg("%s:%d: %s", p->source, p->line, msg);
	else
		warn_msg("%s: %s", p->source, msg);
	p->failed = 1;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= SPEC_MAX_NAME)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return 0;
	return 1;
}

static const KeyDef *find_key(LayerType t, const char *key, int *known_elsewhere)
{
	*known_elsewhere = 0;
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		if (strcmp(keys[i].key, key) != 0)
			continue;
		if (keys[i].types & T(t))
			return &keys[i];
		*known_elsewhere = 1;
	}
	return NULL;
}

static int set_key(Parser *p, SpecLayer *l, const KeyDef *k, const char *val, int classes)
{
	char *field = (char *)l + k->offset;
	long long iv;
	double dv;
	switch (k->kind) {
	case K_NAME:
		if (!name_ok(val)) {
			perr(p, "bad layer name '%s' (1 to %d letters, digits, '_' or '-')", val, SPEC_MAX_NAME - 1);
			return -1;
		}
		snprintf(l->name, sizeof l->name, "%s", val);
		return 0;
	case K_OUT:
		if (strcmp(val, "classes") == 0) {
			*(int *)field = classes;
			return 0;
		}
		/* fall through */
	case K_INT:
		if (parse_int(val, (long long)k->min, (long long)k->max, &iv) != 0) {
			perr(p, "%s: bad value '%s' for %s (an integer from %.0f to %.0f%s)", layer_type_name(l->type),
			     val, k->key, k->min, k->max, k->kind == K_OUT ? ", or 'classes'" : "");
			return -1;
		}
		*(int *)field = (int)iv;
		if (l->type == LAYER_INPUT && strcmp(k->key, "size") == 0)
			l->in.w = (int)iv;
		return 0;
	case K_FLOAT:
		if (parse_double(val, k->min, k->max, &dv) != 0) {
			perr(p, "%s: bad value '%s' for %s (a number from %g to %g)", layer_type_name(l->type), val,
			     k->key, k->min, k->max);
			return -1;
		}
		*(float *)field = (float)dv;
		return 0;
	}
	return -1;
}

/* Whether key was given on a line of type t (seen: a bit per entry of keys[]). */
static int given(unsigned seen, LayerType t, const char *key)
{
	int elsewhere;
	const KeyDef *k = find_key(t, key, &elsewhere);
	return k && (seen & (1u << (k - keys)));
}

static int check_required(Parser *p, const SpecLayer *l, unsigned seen)
{
	if ((l->type == LAYER_CONV || l->type == LAYER_FC) && !given(seen, l->type, "out")) {
		perr(p, "%s needs out=N (or out=classes)", layer_type_name(l->type));
		return -1;
	}
	if (l->type == LAYER_CONV && !given(seen, l->type, "kernel")) {
		perr(p, "conv needs kernel=N");
		return -1;
	}
	if (l->type == LAYER_INPUT && (!l->in.h || !l->in.w)) {
		perr(p, "input needs size=N, or height=N and width=N");
		return -1;
	}
	return 1;
}

/* Reads "type key=value ..." (comments already cut off) into l; 0 for a blank line, 1 for a
 * layer, -1 on error. */
static int parse_line(Parser *p, char *line, SpecLayer *l, int classes)
{
	char *save = NULL;
	char *tok = strtok_r(line, " \t\r", &save);
	if (!tok)
		return 0;
	memset(l, 0, sizeof *l);
	l->line = p->line;
	size_t t;
	for (t = 0; t < ARRAY_LEN(type_names); t++)
		if (strcmp(tok, type_names[t]) == 0)
			break;
	if (t == ARRAY_LEN(type_names)) {
		perr(p, "unknown layer type '%s' (expected input, conv, fc, relu, lrn, pool, dropout or softmax)",
		     tok);
		return -1;
	}
	l->type = (LayerType)t;
	layer_defaults(l);
	unsigned seen = 0; /* bit per key in keys[], to refuse a key given twice */
	while ((tok = strtok_r(NULL, " \t\r", &save)) != NULL) {
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok) {
			perr(p, "expected key=value, got '%s'", tok);
			return -1;
		}
		*eq = '\0';
		int elsewhere;
		const KeyDef *k = find_key(l->type, tok, &elsewhere);
		if (!k && elsewhere) {
			warn_msg("%s:%d: warning: key '%s' does not apply to %s: ignored", p->source, p->line, tok,
				 layer_type_name(l->type));
			continue;
		}
		if (!k) {
			warn_msg("%s:%d: warning: unknown key '%s' ignored", p->source, p->line, tok);
			continue;
		}
		unsigned bit = 1u << (k - keys);
		if (seen & bit) {
			perr(p, "%s given twice", tok);
			return -1;
		}
		seen |= bit;
		if (set_key(p, l, k, eq + 1, classes) != 0)
			return -1;
	}
	return check_required(p, l, seen);
}

/* ---------------------------------------------------------------------------------------- */
/* shapes */

static void dims_str(char *buf, size_t len, Dims d) { snprintf(buf, len, "%dx%dx%d", d.c, d.h, d.w); }

static int infer_conv(Parser *p, SpecLayer *l)
{
	char in[64];
	dims_str(in, sizeof in, l->in);
	if (l->in.c % l->groups || l->outputs % l->groups) {
		perr(p, "%s: groups=%d must divide the %d input channels (input %s) and the %d outputs", l->name,
		     l->groups, l->in.c, in, l->outputs);
		return -1;
	}
	ConvShape cs = { .N = 1, .C = l->in.c, .H = l->in.h, .W = l->in.w, .K = l->outputs, .R = l->kernel,
			 .S = l->kernel, .stride = l->stride, .pad = l->pad, .G = l->groups };
	const char *why;
	if (conv_shape(&cs, &why) != 0) {
		perr(p, "%s: kernel %dx%d does not fit the input %s padded by %d (%s)", l->name, l->kernel, l->kernel,
		     in, l->pad, why);
		return -1;
	}
	/* the weight count, K x C/G x R x S, must fit the int64 arithmetic of add_params and the
	 * same 2^40 as an fc layer's: 2^24 outputs of 65536 channels and a 4096x4096 kernel
	 * (a kernel that fits a 1x1 input padded by 2048) would be 2^64 */
	double weights = (double)l->outputs * (double)(l->in.c / l->groups) * l->kernel * l->kernel;
	if (weights > (double)((int64_t)1 << 40)) {
		perr(p, "%s: %d outputs x %d input channels x a %dx%d kernel is too large", l->name, l->outputs,
		     l->in.c / l->groups, l->kernel, l->kernel);
		return -1;
	}
	l->out = (Dims){ l->outputs, cs.P, cs.Q };
	l->flops = conv_flops(&cs);
	return 0;
}

static int infer_pool(Parser *p, SpecLayer *l)
{
	char in[64];
	dims_str(in, sizeof in, l->in);
	PoolShape ps = { .N = 1, .C = l->in.c, .H = l->in.h, .W = l->in.w, .size = l->size, .stride = l->stride };
	const char *why;
	if (pool_shape(&ps, &why) != 0) {
		perr(p, "%s: a %dx%d window does not fit the input %s (%s)", l->name, l->size, l->size, in, why);
		return -1;
	}
	l->out = (Dims){ l->in.c, ps.P, ps.Q };
	return 0;
}

/* Output shape and plan of layer i from the layer before it. */
static int infer_layer(Parser *p, SpecLayer *L, int i)
{
	SpecLayer *l = &L[i];
	if (l->type != LAYER_INPUT)
		l->in = L[i - 1].out;
	switch (l->type) {
	case LAYER_INPUT:
		l->out = l->in;
		return 0;
	case LAYER_CONV:
		return infer_conv(p, l);
	case LAYER_FC: {
		int64_t n = dims_count(l->in);
		if (n > INT32_MAX || n * l->outputs > ((int64_t)1 << 40)) {
			perr(p, "%s: %lld inputs x %d outputs is too large", l->name, (long long)n, l->outputs);
			return -1;
		}
		l->out = (Dims){ l->outputs, 1, 1 };
		l->flops = 2.0 * (double)n * l->outputs;
		return 0;
	}
	case LAYER_RELU:
		l->out = l->in;
		l->fused = L[i - 1].type == LAYER_CONV || L[i - 1].type == LAYER_FC;
		l->inplace = 1;
		return 0;
	case LAYER_LRN:
		if (l->size % 2 == 0) {
			perr(p, "%s: size=%d must be odd (the window is centred on each map)", l->name, l->size);
			return -1;
		}
		l->out = l->in;
		return 0;
	case LAYER_POOL:
		return infer_pool(p, l);
	case LAYER_DROPOUT:
		l->out = l->in;
		/* the lrn backward pass reads its own output, which an in-place mask would change; a
		 * relu's reads only the sign, and the mask zeroes the gradient wherever it differs */
		l->inplace = L[i - 1].type != LAYER_LRN;
		return 0;
	case LAYER_SOFTMAX:
		l->out = (Dims){ (int)dims_count(l->in), 1, 1 };
		return 0;
	}
	return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* the whole spec */

static void default_name(SpecLayer *L, int i, int learned)
{
	SpecLayer *l = &L[i];
	static const char *stem[] = { "data", "conv", "fc", "relu", "lrn", "pool", "drop", "prob" };
	char base[SPEC_MAX_NAME];
	if (l->type == LAYER_INPUT || l->type == LAYER_SOFTMAX)
		snprintf(base, sizeof base, "%s", stem[l->type]);
	else
		snprintf(base, sizeof base, "%s%d", stem[l->type], learned);
	/* the first of base, base_2, base_3, ... that no earlier layer has: one pass marks the
	 * numbers taken (at most i of the i + 1 candidates), where trying each candidate against
	 * every layer took i^2 steps a layer (cubic in a run of unnamed relus) */
	unsigned char *taken = xcalloc((size_t)i + 2, 1);
	size_t n = strlen(base);
	for (int j = 0; j < i; j++) {
		const char *name = L[j].name;
		if (strncmp(name, base, n) != 0)
			continue;
		if (name[n] == '\0') {
			taken[1] = 1;
		} else if (name[n] == '_' && name[n + 1] >= '1' && name[n + 1] <= '9') {
			char *end;
			long k = strtol(name + n + 1, &end, 10);
			if (*end == '\0' && k >= 2 && k <= i + 1)
				taken[k] = 1;
		}
	}
	int k = 1;
	while (taken[k])
		k++;
	free(taken);
	if (k == 1)
		snprintf(l->name, sizeof l->name, "%s", base);
	else
		snprintf(l->name, sizeof l->name, "%s_%d", base, k);
}

static int check_order(Parser *p, const SpecLayer *l, int i, int prev_softmax)
{
	if (i == 0 && l->type != LAYER_INPUT) {
		perr(p, "the first layer must be 'input', not '%s'", layer_type_name(l->type));
		return -1;
	}
	if (i > 0 && l->type == LAYER_INPUT) {
		perr(p, "only the first layer may be 'input'");
		return -1;
	}
	if (prev_softmax) {
		perr(p, "'%s' after the softmax: softmax must be the last layer", layer_type_name(l->type));
		return -1;
	}
	return 0;
}

static void add_params(Spec *s)
{
	s->params = xcalloc((size_t)s->nlayers * 2 + 1, sizeof *s->params);
	int64_t off = 0;
	for (int i = 0; i < s->nlayers; i++) {
		SpecLayer *l = &s->layers[i];
		if (l->type != LAYER_CONV && l->type != LAYER_FC)
			continue;
		l->param = s->nparams;
		SpecParam *w = &s->params[s->nparams++], *b = &s->params[s->nparams++];
		snprintf(w->name, sizeof w->name, "%s.weight", l->name);
		snprintf(b->name, sizeof b->name, "%s.bias", l->name);
		w->layer = b->layer = i;
		b->is_bias = 1;
		if (l->type == LAYER_CONV) {
			w->ndim = 4;
			w->dims[0] = (uint64_t)l->outputs;
			w->dims[1] = (uint64_t)(l->in.c / l->groups);
			w->dims[2] = w->dims[3] = (uint64_t)l->kernel;
		} else {
			w->ndim = 2;
			w->dims[0] = (uint64_t)l->outputs;
			w->dims[1] = (uint64_t)dims_count(l->in);
		}
		b->ndim = 1;
		b->dims[0] = (uint64_t)l->outputs;
		for (SpecParam *q = w; q <= b; q++) {
			q->count = 1;
			for (int d = 0; d < q->ndim; d++)
				q->count *= (int64_t)q->dims[d];
			q->offset = off;
			off += (q->count + SPEC_PARAM_ALIGN - 1) / SPEC_PARAM_ALIGN * SPEC_PARAM_ALIGN;
			s->param_count += q->count;
		}
	}
	s->param_floats = off;
}

/* Parses every line into s->layers; -1 after the first error. */
static int parse_layers(Parser *p, Spec *s, const char *text, int classes)
{
	char *copy = xstrdup(text);
	int cap = 16, learned = 0, softmax_seen = 0;
	s->layers = xcalloc((size_t)cap, sizeof *s->layers);
	p->line = 0;
	/* strtok_r would merge blank lines and lose the line count: walk by hand */
	for (char *line = copy, *next; line && !p->failed; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		p->line++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (s->nlayers == cap) {
			cap *= 2;
			s->layers = xreallocarray(s->layers, (size_t)cap, sizeof *s->layers);
		}
		SpecLayer *l = &s->layers[s->nlayers];
		int r = parse_line(p, line, l, classes);
		if (r <= 0)
			continue;
		if (s->nlayers == SPEC_MAX_LAYERS) {
			perr(p, "more than %d layers", SPEC_MAX_LAYERS);
			break;
		}
		if (check_order(p, l, s->nlayers, softmax_seen) != 0)
			break;
		if (l->type == LAYER_CONV || l->type == LAYER_FC)
			learned++;
		if (!l->name[0])
			default_name(s->layers, s->nlayers, learned);
		for (int j = 0; j < s->nlayers; j++)
			if (strcmp(s->layers[j].name, l->name) == 0) {
				perr(p, "layer name '%s' already used at line %d", l->name, s->layers[j].line);
				break;
			}
		if (p->failed || infer_layer(p, s->layers, s->nlayers) != 0)
			break;
		if (dims_count(l->out) > INT32_MAX) {
			perr(p, "%s: output of %lld values per image is too large", l->name,
			     (long long)dims_count(l->out));
			break;
		}
		softmax_seen |= l->type == LAYER_SOFTMAX;
		s->nlayers++;
	}
	free(copy);
	if (p->failed)
		return -1;
	p->line = 0;
	if (s->nlayers == 0) {
		perr(p, "no layers");
		return -1;
	}
	if (!softmax_seen) {
		p->line = s->layers[s->nlayers - 1].line;
		perr(p, "the last layer must be 'softmax' (the network ends in the classifier)");
		return -1;
	}
	if (s->nlayers < 3) {
		perr(p, "no learned layer between the input and the softmax");
		return -1;
	}
	return 0;
}

Spec *spec_parse(const char *text, const char *source, int classes)
{
	Spec *s = xcalloc(1, sizeof *s);
	s->source = xstrdup(source);
	s->text = xstrdup(text);
	Parser p = { .source = source };
	if (classes < 1) {
		perr(&p, "class count %d must be positive", classes);
		spec_free(s);
		return NULL;
	}
	if (parse_layers(&p, s, text, classes) != 0) {
		spec_free(s);
		return NULL;
	}
	int learned = 0;
	for (int i = 0; i < s->nlayers; i++) {
		learned += s->layers[i].type == LAYER_CONV || s->layers[i].type == LAYER_FC;
		s->flops += s->layers[i].flops;
	}
	if (!learned) {
		perr(&p, "no learned layer (conv or fc) between the input and the softmax");
		spec_free(s);
		return NULL;
	}
	s->classes = s->layers[s->nlayers - 1].out.c;
	add_params(s);
	return s;
}

char *spec_read_text(const char *name)
{
	if (strcmp(name, "alexnet") == 0)
		return xstrdup(spec_alexnet_text);
	size_t len;
	char *text = read_file(name, &len, 1 << 20);
	if (text && strlen(text) != len) {
		warn_msg("%s: holds a NUL byte: not a network specification", name);
		free(text);
		return NULL;
	}
	return text;
}

Spec *spec_load(const char *name, int classes)
{
	char *text = spec_read_text(name);
	if (!text)
		return NULL;
	Spec *s = spec_parse(text, name, classes);
	free(text);
	return s;
}

void spec_free(Spec *s)
{
	if (!s)
		return;
	free(s->source);
	free(s->text);
	free(s->layers);
	free(s->params);
	free(s);
}

int spec_find(const Spec *s, const char *name)
{
	for (int i = 0; i < s->nlayers; i++)
		if (strcmp(s->layers[i].name, name) == 0)
			return i;
	return -1;
}

int spec_find_param(const Spec *s, const char *name)
{
	for (int t = 0; t < s->nparams; t++)
		if (strcmp(s->params[t].name, name) == 0)
			return t;
	return -1;
}

int spec_find_layer(const Spec *s, const char *name, const char *where)
{
	int i = spec_find(s, name);
	if (i >= 0)
		return i;
	size_t len = 1;
	for (int j = 0; j < s->nlayers; j++)
		len += strlen(s->layers[j].name) + 2;
	char *names = xcalloc(len, 1), *p = names;
	for (int j = 0; j < s->nlayers; j++)
		p += sprintf(p, "%s%s", j ? ", " : "", s->layers[j].name);
	warn_msg("--layer %s: %s has no such layer; its layers: %s", name, where, names);
	free(names);
	return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* sizes */

int64_t spec_max_activation(const Spec *s)
{
	int64_t m = 0;
	for (int i = 0; i < s->nlayers; i++)
		if (dims_count(s->layers[i].out) > m)
			m = dims_count(s->layers[i].out);
	return m;
}

/* Floats of device memory layer l owns for one image, beyond its parameters. */
static int64_t layer_floats(const SpecLayer *l)
{
	int64_t n = dims_count(l->out);
	switch (l->type) {
	case LAYER_RELU:
		return l->fused ? 0 : n; /* a relu that is not fused keeps its own output */
	case LAYER_DROPOUT:
		return l->inplace ? 0 : n;
	case LAYER_LRN:
		return 2 * n; /* output and the scale kept for the backward pass */
	case LAYER_POOL:
		return 2 * n; /* output and the int32 argmax */
	default:
		return n;
	}
}

void spec_memory(const Spec *s, int batch, int threads, SpecMemory *m)
{
	memset(m, 0, sizeof *m);
	double f = 4.0;
	m->params = m->grads = m->momentum = (double)s->param_floats * f;
	for (int i = 0; i < s->nlayers; i++)
		m->activations += (double)layer_floats(&s->layers[i]) * batch * f;
	m->activations += (double)batch * 4; /* labels */
	m->gradients = 2.0 * (double)spec_max_activation(s) * batch * f;
	/* The CPU backend lowers the convolution of a few images at a time to GEMMs on their
	 * column matrix (C*R*S rows, P*Q columns an image) into a K x P*Q output, one such pair
	 * per thread; the estimate counts one image's (the backend takes more images where P*Q
	 * is small, and --time reports the real peak). The CUDA backend's is of the same order. */
	double col = 0;
	for (int i = 0; i < s->nlayers; i++) {
		const SpecLayer *l = &s->layers[i];
		if (l->type != LAYER_CONV)
			continue;
		double c = ((double)l->in.c * l->kernel * l->kernel + l->outputs) * l->out.h * l->out.w;
		if (c > col)
			col = c;
	}
	m->workspace = col * f * (threads > 0 ? threads : 1);
	m->total = m->params + m->grads + m->momentum + m->activations + m->gradients + m->workspace;
	m->inference = m->params + m->activations + m->workspace;
}

/* ---------------------------------------------------------------------------------------- */
/* the summary */

static void layer_details(const Spec *s, const SpecLayer *l, int i, char *buf, size_t len)
{
	buf[0] = '\0';
	switch (l->type) {
	case LAYER_CONV: {
		int n = snprintf(buf, len, "%dx%d/%d pad %d", l->kernel, l->kernel, l->stride, l->pad);
		if (l->groups > 1)
			n += snprintf(buf + n, len - (size_t)n, " groups %d", l->groups);
		snprintf(buf + n, len - (size_t)n, ", bias %g", l->bias);
		break;
	}
	case LAYER_FC:
		snprintf(buf, len, "bias %g", l->bias);
		break;
	case LAYER_RELU:
		if (l->fused)
			snprintf(buf, len, "fused into %s", s->layers[i - 1].name);
		break;
	case LAYER_LRN:
		snprintf(buf, len, "n=%d alpha=%g beta=%g k=%g", l->size, l->alpha, l->beta, l->k);
		break;
	case LAYER_POOL:
		snprintf(buf, len, "max %dx%d/%d", l->size, l->size, l->stride);
		break;
	case LAYER_DROPOUT:
		snprintf(buf, len, "p=%g%s", l->p, l->inplace ? ", in place" : "");
		break;
	default:
		break;
	}
}

static void print_memory(const Spec *s, int batch, int accum, int threads, FILE *out)
{
	SpecMemory m;
	int part = batch / (accum > 0 ? accum : 1);
	spec_memory(s, part, threads, &m);
	char b[32];
	if (accum > 1)
		fprintf(out, "\ndevice memory for batch %d in %d parts of %d (float32):\n", batch, accum, part);
	else
		fprintf(out, "\ndevice memory for batch %d (float32):\n", batch);
	fprintf(out, "  %-26s %12s\n", "parameters", format_bytes(b, sizeof b, m.params));
	fprintf(out, "  %-26s %12s\n", "gradients", format_bytes(b, sizeof b, m.grads));
	fprintf(out, "  %-26s %12s\n", "momentum", format_bytes(b, sizeof b, m.momentum));
	fprintf(out, "  %-26s %12s\n", "activations", format_bytes(b, sizeof b, m.activations));
	fprintf(out, "  %-26s %12s\n", "activation gradients", format_bytes(b, sizeof b, m.gradients));
	char what[64];
	snprintf(what, sizeof what, "workspace (est., %d thr.)", threads > 0 ? threads : 1);
	fprintf(out, "  %-26s %12s\n", what, format_bytes(b, sizeof b, m.workspace));
	if (accum > 1) {
		fprintf(out, "  %-26s %12s\n", "summed gradients", format_bytes(b, sizeof b, m.grads));
		m.total += m.grads;
	}
	fprintf(out, "  %-26s %12s\n", "total for training", format_bytes(b, sizeof b, m.total));
	fprintf(out, "  %-26s %12s\n", "total for inference", format_bytes(b, sizeof b, m.inference));
}

void spec_print_summary(const Spec *s, int batch, int accum, int threads, double momentum, double decay, FILE *out)
{
	fprintf(out, "network %s: %d layers, %d classes, %lld parameters, %.3f GFLOPs forward per image\n",
		s->source, s->nlayers, s->classes, (long long)s->param_count, s->flops / 1e9);
	fprintf(out, "LRN: y = x / (k + alpha * sum of x^2 over n maps)^beta, alpha on the raw sum "
		     "(the paper's; Caffe's alpha is n times this)\n");
	fprintf(out, "update: v = %g v - %g lr w - lr dw, w = w + v, on weights and biases alike (the paper's, §5)\n",
		momentum, decay);
	fprintf(out, "\n%-10s %-8s %-14s %12s %10s  %s\n", "layer", "type", "output", "parameters", "MFLOPs",
		"details");
	for (int i = 0; i < s->nlayers; i++) {
		const SpecLayer *l = &s->layers[i];
		char shape[64], det[96];
		dims_str(shape, sizeof shape, l->out);
		if (l->out.h == 1 && l->out.w == 1)
			snprintf(shape, sizeof shape, "%d", l->out.c);
		layer_details(s, l, i, det, sizeof det);
		int64_t np = l->param >= 0 ? s->params[l->param].count + s->params[l->param + 1].count : 0;
		fprintf(out, "%-10s %-8s %-14s %12lld %10.1f  %s\n", l->name, layer_type_name(l->type), shape,
			(long long)np, l->flops / 1e6, det);
	}
	fprintf(out, "%-10s %-8s %-14s %12lld %10.1f\n", "total", "", "", (long long)s->param_count, s->flops / 1e6);
	print_memory(s, batch, accum, threads, out);
}
