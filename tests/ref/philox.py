"""philox.py: anet's counter RNG (kernels/rng.h) in numpy, so PyTorch fixtures draw anet's numbers.

Philox4x32-10 (Salmon et al., SC 2011) with key = seed and counter = (index, stream), as in
rng_block; rng_uniform, rng_below and rng_normal exactly as kernels/rng.h defines them
(rng_normal: Box-Muller in double, rounded to float32 at the end). Vectorised over the index
with uint64 products of uint32 halves. Run this file to check the known-answer vectors that
tests/check_common.c checks.
"""
import numpy as np

M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = 0x9E3779B9
W1 = 0xBB67AE85
MASK32 = np.uint64(0xFFFFFFFF)

# stream kinds, the top 8 bits of the 64-bit stream word (kernels/rng.h)
RNG_INIT, RNG_SHUFFLE, RNG_CROP, RNG_COLOR, RNG_DROPOUT, RNG_TEST, RNG_DB = 1, 2, 3, 4, 5, 6, 7


def rng_stream(kind, low):
    return ((kind & 0xFF) << 56) | (low & 0x00FFFFFFFFFFFFFF)


def rng_block(seed, stream, index):
    """The four uint32 words of rng_block(seed, stream, index) for an array of indices."""
    index = np.asarray(index, dtype=np.uint64)
    c0 = index & MASK32
    c1 = index >> np.uint64(32)
    c2 = np.full_like(c0, stream & 0xFFFFFFFF)
    c3 = np.full_like(c0, (stream >> 32) & 0xFFFFFFFF)
    k0 = seed & 0xFFFFFFFF
    k1 = (seed >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK32
        n0 = hi1 ^ c1 ^ np.uint64(k0)
        n2 = hi0 ^ c3 ^ np.uint64(k1)
        c0, c1, c2, c3 = n0, lo1, n2, lo0
        k0 = (k0 + W0) & 0xFFFFFFFF
        k1 = (k1 + W1) & 0xFFFFFFFF
    return c0, c1, c2, c3


def rng_uniform(seed, stream, index):
    """float32 in [0, 1) with 24 random bits, as rng_uniform."""
    v0 = rng_block(seed, stream, index)[0]
    return ((v0 >> np.uint64(8)).astype(np.float64) * (1.0 / 16777216.0)).astype(np.float32)


def rng_below(seed, stream, index, n):
    """Integers in [0, n) as rng_below: the high 64 bits of a 64-bit random number times n."""
    v = rng_block(seed, stream, index)
    out = []
    for lo, hi in zip(v[0].tolist(), v[1].tolist()):
        x = (hi << 32) | lo
        out.append((x * n) >> 64)
    return np.array(out, dtype=np.int64)


def rng_normal(seed, stream, index):
    """float32 standard normals, as rng_normal: Box-Muller on two 32-bit uniforms in double."""
    v0, v1, _, _ = rng_block(seed, stream, index)
    u1 = (v0.astype(np.float64) + 1.0) * (1.0 / 4294967296.0)
    u2 = v1.astype(np.float64) * (1.0 / 4294967296.0)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)).astype(np.float32)


def normals(seed, stream, count, chunk=1 << 22):
    """count normals of one stream, element index 0..count-1, in chunks to bound memory."""
    out = np.empty(count, dtype=np.float32)
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        out[start:stop] = rng_normal(seed, stream, np.arange(start, stop, dtype=np.uint64))
    return out


def _check():
    # Random123's kat_vectors, as tests/check_common.c philox_known_answers
    got = [int(w[0]) for w in rng_block(0, 0, [0])]
    assert got == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8], [hex(g) for g in got]
    m = 0xFFFFFFFFFFFFFFFF
    got = [int(w[0]) for w in rng_block(m, m, [m])]
    assert got == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD], [hex(g) for g in got]
    x = normals(7, rng_stream(RNG_TEST, 1), 200000)
    assert abs(x.mean()) < 0.01 and abs((x.astype(np.float64) ** 2).mean() - 1) < 0.02
    print("philox.py: known answers OK")


if __name__ == "__main__":
    _check()
