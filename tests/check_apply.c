/*
 * check_apply.c - tests for server/apply.c, the replicated state machine:
 * three stores driven by libraft's deterministic fixture (in-memory log
 * and network, simulated time) end identical byte for byte; the leader's
 * time, not the local clock, is written; an applied index is never
 * applied twice and survives a reopen; a snapshot records its index in
 * the store and restore accepts only what the store already holds, or
 * what a member's copy brings (snapshot.c): a copy read in small chunks
 * replaces a store with readers open, a failed fetch leaves nothing
 * behind, and a fixture server cut off while the log was truncated
 * restores the leader's snapshot from a copy and ends identical; with a
 * writer, entries are deferred (readable by Get, not in LMDB) and
 * committed by the writer's policy and before a snapshot.
 */
#include <check.h>
#include <fcntl.h>
#include <raft.h>
#include <raft/fixture.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "apply.h"
#include "article.h"
#include "be.h"
#include "check_main.h"
#include "clock.h"
#include "snapshot.h"
#include "store_schema.h"
#include "tempdir.h"

#define N 3

static char dirs[N][64];
static as_store_t *stores[N];
static as_arena_t *ar;
static as_limits_t lim = AS_LIMITS_DEFAULT;

static void open_store(int i)
{
    as_store_opts_t o = { 0 };
    as_status_t st;

    o.path = dirs[i];
    ck_assert_msg(as_store_open(&o, &stores[i], &st) == 0, "open: %s",
                  st.msg);
}

static void setup(void)
{
    int i;

    for (i = 0; i < N; i++) {
        ck_assert_int_eq(ts_tempdir(dirs[i], sizeof(dirs[i])), 0);
        open_store(i);
    }
    ar = as_arena_create(64 << 20);
}

static void teardown(void)
{
    int i;

    for (i = 0; i < N; i++) {
        as_store_close(stores[i]);
        ck_assert_int_eq(ts_tempdir_remove(dirs[i]), 0);
    }
    as_arena_destroy(ar);
}

/* A prepared article for url with body. */
static Artstore__V1__Article *mk(const char *url, const char *body)
{
    Artstore__V1__Article *a = as_arena_alloc(ar, sizeof(*a));
    as_status_t st;

    artstore__v1__article__init(a);
    a->url = as_arena_strndup(ar, url, strlen(url));
    a->title = as_arena_strndup(ar, "Title", 5);
    a->body = as_arena_strndup(ar, body, strlen(body));
    ck_assert_msg(as_article_prepare(a, ar, &lim, &st) == 0, "prepare: %s",
                  st.msg);
    return a;
}

/* Packs a one-put (del = 0) or one-delete job into a raft_malloc'ed
 * entry stamped with time_ms. */
static struct raft_buffer entry_if(Artstore__V1__Article *a, uint64_t del_id,
                                   int64_t time_ms, uint64_t seq,
                                   int has_expected, uint64_t expected)
{
    as_write_item_t it;
    as_write_job_t job;
    as_entry_origin_t o = { 1, 7, seq };
    struct raft_buffer b;
    as_status_t st;

    memset(&it, 0, sizeof(it));
    memset(&job, 0, sizeof(job));
    it.op = a ? AS_WRITE_PUT : AS_WRITE_DELETE;
    it.article = a;
    it.id = del_id;
    it.cond.has_expected = has_expected;
    it.cond.expected = expected;
    job.items = &it;
    job.n = 1;
    ck_assert_msg(as_entry_pack_job(&job, time_ms, &o, raft_malloc, &b.base,
                                    &b.len, &st) == 0, "pack: %s", st.msg);
    ck_assert_msg(b.len % 8 == 0, "entry of %zu bytes is not a multiple "
                  "of 8 (libraft's segments need it)", b.len);
    return b;
}

static struct raft_buffer entry(Artstore__V1__Article *a, uint64_t del_id,
                                int64_t time_ms, uint64_t seq)
{
    return entry_if(a, del_id, time_ms, seq, 0, 0);
}

/* Every article and change of store i, packed, in key order, as one
 * string of "key:hex;" pairs (malloc'ed). */
static char *dump(int i)
{
    as_reader_t *r;
    as_status_t st;
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    int dbs[2] = { AS_DBI_ARTICLES, AS_DBI_CHANGES }, d;

    ck_assert_int_eq(as_reader_create(stores[i], &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    for (d = 0; d < 2; d++) {
        MDB_cursor *c;
        MDB_val k, v;
        size_t j;

        ck_assert_int_eq(mdb_cursor_open(as__reader_txn(r),
                                         as__store_dbi(stores[i], dbs[d]),
                                         &c), 0);
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            ck_assert(len + 2 * (k.mv_size + v.mv_size) + 8 < cap);
            for (j = 0; j < k.mv_size; j++)
                len += sprintf(out + len, "%02x", ((unsigned char *)k.mv_data)[j]);
            out[len++] = ':';
            for (j = 0; j < v.mv_size; j++)
                len += sprintf(out + len, "%02x", ((unsigned char *)v.mv_data)[j]);
            out[len++] = ';';
        }
        mdb_cursor_close(c);
        out[len++] = '|';
    }
    out[len] = '\0';
    as_reader_end(r);
    as_reader_free(r);
    return out;
}

/* ------------------------------------------------------------ fixture */

static struct raft_fixture f;
static struct raft_fsm fsms[N];
static as_fsm_t ctx[N];

static void start_fixture(void)
{
    struct raft_configuration conf;
    int i;

    ck_assert_int_eq(raft_fixture_initialize(&f), 0);
    for (i = 0; i < N; i++) {
        ctx[i].store = stores[i];
        as_fsm_init(&fsms[i], &ctx[i]);
        ck_assert_int_eq(raft_fixture_grow(&f, &fsms[i]), 0);
        ctx[i].raft = raft_fixture_get(&f, (unsigned)i);
    }
    ck_assert_int_eq(raft_fixture_configuration(&f, N, &conf), 0);
    ck_assert_int_eq(raft_fixture_bootstrap(&f, &conf), 0);
    raft_configuration_close(&conf);
    ck_assert_int_eq(raft_fixture_start(&f), 0);
    raft_fixture_elect(&f, 0);
}

/* Proposes b on the leader (server 0) and steps until every server has
 * applied it; returns its index. */
static raft_index propose(struct raft_buffer b)
{
    static struct raft_apply reqs[64];
    static int n;
    struct raft *leader = raft_fixture_get(&f, 0);
    raft_index index;

    ck_assert_int_lt(n, 64);
    ck_assert_int_eq(raft_apply(leader, &reqs[n++], &b, 1, NULL), 0);
    index = raft_last_index(leader);
    ck_assert_msg(raft_fixture_step_until_applied(&f, N, index, 10000),
                  "entry %llu not applied everywhere",
                  (unsigned long long)index);
    return index;
}

START_TEST(three_stores_end_identical)
{
    raft_index last = 0;
    char *d0, *d;
    int i, k;

    start_fixture();
    for (k = 0; k < 20; k++) {
        char url[64], body[64];

        snprintf(url, sizeof(url), "https://example.com/%d", k % 12);
        snprintf(body, sizeof(body), "body %d", k);
        last = propose(entry(mk(url, body), 0, 1700000000000LL + k, k + 1));
    }
    last = propose(entry(NULL, 3, 1700000001000LL, 99));
    d0 = dump(0);
    for (i = 0; i < N; i++) {
        ck_assert_uint_eq(as_store_applied_index(stores[i]), last);
        /* 12 creates, 8 updates and a delete: seq 21. */
        ck_assert_uint_eq(as_store_last_seq(stores[i]), 21);
        d = dump(i);
        ck_assert_msg(strcmp(d, d0) == 0, "store %d differs from store 0",
                      i);
        free(d);
    }
    free(d0);
    raft_fixture_close(&f);
}
END_TEST

START_TEST(leader_time_is_written)
{
    as_applied_t res;
    as_status_t st;
    as_reader_t *r;
    as_bytes_t raw;
    Artstore__V1__Article *a;
    struct raft_buffer b = entry(mk("https://example.com/t", "x"),
                                 0, 86400000LL * 3 + 1234, 1);

    ck_assert_int_eq(as_apply_entry(stores[0], 5, b.base, b.len, &res, &st),
                     0);
    ck_assert_uint_eq(res.n, 1);
    ck_assert_int_eq(res.st[0].code, AS_CODE_OK);
    ck_assert_uint_eq(res.origin.seq, 1);
    as_applied_free(&res);
    ck_assert_int_eq(as_reader_create(stores[0], &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(as_store_get_raw(r, 1, &raw, &st), 0);
    a = artstore__v1__article__unpack(NULL, raw.len, raw.data);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->ingested_at, 86400 * 3 + 1);
    artstore__v1__article__free_unpacked(a, NULL);
    as_reader_end(r);
    as_reader_free(r);
    raft_free(b.base);
}
END_TEST

START_TEST(applied_index_is_never_applied_twice)
{
    struct raft_buffer b1 = entry(mk("https://example.com/a", "one"), 0,
                                  1000, 1);
    struct raft_buffer b2 = entry(mk("https://example.com/a", "two"), 0,
                                  2000, 2);
    as_applied_t res;
    as_status_t st;

    ck_assert_int_eq(as_apply_entry(stores[0], 10, b1.base, b1.len, &res,
                                    &st), 0);
    ck_assert(!res.skipped);
    as_applied_free(&res);
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 10);
    /* A replay of index 10 (even with other bytes) changes nothing. */
    ck_assert_int_eq(as_apply_entry(stores[0], 10, b2.base, b2.len, &res,
                                    &st), 0);
    ck_assert(res.skipped);
    as_applied_free(&res);
    ck_assert_uint_eq(as_store_last_seq(stores[0]), 1);
    /* The index survives a reopen, in the same commit as the write. */
    as_store_close(stores[0]);
    open_store(0);
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 10);
    ck_assert_int_eq(as_apply_entry(stores[0], 9, b2.base, b2.len, &res,
                                    &st), 0);
    ck_assert(res.skipped);
    as_applied_free(&res);
    ck_assert_int_eq(as_apply_entry(stores[0], 11, b2.base, b2.len, &res,
                                    &st), 0);
    ck_assert(!res.skipped);
    ck_assert_int_eq(res.out[0].outcome,
                     ARTSTORE__V1__PUT_OUTCOME__PUT_UPDATED);
    as_applied_free(&res);
    ck_assert_uint_eq(as_store_last_seq(stores[0]), 2);
    raft_free(b1.base);
    raft_free(b2.base);
}
END_TEST

START_TEST(refusals_are_the_same_everywhere)
{
    /* A conditional put whose condition is false writes nothing on any
     * node, and a garbage entry is skipped alike. */
    struct raft_buffer b = entry_if(mk("https://example.com/c", "x"), 0, 1,
                                    1, 1, 5);
    unsigned char junk[16] = "not an entry!!!";
    as_applied_t res;
    as_status_t st;
    int i;

    for (i = 0; i < N; i++) {
        ck_assert_int_eq(as_apply_entry(stores[i], 3, b.base, b.len, &res,
                                        &st), 0);
        ck_assert_int_eq(res.st[0].code, AS_CODE_FAILED_PRECONDITION);
        as_applied_free(&res);
        ck_assert_int_eq(as_apply_entry(stores[i], 4, junk, sizeof(junk),
                                        &res, &st), 0);
        ck_assert(res.skipped);
        as_applied_free(&res);
        ck_assert_uint_eq(as_store_last_seq(stores[i]), 0);
    }
    raft_free(b.base);
}
END_TEST

/* An exact put (PutExact) travels in the log like any write: every node
 * stores the article under its own id and revision, and every node refuses
 * the next one alike once an ordinary write has made the store non-empty. */
START_TEST(exact_puts_are_replicated)
{
    as_write_item_t it;
    as_write_job_t job;
    as_entry_origin_t o = { 1, 7, 1 };
    struct raft_buffer b;
    Artstore__V1__Article *a = mk("https://example.com/old", "kept");
    char *d0, *d;
    as_status_t st;
    int i;

    a->has_id = a->has_revision = a->has_ingested_at = 1;
    a->id = 40;
    a->revision = 90;
    a->ingested_at = 1000000000;
    memset(&it, 0, sizeof(it));
    memset(&job, 0, sizeof(job));
    it.op = AS_WRITE_EXACT;
    it.article = a;
    job.items = &it;
    job.n = 1;
    ck_assert_msg(as_entry_pack_job(&job, 5, &o, raft_malloc, &b.base,
                                    &b.len, &st) == 0, "pack: %s", st.msg);
    start_fixture();
    propose(b);
    propose(entry(mk("https://example.com/new", "ordinary"), 0, 6, 2));
    a->url = "https://example.com/late";
    a->id = 50;
    a->revision = 95;
    it.article = a;
    o.seq = 3;
    ck_assert_msg(as_entry_pack_job(&job, 7, &o, raft_malloc, &b.base,
                                    &b.len, &st) == 0, "pack: %s", st.msg);
    propose(b);
    d0 = dump(0);
    for (i = 0; i < N; i++) {
        as_reader_t *r;
        as_store_stats_t s;

        ck_assert_int_eq(as_reader_create(stores[i], &r, &st), 0);
        ck_assert_int_eq(as_reader_begin(r, &st), 0);
        ck_assert_int_eq(as_store_get_stats(r, &s, &st), 0);
        /* 40 kept its id and revision 90; the ordinary put is 41 at 91;
         * the late exact put was refused. */
        ck_assert_uint_eq(s.articles, 2);
        ck_assert_uint_eq(s.next_id, 42);
        ck_assert_uint_eq(s.last_seq, 91);
        as_reader_end(r);
        as_reader_free(r);
        d = dump(i);
        ck_assert_str_eq(d, d0);
        free(d);
    }
    free(d0);
    raft_fixture_close(&f);
}
END_TEST

START_TEST(snapshot_names_the_index_and_restore_checks_it)
{
    struct raft_buffer *bufs, snap;
    unsigned n;
    struct raft r;              /* only its last_applied is read */
    as_fsm_t fc = { 0 };
    struct raft_fsm fsm;
    Artstore__V1__RaftSnapshot *parsed;
    as_status_t st;

    memset(&r, 0, sizeof(r));
    fc.store = stores[0];
    fc.raft = &r;
    as_fsm_init(&fsm, &fc);
    /* Nothing written yet: the snapshot still records its index. */
    r.last_applied = 42;
    ck_assert_int_eq(fsm.snapshot(&fsm, &bufs, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(as_snapshot_parse(bufs[0].base, bufs[0].len, &parsed,
                                       &st), 0);
    ck_assert_uint_eq(parsed->index, 42);
    ck_assert_uint_eq(parsed->n_members, 0);
    artstore__v1__raft_snapshot__free_unpacked(parsed, NULL);
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 42);
    /* Restoring it on the same store: nothing to do. */
    snap = bufs[0];
    raft_free(bufs);
    ck_assert_int_eq(fsm.restore(&fsm, &snap), 0);
    /* A snapshot beyond what the store holds cannot be restored without
     * a copy (no install hook); the form of earlier versions is read. */
    fc.store = stores[1];
    snap.base = raft_malloc(16);
    snap.len = 16;
    memcpy(snap.base, "ASSNAP01", 8);
    as_be_put64((unsigned char *)snap.base + 8, 42);
    ck_assert_int_ne(fsm.restore(&fsm, &snap), 0);
    raft_free(snap.base);
}
END_TEST

/* Whether store i's snapshot holds article id (0) or only the overlay,
 * readable by Get, does (1); -1 when neither does. */
static int where(int i, uint64_t id)
{
    as_reader_t *r;
    as_status_t st;
    as_bytes_t b;
    int in_lmdb, latest;

    ck_assert_int_eq(as_reader_create(stores[i], &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    in_lmdb = as_store_get_raw(r, id, &b, &st) == 0;
    latest = as_store_get_latest(r, id, &b, &st) == 0;
    as_reader_end(r);
    as_reader_free(r);
    return in_lmdb ? 0 : latest ? 1 : -1;
}

/* The FSM with a writer: entries go into the deferred transaction and the
 * overlay (Get sees them, LMDB does not hold them nor their index), LMDB
 * commits by the writer's policy and before a snapshot, and an index
 * already applied, committed or not, is skipped. */
START_TEST(deferred_entries_commit_by_policy_and_before_a_snapshot)
{
    struct raft_buffer b1 = entry(mk("https://example.com/d1", "one"), 0,
                                  1000, 1);
    struct raft_buffer b2 = entry(mk("https://example.com/d2", "two"), 0,
                                  2000, 2);
    struct raft_buffer b3 = entry(mk("https://example.com/d1", "three"), 0,
                                  3000, 3);
    struct raft_buffer *bufs;
    struct raft r;              /* last_applied and commit_index are read */
    struct raft_fsm fsm;
    as_writer_opts_t wo;
    as_writer_stats_t ws;
    as_writer_t *w;
    as_fsm_t fc = { 0 };
    as_status_t st;
    void *result;
    unsigned n;

    memset(&wo, 0, sizeof(wo));
    wo.commit_interval_ms = 60000;
    ck_assert_int_eq(as_writer_start(stores[0], &wo, &w, &st), 0);
    memset(&r, 0, sizeof(r));
    fc.store = stores[0];
    fc.raft = &r;
    fc.writer = w;
    fc.defer = 1;
    as_fsm_init(&fsm, &fc);
    as_writer_defer_elsewhere(w, NULL, NULL, 0);
    ck_assert_int_eq(fsm.apply(&fsm, &b1, &result), 0);
    r.last_applied = 1;
    ck_assert_int_eq(fsm.apply(&fsm, &b2, &result), 0);
    r.last_applied = 2;
    /* Applied and readable, not committed. */
    ck_assert_int_eq(where(0, 1), 1);
    ck_assert_int_eq(where(0, 2), 1);
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 0);
    ck_assert_uint_eq(as_store_last_seq(stores[0]), 0);
    ck_assert_uint_eq(as_store_acked_seq(stores[0]), 2);
    ck_assert_uint_eq(fc.deferred, 2);
    /* Not due yet: the interval is a minute. */
    as_fsm_commit_if_due(&fc, as_clock_wall_ms());
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 0);
    /* Index 2 again (a replay): skipped although LMDB does not hold it. */
    r.last_applied = 1;
    ck_assert_int_eq(fsm.apply(&fsm, &b3, &result), 0);
    r.last_applied = 2;
    ck_assert_uint_eq(as_store_acked_seq(stores[0]), 2);
    /* A snapshot commits first, so its index is durable in LMDB. */
    ck_assert_int_eq(fsm.snapshot(&fsm, &bufs, &n), 0);
    raft_free(bufs[0].base);
    raft_free(bufs);
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 2);
    ck_assert_uint_eq(as_store_last_seq(stores[0]), 2);
    ck_assert_int_eq(where(0, 1), 0);
    ck_assert_int_eq(where(0, 2), 0);
    /* Index 3, then the interval passes. */
    ck_assert_int_eq(fsm.apply(&fsm, &b3, &result), 0);
    r.last_applied = 3;
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 2);
    as_fsm_commit_if_due(&fc, as_clock_wall_ms() + 60000);
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 3);
    ck_assert_uint_eq(as_store_last_seq(stores[0]), 3);
    as_writer_get_stats(w, &ws);
    ck_assert_uint_eq(ws.lmdb_commits, 2);
    /* The index survives a reopen with the writes it covers. */
    as_writer_stop(w);
    as_store_close(stores[0]);
    open_store(0);
    ck_assert_uint_eq(as_store_applied_index(stores[0]), 3);
    ck_assert_int_eq(where(0, 1), 0);
    raft_free(b1.base);
    raft_free(b2.base);
    raft_free(b3.base);
}
END_TEST

/* Several requests merged into one entry: applied in one transaction, in
 * order, each request's items found by its part; the same store as the
 * requests one entry each. A trim entry deletes the same changes. */
START_TEST(merged_requests_and_trims_apply_alike)
{
    as_write_item_t it[3];
    as_write_job_t j1, j2, *jobs[2] = { &j1, &j2 };
    as_entry_origin_t o = { 1, 7, 40 };
    struct raft_buffer b, t;
    as_applied_t res;
    as_status_t st;
    char *d0, *d1;

    memset(it, 0, sizeof(it));
    memset(&j1, 0, sizeof(j1));
    memset(&j2, 0, sizeof(j2));
    it[0].op = it[1].op = it[2].op = AS_WRITE_PUT;
    it[0].article = mk("https://example.com/m1", "one");
    it[1].article = mk("https://example.com/m2", "two");
    it[2].article = mk("https://example.com/m1", "one again");
    j1.items = &it[0];
    j1.n = 2;
    j2.items = &it[2];
    j2.n = 1;
    ck_assert_msg(as_entry_pack_jobs(jobs, 2, 5000, &o, raft_malloc, &b.base,
                                     &b.len, &st) == 0, "pack: %s", st.msg);
    ck_assert_uint_eq(b.len % 8, 0);
    ck_assert_int_eq(as_apply_entry(stores[0], 1, b.base, b.len, &res, &st),
                     0);
    ck_assert_uint_eq(res.origin.seq, 40);
    ck_assert_uint_eq(res.n_parts, 2);
    ck_assert_uint_eq(res.parts[0], 2);
    ck_assert_uint_eq(res.parts[1], 1);
    ck_assert_uint_eq(res.n, 3);
    ck_assert_int_eq(res.out[0].outcome,
                     ARTSTORE__V1__PUT_OUTCOME__PUT_CREATED);
    /* The second request saw the first one's write. */
    ck_assert_int_eq(res.out[2].outcome,
                     ARTSTORE__V1__PUT_OUTCOME__PUT_UPDATED);
    ck_assert_uint_eq(res.out[2].id, res.out[0].id);
    as_applied_free(&res);
    /* The same writes as two entries on another store. */
    {
        struct raft_buffer e1, e2;

        ck_assert_int_eq(as_entry_pack_job(&j1, 5000, &o, raft_malloc,
                                           &e1.base, &e1.len, &st), 0);
        ck_assert_int_eq(as_entry_pack_job(&j2, 5000, &o, raft_malloc,
                                           &e2.base, &e2.len, &st), 0);
        ck_assert_int_eq(as_apply_entry(stores[1], 1, e1.base, e1.len, &res,
                                        &st), 0);
        ck_assert_uint_eq(res.n_parts, 1);
        ck_assert_uint_eq(res.parts[0], 2);
        as_applied_free(&res);
        ck_assert_int_eq(as_apply_entry(stores[1], 2, e2.base, e2.len, &res,
                                        &st), 0);
        as_applied_free(&res);
        raft_free(e1.base);
        raft_free(e2.base);
    }
    d0 = dump(0);
    d1 = dump(1);
    ck_assert_str_eq(d0, d1);
    free(d0);
    free(d1);
    /* A trim up to seq 2 leaves seq 3 only, on both. */
    ck_assert_int_eq(as_entry_pack_trim(2, 6000, &o, raft_malloc, &t.base,
                                        &t.len, &st), 0);
    ck_assert_int_eq(as_apply_entry(stores[0], 2, t.base, t.len, &res, &st),
                     0);
    as_applied_free(&res);
    ck_assert_int_eq(as_apply_entry(stores[1], 3, t.base, t.len, &res, &st),
                     0);
    as_applied_free(&res);
    {
        as_store_stats_t ss;
        as_reader_t *r;

        ck_assert_int_eq(as_reader_create(stores[0], &r, &st), 0);
        ck_assert_int_eq(as_reader_begin(r, &st), 0);
        ck_assert_int_eq(as_store_get_stats(r, &ss, &st), 0);
        as_reader_end(r);
        as_reader_free(r);
        ck_assert_uint_eq(ss.oldest_seq, 3);
    }
    d0 = dump(0);
    d1 = dump(1);
    ck_assert_str_eq(d0, d1);
    free(d0);
    free(d1);
    raft_free(b.base);
    raft_free(t.base);
}
END_TEST

/* ------------------------------------------------------------ copies */

/* Reads the whole copy holding min_index from src, max bytes a call,
 * into file, checking each chunk (offset, length, checksum). Returns 0 or
 * the source's code (st set). */
static int pull(as_snapshot_source_t *src, uint64_t min_index, size_t max,
                const char *file, uint64_t *applied, as_status_t *st)
{
    as_snapshot_chunk_t ch;
    uint64_t id = 0, size = 0, off = 0;
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc;

    ck_assert_int_ge(fd, 0);
    do {
        if ((rc = as_snapshot_source_read(src, min_index, id, off, max, &ch,
                                          st)) != 0) {
            close(fd);
            unlink(file);
            return rc;
        }
        if (id == 0) {
            id = ch.copy_id;
            size = ch.size;
            *applied = ch.applied;
        }
        ck_assert_uint_eq(ch.copy_id, id);
        ck_assert_uint_eq(ch.size, size);
        ck_assert_uint_eq(ch.offset, off);
        ck_assert_uint_gt(ch.len, 0);
        ck_assert_uint_le(ch.len, max);
        ck_assert_uint_eq(ch.checksum, XXH3_64bits(ch.data, ch.len));
        ck_assert_int_eq(pwrite(fd, ch.data, ch.len, (off_t)off),
                         (ssize_t)ch.len);
        off += ch.len;
        free(ch.data);
    } while (off < size);
    ck_assert_int_eq(fsync(fd), 0);
    close(fd);
    /* Done: the copy is let go, and no longer served. */
    ck_assert_int_eq(as_snapshot_source_read(src, min_index, id, size, max,
                                             &ch, st), 0);
    ck_assert_uint_eq(ch.len, 0);
    ck_assert_int_eq(as_snapshot_source_read(src, min_index, id, 0, max, &ch,
                                             st), AS_CODE_NOT_FOUND);
    return 0;
}

/* Applies n entries (puts of distinct and repeated URLs) to store i from
 * Raft index first on. */
static void apply_n(int i, uint64_t first, int n)
{
    as_applied_t res;
    as_status_t st;
    int k;

    for (k = 0; k < n; k++) {
        char url[64], body[64];
        struct raft_buffer b;

        snprintf(url, sizeof(url), "https://example.com/c%d", k % 40);
        snprintf(body, sizeof(body), "copy body %d", k);
        b = entry(mk(url, body), 0, 1700000000000LL + k, (uint64_t)k + 1);
        ck_assert_int_eq(as_apply_entry(stores[i], first + (uint64_t)k,
                                        b.base, b.len, &res, &st), 0);
        as_applied_free(&res);
        raft_free(b.base);
    }
}

/* A member's copy, read in small chunks, replaces another store in place:
 * its readers carry on in the new store, writes go on from the copy's
 * index, and the two stores stay identical. */
START_TEST(store_copy_streams_in_chunks_and_replaces_a_store)
{
    as_snapshot_source_t *src;
    as_snapshot_chunk_t ch;
    as_status_t st;
    as_reader_t *r;
    as_bytes_t raw;
    char file[128], *d0, *d1;
    uint64_t applied = 0;

    apply_n(0, 1, 60);
    apply_n(1, 1, 3);
    ck_assert_int_eq(as_snapshot_source_new(stores[0], dirs[0], &src, &st),
                     0);
    /* Refusals: an index the store has not applied, a copy not served,
     * an offset past the end. */
    ck_assert_int_eq(as_snapshot_source_read(src, 61, 0, 0, 0, &ch, &st),
                     AS_CODE_FAILED_PRECONDITION);
    ck_assert_int_eq(as_snapshot_source_read(src, 60, 12345, 0, 0, &ch, &st),
                     AS_CODE_NOT_FOUND);
    ck_assert_int_eq(as_snapshot_source_read(src, 60, 0, 1u << 30, 0, &ch,
                                             &st), AS_CODE_OUT_OF_RANGE);
    /* The copy lives as an open file only: nothing is left on disk. */
    snprintf(file, sizeof(file), "%s/%s", dirs[0], AS_SNAPSHOT_OUT_DIR);
    ck_assert_int_ne(access(file, F_OK), 0);
    /* A reader of store 1 made before the replace. */
    ck_assert_int_eq(as_reader_create(stores[1], &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(as_store_get_raw(r, 4, &raw, &st), AS_CODE_NOT_FOUND);
    as_reader_end(r);
    snprintf(file, sizeof(file), "%s/copy.mdb", dirs[1]);
    ck_assert_msg(pull(src, 60, 4096, file, &applied, &st) == 0, "pull: %s",
                  st.msg);
    ck_assert_uint_eq(applied, 60);
    ck_assert_msg(as_store_replace(stores[1], file, &st) == 0, "replace: %s",
                  st.msg);
    ck_assert_int_ne(access(file, F_OK), 0);
    ck_assert_uint_eq(as_store_applied_index(stores[1]), 60);
    ck_assert_uint_eq(as_store_last_seq(stores[1]), 60);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_int_eq(as_store_get_raw(r, 4, &raw, &st), 0);
    as_reader_end(r);
    as_reader_free(r);
    d0 = dump(0);
    d1 = dump(1);
    ck_assert_str_eq(d0, d1);
    free(d1);
    /* Entries at or below the copy's index are skipped; later ones apply
     * alike on both. */
    apply_n(1, 1, 60);
    d1 = dump(1);
    ck_assert_str_eq(d0, d1);
    free(d0);
    free(d1);
    apply_n(0, 61, 30);
    apply_n(1, 61, 30);
    d0 = dump(0);
    d1 = dump(1);
    ck_assert_str_eq(d0, d1);
    free(d0);
    free(d1);
    as_snapshot_source_free(src);
}
END_TEST

/* A download that cannot complete leaves the store as it was, and
 * nothing of a partial copy (an earlier one's leftovers included). */
START_TEST(failed_fetch_leaves_the_store_as_it_was)
{
    as_snapshot_fetch_opts_t o;
    const char *eps[1];
    char dead[128], in[128], partial[160], *d0, *d1;
    as_status_t st;
    FILE *fp;

    apply_n(1, 1, 5);
    d0 = dump(1);
    snprintf(dead, sizeof(dead), "ipc://%s/nobody", dirs[2]);
    snprintf(in, sizeof(in), "%s/%s", dirs[1], AS_SNAPSHOT_IN_DIR);
    snprintf(partial, sizeof(partial), "%s/%s", in, AS_BACKUP_PARTIAL);
    ck_assert_int_eq(mkdir(in, 0700), 0);
    ck_assert_ptr_nonnull(fp = fopen(partial, "w"));
    fputs("half a copy", fp);
    fclose(fp);
    eps[0] = dead;
    memset(&o, 0, sizeof(o));
    o.data_dir = dirs[1];
    o.endpoints = eps;
    o.n_endpoints = 1;
    o.min_index = 100;
    o.prepare_ms = 100;
    o.deadline_ms = as_clock_wall_ms() + 300;
    ck_assert_int_eq(as_snapshot_install(stores[1], &o, &st),
                     AS_CODE_UNAVAILABLE);
    ck_assert_int_ne(access(in, F_OK), 0);
    ck_assert_uint_eq(as_store_applied_index(stores[1]), 5);
    d1 = dump(1);
    ck_assert_str_eq(d0, d1);
    free(d0);
    free(d1);
}
END_TEST

static as_snapshot_source_t *hook_src;
static int hook_calls;

/* The install hook of server 2 in the fixture: a copy of store 0, pulled
 * in 8 KB chunks (in process: the network path is check_cluster's). */
static int install_from_store0(void *arg, const Artstore__V1__RaftSnapshot *snap,
                               as_status_t *st)
{
    char file[128];
    uint64_t applied;
    int rc;

    (void)arg;
    hook_calls++;
    snprintf(file, sizeof(file), "%s/copy.mdb", dirs[2]);
    if ((rc = pull(hook_src, snap->index, 8192, file, &applied, st)) != 0)
        return rc;
    return as_store_replace(stores[2], file, st);
}

/* Server 2 is cut off while the others apply and snapshot (5 entries a
 * snapshot, 2 kept behind), so the log it lacks is gone: the leader sends
 * its snapshot, whose restore takes a copy of a member's store, and
 * server 2 follows the log from there, ending identical. */
START_TEST(cut_off_server_restores_a_snapshot_from_a_copy)
{
    as_status_t st;
    raft_index last = 0;
    char *d0, *d2;
    int i, k;

    ck_assert_int_eq(as_snapshot_source_new(stores[0], dirs[0], &hook_src,
                                            &st), 0);
    hook_calls = 0;
    ctx[2].install = install_from_store0;
    start_fixture();
    for (i = 0; i < N; i++) {
        raft_set_snapshot_threshold(raft_fixture_get(&f, (unsigned)i), 5);
        raft_set_snapshot_trailing(raft_fixture_get(&f, (unsigned)i), 2);
    }
    last = propose(entry(mk("https://example.com/first", "x"), 0,
                         1700000000000LL, 1));
    for (i = 0; i < 2; i++) {
        raft_fixture_saturate(&f, (unsigned)i, 2);
        raft_fixture_saturate(&f, 2, (unsigned)i);
    }
    for (k = 0; k < 30; k++) {
        char url[64], body[64];
        static struct raft_apply reqs[30];
        struct raft_buffer b;

        snprintf(url, sizeof(url), "https://example.com/%d", k % 12);
        snprintf(body, sizeof(body), "body %d", k);
        b = entry(mk(url, body), 0, 1700000001000LL + k, (uint64_t)k + 2);
        ck_assert_int_eq(raft_apply(raft_fixture_get(&f, 0), &reqs[k], &b, 1,
                                    NULL), 0);
        last = raft_last_index(raft_fixture_get(&f, 0));
        for (i = 0; i < 2; i++)
            ck_assert(raft_fixture_step_until_applied(&f, (unsigned)i, last,
                                                      10000));
    }
    ck_assert_int_eq(hook_calls, 0);
    ck_assert_uint_lt(as_store_applied_index(stores[2]), last);
    for (i = 0; i < 2; i++) {
        raft_fixture_desaturate(&f, (unsigned)i, 2);
        raft_fixture_desaturate(&f, 2, (unsigned)i);
    }
    ck_assert_msg(raft_fixture_step_until_applied(&f, 2, last, 20000),
                  "server 2 did not catch up");
    ck_assert_int_ge(hook_calls, 1);
    last = propose(entry(mk("https://example.com/last", "y"), 0,
                         1700000009000LL, 99));
    d0 = dump(0);
    for (i = 1; i < N; i++) {
        ck_assert_uint_eq(as_store_applied_index(stores[i]), last);
        d2 = dump(i);
        ck_assert_msg(strcmp(d0, d2) == 0, "store %d differs", i);
        free(d2);
    }
    free(d0);
    raft_fixture_close(&f);
    ctx[2].install = NULL;
    as_snapshot_source_free(hook_src);
    hook_src = NULL;
}

/* The reference: the entry of jobs packed whole by protobuf-c. */
static uint8_t *reference_entry(as_write_job_t *const *jobs, size_t n_jobs,
                                int64_t time_ms, const as_entry_origin_t *o,
                                size_t *len)
{
    Artstore__V1__RaftEntry e = ARTSTORE__V1__RAFT_ENTRY__INIT;
    Artstore__V1__RaftWrite w[8], *pw[8];
    uint32_t parts[8];
    size_t i, j, k = 0;
    uint8_t *buf;

    for (j = 0; j < n_jobs; j++) {
        parts[j] = (uint32_t)jobs[j]->n;
        for (i = 0; i < jobs[j]->n; i++, k++) {
            const as_write_item_t *it = &jobs[j]->items[i];

            ck_assert_uint_lt(k, 8);
            artstore__v1__raft_write__init(&w[k]);
            pw[k] = &w[k];
            if (it->prefailed)
                continue;
            if (it->op == AS_WRITE_DELETE) {
                w[k].has_delete_id = 1;
                w[k].delete_id = it->id;
                w[k].delete_url = (char *)it->url;
            } else {
                w[k].article = (Artstore__V1__Article *)it->article;
                w[k].has_exact = w[k].exact = it->op == AS_WRITE_EXACT;
            }
            w[k].has_expected_revision = it->cond.has_expected;
            w[k].expected_revision = it->cond.expected;
            if (it->cond.request_id.len > 0) {
                w[k].has_request_id = 1;
                w[k].request_id.data = (uint8_t *)it->cond.request_id.data;
                w[k].request_id.len = it->cond.request_id.len;
            }
        }
    }
    e.has_time_ms = e.has_origin_node = e.has_origin_run = 1;
    e.has_origin_seq = 1;
    e.time_ms = time_ms;
    e.origin_node = o->node;
    e.origin_run = o->run;
    e.origin_seq = o->seq;
    e.n_writes = k;
    e.writes = pw;
    if (n_jobs > 1) {
        e.n_parts = n_jobs;
        e.parts = parts;
    }
    *len = artstore__v1__raft_entry__get_packed_size(&e);
    buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    artstore__v1__raft_entry__pack(&e, buf);
    return buf;
}

/* Writes packed on the request workers (item->wire) and packed by the
 * writer give the same entry, byte for byte the one protobuf-c packs
 * whole, with and without parts; the article inside a packed write is
 * where as_entry_write_pack says. */
START_TEST(prepacked_writes_make_the_same_entry)
{
    static const uint8_t rid[] = "request-7";
    as_write_item_t it[5];
    as_write_job_t j1, j2, *jobs[2] = { &j1, &j2 };
    as_entry_origin_t o = { 3, 9, 1000 };
    as_status_t st;
    size_t i, n_jobs, ref_len;
    int pass;

    memset(it, 0, sizeof(it));
    it[0].op = AS_WRITE_PUT;
    it[0].article = mk("https://example.com/p1", "first body");
    it[0].cond.has_expected = 1;
    it[0].cond.expected = 0;
    it[0].cond.request_id.data = rid;
    it[0].cond.request_id.len = sizeof(rid) - 1;
    it[1].op = AS_WRITE_PUT;
    it[1].prefailed = 1;
    it[2].op = AS_WRITE_DELETE;
    it[2].id = 300;                /* a 2-byte varint */
    it[3].op = AS_WRITE_DELETE;
    it[3].url = "https://example.com/gone";
    it[4].op = AS_WRITE_PUT;
    it[4].article = mk("https://example.com/p2",
                       "a body long enough that its length takes a varint "
                       "of two bytes: the quick brown fox jumps over the "
                       "lazy dog, the quick brown fox jumps over the lazy "
                       "dog, and once more the quick brown fox jumps.");
    for (pass = 0; pass < 2; pass++) {
        /* pass 0: the writer packs every write; 1: the workers did. */
        for (i = 0; i < 5 && pass == 1; i++) {
            size_t n = as_entry_write_size(&it[i]), off, alen;
            uint8_t *wire = as_arena_alloc(ar, n + 1);

            ck_assert_uint_eq(as_entry_write_pack(&it[i], wire, &off, &alen),
                              n);
            if (it[i].article != NULL && !it[i].prefailed) {
                size_t an = artstore__v1__article__get_packed_size(
                    it[i].article);
                uint8_t *ref = malloc(an);

                artstore__v1__article__pack(it[i].article, ref);
                ck_assert_uint_eq(alen, an);
                ck_assert_int_eq(memcmp(wire + off, ref, an), 0);
                free(ref);
            } else {
                ck_assert_uint_eq(alen, 0);
            }
            it[i].wire = wire;
            it[i].wire_len = n;
        }
        for (n_jobs = 1; n_jobs <= 2; n_jobs++) {
            void *got;
            size_t len, msg;
            uint8_t *ref;
            const uint8_t *g;

            j1.items = &it[0];
            j1.n = n_jobs == 1 ? 5 : 2;
            j2.items = &it[2];
            j2.n = 3;
            ck_assert_msg(as_entry_pack_jobs(jobs, n_jobs, 123456, &o, malloc,
                                             &got, &len, &st) == 0,
                          "pack: %s", st.msg);
            ref = reference_entry(jobs, n_jobs, 123456, &o, &ref_len);
            g = got;
            msg = ((size_t)g[4] << 24) | ((size_t)g[5] << 16) |
                  ((size_t)g[6] << 8) | g[7];
            ck_assert_uint_eq(len % 8, 0);
            ck_assert_uint_eq(msg, ref_len);
            ck_assert_uint_eq(len, 8 + ((ref_len + 7) & ~(size_t)7));
            ck_assert_msg(memcmp(g + 8, ref, ref_len) == 0,
                          "pass %d, %zu job(s): entry bytes differ", pass,
                          n_jobs);
            for (i = 8 + ref_len; i < len; i++)
                ck_assert_uint_eq(g[i], 0);
            free(ref);
            free(got);
        }
    }
}
END_TEST

static Suite *apply_suite(void)
{
    Suite *s = suite_create("apply");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, three_stores_end_identical);
    tcase_add_test(tc, prepacked_writes_make_the_same_entry);
    tcase_add_test(tc, leader_time_is_written);
    tcase_add_test(tc, applied_index_is_never_applied_twice);
    tcase_add_test(tc, refusals_are_the_same_everywhere);
    tcase_add_test(tc, exact_puts_are_replicated);
    tcase_add_test(tc, snapshot_names_the_index_and_restore_checks_it);
    tcase_add_test(tc, deferred_entries_commit_by_policy_and_before_a_snapshot);
    tcase_add_test(tc, merged_requests_and_trims_apply_alike);
    tcase_add_test(tc, store_copy_streams_in_chunks_and_replaces_a_store);
    tcase_add_test(tc, failed_fetch_leaves_the_store_as_it_was);
    tcase_add_test(tc, cut_off_server_restores_a_snapshot_from_a_copy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(apply_suite());
}
