/*
 * frame.c - the change feed's frames. See frame.h for the format.
 */
#include "frame.h"

#include <string.h>

#include "be.h"

static size_t list_size(char *const *v, size_t n)
{
    size_t len = 2, i, t;

    if (n > AS_FRAME_MAX_TAGS)
        n = AS_FRAME_MAX_TAGS;
    for (i = 0; i < n; i++) {
        t = strlen(v[i]);
        len += 2 + (t > AS_FRAME_MAX_TAG_LEN ? AS_FRAME_MAX_TAG_LEN : t);
    }
    return len;
}

static unsigned char *put_list(unsigned char *p, char *const *v, size_t n)
{
    size_t i, t;

    if (n > AS_FRAME_MAX_TAGS)
        n = AS_FRAME_MAX_TAGS;
    as_be_put16(p, (unsigned)n);
    p += 2;
    for (i = 0; i < n; i++) {
        t = strlen(v[i]);
        if (t > AS_FRAME_MAX_TAG_LEN)
            t = AS_FRAME_MAX_TAG_LEN;
        as_be_put16(p, (unsigned)t);
        memcpy(p + 2, v[i], t);
        p += 2 + t;
    }
    return p;
}

size_t as_frame_event_size(char *const *tags, size_t n_tags,
                           char *const *prev, size_t n_prev,
                           size_t payload_len)
{
    return 1 + 8 + list_size(tags, n_tags) + list_size(prev, n_prev) +
           payload_len;
}

size_t as_frame_put_event(unsigned char *out, uint64_t seq,
                          char *const *tags, size_t n_tags,
                          char *const *prev, size_t n_prev,
                          const void *payload, size_t payload_len)
{
    unsigned char *p = out;

    *p++ = AS_FRAME_EVENT;
    as_be_put64(p, seq);
    p = put_list(p + 8, tags, n_tags);
    p = put_list(p, prev, n_prev);
    if (payload_len > 0)
        memcpy(p, payload, payload_len);
    return (size_t)(p - out) + payload_len;
}

void as_frame_put_heartbeat(unsigned char *out, uint64_t last_seq,
                            int64_t time_ms)
{
    out[0] = AS_FRAME_HEARTBEAT;
    as_be_put64(out + 1, last_seq);
    as_be_put64(out + 9, (uint64_t)time_ms);
}

void as_frame_put_position(unsigned char *out, uint64_t last_seq)
{
    out[0] = AS_FRAME_POSITION;
    as_be_put64(out + 1, last_seq);
}

/* Reads a tag list at *p into v (up to cap); returns the count or -1. */
static long get_list(const unsigned char **p, const unsigned char *end,
                     as_span_t *v, size_t cap)
{
    size_t n, i, len;

    if (end - *p < 2)
        return -1;
    n = as_be_get16(*p);
    *p += 2;
    if (n > cap)
        return -1;
    for (i = 0; i < n; i++) {
        if (end - *p < 2)
            return -1;
        len = as_be_get16(*p);
        *p += 2;
        if ((size_t)(end - *p) < len)
            return -1;
        v[i].p = (const char *)*p;
        v[i].len = len;
        *p += len;
    }
    return (long)n;
}

int as_frame_decode(const void *buf, size_t len, as_frame_t *f, size_t cap)
{
    const unsigned char *b = buf, *p, *end = b + len;
    long nt, np;

    f->n_tags = f->n_prev = 0;
    f->payload = NULL;
    f->payload_len = 0;
    f->time_ms = 0;
    if (len < 9 || (b[0] != AS_FRAME_EVENT && b[0] != AS_FRAME_HEARTBEAT &&
                    b[0] != AS_FRAME_POSITION))
        return AS_FRAME_BAD;
    f->kind = b[0];
    f->seq = as_be_get64(b + 1);
    if (f->kind == AS_FRAME_POSITION)
        return AS_FRAME_OK;
    if (f->kind == AS_FRAME_HEARTBEAT) {
        if (len < AS_FRAME_HEARTBEAT_LEN)
            return AS_FRAME_BAD;
        f->time_ms = (int64_t)as_be_get64(b + 9);
        return AS_FRAME_OK;
    }
    p = b + 9;
    if ((nt = get_list(&p, end, f->tags, cap)) < 0 ||
        (np = get_list(&p, end, f->prev, cap)) < 0)
        return AS_FRAME_BAD_TAGS;
    f->n_tags = (size_t)nt;
    f->n_prev = (size_t)np;
    f->payload = p;
    f->payload_len = (size_t)(end - p);
    return AS_FRAME_OK;
}
