/*
 * rpc.h - the request endpoint: worker threads, envelopes, dispatch.
 *
 * The transport: on ipc:// and tcp://HOST:PORT (HOST an IPv4 address or
 * the wildcard) the workers serve the SP connections themselves
 * (spserve.h: no nanomsg I/O thread between the socket and the worker).
 * Other endpoints (ws://, the
 * dashboard's) use one AF_SP_RAW NN_REP nanomsg socket shared by the
 * workers (a cooked REP socket holds one request at a time and would mix
 * replies). Either way each request carries where its reply goes (the
 * connection and the request's backtrace, or the nanomsg control
 * message); the reply goes back from whichever thread completes the call
 * - a worker for reads, the writer thread for writes, the feed thread for
 * a parked Changes.
 *
 * This layer knows envelopes, not methods: it unpacks the Request into a
 * per-request arena with a memory budget, checks the deadline, finds the
 * handler by method path and hands it the payload. It knows nothing of
 * LMDB. A handler must complete its call exactly once with as_call_reply*.
 */
#ifndef AS_RPC_H
#define AS_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "artstore.pb-c.h"
#include "status.h"

typedef struct as_rpc as_rpc_t;
typedef struct as_call as_call_t;

/* Handles one call; payload is the packed method request (may be empty). */
typedef void (*as_handler_fn)(as_call_t *call, const uint8_t *payload,
                              size_t len);

/* The access a method needs (as_method_t.write, auth). */
enum { AS_ACCESS_READ = 0, AS_ACCESS_WRITE = 1, AS_ACCESS_ADMIN = 2 };

typedef struct as_method {
    const char *name;        /* "Put"; the path is /artstore.v1.ArticleStore/Put */
    as_handler_fn fn;
    int write;               /* access needed: AS_ACCESS_* (0/1 as before) */
    /* nanomsg socket only: requests whose payload is at most this many
     * bytes are cheap enough for the worker that received them to serve
     * while it keeps waiting on the socket to itself: no other worker is
     * woken (0: never). (On own connections every request is served by
     * the worker that read it; the others wait on the other
     * connections.) */
    size_t quick_bytes;
    /* Can work for long (a walk of an index, a copy): at most
     * max_long_calls such handlers run at once, so that some worker is
     * always free for the quick methods. */
    int long_call;
} as_method_t;

typedef struct as_rpc_opts {
    const char *endpoint;    /* tcp://host:port or ipc:///path */
    int workers;
    int max_long_calls;      /* 0: workers - 1 (at least 1) */
    size_t max_message_bytes;
    size_t max_decode_bytes;
    /* Own connections only: drop one whose request stays half-sent, or
     * whose replies stay unread, this long (0: never). */
    int64_t stall_ms;
    const as_method_t *methods;
    size_t n_methods;
    void *ctx;               /* handed to handlers via as_call_ctx */
    /* Per-worker state (e.g. a store reader), made on the worker thread. */
    void *(*worker_init)(void *ctx);
    void (*worker_fini)(void *ctx, void *data);
    /* Access control, optional: decides whether the envelope's token may
     * call a method (write: the method's AS_ACCESS_*). Returns 0, or the
     * error code with st set, which is the reply. */
    int (*auth)(void *auth_ctx, const char *token, int write,
                as_status_t *st);
    void *auth_ctx;
    /* Socketless only (as_rpc_local): called with each packed Reply
     * envelope (len bytes) before it is dropped, for tests. */
    void (*local_reply)(void *ctx, const void *reply, size_t len);
} as_rpc_opts_t;

/* Binds the endpoint and starts the workers. *out is set before the first
 * worker starts (so a context that holds it is complete for every
 * handler), and back to NULL on failure. Returns 0 or UNAVAILABLE (bind
 * failed: address in use, bad endpoint) / INTERNAL with st set. */
int as_rpc_start(const as_rpc_opts_t *opts, as_rpc_t **out, as_status_t *st);

/*
 * Makes a socketless rpc for fuzzing and tests: no endpoint, no worker
 * threads. Requests are fed with as_rpc_dispatch_bytes; replies are
 * encoded and dropped. Free with as_rpc_close. Returns NULL when out of
 * memory.
 */
as_rpc_t *as_rpc_local(const as_rpc_opts_t *opts);

/* Runs one request, n bytes of body, through the same decode, auth,
 * deadline and dispatch path as a request from the socket, on the calling
 * thread with worker as its worker state (from opts.worker_init). */
void as_rpc_dispatch_bytes(as_rpc_t *r, void *worker, const void *body,
                           size_t n);

/* Stops taking requests and joins the workers. Calls already handed to
 * the writer can still be replied to until as_rpc_close. */
void as_rpc_stop(as_rpc_t *r);

/* Closes the socket and frees r. Accepts NULL. */
void as_rpc_close(as_rpc_t *r);

/* The arena of the call: freed when the call is replied to. */
as_arena_t *as_call_arena(as_call_t *c);

/* The ctx of as_rpc_opts. */
void *as_call_ctx(as_call_t *c);

/* The calling worker's state from worker_init. */
void *as_call_worker(as_call_t *c);

/* The request's absolute deadline in Unix ms, 0 when none: the earlier of
 * the envelope's deadline_ms and its arrival time plus timeout_ms. */
int64_t as_call_deadline_ms(as_call_t *c);

/* Whether the envelope asked for a linearizable read (Request field
 * linearizable). */
int as_call_linearizable(as_call_t *c);

/*
 * Which connection the call came on: the own connection's key
 * (as_spserve_peer), or the pipe key nanomsg puts first in the request's
 * routing header; the same for every request of one connection while it
 * lasts. 0 for a socketless call. For per-connection bounds.
 */
uint32_t as_call_peer(as_call_t *c);

/*
 * Completes the call: code OK with resp packed as the payload (resp may be
 * NULL for an empty payload), or an error code with a printf-formatted
 * message. Sends the reply and frees the call and its arena.
 */
void as_call_reply(as_call_t *c, const ProtobufCMessage *resp);
void as_call_reply_error(as_call_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void as_call_reply_status(as_call_t *c, const as_status_t *st);

/* Completes the call with an OK status and payload bytes already packed. */
void as_call_reply_raw(as_call_t *c, const void *payload, size_t len);

/*
 * Builds an OK reply in place, without copying its payload: reserves the
 * whole reply (envelope and a payload of exactly len bytes) in the buffer
 * that will be sent, and returns where the payload goes. The caller writes
 * all len bytes there, then completes the call with as_call_reply_send.
 * Returns NULL when out of memory or already reserved; the call is then
 * still open and must be completed another way (as_call_reply_error).
 */
void *as_call_reply_reserve(as_call_t *c, size_t len);
void as_call_reply_send(as_call_t *c);

/* Per-method request counts and latency histogram since start. */
#define AS_RPC_LAT_BUCKETS 14
#define AS_RPC_CODES 17
extern const double as_rpc_latency_bounds_us[AS_RPC_LAT_BUCKETS];
typedef struct as_method_stats {
    uint64_t codes[AS_RPC_CODES];
    uint64_t lat_counts[AS_RPC_LAT_BUCKETS + 1];
    uint64_t lat_count;
    double lat_sum_us;
} as_method_stats_t;

/* Copies the statistics of method i (index in opts.methods). */
void as_rpc_get_stats(as_rpc_t *r, size_t i, as_method_stats_t *out);

/* Returns the number of worker threads. */
int as_rpc_workers(const as_rpc_t *r);

/* Nonzero when r serves its endpoint on its own connections (spserve.h),
 * which drop stalled requests themselves; 0 for nanomsg and NULL. */
int as_rpc_direct(const as_rpc_t *r);

/* Returns when (wall ms) the oldest long call now running began, 0 when
 * none runs (stall.h: a sweep leaves connections alone meanwhile). */
int64_t as_rpc_oldest_long_call(as_rpc_t *r);

#endif
