/*
 * check_spserve.c - the request endpoint's own SP connections
 * (server/spserve.c) under the real envelope layer (server/rpc.c), in the
 * test process: interop with nanomsg REQ sockets (cooked, and raw with
 * pipelined requests answered out of order), and what an untrusted peer
 * may not do (an oversized length, a wrong handshake, a stalled half
 * request, replies never read, closing before its reply).
 */
#include <check.h>
#include <errno.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "be.h"
#include "check_main.h"
#include "rpc.h"
#include "tempdir.h"
#include "testutil.h"

#define BIG_REPLY (256 * 1024)
#define MAX_HELD 256

/* Calls parked by Hold, answered by release_held. */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static as_call_t *held[MAX_HELD];
static int n_held;
static atomic_int big_calls;

static void h_echo(as_call_t *call, const uint8_t *payload, size_t len)
{
    uint8_t *p = as_call_reply_reserve(call, len);

    if (p == NULL) {
        as_call_reply_error(call, AS_CODE_INTERNAL, "reserve failed");
        return;
    }
    if (len > 0)
        memcpy(p, payload, len);
    as_call_reply_send(call);
}

/* Replies BIG_REPLY bytes to a small request. */
static void h_big(as_call_t *call, const uint8_t *payload, size_t len)
{
    uint8_t *p = as_call_reply_reserve(call, BIG_REPLY);

    (void)payload;
    (void)len;
    atomic_fetch_add(&big_calls, 1);
    if (p == NULL) {
        as_call_reply_error(call, AS_CODE_INTERNAL, "reserve failed");
        return;
    }
    memset(p, 'x', BIG_REPLY);
    as_call_reply_send(call);
}

/* Parks the call until release_held. */
static void h_hold(as_call_t *call, const uint8_t *payload, size_t len)
{
    (void)payload;
    (void)len;
    pthread_mutex_lock(&held_lock);
    if (n_held < MAX_HELD) {
        held[n_held++] = call;
        call = NULL;
    }
    pthread_mutex_unlock(&held_lock);
    if (call != NULL)
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED, "too many");
}

/* Takes a second, then echoes. */
static void h_slow(as_call_t *call, const uint8_t *payload, size_t len)
{
    sleep(1);
    h_echo(call, payload, len);
}

/* Replies with the call's connection key (as_call_peer), 4 bytes. */
static void h_peer(as_call_t *call, const uint8_t *payload, size_t len)
{
    unsigned char key[4];

    (void)payload;
    (void)len;
    as_be_put32(key, as_call_peer(call));
    as_call_reply_raw(call, key, sizeof(key));
}

/* Gate: holds its worker until the test opens the gate. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_waiting;
static atomic_ulong counted;

static void h_gate(as_call_t *call, const uint8_t *payload, size_t len)
{
    pthread_mutex_lock(&gate_lock);
    gate_waiting = 1;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    h_echo(call, payload, len);
}

/* Replies with how many Count calls were served, this one included (8
 * bytes). */
static void h_count(as_call_t *call, const uint8_t *payload, size_t len)
{
    unsigned char n[8];

    (void)payload;
    (void)len;
    as_be_put64(n, atomic_fetch_add(&counted, 1) + 1);
    as_call_reply_raw(call, n, sizeof(n));
}

static const as_method_t methods[] = {
    { .name = "Echo", .fn = h_echo },
    { .name = "Big", .fn = h_big },
    { .name = "Hold", .fn = h_hold },
    { .name = "Slow", .fn = h_slow, .long_call = 1 },
    { .name = "Peer", .fn = h_peer },
    { .name = "Gate", .fn = h_gate },
    { .name = "Count", .fn = h_count },
};

/* Answers the parked calls, the last parked first. Returns how many. */
static int release_held(void)
{
    int n;

    pthread_mutex_lock(&held_lock);
    n = n_held;
    while (n_held > 0)
        h_echo(held[--n_held], NULL, 0);
    pthread_mutex_unlock(&held_lock);
    return n;
}

static int count_held(void)
{
    int n;

    pthread_mutex_lock(&held_lock);
    n = n_held;
    pthread_mutex_unlock(&held_lock);
    return n;
}

static char endpoint[160];
static int port;
static int n_workers = 3;

/* Starts an rpc with the test methods on tcp://127.0.0.1:PORT (or
 * ipc://, ipc nonzero), 3 workers. */
static as_rpc_t *start(int ipc, size_t max_message, int64_t stall_ms)
{
    static char dir[128];
    as_rpc_opts_t o;
    as_rpc_t *r = NULL;
    as_status_t st;

    memset(&o, 0, sizeof(o));
    if (ipc) {
        ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
        snprintf(endpoint, sizeof(endpoint), "ipc://%s/rpc", dir);
    } else {
        ck_assert_int_gt(port = ts_free_port(), 0);
        snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%d", port);
    }
    o.endpoint = endpoint;
    o.workers = n_workers;
    o.max_message_bytes = max_message;
    o.max_decode_bytes = 1 << 20;
    o.stall_ms = stall_ms;
    o.methods = methods;
    o.n_methods = sizeof(methods) / sizeof(methods[0]);
    ck_assert_msg(as_rpc_start(&o, &r, &st) == 0, "start: %s", st.msg);
    ck_assert_msg(as_rpc_direct(r), "%s not on own connections", endpoint);
    return r;
}

/* Packs an envelope for method with call_id and payload into buf (cap
 * bytes) after a skip-byte gap; returns the envelope's length. */
static size_t envelope(const char *method, uint64_t call_id,
                       const void *payload, size_t plen, uint8_t *buf,
                       size_t cap, size_t skip)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    char path[128];
    size_t n;

    snprintf(path, sizeof(path), "/artstore.v1.ArticleStore/%s", method);
    env.method = path;
    env.has_call_id = 1;
    env.call_id = call_id;
    if (plen > 0) {
        env.has_payload = 1;
        env.payload.data = (uint8_t *)payload;
        env.payload.len = plen;
    }
    n = artstore__v1__request__get_packed_size(&env);
    ck_assert_uint_le(n + skip, cap);
    return artstore__v1__request__pack(&env, buf + skip);
}

/* Unpacks a Reply, asserting it is one. */
static Artstore__V1__Reply *unpack(const void *buf, size_t n)
{
    Artstore__V1__Reply *r = artstore__v1__reply__unpack(NULL, n, buf);

    ck_assert_msg(r != NULL, "not a Reply (%zu bytes)", n);
    return r;
}

/* ------------------------------------------------------------ raw SP */

/* Opens a TCP connection to the endpoint's port and sends the SP header
 * of protocol proto (REQ: 0x30). */
static int sp_open(unsigned proto)
{
    int fd = ts_sp_open(port, proto);

    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Reads the server's SP header from fd: REP's. */
static void sp_hello(int fd)
{
    unsigned char theirs[8];

    ck_assert_int_eq(recv(fd, theirs, 8, MSG_WAITALL), 8);
    ck_assert(theirs[1] == 'S' && theirs[2] == 'P' && theirs[5] == 0x31);
}

/* Sends a request for method with request id id (top bit set here). */
static void sp_send(int fd, uint32_t id, const char *method, uint64_t call_id)
{
    uint8_t buf[512];
    size_t n = envelope(method, call_id, NULL, 0, buf, sizeof(buf), 12);

    as_be_put64(buf, n + 4);
    as_be_put32(buf + 8, id | 0x80000000u);
    ck_assert_int_eq(write(fd, buf, n + 12), (ssize_t)(n + 12));
}

/* Waits up to ms for fd to be closed by the server (EOF or a reset);
 * returns nonzero when it was. Data that comes first is read and
 * dropped. */
static int closed_within(int fd, int ms)
{
    char b[4096];
    int i;

    for (i = 0; i < ms / 10; i++) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t n;

        if (poll(&p, 1, 10) != 1)
            continue;
        if ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) <= 0 &&
            !(n < 0 && errno == EAGAIN))
            return 1;
    }
    return 0;
}

/* Reads one reply within ms: its request id and envelope (free it).
 * NULL when none came. */
static Artstore__V1__Reply *sp_recv(int fd, uint32_t *id, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    unsigned char head[12];
    Artstore__V1__Reply *r;
    uint64_t len;
    char *body;

    if (poll(&p, 1, ms) != 1 || recv(fd, head, 12, MSG_WAITALL) != 12)
        return NULL;
    len = as_be_get64(head);
    ck_assert_uint_ge(len, 4);
    ck_assert_uint_lt(len, 1 << 20);
    *id = as_be_get32(head + 8);
    body = malloc(len - 4 + 1);
    ck_assert_int_eq(recv(fd, body, len - 4, MSG_WAITALL), (ssize_t)(len - 4));
    r = unpack(body, len - 4);
    free(body);
    return r;
}

/* ------------------------------------------------------------ nanomsg */

/* One call on a cooked nanomsg REQ socket: Echo of payload. */
static void nn_echo(int sock, uint64_t call_id, const char *payload)
{
    uint8_t buf[512];
    size_t n = envelope("Echo", call_id, payload, strlen(payload), buf,
                        sizeof(buf), 0);
    Artstore__V1__Reply *r;
    void *msg = NULL;
    int got;

    ck_assert_int_eq(nn_send(sock, buf, n, 0), (int)n);
    got = nn_recv(sock, &msg, NN_MSG, 0);
    ck_assert_msg(got > 0, "no reply: %s", nn_strerror(nn_errno()));
    r = unpack(msg, (size_t)got);
    ck_assert(r->status == NULL && r->call_id == call_id);
    ck_assert_uint_eq(r->payload.len, strlen(payload));
    ck_assert(memcmp(r->payload.data, payload, r->payload.len) == 0);
    artstore__v1__reply__free_unpacked(r, NULL);
    nn_freemsg(msg);
}

static int nn_req(int raw)
{
    int sock = nn_socket(raw ? AF_SP_RAW : AF_SP, NN_REQ), tmo = 5000;

    ck_assert_int_ge(sock, 0);
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof(tmo));
    ck_assert_int_ge(nn_connect(sock, endpoint), 0);
    return sock;
}

/* A cooked nanomsg REQ socket is served on tcp:// and ipc://. */
START_TEST(cooked_req_interop)
{
    int ipc, sock, i;

    for (ipc = 0; ipc <= 1; ipc++) {
        as_rpc_t *r = start(ipc, 1 << 20, 0);

        sock = nn_req(0);
        for (i = 0; i < 20; i++)
            nn_echo(sock, (uint64_t)i + 1, ipc ? "over ipc" : "over tcp");
        nn_close(sock);
        as_rpc_close(r);
    }
}
END_TEST

/* A raw REQ peer sends 40 requests without waiting; they are answered
 * in another order (the last parked first), each with its own request id
 * in the SP header and its own call id. */
START_TEST(raw_pipelined_own_ids)
{
    as_rpc_t *r = start(0, 1 << 20, 0);
    int sock = nn_req(1), i, seen[40] = { 0 }, first = -1;
    uint8_t buf[512];

    for (i = 0; i < 40; i++) {
        size_t n = envelope("Hold", (uint64_t)i, NULL, 0, buf, sizeof(buf), 4);

        as_be_put32(buf, 0x80000000u | (uint32_t)(1000 + i));
        ck_assert_int_eq(nn_send(sock, buf, n + 4, 0), (int)(n + 4));
    }
    for (i = 0; i < 500 && count_held() < 40; i++)
        usleep(10000);
    ck_assert_int_eq(release_held(), 40);
    for (i = 0; i < 40; i++) {
        struct nn_msghdr hdr;
        struct nn_iovec iov;
        struct nn_cmsghdr *cm;
        void *body = NULL, *control = NULL;
        Artstore__V1__Reply *rep;
        uint32_t id = 0;
        int got;

        memset(&hdr, 0, sizeof(hdr));
        iov.iov_base = &body;
        iov.iov_len = NN_MSG;
        hdr.msg_iov = &iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = &control;
        hdr.msg_controllen = NN_MSG;
        got = nn_recvmsg(sock, &hdr, 0);
        ck_assert_msg(got > 0, "reply %d: %s", i, nn_strerror(nn_errno()));
        for (cm = NN_CMSG_FIRSTHDR(&hdr); cm != NULL;
             cm = NN_CMSG_NXTHDR(&hdr, cm))
            if (cm->cmsg_level == PROTO_SP && cm->cmsg_type == SP_HDR &&
                cm->cmsg_len >= NN_CMSG_LEN(sizeof(size_t) + 4))
                id = as_be_get32(NN_CMSG_DATA(cm) + sizeof(size_t));
        rep = unpack(body, (size_t)got);
        ck_assert_uint_lt(rep->call_id, 40);
        ck_assert_msg(id == (0x80000000u | (uint32_t)(1000 + rep->call_id)),
                      "call %llu came with request id %08x",
                      (unsigned long long)rep->call_id, id);
        ck_assert_int_eq(seen[rep->call_id]++, 0);
        if (first < 0)
            first = (int)rep->call_id;
        artstore__v1__reply__free_unpacked(rep, NULL);
        nn_freemsg(body);
        nn_freemsg(control);
    }
    /* The answers came in another order than the requests. */
    ck_assert_int_ne(first, 0);
    nn_close(sock);
    as_rpc_close(r);
}
END_TEST

/* A backtrace of several words (a request that crossed a device) comes
 * back whole; one without a request id is dropped, and the connection
 * goes on. */
START_TEST(backtrace_echoed)
{
    as_rpc_t *r = start(0, 1 << 20, 0);
    int fd = sp_open(0x30);
    uint8_t buf[512], noid[16];
    size_t n = envelope("Echo", 7, NULL, 0, buf, sizeof(buf), 16);
    unsigned char head[20];
    Artstore__V1__Reply *rep;
    uint32_t id;

    sp_hello(fd);
    /* No word with the top bit set: dropped. */
    as_be_put64(noid, 8);
    as_be_put32(noid + 8, 1);
    as_be_put32(noid + 12, 2);
    ck_assert_int_eq(write(fd, noid, 16), 16);
    /* Two hops: 0x00000005, then the request id. */
    as_be_put64(buf, n + 8);
    as_be_put32(buf + 8, 5);
    as_be_put32(buf + 12, 0x80000009u);
    ck_assert_int_eq(write(fd, buf, n + 16), (ssize_t)(n + 16));
    ck_assert_int_eq(recv(fd, head, 16, MSG_WAITALL), 16);
    ck_assert_uint_gt(as_be_get64(head), 8);
    ck_assert_uint_eq(as_be_get32(head + 8), 5);
    ck_assert_uint_eq(as_be_get32(head + 12), 0x80000009u);
    close(fd);
    fd = sp_open(0x30);
    sp_hello(fd);
    sp_send(fd, 3, "Echo", 11);
    rep = sp_recv(fd, &id, 5000);
    ck_assert_ptr_nonnull(rep);
    ck_assert_uint_eq(id, 0x80000003u);
    ck_assert_uint_eq(rep->call_id, 11);
    artstore__v1__reply__free_unpacked(rep, NULL);
    close(fd);
    as_rpc_close(r);
}
END_TEST

/* The size from VmPeak in /proc/self/status, in kB. */
static long vm_peak_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmPeak:", 7) == 0)
            kb = atol(line + 7);
    fclose(f);
    return kb;
}

/* A length header over max_message_bytes closes the connection at once,
 * and nothing of the announced 8 GB is allocated (the process's peak
 * size grows by far less); the server goes on serving. */
START_TEST(oversized_refused_before_alloc)
{
    as_rpc_t *r = start(0, 1 << 20, 0);
    unsigned char head[12] = { 0 };
    long before, after;
    int fd = sp_open(0x30), sock;

    sp_hello(fd);
    sock = nn_req(0);
    nn_echo(sock, 1, "warm");
    before = vm_peak_kb();
    as_be_put64(head, (uint64_t)8 << 30);
    as_be_put32(head + 8, 0x80000001u);
    ck_assert_int_eq(write(fd, head, 12), 12);
    ck_assert_msg(closed_within(fd, 3000),
                  "an 8 GB length header left the connection open");
    after = vm_peak_kb();
    ck_assert_msg(after - before < 1024 * 1024,
                  "peak size grew %ld kB for a refused 8 GB request",
                  after - before);
    close(fd);
    /* Just over the limit: refused too. */
    fd = sp_open(0x30);
    sp_hello(fd);
    as_be_put64(head, (1 << 20) + 1);
    ck_assert_int_eq(write(fd, head, 12), 12);
    ck_assert(closed_within(fd, 3000));
    close(fd);
    nn_echo(sock, 2, "still serving");
    nn_close(sock);
    as_rpc_close(r);
}
END_TEST

/* A peer that is not REQ (a REP, a PUB, an HTTP client) is closed
 * without a reply. */
START_TEST(bad_handshake_refused)
{
    as_rpc_t *r = start(0, 1 << 20, 0);
    unsigned protos[] = { 0x31, 0x20, 0x10 };
    size_t i;
    int fd;

    for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
        fd = sp_open(protos[i]);
        sp_send(fd, 1, "Echo", 1);
        ck_assert_msg(closed_within(fd, 3000), "protocol 0x%x was kept",
                      protos[i]);
        close(fd);
    }
    {
        struct sockaddr_in sa;
        const char *get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

        fd = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(write(fd, get, strlen(get)), (ssize_t)strlen(get));
        ck_assert_msg(closed_within(fd, 3000), "an HTTP request was kept");
        close(fd);
    }
    as_rpc_close(r);
}
END_TEST

/* With stall_ms 300: a request left half-sent is dropped; a connection
 * idle after its answer, and one whose whole request is still being
 * served (parked) for longer than that, are kept. */
START_TEST(stalled_partial_dropped)
{
    as_rpc_t *r = start(0, 1 << 20, 300);
    unsigned char head[12 + 100] = { 0 };
    int idle = sp_open(0x30), parked = sp_open(0x30), stalled = sp_open(0x30);
    Artstore__V1__Reply *rep;
    uint32_t id;

    sp_hello(idle);
    sp_hello(parked);
    sp_hello(stalled);
    sp_send(idle, 1, "Echo", 1);
    rep = sp_recv(idle, &id, 5000);
    ck_assert_ptr_nonnull(rep);
    artstore__v1__reply__free_unpacked(rep, NULL);
    sp_send(parked, 2, "Hold", 2);
    /* 1,000 bytes announced, 100 sent. */
    as_be_put64(head, 1000);
    as_be_put32(head + 8, 0x80000003u);
    ck_assert_int_eq(write(stalled, head, sizeof(head)), (ssize_t)sizeof(head));
    ck_assert_msg(closed_within(stalled, 5000),
                  "a request half-sent for 5 s was kept");
    ck_assert_int_eq(count_held(), 1);
    ck_assert_int_eq(release_held(), 1);
    rep = sp_recv(parked, &id, 5000);
    ck_assert_msg(rep != NULL, "the parked call's connection was dropped");
    ck_assert_uint_eq(id, 0x80000002u);
    artstore__v1__reply__free_unpacked(rep, NULL);
    sp_send(idle, 4, "Echo", 4);
    rep = sp_recv(idle, &id, 5000);
    ck_assert_msg(rep != NULL, "the idle connection was dropped");
    artstore__v1__reply__free_unpacked(rep, NULL);
    close(idle);
    close(parked);
    close(stalled);
    as_rpc_close(r);
}
END_TEST

/* A peer that sends requests for 256 KB replies and never reads them:
 * the server stops reading its requests (it runs a bounded number of
 * them, not all it could have read), other connections are served, and
 * what was queued is freed when the peer goes. */
START_TEST(unread_replies_bounded)
{
    as_rpc_t *r = start(0, 1 << 20, 0);
    int fd = sp_open(0x30), sock, again = 0, calls;
    static uint8_t burst[64 * 1024];
    size_t one, n = 0, sent = 0;
    uint8_t req[256];

    sp_hello(fd);
    one = envelope("Big", 1, NULL, 0, req, sizeof(req), 12);
    as_be_put64(req, one + 4);
    as_be_put32(req + 8, 0x80000001u);
    one += 12;
    while (n + one <= sizeof(burst)) {
        memcpy(burst + n, req, one);
        n += one;
    }
    /* Until the sockets are full for half a second (at most 64 MB). The
     * burst is whole requests back to back: the stream goes on from where
     * the last send stopped. */
    while (again < 50 && sent < ((size_t)64 << 20)) {
        ssize_t w = send(fd, burst + sent % n, n - sent % n,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (w > 0) {
            sent += (size_t)w;
            again = 0;
            continue;
        }
        ck_assert(w < 0 && errno == EAGAIN);
        again++;
        usleep(10000);
    }
    calls = atomic_load(&big_calls);
    ck_assert_msg(sent / one > 1000, "only %zu requests could be sent",
                  sent / one);
    ck_assert_msg((size_t)calls < sent / one / 4 && calls < 1000,
                  "%d requests of %zu were served for a peer that reads "
                  "nothing", calls, sent / one);
    sock = nn_req(0);
    nn_echo(sock, 1, "another connection");
    nn_close(sock);
    close(fd);
    usleep(200000);
    as_rpc_close(r);
}
END_TEST

/* Replies for a connection that closed are dropped, also when a new
 * connection took its slot: the new one gets only its own. */
START_TEST(reply_after_close)
{
    as_rpc_t *r = start(0, 1 << 20, 0);
    int fd = sp_open(0x30), fd2, i;
    Artstore__V1__Reply *rep;
    uint32_t id;

    sp_hello(fd);
    sp_send(fd, 1, "Hold", 1);
    sp_send(fd, 2, "Hold", 2);
    for (i = 0; i < 500 && count_held() < 2; i++)
        usleep(10000);
    ck_assert_int_eq(count_held(), 2);
    close(fd);
    usleep(100000);
    fd2 = sp_open(0x30);
    sp_hello(fd2);
    sp_send(fd2, 3, "Echo", 3);
    rep = sp_recv(fd2, &id, 5000);
    ck_assert_ptr_nonnull(rep);
    artstore__v1__reply__free_unpacked(rep, NULL);
    ck_assert_int_eq(release_held(), 2);
    rep = sp_recv(fd2, &id, 300);
    ck_assert_msg(rep == NULL, "a reply for a closed connection came on "
                  "another (request id %08x)", id);
    sp_send(fd2, 4, "Echo", 4);
    rep = sp_recv(fd2, &id, 5000);
    ck_assert_ptr_nonnull(rep);
    ck_assert_uint_eq(id, 0x80000004u);
    artstore__v1__reply__free_unpacked(rep, NULL);
    close(fd2);
    as_rpc_close(r);
}
END_TEST

/* A long call holds its own connection, not the others: an Echo on
 * another connection is answered while it runs. as_call_peer is one key
 * per connection. */
START_TEST(long_call_leaves_others)
{
    as_rpc_t *r = start(0, 1 << 20, 0);
    int a = sp_open(0x30), b = sp_open(0x30);
    Artstore__V1__Reply *rep;
    struct pollfd pa = { 0, POLLIN, 0 };
    uint32_t id, keys[3];
    int i;

    sp_hello(a);
    sp_hello(b);
    sp_send(a, 1, "Peer", 1);
    sp_send(a, 2, "Peer", 2);
    sp_send(b, 3, "Peer", 3);
    for (i = 0; i < 3; i++) {
        rep = sp_recv(i < 2 ? a : b, &id, 5000);
        ck_assert_ptr_nonnull(rep);
        ck_assert_uint_eq(rep->payload.len, 4);
        keys[(id & 0xff) - 1] = as_be_get32(rep->payload.data);
        artstore__v1__reply__free_unpacked(rep, NULL);
    }
    ck_assert_uint_ne(keys[0], 0);
    ck_assert_uint_eq(keys[0], keys[1]);
    ck_assert_uint_ne(keys[0], keys[2]);
    sp_send(a, 4, "Slow", 4);
    usleep(100000);
    sp_send(b, 5, "Echo", 5);
    rep = sp_recv(b, &id, 5000);
    ck_assert_ptr_nonnull(rep);
    artstore__v1__reply__free_unpacked(rep, NULL);
    /* The long call (a second) has not answered yet. */
    pa.fd = a;
    ck_assert_msg(poll(&pa, 1, 0) == 0,
                  "another connection waited for the long call");
    rep = sp_recv(a, &id, 5000);
    ck_assert_ptr_nonnull(rep);
    ck_assert_uint_eq(id, 0x80000004u);
    artstore__v1__reply__free_unpacked(rep, NULL);
    close(a);
    close(b);
    as_rpc_close(r);
}
END_TEST

/* One worker, one connection flooding it with 1,000 pipelined requests
 * (sent while the worker was held by a third connection, so that the
 * flood comes before the other's request and is read at once): the other
 * connection's request is served after at most a turn of the flood, not
 * after all of it. */
START_TEST(flood_leaves_others)
{
    static uint8_t flood[128 * 1024];
    int a, b, c, again = 0;
    size_t one, n = 0, sent = 0, whole;
    Artstore__V1__Reply *rep;
    uint8_t req[256];
    as_rpc_t *r;
    uint32_t id;
    uint64_t before_b;

    n_workers = 1;
    r = start(0, 1 << 20, 0);
    a = sp_open(0x30);
    b = sp_open(0x30);
    c = sp_open(0x30);
    sp_hello(a);
    sp_hello(b);
    sp_hello(c);
    sp_send(c, 1, "Gate", 1);
    pthread_mutex_lock(&gate_lock);
    while (!gate_waiting)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    one = envelope("Count", 9, NULL, 0, req, sizeof(req), 12);
    as_be_put64(req, one + 4);
    as_be_put32(req + 8, 0x80000009u);
    one += 12;
    while (n / one < 1000 && n + one <= sizeof(flood)) {
        memcpy(flood + n, req, one);
        n += one;
    }
    /* What the sockets take while the only worker is held. */
    while (sent < n && again < 20) {
        ssize_t w = send(a, flood + sent, n - sent, MSG_DONTWAIT);

        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        again++;
        usleep(10000);
    }
    whole = sent / one;
    ck_assert_msg(whole >= 300, "only %zu requests went in", whole);
    sp_send(b, 2, "Count", 2);
    usleep(100000);
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    rep = sp_recv(b, &id, 10000);
    ck_assert_ptr_nonnull(rep);
    ck_assert_uint_eq(rep->payload.len, 8);
    before_b = as_be_get64(rep->payload.data) - 1;
    ck_assert_msg(before_b < whole / 2, "%llu of %zu flooding requests were "
                  "served before another connection's one",
                  (unsigned long long)before_b, whole);
    artstore__v1__reply__free_unpacked(rep, NULL);
    close(a);
    close(b);
    close(c);
    as_rpc_close(r);
}
END_TEST

AS_CHECK_MAIN("spserve", 60, cooked_req_interop, raw_pipelined_own_ids,
              backtrace_echoed, oversized_refused_before_alloc,
              bad_handshake_refused, stalled_partial_dropped,
              unread_replies_bounded, reply_after_close,
              long_call_leaves_others, flood_leaves_others)
