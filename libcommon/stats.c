/* stats.c: exact pixel statistics of a database, their PCA, and the statistics file (see stats.h). */
#include "libcommon/stats.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "libcommon/image.h"
#include "libcommon/progress.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"

typedef unsigned __int128 u128;

/* Images a worker takes at a time: consecutive keys, so that each thread reads in order. */
#define CHUNK 64
/* The watcher wakes every 50 ms and unmaps what was read every DROP_TICKS wakes (watch). */
#define DROP_TICKS 40

/* ---------------------------------------------------------------------------------------- */
/* the eigen-decomposition */

/* One Jacobi rotation in the (p, q) plane that zeroes a[p][q]; v accumulates the rotations. */
static void jacobi_rotate(uint32_t n, double a[3][3], double v[3][3], uint32_t p, uint32_t q)
{
	double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
	/* the smaller root of t^2 + 2 t theta - 1 = 0, for stability */
	double t = fabs(theta) > 1e150 ? 1 / (2 * theta) : copysign(1.0, theta) / (fabs(theta) + sqrt(theta * theta + 1));
	double c = 1 / sqrt(t * t + 1), s = t * c;
	for (uint32_t k = 0; k < n; k++) { /* columns p and q */
		double kp = a[k][p], kq = a[k][q];
		a[k][p] = c * kp - s * kq;
		a[k][q] = s * kp + c * kq;
	}
	for (uint32_t k = 0; k < n; k++) { /* rows p and q */
		double pk = a[p][k], qk = a[q][k];
		a[p][k] = c * pk - s * qk;
		a[q][k] = s * pk + c * qk;
	}
	for (uint32_t k = 0; k < n; k++) {
		double kp = v[k][p], kq = v[k][q];
		v[k][p] = c * kp - s * kq;
		v[k][q] = s * kp + c * kq;
	}
}

void stats_eigen(uint32_t n, const double in[3][3], double val[3], double vec[3][3])
{
	double a[3][3], v[3][3];
	double norm = 0;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < n; j++) {
			a[i][j] = in[i][j];
			v[i][j] = i == j;
			norm += in[i][j] * in[i][j];
		}
	for (int sweep = 0; sweep < 100; sweep++) {
		double off = 0;
		for (uint32_t p = 0; p < n; p++)
			for (uint32_t q = p + 1; q < n; q++)
				off += a[p][q] * a[p][q];
		if (off <= 1e-32 * norm)
			break;
		for (uint32_t p = 0; p < n; p++)
			for (uint32_t q = p + 1; q < n; q++)
				if (a[p][q] != 0)
					jacobi_rotate(n, a, v, p, q);
	}
	/* order by eigenvalue, largest first; eigenvectors are the columns of v */
	uint32_t order[3] = { 0, 1, 2 };
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = i + 1; j < n; j++)
			if (a[order[j]][order[j]] > a[order[i]][order[i]]) {
				uint32_t t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t col = order[i], big = 0;
		val[i] = a[col][col];
		for (uint32_t k = 1; k < n; k++)
			if (fabs(v[k][col]) > fabs(v[big][col]))
				big = k;
		double sign = v[big][col] < 0 ? -1 : 1;
		for (uint32_t k = 0; k < n; k++)
			vec[i][k] = sign * v[k][col];
	}
}

/* ---------------------------------------------------------------------------------------- */
/* the pass over the database */

typedef struct {
	Db *db;
	uint32_t h, w, c;
	uint64_t count;
	atomic_uint_fast64_t next, done;
	atomic_int failed;
} Job;

typedef struct {
	Job *job;
	pthread_t thread;
	uint64_t *sum;       /* [h][w][c]: sum over images of each pixel value */
	u128 s[3], ss[3][3]; /* sums of x_a and x_a * x_b over all pixels */
	uint64_t images;
	int failed;
} Worker;

/* The pixels of record index (in *r): the payload itself when raw, else decoded into buf. */
static const uint8_t *record_pixels_of(const Job *job, DbCursor *cur, ImageCodec *codec, uint64_t index,
				       RecordView *r, uint8_t *buf)
{
	char why[256], key[DB_KEY_DIGITS + 1];
	if (db_get(cur, index, r))
		return NULL;
	if (r->encoding == ENC_RAW)
		return r->payload;
	if (record_pixels(codec, r, buf, why, sizeof why) == 0)
		return buf;
	db_key(key, index);
	warn_msg("%s: key %s (%.*s): %s", db_path(job->db), key, (int)r->name_len, r->name, why);
	return NULL;
}

/* Adds one image's sums to w's. Per image the sums fit in 64 bits: at most 65535^2 pixels of
 * at most 255 * 255. */
static void accumulate(Worker *w, const uint8_t *px)
{
	const Job *job = w->job;
	size_t n = (size_t)job->h * job->w * job->c;
	for (size_t k = 0; k < n; k++)
		w->sum[k] += px[k];
	size_t pixels = (size_t)job->h * job->w;
	if (job->c == 1) {
		uint64_t s = 0, ss = 0;
		for (size_t k = 0; k < pixels; k++) {
			s += px[k];
			ss += (uint32_t)px[k] * px[k];
		}
		w->s[0] += s;
		w->ss[0][0] += ss;
		return;
	}
	uint64_t r = 0, g = 0, b = 0, rr = 0, rg = 0, rb = 0, gg = 0, gb = 0, bb = 0;
	for (size_t k = 0; k < pixels; k++, px += 3) {
		uint32_t x = px[0], y = px[1], z = px[2];
		r += x, g += y, b += z;
		rr += x * x, rg += x * y, rb += x * z;
		gg += y * y, gb += y * z, bb += z * z;
	}
	w->s[0] += r, w->s[1] += g, w->s[2] += b;
	w->ss[0][0] += rr, w->ss[0][1] += rg, w->ss[0][2] += rb;
	w->ss[1][1] += gg, w->ss[1][2] += gb, w->ss[2][2] += bb;
}

static void *worker_run(void *arg)
{
	Worker *w = arg;
	Job *job = w->job;
	DbCursor *cur = db_cursor_new(job->db);
	ImageCodec *codec = codec_new();
	uint8_t *buf = xmalloc((size_t)job->h * job->w * job->c);
	if (!cur)
		w->failed = 1;
	while (!w->failed && !atomic_load(&job->failed)) {
		uint64_t first = atomic_fetch_add(&job->next, CHUNK);
		if (first >= job->count)
			break;
		uint64_t end = first + CHUNK < job->count ? first + CHUNK : job->count;
		for (uint64_t i = first; i < end && !w->failed; i++) {
			RecordView r;
			const uint8_t *px = record_pixels_of(job, cur, codec, i, &r, buf);
			if (!px) {
				w->failed = 1;
				break;
			}
			accumulate(w, px);
			w->images++;
		}
		atomic_fetch_add(&job->done, end - first);
	}
	if (w->failed)
		atomic_store(&job->failed, 1);
	free(buf);
	codec_free(codec);
	db_cursor_free(cur);
	return NULL;
}

/* Waits for the workers, reporting progress, and unmapping what they have read every 2 s
 * (db.h: the RSS would grow to the database's size). More often costs speed: the workers
 * fault the pages of the records they read in again, and the keys are scattered over the
 * file (the shuffle moved them); every 100 ms made 2 threads 1.5x slower on 36000 JPEGs, and
 * after each record 1.8x. */
static void watch(Job *job, int quiet)
{
	Progress *p = quiet ? NULL : progress_start(db_path(job->db), job->count, "images");
	uint64_t done;
	int ticks = 0;
	while ((done = atomic_load(&job->done)) < job->count && !atomic_load(&job->failed)) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (++ticks % DROP_TICKS == 0)
			db_drop_pages(job->db);
		if (p)
			progress_update(p, done, NULL);
	}
	if (p)
		progress_end(p, atomic_load(&job->done), NULL);
}

/* Merges the workers' integer sums (exactly) and forms the statistics. */
static int finish(Job *job, Worker *ws, int threads, Stats *s)
{
	uint32_t c = job->c;
	size_t n = (size_t)job->h * job->w * c;
	u128 S[3] = { 0 }, SS[3][3] = { { 0 } };
	uint64_t images = 0;
	s->mean = xmallocarray(n, sizeof(float));
	for (size_t k = 0; k < n; k++) {
		uint64_t total = 0;
		for (int t = 0; t < threads; t++)
			total += ws[t].sum[k];
		s->mean[k] = (float)((double)total / (double)job->count);
	}
	for (int t = 0; t < threads; t++) {
		images += ws[t].images;
		for (uint32_t a = 0; a < c; a++) {
			S[a] += ws[t].s[a];
			for (uint32_t b = a; b < c; b++)
				SS[a][b] += ws[t].ss[a][b];
		}
	}
	/* P * S_ab - S_a * S_b is exact in 128 bits while P < 2^55 pixels (checked by the caller) */
	u128 P = (u128)images * job->h * job->w;
	for (uint32_t a = 0; a < c; a++) {
		s->mean_channel[a] = (double)((long double)S[a] / (long double)P);
		for (uint32_t b = a; b < c; b++) {
			u128 x = P * SS[a][b], y = S[a] * S[b];
			long double num = x >= y ? (long double)(x - y) : -(long double)(y - x);
			s->cov[a][b] = s->cov[b][a] = (double)(num / ((long double)P * (long double)P));
		}
	}
	s->images = (int64_t)images;
	stats_eigen(c, s->cov, s->eigval, s->eigvec);
	return 0;
}

int stats_compute(Db *db, int threads, int quiet, Stats *s)
{
	const DbInfo *m = db_info(db);
	memset(s, 0, sizeof *s);
	if (m->count == 0) {
		warn_msg("%s: the database is empty", db_path(db));
		return -1;
	}
	if ((long double)m->count * m->height * m->width >= 36028797018963968.0L) { /* 2^55 */
		warn_msg("%s: too many pixels for exact sums", db_path(db));
		return -1;
	}
	if (threads < 1)
		threads = 1;
	if ((uint64_t)threads > (m->count + CHUNK - 1) / CHUNK)
		threads = (int)((m->count + CHUNK - 1) / CHUNK);
	Job job = { .db = db, .h = m->height, .w = m->width, .c = m->channels, .count = m->count };
	atomic_init(&job.next, 0);
	atomic_init(&job.done, 0);
	atomic_init(&job.failed, 0);
	Worker *ws = xcalloc((size_t)threads, sizeof *ws);
	int started = 0;
	for (int t = 0; t < threads; t++) {
		ws[t].job = &job;
		ws[t].sum = xcalloc((size_t)job.h * job.w * job.c, sizeof(uint64_t));
		if (pthread_create(&ws[t].thread, NULL, worker_run, &ws[t]) != 0) {
			warn_msg("cannot start thread %d", t);
			atomic_store(&job.failed, 1);
			break;
		}
		started++;
	}
	watch(&job, quiet);
	for (int t = 0; t < started; t++)
		pthread_join(ws[t].thread, NULL);
	int rc = atomic_load(&job.failed) ? -1 : 0;
	if (rc == 0) {
		s->height = job.h, s->width = job.w, s->channels = job.c;
		s->source = xstrdup(db_path(db));
		finish(&job, ws, started, s);
	}
	for (int t = 0; t < threads; t++)
		free(ws[t].sum);
	free(ws);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* the file */

int stats_write(const char *path, const Stats *s)
{
	TensorWriter w;
	uint64_t c = s->channels, img[3] = { s->height, s->width, c }, cc[2] = { c, c };
	if (tensorwriter_open(&w, path, TF_STATS))
		return -1;
	/* the matrices are stored C x C from the first rows and columns of the 3 x 3 arrays */
	double cov[9], vec[9];
	for (uint32_t i = 0; i < c; i++)
		for (uint32_t j = 0; j < c; j++) {
			cov[i * c + j] = s->cov[i][j];
			vec[i * c + j] = s->eigvec[i][j];
		}
	if (tensorwriter_add(&w, "mean", DT_F32, 3, img, s->mean) ||
	    tensorwriter_add(&w, "mean_channel", DT_F64, 1, &c, s->mean_channel) ||
	    tensorwriter_add(&w, "cov", DT_F64, 2, cc, cov) || tensorwriter_add(&w, "eigval", DT_F64, 1, &c, s->eigval) ||
	    tensorwriter_add(&w, "eigvec", DT_F64, 2, cc, vec) || tensorwriter_add_i64(&w, "images", s->images) ||
	    tensorwriter_add_text(&w, "pixel_scale", STATS_PIXEL_SCALE) ||
	    tensorwriter_add_text(&w, "source", s->source ? s->source : "")) {
		tensorwriter_abort(&w);
		return -1;
	}
	return tensorwriter_commit(&w);
}

static int load_fail(const char *path, const char *why)
{
	warn_msg("%s: %s", path, why);
	return -1;
}

/* The shape, from the mean image's entry. */
static int load_shape(TensorFile *tf, const char *path, Stats *s)
{
	const TensorEntry *e = tensorfile_find(tf, "mean");
	if (!e)
		return load_fail(path, "tensor mean is missing (not a statistics file written by pcacolor?)");
	if (e->ndim != 3 || e->dims[0] < 1 || e->dims[0] > 65535 || e->dims[1] < 1 || e->dims[1] > 65535 ||
	    (e->dims[2] != 1 && e->dims[2] != 3))
		return load_fail(path, "tensor mean is not an image of 1..65535 x 1..65535 x 1 or 3");
	s->height = (uint32_t)e->dims[0];
	s->width = (uint32_t)e->dims[1];
	s->channels = (uint32_t)e->dims[2];
	return 0;
}

/* Values a reader can rely on: finite, eigenvalues ordered, eigenvectors of unit length. */
static int load_check(const char *path, const Stats *s)
{
	uint32_t c = s->channels;
	if (s->images < 1)
		return load_fail(path, "images is not positive");
	for (size_t k = 0; k < (size_t)s->height * s->width * c; k++)
		if (!isfinite(s->mean[k]) || s->mean[k] < 0 || s->mean[k] > 255)
			return load_fail(path, "the mean image holds a value outside 0..255");
	for (uint32_t i = 0; i < c; i++) {
		double len = 0;
		for (uint32_t j = 0; j < c; j++) {
			if (!isfinite(s->cov[i][j]) || !isfinite(s->eigvec[i][j]))
				return load_fail(path, "cov or eigvec holds a value that is not finite");
			len += s->eigvec[i][j] * s->eigvec[i][j];
		}
		if (!isfinite(s->mean_channel[i]) || !isfinite(s->eigval[i]))
			return load_fail(path, "mean_channel or eigval holds a value that is not finite");
		if (i > 0 && s->eigval[i] > s->eigval[i - 1])
			return load_fail(path, "eigval is not in descending order");
		if (fabs(len - 1) > 1e-6)
			return load_fail(path, "an eigenvector is not of unit length");
	}
	return 0;
}

int stats_load(const char *path, Stats *s)
{
	TensorFile tf;
	memset(s, 0, sizeof *s);
	if (tensorfile_open(&tf, path, TF_STATS))
		return -1;
	int rc = load_shape(&tf, path, s);
	uint64_t c = s->channels, img[3] = { s->height, s->width, c }, cc[2] = { c, c };
	double cov[9], vec[9];
	if (rc == 0) {
		s->mean = xmallocarray((size_t)s->height * s->width * c, sizeof(float));
		rc = tensorfile_read(&tf, "mean", DT_F32, 3, img, s->mean) ||
		     tensorfile_read(&tf, "mean_channel", DT_F64, 1, &c, s->mean_channel) ||
		     tensorfile_read(&tf, "cov", DT_F64, 2, cc, cov) || tensorfile_read(&tf, "eigval", DT_F64, 1, &c, s->eigval) ||
		     tensorfile_read(&tf, "eigvec", DT_F64, 2, cc, vec) || tensorfile_read_i64(&tf, "images", &s->images);
	}
	char *scale = rc == 0 ? tensorfile_read_text(&tf, "pixel_scale") : NULL;
	if (rc == 0 && !scale)
		rc = -1;
	if (rc == 0 && strcmp(scale, STATS_PIXEL_SCALE) != 0)
		rc = load_fail(path, "pixel_scale is not " STATS_PIXEL_SCALE);
	free(scale);
	if (rc == 0 && !(s->source = tensorfile_read_text(&tf, "source")))
		rc = -1;
	tensorfile_close(&tf);
	if (rc == 0) {
		for (uint32_t i = 0; i < c; i++)
			for (uint32_t j = 0; j < c; j++) {
				s->cov[i][j] = cov[i * c + j];
				s->eigvec[i][j] = vec[i * c + j];
			}
		rc = load_check(path, s);
	}
	if (rc)
		stats_free(s);
	return rc ? -1 : 0;
}

void stats_free(Stats *s)
{
	free(s->mean);
	free(s->source);
	s->mean = NULL;
	s->source = NULL;
}

char *stats_default_path(const char *db_path)
{
	char *p = xstrdup(db_path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	/* "." (pcacolor run inside the database) would give "..stats", a hidden file in the
	 * database's folder, which mkdb --force then refuses to replace: the folder's real name */
	const char *base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
	char *real = strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ? realpath(p, NULL) : NULL;
	if (real) {
		free(p);
		p = real;
		n = strlen(p);
	}
	static const char *ends[] = { ".lmdb", ".db" };
	for (size_t i = 0; i < ARRAY_LEN(ends); i++) {
		size_t e = strlen(ends[i]);
		if (n > e && strcmp(p + n - e, ends[i]) == 0 && p[n - e - 1] != '/') {
			p[n - e] = '\0';
			break;
		}
	}
	char *out = xasprintf("%s.stats", p);
	free(p);
	return out;
}

/* ---------------------------------------------------------------------------------------- */
/* the table */

void stats_print(FILE *out, const Stats *s)
{
	uint32_t c = s->channels;
	static const char *rgb[] = { "R", "G", "B" }, *gray[] = { "Y" };
	const char **ch = c == 3 ? rgb : gray;
	fprintf(out, "statistics of %s: %" PRId64 " images of %ux%ux%u, pixel scale %s\n", s->source, s->images,
		s->height, s->width, c, STATS_PIXEL_SCALE);
	fprintf(out, "\nchannel mean:");
	for (uint32_t a = 0; a < c; a++)
		fprintf(out, "   %s %8.3f", ch[a], s->mean_channel[a]);
	fprintf(out, "\n\ncovariance (levels^2):\n       ");
	for (uint32_t a = 0; a < c; a++)
		fprintf(out, " %12s", ch[a]);
	for (uint32_t a = 0; a < c; a++) {
		fprintf(out, "\n    %s  ", ch[a]);
		for (uint32_t b = 0; b < c; b++)
			fprintf(out, " %12.4f", s->cov[a][b]);
	}
	fprintf(out, "\n\nprincipal components (largest first; each eigenvector's largest component is positive):\n");
	fprintf(out, "    i   eigenvalue lambda_i   std dev sigma_i = sqrt(lambda_i)   eigenvector p_i (%s)\n",
		c == 3 ? "R, G, B" : "Y");
	for (uint32_t i = 0; i < c; i++) {
		fprintf(out, "    %u   %18.4f   %32.4f   (", i + 1, s->eigval[i], sqrt(fmax(s->eigval[i], 0)));
		for (uint32_t k = 0; k < c; k++)
			fprintf(out, "%s%8.5f", k ? ", " : "", s->eigvec[i][k]);
		fprintf(out, ")\n");
	}
	double l1 = fmax(s->eigval[0], 0);
	fprintf(out, "\ncolour noise (paper section 4.1): each image gets sum_i alpha_i * X_i * p_i added to every pixel,\n"
		     "alpha_i ~ N(0, 0.1); the standard deviation of that shift along p_1 is 0.1 * X_1:\n");
	fprintf(out, "    X_i = sigma_i,  0-255 scale (authors' cuda-convnet2 code; anet-train)    %10.3f levels\n",
		0.1 * sqrt(l1));
	fprintf(out, "    X_i = lambda_i, 0-255 scale (the paper's formula taken literally)      %10.3f levels\n",
		0.1 * l1);
	fprintf(out, "    X_i = lambda_i, 0-1 scale   (lambda_1 / 255^2 = %.6f; fb.resnet.torch) %7.3f levels\n",
		l1 / 65025, 0.1 * l1 / 255);
}

static void print_row(FILE *out, const char *name, const double *v, size_t n)
{
	fprintf(out, "%s", name);
	for (size_t k = 0; k < n; k++)
		fprintf(out, " %.17g", v[k]);
	fprintf(out, "\n");
}

void stats_print_values(FILE *out, const Stats *s)
{
	uint32_t c = s->channels;
	double cov[9] = { 0 }, vec[9] = { 0 }, sigma[3] = { 0 }; /* GCC 13 cannot see c <= 3 */
	for (uint32_t i = 0; i < c; i++) {
		sigma[i] = sqrt(fmax(s->eigval[i], 0));
		for (uint32_t j = 0; j < c; j++) {
			cov[i * c + j] = s->cov[i][j];
			vec[i * c + j] = s->eigvec[i][j];
		}
	}
	fprintf(out, "source %s\nimages %" PRId64 "\nheight %u\nwidth %u\nchannels %u\npixel_scale %s\n", s->source,
		s->images, s->height, s->width, c, STATS_PIXEL_SCALE);
	print_row(out, "mean_channel", s->mean_channel, c);
	print_row(out, "cov", cov, (size_t)c * c);
	print_row(out, "eigval", s->eigval, c);
	print_row(out, "sigma", sigma, c);
	print_row(out, "eigvec", vec, (size_t)c * c);
	fprintf(out, "mean");
	for (size_t k = 0; k < (size_t)s->height * s->width * c; k++)
		fprintf(out, " %.9g", s->mean[k]);
	fprintf(out, "\n");
}
