/*
 * xorshift.h - the one small deterministic generator of the benchmarks and
 * the tests (Marsaglia's xorshift64, shifts 13/7/17): fast, and the same
 * sequence for the same seed, so that generated data can be made again.
 * Not for anything that must be unpredictable. Header-only, like clock.h.
 */
#ifndef AS_XORSHIFT_H
#define AS_XORSHIFT_H

#include <stdint.h>

/* A state from any seed: xorshift never leaves 0, so 0 is replaced by a
 * fixed non-zero value. */
static inline uint64_t as_xorshift_seed(uint64_t seed)
{
    return seed ? seed : 88172645463325252ull;
}

/* Steps the state *s (never 0: as_xorshift_seed) and returns the new
 * value. */
static inline uint64_t as_xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

#endif
