/* util.h: messages in err(3) style, checked allocation, checked I/O and atomic file writes.
 *
 * Every anet message reads "prog: context: reason". Library functions that can fail on bad
 * input print such a message themselves (they know the file name and the offset) and return
 * -1; the tool that called them decides whether that ends the run. Allocation failure is not
 * a condition any caller can repair, so the x* allocators end the process.
 */
#ifndef ANET_UTIL_H
#define ANET_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ANET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Exit statuses shared by every program: runtime failure and usage error. */
enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* The name messages start with; set once from argv[0] by each tool's main(), which also
 * makes the program check standard output at exit (stdout_check): a failed write there
 * turns any exit into status 1. */
void set_progname(const char *argv0);
const char *progname(void);

/* Flushes standard output; on a write that failed, now or before, prints "prog: standard
 * output: write error: reason" (once per process) and returns -1. */
int stdout_check(void);

/* "prog: message\n" on stderr; die() then exits with status 1. The _errno forms append
 * ": strerror(errno)". */
_Noreturn void die(const char *fmt, ...) ANET_PRINTF(1, 2);
_Noreturn void die_errno(const char *fmt, ...) ANET_PRINTF(1, 2);
void warn_msg(const char *fmt, ...) ANET_PRINTF(1, 2);
void warn_errno(const char *fmt, ...) ANET_PRINTF(1, 2);
void vwarn_msg(const char *fmt, va_list ap) ANET_PRINTF(1, 0);

/* Allocation that cannot fail: on exhaustion, say how much was asked for and exit. The
 * counted forms check n * size for overflow. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xmallocarray(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) ANET_PRINTF(1, 2);

/* Reads exactly len bytes. Returns 0, or -1 after printing "name: short read (got G of L
 * bytes)" or the system's reason. what names the item being read ("header", "record 12"). */
int read_exact(FILE *f, void *buf, size_t len, const char *name, const char *what);
/* Writes len bytes; -1 after printing "name: write error: reason". */
int write_all(FILE *f, const void *buf, size_t len, const char *name);

/* Reads a whole file into memory (NUL-terminated for convenience; *len excludes the NUL).
 * Returns NULL after printing the reason; a file above max bytes is refused. */
void *read_file(const char *path, size_t *len, size_t max);

/* The size of an open stream's file, or -1 for a pipe or on error. */
int64_t file_size(FILE *f);

/* An output file that appears under its final name only when complete: writes go to
 * "PATH.tmp.PID", commit flushes, fsyncs, renames over PATH and fsyncs the folder; abort
 * removes the temporary. Readers therefore see the old file or the new one, never a part.
 * A path that names a device or FIFO (/dev/null, /dev/stdout) is written in place, since
 * renaming over it would replace the device; a directory is refused. */
typedef struct {
	FILE *f;
	char *path;
	char *tmp;
} AtomicFile;

int atomic_open(AtomicFile *af, const char *path);
/* The temporary atomic_open(path) writes (unless written_in_place(path)): known in advance, so
 * that a signal handler can remove it without reading an AtomicFile that may be changing. */
char *atomic_tmp_name(const char *path);
/* 1 when atomic_open writes path in place: an existing device, FIFO or socket, or any name in
 * /dev or /proc (-o /dev/stdout with stdout redirected to a file is a regular file through its
 * link, yet a temporary beside it would land in /dev and the rename would replace the link). */
int written_in_place(const char *path);
/* The name being written, for messages: the temporary, or the path written in place. */
static inline const char *atomic_name(const AtomicFile *af) { return af->tmp ? af->tmp : af->path; }
int atomic_commit(AtomicFile *af);
void atomic_abort(AtomicFile *af);

/* Whether atomic_open(path) would succeed (its folder exists, it is no directory), found by
 * creating and removing the temporary: for a writer whose first write comes hours later. */
int atomic_probe(const char *path);

/* Writes s to f on one line's worth of bytes: a backslash doubled, a newline and tab as \n and
 * \t, any other control character as \xHH; so that a name from a file system or a classes
 * file can neither start a line nor add a column of a table. */
void fput_escaped(const char *s, FILE *f);

/* s as one word of a POSIX shell command line (a new string): unchanged when it holds only
 * characters no shell treats specially, else in single quotes, so that a command a message
 * suggests can be pasted as it is for a path with a space in it. */
char *shell_word(const char *s);

/* 1 when a and b name one existing file (through links), else 0: an output that is one of
 * the program's inputs would replace it. */
int same_file(const char *a, const char *b);
/* 1 when two outputs would land on one file: same_file, or, for names not yet there, one name
 * in one folder (m.anw and ./m.anw); the second written would replace the first. Names
 * written in place (written_in_place: /dev/null) may be shared. */
int same_output(const char *a, const char *b);

/* Names on stderr, with their sizes, the temporaries of path (path.tmp.PID, atomic_open's)
 * whose process no longer runs here: what a killed writer left. They are not removed, since a
 * process of that number on another machine sharing the folder may still be writing. Returns
 * how many. */
int note_stale_temporaries(const char *path);

/* fsync the folder holding path, so that a rename into it survives a crash. */
int fsync_parent(const char *path);

/* Little-endian packing for the file formats (man 5 anet-formats). */
static inline void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void put_u64(uint8_t *p, uint64_t v) { put_u32(p, (uint32_t)v); put_u32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* Sends SIGINT, SIGTERM and SIGHUP to handler (all signals blocked while it runs), except those
 * ignored when the program started: nohup(1) ignores SIGHUP, and a shell without job control
 * SIGINT for a command run with &, so that the run outlives a hangup or a Ctrl-C meant for
 * others; a handler would stop it after all. */
void catch_stop_signals(void (*handler)(int));

/* Seconds on a monotonic clock, for rates and ETAs. */
double now_seconds(void);

/* Number of online processors (at least 1). */
int cpu_count(void);

/* "1.2 GiB", "512 KiB", ... into buf; returns buf. */
char *format_bytes(char *buf, size_t len, double bytes);

#endif
