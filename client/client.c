/*
 * client.c - the client handle and its calls: one nanomsg REQ socket per
 * client, the Request/Reply envelope around every call, and the article
 * methods (Put, Get, Delete, Ping). Statistics are in stats.c.
 */
#include <errno.h>
#include <limits.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "be.h"
#include "clock.h"

#define METHOD_PREFIX "/artstore.v1.ArticleStore/"

/* nanomsg resends a request that got no reply after NN_REQ_RESEND_IVL; the
 * client has its own timeout, so resends only happen well after it. */
#define MIN_RESEND_IVL_MS 60000

void as__request_id(uint8_t id[AS__REQUEST_ID_LEN], protobuf_c_boolean *has,
                    ProtobufCBinaryData *pb)
{
    static _Atomic uint64_t counter;
    struct timespec ts;
    uint64_t v[2];

    *has = 1;
    pb->data = id;
    pb->len = AS__REQUEST_ID_LEN;
    if (getrandom(id, AS__REQUEST_ID_LEN, GRND_NONBLOCK) ==
        AS__REQUEST_ID_LEN)
        return;
    /* No entropy yet (early boot): unique is enough, not secret. */
    clock_gettime(CLOCK_REALTIME, &ts);
    v[0] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    v[1] = ((uint64_t)getpid() << 32) ^ ++counter;
    memcpy(id, v, AS__REQUEST_ID_LEN);
}

int as__fail(as_client_t *c, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    return rc;
}

/* ------------------------------------------------------------ lifecycle */

/* Sets one integer socket option; returns nanomsg's result. */
static int set_int(int sock, int level, int option, int value)
{
    return nn_setsockopt(sock, level, option, &value, sizeof(value));
}

/* Opens the REQ socket for endpoint with the client's options; returns
 * the socket, or a negative artstore code. */
static int open_socket(const as_client_t *c, const char *endpoint)
{
    int sock, resend, e;

    sock = nn_socket(AF_SP, NN_REQ);
    if (sock < 0)
        return AS_EUNAVAILABLE;
    if (c->timeout_ms > INT_MAX / 4)
        resend = INT_MAX;
    else if (c->timeout_ms * 4 > MIN_RESEND_IVL_MS)
        resend = c->timeout_ms * 4;
    else
        resend = MIN_RESEND_IVL_MS;
    if (set_int(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, AS_MAX_MESSAGE) < 0 ||
        set_int(sock, NN_SOL_SOCKET, NN_SNDTIMEO, c->timeout_ms) < 0 ||
        set_int(sock, NN_SOL_SOCKET, NN_RCVTIMEO, c->timeout_ms) < 0 ||
        set_int(sock, NN_REQ, NN_REQ_RESEND_IVL, resend) < 0 ||
        set_int(sock, NN_TCP, NN_TCP_NODELAY, 1) < 0 ||
        set_int(sock, NN_SOL_SOCKET, NN_SNDBUF, 4 << 20) < 0 ||
        set_int(sock, NN_SOL_SOCKET, NN_RCVBUF, 4 << 20) < 0) {
        nn_close(sock);
        return AS_EUNAVAILABLE;
    }
    if (nn_connect(sock, endpoint) < 0) {
        e = nn_errno();
        nn_close(sock);
        return (e == EINVAL || e == EPROTONOSUPPORT || e == ENAMETOOLONG ||
                e == ENODEV) ? AS_EINVALID_ARGUMENT : AS_EUNAVAILABLE;
    }
    return sock;
}

/* Makes endpoint the client's connection: SP spoken directly (feedconn.h)
 * for a well-formed tcp://HOST:PORT or ipc://PATH, connected by the first
 * call; a nanomsg REQ socket for other forms (nanomsg refuses a malformed
 * one). Returns 0 or a negative artstore code. */
static int open_conn(as_client_t *c, const char *endpoint)
{
    int sock;

    c->sock = -1;
    c->direct = as__feedconn_supports(endpoint);
    if (c->direct) {
        /* A reply is the request id and at most AS_MAX_MESSAGE bytes. */
        as__feedconn_init(&c->conn, AS_SP_PROTO_REQ, AS_SP_PROTO_REP,
                          AS_MAX_MESSAGE + 4);
        return 0;
    }
    if ((sock = open_socket(c, endpoint)) < 0)
        return sock;
    c->sock = sock;
    return 0;
}

/* Closes the client's connection (open_conn). */
static void close_conn(as_client_t *c)
{
    if (c->sock >= 0)
        nn_close(c->sock);
    c->sock = -1;
    if (c->direct)
        as__feedconn_free(&c->conn);
    c->direct = 0;
}

/* Adds endpoint (len bytes) to the client's list unless it is there;
 * returns its index, or -1 (list full, out of memory). */
static int add_endpoint(as_client_t *c, const char *endpoint, size_t len);

int as__client_add_endpoint(as_client_t *c, const char *endpoint)
{
    return add_endpoint(c, endpoint, strlen(endpoint));
}

static int add_endpoint(as_client_t *c, const char *endpoint, size_t len)
{
    size_t i;

    for (i = 0; i < c->n_endpoints; i++)
        if (strlen(c->endpoints[i]) == len &&
            memcmp(c->endpoints[i], endpoint, len) == 0)
            return (int)i;
    if (c->n_endpoints == AS_MAX_ENDPOINTS)
        return -1;
    if ((c->endpoints[c->n_endpoints] = strndup(endpoint, len)) == NULL)
        return -1;
    return (int)c->n_endpoints++;
}

int as_client_connect(const char *endpoint, int timeout_ms, as_client_t **out)
{
    as_client_t *c;
    const char *p;
    size_t i;
    int rc, sock;

    if (out == NULL || endpoint == NULL || endpoint[0] == '\0')
        return AS_EINVALID_ARGUMENT;
    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return AS_ERESOURCE_EXHAUSTED;
    c->sock = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : AS_DEFAULT_TIMEOUT_MS;
    c->next_call_id = 1;
    c->max_message = AS_SERVER_DEFAULT_MAX_MESSAGE;
    /* A comma-separated list names the members of a cluster. */
    for (p = endpoint; *p != '\0';) {
        size_t len = strcspn(p, ",");

        if (len == 0) {
            rc = AS_EINVALID_ARGUMENT;
            goto out_free;
        }
        if (add_endpoint(c, p, len) < 0) {
            rc = c->n_endpoints == AS_MAX_ENDPOINTS ? AS_EINVALID_ARGUMENT
                                                    : AS_ERESOURCE_EXHAUSTED;
            goto out_free;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (c->n_endpoints == 0) {
        rc = AS_EINVALID_ARGUMENT;
        goto out_free;
    }
    /* Every endpoint must be a valid one; the first is used. */
    for (i = c->n_endpoints; i-- > 0;) {
        if ((sock = open_conn(c, c->endpoints[i])) < 0) {
            rc = sock;
            goto out_free;
        }
        if (i > 0)
            close_conn(c);
    }
    c->endpoint = c->endpoints[0];
    *out = c;
    return AS_OK;

out_free:
    for (i = 0; i < c->n_endpoints; i++)
        free(c->endpoints[i]);
    free(c);
    return rc;
}

/* Moves the client to endpoint index i (a fresh socket, so that no late
 * reply of the old server is taken for the next call's). Returns AS_OK or
 * a failure with c->errmsg set. */
static int switch_endpoint(as_client_t *c, size_t i)
{
    int rc;

    close_conn(c);
    if ((rc = open_conn(c, c->endpoints[i])) < 0)
        return as__fail(c, rc, "cannot connect to %s", c->endpoints[i]);
    c->abandoned = 0;
    c->cur = i;
    c->endpoint = c->endpoints[i];
    return AS_OK;
}

void as_client_close(as_client_t *c)
{
    size_t i;

    if (c == NULL)
        return;
    close_conn(c);
    for (i = 0; i < c->n_endpoints; i++)
        free(c->endpoints[i]);
    free(c->token);
    free(c->payload_buf);
    free(c);
}

const char *as_client_errmsg(const as_client_t *c)
{
    return c ? c->errmsg : "";
}

int as_client_set_token(as_client_t *c, const char *token)
{
    char *t = NULL;

    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    if (token != NULL && (t = strdup(token)) == NULL)
        return AS_ERESOURCE_EXHAUSTED;
    free(c->token);
    c->token = t;
    return AS_OK;
}

int as_client_set_timeout(as_client_t *c, int timeout_ms)
{
    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : AS_DEFAULT_TIMEOUT_MS;
    /* A direct connection takes each call's timeout as it goes. */
    if (c->sock >= 0 &&
        (set_int(c->sock, NN_SOL_SOCKET, NN_SNDTIMEO, c->timeout_ms) < 0 ||
         set_int(c->sock, NN_SOL_SOCKET, NN_RCVTIMEO, c->timeout_ms) < 0))
        return as__fail(c, AS_EINTERNAL, "cannot set the socket timeout: %s",
                        nn_strerror(nn_errno()));
    return AS_OK;
}

int as_client_set_linearizable(as_client_t *c, int on)
{
    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    c->linearizable = on != 0;
    return AS_OK;
}

int as_client_timeout(const as_client_t *c)
{
    return c ? c->timeout_ms : 0;
}

const char *as_client_endpoint(const as_client_t *c)
{
    return c ? c->endpoint : NULL;
}

/* ------------------------------------------------------------ the call */

/* Maps a failed nn_send/nn_recv onto a return code with a message. */
static int transport_error(as_client_t *c, const char *what, int e,
                           size_t request_len)
{
    if ((e == ETIMEDOUT || e == EAGAIN) && strcmp(what, "send") == 0)
        return as__fail(c, AS_EUNAVAILABLE, "cannot send to %s within %d ms",
                        c->endpoint, c->timeout_ms);
    if (e == ETIMEDOUT || e == EAGAIN) {
        if (request_len > AS_SERVER_DEFAULT_MAX_MESSAGE)
            return as__fail(c, AS_EUNAVAILABLE,
                            "no reply from %s within %d ms (the request is "
                            "%zu bytes: a server drops requests over its "
                            "max_message_bytes, %d by default)",
                            c->endpoint, c->timeout_ms, request_len,
                            AS_SERVER_DEFAULT_MAX_MESSAGE);
        return as__fail(c, AS_EUNAVAILABLE, "no reply from %s within %d ms",
                        c->endpoint, c->timeout_ms);
    }
    if (e == EINTR)
        return as__fail(c, AS_ECANCELLED, "%s to %s interrupted by a signal",
                        what, c->endpoint);
    return as__fail(c, AS_EUNAVAILABLE, "%s to %s: %s", what, c->endpoint,
                    nn_strerror(e));
}

/* ------------------------------------------------------------ refused */

int as__refused(int sock)
{
    /* nanomsg connects in the background and keeps retrying; a socket
     * with no connection whose endpoint's last attempt failed (the peer
     * refused it, or no ipc socket file is there) has nobody to talk to
     * until a later attempt succeeds. An attempt still in progress (an
     * unroutable host) is not an error yet. */
    return nn_get_statistic(sock, NN_STAT_CURRENT_CONNECTIONS) == 0 &&
           nn_get_statistic(sock, NN_STAT_CURRENT_EP_ERRORS) > 0;
}

/* The longest slice of a reply wait between two looks at the connection
 * state while no connection is up: a refused connect is seen at most this
 * late. */
#define REFUSED_SLICE_MS 20

int as__recv_reply(as_client_t *c, int wait_ms, void **buf)
{
    int64_t deadline, now;
    struct pollfd pfd;
    size_t fdlen = sizeof(pfd.fd);
    int n, slice = 1;

    /* Connected: wait on nanomsg as usual (no extra system calls on the
     * hot path). */
    if (nn_get_statistic(c->sock, NN_STAT_CURRENT_CONNECTIONS) > 0) {
        n = nn_recv(c->sock, buf, NN_MSG, 0);
        return n >= 0 ? n : -nn_errno();
    }
    /* Not connected (yet): wait in slices, looking at the connection
     * state between them, so that a refused connection fails the call at
     * once instead of after the whole timeout. */
    if (nn_getsockopt(c->sock, NN_SOL_SOCKET, NN_RCVFD, &pfd.fd, &fdlen) < 0)
        return -nn_errno();
    pfd.events = POLLIN;
    deadline = as_clock_mono_ms() + wait_ms;
    for (;;) {
        n = nn_recv(c->sock, buf, NN_MSG, NN_DONTWAIT);
        if (n >= 0)
            return n;
        if (nn_errno() != EAGAIN)
            return -nn_errno();
        if (as__refused(c->sock)) {
            as__fail(c, AS_EUNAVAILABLE, "cannot connect to %s: connection "
                     "refused (is artstored running there?)", c->endpoint);
            return AS_EUNAVAILABLE_REFUSED;
        }
        now = as_clock_mono_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (slice > deadline - now)
            slice = (int)(deadline - now);
        if (poll(&pfd, 1, slice) < 0 && errno == EINTR)
            return -EINTR;
        if (slice < REFUSED_SLICE_MS)
            slice *= 2;
    }
}

/* Milliseconds left until deadline (monotonic ms), at least 0. */
static int left_until(int64_t deadline)
{
    int64_t left = deadline - as_clock_mono_ms();

    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Sends a packed request on the direct connection, connecting first when
 * there is none. Returns 0 or a negated errno (ECONNREFUSED, ENOENT:
 * nobody listens there). */
static int send_direct_once(as_client_t *c, const void *msg, size_t len,
                            int64_t deadline)
{
    unsigned char id[4];
    int rc;

    if (c->conn.fd < 0 &&
        (rc = as__feedconn_connect(&c->conn, c->endpoint,
                                   left_until(deadline))) != 0)
        return rc;
    /* A REQ request id: the top bit set (docs/PROTOCOL.md). */
    c->req_id = (c->req_id + 1) | 0x80000000u;
    as_be_put32(id, c->req_id);
    return as__feedconn_send(&c->conn, id, sizeof(id), msg, len,
                             left_until(deadline));
}

/* Sends a packed request on the direct connection. A connection kept
 * from an earlier call may have been closed by the server since (a
 * restart): it is made anew once, as nanomsg reconnects. *kept says
 * whether the request went out on a kept connection. Returns AS_OK or a
 * failure with c->errmsg set. */
static int send_direct(as_client_t *c, const void *msg, size_t len,
                       int64_t deadline, int *kept)
{
    int rc;

    *kept = c->conn.fd >= 0;
    rc = send_direct_once(c, msg, len, deadline);
    if (rc != 0 && *kept && rc != -ETIMEDOUT) {
        *kept = 0;
        rc = send_direct_once(c, msg, len, deadline);
    }
    if (rc == 0)
        return AS_OK;
    if (rc == -ECONNREFUSED || rc == -ENOENT)
        return as__fail(c, AS_EUNAVAILABLE, "cannot connect to %s: "
                        "connection refused (is artstored running there?)",
                        c->endpoint);
    if (rc == -ETIMEDOUT)
        return as__fail(c, AS_EUNAVAILABLE, "cannot send to %s within %d ms",
                        c->endpoint, c->timeout_ms);
    return as__fail(c, AS_EUNAVAILABLE, "cannot send to %s: %s", c->endpoint,
                    strerror(-rc));
}

/* Waits until deadline for the reply to the last direct request. Returns
 * its length with *body (valid until the next receive), or a negated
 * errno (ETIMEDOUT; ECONNRESET: the connection was closed; EPROTO). The
 * connection is closed on a failure, so a late reply is never read. */
static int recv_direct(as_client_t *c, int64_t deadline,
                       const uint8_t **body)
{
    const unsigned char *msg;
    ssize_t n;

    for (;;) {
        n = as__feedconn_recv(&c->conn, left_until(deadline), &msg);
        if (n == -EAGAIN) {
            as__feedconn_close(&c->conn);
            return -ETIMEDOUT;
        }
        if (n < 0)
            return (int)n;
        if (n < 4) {
            as__feedconn_close(&c->conn);
            return -EPROTO;
        }
        /* A reply to an earlier request is skipped, as a REQ socket
         * does. */
        if (as_be_get32(msg) == c->req_id) {
            *body = msg + 4;
            return (int)(n - 4);
        }
    }
}

/* Packs the envelope of one call into a nanomsg message and sends it.
 * Returns AS_OK with *sent_len set (and, on a direct connection, *packed
 * the request, to be freed), or a failure with c->errmsg set. */
static int send_request(as_client_t *c, const char *method, uint64_t call_id,
                        const ProtobufCMessage *req, int budget_ms,
                        int64_t deadline, size_t *sent_len, void **packed,
                        int *kept)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    char path[128];
    uint8_t *payload = NULL;
    size_t plen = protobuf_c_message_get_packed_size(req), len;
    void *msg;
    int rc = AS_OK;

    /* The server's socket drops an oversized request without a reply (a
     * reconnect storm for REQ): refuse it here, with the limit's name. */
    if (plen > c->max_message)
        return as__fail(c, AS_ERESOURCE_EXHAUSTED,
                        "%s request is %zu bytes, over the server's limit "
                        "max_message_bytes=%zu", method, plen,
                        c->max_message);
    snprintf(path, sizeof(path), METHOD_PREFIX "%s", method);
    if (plen > 0) {
        payload = malloc(plen);
        if (payload == NULL)
            return as__fail(c, AS_ERESOURCE_EXHAUSTED,
                            "out of memory for a %zu-byte request", plen);
        protobuf_c_message_pack(req, payload);
        env.has_payload = 1;
        env.payload.data = payload;
        env.payload.len = plen;
    }
    env.method = path;
    env.has_call_id = 1;
    env.call_id = call_id;
    env.has_deadline_ms = 1;
    env.deadline_ms = as_clock_wall_ms() + budget_ms;
    /* The relative timeout is what a server with a skewed clock uses. */
    env.has_timeout_ms = 1;
    env.timeout_ms = (uint32_t)budget_ms;
    env.auth_token = c->token;
    if (c->linearizable)
        env.has_linearizable = env.linearizable = 1;
    len = artstore__v1__request__get_packed_size(&env);
    if (len > c->max_message) {
        rc = as__fail(c, AS_ERESOURCE_EXHAUSTED,
                      "%s request is %zu bytes, over the server's limit "
                      "max_message_bytes=%zu", method, len, c->max_message);
        goto out_free_payload;
    }
    msg = c->direct ? malloc(len) : nn_allocmsg(len, 0);
    if (msg == NULL) {
        rc = as__fail(c, AS_ERESOURCE_EXHAUSTED,
                      "out of memory for a %zu-byte request", len);
        goto out_free_payload;
    }
    artstore__v1__request__pack(&env, msg);
    /* The direct connection's request is kept until the reply, for a
     * resend on a new connection (send_direct). */
    if (c->direct) {
        rc = send_direct(c, msg, len, deadline, kept);
        if (rc == AS_OK) {
            *sent_len = len;
            *packed = msg;
        } else {
            free(msg);
        }
        goto out_free_payload;
    }
    /* A successful zero-copy send takes ownership of msg. */
    if (nn_send(c->sock, &msg, NN_MSG, 0) < 0) {
        rc = transport_error(c, "send", nn_errno(), len);
        nn_freemsg(msg);
        goto out_free_payload;
    }
    *sent_len = len;

out_free_payload:
    free(payload);
    return rc;
}

/* Replies of this size or more have their payload unpacked into the
 * client's kept buffer. */
#define PAYLOAD_KEEP_MIN (64 * 1024)
/* A kept buffer larger than this is given back after the call. */
#define PAYLOAD_KEEP_MAX (16 * 1024 * 1024)

/*
 * The reply envelope's allocator. Unpacking copies the payload out of the
 * message; for a large reply that is a fresh block of hundreds of KB per
 * call, which glibc may hand back to the kernel on free and fault in
 * again on the next call: bench/compare getbatch swung between 200k and
 * 40k articles/s on that alone. The payload goes into a buffer the
 * client keeps instead; everything else is malloc'd as usual.
 */
static void *reply_alloc(void *data, size_t size)
{
    as_client_t *c = data;

    if (size < PAYLOAD_KEEP_MIN || c->payload_busy)
        return malloc(size);
    if (size > c->payload_cap) {
        void *p = malloc(size);

        if (p == NULL)
            return NULL;
        free(c->payload_buf);
        c->payload_buf = p;
        c->payload_cap = size;
    }
    c->payload_busy = 1;
    return c->payload_buf;
}

static void reply_free(void *data, void *p)
{
    as_client_t *c = data;

    if (p != NULL && p == c->payload_buf) {
        c->payload_busy = 0;
        if (c->payload_cap > PAYLOAD_KEEP_MAX) {
            free(c->payload_buf);
            c->payload_buf = NULL;
            c->payload_cap = 0;
        }
        return;
    }
    free(p);
}

/* What to do after a failed attempt. */
enum { RETRY_NONE = -1, RETRY_NEXT = -2 };

/* A cluster member that is not the leader answers a write UNAVAILABLE
 * with a message ending in "leader: ENDPOINT" (see docs/PROTOCOL.md).
 * Returns the endpoint's index in the client's list (added if new), or
 * RETRY_NONE when the message names none. */
static int leader_hint(as_client_t *c, const char *msg)
{
    const char *p = msg ? strstr(msg, "leader: ") : NULL;
    size_t len;
    int i;

    if (p == NULL)
        return RETRY_NONE;
    p += 8;
    len = strcspn(p, " ;,\n");
    if (len == 0 || strstr(p, "://") == NULL)
        return RETRY_NONE;
    i = add_endpoint(c, p, len);
    return i < 0 ? RETRY_NONE : i;
}

/* Waits for the reply within left_ms. With several servers it waits in
 * short slices and gives up early when the connection is gone (a killed
 * server), so that the call can move on to another. */
static int recv_reply(as_client_t *c, int left_ms, void **buf, int *gone)
{
    int64_t end = as_clock_mono_ms() + left_ms;
    int n, slice;

    *gone = 0;
    for (;;) {
        int64_t left = end - as_clock_mono_ms();

        if (left <= 0)
            return -ETIMEDOUT;
        slice = (int)left;
        if (c->n_endpoints > 1 && slice > 250)
            slice = 250;
        set_int(c->sock, NN_SOL_SOCKET, NN_RCVTIMEO, slice);
        n = as__recv_reply(c, slice, buf);
        if (n >= 0 || n == AS_EUNAVAILABLE_REFUSED ||
            (n != -ETIMEDOUT && n != -EAGAIN))
            return n;
        if (c->n_endpoints > 1 &&
            nn_get_statistic(c->sock, NN_STAT_CURRENT_CONNECTIONS) == 0) {
            *gone = 1;
            return -ETIMEDOUT;
        }
    }
}

/* call_once on a direct connection up to the reply: sends the request
 * and waits for the reply. Returns its length with *body in the
 * connection's buffer, or a failure with c->errmsg and *retry set. */
static int call_direct(as_client_t *c, const char *method, uint64_t call_id,
                       const ProtobufCMessage *req, int left_ms, int *retry,
                       const uint8_t **body)
{
    int64_t deadline = as_clock_mono_ms() + left_ms;
    void *packed = NULL;
    size_t sent_len = 0;
    int n, rc, kept = 0;

    if ((rc = send_request(c, method, call_id, req, left_ms, deadline,
                           &sent_len, &packed, &kept)) != AS_OK) {
        if (rc == AS_EUNAVAILABLE && c->n_endpoints > 1)
            *retry = RETRY_NEXT;
        return rc;
    }
    n = recv_direct(c, deadline, body);
    /* A connection kept from an earlier call that the server closed
     * (a restart): once more on a new one, as a REQ socket resends. */
    if (n == -ECONNRESET && kept) {
        if ((rc = send_direct(c, packed, sent_len, deadline, &kept)) !=
            AS_OK) {
            free(packed);
            if (rc == AS_EUNAVAILABLE && c->n_endpoints > 1)
                *retry = RETRY_NEXT;
            return rc;
        }
        n = recv_direct(c, deadline, body);
    }
    free(packed);
    if (n >= 0)
        return n;
    if (n == -ETIMEDOUT)
        return transport_error(c, "receive", -n, sent_len);
    if (c->n_endpoints > 1)
        *retry = RETRY_NEXT;
    if (n == -ECONNRESET && sent_len > AS_SERVER_DEFAULT_MAX_MESSAGE)
        return as__fail(c, AS_EUNAVAILABLE,
                        "%s lost its connection to %s before the reply (the "
                        "request is %zu bytes: a server drops requests over "
                        "its max_message_bytes, %d by default)", method,
                        c->endpoint, sent_len, AS_SERVER_DEFAULT_MAX_MESSAGE);
    if (n == -ECONNRESET)
        return as__fail(c, AS_EUNAVAILABLE,
                        "%s lost its connection to %s before the reply",
                        method, c->endpoint);
    if (n == -EPROTO)
        return as__fail(c, AS_EUNAVAILABLE,
                        "%s: %s does not speak nanomsg's REQ/REP protocol, "
                        "or its reply is over this client's limit of %d "
                        "bytes", method, c->endpoint, AS_MAX_MESSAGE);
    return as__fail(c, AS_EUNAVAILABLE, "%s: receive from %s: %s", method,
                    c->endpoint, strerror(-n));
}

/* One attempt of a call on the current server, within left_ms. *retry
 * says whether (and where) another attempt may help. */
static int call_once(as_client_t *c, const char *method,
                     const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc,
                     ProtobufCMessage **resp, int left_ms, int *retry)
{
    ProtobufCAllocator al = { reply_alloc, reply_free, c };
    Artstore__V1__Reply *reply;
    uint64_t call_id = c->next_call_id++;
    size_t sent_len = 0;
    void *buf = NULL;
    int n, rc, gone;

    *retry = RETRY_NONE;
    if (c->direct) {
        const uint8_t *body;

        if ((n = call_direct(c, method, call_id, req, left_ms, retry,
                             &body)) < 0)
            return n;
        reply = artstore__v1__reply__unpack(&al, (size_t)n, body);
        rc = AS_OK;
        goto unpacked;
    }
    /* nanomsg's REQ socket mishandles a late reply to a request given up
     * on: when it arrives while another request is out, it frees the
     * reply but keeps a pointer to it, and the next nn_recv hands that
     * freed message out (abort in nn_chunk_size) or nn_close frees it
     * again (nanomsg 1.1.5 src/protocols/reqrep/req.c nn_req_in; the
     * assertion of upstream issues #1111 and #1121). So a socket whose
     * request went unanswered carries no other: a fresh one to the same
     * server takes this call, and a late reply goes to the closed one. */
    if (c->abandoned && (rc = switch_endpoint(c, c->cur)) != AS_OK)
        return rc;
    /* With other servers to try, a server that cannot even take the
     * request (not running) is left after a second. */
    set_int(c->sock, NN_SOL_SOCKET, NN_SNDTIMEO,
            c->n_endpoints > 1 && left_ms > 1000 ? 1000 : left_ms);
    if ((rc = send_request(c, method, call_id, req, left_ms, 0,
                           &sent_len, NULL, NULL)) != AS_OK) {
        if (rc == AS_EUNAVAILABLE && c->n_endpoints > 1)
            *retry = RETRY_NEXT;
        return rc;
    }
    /* A REQ socket only delivers the reply to its latest request; once
     * that one goes unanswered the socket takes no other (above). */
    n = recv_reply(c, left_ms, &buf, &gone);
    if (n < 0) {
        c->abandoned = 1;
        if (n == AS_EUNAVAILABLE_REFUSED) {
            if (c->n_endpoints > 1)
                *retry = RETRY_NEXT;
            return AS_EUNAVAILABLE;
        }
        if (gone) {
            *retry = RETRY_NEXT;
            return as__fail(c, AS_EUNAVAILABLE,
                            "%s lost its connection to %s before the reply",
                            method, c->endpoint);
        }
        return transport_error(c, "receive", -n, sent_len);
    }
    reply = artstore__v1__reply__unpack(&al, (size_t)n, buf);
    nn_freemsg(buf);
unpacked:
    if (reply == NULL)
        return as__fail(c, AS_EINTERNAL,
                        "%s reply from %s is not a valid artstore.v1.Reply "
                        "(%d bytes)", method, c->endpoint, n);
    /* The call_id check guards against a relay or server that mixes up
     * replies; the REQ socket has consumed its one reply either way, so
     * the call fails rather than waiting on. */
    if (reply->has_call_id && reply->call_id != call_id) {
        rc = as__fail(c, AS_EINTERNAL,
                      "%s reply from %s is for call %llu, not %llu; "
                      "discarded", method, c->endpoint,
                      (unsigned long long)reply->call_id,
                      (unsigned long long)call_id);
        goto out_free_reply;
    }
    if (reply->status != NULL && reply->status->has_code &&
        reply->status->code != ARTSTORE__V1__CODE__OK) {
        const char *msg = reply->status->message;
        int code = (int)reply->status->code;

        /* A code this library does not know is reported as UNKNOWN. */
        rc = code > 0 && code <= -AS_EUNAUTHENTICATED ? -code : AS_EUNKNOWN;
        as__fail(c, rc, "%s", msg && msg[0] ? msg : as_strerror(rc));
        /* Every long-call slot of the server is busy: the call was not
         * run; try again (after a pause) while the timeout allows. */
        if (rc == AS_ERESOURCE_EXHAUSTED && msg != NULL &&
            strstr(msg, "max_long_calls") != NULL)
            *retry = (int)c->cur;
        if (rc == AS_EUNAVAILABLE) {
            *retry = leader_hint(c, msg);
            if (*retry == RETRY_NONE && c->n_endpoints > 1)
                *retry = RETRY_NEXT;
        }
        goto out_free_reply;
    }
    *resp = protobuf_c_message_unpack(resp_desc, NULL,
                                      reply->has_payload ? reply->payload.len
                                                         : 0,
                                      reply->payload.data);
    if (*resp == NULL)
        rc = as__fail(c, AS_EINTERNAL,
                      "%s reply from %s has a payload that is not a valid "
                      "%s (%zu bytes)", method, c->endpoint, resp_desc->name,
                      reply->has_payload ? reply->payload.len : 0);

out_free_reply:
    artstore__v1__reply__free_unpacked(reply, &al);
    return rc;
}

int as__call(as_client_t *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc,
             ProtobufCMessage **resp)
{
    int64_t deadline = as_clock_mono_ms() + c->timeout_ms;
    int rc, retry, attempts = 0, left = c->timeout_ms;
    size_t next;

    c->errmsg[0] = '\0';
    *resp = NULL;
    /* Failover: another server (or the leader a server names) is tried
     * while the call's deadline allows; every attempt is bounded. */
    for (;;) {
        rc = call_once(c, method, req, resp_desc, resp, left, &retry);
        if (rc == AS_OK || retry == RETRY_NONE ||
            ++attempts > 1000)
            return rc;
        next = retry == RETRY_NEXT ? (c->cur + 1) % c->n_endpoints
                                   : (size_t)retry;
        /* Give an election a moment before going round again. */
        if (next == c->cur ||
            (retry == RETRY_NEXT && (next == 0 ||
                                     attempts >= (int)c->n_endpoints))) {
            int64_t pause = deadline - as_clock_mono_ms();
            struct timespec ts = { 0, 0 };

            if (pause > 100)
                pause = 100;
            if (pause > 0) {
                ts.tv_nsec = (long)pause * 1000000L;
                nanosleep(&ts, NULL);
            }
        }
        left = (int)(deadline - as_clock_mono_ms());
        if (left <= 0)
            return rc;
        if (next != c->cur && switch_endpoint(c, next) != AS_OK)
            return rc;
    }
}

/* ------------------------------------------------------------ Put */

int as_put(as_client_t *c, const as_article_t *a, uint64_t expected_revision,
           as_put_result_t *res)
{
    Artstore__V1__PutRequest req = ARTSTORE__V1__PUT_REQUEST__INIT;
    Artstore__V1__PutResponse *resp = NULL;
    Artstore__V1__Article pb;
    ProtobufCMessage *m = NULL;
    uint8_t rid[AS__REQUEST_ID_LEN];
    int rc;

    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    c->errmsg[0] = '\0';
    if (a == NULL) {
        rc = as__fail(c, AS_EINVALID_ARGUMENT, "article is NULL");
        goto out_result;
    }
    if ((rc = as__check_article(a, c->errmsg, sizeof(c->errmsg))) != AS_OK)
        goto out_result;
    if (as__article_to_pb(a, &pb) != 0) {
        rc = as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory");
        goto out_result;
    }
    req.article = &pb;
    if (expected_revision != AS_REV_ANY) {
        req.has_expected_revision = 1;
        req.expected_revision = expected_revision;
        /* A resend of this put must not fail its own condition. */
        as__request_id(rid, &req.has_request_id, &req.request_id);
    }
    rc = as__call(c, "Put", &req.base, &artstore__v1__put_response__descriptor,
                  &m);
    resp = (Artstore__V1__PutResponse *)m;
    as__article_pb_release(&pb);

out_result:
    if (res != NULL) {
        memset(res, 0, sizeof(*res));
        res->rc = rc;
        if (rc == AS_OK) {
            res->id = resp->id;
            res->outcome = (int)resp->outcome;
            res->revision = resp->revision;
        } else {
            size_t n = strnlen(c->errmsg, sizeof(res->message) - 1);

            memcpy(res->message, c->errmsg, n);
            res->message[n] = '\0';
        }
    }
    if (resp != NULL)
        artstore__v1__put_response__free_unpacked(resp, NULL);
    return rc;
}

/* ------------------------------------------------------------ Get */

/* Sends a Get for one article and returns it in *out. */
static int get_one(as_client_t *c, Artstore__V1__GetRequest *req,
                   const char *what, as_article_t **out)
{
    Artstore__V1__GetResponse *resp;
    ProtobufCMessage *m;
    int rc;

    *out = NULL;
    rc = as__call(c, "Get", &req->base, &artstore__v1__get_response__descriptor,
                  &m);
    if (rc != AS_OK)
        return rc;
    resp = (Artstore__V1__GetResponse *)m;
    if (resp->n_articles == 0)
        rc = as__fail(c, AS_ENOT_FOUND, "%s", what);
    else if ((*out = as__article_take_pb(resp->articles[0])) == NULL)
        rc = as__fail(c, AS_ERESOURCE_EXHAUSTED,
                      "out of memory copying the article");
    artstore__v1__get_response__free_unpacked(resp, NULL);
    return rc;
}

int as_get(as_client_t *c, uint64_t id, int omit_body, as_article_t **out)
{
    Artstore__V1__GetRequest req = ARTSTORE__V1__GET_REQUEST__INIT;
    char what[48];

    if (c == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    req.has_id = 1;
    req.id = id;
    req.has_omit_body = omit_body != 0;
    req.omit_body = omit_body != 0;
    snprintf(what, sizeof(what), "article %llu", (unsigned long long)id);
    return get_one(c, &req, what, out);
}

int as_get_by_url(as_client_t *c, const char *url, int omit_body,
                  as_article_t **out)
{
    Artstore__V1__GetRequest req = ARTSTORE__V1__GET_REQUEST__INIT;
    char what[300];

    if (c == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    if (url == NULL) {
        *out = NULL;
        return as__fail(c, AS_EINVALID_ARGUMENT, "url is NULL");
    }
    req.url = (char *)url;
    req.has_omit_body = omit_body != 0;
    req.omit_body = omit_body != 0;
    snprintf(what, sizeof(what), "no article with url %.200s", url);
    return get_one(c, &req, what, out);
}

/* ------------------------------------------------------------ Delete */

int as_delete(as_client_t *c, uint64_t id, uint64_t expected_revision,
              uint64_t *revision_out)
{
    Artstore__V1__DeleteRequest req = ARTSTORE__V1__DELETE_REQUEST__INIT;
    Artstore__V1__DeleteResponse *resp;
    ProtobufCMessage *m;
    uint8_t rid[AS__REQUEST_ID_LEN];
    int rc;

    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    req.has_id = 1;
    req.id = id;
    if (expected_revision != AS_REV_ANY) {
        req.has_expected_revision = 1;
        req.expected_revision = expected_revision;
    }
    /* A resent delete answers what the first one did, not NOT_FOUND. */
    as__request_id(rid, &req.has_request_id, &req.request_id);
    rc = as__call(c, "Delete", &req.base,
                  &artstore__v1__delete_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    resp = (Artstore__V1__DeleteResponse *)m;
    if (revision_out != NULL)
        *revision_out = resp->revision;
    artstore__v1__delete_response__free_unpacked(resp, NULL);
    return AS_OK;
}

/* ------------------------------------------------------------ Ping */

int as_ping(as_client_t *c, as_ping_info_t *info)
{
    Artstore__V1__PingRequest req = ARTSTORE__V1__PING_REQUEST__INIT;
    Artstore__V1__PingResponse *resp;
    ProtobufCMessage *m;
    int rc;

    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    rc = as__call(c, "Ping", &req.base,
                  &artstore__v1__ping_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    resp = (Artstore__V1__PingResponse *)m;
    /* Learn the server's request limit; never above what this client's
     * socket accepts in a reply. */
    if (resp->has_max_message_bytes && resp->max_message_bytes > 0)
        c->max_message = resp->max_message_bytes < AS_MAX_MESSAGE
                             ? (size_t)resp->max_message_bytes
                             : AS_MAX_MESSAGE;
    if (info != NULL) {
        memset(info, 0, sizeof(*info));
        snprintf(info->version, sizeof(info->version), "%s",
                 resp->version ? resp->version : "");
        snprintf(info->feed_endpoint, sizeof(info->feed_endpoint), "%s",
                 resp->feed_endpoint ? resp->feed_endpoint : "");
        info->last_seq = resp->last_seq;
        info->time_ms = resp->time_ms;
        info->max_message_bytes = resp->max_message_bytes;
    }
    artstore__v1__ping_response__free_unpacked(resp, NULL);
    return AS_OK;
}
