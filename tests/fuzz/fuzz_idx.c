/* fuzz_idx.c: feeds bytes as a pair of IDX files, plain or gzip, to idx_open and idx_read: [flags][u32 images length][images][labels]. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "libcommon/idx.h"
#include "libcommon/util.h"
#include "tests/fuzz/fuzzlib.h"

#define MAX_READS 64

/* Writes data to path, through gzip when asked (so that the fuzzer reaches the gzip path
 * with valid streams as well as with its own bytes). */
static void put(const char *path, const uint8_t *data, size_t len, int gzip)
{
	if (!gzip) {
		fuzz_write(path, data, len);
		return;
	}
	gzFile f = gzopen(path, "wb1");
	if (!f || (len && gzwrite(f, data, (unsigned)len) != (int)len) || gzclose(f) != Z_OK)
		fuzz_bug("harness: cannot write %s", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = { data, size };
	uint8_t flags = fuzz_byte(&in);
	uint32_t split = fuzz_u32(&in);
	if (split > in.len)
		split = (uint32_t)in.len;
	const char *images = fuzz_path("images.idx"), *labels = fuzz_path("labels.idx");
	put(images, in.p, split, flags & 1);
	put(labels, in.p + split, in.len - split, flags & 2);

	IdxReader r;
	fuzz_capture_begin();
	int rc = idx_open(&r, images, labels);
	const char *msgs = fuzz_capture_end();
	if (rc != 0) {
		if (!fuzz_names(msgs, images))
			fuzz_check_named(rc, msgs, labels, "idx_open"); /* one of the two files */
		return 0;
	}
	uint64_t bytes = (uint64_t)r.rows * r.cols * r.channels;
	if (!r.count || !bytes || bytes > (1u << 28))
		fuzz_bug("idx_open accepted %u images of %u x %u x %u", r.count, r.rows, r.cols, r.channels);
	uint8_t *pixels = malloc(bytes);
	fuzz_capture_begin();
	for (uint32_t i = 0; i < r.count && i < MAX_READS; i++) {
		int label;
		if (idx_read(&r, pixels, &label) != 0)
			fuzz_bug("image %u of a validated pair does not read", i);
		if (label < 0 || label > r.max_label)
			fuzz_bug("label %d above the largest, %d", label, r.max_label);
	}
	fuzz_capture_end();
	free(pixels);
	idx_close(&r);
	return 0;
}
