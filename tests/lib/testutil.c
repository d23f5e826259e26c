/* testutil.c: helpers shared by the Check suites (see testutil.h). */
#include "tests/lib/testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/rng.h"
#include "libcommon/util.h"

static size_t compare(const char *what, const float *got, const float *reff, const double *refd, size_t n,
		      double atol, double rtol)
{
	size_t bad = 0;
	double max_abs = 0, max_rel = 0, max_use = 0;
	for (size_t i = 0; i < n; i++) {
		double r = reff ? reff[i] : refd[i], g = got[i];
		if (!isfinite(r))
			continue;
		double d = fabs(g - r), tol = atol + rtol * fabs(r);
		if (!isfinite(g))
			d = INFINITY;
		if (d > max_abs)
			max_abs = d;
		if (fabs(r) > 0 && d / fabs(r) > max_rel)
			max_rel = d / fabs(r);
		if (d / tol > max_use)
			max_use = d / tol;
		if (d > tol) {
			if (bad < 5)
				fprintf(stderr, "  %s[%zu]: got %.9g, expected %.9g (diff %.3g, tolerance %.3g)\n", what, i,
					g, r, d, tol);
			bad++;
		}
	}
	fprintf(stderr, "  %-28s n=%-9zu max abs %.3g  max rel %.3g  tolerance used %5.1f%%%s\n", what, n, max_abs,
		max_rel, 100 * max_use, bad ? "  FAILED" : "");
	return bad;
}

size_t compare_floats(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol)
{
	return compare(what, got, ref, NULL, n, atol, rtol);
}

size_t compare_doubles(const char *what, const float *got, const double *ref, size_t n, double atol, double rtol)
{
	return compare(what, got, NULL, ref, n, atol, rtol);
}

void fill_uniform(float *x, size_t n, uint64_t tag, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = lo + (hi - lo) * rng_uniform(0x5EEDu, RNG_STREAM(RNG_TEST, tag), i);
}

char *make_temp_dir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = xasprintf("%s/anet-%s.XXXXXX", base && *base ? base : "/tmp", tag);
	if (!mkdtemp(path))
		die_errno("mkdtemp %s", path);
	return path;
}

void remove_tree(const char *path)
{
	char *cmd = xasprintf("rm -rf '%s'", path);
	if (system(cmd) != 0)
		warn_msg("could not remove %s", path);
	free(cmd);
}

Capture capture_begin(void)
{
	Capture c;
	fflush(stderr);
	c.tmp = tmpfile();
	if (!c.tmp)
		die_errno("tmpfile");
	c.saved = dup(2);
	dup2(fileno(c.tmp), 2);
	return c;
}

char *capture_end(Capture c)
{
	fflush(stderr);
	dup2(c.saved, 2);
	close(c.saved);
	long n = ftell(c.tmp);
	char *msgs = xcalloc(1, (size_t)n + 1);
	rewind(c.tmp);
	if (fread(msgs, 1, (size_t)n, c.tmp) != (size_t)n)
		die("capture_end: short read of the captured messages");
	fclose(c.tmp);
	return msgs;
}

int capture_exit(void (*fn)(void *), void *arg, char **msgs)
{
	fflush(stdout);
	Capture c = capture_begin();
	pid_t pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		fn(arg);
		exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die_errno("waitpid");
	*msgs = capture_end(c);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
