/*
 * pbcheck.h - checks on a request's wire bytes that protobuf-c's unpacked
 * form can no longer show.
 *
 * protobuf-c hands every `string` field over as a NUL-terminated C string
 * and drops its length, so a string with an embedded NUL byte reads as
 * its prefix: `https://a.example/x\0evil` would be the URL
 * `https://a.example/x`. The only place where the true length is still
 * known is the wire, so the check walks the packed message with its
 * descriptor, before it is unpacked, and looks inside every string field
 * of every nested message. Every string field of every request is covered
 * without a list to keep up to date: a new field is checked as soon as it
 * is in the .proto.
 */
#ifndef AS_PBCHECK_H
#define AS_PBCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "status.h"

/*
 * Walks len bytes of a packed message of type desc and every message
 * nested in it. Returns 0 when no string field holds a NUL byte, or
 * INVALID_ARGUMENT with st naming the field ("Article.url holds a NUL byte
 * at offset 21"). Bytes that are not a well-formed message are left for
 * the unpacker to refuse: this returns 0 for them.
 */
int as_pbcheck_strings(const ProtobufCMessageDescriptor *desc,
                       const uint8_t *data, size_t len, as_status_t *st);

#endif
