/* db.c: database keys, the metadata text, and the read-only side of LMDB access (see db.h). */
#include "libcommon/db.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "libcommon/opt.h"
#include "libcommon/util.h"

void db_key(char *key, uint64_t index)
{
	/* index < 10^10 (DB_MAX_RECORDS) */
	for (int i = DB_KEY_DIGITS - 1; i >= 0; i--) {
		key[i] = (char)('0' + index % 10);
		index /= 10;
	}
	key[DB_KEY_DIGITS] = '\0';
}

void db_info_free(DbInfo *info)
{
	classes_free(&info->classes);
}

/* ---------------------------------------------------------------------------------------- */
/* the metadata text */

typedef struct {
	char *buf;
	size_t len, cap;
} Text;

static void text_add(Text *t, const char *fmt, ...) ANET_PRINTF(2, 3);
static void text_add(Text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = (t->len + (size_t)n + 1) * 2;
		t->buf = xrealloc(t->buf, t->cap);
	}
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

char *db_meta_format(const DbInfo *m, size_t *len)
{
	Text t = { 0 };
	text_add(&t, "anet-db %d\n", DB_META_VERSION);
	text_add(&t, "count %" PRIu64 "\n", m->count);
	text_add(&t, "height %u\nwidth %u\nchannels %u\n", m->height, m->width, m->channels);
	text_add(&t, "encoding %s\n", encoding_name(m->encoding));
	text_add(&t, "labelled %s\n", m->labelled ? "yes" : "no");
	text_add(&t, "classes %u\n", m->num_classes);
	text_add(&t, "seed %" PRIu64 "\n", m->seed);
	text_add(&t, "shuffled %s\n", m->shuffled ? "yes" : "no");
	text_add(&t, "anet-version %s\n", m->version);
	text_add(&t, "created %s\n", m->created);
	for (uint32_t i = 0; i < m->classes.count; i++)
		text_add(&t, "name %u %s\n", i, m->classes.names[i]);
	*len = t.len;
	return t.buf;
}

/* A strict line-by-line reader of the metadata text. */
typedef struct {
	const char *p, *end;
	int line;
	char *why;
	size_t whylen;
	char cur[4200]; /* the current line; names are at most 4096 bytes by construction */
} MetaReader;

static int meta_fail(MetaReader *mr, const char *fmt, ...) ANET_PRINTF(2, 3);
static int meta_fail(MetaReader *mr, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(mr->why, mr->whylen, "metadata line %d: %s", mr->line, msg);
	return -1;
}

/* The next line into mr->cur; -1 at the end of the text or on a malformed line. */
static int meta_line(MetaReader *mr)
{
	mr->line++;
	if (mr->p >= mr->end)
		return meta_fail(mr, "the text ends early");
	const char *nl = memchr(mr->p, '\n', (size_t)(mr->end - mr->p));
	if (!nl)
		return meta_fail(mr, "the last line is not terminated");
	size_t n = (size_t)(nl - mr->p);
	if (n >= sizeof mr->cur)
		return meta_fail(mr, "line too long");
	if (memchr(mr->p, '\0', n))
		return meta_fail(mr, "NUL byte in the text");
	memcpy(mr->cur, mr->p, n);
	mr->cur[n] = '\0';
	mr->p = nl + 1;
	return 0;
}

/* The value of the line "KEY VALUE" (exactly one space), or NULL after failing. */
static const char *meta_value(MetaReader *mr, const char *key)
{
	if (meta_line(mr))
		return NULL;
	size_t k = strlen(key);
	if (strncmp(mr->cur, key, k) != 0 || mr->cur[k] != ' ' || mr->cur[k + 1] == '\0') {
		meta_fail(mr, "expected '%s VALUE', found '%.60s'", key, mr->cur);
		return NULL;
	}
	return mr->cur + k + 1;
}

static int meta_uint(MetaReader *mr, const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *v = meta_value(mr, key);
	if (!v)
		return -1;
	/* digits only: strtoull would accept "+5", " 5" and "0x5" */
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno || (v[0] == '0' && v[1]))
		return meta_fail(mr, "%s: '%.40s' is not a decimal number", key, v);
	if (x < min || x > max)
		return meta_fail(mr, "%s: %llu is out of range (%" PRIu64 " to %" PRIu64 ")", key, x, min, max);
	*out = x;
	return 0;
}

static int meta_yesno(MetaReader *mr, const char *key, int *out)
{
	const char *v = meta_value(mr, key);
	if (!v)
		return -1;
	if (strcmp(v, "yes") && strcmp(v, "no"))
		return meta_fail(mr, "%s: '%.40s' is neither yes nor no", key, v);
	*out = strcmp(v, "yes") == 0;
	return 0;
}

static int meta_word(MetaReader *mr, const char *key, char *dst, size_t cap)
{
	const char *v = meta_value(mr, key);
	if (!v)
		return -1;
	if (strlen(v) >= cap || strpbrk(v, " \t"))
		return meta_fail(mr, "%s: '%.40s' is not a word of at most %zu characters", key, v, cap - 1);
	strcpy(dst, v);
	return 0;
}

/* "2026-11-27T12:00:00Z" */
static int is_utc_time(const char *s)
{
	const char *pat = "dddd-dd-ddTdd:dd:ddZ";
	if (strlen(s) != strlen(pat))
		return 0;
	for (size_t i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return 0;
	return 1;
}

static int meta_header(MetaReader *mr, DbInfo *m)
{
	uint64_t v, h, w, c;
	if (meta_uint(mr, "anet-db", 1, 1000000, &v))
		return -1;
	if (v != DB_META_VERSION)
		return meta_fail(mr, "format version %" PRIu64 " is not supported (this anet reads %d)", v,
				 DB_META_VERSION);
	if (meta_uint(mr, "count", 0, DB_MAX_RECORDS, &m->count))
		return -1;
	if (m->count == 0)
		return meta_fail(mr, "count is 0: the database is empty");
	if (
	    meta_uint(mr, "height", 1, RECORD_MAX_SIDE, &h) || meta_uint(mr, "width", 1, RECORD_MAX_SIDE, &w) ||
	    meta_uint(mr, "channels", 1, 3, &c))
		return -1;
	if (c == 2)
		return meta_fail(mr, "channels: 2 is not 1 or 3");
	m->height = (uint32_t)h;
	m->width = (uint32_t)w;
	m->channels = (uint32_t)c;
	const char *enc = meta_value(mr, "encoding");
	if (!enc)
		return -1;
	if (strcmp(enc, "raw") == 0)
		m->encoding = ENC_RAW;
	else if (strcmp(enc, "jpeg") == 0)
		m->encoding = ENC_JPEG;
	else
		return meta_fail(mr, "encoding: '%.40s' is neither raw nor jpeg", enc);
	return 0;
}

static int meta_rest(MetaReader *mr, DbInfo *m)
{
	uint64_t k;
	if (meta_yesno(mr, "labelled", &m->labelled) || meta_uint(mr, "classes", 0, CLASSES_MAX_COUNT, &k) ||
	    meta_uint(mr, "seed", 0, UINT64_MAX, &m->seed) || meta_yesno(mr, "shuffled", &m->shuffled) ||
	    meta_word(mr, "anet-version", m->version, sizeof m->version) ||
	    meta_word(mr, "created", m->created, sizeof m->created))
		return -1;
	m->num_classes = (uint32_t)k;
	if (m->labelled && k == 0)
		return meta_fail(mr, "a labelled database has no classes");
	if (!is_utc_time(m->created))
		return meta_fail(mr, "created: '%s' is not a UTC time like 2026-11-27T12:00:00Z", m->created);
	return 0;
}

/* The "name I TEXT" lines: none, or exactly num_classes in order. */
static int meta_names(MetaReader *mr, DbInfo *m)
{
	if (mr->p == mr->end) {
		if (!m->labelled && m->num_classes)
			return meta_fail(mr, "an unlabelled database with %u classes lists no names", m->num_classes);
		return 0;
	}
	/* the table grows with the names read, not with the count (up to a million) a damaged
	 * text may claim */
	uint32_t cap = 16;
	m->classes.names = xcalloc(cap, sizeof(char *));
	for (uint32_t i = 0; i < m->num_classes; i++) {
		if (meta_line(mr))
			return -1;
		char want[32];
		int n = snprintf(want, sizeof want, "name %u ", i);
		if (strncmp(mr->cur, want, (size_t)n) != 0 || mr->cur[n] == '\0')
			return meta_fail(mr, "expected 'name %u NAME', found '%.60s'", i, mr->cur);
		if (i == cap)
			m->classes.names = xreallocarray(m->classes.names, cap *= 2, sizeof(char *));
		m->classes.names[i] = xstrdup(mr->cur + n);
		m->classes.count = i + 1;
	}
	if (mr->p != mr->end) {
		mr->line++;
		return meta_fail(mr, "text after the last class name");
	}
	return 0;
}

int db_meta_parse(const char *text, size_t len, DbInfo *info, char *why, size_t whylen)
{
	MetaReader mr = { .p = text, .end = text + len, .why = why, .whylen = whylen };
	memset(info, 0, sizeof *info);
	if (meta_header(&mr, info) || meta_rest(&mr, info) || meta_names(&mr, info)) {
		db_info_free(info);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* the mapping of data.mdb: LMDB does not tell where it is, /proc/self/maps does */

int db_mapped_range(int fd, void **start, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -1;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[4608];
	int found = -1;
	while (found && fgets(line, sizeof line, f)) {
		unsigned long long lo, hi, off, ino;
		unsigned maj, mnr;
		if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &lo, &hi, &off, &maj, &mnr, &ino) == 6 &&
		    ino == (unsigned long long)st.st_ino && maj == major(st.st_dev) && mnr == minor(st.st_dev) &&
		    off == 0) {
			*start = (void *)(uintptr_t)lo;
			*len = (size_t)(hi - lo);
			found = 0;
		}
	}
	fclose(f);
	return found;
}


/* ---------------------------------------------------------------------------------------- */
/* reading */

struct Db {
	MDB_env *env;
	MDB_dbi dbi;
	char *path;
	DbInfo info;
	void *map_start; /* where data.mdb is mapped (NULL if unknown): see db_drop_pages */
	size_t map_len;
};

struct DbCursor {
	Db *db;
	MDB_txn *txn;
};

static void *db_fail(Db *db, const char *fmt, ...) ANET_PRINTF(2, 3);
static void *db_fail(Db *db, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warn_msg("%s: %s", db->path, msg);
	return NULL;
}

/* Why path cannot be a database, before LMDB gets to say something less helpful. */
static const char *db_path_problem(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		char *tmp = xasprintf("%s.tmp", path);
		int building = access(tmp, F_OK) == 0;
		free(tmp);
		return building ? "no such database (a DB.tmp beside it means mkdb is building it, or was killed)"
				: "no such database";
	}
	if (!S_ISDIR(st.st_mode))
		return "not a database (an anet database is a folder holding data.mdb)";
	char *data = xasprintf("%s/data.mdb", path);
	int ok = access(data, R_OK) == 0;
	free(data);
	return ok ? NULL : "not a database (the folder holds no readable data.mdb)";
}

static int env_open(Db *db, unsigned flags)
{
	int rc = mdb_env_create(&db->env);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(db->env, 1024);
	if (rc == 0)
		rc = mdb_env_open(db->env, db->path, flags, 0644);
	if (rc != 0 && db->env) {
		mdb_env_close(db->env);
		db->env = NULL;
	}
	return rc;
}

/* Count equals the entries, and the first and last record keys are 0 and count-1. */
static int db_check_keys(Db *db, MDB_txn *txn)
{
	MDB_stat st;
	int rc = mdb_stat(txn, db->dbi, &st);
	if (rc)
		return db_fail(db, "%s", mdb_strerror(rc)), -1;
	if (st.ms_entries != db->info.count + 1)
		return db_fail(db, "metadata says %" PRIu64 " records, the database holds %zu entries besides it "
				   "(damaged, or not written by mkdb)",
			       db->info.count, st.ms_entries - 1), -1;
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(txn, db->dbi, &cur)))
		return db_fail(db, "%s", mdb_strerror(rc)), -1;
	char first[DB_KEY_DIGITS + 1], last[DB_KEY_DIGITS + 1];
	db_key(first, 0);
	db_key(last, db->info.count - 1);
	MDB_val k, v, mk = { strlen(DB_META_KEY), DB_META_KEY };
	int bad = 0;
	if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) || k.mv_size != DB_KEY_DIGITS || memcmp(k.mv_data, first, DB_KEY_DIGITS))
		bad = 1;
	else if (mdb_cursor_get(cur, &mk, &v, MDB_SET) || mdb_cursor_get(cur, &k, &v, MDB_PREV) ||
		 k.mv_size != DB_KEY_DIGITS || memcmp(k.mv_data, last, DB_KEY_DIGITS) ||
		 mdb_cursor_get(cur, &k, &v, MDB_NEXT) || mdb_cursor_get(cur, &k, &v, MDB_NEXT) != MDB_NOTFOUND)
		bad = 1;
	mdb_cursor_close(cur);
	if (bad)
		return db_fail(db, "the keys are not %s .. %s followed by %s (damaged, or not written by mkdb)",
			       first, last, DB_META_KEY), -1;
	return 0;
}

static int db_read_meta(Db *db)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, &db->dbi);
	if (rc) {
		db_fail(db, "%s", mdb_strerror(rc));
		if (txn)
			mdb_txn_abort(txn);
		return -1;
	}
	MDB_val k = { strlen(DB_META_KEY), DB_META_KEY }, v;
	rc = mdb_get(txn, db->dbi, &k, &v);
	char why[512];
	if (rc == MDB_NOTFOUND)
		db_fail(db, "no '%s' entry: not an anet database (or mkdb did not finish)", DB_META_KEY);
	else if (rc)
		db_fail(db, "%s", mdb_strerror(rc));
	else if (db_meta_parse(v.mv_data, v.mv_size, &db->info, why, sizeof why))
		db_fail(db, "%s", why), rc = -1;
	else
		rc = db_check_keys(db, txn);
	mdb_txn_abort(txn);
	return rc ? -1 : 0;
}

Db *db_open(const char *path)
{
	Db *db = xcalloc(1, sizeof *db);
	db->path = xstrdup(path);
	const char *why = db_path_problem(path);
	if (why) {
		db_fail(db, "%s", why);
		db_close(db);
		return NULL;
	}
	int rc = env_open(db, MDB_RDONLY | MDB_NOTLS);
	if (rc == EACCES || rc == EROFS) /* no lock file possible: see db.h */
		rc = env_open(db, MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK);
	if (rc) {
		db_fail(db, "%s", mdb_strerror(rc));
		db_close(db);
		return NULL;
	}
	int dead = 0, fd;
	mdb_reader_check(db->env, &dead);
	if (db_read_meta(db)) {
		db_close(db);
		return NULL;
	}
	if (mdb_env_get_fd(db->env, &fd) != 0 || db_mapped_range(fd, &db->map_start, &db->map_len) != 0)
		db->map_start = NULL;
	return db;
}

void db_close(Db *db)
{
	if (!db)
		return;
	if (db->env)
		mdb_env_close(db->env);
	db_info_free(&db->info);
	free(db->path);
	free(db);
}

const DbInfo *db_info(const Db *db) { return &db->info; }
const char *db_path(const Db *db) { return db->path; }

uint64_t db_disk_size(const Db *db)
{
	char *data = xasprintf("%s/data.mdb", db->path);
	struct stat st;
	uint64_t size = stat(data, &st) == 0 ? (uint64_t)st.st_size : 0;
	free(data);
	return size;
}

void db_drop_pages(Db *db)
{
	/* the mapping is shared, read-only and backed by the file: the pages stay in the page
	 * cache, and a thread reading a record meanwhile faults them back in */
	if (db->map_start)
		madvise(db->map_start, db->map_len, MADV_DONTNEED);
}

DbCursor *db_cursor_new(Db *db)
{
	DbCursor *c = xcalloc(1, sizeof *c);
	c->db = db;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &c->txn);
	if (rc) {
		db_fail(db, "read transaction: %s", mdb_strerror(rc));
		free(c);
		return NULL;
	}
	return c;
}

void db_cursor_free(DbCursor *c)
{
	if (!c)
		return;
	mdb_txn_abort(c->txn);
	free(c);
}

/* Why r does not belong in this database (into why), or NULL. */
static const char *record_misfit(const DbInfo *m, const RecordView *r, char *why, size_t len)
{
	if (r->height != m->height || r->width != m->width || r->channels != m->channels)
		snprintf(why, len, "shape %ux%ux%u differs from the database's %ux%ux%u", r->height, r->width,
			 r->channels, m->height, m->width, m->channels);
	else if (r->encoding != m->encoding)
		snprintf(why, len, "encoding %s differs from the database's", encoding_name(r->encoding));
	else if (m->labelled ? (r->label < 0 || (uint32_t)r->label >= m->num_classes) : r->label != -1)
		snprintf(why, len, "label %d is outside the database's %s", r->label,
			 m->labelled ? "classes" : "rule (unlabelled)");
	else
		return NULL;
	return why;
}

int db_get(DbCursor *c, uint64_t index, RecordView *r)
{
	Db *db = c->db;
	char key[DB_KEY_DIGITS + 1];
	if (index >= db->info.count) {
		db_fail(db, "record %" PRIu64 " asked for, the database holds %" PRIu64 " (0..%" PRIu64 ")", index,
			db->info.count, db->info.count - 1);
		return -1;
	}
	db_key(key, index);
	MDB_val k = { DB_KEY_DIGITS, key }, v;
	int rc = mdb_get(c->txn, db->dbi, &k, &v);
	if (rc) {
		db_fail(db, "key %s: %s", key, rc == MDB_NOTFOUND ? "missing (damaged database)" : mdb_strerror(rc));
		return -1;
	}
	const char *why;
	char buf[160];
	if (record_parse(v.mv_data, v.mv_size, r, &why) == 0)
		why = record_misfit(&db->info, r, buf, sizeof buf);
	if (why) {
		db_fail(db, "key %s: %s", key, why);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */

void db_print_info(FILE *out, const Db *db)
{
	const DbInfo *m = &db->info;
	char size[32];
	fprintf(out, "database:   %s\n", db->path);
	fprintf(out, "records:    %" PRIu64 "\n", m->count);
	fprintf(out, "shape:      %ux%ux%u (height x width x channels)\n", m->height, m->width, m->channels);
	fprintf(out, "encoding:   %s\n", encoding_name(m->encoding));
	if (!m->labelled)
		fprintf(out, "labels:     none (unlabelled)");
	else
		fprintf(out, "labels:     0..%u (%u classes)", m->num_classes - 1, m->num_classes);
	if (m->classes.count) {
		fprintf(out, ", names: ");
		uint32_t show = m->classes.count < 5 ? m->classes.count : 5;
		for (uint32_t i = 0; i < show; i++)
			fprintf(out, "%s%s", i ? ", " : "", m->classes.names[i]);
		if (show < m->classes.count)
			fprintf(out, ", ... (%u names)", m->classes.count);
	} else if (m->labelled) {
		fprintf(out, ", no class names");
	}
	fprintf(out, "\n");
	if (m->shuffled)
		fprintf(out, "order:      shuffled, seed %" PRIu64 "\n", m->seed);
	else
		fprintf(out, "order:      input order (not shuffled)\n");
	fprintf(out, "created:    %s by anet %s\n", m->created, m->version);
	fprintf(out, "size:       %s on disk (data.mdb)\n", format_bytes(size, sizeof size, (double)db_disk_size(db)));
}
