/* fuzzlib.h: what the libFuzzer harnesses share: one temporary file per process, stderr
 * captured around a reader, and the check that a refusal names its file.
 *
 * libFuzzer runs a harness in-process millions of times, so nothing here may leak a file
 * descriptor or leave files behind: each harness reuses the same few paths under TMPDIR
 * (removed at exit). Messages are captured (not shown) unless FUZZ_SHOW=1; a sanitizer
 * report that happens while they are captured is written out first by a death callback.
 * A bug found by a harness ends the process with fuzz_bug(), which libFuzzer saves as a
 * crash like any other.
 */
#ifndef ANET_FUZZLIB_H
#define ANET_FUZZLIB_H

#include <stddef.h>
#include <stdint.h>

/* "TMPDIR/anet-fuzz-PID-NAME": the same string for the same name, the file removed at exit. */
const char *fuzz_path(const char *name);
/* Writes len bytes to path (replacing it); ends the run on an I/O error. */
void fuzz_write(const char *path, const void *data, size_t len);

/* Captures what the code under test prints on stderr, until fuzz_capture_end, which returns
 * the text (NUL-terminated, valid until the next capture). */
void fuzz_capture_begin(void);
const char *fuzz_capture_end(void);

/* The checks a harness makes: fuzz_names says whether msgs hold "NAME: REASON"; on failure (rc != 0) the messages must hold "NAME: REASON"
 * with a non-empty reason; a reason string (why) must not be empty. Each ends the run with
 * fuzz_bug otherwise. */
int fuzz_names(const char *msgs, const char *name);
void fuzz_check_named(int rc, const char *msgs, const char *name, const char *what);
void fuzz_check_why(int rc, const char *why, const char *what);
_Noreturn void fuzz_bug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reading control bytes off the front of the input. */
typedef struct {
	const uint8_t *p;
	size_t len;
} FuzzInput;
uint8_t fuzz_byte(FuzzInput *in);
uint32_t fuzz_u32(FuzzInput *in);

#endif
