/* net.h: the network on a device: parameters, forward, backward, the paper's update, weight files.
 *
 * A Net is a Spec (spec.h) made real on a backend (kernels.h). net_create allocates every
 * buffer once for a largest batch: the parameters, their gradients and momentum (each one
 * device buffer, a tensor every SPEC_PARAM_ALIGN floats), every layer's output, the LRN scales
 * and pooling argmaxes the backward pass needs, two gradient buffers used alternately, the
 * labels and a host buffer for the probabilities. A training step allocates nothing and
 * moves nothing but the probabilities back to the host (one download per step).
 *
 * Everything goes through ctx->be and ctx_upload/ctx_download, so the same code drives the
 * CPU and the CUDA backend.
 *
 * The paper's choices (§5), fixed here and stated in anet-train(1):
 *  - update: v = momentum*v - decay*lr*w - lr*dw; w = w + v (momentum 0.9, decay 0.0005),
 *    on every parameter, weights and biases alike;
 *  - loss: softmax cross-entropy, the mean over the batch (so dw is the batch mean);
 *  - init: weights N(0, std^2) with std from the spec (init=, 0.01 by default); each bias the
 *    spec's bias= (the paper: 1 on conv2, conv4, conv5, fc6, fc7, else 0). Weight element e
 *    of parameter tensor t (its index in Spec.params: conv1.weight 0, conv1.bias 1, ...) is
 *    (float)std * rng_normal(seed, RNG_STREAM(RNG_INIT, t), e), drawn on the host and
 *    uploaded: the same seed gives the same network on every backend and thread count;
 *  - dropout: inverted (kept units scaled by 1/(1-p) in training, nothing at test time);
 *    the mask of layer i (its index in Spec.layers) at global step s is element by element
 *    rng_uniform(seed, RNG_STREAM(RNG_DROPOUT, i << 40 | s), image * features + f) >= p, so a
 *    resumed run draws the same masks (part p > 0 of a batch in parts adds p << 48 to the
 *    stream's low bits).
 *
 * Errors: functions print "what: reason" (naming the layer and the backend's reason) and
 * return -1 (NULL for constructors); nothing here exits.
 */
#ifndef ANET_NET_H
#define ANET_NET_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "libcommon/spec.h"
#include "libcommon/tensorfile.h"

/* The paper's update (§5). */
#define NET_MOMENTUM 0.9
#define NET_DECAY 0.0005

typedef struct Net Net;

typedef enum { NET_EVAL = 0, NET_TRAIN = 1 } NetMode;

typedef struct {
	uint64_t seed;
	/* --bias-init: when set, every bias the spec makes non-zero starts at bias instead (Caffe's
	 * replication used 0.1 where the paper has 1, which stalls some runs). */
	int override_bias;
	float bias;
} NetInit;

/* ctx_open for the programs: its note (such as the fall-back from --device auto to the CPU)
 * and, on failure, its reason printed; NULL on failure. */
Ctx *net_ctx_open(const CtxOptions *co);

/* Allocates everything for batches of up to max_batch on ctx. A NET_EVAL net (anet-eval,
 * anet-viz) has no gradients, momentum or gradient buffers, and refuses backward and update.
 * The spec is borrowed and must outlive the net. The parameters are zero until net_init or
 * net_read. */
Net *net_create(Ctx *ctx, const Spec *spec, int max_batch, NetMode mode);
void net_free(Net *net);

const Spec *net_spec(const Net *net);
Ctx *net_ctx(const Net *net);
int net_max_batch(const Net *net);

/* Draws the initial weights (see above), sets the biases, zeroes the momentum, and keeps the
 * seed for the dropout masks. */
int net_init(Net *net, const NetInit *init);
/* The dropout seed of a net whose weights came from a file (a resumed run sets the run's). */
void net_set_seed(Net *net, uint64_t seed);
uint64_t net_seed(const Net *net);
/* The RNG stream of layer layer's dropout mask at global step step, part part of a batch in
 * parts (0 for a whole batch; see the top). */
uint64_t net_dropout_stream(int layer, uint64_t step, int part);

/* The input batch, max_batch x C x H x W floats on the device (write it with ctx_upload, the
 * backend's upload_async or augment), and the labels, max_batch int32 on the device. */
float *net_input(Net *net);
int32_t *net_labels(Net *net);
int net_set_labels(Net *net, const int32_t *labels, int n);

/* The forward pass on the first n images of the input. In NET_TRAIN mode dropout draws the
 * masks of global step step; NET_EVAL turns dropout off. Leaves the probabilities on the
 * device; net_probs brings them back. */
int net_forward(Net *net, int n, NetMode mode, uint64_t step);
/* The gradients of the mean cross-entropy of the last forward pass (same n, mode and step)
 * against the labels, into every parameter's gradient. No dL/dx is computed for the first
 * learned layer, nor anything below it. */
int net_backward(Net *net);
/* The paper's update of every parameter with learning rate lr (momentum and decay as set,
 * NET_MOMENTUM and NET_DECAY by default). */
int net_update(Net *net, float lr);

/* A batch in parts (anet-train --accum, for a batch whose activations do not fit): each
 * part's forward and backward pass, then net_accumulate with weight = its share of the batch
 * (part images / batch images; the loss is each part's mean) and first set for the first
 * part; then net_update_accumulated applies the paper's update to the sum, the whole batch's
 * mean gradient. net_set_part numbers the parts for the dropout masks (see the top); set it
 * before each part's forward pass, and back to 0 after. The summed gradients take one more
 * parameter-sized buffer, allocated at the first call. */
void net_set_part(Net *net, int part);
int net_accumulate(Net *net, float weight, int first);
int net_update_accumulated(Net *net, float lr);
void net_set_hyper(Net *net, float momentum, float decay);

/* Downloads the probabilities of the last forward pass (n x classes) into the net's host
 * buffer and returns it (NULL on error). */
const float *net_probs(Net *net);
/* The mean cross-entropy -log p[label] of n rows of probabilities, in double; a probability
 * that underflowed to 0 counts as the smallest float's; one that is NaN makes it NaN. */
double net_loss(const float *probs, const int32_t *labels, int n, int classes);

/* One SGD step on the batch already in net_input and net_labels: forward (train), backward,
 * update, then the probabilities downloaded (net_probs' buffer). With labels (the same, on the
 * host) *loss receives the mean loss. */
int net_train_step(Net *net, int n, uint64_t step, float lr, const int32_t *labels, double *loss);

/* Access by name for features, filter pictures and tests. */
int net_find_param(const Net *net, const char *name);      /* index in Spec.params, or -1 */
float *net_param(Net *net, int index);                      /* device pointers */
float *net_grad(Net *net, int index);
float *net_momentum(Net *net, int index);
/* The whole parameter, gradient or momentum buffer (Spec.param_floats floats, padding zero). */
float *net_param_buffer(Net *net);
float *net_grad_buffer(Net *net);
float *net_momentum_buffer(Net *net);
/* The output of the layer called name for the last forward pass, max_batch x dims on the
 * device. A relu fused into a conv or fc shares its output: both names give the rectified
 * values; an in-place dropout's output is its input's buffer (in NET_EVAL mode, unmasked). */
const float *net_output(const Net *net, const char *name, Dims *dims);
/* A pooling layer's winners of the last forward pass (kernels.h's argmax; device memory),
 * NULL for another layer. */
const int32_t *net_pool_argmax(const Net *net, int layer);
/* Parameter index into host memory (count floats). */
int net_download_param(Net *net, int index, float *host);

/* Per-layer timing for anet-train --time: when on, every layer's forward and backward pass
 * is synchronised and timed (this costs a little on a GPU, nothing on the CPU). */
void net_profile(Net *net, int on);
/* Seconds of layer i's last forward and backward pass; and of the last update. */
void net_profile_layer(const Net *net, int i, double *forward, double *backward);
double net_profile_update(const Net *net);
/* Device bytes the net allocated itself (the backend's workspace not included). */
double net_device_bytes(const Net *net);

/* Weight files (man 5 anet-formats, MODELS AND CHECKPOINTS): a tensor file holding
 *   spec     text  the specification as written
 *   classes  i64   the class count "out=classes" resolves to
 *   L.weight, L.bias  f32 for every learned layer L, in the spec's order.
 * net_write adds these to an open writer, so that a checkpoint (TF_CHECKPOINT) can add the
 * momentum (net_write_momentum: "L.weight.momentum", ...) and the trainer's state, and a
 * model its mean image, PCA and class names, each after them. net_save writes a TF_MODEL. */
int net_write(Net *net, TensorWriter *w);
int net_write_momentum(Net *net, TensorWriter *w);
int net_save(Net *net, const char *path);
/* Reads every parameter of the net's spec from an open model or checkpoint, checking each
 * name and shape ("m.anw: tensor conv2.weight: shape 256x96x5x5, expected 256x48x5x5"). Other
 * entries are left alone. */
int net_read(Net *net, TensorFile *tf);
int net_read_momentum(Net *net, TensorFile *tf);
/* Fine-tuning (anet-train --init-from): copies every parameter of an open model or
 * checkpoint, whose own spec is from, that matches one of the net's in name and shape, and
 * leaves the others as net_init drew them. A parameter of either side with no match on the
 * other is a mismatch, each printed naming the file and both shapes; with partial 0 any
 * mismatch fails (-1, with a HINT to give --partial), with partial it is a note. -1 also when
 * nothing matched. *m receives what was copied. */
typedef struct {
	int copied, tensors;                  /* parameter tensors copied, of the net's */
	int64_t copied_numbers, numbers;      /* and their numbers */
} NetMatch;
int net_read_matching(Net *net, TensorFile *tf, const Spec *from, int partial, NetMatch *m);
/* Whether an open file holds every parameter of s (and with momentum, its momentum) as f32
 * of the right shape, before a network is allocated for it: a small file whose spec claims a
 * huge network is refused by what it holds, not by running out of memory. -1 after printing
 * "PATH: tensor NAME: ..." for the first that is missing or misshapen. */
int net_check_file(TensorFile *tf, const Spec *s, int momentum);
/* The specification stored in an open model or checkpoint (messages name "PATH:spec"). */
Spec *net_read_spec(TensorFile *tf);
/* Opens a model or checkpoint, builds its network on ctx for batches of max_batch (in mode, as
 * net_create) and loads the weights. *spec receives the spec, which the caller frees after the net. */
Net *net_load(Ctx *ctx, const char *path, int max_batch, NetMode mode, Spec **spec);

#endif
