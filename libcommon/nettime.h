/* nettime.h: anet-train --time: training and inference speed of a network on synthetic data.
 *
 * Like Caffe's "caffe time" and PyTorch's --dummy: no database, random inputs from the counter
 * RNG, a warm-up step, then timed training steps (forward, backward, update) and timed
 * inference passes with every layer timed, which needs a sync after each (free on the CPU;
 * on a GPU it exposes the launch latency, a few percent of an AlexNet step at batch 128).
 * Reported: per-layer medians, images per second from the median step and pass, and the
 * peak memory of the process (resident set) and of the net's own buffers.
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
