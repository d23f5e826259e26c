/* inputs.c: list files, class-folder trees and plain files as a stream of (path, label) (see inputs.h). */
#include "libcommon/inputs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "libcommon/util.h"

enum { KIND_LIST, KIND_DIR, KIND_FILES };
#define MAX_LIST_ERRORS 20 /* reported one by one; the rest are counted */

struct Inputs {
	int kind;
	uint64_t count;
	int32_t max_label;
	/* list */
	FILE *list;
	char *list_path, *root, *mem, *line, *path;
	size_t line_cap;
	uint64_t lineno;
	char why[192];          /* the reason a line is malformed */
	/* folders */
	char *dir;
	ClassTable classes;
	uint32_t cls;           /* the class being handed out */
	char **files;           /* its sorted file names */
	size_t nfiles, file_at;
	/* plain files */
	char *const *argv;
	int argc, arg_at;
};

uint64_t inputs_count(const Inputs *in) { return in->count; }
int32_t inputs_max_label(const Inputs *in) { return in->max_label; }
const ClassTable *inputs_classes(const Inputs *in) { return in->kind == KIND_DIR ? &in->classes : NULL; }

static char *join_path(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	return xasprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

/* ------------------------------------------------------------------------------------------
 * list files */

/* Splits a line in place into path and label text; NULL for a line to skip, or the reason
 * the line is malformed in *why. */
static int split_line(char *line, char **path, char **label, const char **why)
{
	*why = NULL;
	char *end = line + strlen(line);
	while (end > line && isspace((unsigned char)end[-1]))
		*--end = '\0';
	while (isspace((unsigned char)*line))
		line++;
	if (!*line || *line == '#')
		return 0;
	char *lab = end;
	while (lab > line && !isspace((unsigned char)lab[-1]))
		lab--;
	if (lab == line) {
		*why = "no label (expected 'PATH LABEL')";
		return -1;
	}
	char *pend = lab;
	while (pend > line && isspace((unsigned char)pend[-1]))
		pend--;
	*pend = '\0';
	*path = line;
	*label = lab;
	return 1;
}

/* A decimal label 0..INT32_MAX: digits only (no sign, no 0x; "010" is ten, not octal eight). */
static int parse_label(const char *s, long long *v)
{
	*v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		*v = *v * 10 + (*s - '0');
		if (*v > INT32_MAX)
			return -1;
	}
	return 0;
}

/* The next item line of the list: 1, 0 at the end, -1 for a malformed line (*why set). */
static int list_line(Inputs *in, char **path, int32_t *label, const char **why)
{
	for (;;) {
		errno = 0;
		if (getline(&in->line, &in->line_cap, in->list) < 0) {
			if (ferror(in->list)) {
				*why = strerror(errno ? errno : EIO);
				return -1;
			}
			return 0;
		}
		in->lineno++;
		char *lab;
		int rc = split_line(in->line, path, &lab, why);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		long long v;
		if (parse_label(lab, &v)) {
			snprintf(in->why, sizeof in->why, "label '%.40s' is not a decimal number from 0 to %d", lab,
				 INT32_MAX);
			*why = in->why;
			return -1;
		}
		*label = (int32_t)v;
		return 1;
	}
}

/* A list that cannot be read twice (a pipe) is copied into memory first. */
static FILE *open_list(Inputs *in, const char *path)
{
	int is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "r");
	if (!f) {
		warn_errno("%s", path);
		return NULL;
	}
	struct stat st;
	if (!is_stdin && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
		return f;
	size_t len = 0, cap = 1 << 16;
	in->mem = xmalloc(cap);
	size_t got;
	while ((got = fread(in->mem + len, 1, cap - len, f)) > 0)
		if ((len += got) == cap)
			in->mem = xrealloc(in->mem, cap *= 2);
	int bad = ferror(f);
	if (!is_stdin)
		fclose(f);
	if (bad) {
		warn_errno("%s: read error", path);
		return NULL;
	}
	/* fmemopen needs a non-zero size: an empty list reads as one blank line (skipping a byte
	 * of it, as this did, lasted only until the rewind before the second pass, which then
	 * read that byte uninitialised) */
	if (!len)
		in->mem[len++] = '\n';
	f = fmemopen(in->mem, len, "r");
	if (!f)
		warn_errno("%s: reading the list from memory", path);
	return f;
}

/* Pass 1: every line checked, items counted. */
static int list_check(Inputs *in)
{
	int errors = 0;
	char *path;
	int32_t label;
	const char *why;
	int rc;
	in->max_label = -1;
	while ((rc = list_line(in, &path, &label, &why)) != 0) {
		if (rc < 0) {
			if (ferror(in->list)) {
				warn_msg("%s: read error: %s", in->list_path, why);
				return -1;
			}
			if (errors++ < MAX_LIST_ERRORS)
				warn_msg("%s:%llu: %s", in->list_path, (unsigned long long)in->lineno, why);
			continue;
		}
		in->count++;
		if (label > in->max_label)
			in->max_label = label;
	}
	if (errors > MAX_LIST_ERRORS)
		warn_msg("%s: %d more malformed lines", in->list_path, errors - MAX_LIST_ERRORS);
	if (errors)
		warn_msg("%s: %d malformed line%s; nothing was converted", in->list_path, errors, errors == 1 ? "" : "s");
	return errors ? -1 : 0;
}

Inputs *inputs_from_list(const char *list, const char *root)
{
	/* a mistyped root would otherwise fail every image of the list, one message each */
	struct stat st;
	if (root && stat(root, &st) != 0) {
		warn_errno("-r %s", root);
		return NULL;
	}
	if (root && !S_ISDIR(st.st_mode)) {
		warn_msg("-r %s: not a folder", root);
		return NULL;
	}
	Inputs *in = xcalloc(1, sizeof *in);
	in->kind = KIND_LIST;
	in->list_path = xstrdup(list);
	in->root = root ? xstrdup(root) : NULL;
	if (!(in->list = open_list(in, list)) || list_check(in)) {
		inputs_free(in);
		return NULL;
	}
	rewind(in->list);
	in->lineno = 0;
	return in;
}

static int list_next(Inputs *in, InputItem *item)
{
	char *path;
	int32_t label;
	const char *why;
	int rc = list_line(in, &path, &label, &why);
	if (rc < 0) /* the list changed since it was checked, or a read failed */
		warn_msg("%s:%llu: %s", in->list_path, (unsigned long long)in->lineno, why);
	if (rc <= 0)
		return rc;
	free(in->path);
	in->path = in->root && path[0] != '/' ? join_path(in->root, path) : xstrdup(path);
	item->path = in->path;
	item->name = path;
	item->label = label;
	return 1;
}

/* ------------------------------------------------------------------------------------------
 * class folders */

static int by_bytes(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_kind(const char *dir, const char *name, int want_dir)
{
	char *p = join_path(dir, name);
	struct stat st;
	int ok = stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
	free(p);
	return ok;
}

/* The sorted names of dir's visible subfolders (want_dir) or regular files; -1 after a message. */
static int list_entries(const char *dir, int want_dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		warn_errno("%s", dir);
		return -1;
	}
	size_t cap = 16;
	*n = 0;
	*names = xmallocarray(cap, sizeof **names);
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int known = e->d_type == DT_DIR || e->d_type == DT_REG;
		int ok = known && !want_dir && e->d_type == DT_REG ? 1
			 : known && want_dir && e->d_type == DT_DIR ? 1
			 : known ? 0 : is_kind(dir, e->d_name, want_dir);
		if (!ok)
			continue;
		if (*n == cap)
			*names = xreallocarray(*names, cap *= 2, sizeof **names);
		(*names)[(*n)++] = xstrdup(e->d_name);
	}
	int err = errno;
	closedir(d);
	if (err) {
		errno = err;
		warn_errno("%s: reading the folder", dir);
		return -1;
	}
	qsort(*names, *n, sizeof **names, by_bytes);
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

Inputs *inputs_from_dir(const char *dir)
{
	Inputs *in = xcalloc(1, sizeof *in);
	in->kind = KIND_DIR;
	in->dir = xstrdup(dir);
	char **cls;
	size_t ncls;
	if (list_entries(dir, 1, &cls, &ncls)) {
		inputs_free(in);
		return NULL;
	}
	if (ncls == 0 || ncls > CLASSES_MAX_COUNT) {
		warn_msg("%s: %s (expected one subfolder per class)", dir, ncls ? "too many class folders" : "no class folders");
		free_names(cls, ncls);
		inputs_free(in);
		return NULL;
	}
	in->classes.count = (uint32_t)ncls;
	in->classes.names = cls;
	for (size_t k = 0; k < ncls; k++) {
		if (strchr(cls[k], '\n')) {
			warn_msg("%s: a class folder's name holds a newline", dir);
			inputs_free(in);
			return NULL;
		}
		char *sub = join_path(dir, cls[k]), **files;
		size_t nf;
		int rc = list_entries(sub, 0, &files, &nf);
		if (rc == 0 && nf == 0)
			warn_msg("%s: no images in this class (label %zu)", sub, k);
		free(sub);
		if (rc) {
			inputs_free(in);
			return NULL;
		}
		free_names(files, nf);
		in->count += nf;
	}
	in->max_label = (int32_t)ncls - 1;
	in->cls = 0;
	return in;
}

static int dir_next(Inputs *in, InputItem *item)
{
	while (in->file_at == in->nfiles) {
		free_names(in->files, in->nfiles);
		in->files = NULL;
		in->nfiles = in->file_at = 0;
		if (in->cls >= in->classes.count)
			return 0;
		char *sub = join_path(in->dir, in->classes.names[in->cls++]);
		int rc = list_entries(sub, 0, &in->files, &in->nfiles);
		free(sub);
		if (rc)
			return -1;
	}
	free(in->path);
	char *sub = join_path(in->dir, in->classes.names[in->cls - 1]);
	in->path = join_path(sub, in->files[in->file_at++]);
	free(sub);
	item->path = item->name = in->path;
	item->label = (int32_t)in->cls - 1;
	return 1;
}

/* ------------------------------------------------------------------------------------------ */

Inputs *inputs_from_files(char *const *paths, int n)
{
	Inputs *in = xcalloc(1, sizeof *in);
	in->kind = KIND_FILES;
	in->argv = paths;
	in->argc = n;
	in->count = (uint64_t)n;
	in->max_label = -1;
	return in;
}

int inputs_next(Inputs *in, InputItem *item)
{
	switch (in->kind) {
	case KIND_LIST:
		return list_next(in, item);
	case KIND_DIR:
		return dir_next(in, item);
	default:
		if (in->arg_at >= in->argc)
			return 0;
		item->path = item->name = in->argv[in->arg_at++];
		item->label = -1;
		return 1;
	}
}

void inputs_free(Inputs *in)
{
	if (!in)
		return;
	if (in->list)
		fclose(in->list);
	free(in->list_path);
	free(in->root);
	free(in->mem);
	free(in->line);
	free(in->path);
	free(in->dir);
	classes_free(&in->classes);
	free_names(in->files, in->nfiles);
	free(in);
}

int classes_load(const char *path, ClassTable *t)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		warn_errno("%s", path);
		return -1;
	}
	size_t cap = 16, bytes = 0;
	char *line = NULL;
	size_t lcap = 0;
	unsigned long lineno = 0, blank = 0; /* the first blank line not yet followed by a name */
	t->count = 0;
	t->names = xmallocarray(cap, sizeof *t->names);
	int rc = 0;
	while (getline(&line, &lcap, f) >= 0) {
		lineno++;
		char *s = line, *e = line + strlen(line);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		while (isspace((unsigned char)*s))
			s++;
		if (!*s) { /* blank lines at the end are harmless; inside, they would shift labels */
			if (!blank)
				blank = lineno;
			continue;
		}
		if (blank) {
			warn_msg("%s:%lu: empty class name (line N names label N-1)", path, blank);
			rc = -1;
			break;
		}
		if (t->count == CLASSES_MAX_COUNT || (bytes += strlen(s) + 1) > CLASSES_MAX_BYTES) {
			warn_msg("%s:%lu: too many class names", path, lineno);
			rc = -1;
			break;
		}
		if (t->count == cap)
			t->names = xreallocarray(t->names, cap *= 2, sizeof *t->names);
		t->names[t->count++] = xstrdup(s);
	}
	if (rc == 0 && ferror(f)) {
		warn_errno("%s: read error", path);
		rc = -1;
	}
	if (rc == 0 && t->count == 0) {
		warn_msg("%s: no class names", path);
		rc = -1;
	}
	free(line);
	fclose(f);
	if (rc)
		classes_free(t);
	return rc;
}
