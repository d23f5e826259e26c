/* record.c: reading, writing and checking the record stream (see record.h). */
#include "libcommon/record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/util.h"

const char *encoding_name(uint32_t enc)
{
	static _Thread_local char buf[32];
	switch (enc) {
	case ENC_RAW: return "raw";
	case ENC_JPEG: return "jpeg";
	}
	snprintf(buf, sizeof buf, "encoding %u", enc);
	return buf;
}

const char *record_header_problem(const RecordView *r)
{
	if (r->encoding != ENC_RAW && r->encoding != ENC_JPEG)
		return "unknown payload encoding";
	if (r->height == 0 || r->width == 0 || r->height > RECORD_MAX_SIDE || r->width > RECORD_MAX_SIDE)
		return "image size out of range";
	if (r->channels != 1 && r->channels != 3)
		return "channel count is not 1 or 3";
	if (r->label < -1)
		return "negative label";
	if (r->name_len > RECORD_MAX_NAME)
		return "source name too long";
	if (r->payload_len == 0 || r->payload_len > RECORD_MAX_PAYLOAD)
		return "payload length out of range";
	if (r->encoding == ENC_RAW && (uint64_t)r->payload_len != (uint64_t)r->height * r->width * r->channels)
		return "raw payload length does not equal height * width * channels";
	return NULL;
}

static void header_parse(const uint8_t *h, RecordView *r)
{
	r->encoding = get_u16(h + 6);
	r->label = (int32_t)get_u32(h + 8);
	r->height = get_u32(h + 12);
	r->width = get_u32(h + 16);
	r->channels = get_u32(h + 20);
	r->name_len = get_u32(h + 24);
	r->payload_len = get_u32(h + 28);
}

int record_parse(const void *buf, size_t len, RecordView *r, const char **why)
{
	const uint8_t *p = buf;
	if (len < RECORD_HEADER_SIZE) {
		*why = "shorter than a record header";
		return -1;
	}
	if (get_u32(p) != RECORD_MAGIC) {
		*why = "not an anet record (bad magic)";
		return -1;
	}
	if (get_u16(p + 4) != RECORD_VERSION) {
		*why = "unsupported record version";
		return -1;
	}
	header_parse(p, r);
	if ((*why = record_header_problem(r)) != NULL)
		return -1;
	if ((uint64_t)RECORD_HEADER_SIZE + r->name_len + r->payload_len != len) {
		*why = "record length does not match its header";
		return -1;
	}
	r->name = (const char *)p + RECORD_HEADER_SIZE;
	r->payload = p + RECORD_HEADER_SIZE + r->name_len;
	return 0;
}

static void header_pack(uint8_t *h, const RecordView *r)
{
	put_u32(h, RECORD_MAGIC);
	put_u16(h + 4, RECORD_VERSION);
	put_u16(h + 6, (uint16_t)r->encoding);
	put_u32(h + 8, (uint32_t)r->label);
	put_u32(h + 12, r->height);
	put_u32(h + 16, r->width);
	put_u32(h + 20, r->channels);
	put_u32(h + 24, r->name_len);
	put_u32(h + 28, r->payload_len);
}

uint8_t *record_pack(const RecordView *r, size_t *len)
{
	*len = RECORD_HEADER_SIZE + (size_t)r->name_len + r->payload_len;
	uint8_t *b = xmalloc(*len);
	header_pack(b, r);
	memcpy(b + RECORD_HEADER_SIZE, r->name, r->name_len);
	memcpy(b + RECORD_HEADER_SIZE + r->name_len, r->payload, r->payload_len);
	return b;
}

int record_write(FILE *f, const RecordView *r, const char *stream)
{
	uint8_t h[RECORD_HEADER_SIZE];
	header_pack(h, r);
	if (write_all(f, h, sizeof h, stream) || write_all(f, r->name, r->name_len, stream) ||
	    write_all(f, r->payload, r->payload_len, stream))
		return -1;
	return 0;
}

int classes_write(FILE *f, const ClassTable *t, const char *stream)
{
	size_t bytes = 0;
	for (uint32_t i = 0; i < t->count; i++)
		bytes += strlen(t->names[i]) + 1;
	uint8_t h[CLASSES_HEADER_SIZE];
	put_u32(h, CLASSES_MAGIC);
	put_u16(h + 4, RECORD_VERSION);
	put_u16(h + 6, 0);
	put_u32(h + 8, t->count);
	put_u32(h + 12, (uint32_t)bytes);
	if (write_all(f, h, sizeof h, stream))
		return -1;
	for (uint32_t i = 0; i < t->count; i++)
		if (write_all(f, t->names[i], strlen(t->names[i]) + 1, stream))
			return -1;
	return 0;
}

void classes_free(ClassTable *t)
{
	for (uint32_t i = 0; i < t->count; i++)
		free(t->names[i]);
	free(t->names);
	t->names = NULL;
	t->count = 0;
}

int classes_equal(const ClassTable *a, const ClassTable *b)
{
	if (a->count != b->count)
		return 0;
	for (uint32_t i = 0; i < a->count; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			return 0;
	return 1;
}

ClassTable classes_copy(const ClassTable *t)
{
	ClassTable c = { t->count, xcalloc(t->count ? t->count : 1, sizeof(char *)) };
	for (uint32_t i = 0; i < t->count; i++)
		c.names[i] = xstrdup(t->names[i]);
	return c;
}

void record_reader_init(RecordReader *rd, FILE *f, const char *name)
{
	memset(rd, 0, sizeof *rd);
	rd->f = f;
	rd->name = name;
}

void record_reader_free(RecordReader *rd)
{
	free(rd->buf);
	rd->buf = NULL;
	rd->cap = 0;
}

static int frame_error(RecordReader *rd, uint64_t at, const char *why)
{
	warn_msg("%s: record %llu (byte offset %llu): %s", rd->name, (unsigned long long)rd->index,
		 (unsigned long long)at, why);
	return FRAME_ERROR;
}

/* Reads exactly n bytes; returns n, or the number read before EOF/error (sets *err to the
 * errno of an error). */
static size_t read_some(RecordReader *rd, void *buf, size_t n, int *err)
{
	errno = 0;
	size_t got = n ? fread(buf, 1, n, rd->f) : 0;
	if (got < n && ferror(rd->f))
		*err = errno ? errno : EIO;
	rd->offset += got;
	return got;
}

/* A frame cut short: by the system's error err (a stream that is a folder, a failing disk),
 * or, err 0, by the end of the stream. */
static int short_frame(RecordReader *rd, uint64_t at, int err, const char *truncated)
{
	if (!err)
		return frame_error(rd, at, truncated);
	char why[160];
	snprintf(why, sizeof why, "read error: %s", strerror(err));
	return frame_error(rd, at, why);
}

static int read_classes(RecordReader *rd, const uint8_t *h, uint64_t at, ClassTable *t)
{
	if (get_u16(h + 4) != RECORD_VERSION)
		return frame_error(rd, at, "unsupported class table version");
	uint32_t count = get_u32(h + 8), bytes = get_u32(h + 12);
	if (count == 0 || count > CLASSES_MAX_COUNT || bytes > CLASSES_MAX_BYTES || bytes < 2 * (uint64_t)count)
		return frame_error(rd, at, "class table size out of range");
	char *names = xmalloc(bytes);
	int err = 0;
	if (read_some(rd, names, bytes, &err) != bytes) {
		free(names);
		return short_frame(rd, at, err, "truncated class table");
	}
	if (names[bytes - 1] != '\0') {
		free(names);
		return frame_error(rd, at, "class table names are not NUL-terminated");
	}
	t->count = count;
	t->names = xcalloc(count, sizeof(char *));
	const char *p = names, *end = names + bytes;
	for (uint32_t i = 0; i < count; i++) {
		if (p >= end || !*p || strchr(p, '\n')) {
			const char *why = p >= end ? "class table holds fewer names than its count"
						   : "class table holds an empty or multi-line name";
			classes_free(t);
			free(names);
			return frame_error(rd, at, why);
		}
		t->names[i] = xstrdup(p);
		p += strlen(p) + 1;
	}
	free(names);
	if (p != end) {
		classes_free(t);
		return frame_error(rd, at, "class table holds more bytes than its names");
	}
	return FRAME_CLASSES;
}

int record_read(RecordReader *rd, RecordView *r, ClassTable *t)
{
	uint8_t h[RECORD_HEADER_SIZE];
	uint64_t at = rd->offset;
	int err = 0;
	size_t got = read_some(rd, h, 4, &err);
	if (got == 0 && !err)
		return FRAME_END;
	if (got < 4)
		return short_frame(rd, at, err, "truncated frame header");
	uint32_t magic = get_u32(h);
	if (magic == CLASSES_MAGIC) {
		if (read_some(rd, h + 4, CLASSES_HEADER_SIZE - 4, &err) != CLASSES_HEADER_SIZE - 4)
			return short_frame(rd, at, err, "truncated class table header");
		return read_classes(rd, h, at, t);
	}
	if (magic != RECORD_MAGIC)
		return frame_error(rd, at, "not an anet record (bad magic; is the input a record stream?)");
	if (read_some(rd, h + 4, RECORD_HEADER_SIZE - 4, &err) != RECORD_HEADER_SIZE - 4)
		return short_frame(rd, at, err, "truncated record header");
	if (get_u16(h + 4) != RECORD_VERSION)
		return frame_error(rd, at, "unsupported record version");
	header_parse(h, r);
	const char *why = record_header_problem(r);
	if (why)
		return frame_error(rd, at, why);
	size_t need = (size_t)r->name_len + r->payload_len;
	if (need > rd->cap) {
		free(rd->buf);
		rd->cap = need;
		rd->buf = xmalloc(need);
	}
	if (read_some(rd, rd->buf, need, &err) != need)
		return short_frame(rd, at, err, "truncated record (stream ended inside it)");
	r->name = (const char *)rd->buf;
	r->payload = rd->buf + r->name_len;
	rd->index++;
	return FRAME_RECORD;
}
