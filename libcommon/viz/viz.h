/* viz.h: anet-viz's pictures: first-layer filters (the paper's Figure 3), contact sheets of a
 * database, nearest neighbours by last-hidden-layer distance and top-5 predictions (Figure 4),
 * the feature maps of one image, training curves and the layers' health, the mean image; and
 * the table of what a tensor file holds.
 *
 * Everything is drawn with cairo (pictures scaled by its filters, text through fontconfig)
 * on a Canvas and written as a PNG through libpng (png_write.h), atomically. This library is
 * linked into anet-viz alone (the Makefile's anet-viz block), so that no other program needs
 * cairo. Functions print "what: reason" (naming the file) and return -1 on failure; nothing
 * here exits except the x-allocators.
 */
#ifndef ANET_VIZ_H
#define ANET_VIZ_H

#include <cairo.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kernels/kernels.h"
#include "libcommon/db.h"
#include "libcommon/eval.h"
#include "libcommon/model.h"
#include "libcommon/spec.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"

/* ---------------------------------------------------------------------------------------- */
/* canvas.c: the drawing surface */

/* cairo's image surfaces are limited to 32767 pixels a side. */
#define VIZ_MAX_SIDE 32767
#define VIZ_BACKGROUND 0xF2F2F2u /* a neutral light grey */
#define VIZ_INK 0x202020u
#define VIZ_RIGHT 0x1A9850u      /* a neighbour of the query's class, a correct guess */
#define VIZ_WRONG 0xD73027u      /* another class; the paper's red bar of the true label */
#define VIZ_QUERY 0x2C5AA0u

typedef struct {
	double r, g, b; /* 0..1 */
} Rgb;

Rgb rgb_hex(uint32_t hex);

typedef struct {
	cairo_surface_t *surface;
	cairo_t *cr;
	int width, height;
} Canvas;

/* A width x height picture filled with background; -1 after printing why (too large). */
int canvas_init(Canvas *c, int width, int height, Rgb background);
void canvas_free(Canvas *c);
void canvas_fill(Canvas *c, double x, double y, double w, double h, Rgb color);
/* A frame of line width around (outside) the box x, y, w, h. */
void canvas_frame(Canvas *c, double x, double y, double w, double h, double line, Rgb color);
/* HWC uint8 pixels (1 or 3 channels, pw x ph) into the box x, y, w, h: nearest neighbour
 * when enlarging (each pixel a sharp square), an averaging filter when reducing. */
int canvas_pixels(Canvas *c, const uint8_t *px, int pw, int ph, int channels, double x, double y, double w,
		  double h);

enum { ALIGN_LEFT, ALIGN_CENTRE, ALIGN_RIGHT };

typedef struct {
	double size;      /* pixels */
	int bold;
	int align;        /* of x: the text's left end, centre or right end */
	double max_width; /* longer text is cut and ends with "..."; 0: no limit */
	Rgb color;
} TextStyle;

/* Text with its baseline at y; returns the width drawn. */
double canvas_text(Canvas *c, double x, double y, const TextStyle *st, const char *text);
double canvas_text_width(Canvas *c, double size, int bold, const char *text);
/* Writes the picture as an RGB PNG (atomically). */
int canvas_write_png(Canvas *c, const char *path);
/* Frees cairo's and fontconfig's caches; call once at the end, after every canvas is freed. */
void viz_shutdown(void);
/* The last part of a path, for titles ("val.lmdb" of "/data/run/val.lmdb/"), into buf. */
const char *viz_base_name(const char *path, char *buf, size_t len);

/* ---------------------------------------------------------------------------------------- */
/* filters.c: the first learned layer's kernels (Figure 3) */

typedef struct {
	char layer[SPEC_MAX_NAME]; /* "conv1" */
	int count;                 /* kernels (a conv's output channels, an fc's outputs) */
	int channels, height, width; /* of one kernel */
	int groups;                /* how the next learned layer groups these maps (conv2: 2) */
	float *weights;            /* [count][channels][height][width] */
} FilterBank;

/* The first learned layer of a model or checkpoint, read from the file (no device). */
int filter_bank_load(const char *path, FilterBank *fb);
void filter_bank_free(FilterBank *fb);

typedef enum { NORM_KERNEL, NORM_GLOBAL } FilterNorm;

typedef struct {
	FilterNorm norm;
	int scale;   /* enlargement; 0: about 56 pixels a kernel */
	int groups;  /* blocks drawn apart; 0: the bank's */
	int columns; /* kernels a row in a block; 0: 16 (the paper's), 8 for up to 24 a block */
	int caption; /* a line naming the layer under the grid */
} FilterStyle;

/* Where things go (pixels); filters_kernel_origin gives a kernel's top-left corner. */
typedef struct {
	int groups, per_group, columns, rows;
	int scale, tiles, tile_w, tile_h, cell_w, cell_h;
	int gap, block_gap, margin, block_h, caption_h;
	int width, height;
} FilterLayout;

int filters_layout(const FilterBank *fb, const FilterStyle *st, FilterLayout *lay);
void filters_kernel_origin(const FilterLayout *lay, int k, int *x, int *y);
int filters_draw(const FilterBank *fb, const FilterStyle *st, const char *out);

/* ---------------------------------------------------------------------------------------- */
/* records.c: a contact sheet of a database */

typedef struct {
	const char *db;
	uint64_t start;   /* the first record shown (not with random) */
	int count;        /* records shown */
	int random;       /* a random sample of count records instead, drawn with seed */
	uint64_t seed;
	int columns;      /* 0: about square */
	int size;         /* pixels a side per image; 0: the records' size, small ones enlarged */
} RecordsOptions;

int viz_records(const RecordsOptions *o, const char *out);

/* n distinct indices of [0, count), uniform, sorted, the same for a seed (n <= count). */
void viz_sample(uint64_t count, uint64_t n, uint64_t seed, uint64_t *out);
/* The low bits of anet-viz's RNG_DB stream (records --random, neighbours' queries). */
#define VIZ_RNG_SAMPLE 0x56495Aull /* "VIZ" */
/* The side an image of side pixels is shown at: want if set; else 96..160 as is, larger
 * halved to 128, smaller enlarged by a whole factor to at least 96. */
int viz_cell_side(int side, int want);

/* A label's name from a database's class table: the name, "label N", or "(no label)". */
const char *db_label_name(const DbInfo *info, int32_t label, char *buf, size_t len);

/* ---------------------------------------------------------------------------------------- */
/* tsv.c: anet-train's TSV logs (--log, --health), their columns found by name */

typedef struct {
	const char *path;
	int line;
} TsvWhere;

typedef struct {
	const char *const *columns;   /* the names looked up in the header */
	const int *required;          /* per column: a header without it is refused */
	int ncolumns;                 /* at most 64 */
	const char *what;             /* "an anet-train log", for messages */
	const char *columns_hint;     /* "step, epoch, kind, ...": what the header should name */
} TsvFormat;

/* What tsv_read calls for each row: field[c] is the row's value of the format's column c, NULL
 * where the header has no such column; 0, or -1 after printing why (tsv_bad). */
typedef int (*TsvRow)(void *ctx, const TsvWhere *w, const char *const *field);

/* Reads a log, calling row for every row after the header; -1 after printing "LOG:LINE: reason"
 * (or "LOG: reason": unreadable, empty, no rows after the header). */
int tsv_read(const char *path, const TsvFormat *fmt, TsvRow row, void *ctx);
/* Prints "LOG:LINE: message" and returns -1. */
int tsv_bad(const TsvWhere *w, const char *fmt, ...) ANET_PRINTF(2, 3);
/* A missing value: "", "-", "nan" or "inf" (a gap in a plot). */
int tsv_missing(const char *s);
/* A number in lo..hi into v, NAN when missing; else -1 after a message naming the column. */
int tsv_number(const TsvWhere *w, const char *name, const char *s, double lo, double hi, double *v);

/* ---------------------------------------------------------------------------------------- */
/* plot.c: line plots in panels, drawn by gnuplot or by cairo (curves, health) */

typedef enum { PLOT_AUTO, PLOT_GNUPLOT, PLOT_CAIRO } Plotter;
int plotter_parse(const char *s, Plotter *p);

/* The options of a plotting command. */
typedef struct {
	Plotter plotter;
	int x_epoch;      /* against the epoch, else the step */
	int width, height;
} PlotOptions;

/* Which points of a series get a dot: none, every one (validation's few), or those a line
 * does not reach (no usable point before or after: the single report of a short run). */
typedef enum { MARK_NONE, MARK_ALL, MARK_LONE } PlotMarks;

typedef struct {
	const char *name;            /* in the legend */
	uint32_t color;              /* 0xRRGGBB */
	PlotMarks marks;
	size_t count, cap;
	double *x, *y;               /* a point with x or y not finite (y <= 0 on a log axis): a gap */
} PlotSeries;

typedef struct {
	const char *title;
	int log_y;                   /* whole decades */
	int nonneg;                  /* values of 0 or more: a linear axis starts at 0 at the lowest */
	double ylo, yhi;             /* a fixed linear range when ylo < yhi (drawn with a margin) */
	const char *ref_label;       /* a dashed line at ref_y, labelled; NULL: none */
	double ref_y;
	int nseries;
	PlotSeries *series;
} PlotPanel;

typedef struct {
	const char *title, *xlabel;
	int rows, columns;           /* the panels' grid, filled row by row */
	int legend_outside;          /* each panel's legend right of it, else inside at its top right */
	int width, height;
	int npanels;
	PlotPanel *panels;           /* the caller's; plot_figure_free frees their series */
} PlotFigure;

/* A new series of p (its name is not copied). */
PlotSeries *plot_panel_series(PlotPanel *p, const char *name, uint32_t color, PlotMarks marks);
void plot_series_add(PlotSeries *s, double x, double y);
void plot_figure_free(PlotFigure *f);
/* Draws fig into out: gnuplot, cairo, or auto: gnuplot when on the PATH, falling back to cairo
 * (saying so) if it fails. -1 after printing why. */
int plot_draw(const PlotFigure *fig, Plotter plotter, const char *out);

/* ---------------------------------------------------------------------------------------- */
/* trainlog.c, curves.c: training curves from anet-train --log */

typedef struct {
	int64_t step;
	int val;          /* a validation row (kind val), else a training one */
	double epoch, loss, top1, top5, lr, img_per_s, data_wait, elapsed; /* NAN where missing */
} TrainLogRow;

typedef struct {
	TrainLogRow *rows;
	size_t count;
} TrainLog;

/* Reads a log, checking every row; -1 after printing "LOG:LINE: reason". */
int trainlog_load(const char *path, TrainLog *log);
void trainlog_free(TrainLog *log);

typedef enum { LOG_STEP, LOG_EPOCH, LOG_LOSS, LOG_TOP1, LOG_TOP5, LOG_LR } TrainLogField;
double trainlog_value(const TrainLogRow *r, TrainLogField f);

typedef PlotOptions CurvesOptions;

/* Four panels (loss, top-1, top-5, learning rate) of log into out; name titles it. */
int viz_curves(const TrainLog *log, const CurvesOptions *o, const char *name, const char *out);

/* ---------------------------------------------------------------------------------------- */
/* healthlog.c, healthplot.c: the layers' health from anet-train --health */

#define HEALTH_MAX_LAYERS 256

typedef struct {
	int64_t step;
	int layer;        /* index in HealthLog.layers */
	/* NAN where missing; units, dead and zero_share only for a layer a ReLU follows */
	double epoch, weight_abs, update_abs, update_ratio, bias_mean, units, dead, zero_share;
} HealthLogRow;

typedef struct {
	HealthLogRow *rows;
	size_t count;
	char (*layers)[SPEC_MAX_NAME]; /* the layers' names, in the order they first come (the network's) */
	int nlayers;
} HealthLog;

/* Reads a health log, checking every row; -1 after printing "LOG:LINE: reason". */
int healthlog_load(const char *path, HealthLog *log);
void healthlog_free(HealthLog *log);

/* Three panels (update/weight ratio with the 1e-3 rule of thumb, mean |weight|, the share of
 * dead units), a line per layer, into out; name titles it. */
int viz_health(const HealthLog *log, const PlotOptions *o, const char *name, const char *out);

/* ---------------------------------------------------------------------------------------- */
/* mean.c: the mean image */

/* The statistics of a pcacolor file, or those a model or checkpoint carries. */
int viz_stats_load(const char *path, Stats *s);
/* The mean as it is and stretched to its range, with its numbers; scale 0: about 224 pixels. */
int viz_mean(const Stats *s, const char *name, int scale, const char *out);

/* ---------------------------------------------------------------------------------------- */
/* knn.c: nearest neighbours by Euclidean distance, the gallery in blocks */

typedef struct Knn Knn;

/* nq query vectors of dim floats (copied); k neighbours each. */
Knn *knn_new(const float *queries, int nq, int dim, int k);
void knn_free(Knn *s);
/* Gallery id that query must skip (the query itself, when the gallery is the query's database). */
void knn_exclude(Knn *s, int query, int64_t id);
/* A block of n gallery vectors (n x dim) with their ids. */
void knn_add(Knn *s, const float *gallery, int n, const int64_t *ids);
/* Query's neighbours so far, nearest first: ids and distances (not squared); returns how many
 * (fewer than k while the gallery is smaller). */
int knn_result(const Knn *s, int query, int64_t *ids, float *dist);

/* ---------------------------------------------------------------------------------------- */
/* evaluate.c: a model on a device, evaluating as anet-eval does (eval.h) */

typedef struct {
	Ctx *ctx;
	Model *model;
	Evaluator *eval;
} VizModel;

/* Opens the device (device NULL: $ANET_DEVICE, else auto; threads 0: every processor) and the
 * model for runs of images images of crops crops each; -1 after printing why. */
int viz_model_open(VizModel *vm, const char *path, const char *device, int threads, int crops, int images);
void viz_model_close(VizModel *vm);
/* n record-sized images (any n) through the network: probs [n][classes], features [n][dim]
 * (may be NULL). */
int viz_model_run(VizModel *vm, const uint8_t *pixels, int n, float *probs, float *features);
/* The pixels and labels of records keys[0..n) of db, decoded as training decodes them. */
int viz_read_records(Db *db, const uint64_t *keys, int n, uint8_t *pixels, int32_t *labels);

/* ---------------------------------------------------------------------------------------- */
/* predictions.c: the paper's Figure 4 (left) */

typedef struct {
	const char *model;
	const char *const *images;     /* image files ... */
	int exif_orientation;          /* ... turned upright by their EXIF tags (imgprep --orientation) */
	int nimages;
	const char *const *labels;     /* ... the true class of the first nlabels (name or number) */
	int nlabels;
	const char *db;                /* ... or records of a database */
	int count;
	uint64_t start;
	int random;
	uint64_t seed;
	int crops;                     /* 1 or 10 */
	int columns;                   /* 0: up to 4 */
	int size;                      /* pixels a side per image; 0: 160, small ones enlarged */
	const char *device;
	int threads;
} PredictionsOptions;

int viz_predictions(const PredictionsOptions *o, const char *out);

/* ---------------------------------------------------------------------------------------- */
/* neighbours.c: the paper's Figure 4 (right) */

typedef struct {
	const char *model;             /* features computed by the model ... */
	const char *layer;             /* ... of this layer (NULL: the last hidden one) */
	const char *query_features;    /* ... or read from anet-eval --features files (both) */
	const char *gallery_features;
	const char *query_db, *gallery_db; /* the pictures (and, with a model, the images) */
	int k;                         /* neighbours per query */
	int queries;                   /* query images */
	uint64_t start;                /* the first query (a key, or a row of the features file) */
	int random;                    /* a random sample of queries instead, drawn with seed */
	uint64_t seed;
	uint64_t gallery_limit;        /* search only the first N gallery rows; 0: all */
	int size;                      /* pixels a side per image; 0 as records */
	const char *device;            /* with a model: auto, cpu, cuda (NULL: $ANET_DEVICE) */
	int threads;                   /* CPU and decode threads; 0: every processor */
} NeighboursOptions;

/* 0, -1 after printing why, or VIZ_USAGE (a --layer the model lacks). */
int viz_neighbours(const NeighboursOptions *o, const char *out);

/* ---------------------------------------------------------------------------------------- */
/* acts.c: the feature maps of one image, layer by layer */

/* What acts_compute returns, having printed why, for a layer the command line names that the
 * model cannot show (no such layer, or one without maps): a usage error. */
#define VIZ_USAGE (-2) /* also neighbours' for a --layer the model lacks */

typedef struct {
	const char *model;
	const char *image;            /* an image file ... */
	int exif_orientation;         /* ... turned upright by its EXIF tag (imgprep --orientation) */
	const char *db;               /* ... or the record key of a database */
	uint64_t key;
	const char *const *layers;    /* layer names; nlayers 0: every convolution */
	int nlayers;
	const char *device;           /* auto, cpu, cuda (NULL: $ANET_DEVICE) */
	int threads;                  /* 0: every processor */
} ActsOptions;

typedef struct {
	char name[SPEC_MAX_NAME];
	char what[64];                /* "5x5/2 convolution, after ReLU" */
	int maps, height, width;
	int groups;                   /* blocks drawn apart: the two GPUs of the paper's §3.2 */
	float *values;                /* [maps][height][width], of the first (only) image */
} ActsLayer;

typedef struct {
	char *model;                  /* the model's path */
	char *source;                 /* "dog.jpg", "val.lmdb:12" */
	char top[128];                /* the most probable class ... */
	float top_prob;               /* ... and its probability */
	char label[128];              /* a record's true class; "" when unknown */
	int record_h, record_w;
	int crop_h, crop_w, channels;
	uint8_t *crop;                /* the window the network saw, HWC, before the mean went away */
	int nlayers;
	ActsLayer *layers;
} Acts;

/* One forward pass (eval mode, the centre crop) of an image prepared as anet-eval prepares it,
 * or of a record; the outputs of the chosen layers brought back to the host. 0, -1 after
 * printing why, or VIZ_USAGE. */
int acts_compute(const ActsOptions *o, Acts *a);
void acts_free(Acts *a);

typedef enum { ACTS_PER_MAP, ACTS_PER_LAYER } ActsNorm;

typedef struct {
	ActsNorm norm;                /* each map to its own range, or one range a layer */
	int columns;                  /* maps a row of a block; 0: 16 */
	int scale;                    /* enlargement of every map; 0: each layer's own, about 48
				       * pixels a map */
} ActsStyle;

/* Where one layer's maps go (pixels): its caption, then groups blocks of rows x columns tiles. */
typedef struct {
	int scale, tile_w, tile_h;
	int groups, per_group, columns, rows;
	int caption_y;                /* the caption's baseline */
	int y;                        /* the top of the first block */
	int block_h, block_gap;
} ActsLayerLayout;

typedef struct {
	int margin, gap;
	int crop_x, crop_y, crop_scale;
	int nlayers;
	ActsLayerLayout *layers;
	int width, height;
} ActsLayout;

/* -1 after printing why (a picture over VIZ_MAX_SIDE). */
int acts_layout(const Acts *a, const ActsStyle *st, ActsLayout *lay);
void acts_layout_free(ActsLayout *lay);
/* The top-left corner of map of layer. */
void acts_map_origin(const ActsLayout *lay, int layer, int map, int *x, int *y);
int acts_draw(const Acts *a, const ActsStyle *st, const char *out);

/* ---------------------------------------------------------------------------------------- */
/* info.c: what a tensor file holds */

typedef struct {
	uint64_t finite, nonfinite;   /* values counted; NaN or infinite ones */
	double min, max, mean, std;   /* of the finite values (std: the population's); NAN if none */
} TensorSummary;

/* The figures of a numeric entry, read chunk elements at a time (0: the default, 1M). */
int tensor_summary(TensorFile *tf, const TensorEntry *e, size_t chunk, TensorSummary *s);
/* The file's kind, size and entries as a table on out; a model's or checkpoint's network and
 * records above it. -1 after printing why on stderr (the file could not be read, or an entry). */
int viz_info(const char *path, FILE *out);

#endif
