/*
 * flush_cost.c - what a durable commit costs on this disk, by shape.
 *
 * An LMDB commit writes each dirty page where it lives (scattered over the
 * file, since freed pages are reused) and then flushes. This measures, in
 * a preallocated file in DIR, P pages written scattered vs the same P
 * pages written as one contiguous run, each followed by fdatasync:
 *
 *   flush_cost [DIR] [ROUNDS]
 *
 * It prints one line per shape and page count with the median time of a
 * write+flush round. No server is involved.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define PAGE 4096
#define FILE_PAGES 16384           /* 64 MiB */
#define MAX_RUN 64

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median microseconds of rounds of: write pages (scattered or as one
 * run), then fdatasync. */
static double measure(int fd, int pages, int scattered, int rounds,
                      const char *buf)
{
    double *t = malloc(sizeof(*t) * (size_t)rounds), med;
    unsigned seed = 1;
    int r, p;

    for (r = 0; r < rounds; r++) {
        double t0 = as_clock_mono_sec();

        if (scattered) {
            for (p = 0; p < pages; p++)
                if (pwrite(fd, buf, PAGE,
                           (off_t)(rand_r(&seed) % FILE_PAGES) * PAGE) != PAGE)
                    return -1;
        } else if (pwrite(fd, buf, (size_t)PAGE * pages,
                          (off_t)(rand_r(&seed) % (FILE_PAGES - MAX_RUN)) *
                              PAGE) != (ssize_t)PAGE * pages) {
            return -1;
        }
        if (fdatasync(fd) != 0)
            return -1;
        t[r] = (as_clock_mono_sec() - t0) * 1e6;
    }
    qsort(t, (size_t)rounds, sizeof(*t), cmp_double);
    med = t[rounds / 2];
    free(t);
    return med;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    int rounds = argc > 2 ? atoi(argv[2]) : 200;
    static const int counts[] = { 1, 4, 20, 60 };
    static char buf[PAGE * MAX_RUN];
    char path[4096];
    size_t i;
    int fd;

    if (rounds < 1)
        rounds = 1;
    memset(buf, 'x', sizeof(buf));
    snprintf(path, sizeof(path), "%s/flush_cost.XXXXXX", dir);
    if ((fd = mkstemp(path)) < 0) {
        perror(path);
        return 1;
    }
    unlink(path);
    /* Real blocks, not a sparse file: overwrites then allocate nothing. */
    for (i = 0; i < FILE_PAGES / MAX_RUN; i++)
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
            perror("write");
            return 1;
        }
    fsync(fd);
    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        double s = measure(fd, counts[i], 1, rounds, buf);
        double c = measure(fd, counts[i], 0, rounds, buf);

        if (s < 0 || c < 0) {
            perror("measure");
            return 1;
        }
        printf("result pages=%d scattered_us=%.0f contiguous_us=%.0f "
               "ratio=%.2f\n", counts[i], s, c, s / c);
    }
    close(fd);
    return 0;
}
