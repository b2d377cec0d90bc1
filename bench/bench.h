/*
 * bench.h - what the benchmarks share besides their generator (proto/
 * xorshift.h): their Zipf tag ranks and the parsing of their numeric
 * options. Header-only, as each benchmark is one file.
 */
#ifndef AS_BENCH_H
#define AS_BENCH_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "xorshift.h"

/* Zipf-distributed ranks: rank r in [0, n) comes with probability
 * proportional to 1/(r+1), so that a few tags are very common and most
 * are rare. */
typedef struct bench_zipf {
    double *cum;            /* cum[r]: the sum of 1/(i+1) for i <= r */
    unsigned n;
} bench_zipf_t;

/* Sets z up for n ranks (n >= 1). Returns 0, or -1 when out of memory;
 * bench_zipf_free releases it. */
static inline int bench_zipf_init(bench_zipf_t *z, unsigned n)
{
    double s = 0;
    unsigned i;

    z->n = n;
    if ((z->cum = malloc(sizeof(double) * n)) == NULL)
        return -1;
    for (i = 0; i < n; i++)
        z->cum[i] = (s += 1.0 / (i + 1));
    return 0;
}

static inline void bench_zipf_free(bench_zipf_t *z)
{
    free(z->cum);
    z->cum = NULL;
}

/* Draws a rank with as_xorshift(s). */
static inline unsigned bench_zipf_pick(const bench_zipf_t *z, uint64_t *s)
{
    double x = (double)(as_xorshift(s) >> 11) / (double)(1ull << 53) *
               z->cum[z->n - 1];
    unsigned lo = 0, hi = z->n - 1;

    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;

        if (z->cum[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Parses arg, the value of option opt of benchmark prog: a whole decimal
 * number from min to max, into *out. Returns 0, or -1 with the reason on
 * stderr (nothing stored) when arg is empty, has anything after its
 * digits or is out of range. */
static inline int bench_arg_num(const char *prog, const char *opt,
                                const char *arg, long long min,
                                long long max, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        fprintf(stderr, "%s: --%s takes a whole number from %lld to %lld, "
                "not '%s'\n", prog, opt, min, max, arg);
        return -1;
    }
    *out = v;
    return 0;
}

/* A numeric option of a benchmark: its getopt value, its long name (for
 * messages), its range, and where its value goes (holding the default
 * until the option is given). */
typedef struct bench_num {
    int key;
    const char *name;
    long long min, max;
    long long *value;
} bench_num_t;

/* When key (from getopt_long) is an option of nums (a list that ends with
 * key 0), parses arg into its value with bench_arg_num and returns 0, or
 * -1 when arg is not valid; returns 1 when key is none of them. */
static inline int bench_num_arg(const char *prog, const bench_num_t *nums,
                                int key, const char *arg)
{
    for (; nums->key != 0; nums++)
        if (nums->key == key)
            return bench_arg_num(prog, nums->name, arg, nums->min,
                                 nums->max, nums->value);
    return 1;
}

#endif
