/*
 * writer.h - the writer thread: group commit.
 *
 * LMDB has one writer at a time and a durable commit costs an fsync, so
 * every write goes through one thread that takes all the jobs waiting (up
 * to a bound), applies them in one transaction, commits once, and only
 * then completes each job. A job is one request: a put, a delete or a
 * batch of puts; each of its items gets its own status, so one invalid or
 * conflicting item never fails the others.
 *
 * If a batch fails as a whole (an LMDB error other than a full map, which
 * the store handles by growing), the writer retries its items one
 * transaction each, so the fault stays with the item that caused it.
 *
 * With a write-ahead log (opts.wal, wal.h) a group's writes are appended
 * to the log as one record, the log is flushed once, on the log's flusher
 * thread, while the group is applied into the store's deferred
 * transaction (store.h, as_store_defer), and the writer waits for that
 * flush; a group of at most AS_WRITER_INLINE_FLUSH_ITEMS items is flushed
 * by the writer itself after its apply (with sync_interval_ms, the record
 * is only written: flushed every that many ms); a record whose group
 * cannot be applied is erased before
 * the group is retried without the log. Then the group's writes are
 * published in the overlay (Get by id and URL, Changes
 * and the feed see them), the commit hook runs with the group's last seq,
 * and its jobs are completed. LMDB commits, durably, when the first
 * write not yet committed is commit_interval_ms old, when the overlay
 * holds overlay_max_bytes (the next group waits for that commit; nothing
 * is refused), before maintenance, and when the writer stops; after each
 * commit the log starts again and the commit hook runs. A group whose log
 * append fails is committed to LMDB at once instead (then it is durable
 * all the same). Without a log every group is its own durable commit.
 *
 * Threads: as_writer_submit may be called from any thread. A job's done
 * callback runs on the writer thread, after its writes are durable (in
 * the flushed log, or committed); the writer does not touch the job after
 * calling it.
 */
#ifndef AS_WRITER_H
#define AS_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "store.h"
#include "wal.h"

/* AS_WRITE_EXACT: a put of PutExact (as_store_put_exact). */
enum { AS_WRITE_PUT = 1, AS_WRITE_DELETE = 2, AS_WRITE_EXACT = 3 };

typedef struct as_write_item {
    int op;                          /* AS_WRITE_PUT, _DELETE or _EXACT */
    const Artstore__V1__Article *article; /* PUT, EXACT: prepared article */
    const as_story_fp_t *fp;         /* PUT, EXACT: its fingerprint, or NULL */
    const as_put_pre_t *pre;         /* PUT: the article packed and encoded
                                        on the worker (store.h), or NULL */
    const void *wire;                /* the item packed as a RaftWrite
                                        (as_entry_write_pack), or NULL */
    size_t wire_len;
    uint64_t id;                     /* DELETE: by id, or 0 and url */
    const char *url;                 /* DELETE: canonical URL */
    as_write_cond_t cond;            /* condition and request id */
    int prefailed;                   /* set with st by the caller: skip */
    as_status_t st;                  /* out: the item's status */
    as_put_out_t out;                /* out: id, outcome, revision */
} as_write_item_t;

typedef struct as_write_job {
    as_write_item_t *items;
    size_t n;
    int64_t deadline_ms;             /* 0: none; past it the job is not run */
    as_status_t st;                  /* out: failure of the job as a whole */
    void (*done)(struct as_write_job *job);
    void *arg;
    struct as_write_job *next;       /* queue link, owned by the writer */
} as_write_job_t;

typedef struct as_writer_opts {
    size_t max_queue;                /* jobs waiting (0: 10000) */
    size_t max_batch_items;          /* items per transaction (0: 1024) */
    int sync_interval_ms;            /* 0: flush every group (the log's, or
                                        LMDB's commit); else the period of
                                        the log's flushes (with a log) or
                                        of a no_sync store's */
    as_wal_t *wal;                   /* the write-ahead log, or NULL; the
                                        caller replays it first
                                        (as_apply_replay) and closes it
                                        after as_writer_stop */
    int commit_interval_ms;          /* with wal: LMDB commit period (0:
                                        AS_WRITER_COMMIT_INTERVAL_MS) */
    size_t overlay_max_bytes;        /* with wal: commit sooner at this
                                        (0: AS_WRITER_OVERLAY_MAX) */
} as_writer_opts_t;

#define AS_WRITER_COMMIT_INTERVAL_MS 100
/* Groups of at most this many items flush the log on the writer thread
 * (no hand-off); larger ones flush on the log's flusher thread while they
 * are applied. */
#define AS_WRITER_INLINE_FLUSH_ITEMS 8
#define AS_WRITER_OVERLAY_MAX ((size_t)64 << 20)

/* Called on the writer thread after each group is acknowledged (before
 * its jobs are completed) and after each LMDB commit, with the last
 * acknowledged seq (as_store_acked_seq). */
typedef void (*as_commit_hook_fn)(void *arg, uint64_t last_seq);

typedef struct as_writer as_writer_t;

/* Starts the writer thread for store s. Returns 0 or INTERNAL/
 * RESOURCE_EXHAUSTED with st set; on success *out owns the writer. */
int as_writer_start(as_store_t *s, const as_writer_opts_t *opts,
                    as_writer_t **out, as_status_t *st);

/* Sets the commit hook (before as_writer_start's caller submits
 * anything). */
void as_writer_set_commit_hook(as_writer_t *w, as_commit_hook_fn fn,
                               void *arg);

/* Called on the writer thread about once a second (between batches, and
 * when idle) for maintenance that must write, such as changelog retention:
 * it may call as_store_write, since it runs on the one writing thread. */
typedef void (*as_maint_hook_fn)(void *arg);

/*
 * Deferred writes made by another thread. In a cluster the Raft thread
 * applies committed entries into the store's deferred transaction itself
 * (the Raft log is the write-ahead log, apply.h); it commits LMDB by the
 * writer's policy and reports to the writer, so that the read barrier,
 * the commit hook (the feed) and the commit statistics work as with one
 * node. The functions below are called on that thread; the writer thread
 * itself defers nothing then (no opts.wal).
 *
 * as_writer_defer_elsewhere: from now on the deferring thread's indexes
 * (Raft's) count, starting at `index` (already committed); ask(arg) is
 * called, from any thread, when a reader asks for a commit
 * (as_writer_barrier): it must wake the deferring thread, which then finds
 * as_writer_commit_wanted true. Call it before that thread defers.
 */
void as_writer_defer_elsewhere(as_writer_t *w, void (*ask)(void *arg),
                               void *arg, uint64_t index);

/* Whether deferred writes pending since pending_since (0: none) should be
 * committed now: a reader asked for it, or the commit interval has
 * passed. Shared by the writer thread and a deferring thread. */
int as_writer_commit_wanted(as_writer_t *w, int64_t pending_since,
                            int64_t now);

/* Whether the overlay holds overlay_max_bytes: the caller commits LMDB
 * before it defers more (counted in overlay_waits). */
int as_writer_overlay_full(as_writer_t *w);

/* Writes up to index were applied, published in the overlay and are
 * about to be acknowledged: a read barrier after this waits for their
 * commit; the commit hook runs (the feed publishes them). */
void as_writer_acked(as_writer_t *w, uint64_t index);

/* LMDB committed (durably) everything up to index: wakes the read
 * barriers waiting for it, counts the commit and runs the commit hook. */
void as_writer_committed(as_writer_t *w, uint64_t index);

/* Sets the maintenance hook (before anything is submitted). */
void as_writer_set_maint_hook(as_writer_t *w, as_maint_hook_fn fn, void *arg);

/*
 * Queues job. Returns 0 (job->done will be called exactly once), or
 * RESOURCE_EXHAUSTED (queue full, names max_queue) / UNAVAILABLE (the
 * writer is stopping) with st set, in which case done is never called.
 */
int as_writer_submit(as_writer_t *w, as_write_job_t *job, as_status_t *st);

/* Runs every queued job, stops the thread and frees the writer. Accepts
 * NULL. */
void as_writer_stop(as_writer_t *w);

/*
 * The read barrier: returns once LMDB has committed every write
 * acknowledged through the log before the call (at once when there is
 * none), asking the writer for that commit instead of waiting for the
 * interval. A request that reads a snapshot (Query, ListTags, Stats,
 * stories, Backup) calls it before its snapshot begins, so a client that
 * reads after its acknowledged write sees it; Get and Changes read the
 * overlay instead. Must not be called on the writer thread or while holding a
 * snapshot. Accepts NULL.
 */
void as_writer_barrier(as_writer_t *w);

/* Batch-size histogram of the commits so far: counts[i] is the number of
 * commits with at most bounds[i] items (the last bucket is +Inf). */
#define AS_WRITER_BUCKETS 10
typedef struct as_writer_stats {
    uint64_t commits;
    uint64_t items;
    uint64_t counts[AS_WRITER_BUCKETS + 1];
    uint64_t queued;
    uint64_t lmdb_commits;           /* with a log: LMDB commits */
    uint64_t asked_commits;          /* of which a reader asked for
                                        (as_writer_barrier) */
    uint64_t overlay_bytes;          /* the overlay now (store.h) */
    uint64_t overlay_waits;          /* groups that waited for a commit
                                        because the overlay was full */
} as_writer_stats_t;
extern const double as_writer_bucket_bounds[AS_WRITER_BUCKETS];
void as_writer_get_stats(as_writer_t *w, as_writer_stats_t *out);

#endif
