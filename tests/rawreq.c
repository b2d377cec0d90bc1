/*
 * rawreq.c - raw Request envelopes for tests.
 */
#include "rawreq.h"

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Artstore__V1__Reply *raw_send(const char *endpoint, const void *buf,
                              size_t len, int timeout_ms)
{
    Artstore__V1__Reply *reply = NULL;
    int sock = nn_socket(AF_SP, NN_REQ), max = -1, n;
    void *in = NULL;

    if (sock < 0)
        return NULL;
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms,
                  sizeof(timeout_ms));
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout_ms,
                  sizeof(timeout_ms));
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    if (nn_connect(sock, endpoint) < 0)
        goto out_close;
    if (nn_send(sock, buf, len, 0) < 0)
        goto out_close;
    n = nn_recv(sock, &in, NN_MSG, 0);
    if (n < 0)
        goto out_close;
    reply = artstore__v1__reply__unpack(NULL, (size_t)n, in);
    nn_freemsg(in);
out_close:
    nn_close(sock);
    return reply;
}

Artstore__V1__Reply *raw_call(const char *endpoint, const char *method,
                              const ProtobufCMessage *msg, const char *token,
                              int has_deadline, int64_t deadline_ms)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    Artstore__V1__Reply *r;
    char path[256];
    uint8_t *payload = NULL, *buf;
    size_t len;

    if (method[0] == '/')
        snprintf(path, sizeof(path), "%s", method);
    else
        snprintf(path, sizeof(path), "/artstore.v1.ArticleStore/%s", method);
    env.method = path;
    env.has_call_id = 1;
    env.call_id = 7;
    env.auth_token = (char *)token;
    env.has_deadline_ms = has_deadline;
    env.deadline_ms = deadline_ms;
    if (msg != NULL) {
        len = protobuf_c_message_get_packed_size(msg);
        payload = malloc(len ? len : 1);
        if (payload == NULL)
            return NULL;
        protobuf_c_message_pack(msg, payload);
        env.has_payload = 1;
        env.payload.data = payload;
        env.payload.len = len;
    }
    len = artstore__v1__request__get_packed_size(&env);
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        free(payload);
        return NULL;
    }
    artstore__v1__request__pack(&env, buf);
    r = raw_send(endpoint, buf, len, 5000);
    free(buf);
    free(payload);
    return r;
}

int raw_code(const Artstore__V1__Reply *r)
{
    if (r == NULL)
        return -1;
    return r->status && r->status->has_code ? (int)r->status->code : 0;
}

const char *raw_msg(const Artstore__V1__Reply *r)
{
    return r && r->status && r->status->message ? r->status->message : "";
}
