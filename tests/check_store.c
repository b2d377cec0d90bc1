/*
 * check_store.c - tests for server/store.c: every index written and
 * removed, idempotent re-put, updates moving postings, gap-free seq,
 * conditional writes, reopen, map growth and the data-dir lock.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "article.h"
#include "check_main.h"
#include "be.h"
#include "noise.h"
#include "store_schema.h"
#include "tempdir.h"

static char dir[64];
static as_store_t *store;
static as_arena_t *ar;
static as_limits_t lim = AS_LIMITS_DEFAULT;

static void open_store(size_t map_size, size_t map_max)
{
    as_store_opts_t o = { 0 };
    as_status_t st;

    o.path = dir;
    o.map_size = map_size;
    o.map_max = map_max;
    /* No fsync per commit: these tests are about content, and thousands
     * of flushed commits on a loaded machine overran the test timeout
     * (durability is check_crash's). */
    o.no_sync = 1;
    ck_assert_msg(as_store_open(&o, &store, &st) == 0, "open: %s", st.msg);
}

static void setup(void)
{
    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    ar = as_arena_create(64 << 20);
    open_store(0, 0);
}

static void teardown(void)
{
    as_store_close(store);
    as_arena_destroy(ar);
    ck_assert_int_eq(ts_tempdir_remove(dir), 0);
}

/* Builds and prepares an article; tags is a NULL-terminated list. */
static Artstore__V1__Article *mk(const char *url, const char *title,
                                 const char *body, int64_t published,
                                 const char **tags)
{
    Artstore__V1__Article *a = as_arena_alloc(ar, sizeof(*a));
    as_status_t st;
    size_t n = 0;

    artstore__v1__article__init(a);
    a->url = url ? as_arena_strndup(ar, url, strlen(url)) : NULL;
    a->title = as_arena_strndup(ar, title, strlen(title));
    a->body = body ? as_arena_strndup(ar, body, strlen(body)) : NULL;
    a->source = as_arena_strndup(ar, "Wire", 4);
    if (published != 0) {
        a->has_published_at = 1;
        a->published_at = published;
    }
    while (tags && tags[n])
        n++;
    a->tags = as_arena_alloc(ar, sizeof(char *) * (n + 1));
    for (a->n_tags = 0; a->n_tags < n; a->n_tags++)
        a->tags[a->n_tags] = as_arena_strndup(ar, tags[a->n_tags],
                                              strlen(tags[a->n_tags]));
    ck_assert_msg(as_article_prepare(a, ar, &lim, &st) == 0, "prepare: %s",
                  st.msg);
    return a;
}

typedef struct op {
    int del;
    const Artstore__V1__Article *a;
    uint64_t id;
    int has_expected;
    uint64_t expected;
    const char *request_id;
    as_put_out_t out;
    as_status_t st;
} op_t;

static int run_op(as_wtxn_t *t, void *arg)
{
    op_t *op = arg;
    as_write_cond_t cond = { op->has_expected, op->expected, { NULL, 0 } };
    int rc;

    if (op->request_id != NULL) {
        cond.request_id.data = op->request_id;
        cond.request_id.len = strlen(op->request_id);
    }
    as_status_ok(&op->st);
    if (op->del)
        rc = as_store_delete(t, op->id, NULL, &cond, &op->out.id,
                             &op->out.revision, &op->st);
    else
        rc = as_store_put(t, op->a, &cond, &op->out, &op->st);
    return rc && as_store_txn_broken(t) ? rc : 0;
}

/* Runs one put in its own transaction; returns the item's status code. */
static int put(const Artstore__V1__Article *a, as_put_out_t *out)
{
    op_t op = { 0 };
    as_status_t st;

    op.a = a;
    ck_assert_msg(as_store_write(store, run_op, &op, &st) == 0, "write: %s",
                  st.msg);
    if (out)
        *out = op.out;
    return op.st.code;
}

static int del(uint64_t id, int has_expected, uint64_t expected)
{
    op_t op = { 0 };
    as_status_t st;

    op.del = 1;
    op.id = id;
    op.has_expected = has_expected;
    op.expected = expected;
    ck_assert_msg(as_store_write(store, run_op, &op, &st) == 0, "write: %s",
                  st.msg);
    return op.st.code;
}

/* Counts the entries of a sub-database, or of one key's duplicates. */
static size_t count(enum as_dbi which, const char *key)
{
    as_reader_t *r;
    as_status_t st;
    MDB_cursor *c;
    MDB_val k, d;
    size_t n = 0;
    int rc;

    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    ck_assert(mdb_cursor_open(as__reader_txn(r), as__store_dbi(store, which),
                              &c) == 0);
    if (key != NULL) {
        k.mv_size = strlen(key);
        k.mv_data = (void *)key;
        if (mdb_cursor_get(c, &k, &d, MDB_SET) == 0)
            ck_assert(mdb_cursor_count(c, &n) == 0);
    } else {
        for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
            n++;
    }
    mdb_cursor_close(c);
    as_reader_end(r);
    as_reader_free(r);
    return n;
}

static as_store_stats_t stats(void)
{
    as_reader_t *r;
    as_status_t st;
    as_store_stats_t s;

    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    ck_assert(as_store_get_stats(r, &s, &st) == 0);
    as_reader_end(r);
    as_reader_free(r);
    return s;
}

/* Fetches article id, unpacked (free with free_unpacked), or NULL. */
static Artstore__V1__Article *get(uint64_t id)
{
    Artstore__V1__Article *a = NULL;
    as_reader_t *r;
    as_status_t st;
    as_bytes_t raw;

    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    if (as_store_get_raw(r, id, &raw, &st) == 0)
        a = artstore__v1__article__unpack(NULL, raw.len, raw.data);
    as_reader_end(r);
    as_reader_free(r);
    return a;
}

START_TEST(put_writes_every_index)
{
    const char *tags[] = { "World", "politics", NULL };
    as_put_out_t out;
    as_store_stats_t s;
    Artstore__V1__Article *got;

    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1000, tags), &out), 0);
    ck_assert_uint_eq(out.id, 1);
    ck_assert_int_eq(out.outcome, ARTSTORE__V1__PUT_OUTCOME__PUT_CREATED);
    ck_assert_uint_eq(out.revision, 1);
    ck_assert_uint_eq(count(AS_DBI_ARTICLES, NULL), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_URL, NULL), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_TAG, "world"), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_TAG, "politics"), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_SOURCE, "wire"), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_TIME, NULL), 1);
    ck_assert_uint_eq(count(AS_DBI_CHANGES, NULL), 1);
    s = stats();
    ck_assert_uint_eq(s.articles, 1);
    ck_assert_uint_eq(s.tags, 2);
    ck_assert_uint_eq(s.last_seq, 1);
    ck_assert_uint_eq(s.next_id, 2);
    got = get(1);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got->url, "https://e.com/1");
    ck_assert_uint_eq(got->revision, 1);
    ck_assert(got->has_ingested_at && got->ingested_at > 0);
    artstore__v1__article__free_unpacked(got, NULL);
}
END_TEST

START_TEST(identical_reput_is_noop)
{
    const char *tags[] = { "a", NULL };
    as_put_out_t o1, o2;

    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1000, tags), &o1), 0);
    ck_assert_int_eq(put(mk("https://E.com/1#x", "T", "B", 1000, tags), &o2), 0);
    ck_assert_uint_eq(o2.id, o1.id);
    ck_assert_int_eq(o2.outcome, ARTSTORE__V1__PUT_OUTCOME__PUT_UNCHANGED);
    ck_assert_uint_eq(o2.revision, o1.revision);
    ck_assert_uint_eq(stats().last_seq, 1);
    ck_assert_uint_eq(count(AS_DBI_CHANGES, NULL), 1);
}
END_TEST

START_TEST(update_moves_postings)
{
    const char *t1[] = { "old", "keep", NULL }, *t2[] = { "new", "keep", NULL };
    as_put_out_t o1, o2;
    Artstore__V1__Article *got;
    Artstore__V1__ChangeEvent *ev;
    as_reader_t *r;
    as_status_t st;
    MDB_val k, d;
    unsigned char kb[8];

    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1000, t1), &o1), 0);
    ck_assert_int_eq(put(mk("https://e.com/1", "T2", "B", 2000, t2), &o2), 0);
    ck_assert_uint_eq(o2.id, o1.id);
    ck_assert_int_eq(o2.outcome, ARTSTORE__V1__PUT_OUTCOME__PUT_UPDATED);
    ck_assert_uint_eq(o2.revision, 2);
    ck_assert_uint_eq(count(AS_DBI_BY_TAG, "old"), 0);
    ck_assert_uint_eq(count(AS_DBI_BY_TAG, "new"), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_TAG, "keep"), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_TIME, NULL), 1);
    ck_assert_uint_eq(count(AS_DBI_ARTICLES, NULL), 1);
    ck_assert_uint_eq(stats().tags, 2);
    got = get(o1.id);
    ck_assert_str_eq(got->title, "T2");
    ck_assert_int_eq(got->published_at, 2000);
    artstore__v1__article__free_unpacked(got, NULL);

    /* The update's change event carries the tags before and after. */
    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    as_be_put64(kb, 2);
    k.mv_size = 8;
    k.mv_data = kb;
    ck_assert(mdb_get(as__reader_txn(r), as__store_dbi(store, AS_DBI_CHANGES),
                      &k, &d) == 0);
    ev = artstore__v1__change_event__unpack(NULL, d.mv_size, d.mv_data);
    as_reader_end(r);
    as_reader_free(r);
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(ev->type, ARTSTORE__V1__CHANGE_TYPE__CHANGE_UPDATE);
    ck_assert_uint_eq(ev->n_prev_tags, 2);
    ck_assert_str_eq(ev->prev_tags[1], "old");
    ck_assert_str_eq(ev->tags[0], "keep");
    artstore__v1__change_event__free_unpacked(ev, NULL);
}
END_TEST

START_TEST(delete_removes_everything)
{
    const char *tags[] = { "x", "y", NULL };
    as_put_out_t o;

    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1000, tags), &o), 0);
    ck_assert_int_eq(put(mk("https://e.com/2", "T", "B", 1000, tags), NULL), 0);
    ck_assert_int_eq(del(o.id, 0, 0), 0);
    ck_assert_uint_eq(count(AS_DBI_ARTICLES, NULL), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_URL, NULL), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_TAG, "x"), 1);
    ck_assert_uint_eq(count(AS_DBI_BY_TIME, NULL), 1);
    ck_assert_uint_eq(count(AS_DBI_CHANGES, NULL), 3);
    ck_assert_ptr_null(get(o.id));
    ck_assert_int_eq(del(o.id, 0, 0), AS_CODE_NOT_FOUND);
    ck_assert_uint_eq(stats().last_seq, 3);
    ck_assert_int_eq(del(2, 0, 0), 0);
    ck_assert_uint_eq(stats().tags, 0);
    ck_assert_uint_eq(count(AS_DBI_BY_TAG, NULL), 0);
    /* A deleted URL can be stored again, under a new id. */
    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1000, tags), &o), 0);
    ck_assert_uint_eq(o.id, 3);
}
END_TEST

/* The display form of tag (kind 't') or source ('s') key. */
static char *form_of(char kind, const char *key)
{
    as_reader_t *r;
    as_bytes_t b;
    as_status_t st;
    char *out;

    ck_assert_int_eq(as_reader_create(store, &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(as_store_get_form(r, kind, key, strlen(key), &b, &st), 0);
    out = strndup(b.data, b.len);
    as_reader_end(r);
    as_reader_free(r);
    return out;
}

/* A key shows the form it was first written in while any article carries
 * it; each article keeps its own; a store without forms (written before
 * they were kept) takes the next written form. */
START_TEST(display_forms)
{
    const char *t1[] = { "Straße", "  Big \t News ", "straße", NULL };
    const char *t2[] = { "STRASSE", "eu", NULL };
    Artstore__V1__Article *a = mk("https://e.com/1", "T", "B", 1000, t1), *g;
    as_put_out_t o1, o2;
    MDB_txn *txn;
    char *f;

    /* Prepare: keys sorted and unique, the first written form of each. */
    ck_assert_uint_eq(a->n_tags, 2);
    ck_assert_str_eq(a->tags[0], "big news");
    ck_assert_str_eq(a->tags[1], "strasse");
    ck_assert_uint_eq(a->n_tag_forms, 2);
    ck_assert_str_eq(a->tag_forms[0], "Big News");
    ck_assert_str_eq(a->tag_forms[1], "Straße");
    ck_assert_str_eq(a->source, "wire");
    ck_assert_str_eq(a->source_form, "Wire");
    ck_assert_int_eq(put(a, &o1), 0);
    ck_assert_int_eq(put(mk("https://e.com/2", "T", "B", 1000, t2), &o2), 0);
    g = get(o2.id);
    ck_assert_str_eq(g->tag_forms[1], "STRASSE");
    artstore__v1__article__free_unpacked(g, NULL);
    f = form_of('t', "strasse");
    ck_assert_str_eq(f, "Straße");
    free(f);
    f = form_of('t', "eu");
    ck_assert_str_eq(f, "eu");
    free(f);
    f = form_of('s', "wire");
    ck_assert_str_eq(f, "Wire");
    free(f);
    /* Gone with the last article that carries it. */
    ck_assert_int_eq(del(o1.id, 0, 0), 0);
    ck_assert_int_eq(del(o2.id, 0, 0), 0);
    ck_assert_uint_eq(count(AS_DBI_FORMS, NULL), 0);

    /* A store from before forms: its keys have none until written. */
    ck_assert_int_eq(put(mk("https://e.com/3", "T", "B", 1000, t2), NULL), 0);
    ck_assert_int_eq(mdb_txn_begin(as__store_env(store), NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_drop(txn, as__store_dbi(store, AS_DBI_FORMS), 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    f = form_of('t', "strasse");
    ck_assert_str_eq(f, "strasse");
    free(f);
    ck_assert_int_eq(put(mk("https://e.com/4", "T", "B", 1000, t1), NULL), 0);
    f = form_of('t', "strasse");
    ck_assert_str_eq(f, "Straße");
    free(f);
}
END_TEST

START_TEST(conditional_writes)
{
    as_put_out_t o;
    op_t op = { 0 };
    as_status_t st;

    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1, NULL), &o), 0);
    op.a = mk("https://e.com/1", "T2", "B", 1, NULL);
    op.has_expected = 1;
    op.expected = 0;
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_int_eq(op.st.code, AS_CODE_FAILED_PRECONDITION);
    op.expected = 7;
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_int_eq(op.st.code, AS_CODE_FAILED_PRECONDITION);
    ck_assert_msg(strstr(op.st.msg, "expected 7"), "%s", op.st.msg);
    ck_assert_uint_eq(stats().last_seq, 1);
    op.expected = o.revision;
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_int_eq(op.st.code, 0);
    ck_assert_int_eq(op.out.outcome, ARTSTORE__V1__PUT_OUTCOME__PUT_UPDATED);
    ck_assert_int_eq(del(o.id, 1, 1), AS_CODE_FAILED_PRECONDITION);
    ck_assert_int_eq(del(o.id, 1, 2), 0);
}
END_TEST

/* A resend is told apart by its request id, which survives a reopen; a
 * stale condition fails even when the content is what is stored. */
START_TEST(request_ids)
{
    as_put_out_t o;
    op_t op = { 0 };
    as_status_t st;

    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1, NULL), &o), 0);
    op.a = mk("https://e.com/1", "T2", "B", 1, NULL);
    op.has_expected = 1;
    op.expected = o.revision;
    op.request_id = "req-1";
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_int_eq(op.st.code, 0);
    ck_assert_uint_eq(op.out.revision, 2);
    /* The resend: answered as the first run, nothing written. */
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_msg(op.st.code == 0, "%s", op.st.msg);
    ck_assert_int_eq(op.out.outcome, ARTSTORE__V1__PUT_OUTCOME__PUT_UPDATED);
    ck_assert_uint_eq(op.out.revision, 2);
    ck_assert_uint_eq(stats().last_seq, 2);
    /* The same stale condition and content under another id (or none). */
    op.request_id = "req-2";
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_int_eq(op.st.code, AS_CODE_FAILED_PRECONDITION);
    op.request_id = NULL;
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_int_eq(op.st.code, AS_CODE_FAILED_PRECONDITION);
    /* An id reused for other content is an error, not a resend. */
    op.request_id = "req-1";
    op.a = mk("https://e.com/1", "T3", "B", 1, NULL);
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_int_eq(op.st.code, AS_CODE_INVALID_ARGUMENT);
    ck_assert_uint_eq(stats().last_seq, 2);

    /* Recorded in the store: a reopened store still knows the resend. */
    as_store_close(store);
    store = NULL;
    open_store(0, 0);
    op.a = mk("https://e.com/1", "T2", "B", 1, NULL);
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_msg(op.st.code == 0, "%s", op.st.msg);
    ck_assert_uint_eq(op.out.revision, 2);

    /* A resent delete answers what the delete did. */
    memset(&op, 0, sizeof(op));
    op.del = 1;
    op.id = o.id;
    op.request_id = "del-1";
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_int_eq(op.st.code, 0);
    ck_assert_uint_eq(op.out.revision, 3);
    ck_assert(as_store_write(store, run_op, &op, &st) == 0);
    ck_assert_msg(op.st.code == 0, "%s", op.st.msg);
    ck_assert_uint_eq(op.out.revision, 3);
    ck_assert_uint_eq(count(AS_DBI_REQUESTS, NULL), 2);
}
END_TEST

START_TEST(seq_gap_free_and_reopen)
{
    char url[64];
    as_reader_t *r;
    as_status_t st;
    MDB_cursor *c;
    MDB_val k, d;
    uint64_t expect = 1;
    int i, rc;

    for (i = 0; i < 50; i++) {
        snprintf(url, sizeof(url), "https://e.com/%d", i % 20);
        put(mk(url, i < 20 ? "T" : "U", "B", 100 + i, NULL), NULL);
        if (i % 7 == 0)
            del((uint64_t)(i % 20) + 1, 0, 0);
    }
    as_store_close(store);
    store = NULL;
    open_store(0, 0);
    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    ck_assert(mdb_cursor_open(as__reader_txn(r),
                              as__store_dbi(store, AS_DBI_CHANGES), &c) == 0);
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
        ck_assert_uint_eq(as_be_get64(k.mv_data), expect++);
    mdb_cursor_close(c);
    as_reader_end(r);
    as_reader_free(r);
    ck_assert_uint_eq(stats().last_seq, expect - 1);
    ck_assert_uint_eq(as_store_last_seq(store), expect - 1);
    ck_assert_uint_eq(stats().articles, count(AS_DBI_BY_URL, NULL));
}
END_TEST

START_TEST(map_grows_when_full)
{
    char url[64], body[4096];
    as_put_out_t o;
    as_store_stats_t s;
    Artstore__V1__Article *got;
    int i;

    as_store_close(store);
    store = NULL;
    open_store(256 << 10, 0);
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    for (i = 0; i < 600; i++) {
        snprintf(url, sizeof(url), "https://e.com/%d", i);
        ck_assert_int_eq(put(mk(url, "T", body, i, NULL), &o), 0);
        as_arena_destroy(ar);
        ar = as_arena_create(1 << 20);
    }
    s = stats();
    ck_assert_uint_eq(s.articles, 600);
    ck_assert_uint_gt(s.map_size, 256 << 10);
    got = get(600);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(strlen(got->body), sizeof(body) - 1);
    artstore__v1__article__free_unpacked(got, NULL);
}
END_TEST

START_TEST(map_full_without_growth)
{
    char url[64], body[4096];
    op_t op = { 0 };
    as_status_t st;
    int i, rc = 0;

    as_store_close(store);
    store = NULL;
    open_store(256 << 10, 256 << 10);
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    for (i = 0; i < 600 && rc == 0; i++) {
        snprintf(url, sizeof(url), "https://e.com/%d", i);
        op.a = mk(url, "T", body, i, NULL);
        rc = as_store_write(store, run_op, &op, &st);
    }
    ck_assert_int_eq(rc, AS_CODE_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(st.msg, "map_max"), "%s", st.msg);
    /* What was committed before stays readable and consistent. */
    ck_assert_uint_eq(stats().articles, (uint64_t)(i - 1));
}
END_TEST

/* as_change_expired_fn: every change is past retention. */
static int all_expired(void *arg, uint64_t seq, as_bytes_t raw)
{
    (void)arg;
    (void)seq;
    (void)raw;
    return 1;
}

/* as_store_write callback: trims up to *(size_t *)arg[0] changes, the
 * count in *(size_t *)arg[1]. */
static int run_trim(as_wtxn_t *t, void *arg)
{
    void **a = arg;
    as_status_t st;

    return as_store_changes_trim(t, all_expired, NULL, *(size_t *)a[0],
                                 (size_t *)a[1], &st);
}

/* Rewrites one article with a new title until the map is full (the
 * changelog is what fills it); returns the changes committed. */
static uint64_t fill_changelog(void)
{
    char title[64], body[1024];
    op_t op = { 0 };
    as_status_t st;
    int i, rc = 0;

    for (i = 0; i < (int)sizeof(body) - 1; i++)
        body[i] = (char)('a' + (i * 7919 + i / 13) % 26);
    body[sizeof(body) - 1] = '\0';
    for (i = 0; i < 100000 && rc == 0; i++) {
        snprintf(title, sizeof(title), "title %d", i);
        op.a = mk("https://e.com/same", title, body, 1, NULL);
        rc = as_store_write(store, run_op, &op, &st);
        as_arena_destroy(ar);
        ar = as_arena_create(1 << 20);
    }
    ck_assert_msg(rc == AS_CODE_RESOURCE_EXHAUSTED, "fill: %d %s", rc,
                  st.msg);
    return stats().last_seq;
}

/* Retention on a full map that cannot grow: trimming the changelog must
 * make room (deleting frees pages), or fail cleanly; never corrupt. Here
 * a trim of a full map succeeds, and the room it makes takes new writes. */
START_TEST(trim_on_full_map)
{
    as_store_stats_t before, after;
    as_status_t st;
    size_t max = 100, n = 0;
    void *args[2] = { &max, &n };
    uint64_t last;
    op_t op = { 0 };
    int rc;

    as_store_close(store);
    store = NULL;
    open_store(256 << 10, 256 << 10);
    last = fill_changelog();
    before = stats();
    ck_assert_uint_eq(before.changes, last);
    rc = as_store_write(store, run_trim, args, &st);
    if (rc != 0) {
        /* Refused: named, and nothing changed. */
        ck_assert_int_eq(rc, AS_CODE_RESOURCE_EXHAUSTED);
        after = stats();
        ck_assert_uint_eq(after.changes, before.changes);
        ck_abort_msg("trim on a full map refused: %s", st.msg);
    }
    ck_assert_uint_eq(n, 100);
    after = stats();
    ck_assert_uint_eq(after.changes, before.changes - 100);
    ck_assert_uint_eq(after.oldest_seq, before.oldest_seq + 100);
    ck_assert_uint_eq(after.last_seq, before.last_seq);
    /* The room made takes a write again. */
    op.a = mk("https://e.com/same", "after the trim", "b", 1, NULL);
    ck_assert_msg(as_store_write(store, run_op, &op, &st) == 0, "%s",
                  st.msg);
    ck_assert_uint_eq(stats().last_seq, last + 1);
}
END_TEST

/* as_store_write callback: run_trim, and on its first run only (the count
 * of runs in *(int *)arg[2]) then a put of an article larger than the
 * whole map (arg[3]), so that the transaction fails MAP_FULL after the
 * trim deleted changes, as a trim does whose own deletions or freelist
 * fill the map late in the transaction. */
static int run_trim_then_fill(as_wtxn_t *t, void *arg)
{
    void **a = arg;
    int rc;

    if ((rc = run_trim(t, arg)) != 0 || (*(int *)a[2])++ > 0)
        return rc;
    return run_op(t, a[3]);
}

/* A trim on a full map that may grow: the map grows and the trim runs
 * again from the start, counting only what its last run deleted (the
 * count of the run MAP_FULL aborted is not added). */
START_TEST(trim_grows_full_map)
{
    as_status_t st;
    size_t max = 1000000, n = 0;
    op_t big = { 0 };
    int runs = 0;
    void *args[4] = { &max, &n, &runs, &big };
    uint64_t last;
    char *body = malloc(700 * 1024 + 1);

    ck_assert_ptr_nonnull(body);
    as_store_close(store);
    store = NULL;
    open_store(256 << 10, 256 << 10);
    last = fill_changelog();
    as_store_close(store);
    store = NULL;
    open_store(256 << 10, 4 << 20);
    /* Noise: compressed, still more than the 256 KiB map. */
    ts_noise(body, 700 * 1024, 1);
    big.a = mk("https://e.com/big", "big", body, 1, NULL);
    free(body);
    ck_assert_msg(as_store_write(store, run_trim_then_fill, args, &st) == 0,
                  "%s", st.msg);
    ck_assert_int_eq(runs, 2);
    ck_assert_uint_gt(stats().map_size, 256 << 10);
    ck_assert_uint_eq(n, last);
    ck_assert_uint_eq(stats().changes, 0);
    ck_assert_uint_eq(stats().last_seq, last);
}
END_TEST

/* as_tag_visit_fn: appends "name=count " to the string buffer arg. */
static int tag_line(void *arg, const char *name, size_t len, uint64_t count,
                    as_status_t *st)
{
    char *buf = arg;

    (void)st;
    snprintf(buf + strlen(buf), 1024 - strlen(buf), "%.*s=%llu ", (int)len,
             name, (unsigned long long)count);
    return 0;
}

/* The tags by count from the index (tag_counts), and the same computed
 * from by_tag, which must agree: "name=count " in by-count order. */
static void tags_by_count(char *indexed, char *from_by_tag)
{
    as_reader_t *r;
    as_status_t st;
    char all[1024] = "";
    struct { char name[32]; unsigned long long n; } v[32], tmp;
    size_t nv = 0, i, j;
    char *p, *save = NULL;

    indexed[0] = from_by_tag[0] = '\0';
    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    ck_assert_msg(as_store_walk_tags_by_count(r, 0, 0, NULL, 0, tag_line,
                                              indexed, &st) == 0, "%s",
                  st.msg);
    ck_assert(as_store_walk_tags(r, NULL, 0, NULL, 0, tag_line, all,
                                 &st) == 0);
    as_reader_end(r);
    as_reader_free(r);
    for (p = strtok_r(all, " ", &save); p != NULL && nv < 32;
         p = strtok_r(NULL, " ", &save), nv++) {
        char *eq = strrchr(p, '=');

        *eq = '\0';
        snprintf(v[nv].name, sizeof(v[nv].name), "%s", p);
        v[nv].n = strtoull(eq + 1, NULL, 10);
    }
    for (i = 0; i < nv; i++)
        for (j = i + 1; j < nv; j++)
            if (v[j].n > v[i].n ||
                (v[j].n == v[i].n && strcmp(v[j].name, v[i].name) < 0)) {
                tmp = v[i];
                v[i] = v[j];
                v[j] = tmp;
            }
    for (i = 0; i < nv; i++) {
        size_t pos = strlen(from_by_tag);

        ck_assert_uint_lt(pos, 960);
        snprintf(from_by_tag + pos, 64, "%.31s=%llu ", v[i].name, v[i].n);
    }
}

/* Checks the index against by_tag and against want. */
static void expect_counts(const char *want)
{
    char indexed[1024], computed[1024];

    tags_by_count(indexed, computed);
    ck_assert_str_eq(indexed, computed);
    ck_assert_str_eq(indexed, want);
}

/* The tag count index follows every write in its transaction: creates,
 * updates that add and drop tags, unchanged re-puts, deletes, and a tag
 * whose last article goes. */
START_TEST(tag_counts_follow_writes)
{
    const char *t1[] = { "a", "b", "c", NULL }, *t2[] = { "a", "b", NULL },
               *t3[] = { "a", NULL }, *t4[] = { "c", "d", NULL };
    as_put_out_t o1, o2, o3;

    expect_counts("");
    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1, t1), &o1), 0);
    ck_assert_int_eq(put(mk("https://e.com/2", "T", "B", 2, t2), &o2), 0);
    ck_assert_int_eq(put(mk("https://e.com/3", "T", "B", 3, t3), &o3), 0);
    expect_counts("a=3 b=2 c=1 ");
    /* The same content again: nothing moves. */
    ck_assert_int_eq(put(mk("https://e.com/3", "T", "B", 3, t3), NULL), 0);
    expect_counts("a=3 b=2 c=1 ");
    /* An update: article 1 drops a and b, keeps c, gains d. */
    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B2", 1, t4), NULL), 0);
    expect_counts("a=2 b=1 c=1 d=1 ");
    /* A time change moves postings, not counts. */
    ck_assert_int_eq(put(mk("https://e.com/2", "T", "B", 99, t2), NULL), 0);
    expect_counts("a=2 b=1 c=1 d=1 ");
    ck_assert_int_eq(del(o2.id, 0, 0), 0);
    expect_counts("a=1 c=1 d=1 ");
    ck_assert_int_eq(del(o3.id, 0, 0), 0);
    expect_counts("c=1 d=1 ");
    ck_assert_int_eq(del(o1.id, 0, 0), 0);
    expect_counts("");
    ck_assert_uint_eq(count(AS_DBI_TAG_COUNTS, NULL), 0);
}
END_TEST

/* A store of schema version 1 (no tag_counts) is upgraded when opened:
 * the index is built from by_tag and the version recorded as 2. */
START_TEST(schema1_store_builds_tag_counts)
{
    const char *t1[] = { "x", "y", NULL }, *t2[] = { "y", NULL };
    MDB_env *env;
    MDB_txn *txn;
    MDB_val k = { 14, "schema_version" }, v;
    unsigned char one[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
    as_reader_t *r;
    as_bytes_t got;
    as_status_t st;

    ck_assert_int_eq(put(mk("https://e.com/1", "T", "B", 1, t1), NULL), 0);
    ck_assert_int_eq(put(mk("https://e.com/2", "T", "B", 2, t2), NULL), 0);
    /* Make it what a server of schema 1 left. */
    env = as__store_env(store);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_drop(txn, as__store_dbi(store, AS_DBI_TAG_COUNTS),
                              1), 0);
    v.mv_size = 8;
    v.mv_data = one;
    ck_assert_int_eq(mdb_put(txn, as__store_dbi(store, AS_DBI_META), &k, &v,
                             0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    as_store_close(store);
    store = NULL;

    open_store(0, 0);
    expect_counts("y=2 x=1 ");
    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    ck_assert(as_store_get_meta(r, "schema_version", &got, &st) == 0);
    ck_assert_uint_eq(got.len, 8);
    ck_assert_uint_eq(((const unsigned char *)got.data)[7], AS_SCHEMA_VERSION);
    as_reader_end(r);
    as_reader_free(r);
    /* Writes go on keeping it. */
    ck_assert_int_eq(put(mk("https://e.com/3", "T", "B", 3, t1), NULL), 0);
    expect_counts("y=3 x=2 ");
}
END_TEST

START_TEST(no_url_keyed_by_content)
{
    as_put_out_t o1, o2, o3;

    ck_assert_int_eq(put(mk(NULL, "T", "B", 5, NULL), &o1), 0);
    ck_assert_int_eq(put(mk(NULL, "T", "B", 5, NULL), &o2), 0);
    ck_assert_int_eq(put(mk(NULL, "T", "B2", 5, NULL), &o3), 0);
    ck_assert_uint_eq(o1.id, o2.id);
    ck_assert_int_eq(o2.outcome, ARTSTORE__V1__PUT_OUTCOME__PUT_UNCHANGED);
    ck_assert_uint_ne(o3.id, o1.id);
}
END_TEST

START_TEST(dir_locked_against_second_store)
{
    as_store_opts_t o = { 0 };
    as_store_t *second = NULL;
    as_status_t st;

    o.path = dir;
    ck_assert_int_eq(as_store_open(&o, &second, &st), AS_CODE_UNAVAILABLE);
    ck_assert_msg(strstr(st.msg, "in use"), "%s", st.msg);
}
END_TEST

/* Writes meta key schema_version = v into the closed store in dir, with
 * LMDB directly (as an older or newer server would have left it). */
static void write_schema_version(uint64_t v)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    unsigned char buf[8];
    MDB_val k = { strlen(AS_META_SCHEMA_VERSION),
                  (void *)AS_META_SCHEMA_VERSION }, d = { 8, buf };

    as_be_put64(buf, v);
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, AS_DBI_COUNT + 2), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(env, 1u << 30), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOTLS, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, as_store_schema[AS_DBI_META].name, 0,
                                  &meta), 0);
    ck_assert_int_eq(mdb_put(txn, meta, &k, &d, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* A store written with another schema version is refused, naming both
 * versions, and opens again once the version is this server's. */
START_TEST(other_schema_version_refused)
{
    as_store_opts_t o = { 0 };
    as_status_t st;
    as_store_t *s2 = NULL;

    as_store_close(store);
    store = NULL;
    write_schema_version(AS_SCHEMA_VERSION + 1);
    o.path = dir;
    o.no_sync = 1;
    ck_assert_int_eq(as_store_open(&o, &s2, &st),
                     AS_CODE_FAILED_PRECONDITION);
    ck_assert_msg(strstr(st.msg, "schema version") != NULL, "%s", st.msg);
    ck_assert_ptr_null(s2);
    write_schema_version(AS_SCHEMA_VERSION);
    open_store(0, 0);
}
END_TEST

/* Sets the file filler to len bytes of allocated blocks. */
static void fill_to(const char *filler, off_t len)
{
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ck_assert_int_ge(fd, 0);
    if (len > 0)
        ck_assert_int_eq(posix_fallocate(fd, 0, len), 0);
    close(fd);
}

/* Writes are deferred only while the data directory's file system has
 * 256 MiB free (as_store_can_defer). A reading of the free space above
 * twice that is trusted for a short while, then taken again; one within
 * it is taken again at every call, so that the margin is not crossed
 * unseen. The store lives on a tmpfs the test mounts itself. */
START_TEST(defer_needs_disk_room)
{
    const struct timespec tick = { 0, 10 * 1000 * 1000 };
    char mnt[64], path[96], big[96], small[96];
    as_store_opts_t o = { 0 };
    as_store_t *t = NULL;
    as_status_t st;
    int i;

    if (ts_tmpfs_or_skip(mnt, sizeof(mnt), "800m",
                         "defer_needs_disk_room") != 0)
        return;
    snprintf(path, sizeof(path), "%s/data", mnt);
    snprintf(big, sizeof(big), "%s/big", mnt);
    snprintf(small, sizeof(small), "%s/small", mnt);
    o.path = path;
    o.no_sync = 1;
    ck_assert_msg(as_store_open(&o, &t, &st) == 0, "open: %s", st.msg);
    ck_assert_int_ne(as_store_can_defer(t), 0);

    /* From about 800 MiB free to 200: refused once the reading is
     * renewed. */
    fill_to(big, (off_t)500 << 20);
    fill_to(small, (off_t)100 << 20);
    for (i = 0; i < 500 && as_store_can_defer(t); i++)
        nanosleep(&tick, NULL);
    ck_assert_msg(i < 500, "still deferring with 200 MiB free after 5 s");
    /* That reading was within twice the margin: 300 MiB free again, and
     * the next call defers. */
    ck_assert_int_eq(unlink(small), 0);
    ck_assert_int_ne(as_store_can_defer(t), 0);

    as_store_close(t);
    ts_tmpfs_remove(mnt);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, put_writes_every_index);
    tcase_add_test(tc, identical_reput_is_noop);
    tcase_add_test(tc, update_moves_postings);
    tcase_add_test(tc, delete_removes_everything);
    tcase_add_test(tc, display_forms);
    tcase_add_test(tc, conditional_writes);
    tcase_add_test(tc, request_ids);
    tcase_add_test(tc, seq_gap_free_and_reopen);
    tcase_add_test(tc, map_grows_when_full);
    tcase_add_test(tc, map_full_without_growth);
    tcase_add_test(tc, trim_on_full_map);
    tcase_add_test(tc, trim_grows_full_map);
    tcase_add_test(tc, tag_counts_follow_writes);
    tcase_add_test(tc, schema1_store_builds_tag_counts);
    tcase_add_test(tc, no_url_keyed_by_content);
    tcase_add_test(tc, dir_locked_against_second_store);
    tcase_add_test(tc, other_schema_version_refused);
    tcase_add_test(tc, defer_needs_disk_room);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(store_suite());
}
