/*
 * overlay.h - acknowledged writes that LMDB has not committed yet.
 *
 * With the write-ahead log (wal.h) a write is acknowledged once its log
 * record is flushed, and LMDB commits only every --commit-interval. Until
 * that commit, readers' LMDB snapshots do not hold the write, so the
 * newest version of every article written since the last commit is kept
 * here, by id and by natural key (URL), where Get by id or URL finds it.
 * A delete leaves a tombstone. The changelog's tail is kept too: the
 * packed ChangeEvent of every seq written since the last commit, in seq
 * order, which Changes and the feed read after their snapshot's end
 * (store.h, as_store_changes_scan_latest), so that a watcher sees a write
 * once it is acknowledged. Query and ListTags read LMDB only and see the
 * write at the next commit.
 *
 * Entries go through three states. The writing thread stages them while it
 * applies a group (as_overlay_stage_*); a group that fails is rolled back
 * to a mark; once the group's log record is flushed the staged entries are
 * published (visible to readers). When LMDB commits, every published entry
 * is retired with the commit's epoch: a reader whose snapshot began before
 * that commit (its epoch is lower) still needs it, a later one reads LMDB.
 * Retired entries are freed once no open reader's epoch is below theirs.
 *
 * The byte limit is the caller's to enforce: the writer commits LMDB (which
 * retires and frees entries) before it applies a group that would go past
 * it, so writers wait and nothing is refused.
 *
 * Threads: staging, publishing and as_overlay_committed come from the one
 * writing thread; lookups from any thread (a read-write lock).
 */
#ifndef AS_OVERLAY_H
#define AS_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct as_overlay as_overlay_t;

/* Creates an empty overlay; NULL when out of memory. */
as_overlay_t *as_overlay_new(void);

/* Frees it and every entry. Accepts NULL. */
void as_overlay_free(as_overlay_t *ov);

/* Stages the new version of article id (its packed Article, val/len bytes,
 * copied), or a tombstone when val is NULL. Returns 0, or -1 when out of
 * memory. */
int as_overlay_stage_article(as_overlay_t *ov, uint64_t id, uint64_t rev,
                             const void *val, size_t len);

/* Stages natural key (key, len) -> id, or a tombstone when id is 0.
 * Returns 0 or -1. */
int as_overlay_stage_key(as_overlay_t *ov, const void *key, size_t len,
                         uint64_t id, uint64_t rev);

/* Stages the packed ChangeEvent of seq (val/len bytes, copied). A seq at
 * or below one staged or published before is not kept (returns 0): the
 * tail is in seq order, and only an exact import writes such seqs.
 * Returns 0 or -1 when out of memory. */
int as_overlay_stage_change(as_overlay_t *ov, uint64_t seq, const void *val,
                            size_t len);

/* The number of staged entries: a mark to roll back to. */
size_t as_overlay_mark(const as_overlay_t *ov);

/* Drops the entries staged after mark (a group that failed). */
void as_overlay_rollback(as_overlay_t *ov, size_t mark);

/* Makes every staged entry visible to lookups. */
void as_overlay_publish(as_overlay_t *ov);

/*
 * After an LMDB commit: starts the next epoch, retires every published
 * entry with it, and frees retired entries whose epoch is at or below
 * min_open (the lowest epoch of an open reader; UINT64_MAX when none).
 * Returns the new epoch.
 */
uint64_t as_overlay_committed(as_overlay_t *ov, uint64_t min_open);

/* The current epoch (the number of commits seen). A reader loads it before
 * its LMDB snapshot begins. */
uint64_t as_overlay_epoch(const as_overlay_t *ov);

/* Results of a lookup. */
enum { AS_OV_MISS = 0, AS_OV_FOUND = 1, AS_OV_GONE = 2 };

/*
 * Looks up article id for a reader of epoch `epoch`. AS_OV_FOUND: *out is
 * a malloc'ed copy of the packed article (*len bytes), the caller frees
 * it; AS_OV_GONE: deleted since the reader's snapshot; AS_OV_MISS: read
 * LMDB. Returns -1 when out of memory.
 */
int as_overlay_get(as_overlay_t *ov, uint64_t id, uint64_t epoch,
                   void **out, size_t *len);

/* Looks up natural key (key, len) the same way; *id on AS_OV_FOUND. */
int as_overlay_find_key(as_overlay_t *ov, const void *key, size_t len,
                        uint64_t epoch, uint64_t *id);

/* Called for each published change with seq > after, in seq order, with
 * its packed ChangeEvent; returns 0 to go on, nonzero to stop (returned). */
typedef int (*as_overlay_change_fn)(void *arg, uint64_t seq, const void *val,
                                    size_t len);

/*
 * Visits the published changes with after < seq <= upto, in seq order,
 * without holding the overlay's lock while fn runs. Only for a reader
 * whose snapshot is open (its epoch counted in as_overlay_committed's
 * min_open) and with after at or past its snapshot's last seq: every
 * change LMDB has not given that snapshot then stays in memory until the
 * reader ends. Returns 0 or what fn returned.
 */
int as_overlay_changes(as_overlay_t *ov, uint64_t after, uint64_t upto,
                       as_overlay_change_fn fn, void *arg);

/* The highest seq of a change ever published (0: none). */
uint64_t as_overlay_last_change(const as_overlay_t *ov);

/* Bytes held: staged, published and retired entries. */
size_t as_overlay_bytes(const as_overlay_t *ov);

#endif
