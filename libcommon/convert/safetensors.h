/* safetensors.h: reading and writing safetensors files, the weight format PyTorch and Hugging Face share.
 *
 * Layout (https://github.com/huggingface/safetensors; man 5 anet-formats, SAFETENSORS):
 *   u64 N (little-endian), then N bytes of JSON, then the data:
 *     {"NAME": {"dtype": "F32", "shape": [96, 3, 11, 11], "data_offsets": [BEGIN, END]}, ...,
 *      "__metadata__": {"KEY": "VALUE", ...}}
 *   offsets count from the first byte after the JSON; each tensor's bytes are row-major,
 *   little-endian. The JSON is parsed by jansson.
 *
 * The reader checks what the reference implementation checks: the header fits the file and
 * is at most 100,000,000 bytes, every entry has a known dtype, a shape whose element count times the
 * dtype's size is END - BEGIN, and the entries tile the data exactly (no gap, no overlap,
 * nothing after the last one). Each refusal is one message naming the file, and the tensor
 * where there is one. Nothing is read into memory but the header until a tensor is asked for.
 *
 * The writer takes every entry's name, dtype and shape first (the header comes before the
 * data), then the data in order, in pieces of any size; it writes through AtomicFile, pads
 * the header with spaces to a multiple of 8 bytes as the reference writer does, and refuses
 * to commit unless every declared byte arrived.
 */
#ifndef ANET_SAFETENSORS_H
#define ANET_SAFETENSORS_H

#include <stdint.h>
#include <stdio.h>

#include "libcommon/util.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000u /* the reference implementation's limit */

typedef enum {
	ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
	ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_NDTYPES
} StDtype;

typedef struct {
	char *name;
	StDtype dtype;
	uint32_t ndim;
	uint64_t dims[ST_MAX_DIMS];
	uint64_t count;        /* elements: product of dims (1 for ndim 0) */
	uint64_t offset;       /* of the data in the file */
	uint64_t bytes;
} StEntry;

typedef struct {
	FILE *f;
	char *path;
	uint32_t count;
	StEntry *entries;      /* in the order of their data */
	uint32_t nmeta;
	char **meta_keys, **meta_values;
} SafeTensors;

/* "F32", "BF16", ...; NULL for a value outside the enum. */
const char *st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);
/* Whether read_float can convert the dtype: F32, F64, F16, BF16. */
int st_dtype_is_float(StDtype d);
/* Whether text can be a metadata value: valid UTF-8, as JSON strings must be. */
int st_text_ok(const char *text);

/* Opens and verifies a file. -1 after printing "PATH: reason". */
int safetensors_open(SafeTensors *st, const char *path);
void safetensors_close(SafeTensors *st);
const StEntry *safetensors_find(const SafeTensors *st, const char *name);
/* The metadata value of key, or NULL. */
const char *safetensors_meta(const SafeTensors *st, const char *key);

/* A tensor's elements as float (from F32, F64, F16 or BF16), refusing other dtypes and any
 * value that is not finite; dst holds e->count floats. -1 after printing the reason. */
int safetensors_read_float(SafeTensors *st, const StEntry *e, float *dst);
/* Bytes [first, first + n) of a tensor's data, as stored. */
int safetensors_read_bytes(SafeTensors *st, const StEntry *e, uint64_t first, size_t n, void *dst);
/* Prints "PATH: MESSAGE"; returns -1. */
int safetensors_fail(const SafeTensors *st, const char *fmt, ...) ANET_PRINTF(2, 3);

struct json_t;
typedef struct {
	AtomicFile af;
	struct json_t *header, *meta;
	uint64_t declared;     /* data bytes of the entries declared */
	uint64_t written;      /* data bytes appended so far */
	int started, failed;
} StWriter;

int stwriter_open(StWriter *w, const char *path);
/* Both are refused once data has been appended; names must be unique ("__metadata__" is
 * taken). */
int stwriter_meta(StWriter *w, const char *key, const char *value);
int stwriter_declare(StWriter *w, const char *name, StDtype dtype, uint32_t ndim, const uint64_t *dims);
/* The next bytes of the data, the entries' in the order they were declared. */
int stwriter_append(StWriter *w, const void *data, size_t bytes);
/* Checks that every declared byte was written, then fsyncs and renames into place. -1 (and no
 * file) otherwise. */
int stwriter_commit(StWriter *w);
void stwriter_abort(StWriter *w);

#endif
