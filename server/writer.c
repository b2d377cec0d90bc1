/*
 * writer.c - the writer thread: group commit.
 */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "clock.h"
#include "log.h"

const double as_writer_bucket_bounds[AS_WRITER_BUCKETS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
};

struct as_writer {
    as_store_t *store;
    as_writer_opts_t opts;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    as_write_job_t *head, *tail;
    size_t queued;
    int stopping;
    as_commit_hook_fn hook;
    void *hook_arg;
    as_maint_hook_fn maint;
    void *maint_arg;
    as_writer_stats_t stats;         /* under lock */
    /* With a log (the writer thread's): the next record's index and when
     * the oldest write not yet committed to LMDB was applied (0: none). */
    uint64_t next_index;
    int64_t pending_since;
    /* The read barrier (as_writer_barrier): the last record whose jobs
     * were completed, the last one LMDB has committed, a reader's request
     * for a commit (under lock) and where readers wait for it. */
    _Atomic uint64_t acked_index;
    _Atomic uint64_t committed_index;
    int commit_asked;
    pthread_cond_t committed_cond;
    /* Another thread defers (as_writer_defer_elsewhere): how to wake it. */
    void (*ask)(void *arg);
    void *ask_arg;
};

/* One group of jobs being applied in one transaction. */
typedef struct batch {
    as_write_job_t **jobs;
    size_t n;
    size_t items;           /* the items of its jobs */
    as_status_t st;         /* why the transaction broke (for the log) */
} batch_t;

/* Applies one item inside t; returns nonzero only if the transaction is
 * broken (the item's own refusal is recorded in item->st). */
static int apply_item(as_wtxn_t *t, as_write_item_t *it)
{
    int rc;

    as_status_ok(&it->st);
    memset(&it->out, 0, sizeof(it->out));
    if (it->op == AS_WRITE_PUT)
        rc = as_store_put_pre(t, it->article, it->fp, it->pre, &it->cond,
                              &it->out, &it->st);
    else if (it->op == AS_WRITE_EXACT)
        rc = as_store_put_exact(t, it->article, it->fp, &it->out, &it->st);
    else
        rc = as_store_delete(t, it->id, it->url, &it->cond, &it->out.id,
                             &it->out.revision, &it->st);
    return rc != 0 && as_store_txn_broken(t) ? rc : 0;
}

/* as_store_write callback: every item of every job of the batch. */
static int apply_batch(as_wtxn_t *t, void *arg)
{
    batch_t *b = arg;
    size_t i, j;
    int rc;

    for (i = 0; i < b->n; i++) {
        as_write_job_t *job = b->jobs[i];

        for (j = 0; j < job->n; j++) {
            if (job->items[j].prefailed)
                continue;
            if ((rc = apply_item(t, &job->items[j])) != 0) {
                b->st = job->items[j].st;
                return rc;
            }
        }
    }
    return 0;
}

/* as_store_write callback: a single item. */
static int apply_one(as_wtxn_t *t, void *arg)
{
    return apply_item(t, arg);
}

/* Applies a batch in one transaction; if that fails, each item alone. */
static void run_batch(as_writer_t *w, batch_t *b)
{
    as_status_t st;
    size_t i, j;

    as_status_ok(&b->st);
    as_status_ok(&st);
    if (as_store_write(w->store, apply_batch, b, &st) == 0)
        return;
    /* An item's failure broke the transaction (its status says why), or
     * the commit itself failed (as_store_write's status does). */
    if (b->st.code != AS_CODE_OK)
        st = b->st;
    as_log_warn("group commit of %zu job(s) failed (%s: %s); retrying items "
                "one by one", b->n, as_code_str(st.code), st.msg);
    for (i = 0; i < b->n; i++) {
        as_write_job_t *job = b->jobs[i];

        for (j = 0; j < job->n; j++) {
            as_write_item_t *it = &job->items[j];

            if (it->prefailed)
                continue;
            /* A failed commit leaves the item's own status OK: the
             * transaction's status is then the item's. */
            if (as_store_write(w->store, apply_one, it, &st) != 0 &&
                it->st.code == AS_CODE_OK)
                it->st = st;
        }
    }
}

/* A group applied into the deferred transaction. */
typedef struct logged {
    batch_t *b;
    int64_t time_ms;
    uint64_t index;
} logged_t;

/* as_store_defer callback: the group, at its logged time and index. */
static int apply_logged(as_wtxn_t *t, void *arg)
{
    logged_t *l = arg;

    /* The time stamped in the record: a replay writes the same values. */
    as_store_txn_set_time_ms(t, l->time_ms);
    as_store_txn_set_logged(t, l->index);
    return apply_batch(t, l->b);
}

/* After an LMDB commit of the deferred writes: the log starts again, the
 * commit hook runs. */
static void committed(as_writer_t *w)
{
    as_wal_reset(w->opts.wal);
    w->pending_since = 0;
    as_writer_committed(w, w->next_index - 1);
}

/* Runs the commit hook with the last acknowledged seq. */
static void run_hook(as_writer_t *w)
{
    as_commit_hook_fn hook;
    void *hook_arg;

    pthread_mutex_lock(&w->lock);
    hook = w->hook;
    hook_arg = w->hook_arg;
    pthread_mutex_unlock(&w->lock);
    if (hook != NULL)
        hook(hook_arg, as_store_acked_seq(w->store));
}

void as_writer_committed(as_writer_t *w, uint64_t index)
{
    pthread_mutex_lock(&w->lock);
    w->stats.lmdb_commits++;
    if (w->commit_asked)
        w->stats.asked_commits++;
    if (index > atomic_load(&w->committed_index))
        atomic_store(&w->committed_index, index);
    w->commit_asked = 0;
    pthread_cond_broadcast(&w->committed_cond);
    pthread_mutex_unlock(&w->lock);
    run_hook(w);
}

void as_writer_acked(as_writer_t *w, uint64_t index)
{
    atomic_store(&w->acked_index, index);
    /* The feed publishes the writes while their replies go out. */
    run_hook(w);
}

int as_writer_overlay_full(as_writer_t *w)
{
    if (as_store_overlay_bytes(w->store) < w->opts.overlay_max_bytes)
        return 0;
    pthread_mutex_lock(&w->lock);
    w->stats.overlay_waits++;
    pthread_mutex_unlock(&w->lock);
    return 1;
}

int as_writer_commit_wanted(as_writer_t *w, int64_t pending_since,
                            int64_t now)
{
    int asked;

    if (pending_since == 0)
        return 0;
    pthread_mutex_lock(&w->lock);
    asked = w->commit_asked;
    pthread_mutex_unlock(&w->lock);
    return asked || now - pending_since >= w->opts.commit_interval_ms;
}

void as_writer_defer_elsewhere(as_writer_t *w, void (*ask)(void *arg),
                               void *arg, uint64_t index)
{
    pthread_mutex_lock(&w->lock);
    w->ask = ask;
    w->ask_arg = arg;
    atomic_store(&w->acked_index, index);
    atomic_store(&w->committed_index, index);
    pthread_mutex_unlock(&w->lock);
}

/* Commits the deferred writes to LMDB (durably), then as committed(). */
static void commit_now(as_writer_t *w)
{
    as_status_t st;

    if (w->pending_since == 0 && !as_store_deferred(w->store)) {
        as_store_commit(w->store, &st);     /* frees retired entries */
        return;
    }
    as_store_commit(w->store, &st);
    committed(w);
}

/*
 * The group through the log: its record appended, and flushed on the log's
 * flusher thread while the group is applied into the deferred transaction
 * (the record holds the group's input, its requests and its time, not what
 * applying them produced, so it can go first), or by the writer itself
 * after the apply for a group of at most AS_WRITER_INLINE_FLUSH_ITEMS
 * items; once both are done the
 * group's writes are published. Anything that keeps the group out of the
 * log sends it down the path without one (a durable commit of its own,
 * item by item if need be); a record whose group could not be applied is
 * erased first, so that no replay finds it.
 */
static void run_logged(as_writer_t *w, batch_t *b)
{
    as_entry_origin_t origin = { 0, 0, 0 };
    logged_t l = { b, as_clock_wall_ms(), w->next_index };
    as_status_t st;
    void *rec = NULL;
    size_t len = 0;
    int flushing, full = w->opts.sync_interval_ms == 0;

    as_status_ok(&b->st);
    if (as_writer_overlay_full(w))
        commit_now(w);
    if (!as_store_can_defer(w->store)) {
        commit_now(w);
        run_batch(w, b);
        return;
    }
    origin.seq = l.index;
    if (as_entry_pack_jobs(b->jobs, b->n, l.time_ms, &origin, malloc, &rec,
                           &len, &st) != 0) {
        as_log_warn("cannot log a group (%s); committing it directly",
                    st.msg);
        commit_now(w);
        run_batch(w, b);
        return;
    }
    if (as_wal_reserve(w->opts.wal, len, &st) != 0 ||
        as_wal_append(w->opts.wal, l.index, rec, len, &st) != 0) {
        /* A direct commit refuses the group, naming the disk. A record
         * cut short is a torn tail that no replay applies. */
        free(rec);
        commit_now(w);
        run_batch(w, b);
        return;
    }
    free(rec);
    /* A small group's apply is short: handing its flush to the flusher
     * thread and back cost more CPU and context switches than the overlap
     * saved (docs/PERFORMANCE.md), so the writer flushes it itself. */
    flushing = full && b->items > AS_WRITER_INLINE_FLUSH_ITEMS &&
               as_wal_sync_start(w->opts.wal, &st) == 0;
    /* Flushed after the apply: the record's write starts now, so that
     * the disk writes it meanwhile and the flush waits only for the
     * rest. */
    if (full && !flushing)
        as_wal_write_start(w->opts.wal);
    if (as_store_defer(w->store, apply_logged, &l, &st) != 0) {
        /* The store committed what came before the group, without it. */
        if (b->st.code != AS_CODE_OK)
            st = b->st;
        as_log_warn("deferred apply of %zu job(s) failed (%s: %s); retrying "
                    "them without the log", b->n, as_code_str(st.code),
                    st.msg);
        if (as_wal_drop_last(w->opts.wal, &st) != 0) {
            /* Applying the record again (a replay) would write what the
             * store does not hold: stop instead, and let a restart replay
             * the log. */
            as_log_error("write-ahead log: %s; stopping", st.msg);
            abort();
        }
        commit_now(w);
        run_batch(w, b);
        return;
    }
    if (w->pending_since == 0)
        w->pending_since = l.time_ms ? l.time_ms : 1;
    w->next_index++;
    if (full && (flushing ? as_wal_sync_wait(w->opts.wal, &st)
                          : as_wal_sync(w->opts.wal, &st)) != 0) {
        /* Durable all the same, through LMDB; its wal_applied covers the
         * record that never made it, and the log starts again after it. */
        as_log_warn("write-ahead log: %s; committing to LMDB instead",
                    st.msg);
        commit_now(w);
    }
    as_store_publish(w->store);
}

static void record_batch(as_writer_t *w, size_t items)
{
    size_t i;

    pthread_mutex_lock(&w->lock);
    w->stats.commits++;
    w->stats.items += items;
    for (i = 0; i < AS_WRITER_BUCKETS; i++)
        if ((double)items <= as_writer_bucket_bounds[i])
            break;
    w->stats.counts[i]++;
    pthread_mutex_unlock(&w->lock);
}

/* The writer thread's clocks between rounds. */
typedef struct rounds {
    int64_t last_sync, last_check, last_maint;
    int dirty;             /* written since the last as_store_sync */
} rounds_t;

/* Waits (with w->lock held) until a job is queued, the writer stops, or
 * deferred writes are due or asked for. Returns 0 when the writer stops
 * with nothing queued (the lock is then released), else 1. */
static int wait_for_work(as_writer_t *w)
{
    while (w->head == NULL && !w->stopping) {
        struct timespec ts;
        int64_t wait_ms = 1000, now = as_clock_wall_ms();

        /* Deferred writes wake the thread when their commit is due, or
         * when a reader asks for it. */
        if (w->commit_asked)
            break;
        if (w->pending_since != 0) {
            wait_ms = w->pending_since + w->opts.commit_interval_ms - now;
            if (wait_ms <= 0)
                break;
        }
        ts = as_clock_wall_ts(now + wait_ms);
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT)
            break;
    }
    if (w->head == NULL && w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return 0;
    }
    return 1;
}

/* Takes every waiting job into b, up to the item bound (at least one).
 * Called with w->lock held. */
static void take_jobs(as_writer_t *w, batch_t *b)
{
    size_t items = 0;

    while (w->head != NULL &&
           (b->n == 0 || items + w->head->n <= w->opts.max_batch_items)) {
        as_write_job_t *job = w->head;

        w->head = job->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->queued--;
        items += job->n;
        b->jobs[b->n++] = job;
        if (b->n == w->opts.max_batch_items)
            break;
    }
}

/* Answers the jobs of b whose deadline has passed, and keeps the rest. */
static void drop_expired(batch_t *b, int64_t now)
{
    size_t live = 0, i;

    for (i = 0; i < b->n; i++) {
        as_write_job_t *job = b->jobs[i];

        if (job->deadline_ms != 0 && now > job->deadline_ms) {
            as_status_set(&job->st, AS_CODE_DEADLINE_EXCEEDED,
                          "deadline passed %lld ms before the write could "
                          "start", (long long)(now - job->deadline_ms));
            job->done(job);
        } else {
            b->jobs[live++] = job;
        }
    }
    b->n = live;
}

/* Runs the jobs of b (through the log when there is one) and answers
 * them. */
static void run_and_answer(as_writer_t *w, batch_t *b)
{
    size_t items = 0, i;

    for (i = 0; i < b->n; i++)
        items += b->jobs[i]->n;
    b->items = items;
    if (w->opts.wal != NULL)
        run_logged(w, b);
    else
        run_batch(w, b);
    record_batch(w, items);
    /* Before the replies: a read that follows one must find its write
     * acknowledged (as_writer_barrier). */
    if (w->pending_since != 0)
        as_writer_acked(w, w->next_index - 1);
    else
        run_hook(w);
    for (i = 0; i < b->n; i++)
        b->jobs[i]->done(b->jobs[i]);
}

/* Commits deferred writes when they are due or asked for. The feed does
 * not wait for commits: it publishes acknowledged writes (feed.h). */
static void commit_if_due(as_writer_t *w, int64_t now)
{
    if (as_writer_commit_wanted(w, w->pending_since, now))
        commit_now(w);
}

/* The periodic work between rounds: --sync periodic flushes, maintenance
 * (retention, expiry) once a second, stale reader slots once a minute. */
static void housekeep(as_writer_t *w, rounds_t *r, int64_t now)
{
    if (r->dirty && w->opts.sync_interval_ms > 0 &&
        now - r->last_sync >= w->opts.sync_interval_ms) {
        as_status_t st;

        if (w->opts.wal != NULL && as_wal_sync(w->opts.wal, &st) != 0) {
            as_log_warn("write-ahead log: %s; committing to LMDB instead",
                        st.msg);
            commit_now(w);
        }
        as_store_sync(w->store);
        r->last_sync = now;
        r->dirty = 0;
    }
    if (w->maint != NULL && now - r->last_maint >= 1000) {
        w->maint(w->maint_arg);
        /* Maintenance that wrote (as_store_write) committed the deferred
         * writes before its own transaction. */
        if (w->pending_since != 0 && !as_store_deferred(w->store))
            committed(w);
        r->last_maint = now;
    }
    if (now - r->last_check >= 60000) {
        int dead = as_store_reader_check(w->store);

        if (dead > 0)
            as_log_info("cleared %d stale reader slot(s)", dead);
        r->last_check = now;
    }
}

static void *writer_main(void *arg)
{
    as_writer_t *w = arg;
    as_write_job_t **jobs;
    rounds_t r = { 0 };

    r.last_sync = r.last_check = r.last_maint = as_clock_wall_ms();
    jobs = malloc(sizeof(*jobs) * (w->opts.max_batch_items + 1));
    if (jobs == NULL) {
        as_log_error("writer: out of memory");
        abort();
    }
    for (;;) {
        batch_t b = { .jobs = jobs, .n = 0 };
        int64_t now;

        pthread_mutex_lock(&w->lock);
        if (!wait_for_work(w))
            break;
        take_jobs(w, &b);
        pthread_mutex_unlock(&w->lock);

        if (b.n > 0)
            drop_expired(&b, as_clock_wall_ms());
        if (b.n > 0) {
            run_and_answer(w, &b);
            r.dirty = 1;
        }
        now = as_clock_wall_ms();
        commit_if_due(w, now);
        housekeep(w, &r, now);
    }
    if (w->opts.wal != NULL)
        commit_now(w);
    if (r.dirty && w->opts.sync_interval_ms > 0)
        as_store_sync(w->store);
    free(jobs);
    return NULL;
}

int as_writer_start(as_store_t *s, const as_writer_opts_t *opts,
                    as_writer_t **out, as_status_t *st)
{
    as_writer_t *w = calloc(1, sizeof(*w));
    int rc;

    if (w == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    w->store = s;
    w->opts = *opts;
    if (w->opts.max_queue == 0)
        w->opts.max_queue = 10000;
    if (w->opts.max_batch_items == 0)
        w->opts.max_batch_items = 1024;
    if (w->opts.commit_interval_ms <= 0)
        w->opts.commit_interval_ms = AS_WRITER_COMMIT_INTERVAL_MS;
    if (w->opts.overlay_max_bytes == 0)
        w->opts.overlay_max_bytes = AS_WRITER_OVERLAY_MAX;
    /* The log was replayed and committed: records go on after it. */
    w->next_index = as_store_logged_index(s) + 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_cond_init(&w->committed_cond, NULL);
    atomic_store(&w->acked_index, w->next_index - 1);
    atomic_store(&w->committed_index, w->next_index - 1);
    if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
        pthread_cond_destroy(&w->committed_cond);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return as_status_set(st, AS_CODE_INTERNAL, "start writer: %s",
                             strerror(rc));
    }
    *out = w;
    return 0;
}

void as_writer_set_commit_hook(as_writer_t *w, as_commit_hook_fn fn, void *arg)
{
    pthread_mutex_lock(&w->lock);
    w->hook = fn;
    w->hook_arg = arg;
    pthread_mutex_unlock(&w->lock);
}

void as_writer_set_maint_hook(as_writer_t *w, as_maint_hook_fn fn, void *arg)
{
    pthread_mutex_lock(&w->lock);
    w->maint = fn;
    w->maint_arg = arg;
    pthread_mutex_unlock(&w->lock);
}

int as_writer_submit(as_writer_t *w, as_write_job_t *job, as_status_t *st)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return as_status_set(st, AS_CODE_UNAVAILABLE,
                             "server is shutting down");
    }
    if (w->queued >= w->opts.max_queue) {
        pthread_mutex_unlock(&w->lock);
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "write queue is full (max_queue=%zu); retry later",
                             w->opts.max_queue);
    }
    as_status_ok(&job->st);
    job->next = NULL;
    if (w->tail != NULL)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->queued++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void as_writer_stop(as_writer_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->committed_cond);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void as_writer_barrier(as_writer_t *w)
{
    uint64_t target;

    if (w == NULL)
        return;
    target = atomic_load(&w->acked_index);
    if (target <= atomic_load(&w->committed_index))
        return;
    pthread_mutex_lock(&w->lock);
    if (atomic_load(&w->committed_index) < target) {
        w->commit_asked = 1;
        pthread_cond_signal(&w->cond);
        /* The thread that defers commits (uv_async_send: any thread). */
        if (w->ask != NULL)
            w->ask(w->ask_arg);
    }
    /* The writer (or the thread that defers) commits before it stops, so
     * this wait ends. */
    while (atomic_load(&w->committed_index) < target)
        pthread_cond_wait(&w->committed_cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void as_writer_get_stats(as_writer_t *w, as_writer_stats_t *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    out->queued = w->queued;
    out->overlay_bytes = as_store_overlay_bytes(w->store);
    pthread_mutex_unlock(&w->lock);
}
