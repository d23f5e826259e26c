/* convert.h: anet's tensor files to safetensors and back, and other tools' weights into anet models (anet-convert).
 *
 * export: every entry of a tensor file (statistics, model, checkpoint, features) becomes a
 * safetensors tensor of the same name, dtype and shape, except text entries (a model's spec
 * and class names), which become metadata under their own names. Three metadata keys make the
 * way back exact: "anet.kind" (the tensor file's kind), "anet.entries" (every entry's name in
 * the file's order, one a line) and "anet.version".
 *
 * import of such a file writes the tensor file back, entry for entry, with the same bytes
 * (tensors of F16 or BF16, as Python may leave them, are widened back to f32).
 *
 * import of weights from elsewhere (PyTorch's state_dict saved as safetensors, say) needs the
 * network (a spec whose parameters the file's tensors fill, by name, or through a map file of
 * "ANET_PARAMETER FILE_TENSOR" lines), and how the weights expect their input:
 *     x = (pixel - mean) / std        pixel, mean and std on the 0-255 scale, RGB order
 * anet's models subtract a mean image and multiply by one scale, so the per-channel 1/std is
 * folded into the first layer's weights (exact: a convolution is linear in its input, and
 * the zero padding of the normalised input is zero in both), and the mean becomes a flat
 * mean image of the record size. --bgr reverses the first layer's input channels for weights
 * trained on BGR input (Caffe's). The result is an ordinary model: anet-eval, anet-viz and
 * anet-train --init-from take it as they take one anet-train wrote.
 *
 * Every file written goes to a temporary name first and is loaded back as the programs will
 * load it before it takes its name, so a failed import leaves any older file in place.
 */
#ifndef ANET_CONVERT_H
#define ANET_CONVERT_H

#include <stdint.h>

typedef struct {
	const char *net;        /* "alexnet" or a spec file; NULL: the file must be anet's own */
	const char *classes;    /* class names, one a line; or */
	int num_classes;        /* a count without names */
	const char *map;        /* "ANET_PARAMETER FILE_TENSOR" lines; NULL: the same names */
	const char *stats;      /* a pcacolor statistics file: its mean image; or */
	int nmean, nstd;        /* values given (0: none; 1 or 3) */
	double mean[3], std[3]; /* on the 0-255 scale, RGB */
	int size;               /* the record size (imgprep -s); 0: 256, or the statistics' */
	int bgr;                /* the weights' first layer takes BGR */
	int quiet;
} ImportOptions;

/* Returns 0, or -1 after printing why (naming the file). */
int convert_export(const char *in, const char *out, int quiet);
int convert_import(const char *in, const char *out, const ImportOptions *o);

/* The torchvision normalisation (mean 0.485, 0.456, 0.406 and std 0.229, 0.224, 0.225 of
 * the 0-1 scale), on the 0-255 scale, for --torchvision. */
extern const double convert_torchvision_mean[3], convert_torchvision_std[3];

#endif
