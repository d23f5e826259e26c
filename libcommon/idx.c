/* idx.c: IDX (MNIST-format) images and labels through zlib, checked before use (see idx.h). */
#include "libcommon/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "libcommon/util.h"

#define IDX_UBYTE 0x08
#define IDX_MAX_SIDE 65535
#define IDX_MAX_IMAGE_BYTES (1u << 28)

/* zlib's reason for the last failure on f (opened as path), or the system's. zlib puts the
 * path in front of its message, and the caller names it already. */
static const char *gz_reason(gzFile f, const char *path)
{
	static _Thread_local char buf[256];
	int err = 0;
	const char *msg = gzerror(f, &err);
	if (err == Z_ERRNO)
		return strerror(errno);
	if (err == Z_OK)
		return "unexpected end of file";
	size_t n = strlen(path);
	if (strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
		msg += n + 2;
	if (err != Z_DATA_ERROR)
		return msg;
	snprintf(buf, sizeof buf, "corrupt gzip data (%s)", msg);
	return buf;
}

/* Exactly n bytes; -1 after a message if the file ends or fails first. */
static int gz_exact(gzFile f, void *buf, unsigned n, const char *path, const char *what)
{
	int got = gzread(f, buf, n);
	if (got == (int)n)
		return 0;
	if (got < 0)
		warn_msg("%s: reading %s: %s", path, what, gz_reason(f, path));
	else
		warn_msg("%s: truncated %s (got %d of %u bytes)", path, what, got, n);
	return -1;
}

/* Reads the magic and the dimensions; *ndim of them into dims (at most 4). */
static int read_header(gzFile f, const char *path, uint32_t dims[4], int *ndim)
{
	uint8_t h[16];
	if (gz_exact(f, h, 4, path, "IDX header"))
		return -1;
	if (h[0] != 0 || h[1] != 0) {
		warn_msg("%s: not an IDX file (bad magic %02x %02x %02x %02x)", path, h[0], h[1], h[2], h[3]);
		return -1;
	}
	if (h[2] != IDX_UBYTE) {
		warn_msg("%s: IDX data type 0x%02x is not supported (anet reads unsigned bytes, 0x08)", path, h[2]);
		return -1;
	}
	*ndim = h[3];
	if (*ndim < 1 || *ndim > 4) {
		warn_msg("%s: IDX file has %d dimensions (anet reads 1 to 4)", path, *ndim);
		return -1;
	}
	if (gz_exact(f, h, 4 * (unsigned)*ndim, path, "IDX dimensions"))
		return -1;
	for (int i = 0; i < *ndim; i++)
		dims[i] = (uint32_t)h[4 * i] << 24 | (uint32_t)h[4 * i + 1] << 16 | (uint32_t)h[4 * i + 2] << 8 | h[4 * i + 3];
	return 0;
}

/* Reads to the end, checking that exactly want data bytes follow the header; for a label
 * file, the largest byte goes to *max. */
static int check_length(gzFile f, const char *path, uint64_t want, int *max)
{
	uint8_t buf[1 << 16];
	uint64_t have = 0;
	for (;;) {
		int got = gzread(f, buf, sizeof buf);
		if (got < 0) {
			warn_msg("%s: %s", path, gz_reason(f, path));
			return -1;
		}
		if (got == 0)
			break;
		if (max)
			for (int i = 0; i < got; i++)
				if (buf[i] > *max)
					*max = buf[i];
		have += (uint64_t)got;
		if (have > want)
			break;
	}
	if (have != want) {
		warn_msg("%s: the header promises %llu data bytes, the file holds %s%llu", path, (unsigned long long)want,
			 have > want ? "more than " : "", (unsigned long long)have);
		return -1;
	}
	return 0;
}

/* Opens path, reads its header and leaves the stream at the first data byte; NULL after a message. */
static gzFile open_idx(const char *path, uint32_t dims[4], int *ndim)
{
	/* checked to the end, then rewound to convert: a pipe would be consumed by the check and
	 * fail at the rewind, after reading everything */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		warn_msg("%s: not a regular file (IDX files are read twice, to check them and to convert them)",
			 path);
		return NULL;
	}
	gzFile f = gzopen(path, "rb");
	if (!f) {
		warn_errno("%s", path);
		return NULL;
	}
	gzbuffer(f, 1 << 17);
	if (read_header(f, path, dims, ndim)) {
		gzclose(f);
		return NULL;
	}
	return f;
}

static int check_images(IdxReader *r, const uint32_t *d, int ndim)
{
	const char *p = r->images_path;
	if (ndim != 3 && ndim != 4) {
		warn_msg("%s: IDX images need 3 dimensions (count, rows, columns) or 4 (..., channels); this file has %d",
			 p, ndim);
		return -1;
	}
	r->count = d[0];
	r->rows = d[1];
	r->cols = d[2];
	r->channels = ndim == 4 ? d[3] : 1;
	if (r->count == 0 || r->rows == 0 || r->cols == 0 || r->rows > IDX_MAX_SIDE || r->cols > IDX_MAX_SIDE) {
		warn_msg("%s: IDX dimensions %u x %u x %u are out of range", p, r->count, r->rows, r->cols);
		return -1;
	}
	if (r->channels != 1 && r->channels != 3) {
		warn_msg("%s: IDX images have %u channels (anet reads 1 or 3)", p, r->channels);
		return -1;
	}
	if ((uint64_t)r->rows * r->cols * r->channels > IDX_MAX_IMAGE_BYTES) {
		warn_msg("%s: IDX images of %u x %u x %u are too large", p, r->rows, r->cols, r->channels);
		return -1;
	}
	return check_length(r->images, p, (uint64_t)r->count * r->rows * r->cols * r->channels, NULL);
}

static int check_labels(IdxReader *r, const uint32_t *d, int ndim)
{
	if (ndim != 1) {
		warn_msg("%s: IDX labels need 1 dimension; this file has %d", r->labels_path, ndim);
		return -1;
	}
	if (d[0] != r->count) {
		warn_msg("%s: holds %u labels, but %s holds %u images", r->labels_path, d[0], r->images_path, r->count);
		return -1;
	}
	r->max_label = 0;
	return check_length(r->labels, r->labels_path, r->count, &r->max_label);
}

/* Back to the first data byte after the validation pass. */
static int rewind_idx(gzFile f, const char *path, int ndim)
{
	uint8_t skip[20];
	if (gzrewind(f) != 0) {
		warn_msg("%s: cannot rewind: %s", path, gz_reason(f, path));
		return -1;
	}
	return gz_exact(f, skip, 4 + 4 * (unsigned)ndim, path, "IDX header");
}

int idx_open(IdxReader *r, const char *images, const char *labels)
{
	memset(r, 0, sizeof *r);
	r->images_path = xstrdup(images);
	r->labels_path = xstrdup(labels);
	uint32_t di[4], dl[4];
	int ni = 0, nl = 0;
	if (!(r->images = open_idx(images, di, &ni)) || check_images(r, di, ni) ||
	    !(r->labels = open_idx(labels, dl, &nl)) || check_labels(r, dl, nl) ||
	    rewind_idx(r->images, images, ni) || rewind_idx(r->labels, labels, nl)) {
		idx_close(r);
		return -1;
	}
	return 0;
}

int idx_read(IdxReader *r, uint8_t *pixels, int *label)
{
	if (r->next >= r->count) {
		warn_msg("%s: read past the last image", r->images_path);
		return -1;
	}
	uint8_t lab;
	unsigned bytes = r->rows * r->cols * r->channels;
	if (gz_exact(r->images, pixels, bytes, r->images_path, "image") ||
	    gz_exact(r->labels, &lab, 1, r->labels_path, "label"))
		return -1;
	*label = lab;
	r->next++;
	return 0;
}

void idx_close(IdxReader *r)
{
	if (r->images)
		gzclose(r->images);
	if (r->labels)
		gzclose(r->labels);
	free(r->images_path);
	free(r->labels_path);
	memset(r, 0, sizeof *r);
}
