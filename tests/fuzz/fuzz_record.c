/* fuzz_record.c: feeds bytes to record_parse (an LMDB value) with record_pixels, and as a record stream to record_read (imgprep's output, mkdb's input). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/image.h"
#include "libcommon/record.h"
#include "libcommon/util.h"
#include "tests/fuzz/fuzzlib.h"

#define MAX_PIXEL_BYTES (1u << 24) /* what a harness allocates for record_pixels */

static ImageCodec *codec;

static void one_value(const uint8_t *data, size_t size)
{
	RecordView r;
	const char *why = NULL;
	int rc = record_parse(data, size, &r, &why);
	fuzz_check_why(rc, why, "record_parse");
	if (rc != 0)
		return;
	if ((uint64_t)RECORD_HEADER_SIZE + r.name_len + r.payload_len != size || r.name != (const char *)data + 32)
		fuzz_bug("record_parse accepted lengths that do not add up");
	/* db_get's callers decode the pixels into a buffer of the database's shape */
	size_t bytes = (size_t)r.height * r.width * r.channels;
	if (bytes > MAX_PIXEL_BYTES)
		return;
	uint8_t *dst = malloc(bytes);
	char whybuf[256] = "";
	rc = record_pixels(codec, &r, dst, whybuf, sizeof whybuf);
	fuzz_check_why(rc, whybuf, "record_pixels");
	free(dst);
}

static void one_stream(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return;
	RecordReader rd;
	record_reader_init(&rd, f, "stream.rec");
	fuzz_capture_begin();
	int kind;
	RecordView r;
	ClassTable t = { 0, NULL };
	while ((kind = record_read(&rd, &r, &t)) > 0) {
		if (kind == FRAME_CLASSES) {
			for (uint32_t i = 0; i < t.count; i++)
				if (!t.names[i][0] || strchr(t.names[i], '\n'))
					fuzz_bug("class table: name %u is empty or holds a newline", i);
			classes_free(&t);
		} else if (record_header_problem(&r) != NULL) {
			fuzz_bug("record_read handed out a record with a bad header");
		}
	}
	fuzz_check_named(kind == FRAME_ERROR ? -1 : 0, fuzz_capture_end(), "stream.rec", "record_read");
	record_reader_free(&rd);
	fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!codec)
		codec = codec_new();
	one_value(data, size);
	if (size)
		one_stream(data, size);
	return 0;
}
