/* image_resize.c: the antialiased separable resampler, restricted to a crop window.
 *
 * The arithmetic is Pillow's (src/libImaging/Resample.c), so that a test can compare against
 * Pillow and find the same pixels: for output i of an axis reduced from in to out samples,
 * scale = in / out, the filter is stretched by max(scale, 1) (the antialiasing: a reduction
 * averages every source pixel under the output pixel), centred at (i + 0.5) * scale, its taps
 * normalised to sum 1 and rounded to 22-bit fixed point; a horizontal pass rounds to 0..255,
 * a vertical pass finishes. The sums are float (exact weights, rounded products), which
 * is where the last 0.00004 grey level of difference comes from (see HALF).
 *
 * Only the outputs inside the crop window are computed, and the horizontal pass runs only
 * over the source rows that the window's vertical taps read: a 500x375 photo cut to 256x256
 * is 256 of 341 columns wide. Cost with Lanczos-3 (support 3 x 1.46 = 4.4 source pixels each
 * side, 9 or 10 taps): 375 rows x 256 pixels x 10 taps = 0.96 M vector multiply-adds across
 * (a pixel's R, G, B in one 4-float vector), 256 rows x 768 samples x 10 taps / 4 = 0.49 M
 * down; at about one a cycle, 0.7 ms at 2.1 GHz with 4-float vectors, about 0.4 ms with
 * AVX2's 8-float ones, against 0.6 to 1 ms for TurboJPEG to decode the photo. Weight tables
 * are cached in the codec, keyed by geometry, since a data set's photos come in few sizes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/image_impl.h"
#include "libcommon/util.h"

#define ONE (1 << 22) /* Pillow's PRECISION_BITS: 32 bits - 8 for the pixel - 2 for overshoot */

/* Pillow adds 0.5 (in its fixed point) and floors. The float sums here round where Pillow's
 * integers are exact, so the two differ by one where a sum lies within ~1e-5 of a rounding
 * boundary: rare for Lanczos-3 and cubic, whose weights are irrational; about 3% of the
 * values for a triangle filter at a simple ratio like 5:4, whose weights (5/12, 7/12 ...)
 * put exact sums on boundaries that Pillow's own 22-bit weight rounding nudges below. */
#define HALF 0.5f

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
	 * and w4 repeats each weight 4 times for the RGB pass (a pixel's 4 floats times its
	 * weight: one vector multiply-add a tap, or two taps in an 8-float vector). */
	a->ksize = (a->kmax + 3) & ~3;
	a->w = xreallocarray(a->w, (size_t)count * a->ksize, sizeof *a->w);
	a->kmax2 = (a->kmax + 1) & ~1;
	a->w4 = xreallocarray(a->w4, (size_t)count * a->kmax2 * 4, sizeof *a->w4);
	for (int i = 0; i < count; i++) {
		const double *k = tap + (size_t)i * most;
		for (int t = 0; t < a->ksize; t++) {
			double v = t < a->taps[i] ? k[t] : 0.0;
			/* Pillow's 22-bit fixed point, rounded half away from zero; the whole number
			 * fits a float's 24-bit mantissa, so the float is Pillow's weight exactly */
			int32_t q = (int32_t)(v < 0 ? -0.5 + v * ONE : 0.5 + v * ONE);
			float w = (float)q / (float)ONE;
			a->w[(size_t)i * a->ksize + t] = w;
			if (t < a->kmax2)
				for (int j = 0; j < 4; j++)
					a->w4[((size_t)i * a->kmax2 + t) * 4 + j] = w;
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

/* Three small kernels have SSE2 forms (SSE2 is part of x86-64, so no -march is needed): the
 * generic vector code for them compiles to a lane at a time. */
#if defined(__SSE2__)
#include <emmintrin.h>

/* Pillow's rounding of a fixed-point sum that already holds the +0.5: clamp to 0..255, then
 * floor (a truncation, the value being >= 0). */
static inline v4sf round8(v4sf x)
{
	__m128 v = _mm_min_ps(_mm_max_ps((__m128)x, _mm_setzero_ps()), _mm_set1_ps(255.0f));
	return (v4sf)_mm_cvtepi32_ps(_mm_cvttps_epi32(v));
}

/* Sixteen sums to sixteen bytes: truncate, then the saturating packs clamp to 0..255. */
static inline void store16_u8(uint8_t *d, v4sf a, v4sf b, v4sf c, v4sf e)
{
	__m128i ab = _mm_packs_epi32(_mm_cvttps_epi32((__m128)a), _mm_cvttps_epi32((__m128)b));
	__m128i ce = _mm_packs_epi32(_mm_cvttps_epi32((__m128)c), _mm_cvttps_epi32((__m128)e));
	_mm_storeu_si128((__m128i *)(void *)d, _mm_packus_epi16(ab, ce));
}

/* Four RGB pixels (12 bytes; 16 are read) to four RGB0 float vectors. */
static inline void widen4_rgb(const uint8_t *s, float *f)
{
	const __m128i z = _mm_setzero_si128(), rgb = _mm_set_epi32(0, -1, -1, -1);
	__m128i b = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i lo = _mm_unpacklo_epi8(b, z), hi = _mm_unpackhi_epi8(b, z);
	__m128i i0 = _mm_unpacklo_epi16(lo, z), i1 = _mm_unpackhi_epi16(lo, z), i2 = _mm_unpacklo_epi16(hi, z);
	__m128i p0 = _mm_and_si128(i0, rgb);
	__m128i p1 = _mm_and_si128(_mm_or_si128(_mm_srli_si128(i0, 12), _mm_slli_si128(i1, 4)), rgb);
	__m128i p2 = _mm_and_si128(_mm_or_si128(_mm_srli_si128(i1, 8), _mm_slli_si128(i2, 8)), rgb);
	__m128i p3 = _mm_srli_si128(i2, 4);
	_mm_storeu_ps(f, _mm_cvtepi32_ps(p0));
	_mm_storeu_ps(f + 4, _mm_cvtepi32_ps(p1));
	_mm_storeu_ps(f + 8, _mm_cvtepi32_ps(p2));
	_mm_storeu_ps(f + 12, _mm_cvtepi32_ps(p3));
}
#define HAVE_WIDEN4 1

#else
typedef int32_t v4si __attribute__((vector_size(16)));

static inline v4sf round8(v4sf x)
{
	v4si i = __builtin_convertvector(x, v4si);
	i &= i > 0;
	v4si big = i > 255;
	i = (i & ~big) | (big & 255);
	return __builtin_convertvector(i, v4sf);
}

static inline uint8_t clamp_u8(float x)
{
	int v = (int)x;
	v = v < 0 ? 0 : v;
	return (uint8_t)(v > 255 ? 255 : v);
}

static inline void store16_u8(uint8_t *d, v4sf a, v4sf b, v4sf c, v4sf e)
{
	for (int i = 0; i < 4; i++) {
		d[i] = clamp_u8(a[i]);
		d[4 + i] = clamp_u8(b[i]);
		d[8 + i] = clamp_u8(c[i]);
		d[12 + i] = clamp_u8(e[i]);
	}
}
#define HAVE_WIDEN4 0
#endif

static inline uint8_t to_u8(float x)
{
	int v = (int)x;
	v = v < 0 ? 0 : v;
	return (uint8_t)(v > 255 ? 255 : v);
}

/* One source row as floats with pad zero pixels after it (taps past the end weigh 0):
 * 4 floats a pixel for RGB, so that a pixel's channels take one vector multiply-add a tap. */
static void widen_row(const uint8_t *s, int sw, int ch, int pad, float *f)
{
	if (ch == 3) {
		int x = 0;
#if HAVE_WIDEN4
		for (; x + 6 <= sw; x += 4) /* 3x + 16 bytes read stay inside the row */
			widen4_rgb(s + 3 * x, f + 4 * x);
#endif
		for (; x < sw; x++) {
			v4sf v = { s[3 * x], s[3 * x + 1], s[3 * x + 2], 0.0f };
			store4(f + 4 * x, v);
		}
		memset(f + 4 * (size_t)sw, 0, 4 * (size_t)pad * sizeof *f);
	} else {
		for (int x = 0; x < sw; x++)
			f[x] = s[x];
		memset(f + sw, 0, (size_t)pad * sizeof *f);
	}
}

typedef float v8sf __attribute__((vector_size(32)));
/* 8-float vectors pass between static inline functions only, never across a call that the
 * ABI governs, so GCC's note that their passing convention differs with and without AVX
 * does not apply */
#pragma GCC diagnostic ignored "-Wpsabi"

static inline v8sf load8(const float *p)
{
	v8sf v;
	memcpy(&v, p, sizeof v);
	return v;
}

/* The two halves of an 8-float sum added: 4 floats. */
static inline v4sf fold8(const v8sf *s)
{
	v4sf lo, hi;
	memcpy(&lo, s, sizeof lo);
	memcpy(&hi, (const char *)s + sizeof lo, sizeof hi);
	return lo + hi;
}

/* The two passes' inner loops are built twice, for AVX2 (an 8-float vector is one
 * register) and for any x86-64 (two), and the codec picks one for the CPU it runs on
 * (codec->avx2): no -march, one binary. The tests run both. */
#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_PATH 1
#define AVX2 __attribute__((target("avx2")))
#else
#define HAVE_AVX2_PATH 0
#endif
#define ALWAYS_INLINE static inline __attribute__((always_inline))

int resample_avx2_available(void)
{
#if HAVE_AVX2_PATH
	return __builtin_cpu_supports("avx2");
#else
	return 0;
#endif
}

/* RGB outputs [0, ow) of one row. A vector holds one pixel at two neighbouring taps (taps
 * come in pairs, the last one weighing 0 when their number is odd), and four outputs are
 * summed side by side, so that independent sums hide the latency of the adds. */
ALWAYS_INLINE void row_rgb_body(const Axis *a, const float *f, float *d)
{
	int ow = a->count, k4 = 4 * a->kmax2, x = 0;
	const v4sf half = { HALF, HALF, HALF, HALF };
	for (; x + 4 <= ow; x += 4) {
		const float *w0 = a->w4 + (size_t)x * k4, *w1 = w0 + k4, *w2 = w1 + k4, *w3 = w2 + k4;
		const float *p0 = f + 4 * (size_t)a->start[x], *p1 = f + 4 * (size_t)a->start[x + 1];
		const float *p2 = f + 4 * (size_t)a->start[x + 2], *p3 = f + 4 * (size_t)a->start[x + 3];
		v8sf s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
		for (int t = 0; t < k4; t += 8) {
			s0 += load8(p0 + t) * load8(w0 + t);
			s1 += load8(p1 + t) * load8(w1 + t);
			s2 += load8(p2 + t) * load8(w2 + t);
			s3 += load8(p3 + t) * load8(w3 + t);
		}
		/* each store spills one float into the next pixel, which the next store overwrites */
		store4(d + 3 * x, round8(fold8(&s0) + half));
		store4(d + 3 * x + 3, round8(fold8(&s1) + half));
		store4(d + 3 * x + 6, round8(fold8(&s2) + half));
		store4(d + 3 * x + 9, round8(fold8(&s3) + half));
	}
	for (; x < ow; x++) {
		const float *w = a->w4 + (size_t)x * k4, *p = f + 4 * (size_t)a->start[x];
		v8sf s0 = { 0 };
		for (int t = 0; t < k4; t += 8)
			s0 += load8(p + t) * load8(w + t);
		store4(d + 3 * x, round8(fold8(&s0) + half));
	}
}

static void row_rgb(const Axis *a, const float *f, float *d) { row_rgb_body(a, f, d); }
#if HAVE_AVX2_PATH
AVX2 static void row_rgb_avx2(const Axis *a, const float *f, float *d) { row_rgb_body(a, f, d); }
#endif

/* Gray outputs: four taps of one output per vector multiply-add (ksize is a multiple of 4). */
static void row_gray(const Axis *a, const float *f, float *d)
{
	for (int x = 0; x < a->count; x++) {
		const float *w = a->w + (size_t)x * a->ksize, *p = f + a->start[x];
		v4sf s = { 0, 0, 0, 0 };
		for (int t = 0; t < a->ksize; t += 4)
			s += load4(p + t) * load4(w + t);
		v4sf r = { s[0] + s[1] + s[2] + s[3] + HALF, 0, 0, 0 };
		d[x] = round8(r)[0];
	}
}

/* Rows [0, rows) of src (stride sstride), resampled across into dst: rows of mstride floats
 * holding whole numbers 0..255, Pillow's uint8 intermediate. */
static void pass_horizontal(const Axis *a, const uint8_t *src, size_t sstride, int rows, int ch, int sw, float *f,
			    float *dst, size_t mstride, int avx2)
{
	void (*rgb)(const Axis *, const float *, float *) = row_rgb;
#if HAVE_AVX2_PATH
	if (avx2)
		rgb = row_rgb_avx2;
#endif
	(void)avx2;
	for (int y = 0; y < rows; y++) {
		widen_row(src + (size_t)y * sstride, sw, ch, a->ksize, f);
		if (ch == 3)
			rgb(a, f, dst + (size_t)y * mstride);
		else
			row_gray(a, f, dst + (size_t)y * mstride);
	}
}

/* Output rows from the intermediate rows (mstride floats apart; row 0 is source row base).
 * Thirty-two columns at a time stay in four registers through all the taps, so nothing but
 * the intermediate rows (a few kilobytes each, in cache) is read. */
ALWAYS_INLINE void vertical_body(const Axis *a, const float *mid, size_t mstride, int base, size_t rowlen,
				  uint8_t *dst)
{
	const v8sf half = { HALF, HALF, HALF, HALF, HALF, HALF, HALF, HALF };
	for (int y = 0; y < a->count; y++) {
		const float *w = a->w + (size_t)y * a->ksize;
		const float *rows = mid + (size_t)(a->start[y] - base) * mstride;
		int n = a->taps[y];
		uint8_t *d = dst + (size_t)y * rowlen;
		size_t i = 0;
		for (; i + 32 <= rowlen; i += 32) {
			v8sf s0 = half, s1 = half, s2 = half, s3 = half;
			const float *r = rows + i;
			for (int t = 0; t < n; t++, r += mstride) {
				s0 += load8(r) * w[t];
				s1 += load8(r + 8) * w[t];
				s2 += load8(r + 16) * w[t];
				s3 += load8(r + 24) * w[t];
			}
			v4sf q[8];
			memcpy(q, &s0, 32);
			memcpy(q + 2, &s1, 32);
			memcpy(q + 4, &s2, 32);
			memcpy(q + 6, &s3, 32);
			store16_u8(d + i, q[0], q[1], q[2], q[3]);
			store16_u8(d + i + 16, q[4], q[5], q[6], q[7]);
		}
		for (; i < rowlen; i++) {
			float s = HALF;
			const float *r = rows + i;
			for (int t = 0; t < n; t++, r += mstride)
				s += *r * w[t];
			d[i] = to_u8(s);
		}
	}
}

#if HAVE_AVX2_PATH
AVX2 static void vertical_avx2(const Axis *a, const float *mid, size_t mstride, int base, size_t rowlen, uint8_t *dst)
{
	vertical_body(a, mid, mstride, base, rowlen, dst);
}
#endif

static void pass_vertical(const Axis *a, const float *mid, size_t mstride, int base, size_t rowlen, uint8_t *dst,
			  int avx2)
{
#if HAVE_AVX2_PATH
	if (avx2) {
		vertical_avx2(a, mid, mstride, base, rowlen, dst);
		return;
	}
#endif
	(void)avx2;
	vertical_body(a, mid, mstride, base, rowlen, dst);
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
	/* rows of whole 32-byte vectors, with room for the float that the vector store of a row's
	 * last RGB pixel spills */
	size_t mstride = (rowlen + 1 + 7) & ~(size_t)7;
	float *mid = (float *)(void *)scratch_get(&c->tmp, ((size_t)rows * mstride + 4) * sizeof(float));
	if (ah) {
		size_t flen = ((size_t)src->width + ah->ksize) * 4 * sizeof(float);
		float *f = (float *)(void *)scratch_get(&c->conv_f, flen);
		pass_horizontal(ah, first, sstride, rows, ch, src->width, f, mid, mstride, c->avx2);
	} else {
		for (int y = 0; y < rows; y++)
			for (size_t i = 0; i < rowlen; i++)
				mid[(size_t)y * mstride + i] = first[(size_t)y * sstride + (size_t)x0 * ch + i];
	}
	if (av) {
		pass_vertical(av, mid, mstride, row0, rowlen, dst, c->avx2);
	} else {
		for (int y = 0; y < oh; y++)
			for (size_t i = 0; i < rowlen; i++)
				dst[(size_t)y * rowlen + i] = to_u8(mid[(size_t)y * mstride + i]);
	}
}
