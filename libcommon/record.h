/* record.h: the record stream imgprep writes and mkdb reads; the same bytes are LMDB values.
 *
 * A stream is a sequence of frames, each starting with a 4-byte magic (man 5 anet-formats):
 *
 *   record (32-byte header, then name, then payload), all integers little-endian:
 *     0  u32 magic "ANRC"      4  u16 version (1)    6  u16 encoding (0 raw, 1 jpeg)
 *     8  i32 label (-1: none) 12  u32 height        16  u32 width     20  u32 channels (1, 3)
 *    24  u32 name length      28  u32 payload length
 *     name: the source (path, or "IDX-FILE:INDEX"), no NUL; payload: height*width*channels
 *     bytes of HWC uint8 pixels (raw), or a JPEG of those pixels (jpeg).
 *
 *   class table (names for labels 0..count-1; applies to the records that follow it):
 *     0  u32 magic "ANCL"      4  u16 version (1)    6  u16 reserved (0)
 *     8  u32 count            12  u32 bytes of names
 *     names: count NUL-terminated UTF-8 strings, none empty, none holding '\n'.
 *
 * Readers check every length against its limit before allocating or reading.
 */
#ifndef ANET_RECORD_H
#define ANET_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RECORD_MAGIC 0x43524E41u  /* "ANRC" */
#define CLASSES_MAGIC 0x4C434E41u /* "ANCL" */
#define RECORD_VERSION 1
#define RECORD_HEADER_SIZE 32
#define CLASSES_HEADER_SIZE 16

/* Limits that keep a corrupt header from asking for gigabytes. */
#define RECORD_MAX_SIDE 65535
#define RECORD_MAX_NAME 4096
#define RECORD_MAX_PAYLOAD (256u << 20)
#define CLASSES_MAX_COUNT 1000000
#define CLASSES_MAX_BYTES (64u << 20)

enum { ENC_RAW = 0, ENC_JPEG = 1 };

typedef struct {
	int32_t label;
	uint32_t height, width, channels;
	uint32_t encoding;
	uint32_t name_len, payload_len;
	const char *name;         /* not NUL-terminated; name_len bytes */
	const uint8_t *payload;
} RecordView;

typedef struct {
	uint32_t count;
	char **names; /* count NUL-terminated strings */
} ClassTable;

/* "raw" or "jpeg" (or "encoding N" for an unknown one, in a static buffer). */
const char *encoding_name(uint32_t enc);

/* Checks a record header's fields (magic, version, encoding, sizes, lengths); NULL if good,
 * else a static string saying what is wrong. */
const char *record_header_problem(const RecordView *r);

/* Parses a whole record held in memory (an LMDB value): checks the header and that len is
 * exactly header + name + payload. Returns 0, or -1 with *why set to a static reason. The
 * view points into buf. */
int record_parse(const void *buf, size_t len, RecordView *r, const char **why);

/* Serialises header + name + payload into a freshly allocated buffer (*len bytes). */
uint8_t *record_pack(const RecordView *r, size_t *len);

/* Writes one record frame; -1 after printing a message naming stream. */
int record_write(FILE *f, const RecordView *r, const char *stream);
int classes_write(FILE *f, const ClassTable *t, const char *stream);

void classes_free(ClassTable *t);
int classes_equal(const ClassTable *a, const ClassTable *b);
ClassTable classes_copy(const ClassTable *t);

/* Reads frames from a stream, reusing its buffers. */
typedef struct {
	FILE *f;
	const char *name;   /* for messages: "stdin", a path */
	uint64_t index;     /* records read so far */
	uint64_t offset;    /* bytes consumed so far */
	uint8_t *buf;       /* name + payload of the current record */
	size_t cap;
} RecordReader;

enum { FRAME_END = 0, FRAME_RECORD = 1, FRAME_CLASSES = 2, FRAME_ERROR = -1 };

void record_reader_init(RecordReader *rd, FILE *f, const char *name);
/* Reads the next frame. FRAME_RECORD fills *r (valid until the next call); FRAME_CLASSES
 * fills *t (caller frees with classes_free); FRAME_END at a clean end of stream; FRAME_ERROR
 * after printing "name: record N (byte offset O): reason" (a truncated or corrupt frame). */
int record_read(RecordReader *rd, RecordView *r, ClassTable *t);
void record_reader_free(RecordReader *rd);

#endif
