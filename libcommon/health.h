/* health.h: a network in training, layer by layer: the size of its weights and of their last update, and its dead ReLUs.
 *
 * What cuda-convnet printed at each checkpoint (mean |w|, mean |dw| and their ratio, per layer)
 * and what reproductions of the paper ask for early in a run (REFERENCE.md A.9: the paper's
 * bias 1 on fc6 and fc7 has left runs with dead ReLUs): for every conv and fc layer,
 *   weight_abs   mean |w| over its weights (not the bias)
 *   update_abs   mean |v| of the same weights: the paper's update is w += v, so v is the last
 *                step's change (0 before the first step, or in a net made for evaluation)
 *   bias_mean    the mean of its bias
 * and for a layer a ReLU rectifies, from a forward pass in evaluation mode (no dropout) over
 * images of the network's current input:
 *   units        its maps (conv) or features (fc)
 *   dead         those that are zero for every image and position: they pass no gradient
 *   zero_share   the share of all its outputs that are zero
 * A common rule of thumb (Stanford's CS231n notes): update_abs / weight_abs near 1e-3 is healthy;
 * far above, the learning rate is too high; far below, the layer is not learning.
 */
#ifndef ANET_HEALTH_H
#define ANET_HEALTH_H

#include <stdio.h>

#include "libcommon/net.h"

typedef struct {
	int layer;          /* index in Spec.layers */
	double weight_abs, update_abs, bias_mean;
	int relu;           /* a ReLU follows it; the rest is defined only then */
	int units, dead;
	double zero_share;
} HealthRow;

/* The number of rows: the spec's conv and fc layers. */
int health_rows(const Spec *s);
/* Fills health_rows() rows, downloading the parameters and the momentum, and running a forward
 * pass in evaluation mode over the first n images of the net's input: the activations of the
 * last step are overwritten, nothing else changes (no weight, no random stream). -1 after
 * printing why. */
int health_measure(Net *net, int n, HealthRow *rows);
/* The TSV header and one line per row of the health log (man 5 anet-formats, HEALTH LOG). */
void health_write_header(FILE *f);
void health_write_rows(FILE *f, const Spec *s, const HealthRow *rows, uint64_t step, double epoch);
/* "conv1 0/96, conv2 3/256, ..." for the rectified layers, into buf. */
void health_format_dead(char *buf, size_t len, const Spec *s, const HealthRow *rows);

#endif
