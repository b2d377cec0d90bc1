/*
 * server.c - the one wiring of artstored. See server.h.
 */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "auth.h"
#include "clock.h"
#include "cluster.h"
#include "snapshot.h"
#include "feed.h"
#include "http.h"
#include "log.h"
#include "rpc.h"
#include "service.h"
#include "stall.h"
#include "store.h"
#include "wal.h"
#include "writer.h"

struct as_server {
    as_service_t svc;
    as_store_t *store;
    as_writer_t *writer;
    as_wal_t *wal;           /* one node with --sync full: the writer's */
    as_feed_t *feed;
    as_cluster_t *cluster;   /* NULL: not a cluster member */
    as_snapshot_source_t *snapshot;   /* store copies for members; NULL:
                                         not a cluster member */
    as_http_t *http;         /* dashboard and /metrics, or NULL */
    as_stall_t *stall;       /* drops stalled half-sent requests, or NULL */
    as_auth_t *auth;
    void *local_worker;      /* socketless: the dispatching thread's state */
    char feed_ep[512];
    char ws_rpc[512], ws_feed[512];   /* the dashboard's endpoints, or "" */
    char raft_dir[4096];
};

/* Returns nonzero if cfg makes this server a cluster member. */
static int clustered(const as_config_t *cfg)
{
    return cfg->node_id != 0 || (cfg->raft && cfg->raft[0] != '\0') ||
           (cfg->cluster && cfg->cluster[0] != '\0');
}

int as_server_check_config(const as_config_t *cfg, as_status_t *st)
{
    if (!clustered(cfg))
        return 0;
    if (cfg->node_id == 0 || cfg->raft == NULL || cfg->raft[0] == '\0')
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "a cluster member needs both --node-id and "
                             "--raft");
    return 0;
}

/* Joins the cluster when cfg says so: writes then go through the Raft
 * log (as_cluster_submit) instead of straight to the writer. */
static int start_cluster(as_server_t *s, const as_config_t *cfg,
                         as_status_t *st)
{
    as_cluster_opts_t co;
    int rc;

    if (!clustered(cfg))
        return 0;
    memset(&co, 0, sizeof(co));
    snprintf(s->raft_dir, sizeof(s->raft_dir), "%s/raft", cfg->data_dir);
    co.node_id = cfg->node_id;
    co.raft = cfg->raft;
    co.bootstrap = cfg->cluster;
    co.dir = s->raft_dir;
    co.data_dir = cfg->data_dir;
    co.listen = cfg->listen;
    co.feed = s->feed_ep;
    co.election_timeout_ms = (unsigned)cfg->raft_election_ms;
    co.heartbeat_ms = (unsigned)(cfg->raft_election_ms / 10
                                     ? cfg->raft_election_ms / 10 : 1);
    co.snapshot_threshold = (unsigned)cfg->raft_snapshot_threshold;
    co.snapshot_trailing = (unsigned)cfg->raft_snapshot_trailing;
    co.no_sync = cfg->sync != NULL && strcmp(cfg->sync, "periodic") == 0;
    co.token = as_auth_write_token(s->auth);
    /* Retention goes through the log: the leader decides, every node
     * trims the same changes (the feed trims nothing by itself here). */
    co.retain_changes = cfg->retain_changes;
    co.retain_hours = cfg->retain_hours;
    if ((rc = as_cluster_start(s->store, s->writer, &co, &s->cluster,
                               st)) != 0)
        return as_status_set(st, rc, "cannot start the cluster member: %s",
                             st->msg);
    return 0;
}

/* Logs a rebuild's progress at every tenth of the way. */
static void rebuild_progress(void *arg, uint64_t done, uint64_t total)
{
    unsigned *last = arg;
    unsigned tenth = total ? (unsigned)(done * 10 / total) : 10;

    if (tenth > *last || done >= total) {
        *last = tenth;
        as_log_info("rebuilding stories: %llu of %llu articles",
                    (unsigned long long)done, (unsigned long long)total);
    }
}

/* Rebuilds every story of the store, logging the progress and the time. */
static int rebuild_stories(as_store_t *store, as_status_t *st)
{
    int64_t t0 = as_clock_mono_ms();
    unsigned last = 0;
    int rc;

    as_log_info("rebuilding stories");
    rc = as_store_rebuild_stories(store, rebuild_progress, &last, st);
    if (rc == 0)
        as_log_info("stories rebuilt in %.1f s; their lookup tables use %zu "
                    "bytes of memory",
                    (double)(as_clock_mono_ms() - t0) / 1000.0,
                    as_store_story_memory(store));
    return rc;
}

/* Opens the store of cfg (stories built when they are outdated, or always
 * when rebuild). Returns 0 with *out set, or a code with st set. */
static int store_open(const as_config_t *cfg, int rebuild, as_store_t **out,
                      as_status_t *st)
{
    as_store_opts_t so;
    as_story_params_t sp;
    int rc;

    memset(&so, 0, sizeof(so));
    so.path = cfg->data_dir;
    so.map_size = cfg->map_size;
    so.map_max = cfg->map_max;
    so.max_readers = (unsigned)cfg->max_readers;
    /* One node's --sync periodic relaxes the log's flushes, not LMDB's
     * (writer.h); a cluster's relaxes LMDB's, behind its Raft log. */
    so.no_sync = clustered(cfg) && cfg->sync != NULL &&
                 strcmp(cfg->sync, "periodic") == 0;
    so.compress_level = (int)cfg->compress_level;
    so.no_stories = cfg->stories != NULL && strcmp(cfg->stories, "off") == 0;
    as_story_params_default(&sp);
    sp.dup_threshold = (double)cfg->story_threshold / 100.0;
    sp.window_s = (int64_t)cfg->story_window_hours * 3600;
    sp.join_terms = (unsigned)cfg->story_join_terms;
    so.story_params = &sp;
    if ((rc = as_store_open(&so, out, st)) != 0)
        return rc;
    if (!rebuild && as_store_stories_outdated(*out))
        as_log_info("stories were built with other options (or by a version "
                    "without them): rebuilding them before serving");
    if ((rebuild || as_store_stories_outdated(*out)) &&
        (rc = rebuild_stories(*out, st)) != 0) {
        as_store_close(*out);
        *out = NULL;
        return rc;
    }
    return 0;
}

int as_server_rebuild_stories(const as_config_t *cfg, as_status_t *st)
{
    as_store_t *store;
    int rc;

    if ((rc = store_open(cfg, 1, &store, st)) != 0)
        return rc;
    as_store_close(store);
    return 0;
}

/*
 * Replays the write-ahead log into the store (always: a node that ran on
 * its own before may restart as a cluster member), and keeps it open in
 * s->wal when this server writes through it: one node. Returns 0 or a
 * code with st set.
 */
static int open_wal(as_server_t *s, const as_config_t *cfg, as_status_t *st)
{
    uint64_t n;
    int rc;

    if ((rc = as_wal_open(cfg->data_dir, &s->wal, st)) != 0)
        return rc;
    if ((rc = as_apply_replay(s->store, s->wal, &n, st)) != 0) {
        as_status_set(st, rc, "replaying the write-ahead log: %s", st->msg);
        goto out_close;
    }
    if (n > 0)
        as_log_info("replayed %llu write-ahead log record(s) after the last "
                    "LMDB commit", (unsigned long long)n);
    if (!clustered(cfg))
        return 0;
out_close:
    as_wal_close(s->wal);
    s->wal = NULL;
    return rc;
}

/* Opens the store, replays its log and starts the writer. */
static int open_store(as_server_t *s, const as_config_t *cfg, as_status_t *st)
{
    as_writer_opts_t wo;
    int rc;

    if ((rc = store_open(cfg, 0, &s->store, st)) != 0 ||
        (rc = open_wal(s, cfg, st)) != 0)
        return rc;
    memset(&wo, 0, sizeof(wo));
    wo.max_queue = cfg->max_queue;
    wo.max_batch_items = cfg->writer_batch;
    wo.sync_interval_ms = cfg->sync != NULL &&
                          strcmp(cfg->sync, "periodic") == 0 ? 1000 : 0;
    wo.wal = s->wal;
    wo.commit_interval_ms = (int)cfg->commit_interval_ms;
    wo.overlay_max_bytes = cfg->overlay_max;
    return as_writer_start(s->store, &wo, &s->writer, st);
}

/* The dashboard's ws:// endpoints: given, or derived from --http. */
static int ws_endpoints(as_server_t *s, const as_config_t *cfg,
                        as_status_t *st)
{
    snprintf(s->ws_rpc, sizeof(s->ws_rpc), "%s",
             cfg->ws_listen ? cfg->ws_listen : "");
    snprintf(s->ws_feed, sizeof(s->ws_feed), "%s",
             cfg->ws_feed ? cfg->ws_feed : "");
    if (cfg->http == NULL || cfg->http[0] == '\0')
        return 0;
    if ((s->ws_rpc[0] == '\0' &&
         as_http_derive_ws(cfg->http, 1, s->ws_rpc, sizeof(s->ws_rpc)) != 0) ||
        (s->ws_feed[0] == '\0' &&
         as_http_derive_ws(cfg->http, 2, s->ws_feed, sizeof(s->ws_feed)) != 0))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "--http '%s' is not HOST:PORT with a host "
                             "that resolves and room for the dashboard's "
                             "ws:// ports after the port (or give "
                             "--ws-listen and --ws-feed)", cfg->http);
    return 0;
}

/* Starts the change feed on cfg->feed, or the endpoint derived from
 * cfg->listen; none when both are empty. */
static int start_feed(as_server_t *s, const as_config_t *cfg, as_status_t *st)
{
    as_feed_opts_t fo;
    int rc;

    if ((rc = ws_endpoints(s, cfg, st)) != 0)
        return rc;
    if (cfg->feed != NULL && cfg->feed[0] != '\0')
        snprintf(s->feed_ep, sizeof(s->feed_ep), "%s", cfg->feed);
    else if (cfg->listen == NULL || cfg->listen[0] == '\0')
        return 0;
    else if (as_feed_derive_endpoint(cfg->listen, s->feed_ep,
                                     sizeof(s->feed_ep)) != 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cannot derive a feed endpoint from %s: give "
                             "--feed", cfg->listen);
    memset(&fo, 0, sizeof(fo));
    fo.endpoint = s->feed_ep;
    fo.ws_endpoint = s->ws_feed;
    fo.max_waiters = cfg->limits.max_watches;
    /* A cluster member trims through the log (start_cluster). */
    fo.retain_changes = clustered(cfg) ? 0 : cfg->retain_changes;
    fo.retain_hours = clustered(cfg) ? 0 : cfg->retain_hours;
    fo.max_reply_bytes = cfg->limits.max_reply_bytes;
    /* PUB cannot check a token: with tokens, the feed says only where the
     * log is, and the events are read through Changes, which checks. */
    fo.positions_only = s->auth != NULL;
    return as_feed_start(s->store, s->writer, &fo, &s->feed, st);
}

/* Starts the rpc with the service's method table: on cfg->listen with its
 * workers, or socketless. The service context is complete before the
 * first worker runs. */
static int start_rpc(as_server_t *s, const as_config_t *cfg, as_status_t *st)
{
    as_rpc_opts_t ro;
    int rc;

    memset(&ro, 0, sizeof(ro));
    ro.endpoint = cfg->listen;
    ro.workers = (int)cfg->workers;
    ro.max_long_calls = (int)cfg->max_long_calls;
    ro.max_message_bytes = cfg->limits.max_message_bytes;
    ro.max_decode_bytes = cfg->limits.max_decode_bytes;
    ro.stall_ms = (int64_t)cfg->recv_stall_ms;
    ro.methods = as_service_methods;
    ro.n_methods = as_service_n_methods;
    ro.ctx = &s->svc;
    ro.worker_init = as_service_worker_init;
    ro.worker_fini = as_service_worker_fini;
    if (s->auth != NULL) {
        ro.auth = as_auth_check;
        ro.auth_ctx = s->auth;
    }
    if (cfg->listen == NULL || cfg->listen[0] == '\0') {
        if ((s->svc.rpc = as_rpc_local(&ro)) == NULL)
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "out of memory");
        s->local_worker = as_service_worker_init(&s->svc);
        return 0;
    }
    if ((rc = as_rpc_start(&ro, &s->svc.rpc, st)) != 0 ||
        s->ws_rpc[0] == '\0')
        return rc;
    /* The dashboard's endpoint: any page in a browser can reach a
     * WebSocket, so it only reads (as_auth_check_read_only). */
    ro.endpoint = s->ws_rpc;
    ro.workers = 2;
    ro.auth = as_auth_check_read_only;
    ro.auth_ctx = s->auth;
    return as_rpc_start(&ro, &s->svc.rpc_ws, st);
}

/* as_stall_opts_t.oldest_long_call: over both request sockets. */
static int64_t oldest_long_call(void *arg)
{
    as_server_t *s = arg;
    int64_t a = s->svc.rpc ? as_rpc_oldest_long_call(s->svc.rpc) : 0;
    int64_t b = s->svc.rpc_ws ? as_rpc_oldest_long_call(s->svc.rpc_ws) : 0;

    return a == 0 || (b != 0 && b < a) ? b : a;
}

/* Watches the TCP request endpoints that nanomsg serves for requests that
 * stall half-sent (stall.h): the dashboard's ws://, and --listen only
 * when it is not on the rpc's own connections (which drop stalled
 * requests themselves); none with --recv-stall-ms 0. */
static int start_stall(as_server_t *s, const as_config_t *cfg,
                       as_status_t *st)
{
    as_stall_opts_t so;
    int port;

    memset(&so, 0, sizeof(so));
    if (!as_rpc_direct(s->svc.rpc) &&
        (port = as_stall_endpoint_port(cfg->listen)) != 0)
        so.ports[so.n_ports++] = port;
    if ((port = as_stall_endpoint_port(s->ws_rpc)) != 0)
        so.ports[so.n_ports++] = port;
    if (cfg->recv_stall_ms == 0 || so.n_ports == 0 || s->svc.rpc == NULL)
        return 0;
    so.stall_ms = (int64_t)cfg->recv_stall_ms;
    if (so.stall_ms <= AS_FEED_MAX_WAIT_MS)
        as_log_warn("--recv-stall-ms %lld is not above the longest Changes "
                    "wait (%d ms): a client waiting that long for changes "
                    "may be dropped (and resend)", (long long)so.stall_ms,
                    AS_FEED_MAX_WAIT_MS);
    so.oldest_long_call = oldest_long_call;
    so.arg = s;
    return as_stall_start(&so, &s->stall, st);
}

/* Serves the dashboard and /metrics on cfg->http, if given. */
static int start_http(as_server_t *s, const as_config_t *cfg, as_status_t *st)
{
    as_http_opts_t ho;
    int rc;

    if (cfg->http == NULL || cfg->http[0] == '\0')
        return 0;
    memset(&ho, 0, sizeof(ho));
    ho.address = cfg->http;
    ho.svc = &s->svc;
    ho.ws_rpc = s->ws_rpc;
    ho.ws_feed = s->ws_feed;
    ho.auth = s->auth != NULL;
    if ((rc = as_http_start(&ho, &s->http, st)) != 0)
        return rc;
    as_log_info("dashboard at http://%s/ (metrics at /metrics; requests on "
                "%s, feed on %s)%s", cfg->http, s->ws_rpc, s->ws_feed,
                as_http_has_dashboard() ? "" : "; built without the page");
    return 0;
}

/*
 * Returns nonzero when the tcp:// endpoint ep ("tcp://HOST:PORT", HOST a
 * numeric address or *) cannot be bound because its port is in use. Only
 * a probe, made before the store is opened, so that the usual bind failure
 * (another server on the port) neither creates a data directory nor names
 * the wrong endpoint; nanomsg's own bind still decides.
 */
static int tcp_port_in_use(const char *ep)
{
    struct addrinfo hints, *ai = NULL;
    char host[256];
    const char *hp, *colon;
    int fd, one = 1, busy = 0;

    if (ep == NULL || strncmp(ep, "tcp://", 6) != 0)
        return 0;
    hp = ep + 6;
    if ((colon = strrchr(hp, ':')) == NULL || (size_t)(colon - hp) >= sizeof(host))
        return 0;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    /* nanomsg takes "tcp://IFACE;HOST:PORT" too: probe only plain ones. */
    if (strchr(host, ';') != NULL)
        return 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, colon + 1, &hints,
                    &ai) != 0)
        return 0;
    if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        busy = bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
               errno == EADDRINUSE;
        close(fd);
    }
    freeaddrinfo(ai);
    return busy;
}

/* Checks the request and feed ports before anything is created; the
 * message names the endpoint that is taken and what it is for. */
static int check_ports(const as_config_t *cfg, as_status_t *st)
{
    char feed[512] = "";

    if (tcp_port_in_use(cfg->listen))
        return as_status_set(st, AS_CODE_UNAVAILABLE,
                             "request endpoint %s (--listen): address in "
                             "use (another artstored on this port?)",
                             cfg->listen);
    if (cfg->feed != NULL && cfg->feed[0] != '\0')
        snprintf(feed, sizeof(feed), "%s", cfg->feed);
    else if (cfg->listen != NULL && cfg->listen[0] != '\0')
        as_feed_derive_endpoint(cfg->listen, feed, sizeof(feed));
    if (tcp_port_in_use(feed))
        return as_status_set(st, AS_CODE_UNAVAILABLE,
                             "change feed endpoint %s (%s): address in use; "
                             "give another with --feed", feed,
                             cfg->feed && cfg->feed[0] ? "--feed"
                                                       : "--listen port + 1");
    return 0;
}

/* Removes a data directory this start created, when the start failed:
 * what the store put there (an empty environment) and the directory. */
static void remove_new_data_dir(const char *dir)
{
    static const char *const files[] = { "data.mdb", "lock.mdb", "LOCK",
                                         AS_WAL_FILE };
    char path[4096];
    size_t i;

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    /* Fails, and so keeps it, if anything else is in it. */
    if (rmdir(dir) == 0)
        as_log_info("removed %s, created by this failed start", dir);
}

int as_server_open(const as_config_t *cfg, as_server_t **out,
                   as_status_t *st)
{
    as_server_t *s;
    struct stat sb;
    int rc, new_dir;

    if ((rc = check_ports(cfg, st)) != 0)
        return rc;
    new_dir = cfg->data_dir != NULL && stat(cfg->data_dir, &sb) != 0 &&
              errno == ENOENT;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if (cfg->auth_token_file != NULL && cfg->auth_token_file[0] != '\0' &&
        (rc = as_auth_load(cfg->auth_token_file, &s->auth, st)) != 0)
        goto out_close;
    if ((rc = as_server_check_config(cfg, st)) != 0 ||
        (rc = open_store(s, cfg, st)) != 0 ||
        (rc = start_feed(s, cfg, st)) != 0 ||
        (rc = start_cluster(s, cfg, st)) != 0)
        goto out_close;
    if (s->cluster != NULL &&
        (rc = as_snapshot_source_new(s->store, cfg->data_dir, &s->snapshot,
                                     st)) != 0)
        goto out_close;
    s->svc.snapshot = s->snapshot;
    s->svc.store = s->store;
    s->svc.writer = s->writer;
    s->svc.feed = s->feed;
    s->svc.cluster = s->cluster;
    s->svc.limits = cfg->limits;
    s->svc.data_dir = cfg->data_dir;
    s->svc.feed_endpoint = s->feed != NULL ? s->feed_ep : NULL;
    s->svc.start_ms = as_clock_wall_ms();
    s->svc.stories = cfg->stories == NULL || strcmp(cfg->stories, "off") != 0;
    if ((rc = start_rpc(s, cfg, st)) != 0 ||
        (rc = start_stall(s, cfg, st)) != 0 ||
        (rc = start_http(s, cfg, st)) != 0)
        goto out_close;
    *out = s;
    return 0;

out_close:
    as_server_close(s);
    if (new_dir)
        remove_new_data_dir(cfg->data_dir);
    return rc;
}

const char *as_server_feed_endpoint(const as_server_t *s)
{
    return s->feed != NULL ? s->feed_ep : "";
}

void as_server_dispatch(as_server_t *s, const void *body, size_t n)
{
    as_rpc_dispatch_bytes(s->svc.rpc, s->local_worker, body, n);
}

void as_server_close(as_server_t *s)
{
    if (s == NULL)
        return;
    as_http_stop(s->http);
    as_stall_stop(s->stall);
    as_rpc_stop(s->svc.rpc_ws);
    as_rpc_stop(s->svc.rpc);
    /* The cluster answers the writes it holds through the open socket, the
     * writer acknowledges what it holds, then parked Changes calls are
     * answered. */
    as_cluster_stop(s->cluster);
    as_writer_stop(s->writer);
    as_wal_close(s->wal);
    as_feed_stop(s->feed);
    if (s->local_worker != NULL)
        as_service_worker_fini(&s->svc, s->local_worker);
    as_rpc_close(s->svc.rpc_ws);
    as_rpc_close(s->svc.rpc);
    as_snapshot_source_free(s->snapshot);
    as_store_close(s->store);
    as_auth_free(s->auth);
    free(s);
}
