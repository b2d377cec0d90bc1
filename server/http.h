/*
 * http.h - artstored's HTTP listener (`--http HOST:PORT`, alias
 * `--metrics`), on libmicrohttpd: the dashboard's page at `/` and its
 * files, the page's settings at `/config`, the change rate per minute at
 * `/ingest`, and the statistics for Prometheus at `/metrics`.
 *
 * The page talks to the server itself over WebSockets: it sends requests
 * to a read-only REP endpoint on ws:// and follows the change feed bound
 * on ws:// as well; /config tells it where both are. This module only
 * serves files and numbers; it never answers a request of the protocol.
 *
 *   GET /          the dashboard (index.html), built into the binary
 *   GET /<file>    its scripts and style sheet
 *   GET /config    {"version", "rpc", "feed", "auth"} as JSON
 *   GET /ingest    {"minute0_ms", "counts"}: changes committed in each of
 *                  the last 60 minutes, oldest first
 *   GET /metrics   Prometheus text format 0.0.4 (see proto/promtext.h)
 *
 * Other paths are 404, other methods than GET and HEAD 405. /config and
 * /ingest reveal no article; /metrics gives counts only (docs/SECURITY.md).
 *
 * Threads: libmicrohttpd's one internal thread answers every connection;
 * as_http_start and as_http_stop are called from the main thread.
 */
#ifndef AS_HTTP_H
#define AS_HTTP_H

#include <stddef.h>

#include "service.h"
#include "status.h"

typedef struct as_http as_http_t;

typedef struct as_http_opts {
    const char *address;     /* HOST:PORT; HOST may be a name or [IPv6] */
    as_service_t *svc;       /* statistics and the store */
    const char *ws_rpc;      /* the page's request endpoint, ws://... */
    const char *ws_feed;     /* the page's feed endpoint, ws://... */
    int auth;                /* tokens are on: the page asks for one */
} as_http_opts_t;

/*
 * Binds address and starts serving. Returns 0, INVALID_ARGUMENT (address
 * is not HOST:PORT or does not resolve) or UNAVAILABLE (cannot bind) with
 * st naming the address; on success *out owns the listener.
 */
int as_http_start(const as_http_opts_t *opts, as_http_t **out,
                  as_status_t *st);

/* Stops serving, closes the socket and frees h. Accepts NULL. */
void as_http_stop(as_http_t *h);

/*
 * The default of a dashboard endpoint: ws://ADDRESS:(PORT + offset) from
 * the --http address, its host resolved to a numeric address (nanomsg
 * binds addresses, not names; IPv4 first). Writes it to out (cap bytes);
 * returns 0, or -1 when the address is not HOST:PORT, the host does not
 * resolve or the port would pass 65535.
 */
int as_http_derive_ws(const char *address, unsigned offset, char *out,
                      size_t cap);

/* Whether the page's files are built in (the CMake option
 * ARTSTORE_DASHBOARD); without them / says so and the rest still works. */
int as_http_has_dashboard(void);

#endif
