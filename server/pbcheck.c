/*
 * pbcheck.c - checks on a request's wire bytes (see pbcheck.h).
 */
#include "pbcheck.h"

#include <string.h>

/* The schema is not recursive; this only bounds a hostile input's cost. */
#define MAX_DEPTH 16

/* Reads a varint at *p (before end); returns 0, or -1 when malformed. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    unsigned shift = 0;

    *v = 0;
    while (*p < end && shift < 64) {
        uint8_t b = *(*p)++;

        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
        shift += 7;
    }
    return -1;
}

static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                size_t len, int depth, as_status_t *st)
{
    const uint8_t *p = data, *end = data + len;

    if (depth > MAX_DEPTH)
        return 0;
    while (p < end) {
        const ProtobufCFieldDescriptor *f;
        uint64_t key, n;
        unsigned wire;

        if (get_varint(&p, end, &key) != 0)
            return 0;
        wire = (unsigned)(key & 7);
        switch (wire) {
        case 0:
            if (get_varint(&p, end, &n) != 0)
                return 0;
            continue;
        case 1:
            if ((size_t)(end - p) < 8)
                return 0;
            p += 8;
            continue;
        case 5:
            if ((size_t)(end - p) < 4)
                return 0;
            p += 4;
            continue;
        case 2:
            break;
        default:
            return 0;   /* groups and bad wire types: the unpacker refuses */
        }
        if (get_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p))
            return 0;
        f = key >> 3 <= 0x1fffffff
                ? protobuf_c_message_descriptor_get_field(desc,
                                                          (unsigned)(key >> 3))
                : NULL;
        if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING) {
            const uint8_t *nul = memchr(p, 0, (size_t)n);

            if (nul != NULL)
                return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                     "%s.%s holds a NUL byte at offset %zu; "
                                     "strings must not contain NUL",
                                     desc->short_name, f->name,
                                     (size_t)(nul - p));
        } else if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
            int rc = walk(f->descriptor, p, (size_t)n, depth + 1, st);

            if (rc != 0)
                return rc;
        }
        p += n;
    }
    return 0;
}

int as_pbcheck_strings(const ProtobufCMessageDescriptor *desc,
                       const uint8_t *data, size_t len, as_status_t *st)
{
    if (data == NULL)
        return 0;
    return walk(desc, data, len, 0, st);
}
