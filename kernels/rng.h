/* rng.h: Philox4x32-10, the counter-based generator every random number in anet comes from.
 *
 * A counter-based generator is a pure function (key, counter) -> 128 random bits, so the
 * n-th number of a stream needs no state and no sequence: the same seed gives the same
 * weights, crops, dropout masks and colour noise on the CPU and the GPU, with any number of
 * threads, and a resumed run continues exactly where it stopped. (Salmon et al., "Parallel
 * random numbers: as easy as 1, 2, 3", SC 2011; the same generator as cuRAND's Philox and
 * PyTorch's CUDA generator.)
 *
 * The key is the user's seed; the counter is (index, stream), where stream separates the
 * uses (RNG_INIT, RNG_DROPOUT, ...) and whatever else keeps draws apart (layer, step).
 * Usable from C and CUDA.
 */
#ifndef ANET_RNG_H
#define ANET_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define ANET_HD __host__ __device__ __forceinline__
#else
#define ANET_HD static inline
#endif

/* Streams: the top 8 bits of the 64-bit stream word; the rest is free for the user. */
enum {
	RNG_INIT = 1,    /* weight initialisation: low bits = tensor index */
	RNG_SHUFFLE = 2, /* epoch permutation: low bits = epoch */
	RNG_CROP = 3,    /* crop origin and mirror: low bits = global step */
	RNG_COLOR = 4,   /* PCA colour noise: low bits = global step */
	RNG_DROPOUT = 5, /* dropout mask: low bits = (layer << 40) | step */
	RNG_TEST = 6,    /* test inputs */
	RNG_DB = 7,      /* mkdb's shuffle, pcacolor's sampling */
	RNG_ERASE = 8    /* random erasing: low bits = global step */
};
#define RNG_STREAM(kind, low) (((uint64_t)(kind) << 56) | ((uint64_t)(low) & 0x00FFFFFFFFFFFFFFull))

typedef struct {
	uint32_t v[4];
} RngBlock;

ANET_HD uint32_t rng_mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
	uint64_t p = (uint64_t)a * b;
	*hi = (uint32_t)(p >> 32);
	return (uint32_t)p;
}

/* 128 random bits for (seed, stream, index). */
ANET_HD RngBlock rng_block(uint64_t seed, uint64_t stream, uint64_t index)
{
	uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
	uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
	for (int i = 0; i < 10; i++) {
		uint32_t hi0, hi1;
		uint32_t lo0 = rng_mulhilo(0xD2511F53u, c0, &hi0);
		uint32_t lo1 = rng_mulhilo(0xCD9E8D57u, c2, &hi1);
		uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
		c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
		k0 += 0x9E3779B9u;
		k1 += 0xBB67AE85u;
	}
	RngBlock b = { { c0, c1, c2, c3 } };
	return b;
}

/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
ANET_HD float rng_u01(uint32_t bits) { return (float)(bits >> 8) * (1.0f / 16777216.0f); }

/* Uniform in [0, 1) for (seed, stream, index). */
ANET_HD float rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
	return rng_u01(rng_block(seed, stream, index).v[0]);
}

/* An unbiased integer in [0, n) (n > 0) from 64 random bits: (bits * n) >> 64 is within
 * n / 2^64 of uniform, far below anything measurable. */
ANET_HD uint32_t rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint32_t n)
{
	RngBlock b = rng_block(seed, stream, index);
	uint64_t x = ((uint64_t)b.v[1] << 32) | b.v[0];
	/* high 64 bits of x * n, computed in two halves */
	uint64_t lo = (x & 0xFFFFFFFFull) * n, hi = (x >> 32) * n;
	return (uint32_t)((hi + (lo >> 32)) >> 32);
}

/* Standard normal for (seed, stream, index), by Box-Muller on two 32-bit uniforms, in
 * double. Host only: initialisation and colour noise are drawn on the host and uploaded, so
 * every backend sees the same numbers whatever its libm. */
#ifndef __CUDACC__
#include <math.h>
static inline float rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
	RngBlock b = rng_block(seed, stream, index);
	double u1 = ((double)b.v[0] + 1.0) * (1.0 / 4294967296.0); /* (0, 1] */
	double u2 = (double)b.v[1] * (1.0 / 4294967296.0);         /* [0, 1) */
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
#endif

#endif
