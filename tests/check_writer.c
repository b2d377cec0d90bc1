/*
 * check_writer.c - the writer thread (server/writer.c) on a real store:
 * jobs complete once with their items' statuses, a job whose deadline
 * passed while it waited is answered DEADLINE_EXCEEDED and not run, a
 * group commit that fails as a whole is retried item by item so that the
 * good items are written, and a full queue refuses naming max_queue.
 *
 * The writer is held still with its commit hook (which runs on the writer
 * thread after each commit): the tests decide when it goes on, so nothing
 * depends on timing.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "article.h"
#include "check_main.h"
#include "clock.h"
#include "store.h"
#include "tempdir.h"
#include "wal.h"
#include "writer.h"

static char dir[64];
static as_store_t *store;
static as_wal_t *wal;          /* the writer's log, or NULL */
static as_writer_t *writer;
static as_arena_t *arena;

/* The commit hook's gate: while closed, the writer waits after a commit. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int gate_closed, writer_held, jobs_done;

static void hook(void *arg, uint64_t last_seq)
{
    (void)arg;
    (void)last_seq;
    pthread_mutex_lock(&lock);
    writer_held = 1;
    pthread_cond_broadcast(&cond);
    while (gate_closed)
        pthread_cond_wait(&cond, &lock);
    writer_held = 0;
    pthread_mutex_unlock(&lock);
}

static void job_done(as_write_job_t *job)
{
    (void)job;
    pthread_mutex_lock(&lock);
    jobs_done++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* Waits until n jobs are done. */
static void await_done(int n)
{
    pthread_mutex_lock(&lock);
    while (jobs_done < n)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void open_gate(void)
{
    pthread_mutex_lock(&lock);
    gate_closed = 0;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* Closes the gate and waits until the writer is held in the hook after
 * committing job (which must commit something). */
static void hold_writer_with(as_write_job_t *job)
{
    as_status_t st;

    pthread_mutex_lock(&lock);
    gate_closed = 1;
    pthread_mutex_unlock(&lock);
    ck_assert_int_eq(as_writer_submit(writer, job, &st), 0);
    pthread_mutex_lock(&lock);
    while (!writer_held)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

/* Starts a writer on a fresh store, through a write-ahead log when
 * with_wal. */
static void start_with(size_t max_queue, int with_wal)
{
    as_store_opts_t so;
    as_writer_opts_t wo;
    as_status_t st;

    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    memset(&so, 0, sizeof(so));
    so.path = dir;
    so.map_size = 16u << 20;
    so.no_sync = 1;
    ck_assert_msg(as_store_open(&so, &store, &st) == 0, "%s", st.msg);
    memset(&wo, 0, sizeof(wo));
    wo.max_queue = max_queue;
    wal = NULL;
    if (with_wal) {
        ck_assert_msg(as_wal_open(dir, &wal, &st) == 0, "%s", st.msg);
        wo.wal = wal;
    }
    ck_assert_msg(as_writer_start(store, &wo, &writer, &st) == 0, "%s",
                  st.msg);
    as_writer_set_commit_hook(writer, hook, NULL);
    arena = as_arena_create(16u << 20);
    ck_assert_ptr_nonnull(arena);
    gate_closed = writer_held = jobs_done = 0;
}

static void start(size_t max_queue)
{
    start_with(max_queue, 0);
}

static void stop(void)
{
    open_gate();
    as_writer_stop(writer);
    as_wal_close(wal);
    as_store_close(store);
    as_arena_destroy(arena);
    ck_assert_int_eq(ts_tempdir_remove(dir), 0);
}

/* A prepared article at url with one tag (tag_len bytes of 'x'). */
static Artstore__V1__Article *article(const char *url, size_t tag_len)
{
    Artstore__V1__Article *a = as_arena_alloc(arena, sizeof(*a));
    char **tags = as_arena_alloc(arena, sizeof(char *));
    as_limits_t lim = AS_LIMITS_DEFAULT;
    as_status_t st;

    ck_assert(a != NULL && tags != NULL);
    artstore__v1__article__init(a);
    tags[0] = as_arena_alloc(arena, tag_len + 1);
    ck_assert_ptr_nonnull(tags[0]);
    memset(tags[0], 'x', tag_len);
    tags[0][tag_len] = '\0';
    a->url = (char *)url;
    a->title = "title";
    a->body = "body";
    a->tags = tags;
    a->n_tags = 1;
    /* Tags far longer than a server allows, to make LMDB refuse one. */
    lim.max_tag_bytes = 4096;
    ck_assert_msg(as_article_prepare(a, arena, &lim, &st) == 0, "%s",
                  st.msg);
    return a;
}

/* A job of n put items in the arena. */
static as_write_job_t *job_of(size_t n)
{
    as_write_job_t *job = as_arena_alloc(arena, sizeof(*job));

    ck_assert_ptr_nonnull(job);
    memset(job, 0, sizeof(*job));
    job->items = as_arena_alloc(arena, n * sizeof(*job->items));
    ck_assert_ptr_nonnull(job->items);
    memset(job->items, 0, n * sizeof(*job->items));
    job->n = n;
    job->done = job_done;
    return job;
}

static void put_item(as_write_job_t *job, size_t i, const char *url,
                     size_t tag_len)
{
    job->items[i].op = AS_WRITE_PUT;
    job->items[i].article = article(url, tag_len);
}

/* A job of one put of url with a short tag (the usual size). */
static as_write_job_t *put_job(const char *url)
{
    as_write_job_t *job = job_of(1);

    put_item(job, 0, url, 3);
    return job;
}

/* Whether the store holds an article at url. */
static int stored(const char *url)
{
    as_reader_t *r;
    as_status_t st;
    uint64_t id;
    int rc;

    ck_assert_int_eq(as_reader_create(store, &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    rc = as_store_find_url(r, url, &id, &st);
    as_reader_end(r);
    as_reader_free(r);
    return rc == 0;
}

/* A job whose deadline passes while it waits in the queue is answered
 * DEADLINE_EXCEEDED, and nothing of it is written. */
START_TEST(deadline_passed_in_queue)
{
    as_write_job_t *first, *late;
    as_status_t st;
    int64_t t0;

    start(0);
    first = put_job("https://w.test/first");
    hold_writer_with(first);
    late = put_job("https://w.test/late");
    late->deadline_ms = as_clock_wall_ms() + 20;
    ck_assert_int_eq(as_writer_submit(writer, late, &st), 0);
    /* Let the deadline pass while the writer is held (bounded wait). */
    t0 = as_clock_wall_ms();
    while (as_clock_wall_ms() <= late->deadline_ms &&
           as_clock_wall_ms() - t0 < 5000)
        usleep(5000);
    open_gate();
    await_done(2);
    ck_assert_int_eq(first->st.code, AS_CODE_OK);
    ck_assert_int_eq(first->items[0].st.code, AS_CODE_OK);
    ck_assert_msg(late->st.code == AS_CODE_DEADLINE_EXCEEDED, "late job: %s",
                  as_code_str(late->st.code));
    ck_assert(stored("https://w.test/first"));
    ck_assert(!stored("https://w.test/late"));
    stop();
}
END_TEST

/* A job with a deadline still ahead is run. */
START_TEST(deadline_ahead_runs)
{
    as_write_job_t *job;
    as_status_t st;

    start(0);
    job = put_job("https://w.test/ahead");
    job->deadline_ms = as_clock_wall_ms() + 60000;
    ck_assert_int_eq(as_writer_submit(writer, job, &st), 0);
    await_done(1);
    ck_assert_int_eq(job->st.code, AS_CODE_OK);
    ck_assert(stored("https://w.test/ahead"));
    stop();
}
END_TEST

/* Starts a writer (through a write-ahead log when with_wal) and has it
 * take two jobs as one group, the first with an item LMDB refuses (a tag
 * too long for a key) between two good ones: the group fails as a whole
 * and is retried item by item, so that only the bad item fails. */
static void run_failing_group(int with_wal)
{
    as_write_job_t *hold, *a, *b;
    as_status_t st;

    start_with(0, with_wal);
    hold = put_job("https://w.test/hold");
    /* Held, so that a and b are taken together as one group. */
    hold_writer_with(hold);
    a = job_of(3);
    put_item(a, 0, "https://w.test/a0", 3);
    put_item(a, 1, "https://w.test/a1", 600);
    put_item(a, 2, "https://w.test/a2", 3);
    b = put_job("https://w.test/b0");
    ck_assert_int_eq(as_writer_submit(writer, a, &st), 0);
    ck_assert_int_eq(as_writer_submit(writer, b, &st), 0);
    open_gate();
    await_done(3);
    ck_assert_int_eq(a->st.code, AS_CODE_OK);
    ck_assert_int_eq(a->items[0].st.code, AS_CODE_OK);
    ck_assert_msg(a->items[1].st.code == AS_CODE_INTERNAL, "bad item: %s %s",
                  as_code_str(a->items[1].st.code), a->items[1].st.msg);
    ck_assert_int_eq(a->items[2].st.code, AS_CODE_OK);
    ck_assert_int_eq(b->items[0].st.code, AS_CODE_OK);
    ck_assert(stored("https://w.test/hold"));
    ck_assert(stored("https://w.test/a0"));
    ck_assert(!stored("https://w.test/a1"));
    ck_assert(stored("https://w.test/a2"));
    ck_assert(stored("https://w.test/b0"));
}

/* A group commit that fails as a whole is retried item by item. */
START_TEST(failed_group_commit_retried_per_item)
{
    run_failing_group(0);
    stop();
}
END_TEST

static int count_record(void *arg, uint64_t index, const void *data,
                        size_t len, as_status_t *st)
{
    (void)index;
    (void)data;
    (void)len;
    (void)st;
    (*(int *)arg)++;
    return 0;
}

/* Through the write-ahead log: the record of a group is written before
 * the group is applied; when applying it fails, the group is retried item
 * by item without the log, and its record is erased, so that a replay
 * (after a crash before the next LMDB commit) cannot apply it a second
 * time on top of the items' own commits. */
START_TEST(failed_logged_group_leaves_no_record)
{
    as_wal_t *scan;
    as_status_t st;
    uint64_t last;
    int records = 0;

    run_failing_group(1);
    /* What a restart now would replay: nothing after the last commit. */
    ck_assert_uint_eq(as_store_logged_index(store), 1);
    ck_assert_msg(as_wal_open(dir, &scan, &st) == 0, "%s", st.msg);
    ck_assert_msg(as_wal_scan(scan, as_store_logged_index(store),
                              count_record, &records, &last, &st) == 0,
                  "%s", st.msg);
    as_wal_close(scan);
    ck_assert_int_eq(records, 0);
    stop();
}
END_TEST

/* Items marked prefailed are skipped; the others are written. */
START_TEST(prefailed_items_skipped)
{
    as_write_job_t *job;
    as_status_t st;

    start(0);
    job = job_of(2);
    put_item(job, 0, "https://w.test/skip", 3);
    job->items[0].prefailed = 1;
    as_status_set(&job->items[0].st, AS_CODE_INVALID_ARGUMENT, "refused");
    put_item(job, 1, "https://w.test/keep", 3);
    ck_assert_int_eq(as_writer_submit(writer, job, &st), 0);
    await_done(1);
    ck_assert_int_eq(job->items[0].st.code, AS_CODE_INVALID_ARGUMENT);
    ck_assert_int_eq(job->items[1].st.code, AS_CODE_OK);
    ck_assert(!stored("https://w.test/skip"));
    ck_assert(stored("https://w.test/keep"));
    stop();
}
END_TEST

/* A full queue refuses with RESOURCE_EXHAUSTED naming max_queue. */
START_TEST(queue_full)
{
    as_write_job_t *hold, *q1, *q2;
    as_status_t st;

    start(1);
    hold = put_job("https://w.test/h");
    hold_writer_with(hold);
    q1 = put_job("https://w.test/q1");
    q2 = put_job("https://w.test/q2");
    ck_assert_int_eq(as_writer_submit(writer, q1, &st), 0);
    ck_assert_int_eq(as_writer_submit(writer, q2, &st),
                     AS_CODE_RESOURCE_EXHAUSTED);
    ck_assert_ptr_nonnull(strstr(st.msg, "max_queue=1"));
    open_gate();
    await_done(2);
    ck_assert(stored("https://w.test/q1"));
    stop();
}
END_TEST

AS_CHECK_MAIN("writer", 60, deadline_passed_in_queue, deadline_ahead_runs,
              failed_group_commit_retried_per_item,
              failed_logged_group_leaves_no_record, prefailed_items_skipped,
              queue_full)
