/*
 * stall.c - drops TCP connections that stall in the middle of a request
 * (see stall.h for the rule and why it is enforced from outside nanomsg).
 */
#include "stall.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/tcp.h>          /* tcpi_bytes_received (glibc's lacks it) */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* What a connection has received when it holds nothing yet: the SP
 * protocol header, 8 bytes. */
#define SP_HEADER_BYTES 8

struct as_stall {
    as_stall_opts_t opts;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;               /* under lock */
};

int as_stall_endpoint_port(const char *endpoint)
{
    const char *colon;
    char *end;
    long port;

    if (endpoint == NULL || (strncmp(endpoint, "tcp://", 6) != 0 &&
                             strncmp(endpoint, "ws://", 5) != 0))
        return 0;
    if ((colon = strrchr(endpoint, ':')) == NULL || colon[1] == '\0')
        return 0;
    port = strtol(colon + 1, &end, 10);
    if ((*end != '\0' && *end != '/') || port <= 0 || port > 65535)
        return 0;
    return (int)port;
}

/* Returns the local TCP port of socket fd, 0 when it is not a TCP
 * socket. */
static int local_tcp_port(int fd)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    int type = 0;
    socklen_t tlen = sizeof(type);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
        type != SOCK_STREAM)
        return 0;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    if (sa.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&sa)->sin_port);
    if (sa.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    return 0;
}

/* Returns nonzero when fd is a connection on one of the watched ports. */
static int watched(const as_stall_t *s, int fd)
{
    int port = local_tcp_port(fd);
    size_t i;

    for (i = 0; port != 0 && i < s->opts.n_ports; i++)
        if (s->opts.ports[i] == port)
            return 1;
    return 0;
}

/* Writes the peer of fd as "ADDR:PORT" into buf. */
static void peer_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    char addr[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (getpeername(fd, (struct sockaddr *)&sa, &sl) == 0) {
        if (sa.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, addr,
                      sizeof(addr));
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        } else if (sa.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr,
                      addr, sizeof(addr));
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        }
    }
    snprintf(buf, len, "%s:%d", addr, port);
}

/*
 * Whether the connection sent data after it last received some: its last
 * request was answered. The kernel keeps both times in clock ticks (4 ms
 * at HZ=250), so a request that came in the tick its server handshake
 * went out looks answered by the times alone; a connection that has sent
 * nothing but the handshake has answered nothing. (A request sent in the
 * tick its previous answer went out is still taken for answered.)
 */
static int answered(const struct tcp_info *ti)
{
    if (ti->tcpi_last_data_recv != ti->tcpi_last_data_sent)
        return ti->tcpi_last_data_recv > ti->tcpi_last_data_sent;
    return ti->tcpi_bytes_sent > SP_HEADER_BYTES;
}

int as_stall_sweep(as_stall_t *s)
{
    DIR *d;
    struct dirent *e;
    int64_t oldest;
    int dropped = 0;

    /* A long call (a Backup, a Query without a budget) that has run this
     * long is a complete request on a connection that looks stalled:
     * which one is not known, so nothing is dropped meanwhile. */
    oldest = s->opts.oldest_long_call != NULL
                 ? s->opts.oldest_long_call(s->opts.arg) : 0;
    if (oldest != 0 && as_clock_wall_ms() - oldest >= s->opts.stall_ms)
        return 0;
    if ((d = opendir("/proc/self/fd")) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        struct tcp_info ti;
        socklen_t tl = sizeof(ti);
        struct stat sb;
        char peer[64];
        int fd;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        fd = atoi(e->d_name);
        if (fd == dirfd(d) || fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode) ||
            !watched(s, fd))
            continue;
        memset(&ti, 0, sizeof(ti));
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0 ||
            ti.tcpi_state != 1 /* TCP_ESTABLISHED (netinet/tcp.h) */)
            continue;
        /* Answered (sent after its last receive), holding nothing, or
         * still sending: left alone. */
        if (answered(&ti) || ti.tcpi_bytes_received <= SP_HEADER_BYTES ||
            (int64_t)ti.tcpi_last_data_recv < s->opts.stall_ms)
            continue;
        peer_name(fd, peer, sizeof(peer));
        if (shutdown(fd, SHUT_RDWR) == 0) {
            dropped++;
            as_log_warn("dropped the connection of %s: a request stalled "
                        "half-sent for %u ms (limit stall_ms=%lld)", peer,
                        ti.tcpi_last_data_recv,
                        (long long)s->opts.stall_ms);
        }
    }
    closedir(d);
    return dropped;
}

/* The sweeper's thread: a sweep about once a second (or every stall_ms
 * / 4, when shorter), until stopped. */
static void *stall_main(void *arg)
{
    as_stall_t *s = arg;
    int64_t every = s->opts.stall_ms / 4;

    if (every > 1000)
        every = 1000;
    if (every < 50)
        every = 50;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct timespec ts = as_clock_wall_ts(as_clock_wall_ms() + every);

        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->lock);
        as_stall_sweep(s);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int as_stall_start(const as_stall_opts_t *opts, as_stall_t **out,
                   as_status_t *st)
{
    as_stall_t *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (s == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    s->opts = *opts;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if ((rc = pthread_create(&s->thread, NULL, stall_main, s)) != 0) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return as_status_set(st, AS_CODE_INTERNAL, "start stall sweeper: %s",
                             strerror(rc));
    }
    *out = s;
    return 0;
}

void as_stall_stop(as_stall_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
