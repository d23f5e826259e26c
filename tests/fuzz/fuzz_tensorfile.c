/* fuzz_tensorfile.c: feeds bytes as a tensor file to tensorfile_open, every entry reader, stats_load, net_read_spec and model_read_extras. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "libcommon/model.h"
#include "libcommon/net.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "tests/fuzz/fuzzlib.h"

/* A verified file must hand out every entry it listed. */
static void read_entries(TensorFile *tf)
{
	for (uint32_t i = 0; i < tf->count; i++) {
		const TensorEntry *e = &tf->entries[i];
		if (e->bytes != e->count * dtype_size(e->dtype))
			fuzz_bug("tensor %s: %llu bytes for %llu elements", e->name, (unsigned long long)e->bytes,
				 (unsigned long long)e->count);
		unsigned char *buf = malloc(e->bytes + 8);
		if (!buf)
			abort();
		if (tensorfile_read_range(tf, e, 0, e->count, buf) != 0)
			fuzz_bug("tensor %s of a verified file does not read back", e->name);
		if (e->count && tensorfile_read_range(tf, e, e->count / 2, e->count - e->count / 2, buf) != 0)
			fuzz_bug("tensor %s: its second half does not read back", e->name);
		if (tensorfile_read_range(tf, e, e->count, 1, buf) == 0 ||
		    tensorfile_read_range(tf, e, UINT64_MAX, 2, buf) == 0)
			fuzz_bug("tensor %s: a range past its end was read", e->name);
		int first = tensorfile_find(tf, e->name) == e; /* a later entry of the same name is shadowed */
		if (first && tensorfile_read(tf, e->name, e->dtype, e->ndim, e->dims, buf) != 0)
			fuzz_bug("tensor %s does not read by name", e->name);
		if (first && e->dtype == DT_TEXT) {
			char *s = tensorfile_read_text(tf, e->name);
			if (s && strlen(s) != e->count)
				fuzz_bug("text %s: length %zu, entry %llu", e->name, strlen(s), (unsigned long long)e->count);
			free(s);
		}
		if (first && e->ndim == 0 && e->dtype == DT_I64) {
			int64_t v;
			if (tensorfile_read_i64(tf, e->name, &v) != 0)
				fuzz_bug("scalar %s does not read", e->name);
		}
		if (first && e->ndim == 0 && e->dtype == DT_F64) {
			double v;
			if (tensorfile_read_f64(tf, e->name, &v) != 0)
				fuzz_bug("scalar %s does not read", e->name);
		}
		if (first) {
			uint64_t n = 0;
			void *p = tensorfile_read_alloc(tf, e->name, e->dtype, &n);
			if (!p || n != e->count)
				fuzz_bug("tensor %s: read_alloc failed", e->name);
			free(p);
		}
		free(buf);
	}
}

/* What anet-eval and anet-train read from a model or checkpoint before building the net. */
static void read_model(TensorFile *tf)
{
	fuzz_capture_begin();
	Spec *spec = net_read_spec(tf);
	fuzz_check_named(spec ? 0 : -1, fuzz_capture_end(), tf->path, "net_read_spec");
	if (!spec)
		return;
	Model m;
	memset(&m, 0, sizeof m);
	m.path = tf->path;
	fuzz_capture_begin();
	int rc = model_read_extras(tf, spec, &m);
	fuzz_check_named(rc, fuzz_capture_end(), tf->path, "model_read_extras");
	stats_free(&m.stats);
	classes_free(&m.classes);
	free(m.trained_on);
	spec_free(spec);
}

static void one(const char *path)
{
	TensorFile tf;
	fuzz_capture_begin();
	int rc = tensorfile_open(&tf, path, 0);
	fuzz_check_named(rc, fuzz_capture_end(), path, "tensorfile_open");
	if (rc != 0)
		return;
	uint32_t kind = tf.kind;
	fuzz_capture_begin();
	read_entries(&tf);
	fuzz_capture_end();
	if (kind == TF_MODEL || kind == TF_CHECKPOINT)
		read_model(&tf);
	tensorfile_close(&tf);
	if (kind == TF_STATS) {
		Stats s;
		fuzz_capture_begin();
		rc = stats_load(path, &s);
		fuzz_check_named(rc, fuzz_capture_end(), path, "stats_load");
		if (rc == 0)
			stats_free(&s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_path("tensors.anw");
	fuzz_write(path, data, size);
	one(path);
	/* The same bytes with the header's size and the trailing checksum made right, so that the
	 * fuzzer gets past the checksum to the entries and the readers on top of them. */
	if (size >= 36 && size < (64u << 20)) {
		uint8_t *b = malloc(size);
		if (!b)
			abort();
		memcpy(b, data, size);
		put_u64(b + 24, size);
		put_u32(b + size - 4, (uint32_t)crc32(crc32(0, NULL, 0), b + 32, (uInt)(size - 36)));
		if (memcmp(b, data, size) != 0) {
			fuzz_write(path, b, size);
			one(path);
		}
		free(b);
	}
	return 0;
}
