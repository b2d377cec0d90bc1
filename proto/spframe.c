/*
 * spframe.c - nanomsg's SP stream framing, shared by libartstore and the
 * server (see spframe.h).
 */
#include "spframe.h"

#include <stdlib.h>
#include <string.h>

#include "be.h"

/* The least a receive buffer grows by: one read takes several small
 * messages. */
#define READ_CHUNK (64 * 1024)

void as_sp_hello(unsigned char out[AS_SP_HEADER_LEN], unsigned proto)
{
    memset(out, 0, AS_SP_HEADER_LEN);
    out[1] = 'S';
    out[2] = 'P';
    as_be_put16(out + 4, proto);
}

size_t as_sp_prefix(unsigned char *out, int ipc, uint64_t len)
{
    size_t n = 0;

    if (ipc)
        out[n++] = AS_SP_IPC_NORMAL;
    as_be_put64(out + n, len);
    return n + 8;
}

int as_sp_take(as_sp_rbuf_t *rb, unsigned peer, uint64_t max,
               const unsigned char **msg, size_t *len, size_t *need)
{
    /* No buffer yet on a new connection: b is read only when have > 0. */
    const unsigned char *b = rb->buf != NULL ? rb->buf + rb->off : NULL;
    size_t have = rb->len - rb->off, hdr = rb->ipc ? 9 : 8;
    uint64_t size;

    if (!rb->header_seen) {
        if (have < AS_SP_HEADER_LEN) {
            *need = AS_SP_HEADER_LEN;
            return AS_SP_MORE;
        }
        if (b[0] != 0 || b[1] != 'S' || b[2] != 'P' || b[3] != 0 ||
            as_be_get16(b + 4) != peer)
            return AS_SP_EHEADER;
        rb->header_seen = 1;
        rb->off += AS_SP_HEADER_LEN;
        b += AS_SP_HEADER_LEN;
        have -= AS_SP_HEADER_LEN;
    }
    if (have < hdr) {
        *need = hdr;
        return AS_SP_MORE;
    }
    if (rb->ipc && b[0] != AS_SP_IPC_NORMAL)
        return AS_SP_ETYPE;
    size = as_be_get64(b + hdr - 8);
    if (size > max) {
        *len = size > SIZE_MAX ? SIZE_MAX : (size_t)size;
        return AS_SP_ESIZE;
    }
    if (have - hdr < size) {
        *need = hdr + (size_t)size;
        return AS_SP_MORE;
    }
    *msg = b + hdr;
    *len = (size_t)size;
    rb->off += hdr + (size_t)size;
    return AS_SP_MSG;
}

int as_sp_reserve(as_sp_rbuf_t *rb, size_t need)
{
    size_t have = rb->len - rb->off, most, cap;
    unsigned char *b;

    if (have == 0)
        rb->off = rb->len = 0;
    if (rb->off > 0 && (rb->cap - rb->len < READ_CHUNK / 4 ||
                        rb->cap - rb->off < need)) {
        memmove(rb->buf, rb->buf + rb->off, have);
        rb->off = 0;
        rb->len = have;
    }
    if (rb->cap - rb->len >= READ_CHUNK / 4)
        return 0;
    /* Here off is 0 (moved above): the unconsumed bytes are at the
     * front. */
    most = (need > have ? need : have) + READ_CHUNK;
    cap = rb->cap ? rb->cap * 2 : READ_CHUNK;
    if (cap > most)
        cap = most;
    if (cap < rb->len + READ_CHUNK / 4)
        cap = rb->len + READ_CHUNK / 4;
    if ((b = realloc(rb->buf, cap)) == NULL)
        return -1;
    rb->buf = b;
    rb->cap = cap;
    return 0;
}

void as_sp_rbuf_reset(as_sp_rbuf_t *rb)
{
    rb->off = rb->len = 0;
    rb->header_seen = 0;
}

void as_sp_rbuf_free(as_sp_rbuf_t *rb)
{
    free(rb->buf);
    rb->buf = NULL;
    rb->cap = 0;
    as_sp_rbuf_reset(rb);
}
