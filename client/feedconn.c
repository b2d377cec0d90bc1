/*
 * feedconn.c - a watch's own stream connection to a change feed. See
 * feedconn.h for why, and docs/PROTOCOL.md ("Transport") for the bytes.
 */
#include "feedconn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"


int as__feedconn_supports(const char *endpoint)
{
    struct sockaddr_un sa;
    const char *colon;
    char *end;
    long port;

    if (strncmp(endpoint, "ipc://", 6) == 0)
        return endpoint[6] != '\0' &&
               strlen(endpoint + 6) < sizeof(sa.sun_path);
    /* nanomsg's tcp://IFACE;HOST:PORT form (a local interface) is left
     * to nanomsg, and so is a malformed address (nanomsg refuses it). */
    if (strncmp(endpoint, "tcp://", 6) != 0 ||
        strchr(endpoint + 6, ';') != NULL ||
        (colon = strrchr(endpoint + 6, ':')) == NULL || colon == endpoint + 6)
        return 0;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    return errno == 0 && end != colon + 1 && *end == '\0' && port > 0 &&
           port <= 65535;
}

void as__feedconn_init(as_feedconn_t *fc, unsigned self, unsigned peer,
                       size_t max)
{
    memset(fc, 0, sizeof(*fc));
    fc->fd = -1;
    fc->self = self;
    fc->peer = peer;
    fc->max = max;
}

void as__feedconn_close(as_feedconn_t *fc)
{
    if (fc->fd >= 0)
        close(fc->fd);
    fc->fd = -1;
    as_sp_rbuf_reset(&fc->rb);
}

void as__feedconn_free(as_feedconn_t *fc)
{
    as__feedconn_close(fc);
    as_sp_rbuf_free(&fc->rb);
}

/* Connects a non-blocking socket to addr, waiting at most timeout_ms.
 * Returns the socket or a negated errno. */
static int connect_addr(int family, const struct sockaddr *addr,
                        socklen_t addrlen, int timeout_ms)
{
    struct pollfd pfd;
    socklen_t elen = sizeof(int);
    int fd, err = 0, rc;

    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, addr, addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        err = errno;
        close(fd);
        return -err;
    }
    pfd.fd = fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    do
        rc = poll(&pfd, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        err = ETIMEDOUT;
    else if (rc < 0)
        err = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        err = errno;
    if (err != 0) {
        close(fd);
        return -err;
    }
    return fd;
}

/* Connects to tcp://HOST:PORT (HOST a name, an IPv4 address or a
 * bracketed IPv6 one). Returns the socket or a negated errno. */
static int connect_tcp(const char *hostport, int timeout_ms)
{
    struct addrinfo hints, *res, *ai;
    const char *colon = strrchr(hostport, ':');
    char host[256];
    size_t hlen;
    int fd = -EINVAL, one = 1;

    if (colon == NULL || colon[1] == '\0')
        return -EINVAL;
    hlen = (size_t)(colon - hostport);
    if (hlen >= 2 && hostport[0] == '[' && hostport[hlen - 1] == ']') {
        hostport++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, hostport, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -EINVAL;
    for (ai = res; ai != NULL; ai = ai->ai_next)
        if ((fd = connect_addr(ai->ai_family, ai->ai_addr, ai->ai_addrlen,
                               timeout_ms)) >= 0)
            break;
    freeaddrinfo(res);
    /* A request must not wait for the ACK of the header before it. */
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Connects to the Unix socket at path. Returns it or a negated errno. */
static int connect_ipc(const char *path, int timeout_ms)
{
    int64_t deadline = as_clock_mono_ms() + timeout_ms;
    struct sockaddr_un sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        return -EINVAL;
    strcpy(sa.sun_path, path);
    /* A Unix socket whose accept queue is full refuses a non-blocking
     * connect with EAGAIN (many connections opened at once): try again
     * every millisecond while the time allows. */
    for (;;) {
        struct timespec ms = { 0, 1000000 };
        int fd = connect_addr(AF_UNIX, (const struct sockaddr *)&sa,
                              sizeof(sa), timeout_ms);

        if (fd != -EAGAIN || as_clock_mono_ms() >= deadline)
            return fd;
        nanosleep(&ms, NULL);
    }
}

int as__feedconn_connect(as_feedconn_t *fc, const char *endpoint,
                         int timeout_ms)
{
    unsigned char hello[AS_SP_HEADER_LEN];
    int fd;

    as__feedconn_close(fc);
    if (!as__feedconn_supports(endpoint))
        return -EINVAL;
    as_sp_hello(hello, fc->self);
    fc->rb.ipc = strncmp(endpoint, "ipc://", 6) == 0;
    fd = fc->rb.ipc ? connect_ipc(endpoint + 6, timeout_ms)
                    : connect_tcp(endpoint + 6, timeout_ms);
    if (fd < 0)
        return fd;
    /* A new connection's send buffer is empty: the 8 bytes go at once. */
    if (send(fd, hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello)) {
        int err = errno ? errno : EIO;

        close(fd);
        return -err;
    }
    fc->fd = fd;
    return 0;
}

int as__feedconn_send(as_feedconn_t *fc, const void *head, size_t hlen,
                      const void *body, size_t blen, int timeout_ms)
{
    int64_t deadline = as_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    unsigned char frame[AS_SP_PREFIX_MAX];
    struct iovec iov[3], *v = iov;
    struct msghdr mh;
    int n = 3, err;
    ssize_t w;

    if (fc->fd < 0)
        return -ENOTCONN;
    iov[0].iov_base = frame;
    iov[0].iov_len = as_sp_prefix(frame, fc->rb.ipc, (uint64_t)(hlen + blen));
    iov[1].iov_base = (void *)(uintptr_t)head;
    iov[1].iov_len = hlen;
    iov[2].iov_base = (void *)(uintptr_t)body;
    iov[2].iov_len = blen;
    while (n > 0) {
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = v;
        mh.msg_iovlen = (size_t)n;
        w = sendmsg(fc->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { fc->fd, POLLOUT, 0 };
            int64_t left = deadline - as_clock_mono_ms();
            int rc = left > 0 ? poll(&pfd, 1, (int)left) : 0;

            if (rc == 0) {
                as__feedconn_close(fc);
                return -ETIMEDOUT;
            }
            if (rc < 0 && errno != EINTR) {
                err = errno;
                as__feedconn_close(fc);
                return -err;
            }
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err = errno;
            as__feedconn_close(fc);
            return -err;
        }
        while (n > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (unsigned char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Takes the next message from fc's buffer. Returns its length (msg
 * set), -EAGAIN with *need the bytes from rb.off it needs, or -EPROTO (a
 * bad header, an oversized message). */
static ssize_t take(as_feedconn_t *fc, const unsigned char **msg, size_t *need)
{
    size_t len = 0;
    int r = as_sp_take(&fc->rb, fc->peer, fc->max, msg, &len, need);

    if (r == AS_SP_MSG)
        return (ssize_t)len;
    return r == AS_SP_MORE ? -EAGAIN : -EPROTO;
}

int as__feedconn_pending(const as_feedconn_t *fc)
{
    as_feedconn_t probe = *fc;
    const unsigned char *msg;
    size_t need;

    return fc->fd >= 0 && take(&probe, &msg, &need) >= 0;
}

ssize_t as__feedconn_recv(as_feedconn_t *fc, int wait_ms,
                          const unsigned char **msg)
{
    int64_t deadline = as_clock_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    /* The socket may hold bytes: read before waiting. With time to wait,
     * wait first (a watch mostly waits for the next frame): one poll and
     * one recv per frame. */
    int may_have = wait_ms <= 0;
    size_t need = 0;
    ssize_t r, n;
    int err;

    if (fc->fd < 0)
        return -ENOTCONN;
    for (;;) {
        if ((r = take(fc, msg, &need)) != -EAGAIN) {
            if (r < 0)
                as__feedconn_close(fc);
            return r;
        }
        if (as_sp_reserve(&fc->rb, need) != 0) {
            as__feedconn_close(fc);
            return -ENOMEM;
        }
        if (!may_have) {
            struct pollfd pfd = { fc->fd, POLLIN, 0 };
            int64_t left = deadline - as_clock_mono_ms();
            int rc;

            if (left <= 0)
                return -EAGAIN;
            rc = poll(&pfd, 1, (int)left);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc < 0) {
                err = errno;
                as__feedconn_close(fc);
                return -err;
            }
            if (rc == 0)
                return -EAGAIN;
        }
        n = recv(fc->fd, fc->rb.buf + fc->rb.len, fc->rb.cap - fc->rb.len,
                 MSG_DONTWAIT);
        if (n > 0) {
            /* A full read may have left more behind. */
            may_have = (size_t)n == fc->rb.cap - fc->rb.len;
            fc->rb.len += (size_t)n;
            continue;
        }
        if (n == 0) {
            as__feedconn_close(fc);
            return -ECONNRESET;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            may_have = 0;
            continue;
        }
        err = errno;
        as__feedconn_close(fc);
        return -err;
    }
}
