/* progress.h: progress of long work on stderr.
 *
 * On a terminal: one line redrawn in place, "what [#####.....] 45% 1234/2000 unit 312.4 unit/s
 * ETA 0:02 extra", at most ten times a second. Otherwise (a log file, a pipe, CI) a plain line
 * every interval seconds (ANET_PROGRESS_INTERVAL, default 10), so logs stay readable. With an
 * unknown total (0) the bar and ETA are left out. Updates come from one thread.
 */
#ifndef ANET_PROGRESS_H
#define ANET_PROGRESS_H

#include <stdint.h>

typedef struct Progress Progress;

Progress *progress_start(const char *what, uint64_t total, const char *unit);
/* Report done units so far; extra (may be NULL) is appended to the line. Cheap when nothing
 * is due to be drawn. */
void progress_update(Progress *p, uint64_t done, const char *extra);
/* Draws the final state with the overall rate, ends the line, frees p. */
void progress_end(Progress *p, uint64_t done, const char *extra);
/* Clears the in-place line so that a message can be printed; the next update redraws it. */
void progress_clear(Progress *p);
/* Seconds since progress_start. */
double progress_elapsed(const Progress *p);

/* "1:02:03" or "2:03" into buf; returns buf. */
char *format_duration(char *buf, int len, double seconds);

#endif
