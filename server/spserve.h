/*
 * spserve.h - the request endpoint's own connections: nanomsg's SP
 * request/reply protocol, REP side, spoken directly on tcp:// and ipc://.
 *
 * Why not a nanomsg socket: nanomsg reads every message on its one I/O
 * thread and hands it to the receiving thread through an eventfd, and is
 * woken again when that thread re-arms its receive; a Get cost about four
 * thread switches in the server, most of its CPU. Here the worker threads
 * wait on the connections themselves (one epoll set shared by the
 * workers, each connection armed one-shot so that one worker at a time
 * reads it) and serve a request on the thread that read it; a reply is
 * written by the thread that completes the call (a worker, the writer,
 * the feed thread), straight to the socket when nothing is queued.
 *
 * The bytes are nanomsg's (docs/PROTOCOL.md, "Transport"): each side
 * sends the 8-byte SP header (0x00 'S' 'P' 0x00, protocol id u16
 * big-endian, two zero bytes) and only a REQ peer (0x30) is accepted;
 * then messages, each an 8-byte big-endian length (on ipc:// after a type
 * byte, 1) and the body. A request's body starts with its backtrace: 4-byte
 * words up to and including the first with the top bit set (the request
 * id; more than one word when it crossed devices, at most
 * AS_SPSERVE_MAX_HOPS). The reply carries the same backtrace. A raw REQ
 * peer may send many requests without waiting: they are served in any
 * order, each reply with its own backtrace. A connection is served at
 * most AS_SPSERVE_TURN requests in a row; then the connections that became
 * ready meanwhile come first (nanomsg's REP queued its pipes fairly too).
 *
 * Untrusted peers:
 *   - a length over max_message_bytes closes the connection before
 *     anything is allocated for it; the buffer grows with the bytes that
 *     actually arrive;
 *   - a request (or SP header) left half-sent for stall_ms, and a reply
 *     that could not be written for stall_ms, close the connection; a
 *     connection that is idle between requests is kept;
 *   - a connection's queued reply bytes are bounded: it is not read while
 *     AS_SPSERVE_QUEUE_PAUSE bytes wait to be written or
 *     AS_SPSERVE_MAX_INFLIGHT of its requests are being served, and it is
 *     closed when a reply would take its queue over max_queued_bytes;
 *   - at most AS_SPSERVE_MAX_CONNS connections; more are closed on accept.
 *
 * Threads: as_spserve_serve is called by any number of threads (the
 * workers); as_spserve_reply from any thread, also after the connection
 * closed (the route's generation no longer matches: the reply is
 * dropped). as_spserve_close after every serving thread has returned and
 * no reply can come any more.
 */
#ifndef AS_SPSERVE_H
#define AS_SPSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct as_spserve as_spserve_t;

/* Most backtrace words a request may carry (nanomsg's NN_MAXTTL). */
#define AS_SPSERVE_MAX_HOPS 8
#define AS_SPSERVE_MAX_CONNS 16384
#define AS_SPSERVE_MAX_INFLIGHT 64
#define AS_SPSERVE_QUEUE_PAUSE (256 * 1024)
/* Most requests of one connection served in a row while others wait. */
#define AS_SPSERVE_TURN 32

/* Where a request came from and its reply goes: the connection's slot
 * and generation, and the request's backtrace. A plain value: copy it. */
typedef struct as_sp_route {
    uint32_t slot;
    uint32_t gen;
    uint32_t hlen;                             /* backtrace bytes */
    unsigned char hdr[4 * AS_SPSERVE_MAX_HOPS];
} as_sp_route_t;

/* Handles one request: body[0..n) is the envelope after the backtrace,
 * valid only during the call. worker is the serving thread's own. The
 * request must be answered with exactly one as_spserve_reply. */
typedef void (*as_spserve_request_fn)(void *arg, void *worker,
                                      const as_sp_route_t *route,
                                      const void *body, size_t n);

typedef struct as_spserve_opts {
    const char *endpoint;        /* as_spserve_supports */
    size_t max_message_bytes;    /* backtrace and envelope */
    int64_t stall_ms;            /* 0: half-sent requests are kept */
    size_t max_queued_bytes;     /* 0: 64 MiB */
    as_spserve_request_fn on_request;
    void *arg;
} as_spserve_opts_t;

/* Returns nonzero when endpoint is one this module serves: ipc:///PATH
 * (a path that fits a Unix socket address) and tcp://HOST:PORT with HOST
 * an IPv4 address or the wildcard. Others (interface names, IPv6, ws://)
 * stay nanomsg's. */
int as_spserve_supports(const char *endpoint);

/* Binds endpoint and makes *out ready for as_spserve_serve. Returns 0,
 * or UNAVAILABLE (address in use, a bad endpoint) / INTERNAL with st
 * set. A stale Unix socket file (nobody accepts on it) is replaced. */
int as_spserve_listen(const as_spserve_opts_t *opts, as_spserve_t **out,
                      as_status_t *st);

/* Waits up to timeout_ms for connections to accept, requests to read and
 * replies to flush, and handles what came on the calling thread (with
 * worker for the request callbacks); also drops stalled connections when
 * a sweep is due. Returns 0. */
int as_spserve_serve(as_spserve_t *s, void *worker, int timeout_ms);

/* Sends the reply buf[0..len) for the request of route (buf stays the
 * caller's). buf NULL: the request gets no reply (it still ends). Returns
 * 0, or -1 when the reply was dropped (the connection closed, or closed
 * now for not reading its replies). */
int as_spserve_reply(as_spserve_t *s, const as_sp_route_t *route,
                     const void *buf, size_t len);

/* A key for route's connection, nonzero, distinct among the connections
 * open at once and unlikely to repeat for the next user of its slot. */
uint32_t as_spserve_peer(const as_sp_route_t *route);

/* Closes every connection stalled for stall_ms now (as the serving
 * threads do about every stall_ms / 4); returns how many. */
int as_spserve_sweep(as_spserve_t *s);

/* Closes the listener and every connection and frees s. Accepts NULL. */
void as_spserve_close(as_spserve_t *s);

#endif
