/* loader.h: decode threads that fill a ring of ready batches from a database while the device computes.
 *
 * The trainer and the evaluator take batches in order from a ring of `depth` slots; a pool
 * of threads, each with its own LMDB cursor (db.h: MDB_NOTLS, one read transaction per
 * thread) and its own image decoder, fills the slots ahead of them. A batch is cut into
 * chunks that any thread may take, so one slow JPEG delays only its chunk, and the slot
 * becomes ready when its last chunk is done; the consumer sees the batches strictly in step
 * order whatever the threads' timing. What a batch holds is decided when its slot is set up,
 * from the step alone: the batch's images are positions [p, p + n) of its epoch's order.
 *
 * Orders:
 *  - LOADER_EPOCHS (training): epoch e visits every record once, in the order of a
 *    Fisher-Yates shuffle of 0..N-1 drawn from (seed, e): for i = N-1 down to 1, swap
 *    entries i and rng_below(seed, RNG_STREAM(RNG_SHUFFLE, e), i, i + 1). Batches hold
 *    `batch` images except the last of an epoch, which holds what is left (so an epoch is
 *    ceil(N / batch) steps and every image is seen once per epoch). A resumed run starts at
 *    the (epoch, position) its checkpoint recorded.
 *  - LOADER_ONCE (evaluation): records first .. first + count - 1 in key order, once.
 *
 * The slots' pixels are host_alloc'd through the context (page-locked on a GPU, so that an
 * upload of a batch overlaps the compute). A record that cannot be read or decoded (mkdb
 * checked them all, so this means a damaged disk or database) is reported with its key and
 * left out of its batch, which then holds fewer images.
 */
#ifndef ANET_LOADER_H
#define ANET_LOADER_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "libcommon/db.h"

typedef enum { LOADER_EPOCHS, LOADER_ONCE } LoaderOrder;

typedef struct {
	Db *db;
	Ctx *ctx;            /* host_alloc for the slots; NULL: plain memory */
	int batch;           /* images per batch */
	int threads;         /* decode threads, >= 1 */
	int depth;           /* slots in the ring; 0: threads + 2 */
	LoaderOrder order;
	/* LOADER_EPOCHS */
	uint64_t seed;
	uint64_t step;       /* the global step of the first batch */
	uint64_t epoch, position; /* where the first batch starts */
	uint64_t stop_step;  /* no batch at or after this step (0: no limit) */
	uint64_t stop_epoch; /* no batch of this epoch or later (0: no limit) */
	/* LOADER_ONCE */
	uint64_t first, count;
} LoaderOptions;

typedef struct {
	uint64_t step;       /* global step (LOADER_EPOCHS) or batch number from 0 (LOADER_ONCE) */
	uint64_t epoch;      /* LOADER_EPOCHS: the epoch, and where in its order the batch starts */
	uint64_t position;
	int epoch_end;       /* the last batch of its epoch (or of the LOADER_ONCE range) */
	int n;               /* images that loaded */
	int skipped;         /* records left out (unreadable) */
	uint8_t *pixels;     /* n images, height x width x channels uint8 each (HWC) */
	int32_t *labels;
	uint64_t *keys;      /* their database indices */
} Batch;

typedef struct Loader Loader;

/* Starts the threads. NULL after printing why. */
Loader *loader_start(const LoaderOptions *o);
/* The next batch, in step order; blocks until it is ready and adds the seconds it waited to
 * *waited (may be NULL). NULL when there are no more (LOADER_ONCE's end, a stop) or the
 * loader failed (printed). The batch stays valid until loader_release. */
Batch *loader_next(Loader *l, double *waited);
void loader_release(Loader *l, Batch *b);
/* Images the threads have loaded so far (for anet-train --loader-only's rate). */
uint64_t loader_images(const Loader *l);
/* Stops and joins the threads, frees everything. */
void loader_stop(Loader *l);

/* The permutation of epoch epoch (n entries), as LOADER_EPOCHS uses it. */
void loader_permutation(uint64_t seed, uint64_t epoch, uint32_t *perm, uint64_t n);
/* Steps in an epoch of n records at batch images a step. */
static inline uint64_t loader_epoch_steps(uint64_t n, int batch) { return (n + (uint64_t)batch - 1) / (uint64_t)batch; }

#endif
