/*
 * spserve.c - the request endpoint's own SP connections (REP side). See
 * spserve.h for why and for the rules, docs/PROTOCOL.md ("Transport")
 * for the bytes.
 *
 * Each connection lives in a slot of a table that is never freed while
 * the server runs; a slot's generation grows each time its connection
 * closes, so a reply for a closed connection (a route of an older
 * generation) is recognised and dropped, whichever thread sends it.
 *
 * Ownership of a connection's receive side: its epoll registration is
 * one-shot; the thread that takes an event marks the connection busy and
 * is the only one to read it (its receive buffer is that thread's) until
 * it lets go and arms it again. Events that come meanwhile (a reply
 * queued by another thread arms EPOLLOUT) are left for the busy thread
 * in `again`. Everything but the receive buffer is under the slot's lock.
 */
#define _GNU_SOURCE        /* accept4, struct ucred */
#include "spserve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "be.h"
#include "clock.h"
#include "log.h"
#include "spframe.h"

/* The size above which an emptied buffer is given back; the least a reply
 * queue is. */
#define KEEP_BUFFER (256 * 1024)
#define QUEUE_CHUNK (64 * 1024)
#define DEFAULT_MAX_QUEUED ((size_t)64 << 20)
#define CHUNK_SLOTS 256
#define N_CHUNKS (AS_SPSERVE_MAX_CONNS / CHUNK_SLOTS)
#define NO_SLOT UINT32_MAX
/* The listener's epoll data. */
#define LISTENER ((uint64_t)NO_SLOT)
/* How long accepting pauses when the process is out of descriptors. */
#define ACCEPT_PAUSE_MS 100

typedef struct conn {
    pthread_mutex_t lock;
    uint32_t gen;
    int fd;                  /* -1: the slot is free */
    int busy;                /* a thread owns the receive side */
    int closing;             /* closed while busy: its owner finishes */
    uint32_t again;          /* events that came while busy */
    uint32_t armed;          /* the events last armed (0: none, or fired) */
    int inflight;            /* requests handed on and not answered */
    int pending;             /* a whole request is buffered, not served */
    int partial;             /* part of a request (or header) is buffered */
    int64_t last_recv_ms;    /* monotonic: the last bytes received */
    int64_t last_send_ms;    /* the last reply bytes written */
    unsigned char *out;      /* reply bytes not written yet */
    size_t out_off, out_len, out_cap;
    uint32_t next_free;
    as_sp_rbuf_t in;         /* the owner's alone (busy); in.ipc is
                                set at accept and read by all */
} conn_t;

struct as_spserve {
    as_spserve_opts_t opts;
    size_t max_queued;
    int ep;                  /* the epoll set shared by the serving threads */
    int lfd;                 /* the listening socket */
    int ipc;
    pthread_mutex_t table_lock;
    conn_t *chunks[N_CHUNKS];   /* made under table_lock, never freed early */
    _Atomic uint32_t n_slots;
    uint32_t free_head;         /* under table_lock */
    _Atomic int64_t next_sweep;
    _Atomic int64_t accept_again;  /* accept paused until (mono ms), 0 */
};

/* ------------------------------------------------------------ endpoints */

/* Parses tcp://HOST:PORT, HOST "*" or an IPv4 address, into sa; 0 or
 * -1. */
static int tcp_addr(const char *endpoint, struct sockaddr_in *sa)
{
    const char *hp = endpoint + 6, *colon;
    char host[64], *end;
    long port;

    if (strncmp(endpoint, "tcp://", 6) != 0 ||
        (colon = strrchr(hp, ':')) == NULL || colon == hp ||
        (size_t)(colon - hp) >= sizeof(host))
        return -1;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port <= 0 ||
        port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "*") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return 0;
}

int as_spserve_supports(const char *endpoint)
{
    struct sockaddr_un un;
    struct sockaddr_in in;

    if (endpoint == NULL)
        return 0;
    if (strncmp(endpoint, "ipc://", 6) == 0)
        return endpoint[6] != '\0' &&
               strlen(endpoint + 6) < sizeof(un.sun_path);
    return tcp_addr(endpoint, &in) == 0;
}

/* A non-blocking listening stream socket of family at sa (TCP with
 * SO_REUSEADDR). Returns the socket or -errno. */
static int listen_on(int family, const struct sockaddr *sa, socklen_t len)
{
    int fd, one = 1, err;

    if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                     0)) < 0)
        return -errno;
    if (family == AF_INET)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, sa, len) != 0 || listen(fd, SOMAXCONN) != 0) {
        err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* Binds the Unix socket at path, replacing a stale socket file that
 * nobody accepts on, as nanomsg does. Returns the socket or -errno. */
static int listen_ipc(const char *path)
{
    struct sockaddr_un sa;
    int probe;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
        errno == ECONNREFUSED)
        unlink(path);
    close(probe);
    return listen_on(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa));
}

/* Binds tcp://HOST:PORT (tcp_addr). Returns the socket or -errno. */
static int listen_tcp(const char *endpoint)
{
    struct sockaddr_in sa;

    if (tcp_addr(endpoint, &sa) != 0)
        return -EINVAL;
    return listen_on(AF_INET, (struct sockaddr *)&sa, sizeof(sa));
}

/* Writes who is at the other end of fd into buf, for the log. */
static void peer_name(int fd, int ipc, char *buf, size_t len)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    char addr[INET_ADDRSTRLEN] = "?";

    if (ipc) {
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
            snprintf(buf, len, "local pid %d", (int)cr.pid);
        else
            snprintf(buf, len, "a local process");
        return;
    }
    if (getpeername(fd, (struct sockaddr *)&sa, &sl) == 0 &&
        sa.sin_family == AF_INET) {
        inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
        snprintf(buf, len, "%s:%d", addr, ntohs(sa.sin_port));
    } else {
        snprintf(buf, len, "?");
    }
}

/* ------------------------------------------------------------ slots */

static conn_t *slot_at(as_spserve_t *s, uint32_t i)
{
    return &s->chunks[i / CHUNK_SLOTS][i % CHUNK_SLOTS];
}

/* Takes a free slot, making a chunk of them when needed. Returns its
 * index, or NO_SLOT when AS_SPSERVE_MAX_CONNS are open or out of
 * memory. */
static uint32_t slot_take(as_spserve_t *s)
{
    uint32_t i = NO_SLOT, n, k;

    pthread_mutex_lock(&s->table_lock);
    if (s->free_head != NO_SLOT) {
        i = s->free_head;
        s->free_head = slot_at(s, i)->next_free;
        goto out_unlock;
    }
    n = atomic_load(&s->n_slots);
    if (n >= AS_SPSERVE_MAX_CONNS)
        goto out_unlock;
    if (n % CHUNK_SLOTS == 0) {
        conn_t *chunk = calloc(CHUNK_SLOTS, sizeof(*chunk));

        if (chunk == NULL)
            goto out_unlock;
        for (k = 0; k < CHUNK_SLOTS; k++) {
            pthread_mutex_init(&chunk[k].lock, NULL);
            chunk[k].fd = -1;
            chunk[k].gen = 1;
        }
        s->chunks[n / CHUNK_SLOTS] = chunk;
    }
    i = n;
    atomic_store(&s->n_slots, n + 1);
out_unlock:
    pthread_mutex_unlock(&s->table_lock);
    return i;
}

static void slot_give(as_spserve_t *s, uint32_t i)
{
    pthread_mutex_lock(&s->table_lock);
    slot_at(s, i)->next_free = s->free_head;
    s->free_head = i;
    pthread_mutex_unlock(&s->table_lock);
}

static uint64_t ev_data(const conn_t *c, uint32_t i)
{
    return (uint64_t)c->gen << 32 | i;
}

/* Whether c may take more requests: its replies are being read and not
 * too many of its requests are being served. Under c's lock. */
static int reading(const conn_t *c)
{
    return c->out_len - c->out_off < AS_SPSERVE_QUEUE_PAUSE &&
           c->inflight < AS_SPSERVE_MAX_INFLIGHT;
}

/* Arms c (slot i) for what it waits for, unless a thread owns it (it arms
 * it when it lets go) or that is already armed: requests while reading;
 * writability while replies wait, or while a buffered request waits to be
 * served (a socket is nearly always writable: the event comes at once and
 * its thread serves the buffer). Under c's lock. */
static void arm(as_spserve_t *s, conn_t *c, uint32_t i)
{
    struct epoll_event ev;
    uint32_t want = 0;

    if (c->busy || c->fd < 0)
        return;
    if (reading(c))
        want |= EPOLLIN;
    if (c->out_len > c->out_off || (reading(c) && c->pending))
        want |= EPOLLOUT;
    if (want == c->armed)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = want | EPOLLONESHOT;
    ev.data.u64 = ev_data(c, i);
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->armed = want;
}

/* Closes the connection of slot i for good and frees the slot; a route to
 * it no longer matches. Under c's lock; c is not busy (or its owner
 * calls). */
static void finish(as_spserve_t *s, conn_t *c, uint32_t i)
{
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->gen++;
    as_sp_rbuf_free(&c->in);
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    c->busy = c->closing = c->inflight = c->pending = c->partial = 0;
    c->again = c->armed = 0;
    slot_give(s, i);
}

/* Closes c from a thread that does not own it: at once when nobody does,
 * else its owner finishes (shutdown makes its reads end). Under c's
 * lock. */
static void close_other(as_spserve_t *s, conn_t *c, uint32_t i)
{
    if (!c->busy) {
        finish(s, c, i);
        return;
    }
    c->closing = 1;
    shutdown(c->fd, SHUT_RDWR);
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
}

/* ------------------------------------------------------------ accept */

/* Accepts every waiting connection, sends each the SP header and arms it;
 * then arms the listener again (unless the process is out of
 * descriptors: accepting pauses a moment, see as_spserve_serve). */
static void accept_all(as_spserve_t *s)
{
    unsigned char hello[AS_SP_HEADER_LEN];
    struct epoll_event ev;
    int one = 1;

    as_sp_hello(hello, AS_SP_PROTO_REP);
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        uint32_t i;
        conn_t *c;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                as_log_warn("accept on %s: %s; new connections wait %d ms",
                            s->opts.endpoint, strerror(errno),
                            ACCEPT_PAUSE_MS);
                atomic_store(&s->accept_again,
                             as_clock_mono_ms() + ACCEPT_PAUSE_MS);
                return;
            }
            break;
        }
        if (!s->ipc)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* A new connection's send buffer is empty: the 8 bytes go at once. */
        if (send(fd, hello, sizeof(hello), MSG_NOSIGNAL | MSG_DONTWAIT) !=
            (ssize_t)sizeof(hello)) {
            close(fd);
            continue;
        }
        if ((i = slot_take(s)) == NO_SLOT) {
            as_log_warn("refused a connection on %s: %d connections open, "
                        "the most this server takes", s->opts.endpoint,
                        AS_SPSERVE_MAX_CONNS);
            close(fd);
            continue;
        }
        c = slot_at(s, i);
        pthread_mutex_lock(&c->lock);
        c->fd = fd;
        c->in.ipc = s->ipc;
        c->last_recv_ms = c->last_send_ms = as_clock_mono_ms();
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.u64 = ev_data(c, i);
        c->armed = EPOLLIN;
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            as_log_error("epoll_ctl: %s", strerror(errno));
            finish(s, c, i);
        }
        pthread_mutex_unlock(&c->lock);
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = LISTENER;
    epoll_ctl(s->ep, EPOLL_CTL_MOD, s->lfd, &ev);
}

/* ------------------------------------------------------------ receive */

/* Takes the next request from c's buffer. Returns 1 (msg, len set), 0
 * when more bytes are needed (*need: how many from in.off), or -1 when the
 * peer broke the protocol (logged). Owner only. */
static int take(as_spserve_t *s, conn_t *c, const unsigned char **msg,
                size_t *len, size_t *need)
{
    const unsigned char *b;
    char peer[64];
    int r = as_sp_take(&c->in, AS_SP_PROTO_REQ, s->opts.max_message_bytes,
                       msg, len, need);

    if (r >= 0)
        return r;
    b = c->in.buf + c->in.off;
    peer_name(c->fd, c->in.ipc, peer, sizeof(peer));
    if (r == AS_SP_EHEADER)
        as_log_warn("closed the connection of %s on %s: not a nanomsg REQ "
                    "peer (SP header %02x %02x %02x %02x, protocol 0x%x; "
                    "REP takes only REQ, 0x30)", peer, s->opts.endpoint,
                    b[0], b[1], b[2], b[3], as_be_get16(b + 4));
    else if (r == AS_SP_ETYPE)
        as_log_warn("closed the connection of %s on %s: message type %u "
                    "(only 1 is known)", peer, s->opts.endpoint, b[0]);
    else
        as_log_warn("closed the connection of %s on %s: a request of %zu "
                    "bytes, over max_message_bytes=%zu", peer,
                    s->opts.endpoint, *len, s->opts.max_message_bytes);
    return -1;
}

/* Hands one request (backtrace and envelope) to the callback. A body
 * without a request id within AS_SPSERVE_MAX_HOPS words is dropped, as
 * nanomsg's REP drops it. Owner only. */
static void serve_one(as_spserve_t *s, conn_t *c, uint32_t i, void *worker,
                      const unsigned char *msg, size_t len)
{
    as_sp_route_t route;
    size_t w;

    for (w = 0;; w++) {
        if (w >= AS_SPSERVE_MAX_HOPS || (w + 1) * 4 > len) {
            as_log_debug("a request without a request id dropped (%zu "
                         "bytes)", len);
            return;
        }
        if (msg[w * 4] & 0x80)
            break;
    }
    route.slot = i;
    route.gen = c->gen;
    route.hlen = (uint32_t)((w + 1) * 4);
    memcpy(route.hdr, msg, route.hlen);
    pthread_mutex_lock(&c->lock);
    c->inflight++;
    pthread_mutex_unlock(&c->lock);
    s->opts.on_request(s->opts.arg, worker, &route, msg + route.hlen,
                       len - route.hlen);
}

/* Serves the requests buffered on c and receives more, until the socket
 * has nothing more or the connection must pause (reading). Records what
 * is left in the buffer (pending, partial). Returns 0, or -1 when the
 * connection is to close (the peer closed it, an error, a broken
 * protocol). Owner only. */
static int receive(as_spserve_t *s, conn_t *c, uint32_t i, void *worker,
                   int may_read)
{
    const unsigned char *msg;
    size_t len, need = 0;
    ssize_t n;
    int r, go, served = 0;

    for (;;) {
        for (;;) {
            pthread_mutex_lock(&c->lock);
            go = reading(c) && !c->closing;
            pthread_mutex_unlock(&c->lock);
            /* After a turn the connections that waited meanwhile come
             * first (the ready list is in order). */
            if (!go || served >= AS_SPSERVE_TURN) {
                /* Still buffered: served when the connection is armed
                 * again (arm's EPOLLOUT). */
                c->pending = c->in.len > c->in.off;
                c->partial = 0;
                return 0;
            }
            if ((r = take(s, c, &msg, &len, &need)) < 0)
                return -1;
            if (r == 0)
                break;
            serve_one(s, c, i, worker, msg, len);
            served++;
        }
        if (!may_read)
            break;
        if (as_sp_reserve(&c->in, need) != 0) {
            as_log_error("closed a connection on %s: out of memory for its "
                         "request", s->opts.endpoint);
            return -1;
        }
        n = recv(c->fd, c->in.buf + c->in.len, c->in.cap - c->in.len,
                 MSG_DONTWAIT);
        if (n > 0) {
            /* A full read may have left more behind. */
            may_read = (size_t)n == c->in.cap - c->in.len;
            c->in.len += (size_t)n;
            c->last_recv_ms = as_clock_mono_ms();
            continue;
        }
        if (n == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        return -1;
    }
    c->pending = 0;
    c->partial = c->in.len > c->in.off;
    if (!c->partial && c->in.cap > KEEP_BUFFER) {
        free(c->in.buf);
        c->in.buf = NULL;
        c->in.off = c->in.len = c->in.cap = 0;
    }
    return 0;
}

/* ------------------------------------------------------------ send */

/* Writes what c's queue holds. 0 (all written, or the socket is full), or
 * -1 on an error (the peer went). Under c's lock. */
static int flush(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            c->out_off += (size_t)n;
            c->last_send_ms = as_clock_mono_ms();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
    if (c->out_cap > KEEP_BUFFER) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* Appends the unwritten part of iov (skip bytes of it were written) to c's
 * queue. 0 or -1 out of memory. Under c's lock. */
static int enqueue(conn_t *c, const struct iovec *iov, int n, size_t skip)
{
    size_t total = 0, k;
    int j;

    for (j = 0; j < n; j++)
        total += iov[j].iov_len;
    total -= skip;
    if (c->out_off > 0 && c->out_cap - c->out_len < total) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_cap - c->out_len < total) {
        size_t cap = c->out_cap ? c->out_cap : QUEUE_CHUNK;
        unsigned char *b;

        while (cap < c->out_len + total)
            cap *= 2;
        if ((b = realloc(c->out, cap)) == NULL)
            return -1;
        c->out = b;
        c->out_cap = cap;
    }
    if (c->out_len == c->out_off)
        c->last_send_ms = as_clock_mono_ms();
    for (j = 0; j < n; j++) {
        const unsigned char *p = iov[j].iov_base;

        k = iov[j].iov_len;
        if (skip >= k) {
            skip -= k;
            continue;
        }
        memcpy(c->out + c->out_len, p + skip, k - skip);
        c->out_len += k - skip;
        skip = 0;
    }
    return 0;
}

int as_spserve_reply(as_spserve_t *s, const as_sp_route_t *route,
                     const void *buf, size_t len)
{
    unsigned char frame[AS_SP_PREFIX_MAX];
    struct iovec iov[3];
    struct msghdr mh;
    size_t fl, total, queued;
    ssize_t w = 0;
    char peer[64];
    conn_t *c;
    int rc = -1;

    if (route->slot >= atomic_load(&s->n_slots))
        return -1;
    c = slot_at(s, route->slot);
    pthread_mutex_lock(&c->lock);
    if (c->fd < 0 || c->gen != route->gen || c->closing)
        goto out_unlock;
    c->inflight--;
    if (buf == NULL) {
        rc = 0;
        goto out_arm;
    }
    fl = as_sp_prefix(frame, c->in.ipc, (uint64_t)route->hlen + len);
    iov[0].iov_base = frame;
    iov[0].iov_len = fl;
    iov[1].iov_base = (void *)route->hdr;
    iov[1].iov_len = route->hlen;
    iov[2].iov_base = (void *)(uintptr_t)buf;
    iov[2].iov_len = len;
    total = fl + route->hlen + len;
    queued = c->out_len - c->out_off;
    if (queued == 0) {
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = 3;
        do
            w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            close_other(s, c, route->slot);
            goto out_unlock;
        }
        if (w < 0)
            w = 0;
        if ((size_t)w == total) {
            c->last_send_ms = as_clock_mono_ms();
            rc = 0;
            goto out_arm;
        }
    } else if (queued + total > s->max_queued) {
        peer_name(c->fd, c->in.ipc, peer, sizeof(peer));
        as_log_warn("closed the connection of %s on %s: it does not read its "
                    "replies (%zu bytes queued, the limit %zu)", peer,
                    s->opts.endpoint, queued + total, s->max_queued);
        close_other(s, c, route->slot);
        goto out_unlock;
    }
    if (enqueue(c, iov, 3, (size_t)w) != 0) {
        as_log_error("closed a connection on %s: out of memory for a reply "
                     "of %zu bytes", s->opts.endpoint, total);
        close_other(s, c, route->slot);
        goto out_unlock;
    }
    rc = 0;
out_arm:
    arm(s, c, route->slot);
out_unlock:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

uint32_t as_spserve_peer(const as_sp_route_t *route)
{
    /* The slot (below 2^20) keeps keys of open connections apart; the
     * generation those of a slot's successive connections. */
    return (route->slot + 1) | route->gen << 20;
}

/* ------------------------------------------------------------ serve */

/* Handles events ev of slot i's connection of generation gen: the first
 * thread to come owns it, serves it and arms it again; one that comes
 * while it is owned leaves the events to the owner. */
static void conn_event(as_spserve_t *s, uint32_t i, uint32_t gen,
                       uint32_t ev, void *worker)
{
    conn_t *c;
    int bad;

    if (i >= atomic_load(&s->n_slots))
        return;
    c = slot_at(s, i);
    pthread_mutex_lock(&c->lock);
    if (c->fd < 0 || c->gen != gen) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (c->busy) {
        c->again |= ev;
        pthread_mutex_unlock(&c->lock);
        return;
    }
    c->busy = 1;
    c->armed = 0;
    for (;;) {
        /* Both directions shut, or an error: nothing more can be said. */
        bad = (ev & (EPOLLHUP | EPOLLERR)) != 0 ||
              ((ev & EPOLLOUT) && flush(c) != 0);
        pthread_mutex_unlock(&c->lock);
        /* Readable (a read tells whether the peer closed), or a
         * buffered request left waiting (armed with EPOLLOUT). */
        if (!bad)
            bad = receive(s, c, i, worker, (ev & EPOLLIN) != 0) != 0;
        pthread_mutex_lock(&c->lock);
        if (bad || c->closing) {
            finish(s, c, i);
            break;
        }
        if ((ev = c->again) == 0) {
            c->busy = 0;
            arm(s, c, i);
            break;
        }
        c->again = 0;
    }
    pthread_mutex_unlock(&c->lock);
}

int as_spserve_sweep(as_spserve_t *s)
{
    uint32_t n = atomic_load(&s->n_slots), i;
    int64_t now = as_clock_mono_ms();
    int dropped = 0;
    char peer[64];

    if (s->opts.stall_ms <= 0)
        return 0;
    for (i = 0; i < n; i++) {
        conn_t *c = slot_at(s, i);
        int writes, reads;

        pthread_mutex_lock(&c->lock);
        /* A busy connection's receive side is its owner's: not looked
         * at (it is being served, so it is not stalled). */
        if (c->fd < 0 || c->busy || c->closing) {
            pthread_mutex_unlock(&c->lock);
            continue;
        }
        writes = c->out_len > c->out_off &&
                 now - c->last_send_ms >= s->opts.stall_ms;
        reads = c->partial && now - c->last_recv_ms >= s->opts.stall_ms;
        if (writes || reads) {
            peer_name(c->fd, c->in.ipc, peer, sizeof(peer));
            if (reads)
                as_log_warn("dropped the connection of %s: a request "
                            "stalled half-sent for %lld ms (limit "
                            "stall_ms=%lld)", peer,
                            (long long)(now - c->last_recv_ms),
                            (long long)s->opts.stall_ms);
            else
                as_log_warn("dropped the connection of %s: its replies "
                            "waited %lld ms to be read (limit "
                            "stall_ms=%lld)", peer,
                            (long long)(now - c->last_send_ms),
                            (long long)s->opts.stall_ms);
            finish(s, c, i);
            dropped++;
        }
        pthread_mutex_unlock(&c->lock);
    }
    return dropped;
}

int as_spserve_serve(as_spserve_t *s, void *worker, int timeout_ms)
{
    struct epoll_event ev;
    int64_t now = as_clock_mono_ms(), due, again;

    due = atomic_load(&s->next_sweep);
    if (s->opts.stall_ms > 0 && now >= due) {
        int64_t every = s->opts.stall_ms / 4;

        if (every > 1000)
            every = 1000;
        if (every < 50)
            every = 50;
        if (atomic_compare_exchange_strong(&s->next_sweep, &due, now + every))
            as_spserve_sweep(s);
    }
    again = atomic_load(&s->accept_again);
    if (again != 0 && now >= again &&
        atomic_compare_exchange_strong(&s->accept_again, &again, 0))
        accept_all(s);
    /* One event per wake-up: the others wake other threads. */
    if (epoll_wait(s->ep, &ev, 1, timeout_ms) != 1)
        return 0;
    if (ev.data.u64 == LISTENER)
        accept_all(s);
    else
        conn_event(s, (uint32_t)ev.data.u64, (uint32_t)(ev.data.u64 >> 32),
                   ev.events, worker);
    return 0;
}

/* ------------------------------------------------------------ lifecycle */

int as_spserve_listen(const as_spserve_opts_t *opts, as_spserve_t **out,
                      as_status_t *st)
{
    as_spserve_t *s = calloc(1, sizeof(*s));
    struct epoll_event ev;

    *out = NULL;
    if (s == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    s->opts = *opts;
    s->max_queued = opts->max_queued_bytes ? opts->max_queued_bytes
                                           : DEFAULT_MAX_QUEUED;
    s->free_head = NO_SLOT;
    s->ipc = strncmp(opts->endpoint, "ipc://", 6) == 0;
    pthread_mutex_init(&s->table_lock, NULL);
    if ((s->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        as_status_set(st, AS_CODE_INTERNAL, "epoll_create1: %s",
                      strerror(errno));
        goto out_free;
    }
    s->lfd = s->ipc ? listen_ipc(opts->endpoint + 6)
                    : listen_tcp(opts->endpoint);
    if (s->lfd < 0) {
        as_status_set(st, AS_CODE_UNAVAILABLE, "cannot listen on %s: %s",
                      opts->endpoint, strerror(-s->lfd));
        goto out_close_ep;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = LISTENER;
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "epoll_ctl: %s", strerror(errno));
        goto out_close_listener;
    }
    *out = s;
    return 0;

out_close_listener:
    close(s->lfd);
out_close_ep:
    close(s->ep);
out_free:
    pthread_mutex_destroy(&s->table_lock);
    free(s);
    return st->code;
}

void as_spserve_close(as_spserve_t *s)
{
    uint32_t n, i;

    if (s == NULL)
        return;
    n = atomic_load(&s->n_slots);
    close(s->lfd);
    for (i = 0; i < n; i++) {
        conn_t *c = slot_at(s, i);

        if (c->fd >= 0)
            close(c->fd);
        free(c->in.buf);
        free(c->out);
        pthread_mutex_destroy(&c->lock);
    }
    for (i = 0; i < N_CHUNKS; i++)
        free(s->chunks[i]);
    close(s->ep);
    pthread_mutex_destroy(&s->table_lock);
    free(s);
}
