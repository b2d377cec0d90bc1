/*
 * store.h - the LMDB store: articles, their indexes and the changelog.
 *
 * One LMDB environment in the data directory holds these sub-databases:
 *
 *   articles   id (u64 BE)                  -> packed Article, compressed
 *                                              with zstd when that is
 *                                              smaller (codec.h)
 *   by_url     natural key (as_article_key) -> id (u64 BE)
 *   by_tag     tag (DUPSORT, DUPFIXED)      -> time (u64 BE) ‖ id (u64 BE)
 *   by_source  source (DUPSORT, DUPFIXED)   -> time ‖ id
 *   by_time    time ‖ id                    -> (empty)
 *   changes    seq (u64 BE)                 -> packed ChangeEvent
 *   meta       name                         -> value (schema_version,
 *                                              next_id, last_seq, tag_count;
 *                                              in a cluster raft_applied and
 *                                              cluster_members, see
 *                                              cluster.h)
 *   requests   request id (client's bytes)  -> seq ‖ id ‖ time_ms (u64 BE)
 *                                              ‖ outcome (1) ‖ hash (16)
 *   request_log seq (u64 BE)                -> request id, for expiry
 *
 * "time" is the article's published_at, or its ingested_at when it has
 * none, stored as the signed value with its top bit flipped so that byte
 * order is numeric order for negative times too (as_time_key).
 *
 * Every write is one change with the next, gap-free seq; an article's
 * revision is the seq of its last change. Every index is updated in the
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

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"
#include "status.h"

#define AS_SCHEMA_VERSION 1

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

/* The name a backup is written under until it is complete. */
#define AS_BACKUP_PARTIAL "data.mdb.partial"

/*
 * Checks a store directory before LMDB opens it: a data.mdb.partial left
 * there is an interrupted backup. Returns 0, or DATA_LOSS with st saying
 * so (the directory must not be used as a store).
 */
int as_store_check_partial(const char *dir, as_status_t *st);

/*
 * Checks, after mdb_env_open and before any transaction, that the LMDB
 * file at path (dir/data.mdb) is as long as its meta page says: a file cut short (a partial
 * copy, a full disk) would kill the process with SIGBUS at the first
 * access to a missing page. Returns 0, or DATA_LOSS with st naming both
 * sizes.
 */
int as_store_check_size(MDB_env *env, const char *path, as_status_t *st);

/* Returns the LMDB environment (for backups and offline checks). */
MDB_env *as_store_env(as_store_t *s);

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

/* Returns the current time in ms used for the transaction's events. */
int64_t as_store_txn_time_ms(const as_wtxn_t *t);

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

/* Fills *out from the open snapshot. Returns 0 or INTERNAL. */
int as_store_get_stats(as_reader_t *r, as_store_stats_t *out,
                       as_status_t *st);

/* Returns the last committed seq (no snapshot needed). */
uint64_t as_store_last_seq(as_store_t *s);

/* ------------------------------------------------------------ internal */

/* For modules that walk the indexes themselves (query, feed, check): the
 * open snapshot's transaction and the sub-database handles. */
enum as_dbi {
    AS_DBI_ARTICLES, AS_DBI_BY_URL, AS_DBI_BY_TAG, AS_DBI_BY_SOURCE,
    AS_DBI_BY_TIME, AS_DBI_CHANGES, AS_DBI_META, AS_DBI_REQUESTS,
    AS_DBI_REQUEST_LOG, AS_DBI_COUNT
};
MDB_txn *as__reader_txn(as_reader_t *r);
MDB_dbi as__store_dbi(as_store_t *s, enum as_dbi which);
as_store_t *as__reader_store(as_reader_t *r);
/* The write transaction's LMDB handle and store, for maintenance jobs
 * (changelog retention) that edit a sub-database directly. Taking the
 * handle marks the transaction as written, so it will be committed. */
MDB_txn *as__wtxn_txn(as_wtxn_t *t);
as_store_t *as__wtxn_store(as_wtxn_t *t);

/* Encodes v as 8 big-endian bytes. */
void as_u64_be(unsigned char out[8], uint64_t v);

/* Decodes 8 big-endian bytes. */
uint64_t as_be_u64(const unsigned char in[8]);

/* Maps a signed time to its order-preserving unsigned key. */
uint64_t as_time_key(int64_t t);

/* Inverse of as_time_key. */
int64_t as_time_from_key(uint64_t k);

#endif
