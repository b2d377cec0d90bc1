/*
 * snapshot.h - catching a cluster member up from a snapshot.
 *
 * artstore's Raft snapshot is small: the Raft index it covers and the
 * members the snapshotting node knew (their client endpoints). The state
 * itself is the LMDB store, which records the index it applied (meta
 * raft_applied) in the transaction of the writes. A node whose store
 * holds less than a snapshot it must restore (it joined after the log
 * was truncated behind snapshots, or its data directory was wiped) takes
 * a copy of a member's store instead, and Raft goes on from the copy's
 * index: the entries at or below it are skipped on apply (apply.h).
 *
 * The copy travels beside Raft, never through it (libraft reads a
 * snapshot file whole into memory), over the members' client endpoints
 * (ClusterSnapshot, authenticated with the cluster's write token like
 * ClusterAnnounce), in chunks of at most AS_SNAPSHOT_CHUNK bytes, so that
 * neither side holds more than a chunk or two in memory whatever the
 * store's size:
 *
 *   - the member asked (as_snapshot_source_read) makes one compacted hot
 *     copy of its store, the same LMDB copy a backup writes
 *     (as_store_backup), in DATA/snapshot-out, opens it and unlinks it at
 *     once: the copy lives as an open file, so a crash or restart frees
 *     its space. It serves chunks from it by offset, to any number of
 *     fetchers, until a newer copy replaces it or the fetcher lets it go.
 *   - the node that needs it (as_snapshot_install) writes the chunks to
 *     DATA/snapshot-in/data.mdb.partial, checking each chunk's offset,
 *     length and checksum, flushes it, renames it to data.mdb, checks it
 *     as `artstored --check` does (verify.h) and that it holds the index
 *     needed, then puts it in place of the store (as_store_replace: one
 *     rename over data.mdb). A crash at any point leaves the old store or
 *     the new one, each whole; a partial download is never opened as the
 *     store, and the next try removes it.
 *
 * Threads: as_snapshot_install runs on the Raft thread (it blocks it for
 * the download; the node has nothing to apply meanwhile). A source is
 * shared by the service's workers (a lock inside).
 */
#ifndef AS_SNAPSHOT_H
#define AS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"
#include "status.h"
#include "store.h"

/* The most data one ClusterSnapshot answer carries. */
#define AS_SNAPSHOT_CHUNK (1u << 20)

/* The directories, inside the data directory, of a copy being served and
 * of a copy being received. */
#define AS_SNAPSHOT_OUT_DIR "snapshot-out"
#define AS_SNAPSHOT_IN_DIR "snapshot-in"

/* ------------------------------------------------------------ format */

/*
 * Packs the Raft snapshot of index with the members (may be NULL): the 8
 * bytes "ASSNAP02" and a packed RaftSnapshot. *out is allocated with
 * alloc (raft_malloc for libraft), *len its size. Returns 0 or
 * RESOURCE_EXHAUSTED with st set.
 */
int as_snapshot_pack(uint64_t index,
                     const Artstore__V1__ClusterMembers *members,
                     void *(*alloc)(size_t), void **out, size_t *len,
                     as_status_t *st);

/*
 * Reads a Raft snapshot written by as_snapshot_pack, or the 16 bytes
 * "ASSNAP01" and the index (u64 BE) of earlier versions (no members).
 * *out is freed with artstore__v1__raft_snapshot__free_unpacked(*out,
 * NULL). Returns 0, or INVALID_ARGUMENT (not artstore's) with st set.
 */
int as_snapshot_parse(const void *data, size_t len,
                      Artstore__V1__RaftSnapshot **out, as_status_t *st);

/* ------------------------------------------------------------ serving */

typedef struct as_snapshot_source as_snapshot_source_t;

/*
 * Creates the source of copies of store s, whose data directory is
 * data_dir, and removes what a crash left in DATA/snapshot-out. Returns 0
 * or RESOURCE_EXHAUSTED with st set.
 */
int as_snapshot_source_new(as_store_t *s, const char *data_dir,
                           as_snapshot_source_t **out, as_status_t *st);

/* Closes the copy in hand (its space is freed) and frees src. Accepts
 * NULL. */
void as_snapshot_source_free(as_snapshot_source_t *src);

/* One chunk of a copy. */
typedef struct as_snapshot_chunk {
    uint64_t copy_id;
    uint64_t size;               /* of the whole copy */
    uint64_t applied;            /* the Raft index the copy holds */
    uint64_t offset;
    void *data;                  /* len bytes, malloc'ed: free() */
    size_t len;
    uint64_t checksum;           /* XXH3-64 of data */
} as_snapshot_chunk_t;

/*
 * Answers one ClusterSnapshot request. copy_id 0: the copy in hand when it
 * holds min_index, else a new one (its making takes as long as a backup);
 * then the chunk at offset of copy copy_id, at most max bytes (0 or more
 * than AS_SNAPSHOT_CHUNK: AS_SNAPSHOT_CHUNK). offset = size: the fetcher
 * is done and the copy is let go (an empty chunk). Returns 0 with *out
 * set, or FAILED_PRECONDITION (this store has not applied min_index yet),
 * NOT_FOUND (copy_id is no longer served: start again), OUT_OF_RANGE
 * (offset past the end), RESOURCE_EXHAUSTED / INTERNAL (the copy could not
 * be made or read) with st set.
 */
int as_snapshot_source_read(as_snapshot_source_t *src, uint64_t min_index,
                            uint64_t copy_id, uint64_t offset, size_t max,
                            as_snapshot_chunk_t *out, as_status_t *st);

/* ------------------------------------------------------------ receiving */

typedef struct as_snapshot_fetch_opts {
    const char *data_dir;        /* this node's */
    const char *token;           /* presented to the members (NULL: none) */
    const char *const *endpoints;   /* members' client endpoints, in the
                                       order to try them */
    size_t n_endpoints;
    uint64_t min_index;          /* the copy must hold this Raft index */
    int prepare_ms;              /* wait for a member to make its copy
                                    (the first answer); 0: 10 minutes */
    int chunk_ms;                /* wait for each further chunk; 0: 60 s */
    int64_t deadline_ms;         /* stop trying members (Unix ms; a
                                    download under way goes on); 0: in a
                                    minute */
    size_t chunk;                /* bytes asked per call; 0: the most */
} as_snapshot_fetch_opts_t;

/*
 * Downloads a copy holding at least o->min_index from the first member
 * that has one (trying each in turn, again while the deadline allows; a
 * member that does not answer a Ping within 2 s is passed over) to
 * DATA/snapshot-in/data.mdb and checks it (verify.h: no problem; the
 * index it holds). file gets its path. Returns 0, or the last member's
 * refusal / UNAVAILABLE / DATA_LOSS (the copy failed its check) /
 * RESOURCE_EXHAUSTED (disk full) with st set; nothing is left behind on
 * failure.
 */
int as_snapshot_fetch(const as_snapshot_fetch_opts_t *o, char *file,
                      size_t file_len, as_status_t *st);

/* Removes what an interrupted download left in DATA/snapshot-in (call
 * at start, before Raft can ask for a copy). */
void as_snapshot_remove_partial(const char *data_dir);

/*
 * Brings store s (its data directory o->data_dir) to at least
 * o->min_index: as_snapshot_fetch, then as_store_replace, then removes
 * DATA/snapshot-in. Call on the thread that writes the store. Returns 0,
 * or the code of either step with st set (the store is unchanged).
 */
int as_snapshot_install(as_store_t *s, const as_snapshot_fetch_opts_t *o,
                        as_status_t *st);

#endif
