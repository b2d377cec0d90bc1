/*
 * wire.h - the protobuf encoding of the replies built by hand.
 *
 * Most replies are packed by protobuf-c from a filled message. A few are
 * built as bytes instead, so that stored articles (kept packed in the
 * store) are embedded as they are, without unpacking and packing them
 * again: Get, Query and ListTags replies, and the Reply envelope around an
 * in-place payload. Their field numbers are named here, once; check_wire
 * compares every one with the descriptors protoc-c generated, so a
 * renumbered field in artstore.proto fails a test instead of silently
 * breaking the wire.
 *
 * A buffer either grows (malloc) or is fixed (a reply reserved in place
 * with as_call_reply_reserve: never grown or freed, a put past its capacity
 * fails).
 */
#ifndef AS_WIRE_H
#define AS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"

/* Field numbers of the messages encoded by hand (artstore.proto). */
#define AS_WIRE_REPLY_PAYLOAD 3           /* Reply.payload */
#define AS_WIRE_GET_ARTICLES 1            /* GetResponse.articles */
#define AS_WIRE_GET_NOT_FOUND 2           /* GetResponse.not_found */
#define AS_WIRE_QUERY_ARTICLES 1          /* QueryResponse.articles */
#define AS_WIRE_QUERY_NEXT_CURSOR 2       /* QueryResponse.next_cursor */
#define AS_WIRE_QUERY_TOTAL 3             /* QueryResponse.total */
#define AS_WIRE_QUERY_SEQ 4               /* QueryResponse.seq */
#define AS_WIRE_TAGS_TAGS 1               /* ListTagsResponse.tags */
#define AS_WIRE_TAGS_NEXT_CURSOR 2        /* ListTagsResponse.next_cursor */
#define AS_WIRE_TAG_COUNT_TAG 1           /* TagCount.tag */
#define AS_WIRE_TAG_COUNT_COUNT 2         /* TagCount.count */
#define AS_WIRE_STORIES_STORIES 1         /* ListStoriesResponse.stories */
#define AS_WIRE_STORIES_NEXT_CURSOR 2     /* ListStoriesResponse.next_cursor */
#define AS_WIRE_GET_STORY_STORY 1         /* GetStoryResponse.story */
#define AS_WIRE_GET_STORY_ARTICLES 2      /* GetStoryResponse.articles */

/* Protobuf wire types used here. */
#define AS_WIRE_VARINT 0
#define AS_WIRE_LEN 2

/* One named field, for the test against the generated descriptors. */
typedef struct as_wire_field {
    const ProtobufCMessageDescriptor *msg;
    const char *name;                     /* field name in the .proto */
    unsigned number;                      /* the AS_WIRE_* constant */
    int wire_type;                        /* how wire.c encodes it */
} as_wire_field_t;
extern const as_wire_field_t as_wire_fields[];
extern const size_t as_wire_n_fields;

typedef struct as_wire_buf {
    uint8_t *data;
    size_t len, cap;
    int fixed;             /* data is not ours: never grown or freed */
} as_wire_buf_t;

/* Writes v as a varint at p (room for 10 bytes); returns its length. */
size_t as_wire_varint(uint8_t *p, uint64_t v);

/* Returns the encoded length of varint v. */
size_t as_wire_varint_size(uint64_t v);

/* The encoded size of a length-delimited field of len bytes, and of a
 * varint field of value v. */
size_t as_wire_bytes_size(unsigned field, size_t len);
size_t as_wire_uint_size(unsigned field, uint64_t v);

/* Appends a length-delimited field (bytes, string or embedded message) or
 * a varint field to b. Returns 0, or -1 when out of memory (or past the
 * capacity of a fixed buffer). */
int as_wire_put_bytes(as_wire_buf_t *b, unsigned field, const void *data,
                      size_t len);
int as_wire_put_uint(as_wire_buf_t *b, unsigned field, uint64_t v);

/* Frees a growing buffer's memory and clears b. */
void as_wire_buf_free(as_wire_buf_t *b);

#endif
