/* tensorfile.h: the one container of named tensors behind statistics, models, checkpoints, features.
 *
 * Layout (little-endian; man 5 anet-formats, TENSOR FILES):
 *   header, 32 bytes:
 *     0 u32 magic "ANTF"   4 u32 version (1)   8 u32 byte-order mark 0x01020304
 *    12 u32 kind           16 u32 entry count  20 u32 reserved (0)   24 u64 file size
 *   entries, one after another:
 *     u32 name length (1..255), name (ASCII, no NUL), u32 dtype, u32 ndim (0..8),
 *     ndim x u64 dims, then the data: product(dims) elements of dtype
 *   trailer: u32 CRC-32 (zlib's) of every byte between the header and the trailer.
 *
 * Readers check the magic, version, byte order, kind, every length against the file size,
 * and the checksum before handing out any tensor; each failure is a message naming the
 * file. Writers go through AtomicFile: the file appears under its name only when complete.
 * Large entries can be written in pieces (begin / append / end), so features for a whole
 * database never need to sit in memory at once.
 */
#ifndef ANET_TENSORFILE_H
#define ANET_TENSORFILE_H

#include <stdint.h>
#include <stdio.h>

#include "libcommon/util.h"

#define TENSORFILE_MAGIC 0x46544E41u /* "ANTF" */
#define TENSORFILE_VERSION 1
#define TENSORFILE_MAX_DIMS 8
#define TENSORFILE_MAX_NAME 255

enum { TF_STATS = 1, TF_MODEL = 2, TF_CHECKPOINT = 3, TF_FEATURES = 4 };
enum { DT_F32 = 1, DT_F64 = 2, DT_I32 = 3, DT_I64 = 4, DT_U8 = 5, DT_TEXT = 6 };

typedef struct {
	char name[TENSORFILE_MAX_NAME + 1];
	uint32_t dtype, ndim;
	uint64_t dims[TENSORFILE_MAX_DIMS];
	uint64_t count;  /* elements: product of dims (1 for ndim 0) */
	uint64_t offset; /* of the data in the file */
	uint64_t bytes;
} TensorEntry;

typedef struct {
	FILE *f;
	char *path;
	uint32_t kind;
	uint32_t count;
	TensorEntry *entries;
} TensorFile;

/* "statistics", "model", "checkpoint", "features". */
const char *tensorfile_kind_name(uint32_t kind);
/* Bytes per element of dtype (1 for text), 0 for an unknown one. */
size_t dtype_size(uint32_t dtype);
/* "f32", "f64", "i32", "i64", "u8", "text"; "?" for an unknown dtype. */
const char *tensorfile_dtype_name(uint32_t dtype);
/* A shape as messages write it, "96x3x11x11", or "scalar" for ndim 0, into buf. */
void tensorfile_format_shape(char *buf, size_t len, uint32_t ndim, const uint64_t *dims);

/* Opens and verifies a file (the whole checksum is checked here). expect_kind 0 accepts any
 * kind; otherwise another kind is refused, naming both ("m.anw: is a checkpoint, expected a
 * model"). Returns 0, or -1 after printing the reason. */
int tensorfile_open(TensorFile *tf, const char *path, uint32_t expect_kind);
void tensorfile_close(TensorFile *tf);
const TensorEntry *tensorfile_find(const TensorFile *tf, const char *name);

/* Reads tensor name into dst after checking its dtype and, when dims is not NULL, its shape
 * (ndim dims). -1 after printing "path: tensor NAME: shape 96x3x11x11, expected 96x3x11x12",
 * "... is missing", and so on. */
int tensorfile_read(TensorFile *tf, const char *name, uint32_t dtype, uint32_t ndim, const uint64_t *dims, void *dst);
/* The checks of tensorfile_read alone (the same messages), so that a reader allocates for a
 * tensor only once the file is known to hold it: a shape that comes from other entries (a
 * record size, a class count) is not bounded by the file's size until then. */
int tensorfile_check(TensorFile *tf, const char *name, uint32_t dtype, uint32_t ndim, const uint64_t *dims);
/* The same into fresh memory; *count receives the element count (may be NULL). */
void *tensorfile_read_alloc(TensorFile *tf, const char *name, uint32_t dtype, uint64_t *count);
/* A text entry as a NUL-terminated string (NULL after printing the reason). */
char *tensorfile_read_text(TensorFile *tf, const char *name);
/* A scalar i64 or f64 entry (ndim 0). */
int tensorfile_read_i64(TensorFile *tf, const char *name, int64_t *v);
int tensorfile_read_f64(TensorFile *tf, const char *name, double *v);
/* Reads elements [first, first + n) of a tensor (any shape, in storage order). */
int tensorfile_read_range(TensorFile *tf, const TensorEntry *e, uint64_t first, uint64_t n, void *dst);
/* Prints "path: MESSAGE" for a file whose contents a reader refuses; returns -1. */
int tensorfile_fail(const TensorFile *tf, const char *fmt, ...) ANET_PRINTF(2, 3);

typedef struct {
	AtomicFile af;
	uint32_t kind, count;
	uint64_t bytes;        /* written so far, header included */
	unsigned long crc;
	uint64_t pending;      /* data bytes still owed to the open entry */
	int failed, finished;
} TensorWriter;

int tensorwriter_open(TensorWriter *w, const char *path, uint32_t kind);
/* Whether tensorwriter_open(path) would succeed, as atomic_probe, and refuses a pipe or socket
 * (which takes no seek back to the header), for a writer whose file is written hours later.
 * -1 after printing why. */
int tensorwriter_probe(const char *path);
int tensorwriter_add(TensorWriter *w, const char *name, uint32_t dtype, uint32_t ndim, const uint64_t *dims,
		     const void *data);
int tensorwriter_add_text(TensorWriter *w, const char *name, const char *text);
int tensorwriter_add_i64(TensorWriter *w, const char *name, int64_t v);
int tensorwriter_add_f64(TensorWriter *w, const char *name, double v);
/* An entry written in pieces: exactly product(dims) * dtype_size bytes must be appended. */
int tensorwriter_begin(TensorWriter *w, const char *name, uint32_t dtype, uint32_t ndim, const uint64_t *dims);
int tensorwriter_append(TensorWriter *w, const void *data, size_t bytes);
/* Completes the header and trailer and flushes them, leaving the file under its temporary
 * name (w->af.tmp), where a caller can load it back before committing. -1 (and no file) if
 * anything failed on the way. */
int tensorwriter_finish(TensorWriter *w);
/* Completes the header and trailer (unless finished), fsyncs and renames into place. -1 (and no file) if
 * anything failed on the way. */
int tensorwriter_commit(TensorWriter *w);
void tensorwriter_abort(TensorWriter *w);

#endif
