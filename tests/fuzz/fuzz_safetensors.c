/* fuzz_safetensors.c: feeds bytes as a safetensors file to safetensors_open, every tensor reader and the metadata lookups, and convert_import when the file says anet-convert export wrote it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/convert/convert.h"
#include "libcommon/convert/safetensors.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "tests/fuzz/fuzzlib.h"

/* tensors larger than this are not read (a verified file's sizes are bounded by the input,
 * but reading many megabytes a run only slows the fuzzer) */
#define MAX_READ (4u << 20)

/* A verified file's entries tile its data, and each hands out its bytes (and, if float, its
 * values or a named refusal of the non-finite ones). */
static void read_entries(SafeTensors *st, uint64_t data_start, uint64_t file_size)
{
	uint64_t at = data_start;
	for (uint32_t i = 0; i < st->count; i++) {
		const StEntry *e = &st->entries[i];
		size_t es = st_dtype_size(e->dtype);
		if (!es || e->ndim > ST_MAX_DIMS || e->bytes != e->count * es || e->offset != at)
			fuzz_bug("tensor '%s': %s, %llu elements, %llu bytes at %llu (expected at %llu)", e->name,
				 st_dtype_name(e->dtype) ? st_dtype_name(e->dtype) : "bad dtype", (unsigned long long)e->count,
				 (unsigned long long)e->bytes, (unsigned long long)e->offset, (unsigned long long)at);
		at += e->bytes;
		if (safetensors_find(st, e->name) != e)
			fuzz_bug("tensor '%s' is not found by its name", e->name);
		if (e->bytes > MAX_READ)
			continue;
		unsigned char *buf = malloc(e->bytes + 8);
		if (!buf)
			abort();
		fuzz_capture_begin();
		int rc = safetensors_read_bytes(st, e, 0, (size_t)e->bytes, buf);
		fuzz_capture_end();
		if (rc != 0)
			fuzz_bug("tensor '%s' of a verified file does not read back", e->name);
		if (e->bytes) {
			fuzz_capture_begin();
			rc = safetensors_read_bytes(st, e, e->bytes / 2, (size_t)(e->bytes - e->bytes / 2), buf);
			fuzz_capture_end();
			if (rc != 0)
				fuzz_bug("tensor '%s': its second half does not read back", e->name);
		}
		fuzz_capture_begin();
		rc = safetensors_read_bytes(st, e, e->bytes, 1, buf) == 0 ||
		     safetensors_read_bytes(st, e, UINT64_MAX, 2, buf) == 0;
		const char *msgs = fuzz_capture_end();
		if (rc)
			fuzz_bug("tensor '%s': a range past its end was read", e->name);
		fuzz_check_named(-1, msgs, st->path, "safetensors_read_bytes past the end");
		free(buf);
		float *v = malloc((e->count ? e->count : 1) * sizeof *v);
		if (!v)
			abort();
		fuzz_capture_begin();
		rc = safetensors_read_float(st, e, v);
		msgs = fuzz_capture_end();
		fuzz_check_named(rc, msgs, st->path, "safetensors_read_float");
		if (rc == 0 && !st_dtype_is_float(e->dtype))
			fuzz_bug("tensor '%s' (%s) read as float", e->name, st_dtype_name(e->dtype));
		free(v);
	}
	if (at != file_size)
		fuzz_bug("the tensors end at byte %llu of %llu", (unsigned long long)at, (unsigned long long)file_size);
}

/* Every metadata key finds its own value (the keys are unique: duplicates are refused). */
static void read_meta(const SafeTensors *st)
{
	for (uint32_t i = 0; i < st->nmeta; i++)
		if (safetensors_meta(st, st->meta_keys[i]) != st->meta_values[i])
			fuzz_bug("metadata '%s' does not find its value", st->meta_keys[i]);
	if (safetensors_meta(st, "anet.no-such-key"))
		fuzz_bug("metadata: a key that is not there was found");
}

/* What anet-convert import does with a file of its own: the tensor file it writes (if it does)
 * opens, and a refusal names the input (what is wrong is in it, whichever file the writer or
 * the loading back names first). */
static void import(const char *path)
{
	const char *out = fuzz_path("import.anw");
	unlink(out);
	ImportOptions o = { .quiet = 1 };
	fuzz_capture_begin();
	int rc = convert_import(path, out, &o);
	const char *msgs = fuzz_capture_end();
	fuzz_check_named(rc, msgs, path, "convert_import");
	if (rc != 0) {
		char tmp[600];
		snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid()); /* AtomicFile's */
		if (access(out, F_OK) == 0 || access(tmp, F_OK) == 0)
			fuzz_bug("convert_import failed and left %s or its temporary file", out);
		return;
	}
	TensorFile tf;
	fuzz_capture_begin();
	rc = tensorfile_open(&tf, out, 0);
	msgs = fuzz_capture_end();
	if (rc != 0)
		fuzz_bug("the tensor file convert_import wrote does not open:\n%s", msgs);
	tensorfile_close(&tf);
	unlink(out);
}

static int one(const char *path, uint64_t size)
{
	SafeTensors st;
	fuzz_capture_begin();
	int rc = safetensors_open(&st, path);
	fuzz_check_named(rc, fuzz_capture_end(), path, "safetensors_open");
	if (rc != 0)
		return rc;
	uint64_t data_start = st.count ? st.entries[0].offset : size; /* (the first tiles from 8 + N) */
	if (st.count && data_start > size)
		fuzz_bug("the first tensor starts at %llu of %llu", (unsigned long long)data_start, (unsigned long long)size);
	read_entries(&st, data_start, size);
	read_meta(&st);
	int anet = safetensors_meta(&st, "anet.kind") != NULL;
	safetensors_close(&st);
	if (anet)
		import(path);
	return 0;
}

/* Where the JSON object that starts at text ends (one past its '}'), or 0: braces and
 * brackets counted outside strings. */
static size_t json_end(const uint8_t *text, size_t len)
{
	int depth = 0, in_string = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = text[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_path("tensors.safetensors");
	fuzz_write(path, data, size);
	/* A refused input again with the header length made that of the JSON object after it, so
	 * that the fuzzer gets past the length when it grows or shrinks the header. */
	if (one(path, size) != 0 && size > 8 && data[8] == '{') {
		size_t n = json_end(data + 8, size - 8);
		if (n && n != get_u64(data)) {
			uint8_t *b = malloc(size);
			if (!b)
				abort();
			memcpy(b, data, size);
			put_u64(b, n);
			fuzz_write(path, b, size);
			one(path, size);
			free(b);
		}
	}
	return 0;
}
