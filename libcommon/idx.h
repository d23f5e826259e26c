/* idx.h: reading IDX files (the MNIST and Fashion-MNIST format), gzip-compressed or not.
 *
 * An IDX file is a big-endian header (two zero bytes, a type byte, a dimension count, then
 * one u32 per dimension) followed by the data. anet reads unsigned-byte (type 0x08) images of
 * shape N x rows x cols (grayscale) or N x rows x cols x 3, and labels of shape N. Both files
 * go through zlib's gz* functions, which read gzip and plain files alike.
 *
 * idx_open checks everything before the first image is handed out: the magic, the type, the
 * dimensions, that the two counts agree, and that each file holds exactly the bytes its
 * header promises (one streaming pass; no image is kept). Messages name the file.
 */
#ifndef ANET_IDX_H
#define ANET_IDX_H

#include <stdint.h>

typedef struct {
	void *images, *labels; /* gzFile */
	char *images_path, *labels_path;
	uint32_t count, rows, cols, channels;
	uint32_t next;         /* index of the next image idx_read returns */
	int max_label;         /* the largest label in the file */
} IdxReader;

/* Opens and validates the pair; -1 after printing "prog: FILE: reason". */
int idx_open(IdxReader *r, const char *images, const char *labels);
/* The next image (rows * cols * channels bytes into pixels) and its label; -1 after a
 * message (a read error), 0 on success. */
int idx_read(IdxReader *r, uint8_t *pixels, int *label);
void idx_close(IdxReader *r);

#endif
