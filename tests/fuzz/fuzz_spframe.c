/*
 * fuzz_spframe.c - libFuzzer target: the input is a byte stream as it
 * would arrive on one of the server's own connections (proto/spframe.c, as
 * server/spserve.c reads it: a REQ peer's header, then messages of at most
 * MAX bytes). The first byte chooses how the stream is cut into reads.
 * Checks that a message never exceeds the limit, lies inside what was
 * received, and that the buffer grows with the bytes received, never to a
 * length a header announced.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spframe.h"

#define MAX 4096
/* spframe.c's growth step. */
#define CHUNK (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_sp_rbuf_t rb;
    size_t pos = 1, step, peak = 0;
    unsigned seed;

    if (size < 1)
        return 0;
    seed = data[0];
    memset(&rb, 0, sizeof(rb));
    rb.ipc = seed & 1;
    while (pos < size) {
        const unsigned char *msg;
        size_t len = 0, need = 0;
        int r;

        while ((r = as_sp_take(&rb, AS_SP_PROTO_REQ, MAX, &msg, &len,
                               &need)) == AS_SP_MSG) {
            if (len > MAX || msg < rb.buf || msg + len > rb.buf + rb.len)
                abort();
        }
        if (r < 0)
            break;
        if (as_sp_reserve(&rb, need) != 0)
            abort();
        /* Reads of 1 to 256 bytes, as the first byte's bits say. */
        seed = seed * 1103515245u + 12345u;
        step = 1 + ((seed >> 16) & ((seed & 0x100) ? 0xff : 0x7));
        if (step > size - pos)
            step = size - pos;
        if (step > rb.cap - rb.len)
            step = rb.cap - rb.len;
        memcpy(rb.buf + rb.len, data + pos, step);
        rb.len += step;
        pos += step;
        if (rb.len - rb.off > peak)
            peak = rb.len - rb.off;
        if (rb.cap > 2 * peak + CHUNK)
            abort();
    }
    as_sp_rbuf_free(&rb);
    return 0;
}
