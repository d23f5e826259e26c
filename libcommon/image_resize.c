/* image_resize.c: the antialiased separable resampler, restricted to a crop window.
 *
 * The arithmetic is Pillow's (src/libImaging/Resample.c), so that a test can compare against
 * Pillow and find equality rather than "close": for output pixel i of an axis reduced from
 * in to out samples, scale = in / out, the filter is stretched by max(scale, 1) (this is the
 * antialiasing: a reduction averages every source pixel under the output pixel), centred at
 * (i + 0.5) * scale, its taps normalised to sum 1 and stored in 22-bit fixed point; a
 * horizontal pass rounds to uint8, a vertical pass finishes. Only the outputs inside the crop
 * window are computed, and the horizontal pass runs only over the source rows that the
 * window's vertical taps read: for a 500x375 photo cut to 256x256 that is 256 of 341 columns.
 *
 * Cost, per 256x256x3 output from a 500x375 source with Lanczos-3 (support 3 / 0.68 = 4.4
 * source pixels each side, 9 to 10 taps): 375 rows x 768 samples x 9.5 taps = 2.7 M
 * multiply-adds across, 256 x 768 x 9.5 = 1.9 M down. The vertical pass runs over whole
 * rows in 16-sample blocks that the compiler vectorises; the horizontal pass keeps one
 * accumulator per channel. Weight tables are cached in the codec, keyed by geometry, since a
 * data set's photos come in few sizes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/image_impl.h"
#include "libcommon/util.h"

#define ONE (1 << 22) /* Pillow's PRECISION_BITS: 32 bits - 8 for the pixel - 2 for overshoot */

static double sinc(double x)
{
	if (x == 0.0)
		return 1.0;
	x *= M_PI;
	return sin(x) / x;
}

static double filter_value(int filter, double x)
{
	switch (filter) {
	case FILTER_TRIANGLE:
		x = fabs(x);
		return x < 1.0 ? 1.0 - x : 0.0;
	case FILTER_CUBIC: /* Keys' cubic convolution, a = -0.5 */
		x = fabs(x);
		if (x < 1.0)
			return (1.5 * x - 2.5) * x * x + 1;
		if (x < 2.0)
			return (((x - 5) * x + 8) * x - 4) * -0.5;
		return 0.0;
	default: /* Lanczos-3: a sinc windowed by a 3x wider sinc */
		return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
	}
}

static double filter_support(int filter)
{
	return filter == FILTER_TRIANGLE ? 1.0 : filter == FILTER_CUBIC ? 2.0 : 3.0;
}

static void axis_compute(Axis *a, int in, int out_full, int first, int count, int filter)
{
	double scale = (double)in / out_full, fscale = scale < 1.0 ? 1.0 : scale, ss = 1.0 / fscale;
	double support = filter_support(filter) * fscale;
	int most = (int)ceil(support) * 2 + 1; /* Pillow's bound on the taps of one output */
	a->in = in;
	a->out_full = out_full;
	a->first = first;
	a->count = count;
	a->filter = filter;
	a->start = xreallocarray(a->start, (size_t)count, sizeof *a->start);
	a->taps = xreallocarray(a->taps, (size_t)count, sizeof *a->taps);
	double *tap = xmallocarray((size_t)count * most, sizeof *tap);
	a->kmax = 0;
	for (int i = 0; i < count; i++) {
		double center = (first + i + 0.5) * scale, sum = 0.0, *k = tap + (size_t)i * most;
		int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
		if (lo < 0)
			lo = 0;
		if (hi > in)
			hi = in;
		int n = hi - lo;
		for (int t = 0; t < n; t++) {
			k[t] = filter_value(filter, (t + lo - center + 0.5) * ss);
			sum += k[t];
		}
		for (int t = 0; t < n; t++)
			k[t] = sum != 0.0 ? k[t] / sum : k[t];
		a->start[i] = lo;
		a->taps[i] = n;
		if (n > a->kmax)
			a->kmax = n;
	}
	/* Every output is computed over kmax taps (the missing ones weigh 0), so that outputs
	 * can be computed side by side; w rows are padded to a multiple of 4 for the gray pass,
	 * and w4 repeats each weight 4 times for the RGB pass (one vector load a tap). */
	a->ksize = (a->kmax + 3) & ~3;
	a->w = xreallocarray(a->w, (size_t)count * a->ksize, sizeof *a->w);
	a->w4 = xreallocarray(a->w4, (size_t)count * a->kmax * 4, sizeof *a->w4);
	for (int i = 0; i < count; i++) {
		const double *k = tap + (size_t)i * most;
		for (int t = 0; t < a->ksize; t++) {
			double v = t < a->taps[i] ? k[t] : 0.0;
			/* Pillow's 22-bit fixed point, rounded half away from zero; the whole number
			 * fits a float's 24-bit mantissa, so the float is Pillow's weight exactly */
			int32_t q = (int32_t)(v < 0 ? -0.5 + v * ONE : 0.5 + v * ONE);
			float w = (float)q / (float)ONE;
			a->w[(size_t)i * a->ksize + t] = w;
			if (t < a->kmax)
				for (int j = 0; j < 4; j++)
					a->w4[((size_t)i * a->kmax + t) * 4 + j] = w;
		}
	}
	free(tap);
}

/* The cached table for this geometry, computed on a miss into the least recently used slot. */
static const Axis *axis_get(ImageCodec *c, int in, int out_full, int first, int count, int filter)
{
	Axis *lru = &c->axes[0];
	c->clock++;
	for (int i = 0; i < CODEC_AXES; i++) {
		Axis *a = &c->axes[i];
		if (a->w && a->in == in && a->out_full == out_full && a->first == first && a->count == count &&
		    a->filter == filter) {
			a->used = c->clock;
			return a;
		}
		if (a->used < lru->used)
			lru = a;
	}
	axis_compute(lru, in, out_full, first, count, filter);
	lru->used = c->clock;
	return lru;
}

void axes_free(ImageCodec *c)
{
	for (int i = 0; i < CODEC_AXES; i++) {
		free(c->axes[i].start);
		free(c->axes[i].taps);
		free(c->axes[i].w);
		free(c->axes[i].w4);
	}
	memset(c->axes, 0, sizeof c->axes);
}

/* Four floats in a vector register (SSE on x86-64, NEON on arm64, scalar code elsewhere);
 * loads and stores go through memcpy, so no alignment is assumed. */
typedef float v4sf __attribute__((vector_size(16)));

static inline v4sf load4(const float *p)
{
	v4sf v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline void store4(float *p, v4sf v) { memcpy(p, &v, sizeof v); }

typedef int32_t v4si __attribute__((vector_size(16)));

/* Pillow's rounding of a fixed-point sum that already holds the +0.5: floor, then clamp to
 * 0..255 (a sum in (-1, 0) truncates to 0, as its floor would be clamped to). */
static inline v4sf round8(v4sf x)
{
	v4si i = __builtin_convertvector(x, v4si);
	i &= i > 0;
	v4si big = i > 255;
	i = (i & ~big) | (big & 255);
	return __builtin_convertvector(i, v4sf);
}

/* Four whole numbers 0..255 (as round8 leaves them) into four bytes. */
static inline void store_u8(uint8_t *d, v4sf v)
{
	v4si i = __builtin_convertvector(v, v4si);
	d[0] = (uint8_t)i[0];
	d[1] = (uint8_t)i[1];
	d[2] = (uint8_t)i[2];
	d[3] = (uint8_t)i[3];
}

static inline uint8_t to_u8(float x)
{
	int v = (int)x;
	v = v < 0 ? 0 : v;
	return (uint8_t)(v > 255 ? 255 : v);
}

/* Byte to float by table: a load instead of an int-to-float conversion that waits on the
 * register it writes (half the cost of widening a row). */
#define F4(i) i, i + 1, i + 2, i + 3
#define F16(i) F4(i), F4(i + 4), F4(i + 8), F4(i + 12)
#define F64(i) F16(i), F16(i + 16), F16(i + 32), F16(i + 48)
static const float u8_float[256] = { F64(0), F64(64), F64(128), F64(192) };

/* One source row as floats with pad zero pixels after it (taps past the end weigh 0):
 * 4 floats a pixel for RGB, so that a pixel's channels take one vector multiply-add a tap. */
static void widen_row(const uint8_t *s, int sw, int ch, int pad, float *f)
{
	if (ch == 3) {
		for (int x = 0; x < sw; x++) {
			v4sf v = { u8_float[s[3 * x]], u8_float[s[3 * x + 1]], u8_float[s[3 * x + 2]], 0.0f };
			store4(f + 4 * x, v);
		}
		memset(f + 4 * (size_t)sw, 0, 4 * (size_t)pad * sizeof *f);
	} else {
		for (int x = 0; x < sw; x++)
			f[x] = u8_float[s[x]];
		memset(f + sw, 0, (size_t)pad * sizeof *f);
	}
}

/* RGB outputs [0, ow) of one row; four at a time, so that four independent sums hide the
 * latency of the adds (one sum per pixel would wait on itself every tap). */
static void row_rgb(const Axis *a, const float *f, float *d)
{
	int ow = a->count, km = a->kmax, x = 0;
	const v4sf half = { 0.5f, 0.5f, 0.5f, 0.5f };
	for (; x + 4 <= ow; x += 4) {
		const float *w0 = a->w4 + (size_t)x * km * 4, *w1 = w0 + 4 * km, *w2 = w1 + 4 * km, *w3 = w2 + 4 * km;
		const float *p0 = f + 4 * (size_t)a->start[x], *p1 = f + 4 * (size_t)a->start[x + 1];
		const float *p2 = f + 4 * (size_t)a->start[x + 2], *p3 = f + 4 * (size_t)a->start[x + 3];
		v4sf s0 = half, s1 = half, s2 = half, s3 = half;
		for (int t = 0; t < 4 * km; t += 4) {
			s0 += load4(p0 + t) * load4(w0 + t);
			s1 += load4(p1 + t) * load4(w1 + t);
			s2 += load4(p2 + t) * load4(w2 + t);
			s3 += load4(p3 + t) * load4(w3 + t);
		}
		/* each store spills one float into the next pixel, which the next store overwrites */
		store4(d + 3 * x, round8(s0));
		store4(d + 3 * x + 3, round8(s1));
		store4(d + 3 * x + 6, round8(s2));
		store4(d + 3 * x + 9, round8(s3));
	}
	for (; x < ow; x++) {
		const float *w = a->w4 + (size_t)x * km * 4, *p = f + 4 * (size_t)a->start[x];
		v4sf s0 = half;
		for (int t = 0; t < 4 * km; t += 4)
			s0 += load4(p + t) * load4(w + t);
		store4(d + 3 * x, round8(s0));
	}
}

/* Gray outputs: four taps of one output per vector multiply-add (weights padded to kmax4). */
static void row_gray(const Axis *a, const float *f, float *d)
{
	for (int x = 0; x < a->count; x++) {
		const float *w = a->w + (size_t)x * a->ksize, *p = f + a->start[x];
		v4sf s = { 0, 0, 0, 0 };
		for (int t = 0; t < a->ksize; t += 4)
			s += load4(p + t) * load4(w + t);
		v4sf r = { s[0] + s[1] + s[2] + s[3] + 0.5f, 0, 0, 0 };
		d[x] = round8(r)[0];
	}
}

/* Rows [0, rows) of src (stride sstride), resampled across into dst: rows of mstride floats
 * holding whole numbers 0..255, Pillow's uint8 intermediate. */
static void pass_horizontal(const Axis *a, const uint8_t *src, size_t sstride, int rows, int ch, int sw, float *f,
			    float *dst, size_t mstride)
{
	for (int y = 0; y < rows; y++) {
		widen_row(src + (size_t)y * sstride, sw, ch, a->ksize, f);
		if (ch == 3)
			row_rgb(a, f, dst + (size_t)y * mstride);
		else
			row_gray(a, f, dst + (size_t)y * mstride);
	}
}

/* Output rows from the intermediate rows (mstride floats apart; row 0 is source row base).
 * Sixteen columns at a time stay in four registers through all the taps, so nothing but
 * the intermediate rows (a few kilobytes each, in cache) is read. */
static void pass_vertical(const Axis *a, const float *mid, size_t mstride, int base, size_t rowlen, uint8_t *dst)
{
	const v4sf half = { 0.5f, 0.5f, 0.5f, 0.5f };
	for (int y = 0; y < a->count; y++) {
		const float *w = a->w + (size_t)y * a->ksize;
		const float *rows = mid + (size_t)(a->start[y] - base) * mstride;
		int n = a->taps[y];
		uint8_t *d = dst + (size_t)y * rowlen;
		size_t i = 0;
		for (; i + 16 <= rowlen; i += 16) {
			v4sf s0 = half, s1 = half, s2 = half, s3 = half;
			const float *r = rows + i;
			for (int t = 0; t < n; t++, r += mstride) {
				s0 += load4(r) * w[t];
				s1 += load4(r + 4) * w[t];
				s2 += load4(r + 8) * w[t];
				s3 += load4(r + 12) * w[t];
			}
			store_u8(d + i, round8(s0));
			store_u8(d + i + 4, round8(s1));
			store_u8(d + i + 8, round8(s2));
			store_u8(d + i + 12, round8(s3));
		}
		for (; i < rowlen; i++) {
			float s = 0.5f;
			const float *r = rows + i;
			for (int t = 0; t < n; t++, r += mstride)
				s += *r * w[t];
			d[i] = to_u8(s);
		}
	}
}

void image_resample(ImageCodec *c, const Image *src, int rw, int rh, int x0, int y0, int ow, int oh,
		    ResizeFilter filter, uint8_t *dst)
{
	int ch = src->channels;
	size_t sstride = (size_t)src->width * ch, rowlen = (size_t)ow * ch;
	/* an axis that keeps its length is not filtered (as in Pillow): the window is a plain cut */
	const Axis *ah = rw != src->width ? axis_get(c, src->width, rw, x0, ow, filter) : NULL;
	const Axis *av = rh != src->height ? axis_get(c, src->height, rh, y0, oh, filter) : NULL;

	int row0 = y0, rows = oh; /* the source rows that the vertical pass reads */
	if (av) {
		row0 = av->start[0];
		rows = av->start[oh - 1] + av->taps[oh - 1] - row0;
	}
	const uint8_t *first = src->pixels + (size_t)row0 * sstride;
	size_t mstride = rowlen + 1; /* a vector store of the last RGB pixel spills one float */
	float *mid = (float *)(void *)scratch_get(&c->tmp, ((size_t)rows * mstride + 4) * sizeof(float));
	if (ah) {
		size_t flen = ((size_t)src->width + ah->ksize) * 4 * sizeof(float);
		float *f = (float *)(void *)scratch_get(&c->conv_f, flen);
		pass_horizontal(ah, first, sstride, rows, ch, src->width, f, mid, mstride);
	} else {
		for (int y = 0; y < rows; y++)
			for (size_t i = 0; i < rowlen; i++)
				mid[(size_t)y * mstride + i] = first[(size_t)y * sstride + (size_t)x0 * ch + i];
	}
	if (av) {
		pass_vertical(av, mid, mstride, row0, rowlen, dst);
	} else {
		for (int y = 0; y < oh; y++)
			for (size_t i = 0; i < rowlen; i++)
				dst[(size_t)y * rowlen + i] = to_u8(mid[(size_t)y * mstride + i]);
	}
}
