/* png_write.h: 8-bit PNG files through libpng, written atomically (anet-viz's pictures).
 *
 * Pixels are rows of 8-bit samples: gray (1 channel), RGB (3) or RGBA (4), row r starting at
 * pixels + r * stride. The file goes through AtomicFile, so a reader sees the old picture or
 * the new one, never a part; libpng's errors come back here through its longjmp handler and
 * are reported as "PATH: PNG: reason" (nothing is left under PATH or its temporary name).
 */
#ifndef ANET_PNG_WRITE_H
#define ANET_PNG_WRITE_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0, or -1 after printing the reason. */
int png_write_file(const char *path, const uint8_t *pixels, int width, int height, int channels, size_t stride);

#endif
