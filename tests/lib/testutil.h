/* testutil.h: helpers shared by the Check suites: tolerant comparison, random inputs, messages, temp files. */
#ifndef ANET_TESTUTIL_H
#define ANET_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"

/* Compares got against ref element by element: a pair fails when
 * |got - ref| > atol + rtol * |ref|. Non-finite reference values are skipped; a non-finite
 * got where ref is finite fails. Prints the first few failures and, always, the maximum
 * absolute and relative error and the share of the tolerance used, so that slack and creep
 * are visible in the log. Returns the number of failing elements. */
size_t compare_floats(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol);
size_t compare_doubles(const char *what, const float *got, const double *ref, size_t n, double atol, double rtol);

/* Fills x with uniform values in [lo, hi) from the counter RNG, stream RNG_TEST + tag; the
 * same tag always gives the same numbers. */
void fill_uniform(float *x, size_t n, uint64_t tag, float lo, float hi);

/* Capturing what library code prints on stderr: begin, call, end (the caller frees the text). */
typedef struct {
	FILE *tmp;
	int saved;
} Capture;
Capture capture_begin(void);
char *capture_end(Capture c);

/* Runs fn(arg) in a child process, capturing its stderr, for a call that ends the program (a
 * usage error's exit(2)) and so cannot be captured in place. Returns the child's exit status
 * (0 if fn returned, 128 + the signal if one killed it) and sets *msgs to what the child
 * printed (the caller frees it). Works whether or not Check forks each test. */
int capture_exit(void (*fn)(void *), void *arg, char **msgs);

/* Asserts that the captured messages msgs contain want (in a Check test). */
#define ASSERT_MSG(msgs, want) \
	ck_assert_msg(strstr((msgs), (want)) != NULL, "expected \"%s\" in \"%s\"", (want), (msgs))

/* Asserts that msgs hold "WHAT: REASON": a refusal naming the file (or stream) and the problem. */
#define ASSERT_NAMES(msgs, what, reason)                                                                   \
	do {                                                                                               \
		char *want_ = xasprintf("%s: %s", (what), (reason));                                       \
		ASSERT_MSG(msgs, want_);                                                                   \
		free(want_);                                                                               \
	} while (0)

/* A fresh folder under TMPDIR (or /tmp); the caller removes it with remove_tree. */
char *make_temp_dir(const char *tag);
void remove_tree(const char *path);

#endif
