/*
 * clock.h - the two clocks, defined once for the server and libartstore.
 *
 * Wall time (CLOCK_REALTIME) is what goes on the wire: deadlines, commit
 * times, heartbeats. Monotonic time (CLOCK_MONOTONIC) measures intervals
 * that must not jump with the wall clock: silences, timeouts, latencies.
 * Header-only, so that the CLI, the benchmarks and the tests use these
 * too (CMake target as_clock) without linking anything.
 */
#ifndef AS_CLOCK_H
#define AS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Returns the wall clock in Unix milliseconds. */
static inline int64_t as_clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the wall-clock time of Unix milliseconds ms as a timespec: the
 * absolute time pthread_cond_timedwait (CLOCK_REALTIME) takes. */
static inline struct timespec as_clock_wall_ts(int64_t ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    return ts;
}

/* Returns a monotonic clock in milliseconds (arbitrary origin). */
static inline int64_t as_clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the monotonic clock in seconds at its full (nanosecond)
 * resolution, for short intervals measured finer than a millisecond:
 * latencies, rates (a double holds nanoseconds exactly for months of
 * uptime). */
static inline double as_clock_mono_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
