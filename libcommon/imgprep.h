/* imgprep.h: imgprep's run: images in, records (or a netpbm stream) out, in input order (imgprep(1)).
 *
 * N decode threads take images in input order from a ring of 4N slots; the main thread
 * hands out work, then writes the slots in order as they complete. A slow image holds back
 * the writer but never reorders the output, and no more than 4N images (their file bytes
 * and prepared payloads) are in memory at once, however long the input.
 */
#ifndef ANET_IMGPREP_H
#define ANET_IMGPREP_H

#include "libcommon/image.h"

typedef enum { OUT_RECORDS, OUT_PPM } OutFormat;

typedef struct {
	PrepOptions prep;
	int threads;              /* decode threads, >= 1 */
	OutFormat format;
	int encoding;             /* ENC_RAW or ENC_JPEG (records only) */
	int quality;              /* JPEG quality 1..100 */
	long long max_errors;     /* more skipped images than this fails the run; -1: no limit */
	/* the input: exactly one of a list, an IDX pair, or positional arguments (one folder
	 * tree, or image files) */
	const char *list, *root;
	const char *idx_images, *idx_labels;
	char *const *files;
	int nfiles;
	const char *classes;      /* names for list or IDX labels, one a line; may be NULL */
	const char *output;       /* NULL: standard output */
} ImgprepArgs;

/* Runs everything and returns the exit status: 0, or 1 when the input could not be read,
 * the output could not be written, nothing was written, or more than max_errors images
 * were skipped (the run still goes to the end). Messages are printed here. */
int imgprep_main(const ImgprepArgs *a);

#endif
