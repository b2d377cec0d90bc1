/*
 * noise.h - text that compresses poorly, for tests whose articles must
 * take room in the store (zstd would shrink a repeated byte to nothing).
 */
#ifndef AS_NOISE_H
#define AS_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "xorshift.h"

/* Fills buf with n printable characters drawn from 64 (a xorshift of
 * seed, the same text for the same seed: about 6 bits of entropy per
 * byte, so zstd keeps about three quarters of it) and a NUL: buf holds
 * n + 1 bytes. */
static inline void ts_noise(char *buf, size_t n, uint64_t seed)
{
    uint64_t x = as_xorshift_seed(seed);
    size_t i;

    for (i = 0; i < n; i++)
        buf[i] = (char)('0' + (as_xorshift(&x) >> 32) % 64);
    buf[n] = '\0';
}

#endif
