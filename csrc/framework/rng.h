/* rng.h: the counter-based generator behind dropout masks.
 *
 * No state: element e of node j's mask at step t of a run seeded s is a pure
 * function of (s, j, t, e), so a seeded fit is reproducible bit for bit, any
 * thread may compute any part of a mask, and the backward pass recomputes
 * the forward's mask instead of storing it. A 64-bit mix (SplitMix64's
 * finaliser) of the seed, node and step gives a row key per batch row; each
 * element mixes that key with its column through a 32-bit finaliser and
 * keeps its top 24 bits as a uniform number in [0, 1). */
#ifndef LN_RNG_H
#define LN_RNG_H

#include <stdint.h>

#define LN_GOLDEN64 UINT64_C(0x9e3779b97f4a7c15)

static inline uint64_t ln_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline uint32_t ln_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= UINT32_C(0x7feb352d);
    x ^= x >> 15;
    x *= UINT32_C(0x846ca68b);
    return x ^ (x >> 16);
}

/* The key of one batch row's mask. */
static inline uint64_t ln_rng_row_key(uint64_t seed, int node, long long step, long long row)
{
    uint64_t k = ln_mix64(seed + LN_GOLDEN64 * (uint64_t)(node + 1));
    k = ln_mix64(k ^ (LN_GOLDEN64 * (uint64_t)step));
    return ln_mix64(k ^ (LN_GOLDEN64 * (uint64_t)(row + 1)));
}

/* 24 uniform bits for column j of a row. */
static inline uint32_t ln_rng_bits24(uint64_t row_key, long long j)
{
    return ln_mix32((uint32_t)row_key ^ ln_mix32((uint32_t)(row_key >> 32) + (uint32_t)j)) >> 8;
}

#endif /* LN_RNG_H */
