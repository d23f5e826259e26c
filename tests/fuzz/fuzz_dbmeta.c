/* fuzz_dbmeta.c: feeds bytes to db_meta_parse (the "anet-meta" entry mkdb writes into a database), and what parses back through db_meta_format. */
#include <stdlib.h>
#include <string.h>

#include "libcommon/db.h"
#include "libcommon/util.h"
#include "tests/fuzz/fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* LMDB hands out the value as it is: no NUL after it */
	char *text = malloc(size ? size : 1);
	memcpy(text, data, size);
	DbInfo info;
	char why[512] = "";
	int rc = db_meta_parse(text, size, &info, why, sizeof why);
	fuzz_check_why(rc, why, "db_meta_parse");
	free(text);
	if (rc != 0)
		return 0;
	if (!info.count || !info.height || !info.width || (info.channels != 1 && info.channels != 3) ||
	    (info.classes.count && info.classes.count != info.num_classes) || (info.labelled && !info.num_classes))
		fuzz_bug("db_meta_parse accepted count %llu, %ux%ux%u, %u classes (%u names)",
			 (unsigned long long)info.count, info.height, info.width, info.channels, info.num_classes,
			 info.classes.count);
	/* what parses is what mkdb writes: formatting it again gives the same text */
	size_t len;
	char *again = db_meta_format(&info, &len);
	if (len != size || memcmp(again, data, size) != 0)
		fuzz_bug("db_meta_format does not give back the text that parsed:\n%.*s\n---\n%.*s", (int)size,
			 (const char *)data, (int)len, again);
	free(again);
	db_info_free(&info);
	return 0;
}
