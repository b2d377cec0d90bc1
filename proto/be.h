/*
 * be.h - big-endian integers, the byte order of every key in the store, of
 * the feed's frame headers and of the log's and the stories' records, so
 * that byte order is numeric order. The one definition, shared by the
 * server and libartstore.
 */
#ifndef AS_BE_H
#define AS_BE_H

#include <stdint.h>

/* Writes v as 8 big-endian bytes at p. */
static inline void as_be_put64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

/* Reads 8 big-endian bytes at p. */
static inline uint64_t as_be_get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Writes v as 2 big-endian bytes at p. */
static inline void as_be_put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* Reads 2 big-endian bytes at p. */
static inline unsigned as_be_get16(const unsigned char *p)
{
    return ((unsigned)p[0] << 8) | p[1];
}

/* Writes v as 4 big-endian bytes at p. */
static inline void as_be_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Reads 4 big-endian bytes at p. */
static inline uint32_t as_be_get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

#endif
