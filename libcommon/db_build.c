/* db_build.c: mkdb's side of the database: DB.tmp and its lock, the one-pass shuffle, map
 * growth with transaction replay, validation of the stream, and the atomic rename (see db.h). */
#include "libcommon/db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "kernels/rng.h"
#include "libcommon/opt.h"
#include "libcommon/progress.h"
#include "libcommon/util.h"

/* Each record of a transaction may dirty two B-tree leaves (keys i and j) that LMDB copies
 * into memory, besides the record's own bytes (in the log, at key j and at key i): the memory
 * a transaction holds is estimated as 3 * its input + 2 pages per record, and a transaction
 * ends when that reaches 3 * txn_size. */
#define TXN_LEAVES_PER_RECORD 2
/* Unmap the pages read through the map after this many bytes, or records (see map_drop). */
#define MAP_DROP_BYTES (1u << 20)
#define MAP_DROP_RECORDS 64
/* Compact the finished file when more than this share of its pages is free (see compact). */
#define COMPACT_FREE_SHARE 0.1
/* The compacted copy, in DB.tmp until it replaces data.mdb, and its transactions' size. */
#define COPY_TXN_BYTES (16u << 20)
#define COMPACT_NAME "data.mdb.compact"

struct DbBuild {
	DbBuildOptions o;
	char *path, *tmp;
	int tmpfd;               /* DB.tmp, flock'ed while we own it */
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	uint64_t map_size;
	/* the current transaction's input, to replay it in a larger map: [u32 length][record]... */
	uint8_t *log;
	size_t log_len, log_cap;
	uint64_t txn_first, txn_records;
	uint8_t *moved;          /* the record being moved from key j to key i */
	size_t moved_cap;
	uint64_t count, bytes;
	/* what every record must agree with */
	uint32_t height, width, channels, encoding;
	char *first_name;
	int labelled;            /* -1 until the first record */
	int32_t max_label;
	uint64_t max_label_index;
	int have_classes;
	ClassTable classes;
	uint64_t *per_class;     /* records per label */
	uint32_t per_class_len;
	uint64_t commits;
	/* where data.mdb is mapped, and how much has been read through it since it was dropped */
	void *map_start;
	size_t map_len;
	uint64_t page_size;
	uint64_t map_read;
};

static void scratch_set(DbBuild *b, int active)
{
	if (b->o.scratch)
		b->o.scratch->active = active;
}

void db_scratch_remove(const DbScratch *s)
{
	if (!s->active)
		return;
	unlink(s->data);
	unlink(s->lock);
	unlink(s->compact);
	rmdir(s->tmp);
}

void db_build_defaults(DbBuildOptions *o)
{
	memset(o, 0, sizeof *o);
	o->seed = DB_DEFAULT_SEED;
	o->shuffle = 1;
	o->map_size = DB_DEFAULT_MAP_SIZE;
	o->txn_size = DB_DEFAULT_TXN_SIZE;
}

uint64_t db_build_count(const DbBuild *b) { return b->count; }
uint64_t db_build_map_size(const DbBuild *b) { return b->map_size; }

/* ---------------------------------------------------------------------------------------- */
/* DB and DB.tmp on disk */

/* What the folder open as dirfd holds: 0 an LMDB database (data.mdb, and nothing but that,
 * lock.mdb and a compaction's copy), 1 none of those files and nothing else, -1 anything
 * else (named in odd). */
static int dir_is_env(int dirfd, char *odd, size_t oddlen)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		snprintf(odd, oddlen, "cannot be listed: %s", strerror(errno));
		return -1;
	}
	rewinddir(d);
	int data = 0, rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!strcmp(e->d_name, "data.mdb"))
			data = 1;
		else if (strcmp(e->d_name, "lock.mdb") && strcmp(e->d_name, COMPACT_NAME)) {
			snprintf(odd, oddlen, "holds '%.200s', which is not part of an LMDB database", e->d_name);
			rc = -1;
			break;
		}
	}
	closedir(d);
	if (rc == 0 && !data) {
		snprintf(odd, oddlen, "holds no data.mdb");
		rc = 1;
	}
	return rc;
}

static void dir_clear_env(int dirfd)
{
	unlinkat(dirfd, "data.mdb", 0);
	unlinkat(dirfd, "lock.mdb", 0);
	unlinkat(dirfd, COMPACT_NAME, 0);
}

/* DB must not exist, or (with force) be a database folder we may replace. */
static int check_target(DbBuild *b)
{
	struct stat st;
	if (lstat(b->path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		warn_errno("%s", b->path);
		return -1;
	}
	if (!b->o.force) {
		warn_msg("%s: exists (use --force to replace it once the new database is complete)", b->path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		warn_msg("%s: exists and is not a database folder; refusing to replace it", b->path);
		return -1;
	}
	int fd = open(b->path, O_RDONLY | O_DIRECTORY);
	char odd[300];
	int rc = fd >= 0 ? dir_is_env(fd, odd, sizeof odd) : -1;
	rc = rc ? -1 : 0;
	if (fd < 0)
		snprintf(odd, sizeof odd, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	if (rc)
		warn_msg("%s: %s; refusing to replace it", b->path, odd);
	return rc;
}

/* Opens and locks DB.tmp; 1 if it was just created, 0 if it existed, -1 if another mkdb
 * holds it or it vanished (retry), -2 on a real error. */
static int lock_tmp(DbBuild *b)
{
	int created = mkdir(b->tmp, 0777) == 0;
	if (!created && errno != EEXIST) {
		warn_errno("%s", b->tmp);
		return -2;
	}
	int fd = open(b->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -1;
		warn_errno("%s", b->tmp);
		return -2;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		warn_msg("%s: another mkdb is building %s (its DB.tmp is locked)", b->tmp, b->path);
		return -2;
	}
	/* the folder we locked must still be the one named DB.tmp (a finishing run renames it) */
	struct stat a, n;
	if (fstat(fd, &a) != 0 || stat(b->tmp, &n) != 0 || a.st_ino != n.st_ino || a.st_dev != n.st_dev) {
		close(fd);
		return -1;
	}
	b->tmpfd = fd;
	return created;
}

static int take_tmp(DbBuild *b)
{
	int rc, tries = 0;
	while ((rc = lock_tmp(b)) == -1 && ++tries < 100)
		;
	if (rc < 0) {
		if (rc == -1)
			warn_msg("%s: keeps changing under us; is another mkdb running?", b->tmp);
		return -1;
	}
	if (rc == 0) {
		/* nobody holds its lock: a run was killed (SIGKILL, power loss) while building */
		char odd[300];
		if (dir_is_env(b->tmpfd, odd, sizeof odd) < 0) {
			warn_msg("%s: exists, is not a stale mkdb build (it %s); remove it yourself", b->tmp, odd);
			return -1;
		}
		warn_msg("%s: replacing the unfinished build of an earlier run that was killed", b->tmp);
		dir_clear_env(b->tmpfd);
	}
	scratch_set(b, 1);
	return 0;
}

static char *strip_slashes(const char *path)
{
	char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	return p;
}

/* ---------------------------------------------------------------------------------------- */
/* LMDB: the environment, the shuffle, transactions and map growth */

static int lmdb_fail(DbBuild *b, const char *what, int rc)
{
	/* LMDB turns a short write, which is how a full disk shows itself, into EIO: say so */
	struct statvfs fs;
	char free_b[32], hint[96] = "";
	if (rc == EIO && statvfs(b->tmp, &fs) == 0)
		snprintf(hint, sizeof hint, " (a short write: the disk is full? %s free)",
			 format_bytes(free_b, sizeof free_b, (double)fs.f_bavail * (double)fs.f_frsize));
	warn_msg("%s: %s: %s%s", b->tmp, what, rc == -1 ? "failed" : mdb_strerror(rc), hint);
	return -1;
}

/* Where LMDB maps data.mdb now (it remaps when the map grows). */
static void map_locate(DbBuild *b)
{
	int fd;
	b->map_start = NULL;
	b->map_len = 0;
	if (mdb_env_get_fd(b->env, &fd) == 0 && db_mapped_range(fd, &b->map_start, &b->map_len) != 0)
		b->map_start = NULL;
}

/* Unmaps what the shuffle has read through the map. The map is read-only and shared, so the
 * pages stay in the page cache and pointers LMDB holds fault them back in. Without this the
 * RSS grows with the database (the kernel maps whole large folios on a fault), although
 * nothing is allocated. */
static void map_drop(DbBuild *b)
{
	if (b->map_start)
		madvise(b->map_start, b->map_len, MADV_DONTNEED);
	b->map_read = 0;
}

static int env_create(DbBuild *b)
{
	/* NOLOCK: DB.tmp has one user, guarded by our flock; NOSYNC: a crash loses only DB.tmp,
	 * and finish syncs once before the rename; NORDAHEAD: the shuffle reads at random */
	int rc = mdb_env_create(&b->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(b->env, (size_t)b->map_size);
	if (rc == 0)
		rc = mdb_env_open(b->env, b->tmp, MDB_NOLOCK | MDB_NOSYNC | MDB_NORDAHEAD, 0666);
	if (rc)
		return lmdb_fail(b, "creating the database", rc);
	MDB_stat st;
	b->page_size = mdb_env_stat(b->env, &st) == 0 ? st.ms_psize : 4096;
	map_locate(b);
	return 0;
}

static int txn_begin(DbBuild *b)
{
	int rc = mdb_txn_begin(b->env, NULL, 0, &b->txn);
	if (rc == 0)
		rc = mdb_dbi_open(b->txn, NULL, 0, &b->dbi);
	if (rc) {
		if (b->txn)
			mdb_txn_abort(b->txn);
		b->txn = NULL;
		return rc;
	}
	return 0;
}

/* Doubles the map (no transaction may be open). */
static int map_grow(DbBuild *b)
{
	char from[32], to[32];
	if (b->map_size > SIZE_MAX / 2) {
		warn_msg("%s: the database does not fit in this machine's address space", b->tmp);
		return -1;
	}
	uint64_t size = b->map_size * 2;
	int rc = mdb_env_set_mapsize(b->env, (size_t)size);
	if (rc) {
		warn_msg("%s: growing the map to %s: %s", b->tmp, format_bytes(to, sizeof to, (double)size),
			 mdb_strerror(rc));
		return -1;
	}
	if (b->o.verbose)
		warn_msg("%s: map full at %s, grown to %s", b->tmp, format_bytes(from, sizeof from, (double)b->map_size),
			 format_bytes(to, sizeof to, (double)size));
	b->map_size = size;
	map_locate(b);
	return 0;
}

static int put(DbBuild *b, uint64_t index, const void *data, size_t len, unsigned flags)
{
	char key[DB_KEY_DIGITS + 1];
	db_key(key, index);
	MDB_val k = { DB_KEY_DIGITS, key }, v = { len, (void *)data };
	return mdb_put(b->txn, b->dbi, &k, &v, flags);
}

uint64_t db_shuffle_slot(uint64_t seed, uint64_t i)
{
	return rng_below(seed, RNG_STREAM(RNG_DB, 0), i, (uint32_t)(i + 1));
}

/* Record i (rec, len) arrives: the inside-out Fisher-Yates step. Key i is always the largest
 * key so far, so it goes in with MDB_APPEND (no search, full pages). */
static int shuffle_put(DbBuild *b, uint64_t i, const uint8_t *rec, size_t len)
{
	uint64_t j = b->o.shuffle ? db_shuffle_slot(b->o.seed, i) : i;
	if (j == i)
		return put(b, i, rec, len, MDB_APPEND);
	char key[DB_KEY_DIGITS + 1];
	db_key(key, j);
	MDB_val k = { DB_KEY_DIGITS, key }, v;
	int rc = mdb_get(b->txn, b->dbi, &k, &v);
	if (rc)
		return rc;
	/* copied: the value points into a page the next put may move */
	if (v.mv_size > b->moved_cap) {
		b->moved_cap = v.mv_size;
		free(b->moved);
		b->moved = xmalloc(v.mv_size);
	}
	memcpy(b->moved, v.mv_data, v.mv_size);
	if ((b->map_read += v.mv_size) >= MAP_DROP_BYTES || i % MAP_DROP_RECORDS == 0)
		map_drop(b);
	rc = put(b, i, b->moved, v.mv_size, MDB_APPEND);
	return rc ? rc : put(b, j, rec, len, 0);
}

/* Puts every record logged for the current transaction again (after a map growth). */
static int txn_replay(DbBuild *b)
{
	size_t at = 0;
	for (uint64_t n = 0; n < b->txn_records; n++) {
		uint32_t len = get_u32(b->log + at);
		int rc = shuffle_put(b, b->txn_first + n, b->log + at + 4, len);
		if (rc)
			return rc;
		at += 4 + (size_t)len;
	}
	return 0;
}

/* After MDB_MAP_FULL (the transaction is dead): grow and redo it, committing when commit is
 * set, until it fits. */
static int txn_redo(DbBuild *b, int commit)
{
	for (;;) {
		if (b->txn)
			mdb_txn_abort(b->txn);
		b->txn = NULL;
		if (map_grow(b))
			return -1;
		int rc = txn_begin(b);
		if (rc == 0)
			rc = txn_replay(b);
		if (rc == 0 && commit) {
			rc = mdb_txn_commit(b->txn);
			b->txn = NULL;
		}
		if (rc == 0)
			return 0;
		if (rc != MDB_MAP_FULL)
			return lmdb_fail(b, "writing", rc);
	}
}

static int txn_commit(DbBuild *b)
{
	int rc = mdb_txn_commit(b->txn);
	b->txn = NULL;
	if (rc == MDB_MAP_FULL)
		rc = txn_redo(b, 1);
	else if (rc)
		return lmdb_fail(b, "committing", rc);
	if (rc)
		return -1;
	b->commits++;
	b->txn_first = b->count;
	b->txn_records = 0;
	b->log_len = 0;
	map_drop(b);
	return 0;
}

/* Stores record (packed) as number b->count, in the current transaction. */
static int store(DbBuild *b, const RecordView *r)
{
	size_t len = RECORD_HEADER_SIZE + (size_t)r->name_len + r->payload_len;
	if (b->log_len + 4 + len > b->log_cap) {
		b->log_cap = (b->log_len + 4 + len) * 2;
		b->log = xrealloc(b->log, b->log_cap);
	}
	uint8_t *rec = b->log + b->log_len + 4;
	size_t packed;
	uint8_t *tmp = record_pack(r, &packed);
	memcpy(rec, tmp, packed);
	free(tmp);
	put_u32(b->log + b->log_len, (uint32_t)len);
	b->log_len += 4 + len;
	b->txn_records++;
	if (!b->txn) {
		int rc = txn_begin(b);
		if (rc)
			return lmdb_fail(b, "starting a transaction", rc);
	}
	int rc = shuffle_put(b, b->count, rec, len);
	if (rc == MDB_MAP_FULL)
		rc = txn_redo(b, 0);
	else if (rc)
		return lmdb_fail(b, "writing", rc);
	if (rc)
		return -1;
	b->count++;
	b->bytes += len;
	if (3 * b->log_len + TXN_LEAVES_PER_RECORD * b->txn_records * b->page_size >= 3 * b->o.txn_size)
		return txn_commit(b);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* validation */

static int record_fail(DbBuild *b, const RecordView *r, const char *source, const char *fmt, ...)
	ANET_PRINTF(4, 5);
static int record_fail(DbBuild *b, const RecordView *r, const char *source, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warn_msg("%s: record %" PRIu64 " (%.*s): %s", source, b->count, (int)r->name_len, r->name, msg);
	return -1;
}

static int check_shape(DbBuild *b, const RecordView *r, const char *source)
{
	if (b->count == 0) {
		b->height = r->height;
		b->width = r->width;
		b->channels = r->channels;
		b->encoding = r->encoding;
		b->first_name = xasprintf("%.*s", (int)r->name_len, r->name);
		return 0;
	}
	if (r->height != b->height || r->width != b->width || r->channels != b->channels)
		return record_fail(b, r, source, "size %ux%ux%u differs from the first record's %ux%ux%u (%s)",
				   r->height, r->width, r->channels, b->height, b->width, b->channels, b->first_name);
	if (r->encoding != b->encoding) {
		char other[32];
		snprintf(other, sizeof other, "%s", encoding_name(b->encoding));
		return record_fail(b, r, source, "encoding %s differs from the first record's %s (%s)",
				   encoding_name(r->encoding), other, b->first_name);
	}
	return 0;
}

static void count_label(DbBuild *b, int32_t label)
{
	if ((uint32_t)label >= b->per_class_len) {
		uint32_t n = (uint32_t)label + 1 > 2 * b->per_class_len ? (uint32_t)label + 1 : 2 * b->per_class_len;
		b->per_class = xreallocarray(b->per_class, n, sizeof *b->per_class);
		memset(b->per_class + b->per_class_len, 0, (n - b->per_class_len) * sizeof *b->per_class);
		b->per_class_len = n;
	}
	b->per_class[label]++;
	if (label > b->max_label) {
		b->max_label = label;
		b->max_label_index = b->count;
	}
}

/* Every record labelled (0..K-1) or every record unlabelled (-1): a mix is a mistake. */
static int check_label(DbBuild *b, const RecordView *r, const char *source)
{
	int labelled = r->label >= 0;
	if (b->labelled < 0)
		b->labelled = labelled;
	if (labelled != b->labelled)
		return record_fail(b, r, source,
				   labelled ? "labelled (%d), but the records before it are unlabelled"
					    : "unlabelled (%d), but the records before it are labelled",
				   r->label);
	if (!labelled)
		return 0;
	if (b->have_classes && (uint32_t)r->label >= b->classes.count)
		return record_fail(b, r, source, "label %d is out of range: the class table has %u classes (0..%u)",
				   r->label, b->classes.count, b->classes.count - 1);
	if (!b->have_classes && r->label >= CLASSES_MAX_COUNT)
		return record_fail(b, r, source, "label %d is too large (at most %d classes)", r->label,
				   CLASSES_MAX_COUNT);
	count_label(b, r->label);
	return 0;
}

int db_build_add(DbBuild *b, const RecordView *r, const char *source)
{
	if (b->count >= DB_MAX_RECORDS)
		return record_fail(b, r, source, "more than %llu records", DB_MAX_RECORDS);
	if (check_shape(b, r, source) || check_label(b, r, source))
		return -1;
	return store(b, r);
}

int db_build_classes(DbBuild *b, const ClassTable *t, const char *source)
{
	if (b->have_classes) {
		if (classes_equal(&b->classes, t))
			return 0;
		warn_msg("%s: after %" PRIu64 " record%s: a second class table (%u classes) differs from the first "
			 "(%u classes)", source, b->count, b->count == 1 ? "" : "s", t->count, b->classes.count);
		return -1;
	}
	if (b->labelled == 1 && (uint32_t)b->max_label >= t->count) {
		warn_msg("%s: after %" PRIu64 " record%s: the class table has %u classes, but record %" PRIu64
			 " has label %d", source, b->count, b->count == 1 ? "" : "s", t->count, b->max_label_index,
			 b->max_label);
		return -1;
	}
	b->classes = classes_copy(t);
	b->have_classes = 1;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* open, finish, abort */

DbBuild *db_build_open(const char *path, const DbBuildOptions *o)
{
	DbBuild *b = xcalloc(1, sizeof *b);
	b->o = *o;
	b->path = strip_slashes(path);
	b->tmp = xasprintf("%s.tmp", b->path);
	b->tmpfd = -1;
	b->labelled = -1;
	b->max_label = -1;
	b->map_size = o->map_size;
	if (strlen(b->tmp) + 16 > sizeof o->scratch->tmp) {
		warn_msg("%s: path too long", b->path);
		free(b->path), free(b->tmp), free(b);
		return NULL;
	}
	if (o->scratch) {
		snprintf(o->scratch->tmp, sizeof o->scratch->tmp, "%s", b->tmp);
		snprintf(o->scratch->data, sizeof o->scratch->data, "%s/data.mdb", b->tmp);
		snprintf(o->scratch->lock, sizeof o->scratch->lock, "%s/lock.mdb", b->tmp);
		snprintf(o->scratch->compact, sizeof o->scratch->compact, "%s/" COMPACT_NAME, b->tmp);
	}
	if (check_target(b) || take_tmp(b) || env_create(b)) {
		db_build_abort(b);
		return NULL;
	}
	return b;
}

static void build_free(DbBuild *b)
{
	if (b->txn)
		mdb_txn_abort(b->txn);
	if (b->env)
		mdb_env_close(b->env);
	if (b->tmpfd >= 0)
		close(b->tmpfd); /* releases the lock */
	classes_free(&b->classes);
	free(b->log);
	free(b->moved);
	free(b->first_name);
	free(b->per_class);
	free(b->path);
	free(b->tmp);
	free(b);
}

void db_build_abort(DbBuild *b)
{
	if (!b)
		return;
	if (b->txn)
		mdb_txn_abort(b->txn);
	b->txn = NULL;
	if (b->env)
		mdb_env_close(b->env);
	b->env = NULL;
	if (b->tmpfd >= 0) { /* we own DB.tmp: remove it */
		dir_clear_env(b->tmpfd);
		rmdir(b->tmp);
	}
	scratch_set(b, 0);
	build_free(b);
}

/* "2026-11-27T12:00:00Z": now, or SOURCE_DATE_EPOCH for reproducible builds. */
static void utc_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	long long e;
	const char *env = getenv("SOURCE_DATE_EPOCH");
	if (env && parse_int(env, 0, (long long)1 << 40, &e) == 0)
		t = (time_t)e;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fill_info(DbBuild *b, DbInfo *m)
{
	memset(m, 0, sizeof *m);
	m->count = b->count;
	m->height = b->height;
	m->width = b->width;
	m->channels = b->channels;
	m->encoding = b->encoding;
	m->labelled = b->labelled == 1;
	m->num_classes = b->have_classes ? b->classes.count : (uint32_t)(b->max_label + 1);
	if (b->have_classes)
		m->classes = classes_copy(&b->classes);
	m->seed = b->o.seed;
	m->shuffled = b->o.shuffle;
	snprintf(m->version, sizeof m->version, "%s", ANET_VERSION);
	utc_now(m->created, sizeof m->created);
}

/* The metadata entry, in a transaction of its own (grown and retried like the others). */
static int write_meta(DbBuild *b, const DbInfo *m)
{
	size_t len;
	char *text = db_meta_format(m, &len);
	int rc;
	for (;;) {
		rc = txn_begin(b);
		if (rc == 0) {
			MDB_val k = { strlen(DB_META_KEY), DB_META_KEY }, v = { len, text };
			rc = mdb_put(b->txn, b->dbi, &k, &v, 0);
			if (rc == 0)
				rc = mdb_txn_commit(b->txn);
			else
				mdb_txn_abort(b->txn);
			b->txn = NULL;
		}
		if (rc != MDB_MAP_FULL || map_grow(b))
			break;
	}
	free(text);
	return rc ? lmdb_fail(b, "writing the metadata", rc) : 0;
}

/* DB.tmp to DB: renameat2 RENAME_EXCHANGE (replace) or RENAME_NOREPLACE, atomic. Where the
 * file system has no renameat2 (EINVAL), plain renames: to replace, the old DB moves aside
 * first (DB is briefly absent); otherwise DB was checked absent just before. */
static int rename_into_place(DbBuild *b, int replace)
{
	unsigned flags = replace ? RENAME_EXCHANGE : RENAME_NOREPLACE;
	if (renameat2(AT_FDCWD, b->tmp, AT_FDCWD, b->path, flags) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (!replace)
		return rename(b->tmp, b->path);
	char *aside = xasprintf("%s.old.%ld", b->path, (long)getpid());
	int rc = rename(b->path, aside);
	if (rc == 0 && (rc = rename(b->tmp, b->path)) != 0)
		rename(aside, b->path);
	else if (rc == 0)
		rc = rename(aside, b->tmp); /* where the caller removes it */
	free(aside);
	return rc;
}

/* DB.tmp becomes DB in one step, an old DB (under --force) ending up at DB.tmp to be removed.
 * Signals are held meanwhile, so that the handler never removes the finished database. */
static int publish(DbBuild *b)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	int oldfd = -1, rc = 0;
	struct stat st;
	int replace = lstat(b->path, &st) == 0;
	if (replace && !b->o.force) {
		warn_msg("%s: appeared while mkdb ran; not replaced", b->path);
		rc = -1;
	} else if (replace && check_target(b)) {
		rc = -1;
	} else if (replace) {
		/* locked, so that no other mkdb takes it for a stale DB.tmp once it is renamed */
		oldfd = open(b->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (oldfd >= 0 && flock(oldfd, LOCK_EX | LOCK_NB) != 0) {
			close(oldfd);
			oldfd = -1;
		}
	}
	if (rc == 0 && (rc = rename_into_place(b, replace)) != 0)
		warn_errno("%s: renaming to %s", b->tmp, b->path);
	if (rc == 0) {
		scratch_set(b, 0);
		close(b->tmpfd);
		b->tmpfd = -1;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		fsync_parent(b->path);
	if (oldfd >= 0) {
		if (rc == 0) { /* the old database now sits at DB.tmp */
			dir_clear_env(oldfd);
			rmdir(b->tmp);
		}
		close(oldfd);
	}
	return rc;
}

/* The share of data.mdb's pages that are free: the shuffle's overwrites copy pages, and the
 * old copies from the last two transactions can never be reused. */
static double free_share(DbBuild *b)
{
	MDB_txn *txn;
	MDB_stat main, freedb;
	MDB_envinfo info;
	if (mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn))
		return 0;
	int rc = mdb_stat(txn, b->dbi, &main) || mdb_stat(txn, 0 /* LMDB's free-page DB */, &freedb) ||
		 mdb_env_info(b->env, &info);
	mdb_txn_abort(txn);
	if (rc)
		return 0;
	double total = (double)info.me_last_pgno + 1;
	double used = 2.0 /* meta pages */ + (double)(main.ms_branch_pages + main.ms_leaf_pages + main.ms_overflow_pages) +
		      (double)(freedb.ms_branch_pages + freedb.ms_leaf_pages + freedb.ms_overflow_pages);
	return used < total ? (total - used) / total : 0;
}

/* Puts every entry of the built environment, in key order, into a fresh environment in the
 * single file copy (MDB_APPEND fills every page, and nothing is freed), unmapping what it has
 * read as it goes. LMDB's own mdb_env_copyfd2(MDB_CP_COMPACT) would do the copy, but it maps
 * the whole file into this process on the way, and the RSS would grow with the database. */
static int copy_compact(DbBuild *b, const char *copy)
{
	MDB_env *dst;
	MDB_txn *rtxn = NULL, *wtxn = NULL;
	MDB_cursor *cur = NULL;
	MDB_dbi ddbi;
	MDB_val k, v;
	int rc = mdb_env_create(&dst);
	if (rc == 0)
		rc = mdb_env_set_mapsize(dst, (size_t)b->map_size);
	if (rc == 0)
		rc = mdb_env_open(dst, copy, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0666);
	if (rc == 0)
		rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &rtxn);
	if (rc == 0)
		rc = mdb_cursor_open(rtxn, b->dbi, &cur);
	/* each commit copies the right edge of the tree: few, large transactions */
	uint64_t n = 0, bytes = 0, read = 0, txn_bytes = b->o.txn_size > COPY_TXN_BYTES ? b->o.txn_size : COPY_TXN_BYTES;
	for (int op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
		if ((rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op)) != 0)
			break;
		if (!wtxn && ((rc = mdb_txn_begin(dst, NULL, 0, &wtxn)) || (rc = mdb_dbi_open(wtxn, NULL, 0, &ddbi))))
			break;
		rc = mdb_put(wtxn, ddbi, &k, &v, MDB_APPEND);
		bytes += v.mv_size;
		if ((read += v.mv_size) >= MAP_DROP_BYTES || ++n % MAP_DROP_RECORDS == 0) {
			map_drop(b);
			read = 0;
		}
		if (rc == 0 && bytes >= txn_bytes) {
			rc = mdb_txn_commit(wtxn);
			wtxn = NULL;
			bytes = 0;
		}
	}
	if (rc == MDB_NOTFOUND) {
		rc = wtxn ? mdb_txn_commit(wtxn) : 0;
		wtxn = NULL;
	}
	if (wtxn)
		mdb_txn_abort(wtxn);
	if (cur)
		mdb_cursor_close(cur);
	if (rtxn)
		mdb_txn_abort(rtxn);
	map_drop(b);
	if (rc == 0)
		rc = mdb_env_sync(dst, 1);
	mdb_env_close(dst);
	return rc;
}

/* Rewrites data.mdb without its free pages (copy_compact) when they are more than
 * COMPACT_FREE_SHARE of it; closes the environment. */
static int compact(DbBuild *b)
{
	double share = free_share(b);
	if (share <= COMPACT_FREE_SHARE) {
		mdb_env_close(b->env);
		b->env = NULL;
		return 0;
	}
	char *copy = xasprintf("%s/" COMPACT_NAME, b->tmp), *data = xasprintf("%s/data.mdb", b->tmp);
	double start = now_seconds();
	int rc = copy_compact(b, copy);
	if (rc)
		lmdb_fail(b, "compacting", rc);
	mdb_env_close(b->env);
	b->env = NULL;
	if (rc == 0 && (rc = rename(copy, data)) != 0)
		warn_errno("%s: renaming to %s", copy, data);
	if (rc == 0 && b->o.verbose)
		warn_msg("%s: compacted in %.1f s (%.0f%% of its pages were free)", b->tmp, now_seconds() - start,
			 100 * share);
	if (rc)
		unlink(copy);
	free(copy);
	free(data);
	return rc ? -1 : 0;
}

/* Commits, writes the metadata (into *m), syncs and renames; b stays allocated. */
static int build_finish(DbBuild *b, DbInfo *m)
{
	if (b->count == 0) {
		warn_msg("%s: no records", b->path);
		return -1;
	}
	if (b->txn && txn_commit(b))
		return -1;
	fill_info(b, m);
	int rc = write_meta(b, m);
	if (rc == 0 && (rc = mdb_env_sync(b->env, 1)) != 0)
		lmdb_fail(b, "syncing", rc);
	if (rc == 0)
		rc = compact(b);
	if (rc == 0 && fsync(b->tmpfd) != 0)
		rc = -1, warn_errno("%s: fsync", b->tmp);
	if (rc == 0)
		rc = publish(b);
	if (rc)
		db_info_free(m);
	return rc;
}

int db_build_finish(DbBuild *b, DbInfo *info)
{
	DbInfo m;
	if (build_finish(b, &m)) {
		db_build_abort(b);
		return -1;
	}
	if (info)
		*info = m;
	else
		db_info_free(&m);
	build_free(b);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* mkdb: a stream into a database */

/* "10 classes (5983..6017 records each)", and a warning for classes without records. */
static void class_summary(DbBuild *b, const DbInfo *m, char *buf, size_t len)
{
	if (!m->labelled) {
		snprintf(buf, len, "unlabelled");
		return;
	}
	uint64_t lo = UINT64_MAX, hi = 0;
	uint32_t empty = 0, first_empty = 0;
	for (uint32_t k = 0; k < m->num_classes; k++) {
		uint64_t n = k < b->per_class_len ? b->per_class[k] : 0;
		if (n == 0 && empty++ == 0)
			first_empty = k;
		lo = n < lo ? n : lo;
		hi = n > hi ? n : hi;
	}
	snprintf(buf, len, "%u classes (%" PRIu64 "..%" PRIu64 " records each)", m->num_classes, lo, hi);
	if (empty)
		warn_msg("warning: %s: %u of %u classes have no records (the first is %u%s%s%s)", b->path, empty,
			 m->num_classes, first_empty, m->classes.count ? " '" : "",
			 m->classes.count ? m->classes.names[first_empty] : "", m->classes.count ? "'" : "");
}

static void summary(DbBuild *b, const DbInfo *m, double seconds)
{
	char classes[160], bytes[32], map[32], order[64];
	class_summary(b, m, classes, sizeof classes);
	if (m->shuffled)
		snprintf(order, sizeof order, "shuffled with seed %" PRIu64, m->seed);
	else
		snprintf(order, sizeof order, "in input order");
	format_bytes(bytes, sizeof bytes, (double)b->bytes);
	format_bytes(map, sizeof map, (double)b->map_size);
	warn_msg("%s: %" PRIu64 " records %ux%ux%u %s, %s, %s; %s in %.1f s (%.1f MB/s), %" PRIu64
		 " commits, map %s", b->path, m->count, m->height, m->width, m->channels, encoding_name(m->encoding),
		 classes, order, bytes, seconds, seconds > 0 ? (double)b->bytes / seconds / 1e6 : 0.0, b->commits + 1,
		 map);
}

/* Reads every frame into b; 0 at a clean end of the stream. */
static int read_stream(DbBuild *b, FILE *in, const char *source, Progress *p)
{
	RecordReader rd;
	RecordView r;
	ClassTable t;
	char *last = NULL, extra[64];
	int rc = 0, frame;
	record_reader_init(&rd, in, source);
	while ((frame = record_read(&rd, &r, &t)) != FRAME_END) {
		if (frame == FRAME_CLASSES) {
			rc = db_build_classes(b, &t, source);
			classes_free(&t);
		} else if (frame == FRAME_RECORD) {
			rc = db_build_add(b, &r, source);
			free(last);
			last = xasprintf("%.*s", (int)r.name_len, r.name);
		} else {
			if (last)
				warn_msg("%s: the last good record was %" PRIu64 " (%s)", source, b->count - 1, last);
			rc = -1;
		}
		if (rc)
			break;
		if (p && (b->count & 63) == 0) {
			double t0 = progress_elapsed(p);
			snprintf(extra, sizeof extra, "%.1f MB/s", t0 > 0 ? (double)b->bytes / t0 / 1e6 : 0.0);
			progress_update(p, b->count, extra);
		}
	}
	free(last);
	record_reader_free(&rd);
	return rc;
}

int db_build_from_stream(FILE *in, const char *source, const char *path, const DbBuildOptions *o)
{
	DbBuild *b = db_build_open(path, o);
	if (!b)
		return -1;
	char *what = xasprintf("%s:", b->path);
	Progress *p = o->quiet ? NULL : progress_start(what, 0, "records");
	free(what);
	double start = now_seconds();
	DbInfo m;
	int rc = read_stream(b, in, source, p);
	if (rc == 0 && b->count == 0) {
		warn_msg("%s: no records (empty input)", source);
		rc = -1;
	}
	if (rc == 0)
		rc = build_finish(b, &m);
	if (p) {
		char extra[64];
		double t = now_seconds() - start;
		/* after an error the line is the last one before "not created": not a success */
		snprintf(extra, sizeof extra, "%.1f MB/s%s", t > 0 ? (double)b->bytes / t / 1e6 : 0.0,
			 rc ? ", stopped by the error above" : "");
		progress_end(p, b->count, extra);
	}
	if (rc) {
		struct stat st;
		warn_msg("%s: %s", b->path, lstat(b->path, &st) == 0 ? "left as it was" : "not created");
		db_build_abort(b);
		return -1;
	}
	if (!o->quiet)
		summary(b, &m, now_seconds() - start);
	db_info_free(&m);
	build_free(b);
	return 0;
}
