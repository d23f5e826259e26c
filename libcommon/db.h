/* db.h: anet's LMDB databases: the builder behind mkdb and the reader every other program uses.
 *
 * A database is an LMDB environment directory DB/ holding data.mdb (and lock.mdb, which
 * LMDB's readers create). Its main (unnamed) database holds (man 5 anet-formats, DATABASE):
 *   - the records, one per key: 10-digit zero-padded decimal indices "0000000000" ..
 *     "N-1" (they sort numerically, read well in `mdb_dump -p`, and leave room for 2^32-1
 *     records); each value is one record frame exactly as imgprep wrote it (record.h);
 *   - one metadata entry under the key "anet-meta", which sorts after every record key: a
 *     short text (count, shape, encoding, labels and class names, seed, ...) parsed strictly.
 *
 * Building (db_build_*): everything goes into DB.tmp/, locked with flock(2) so that two runs
 * on the same DB cannot clobber each other; only a complete build is renamed to DB (atomically,
 * by renameat2(2): RENAME_NOREPLACE, or RENAME_EXCHANGE to replace an old DB under --force).
 * A DB.tmp whose lock is free was left by a killed run and is replaced. The records are
 * shuffled in one pass with constant memory by the inside-out Fisher-Yates shuffle: record i
 * goes to key j = uniform[0, i] (Philox, RNG_DB stream 0) and the record at key j moves to
 * key i, so every permutation is equally likely and a seed always gives the same one.
 * Transactions hold about 4 MiB of input (--txn-size) and are not synced until the end (a
 * crash only loses DB.tmp); the map starts small and doubles whenever LMDB reports
 * MDB_MAP_FULL, at a put or at a commit, the transaction being replayed from its input.
 * Overwriting committed pages makes LMDB copy them, and the copies freed by the last two
 * transactions can never be reused: when more than 10% of the file ends up free, the
 * finished database is copied without them (compacted) before the rename.
 *
 * Reading (db_open, db_cursor_*): MDB_RDONLY | MDB_NOTLS, so each thread owns one DbCursor
 * (its own read transaction) and no thread-local reader slot can run out or be reused after
 * a thread exits; stale reader slots of dead processes are cleared (mdb_reader_check) on
 * open. Never fork() while a Db is open: the child would share the parent's reader slots
 * (LMDB's documented restriction). Where the lock file cannot be created (a read-only copy of
 * a dataset), the database is opened without it (MDB_NOLOCK): an anet database is never
 * written after mkdb renames it into place, so readers need no coordination.
 *
 * Memory: values are read in place from a shared read-only mmap of data.mdb. Pages a process
 * has touched count in its RSS (as "RssFile") although they are the kernel's page cache,
 * reclaimable at any time, not memory the process allocated: a full pass over a 25 GB
 * database shows a 25 GB RSS (this is the "memory leak" of BVLC/caffe#4279). Watch
 * RssAnon, not RSS, or call db_drop_pages() from time to time: it unmaps the pages this
 * process has touched (madvise MADV_DONTNEED; the data stays in the page cache and is
 * mapped again on the next access).
 */
#ifndef ANET_DB_H
#define ANET_DB_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "libcommon/record.h"

#define DB_KEY_DIGITS 10
#define DB_META_KEY "anet-meta"
#define DB_META_VERSION 1
/* rng_below draws j in [0, i] with a 32-bit bound, and 10 digits must hold every key */
#define DB_MAX_RECORDS 4294967295ull
#define DB_DEFAULT_SEED 1
#define DB_DEFAULT_MAP_SIZE (64ull << 20)
#define DB_DEFAULT_TXN_SIZE (4ull << 20)

/* The metadata of a database (man 5 anet-formats, DATABASE). */
typedef struct {
	uint64_t count;                      /* records, at keys 0 .. count-1 */
	uint32_t height, width, channels;    /* every record's shape */
	uint32_t encoding;                   /* ENC_RAW or ENC_JPEG, every record's */
	int labelled;                        /* 1: every label is in 0..num_classes-1; 0: all -1 */
	uint32_t num_classes;                /* 0 for an unlabelled DB without class names */
	ClassTable classes;                  /* names: count 0 (none given) or num_classes */
	uint64_t seed;                       /* of the shuffle (recorded even with shuffled 0) */
	int shuffled;
	char version[32];                    /* anet version that wrote it */
	char created[32];                    /* UTC, "2026-11-27T12:00:00Z" */
} DbInfo;

/* The key j in [0, i] that record i takes in the inside-out shuffle with seed (the record
 * there moves to key i). */
uint64_t db_shuffle_slot(uint64_t seed, uint64_t i);

/* "0000000042" into key (at least DB_KEY_DIGITS + 1 bytes). */
void db_key(char *key, uint64_t index);

/* The metadata text of info (freshly allocated, *len bytes, no NUL counted). */
char *db_meta_format(const DbInfo *info, size_t *len);
/* Parses a metadata text strictly: every line in its place, every value checked. Returns 0,
 * or -1 with a reason ("line 3: height: 'x' is not a number") in why. */
int db_meta_parse(const char *text, size_t len, DbInfo *info, char *why, size_t whylen);
void db_info_free(DbInfo *info);

/* ---------------------------------------------------------------------------------------- */
/* reading */

typedef struct Db Db;
typedef struct DbCursor DbCursor;

/* Opens a database read-only and checks its metadata (count equals the number of records,
 * keys 0 and count-1 present). NULL after printing "DB: reason". */
Db *db_open(const char *path);
void db_close(Db *db);
const DbInfo *db_info(const Db *db);
const char *db_path(const Db *db);
/* Bytes data.mdb takes on disk. */
uint64_t db_disk_size(const Db *db);
/* Unmaps the pages this process has read (see Memory above), in one madvise. Safe while other
 * threads read: their records stay valid and are mapped again from the page cache when
 * touched. Each call makes every reading thread fault its pages in again (and the records of a
 * shuffled database are scattered over the file), so call it from one thread every second or
 * two (pcacolor: every 2 s), not per record. */
void db_drop_pages(Db *db);

/* One per thread: a read transaction of its own. NULL after printing the reason. */
DbCursor *db_cursor_new(Db *db);
void db_cursor_free(DbCursor *c);
/* Record index (0..count-1) into *r, pointing into the map (valid until db_cursor_free).
 * The record is checked (record_parse) and must have the database's shape, encoding and a
 * label in range; otherwise -1 after printing "DB: key 0000000042: reason". */
int db_get(DbCursor *c, uint64_t index, RecordView *r);

/* ---------------------------------------------------------------------------------------- */
/* building (mkdb) */

/* What a signal handler needs to remove a half-built DB.tmp using only async-signal-safe
 * calls (db_scratch_remove): filled by db_build_open, active while this process owns DB.tmp. */
typedef struct {
	char tmp[4096], data[4096 + 16], lock[4096 + 16], compact[4096 + 24];
	volatile sig_atomic_t active;
} DbScratch;

typedef struct {
	uint64_t seed;
	int shuffle;
	uint64_t map_size;   /* initial LMDB map; doubled on MDB_MAP_FULL */
	uint64_t txn_size;   /* input bytes per write transaction */
	int force;           /* replace an existing DB (only when the build succeeds) */
	int verbose;         /* log map growth and commits */
	int quiet;           /* no progress, no summary */
	DbScratch *scratch;  /* may be NULL */
} DbBuildOptions;

void db_build_defaults(DbBuildOptions *o);

typedef struct DbBuild DbBuild;

/* Checks DB (absent, or replaceable under force), takes DB.tmp (replacing a stale one) and
 * creates the environment in it. NULL after printing the reason. */
DbBuild *db_build_open(const char *path, const DbBuildOptions *o);
/* The class table of the stream: the first is kept, a later one must be identical. source
 * names the stream in messages. */
int db_build_classes(DbBuild *b, const ClassTable *t, const char *source);
/* Checks one record against the first (shape, encoding), its label against the labelling
 * rule and the class table, and stores it. -1 after printing "source: record N (NAME):
 * reason". */
int db_build_add(DbBuild *b, const RecordView *r, const char *source);
/* Writes the metadata, syncs, renames DB.tmp to DB; info (may be NULL) receives the
 * metadata written (free with db_info_free). -1 after printing the reason; DB.tmp is gone
 * and DB untouched either way. b is freed. */
int db_build_finish(DbBuild *b, DbInfo *info);
/* Removes DB.tmp and frees b. */
void db_build_abort(DbBuild *b);
uint64_t db_build_count(const DbBuild *b);
uint64_t db_build_map_size(const DbBuild *b);

/* Reads a record stream to its end into a new database at path: progress on stderr, a
 * summary at the end. Returns 0, or -1 after printing why (nothing is left behind). */
int db_build_from_stream(FILE *in, const char *source, const char *path, const DbBuildOptions *o);

/* Removes the files of a half-built DB.tmp; async-signal-safe (unlink, rmdir only). */
void db_scratch_remove(const DbScratch *s);

/* Prints the metadata of an open database readably (mkdb --info). */
void db_print_info(FILE *out, const Db *db);

/* Shared by the reader and the builder: the address range where this process maps the file
 * open as fd (from /proc/self/maps; LMDB does not say); -1 where it cannot be found. */
int db_mapped_range(int fd, void **start, size_t *len);

#endif
