/*
 * http.c - the HTTP listener: dashboard files, /config, /ingest and
 * /metrics, on libmicrohttpd (Debian's libmicrohttpd: a kept, small HTTP
 * server library, so that no HTTP parsing is written here). See http.h.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "as_version.h"
#include "clock.h"
#include "dashboard_assets.h"
#include "feed.h"
#include "log.h"
#include "promtext.h"

/* Minutes of change counts served at /ingest. */
#define INGEST_MINUTES 60
/* Memory one /metrics rendering may use (the StatsResponse). */
#define STATS_BUDGET (1 << 20)

struct as_http {
    struct MHD_Daemon *daemon;
    as_http_opts_t opts;
    char *ws_rpc, *ws_feed;
    /* One reader for /metrics and /ingest: libmicrohttpd answers on one
     * thread, but the lock keeps that an assumption nobody can break. */
    pthread_mutex_t lock;
    as_reader_t *reader;
};

/* ------------------------------------------------------------ addresses */

/* Splits HOST:PORT (HOST may be [IPv6]) into host and port. Returns 0 or
 * -1 when it is not of that form. */
static int split_address(const char *a, char *host, size_t hcap,
                         unsigned long *port)
{
    const char *colon = strrchr(a, ':');
    const char *h = a;
    size_t hlen;
    char *end;

    if (colon == NULL || colon == a || colon[1] == '\0')
        return -1;
    hlen = (size_t)(colon - a);
    if (a[0] == '[') {
        if (colon[-1] != ']' || hlen < 3)
            return -1;
        h = a + 1;
        hlen -= 2;
    }
    if (hlen + 1 > hcap)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    errno = 0;
    *port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || *port == 0 || *port > 65535)
        return -1;
    return 0;
}

/* Resolves host (and port, may be NULL) for a listening socket, IPv4
 * first: nanomsg sockets are IPv4-only by default, and the HTTP listener
 * and the ws:// endpoints had better share an address ("localhost" is
 * 127.0.0.1 for both). Returns getaddrinfo's code; *ai is freed with
 * freeaddrinfo. */
static int resolve(const char *host, const char *port, struct addrinfo **ai)
{
    struct addrinfo hints;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | (port ? AI_NUMERICSERV : 0);
    hints.ai_family = AF_INET;
    if ((rc = getaddrinfo(host, port, &hints, ai)) == 0)
        return 0;
    hints.ai_family = AF_INET6;
    return getaddrinfo(host, port, &hints, ai);
}

int as_http_derive_ws(const char *address, unsigned offset, char *out,
                      size_t cap)
{
    struct addrinfo *ai = NULL;
    char host[256], num[INET6_ADDRSTRLEN];
    unsigned long port;
    int n;

    if (split_address(address, host, sizeof(host), &port) != 0 ||
        port + offset > 65535)
        return -1;
    /* nanomsg binds addresses, not names. */
    if (resolve(host, NULL, &ai) != 0)
        return -1;
    if (ai->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr,
                  num, sizeof(num));
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
                  num, sizeof(num));
    n = snprintf(out, cap, ai->ai_family == AF_INET6 ? "ws://[%s]:%lu"
                                                     : "ws://%s:%lu",
                 num, port + offset);
    freeaddrinfo(ai);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* ------------------------------------------------------------ responses */

/* Queues a response of len bytes of data (copied unless persistent). */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code,
                               const char *type, const void *data,
                               size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* The page runs only its own scripts and talks only to its server
     * (the ws:// endpoints are on other ports of it). */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; connect-src 'self' ws: "
                            "wss:; img-src 'self' data:; "
                            "frame-ancestors 'none'");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn,
                                    unsigned code, const char *text)
{
    return respond(conn, code, "text/plain; charset=utf-8", text,
                   strlen(text), MHD_RESPMEM_MUST_COPY);
}

/* Appends s to out as a JSON string (quotes included). */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

/* Queues the text open_memstream(buf, size) built into f (closed here;
 * only then are *buf and *size final; *buf is freed in every case). */
static enum MHD_Result respond_stream(struct MHD_Connection *conn,
                                      const char *type, FILE *f, char **buf,
                                      size_t *size)
{
    if (fclose(f) != 0) {
        free(*buf);
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "out of memory\n");
    }
    return respond(conn, MHD_HTTP_OK, type, *buf, *size,
                   MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_config(as_http_t *h, struct MHD_Connection *conn)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    if (f == NULL)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "out of memory\n");
    fputs("{\"version\":", f);
    json_string(f, ARTSTORE_VERSION_STRING);
    fputs(",\"rpc\":", f);
    json_string(f, h->ws_rpc);
    fputs(",\"feed\":", f);
    json_string(f, h->ws_feed);
    fprintf(f, ",\"auth\":%s,\"max_message_bytes\":%zu}\n",
            h->opts.auth ? "true" : "false",
            h->opts.svc->limits.max_message_bytes);
    return respond_stream(conn, "application/json", f, &buf, &size);
}

static enum MHD_Result serve_ingest(as_http_t *h, struct MHD_Connection *conn)
{
    uint64_t counts[INGEST_MINUTES];
    int64_t minute0;
    as_status_t st;
    char *buf = NULL;
    size_t size = 0, i;
    FILE *f;
    int rc;

    as_writer_barrier(h->opts.svc->writer);
    pthread_mutex_lock(&h->lock);
    rc = as_feed_minute_counts(h->reader, as_clock_wall_ms(), INGEST_MINUTES, counts,
                               &minute0, &st);
    pthread_mutex_unlock(&h->lock);
    if (rc != 0) {
        as_log_warn("http /ingest: %s", st.msg);
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "the changelog cannot be read now\n");
    }
    if ((f = open_memstream(&buf, &size)) == NULL)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "out of memory\n");
    fprintf(f, "{\"minute0_ms\":%lld,\"counts\":[", (long long)minute0);
    for (i = 0; i < INGEST_MINUTES; i++)
        fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)counts[i]);
    fputs("]}\n", f);
    return respond_stream(conn, "application/json", f, &buf, &size);
}

static enum MHD_Result serve_metrics(as_http_t *h, struct MHD_Connection *conn)
{
    Artstore__V1__StatsResponse resp;
    as_arena_t *ar = as_arena_create(STATS_BUDGET);
    as_status_t st;
    char *text;
    size_t len;
    int rc;

    if (ar == NULL)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "out of memory\n");
    pthread_mutex_lock(&h->lock);
    rc = as_service_stats(h->opts.svc, h->reader, ar, &resp, &st);
    pthread_mutex_unlock(&h->lock);
    if (rc != 0) {
        as_arena_destroy(ar);
        as_log_warn("http /metrics: %s", st.msg);
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "statistics are not available now\n");
    }
    text = as_prom_render(&resp, &len);
    as_arena_destroy(ar);
    if (text == NULL)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "out of memory\n");
    return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; "
                   "charset=utf-8", text, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    as_http_t *h = cls;
    size_t i;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct MHD_Response *r;
        enum MHD_Result ret;
        static const char msg[] = "only GET and HEAD are served here\n";

        r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
                                            MHD_RESPMEM_PERSISTENT);
        if (r == NULL)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; charset=utf-8");
        ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(h, conn);
    if (strcmp(url, "/config") == 0)
        return serve_config(h, conn);
    if (strcmp(url, "/ingest") == 0)
        return serve_ingest(h, conn);
    for (i = 0; i < as_dashboard_n_assets; i++) {
        const as_asset_t *a = &as_dashboard_assets[i];

        if (strcmp(url, a->path) == 0 ||
            (strcmp(url, "/") == 0 && strcmp(a->path, "/index.html") == 0))
            return respond(conn, MHD_HTTP_OK, a->type, a->data, a->len,
                           MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/") == 0 && as_dashboard_n_assets == 0)
        return respond_text(conn, MHD_HTTP_NOT_FOUND,
                            "this artstored was built without the dashboard "
                            "(CMake option ARTSTORE_DASHBOARD=OFF); /metrics "
                            "is served\n");
    return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    as_log_warn("http: %s", msg);
}

/* ------------------------------------------------------------ lifecycle */

int as_http_has_dashboard(void)
{
    return as_dashboard_n_assets > 0;
}

int as_http_start(const as_http_opts_t *opts, as_http_t **out,
                  as_status_t *st)
{
    struct addrinfo *ai = NULL;
    char host[256], port_s[16];
    unsigned long port;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                     MHD_USE_ERROR_LOG;
    as_http_t *h;
    int rc;

    if (split_address(opts->address, host, sizeof(host), &port) != 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "--http '%s' is not HOST:PORT", opts->address);
    snprintf(port_s, sizeof(port_s), "%lu", port);
    if ((rc = resolve(host, port_s, &ai)) != 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "--http '%s': %s", opts->address,
                             gai_strerror(rc));
    if ((h = calloc(1, sizeof(*h))) == NULL) {
        freeaddrinfo(ai);
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    h->opts = *opts;
    h->ws_rpc = strdup(opts->ws_rpc ? opts->ws_rpc : "");
    h->ws_feed = strdup(opts->ws_feed ? opts->ws_feed : "");
    pthread_mutex_init(&h->lock, NULL);
    if (h->ws_rpc == NULL || h->ws_feed == NULL) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out_free;
    }
    if ((rc = as_reader_create(opts->svc->store, &h->reader, st)) != 0)
        goto out_free;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
                                 on_request, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                                 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                 MHD_OPTION_END);
    if (h->daemon == NULL) {
        rc = as_status_set(st, AS_CODE_UNAVAILABLE, "cannot serve http on "
                           "%s (address in use or not local?)",
                           opts->address);
        goto out_reader;
    }
    freeaddrinfo(ai);
    *out = h;
    return 0;

out_reader:
    as_reader_free(h->reader);
out_free:
    freeaddrinfo(ai);
    pthread_mutex_destroy(&h->lock);
    free(h->ws_rpc);
    free(h->ws_feed);
    free(h);
    return rc;
}

void as_http_stop(as_http_t *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    as_reader_free(h->reader);
    pthread_mutex_destroy(&h->lock);
    free(h->ws_rpc);
    free(h->ws_feed);
    free(h);
}
