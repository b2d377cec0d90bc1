/*
 * wal.c - the write-ahead log of a single node. See wal.h.
 *
 * The checksum is XXH3-64 from libxxhash, which the server already links
 * for content hashes: a group of 100 articles is ~400 KB, and XXH3 hashes
 * that several times faster than zlib's crc32 on this kind of CPU, with 64
 * bits against 32 for telling a torn record from a whole one. No new
 * dependency.
 */
#define _GNU_SOURCE        /* sync_file_range */
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <xxhash.h>

#include "be.h"
#include "store.h"

#define MAGIC "ASW1"
#define FILE_MAGIC "ASWALv01"
/* The file header: FILE_MAGIC, the seed (u64 BE), zeros. */
#define FILE_HEADER ((off_t)32)
/* The file is extended with zeros this much at a time. */
#define EXTEND_BYTES ((off_t)1 << 20)

struct as_wal {
    int fd;
    char dir[4096];        /* the directory holding it */
    char path[4096];
    off_t pos;             /* where the next record goes */
    off_t last;            /* where the last record appended starts */
    off_t size;            /* the file's length (zeros past the records) */
    uint64_t seed;         /* of every record's checksum */
    /* The flusher thread (as_wal_sync_start), started at the first use:
     * flushes asked and done, the errno of the last one (0: it worked),
     * all under lock. */
    pthread_t flusher;
    int flusher_on, stopping, flush_err;
    uint64_t asked, done;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

/* Reads exactly n bytes at off; returns 0, 1 at a short read, -1 on
 * error. */
static int read_at(int fd, void *buf, size_t n, off_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 1;
        got += (size_t)r;
    }
    return 0;
}


/* Flushes the directory holding path, so that a new file's name survives
 * a crash. Returns 0 or -1 with errno. */
static int sync_dir(const char *path)
{
    char dir[4096];
    char *slash;
    int fd, rc;

    snprintf(dir, sizeof(dir), "%s", path);
    if ((slash = strrchr(dir, '/')) == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        *slash = '\0';
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/*
 * Reads the file header, or writes one with a fresh random seed into a new
 * (empty) file. The seed keeps an article's bytes from passing for a
 * record: a body that holds a well-formed record cannot know the seed of
 * its checksum. Returns 0 or INTERNAL / DATA_LOSS with st set.
 */
static int read_header(as_wal_t *w, as_status_t *st)
{
    unsigned char h[FILE_HEADER];
    int r;

    if (w->size < FILE_HEADER) {
        /* New, or its header was cut short: nothing was ever logged. */
        memset(h, 0, sizeof(h));
        memcpy(h, FILE_MAGIC, 8);
        if (getrandom(&w->seed, sizeof(w->seed), 0) != sizeof(w->seed))
            return as_status_set(st, AS_CODE_INTERNAL, "getrandom: %s",
                                 strerror(errno));
        as_be_put64(h + 8, w->seed);
        if (pwrite(w->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
            fsync(w->fd) != 0 || sync_dir(w->path) != 0)
            return as_status_set(st, AS_CODE_INTERNAL, "write %s: %s",
                                 w->path, strerror(errno));
        w->size = FILE_HEADER;
        return 0;
    }
    if ((r = read_at(w->fd, h, sizeof(h), 0)) < 0)
        return as_status_set(st, AS_CODE_INTERNAL, "read %s: %s", w->path,
                             strerror(errno));
    if (r > 0 || memcmp(h, FILE_MAGIC, 8) != 0)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "%s is not artstore's write-ahead log (bad "
                             "header)", w->path);
    w->seed = as_be_get64(h + 8);
    return 0;
}

int as_wal_open(const char *dir, as_wal_t **out, as_status_t *st)
{
    as_wal_t *w = calloc(1, sizeof(*w));
    struct stat sb;

    if (w == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    snprintf(w->path, sizeof(w->path), "%s/%s", dir, AS_WAL_FILE);
    if ((w->fd = open(w->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
        fstat(w->fd, &sb) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "open %s: %s", w->path,
                      strerror(errno));
        if (w->fd >= 0)
            close(w->fd);
        free(w);
        return st->code;
    }
    w->size = sb.st_size;
    if (read_header(w, st) != 0) {
        close(w->fd);
        free(w);
        return st->code;
    }
    w->pos = w->last = FILE_HEADER;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    *out = w;
    return 0;
}

void as_wal_close(as_wal_t *w)
{
    if (w == NULL)
        return;
    if (w->flusher_on) {
        pthread_mutex_lock(&w->lock);
        w->stopping = 1;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->flusher, NULL);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    close(w->fd);
    free(w);
}

/* The checksum of a record: the payload's XXH3 with the file's seed, then
 * that folded with every other byte of the header (magic, length, index,
 * the reserved zeros). */
static uint64_t record_hash(const as_wal_t *w, const unsigned char *hdr,
                            const void *data, size_t len)
{
    unsigned char b[AS_WAL_HEADER];

    memcpy(b, hdr, AS_WAL_HEADER);
    as_be_put64(b + 16, XXH3_64bits_withSeed(data, len, w->seed));
    return XXH3_64bits_withSeed(b, sizeof(b), w->seed);
}

static size_t padded(size_t len)
{
    return (len + 7) & ~(size_t)7;
}

int as_wal_scan(as_wal_t *w, uint64_t after, as_wal_visit_fn fn, void *arg,
                uint64_t *last, as_status_t *st)
{
    unsigned char hdr[AS_WAL_HEADER];
    unsigned char *buf = NULL;
    size_t cap = 0;
    off_t off = FILE_HEADER;
    uint64_t prev = 0;
    int have_prev = 0, rc = 0;

    *last = after;
    for (;;) {
        uint32_t len;
        uint64_t index, hash;
        int r = read_at(w->fd, hdr, sizeof(hdr), off);

        if (r < 0) {
            rc = as_status_set(st, AS_CODE_INTERNAL, "read %s: %s", w->path,
                               strerror(errno));
            break;
        }
        if (r > 0 || memcmp(hdr, MAGIC, 4) != 0)
            break;
        len = as_be_get32(hdr + 4);
        index = as_be_get64(hdr + 8);
        hash = as_be_get64(hdr + 16);
        if (have_prev && index != prev + 1)
            break;                  /* a record of an earlier round */
        if (padded(len) > cap) {
            unsigned char *p = realloc(buf, padded(len));

            if (p == NULL) {
                rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                   "out of memory reading a %u-byte log "
                                   "record", len);
                break;
            }
            buf = p;
            cap = padded(len);
        }
        if ((r = read_at(w->fd, buf, len, off + AS_WAL_HEADER)) < 0) {
            rc = as_status_set(st, AS_CODE_INTERNAL, "read %s: %s", w->path,
                               strerror(errno));
            break;
        }
        if (r > 0 || record_hash(w, hdr, buf, len) != hash)
            break;                  /* torn: never acknowledged */
        if (index > after) {
            if (index != *last + 1) {
                rc = as_status_set(st, AS_CODE_DATA_LOSS,
                                   "%s starts at record %llu but the store "
                                   "holds records up to %llu only: "
                                   "acknowledged writes are missing (was "
                                   "the store or the log replaced?)",
                                   w->path, (unsigned long long)index,
                                   (unsigned long long)*last);
                break;
            }
            if ((rc = fn(arg, index, buf, len, st)) != 0)
                break;
            *last = index;
        }
        prev = index;
        have_prev = 1;
        off += AS_WAL_HEADER + (off_t)padded(len);
    }
    free(buf);
    return rc;
}

/* Makes the file at least `need` bytes long, writing zeros (not a hole:
 * see wal.h). Returns 0 or -1 with errno. */
static int extend(as_wal_t *w, off_t need)
{
    static const unsigned char zeros[65536];

    while (w->size < need) {
        off_t end = w->size + EXTEND_BYTES;

        while (w->size < end) {
            size_t n = sizeof(zeros);
            ssize_t r;

            if ((off_t)n > end - w->size)
                n = (size_t)(end - w->size);
            r = pwrite(w->fd, zeros, n, w->size);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -1;
            w->size += r;
        }
    }
    return 0;
}

int as_wal_reserve(as_wal_t *w, size_t len, as_status_t *st)
{
    char what[4200];
    int err;

    if (extend(w, w->pos + AS_WAL_HEADER + (off_t)padded(len)) == 0)
        return 0;
    err = errno;
    snprintf(what, sizeof(what), "extend %s", w->path);
    return as_disk_error(w->dir, err, what, st);
}

int as_wal_append(as_wal_t *w, uint64_t index, const void *data, size_t len,
                  as_status_t *st)
{
    static const unsigned char pad[8];
    unsigned char hdr[AS_WAL_HEADER];
    struct iovec iov[3];
    size_t total = AS_WAL_HEADER + padded(len), done = 0;

    if (len > UINT32_MAX)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "a log record of %zu bytes is too large", len);
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, MAGIC, 4);
    as_be_put32(hdr + 4, (uint32_t)len);
    as_be_put64(hdr + 8, index);
    as_be_put64(hdr + 16, record_hash(w, hdr, data, len));
    if (extend(w, w->pos + (off_t)total) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "extend %s: %s", w->path,
                             strerror(errno));
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = (void *)data;
    iov[1].iov_len = len;
    iov[2].iov_base = (void *)pad;
    iov[2].iov_len = padded(len) - len;
    while (done < total) {
        ssize_t r = pwritev(w->fd, iov, 3, w->pos + (off_t)done);
        size_t k = (size_t)(r > 0 ? r : 0);
        int i;

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return as_status_set(st, AS_CODE_INTERNAL, "write %s: %s",
                                 w->path, strerror(errno));
        done += k;
        for (i = 0; i < 3 && k > 0; i++) {
            size_t m = k < iov[i].iov_len ? k : iov[i].iov_len;

            iov[i].iov_base = (char *)iov[i].iov_base + m;
            iov[i].iov_len -= m;
            k -= m;
        }
    }
    w->last = w->pos;
    w->pos += (off_t)total;
    return 0;
}

void as_wal_write_start(as_wal_t *w)
{
    /* Errors show at the flush (as_wal_sync), which waits for this
     * write and then flushes the disk's cache. */
    (void)sync_file_range(w->fd, w->last, w->pos - w->last,
                          SYNC_FILE_RANGE_WRITE);
}

int as_wal_sync(as_wal_t *w, as_status_t *st)
{
    if (fdatasync(w->fd) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "fdatasync %s: %s",
                             w->path, strerror(errno));
    return 0;
}

/* The flusher thread: one fdatasync for every round of flushes asked
 * while the one before ran. */
static void *flusher_main(void *arg)
{
    as_wal_t *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        uint64_t target;
        int err;

        while (w->done == w->asked && !w->stopping)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->done == w->asked)
            break;
        target = w->asked;
        pthread_mutex_unlock(&w->lock);
        err = fdatasync(w->fd) == 0 ? 0 : errno;
        pthread_mutex_lock(&w->lock);
        w->done = target;
        w->flush_err = err;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int as_wal_sync_start(as_wal_t *w, as_status_t *st)
{
    int rc;

    if (!w->flusher_on) {
        if ((rc = pthread_create(&w->flusher, NULL, flusher_main, w)) != 0)
            return as_status_set(st, AS_CODE_INTERNAL,
                                 "start the log's flusher: %s", strerror(rc));
        w->flusher_on = 1;
    }
    pthread_mutex_lock(&w->lock);
    w->asked++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int as_wal_sync_wait(as_wal_t *w, as_status_t *st)
{
    int err;

    pthread_mutex_lock(&w->lock);
    while (w->done != w->asked)
        pthread_cond_wait(&w->cond, &w->lock);
    err = w->flush_err;
    pthread_mutex_unlock(&w->lock);
    if (err != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "fdatasync %s: %s",
                             w->path, strerror(err));
    return 0;
}

int as_wal_drop_last(as_wal_t *w, as_status_t *st)
{
    static const unsigned char zeros[AS_WAL_HEADER];

    /* A flush that failed does not matter: the record is erased, and the
     * erasure flushed, below. */
    (void)as_wal_sync_wait(w, st);
    if (w->last >= w->pos)
        return 0;
    if (pwrite(w->fd, zeros, sizeof(zeros), w->last) !=
            (ssize_t)sizeof(zeros) ||
        fdatasync(w->fd) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "erase a record of %s: %s",
                             w->path, strerror(errno));
    w->pos = w->last;
    return 0;
}

void as_wal_reset(as_wal_t *w)
{
    w->pos = w->last = FILE_HEADER;
}

uint64_t as_wal_size(const as_wal_t *w)
{
    return (uint64_t)(w->pos - FILE_HEADER);
}
