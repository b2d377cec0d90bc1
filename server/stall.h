/*
 * stall.h - drops TCP connections that stall in the middle of a request.
 *
 * nanomsg owns the receive path: when a message's 8-byte length header
 * arrives it allocates the whole message (up to --max-message-bytes) and
 * keeps it until the last byte comes, with no timeout of its own. A client
 * that sends part of a large request and stalls holds that memory for as
 * long as it keeps the connection open (60 such connections held 700 MB).
 *
 * The sweeper bounds that time from outside nanomsg. About once a second
 * it looks at the process's own TCP connections on the request ports
 * (/proc/self/fd, getsockname, TCP_INFO) and shuts down (shutdown(2), so
 * that nanomsg sees the peer go and frees what it held; the descriptor
 * stays nanomsg's to close) every connection that:
 *   - received data more recently than it sent any (a request came in and
 *     was not answered) and more than the handshake (it holds something);
 *   - has received nothing for stall_ms.
 * A complete request that is still being served looks the same from the
 * kernel, so stall_ms must be longer than any call takes: the longest
 * long-poll (Changes, 60 s) and the query budget. Calls that may take
 * longer, Backup and a Query without a budget, are long calls: while one
 * has run for stall_ms, a sweep drops nothing.
 *
 * An idle connection (its last request answered) is never dropped. Unix
 * socket (ipc://) connections are not watched: only local processes reach
 * them.
 *
 * Which endpoints it watches: only those nanomsg serves, i.e. the
 * dashboard's ws:// request endpoint and a --listen that spserve.h does
 * not take (tcp://IFACE;HOST:PORT, an interface name, IPv6). A tcp://
 * --listen of an IPv4 address or the wildcard is on the server's own
 * connections (spserve.h), which see their receive buffers and drop a
 * request half-sent for stall_ms themselves, without this guesswork.
 *
 * Threads: one thread of its own; as_stall_sweep is for tests.
 */
#ifndef AS_STALL_H
#define AS_STALL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct as_stall as_stall_t;

#define AS_STALL_MAX_PORTS 4

typedef struct as_stall_opts {
    int ports[AS_STALL_MAX_PORTS]; /* local TCP ports of request endpoints */
    size_t n_ports;
    int64_t stall_ms;              /* > 0 */
    /* Returns the start (wall ms) of the oldest long call running, 0 when
     * none; may be NULL. */
    int64_t (*oldest_long_call)(void *arg);
    void *arg;
} as_stall_opts_t;

/* Returns the TCP port of endpoint "tcp://HOST:PORT" or "ws://HOST:PORT",
 * or 0 for another transport or a malformed one. */
int as_stall_endpoint_port(const char *endpoint);

/* Starts the sweeper thread. Returns 0 or INTERNAL with st set; *out owns
 * it (as_stall_stop). */
int as_stall_start(const as_stall_opts_t *opts, as_stall_t **out,
                   as_status_t *st);

/* Stops the thread and frees the sweeper. Accepts NULL. */
void as_stall_stop(as_stall_t *s);

/* Runs one sweep now; returns how many connections it shut down. */
int as_stall_sweep(as_stall_t *s);

#endif
