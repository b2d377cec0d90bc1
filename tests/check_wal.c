/*
 * check_wal.c - the write-ahead log (server/wal.c), its replay into a
 * store (apply.c, as_apply_replay) and the overlay of deferred writes
 * (store.c, overlay.c).
 *
 * The torn-tail test writes a log of several records, then cuts it at
 * every byte offset of its last record, both as a short file and as a file
 * whose tail after the cut is zeros (the preallocated part) or another
 * round's bytes: every cut must give back exactly the whole records before
 * it, and a replay into a fresh store must apply those and nothing of the
 * last one.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "arena.h"
#include "article.h"
#include "check_main.h"
#include "store.h"
#include "tempdir.h"
#include "wal.h"

static as_arena_t *arena;

static void make_dir(char *dir, size_t len)
{
    ck_assert_int_eq(ts_tempdir(dir, len), 0);
}

static void remove_dir(const char *dir)
{
    ck_assert_int_eq(ts_tempdir_remove(dir), 0);
}

/* A prepared article at url. */
static Artstore__V1__Article *article(const char *url, const char *title)
{
    Artstore__V1__Article *a = as_arena_alloc(arena, sizeof(*a));
    char **tags = as_arena_alloc(arena, sizeof(char *));
    as_limits_t lim = AS_LIMITS_DEFAULT;
    as_status_t st;

    ck_assert(a != NULL && tags != NULL);
    artstore__v1__article__init(a);
    tags[0] = "walt";
    a->url = (char *)url;
    a->title = (char *)title;
    a->body = "body";
    a->tags = tags;
    a->n_tags = 1;
    ck_assert_msg(as_article_prepare(a, arena, &lim, &st) == 0, "%s",
                  st.msg);
    return a;
}

/* A job of one put of url. */
static as_write_job_t *put_job(const char *url, const char *title)
{
    as_write_job_t *job = as_arena_alloc(arena, sizeof(*job));

    ck_assert_ptr_nonnull(job);
    memset(job, 0, sizeof(*job));
    job->items = as_arena_alloc(arena, sizeof(*job->items));
    ck_assert_ptr_nonnull(job->items);
    memset(job->items, 0, sizeof(*job->items));
    job->n = 1;
    job->items[0].op = AS_WRITE_PUT;
    job->items[0].article = article(url, title);
    return job;
}

#define N_RECORDS 4

/* Writes N_RECORDS records into dir/wal.log, record i (from 1) a put of
 * https://wal.test/<i>; ends[i] gets the file offset where record i ends
 * (ends[0]: where the first begins). */
static void write_log(const char *dir, off_t ends[N_RECORDS + 1])
{
    as_wal_t *w;
    as_status_t st;
    struct stat sb;
    char path[128];
    int i;

    ck_assert_msg(as_wal_open(dir, &w, &st) == 0, "%s", st.msg);
    ends[0] = (off_t)as_wal_size(w);
    for (i = 1; i <= N_RECORDS; i++) {
        char url[64], title[64];
        as_write_job_t *job;
        as_entry_origin_t o = { 0, 0, (uint64_t)i };
        void *rec;
        size_t len;

        snprintf(url, sizeof(url), "https://wal.test/%d", i);
        snprintf(title, sizeof(title), "title %d", i);
        job = put_job(as_arena_strndup(arena, url, strlen(url)),
                      as_arena_strndup(arena, title, strlen(title)));
        ck_assert_int_eq(as_entry_pack_jobs(&job, 1, 1700000000000 + i, &o,
                                            malloc, &rec, &len, &st), 0);
        ck_assert_msg(as_wal_append(w, (uint64_t)i, rec, len, &st) == 0,
                      "%s", st.msg);
        free(rec);
        ends[i] = (off_t)as_wal_size(w);
    }
    ck_assert_msg(as_wal_sync(w, &st) == 0, "%s", st.msg);
    as_wal_close(w);
    /* Sizes count from the end of the file header. */
    snprintf(path, sizeof(path), "%s/%s", dir, AS_WAL_FILE);
    ck_assert_int_eq(stat(path, &sb), 0);
    for (i = 0; i <= N_RECORDS; i++)
        ends[i] += AS_WAL_HEADER;
}

/* Reads a whole file into a malloc'ed buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
    struct stat sb;
    unsigned char *p;
    int fd = open(path, O_RDONLY);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &sb), 0);
    p = malloc((size_t)sb.st_size + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(read(fd, p, (size_t)sb.st_size), sb.st_size);
    close(fd);
    *len = (size_t)sb.st_size;
    return p;
}

static void spit(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

typedef struct seen {
    uint64_t index[N_RECORDS + 8];
    size_t n;
} seen_t;

static int visit(void *arg, uint64_t index, const void *data, size_t len,
                 as_status_t *st)
{
    seen_t *s = arg;

    (void)data;
    (void)len;
    (void)st;
    ck_assert_uint_lt(s->n, N_RECORDS + 8);
    s->index[s->n++] = index;
    return 0;
}

/* Scans dir's log after `after`; returns the number of records seen and
 * checks they are after+1, after+2, ... */
static size_t scan(const char *dir, uint64_t after, int *rc_out)
{
    as_wal_t *w;
    as_status_t st;
    seen_t s;
    uint64_t last;
    size_t i;

    memset(&s, 0, sizeof(s));
    ck_assert_msg(as_wal_open(dir, &w, &st) == 0, "%s", st.msg);
    *rc_out = as_wal_scan(w, after, visit, &s, &last, &st);
    as_wal_close(w);
    for (i = 0; i < s.n; i++)
        ck_assert_uint_eq(s.index[i], after + 1 + i);
    if (*rc_out == 0)
        ck_assert_uint_eq(last, after + s.n);
    return s.n;
}

/* Opens a fresh store in dir, replays dir's log into it and returns how
 * many of the N_RECORDS articles it holds (by URL), checking that they
 * are the first ones. */
static int replayed_articles(const char *dir)
{
    as_store_opts_t so;
    as_store_t *store;
    as_reader_t *r;
    as_wal_t *w;
    as_status_t st;
    uint64_t n, id;
    int i, found = 0;

    memset(&so, 0, sizeof(so));
    so.path = dir;
    so.map_size = 16u << 20;
    so.no_sync = 1;
    ck_assert_msg(as_store_open(&so, &store, &st) == 0, "%s", st.msg);
    ck_assert_msg(as_wal_open(dir, &w, &st) == 0, "%s", st.msg);
    ck_assert_msg(as_apply_replay(store, w, &n, &st) == 0, "%s", st.msg);
    ck_assert_int_eq(as_reader_create(store, &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    for (i = 1; i <= N_RECORDS; i++) {
        char url[64];

        snprintf(url, sizeof(url), "https://wal.test/%d", i);
        if (as_store_find_url(r, url, &id, &st) == 0) {
            ck_assert_msg(found == i - 1, "article %d replayed after a gap",
                          i);
            /* Ids are given in log order, from 1. */
            ck_assert_uint_eq(id, (uint64_t)i);
            found = i;
        }
    }
    as_reader_end(r);
    as_reader_free(r);
    ck_assert_uint_eq(n, (uint64_t)found);
    ck_assert_uint_eq(as_store_logged_index(store), (uint64_t)found);
    as_wal_close(w);
    as_store_close(store);
    return found;
}

/* Every cut inside the last record, as a short file, as zeros after the
 * cut and as stale bytes after the cut: N_RECORDS - 1 whole records come
 * back, and a replay applies exactly those. */
START_TEST(torn_tail_every_offset)
{
    char dir[64], cut[64], path[128], cpath[128];
    off_t ends[N_RECORDS + 1], off, rec_end;
    unsigned char *full, *buf;
    size_t len;
    int mode, rc;

    arena = as_arena_create(1u << 20);
    make_dir(dir, sizeof(dir));
    write_log(dir, ends);
    snprintf(path, sizeof(path), "%s/%s", dir, AS_WAL_FILE);
    full = slurp(path, &len);
    ck_assert_uint_ge(len, (size_t)ends[N_RECORDS]);
    ck_assert_uint_eq(scan(dir, 0, &rc), N_RECORDS);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(replayed_articles(dir), N_RECORDS);
    buf = malloc((size_t)ends[N_RECORDS]);
    ck_assert_ptr_nonnull(buf);
    /* The record's bytes: its header and payload (the zeros after it up
     * to 8 bytes are not part of it). */
    rec_end = ends[N_RECORDS - 1] + AS_WAL_HEADER +
              (off_t)(((size_t)full[ends[N_RECORDS - 1] + 4] << 24) |
                      ((size_t)full[ends[N_RECORDS - 1] + 5] << 16) |
                      ((size_t)full[ends[N_RECORDS - 1] + 6] << 8) |
                      full[ends[N_RECORDS - 1] + 7]);
    ck_assert_int_le(rec_end, ends[N_RECORDS]);
    for (mode = 0; mode < 3; mode++) {
        for (off = ends[N_RECORDS - 1]; off < rec_end; off++) {
            size_t n = (size_t)ends[N_RECORDS];
            size_t expect = N_RECORDS - 1;

            make_dir(cut, sizeof(cut));
            snprintf(cpath, sizeof(cpath), "%s/%s", cut, AS_WAL_FILE);
            memcpy(buf, full, n);
            if (mode == 0)
                n = (size_t)off;                 /* the file ends there */
            else if (mode == 1)
                memset(buf + off, 0, n - (size_t)off);    /* zeros */
            else
                memset(buf + off, 0xA5, n - (size_t)off); /* stale bytes */
            /* Overwriting a byte with the value it had (the entry's own
             * zero padding, in mode 1) tears nothing. */
            if (mode != 0 && memcmp(buf + off, full + off,
                                    (size_t)(rec_end - off)) == 0)
                expect = N_RECORDS;
            spit(cpath, buf, n);
            ck_assert_msg(scan(cut, 0, &rc) == expect,
                          "mode %d, cut at %lld of %lld..%lld", mode,
                          (long long)off, (long long)ends[N_RECORDS - 1],
                          (long long)ends[N_RECORDS]);
            ck_assert_int_eq(rc, 0);
            /* A replay on every 8th cut and on the edges (each opens a
             * store): the scan above already covers every offset. */
            if ((off - ends[N_RECORDS - 1]) % 8 == 0 || off == rec_end - 1)
                ck_assert_int_eq(replayed_articles(cut), (int)expect);
            remove_dir(cut);
        }
    }
    free(buf);
    free(full);
    remove_dir(dir);
    as_arena_destroy(arena);
}
END_TEST

/* A flipped byte anywhere in the last record's payload fails its checksum:
 * the record is dropped. */
START_TEST(flipped_byte_dropped)
{
    char dir[64], path[128];
    off_t ends[N_RECORDS + 1], off;
    unsigned char *full;
    size_t len;
    int rc;

    arena = as_arena_create(1u << 20);
    make_dir(dir, sizeof(dir));
    write_log(dir, ends);
    snprintf(path, sizeof(path), "%s/%s", dir, AS_WAL_FILE);
    full = slurp(path, &len);
    for (off = ends[N_RECORDS - 1]; off < ends[N_RECORDS]; off += 3) {
        full[off] ^= 0x01;
        spit(path, full, len);
        ck_assert_uint_eq(scan(dir, 0, &rc), N_RECORDS - 1);
        ck_assert_int_eq(rc, 0);
        full[off] ^= 0x01;
    }
    free(full);
    remove_dir(dir);
    as_arena_destroy(arena);
}
END_TEST

/* After a reset the log is rewritten from its start: the records of the
 * earlier round behind the new ones are not read, records LMDB already
 * holds are skipped, and a record beyond what LMDB holds with nothing
 * before it is DATA_LOSS. */
START_TEST(reset_skip_and_gap)
{
    char dir[64];
    off_t ends[N_RECORDS + 1];
    as_wal_t *w;
    as_status_t st;
    int rc;

    arena = as_arena_create(1u << 20);
    make_dir(dir, sizeof(dir));
    write_log(dir, ends);
    /* LMDB holds 1..2: 3 and 4 come back. */
    ck_assert_uint_eq(scan(dir, 2, &rc), 2);
    ck_assert_int_eq(rc, 0);
    /* A new round: one short record 5 over the old ones. */
    ck_assert_int_eq(as_wal_open(dir, &w, &st), 0);
    as_wal_reset(w);
    ck_assert_int_eq(as_wal_append(w, 5, "x", 1, &st), 0);
    ck_assert_int_eq(as_wal_sync(w, &st), 0);
    as_wal_close(w);
    ck_assert_uint_eq(scan(dir, 4, &rc), 1);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(scan(dir, 5, &rc), 0);
    ck_assert_int_eq(rc, 0);
    /* LMDB holds only 1..3: record 4 is missing. */
    scan(dir, 3, &rc);
    ck_assert_int_eq(rc, AS_CODE_DATA_LOSS);
    remove_dir(dir);
    as_arena_destroy(arena);
}
END_TEST

/* as_store_defer callback: puts the article of arg. */
static int defer_put(as_wtxn_t *t, void *arg)
{
    as_put_out_t out;
    as_status_t st;

    return as_store_put(t, arg, NULL, &out, &st) != 0 &&
                   as_store_txn_broken(t)
               ? st.code
               : 0;
}

/* Stages a put of url titled title (as_store_defer with defer_put),
 * failing the test if the store refuses it. */
static void stage_put(as_store_t *store, const char *url, const char *title)
{
    as_status_t st;

    ck_assert_msg(as_store_defer(store, defer_put, article(url, title),
                                 &st) == 0, "defer: %s", st.msg);
}

static int defer_delete(as_wtxn_t *t, void *arg)
{
    uint64_t id, rev;
    as_status_t st;

    return as_store_delete(t, 0, arg, NULL, &id, &rev, &st) != 0 &&
                   as_store_txn_broken(t)
               ? st.code
               : 0;
}

/* Opens a store in a new directory with two readers (and the arena). */
static void open_with_readers(char *dir, size_t len, as_store_t **store,
                              as_reader_t **a, as_reader_t **b)
{
    as_store_opts_t so;
    as_status_t st;

    arena = as_arena_create(1u << 20);
    make_dir(dir, len);
    memset(&so, 0, sizeof(so));
    so.path = dir;
    so.map_size = 16u << 20;
    ck_assert_int_eq(as_store_open(&so, store, &st), 0);
    ck_assert_int_eq(as_reader_create(*store, a, &st), 0);
    ck_assert_int_eq(as_reader_create(*store, b, &st), 0);
}

/* Undoes open_with_readers. */
static void close_with_readers(const char *dir, as_store_t *store,
                               as_reader_t *a, as_reader_t *b)
{
    as_reader_free(a);
    as_reader_free(b);
    as_store_close(store);
    remove_dir(dir);
    as_arena_destroy(arena);
}

/* Whether the reader finds url (latest: with the overlay) and its title. */
static int find(as_reader_t *r, const char *url, int latest, char *title,
                size_t tlen)
{
    as_status_t st;
    as_bytes_t raw;
    uint64_t id;
    Artstore__V1__Article *a;

    if ((latest ? as_store_find_url_latest(r, url, &id, &st)
                : as_store_find_url(r, url, &id, &st)) != 0)
        return 0;
    if ((latest ? as_store_get_latest(r, id, &raw, &st)
                : as_store_get_raw(r, id, &raw, &st)) != 0)
        return 0;
    a = artstore__v1__article__unpack(NULL, raw.len, raw.data);
    ck_assert_ptr_nonnull(a);
    snprintf(title, tlen, "%s", a->title);
    artstore__v1__article__free_unpacked(a, NULL);
    return 1;
}

/* Deferred writes: staged, visible by id and URL once published, not in
 * a snapshot before the commit; after it, a reader whose snapshot began
 * before the commit still finds them (its epoch), a new one in LMDB; a
 * delete hides the article at once. */
START_TEST(overlay_read_your_writes)
{
    char dir[64], title[64];
    as_store_t *store;
    as_reader_t *old, *r;
    as_status_t st;
    const char *url = "https://wal.test/o";

    open_with_readers(dir, sizeof(dir), &store, &old, &r);

    stage_put(store, url, "first");
    ck_assert_uint_gt(as_store_overlay_bytes(store), 0);
    /* Staged, not published: not visible yet. */
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(find(r, url, 1, title, sizeof(title)), 0);
    as_reader_end(r);
    as_store_publish(store);
    ck_assert_int_eq(as_reader_begin(old, &st), 0);
    ck_assert_int_eq(find(old, url, 1, title, sizeof(title)), 1);
    ck_assert_str_eq(title, "first");
    ck_assert_int_eq(find(old, url, 0, title, sizeof(title)), 0);
    ck_assert(as_store_deferred(store));

    /* Committed while `old` is open: old still sees it (overlay), a new
     * snapshot sees it in LMDB. */
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    ck_assert(!as_store_deferred(store));
    ck_assert_int_eq(find(old, url, 1, title, sizeof(title)), 1);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(find(r, url, 0, title, sizeof(title)), 1);
    ck_assert_int_eq(find(r, url, 1, title, sizeof(title)), 1);
    as_reader_end(r);
    as_reader_end(old);

    /* An update and a delete, deferred. */
    stage_put(store, url, "second");
    as_store_publish(store);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(find(r, url, 1, title, sizeof(title)), 1);
    ck_assert_str_eq(title, "second");
    ck_assert_int_eq(find(r, url, 0, title, sizeof(title)), 1);
    ck_assert_str_eq(title, "first");
    as_reader_end(r);
    ck_assert_int_eq(as_store_defer(store, defer_delete, (void *)url, &st),
                     0);
    as_store_publish(store);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(find(r, url, 1, title, sizeof(title)), 0);
    as_reader_end(r);
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(find(r, url, 0, title, sizeof(title)), 0);
    as_reader_end(r);
    /* With no reader open, a second commit frees every retired entry. */
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    stage_put(store, "https://wal.test/p", "p");
    as_store_publish(store);
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    as_store_commit(store, &st);

    close_with_readers(dir, store, old, r);
}
END_TEST

/* as_store_defer callback: puts the article of arg, then fails the group
 * (what a broken transaction does). */
static int defer_put_fail(as_wtxn_t *t, void *arg)
{
    defer_put(t, arg);
    return AS_CODE_ABORTED;
}

/* What a scan of the changelog visited: seqs in order, and titles. */
typedef struct visited {
    uint64_t seq[16];
    size_t n;
    size_t stop_after;      /* 0: never stop */
} visited_t;

static int changes_visit(void *arg, uint64_t seq, as_bytes_t raw,
                      as_status_t *st)
{
    visited_t *s = arg;
    Artstore__V1__ChangeEvent *ev;

    (void)st;
    ev = artstore__v1__change_event__unpack(NULL, raw.len, raw.data);
    ck_assert_ptr_nonnull(ev);
    ck_assert_uint_eq(ev->seq, seq);
    artstore__v1__change_event__free_unpacked(ev, NULL);
    ck_assert_uint_lt(s->n, 16);
    s->seq[s->n++] = seq;
    return s->stop_after != 0 && s->n == s->stop_after ? AS_VISIT_STOP : 0;
}

/* Reads the changelog after `after` in a snapshot of r, with the
 * overlay's tail (latest) or without, and checks that it visited exactly
 * first..last, once each, in order (first > last: nothing). */
static void expect_changes(as_reader_t *r, int latest, uint64_t after,
                           uint64_t first, uint64_t last)
{
    visited_t s = { { 0 }, 0, 0 };
    uint64_t oldest, bound, i;
    as_status_t st;

    if (latest) {
        ck_assert_int_eq(as_store_changes_bounds_latest(r, &oldest, &bound,
                                                        &st), 0);
        ck_assert_int_eq(as_store_changes_scan_latest(r, after, bound,
                                                      changes_visit, &s, &st),
                         0);
    } else {
        ck_assert_int_eq(as_store_changes_scan(r, after, changes_visit, &s, &st),
                         0);
    }
    ck_assert_msg(s.n == (first > last ? 0 : last - first + 1),
                  "visited %zu changes after %llu, expected %llu..%llu",
                  s.n, (unsigned long long)after, (unsigned long long)first,
                  (unsigned long long)last);
    for (i = 0; i < s.n; i++)
        ck_assert_uint_eq(s.seq[i], first + i);
}

/*
 * The overlay's tail of change events: a deferred write's event is seen by
 * as_store_changes_scan_latest once published, not while staged, not by
 * the snapshot alone; across a commit every change is visited once, in
 * order, whether the reader's snapshot began before the commit (the tail
 * still holds them) or after it (LMDB does); a group that fails leaves no
 * event and no hole; a scan that stops does not go on into the tail.
 */
START_TEST(overlay_change_tail)
{
    char dir[64];
    as_store_t *store;
    as_reader_t *old, *r;
    as_status_t st;
    visited_t stop = { { 0 }, 0, 1 };
    uint64_t oldest, last;

    open_with_readers(dir, sizeof(dir), &store, &old, &r);

    /* Two published groups and a staged one. */
    stage_put(store, "https://wal.test/t1", "1");
    as_store_publish(store);
    stage_put(store, "https://wal.test/t2", "2");
    as_store_publish(store);
    stage_put(store, "https://wal.test/t3", "3");
    ck_assert_uint_eq(as_store_last_seq(store), 0);
    ck_assert_uint_eq(as_store_acked_seq(store), 2);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(as_store_changes_bounds_latest(r, &oldest, &last, &st),
                     0);
    ck_assert_uint_eq(oldest, 1);
    ck_assert_uint_eq(last, 2);
    expect_changes(r, 1, 0, 1, 2);
    expect_changes(r, 1, 1, 2, 2);
    expect_changes(r, 1, 2, 3, 2);
    expect_changes(r, 0, 0, 1, 0);
    /* A visitor that stops at the first change ends the walk. */
    ck_assert_int_eq(as_store_changes_scan_latest(r, 0, 2, changes_visit, &stop,
                                                  &st), 0);
    ck_assert_uint_eq(stop.n, 1);
    as_reader_end(r);

    /* A failed group: no event, and the next write takes the next seq. */
    as_store_publish(store);
    ck_assert_int_eq(as_store_defer(store, defer_put_fail,
                                    article("https://wal.test/tx", "x"), &st),
                     AS_CODE_ABORTED);
    /* The store committed what came before the group. */
    ck_assert_uint_eq(as_store_last_seq(store), 3);
    stage_put(store, "https://wal.test/t4", "4");
    as_store_publish(store);
    ck_assert_uint_eq(as_store_acked_seq(store), 4);

    /* `old` begins before the commit of 4, r after it. */
    ck_assert_int_eq(as_reader_begin(old, &st), 0);
    expect_changes(old, 1, 0, 1, 4);
    expect_changes(old, 0, 0, 1, 3);
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    expect_changes(old, 1, 0, 1, 4);
    expect_changes(old, 1, 3, 4, 4);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    expect_changes(r, 1, 0, 1, 4);
    expect_changes(r, 0, 0, 1, 4);
    as_reader_end(r);
    as_reader_end(old);

    /* With no reader open, the next commit frees the tail: LMDB serves. */
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    stage_put(store, "https://wal.test/t5", "5");
    as_store_publish(store);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    expect_changes(r, 1, 0, 1, 5);
    expect_changes(r, 1, 4, 5, 5);
    as_reader_end(r);
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    ck_assert_int_eq(as_store_commit(store, &st), 0);
    ck_assert_uint_eq(as_store_overlay_bytes(store), 0);
    ck_assert_uint_eq(as_store_acked_seq(store), 5);

    close_with_readers(dir, store, old, r);
}
END_TEST

/* The log finding the disk full as it grows says so as every write path
 * does (as_disk_error): RESOURCE_EXHAUSTED naming the data directory and
 * its free bytes. The log lives on a small tmpfs the test mounts. */
START_TEST(reserve_on_full_disk)
{
    char mnt[64], data[96], filler[96];
    as_wal_t *w;
    as_status_t st;

    if (ts_tmpfs_or_skip(mnt, sizeof(mnt), "4m", "reserve_on_full_disk") != 0)
        return;
    snprintf(data, sizeof(data), "%s/data", mnt);
    ck_assert_int_eq(mkdir(data, 0700), 0);
    ck_assert_msg(as_wal_open(data, &w, &st) == 0, "%s", st.msg);
    ck_assert_msg(as_wal_reserve(w, 1000, &st) == 0, "%s", st.msg);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    ck_assert_uint_gt(ts_fill_disk(filler), 0);
    ck_assert_int_eq(as_wal_reserve(w, 3u << 20, &st),
                     AS_CODE_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(st.msg, "disk full: the data directory") != NULL &&
                  strstr(st.msg, data) != NULL &&
                  strstr(st.msg, "bytes free") != NULL,
                  "message does not name the disk: %s", st.msg);
    as_wal_close(w);
    ts_tmpfs_remove(mnt);
}
END_TEST

AS_CHECK_MAIN("wal", 120, torn_tail_every_offset, flipped_byte_dropped,
              reset_skip_and_gap, overlay_read_your_writes,
              overlay_change_tail, reserve_on_full_disk)
