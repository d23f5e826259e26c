/* eval.h: evaluating a network: 1, 5 or 10 crops, top-1/top-5, per-class figures, confusion, features, image predictions.
 *
 * An Evaluator runs a network (made for evaluation, or a training net between steps) in
 * NET_EVAL mode on records prepared as in training: the view (the centre crop, or the
 * paper's ten: four corners and the centre, each mirrored; or those five unmirrored, for a
 * network trained without mirror images) is cut out of the record on the device by the
 * augment op, the mean image is taken away and the input scaled, exactly as anet-train did
 * minus the randomness. With several crops the softmax outputs of the views are averaged
 * (§4.1), and so are the features.
 *
 * The features of an image are the input of the network's last fully connected layer (after
 * its ReLU; dropout is off in eval mode): fc7's 4096 values for the paper's net, the
 * "last hidden layer" whose Euclidean neighbours the paper's Figure 4 shows; or any other
 * layer's outputs, flattened (evaluator_set_feature_layer: anet-eval --layer).
 *
 * Over a database, eval_db streams batches from the loader (loader.h), so a database of any
 * size needs only the ring's memory; a sink sees every batch's probabilities and features
 * (anet-eval --features writes them to a tensor file in pieces, anet-viz keeps them).
 */
#ifndef ANET_EVAL_H
#define ANET_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "libcommon/db.h"
#include "libcommon/image.h"
#include "libcommon/loader.h"
#include "libcommon/model.h"
#include "libcommon/net.h"

typedef struct Evaluator Evaluator;

/* Evaluation of net on records of h x w x c with the mean image mean (HWC, h x w x c floats,
 * on the host) and input scale scale, with crops views per image (1, 5 or 10; the net's batch
 * must hold at least that many). NULL after printing why. */
Evaluator *evaluator_new(Net *net, const float *mean, uint32_t h, uint32_t w, uint32_t c, float scale, int crops);
/* Whether crops is a view count evaluator_new takes (1, 5 or 10). */
int evaluator_crops_ok(int crops);
/* The same from a model's preparation entries (model_need_preparation must hold). */
Evaluator *evaluator_for_model(Model *m, int crops);
void evaluator_free(Evaluator *e);

/* An ensemble, as the paper's Table 2 averages five CNNs: member (another model's evaluator on
 * the same context, for the same records, classes, crops and batch; its own input size, mean
 * image and scale) runs on every image after e, and evaluator_run gives the mean of the models'
 * crop-averaged softmax outputs. Features stay those of e's own network. e owns member from
 * then on; -1 after printing why (member not taken). */
int evaluator_add_member(Evaluator *e, Evaluator *member);
/* The models an evaluator averages: 1 + its members. */
int evaluator_models(const Evaluator *e);

/* Images one evaluator_run takes at most: the net's batch / crops. */
int evaluator_images(const Evaluator *e);
int evaluator_crops(const Evaluator *e);
/* The feature layer's name and the length of a feature vector. */
const char *evaluator_feature_layer(const Evaluator *e, int *dim);
/* Features from the layer called name instead (any layer: its output flattened, C x H x W
 * values an image). -1 after printing why (spec_find_layer's message for an unknown name). */
int evaluator_set_feature_layer(Evaluator *e, const char *name);

/* n images (HWC uint8 on the host, h x w x c bytes each, n <= evaluator_images) through the
 * network: probs[n][classes] the softmax averaged over the crops (and over the models of an
 * ensemble); features (may be NULL) [n][dim] the feature layer averaged over the crops. -1 after
 * printing why. */
int evaluator_run(Evaluator *e, const uint8_t *pixels, int n, float *probs, float *features);

/* Rank of label among probs (0: the most probable), ties counted against the label; a NaN
 * probability of the label ranks past the top 5 and every class. */
int eval_rank(const float *probs, int classes, int label);

/* ---------------------------------------------------------------------------------------- */
/* a database */

typedef void (*EvalSink)(void *arg, const Batch *b, const float *probs, const float *features, int dim);

typedef struct {
	int threads;            /* decode threads */
	uint64_t first, count;  /* the records [first, first + count); count 0: all of them */
	int features;           /* compute the features for the sink */
	EvalSink sink;          /* may be NULL */
	void *sink_arg;
	const char *progress;   /* a progress line's label, or NULL for none */
	int per_class;          /* fill the per-class counts and the confusion matrix */
} EvalDbOptions;

typedef struct {
	uint64_t images;        /* evaluated (labelled ones count in the errors) */
	uint64_t labelled;
	uint64_t skipped;       /* unreadable records left out */
	uint64_t nonfinite;     /* labelled images whose probability of their label is NaN */
	double loss;            /* mean cross-entropy of the averaged probabilities */
	double top1, top5;      /* error rates over the labelled images */
	double seconds, wait;   /* wall time, and time spent waiting for the loader */
	uint32_t classes;
	uint64_t *count, *wrong1, *wrong5; /* per true class (per_class) */
	uint64_t *confusion;    /* [true][predicted] top-1 counts (per_class) */
} EvalResult;

/* Evaluates the records of db. -1 after printing why. */
int eval_db(Evaluator *e, Db *db, const EvalDbOptions *o, EvalResult *r);
/* Frees the per-class arrays (the figures stay). */
void eval_result_free(EvalResult *r);

/* Refuses a database whose records or classes do not fit the model, naming both
 * ("val.lmdb: 32x32x3 records, but m.anw was trained on 256x256x3 records"). */
int eval_check_db(const Model *m, Db *db);

/* The per-class table (class, name, count, top1, top5 error) and the confusion matrix
 * (a header row of names, then a row of counts per true class) as TSV files. */
int eval_write_per_class(const char *path, const Model *m, const EvalResult *r);
int eval_write_confusion(const char *path, const Model *m, const EvalResult *r);

/* ---------------------------------------------------------------------------------------- */
/* features files (man 5 anet-formats, FEATURES) */

typedef struct FeatureFile FeatureFile;

/* Starts a TF_FEATURES file for n rows of dim features of layer from model (a path, for the
 * record), of inputs from source (a database, or "images"). */
FeatureFile *features_open(const char *path, const Model *m, const char *layer, uint64_t n, int dim,
			   const char *source);
/* Appends rows: features [k][dim], their labels and index (database keys, or argument
 * positions), and their names (the record names or file paths; may be NULL). */
int features_append(FeatureFile *f, int k, const float *features, const int32_t *labels, const uint64_t *index,
		    const char *const *names);
/* Writes the rest and renames the file into place; -1 (no file) if a row is missing or
 * anything failed. f is freed either way. */
int features_commit(FeatureFile *f);
void features_abort(FeatureFile *f);
/* The sink for eval_db that writes every batch to a FeatureFile (arg). */
void features_sink(void *arg, const Batch *b, const float *probs, const float *features, int dim);

/* ---------------------------------------------------------------------------------------- */
/* images */

/* Prepares an image file as imgprep does for the model's records (image_prepare_file with
 * its record size and channels; turned upright by its EXIF orientation when exif_orientation
 * is set, as imgprep --orientation exif) into dst (height x width x channels bytes). -1 after
 * printing "PATH: reason". */
int eval_prepare_image(const Model *m, ImageCodec *c, const char *path, int exif_orientation, uint8_t *dst);

#endif
