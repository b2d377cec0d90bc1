/*
 * feedconn.h - a watch's own connection to a server's change feed (a
 * nanomsg NN_PUB socket on tcp:// or ipc://), spoken directly: the SP
 * connection header, then length-prefixed messages (docs/PROTOCOL.md,
 * "Transport").
 *
 * Why not an NN_SUB socket: nanomsg runs one I/O thread per process. A
 * frame reaches an NN_SUB socket's reader through that thread (it reads
 * the TCP socket, queues the message, signals an eventfd, the reader wakes
 * and takes it: about 13 system calls and two thread wake-ups per frame),
 * and every watch of the process waits on the same thread, so 16 watches
 * get each event one after another. A feedconn's reader is woken by the
 * kernel when the bytes arrive, reads them itself (poll + recv) and
 * shares nothing with other watches.
 *
 * A client's calls use the same connection as a requester (REQ to the
 * server's REP, client.c): the caller sends with one sendmsg and is woken
 * by the kernel for the reply, where a nanomsg REQ socket woke its I/O
 * thread and then the caller for each reply (and the I/O thread again to
 * re-arm the receive), tens of microseconds per wake-up on a small
 * machine.
 *
 * Not thread-safe: one connection belongs to one watch or one client.
 */
#ifndef AS_FEEDCONN_H
#define AS_FEEDCONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spframe.h"

typedef struct as_feedconn {
    int fd;                 /* the stream socket, -1 when not connected */
    unsigned self, peer;    /* the SP protocol ids of this side, the peer */
    as_sp_rbuf_t rb;        /* bytes received and not consumed yet; a
                               Unix socket's framing (rb.ipc) */
    size_t max;             /* the largest message accepted */
} as_feedconn_t;

/* Returns nonzero when endpoint's transport is one a feedconn speaks
 * (tcp://HOST:PORT, ipc:///PATH). */
int as__feedconn_supports(const char *endpoint);

/* Sets up fc, not connected, as protocol self (AS_SP_PROTO_SUB for a
 * watch, AS_SP_PROTO_REQ for calls) talking to peer; max is the largest
 * message it accepts. */
void as__feedconn_init(as_feedconn_t *fc, unsigned self, unsigned peer,
                       size_t max);

/* Connects fc to endpoint (closing a previous connection), waiting at most
 * timeout_ms for the TCP connection, and sends its SP header.
 * Returns 0, or a negated errno (ECONNREFUSED and ENOENT: nobody listens
 * there; ETIMEDOUT; EINVAL: an endpoint it cannot parse or resolve). */
int as__feedconn_connect(as_feedconn_t *fc, const char *endpoint,
                         int timeout_ms);

/* Sends one message, head[0..hlen) then body[0..blen), within
 * timeout_ms. Returns 0 or a negated errno (ETIMEDOUT; EPIPE or
 * ECONNRESET: the peer closed the connection); on failure fc is closed. */
int as__feedconn_send(as_feedconn_t *fc, const void *head, size_t hlen,
                      const void *body, size_t blen, int timeout_ms);

/* Waits at most wait_ms (0: only what is already there) for the next
 * message. Returns its length with *msg pointing at it (valid until the
 * next call on fc), -EAGAIN when none arrived in time, or another negated
 * errno when the connection is lost or broke the protocol: it is then
 * closed (ECONNRESET: the peer closed it; EPROTO: a bad header or an
 * oversized message). */
ssize_t as__feedconn_recv(as_feedconn_t *fc, int wait_ms,
                          const unsigned char **msg);

/* Nonzero when a whole message is buffered (readable without waiting). */
int as__feedconn_pending(const as_feedconn_t *fc);

/* Closes the connection; fc can be connected again. */
void as__feedconn_close(as_feedconn_t *fc);

/* Closes the connection and frees the buffer. */
void as__feedconn_free(as_feedconn_t *fc);

#endif
