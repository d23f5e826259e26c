/* util.c: messages, checked allocation, checked I/O and atomic file writes (see util.h). */
#include "libcommon/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "anet";
static int stdout_failed; /* the failure was reported: say it once */

int stdout_check(void)
{
	if (stdout_failed)
		return -1;
	/* glibc drops the buffer on a failed write but keeps the error flag, so ferror also sees
	 * output lost by an earlier flush that nobody checked */
	int err = fflush(stdout) != 0 ? errno : 0;
	if (!err && !ferror(stdout))
		return 0;
	stdout_failed = 1;
	if (err)
		warn_msg("standard output: write error: %s", strerror(err));
	else
		warn_msg("standard output: write error");
	return -1;
}

/* Output that never arrived (a full disk, /dev/full, a closed descriptor) is not a success,
 * whichever path the program left by: a --help as much as a table of results. Registered
 * first, it runs after any handler registered later. */
static void stdout_check_at_exit(void)
{
	if (stdout_check() != 0) {
		fflush(NULL); /* what exit would still have written to other streams */
		_exit(EXIT_RUNTIME);
	}
}

void set_progname(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	if (argv0 && *argv0)
		prog = slash ? slash + 1 : argv0;
	static int registered;
	if (!registered++)
		atexit(stdout_check_at_exit);
}

const char *progname(void) { return prog; }

void vwarn_msg(const char *fmt, va_list ap)
{
	/* one fprintf per message so that lines from threads do not interleave */
	char buf[2048];
	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "%s: %s\n", prog, buf);
}

void warn_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_msg(fmt, ap);
	va_end(ap);
}

static void vwarn_errno(int err, const char *fmt, va_list ap) ANET_PRINTF(2, 0);
static void vwarn_errno(int err, const char *fmt, va_list ap)
{
	char buf[2048];
	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "%s: %s: %s\n", prog, buf, strerror(err));
}

void warn_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn_errno(err, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_msg(fmt, ap);
	va_end(ap);
	exit(EXIT_RUNTIME);
}

void die_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn_errno(err, fmt, ap);
	va_end(ap);
	exit(EXIT_RUNTIME);
}

static _Noreturn void out_of_memory(size_t n, size_t size)
{
	char b[32];
	if (size && n > SIZE_MAX / size)
		die("out of memory: %zu x %zu bytes overflows", n, size);
	die("out of memory (asked for %s)", format_bytes(b, sizeof b, (double)n * (double)size));
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		out_of_memory(1, size);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory(n, size);
	return p;
}

void *xmallocarray(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		out_of_memory(n, size);
	return xmalloc(n * size);
}

void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		out_of_memory(1, size);
	return q;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		out_of_memory(n, size);
	return xrealloc(p, n * size);
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("xasprintf: bad format '%s'", fmt);
	char *s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

int read_exact(FILE *f, void *buf, size_t len, const char *name, const char *what)
{
	size_t got = len ? fread(buf, 1, len, f) : 0;
	if (got == len)
		return 0;
	if (ferror(f))
		warn_errno("%s: reading %s", name, what);
	else
		warn_msg("%s: short read in %s (got %zu of %zu bytes)", name, what, got, len);
	return -1;
}

int write_all(FILE *f, const void *buf, size_t len, const char *name)
{
	if (len && fwrite(buf, 1, len, f) != len) {
		warn_errno("%s: write error", name);
		return -1;
	}
	return 0;
}

void *read_file(const char *path, size_t *len, size_t max)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		warn_errno("%s", path);
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (n > max) {
			warn_msg("%s: file too large (over %zu bytes)", path, max);
			goto fail;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		warn_errno("%s: read error", path);
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

int64_t file_size(FILE *f)
{
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	return (int64_t)st.st_size;
}

void fput_escaped(const char *s, FILE *f)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c == '\\')
			fputs("\\\\", f);
		else if (*c == '\n')
			fputs("\\n", f);
		else if (*c == '\t')
			fputs("\\t", f);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\x%02x", *c);
		else
			putc(*c, f);
}

char *shell_word(const char *s)
{
	size_t n = strlen(s), quotes = 0;
	int plain = n > 0;
	for (const char *c = s; *c; c++) {
		plain &= strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+=,-", *c) != NULL;
		quotes += *c == '\'';
	}
	if (plain)
		return xstrdup(s);
	/* 'it'\''s': a quote ends the quoted part, an escaped one follows, and the next part opens */
	char *w = xmalloc(n + 3 * quotes + 3), *o = w;
	*o++ = '\'';
	for (const char *c = s; *c; c++) {
		if (*c == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *c;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return w;
}

int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The folder holding path: "." for a bare name, "/" for one at the root. */
static char *parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? xasprintf("%.*s", (int)(slash == path ? 1 : slash - path), path) : xstrdup(".");
}

int same_output(const char *a, const char *b)
{
	if (!a || !b || !*a || !*b || written_in_place(a) || written_in_place(b))
		return 0;
	if (same_file(a, b))
		return 1;
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	if (strcmp(sa ? sa + 1 : a, sb ? sb + 1 : b) != 0)
		return 0;
	char *da = parent_dir(a), *db = parent_dir(b);
	char *ra = realpath(da, NULL), *rb = realpath(db, NULL);
	int same = ra && rb && strcmp(ra, rb) == 0;
	free(da);
	free(db);
	free(ra);
	free(rb);
	return same;
}

int written_in_place(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return !S_ISDIR(st.st_mode);
	char *dir = parent_dir(path);
	char *real = realpath(dir, NULL);
	free(dir);
	int special = real && (strcmp(real, "/dev") == 0 || strncmp(real, "/dev/", 5) == 0 ||
			       strcmp(real, "/proc") == 0 || strncmp(real, "/proc/", 6) == 0);
	free(real);
	return special;
}

int atomic_probe(const char *path)
{
	if (written_in_place(path))
		return 0; /* opening a FIFO now would wait for a reader */
	AtomicFile af;
	if (atomic_open(&af, path) != 0)
		return -1;
	atomic_abort(&af);
	return 0;
}

int note_stale_temporaries(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = parent_dir(path);
	char *prefix = xasprintf("%s.tmp.", slash ? slash + 1 : path);
	size_t plen = strlen(prefix);
	DIR *d = opendir(dir);
	int found = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		const char *num = e->d_name + plen;
		if (strncmp(e->d_name, prefix, plen) != 0 || !*num || strspn(num, "0123456789") != strlen(num) ||
		    strlen(num) > 9)
			continue;
		long pid = strtol(num, NULL, 10);
		if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char *full = xasprintf("%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", e->d_name);
		struct stat st;
		char size[32];
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			warn_msg("%s: left by a writer that was stopped (process %ld no longer runs): %s that can be "
				 "removed",
				 full, pid, format_bytes(size, sizeof size, (double)st.st_size));
			found++;
		}
		free(full);
	}
	if (d)
		closedir(d);
	free(prefix);
	free(dir);
	return found;
}

int fsync_parent(const char *path)
{
	char *dir = parent_dir(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rc = 0;
	if (fd < 0 || fsync(fd) != 0)
		rc = -1;
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

char *atomic_tmp_name(const char *path) { return xasprintf("%s.tmp.%ld", path, (long)getpid()); }

int atomic_open(AtomicFile *af, const char *path)
{
	struct stat st;
	/* -o "$UNSET": the temporary would be ".tmp.PID", renamed to "" only at the end, failing */
	if (!*path) {
		warn_msg("the file to write has an empty name");
		af->f = NULL;
		af->path = af->tmp = NULL;
		return -1;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		warn_msg("%s: is a directory", path);
		af->f = NULL;
		af->path = af->tmp = NULL;
		return -1;
	}
	/* A device or FIFO (-o /dev/null, -o /dev/stdout) is written in place: renaming a
	 * temporary over it would replace the device with a regular file. */
	if (written_in_place(path)) {
		af->path = xstrdup(path);
		af->tmp = NULL;
		af->f = fopen(path, "wb");
		if (!af->f) {
			warn_errno("%s", path);
			free(af->path);
			af->path = NULL;
			return -1;
		}
		return 0;
	}
	af->path = xstrdup(path);
	af->tmp = atomic_tmp_name(path);
	af->f = fopen(af->tmp, "wb");
	if (!af->f) {
		warn_errno("%s", af->tmp);
		free(af->path);
		free(af->tmp);
		af->path = af->tmp = NULL;
		return -1;
	}
	return 0;
}

/* -1 after naming the error if a write to f failed, now or earlier. A write that failed long
 * before left no errno; the flush meets the error again (stdio keeps the buffer) and says why. */
static int write_failed(FILE *f, const char *name)
{
	if (fflush(f) != 0)
		warn_errno("%s: write error", name);
	else if (ferror(f))
		warn_msg("%s: write error", name);
	else
		return 0;
	return -1;
}

int atomic_commit(AtomicFile *af)
{
	int rc = 0;
	if (!af->tmp) { /* written in place (a device or FIFO) */
		rc = write_failed(af->f, af->path);
		if (fclose(af->f) != 0 && rc == 0) {
			warn_errno("%s: close", af->path);
			rc = -1;
		}
		free(af->path);
		af->f = NULL;
		af->path = NULL;
		return rc;
	}
	if (write_failed(af->f, af->tmp) != 0)
		rc = -1;
	else if (fsync(fileno(af->f)) != 0) {
		warn_errno("%s: write error", af->tmp);
		rc = -1;
	}
	if (fclose(af->f) != 0 && rc == 0) {
		warn_errno("%s: close", af->tmp);
		rc = -1;
	}
	af->f = NULL;
	if (rc == 0 && rename(af->tmp, af->path) != 0) {
		warn_errno("%s: rename to %s", af->tmp, af->path);
		rc = -1;
	}
	if (rc != 0)
		unlink(af->tmp);
	else
		fsync_parent(af->path);
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
	return rc;
}

void atomic_abort(AtomicFile *af)
{
	if (af->f)
		fclose(af->f);
	if (af->tmp)
		unlink(af->tmp);
	free(af->path);
	free(af->tmp);
	af->f = NULL;
	af->path = af->tmp = NULL;
}

void catch_stop_signals(void (*handler)(int))
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigfillset(&sa.sa_mask);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
}

double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (int)n;
}

char *format_bytes(char *buf, size_t len, double bytes)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t u = 0;
	while (bytes >= 1024 && u + 1 < ARRAY_LEN(unit)) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
	return buf;
}
