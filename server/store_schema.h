/*
 * store_schema.h - the store's LMDB schema, private to the store layer:
 * store.c, which owns the environment, and verify.c, the offline checker,
 * which reads the same sub-databases raw (and the store's own tests).
 * Nothing else includes lmdb.h; other modules use store.h.
 *
 * The layout of each sub-database is described in store.h.
 */
#ifndef AS_STORE_SCHEMA_H
#define AS_STORE_SCHEMA_H

#include <lmdb.h>

#include "codec.h"
#include "store.h"

enum as_dbi {
    AS_DBI_ARTICLES, AS_DBI_BY_URL, AS_DBI_BY_TAG, AS_DBI_BY_SOURCE,
    AS_DBI_BY_TIME, AS_DBI_CHANGES, AS_DBI_META, AS_DBI_REQUESTS,
    AS_DBI_REQUEST_LOG, AS_DBI_FINGERPRINTS, AS_DBI_STORIES, AS_DBI_BY_STORY,
    AS_DBI_STORY_TIME, AS_DBI_ARTICLE_TAILS, AS_DBI_TAG_COUNTS, AS_DBI_FORMS,
    AS_DBI_COUNT
};

/* The sub-databases: name and mdb_dbi_open flags, indexed by as_dbi. */
typedef struct as_dbi_def {
    const char *name;
    unsigned flags;
} as_dbi_def_t;
extern const as_dbi_def_t as_store_schema[AS_DBI_COUNT];

/* The keys of `meta` (values are u64 big-endian). */
#define AS_META_SCHEMA_VERSION "schema_version"
#define AS_META_NEXT_ID "next_id"
#define AS_META_LAST_SEQ "last_seq"
#define AS_META_TAG_COUNT "tag_count"
#define AS_META_RAFT_APPLIED "raft_applied"      /* in a cluster */
#define AS_META_WAL_APPLIED "wal_applied"        /* wal.h, one node */
#define AS_META_STORY_PARAMS "story_params"      /* store_story.h */
#define AS_META_STORY_NEWEST "story_newest"      /* store_story.c: a time key */
/* The last seq written by an exact put (PutExact); gaps in the changelog
 * up to it are the migration's, not a loss. */
#define AS_META_EXACT_SEQ "exact_seq"


/* A tag_counts key: (UINT64_MAX - count) big-endian, then the tag, so that
 * byte order is ListTags' by-count order (most used first, ties by name). */
#define AS_TAG_COUNT_KEY_MAX (8 + 503)

/* Reads meta key name as a u64 (0 when absent). Returns 0, an LMDB error,
 * or MDB_CORRUPTED when the value is not 8 bytes. */
int as__meta_get_u64(MDB_txn *txn, MDB_dbi meta, const char *name,
                     uint64_t *v);

/*
 * Checks, after mdb_env_open and before any transaction, that the LMDB
 * file at path (dir/data.mdb) is as long as its meta page says: a file cut
 * short (a partial copy, a full disk) would kill the process with SIGBUS at
 * the first access to a missing page. Returns 0, or DATA_LOSS with st
 * naming both sizes.
 */
int as_store_check_size(MDB_env *env, const char *path, as_status_t *st);

/*
 * Turns the value stored under an article's key in `articles` (head, as
 * read there) into the packed article: joins a split value with its tail
 * from `article_tails` (dbi tails) and decompresses, in codec c's memory
 * (until as_codec_reset). Returns 0, DATA_LOSS (a tail missing, a frame
 * damaged) or INTERNAL (an LMDB error), with st set.
 */
int as__article_unstore(MDB_txn *txn, MDB_dbi tails, as_codec_t *c,
                        const MDB_val *key, const MDB_val *head,
                        const void **out, size_t *out_n, as_status_t *st);

/* The index time key of an article: published_at, else ingested_at. */
uint64_t as__article_time_key(const Artstore__V1__Article *a);

/* mdb_put for keys that usually come in ascending order (new ids, seqs,
 * times): MDB_APPEND when the key is past the last one (full pages stay
 * full), an ordinary put otherwise. Returns mdb_put's code. */
int as__put_ascending(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *d,
                      unsigned flags);

/* For the store's tests: the open snapshot's transaction and the
 * sub-database handles. */
MDB_txn *as__reader_txn(as_reader_t *r);
MDB_env *as__store_env(as_store_t *s);
MDB_dbi as__store_dbi(as_store_t *s, enum as_dbi which);

/* For store_story.c, the story tables' half of the store: the write
 * transaction's LMDB handle (as__wtxn_txn marks it written, so it will be
 * committed; as__wtxn_raw does not) and store, and the error path of the
 * store's writes: records an LMDB error as INTERNAL (or RESOURCE_EXHAUSTED
 * for a full map), marks the transaction broken and returns the code (st
 * may be NULL). as__wtxn_get_article reads article id (decompressed,
 * unpacked: artstore__v1__article__free_unpacked(*out, NULL)) and
 * as__wtxn_put_article writes a (packed, compressed as configured); they
 * return 0, NOT_FOUND, DATA_LOSS or as as__wtxn_fail. */
MDB_txn *as__wtxn_txn(as_wtxn_t *t);
MDB_txn *as__wtxn_raw(as_wtxn_t *t);
as_store_t *as__wtxn_store(as_wtxn_t *t);
int as__wtxn_fail(as_wtxn_t *t, int mrc, const char *what, as_status_t *st);
int as__wtxn_get_article(as_wtxn_t *t, uint64_t id,
                         Artstore__V1__Article **out, as_status_t *st);
int as__wtxn_put_article(as_wtxn_t *t, const Artstore__V1__Article *a,
                         as_status_t *st);
struct as_story_state *as__store_story(as_store_t *s);

#endif
