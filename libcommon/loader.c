/* loader.c: the decode threads and the ring of ready batches (see loader.h). */
#include "libcommon/loader.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rng.h"
#include "libcommon/image.h"
#include "libcommon/util.h"

/* How often the consumer unmaps the database pages read so far (db.h: Memory). */
#define DROP_PAGES_SECONDS 2.0

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD };

typedef struct {
	Batch b;
	int state;
	int total;          /* images set up; b.n once the bad ones are left out */
	int claimed, done;
	uint8_t *bad;
} Slot;

typedef struct {
	Loader *l;
	DbCursor *cursor;
	ImageCodec *codec;
	pthread_t tid;
	int started;
} Worker;

struct Loader {
	LoaderOptions o;
	const DbInfo *info;
	size_t img_bytes;
	uint64_t records;        /* in the database (LOADER_EPOCHS) */
	pthread_mutex_t mu;
	pthread_cond_t work, ready;
	Slot *slots;
	Worker *workers;
	int chunk;               /* images a thread takes at a time */

	/* under mu: the set-up side */
	Slot *filling;           /* the newest batch set up, whose chunks are being handed out */
	uint64_t next_step, next_epoch, next_pos;
	int exhausted;           /* no batch left to set up */
	int stop;
	uint32_t *perm;          /* the order of perm_epoch */
	uint64_t perm_epoch;
	int have_perm;
	/* under mu: the consumer side */
	uint64_t consume_step;
	double last_drop;
	atomic_uint_fast64_t loaded;
};

void loader_permutation(uint64_t seed, uint64_t epoch, uint32_t *perm, uint64_t n)
{
	uint64_t stream = RNG_STREAM(RNG_SHUFFLE, epoch);
	for (uint64_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = n; i-- > 1;) {
		uint32_t j = rng_below(seed, stream, i, (uint32_t)(i + 1));
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* setting up batches (under mu) */

/* The keys of the next batch into slot s; 0 when there is none left. */
static int plan_batch(Loader *l, Slot *s)
{
	const LoaderOptions *o = &l->o;
	Batch *b = &s->b;
	uint64_t n;
	if (o->order == LOADER_ONCE) {
		if (l->next_pos >= o->count)
			return 0;
		n = o->count - l->next_pos < (uint64_t)o->batch ? o->count - l->next_pos : (uint64_t)o->batch;
		for (uint64_t i = 0; i < n; i++)
			b->keys[i] = o->first + l->next_pos + i;
		b->epoch = 0;
		b->position = l->next_pos;
		l->next_pos += n;
		b->epoch_end = l->next_pos == o->count;
	} else {
		if ((o->stop_step && l->next_step >= o->stop_step) || (o->stop_epoch && l->next_epoch >= o->stop_epoch))
			return 0;
		if (!l->have_perm || l->perm_epoch != l->next_epoch) {
			loader_permutation(o->seed, l->next_epoch, l->perm, l->records);
			l->perm_epoch = l->next_epoch;
			l->have_perm = 1;
		}
		n = l->records - l->next_pos < (uint64_t)o->batch ? l->records - l->next_pos : (uint64_t)o->batch;
		for (uint64_t i = 0; i < n; i++)
			b->keys[i] = l->perm[l->next_pos + i];
		b->epoch = l->next_epoch;
		b->position = l->next_pos;
		l->next_pos += n;
		b->epoch_end = l->next_pos == l->records;
		if (b->epoch_end) {
			l->next_epoch++;
			l->next_pos = 0;
		}
	}
	b->step = l->next_step++;
	b->n = (int)n;
	b->skipped = 0;
	s->total = (int)n;
	s->claimed = s->done = 0;
	memset(s->bad, 0, n);
	return 1;
}

/* Sets up the next batch if its slot is free: 1 if one was, 0 if it must wait, -1 if none is left. */
static int setup_next(Loader *l)
{
	if (l->exhausted)
		return -1;
	Slot *s = &l->slots[l->next_step % (uint64_t)l->o.depth];
	if (s->state != SLOT_FREE)
		return 0;
	if (!plan_batch(l, s)) {
		l->exhausted = 1;
		pthread_cond_broadcast(&l->ready); /* a consumer waiting past the end */
		return -1;
	}
	s->state = SLOT_FILLING;
	l->filling = s;
	pthread_cond_broadcast(&l->work); /* chunks for the sleeping threads */
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* the work (outside mu) */

static void load_one(Loader *l, Worker *w, Slot *s, int i)
{
	RecordView r;
	char why[256];
	uint64_t key = s->b.keys[i];
	if (db_get(w->cursor, key, &r) != 0) { /* printed */
		s->bad[i] = 1;
		return;
	}
	if (record_pixels(w->codec, &r, s->b.pixels + (size_t)i * l->img_bytes, why, sizeof why) != 0) {
		char k[DB_KEY_DIGITS + 1];
		db_key(k, key);
		warn_msg("%s: key %s: %s: left out of its batch", db_path(l->o.db), k, why);
		s->bad[i] = 1;
		return;
	}
	s->b.labels[i] = r.label;
	atomic_fetch_add(&l->loaded, 1);
}

/* Closes the gaps the unreadable records left (in order, so the batch stays deterministic). */
static void compact(Loader *l, Slot *s)
{
	Batch *b = &s->b;
	int n = 0;
	for (int i = 0; i < s->total; i++) {
		if (s->bad[i])
			continue;
		if (n != i) {
			memmove(b->pixels + (size_t)n * l->img_bytes, b->pixels + (size_t)i * l->img_bytes, l->img_bytes);
			b->labels[n] = b->labels[i];
			b->keys[n] = b->keys[i];
		}
		n++;
	}
	b->skipped = s->total - n;
	b->n = n;
}

static void *worker_main(void *arg)
{
	Worker *w = arg;
	Loader *l = w->l;
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		Slot *s = l->filling;
		if (!s || s->claimed >= s->total) {
			if (setup_next(l) != 1)
				pthread_cond_wait(&l->work, &l->mu);
			continue;
		}
		int first = s->claimed, k = s->total - first < l->chunk ? s->total - first : l->chunk;
		s->claimed += k;
		pthread_mutex_unlock(&l->mu);
		for (int i = first; i < first + k; i++)
			load_one(l, w, s, i);
		pthread_mutex_lock(&l->mu);
		s->done += k;
		if (s->done == s->total) {
			compact(l, s);
			s->state = SLOT_READY;
			pthread_cond_broadcast(&l->ready);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* the consumer */

Batch *loader_next(Loader *l, double *waited)
{
	double t0 = now_seconds();
	pthread_mutex_lock(&l->mu);
	Slot *s = &l->slots[l->consume_step % (uint64_t)l->o.depth];
	Batch *b = NULL;
	for (;;) {
		if (s->state == SLOT_READY && s->b.step == l->consume_step) {
			s->state = SLOT_HELD;
			l->consume_step++;
			b = &s->b;
			break;
		}
		if (l->exhausted && l->consume_step >= l->next_step)
			break;
		pthread_cond_wait(&l->ready, &l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	double t1 = now_seconds();
	if (waited)
		*waited += t1 - t0;
	if (t1 - l->last_drop > DROP_PAGES_SECONDS) {
		db_drop_pages(l->o.db);
		l->last_drop = t1;
	}
	return b;
}

void loader_release(Loader *l, Batch *b)
{
	Slot *s = (Slot *)b; /* b is the slot's first member */
	pthread_mutex_lock(&l->mu);
	s->state = SLOT_FREE;
	pthread_cond_broadcast(&l->work);
	pthread_mutex_unlock(&l->mu);
}

uint64_t loader_images(const Loader *l) { return atomic_load(&l->loaded); }

/* ---------------------------------------------------------------------------------------- */
/* start and stop */

static int alloc_slots(Loader *l)
{
	const LoaderOptions *o = &l->o;
	size_t bytes = (size_t)o->batch * l->img_bytes;
	l->slots = xcalloc((size_t)o->depth, sizeof *l->slots);
	for (int i = 0; i < o->depth; i++) {
		Slot *s = &l->slots[i];
		s->b.pixels = o->ctx ? o->ctx->be->host_alloc(o->ctx, bytes) : xmalloc(bytes);
		if (!s->b.pixels) {
			char b[32];
			warn_msg("cannot allocate %s of host memory for batch slot %d: %s", format_bytes(b, sizeof b, (double)bytes),
				 i, ctx_error(o->ctx));
			return -1;
		}
		s->b.labels = xcalloc((size_t)o->batch, sizeof *s->b.labels);
		s->b.keys = xcalloc((size_t)o->batch, sizeof *s->b.keys);
		s->bad = xcalloc((size_t)o->batch, 1);
	}
	return 0;
}

Loader *loader_start(const LoaderOptions *opts)
{
	Loader *l = xcalloc(1, sizeof *l);
	l->o = *opts;
	LoaderOptions *o = &l->o;
	if (o->threads < 1)
		o->threads = 1;
	if (o->depth < 2)
		o->depth = o->threads + 2;
	l->info = db_info(o->db);
	l->img_bytes = (size_t)l->info->height * l->info->width * l->info->channels;
	l->records = l->info->count;
	l->next_step = o->step;
	l->consume_step = o->step;
	l->next_epoch = o->epoch;
	l->next_pos = o->position;
	l->last_drop = now_seconds();
	/* a few chunks per thread and batch: small enough to share a batch among the threads,
	 * large enough that the lock is not taken per image */
	l->chunk = o->batch / (4 * o->threads);
	if (l->chunk < 1)
		l->chunk = 1;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->work, NULL);
	pthread_cond_init(&l->ready, NULL);
	if (o->batch < 1 || (o->order == LOADER_EPOCHS && l->next_pos >= l->records) ||
	    (o->order == LOADER_ONCE && (o->first > l->records || o->count > l->records - o->first))) {
		warn_msg("%s: internal error: loader range out of the database's %" PRIu64 " records", db_path(o->db),
			 l->records);
		goto fail;
	}
	if (o->order == LOADER_EPOCHS)
		l->perm = xmallocarray((size_t)l->records, sizeof *l->perm);
	if (alloc_slots(l) != 0)
		goto fail;
	l->workers = xcalloc((size_t)o->threads, sizeof *l->workers);
	for (int i = 0; i < o->threads; i++) {
		Worker *w = &l->workers[i];
		w->l = l;
		if (!(w->cursor = db_cursor_new(o->db)))
			goto fail;
		w->codec = codec_new();
	}
	for (int i = 0; i < o->threads; i++) {
		int rc = pthread_create(&l->workers[i].tid, NULL, worker_main, &l->workers[i]);
		if (rc != 0) {
			warn_msg("cannot start a loader thread: %s", strerror(rc));
			goto fail;
		}
		l->workers[i].started = 1;
	}
	return l;
fail:
	loader_stop(l);
	return NULL;
}

void loader_stop(Loader *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_cond_broadcast(&l->work);
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; l->workers && i < l->o.threads; i++) {
		Worker *w = &l->workers[i];
		if (w->started)
			pthread_join(w->tid, NULL);
		if (w->cursor)
			db_cursor_free(w->cursor);
		if (w->codec)
			codec_free(w->codec);
	}
	for (int i = 0; l->slots && i < l->o.depth; i++) {
		Slot *s = &l->slots[i];
		if (s->b.pixels) {
			if (l->o.ctx)
				l->o.ctx->be->host_free(l->o.ctx, s->b.pixels);
			else
				free(s->b.pixels);
		}
		free(s->b.labels);
		free(s->b.keys);
		free(s->bad);
	}
	free(l->slots);
	free(l->workers);
	free(l->perm);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->work);
	pthread_cond_destroy(&l->ready);
	free(l);
}
