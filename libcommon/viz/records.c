/* records.c: a contact sheet of database images with their labels, to check preprocessing by eye.
 *
 * The records are decoded exactly as anet-train and pcacolor decode them (record_pixels), so
 * what the sheet shows is what training sees before cropping: the size, the centring, the
 * colours (a CMYK source wrongly converted, a grey image, a mislabelled class folder all show).
 * A random sample is drawn by Floyd's algorithm from the counter RNG, so a seed always picks
 * the same records whatever the database's size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rng.h"
#include "libcommon/db.h"
#include "libcommon/image.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void viz_sample(uint64_t count, uint64_t n, uint64_t seed, uint64_t *out)
{
	/* Floyd: for j = count-n .. count-1 draw t in [0, j]; take t unless taken, else j. The
	 * set is uniform over all n-subsets; a linear scan for "taken" is fine for a sheet. */
	uint64_t k = 0;
	for (uint64_t j = count - n; j < count; j++) {
		uint64_t t = j < UINT32_MAX ? rng_below(seed, RNG_STREAM(RNG_DB, VIZ_RNG_SAMPLE), j, (uint32_t)(j + 1))
					    : j; /* beyond 2^32 records, the tail: never reached by a sheet */
		int taken = 0;
		for (uint64_t i = 0; i < k && !taken; i++)
			taken = out[i] == t;
		out[k++] = taken ? j : t;
	}
	qsort(out, (size_t)n, sizeof *out, cmp_u64);
}

int viz_cell_side(int side, int want)
{
	if (want > 0)
		return want;
	if (side >= 96 && side <= 160)
		return side;
	if (side > 160)
		return 128; /* 256-pixel records at half size: 64 of them make a 1.2-megapixel sheet */
	return side * (int)ceil(96.0 / side); /* small images enlarged by a whole factor */
}

const char *db_label_name(const DbInfo *info, int32_t label, char *buf, size_t len)
{
	if (label < 0)
		snprintf(buf, len, "(no label)");
	else if ((uint32_t)label < info->classes.count)
		snprintf(buf, len, "%s", info->classes.names[label]);
	else
		snprintf(buf, len, "label %d", (int)label);
	return buf;
}

/* Which records: a run from start, or a sorted random sample. */
static uint64_t *choose(const RecordsOptions *o, uint64_t count, uint64_t *n)
{
	*n = o->random ? ((uint64_t)o->count < count ? (uint64_t)o->count : count)
		       : ((uint64_t)o->count < count - o->start ? (uint64_t)o->count : count - o->start);
	uint64_t *keys = xmallocarray((size_t)*n, sizeof *keys);
	if (o->random)
		viz_sample(count, *n, o->seed, keys);
	else
		for (uint64_t i = 0; i < *n; i++)
			keys[i] = o->start + i;
	return keys;
}

int viz_records(const RecordsOptions *o, const char *out)
{
	Db *db = db_open(o->db);
	if (!db)
		return -1;
	const DbInfo *info = db_info(db);
	int rc = -1;
	uint64_t *keys = NULL, n = 0;
	ImageCodec *codec = NULL;
	uint8_t *px = NULL;
	DbCursor *cur = NULL;
	Canvas cv = { 0 };
	if (!o->random && o->start >= info->count) {
		warn_msg("%s: --start %llu is past the last record (%llu)", o->db, (unsigned long long)o->start,
			 (unsigned long long)info->count - 1);
		goto out;
	}
	keys = choose(o, info->count, &n);
	int side = (int)(info->width > info->height ? info->width : info->height);
	int cell = viz_cell_side(side, o->size);
	int cw = cell * (int)info->width / side, ch = cell * (int)info->height / side;
	int cols = o->columns ? o->columns : (int)ceil(sqrt((double)n));
	if (cols > (int)n)
		cols = (int)n;
	int rows = (int)((n + (uint64_t)cols - 1) / (uint64_t)cols);
	const int pad = 8, label_h = 30, head = 28;
	int cell_w = cw < 96 ? 96 : cw;
	if (canvas_init(&cv, pad + cols * (cell_w + pad), head + rows * (ch + label_h + pad), rgb_hex(VIZ_BACKGROUND)))
		goto out;
	char head_text[512], base[256];
	snprintf(head_text, sizeof head_text, "%s: %llu of %llu records, %ux%ux%u, %s%s",
		 viz_base_name(o->db, base, sizeof base), (unsigned long long)n,
		 (unsigned long long)info->count, info->height, info->width, info->channels,
		 encoding_name(info->encoding), o->random ? ", random sample" : "");
	TextStyle hs = { .size = 13, .bold = 1, .color = rgb_hex(VIZ_INK), .max_width = cv.width - 2.0 * pad };
	canvas_text(&cv, pad, 19, &hs, head_text);

	codec = codec_new();
	px = xmalloc((size_t)info->height * info->width * info->channels);
	if (!(cur = db_cursor_new(db)))
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		RecordView r;
		char why[256], name[256], key[48];
		if (db_get(cur, keys[i], &r) != 0)
			goto out;
		if (record_pixels(codec, &r, px, why, sizeof why) != 0) {
			warn_msg("%s: key %llu: %s", o->db, (unsigned long long)keys[i], why);
			goto out;
		}
		double x = pad + (double)(i % (uint64_t)cols) * (cell_w + pad) + (cell_w - cw) / 2.0;
		double y = head + (double)(i / (uint64_t)cols) * (ch + label_h + pad);
		if (canvas_pixels(&cv, px, (int)info->width, (int)info->height, (int)info->channels, x, y, cw, ch))
			goto out;
		double cx = x + cw / 2.0;
		TextStyle ls = { .size = 11, .align = ALIGN_CENTRE, .color = rgb_hex(VIZ_INK), .max_width = cell_w };
		canvas_text(&cv, cx, y + ch + 12, &ls, db_label_name(info, r.label, name, sizeof name));
		snprintf(key, sizeof key, "#%llu", (unsigned long long)keys[i]);
		TextStyle ks = { .size = 9, .align = ALIGN_CENTRE, .color = rgb_hex(0x707070), .max_width = cell_w };
		canvas_text(&cv, cx, y + ch + 24, &ks, key);
	}
	rc = canvas_write_png(&cv, out);
out:
	canvas_free(&cv);
	db_cursor_free(cur);
	free(px);
	codec_free(codec);
	free(keys);
	db_close(db);
	return rc;
}
