/*
 * rpc.c - the request endpoint: worker threads, envelopes, dispatch; the
 * transport is spserve.c's own connections (tcp://, ipc://) or a nanomsg
 * raw REP socket (ws:// and other forms).
 */
#include "rpc.h"

#include <errno.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be.h"
#include "clock.h"
#include "log.h"
#include "pbcheck.h"
#include "spserve.h"
#include "wire.h"

#define METHOD_PREFIX "/artstore.v1.ArticleStore/"
/* How often a blocked worker wakes to see whether it should stop. */
#define POLL_MS 200
/* Entries of long_since: more than the most workers (256). */
#define LONG_TRACK 512

const double as_rpc_latency_bounds_us[AS_RPC_LAT_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
    250000, 1000000, 5000000,
};

typedef struct method_slot {
    pthread_mutex_t lock;
    as_method_stats_t stats;
} method_slot_t;

struct as_rpc {
    int sock;                  /* the nanomsg socket, -1 when direct */
    as_spserve_t *sp;          /* the own connections (spserve.h), or NULL */
    as_rpc_opts_t opts;
    pthread_t *threads;
    int n_threads;
    atomic_int stopping;
    /* Leader/followers: one worker at a time waits on the socket. nanomsg
     * wakes every thread blocked in nn_recv on a socket for each message,
     * so without this each request woke all the workers. */
    pthread_mutex_t recv_lock;
    method_slot_t *slots;      /* one per method, plus one for unknown */
    atomic_int long_calls;     /* long_call handlers running now */
    int max_long;
    /* When each running long call began (wall ms; 0: a free entry), for
     * as_rpc_oldest_long_call. A long call runs on a worker (at most 256),
     * so there is always a free entry. */
    _Atomic int64_t long_since[LONG_TRACK];
};

/* A long call's slot, shared by the handler's worker and the call: it is
 * given back by whichever comes first, the handler returning (a parked
 * call holds no worker) or the reply going out (before it is sent, so
 * that a client's next call never finds its own last one still counted).
 * Freed by the second. */
typedef struct long_slot {
    atomic_int held;
    atomic_int refs;
    int since;                 /* its entry in long_since, -1: none */
} long_slot_t;

struct as_call {
    long_slot_t *slot;         /* a long call's slot, NULL otherwise */
    as_rpc_t *rpc;
    void *control;             /* nanomsg routing header (NN_MSG) */
    int direct;                /* came on an own connection: route */
    as_sp_route_t route;
    as_arena_t *arena;
    void *worker;
    uint64_t call_id;
    int64_t deadline_ms;
    int linearizable;          /* the envelope asks for a linearizable read */
    size_t method;             /* index into opts.methods, n_methods: none */
    struct timespec start;
    void *reply;               /* as_call_reply_reserve: the whole reply */
    size_t reply_len;          /* its length */
};

/* ------------------------------------------------------------ replies */

static void record(as_call_t *c, int code)
{
    method_slot_t *m = &c->rpc->slots[c->method];
    struct timespec end;
    double us;
    int i;

    clock_gettime(CLOCK_MONOTONIC, &end);
    us = (double)(end.tv_sec - c->start.tv_sec) * 1e6 +
         (double)(end.tv_nsec - c->start.tv_nsec) / 1e3;
    for (i = 0; i < AS_RPC_LAT_BUCKETS; i++)
        if (us <= as_rpc_latency_bounds_us[i])
            break;
    pthread_mutex_lock(&m->lock);
    m->stats.codes[code >= 0 && code < AS_RPC_CODES ? code : AS_CODE_UNKNOWN]++;
    m->stats.lat_counts[i]++;
    m->stats.lat_count++;
    m->stats.lat_sum_us += us;
    pthread_mutex_unlock(&m->lock);
}

/* Gives back slot's long-call count once, and frees it on the second of
 * its two releases. Accepts NULL. */
static void release_slot(as_rpc_t *r, long_slot_t *slot)
{
    if (slot == NULL)
        return;
    if (atomic_exchange(&slot->held, 0)) {
        if (slot->since >= 0)
            atomic_store(&r->long_since[slot->since], 0);
        atomic_fetch_sub(&r->long_calls, 1);
    }
    if (atomic_fetch_sub(&slot->refs, 1) == 1)
        free(slot);
}

/* A buffer for a reply of size bytes: a nanomsg chunk, sent without a
 * copy, or plain memory for an own connection or a socketless call. */
static void *reply_alloc(as_call_t *c, size_t size)
{
    return c->control != NULL ? nn_allocmsg(size ? size : 1, 0)
                              : malloc(size ? size : 1);
}

/* Frees a buffer of reply_alloc. */
static void reply_free(as_call_t *c, void *buf)
{
    if (c->control != NULL)
        nn_freemsg(buf);
    else
        free(buf);
}

/* Sends buf (from reply_alloc, holding the whole packed Reply; NULL: no
 * reply can be made) with the request's routing header, or drops it for a
 * socketless call (whose reply was packed only so that encoding is
 * exercised too); then frees the call. */
static void send_packed(as_call_t *c, void *buf, size_t len)
{
    struct nn_msghdr hdr;
    struct nn_iovec iov;

    release_slot(c->rpc, c->slot);
    c->slot = NULL;
    if (c->direct) {
        /* A connection closed since is recognised there: dropped. */
        as_spserve_reply(c->rpc->sp, &c->route, buf, len);
        free(buf);
        goto out_free;
    }
    if (c->control == NULL) {
        if (buf != NULL && c->rpc->opts.local_reply != NULL)
            c->rpc->opts.local_reply(c->rpc->opts.ctx, buf, len);
        free(buf);
        goto out_free;
    }
    memset(&hdr, 0, sizeof(hdr));
    iov.iov_base = &buf;
    iov.iov_len = NN_MSG;
    hdr.msg_iov = &iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = &c->control;
    hdr.msg_controllen = NN_MSG;
    /* nanomsg owns buf and the header once the send succeeds. */
    if (nn_sendmsg(c->rpc->sock, &hdr, NN_DONTWAIT) < 0) {
        as_log_debug("reply to call %llu dropped: %s",
                     (unsigned long long)c->call_id, nn_strerror(nn_errno()));
        nn_freemsg(buf);
        nn_freemsg(c->control);
    }
out_free:
    as_arena_destroy(c->arena);
    free(c);
}

/* Packs the Reply envelope and sends it; then frees the call. */
static void send_reply(as_call_t *c, int code, const char *msg,
                       const void *payload, size_t len)
{
    Artstore__V1__Reply reply = ARTSTORE__V1__REPLY__INIT;
    Artstore__V1__Status status = ARTSTORE__V1__STATUS__INIT;
    size_t size;
    void *buf;

    if (c->reply != NULL) {
        /* Reserved but replaced by this reply (an error found late). */
        reply_free(c, c->reply);
        c->reply = NULL;
    }
    reply.has_call_id = 1;
    reply.call_id = c->call_id;
    if (code != AS_CODE_OK) {
        status.has_code = 1;
        status.code = (Artstore__V1__Code)code;
        status.message = (char *)msg;
        reply.status = &status;
    } else if (len > 0) {
        reply.has_payload = 1;
        reply.payload.data = (uint8_t *)payload;
        reply.payload.len = len;
    }
    record(c, code);
    size = artstore__v1__reply__get_packed_size(&reply);
    if ((buf = reply_alloc(c, size)) == NULL) {
        as_log_error("reply: out of memory for %zu bytes", size);
        if (c->control != NULL)
            nn_freemsg(c->control);
        c->control = NULL;
        send_packed(c, NULL, 0);
        return;
    }
    artstore__v1__reply__pack(&reply, buf);
    send_packed(c, buf, size);
}

void *as_call_reply_reserve(as_call_t *c, size_t len)
{
    Artstore__V1__Reply reply = ARTSTORE__V1__REPLY__INIT;
    uint8_t field[20];
    size_t head, nfield;
    uint8_t *buf;

    if (c->reply != NULL)
        return NULL;
    reply.has_call_id = 1;
    reply.call_id = c->call_id;
    head = artstore__v1__reply__get_packed_size(&reply);
    /* The payload field goes last, so that the payload itself ends the
     * message and is written in place. */
    nfield = len > 0 ? as_wire_varint(field, (AS_WIRE_REPLY_PAYLOAD << 3) |
                                                 AS_WIRE_LEN)
                     : 0;
    if (len > 0)
        nfield += as_wire_varint(field + nfield, len);
    if ((buf = reply_alloc(c, head + nfield + len)) == NULL)
        return NULL;
    artstore__v1__reply__pack(&reply, buf);
    memcpy(buf + head, field, nfield);
    c->reply = buf;
    c->reply_len = head + nfield + len;
    return buf + head + nfield;
}

void as_call_reply_send(as_call_t *c)
{
    void *buf = c->reply;

    if (buf == NULL) {
        send_reply(c, AS_CODE_INTERNAL, "reply sent without a reservation",
                   NULL, 0);
        return;
    }
    c->reply = NULL;
    record(c, AS_CODE_OK);
    send_packed(c, buf, c->reply_len);
}

void as_call_reply(as_call_t *c, const ProtobufCMessage *resp)
{
    size_t len = resp ? protobuf_c_message_get_packed_size(resp) : 0;
    uint8_t *buf = as_call_reply_reserve(c, len);

    if (buf == NULL) {
        send_reply(c, AS_CODE_RESOURCE_EXHAUSTED,
                   "out of memory for a reply of this size", NULL, 0);
        return;
    }
    if (len > 0)
        protobuf_c_message_pack(resp, buf);
    as_call_reply_send(c);
}

void as_call_reply_raw(as_call_t *c, const void *payload, size_t len)
{
    send_reply(c, AS_CODE_OK, NULL, payload, len);
}

void as_call_reply_error(as_call_t *c, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_reply(c, code, msg, NULL, 0);
}

void as_call_reply_status(as_call_t *c, const as_status_t *st)
{
    send_reply(c, st->code, st->msg, NULL, 0);
}

as_arena_t *as_call_arena(as_call_t *c)
{
    return c->arena;
}

void *as_call_ctx(as_call_t *c)
{
    return c->rpc->opts.ctx;
}

void *as_call_worker(as_call_t *c)
{
    return c->worker;
}

int64_t as_call_deadline_ms(as_call_t *c)
{
    return c->deadline_ms;
}

int as_call_linearizable(as_call_t *c)
{
    return c->linearizable;
}

uint32_t as_call_peer(as_call_t *c)
{
    struct nn_msghdr hdr;
    struct nn_cmsghdr *cm;
    const unsigned char *d;

    if (c->direct)
        return as_spserve_peer(&c->route);
    if (c->control == NULL)
        return 0;
    memset(&hdr, 0, sizeof(hdr));
    hdr.msg_control = &c->control;
    hdr.msg_controllen = NN_MSG;
    for (cm = NN_CMSG_FIRSTHDR(&hdr); cm != NULL;
         cm = NN_CMSG_NXTHDR(&hdr, cm)) {
        if (cm->cmsg_level != PROTO_SP || cm->cmsg_type != SP_HDR ||
            cm->cmsg_len < NN_CMSG_LEN(sizeof(size_t) + 4))
            continue;
        /* SP_HDR data: the header's length (size_t), then the header,
         * whose first 4 bytes are the pipe key (xrep.c). */
        d = NN_CMSG_DATA(cm) + sizeof(size_t);
        return as_be_get32(d);
    }
    return 0;
}

/* ------------------------------------------------------------ dispatch */

static size_t find_method(as_rpc_t *r, const char *path)
{
    size_t i, plen = strlen(METHOD_PREFIX);

    if (path == NULL || strncmp(path, METHOD_PREFIX, plen) != 0)
        return r->opts.n_methods;
    for (i = 0; i < r->opts.n_methods; i++)
        if (strcmp(path + plen, r->opts.methods[i].name) == 0)
            return i;
    return r->opts.n_methods;
}

/* Returns a new call for a request that came with control (NN_MSG), on
 * an own connection (route), or neither (socketless), its arena bounded
 * by max_decode_bytes; NULL when out of memory, after replying if it
 * could. */
static as_call_t *call_new(as_rpc_t *r, void *worker, void *control,
                           const as_sp_route_t *route)
{
    as_call_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        as_log_error("request dropped: out of memory");
        if (control != NULL)
            nn_freemsg(control);
        if (route != NULL)
            as_spserve_reply(r->sp, route, NULL, 0);
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    c->rpc = r;
    c->control = control;
    if (route != NULL) {
        c->direct = 1;
        c->route = *route;
    }
    c->worker = worker;
    c->method = r->opts.n_methods;
    c->arena = as_arena_create(r->opts.max_decode_bytes);
    if (c->arena == NULL) {
        send_reply(c, AS_CODE_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
        return NULL;
    }
    return c;
}

/* Unpacks the envelope body[0..n) into c's arena. Returns it, or NULL
 * after replying (a NUL inside a string, not a Request, or over
 * max_decode_bytes). */
static Artstore__V1__Request *unpack_envelope(as_call_t *c, const void *body,
                                              size_t n)
{
    Artstore__V1__Request *req;
    ProtobufCAllocator al;
    as_status_t st;

    /* Before anything reads a string of the envelope (the token above
     * all): a NUL would cut it short after unpacking. */
    if (as_pbcheck_strings(&artstore__v1__request__descriptor, body, n,
                           &st) != 0) {
        as_call_reply_status(c, &st);
        return NULL;
    }
    al = as_arena_allocator(c->arena);
    req = artstore__v1__request__unpack(&al, n, body);
    if (req == NULL) {
        if (as_arena_exhausted(c->arena))
            as_call_reply_error(c, AS_CODE_RESOURCE_EXHAUSTED,
                                "request decodes to more than "
                                "max_decode_bytes=%zu",
                                c->rpc->opts.max_decode_bytes);
        else
            as_call_reply_error(c, AS_CODE_INVALID_ARGUMENT,
                                "message is not a valid artstore.v1.Request "
                                "envelope (%zu bytes)", n);
    }
    return req;
}

/*
 * Takes the envelope's call id, deadline and flags into c and finds its
 * method, then checks, in this order: the token (first, so that a client
 * without one learns nothing, not even which methods exist), that there
 * is a known method, and that the deadline (deadline_ms, or timeout_ms
 * counted from arrival) has not passed. Returns 0, or -1 after replying.
 */
static int admit(as_call_t *c, const Artstore__V1__Request *req)
{
    as_rpc_t *r = c->rpc;
    as_status_t st;
    int64_t now;

    c->call_id = req->has_call_id ? req->call_id : 0;
    c->deadline_ms = req->has_deadline_ms ? req->deadline_ms : 0;
    c->linearizable = req->has_linearizable && req->linearizable;
    c->method = find_method(r, req->method);
    if (r->opts.auth != NULL &&
        r->opts.auth(r->opts.auth_ctx, req->auth_token,
                     c->method < r->opts.n_methods
                         ? r->opts.methods[c->method].write : 0,
                     &st) != 0) {
        as_call_reply_status(c, &st);
        return -1;
    }
    if (req->method == NULL || req->method[0] == '\0') {
        as_call_reply_error(c, AS_CODE_INVALID_ARGUMENT,
                            "the envelope has no method; set Request.method "
                            "to " METHOD_PREFIX "<Method>");
        return -1;
    }
    if (c->method == r->opts.n_methods) {
        as_call_reply_error(c, AS_CODE_UNIMPLEMENTED, "unknown method '%.200s'",
                            req->method);
        return -1;
    }
    now = as_clock_wall_ms();
    /* timeout_ms counts from arrival, so it holds across skewed clocks. */
    if (req->has_timeout_ms && req->timeout_ms > 0 &&
        (c->deadline_ms <= 0 ||
         now + (int64_t)req->timeout_ms < c->deadline_ms))
        c->deadline_ms = now + (int64_t)req->timeout_ms;
    if (c->deadline_ms > 0 && now > c->deadline_ms) {
        as_call_reply_error(c, AS_CODE_DEADLINE_EXCEEDED,
                            "deadline passed %lld ms before the request was "
                            "read", (long long)(now - c->deadline_ms));
        return -1;
    }
    return 0;
}

/*
 * For a long call (Query, ListTags, Backup), takes one of the
 * max_long_calls slots into c->slot and *slot. A worker must stay free for
 * Get, Put, Ping...: a long call over the bound is refused at once rather
 * than queued on a worker. The slot is held while the handler runs on
 * this thread, not while a call waits elsewhere (a parked Changes, a write
 * in the writer queue). Returns 0 (*slot NULL for a quick call), or -1
 * after replying.
 */
static int take_long_slot(as_call_t *c, long_slot_t **slot)
{
    as_rpc_t *r = c->rpc;
    int i;

    *slot = NULL;
    if (!r->opts.methods[c->method].long_call || r->max_long <= 0)
        return 0;
    if (atomic_fetch_add(&r->long_calls, 1) >= r->max_long) {
        atomic_fetch_sub(&r->long_calls, 1);
        as_call_reply_error(c, AS_CODE_RESOURCE_EXHAUSTED,
                            "%d long calls (Query, ListTags, Backup) "
                            "are running, the limit max_long_calls=%d that "
                            "keeps a worker free for quick calls; retry",
                            r->max_long, r->max_long);
        return -1;
    }
    if ((*slot = malloc(sizeof(**slot))) == NULL) {
        atomic_fetch_sub(&r->long_calls, 1);
        as_call_reply_error(c, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    atomic_init(&(*slot)->held, 1);
    atomic_init(&(*slot)->refs, 2);
    (*slot)->since = -1;
    for (i = 0; i < LONG_TRACK && (*slot)->since < 0; i++) {
        int64_t zero = 0;

        if (atomic_compare_exchange_strong(&r->long_since[i], &zero,
                                           as_clock_wall_ms()))
            (*slot)->since = i;
    }
    c->slot = *slot;
    return 0;
}

/* Decodes one request and hands it to its handler; every path ends in
 * exactly one reply. *leading is set while the caller holds the nanomsg
 * socket (recv_lock): it is let go before any handler that may take a
 * while. (A request from an own connection is served by the thread that
 * read it: the other threads wait on the other connections.) */
static void dispatch(as_rpc_t *r, void *worker, void *control,
                     const as_sp_route_t *route, const void *body, size_t n,
                     int *leading)
{
    Artstore__V1__Request *req;
    as_call_t *c;
    long_slot_t *slot;
    size_t len, quick;

    if ((c = call_new(r, worker, control, route)) == NULL ||
        (req = unpack_envelope(c, body, n)) == NULL || admit(c, req) != 0 ||
        take_long_slot(c, &slot) != 0)
        return;
    len = req->has_payload ? req->payload.len : 0;
    quick = r->opts.methods[c->method].quick_bytes;
    /* A linearizable read may wait for the cluster (a barrier, the
     * leader's read index): never while holding the socket. */
    if (*leading && (quick == 0 || len > quick || c->linearizable)) {
        pthread_mutex_unlock(&r->recv_lock);
        *leading = 0;
    }
    r->opts.methods[c->method].fn(c, req->has_payload ? req->payload.data : NULL,
                                  len);
    /* c may be gone (replied): only the slot is ours to touch. */
    release_slot(r, slot);
}

/* as_spserve_request_fn: a request from an own connection. */
static void direct_request(void *arg, void *worker, const as_sp_route_t *route,
                           const void *body, size_t n)
{
    int leading = 0;

    dispatch(arg, worker, NULL, route, body, n, &leading);
}

static void *worker_main(void *arg)
{
    as_rpc_t *r = arg;
    void *worker = r->opts.worker_init ? r->opts.worker_init(r->opts.ctx)
                                       : NULL;

    int leading = 0;

    while (r->sp != NULL && !atomic_load(&r->stopping))
        as_spserve_serve(r->sp, worker, POLL_MS);
    while (r->sp == NULL && !atomic_load(&r->stopping)) {
        struct nn_msghdr hdr;
        struct nn_iovec iov;
        void *body = NULL, *control = NULL;
        int n;

        memset(&hdr, 0, sizeof(hdr));
        iov.iov_base = &body;
        iov.iov_len = NN_MSG;
        hdr.msg_iov = &iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = &control;
        hdr.msg_controllen = NN_MSG;
        /* A worker still leading after a quick request goes on receiving:
         * letting go of the lock and taking it again woke a follower,
         * only for it to sleep again (two context switches a request). */
        if (!leading) {
            pthread_mutex_lock(&r->recv_lock);
            leading = 1;
        }
        n = nn_recvmsg(r->sock, &hdr, 0);
        if (n < 0) {
            int e = nn_errno();

            pthread_mutex_unlock(&r->recv_lock);
            leading = 0;
            if (e == ETIMEDOUT || e == EAGAIN || e == EINTR)
                continue;
            if (e != EBADF && e != ETERM)
                as_log_error("recv: %s", nn_strerror(e));
            break;
        }
        dispatch(r, worker, control, NULL, body, (size_t)n, &leading);
        nn_freemsg(body);
    }
    if (leading)
        pthread_mutex_unlock(&r->recv_lock);
    if (r->opts.worker_fini)
        r->opts.worker_fini(r->opts.ctx, worker);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

int as_rpc_start(const as_rpc_opts_t *opts, as_rpc_t **out, as_status_t *st)
{
    as_rpc_t *r = calloc(1, sizeof(*r));
    int max = opts->max_message_bytes > (size_t)0x7fffffff
                  ? 0x7fffffff : (int)opts->max_message_bytes;
    int poll = POLL_MS, one = 1, bufsz = 4 << 20, i, rc;
    size_t m;

    if (r == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    r->opts = *opts;
    r->max_long = opts->max_long_calls > 0 ? opts->max_long_calls
                                           : opts->workers - 1;
    if (r->max_long < 1)
        r->max_long = 1;
    r->slots = calloc(opts->n_methods + 1, sizeof(*r->slots));
    r->threads = calloc((size_t)opts->workers, sizeof(*r->threads));
    if (r->slots == NULL || r->threads == NULL) {
        as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out_free;
    }
    for (m = 0; m <= opts->n_methods; m++)
        pthread_mutex_init(&r->slots[m].lock, NULL);
    pthread_mutex_init(&r->recv_lock, NULL);
    r->sock = -1;
    if (as_spserve_supports(opts->endpoint)) {
        as_spserve_opts_t so;

        memset(&so, 0, sizeof(so));
        so.endpoint = opts->endpoint;
        so.max_message_bytes = opts->max_message_bytes;
        so.stall_ms = opts->stall_ms;
        so.on_request = direct_request;
        so.arg = r;
        if (as_spserve_listen(&so, &r->sp, st) != 0)
            goto out_free;
        goto out_start;
    }
    r->sock = nn_socket(AF_SP_RAW, NN_REP);
    if (r->sock < 0) {
        as_status_set(st, AS_CODE_INTERNAL, "nn_socket: %s",
                      nn_strerror(nn_errno()));
        goto out_free;
    }
    /* The receive limit is the protocol's documented one, set explicitly:
     * nanomsg's silent 1 MiB default would drop larger requests. */
    nn_setsockopt(r->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    nn_setsockopt(r->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &poll, sizeof(poll));
    /* A reply must not wait for the ACK of the one before it (Nagle). */
    nn_setsockopt(r->sock, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one));
    nn_setsockopt(r->sock, NN_SOL_SOCKET, NN_SNDBUF, &bufsz, sizeof(bufsz));
    nn_setsockopt(r->sock, NN_SOL_SOCKET, NN_RCVBUF, &bufsz, sizeof(bufsz));
    if (nn_bind(r->sock, opts->endpoint) < 0) {
        as_status_set(st, AS_CODE_UNAVAILABLE, "cannot listen on %s: %s",
                      opts->endpoint, nn_strerror(nn_errno()));
        goto out_close;
    }
out_start:
    /* *out is set before the first worker starts, so that a handler may
     * read it (through its context) without a race. */
    *out = r;
    for (i = 0; i < opts->workers; i++) {
        if ((rc = pthread_create(&r->threads[i], NULL, worker_main, r)) != 0) {
            as_status_set(st, AS_CODE_INTERNAL, "start worker: %s",
                          strerror(rc));
            atomic_store(&r->stopping, 1);
            while (--i >= 0)
                pthread_join(r->threads[i], NULL);
            *out = NULL;
            goto out_close;
        }
        r->n_threads++;
    }
    return 0;

out_close:
    if (r->sock >= 0)
        nn_close(r->sock);
    as_spserve_close(r->sp);
out_free:
    free(r->threads);
    free(r->slots);
    free(r);
    return st->code;
}

as_rpc_t *as_rpc_local(const as_rpc_opts_t *opts)
{
    as_rpc_t *r = calloc(1, sizeof(*r));
    size_t m;

    if (r == NULL)
        return NULL;
    r->opts = *opts;
    r->sock = -1;
    pthread_mutex_init(&r->recv_lock, NULL);
    r->slots = calloc(opts->n_methods + 1, sizeof(*r->slots));
    if (r->slots == NULL) {
        free(r);
        return NULL;
    }
    for (m = 0; m <= opts->n_methods; m++)
        pthread_mutex_init(&r->slots[m].lock, NULL);
    return r;
}

void as_rpc_dispatch_bytes(as_rpc_t *r, void *worker, const void *body,
                           size_t n)
{
    int leading = 0;

    dispatch(r, worker, NULL, NULL, body, n, &leading);
}

void as_rpc_stop(as_rpc_t *r)
{
    int i;

    if (r == NULL || atomic_exchange(&r->stopping, 1))
        return;
    for (i = 0; i < r->n_threads; i++)
        pthread_join(r->threads[i], NULL);
}

void as_rpc_close(as_rpc_t *r)
{
    size_t m;

    if (r == NULL)
        return;
    as_rpc_stop(r);
    if (r->sock >= 0)
        nn_close(r->sock);
    as_spserve_close(r->sp);
    for (m = 0; m <= r->opts.n_methods; m++)
        pthread_mutex_destroy(&r->slots[m].lock);
    pthread_mutex_destroy(&r->recv_lock);
    free(r->threads);
    free(r->slots);
    free(r);
}

void as_rpc_get_stats(as_rpc_t *r, size_t i, as_method_stats_t *out)
{
    pthread_mutex_lock(&r->slots[i].lock);
    *out = r->slots[i].stats;
    pthread_mutex_unlock(&r->slots[i].lock);
}

int64_t as_rpc_oldest_long_call(as_rpc_t *r)
{
    int64_t oldest = 0, t;
    int i;

    for (i = 0; i < LONG_TRACK; i++)
        if ((t = atomic_load(&r->long_since[i])) != 0 &&
            (oldest == 0 || t < oldest))
            oldest = t;
    return oldest;
}

int as_rpc_workers(const as_rpc_t *r)
{
    return r->n_threads;
}

int as_rpc_direct(const as_rpc_t *r)
{
    return r != NULL && r->sp != NULL;
}
