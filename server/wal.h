/*
 * wal.h - the write-ahead log of a single node: one file appended
 * sequentially and flushed once per group of writes.
 *
 * A durable LMDB commit writes a few dozen scattered pages and flushes
 * twice; an append to one file flushes once, in one place. So a write is
 * acknowledged once its record is in this log and the log is flushed, and
 * LMDB commits rarely (writer.h). The log holds only what LMDB has not
 * durably committed: after each durable LMDB commit it starts again from
 * its beginning (as_wal_reset), and on start the records after the index
 * LMDB recorded are replayed (apply.h, as_apply_replay).
 *
 * The file is <data>/wal.log. It is extended with zeros ahead of the
 * writes and reused from its start after each reset, so a flush writes
 * data into blocks that already exist and no file size changes (a data
 * flush only, no metadata).
 *
 * The file starts with a 32-byte header: "ASWALv01" and a random seed
 * (u64 BE) drawn when the file was made, then zeros. A record: "ASW1",
 * payload length (u32 BE), index (u64 BE), an XXH3-64 checksum (u64 BE,
 * seeded with the file's seed) of the rest of the header and the payload,
 * 8 zero bytes, then the payload and zeros up to a multiple of 8 bytes.
 * The seed keeps bytes inside an article from passing for a record. The indexes of
 * successive records are consecutive. Reading stops at the first record
 * that is not whole: a bad magic (zeros ahead of the writes), a length
 * past the end of the file, a checksum that does not match (a torn write,
 * a partial last record after a crash), or an index that does not follow
 * the one before (a record of an earlier round, left behind a reset). Such
 * a tail is dropped, never applied: it was never acknowledged, since a
 * record is acknowledged only after the flush that completed it.
 *
 * Threads: one thread uses a log (the writer's, or the start-up replay);
 * the log's own flusher thread only runs the fdatasync that thread asks
 * for (as_wal_sync_start).
 */
#ifndef AS_WAL_H
#define AS_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define AS_WAL_FILE "wal.log"
#define AS_WAL_HEADER 32

typedef struct as_wal as_wal_t;

/*
 * Opens (creating) dir/wal.log. Returns 0 with *out owning the log
 * (as_wal_close), or INTERNAL with st naming the file and the error.
 */
int as_wal_open(const char *dir, as_wal_t **out, as_status_t *st);

/* Closes the log. Accepts NULL. */
void as_wal_close(as_wal_t *w);

/* Called for each whole record in order; returns 0 to go on or a code
 * (with st set) that stops the scan. data is valid during the call. */
typedef int (*as_wal_visit_fn)(void *arg, uint64_t index, const void *data,
                               size_t len, as_status_t *st);

/*
 * Reads the log from its start and calls fn for every whole record whose
 * index is above `after`, stopping at the torn or stale tail. *last gets
 * the index of the last whole record (or `after` when there is none after
 * it). Records at or below `after` are skipped (LMDB has them). A record
 * above after + 1 with nothing before it is DATA_LOSS: acknowledged writes
 * are missing. Returns 0, fn's code, or INTERNAL / DATA_LOSS with st set.
 */
int as_wal_scan(as_wal_t *w, uint64_t after, as_wal_visit_fn fn, void *arg,
                uint64_t *last, as_status_t *st);

/* Makes room in the file for a record of len bytes after what was
 * appended (zeros written ahead), so that the append itself cannot find
 * the disk full. Returns 0, or RESOURCE_EXHAUSTED (disk full) / INTERNAL
 * with st set, worded by as_disk_error as every write path's. */
int as_wal_reserve(as_wal_t *w, size_t len, as_status_t *st);

/* Appends one record (not yet flushed). Returns 0 or INTERNAL with st set
 * (the file could not be written or extended: a full disk). */
int as_wal_append(as_wal_t *w, uint64_t index, const void *data, size_t len,
                  as_status_t *st);

/* Starts writing the last record appended to the disk without waiting
 * (sync_file_range), so that the as_wal_sync that follows, after other
 * work, has less to wait for. It makes nothing durable by itself. */
void as_wal_write_start(as_wal_t *w);

/* Flushes what was appended (fdatasync). Returns 0 or INTERNAL. */
int as_wal_sync(as_wal_t *w, as_status_t *st);

/* Starts a flush of what was appended (fdatasync) on the log's own
 * flusher thread and returns at once, so that the caller can work (apply
 * the group whose record it just appended) while the record reaches the
 * disk; as_wal_sync_wait waits for it. Returns 0, or INTERNAL when the
 * flusher cannot start (then flush with as_wal_sync). */
int as_wal_sync_start(as_wal_t *w, as_status_t *st);

/* Waits for the flush as_wal_sync_start began (at once when there is
 * none). Returns 0 or INTERNAL (the fdatasync failed) with st set. */
int as_wal_sync_wait(as_wal_t *w, as_status_t *st);

/* Erases the last record appended (its header overwritten with zeros,
 * flushed) and appends the next one in its place: for a record whose
 * writes could not be applied, which a replay must never find. Waits for
 * a flush in progress first. Returns 0 or INTERNAL with st set. */
int as_wal_drop_last(as_wal_t *w, as_status_t *st);

/* Starts the log again from the beginning of the file: call only after a
 * durable LMDB commit that holds every record appended so far. */
void as_wal_reset(as_wal_t *w);

/* Bytes appended since the last reset. */
uint64_t as_wal_size(const as_wal_t *w);

#endif
