/* neighbours.c: the paper's Figure 4 (right): query images, each followed by the gallery images
 * whose last-hidden-layer activations are nearest in Euclidean distance (§6.1).
 *
 * The features come from anet-eval --features files (man 5 anet-formats, FEATURES: features
 * f32 [N][D], labels i32 [N], index i64 [N], the rows' database keys), or are computed here
 * from the model by the evaluation library, as anet-eval computes them (eval mode, the
 * centre crop, the input of the last fc layer after its ReLU). Either way the gallery is
 * visited in blocks and only each query's K best are kept (knn.c), so a gallery of any size
 * passes through a fixed amount of memory. The pictures are the databases' records.
 *
 * When query and gallery are the same database, a query's own record is left out of its
 * neighbours (it would always be first, at distance 0).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/db.h"
#include "libcommon/image.h"
#include "libcommon/progress.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

/* Rows of gallery features read at a time: 1024 x 4096 floats = 16 MiB. */
#define FILE_BLOCK_BYTES (16u << 20)

/* A features file, checked against the database its index refers to. */
typedef struct {
	TensorFile tf;
	const TensorEntry *features, *labels, *index;
	uint64_t rows;
	int dim;
	char layer[SPEC_MAX_NAME]; /* "" when the file does not say */
} FeatureFile_;

static int feature_file_open(FeatureFile_ *f, const char *path)
{
	memset(f, 0, sizeof *f);
	if (tensorfile_open(&f->tf, path, TF_FEATURES) != 0)
		return -1;
	f->features = tensorfile_find(&f->tf, "features");
	f->labels = tensorfile_find(&f->tf, "labels");
	f->index = tensorfile_find(&f->tf, "index");
	const char *why = NULL;
	if (!f->features || !f->labels || !f->index)
		why = "lacks one of the entries features, labels and index";
	else if (f->features->dtype != DT_F32 || f->features->ndim != 2 || f->features->dims[0] == 0 ||
		 f->features->dims[1] == 0 || f->features->dims[1] > INT_MAX / 2)
		why = "features is not a non-empty f32 [N][D] tensor";
	else if (f->labels->dtype != DT_I32 || f->labels->count != f->features->dims[0])
		why = "labels is not i32 [N] for the N rows of features";
	else if (f->index->dtype != DT_I64 || f->index->count != f->features->dims[0])
		why = "index is not i64 [N] for the N rows of features";
	if (why) {
		warn_msg("%s: %s", path, why);
		tensorfile_close(&f->tf);
		return -1;
	}
	f->rows = f->features->dims[0];
	f->dim = (int)f->features->dims[1];
	const TensorEntry *layer = tensorfile_find(&f->tf, "layer");
	if (layer && layer->dtype == DT_TEXT && layer->count < sizeof f->layer &&
	    tensorfile_read_range(&f->tf, layer, 0, layer->count, f->layer) != 0) {
		tensorfile_close(&f->tf);
		return -1;
	}
	return 0;
}

/* Rows [first, first + n): features, labels and database keys, each key checked against db. */
static int feature_file_read(FeatureFile_ *f, const Db *db, uint64_t first, int n, float *feat, int32_t *labels,
			     int64_t *keys)
{
	if (tensorfile_read_range(&f->tf, f->features, first * (uint64_t)f->dim, (uint64_t)n * (uint64_t)f->dim, feat) ||
	    tensorfile_read_range(&f->tf, f->labels, first, (uint64_t)n, labels) ||
	    tensorfile_read_range(&f->tf, f->index, first, (uint64_t)n, keys))
		return -1;
	uint64_t count = db_info(db)->count;
	for (int i = 0; i < n; i++)
		if (keys[i] < 0 || (uint64_t)keys[i] >= count) {
			warn_msg("%s: row %llu has index %lld, but %s holds %llu records: features of another database?",
				 f->tf.path, (unsigned long long)(first + (uint64_t)i), (long long)keys[i], db_path(db),
				 (unsigned long long)count);
			return -1;
		}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* the picture */

typedef struct {
	Db *db;
	DbCursor *cur;
	ImageCodec *codec;
	uint8_t *px;
	const char *features; /* the file the keys came from, for messages (may be NULL) */
} Pictures;

static int pictures_open(Pictures *p, Db *db, const char *features)
{
	const DbInfo *in = db_info(db);
	p->db = db;
	p->features = features;
	p->codec = codec_new();
	p->px = xmalloc((size_t)in->height * in->width * in->channels);
	return (p->cur = db_cursor_new(db)) ? 0 : -1;
}

static void pictures_close(Pictures *p)
{
	db_cursor_free(p->cur);
	codec_free(p->codec);
	free(p->px);
}

/* Draws record key into the box; *label receives its label, which must equal want (the
 * features file's) unless want is INT32_MIN. */
static int draw_record(Canvas *cv, Pictures *p, int64_t key, int32_t want, double x, double y, double w, double h,
		       int32_t *label)
{
	RecordView r;
	char why[256];
	if (db_get(p->cur, (uint64_t)key, &r) != 0)
		return -1;
	if (record_pixels(p->codec, &r, p->px, why, sizeof why) != 0) {
		warn_msg("%s: key %lld: %s", db_path(p->db), (long long)key, why);
		return -1;
	}
	if (want != INT32_MIN && r.label != want) {
		warn_msg("%s: key %lld has label %d, but %s says %d: features of another database?", db_path(p->db),
			 (long long)key, (int)r.label, p->features, (int)want);
		return -1;
	}
	*label = r.label;
	return canvas_pixels(cv, p->px, (int)r.width, (int)r.height, (int)r.channels, x, y, w, h);
}

typedef struct {
	int nq, k;
	int64_t *qkey;   /* [nq] */
	int32_t *qlabel; /* [nq]; INT32_MIN: not known from a file */
	int64_t *nkey;   /* [nq][k] */
	int32_t *nlabel; /* [nq][k]; INT32_MIN: not known from a file */
	float *ndist;    /* [nq][k] */
	int *found;      /* [nq] */
	char layer[SPEC_MAX_NAME]; /* whose outputs were compared ("" if a file does not say) */
} Neighbours;

/* cols: the columns of neighbours, the most any query found (nb->k, or fewer in a small gallery) */
static int draw_neighbours(const Neighbours *nb, int cols, Pictures *qp, Pictures *gp, int size, const char *title,
			   const char *out)
{
	const DbInfo *qi = db_info(qp->db), *gi = db_info(gp->db);
	int qside = (int)(qi->width > qi->height ? qi->width : qi->height);
	int cell = viz_cell_side(qside, size);
	int cw = cell < 110 ? 110 : cell, text_h = 30, pad = 10, sep = 24, head = 50;
	int width = pad + cw + sep + cols * (cw + pad), height = head + nb->nq * (cell + text_h + pad);
	Canvas cv;
	if (canvas_init(&cv, width, height, rgb_hex(VIZ_BACKGROUND)) != 0)
		return -1;
	TextStyle ts = { .size = 13, .bold = 1, .color = rgb_hex(VIZ_INK), .max_width = width - 2.0 * pad };
	canvas_text(&cv, pad, 18, &ts, title);
	TextStyle cs = { .size = 11, .bold = 1, .align = ALIGN_CENTRE, .color = rgb_hex(0x505050), .max_width = cw };
	canvas_text(&cv, pad + cw / 2.0, 40, &cs, "query");
	for (int j = 0; j < cols; j++) {
		char h[32];
		snprintf(h, sizeof h, "%d%s nearest", j + 1, j == 0 ? "st" : j == 1 ? "nd" : j == 2 ? "rd" : "th");
		canvas_text(&cv, pad + cw + sep + j * (cw + pad) + cw / 2.0, 40, &cs, h);
	}
	canvas_fill(&cv, pad + cw + sep / 2.0, head - 4, 1, height - head, rgb_hex(0xC0C0C0));
	int rc = 0;
	for (int q = 0; q < nb->nq && rc == 0; q++) {
		double y = head + q * (cell + text_h + pad), x = pad + (cw - cell) / 2.0;
		int32_t ql;
		char name[256], dist[64];
		rc = draw_record(&cv, qp, nb->qkey[q], nb->qlabel[q], x, y, cell, cell, &ql);
		if (rc)
			break;
		canvas_frame(&cv, x, y, cell, cell, 3, rgb_hex(VIZ_QUERY));
		TextStyle ls = { .size = 11, .align = ALIGN_CENTRE, .color = rgb_hex(VIZ_INK), .max_width = cw };
		canvas_text(&cv, pad + cw / 2.0, y + cell + 14, &ls, db_label_name(qi, ql, name, sizeof name));
		TextStyle ks = { .size = 9, .align = ALIGN_CENTRE, .color = rgb_hex(0x707070), .max_width = cw };
		snprintf(dist, sizeof dist, "#%lld", (long long)nb->qkey[q]);
		canvas_text(&cv, pad + cw / 2.0, y + cell + 26, &ks, dist);
		for (int j = 0; j < nb->found[q] && rc == 0; j++) {
			double nx = pad + cw + sep + j * (cw + pad) + (cw - cell) / 2.0;
			int32_t gl;
			rc = draw_record(&cv, gp, nb->nkey[(size_t)q * nb->k + j], nb->nlabel[(size_t)q * nb->k + j], nx,
					 y, cell, cell, &gl);
			if (rc)
				break;
			/* green: the query's class; red: another; grey: no labels to compare */
			uint32_t col = ql < 0 || gl < 0 ? 0x909090u : gl == ql ? VIZ_RIGHT : VIZ_WRONG;
			canvas_frame(&cv, nx, y, cell, cell, 3, rgb_hex(col));
			ls.color = rgb_hex(ql >= 0 && gl >= 0 && gl != ql ? VIZ_WRONG : VIZ_INK);
			canvas_text(&cv, nx + cell / 2.0, y + cell + 14, &ls, db_label_name(gi, gl, name, sizeof name));
			snprintf(dist, sizeof dist, "#%lld  d=%.3g", (long long)nb->nkey[(size_t)q * nb->k + j],
				 nb->ndist[(size_t)q * nb->k + j]);
			canvas_text(&cv, nx + cell / 2.0, y + cell + 26, &ks, dist);
		}
	}
	if (rc == 0)
		rc = canvas_write_png(&cv, out);
	canvas_free(&cv);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */

static void neighbours_free(Neighbours *nb)
{
	free(nb->qkey);
	free(nb->qlabel);
	free(nb->nkey);
	free(nb->nlabel);
	free(nb->ndist);
	free(nb->found);
}

static void neighbours_alloc(Neighbours *nb, int nq, int k)
{
	nb->nq = nq;
	nb->k = k;
	nb->qkey = xcalloc((size_t)nq, sizeof *nb->qkey);
	nb->qlabel = xcalloc((size_t)nq, sizeof *nb->qlabel);
	nb->nkey = xcalloc((size_t)nq * (size_t)k, sizeof *nb->nkey);
	nb->nlabel = xcalloc((size_t)nq * (size_t)k, sizeof *nb->nlabel);
	for (size_t i = 0; i < (size_t)nq * (size_t)k; i++)
		nb->nlabel[i] = INT32_MIN;
	nb->ndist = xcalloc((size_t)nq * (size_t)k, sizeof *nb->ndist);
	nb->found = xcalloc((size_t)nq, sizeof *nb->found);
}

/* Which of count rows are the queries (o's start or random sample); *n receives how many. */
static uint64_t *query_rows(const NeighboursOptions *o, uint64_t count, int *n, const char *what)
{
	if (!o->random && o->start >= count) {
		warn_msg("%s: --start %llu is past the last row (%llu)", what, (unsigned long long)o->start,
			 (unsigned long long)count - 1);
		return NULL;
	}
	uint64_t avail = o->random ? count : count - o->start;
	*n = (uint64_t)o->queries < avail ? o->queries : (int)avail;
	uint64_t *rows = xmallocarray((size_t)*n, sizeof *rows);
	if (o->random)
		viz_sample(count, (uint64_t)*n, o->seed, rows);
	else
		for (int i = 0; i < *n; i++)
			rows[i] = o->start + (uint64_t)i;
	return rows;
}

/* Both sides from features files. */
static int search_files(const NeighboursOptions *o, Db *qdb, Db *gdb, int same, Neighbours *nb)
{
	FeatureFile_ qf, gf;
	if (feature_file_open(&qf, o->query_features) != 0)
		return -1;
	if (feature_file_open(&gf, o->gallery_features) != 0) {
		tensorfile_close(&qf.tf);
		return -1;
	}
	int rc = -1, nq = 0;
	uint64_t *rows = NULL;
	float *qv = NULL, *block = NULL;
	int32_t *labels = NULL;
	int64_t *keys = NULL, *ids = NULL;
	Knn *knn = NULL;
	if (qf.dim != gf.dim) {
		warn_msg("%s: %d features a row, but %s has %d: features of different layers or networks",
			 o->gallery_features, gf.dim, o->query_features, qf.dim);
		goto out;
	}
	if (*qf.layer && *gf.layer && strcmp(qf.layer, gf.layer) != 0) {
		warn_msg("%s: features of layer %s, but %s holds %s's", o->gallery_features, gf.layer, o->query_features,
			 qf.layer);
		goto out;
	}
	snprintf(nb->layer, sizeof nb->layer, "%s", *qf.layer ? qf.layer : gf.layer);
	if (!(rows = query_rows(o, qf.rows, &nq, o->query_features)))
		goto out;
	neighbours_alloc(nb, nq, o->k);
	qv = xmallocarray((size_t)nq * (size_t)qf.dim, sizeof(float));
	for (int i = 0; i < nq; i++)
		if (feature_file_read(&qf, qdb, rows[i], 1, qv + (size_t)i * qf.dim, &nb->qlabel[i], &nb->qkey[i]))
			goto out;
	/* the search runs on gallery rows; their keys and labels are looked up for the winners */
	knn = knn_new(qv, nq, qf.dim, o->k);
	uint64_t total = gf.rows;
	if (o->gallery_limit && o->gallery_limit < total)
		total = o->gallery_limit;
	int bs = (int)(FILE_BLOCK_BYTES / ((size_t)gf.dim * sizeof(float)));
	bs = bs < 1 ? 1 : bs;
	block = xmallocarray((size_t)bs * (size_t)gf.dim, sizeof(float));
	labels = xmallocarray((size_t)bs, sizeof *labels);
	keys = xmallocarray((size_t)bs, sizeof *keys);
	ids = xmallocarray((size_t)bs, sizeof *ids);
	Progress *pr = progress_start("gallery", total, "rows");
	for (uint64_t first = 0; first < total; first += (uint64_t)bs) {
		int n = (int)(total - first < (uint64_t)bs ? total - first : (uint64_t)bs);
		if (feature_file_read(&gf, gdb, first, n, block, labels, keys)) {
			progress_end(pr, first, NULL);
			goto out;
		}
		for (int j = 0; j < n; j++) {
			ids[j] = (int64_t)first + j;
			for (int i = 0; i < nq && same; i++)
				if (keys[j] == nb->qkey[i])
					knn_exclude(knn, i, ids[j]);
		}
		knn_add(knn, block, n, ids);
		progress_update(pr, first + (uint64_t)n, NULL);
	}
	progress_end(pr, total, NULL);
	for (int i = 0; i < nq; i++) {
		int64_t *key = nb->nkey + (size_t)i * o->k;
		nb->found[i] = knn_result(knn, i, key, nb->ndist + (size_t)i * o->k);
		for (int j = 0; j < nb->found[i]; j++) {
			uint64_t row = (uint64_t)key[j];
			if (tensorfile_read_range(&gf.tf, gf.labels, row, 1, nb->nlabel + (size_t)i * o->k + j) ||
			    tensorfile_read_range(&gf.tf, gf.index, row, 1, key + j))
				goto out;
		}
	}
	rc = 0;
out:
	knn_free(knn);
	free(ids);
	free(keys);
	free(labels);
	free(block);
	free(qv);
	free(rows);
	tensorfile_close(&gf.tf);
	tensorfile_close(&qf.tf);
	return rc;
}

typedef struct {
	Knn *knn;
	int64_t *ids;
	int cap;
} GallerySink;

static void gallery_sink(void *arg, const Batch *b, const float *probs, const float *features, int dim)
{
	(void)probs;
	(void)dim;
	GallerySink *s = arg;
	if (b->n > s->cap) {
		free(s->ids);
		s->ids = xmallocarray((size_t)(s->cap = b->n), sizeof *s->ids);
	}
	for (int i = 0; i < b->n; i++)
		s->ids[i] = (int64_t)b->keys[i];
	knn_add(s->knn, features, b->n, s->ids);
}

/* Both sides computed with the model: the queries here, the gallery streamed by eval_db. */
static int search_model(const NeighboursOptions *o, Db *qdb, Db *gdb, int same, Neighbours *nb)
{
	VizModel vm;
	if (viz_model_open(&vm, o->model, o->device, o->threads, 1, 64) != 0)
		return -1;
	int rc = -1, nq = 0, dim = 0;
	uint64_t *rows = NULL;
	uint8_t *px = NULL;
	float *probs = NULL, *feats = NULL;
	GallerySink sink = { 0 };
	const Model *m = vm.model;
	if (eval_check_db(m, qdb) != 0 || eval_check_db(m, gdb) != 0 ||
	    !(rows = query_rows(o, db_info(qdb)->count, &nq, o->query_db)))
		goto out;
	if (o->layer && spec_find_layer(m->spec, o->layer, m->path) < 0) {
		rc = VIZ_USAGE;
		goto out;
	}
	if (o->layer && evaluator_set_feature_layer(vm.eval, o->layer) != 0)
		goto out;
	neighbours_alloc(nb, nq, o->k);
	snprintf(nb->layer, sizeof nb->layer, "%s", evaluator_feature_layer(vm.eval, &dim));
	px = xmallocarray((size_t)nq, (size_t)m->height * m->width * m->channels);
	probs = xmallocarray((size_t)nq * m->num_classes, sizeof(float));
	feats = xmallocarray((size_t)nq * (size_t)dim, sizeof(float));
	if (viz_read_records(qdb, rows, nq, px, nb->qlabel) != 0 || viz_model_run(&vm, px, nq, probs, feats) != 0)
		goto out;
	for (int i = 0; i < nq; i++) {
		nb->qkey[i] = (int64_t)rows[i];
		nb->qlabel[i] = INT32_MIN; /* read again with the picture */
	}
	sink.knn = knn_new(feats, nq, dim, o->k);
	if (same)
		for (int i = 0; i < nq; i++)
			knn_exclude(sink.knn, i, nb->qkey[i]);
	EvalDbOptions eo = { .threads = o->threads ? o->threads : cpu_count(),
			     .count = o->gallery_limit < db_info(gdb)->count ? o->gallery_limit : 0,
			     .features = 1,
			     .sink = gallery_sink,
			     .sink_arg = &sink,
			     .progress = "gallery" };
	EvalResult res;
	if (eval_db(vm.eval, gdb, &eo, &res) != 0)
		goto out;
	eval_result_free(&res);
	for (int i = 0; i < nq; i++)
		nb->found[i] = knn_result(sink.knn, i, nb->nkey + (size_t)i * o->k, nb->ndist + (size_t)i * o->k);
	rc = 0;
out:
	knn_free(sink.knn);
	free(sink.ids);
	free(feats);
	free(probs);
	free(px);
	free(rows);
	viz_model_close(&vm);
	return rc;
}

/* Whether two paths name the same database folder. */
static int same_path(const char *a, const char *b)
{
	char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
	int same = ra && rb && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return same;
}

int viz_neighbours(const NeighboursOptions *o, const char *out)
{
	Db *qdb = db_open(o->query_db), *gdb = qdb ? db_open(o->gallery_db) : NULL;
	if (!gdb) {
		db_close(qdb);
		return -1;
	}
	Neighbours nb = { 0 };
	Pictures qp = { 0 }, gp = { 0 };
	int same = same_path(o->query_db, o->gallery_db), rc = -1;
	if (o->query_features)
		rc = search_files(o, qdb, gdb, same, &nb);
	else
		rc = search_model(o, qdb, gdb, same, &nb);
	/* a gallery of fewer images than -k (or only the queries themselves) would leave columns
	 * titled "5th nearest" empty under a title promising them */
	int cols = 0;
	for (int i = 0; rc == 0 && i < nb.nq; i++)
		cols = nb.found[i] > cols ? nb.found[i] : cols;
	if (rc == 0 && cols == 0) {
		warn_msg("%s: no gallery image to compare with: %s", o->gallery_db,
			 same ? "the queries are all it holds (a query is not its own neighbour)" : "it holds none");
		rc = -1;
	} else if (rc == 0 && cols < o->k) {
		warn_msg("%s: %d gallery image%s to compare with a query: %d neighbour%s shown, not %d", o->gallery_db, cols,
			 cols == 1 ? "" : "s", cols, cols == 1 ? "" : "s", o->k);
	}
	if (rc == 0) {
		rc = pictures_open(&qp, qdb, o->query_features) || pictures_open(&gp, gdb, o->gallery_features);
		char title[512];
		/* the same title either way: the files hold the same features (anet-eval --features) */
		char qn[256], gn[256];
		snprintf(title, sizeof title, "%d nearest of %s in %s by the distance of %s%s", cols,
			 viz_base_name(o->query_db, qn, sizeof qn), viz_base_name(o->gallery_db, gn, sizeof gn),
			 *nb.layer ? nb.layer : "the last hidden layer", *nb.layer ? "'s outputs" : "");
		if (rc == 0)
			rc = draw_neighbours(&nb, cols, &qp, &gp, o->size, title, out);
	}
	pictures_close(&gp);
	pictures_close(&qp);
	neighbours_free(&nb);
	db_close(gdb);
	db_close(qdb);
	return rc;
}
