/* fuzz_trainlog.c: feeds bytes as anet-train's TSV log to trainlog_load (libcommon/viz/trainlog.c, anet-viz curves). */
#include <math.h>
#include <stdlib.h>

#include "libcommon/util.h"
#include "libcommon/viz/viz.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_path("log.tsv");
	fuzz_write(path, data, size);
	TrainLog log;
	fuzz_capture_begin();
	int rc = trainlog_load(path, &log);
	fuzz_check_named(rc, fuzz_capture_end(), path, "trainlog_load");
	if (rc != 0)
		return 0;
	for (size_t i = 0; i < log.count; i++) {
		const TrainLogRow *r = &log.rows[i];
		if (r->step < 0 || (!isnan(r->top1) && (r->top1 < 0 || r->top1 > 1)))
			fuzz_bug("row %zu: step %lld, top1 %g", i, (long long)r->step, r->top1);
		for (int f = LOG_STEP; f <= LOG_LR; f++)
			trainlog_value(r, (TrainLogField)f);
	}
	trainlog_free(&log);
	return 0;
}
