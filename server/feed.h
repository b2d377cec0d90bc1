/*
 * feed.h - the change feed engine: a nanomsg PUB socket that publishes every
 * acknowledged ChangeEvent, reads of the changelog with a filter (what the
 * Changes method answers), parked long-polls and changelog retention. It
 * knows no RPC: service_changes.c decodes Changes and calls these.
 *
 * With the write-ahead log, a write is acknowledged before LMDB commits it,
 * and its event is published then, not at the commit: the feed and
 * Changes read the changelog with as_store_changes_scan_latest, which goes
 * on past the LMDB snapshot into the overlay's tail of acknowledged
 * changes (overlay.h). The seq order stays gap free, and Changes never
 * misses an event the feed has sent: the tail is published before the
 * writer calls the hook. The writer's commit hook (called once a group is
 * acknowledged, and after each LMDB commit) only records the newest seq
 * and signals; the feed's own thread reads the new events and publishes
 * them, so a slow feed never slows the writer. PUB drops messages
 * for slow subscribers silently: every frame carries its seq, and a
 * subscriber that sees a gap (or a heartbeat ahead of it) fills it from
 * the Changes RPC. The client library's watch does exactly that. The frame
 * format is proto/frame.h; a heartbeat is sent when nothing was published
 * for a second.
 *
 * Positions only: when the server wants tokens (--auth-token-file), PUB
 * cannot check one, so the feed carries nothing but position frames, sent
 * after each acknowledged group (one frame for all its events) and as the
 * heartbeat. A subscriber reads the events themselves with Changes, which
 * checks the token: one without a read token learns only sequence
 * numbers.
 *
 * Long-polls do not hold an RPC worker: a read that has nothing to return
 * yet is parked on the feed (as_feed_wait), which completes it from its
 * own thread when a matching event is acknowledged or the wait ends. No store
 * snapshot is held while waiting.
 *
 * Threads: as_feed_* may be called from any thread. Wait callbacks run on
 * the feed thread (or in as_feed_stop).
 */
#ifndef AS_FEED_H
#define AS_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"
#include "filter.h"
#include "status.h"
#include "store.h"
#include "writer.h"

#define AS_FEED_HEARTBEAT_MS 1000
#define AS_FEED_MAX_WAIT_MS 60000

typedef struct as_feed as_feed_t;

typedef struct as_feed_opts {
    const char *endpoint;      /* PUB endpoint to bind */
    /* A second endpoint of the same PUB socket for browsers, ws://HOST:PORT
     * (NULL or "": none). A browser's WebSocket asks for the subprotocol
     * pub.sp.nanomsg.org and gets each frame as one binary message. */
    const char *ws_endpoint;
    size_t max_waiters;        /* parked long-polls (limits.max_watches) */
    uint64_t retain_changes;   /* 0: no count limit */
    uint64_t retain_hours;     /* 0: no age limit */
    size_t max_reply_bytes;    /* events' bytes per Changes reply (0: none) */
    int positions_only;        /* publish position frames, never events */
} as_feed_opts_t;

/* A page of the changelog read for a subscriber. */
typedef struct as_changes {
    Artstore__V1__ChangeEvent **ev;    /* matching events, malloc'd */
    size_t n;
    uint64_t last_seq;                 /* newest acknowledged seq */
    uint64_t oldest_seq;               /* oldest retained (last+1: none) */
    uint64_t next_since;               /* position reached, matching or not */
} as_changes_t;

/*
 * Binds the PUB socket, starts the feed thread and registers the writer's
 * commit and maintenance hooks. Publishing starts after the last seq
 * already acknowledged. Returns 0 or UNAVAILABLE (bind failed) / INTERNAL
 * with st set; on success *out owns the feed (as_feed_stop).
 */
int as_feed_start(as_store_t *s, as_writer_t *w, const as_feed_opts_t *opts,
                  as_feed_t **out, as_status_t *st);

/*
 * The retention rule of as_feed_opts_t (the newest retain_changes, the
 * last retain_hours before now_ms) applied to the changelog in a new
 * snapshot of reader r on store s: *upto gets the highest seq such that it
 * and every older retained change are past retention, at most max changes
 * from the oldest (0: none). A cluster's leader proposes that trim
 * through the log (cluster.c). Returns 0 or the store's code with st set.
 */
int as_feed_trim_point(as_store_t *s, as_reader_t *r, uint64_t retain_changes,
                       uint64_t retain_hours, int64_t now_ms, size_t max,
                       uint64_t *upto, as_status_t *st);

/* Stops the thread, completes parked waits with what they have, and
 * closes the socket. Call after the writer has stopped. Accepts NULL. */
void as_feed_stop(as_feed_t *f);

/* Number of connected feed subscribers (for Stats). */
unsigned as_feed_subscribers(as_feed_t *f);

/* Number of parked long-polls (for Stats). */
unsigned as_feed_waiters(as_feed_t *f);

/*
 * Reads, from a fresh snapshot of r and the overlay's tail (every
 * acknowledged change), the events with seq > since that match
 * f (NULL: all), up to limit of them and at most max_bytes of them
 * (stored size, 0: no bound; at least one event), scanning a bounded
 * number.
 * Fills out (as_changes_free). Returns 0; OUT_OF_RANGE when since is older
 * than the retained log, or beyond the last seq (a subscriber ahead of a
 * restored store), the message naming the retained range; INTERNAL /
 * DATA_LOSS / RESOURCE_EXHAUSTED; with st set.
 */
int as_feed_read(as_reader_t *r, uint64_t since, const as_filter_t *f,
                 size_t limit, size_t max_bytes, as_changes_t *out,
                 as_status_t *st);

/* Frees the events of c and clears it. */
void as_changes_free(as_changes_t *c);

/* Completes a parked wait: ch is what it found (freed after the call
 * returns), or NULL with st set when a read failed. */
typedef void (*as_feed_wait_fn)(void *arg, as_changes_t *ch,
                                const as_status_t *st);

/*
 * Parks a wait of connection peer (0: none known) for events with
 * seq > since matching filter (which must stay valid until fn is called),
 * up to limit of them, until deadline_ms (wall time). Returns 0: fn will
 * be called exactly once, from the feed thread or as_feed_stop. Or
 * RESOURCE_EXHAUSTED (max_waiters parked already, or the connection holds
 * its share) / UNAVAILABLE (the feed is stopping) with st set, and fn is
 * never called.
 */
int as_feed_wait(as_feed_t *f, uint32_t peer, uint64_t since,
                 const as_filter_t *filter, size_t limit, int64_t deadline_ms,
                 as_feed_wait_fn fn, void *arg, as_status_t *st);

/*
 * Counts the changes committed in each of the last n minutes (n <= 1440)
 * from the changelog in a fresh snapshot of r: counts[n - 1] is the
 * current minute so far, counts[0] the one n - 1 minutes before it;
 * *minute0_ms gets the start of minute 0 (Unix ms). Seq numbers are gap
 * free, so each count is the difference of the first seq of two minutes,
 * found by bisection on commit_time_ms (which grows with seq unless the
 * clock steps back): about 2 n log2(changes) lookups, whatever the rate.
 * Minutes before the oldest retained change count 0. Returns 0, or
 * INTERNAL / DATA_LOSS with st set.
 */
int as_feed_minute_counts(as_reader_t *r, int64_t now_ms, size_t n,
                          uint64_t *counts, int64_t *minute0_ms,
                          as_status_t *st);

/*
 * Derives the feed endpoint from the RPC endpoint: tcp port + 1, or the
 * ipc path with ".feed" appended. Writes it to out (cap bytes). Returns 0
 * or -1 when it cannot be derived.
 */
int as_feed_derive_endpoint(const char *listen, char *out, size_t cap);

#endif
