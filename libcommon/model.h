/* model.h: self-contained model files and the checkpoints of anet-train, as anet-eval and anet-viz load them.
 *
 * A model (tensor file of kind TF_MODEL) holds everything needed to use a trained network
 * with no other file and no flag: the specification and weights (net.h's net_write), then
 * the preparation of its inputs, so that anet-eval prepares a JPEG exactly as imgprep and
 * anet-train did (man 5 anet-formats, MODELS AND CHECKPOINTS):
 *   record_height, record_width, record_channels  i64   the database's image size (imgprep -s)
 *   input_scale   f64   what the input was multiplied by after the mean was taken away
 *   stats.mean    f32 [H][W][C]   the training database's mean image (pcacolor), and its
 *   stats.mean_channel, stats.cov, stats.eigval, stats.eigvec, stats.images, stats.source
 *   class_names   text  the class names, one a line (absent when the database had none)
 *   trained_on    text  the training database
 *   mirrored      i64   1 if training mirrored half of its views, 0 if not (--no-flip);
 *                       written by anet-train since 0.1; absent: 1
 * A checkpoint (TF_CHECKPOINT) holds the same entries first, then the momentum and the
 * trainer's state (train.h); model_load accepts either, so a checkpoint can be evaluated.
 *
 * A model written by net_save alone (no preparation entries) still loads, with has_stats 0
 * and a record size of 0: enough to look at filters, not to evaluate images.
 */
#ifndef ANET_MODEL_H
#define ANET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "libcommon/net.h"
#include "libcommon/record.h"
#include "libcommon/spec.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"

typedef struct {
	Spec *spec;
	Net *net;
	int has_stats;
	Stats stats;                      /* mean image (record size) and PCA, from pcacolor */
	ClassTable classes;               /* names; count 0 if the database had none */
	uint32_t num_classes;
	uint32_t height, width, channels; /* the record (database) image size the model was trained on */
	float input_scale;                /* augment's scale during training */
	char *trained_on;                 /* the training database ("" if unknown) */
	int mirrored;                     /* trained on mirror images too (1 unless the file says 0) */
	char *path;
	uint32_t kind;                    /* TF_MODEL or TF_CHECKPOINT */
} Model;

/* Opens a model or a checkpoint and builds its network on ctx for batches of up to max_batch
 * (mode as net_create). NULL after printing why, naming the file. */
Model *model_load(Ctx *ctx, const char *path, int max_batch, NetMode mode);
void model_free(Model *m);

/* The name of class label, or "class N" when the model has no names; returns buf. */
const char *model_class_name(const Model *m, int label, char *buf, size_t len);

/* Writes a TF_MODEL with the network's weights and the preparation entries above. stats and
 * classes may be NULL (nothing stored for them). -1 after printing why; the file is then
 * not created (tensorwriter's temporary name is removed). */
int model_save(const char *path, Net *net, const Stats *stats, const ClassTable *classes, uint32_t h, uint32_t w,
	       uint32_t c, float input_scale);

/* The entries of a model, into an open writer (model_save, and anet-train's checkpoints,
 * which add theirs after these). trained_on may be NULL; mirrored as the entry above. */
int model_write(TensorWriter *tw, Net *net, const Stats *stats, const ClassTable *classes, uint32_t h,
		uint32_t w, uint32_t c, float input_scale, const char *trained_on, int64_t mirrored);

/* Reads the preparation entries of an open model or checkpoint into m (not spec, net or
 * path), checking them against spec (channels, crop size, class count). -1 after printing
 * "PATH: reason". */
int model_read_extras(TensorFile *tf, const Spec *spec, Model *m);

/* Whether the model can prepare images: it knows its record size and mean image. -1 after
 * printing "PATH: reason" (what). */
int model_need_preparation(const Model *m, const char *what);

#endif
