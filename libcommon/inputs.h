/* inputs.h: the images a run reads: a list file, a tree of class folders, or plain files.
 *
 * List file (Caffe's convert_imageset format, made stricter): one "PATH LABEL" per line. The
 * label is the last whitespace-separated field, so paths may hold spaces; both are trimmed;
 * blank lines and lines starting with '#' are skipped; the label is a non-negative decimal
 * integer. Every line is checked before the first image is read, and each bad line is
 * reported as "LIST:LINE: reason". Relative paths are taken under ROOT when one is given.
 * LIST "-" is standard input.
 *
 * Class folders (the ILSVRC layout): DIR/<class>/<image>. The byte-sorted names of the
 * subfolders become labels 0..K-1 and travel as the class table; the files in each class are
 * taken in byte order; names starting with '.' are skipped, as are non-regular entries.
 *
 * Plain files are unlabelled (label -1), for prediction.
 *
 * Memory does not grow with the number of images: a list file is read twice (a pipe or other
 * unseekable list is first copied into memory), and a class folder is listed only while its
 * images are handed out.
 */
#ifndef ANET_INPUTS_H
#define ANET_INPUTS_H

#include <stdint.h>

#include "libcommon/record.h"

typedef struct Inputs Inputs;

typedef struct {
	const char *path; /* the file to open */
	const char *name; /* the record's name: the path as the list wrote it, or as found */
	int32_t label;    /* -1: none */
} InputItem;

/* Each returns NULL after printing what is wrong. */
Inputs *inputs_from_list(const char *list, const char *root);
Inputs *inputs_from_dir(const char *dir);
Inputs *inputs_from_files(char *const *paths, int n);

uint64_t inputs_count(const Inputs *in);
/* The largest label (-1 when the images are unlabelled). */
int32_t inputs_max_label(const Inputs *in);
/* The class names of a folder tree; NULL for the other kinds. */
const ClassTable *inputs_classes(const Inputs *in);
/* The next image: 1, 0 at the end, -1 after a message (a list or folder that could not be
 * read). The item's strings stay valid until the next call. */
int inputs_next(Inputs *in, InputItem *item);
void inputs_free(Inputs *in);

/* A class-names file: one name per line, trimmed (a blank line before the last name is an
 * error, since labels count lines). -1 after a message naming the file and line. */
int classes_load(const char *path, ClassTable *t);

#endif
