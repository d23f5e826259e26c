/* fuzz_list.c: feeds bytes as a list file ("PATH LABEL" lines) to inputs_from_list and inputs_next, from a file and from a pipe, and as a class-names file to classes_load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/inputs.h"
#include "libcommon/util.h"
#include "tests/fuzz/fuzzlib.h"

#define PIPE_MAX 60000 /* below a pipe's 64 KiB buffer: the harness writes it all before reading */

static void walk(const char *list, const char *root)
{
	fuzz_capture_begin();
	Inputs *in = inputs_from_list(list, root);
	fuzz_check_named(in ? 0 : -1, fuzz_capture_end(), list, "inputs_from_list");
	if (!in)
		return;
	uint64_t n = 0;
	InputItem it;
	int rc;
	fuzz_capture_begin();
	while ((rc = inputs_next(in, &it)) == 1) {
		if (it.label < 0 || it.label > inputs_max_label(in) || !it.path[0] || !it.name[0])
			fuzz_bug("item %llu: label %d (largest %d), path '%s'", (unsigned long long)n, it.label,
				 inputs_max_label(in), it.path);
		if (root && it.name[0] != '/' && strncmp(it.path, root, strlen(root)) != 0)
			fuzz_bug("item %llu: '%s' is not under the root", (unsigned long long)n, it.path);
		n++;
	}
	fuzz_capture_end();
	if (rc != 0 || n != inputs_count(in))
		fuzz_bug("the second pass gave %llu items (rc %d), the first counted %llu", (unsigned long long)n, rc,
			 (unsigned long long)inputs_count(in));
	inputs_free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_path("list.txt");
	fuzz_write(path, data, size);
	walk(path, size % 2 ? "/root" : NULL);

	/* an unseekable list (imgprep -l - < list) is copied into memory first */
	int fd[2];
	if (size <= PIPE_MAX && pipe(fd) == 0) {
		if (size && write(fd[1], data, size) != (ssize_t)size)
			fuzz_bug("harness: pipe write");
		close(fd[1]);
		char name[64];
		snprintf(name, sizeof name, "/dev/fd/%d", fd[0]);
		walk(name, NULL);
		close(fd[0]);
	}

	ClassTable t;
	fuzz_capture_begin();
	int rc = classes_load(path, &t);
	fuzz_check_named(rc, fuzz_capture_end(), path, "classes_load");
	if (rc == 0) {
		for (uint32_t i = 0; i < t.count; i++)
			if (!t.names[i][0] || strchr(t.names[i], '\n'))
				fuzz_bug("class name %u is empty or holds a newline", i);
		classes_free(&t);
	}
	return 0;
}
