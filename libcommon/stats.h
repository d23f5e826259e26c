/* stats.h: the statistics of a database that pcacolor computes and anet-train loads: the mean
 * image, the channel means, and the colour covariance with its eigen-decomposition (the PCA
 * behind the paper's colour augmentation, §4.1).
 *
 * Everything is on the 0-255 pixel scale and over all pixels of all images. The sums are
 * exact: per image, sums of x and of x*y fit in 64 bits; across images they are summed in
 * 64 bits (per pixel position) and 128 bits (per channel pair), and only the final division
 * is done in long double. The result is therefore the same for any number of threads and any
 * order of the images.
 *
 * The file is a tensor file of kind TF_STATS (tensorfile.h; man 5 anet-formats, STATISTICS):
 *   mean          f32 [H][W][C]   per-pixel mean image
 *   mean_channel  f64 [C]         per-channel mean over all pixels
 *   cov           f64 [C][C]      colour covariance over all pixels (divided by the pixel count)
 *   eigval        f64 [C]         its eigenvalues, largest first (variances, levels^2)
 *   eigvec        f64 [C][C]      row i: the unit eigenvector of eigval[i], whose component of
 *                                 largest magnitude is positive
 *   images        i64             number of images
 *   pixel_scale   text            "0-255"
 *   source        text            the database they were computed from
 * C is 1 (grayscale: the "covariance" is the variance) or 3 (RGB).
 */
#ifndef ANET_STATS_H
#define ANET_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "libcommon/db.h"

#define STATS_MAX_CHANNELS 3
#define STATS_PIXEL_SCALE "0-255"

typedef struct {
	uint32_t height, width, channels;
	float *mean; /* [height][width][channels] */
	double mean_channel[STATS_MAX_CHANNELS];
	double cov[STATS_MAX_CHANNELS][STATS_MAX_CHANNELS];
	double eigval[STATS_MAX_CHANNELS];
	double eigvec[STATS_MAX_CHANNELS][STATS_MAX_CHANNELS];
	int64_t images;
	char *source;
} Stats;

/* One pass over db with threads threads (one cursor and one decoder each); progress on
 * stderr unless quiet. Refuses an empty database and any record that does not decode to the
 * database's shape, naming its key. Returns 0, or -1 after printing the reason. */
int stats_compute(Db *db, int threads, int quiet, Stats *s);

/* Writes s to path (atomically); -1 after printing the reason. */
int stats_write(const char *path, const Stats *s);
/* Loads a statistics file, checking its kind, every entry's presence, type and shape, and
 * that the values are finite and ordered; -1 after printing "path: reason". */
int stats_load(const char *path, Stats *s);
void stats_free(Stats *s);

/* The readable table of pcacolor --print. */
void stats_print(FILE *out, const Stats *s);
/* pcacolor --print=values: one "name value..." line per quantity, full precision (%.17g),
 * matrices row-major, the mean image last (man 1 pcacolor). */
void stats_print_values(FILE *out, const Stats *s);

/* Eigen-decomposition of the symmetric n x n matrix a (n <= 3) by cyclic Jacobi rotations:
 * val descending, vec row i the unit eigenvector of val[i], its largest-magnitude component
 * positive. */
void stats_eigen(uint32_t n, const double a[STATS_MAX_CHANNELS][STATS_MAX_CHANNELS],
		 double val[STATS_MAX_CHANNELS], double vec[STATS_MAX_CHANNELS][STATS_MAX_CHANNELS]);

/* The default statistics file of a database: DB without a ".lmdb" or ".db" ending, plus
 * ".stats" (train.lmdb -> train.stats). Freshly allocated. */
char *stats_default_path(const char *db_path);

#endif
