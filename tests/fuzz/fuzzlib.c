/* fuzzlib.c: temporary files, stderr capture and the refusal checks of the harnesses (see fuzzlib.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tests/fuzz/fuzzlib.h"

#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_PATHS 8
#define MAX_CAPTURE (1 << 20)

static struct {
	char name[64];
	char path[512];
} paths[MAX_PATHS];
static int npaths;

static void remove_paths(void)
{
	for (int i = 0; i < npaths; i++)
		unlink(paths[i].path);
}

const char *fuzz_path(const char *name)
{
	for (int i = 0; i < npaths; i++)
		if (strcmp(paths[i].name, name) == 0)
			return paths[i].path;
	if (npaths == MAX_PATHS)
		fuzz_bug("harness: more than %d temporary paths", MAX_PATHS);
	if (npaths == 0)
		atexit(remove_paths);
	const char *dir = getenv("TMPDIR");
	snprintf(paths[npaths].name, sizeof paths[npaths].name, "%s", name);
	snprintf(paths[npaths].path, sizeof paths[npaths].path, "%s/anet-fuzz-%d-%s", dir && *dir ? dir : "/tmp",
		 (int)getpid(), name);
	return paths[npaths++].path;
}

void fuzz_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fuzz_bug("harness: cannot create %s", path);
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			fuzz_bug("harness: cannot write %s", path);
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

/* ---------------------------------------------------------------------------------------- */
/* capturing stderr */

static int show = -1;       /* FUZZ_SHOW=1: messages go to stderr, and are not checked */
static int saved = -1;      /* the real stderr */
static int memfd = -1;      /* where messages go meanwhile */
static char *text;
static size_t text_cap;

static void capture_init(void)
{
	const char *s = getenv("FUZZ_SHOW");
	show = s && *s && strcmp(s, "0") != 0;
	if (show)
		return;
	saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
	memfd = memfd_create("anet-fuzz-stderr", MFD_CLOEXEC);
	if (saved < 0 || memfd < 0) {
		fprintf(stderr, "fuzzlib: cannot capture stderr; messages are shown and not checked\n");
		show = 1;
		return;
	}
	/* sanitizer reports go to the real stderr even while a reader's messages are captured */
	__sanitizer_set_report_fd((void *)(intptr_t)saved);
}

void fuzz_capture_begin(void)
{
	if (show < 0)
		capture_init();
	if (show)
		return;
	fflush(stderr);
	if (ftruncate(memfd, 0) != 0 || lseek(memfd, 0, SEEK_SET) != 0 || dup2(memfd, 2) < 0)
		fuzz_bug("harness: cannot redirect stderr");
}

const char *fuzz_capture_end(void)
{
	if (show) {
		text = text ? text : calloc(1, 1);
		text[0] = '\0';
		return text;
	}
	fflush(stderr);
	dup2(saved, 2);
	off_t n = lseek(memfd, 0, SEEK_CUR);
	if (n < 0)
		n = 0;
	if (n > MAX_CAPTURE)
		n = MAX_CAPTURE;
	if ((size_t)n + 1 > text_cap) {
		free(text);
		text_cap = (size_t)n + 1;
		text = malloc(text_cap);
		if (!text)
			abort();
	}
	ssize_t got = pread(memfd, text, (size_t)n, 0);
	text[got > 0 ? got : 0] = '\0';
	return text;
}

/* ---------------------------------------------------------------------------------------- */
/* checks */

void fuzz_bug(const char *fmt, ...)
{
	if (saved >= 0)
		dup2(saved, 2);
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "\nFUZZ BUG: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

int fuzz_names(const char *msgs, const char *name)
{
	/* "prog: NAME: reason", or "prog: NAME:LINE: reason", "prog: NAME:spec:3: reason" */
	size_t n = strlen(name);
	for (const char *at = strstr(msgs, name); at; at = strstr(at + 1, name)) {
		const char *r = at + n;
		if (r[0] != ':')
			continue;
		for (; *r && *r != '\n'; r++)
			if (r[0] == ':' && r[1] == ' ' && r[2] && r[2] != '\n')
				return 1;
	}
	return 0;
}

void fuzz_check_named(int rc, const char *msgs, const char *name, const char *what)
{
	if (rc == 0 || show || fuzz_names(msgs, name))
		return;
	fuzz_bug("%s refused its input without a message naming %s and the problem; it printed:\n%s", what, name,
		 msgs);
}

void fuzz_check_why(int rc, const char *why, const char *what)
{
	if (rc != 0 && (!why || !*why))
		fuzz_bug("%s failed without a reason", what);
}

uint8_t fuzz_byte(FuzzInput *in)
{
	if (!in->len)
		return 0;
	in->len--;
	return *in->p++;
}

uint32_t fuzz_u32(FuzzInput *in)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)fuzz_byte(in) << (8 * i);
	return v;
}
