/* nettime.h: anet-train --time: training and inference speed of a network on synthetic data.
 *
 * Like Caffe's "caffe time" and PyTorch's --dummy: no database, random inputs from the counter
 * RNG, a warm-up step, then timed training steps (forward, backward, update) and timed
 * inference passes, each without any per-layer wait, then one training step and one
 * inference pass with a sync after every layer for the per-layer table (on a GPU the syncs
 * would slow the timed steps; on the CPU they cost nothing). Reported: medians, images per
 * second, and the peak memory of the process (resident set) and of the net's own buffers.
 */
#ifndef ANET_NETTIME_H
#define ANET_NETTIME_H

#include <stdint.h>
#include <stdio.h>

#include "libcommon/net.h"

typedef struct {
	int batch;      /* images per step, at most the net's max_batch */
	int iters;      /* timed training steps, and as many inference passes */
	uint64_t seed;  /* for the synthetic inputs and labels */
} NetTimeOptions;

typedef struct {
	double train_step, infer_pass; /* median seconds */
	double train_ips, infer_ips;   /* images per second from the medians */
	double peak_rss;               /* bytes */
} NetTimeResult;

/* Runs the timing and prints the report to out. -1 after printing the reason. */
int net_time(Net *net, const NetTimeOptions *o, NetTimeResult *r, FILE *out);

/* The peak resident set of this process so far, in bytes. */
double peak_rss_bytes(void);

#endif
