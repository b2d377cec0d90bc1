/*
 * main.c - artstored: parse options, open the store, start the writer and
 * the request workers, then wait for SIGINT/SIGTERM and shut down in the
 * order that loses nothing: stop taking requests, let the writer finish
 * and acknowledge what it holds, then close the socket and the store.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef AS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "as_version.h"
#include "auth.h"
#include "cluster.h"
#include "config.h"
#include "feed.h"
#include "http.h"
#include "log.h"
#include "rpc.h"
#include "service.h"
#include "store.h"
#include "verify.h"
#include "writer.h"

/* Tells systemd (Type=notify) how the server is doing; a no-op when built
 * without libsystemd or not started by systemd (no NOTIFY_SOCKET). */
static void notify(const char *state)
{
#ifdef AS_HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

/* Every request allocates and frees its arena chunks and buffers; glibc's
 * default trimming hands that memory back to the kernel and faults it in
 * again on the next request (madvise, page faults: about a sixth of the
 * time of a put or get, measured). Keep freed memory, and keep buffers up
 * to 4 MiB (a request's arena, a large body) on the heap. */
static void tune_malloc(void)
{
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

/* nanomsg spins when it runs out of descriptors: take all we may have. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    as_config_t cfg;
    as_store_opts_t sopts;
    as_writer_opts_t wopts;
    as_rpc_opts_t ropts;
    as_service_t svc;
    as_store_t *store = NULL;
    as_writer_t *writer = NULL;
    as_rpc_t *rpc = NULL;
    as_feed_t *feed = NULL;
    as_feed_opts_t fopts;
    as_rpc_opts_t wsopts;
    as_rpc_t *rpc_ws = NULL;
    as_http_t *http = NULL;
    as_http_opts_t hopts;
    char feed_ep[512], ws_rpc[512], ws_feed[512];
    as_auth_t *auth = NULL;
    as_cluster_t *cluster = NULL;
    as_cluster_opts_t copts;
    char raft_dir[4096];
    int clustered;
    as_status_t st;
    struct timespec ts;
    sigset_t set;
    int rc, sig = 0, level, exit_code = 1;

    rc = as_config_parse_args(&cfg, argc, argv);
    if (rc != 0) {
        as_config_free(&cfg);
        return rc == 1 ? 0 : 2;
    }
    level = as_log_parse_level(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "artstored: unknown --log-level '%s'\n", cfg.log_level);
        as_config_free(&cfg);
        return 2;
    }
    as_log_set_level(level);
    if (cfg.check) {
        as_verify_report_t rep;

        if (as_verify_run(cfg.data_dir, stderr, &rep) != 0) {
            as_config_free(&cfg);
            return 1;
        }
        printf("%s: %llu articles (%llu compressed), %llu tags, %llu changes "
               "(seq %llu..%llu), next_id %llu: %s (%llu problems)\n",
               cfg.data_dir, (unsigned long long)rep.articles,
               (unsigned long long)rep.compressed, (unsigned long long)rep.tags,
               (unsigned long long)rep.changes,
               (unsigned long long)rep.oldest_seq,
               (unsigned long long)rep.last_seq,
               (unsigned long long)rep.next_id,
               rep.problems ? "INCONSISTENT" : "consistent",
               (unsigned long long)rep.problems);
        as_config_free(&cfg);
        return rep.problems ? 1 : 0;
    }
    clustered = cfg.node_id != 0 || cfg.raft[0] != '\0' ||
                cfg.cluster[0] != '\0';
    if (clustered && (cfg.node_id == 0 || cfg.raft[0] == '\0')) {
        as_log_error("a cluster member needs both --node-id and --raft");
        as_config_free(&cfg);
        return 2;
    }
    if (clustered && (cfg.retain_changes || cfg.retain_hours)) {
        /* Trims would be decided by each node's own clock and pace; they
         * are not replicated through the log yet. */
        as_log_error("--retain-changes and --retain-hours are not supported "
                     "in a cluster yet");
        as_config_free(&cfg);
        return 2;
    }
    if (cfg.auth_token_file[0] &&
        as_auth_load(cfg.auth_token_file, &auth, &st) != 0) {
        as_log_error("%s", st.msg);
        as_config_free(&cfg);
        return 1;
    }
    raise_nofile();
    tune_malloc();

    /* Block the stop signals in every thread; main waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&sopts, 0, sizeof(sopts));
    sopts.path = cfg.data_dir;
    sopts.map_size = cfg.map_size;
    sopts.map_max = cfg.map_max;
    sopts.max_readers = (unsigned)cfg.max_readers;
    sopts.no_sync = strcmp(cfg.sync, "periodic") == 0;
    sopts.compress_level = (int)cfg.compress_level;
    if (as_store_open(&sopts, &store, &st) != 0) {
        as_log_error("cannot open store: %s", st.msg);
        goto out_config;
    }

    memset(&wopts, 0, sizeof(wopts));
    wopts.max_queue = cfg.max_queue;
    wopts.max_batch_items = cfg.writer_batch;
    wopts.sync_interval_ms = sopts.no_sync ? 1000 : 0;
    if (as_writer_start(store, &wopts, &writer, &st) != 0) {
        as_log_error("cannot start writer: %s", st.msg);
        goto out_store;
    }

    memset(&svc, 0, sizeof(svc));
    svc.store = store;
    svc.writer = writer;
    svc.limits = cfg.limits;
    svc.data_dir = cfg.data_dir;
    if (cfg.feed[0] != '\0')
        snprintf(feed_ep, sizeof(feed_ep), "%s", cfg.feed);
    else if (as_feed_derive_endpoint(cfg.listen, feed_ep, sizeof(feed_ep)) != 0) {
        as_log_error("cannot derive a feed endpoint from %s: give --feed",
                     cfg.listen);
        goto out_writer;
    }
    /* --http brings the dashboard's ws:// endpoints with it. */
    snprintf(ws_rpc, sizeof(ws_rpc), "%s", cfg.ws_listen);
    snprintf(ws_feed, sizeof(ws_feed), "%s", cfg.ws_feed);
    if (cfg.http[0] != '\0' &&
        ((ws_rpc[0] == '\0' &&
          as_http_derive_ws(cfg.http, 1, ws_rpc, sizeof(ws_rpc)) != 0) ||
         (ws_feed[0] == '\0' &&
          as_http_derive_ws(cfg.http, 2, ws_feed, sizeof(ws_feed)) != 0))) {
        as_log_error("--http '%s' is not HOST:PORT with room for the "
                     "dashboard's ws:// ports after it (or give --ws-listen "
                     "and --ws-feed)", cfg.http);
        goto out_writer;
    }
    memset(&fopts, 0, sizeof(fopts));
    fopts.endpoint = feed_ep;
    fopts.ws_endpoint = ws_feed;
    fopts.max_waiters = cfg.limits.max_watches;
    fopts.retain_changes = cfg.retain_changes;
    fopts.retain_hours = cfg.retain_hours;
    fopts.max_reply_bytes = cfg.limits.max_reply_bytes;
    /* PUB cannot check a token: with tokens, the feed says only where the
     * log is, and the events are read through Changes, which checks. */
    fopts.positions_only = auth != NULL;
    if (as_feed_start(store, writer, &fopts, &feed, &st) != 0) {
        as_log_error("%s", st.msg);
        goto out_writer;
    }
    svc.feed = feed;
    svc.feed_endpoint = feed_ep;
    if (clustered) {
        memset(&copts, 0, sizeof(copts));
        snprintf(raft_dir, sizeof(raft_dir), "%s/raft", cfg.data_dir);
        copts.node_id = cfg.node_id;
        copts.raft = cfg.raft;
        copts.bootstrap = cfg.cluster;
        copts.dir = raft_dir;
        copts.listen = cfg.listen;
        copts.feed = feed_ep;
        copts.election_timeout_ms = (unsigned)cfg.raft_election_ms;
        copts.heartbeat_ms = (unsigned)(cfg.raft_election_ms / 10 ?
                                        cfg.raft_election_ms / 10 : 1);
        copts.snapshot_threshold = (unsigned)cfg.raft_snapshot_threshold;
        copts.snapshot_trailing = (unsigned)cfg.raft_snapshot_trailing;
        copts.no_sync = sopts.no_sync;
        copts.token = as_auth_write_token(auth);
        if (as_cluster_start(store, writer, &copts, &cluster, &st) != 0) {
            as_log_error("cannot start the cluster member: %s", st.msg);
            goto out_cluster;
        }
        svc.cluster = cluster;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    svc.start_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    memset(&ropts, 0, sizeof(ropts));
    ropts.endpoint = cfg.listen;
    ropts.workers = (int)cfg.workers;
    ropts.max_message_bytes = cfg.limits.max_message_bytes;
    ropts.max_decode_bytes = cfg.limits.max_decode_bytes;
    ropts.methods = as_service_methods;
    ropts.n_methods = as_service_n_methods;
    ropts.ctx = &svc;
    ropts.worker_init = as_service_worker_init;
    ropts.worker_fini = as_service_worker_fini;
    if (auth != NULL) {
        ropts.auth = as_auth_check;
        ropts.auth_ctx = auth;
    }
    if (as_rpc_start(&ropts, &rpc, &st) != 0) {
        as_log_error("%s", st.msg);
        goto out_cluster;
    }
    svc.rpc = rpc;
    if (ws_rpc[0] != '\0') {
        /* The dashboard's endpoint: any page in a browser can reach a
         * WebSocket, so it only reads (as_auth_check_read_only). */
        wsopts = ropts;
        wsopts.endpoint = ws_rpc;
        wsopts.workers = 2;
        wsopts.auth = as_auth_check_read_only;
        wsopts.auth_ctx = auth;
        if (as_rpc_start(&wsopts, &rpc_ws, &st) != 0) {
            as_log_error("%s", st.msg);
            goto out_rpc;
        }
        svc.rpc_ws = rpc_ws;
    }
    if (cfg.http[0] != '\0') {
        memset(&hopts, 0, sizeof(hopts));
        hopts.address = cfg.http;
        hopts.svc = &svc;
        hopts.ws_rpc = ws_rpc;
        hopts.ws_feed = ws_feed;
        hopts.auth = auth != NULL;
        if (as_http_start(&hopts, &http, &st) != 0) {
            as_log_error("%s", st.msg);
            goto out_rpc;
        }
        as_log_info("dashboard at http://%s/ (metrics at /metrics; "
                    "requests on %s, feed on %s)%s", cfg.http, ws_rpc,
                    ws_feed, as_http_has_dashboard() ? "" :
                    "; built without the page");
    }
    as_log_info("artstored %s serving %s on %s (%zu workers, sync=%s)",
                ARTSTORE_VERSION_STRING, cfg.data_dir, cfg.listen,
                cfg.workers, cfg.sync);
    /* The socket is bound: clients may connect from now on. */
    notify("READY=1");

    while (sigwait(&set, &sig) != 0)
        ;
    as_log_info("received %s, shutting down", strsignal(sig));
    notify("STOPPING=1");
    exit_code = 0;

out_rpc:
    as_http_stop(http);
    if (rpc_ws != NULL)
        as_rpc_stop(rpc_ws);
    as_rpc_stop(rpc);
out_cluster:
    /* The cluster answers the writes it holds through the open socket. */
    as_cluster_stop(cluster);
out_writer:
    /* The writer acknowledges what it holds through the still-open socket. */
    as_writer_stop(writer);
    /* Parked Changes calls are answered through the still-open socket. */
    as_feed_stop(feed);
    as_rpc_close(rpc_ws);
    as_rpc_close(rpc);
out_store:
    as_store_close(store);
out_config:
    as_auth_free(auth);
    as_config_free(&cfg);
    if (exit_code == 0)
        as_log_info("stopped cleanly");
    return exit_code;
}
