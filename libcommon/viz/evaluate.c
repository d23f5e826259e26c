/* evaluate.c: a model on a device, ready to evaluate images as anet-eval does (the evaluation
 * library, eval.h), for the pictures that need the network's outputs: predictions and
 * neighbours. */
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

int viz_model_open(VizModel *vm, const char *path, const char *device, int threads, int crops, int images)
{
	memset(vm, 0, sizeof *vm);
	CtxOptions co = { .device = device, .threads = threads };
	if (!(vm->ctx = net_ctx_open(&co)))
		return -1;
	if (!(vm->model = model_load(vm->ctx, path, images * crops, NET_EVAL)) ||
	    !(vm->eval = evaluator_for_model(vm->model, crops))) {
		viz_model_close(vm);
		return -1;
	}
	return 0;
}

void viz_model_close(VizModel *vm)
{
	evaluator_free(vm->eval);
	model_free(vm->model);
	if (vm->ctx)
		ctx_close(vm->ctx);
	memset(vm, 0, sizeof *vm);
}

int viz_model_run(VizModel *vm, const uint8_t *pixels, int n, float *probs, float *features)
{
	size_t img = (size_t)vm->model->height * vm->model->width * vm->model->channels;
	int per = evaluator_images(vm->eval), classes = (int)vm->model->num_classes, dim = 0;
	evaluator_feature_layer(vm->eval, &dim);
	for (int first = 0; first < n; first += per) {
		int k = n - first < per ? n - first : per;
		if (evaluator_run(vm->eval, pixels + (size_t)first * img, k, probs + (size_t)first * classes,
				  features ? features + (size_t)first * dim : NULL) != 0)
			return -1;
	}
	return 0;
}

int viz_read_records(Db *db, const uint64_t *keys, int n, uint8_t *pixels, int32_t *labels)
{
	const DbInfo *in = db_info(db);
	size_t img = (size_t)in->height * in->width * in->channels;
	DbCursor *cur = db_cursor_new(db);
	ImageCodec *codec = codec_new();
	int rc = cur ? 0 : -1;
	for (int i = 0; i < n && rc == 0; i++) {
		RecordView r;
		char why[256];
		if ((rc = db_get(cur, keys[i], &r)) != 0)
			break;
		if ((rc = record_pixels(codec, &r, pixels + (size_t)i * img, why, sizeof why)) != 0)
			warn_msg("%s: key %llu: %s", db_path(db), (unsigned long long)keys[i], why);
		labels[i] = r.label;
	}
	codec_free(codec);
	db_cursor_free(cur);
	return rc;
}
