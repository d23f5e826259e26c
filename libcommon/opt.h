/* opt.h: strict parsing of numeric option values, and the usage-error exit every tool shares.
 *
 * atoi("12abc") is 12 and atoi("x") is 0; these helpers instead reject anything that is not
 * wholly a number in range, naming the flag: "mkdb: --seed: 'x' is not an integer". A bad
 * value is a usage error (exit status 2).
 */
#ifndef ANET_OPT_H
#define ANET_OPT_H

#include <stdint.h>

#include "libcommon/util.h"

/* Prints "prog: message" and "Try 'prog --help'." on stderr, exits 2. */
_Noreturn void usage_error(const char *fmt, ...) ANET_PRINTF(1, 2);

/* Decimal integer in [min, max] ("010" is ten, as a user means it). */
long long opt_int(const char *flag, const char *arg, long long min, long long max);
/* Finite real number in [min, max]. */
double opt_double(const char *flag, const char *arg, double min, double max);
/* --device's value: auto, cpu or cuda (kernels/backend.c opens it; refused here, a usage
 * error naming the flag, rather than there, a runtime one after the model has loaded). */
const char *opt_device(const char *flag, const char *arg);
/* A byte count with an optional K, M, G or T suffix (powers of 1024), at least min. */
uint64_t opt_bytes(const char *flag, const char *arg, uint64_t min);

/* Non-exiting forms for parsers of files and lists: 0 on success, -1 if arg is not wholly
 * a number in range (nothing printed). */
int parse_int(const char *arg, long long min, long long max, long long *out);
int parse_double(const char *arg, double min, double max, double *out);

#endif
