/*
 * cluster.h - a replicated artstored: the Raft instance (libraft) in front
 * of the store.
 *
 * With cluster flags (--node-id, --raft, --cluster) every write request
 * becomes one Raft command entry (apply.h) instead of a writer job. The
 * leader proposes it; once a majority has it on disk it is committed, and
 * every node applies committed entries in log order to its own LMDB. The
 * request is answered by the leader after the entry is applied there, with
 * the outcome of its items on that node (the same on every node).
 *
 * The Raft log is the write-ahead log (as wal.h is for one node): entries
 * are applied into LMDB's deferred transaction and the overlay, and LMDB
 * commits (synced) every --commit-interval, sooner when the overlay holds
 * --overlay-max or a snapshot read asks (apply.h, writer.h). So once a
 * write is acknowledged, Get by id or URL on the answering node returns
 * it; Query, ListTags, Changes and the feed see it at the next LMDB
 * commit, which a snapshot read asks for: the contract of one node.
 *
 * A write sent to a follower is answered UNAVAILABLE with a message that
 * ends in "leader: ENDPOINT" (the leader's client endpoint), which the
 * client library follows. While no leader is known (an election) a write
 * waits, up to its deadline, then fails UNAVAILABLE. A write whose entry is
 * not committed by its deadline (the leader lost its majority) is answered
 * UNAVAILABLE "may still be applied": puts are idempotent, so a retry is
 * safe.
 *
 * Nodes learn each other's client endpoints through the log: a leader
 * writes its own Raft address, listen and feed endpoints in an entry, and
 * a follower sends its own to the leader (ClusterAnnounce, from a small
 * announcer thread), which writes them (meta cluster_members on every
 * node).
 *
 * Retention: about once a second the leader works out how far the
 * changelog is past retention (as_feed_trim_point, by its own clock) and
 * proposes a trim entry (at most TRIM_MAX changes); every node deletes the
 * same changes when it applies it, so change logs stay identical.
 *
 * Snapshots: a Raft snapshot holds only the index it covers and the
 * members' endpoints (snapshot.h); the store already holds the state,
 * with its applied index (meta raft_applied, written before the snapshot
 * is taken). Snapshots let libraft drop the log before the snapshot minus
 * `snapshot_trailing` entries, which bounds the log on disk. A node whose
 * store is behind the oldest entry still in the log (a new member, a
 * wiped data directory) is sent the leader's snapshot; restoring it, the
 * node fetches a copy of a member's store in chunks (ClusterSnapshot,
 * the leader first), checks it and puts it in place of its own, then
 * follows the log from the copy's index (see docs/OPERATIONS.md).
 *
 * Threads: one thread owns the struct raft and its libuv loop; every
 * raft_* call and every apply happens there. Other threads hand writes in
 * through as_cluster_submit (a locked queue and uv_async_send). A job's
 * done callback runs on the cluster thread. as_cluster_get_status may be
 * called from any thread.
 */
#ifndef AS_CLUSTER_H
#define AS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "store.h"
#include "writer.h"

typedef struct as_cluster as_cluster_t;

typedef struct as_cluster_opts {
    uint64_t node_id;            /* this node's id, > 0 */
    const char *raft;            /* this node's Raft address, HOST:PORT */
    const char *bootstrap;       /* "1=H:P,2=H:P,...": the initial voters,
                                    used only for a new Raft directory;
                                    NULL or "": join an existing cluster */
    const char *dir;             /* the Raft directory (created) */
    const char *data_dir;        /* the store's: a member's copy of the
                                    store is fetched into it (snapshot.h) */
    const char *listen;          /* this node's client endpoint */
    const char *feed;            /* this node's feed endpoint */
    unsigned election_timeout_ms;   /* 0: 1000 */
    unsigned heartbeat_ms;          /* 0: 100 */
    unsigned snapshot_threshold;    /* entries between snapshots; 0: 4096 */
    unsigned snapshot_trailing;     /* entries kept behind one; 0: 16384 */
    int no_sync;                 /* the store is MDB_NOSYNC: flush it
                                    before a snapshot */
    const char *token;           /* write token presented when announcing
                                    to the leader (NULL: none) */
    uint64_t retain_changes;     /* changelog retention, applied by the
                                    leader through the log; 0: none */
    uint64_t retain_hours;
} as_cluster_opts_t;

/*
 * Parses a --cluster list ("1=127.0.0.1:7410,2=127.0.0.2:7410") and checks
 * it: ids > 0 and distinct, addresses HOST:PORT, at most
 * AS_CLUSTER_MAX_NODES. Returns 0 or INVALID_ARGUMENT with st naming the
 * entry. n_out (may be NULL) gets the number of voters.
 */
#define AS_CLUSTER_MAX_NODES 16
int as_cluster_parse_list(const char *list, size_t *n_out, as_status_t *st);

/* Checks a HOST:PORT Raft address (numeric IPv4 host). 0 or
 * INVALID_ARGUMENT. */
int as_cluster_check_address(const char *addr, as_status_t *st);

/*
 * Starts the Raft instance of store s on its own thread: creates the Raft
 * directory, bootstraps it from opts->bootstrap when it is new, replays
 * the log and starts elections. After each apply that committed, the
 * writer's commit hook runs (w may be NULL). Returns 0 with *out set, or a
 * code with st set (INVALID_ARGUMENT for bad options, UNAVAILABLE when
 * the Raft address cannot be bound, INTERNAL).
 */
int as_cluster_start(as_store_t *s, as_writer_t *w,
                     const as_cluster_opts_t *opts, as_cluster_t **out,
                     as_status_t *st);

/*
 * Hands a write job in (any thread). Returns 0: job->done will be called
 * exactly once, on the cluster thread, with job->st and each item's
 * status and outcome set. Returns UNAVAILABLE (stopping) with st set, in
 * which case done is never called.
 */
int as_cluster_submit(as_cluster_t *c, as_write_job_t *job, as_status_t *st);

/*
 * Hands in the announcement of member m's endpoints (a ClusterAnnounce
 * request, any thread): the leader writes it to the log. job (no items)
 * is completed like a write's. Returns 0, or INVALID_ARGUMENT (bad
 * member) / UNAVAILABLE with st set, in which case done is never called.
 */
int as_cluster_announce(as_cluster_t *c, const Artstore__V1__ClusterMember *m,
                        as_write_job_t *job, as_status_t *st);

/*
 * Linearizable reads. as_cluster_read_barrier blocks the calling worker
 * (never the cluster thread) until this node holds every write committed
 * before the call began: on the leader, a Raft barrier entry is committed
 * (which proves it still leads) and everything before it is applied; on a
 * follower, the leader is asked for its read index (ClusterReadIndex,
 * answered by as_cluster_leader_read_index after such a barrier) and the
 * follower waits until it has applied that write entry. Applied means
 * published in the overlay (Get sees it); a snapshot read then asks for
 * the LMDB commit (as_writer_barrier, as_service_reader) before it begins,
 * so it sees it too. Bounded
 * by deadline_ms (Unix ms; 0: 10 s). Returns 0, or UNAVAILABLE (no
 * leader, no majority, the deadline passed) or the leader's refusal
 * (UNAUTHENTICATED...) with st set.
 */
int as_cluster_read_barrier(as_cluster_t *c, int64_t deadline_ms,
                            as_status_t *st);

/* On the leader: commits a barrier and sets *index to the last write
 * entry applied before it. UNAVAILABLE when this node does not lead or
 * the barrier fails. Blocks the calling worker, like the above. */
int as_cluster_leader_read_index(as_cluster_t *c, int64_t deadline_ms,
                                 uint64_t *index, as_status_t *st);

/*
 * Hands in a membership change (a ClusterChange request, any thread):
 * remove member id, or add it at Raft address raft as a voter or (non_voter)
 * a standby that follows the log without voting; a member already there
 * at that address gets the role. On the leader it goes through libraft
 * (raft_add, raft_assign, raft_remove); a follower answers UNAVAILABLE
 * naming the leader, like a write. job (no items) is completed once the
 * configuration is committed: ALREADY_EXISTS (id or address taken),
 * NOT_FOUND (remove of an unknown id), FAILED_PRECONDITION (another change
 * in progress), UNAVAILABLE. Returns 0, or INVALID_ARGUMENT / UNAVAILABLE
 * with st set, in which case done is never called.
 */
int as_cluster_change(as_cluster_t *c, uint64_t id, const char *raft,
                      int non_voter, int remove, as_write_job_t *job,
                      as_status_t *st);

/* Answers what it holds (UNAVAILABLE), closes the Raft instance, stops the
 * thread and frees c. Accepts NULL. */
void as_cluster_stop(as_cluster_t *c);

typedef struct as_cluster_node {
    uint64_t id;
    char raft[128];
    char listen[256];
    char role[16];               /* leader, follower, candidate, non-voter,
                                    unreachable, unknown */
    int voter;
    uint64_t match_index;        /* the leader's view; 0 elsewhere */
} as_cluster_node_t;

typedef struct as_cluster_status {
    uint64_t id;
    char role[16];
    uint64_t leader_id;          /* 0: none known */
    char leader_listen[256];     /* "" when not announced */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;      /* Raft's last applied on this node */
    uint64_t last_index;
    size_t n_nodes;
    as_cluster_node_t nodes[AS_CLUSTER_MAX_NODES];
} as_cluster_status_t;

/* Copies the latest status (refreshed by the cluster thread every few
 * tens of milliseconds). Any thread. */
void as_cluster_get_status(as_cluster_t *c, as_cluster_status_t *out);

#endif
