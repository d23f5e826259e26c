/* safetensors.c: the safetensors reader and writer (see safetensors.h). */
#include "libcommon/convert/safetensors.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	size_t size;
} dtypes[ST_NDTYPES] = {
	[ST_BOOL] = { "BOOL", 1 }, [ST_U8] = { "U8", 1 },     [ST_I8] = { "I8", 1 },
	[ST_F8_E5M2] = { "F8_E5M2", 1 }, [ST_F8_E4M3] = { "F8_E4M3", 1 },
	[ST_I16] = { "I16", 2 },   [ST_U16] = { "U16", 2 },   [ST_F16] = { "F16", 2 },  [ST_BF16] = { "BF16", 2 },
	[ST_I32] = { "I32", 4 },   [ST_U32] = { "U32", 4 },   [ST_F32] = { "F32", 4 },
	[ST_F64] = { "F64", 8 },   [ST_I64] = { "I64", 8 },   [ST_U64] = { "U64", 8 },
};

const char *st_dtype_name(StDtype d) { return (unsigned)d < ST_NDTYPES ? dtypes[d].name : NULL; }
size_t st_dtype_size(StDtype d) { return (unsigned)d < ST_NDTYPES ? dtypes[d].size : 0; }
int st_dtype_is_float(StDtype d) { return d == ST_F32 || d == ST_F64 || d == ST_F16 || d == ST_BF16; }

int st_text_ok(const char *text)
{
	json_t *s = json_string(text); /* NULL for text that is not UTF-8 */
	json_decref(s);
	return s != NULL;
}

/* "PATH: message", for the reader's and the writer's refusals. */
static void vsay(const char *path, const char *fmt, va_list ap) ANET_PRINTF(2, 0);
static void vsay(const char *path, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	warn_msg("%s: %s", path, msg);
}

int safetensors_fail(const SafeTensors *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(st->path, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* reading */

/* A JSON integer that is a size or an offset: present, integral, not negative. */
static int get_u64_value(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_entry(SafeTensors *st, const char *name, const json_t *v, uint64_t data_size, StEntry *e)
{
	if (!json_is_object(v))
		return safetensors_fail(st, "tensor '%s': its header entry is not an object", name);
	const json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
		     *offs = json_object_get(v, "data_offsets");
	if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs))
		return safetensors_fail(st, "tensor '%s': needs \"dtype\" (a string), \"shape\" and \"data_offsets\" (arrays)",
					name);
	e->name = xstrdup(name);
	e->dtype = ST_NDTYPES;
	for (int d = 0; d < ST_NDTYPES; d++)
		if (strcmp(json_string_value(dt), dtypes[d].name) == 0)
			e->dtype = (StDtype)d;
	if (e->dtype == ST_NDTYPES)
		return safetensors_fail(st, "tensor '%s': unknown dtype '%s'", name, json_string_value(dt));
	if (json_array_size(shape) > ST_MAX_DIMS)
		return safetensors_fail(st, "tensor '%s': %zu dimensions, at most %d are supported", name,
					json_array_size(shape), ST_MAX_DIMS);
	e->ndim = (uint32_t)json_array_size(shape);
	e->count = 1;
	for (uint32_t i = 0; i < e->ndim; i++) {
		if (get_u64_value(json_array_get(shape, i), &e->dims[i]) != 0)
			return safetensors_fail(st, "tensor '%s': shape[%u] is not a non-negative integer", name, i);
		if (e->dims[i] && e->count > UINT64_MAX / e->dims[i])
			return safetensors_fail(st, "tensor '%s': its shape overflows", name);
		e->count *= e->dims[i];
	}
	uint64_t begin, end;
	if (json_array_size(offs) != 2 || get_u64_value(json_array_get(offs, 0), &begin) != 0 ||
	    get_u64_value(json_array_get(offs, 1), &end) != 0 || begin > end)
		return safetensors_fail(st, "tensor '%s': data_offsets must be [BEGIN, END] with 0 <= BEGIN <= END", name);
	if (end > data_size)
		return safetensors_fail(st, "tensor '%s': its data ends at byte %" PRIu64 " of %" PRIu64
					    " (truncated file?)", name, end, data_size);
	size_t es = dtypes[e->dtype].size;
	if (e->count > UINT64_MAX / es)
		return safetensors_fail(st, "tensor '%s': its shape overflows", name);
	if (e->count * es != end - begin)
		return safetensors_fail(st, "tensor '%s': %" PRIu64 " elements of %s are %" PRIu64
					    " bytes, data_offsets give %" PRIu64, name, e->count, dtypes[e->dtype].name,
					e->count * es, end - begin);
	e->offset = begin;
	e->bytes = end - begin;
	return 0;
}

static int parse_metadata(SafeTensors *st, const json_t *v)
{
	if (!json_is_object(v))
		return safetensors_fail(st, "__metadata__ is not an object");
	size_t n = json_object_size(v);
	st->meta_keys = xcalloc(n ? n : 1, sizeof *st->meta_keys);
	st->meta_values = xcalloc(n ? n : 1, sizeof *st->meta_values);
	const char *key;
	const json_t *value;
	json_object_foreach((json_t *)v, key, value) {
		if (!json_is_string(value))
			return safetensors_fail(st, "__metadata__: '%s' is not a string", key);
		st->meta_keys[st->nmeta] = xstrdup(key);
		st->meta_values[st->nmeta++] = xstrdup(json_string_value(value));
	}
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const StEntry *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

static int parse_header(SafeTensors *st, const char *text, size_t len, uint64_t data_size)
{
	json_error_t err;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return safetensors_fail(st, "header: not JSON: %s (byte %d of the header)", err.text, err.position);
	int rc = -1;
	if (!json_is_object(root)) {
		safetensors_fail(st, "header: not a JSON object");
		goto out;
	}
	st->entries = xcalloc(json_object_size(root) + 1, sizeof *st->entries);
	const char *key;
	json_t *value;
	json_object_foreach(root, key, value) {
		if (strcmp(key, "__metadata__") == 0) {
			if (parse_metadata(st, value) != 0)
				goto out;
			continue;
		}
		if (parse_entry(st, key, value, data_size, &st->entries[st->count++]) != 0)
			goto out;
	}
	qsort(st->entries, st->count, sizeof *st->entries, by_offset);
	uint64_t at = 0;
	for (uint32_t i = 0; i < st->count; i++) {
		const StEntry *e = &st->entries[i];
		if (e->offset != at) {
			safetensors_fail(st, "tensor '%s': its data starts at byte %" PRIu64 ", but %s ends at %" PRIu64
					     " (the tensors must tile the data)", e->name, e->offset,
					 i ? st->entries[i - 1].name : "the header", at);
			goto out;
		}
		at += e->bytes;
	}
	if (at != data_size) {
		safetensors_fail(st, "%" PRIu64 " bytes after the last tensor's data (the tensors must tile the data)",
				 data_size - at);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int safetensors_open(SafeTensors *st, const char *path)
{
	memset(st, 0, sizeof *st);
	st->path = xstrdup(path);
	if (!(st->f = fopen(path, "rb"))) {
		warn_errno("%s", path);
		goto fail;
	}
	int64_t size = file_size(st->f);
	uint8_t lenb[8];
	if (size < 0) {
		safetensors_fail(st, "not a regular file");
		goto fail;
	}
	if (size < 10 || fread(lenb, 1, 8, st->f) != 8) {
		safetensors_fail(st, "%" PRId64 " bytes: too short for a safetensors file", size);
		goto fail;
	}
	uint64_t n = get_u64(lenb);
	if (n > (uint64_t)size - 8) {
		safetensors_fail(st, "header length %" PRIu64 " runs past the end of the file (%" PRId64
				     " bytes; not a safetensors file?)", n, size);
		goto fail;
	}
	if (n > ST_MAX_HEADER) {
		safetensors_fail(st, "header length %" PRIu64 " is above the limit of %u bytes", n, ST_MAX_HEADER);
		goto fail;
	}
	char *text = xmalloc(n + 1);
	if (read_exact(st->f, text, n, path, "header") != 0) {
		free(text);
		goto fail;
	}
	text[n] = '\0';
	if (n == 0 || text[0] != '{') {
		free(text);
		safetensors_fail(st, "the header does not start with '{' (not a safetensors file?)");
		goto fail;
	}
	int rc = parse_header(st, text, n, (uint64_t)size - 8 - n);
	free(text);
	if (rc != 0)
		goto fail;
	for (uint32_t i = 0; i < st->count; i++)
		st->entries[i].offset += 8 + n;
	return 0;
fail:
	safetensors_close(st);
	return -1;
}

void safetensors_close(SafeTensors *st)
{
	if (st->f)
		fclose(st->f);
	for (uint32_t i = 0; i < st->count; i++)
		free(st->entries[i].name);
	for (uint32_t i = 0; i < st->nmeta; i++) {
		free(st->meta_keys[i]);
		free(st->meta_values[i]);
	}
	free(st->entries);
	free(st->meta_keys);
	free(st->meta_values);
	free(st->path);
	memset(st, 0, sizeof *st);
}

const StEntry *safetensors_find(const SafeTensors *st, const char *name)
{
	for (uint32_t i = 0; i < st->count; i++)
		if (strcmp(st->entries[i].name, name) == 0)
			return &st->entries[i];
	return NULL;
}

const char *safetensors_meta(const SafeTensors *st, const char *key)
{
	for (uint32_t i = 0; i < st->nmeta; i++)
		if (strcmp(st->meta_keys[i], key) == 0)
			return st->meta_values[i];
	return NULL;
}

int safetensors_read_bytes(SafeTensors *st, const StEntry *e, uint64_t first, size_t n, void *dst)
{
	if (first > e->bytes || n > e->bytes - first)
		return safetensors_fail(st, "tensor '%s': %zu bytes from byte %" PRIu64 " asked of its %" PRIu64, e->name,
					n, first, e->bytes);
	if (fseeko(st->f, (off_t)(e->offset + first), SEEK_SET) != 0) {
		warn_errno("%s: seek to tensor '%s'", st->path, e->name);
		return -1;
	}
	char what[300];
	snprintf(what, sizeof what, "tensor '%s'", e->name);
	return read_exact(st->f, dst, n, st->path, what);
}

static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = h >> 10 & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0x1f)
		bits = sign | 0x7f800000u | man << 13;                /* inf, NaN */
	else if (exp)
		bits = sign | (exp + 112) << 23 | man << 13;          /* normal: rebias 15 -> 127 */
	else if (!man)
		bits = sign;                                          /* zero */
	else {                                                        /* subnormal: man * 2^-24 */
		float f = ldexpf((float)man, -24);
		return sign ? -f : f;
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

int safetensors_read_float(SafeTensors *st, const StEntry *e, float *dst)
{
	if (!st_dtype_is_float(e->dtype))
		return safetensors_fail(st, "tensor '%s' is %s; floating point (F32, F64, F16, BF16) was expected", e->name,
					dtypes[e->dtype].name);
	size_t es = dtypes[e->dtype].size;
	enum { CHUNK = 1 << 16 };
	unsigned char *buf = e->dtype == ST_F32 ? NULL : xmalloc(CHUNK * 8);
	uint64_t bad = 0;
	for (uint64_t i = 0; i < e->count; i += CHUNK) {
		size_t n = e->count - i < CHUNK ? (size_t)(e->count - i) : CHUNK;
		void *to = buf ? (void *)buf : (void *)(dst + i);
		if (safetensors_read_bytes(st, e, i * es, n * es, to) != 0) {
			free(buf);
			return -1;
		}
		for (size_t k = 0; k < n; k++) {
			float v;
			if (e->dtype == ST_F64) {
				double d;
				memcpy(&d, buf + 8 * k, 8);
				v = (float)d;
			} else if (e->dtype == ST_F16) {
				v = half_to_float(get_u16(buf + 2 * k));
			} else if (e->dtype == ST_BF16) {
				uint32_t bits = (uint32_t)get_u16(buf + 2 * k) << 16;
				memcpy(&v, &bits, 4);
			} else {
				v = dst[i + k];
			}
			dst[i + k] = v;
			bad += !isfinite(v);
		}
	}
	free(buf);
	if (bad)
		return safetensors_fail(st, "tensor '%s': %" PRIu64 " of its %" PRIu64 " values are not finite%s", e->name,
					bad, e->count, e->dtype == ST_F64 ? " as float" : "");
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* writing */

int stwriter_open(StWriter *w, const char *path)
{
	memset(w, 0, sizeof *w);
	if (atomic_open(&w->af, path) != 0)
		return -1;
	w->header = json_object();
	w->meta = json_object();
	return 0;
}

static int writer_fail(StWriter *w, const char *fmt, ...) ANET_PRINTF(2, 3);
static int writer_fail(StWriter *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(w->af.path, fmt, ap);
	va_end(ap);
	w->failed = 1;
	return -1;
}

int stwriter_meta(StWriter *w, const char *key, const char *value)
{
	if (w->started || json_object_get(w->meta, key))
		return writer_fail(w, "metadata '%s': %s", key, w->started ? "added after the data" : "given twice");
	json_t *s = json_string(value);
	if (!s)
		return writer_fail(w, "metadata '%s': not valid UTF-8", key);
	json_object_set_new(w->meta, key, s);
	return 0;
}

int stwriter_declare(StWriter *w, const char *name, StDtype dtype, uint32_t ndim, const uint64_t *dims)
{
	if (w->started || json_object_get(w->header, name) || strcmp(name, "__metadata__") == 0)
		return writer_fail(w, "tensor '%s': %s", name, w->started ? "declared after the data" : "name taken");
	if (ndim > ST_MAX_DIMS || !st_dtype_name(dtype))
		return writer_fail(w, "tensor '%s': bad dtype or dimensions", name);
	uint64_t bytes = st_dtype_size(dtype);
	json_t *shape = json_array();
	for (uint32_t i = 0; i < ndim; i++) {
		json_array_append_new(shape, json_integer((json_int_t)dims[i]));
		bytes *= dims[i];
	}
	json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtypes[dtype].name, "shape", shape, "data_offsets",
			      (json_int_t)w->declared, (json_int_t)(w->declared + bytes));
	if (!e || json_object_set_new(w->header, name, e) != 0)
		return writer_fail(w, "tensor '%s': the name is not valid UTF-8", name);
	w->declared += bytes;
	return 0;
}

/* The header: the metadata first (as the reference writer puts it), padded with spaces so
 * that the data starts at a multiple of 8 bytes. */
static int write_header(StWriter *w)
{
	json_t *root = json_object();
	if (json_object_size(w->meta))
		json_object_set(root, "__metadata__", w->meta);
	json_object_update(root, w->header);
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		return writer_fail(w, "cannot format the header");
	size_t n = strlen(text), padded = (n + 7) / 8 * 8;
	uint8_t len[8];
	put_u64(len, padded);
	int rc = write_all(w->af.f, len, 8, atomic_name(&w->af)) || write_all(w->af.f, text, n, atomic_name(&w->af)) ||
		 write_all(w->af.f, "        ", padded - n, atomic_name(&w->af));
	free(text);
	w->started = 1;
	return rc ? (w->failed = 1, -1) : 0;
}

int stwriter_append(StWriter *w, const void *data, size_t bytes)
{
	if (w->failed)
		return -1;
	if (!w->started && write_header(w) != 0)
		return -1;
	if (bytes > w->declared - w->written)
		return writer_fail(w, "more data than the tensors declared");
	if (write_all(w->af.f, data, bytes, atomic_name(&w->af)) != 0) {
		w->failed = 1;
		return -1;
	}
	w->written += bytes;
	return 0;
}

static void writer_free(StWriter *w)
{
	json_decref(w->header);
	json_decref(w->meta);
	w->header = w->meta = NULL;
}

int stwriter_commit(StWriter *w)
{
	if (!w->failed && !w->started)
		write_header(w);
	if (!w->failed && w->written != w->declared)
		writer_fail(w, "%" PRIu64 " bytes of data written, the tensors declared %" PRIu64, w->written, w->declared);
	writer_free(w);
	if (w->failed) {
		atomic_abort(&w->af);
		return -1;
	}
	return atomic_commit(&w->af);
}

void stwriter_abort(StWriter *w)
{
	writer_free(w);
	atomic_abort(&w->af);
}
