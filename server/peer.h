/*
 * peer.h - calls from one cluster member to another's client endpoint
 * (ClusterAnnounce, ClusterReadIndex, ClusterSnapshot): one request over a
 * fresh nanomsg REQ socket, with the member's token, and its answer.
 *
 * Threads: any thread but the Raft loop's (a call blocks); no shared state.
 */
#ifndef AS_PEER_H
#define AS_PEER_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "status.h"

/* The largest request a peer call sends. */
#define AS_PEER_MAX_REQUEST 1024

/*
 * Calls method (its short name, "ClusterAnnounce") on the member at
 * endpoint with request msg and token (NULL or "": none), waiting up to
 * ms for the answer, whose payload may be up to max_reply bytes (0:
 * 1 MiB). The request is sent once: REQ's automatic resend is set past the
 * wait, so a slow call never runs twice. On success *resp (when resp_desc
 * and resp are given) is the unpacked answer, freed with
 * protobuf_c_message_free_unpacked(*resp, NULL). Returns 0, or
 * UNAVAILABLE (no answer in time), INTERNAL (a bad answer) or the peer's
 * own code, with st set.
 */
int as_peer_call(const char *endpoint, const char *token, const char *method,
                 const ProtobufCMessage *msg, int ms, size_t max_reply,
                 const ProtobufCMessageDescriptor *resp_desc,
                 ProtobufCMessage **resp, as_status_t *st);

#endif
