/* opt.c: strict numeric option parsing (see opt.h). */
#include "libcommon/opt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_msg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", progname());
	exit(EXIT_USAGE);
}

int parse_int(const char *arg, long long min, long long max, long long *out)
{
	if (!arg || !*arg || isspace((unsigned char)*arg))
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(arg, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_double(const char *arg, double min, double max, double *out)
{
	if (!arg || !*arg || isspace((unsigned char)*arg))
		return -1;
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

long long opt_int(const char *flag, const char *arg, long long min, long long max)
{
	long long v;
	if (parse_int(arg, min, max, &v) == 0)
		return v;
	char *end;
	errno = 0;
	strtoll(arg, &end, 10);
	if (!*arg || *end || isspace((unsigned char)*arg))
		usage_error("%s: '%s' is not an integer", flag, arg);
	usage_error("%s: %s is out of range (%lld to %lld)", flag, arg, min, max);
}

double opt_double(const char *flag, const char *arg, double min, double max)
{
	double v;
	if (parse_double(arg, min, max, &v) == 0)
		return v;
	char *end;
	errno = 0;
	v = strtod(arg, &end);
	/* 1e400 is a number, only too large (strtod says ERANGE); nan and inf are none */
	if (!*arg || *end || isspace((unsigned char)*arg) || (!isfinite(v) && errno != ERANGE))
		usage_error("%s: '%s' is not a number", flag, arg);
	usage_error("%s: %s is out of range (%g to %g)", flag, arg, min, max);
}

const char *opt_device(const char *flag, const char *arg)
{
	if (strcmp(arg, "auto") != 0 && strcmp(arg, "cpu") != 0 && strcmp(arg, "cuda") != 0)
		usage_error("%s: '%s' is none of auto, cpu, cuda", flag, arg);
	return arg;
}

uint64_t opt_bytes(const char *flag, const char *arg, uint64_t min)
{
	char *end;
	errno = 0;
	if (!*arg || !isdigit((unsigned char)*arg))
		usage_error("%s: '%s' is not a byte count", flag, arg);
	unsigned long long v = strtoull(arg, &end, 10);
	int shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	case '\0': break;
	default: usage_error("%s: '%s' is not a byte count (suffixes: K, M, G, T)", flag, arg);
	}
	if (shift) {
		end++;
		if (toupper((unsigned char)*end) == 'I')
			end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end)
		usage_error("%s: '%s' is not a byte count (suffixes: K, M, G, T)", flag, arg);
	if (errno || (shift && v > (UINT64_MAX >> shift)))
		usage_error("%s: %s is too large", flag, arg);
	v <<= shift;
	if (v < min)
		usage_error("%s: %s is too small (at least %llu bytes)", flag, arg, (unsigned long long)min);
	return v;
}
