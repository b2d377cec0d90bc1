/*
 * rawreq.h - test helpers that talk to artstored without the client
 * library: hand-built Request envelopes and arbitrary bytes on a plain
 * nanomsg REQ socket, so that tests can send what no client would.
 */
#ifndef AS_RAWREQ_H
#define AS_RAWREQ_H

#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"

/*
 * Sends len bytes of buf as one message to endpoint on a fresh REQ socket
 * and waits up to timeout_ms for the reply. Returns the unpacked Reply
 * (free with artstore__v1__reply__free_unpacked(r, NULL)), or NULL when no
 * reply came or it is not a Reply.
 */
Artstore__V1__Reply *raw_send(const char *endpoint, const void *buf,
                              size_t len, int timeout_ms);

/*
 * Packs an envelope for method ("Put", or any path when it starts with
 * '/') with payload msg (may be NULL), token (may be NULL) and deadline
 * (has_deadline: set deadline_ms) and sends it as raw_send does.
 */
Artstore__V1__Reply *raw_call(const char *endpoint, const char *method,
                              const ProtobufCMessage *msg, const char *token,
                              int has_deadline, int64_t deadline_ms);

/* The status code of a reply: 0 for OK, -1 for no reply. */
int raw_code(const Artstore__V1__Reply *r);

/* The reply's message, "" when none. */
const char *raw_msg(const Artstore__V1__Reply *r);

#endif
