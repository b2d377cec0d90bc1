/*
 * check_codec.c - tests for server/codec.c and its use by the store:
 * articles stored compressed and read back whole, small ones stored as
 * they are, a store written before compression (plain packed articles)
 * read and updated by a compressing store, and a damaged compressed
 * article reported by the read path and by the offline check.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "article.h"
#include "check_main.h"
#include "codec.h"
#include "be.h"
#include "store_schema.h"
#include "tempdir.h"
#include "verify.h"

static char dir[64];
static as_store_t *store;
static as_arena_t *ar;
static as_limits_t lim = AS_LIMITS_DEFAULT;

static void open_store(int level)
{
    as_store_opts_t o = { 0 };
    as_status_t st;

    o.path = dir;
    o.compress_level = level;
    ck_assert_msg(as_store_open(&o, &store, &st) == 0, "open: %s", st.msg);
}

static void reopen(int level)
{
    as_store_close(store);
    store = NULL;
    open_store(level);
}

static void setup(void)
{
    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    ar = as_arena_create(64 << 20);
    open_store(3);
}

static void teardown(void)
{
    as_store_close(store);
    as_arena_destroy(ar);
    ck_assert_int_eq(ts_tempdir_remove(dir), 0);
}

/* About n bytes of varied prose (compressible as text is), from seed. */
static char *prose(size_t n, unsigned seed)
{
    static const char *w[] = {
        "the", "council", "voted", "on", "a", "plan", "to", "rebuild",
        "harbour", "after", "storms", "last", "winter", "while", "residents",
        "asked", "for", "more", "time", "and", "money", "said", "mayor",
        "officials", "expect", "work", "begin", "in", "spring", "of",
    };
    char *s = as_arena_alloc(ar, n + 32);
    size_t len = 0;

    while (len < n) {
        const char *x = w[rand_r(&seed) % (sizeof(w) / sizeof(*w))];

        len += (size_t)sprintf(s + len, "%s%s", x,
                               rand_r(&seed) % 11 == 0 ? ". " : " ");
    }
    return s;
}

static Artstore__V1__Article *mk(const char *url, const char *body)
{
    static const char *tags[] = { "harbour", "council" };
    Artstore__V1__Article *a = as_arena_alloc(ar, sizeof(*a));
    as_status_t st;

    artstore__v1__article__init(a);
    a->url = as_arena_strndup(ar, url, strlen(url));
    a->title = as_arena_strndup(ar, "Harbour plan", 12);
    a->body = as_arena_strndup(ar, body, strlen(body));
    a->source = as_arena_strndup(ar, "Wire", 4);
    a->has_published_at = 1;
    a->published_at = 1700000000;
    a->tags = as_arena_alloc(ar, sizeof(tags));
    a->tags[0] = as_arena_strndup(ar, tags[0], strlen(tags[0]));
    a->tags[1] = as_arena_strndup(ar, tags[1], strlen(tags[1]));
    a->n_tags = 2;
    ck_assert_msg(as_article_prepare(a, ar, &lim, &st) == 0, "prepare: %s",
                  st.msg);
    return a;
}

typedef struct op {
    const Artstore__V1__Article *a;
    const as_put_pre_t *pre;       /* NULL: packed by the writer */
    as_put_out_t out;
    as_status_t st;
} op_t;

static int run_put(as_wtxn_t *t, void *arg)
{
    op_t *op = arg;
    as_write_cond_t cond = { 0 };
    int rc;

    as_status_ok(&op->st);
    rc = as_store_put_pre(t, op->a, NULL, op->pre, &cond, &op->out, &op->st);
    return rc && as_store_txn_broken(t) ? rc : 0;
}

/* Puts a in its own transaction; returns its id. */
static uint64_t put(const Artstore__V1__Article *a)
{
    op_t op = { 0 };
    as_status_t st;

    op.a = a;
    ck_assert_msg(as_store_write(store, run_put, &op, &st) == 0, "write: %s",
                  st.msg);
    ck_assert_msg(op.st.code == 0, "put: %s", op.st.msg);
    return op.out.id;
}

/* Set by stored(): whether the value was split between `articles` and
 * `article_tails`. */
static int stored_split;

/* The stored value of article id, copied (free it): a split value's head
 * (less its two tag bytes) and tail joined. */
static unsigned char *stored(uint64_t id, size_t *n)
{
    unsigned char kb[8], *v = NULL;
    MDB_val k = { 8, kb }, d, t = { 0, NULL };
    as_reader_t *r;
    as_status_t st;

    as_be_put64(kb, id);
    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    stored_split = 0;
    if (mdb_get(as__reader_txn(r), as__store_dbi(store, AS_DBI_ARTICLES), &k,
                &d) == 0) {
        if (as_codec_is_split(d.mv_data, d.mv_size)) {
            stored_split = 1;
            ck_assert(mdb_get(as__reader_txn(r), as__store_dbi(store,
                              AS_DBI_ARTICLE_TAILS), &k, &t) == 0);
            d.mv_data = (unsigned char *)d.mv_data + 2;
            d.mv_size -= 2;
        }
        v = malloc(d.mv_size + t.mv_size);
        memcpy(v, d.mv_data, d.mv_size);
        if (t.mv_size > 0)
            memcpy(v + d.mv_size, t.mv_data, t.mv_size);
        *n = d.mv_size + t.mv_size;
    }
    as_reader_end(r);
    as_reader_free(r);
    ck_assert_ptr_nonnull(v);
    return v;
}

/* Reads article id through the store's read path and checks its body;
 * returns the read's status code. */
static int check_body(uint64_t id, const char *body)
{
    Artstore__V1__Article *a;
    as_reader_t *r;
    as_status_t st;
    as_bytes_t raw;
    int rc;

    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    rc = as_store_get_raw(r, id, &raw, &st);
    if (rc == 0) {
        a = artstore__v1__article__unpack(NULL, raw.len, raw.data);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_eq(a->id, id);
        ck_assert_str_eq(a->body, body);
        artstore__v1__article__free_unpacked(a, NULL);
    }
    as_reader_end(r);
    as_reader_free(r);
    return rc;
}

/* Runs the offline check on the closed store; returns its report. */
static as_verify_report_t verify(void)
{
    as_verify_report_t rep;
    FILE *err = tmpfile();

    as_store_close(store);
    store = NULL;
    ck_assert_int_eq(as_verify_run(dir, err, &rep), 0);
    fclose(err);
    return rep;
}

START_TEST(article_stored_compressed_and_read_whole)
{
    const char *body = prose(4000, 1);
    Artstore__V1__Article *a = mk("https://e.com/1", body);
    size_t n, packed = artstore__v1__article__get_packed_size(a);
    unsigned char *v;
    uint64_t id = put(a);

    v = stored(id, &n);
    ck_assert_msg(as_codec_is_compressed(v, n) && v[1] == AS_CODEC_ZSTD,
                  "first bytes %02x %02x", v[0], v[1]);
    ck_assert_msg(n < packed * 3 / 4, "stored %zu of %zu bytes", n, packed);
    free(v);
    ck_assert_int_eq(check_body(id, body), 0);

    /* An update reads the old article back (to move its postings). */
    body = prose(4500, 2);
    ck_assert_uint_eq(put(mk("https://e.com/1", body)), id);
    ck_assert_int_eq(check_body(id, body), 0);
}
END_TEST

START_TEST(small_article_stored_as_is)
{
    Artstore__V1__Article *a = mk("https://e.com/s", "A short body.");
    size_t n;
    unsigned char *v;
    uint64_t id = put(a);

    v = stored(id, &n);
    ck_assert(!as_codec_is_compressed(v, n));
    ck_assert_uint_lt(n, AS_CODEC_MIN_BYTES);
    free(v);
    ck_assert_int_eq(check_body(id, "A short body."), 0);
}
END_TEST

START_TEST(store_written_before_compression_keeps_working)
{
    const char *b1 = prose(4000, 3), *b2 = prose(4000, 4), *b3 = prose(4000, 5);
    uint64_t old1, old2, fresh;
    as_verify_report_t rep;
    unsigned char *v;
    size_t n;

    /* Level 0 writes exactly what stores before compression hold: the
     * packed Article, which unpacks straight from the stored bytes. */
    reopen(0);
    old1 = put(mk("https://e.com/old1", b1));
    old2 = put(mk("https://e.com/old2", b2));
    v = stored(old1, &n);
    ck_assert(!as_codec_is_compressed(v, n));
    {
        Artstore__V1__Article *a = artstore__v1__article__unpack(NULL, n, v);

        ck_assert_ptr_nonnull(a);
        ck_assert_str_eq(a->body, b1);
        artstore__v1__article__free_unpacked(a, NULL);
    }
    free(v);

    reopen(3);
    ck_assert_int_eq(check_body(old1, b1), 0);
    ck_assert_int_eq(check_body(old2, b2), 0);
    fresh = put(mk("https://e.com/new", b3));
    ck_assert_uint_eq(put(mk("https://e.com/old1", b3)), old1);
    ck_assert_int_eq(check_body(old1, b3), 0);
    ck_assert_int_eq(check_body(fresh, b3), 0);
    v = stored(old2, &n);
    ck_assert(!as_codec_is_compressed(v, n));
    free(v);

    rep = verify();
    ck_assert_uint_eq(rep.problems, 0);
    ck_assert_uint_eq(rep.articles, 3);
    ck_assert_uint_eq(rep.compressed, 2);
}
END_TEST

START_TEST(damaged_compressed_article_is_reported)
{
    uint64_t id = put(mk("https://e.com/d", prose(4000, 6)));
    unsigned char kb[8];
    MDB_val k = { 8, kb }, d;
    MDB_txn *txn;
    as_verify_report_t rep;
    as_status_t st;
    as_reader_t *r;
    as_bytes_t raw;

    /* Flip one byte in the middle of the zstd frame. */
    as_be_put64(kb, id);
    ck_assert(mdb_txn_begin(as__store_env(store), NULL, 0, &txn) == 0);
    ck_assert(mdb_get(txn, as__store_dbi(store, AS_DBI_ARTICLES), &k, &d) == 0);
    {
        unsigned char *copy = malloc(d.mv_size);

        memcpy(copy, d.mv_data, d.mv_size);
        copy[d.mv_size / 2] ^= 0x55;
        d.mv_data = copy;
        ck_assert(mdb_put(txn, as__store_dbi(store, AS_DBI_ARTICLES), &k, &d,
                          0) == 0);
        ck_assert(mdb_txn_commit(txn) == 0);
        free(copy);
    }

    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    ck_assert_int_eq(as_store_get_raw(r, id, &raw, &st), AS_CODE_DATA_LOSS);
    as_reader_end(r);
    as_reader_free(r);

    rep = verify();
    ck_assert_uint_ge(rep.problems, 1);
}
END_TEST

/* Whether article id has a tail in article_tails; *overflow gets the
 * overflow pages `articles` holds. */
static int has_tail(uint64_t id, size_t *overflow)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, d;
    MDB_stat ms;
    as_reader_t *r;
    as_status_t st;
    int found;

    as_be_put64(kb, id);
    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    found = mdb_get(as__reader_txn(r), as__store_dbi(store,
                    AS_DBI_ARTICLE_TAILS), &k, &d) == 0;
    ck_assert(mdb_stat(as__reader_txn(r), as__store_dbi(store,
                       AS_DBI_ARTICLES), &ms) == 0);
    *overflow = ms.ms_overflow_pages;
    as_reader_end(r);
    as_reader_free(r);
    return found;
}

static int run_del(as_wtxn_t *t, void *arg)
{
    uint64_t *id = arg, got, rev;
    as_write_cond_t cond = { 0 };
    as_status_t st;
    int rc = as_store_delete(t, *id, NULL, &cond, &got, &rev, &st);

    ck_assert_msg(rc == 0, "delete: %s", st.msg);
    return 0;
}

/* Deletes article id in its own transaction. */
static void del(uint64_t id)
{
    as_status_t st;

    ck_assert_msg(as_store_write(store, run_del, &id, &st) == 0, "write: %s",
                  st.msg);
}

START_TEST(long_value_is_split_and_its_tail_follows_it)
{
    const char *big = prose(4000, 11), *huge = prose(300000, 12);
    uint64_t id, id2;
    size_t n, overflow;
    unsigned char *v;
    as_verify_report_t rep;

    /* Level 0: a 4 KB value cannot stay in one leaf node. */
    reopen(0);
    id = put(mk("https://e.com/split", big));
    v = stored(id, &n);
    ck_assert(stored_split);
    free(v);
    ck_assert(has_tail(id, &overflow));
    /* The head fits in a leaf: `articles` has no overflow page at all. */
    ck_assert_uint_eq(overflow, 0);
    ck_assert_int_eq(check_body(id, big), 0);

    /* Shorter again: the tail goes. Longer: it comes back. */
    ck_assert_uint_eq(put(mk("https://e.com/split", "Short now.")), id);
    ck_assert(!has_tail(id, &overflow));
    ck_assert_int_eq(check_body(id, "Short now."), 0);
    ck_assert_uint_eq(put(mk("https://e.com/split", huge)), id);
    ck_assert(has_tail(id, &overflow));
    ck_assert_uint_eq(overflow, 0);
    ck_assert_int_eq(check_body(id, huge), 0);

    /* A delete takes the tail with it. */
    id2 = put(mk("https://e.com/gone", big));
    ck_assert(has_tail(id2, &overflow));
    del(id2);
    ck_assert(!has_tail(id2, &overflow));

    /* Compressed values are split the same way when still too long. */
    reopen(1);
    huge = prose(300000, 14);
    ck_assert_uint_eq(put(mk("https://e.com/split", huge)), id);
    v = stored(id, &n);
    ck_assert(stored_split && as_codec_is_compressed(v, n));
    free(v);
    ck_assert_int_eq(check_body(id, huge), 0);

    rep = verify();
    ck_assert_uint_eq(rep.problems, 0);
    ck_assert_uint_eq(rep.articles, 1);
}
END_TEST

/* Deletes or writes a raw entry of article_tails (d NULL: delete). */
static void poke_tail(uint64_t id, const char *d)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v = { d ? strlen(d) : 0, (void *)d };
    MDB_txn *txn;

    as_be_put64(kb, id);
    ck_assert(mdb_txn_begin(as__store_env(store), NULL, 0, &txn) == 0);
    if (d == NULL)
        ck_assert(mdb_del(txn, as__store_dbi(store, AS_DBI_ARTICLE_TAILS), &k,
                          NULL) == 0);
    else
        ck_assert(mdb_put(txn, as__store_dbi(store, AS_DBI_ARTICLE_TAILS), &k,
                          &v, 0) == 0);
    ck_assert(mdb_txn_commit(txn) == 0);
}

START_TEST(missing_or_stray_tail_is_reported)
{
    uint64_t split, small;
    as_verify_report_t rep;

    reopen(0);
    split = put(mk("https://e.com/a", prose(5000, 13)));
    small = put(mk("https://e.com/b", "Short."));
    poke_tail(split, NULL);
    poke_tail(small, "stray bytes");
    ck_assert_int_eq(check_body(split, ""), AS_CODE_DATA_LOSS);
    ck_assert_int_eq(check_body(small, "Short."), 0);
    rep = verify();
    /* The split article's missing tail, the stray one, and the count. */
    ck_assert_uint_ge(rep.problems, 2);
}
END_TEST

START_TEST(codec_refuses_bad_frames)
{
    as_codec_t *c = as_codec_new(3);
    unsigned char bad[] = { AS_CODEC_TAG, 0x07, 1, 2, 3 };
    unsigned char junk[] = { AS_CODEC_TAG, AS_CODEC_ZSTD, 1, 2, 3, 4, 5 };
    const char *text = prose(3000, 7);
    const void *out, *back;
    size_t n, m;
    as_status_t st;

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(as_codec_decode(c, bad, sizeof(bad), &out, &n, &st),
                     AS_CODE_DATA_LOSS);
    ck_assert_msg(strstr(st.msg, "unknown encoding"), "%s", st.msg);
    ck_assert_int_eq(as_codec_decode(c, junk, sizeof(junk), &out, &n, &st),
                     AS_CODE_DATA_LOSS);
    /* Round trip; the decoded copy outlives the next decode until reset. */
    ck_assert_int_eq(as_codec_encode(c, text, strlen(text), &out, &n, &st), 0);
    ck_assert(as_codec_is_compressed(out, n));
    ck_assert_int_eq(as_codec_decode(c, out, n, &back, &m, &st), 0);
    ck_assert_uint_eq(m, strlen(text));
    ck_assert(memcmp(back, text, m) == 0);
    as_codec_reset(c);
    as_codec_free(c);
}
END_TEST

/* Puts a with its packed and encoded form made beforehand, as a request
 * worker does (as_put_pre_t); returns its id. */
static uint64_t put_pre(const Artstore__V1__Article *a, as_codec_t *enc)
{
    op_t op = { 0 };
    as_put_pre_t pre;
    size_t n = artstore__v1__article__get_packed_size(a);
    uint8_t *packed = as_arena_alloc(ar, n + 1), *copy;
    as_status_t st;

    artstore__v1__article__pack(a, packed);
    pre.packed = packed;
    pre.packed_len = n;
    ck_assert(as_codec_encode(enc, packed, n, &pre.enc, &pre.enc_len,
                              &st) == 0);
    copy = as_arena_alloc(ar, pre.enc_len + 1);
    memcpy(copy, pre.enc, pre.enc_len);
    pre.enc = copy;
    op.a = a;
    op.pre = &pre;
    ck_assert_msg(as_store_write(store, run_put, &op, &st) == 0,
                  "write: %s", st.msg);
    ck_assert_msg(op.st.code == 0, "put: %s", op.st.msg);
    return op.out.id;
}

/* Reads article id through the store's read path (unpacked; free it). */
static Artstore__V1__Article *read_back(uint64_t id)
{
    Artstore__V1__Article *a;
    as_reader_t *r;
    as_status_t st;
    as_bytes_t raw;

    ck_assert(as_reader_create(store, &r, &st) == 0);
    ck_assert(as_reader_begin(r, &st) == 0);
    ck_assert_msg(as_store_get_raw(r, id, &raw, &st) == 0, "get: %s", st.msg);
    a = artstore__v1__article__unpack(NULL, raw.len, raw.data);
    ck_assert_ptr_nonnull(a);
    as_reader_end(r);
    as_reader_free(r);
    return a;
}

/* An article packed and compressed before the writer assigned its fields
 * (the AS_CODEC_SUFFIX form, or packed + suffix when stored as it is)
 * reads back like one packed whole by the writer: short, compressed and
 * split, new and updated; the offline check finds nothing wrong. */
START_TEST(article_encoded_ahead_reads_like_one_encoded_here)
{
    const char *bodies[3];
    as_codec_t *enc = as_store_encoder_new(store);
    as_verify_report_t rep;
    int i;

    bodies[0] = "A short body.";
    bodies[1] = prose(4000, 21);
    bodies[2] = prose(300000, 22);
    ck_assert_ptr_nonnull(enc);
    for (i = 0; i < 3; i++) {
        char u1[64], u2[64];
        Artstore__V1__Article *a, *b;
        uint64_t ida, idb;
        unsigned char *v;
        size_t n;

        snprintf(u1, sizeof(u1), "https://e.com/ahead%d", i);
        snprintf(u2, sizeof(u2), "https://e.com/here%d", i);
        ida = put_pre(mk(u1, bodies[i]), enc);
        idb = put(mk(u2, bodies[i]));
        v = stored(ida, &n);
        if (i == 0)
            ck_assert(!as_codec_is_compressed(v, n));
        else
            ck_assert_msg(v[0] == AS_CODEC_TAG && v[1] == AS_CODEC_SUFFIX,
                          "first bytes %02x %02x", v[0], v[1]);
        free(v);
        /* Updated the same way: the id and ingested_at are kept. */
        ck_assert_uint_eq(put_pre(mk(u1, i ? bodies[0] : bodies[1]), enc),
                          ida);
        ck_assert_uint_eq(put_pre(mk(u1, bodies[i]), enc), ida);
        ck_assert_uint_eq(put(mk(u2, i ? bodies[0] : bodies[1])), idb);
        ck_assert_uint_eq(put(mk(u2, bodies[i])), idb);
        a = read_back(ida);
        b = read_back(idb);
        ck_assert_uint_eq(a->id, ida);
        ck_assert(a->has_revision && a->revision > 0);
        ck_assert_uint_eq(a->revision + 2, b->revision);
        ck_assert_int_eq(a->has_ingested_at, b->has_ingested_at);
        ck_assert_int_eq(a->has_story_id, b->has_story_id);
        /* The same text put again: a near-duplicate of the first. */
        ck_assert(!a->has_duplicate_of);
        ck_assert(b->has_duplicate_of && b->duplicate_of == ida);
        ck_assert_str_eq(a->body, b->body);
        ck_assert_str_eq(a->title, b->title);
        ck_assert_uint_eq(a->n_tags, b->n_tags);
        {
            const Artstore__V1__Article *ref = mk(u1, bodies[i]);

            ck_assert_uint_eq(a->content_hash.len, ref->content_hash.len);
            ck_assert_int_eq(memcmp(a->content_hash.data,
                                    ref->content_hash.data,
                                    a->content_hash.len), 0);
        }
        artstore__v1__article__free_unpacked(a, NULL);
        artstore__v1__article__free_unpacked(b, NULL);
    }
    as_codec_free(enc);
    rep = verify();
    ck_assert_uint_eq(rep.problems, 0);
    open_store(3);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, article_stored_compressed_and_read_whole);
    tcase_add_test(tc, small_article_stored_as_is);
    tcase_add_test(tc, store_written_before_compression_keeps_working);
    tcase_add_test(tc, damaged_compressed_article_is_reported);
    tcase_add_test(tc, long_value_is_split_and_its_tail_follows_it);
    tcase_add_test(tc, missing_or_stray_tail_is_reported);
    tcase_add_test(tc, codec_refuses_bad_frames);
    tcase_add_test(tc, article_encoded_ahead_reads_like_one_encoded_here);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(codec_suite());
}
