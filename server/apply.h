/*
 * apply.h - the replicated state machine of a cluster: Raft log entries
 * that carry writes, and their application to one node's store.
 *
 * Every change to a clustered store is one Raft command entry, a packed
 * artstore.v1.RaftEntry: the writes of one request (puts of articles the
 * leader has validated and prepared, deletes), or the announcement of a
 * member's endpoints. Each node applies committed entries in log order to
 * its own LMDB store with as_apply_entry. Applying is deterministic: it
 * reads no clock (the leader's time_ms is the transaction's time) and no
 * randomness, and the outcome of every item depends only on the store
 * before the entry, so every node ends with the same ids, revisions and
 * change seqs.
 *
 * The index of the entry is stored in the same LMDB transaction as its
 * writes (meta raft_applied), and an entry at or below that index is not
 * applied again, so a restarted node replays exactly what it had not
 * applied. An entry that changed nothing (every put unchanged, every
 * condition false) commits nothing and may be replayed, with the same
 * null effect.
 *
 * In a cluster the Raft log is the write-ahead log (as wal.h is for one
 * node): the FSM applies committed entries into the store's deferred
 * transaction (store.h, as_store_defer), publishes them in the overlay
 * (Get by id and URL, Changes and the feed see them at once) and commits
 * LMDB by the writer's policy (writer.h: every commit interval, sooner
 * when the overlay is full or a reader asks). raft_applied then covers
 * exactly what LMDB committed; a restart replays the Raft log after its
 * snapshot and skips what LMDB holds. A snapshot commits LMDB first, so
 * libraft drops log entries only behind a durable commit.
 *
 * Threads: as_apply_entry runs on the thread that owns the Raft instance
 * (cluster.c) or in a test; it is the store's only writer while it runs.
 */
#ifndef AS_APPLY_H
#define AS_APPLY_H

#include <raft.h>
#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"
#include "status.h"
#include "store.h"
#include "wal.h"
#include "writer.h"

/* Who proposed an entry: the node, its run (a number drawn when the
 * process started) and a sequence within the run. */
typedef struct as_entry_origin {
    uint64_t node;
    uint64_t run;
    uint64_t seq;
} as_entry_origin_t;

/* The outcome of applying one entry. */
typedef struct as_applied {
    as_entry_origin_t origin;
    uint64_t index;             /* the entry's Raft index */
    size_t n_parts;             /* requests in the entry: the i-th has
                                   origin.seq + i and parts[i] items */
    size_t *parts;              /* malloc'ed */
    int skipped;                /* index was already applied: no effect */
    size_t n;                   /* items (= the entry's writes) */
    as_status_t *st;            /* per item; malloc'ed */
    as_put_out_t *out;          /* per item; malloc'ed */
    int member;                 /* the entry announced a member */
} as_applied_t;

/*
 * Packs the write items of job (as the service prepared them) into a
 * RaftEntry stamped with time_ms and origin. *out is allocated with
 * alloc(size) (raft_malloc for raft_apply), *len its size. Returns 0, or
 * RESOURCE_EXHAUSTED with st set.
 */
int as_entry_pack_job(const as_write_job_t *job, int64_t time_ms,
                      const as_entry_origin_t *origin,
                      void *(*alloc)(size_t), void **out, size_t *len,
                      as_status_t *st);

/* Packs a changelog trim up to seq upto (retention, as the leader decided
 * it), as above. */
int as_entry_pack_trim(uint64_t upto, int64_t time_ms,
                       const as_entry_origin_t *origin,
                       void *(*alloc)(size_t), void **out, size_t *len,
                       as_status_t *st);

/* The size of item it's write (a RaftWrite) packed. */
size_t as_entry_write_size(const as_write_item_t *it);

/*
 * Packs item it's write (a RaftWrite) into out, which has
 * as_entry_write_size(it) bytes; returns that size. For a put,
 * out[*article_off..+*article_len) is the packed article (else both are
 * 0). A request worker packs its items so (item->wire), and
 * as_entry_pack_jobs then copies them into an entry as they are.
 */
size_t as_entry_write_pack(const as_write_item_t *it, uint8_t *out,
                           size_t *article_off, size_t *article_len);

/*
 * Packs the write items of n_jobs requests into one entry (the leader
 * merges the requests waiting for it; the write-ahead log's record of one
 * group commit, wal.h): job i is the request with origin seq
 * origin->seq + i, recorded in the entry's parts. Otherwise as
 * as_entry_pack_job.
 */
int as_entry_pack_jobs(as_write_job_t *const *jobs, size_t n_jobs,
                       int64_t time_ms, const as_entry_origin_t *origin,
                       void *(*alloc)(size_t), void **out, size_t *len,
                       as_status_t *st);

/* Packs an announcement of member m (id, raft, listen, feed), as above. */
int as_entry_pack_member(const Artstore__V1__ClusterMember *m,
                         int64_t time_ms, const as_entry_origin_t *origin,
                         void *(*alloc)(size_t), void **out, size_t *len,
                         as_status_t *st);

/*
 * Applies the entry (data, len) at Raft index `index` to s in one
 * transaction, with the entry's time, recording index as applied. *res
 * (freed with as_applied_free) gets each item's status and outcome. An
 * entry that does not decode is skipped on every node alike (logged).
 * Returns 0, or the store's code (INTERNAL, RESOURCE_EXHAUSTED) with st
 * set when the transaction failed: nothing was applied and the caller
 * must not go on to later entries.
 */
int as_apply_entry(as_store_t *s, uint64_t index, const void *data,
                   size_t len, as_applied_t *res, as_status_t *st);

/*
 * As as_apply_entry, into the store's deferred transaction (as_store_defer)
 * instead of a commit of its own: raft_applied and the writes reach LMDB
 * at the next as_store_commit; the writes are staged in the overlay, for
 * the caller to publish (as_store_publish) now that the log holds them.
 * An entry at or below the index applied so far (deferred included) is
 * skipped. On failure what was deferred before the entry is committed.
 */
int as_apply_entry_deferred(as_store_t *s, uint64_t index, const void *data,
                            size_t len, as_applied_t *res, as_status_t *st);

/*
 * Replays the write-ahead log of a single node at start: every whole
 * record after the store's wal_applied, applied in order exactly as the
 * writer applied it (the record holds the writes and the time they were
 * stamped with, so ids, revisions and seqs come out the same), then one
 * durable commit, after which the log starts again (as_wal_reset). A torn
 * last record is dropped (wal.h). *n gets the number of records replayed.
 * Run before the writer starts, on the thread that calls it. Returns 0, or
 * DATA_LOSS / INTERNAL / RESOURCE_EXHAUSTED with st set (the server must
 * not start: acknowledged writes would be missing).
 */
int as_apply_replay(as_store_t *s, as_wal_t *w, uint64_t *n, as_status_t *st);

/* Records index as applied even though nothing else is written (before a
 * Raft snapshot names it). Returns 0 or the store's code with st set. */
int as_apply_mark(as_store_t *s, uint64_t index, as_status_t *st);

/* Frees what as_apply_entry allocated in res. Accepts a zeroed res. */
void as_applied_free(as_applied_t *res);

/* Reads the announced members from the store (meta cluster_members).
 * *out is freed with artstore__v1__cluster_members__free_unpacked(*out,
 * NULL); it is an empty list when none were announced. Returns 0 or a code
 * with st set. */
int as_apply_members(as_store_t *s, Artstore__V1__ClusterMembers **out,
                     as_status_t *st);

/* ------------------------------------------------------------ the FSM */

/*
 * The libraft state machine over a store. apply: the entry at its index
 * (libraft's last_applied + 1: it advances last_applied after apply
 * returns), then the applied hook. With writer and defer set, through
 * the deferred transaction (as_apply_entry_deferred, published at once)
 * and LMDB commits by the writer's policy (as_fsm_commit_if_due after
 * each entry, and from the caller's timer); an entry that announces a
 * member is committed at once (members are read from LMDB); without room
 * to defer (as_store_can_defer) an entry is its own commit. Otherwise
 * as_apply_entry. A store failure returns RAFT_IOERR and libraft stops
 * applying until a later commit retries.
 * snapshot: commits what was deferred, records the index in the store
 * (as_apply_mark, flushed if no_sync) and returns artstore's small
 * snapshot (snapshot.h): the index and the members announced; the store
 * itself is the state. restore: commits what was deferred; succeeds when
 * the store has already applied the index the snapshot names (a restart
 * of this node); otherwise install (when set) brings the store there from
 * a member's copy, and restore fails if it could not (libraft's leader
 * sends its snapshot again later).
 */
typedef struct as_fsm {
    as_store_t *store;
    struct raft *raft;           /* the instance the FSM belongs to */
    int no_sync;                 /* flush the store before a snapshot */
    as_writer_t *writer;         /* commit policy and read barrier; NULL:
                                    every entry its own commit */
    int defer;                   /* set on the thread that applies, once
                                    it runs the loop (an LMDB write
                                    transaction stays on its thread) */
    uint64_t deferred;           /* the last index applied, deferred */
    int64_t pending_since;       /* when the oldest entry not yet
                                    committed was applied (0: none) */
    /* Called after each entry (on the raft thread); may be NULL. */
    void (*applied)(void *arg, const as_applied_t *res);
    /* Called by restore when the store has applied less than snapshot
     * covers (on the raft thread): returns 0 once the store holds it, or
     * a code with st set. NULL: restore fails. */
    int (*install)(void *arg, const Artstore__V1__RaftSnapshot *snapshot,
                   as_status_t *st);
    void *arg;
} as_fsm_t;

/* Fills fsm (version 1) to run on f, which must outlive it. */
void as_fsm_init(struct raft_fsm *fsm, as_fsm_t *f);

/* Commits LMDB (durably) if entries were deferred, and tells the writer
 * (as_writer_committed). Raft thread. */
void as_fsm_commit(as_fsm_t *f);

/* Commits if the writer's policy says so (as_writer_commit_wanted). Raft
 * thread, from its timer and when woken for a reader's barrier. */
void as_fsm_commit_if_due(as_fsm_t *f, int64_t now);

#endif
