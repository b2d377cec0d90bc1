/*
 * store_story.h - the store's story tables: fingerprints, stories and their
 * indexes, written in the same transaction as the articles (store.c calls
 * in from put and delete). Internal to the store; readers use the layouts
 * below through store.h's raw handles.
 *
 * Sub-databases (all keys big-endian):
 *
 *   fingerprints  id -> fingerprint record (below)
 *   stories       story id -> story record (below)
 *   by_story      story id (DUPSORT, DUPFIXED) -> time_key ‖ id
 *   story_time    last_seen time_key ‖ story id -> (empty)
 *
 * Fingerprint record: version 1 | flags (1: a duplicate, 2: has a time) |
 * n_terms | 0 | n_shingles u32 | time_key u64 | story u64 |
 * AS_STORY_BINS × u16 signature | n_terms × u32 terms.
 *
 * Story record: version 1 | story_len u32 | packed artstore.v1.Story |
 * one u32 count per Story.sources entry | one per Story.tags entry: the
 * number of the story's articles with that source or tag.
 *
 * The lookup tables (LSH bands, key terms) live in memory and are rebuilt
 * from `fingerprints` at open and after any aborted write transaction
 * that changed them: a B-tree posting per band and term would scatter
 * ~40 page writes per article over each commit (docs/STORIES.md).
 *
 * Threads: every function here runs on the writing thread, except
 * as__story_record_parse which is pure.
 */
#ifndef AS_STORE_STORY_H
#define AS_STORE_STORY_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"
#include "status.h"
#include "store.h"
#include "story.h"

typedef struct as_story_state as_story_state_t;

/* Creates the state; loads the lookup tables from txn unless *stale (the
 * stored parameters differ from p: a rebuild is due). enabled 0: stories
 * are off (no tables; the stored parameters are cleared so that turning
 * them on rebuilds). Returns 0 or a code with st set. */
int as__story_open(as_store_t *s, MDB_txn *txn, const as_story_params_t *p,
                   int enabled, as_story_state_t **out, int *stale,
                   as_status_t *st);
void as__story_close(as_story_state_t *ss);

/* Reloads the lookup tables if an aborted transaction left them stale.
 * Called at the start of each write transaction. */
int as__story_txn_begin(as_wtxn_t *t, as_status_t *st);
/* Called when a write transaction is aborted after story changes. */
void as__story_txn_aborted(as_story_state_t *ss);

/*
 * Assigns (old == NULL) or keeps (an update: old's story and duplicate_of)
 * next's story_id and duplicate_of, and writes its fingerprint, story and
 * indexes. A new article that already has a story_id (an exact put) keeps
 * it and its duplicate_of. fp is next's fingerprint, or NULL to compute it here. Does
 * nothing when stories are off. Returns 0 or a code with st set (the
 * transaction is then broken).
 */
int as__story_put(as_wtxn_t *t, const Artstore__V1__Article *old,
                  Artstore__V1__Article *next, const as_story_fp_t *fp,
                  as_status_t *st);

/* Removes a deleted article from its story and the indexes. */
int as__story_delete(as_wtxn_t *t, const Artstore__V1__Article *old,
                     as_status_t *st);

/* Splits a story record: *story gets the packed Story. Returns 0, or -1
 * when the record is malformed. */
int as__story_record_parse(const void *rec, size_t len, as_bytes_t *story);

/* Nonzero when puts assign stories now: stories are on and not waiting
 * for a rebuild. */
int as__story_active(const as_story_state_t *ss);

/* Nonzero when the stored parameters differ (a rebuild is due). */
int as__story_outdated(const as_story_state_t *ss);

/* Memory held by the lookup tables, in bytes. */
size_t as__story_memory(const as_story_state_t *ss);
/* Postings in the term table. */
size_t as__story_postings(const as_story_state_t *ss);

#endif
