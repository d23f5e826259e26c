/* spec.h: the network specification: a small text format, the paper's net built in, shapes and sizes.
 *
 * A specification is a text file with one layer per line, from the input to the softmax:
 *
 *   input size=224 channels=3
 *   conv name=conv1 out=96 kernel=11 stride=4 pad=2 bias=0
 *   relu
 *   lrn size=5 alpha=1e-4 beta=0.75 k=2
 *   pool size=3 stride=2
 *   ...
 *   fc name=fc8 out=classes
 *   softmax
 *
 * '#' starts a comment; options are key=value. Layer types, keys and defaults are in
 * man 5 anet-formats (NETWORK SPECIFICATIONS) and in the table in spec.c. The parser infers
 * every shape as it reads, so a mistake is reported at its line with the shape that made it
 * impossible ("net.net:7: conv3: kernel 5x5 does not fit the padded input 256x3x3 ...").
 * Unknown keys are warned about and ignored, so a file written for a later anet still loads.
 *
 * Names: every layer has one; without name= it is its type and the number of the learned
 * layer it follows, as in the paper and Caffe's model: conv1 relu1 lrn1 pool1 conv2 ... fc6
 * relu6 drop6 ... fc8 prob. Learned layers count conv1, conv2, ..., then fc6 goes on from
 * there. The parameter tensors of a learned layer L are "L.weight" and "L.bias".
 *
 * How the driver (net.h) runs a spec, which is also what the memory estimate counts:
 *  - a relu right after a conv or fc is fused into it (the op's relu flag): no buffer, no
 *    pass over memory; the conv's output is the rectified one;
 *  - dropout works in place (inverted dropout: nothing to do at test time), except after an
 *    lrn, whose backward pass needs its output intact;
 *  - gradients flow through two buffers of the largest activation, used alternately;
 *  - nothing below the first learned layer needs a gradient, and that layer needs no dL/dx.
 */
#ifndef ANET_SPEC_H
#define ANET_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SPEC_MAX_NAME 32
/* Far beyond any network the format describes (AlexNet has 23 lines); it bounds the
 * quadratic checks of names, for a specification that comes from a file. */
#define SPEC_MAX_LAYERS 4096
#define SPEC_PARAM_NAME (SPEC_MAX_NAME + 8)
/* Each parameter tensor starts on a 256-byte boundary of the parameter buffer (GPU loads). */
#define SPEC_PARAM_ALIGN 64

typedef enum {
	LAYER_INPUT,
	LAYER_CONV,
	LAYER_FC,
	LAYER_RELU,
	LAYER_LRN,
	LAYER_POOL,
	LAYER_DROPOUT,
	LAYER_SOFTMAX
} LayerType;

/* The shape of one image's activation: channels, height, width (an fc output is O x 1 x 1). */
typedef struct {
	int c, h, w;
} Dims;

static inline int64_t dims_count(Dims d) { return (int64_t)d.c * d.h * d.w; }

typedef struct {
	LayerType type;
	char name[SPEC_MAX_NAME];
	int line;           /* in the spec text, for messages */
	Dims in, out;       /* per image */

	/* conv, fc */
	int outputs;        /* output channels (conv) or features (fc) */
	int kernel, stride, pad, groups; /* conv; pool uses size and stride */
	float bias;         /* initial value of every bias */
	float init;         /* standard deviation of the initial weights, N(0, init^2) */
	int param;          /* index of the weight in Spec.params (the bias follows); -1 if none */

	/* pool: size x size windows every stride pixels. lrn (§3.3): y = x / (k + alpha * sum
	 * of x^2 over size maps)^beta; alpha multiplies the raw sum (the paper's convention, not
	 * Caffe's alpha/size) */
	int size;
	float alpha, beta, k;

	float p;            /* dropout: probability of dropping */

	double flops;       /* forward, one image: 2 per multiply-add of conv and fc, else 0 */

	/* execution plan (see the top of this file) */
	int fused;          /* a relu folded into the conv/fc before it */
	int inplace;        /* writes its output over its input */
} SpecLayer;

/* One parameter tensor: conv weight K x C/G x R x S, fc weight O x I (PyTorch's layouts),
 * bias K or O. */
typedef struct {
	char name[SPEC_PARAM_NAME]; /* "conv1.weight", "fc8.bias" */
	int layer;
	int is_bias;
	int ndim;
	uint64_t dims[4];
	int64_t count;
	int64_t offset;     /* in floats, into the one buffer holding every parameter */
} SpecParam;

typedef struct {
	char *source;       /* the file name, or "alexnet", as messages name it */
	char *text;         /* the specification as written; models store it */
	int classes;        /* outputs of the softmax */
	int nlayers;
	SpecLayer *layers;
	int nparams;
	SpecParam *params;
	int64_t param_count; /* learned numbers, weights and biases */
	int64_t param_floats; /* the parameter buffer: param_count plus alignment padding */
	double flops;        /* forward, one image */
} Spec;

/* The paper's network (REFERENCE.md A.2): 224x224x3 crops, conv1 11x11/4 with pad 2 -> 55x55,
 * groups=2 on conv2, conv4, conv5, LRN after the ReLUs of conv1 and conv2, 3x3/2 pooling
 * after LRN1, LRN2 and conv5, dropout 0.5 after the ReLUs of fc6 and fc7. */
extern const char spec_alexnet_text[];

/* Parses a specification and infers its shapes; classes resolves "out=classes". source names
 * the text in messages. NULL after printing "SOURCE:LINE: reason" (warnings for unknown keys
 * are printed too, and do not fail). */
Spec *spec_parse(const char *text, const char *source, int classes);
/* "alexnet" (the built-in), or a spec file. */
Spec *spec_load(const char *name, int classes);
/* The text spec_load parses: the built-in's, or the file's (refused when it holds a NUL).
 * Freshly allocated; NULL after printing why. */
char *spec_read_text(const char *name);
void spec_free(Spec *s);

/* The layer called name, or -1. */
int spec_find(const Spec *s, const char *name);
/* The parameter called name ("conv1.weight"), its index in Spec.params, or -1. */
int spec_find_param(const Spec *s, const char *name);
/* spec_find, or -1 after printing "--layer NAME: WHERE has no such layer; its layers: data,
 * conv1, ..." (the programs' --layer options; where names the model file). */
int spec_find_layer(const Spec *s, const char *name, const char *where);
const char *layer_type_name(LayerType t);

/* What net_create allocates for a batch of n on the device, in bytes, from the same plan. */
typedef struct {
	double params, grads, momentum; /* each the size of the weights and biases */
	double activations;  /* every layer's output for n images, lrn scale, pool argmax, input */
	double gradients;    /* two buffers of the largest activation */
	double workspace;    /* the backend's own scratch (im2col), estimated: see spec.c */
	double total;        /* for training */
	double inference;    /* a net made for evaluation: no gradients, momentum, gradient buffers */
} SpecMemory;

void spec_memory(const Spec *s, int batch, int threads, SpecMemory *m);
/* The largest activation of one image, in floats. */
int64_t spec_max_activation(const Spec *s);

/* The per-layer table and memory estimate of anet-train --summary, to out, for batches of
 * batch passed through in accum parts (1: whole); momentum and decay are the update's, for
 * the header. */
void spec_print_summary(const Spec *s, int batch, int accum, int threads, double momentum, double decay, FILE *out);

#endif
