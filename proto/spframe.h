/*
 * spframe.h - nanomsg's SP stream framing (docs/PROTOCOL.md, "Transport"):
 * the connection header, message prefixes and the receive buffer that
 * cuts messages out of a stream. The one definition for both ends that
 * speak SP without nanomsg: libartstore's connections (client/feedconn.c)
 * and the server's own (server/spserve.c).
 *
 * A buffer belongs to one connection and one thread at a time.
 */
#ifndef AS_SPFRAME_H
#define AS_SPFRAME_H

#include <stddef.h>
#include <stdint.h>

/* The connection header: 0x00 'S' 'P' 0x00, the protocol id (u16
 * big-endian), two zero bytes. */
#define AS_SP_HEADER_LEN 8
/* SP protocol ids: the connection header's u16. */
#define AS_SP_PROTO_PUB 0x20
#define AS_SP_PROTO_SUB 0x21
#define AS_SP_PROTO_REQ 0x30
#define AS_SP_PROTO_REP 0x31
/* An ipc:// message's type byte (nanomsg's sipc: a normal message). */
#define AS_SP_IPC_NORMAL 1
/* The longest message prefix: the ipc type byte and the u64 length. */
#define AS_SP_PREFIX_MAX 9

/* What as_sp_take returns. */
enum {
    AS_SP_MORE = 0,          /* more bytes are needed */
    AS_SP_MSG = 1,           /* a message was taken */
    AS_SP_EHEADER = -1,      /* not an SP header of the expected peer */
    AS_SP_ETYPE = -2,        /* an ipc message type other than 1 */
    AS_SP_ESIZE = -3         /* a length over the limit */
};

/* Received bytes of one connection: buf[off..len) not consumed yet. */
typedef struct as_sp_rbuf {
    unsigned char *buf;
    size_t off, len, cap;
    int ipc;                 /* ipc:// framing (a type byte first) */
    int header_seen;         /* the peer's connection header was taken */
} as_sp_rbuf_t;

/* Writes the connection header of protocol proto to out. */
void as_sp_hello(unsigned char out[AS_SP_HEADER_LEN], unsigned proto);

/* Writes the prefix of a message of len bytes for ipc or tcp framing to
 * out (AS_SP_PREFIX_MAX bytes of room); returns its length, 9 or 8. */
size_t as_sp_prefix(unsigned char *out, int ipc, uint64_t len);

/*
 * Takes the next message from rb: first the peer's connection header,
 * which must be protocol peer, then messages of at most max bytes.
 * Returns AS_SP_MSG with *msg, *len the message (valid until rb changes),
 * AS_SP_MORE with *need the bytes from rb->off it needs, or an error; the
 * offending bytes are then left at rb->buf + rb->off (for AS_SP_ESIZE,
 * *len is the length announced). The length is checked before any byte of
 * the message is needed, so nothing is ever reserved for a refused one.
 */
int as_sp_take(as_sp_rbuf_t *rb, unsigned peer, uint64_t max,
               const unsigned char **msg, size_t *len, size_t *need);

/*
 * Makes room to receive: need bytes from rb->off, and some free space at
 * the end. The buffer grows with what arrives (doubling, and at most a
 * chunk past need), never straight to a length a peer announced.
 * Returns 0, or -1 out of memory.
 */
int as_sp_reserve(as_sp_rbuf_t *rb, size_t need);

/* Drops the buffered bytes and the header state (a new connection). */
void as_sp_rbuf_reset(as_sp_rbuf_t *rb);

/* Frees the buffer and resets rb. */
void as_sp_rbuf_free(as_sp_rbuf_t *rb);

#endif
