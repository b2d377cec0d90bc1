/*
 * peer.c - one call to another cluster member's client endpoint. See
 * peer.h.
 */
#include "peer.h"

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>

#include "artstore.pb-c.h"

int as_peer_call(const char *endpoint, const char *token, const char *method,
                 const ProtobufCMessage *msg, int ms, size_t max_reply,
                 const ProtobufCMessageDescriptor *resp_desc,
                 ProtobufCMessage **resp, as_status_t *st)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    Artstore__V1__Reply *reply = NULL;
    uint8_t payload[AS_PEER_MAX_REQUEST];
    char path[96];
    void *buf, *in = NULL;
    size_t len;
    int sock, max, resend, n, rc;

    if (resp != NULL)
        *resp = NULL;
    len = protobuf_c_message_get_packed_size(msg);
    if (len > sizeof(payload))
        return as_status_set(st, AS_CODE_INTERNAL, "%s request too large",
                             method);
    protobuf_c_message_pack(msg, payload);
    snprintf(path, sizeof(path), "/artstore.v1.ArticleStore/%s", method);
    env.method = path;
    env.has_call_id = env.has_payload = env.has_timeout_ms = 1;
    env.call_id = 1;
    env.timeout_ms = (uint32_t)ms;
    env.payload.data = payload;
    env.payload.len = len;
    env.auth_token = token != NULL && token[0] != '\0' ? (char *)token : NULL;
    if ((sock = nn_socket(AF_SP, NN_REQ)) < 0)
        return as_status_set(st, AS_CODE_UNAVAILABLE, "socket: %s",
                             nn_strerror(nn_errno()));
    /* The reply's envelope (status, ids) on top of its payload. */
    max = max_reply == 0 ? 1 << 20
                         : max_reply > (1u << 30) ? 1 << 30
                                                  : (int)max_reply + 4096;
    resend = ms < 0x7fffffff - 1000 ? ms + 1000 : 0x7fffffff;
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof(ms));
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof(ms));
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    nn_setsockopt(sock, NN_REQ, NN_REQ_RESEND_IVL, &resend, sizeof(resend));
    rc = as_status_set(st, AS_CODE_UNAVAILABLE, "no answer from %s to %s",
                       endpoint, method);
    if (nn_connect(sock, endpoint) < 0)
        goto out_close;
    len = artstore__v1__request__get_packed_size(&env);
    if ((buf = nn_allocmsg(len, 0)) == NULL)
        goto out_close;
    artstore__v1__request__pack(&env, buf);
    if (nn_send(sock, &buf, NN_MSG, 0) < 0) {
        nn_freemsg(buf);
        goto out_close;
    }
    if ((n = nn_recv(sock, &in, NN_MSG, 0)) < 0)
        goto out_close;
    reply = artstore__v1__reply__unpack(NULL, (size_t)n, in);
    nn_freemsg(in);
    if (reply == NULL) {
        rc = as_status_set(st, AS_CODE_INTERNAL, "%s answered %s with an "
                           "invalid reply", endpoint, method);
        goto out_close;
    }
    if (reply->status != NULL && reply->status->has_code &&
        reply->status->code != ARTSTORE__V1__CODE__OK) {
        rc = as_status_set(st, (int)reply->status->code, "%s (from %s)",
                           reply->status->message ? reply->status->message
                                                  : "", endpoint);
        goto out_reply;
    }
    rc = 0;
    if (resp_desc != NULL && resp != NULL) {
        *resp = protobuf_c_message_unpack(
            resp_desc, NULL, reply->has_payload ? reply->payload.len : 0,
            reply->payload.data);
        if (*resp == NULL)
            rc = as_status_set(st, AS_CODE_INTERNAL, "%s answered %s with "
                               "an invalid payload", endpoint, method);
    }
out_reply:
    artstore__v1__reply__free_unpacked(reply, NULL);
out_close:
    nn_close(sock);
    return rc;
}
