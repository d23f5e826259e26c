/* fuzz_spec.c: feeds text to spec_parse and spec_load (network specifications), then the sizes and memory estimate of what parses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/spec.h"
#include "libcommon/util.h"
#include "tests/fuzz/fuzzlib.h"

/* What a parsed spec promises the driver (net.c): every count positive and consistent. */
static void check_spec(const Spec *s)
{
	int64_t count = 0;
	for (int t = 0; t < s->nparams; t++) {
		const SpecParam *p = &s->params[t];
		int64_t n = 1;
		for (int d = 0; d < p->ndim; d++)
			n *= (int64_t)p->dims[d];
		if (p->count < 1 || n != p->count || p->offset < 0 || p->offset % SPEC_PARAM_ALIGN)
			fuzz_bug("parameter %s: count %lld, offset %lld", p->name, (long long)p->count, (long long)p->offset);
		count += p->count;
	}
	if (count != s->param_count || s->param_floats < s->param_count)
		fuzz_bug("parameter count %lld (floats %lld), the tensors hold %lld", (long long)s->param_count,
			 (long long)s->param_floats, (long long)count);
	for (int i = 0; i < s->nlayers; i++) {
		const SpecLayer *l = &s->layers[i];
		if (dims_count(l->out) < 1 || dims_count(l->out) > INT32_MAX || l->out.c < 1 || l->out.h < 1 || l->out.w < 1)
			fuzz_bug("layer %s: output %dx%dx%d", l->name, l->out.c, l->out.h, l->out.w);
		if (spec_find(s, l->name) != i)
			fuzz_bug("layer %s: name not unique", l->name);
	}
	SpecMemory m;
	spec_memory(s, 128, 2, &m);
	if (!(m.total >= 0) || !(m.inference >= 0))
		fuzz_bug("memory estimate %g", m.total);
	spec_max_activation(s);
	/* (not spec_print_summary: it reads the same fields, only to print them) */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = { data, size };
	/* the class count "out=classes" resolves to: 1..65536 */
	int classes = 1 + (int)((fuzz_byte(&in) | fuzz_byte(&in) << 8) % 65536);
	char *text = malloc(in.len + 1);
	memcpy(text, in.p, in.len);
	text[in.len] = '\0';

	fuzz_capture_begin();
	Spec *s = spec_parse(text, "fuzz.net", classes);
	int parsed = s != NULL;
	fuzz_check_named(parsed ? 0 : -1, fuzz_capture_end(), "fuzz.net", "spec_parse");
	if (s) {
		check_spec(s);
		spec_free(s);
	}
	/* the same bytes as a file: spec_load refuses a NUL byte, else parses the same text */
	const char *path = fuzz_path("spec.net");
	fuzz_write(path, in.p, in.len);
	fuzz_capture_begin();
	Spec *f = spec_load(path, classes);
	fuzz_check_named(f ? 0 : -1, fuzz_capture_end(), path, "spec_load");
	int whole = strlen(text) == in.len;
	if (f ? !parsed || !whole : parsed && whole)
		fuzz_bug("spec_load %s what spec_parse %s", f ? "accepted" : "refused", parsed ? "accepted" : "refused");
	spec_free(f);
	free(text);
	return 0;
}
