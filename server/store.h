/*
 * store.h - the LMDB store: articles, their indexes and the changelog.
 *
 * One LMDB environment in the data directory holds these sub-databases:
 *
 *   articles   id (u64 BE)                  -> packed Article, compressed
 *                                              with zstd when that is
 *                                              smaller (codec.h); when
 *                                              longer than one leaf node
 *                                              holds, only its head
 *   article_tails id (u64 BE)               -> the rest of a split value
 *   by_url     natural key (as_article_key) -> id (u64 BE)
 *   by_tag     tag (DUPSORT, DUPFIXED)      -> time (u64 BE) ‖ id (u64 BE)
 *   tag_counts ~count (u64 BE) ‖ tag        -> (empty): one entry per
 *                                              distinct tag, ~count =
 *                                              UINT64_MAX - its postings,
 *                                              so most used comes first
 *   by_source  source (DUPSORT, DUPFIXED)   -> time ‖ id
 *   by_time    time ‖ id                    -> (empty)
 *   changes    seq (u64 BE)                 -> packed ChangeEvent
 *   meta       name                         -> value (schema_version,
 *                                              next_id, last_seq, tag_count,
 *                                              story_params; in a cluster
 *                                              raft_applied and
 *                                              cluster_members, see
 *                                              cluster.h)
 *   requests   request id (client's bytes)  -> seq ‖ id ‖ time_ms (u64 BE)
 *                                              ‖ outcome (1) ‖ hash (16)
 *   request_log seq (u64 BE)                -> request id, for expiry
 *   forms      't' or 's' ‖ folded tag or   -> the form it was first
 *              source key                      written in, while any
 *                                              article carries it
 *                                              (as_store_get_form)
 *
 * Display forms: tags and sources are matched on their folded keys (by_tag,
 * by_source, filters); each article keeps the forms it was written with
 * (Article.tag_forms, source_form) and `forms` the first one of each key,
 * for ListTags and stories. A store written before forms were kept gets
 * an empty `forms` at open: its articles show their keys (the forms were
 * not kept), and a key takes the form of the next article that writes it.
 *
 * and the story tables (store_story.h): fingerprints, stories, by_story,
 * story_time. Schema version 1 had no tag_counts: opening such a store
 * builds it from by_tag in one transaction and records version 2 (a
 * server from before refuses version 2 rather than let the index go
 * stale). A store written before the story tables has no story_params: its
 * stories are built by as_store_rebuild_stories (artstored does it at
 * start).
 *
 * "time" is the article's published_at, or its ingested_at when it has
 * none, stored as the signed value with its top bit flipped so that byte
 * order is numeric order for negative times too (as_time_key).
 *
 * Every write is one change with the next, gap-free seq; an article's
 * revision is the seq of its last change. The one exception is an exact
 * import (as_store_put_exact), which logs each article's change at the
 * revision it had in the store it came from: the changelog then has gaps
 * up to meta exact_seq, the last seq an exact put wrote. Every index is updated in the
 * same transaction as the article.
 *
 * Request ids: a write that carries a request id (an idempotency key the
 * client chose) records it in `requests`, in the transaction of the change
 * it made, with the revision it produced. A write that arrives again with
 * a recorded id is not run again: it is answered with what the first one
 * produced. Ids are kept AS_REQUEST_KEEP_MS after their write, and at most
 * AS_REQUEST_KEEP_COUNT of them (each write that records one expires up
 * to two of the oldest).
 *
 * Threads: writes happen on one thread at a time (the writer thread) through
 * as_store_write(). Reads use one as_reader_t per thread. A reader must not
 * be held across a blocking wait: the map can only grow while no reader is
 * open (readers take a shared lock that growth takes exclusively).
 *
 * Process: the data directory is locked (flock on LOCK) by one store at a
 * time; a second open fails. Not fork-safe (an LMDB environment must not
 * cross fork()).
 */
#ifndef AS_STORE_H
#define AS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"
#include "status.h"
#include "story.h"

#define AS_SCHEMA_VERSION 2

/* How long, and how many, request ids are remembered (see above). */
#define AS_REQUEST_KEEP_MS (3600 * 1000)
#define AS_REQUEST_KEEP_COUNT 1000000
/* The longest request id accepted. */
#define AS_REQUEST_ID_MAX 64

typedef struct as_store as_store_t;
typedef struct as_reader as_reader_t;
typedef struct as_wtxn as_wtxn_t;

typedef struct as_store_opts {
    const char *path;      /* data directory, created if missing */
    size_t map_size;       /* initial map size in bytes (0: 1 GiB) */
    size_t map_max;        /* growth stops here (0: no limit; = map_size:
                              no growth) */
    unsigned max_readers;  /* LMDB reader slots (0: 126) */
    int no_sync;           /* MDB_NOSYNC: commits are not flushed; call
                              as_store_sync() periodically */
    int compress_level;    /* zstd level for articles written (codec.h);
                              0: store them uncompressed. Reading handles
                              both forms whatever this is. */
    int no_stories;        /* no fingerprints, no stories (docs/STORIES.md) */
    const as_story_params_t *story_params; /* NULL: the defaults */
} as_store_opts_t;

typedef struct as_bytes {
    const void *data;
    size_t len;
} as_bytes_t;

typedef struct as_put_out {
    uint64_t id;
    int outcome;           /* ARTSTORE__V1__PUT_OUTCOME__PUT_* */
    uint64_t revision;
} as_put_out_t;

typedef struct as_store_stats {
    uint64_t articles;
    uint64_t tags;
    uint64_t last_seq;
    uint64_t oldest_seq;   /* oldest retained change, 0 when none */
    uint64_t next_id;
    uint64_t map_size;
    uint64_t map_used;
    uint64_t changes;      /* retained change events */
} as_store_stats_t;

/* ------------------------------------------------------------ lifecycle */

/*
 * Opens (creating if needed) the store in opts->path, clears stale reader
 * slots left by killed processes, and checks the schema version.
 * On success *out owns the store (as_store_close). Returns 0, or a code
 * with st set: UNAVAILABLE (directory locked by another server),
 * FAILED_PRECONDITION (unknown schema version), INTERNAL (LMDB error).
 */
int as_store_open(const as_store_opts_t *opts, as_store_t **out,
                  as_status_t *st);

/* Closes the store. Every reader must be freed first. Accepts NULL. */
void as_store_close(as_store_t *s);

/* Clears reader slots of dead processes; returns how many (or -1). */
int as_store_reader_check(as_store_t *s);

/* Flushes committed data to disk (only needed with no_sync). */
int as_store_sync(as_store_t *s);

/*
 * Turns err, an errno or LMDB code from writing `what` into data
 * directory dir, into a status: RESOURCE_EXHAUSTED "disk full" naming dir
 * and the bytes free on its file system for ENOSPC, EDQUOT, and EIO while
 * less than 64 MiB is free (LMDB reports a write cut short by a full file
 * system as EIO); INTERNAL "what: error" for anything else. Returns the
 * code. Every write path to disk reports its errors through it.
 */
int as_disk_error(const char *dir, int err, const char *what,
                  as_status_t *st);

/* The name a backup is written under until it is complete. */
#define AS_BACKUP_PARTIAL "data.mdb.partial"

/*
 * Checks a store directory before LMDB opens it: a data.mdb.partial left
 * there is an interrupted backup. Returns 0, or DATA_LOSS with st saying
 * so (the directory must not be used as a store).
 */
int as_store_check_partial(const char *dir, as_status_t *st);

/*
 * Writes a consistent hot copy of the environment into the existing, empty
 * directory dir (as data.mdb), compacted unless compact is 0, while writers
 * and readers go on. The copy runs in its own read transaction and holds
 * the map-growth lock shared, as readers do, so the map cannot grow (and
 * writes that need growth wait) until the copy ends. On success *bytes is
 * the size of the copy and *last_seq the seq of the last change it holds
 * (read back from the copy). The copy is written as data.mdb.partial,
 * flushed, read back and only then renamed to data.mdb, so a data.mdb in a
 * backup directory is always whole; on failure the partial file is
 * removed (a crash leaves it, and as_store_check_partial reports it).
 * Returns 0, or INTERNAL with st set.
 */
int as_store_backup(as_store_t *s, const char *dir, int compact,
                    uint64_t *bytes, uint64_t *last_seq, as_status_t *st);

/* What as_store_copy_info reads from a copy's meta. */
typedef struct as_store_copy_info {
    uint64_t schema_version;
    uint64_t last_seq;
    uint64_t applied;      /* raft_applied: the Raft index it holds */
} as_store_copy_info_t;

/*
 * Reads the meta counters of the LMDB file `file` (a copy, such as a
 * backup's data.mdb), opened read-only without a lock file, after checking
 * that it is as long as its meta page says. Returns 0, or DATA_LOSS (cut
 * short) / INTERNAL (not an LMDB file, no meta) with st set.
 */
int as_store_copy_info(const char *file, as_store_copy_info_t *out,
                       as_status_t *st);

/*
 * Replaces the whole store with the LMDB file `file` (a complete copy,
 * checked by the caller, on the data directory's file system), in place:
 * a cluster member whose store is behind the cluster's snapshot takes a
 * member's copy (snapshot.h). Commits deferred writes of this thread
 * first; waits until no reader has a snapshot open (as map growth does);
 * ends every reader's reset transaction (each begins a new one in the new
 * environment at its next as_reader_begin); closes the environment;
 * renames file over data.mdb (one atomic step: a crash leaves the old
 * store or the new one, each whole) and flushes the directory; opens the
 * environment again with the options it was opened with and reloads the
 * counters and the story lookup tables. Readers wait meanwhile.
 *
 * Call it on the thread that writes, with no write of another thread
 * possible (in a cluster, the Raft thread: nothing else writes). Returns
 * 0; FAILED_PRECONDITION when file's schema version is not this server's
 * or another thread holds deferred writes; INTERNAL when the rename
 * fails (the old store is opened again). A failure to open the new store
 * after the rename stops the process (abort): data.mdb is then the
 * checked copy, which a restart opens.
 */
int as_store_replace(as_store_t *s, const char *file, as_status_t *st);

/* ------------------------------------------------------------ writes */

/*
 * Runs fn(txn, arg) inside one write transaction and commits it durably
 * (unless no_sync); a transaction that wrote nothing is not committed. If the map fills up, the transaction is aborted, the
 * map grown and fn run again from the start, so fn must reset whatever it
 * records on each run. fn returns 0 to commit or a code to abort.
 * Returns 0 once committed; the code fn returned; RESOURCE_EXHAUSTED when
 * the map cannot grow further; INTERNAL on LMDB errors; st says which.
 */
typedef int (*as_store_write_fn)(as_wtxn_t *txn, void *arg);
int as_store_write(as_store_t *s, as_store_write_fn fn, void *arg,
                   as_status_t *st);

/*
 * Deferred commits: the log in front of LMDB (wal.h, apply.h).
 *
 * as_store_defer runs fn(txn, arg) in a nested transaction of one long
 * write transaction that stays open across calls, and does not commit it:
 * as_store_commit does, durably (unless no_sync), every --commit-interval.
 * The caller must already hold the writes in a flushed log (the
 * write-ahead log, or the Raft log) from which a restart replays what the
 * last durable commit does not hold. What a deferred write changes is
 * staged in the overlay (overlay.h); as_store_publish makes it visible to
 * as_store_get_latest, as_store_find_url_latest and (its change event)
 * as_store_changes_scan_latest, which the caller does once the log holds
 * it. Readers' snapshots (Query, ListTags) see it after the commit.
 *
 * If fn fails (returns a code or breaks the transaction), its nested
 * transaction is dropped, what came before it is committed durably, and
 * the code returned; a full map is grown and fn run again from the start.
 * An LMDB commit failure of deferred writes stops the process (abort):
 * they were acknowledged, and only a restart's replay of the log can
 * serve them again.
 *
 * Threads: one thread at a time defers and commits (the writer, or the
 * Raft thread); as_store_write on that thread commits the deferred
 * transaction first, on another thread it waits for LMDB's writer lock
 * until that commit. The overlay's lookups are safe from any thread.
 */
int as_store_defer(as_store_t *s, as_store_write_fn fn, void *arg,
                   as_status_t *st);

/* Commits the deferred transaction durably, if one is open, and retires
 * the overlay's published entries. Returns 0 (a failure aborts, above). */
int as_store_commit(as_store_t *s, as_status_t *st);

/* Returns nonzero when there is room to defer writes: 256 MiB free on the
 * data directory's file system, and a map that may grow without limit or,
 * with map_max, has 256 MiB and a quarter of what is used left. A
 * deferred transaction that fills the disk or the map could not commit
 * what was acknowledged; short of room, writes go through as_store_write,
 * which refuses what does not fit, naming the disk or the map. The free
 * space is read at most every 100 ms while more than twice that margin is
 * free, at every call below it. Called by the thread that defers. */
int as_store_can_defer(as_store_t *s);

/* Returns nonzero if deferred writes wait for as_store_commit. */
int as_store_deferred(as_store_t *s);

/* Makes the staged overlay entries visible (once their log is flushed). */
void as_store_publish(as_store_t *s);

/* The last seq acknowledged: the last committed one, or the last change
 * published in the overlay when that is newer (no snapshot needed). */
uint64_t as_store_acked_seq(as_store_t *s);

/* Bytes held by the overlay (staged, published, not yet freed). */
size_t as_store_overlay_bytes(as_store_t *s);

/* Records index as the last write-ahead log record applied (meta
 * wal_applied), written at the next commit. */
void as_store_txn_set_logged(as_wtxn_t *t, uint64_t index);

/* The last durably committed wal_applied (0: none). */
uint64_t as_store_logged_index(as_store_t *s);

/* A write's condition and its request id (see the top of this file). */
typedef struct as_write_cond {
    int has_expected;      /* expected is a condition */
    uint64_t expected;     /* 0: must not exist; N: current revision is N */
    as_bytes_t request_id; /* len 0: none */
} as_write_cond_t;

/*
 * Creates or updates the prepared article a (as_article_prepare), keyed by
 * its natural key. The rules, in this order:
 *   1. a request id already recorded is a resend: answered with the id,
 *      outcome and revision its first run produced, nothing written
 *      (INVALID_ARGUMENT if that id was recorded for other content);
 *   2. a condition that does not hold is FAILED_PRECONDITION, also when
 *      the content equals what is stored;
 *   3. identical content (same hash) is left as it is: PUT_UNCHANGED, no
 *      change logged;
 *   4. otherwise the change is written, with the request id if any.
 * Returns 0 with *out set; FAILED_PRECONDITION or INVALID_ARGUMENT
 * (nothing written); INTERNAL, or RESOURCE_EXHAUSTED when the map is full,
 * after which the transaction is broken (as_store_txn_broken).
 */
int as_store_put(as_wtxn_t *t, const Artstore__V1__Article *a,
                 const as_write_cond_t *cond, as_put_out_t *out,
                 as_status_t *st);

/* As as_store_put, with a's story fingerprint computed beforehand (on a
 * worker thread, as_story_fingerprint); NULL computes it here. The put
 * assigns the article's story_id and duplicate_of (store_story.h). */
int as_store_put_fp(as_wtxn_t *t, const Artstore__V1__Article *a,
                    const as_story_fp_t *fp, const as_write_cond_t *cond,
                    as_put_out_t *out, as_status_t *st);

/*
 * An article packed, and encoded for storage, on a request worker before
 * the writer takes it: the writer then adds only the fields it assigns
 * (id, revision, ingested_at, story_id, duplicate_of) as a packed suffix
 * (codec.h, AS_CODEC_SUFFIX) instead of packing and compressing the whole
 * article on its one thread. The bytes stay the caller's.
 */
typedef struct as_put_pre {
    const void *packed;    /* the prepared article, packed; it carries none
                              of the fields above */
    size_t packed_len;
    const void *enc;       /* what an encoder (as_store_encoder_new) made of
                              packed: packed itself, or compressed */
    size_t enc_len;
} as_put_pre_t;

/* Creates a codec that encodes articles as this store writes them (its
 * compression level), for as_put_pre_t on another thread: one per
 * thread, freed with as_codec_free. NULL when out of memory. */
struct as_codec *as_store_encoder_new(as_store_t *s);

/* As as_store_put_fp, with a (as it was prepared: id, revision,
 * ingested_at, story_id and duplicate_of absent) packed and encoded in
 * *pre (NULL: packed and encoded here). */
int as_store_put_pre(as_wtxn_t *t, const Artstore__V1__Article *a,
                     const as_story_fp_t *fp, const as_put_pre_t *pre,
                     const as_write_cond_t *cond, as_put_out_t *out,
                     as_status_t *st);

/*
 * Writes article a, prepared (as_article_prepare) but carrying the id,
 * revision and ingested_at it had in the store it was exported from (and
 * its story_id and duplicate_of, kept when stories are on here), as they
 * were: the migration of `artstore import --exact`. Its change is logged
 * at seq = revision; last_seq becomes the largest revision written and
 * next_id the id after a's. The rules, in this order:
 *   1. an article stored under a's id with the same revision, ingested_at
 *      and content is a resend: PUT_UNCHANGED, nothing written; with
 *      anything else ALREADY_EXISTS;
 *   2. the store must be empty or hold only exact puts (meta exact_seq is
 *      its last seq), else FAILED_PRECONDITION;
 *   3. a's id must be at least next_id (FAILED_PRECONDITION), its key
 *      (URL) and its revision (as a change seq) unused (ALREADY_EXISTS).
 * fp is a's fingerprint or NULL. Returns 0 with *out set (PUT_CREATED or
 * PUT_UNCHANGED), the codes above (nothing written), INVALID_ARGUMENT when
 * a lacks id, revision or ingested_at, or as as_store_put.
 */
int as_store_put_exact(as_wtxn_t *t, const Artstore__V1__Article *a,
                       const as_story_fp_t *fp, as_put_out_t *out,
                       as_status_t *st);

/* Returns nonzero when the stored stories were made with other parameters
 * (or by a version without stories) and must be rebuilt before writes. */
int as_store_stories_outdated(as_store_t *s);

/*
 * Recomputes every fingerprint and story from the articles, in id order,
 * REBUILD_BATCH articles per transaction, calling progress(arg, done,
 * total) after each; articles keep their revisions and no change is
 * logged. Run before serving (it takes the writing thread's place).
 * Returns 0, FAILED_PRECONDITION when stories are off, or as
 * as_store_write.
 */
typedef void (*as_store_progress_fn)(void *arg, uint64_t done,
                                     uint64_t total);
int as_store_rebuild_stories(as_store_t *s, as_store_progress_fn progress,
                             void *arg, as_status_t *st);

/* Finds story id in the open snapshot: *out is its packed Story (valid
 * until as_reader_end). Returns 0, NOT_FOUND, INTERNAL or DATA_LOSS. */
int as_store_get_story(as_reader_t *r, uint64_t id, as_bytes_t *out,
                       as_status_t *st);

/* Fills bytes[] with the size of the LMDB pages of the story tables in the
 * open snapshot: fingerprints, stories, by_story, story_time. Returns 0 or
 * INTERNAL. */
int as_store_story_sizes(as_reader_t *r, uint64_t bytes[4], as_status_t *st);

/* Bytes of memory held by the story lookup tables. */
size_t as_store_story_memory(as_store_t *s);
/* Postings in the story term table (bounded by time: docs/STORIES.md). */
size_t as_store_story_postings(as_store_t *s);

/*
 * Deletes the article with id (or, if id is 0, with canonical URL url),
 * removes its index entries and logs a change. *revision_out gets the seq.
 * A recorded request id is answered as in as_store_put. Returns 0,
 * NOT_FOUND, FAILED_PRECONDITION, or as as_store_put.
 */
int as_store_delete(as_wtxn_t *t, uint64_t id, const char *url,
                    const as_write_cond_t *cond, uint64_t *id_out,
                    uint64_t *revision_out, as_status_t *st);

/* Returns nonzero if an LMDB error broke the transaction (it will be
 * aborted and, for a full map, retried by as_store_write). */
int as_store_txn_broken(const as_wtxn_t *t);

/* Returns the seq of the last change written in the transaction so far. */
uint64_t as_store_txn_last_seq(const as_wtxn_t *t);

/* Replaces the transaction's time (by default the local clock when it
 * began) with ms: a cluster's apply uses the time the leader stamped into
 * the log entry, so that every node writes the same ingested_at and
 * commit_time_ms. Call it first in an as_store_write callback (each run). */
void as_store_txn_set_time_ms(as_wtxn_t *t, int64_t ms);

/* Records index as the last Raft log index applied (meta raft_applied),
 * written in this transaction's commit. Unless always is set it is only
 * written along with some other write: an entry that changed nothing may
 * be applied again after a restart, with the same (null) effect. */
void as_store_txn_set_applied(as_wtxn_t *t, uint64_t index, int always);

/* The raft_applied value the transaction read (or set). */
uint64_t as_store_txn_applied(const as_wtxn_t *t);

/* The last committed raft_applied (0 outside a cluster). */
uint64_t as_store_applied_index(as_store_t *s);

/* Reads the meta value name inside the write transaction; *out points into
 * the map until the transaction ends. Returns 0, NOT_FOUND or INTERNAL. */
int as_store_txn_get_meta(as_wtxn_t *t, const char *name, as_bytes_t *out,
                          as_status_t *st);

/* Writes the meta value name. Returns 0 or as as_store_put. */
int as_store_txn_put_meta(as_wtxn_t *t, const char *name, const void *data,
                          size_t len, as_status_t *st);

/* Reads the meta value name in the open snapshot (valid until
 * as_reader_end). Returns 0, NOT_FOUND or INTERNAL. */
int as_store_get_meta(as_reader_t *r, const char *name, as_bytes_t *out,
                      as_status_t *st);

/* ------------------------------------------------------------ reads */

/* Creates a read handle for the calling thread. Returns 0 or INTERNAL. */
int as_reader_create(as_store_t *s, as_reader_t **out, as_status_t *st);

/* Frees a read handle (it must not be open). Accepts NULL. */
void as_reader_free(as_reader_t *r);

/* Opens a snapshot for reading; pair with as_reader_end. Returns 0 or
 * INTERNAL. */
int as_reader_begin(as_reader_t *r, as_status_t *st);

/* Ends the snapshot; every as_bytes_t from it becomes invalid. */
void as_reader_end(as_reader_t *r);

/*
 * Finds article id in the open snapshot. *out is the packed Article,
 * valid until as_reader_end: it points into the map, or, when the article
 * is stored compressed, into the reader's own memory (several stay valid
 * at once). Returns 0, NOT_FOUND, INTERNAL, DATA_LOSS (a compressed value
 * that does not decompress) or RESOURCE_EXHAUSTED.
 */
int as_store_get_raw(as_reader_t *r, uint64_t id, as_bytes_t *out,
                     as_status_t *st);

/* Finds the id of the article whose canonical URL is url. Returns 0,
 * NOT_FOUND or INTERNAL. */
int as_store_find_url(as_reader_t *r, const char *url, uint64_t *id,
                      as_status_t *st);

/*
 * As as_store_get_raw and as_store_find_url, and they also see the
 * acknowledged writes that LMDB has not committed yet (the overlay): the
 * newest version of an article, or NOT_FOUND for one deleted since. An
 * article from the overlay is a copy valid until as_reader_end. Get by id
 * and by URL use these; a query's walk over the snapshot does not.
 */
int as_store_get_latest(as_reader_t *r, uint64_t id, as_bytes_t *out,
                        as_status_t *st);
int as_store_find_url_latest(as_reader_t *r, const char *url, uint64_t *id,
                             as_status_t *st);

/* Fills *out from the open snapshot. Returns 0 or INTERNAL. */
int as_store_get_stats(as_reader_t *r, as_store_stats_t *out,
                       as_status_t *st);

/* Returns the last committed seq (no snapshot needed). */
uint64_t as_store_last_seq(as_store_t *s);

/* Reads the snapshot's last committed seq (meta last_seq) into *seq.
 * Returns 0 or INTERNAL. */
int as_store_snapshot_seq(as_reader_t *r, uint64_t *seq, as_status_t *st);

/* Visitors return 0 to go on, AS_VISIT_STOP to stop (the walk then returns
 * 0), or an error code with st set, which the walk returns. */
#define AS_VISIT_STOP (-1)

/* ------------------------------------------------------------ postings */

/*
 * A position in the time-ordered indexes: the article's time key
 * (as_time_key) and its id, compared as one 128-bit number. by_tag and
 * by_source hold a posting list of positions per key; by_time holds every
 * article's position.
 */
typedef struct as_pos {
    uint64_t tk, id;
} as_pos_t;

/* Compares positions: <0, 0 or >0. */
static inline int as_pos_cmp(as_pos_t a, as_pos_t b)
{
    if (a.tk != b.tk)
        return a.tk < b.tk ? -1 : 1;
    if (a.id != b.id)
        return a.id < b.id ? -1 : 1;
    return 0;
}

/* Returns nonzero if a comes before b in a walk (desc: newest first). */
static inline int as_pos_before(as_pos_t a, as_pos_t b, int desc)
{
    int c = as_pos_cmp(a, b);

    return desc ? c > 0 : c < 0;
}

enum as_index { AS_INDEX_TAG, AS_INDEX_SOURCE, AS_INDEX_TIME };

/* An iterator over one posting list (or by_time) in the open snapshot of
 * a reader: it only moves forward in its walk's direction. */
typedef struct as_postings as_postings_t;

/*
 * Opens an iterator on the list of key in index which (by_tag, by_source;
 * key is ignored for AS_INDEX_TIME, which walks every article). A key with
 * no list gives an empty iterator (as_postings_known is 0). Valid until
 * as_postings_close, which must come before as_reader_end. Returns 0 or
 * INTERNAL / RESOURCE_EXHAUSTED with st set.
 */
int as_postings_open(as_reader_t *r, enum as_index which, const char *key,
                     as_postings_t **out, as_status_t *st);

/* The same on the articles of story `story` (by_story). */
int as_postings_open_story(as_reader_t *r, uint64_t story,
                           as_postings_t **out, as_status_t *st);

/* Closes the iterator. Accepts NULL. */
void as_postings_close(as_postings_t *p);

/* Returns nonzero if the key has a list (always, for by_time). */
int as_postings_known(const as_postings_t *p);

/* Returns the list's length (for by_time, the number of articles). */
uint64_t as_postings_count(const as_postings_t *p);

/*
 * Moves to the first position at or after target in the walk's direction
 * (desc: newest first) and sets *found and *head. A head already there is
 * kept; a target a few entries ahead is reached by steps, a farther one by
 * one seek. Returns 0 or INTERNAL / DATA_LOSS with st set.
 */
int as_postings_seek(as_postings_t *p, as_pos_t target, int desc, int *found,
                     as_pos_t *head, as_status_t *st);

/* Sets *found to whether position x is in the list (one exact probe). The
 * head is dropped: the next seek starts afresh. Returns 0 or INTERNAL. */
int as_postings_has(as_postings_t *p, as_pos_t x, int *found,
                    as_status_t *st);

/* Forgets the head, so that the next seek starts a new walk. */
void as_postings_rewind(as_postings_t *p);

/* The longest key of `forms` (a kind byte and a folded key): LMDB's. */
#define AS_FORM_KEY_MAX 511

/*
 * Finds the display form of a folded tag (kind 't') or source ('s') key of
 * len bytes in the open snapshot: the form it was first written in, kept
 * while any article carries it. *out is that form (valid until
 * as_reader_end), or the key itself when none is stored (written before
 * forms were kept, or written folded). Returns 0 or INTERNAL.
 */
int as_store_get_form(as_reader_t *r, char kind, const char *key,
                      size_t len, as_bytes_t *out, as_status_t *st);

/* Called for each distinct tag: its name (len bytes, not NUL-terminated,
 * valid until as_reader_end) and how many articles have it. */
typedef int (*as_tag_visit_fn)(void *arg, const char *name, size_t len,
                               uint64_t count, as_status_t *st);

/*
 * Walks the distinct tags of the open snapshot in byte order, from the
 * first one at or after `from` (from_len bytes; 0: the start) while they
 * begin with prefix (prefix_len bytes; 0: all). Returns 0 or the visitor's
 * code / INTERNAL with st set.
 */
int as_store_walk_tags(as_reader_t *r, const void *from, size_t from_len,
                       const void *prefix, size_t prefix_len,
                       as_tag_visit_fn fn, void *arg, as_status_t *st);

/*
 * Walks the distinct tags of the open snapshot in by-count order (most
 * articles first, ties in byte order of the name) through tag_counts,
 * starting after the entry (after_count, after) when has_after, else at
 * the most used tag. Reads only the entries it visits. Returns 0 or the
 * visitor's code / INTERNAL / DATA_LOSS with st set.
 */
int as_store_walk_tags_by_count(as_reader_t *r, int has_after,
                                uint64_t after_count, const void *after,
                                size_t after_len, as_tag_visit_fn fn,
                                void *arg, as_status_t *st);

/* ------------------------------------------------------------ stories */

/* Called for each story: its position in story_time (tk: the time key of
 * its last_seen, id: the story id) and its packed Story (valid until
 * as_reader_end). */
typedef int (*as_story_visit_fn)(void *arg, as_pos_t pos, as_bytes_t story,
                                 as_status_t *st);

/*
 * Walks the stories of the open snapshot, the most recently seen first,
 * from the first one before `before` (NULL: the newest), stopping at a
 * last_seen before since_tk (0: no bound). Returns 0 or fn's code /
 * INTERNAL / DATA_LOSS with st set.
 */
int as_store_walk_stories(as_reader_t *r, const as_pos_t *before,
                          uint64_t since_tk, as_story_visit_fn fn, void *arg,
                          as_status_t *st);

/* ------------------------------------------------------------ changelog */

/* Reads the open snapshot's oldest retained seq (0 when the log is empty)
 * and last committed seq. Returns 0 or INTERNAL. */
int as_store_changes_bounds(as_reader_t *r, uint64_t *oldest, uint64_t *last,
                            as_status_t *st);

/* Called for each change in seq order with its packed ChangeEvent (valid
 * until as_reader_end). */
typedef int (*as_change_visit_fn)(void *arg, uint64_t seq, as_bytes_t raw,
                                  as_status_t *st);

/* Visits the changes with seq > after in the open snapshot, in order,
 * until the log ends or fn stops. Returns 0 or fn's code / INTERNAL /
 * DATA_LOSS with st set. */
int as_store_changes_scan(as_reader_t *r, uint64_t after,
                          as_change_visit_fn fn, void *arg, as_status_t *st);

/*
 * As as_store_changes_bounds and as_store_changes_scan, and they also see
 * the changes of acknowledged writes that LMDB has not committed yet (the
 * overlay's tail, overlay.h): *last is the last acknowledged seq, and the
 * scan visits the changes with after < seq <= upto, the snapshot's first,
 * then the tail's (upto: a *last read before, so that a page never ends
 * past the bound it reports). Changes and the feed use these; retention
 * and the minute counts read the snapshot alone.
 */
int as_store_changes_bounds_latest(as_reader_t *r, uint64_t *oldest,
                                   uint64_t *last, as_status_t *st);
int as_store_changes_scan_latest(as_reader_t *r, uint64_t after, uint64_t upto,
                                 as_change_visit_fn fn, void *arg,
                                 as_status_t *st);

/* Returns nonzero if the change (seq, raw) is past retention. */
typedef int (*as_change_expired_fn)(void *arg, uint64_t seq, as_bytes_t raw);

/*
 * Deletes changes from the oldest on while expired says so, at most max of
 * them, inside write transaction t; *n gets how many. Returns 0, or
 * INTERNAL / RESOURCE_EXHAUSTED (full map: as_store_write grows it and
 * runs the transaction again) with st set.
 */
int as_store_changes_trim(as_wtxn_t *t, as_change_expired_fn expired,
                          void *arg, size_t max, size_t *n, as_status_t *st);

/* Maps a signed time to its order-preserving unsigned key. */
uint64_t as_time_key(int64_t t);

#endif
