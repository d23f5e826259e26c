/* fuzz_trainlog.c: feeds bytes as anet-train's TSV logs to trainlog_load (anet-viz curves) and healthlog_load (anet-viz health). */
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
	if (rc == 0) {
		for (size_t i = 0; i < log.count; i++) {
			const TrainLogRow *r = &log.rows[i];
			if (r->step < 0 || (!isnan(r->top1) && (r->top1 < 0 || r->top1 > 1)))
				fuzz_bug("row %zu: step %lld, top1 %g", i, (long long)r->step, r->top1);
			for (int f = LOG_STEP; f <= LOG_LR; f++)
				trainlog_value(r, (TrainLogField)f);
		}
		trainlog_free(&log);
	}
	/* the same bytes as a health log (the two share the TSV reader, tsv.c) */
	HealthLog h;
	fuzz_capture_begin();
	rc = healthlog_load(path, &h);
	fuzz_check_named(rc, fuzz_capture_end(), path, "healthlog_load");
	if (rc != 0)
		return 0;
	for (size_t i = 0; i < h.count; i++) {
		const HealthLogRow *r = &h.rows[i];
		if (r->layer < 0 || r->layer >= h.nlayers || r->step < 0 || (r->dead > r->units))
			fuzz_bug("health row %zu: layer %d of %d, step %lld, dead %g of %g", i, r->layer, h.nlayers,
				 (long long)r->step, r->dead, r->units);
	}
	healthlog_free(&h);
	return 0;
}
