/*
 * wire.c - the protobuf encoding of the replies built by hand. See wire.h.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

const as_wire_field_t as_wire_fields[] = {
    { &artstore__v1__list_stories_response__descriptor, "stories",
      AS_WIRE_STORIES_STORIES, AS_WIRE_LEN },
    { &artstore__v1__list_stories_response__descriptor, "next_cursor",
      AS_WIRE_STORIES_NEXT_CURSOR, AS_WIRE_LEN },
    { &artstore__v1__get_story_response__descriptor, "story",
      AS_WIRE_GET_STORY_STORY, AS_WIRE_LEN },
    { &artstore__v1__get_story_response__descriptor, "articles",
      AS_WIRE_GET_STORY_ARTICLES, AS_WIRE_LEN },
    { &artstore__v1__reply__descriptor, "payload", AS_WIRE_REPLY_PAYLOAD,
      AS_WIRE_LEN },
    { &artstore__v1__get_response__descriptor, "articles",
      AS_WIRE_GET_ARTICLES, AS_WIRE_LEN },
    { &artstore__v1__get_response__descriptor, "not_found",
      AS_WIRE_GET_NOT_FOUND, AS_WIRE_VARINT },
    { &artstore__v1__query_response__descriptor, "articles",
      AS_WIRE_QUERY_ARTICLES, AS_WIRE_LEN },
    { &artstore__v1__query_response__descriptor, "next_cursor",
      AS_WIRE_QUERY_NEXT_CURSOR, AS_WIRE_LEN },
    { &artstore__v1__query_response__descriptor, "total",
      AS_WIRE_QUERY_TOTAL, AS_WIRE_VARINT },
    { &artstore__v1__query_response__descriptor, "seq", AS_WIRE_QUERY_SEQ,
      AS_WIRE_VARINT },
    { &artstore__v1__list_tags_response__descriptor, "tags",
      AS_WIRE_TAGS_TAGS, AS_WIRE_LEN },
    { &artstore__v1__list_tags_response__descriptor, "next_cursor",
      AS_WIRE_TAGS_NEXT_CURSOR, AS_WIRE_LEN },
    { &artstore__v1__tag_count__descriptor, "tag", AS_WIRE_TAG_COUNT_TAG,
      AS_WIRE_LEN },
    { &artstore__v1__tag_count__descriptor, "count", AS_WIRE_TAG_COUNT_COUNT,
      AS_WIRE_VARINT },
};
const size_t as_wire_n_fields = sizeof(as_wire_fields) /
                                sizeof(as_wire_fields[0]);

size_t as_wire_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t as_wire_varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t as_wire_bytes_size(unsigned field, size_t len)
{
    return as_wire_varint_size(((uint64_t)field << 3) | AS_WIRE_LEN) +
           as_wire_varint_size(len) + len;
}

size_t as_wire_uint_size(unsigned field, uint64_t v)
{
    return as_wire_varint_size(((uint64_t)field << 3) | AS_WIRE_VARINT) +
           as_wire_varint_size(v);
}

/* Makes room for extra more bytes. Returns 0 or -1. */
static int buf_reserve(as_wire_buf_t *b, size_t extra)
{
    size_t cap;
    uint8_t *p;

    if (b->len + extra <= b->cap)
        return 0;
    if (b->fixed)
        return -1;
    cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int as_wire_put_bytes(as_wire_buf_t *b, unsigned field, const void *data,
                      size_t len)
{
    if (buf_reserve(b, as_wire_bytes_size(field, len)) != 0)
        return -1;
    b->len += as_wire_varint(b->data + b->len,
                             ((uint64_t)field << 3) | AS_WIRE_LEN);
    b->len += as_wire_varint(b->data + b->len, len);
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int as_wire_put_uint(as_wire_buf_t *b, unsigned field, uint64_t v)
{
    if (buf_reserve(b, as_wire_uint_size(field, v)) != 0)
        return -1;
    b->len += as_wire_varint(b->data + b->len,
                             ((uint64_t)field << 3) | AS_WIRE_VARINT);
    b->len += as_wire_varint(b->data + b->len, v);
    return 0;
}

void as_wire_buf_free(as_wire_buf_t *b)
{
    if (!b->fixed)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
