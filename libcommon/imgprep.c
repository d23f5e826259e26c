/* imgprep.c: imgprep's run: sources, the ordered worker ring, the writer, the summary (see imgprep.h). */
#include "libcommon/imgprep.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcommon/idx.h"
#include "libcommon/inputs.h"
#include "libcommon/progress.h"
#include "libcommon/record.h"
#include "libcommon/util.h"

/* Where the images come from. */
typedef struct {
	Inputs *inputs;
	IdxReader idx;
	int is_idx;
	ClassTable classes; /* count 0: no names */
	uint64_t total;
	const char *output;      /* -o where it exists already: an image of the list or folder */
	const char *output_base; /* may not be it (its last component, to stat only namesakes) */
} Source;

enum { SLOT_FREE, SLOT_QUEUED, SLOT_DONE };

/* One image on its way through: the job, then its result. */
typedef struct {
	int state;
	char *path;           /* NULL for IDX pixels */
	char *name;
	int32_t label;
	Image src;            /* IDX pixels */
	int ok;
	uint8_t *payload;
	size_t payload_len;
	int width, height, channels;
	PrepNotes notes;
	char why[256];
} Slot;

typedef struct {
	const ImgprepArgs *a;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	Slot *ring;
	size_t window;
	uint64_t issued, taken;
	int stop;
} Ring;

typedef struct {
	uint64_t written, skipped, cmyk, disguised, gray_to_rgb, to_gray, warned;
	uint64_t turned, not_upright; /* EXIF orientation other than 1: applied, or ignored */
} Summary;

/* ------------------------------------------------------------------------------------------
 * the work on one image (in a decode thread) */

static void netpbm_payload(Slot *s, const Image *im)
{
	char head[64];
	int n = snprintf(head, sizeof head, "P%c\n%d %d\n255\n", im->channels == 3 ? '6' : '5', im->width, im->height);
	size_t bytes = (size_t)im->width * im->height * im->channels;
	s->payload = xmalloc((size_t)n + bytes);
	memcpy(s->payload, head, (size_t)n);
	memcpy(s->payload + n, im->pixels, bytes);
	s->payload_len = (size_t)n + bytes;
}

static void prepare_slot(ImageCodec *c, const ImgprepArgs *a, Slot *s)
{
	Image im;
	int rc = s->path ? image_prepare_file(c, s->path, &a->prep, &im, &s->notes, s->why, sizeof s->why)
			 : image_prepare_pixels(c, &s->src, &a->prep, &im, &s->notes, s->why, sizeof s->why);
	free(s->src.pixels);
	s->src.pixels = NULL;
	if (rc)
		return;
	s->width = im.width;
	s->height = im.height;
	s->channels = im.channels;
	if (a->format == OUT_PPM) {
		netpbm_payload(s, &im);
	} else if (a->encoding == ENC_RAW) {
		s->payload = im.pixels;
		s->payload_len = (size_t)im.width * im.height * im.channels;
		im.pixels = NULL;
	} else if (image_encode_jpeg(c, &im, a->quality, &s->payload, &s->payload_len, s->why, sizeof s->why)) {
		image_free(&im);
		return;
	}
	image_free(&im);
	s->ok = 1;
}

static void *worker(void *arg)
{
	Ring *r = arg;
	ImageCodec *c = codec_new();
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->stop && r->taken == r->issued)
			pthread_cond_wait(&r->work, &r->mu);
		if (r->stop)
			break;
		Slot *s = &r->ring[r->taken++ % r->window];
		pthread_mutex_unlock(&r->mu);
		prepare_slot(c, r->a, s);
		pthread_mutex_lock(&r->mu);
		s->state = SLOT_DONE;
		pthread_cond_signal(&r->done);
	}
	pthread_mutex_unlock(&r->mu);
	codec_free(c);
	return NULL;
}

/* ------------------------------------------------------------------------------------------
 * the main thread: jobs in, results out */

/* Fills a free slot with the next job: 1, 0 at the end, -1 after a message. */
static int next_job(Source *src, Slot *s)
{
	memset(s, 0, sizeof *s);
	if (src->is_idx) {
		IdxReader *x = &src->idx;
		if (x->next >= x->count)
			return 0;
		s->src.width = (int)x->cols;
		s->src.height = (int)x->rows;
		s->src.channels = (int)x->channels;
		s->src.pixels = xmalloc((size_t)x->rows * x->cols * x->channels);
		s->name = xasprintf("%s:%u", x->images_path, x->next);
		int label;
		if (idx_read(x, s->src.pixels, &label))
			return -1;
		s->label = label;
		return 1;
	}
	InputItem it;
	int rc = inputs_next(src->inputs, &it);
	if (rc <= 0)
		return rc;
	/* the output renamed over an image of the list or folder would replace it (tools/imgprep.c
	 * refuses the files named on the command line before the run) */
	const char *base = strrchr(it.path, '/');
	if (src->output && strcmp(base ? base + 1 : it.path, src->output_base) == 0 && same_file(it.path, src->output)) {
		warn_msg("-o %s is the input %s itself: nothing written, the file kept", src->output, it.path);
		return -1;
	}
	s->path = xstrdup(it.path);
	s->name = xstrdup(it.name);
	s->label = it.label;
	return 1;
}

static void slot_clear(Slot *s)
{
	free(s->path);
	free(s->name);
	free(s->src.pixels);
	free(s->payload);
	memset(s, 0, sizeof *s);
}

static void count_notes(Summary *sum, const PrepNotes *n)
{
	sum->cmyk += n->cmyk != 0;
	sum->disguised += n->png_disguised_as_jpeg != 0;
	sum->gray_to_rgb += n->gray_to_rgb != 0;
	sum->to_gray += n->color_to_gray != 0;
	sum->warned += n->warnings != 0;
	sum->turned += n->turned != 0;
	sum->not_upright += n->orientation > 1 && !n->turned;
}

/* The per-file lines worth a user's attention: what was converted or decoded despite damage. */
static void report_notes(const Slot *s)
{
	const char *who = s->path ? s->path : s->name;
	const PrepNotes *n = &s->notes;
	if (n->cmyk)
		warn_msg("%s: %s JPEG%s converted to RGB", who, n->ycck ? "YCCK" : "CMYK",
			 n->adobe_inverted ? " (Adobe, inverted)" : "");
	if (n->png_disguised_as_jpeg)
		warn_msg("%s: PNG data under a JPEG name, decoded as PNG", who);
	if (n->warnings)
		warn_msg("%s: libjpeg warning, decoded anyway: %s", who, n->warning);
}

/* Writes one finished slot (or reports why it was skipped); -1 on a write error. */
static int emit(const ImgprepArgs *a, Slot *s, FILE *out, const char *out_name, Summary *sum, Progress *p)
{
	if (s->ok && strlen(s->name) > RECORD_MAX_NAME && a->format == OUT_RECORDS) {
		snprintf(s->why, sizeof s->why, "name longer than %d bytes", RECORD_MAX_NAME);
		s->ok = 0;
	}
	if (s->ok && s->payload_len > RECORD_MAX_PAYLOAD && a->format == OUT_RECORDS) {
		snprintf(s->why, sizeof s->why, "prepared image larger than a record holds (%zu bytes)", s->payload_len);
		s->ok = 0;
	}
	if (!s->ok || s->notes.cmyk || s->notes.png_disguised_as_jpeg || s->notes.warnings)
		progress_clear(p);
	if (!s->ok) {
		warn_msg("%s: %s", s->path ? s->path : s->name, s->why);
		sum->skipped++;
		return 0;
	}
	report_notes(s);
	count_notes(sum, &s->notes);
	int rc;
	if (a->format == OUT_PPM) {
		rc = write_all(out, s->payload, s->payload_len, out_name);
	} else {
		RecordView r = { .label = s->label,
				 .height = (uint32_t)s->height,
				 .width = (uint32_t)s->width,
				 .channels = (uint32_t)s->channels,
				 .encoding = (uint32_t)a->encoding,
				 .name_len = (uint32_t)strlen(s->name),
				 .payload_len = (uint32_t)s->payload_len,
				 .name = s->name,
				 .payload = s->payload };
		rc = record_write(out, &r, out_name);
	}
	if (rc == 0)
		sum->written++;
	return rc;
}

static void progress_tick(Progress *p, const Summary *sum)
{
	char extra[64] = "";
	if (sum->skipped)
		snprintf(extra, sizeof extra, "%llu skipped", (unsigned long long)sum->skipped);
	progress_update(p, sum->written + sum->skipped, extra);
}

/* One thread: prepare and write each image in turn (the measure of single-core speed). */
static int run_inline(const ImgprepArgs *a, Source *src, FILE *out, const char *out_name, Summary *sum, Progress *p)
{
	ImageCodec *c = codec_new();
	Slot s;
	int rc;
	while ((rc = next_job(src, &s)) > 0) {
		prepare_slot(c, a, &s);
		rc = emit(a, &s, out, out_name, sum, p);
		slot_clear(&s);
		if (rc)
			break;
		progress_tick(p, sum);
	}
	slot_clear(&s);
	codec_free(c);
	return rc < 0 ? -1 : 0;
}

static int run_threads(const ImgprepArgs *a, Source *src, FILE *out, const char *out_name, Summary *sum, Progress *p)
{
	Ring r = { .a = a, .window = 4 * (size_t)a->threads };
	r.ring = xcalloc(r.window, sizeof *r.ring);
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.work, NULL);
	pthread_cond_init(&r.done, NULL);
	pthread_t *tid = xcalloc((size_t)a->threads, sizeof *tid);
	int started = 0;
	for (; started < a->threads; started++)
		if (pthread_create(&tid[started], NULL, worker, &r) != 0)
			break;
	if (started == 0)
		die("cannot start a decode thread");

	uint64_t written = 0;
	int rc = 0, more = 1;
	for (;;) {
		while (more && r.issued - written < r.window) {
			Slot *s = &r.ring[r.issued % r.window]; /* free: no worker sees it until issued moves */
			int got = next_job(src, s);
			if (got <= 0) {
				slot_clear(s);
				more = 0;
				rc = got < 0 ? -1 : 0;
				break;
			}
			pthread_mutex_lock(&r.mu);
			s->state = SLOT_QUEUED;
			r.issued++;
			pthread_cond_signal(&r.work);
			pthread_mutex_unlock(&r.mu);
		}
		if (written == r.issued)
			break;
		Slot *s = &r.ring[written % r.window];
		pthread_mutex_lock(&r.mu);
		while (s->state != SLOT_DONE)
			pthread_cond_wait(&r.done, &r.mu);
		pthread_mutex_unlock(&r.mu);
		int wrc = emit(a, s, out, out_name, sum, p);
		slot_clear(s);
		written++;
		progress_tick(p, sum);
		if (wrc) {
			rc = -1;
			break;
		}
	}

	pthread_mutex_lock(&r.mu);
	r.stop = 1;
	pthread_cond_broadcast(&r.work);
	pthread_mutex_unlock(&r.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	for (size_t i = 0; i < r.window; i++)
		slot_clear(&r.ring[i]);
	free(tid);
	free(r.ring);
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.work);
	pthread_cond_destroy(&r.done);
	return rc;
}

/* ------------------------------------------------------------------------------------------
 * setting up and finishing */

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Opens the input named in a; -1 after a message. */
static int source_open(const ImgprepArgs *a, Source *src)
{
	memset(src, 0, sizeof *src);
	int32_t max_label = -1;
	if (a->idx_images) {
		if (idx_open(&src->idx, a->idx_images, a->idx_labels))
			return -1;
		src->is_idx = 1;
		src->total = src->idx.count;
		max_label = src->idx.max_label;
	} else {
		if (a->list)
			src->inputs = inputs_from_list(a->list, a->root);
		else if (a->nfiles == 1 && is_dir(a->files[0]))
			src->inputs = inputs_from_dir(a->files[0]);
		else
			src->inputs = inputs_from_files(a->files, a->nfiles);
		if (!src->inputs)
			return -1;
		src->total = inputs_count(src->inputs);
		max_label = inputs_max_label(src->inputs);
		struct stat st;
		if (a->output && stat(a->output, &st) == 0 && S_ISREG(st.st_mode)) {
			const char *base = strrchr(a->output, '/');
			src->output = a->output;
			src->output_base = base ? base + 1 : a->output;
		}
		const ClassTable *t = inputs_classes(src->inputs);
		if (t)
			src->classes = classes_copy(t);
	}
	if (a->classes && src->classes.count) {
		warn_msg("--classes does not apply to a class folder, whose subfolders name the classes");
		return -1;
	}
	if (a->classes) {
		if (classes_load(a->classes, &src->classes))
			return -1;
		if (max_label >= (int32_t)src->classes.count) {
			warn_msg("%s: names %u classes, but the input has label %d", a->classes, src->classes.count, max_label);
			return -1;
		}
	}
	return 0;
}

static void source_close(Source *src)
{
	inputs_free(src->inputs);
	if (src->is_idx)
		idx_close(&src->idx);
	classes_free(&src->classes);
}

/* failed: the run stopped on an error said above (the output failed, say), so "written" would
 * claim records that may not have arrived */
static void print_summary(const Summary *s, int failed)
{
	char conv[256] = "";
	size_t n = 0;
#define ADD(cnt, what) \
	if (cnt && n < sizeof conv) \
		n += (size_t)snprintf(conv + n, sizeof conv - n, "%s%llu %s", n ? ", " : "; converted: ", \
				      (unsigned long long)(cnt), what)
	ADD(s->cmyk, "CMYK/YCCK to RGB");
	ADD(s->disguised, "PNG named as JPEG");
	ADD(s->gray_to_rgb, "grayscale to RGB");
	ADD(s->to_gray, "colour to grayscale");
	ADD(s->turned, "turned upright by EXIF orientation");
#undef ADD
	char warned[64] = "";
	if (s->warned)
		snprintf(warned, sizeof warned, "; %llu decoded despite libjpeg warnings", (unsigned long long)s->warned);
	warn_msg("%llu %s, %llu skipped%s%s", (unsigned long long)s->written,
		 failed ? "prepared before the failure above" : "written", (unsigned long long)s->skipped, conv, warned);
	/* phone pictures carry the tag; ILSVRC's preparation ignored it, so imgprep does unless told */
	if (s->not_upright)
		warn_msg("%llu image%s an EXIF orientation other than upright, ignored: the pixels are used as stored "
			 "(--orientation exif turns them)",
			 (unsigned long long)s->not_upright, s->not_upright == 1 ? " has" : "s have");
}

/* The exit status from the counts. */
static int verdict(const ImgprepArgs *a, const Summary *s)
{
	if (s->written == 0) {
		warn_msg("no images written");
		return EXIT_RUNTIME;
	}
	if (a->max_errors >= 0 && s->skipped > (uint64_t)a->max_errors) {
		warn_msg("%llu images skipped, more than --max-errors %lld", (unsigned long long)s->skipped, a->max_errors);
		return EXIT_RUNTIME;
	}
	return 0;
}

static int run(const ImgprepArgs *a, Source *src, FILE *out, const char *out_name, Summary *sum)
{
	if (a->format == OUT_RECORDS && src->classes.count && classes_write(out, &src->classes, out_name))
		return -1;
	Progress *p = progress_start("prepared", src->total, "img");
	int rc = a->threads > 1 ? run_threads(a, src, out, out_name, sum, p) : run_inline(a, src, out, out_name, sum, p);
	progress_end(p, sum->written + sum->skipped, NULL);
	if (rc == 0 && fflush(out) != 0) {
		warn_errno("%s: write error", out_name);
		rc = -1;
	}
	return rc;
}

int imgprep_main(const ImgprepArgs *a)
{
	Source src;
	if (source_open(a, &src)) {
		source_close(&src);
		return EXIT_RUNTIME;
	}
	AtomicFile af = { 0 };
	FILE *out = stdout;
	const char *out_name = "standard output";
	if (a->output) {
		if (atomic_open(&af, a->output)) {
			source_close(&src);
			return EXIT_RUNTIME;
		}
		out = af.f;
		out_name = a->output;
	}
	Summary sum = { 0 };
	int rc = run(a, &src, out, out_name, &sum);
	source_close(&src);
	if (rc && !a->output)
		clearerr(stdout); /* a write error there was reported: the check at exit (util.h) need not repeat it */
	/* committed before the summary, which may call the records written only once they are */
	if (a->output) {
		if (rc == 0 && sum.written > 0)
			rc = atomic_commit(&af);
		else
			atomic_abort(&af);
	}
	print_summary(&sum, rc != 0);
	return rc ? EXIT_RUNTIME : verdict(a, &sum);
}
