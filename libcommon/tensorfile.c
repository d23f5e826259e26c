/* tensorfile.c: writing and verifying anet's tensor container (see tensorfile.h). */
#include "libcommon/tensorfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define HEADER_SIZE 32
#define BOM 0x01020304u

const char *tensorfile_kind_name(uint32_t kind)
{
	switch (kind) {
	case TF_STATS: return "statistics";
	case TF_MODEL: return "model";
	case TF_CHECKPOINT: return "checkpoint";
	case TF_FEATURES: return "features";
	}
	return "unknown kind";
}

size_t dtype_size(uint32_t dtype)
{
	switch (dtype) {
	case DT_F32: case DT_I32: return 4;
	case DT_F64: case DT_I64: return 8;
	case DT_U8: case DT_TEXT: return 1;
	}
	return 0;
}

const char *tensorfile_dtype_name(uint32_t dtype)
{
	static const char *names[] = { "?", "f32", "f64", "i32", "i64", "u8", "text" };
	return dtype < ARRAY_LEN(names) ? names[dtype] : "?";
}

void tensorfile_format_shape(char *buf, size_t len, uint32_t ndim, const uint64_t *dims)
{
	size_t n = 0;
	buf[0] = '\0';
	if (ndim == 0)
		snprintf(buf, len, "scalar");
	for (uint32_t i = 0; i < ndim && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, i ? "x%" PRIu64 : "%" PRIu64, dims[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* reading */

int tensorfile_fail(const TensorFile *tf, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warn_msg("%s: %s", tf->path, msg);
	return -1;
}

/* Reads n bytes at the current position, adding them to the checksum. */
static int take(TensorFile *tf, void *buf, size_t n, uLong *crc, const char *what)
{
	if (read_exact(tf->f, buf, n, tf->path, what) != 0)
		return -1;
	*crc = crc32(*crc, buf, (uInt)n);
	return 0;
}

/* Checksums n bytes of data without keeping them. */
static int skip(TensorFile *tf, uint64_t n, uLong *crc, const char *what)
{
	unsigned char buf[1 << 16];
	while (n) {
		size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
		if (take(tf, buf, k, crc, what) != 0)
			return -1;
		n -= k;
	}
	return 0;
}

static int parse_entry(TensorFile *tf, TensorEntry *e, uint64_t size, uLong *crc, uint32_t index)
{
	uint8_t b[8];
	char what[64];
	snprintf(what, sizeof what, "entry %u", index);
	if (take(tf, b, 4, crc, what))
		return -1;
	uint32_t nlen = get_u32(b);
	if (nlen == 0 || nlen > TENSORFILE_MAX_NAME)
		return tensorfile_fail(tf, "entry %u: name length %u out of range (corrupt file?)", index, nlen);
	if (take(tf, e->name, nlen, crc, what))
		return -1;
	e->name[nlen] = '\0';
	if (strlen(e->name) != nlen)
		return tensorfile_fail(tf, "entry %u: name holds a NUL byte", index);
	if (take(tf, b, 8, crc, what))
		return -1;
	e->dtype = get_u32(b);
	e->ndim = get_u32(b + 4);
	if (!dtype_size(e->dtype))
		return tensorfile_fail(tf, "tensor %s: unknown dtype %u", e->name, e->dtype);
	if (e->ndim > TENSORFILE_MAX_DIMS)
		return tensorfile_fail(tf, "tensor %s: %u dimensions (at most %d)", e->name, e->ndim, TENSORFILE_MAX_DIMS);
	e->count = 1;
	for (uint32_t d = 0; d < e->ndim; d++) {
		if (take(tf, b, 8, crc, what))
			return -1;
		e->dims[d] = get_u64(b);
		if (e->dims[d] && e->count > UINT64_MAX / e->dims[d])
			return tensorfile_fail(tf, "tensor %s: size overflows", e->name);
		e->count *= e->dims[d];
	}
	e->offset = (uint64_t)ftello(tf->f);
	/* (the entry's own header may have run into the checksum: size - offset would wrap) */
	if (e->offset > size)
		return tensorfile_fail(tf, "entry %u: its header runs past the end of the entries (corrupt file?)", index);
	if (e->count > (size - e->offset) / dtype_size(e->dtype))
		return tensorfile_fail(tf, "tensor %s: %s %s needs %" PRIu64 " bytes, past the end of the file (truncated?)", e->name,
			   tensorfile_dtype_name(e->dtype), (tensorfile_format_shape(what, sizeof what, e->ndim, e->dims), what),
			   e->count * dtype_size(e->dtype));
	e->bytes = e->count * dtype_size(e->dtype);
	return skip(tf, e->bytes, crc, e->name);
}

int tensorfile_open(TensorFile *tf, const char *path, uint32_t expect_kind)
{
	memset(tf, 0, sizeof *tf);
	tf->path = xstrdup(path);
	tf->f = fopen(path, "rb");
	if (!tf->f) {
		warn_errno("%s", path);
		goto fail;
	}
	int64_t size = file_size(tf->f);
	if (size < 0) {
		tensorfile_fail(tf, "not a regular file");
		goto fail;
	}
	uint8_t h[HEADER_SIZE];
	if (size < HEADER_SIZE + 4 || fread(h, 1, HEADER_SIZE, tf->f) != HEADER_SIZE) {
		tensorfile_fail(tf, "too short to be an anet tensor file (%" PRId64 " bytes)", size);
		goto fail;
	}
	if (get_u32(h) != TENSORFILE_MAGIC) {
		tensorfile_fail(tf, "not an anet tensor file (bad magic)");
		/* a header length, then its JSON: what anet-convert export writes, handed to a tool
		 * that reads the anet file it came from */
		if (get_u64(h) < (uint64_t)size && h[8] == '{')
			warn_msg("HINT: %s looks like a safetensors file: 'anet-convert import %s -o FILE' makes the anet "
				 "file of it",
				 path, path);
		goto fail;
	}
	if (get_u32(h + 4) != TENSORFILE_VERSION) {
		tensorfile_fail(tf, "tensor file version %u, this anet reads version %d", get_u32(h + 4), TENSORFILE_VERSION);
		goto fail;
	}
	if (get_u32(h + 8) != BOM) {
		tensorfile_fail(tf, "byte-order mark 0x%08x is not 0x%08x (corrupt file?)", get_u32(h + 8), BOM);
		goto fail;
	}
	tf->kind = get_u32(h + 12);
	tf->count = get_u32(h + 16);
	uint64_t declared = get_u64(h + 24);
	if (declared != (uint64_t)size) {
		tensorfile_fail(tf, "file is %" PRId64 " bytes, its header says %" PRIu64 " (%s)", size, declared,
		    (uint64_t)size < declared ? "truncated" : "trailing garbage");
		goto fail;
	}
	if (tf->kind < TF_STATS || tf->kind > TF_FEATURES) {
		tensorfile_fail(tf, "unknown tensor file kind %u (corrupt file?)", tf->kind);
		goto fail;
	}
	if (expect_kind && tf->kind != expect_kind) {
		tensorfile_fail(tf, "is a %s file, expected a %s file", tensorfile_kind_name(tf->kind),
		    tensorfile_kind_name(expect_kind));
		goto fail;
	}
	if (tf->count > 1u << 20) {
		tensorfile_fail(tf, "entry count %u out of range (corrupt file?)", tf->count);
		goto fail;
	}
	tf->entries = xcalloc(tf->count ? tf->count : 1, sizeof *tf->entries);
	uLong crc = crc32(0, NULL, 0);
	for (uint32_t i = 0; i < tf->count; i++)
		if (parse_entry(tf, &tf->entries[i], (uint64_t)size - 4, &crc, i) != 0)
			goto fail;
	if ((uint64_t)ftello(tf->f) != (uint64_t)size - 4) {
		tensorfile_fail(tf, "%" PRIu64 " bytes between the last tensor and the checksum (corrupt file?)",
		    (uint64_t)size - 4 - (uint64_t)ftello(tf->f));
		goto fail;
	}
	uint8_t t[4];
	if (read_exact(tf->f, t, 4, path, "checksum") != 0)
		goto fail;
	if (get_u32(t) != (uint32_t)crc) {
		tensorfile_fail(tf, "checksum mismatch (stored %08x, computed %08x): the file is corrupt", get_u32(t),
		    (uint32_t)crc);
		goto fail;
	}
	return 0;
fail:
	tensorfile_close(tf);
	return -1;
}

void tensorfile_close(TensorFile *tf)
{
	if (tf->f)
		fclose(tf->f);
	free(tf->path);
	free(tf->entries);
	memset(tf, 0, sizeof *tf);
}

const TensorEntry *tensorfile_find(const TensorFile *tf, const char *name)
{
	for (uint32_t i = 0; i < tf->count; i++)
		if (strcmp(tf->entries[i].name, name) == 0)
			return &tf->entries[i];
	return NULL;
}

static const TensorEntry *need(TensorFile *tf, const char *name, uint32_t dtype)
{
	const TensorEntry *e = tensorfile_find(tf, name);
	if (!e) {
		tensorfile_fail(tf, "tensor %s is missing (%s file)", name, tensorfile_kind_name(tf->kind));
		return NULL;
	}
	if (e->dtype != dtype) {
		tensorfile_fail(tf, "tensor %s is %s, expected %s", name, tensorfile_dtype_name(e->dtype),
				tensorfile_dtype_name(dtype));
		return NULL;
	}
	return e;
}

int tensorfile_read_range(TensorFile *tf, const TensorEntry *e, uint64_t first, uint64_t n, void *dst)
{
	size_t es = dtype_size(e->dtype);
	if (first > e->count || n > e->count - first)
		return tensorfile_fail(tf, "tensor %s: elements %" PRIu64 "..%" PRIu64 " out of range (%" PRIu64 ")", e->name, first,
			   first + n, e->count);
	if (fseeko(tf->f, (off_t)(e->offset + first * es), SEEK_SET) != 0) {
		warn_errno("%s: seek", tf->path);
		return -1;
	}
	return read_exact(tf->f, dst, (size_t)(n * es), tf->path, e->name);
}

/* The entry called name, of dtype and (dims not NULL) of shape ndim dims; NULL after a message. */
static const TensorEntry *shaped(TensorFile *tf, const char *name, uint32_t dtype, uint32_t ndim,
				 const uint64_t *dims)
{
	const TensorEntry *e = need(tf, name, dtype);
	if (e && dims && (e->ndim != ndim || memcmp(e->dims, dims, ndim * sizeof *dims) != 0)) {
		char got[128], want[128];
		tensorfile_format_shape(got, sizeof got, e->ndim, e->dims);
		tensorfile_format_shape(want, sizeof want, ndim, dims);
		tensorfile_fail(tf, "tensor %s: shape %s, expected %s", name, got, want);
		return NULL;
	}
	return e;
}

int tensorfile_check(TensorFile *tf, const char *name, uint32_t dtype, uint32_t ndim, const uint64_t *dims)
{
	return shaped(tf, name, dtype, ndim, dims) ? 0 : -1;
}

int tensorfile_read(TensorFile *tf, const char *name, uint32_t dtype, uint32_t ndim, const uint64_t *dims, void *dst)
{
	const TensorEntry *e = shaped(tf, name, dtype, ndim, dims);
	return e ? tensorfile_read_range(tf, e, 0, e->count, dst) : -1;
}

void *tensorfile_read_alloc(TensorFile *tf, const char *name, uint32_t dtype, uint64_t *count)
{
	const TensorEntry *e = need(tf, name, dtype);
	if (!e)
		return NULL;
	if (e->bytes > SIZE_MAX - 1) {
		tensorfile_fail(tf, "tensor %s too large for this machine", name);
		return NULL;
	}
	char *p = xmalloc((size_t)e->bytes + 1);
	if (tensorfile_read_range(tf, e, 0, e->count, p) != 0) {
		free(p);
		return NULL;
	}
	p[e->bytes] = '\0';
	if (count)
		*count = e->count;
	return p;
}

char *tensorfile_read_text(TensorFile *tf, const char *name)
{
	uint64_t n;
	char *s = tensorfile_read_alloc(tf, name, DT_TEXT, &n);
	if (s && strlen(s) != n) {
		tensorfile_fail(tf, "text %s holds a NUL byte", name);
		free(s);
		return NULL;
	}
	return s;
}

static int read_scalar(TensorFile *tf, const char *name, uint32_t dtype, void *v)
{
	const TensorEntry *e = need(tf, name, dtype);
	if (!e)
		return -1;
	if (e->ndim != 0)
		return tensorfile_fail(tf, "tensor %s: expected a scalar", name);
	uint8_t b[8];
	if (tensorfile_read_range(tf, e, 0, 1, b) != 0)
		return -1;
	uint64_t u = get_u64(b);
	memcpy(v, &u, 8);
	return 0;
}

int tensorfile_read_i64(TensorFile *tf, const char *name, int64_t *v) { return read_scalar(tf, name, DT_I64, v); }
int tensorfile_read_f64(TensorFile *tf, const char *name, double *v) { return read_scalar(tf, name, DT_F64, v); }

/* ---------------------------------------------------------------------------------------- */
/* writing */

static int emit(TensorWriter *w, const void *data, size_t n)
{
	if (w->failed)
		return -1;
	if (write_all(w->af.f, data, n, atomic_name(&w->af)) != 0) {
		w->failed = 1;
		return -1;
	}
	/* crc32 takes a uInt length: feed large buffers in pieces */
	const unsigned char *p = data;
	while (n) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		w->crc = crc32(w->crc, p, k);
		p += k;
		n -= k;
		w->bytes += k;
	}
	return 0;
}

#define PIPE_REASON "a tensor file's header is completed when its end is written, which takes a seek back: give a file"

int tensorwriter_probe(const char *path)
{
	struct stat st;
	/* not opened: a FIFO without a reader would wait for one */
	if (written_in_place(path) && stat(path, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		warn_msg("%s: is a pipe or socket: %s", path, PIPE_REASON);
		return -1;
	}
	return atomic_probe(path);
}

int tensorwriter_open(TensorWriter *w, const char *path, uint32_t kind)
{
	memset(w, 0, sizeof *w);
	if (atomic_open(&w->af, path) != 0)
		return -1;
	/* found now rather than after the whole file went down a pipe */
	if (lseek(fileno(w->af.f), 0, SEEK_CUR) < 0 && errno == ESPIPE) {
		warn_msg("%s: cannot seek (a pipe?): %s", path, PIPE_REASON);
		atomic_abort(&w->af);
		w->failed = 1;
		return -1;
	}
	w->kind = kind;
	w->crc = crc32(0, NULL, 0);
	uint8_t h[HEADER_SIZE] = { 0 };
	/* the count and size are patched in at commit */
	if (write_all(w->af.f, h, sizeof h, atomic_name(&w->af)) != 0) {
		w->failed = 1;
		return -1;
	}
	w->bytes = HEADER_SIZE;
	return 0;
}

int tensorwriter_begin(TensorWriter *w, const char *name, uint32_t dtype, uint32_t ndim, const uint64_t *dims)
{
	size_t nlen = strlen(name);
	if (w->failed || w->pending)
		return w->failed = 1, -1;
	if (nlen == 0 || nlen > TENSORFILE_MAX_NAME || ndim > TENSORFILE_MAX_DIMS || !dtype_size(dtype)) {
		warn_msg("%s: cannot store tensor '%s' (bad name, dtype or rank)", w->af.path, name);
		return w->failed = 1, -1;
	}
	uint8_t b[8];
	put_u32(b, (uint32_t)nlen);
	emit(w, b, 4);
	emit(w, name, nlen);
	put_u32(b, dtype);
	put_u32(b + 4, ndim);
	emit(w, b, 8);
	uint64_t count = 1;
	for (uint32_t d = 0; d < ndim; d++) {
		put_u64(b, dims[d]);
		emit(w, b, 8);
		count *= dims[d];
	}
	w->pending = count * dtype_size(dtype);
	w->count++;
	return w->failed ? -1 : 0;
}

int tensorwriter_append(TensorWriter *w, const void *data, size_t bytes)
{
	if (bytes > w->pending) {
		warn_msg("%s: internal error: %zu bytes appended to an entry that needs %" PRIu64, w->af.path, bytes,
			 w->pending);
		return w->failed = 1, -1;
	}
	w->pending -= bytes;
	return emit(w, data, bytes);
}

int tensorwriter_add(TensorWriter *w, const char *name, uint32_t dtype, uint32_t ndim, const uint64_t *dims,
		     const void *data)
{
	if (tensorwriter_begin(w, name, dtype, ndim, dims) != 0)
		return -1;
	return tensorwriter_append(w, data, (size_t)w->pending);
}

int tensorwriter_add_text(TensorWriter *w, const char *name, const char *text)
{
	uint64_t n = strlen(text);
	return tensorwriter_add(w, name, DT_TEXT, 1, &n, text);
}

int tensorwriter_add_i64(TensorWriter *w, const char *name, int64_t v)
{
	uint8_t b[8];
	put_u64(b, (uint64_t)v);
	return tensorwriter_add(w, name, DT_I64, 0, NULL, b);
}

int tensorwriter_add_f64(TensorWriter *w, const char *name, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	uint8_t b[8];
	put_u64(b, u);
	return tensorwriter_add(w, name, DT_F64, 0, NULL, b);
}

int tensorwriter_finish(TensorWriter *w)
{
	if (w->finished)
		return 0;
	if (w->pending && !w->failed) {
		warn_msg("%s: internal error: last tensor is %" PRIu64 " bytes short", w->af.path, w->pending);
		w->failed = 1;
	}
	if (w->failed) {
		tensorwriter_abort(w);
		return -1;
	}
	uint8_t t[4], h[HEADER_SIZE] = { 0 };
	put_u32(t, (uint32_t)w->crc);
	if (write_all(w->af.f, t, 4, atomic_name(&w->af)) != 0) {
		tensorwriter_abort(w);
		return -1;
	}
	put_u32(h, TENSORFILE_MAGIC);
	put_u32(h + 4, TENSORFILE_VERSION);
	put_u32(h + 8, BOM);
	put_u32(h + 12, w->kind);
	put_u32(h + 16, w->count);
	put_u64(h + 24, w->bytes + 4);
	if (fseeko(w->af.f, 0, SEEK_SET) != 0 || write_all(w->af.f, h, sizeof h, atomic_name(&w->af)) != 0 ||
	    fflush(w->af.f) != 0) {
		warn_errno("%s: rewriting the header", atomic_name(&w->af));
		tensorwriter_abort(w);
		return -1;
	}
	w->finished = 1;
	return 0;
}

int tensorwriter_commit(TensorWriter *w)
{
	if (tensorwriter_finish(w) != 0)
		return -1;
	return atomic_commit(&w->af);
}

void tensorwriter_abort(TensorWriter *w)
{
	atomic_abort(&w->af);
	w->failed = 1;
}
