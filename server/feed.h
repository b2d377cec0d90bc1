/*
 * feed.h - the change feed: a nanomsg PUB socket that publishes every
 * committed ChangeEvent, the Changes RPC (history, filters, long-poll) and
 * changelog retention.
 *
 * The writer's commit hook only records the newest seq and signals; the
 * feed's own thread reads the new events from the `changes` database and
 * publishes them, so a slow feed never slows commits. PUB drops messages
 * for slow subscribers silently: every frame carries its seq, and a
 * subscriber that sees a gap (or a heartbeat ahead of it) fills it from
 * the Changes RPC. The client library's watch does exactly that.
 *
 * Frame format (all integers big-endian):
 *
 *   heartbeat:  'H' | last_seq (8) | time_ms (8, signed)
 *   event:      'E' | seq (8) | n_tags (2) | n_tags x (len (2) | bytes)
 *                   | n_prev (2) | n_prev x (len (2) | bytes)
 *                   | packed artstore.v1.ChangeEvent (rest of the frame)
 *
 * The tags (after the change; before it for a delete) and prev_tags (before
 * an update) come first so that a subscriber can apply its tag filter and
 * skip an event without unpacking it. A heartbeat is sent when nothing was
 * published for a second.
 *
 * Positions only: when the server wants tokens (--auth-token-file), PUB
 * cannot check one, so the feed carries nothing but positions:
 *
 *   position:   'P' | last_seq (8)
 *
 * sent after each commit (one frame for all the events it made) and as
 * the heartbeat. A subscriber reads the events themselves with Changes,
 * which checks the token: one without a read token learns only sequence
 * numbers.
 *
 * Changes long-polls do not hold an RPC worker: a call that has nothing to
 * return yet is parked on the feed, which answers it from its own thread
 * when a matching event commits or the wait ends. No LMDB read transaction
 * is held while waiting.
 *
 * Threads: as_feed_* may be called from any thread; the handler runs on RPC
 * workers.
 */
#ifndef AS_FEED_H
#define AS_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "status.h"
#include "store.h"
#include "writer.h"

#define AS_FEED_FRAME_EVENT 'E'
#define AS_FEED_FRAME_HEARTBEAT 'H'
#define AS_FEED_FRAME_POSITION 'P'
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
    int positions_only;        /* publish 'P' frames, never event content */
} as_feed_opts_t;

/*
 * Binds the PUB socket, starts the feed thread and registers the writer's
 * commit and maintenance hooks. Publishing starts after the last seq
 * already committed. Returns 0 or UNAVAILABLE (bind failed) / INTERNAL
 * with st set; on success *out owns the feed (as_feed_stop).
 */
int as_feed_start(as_store_t *s, as_writer_t *w, const as_feed_opts_t *opts,
                  as_feed_t **out, as_status_t *st);

/* Stops the thread, answers parked long-polls with what they have, and
 * closes the socket. Call after the writer has stopped. Accepts NULL. */
void as_feed_stop(as_feed_t *f);

/* Number of connected feed subscribers (for Stats). */
unsigned as_feed_subscribers(as_feed_t *f);

/* Number of parked long-poll calls (for Stats). */
unsigned as_feed_waiters(as_feed_t *f);

/*
 * Derives the feed endpoint from the RPC endpoint: tcp port + 1, or the
 * ipc path with ".feed" appended. Writes it to out (cap bytes). Returns 0
 * or -1 when it cannot be derived.
 */
int as_feed_derive_endpoint(const char *listen, char *out, size_t cap);

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

/* The Changes RPC handler (for the service method table). The service
 * context must have its feed set. */
void as_feed_handle_changes(as_call_t *call, const uint8_t *payload,
                            size_t len);

#endif
