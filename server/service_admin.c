/*
 * service_admin.c - Ping, Stats and Backup.
 */
#include <string.h>

#include "as_version.h"
#include "backup.h"
#include "clock.h"
#include "cluster.h"
#include "feed.h"
#include "service.h"

/* ------------------------------------------------------------ Ping */

void as__svc_ping(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__PingResponse resp = ARTSTORE__V1__PING_RESPONSE__INIT;

    if (as_service_unpack(call, &artstore__v1__ping_request__descriptor,
                          payload, len) == NULL)
        return;
    resp.version = ARTSTORE_VERSION_STRING;
    resp.feed_endpoint = (char *)svc->feed_endpoint;
    resp.has_last_seq = resp.has_time_ms = 1;
    /* last_seq counts every acknowledged write (no commit needed: Changes
     * and the feed read them from the overlay). */
    resp.last_seq = as_store_acked_seq(svc->store);
    resp.time_ms = as_clock_wall_ms();
    resp.has_max_message_bytes = 1;
    resp.max_message_bytes = svc->limits.max_message_bytes;
    as_call_reply(call, &resp.base);
}

/* ------------------------------------------------------------ Stats */

/* Fills a Histogram message from bucket bounds and counts (arena-backed). */
static Artstore__V1__Histogram *histogram(as_arena_t *ar, const double *bounds,
                                          size_t n, const uint64_t *counts,
                                          uint64_t count, double sum)
{
    Artstore__V1__Histogram *h = as_arena_alloc(ar, sizeof(*h));

    if (h == NULL)
        return NULL;
    artstore__v1__histogram__init(h);
    h->bounds = (double *)bounds;
    h->n_bounds = n;
    h->counts = as_arena_alloc(ar, sizeof(uint64_t) * (n + 1));
    if (h->counts == NULL)
        return NULL;
    memcpy(h->counts, counts, sizeof(uint64_t) * (n + 1));
    h->n_counts = n + 1;
    h->has_count = h->has_sum = 1;
    h->count = count;
    h->sum = sum;
    return h;
}

/* Adds the statistics of b to a. */
static void add_stats(as_method_stats_t *a, const as_method_stats_t *b)
{
    size_t j;

    for (j = 0; j < AS_RPC_CODES; j++)
        a->codes[j] += b->codes[j];
    for (j = 0; j <= AS_RPC_LAT_BUCKETS; j++)
        a->lat_counts[j] += b->lat_counts[j];
    a->lat_count += b->lat_count;
    a->lat_sum_us += b->lat_sum_us;
}

/* Builds the statistics of method i over every request endpoint
 * (arena-backed); NULL when out of memory. */
static Artstore__V1__MethodStats *method_stats(as_service_t *svc,
                                               as_arena_t *ar, size_t i)
{
    Artstore__V1__MethodStats *m = as_arena_alloc(ar, sizeof(*m));
    as_method_stats_t ms, more;
    size_t j;

    if (m == NULL)
        return NULL;
    memset(&ms, 0, sizeof(ms));
    if (svc->rpc != NULL)
        as_rpc_get_stats(svc->rpc, i, &ms);
    /* Requests through the dashboard's endpoint count the same. */
    if (svc->rpc_ws != NULL) {
        as_rpc_get_stats(svc->rpc_ws, i, &more);
        add_stats(&ms, &more);
    }
    artstore__v1__method_stats__init(m);
    m->method = (char *)as_service_methods[i].name;
    m->codes = as_arena_alloc(ar, sizeof(*m->codes) * AS_RPC_CODES);
    if (m->codes == NULL)
        return NULL;
    for (j = 0; j < AS_RPC_CODES; j++) {
        Artstore__V1__CodeCount *cc;

        if (ms.codes[j] == 0)
            continue;
        if ((cc = as_arena_alloc(ar, sizeof(*cc))) == NULL)
            return NULL;
        artstore__v1__code_count__init(cc);
        cc->has_code = cc->has_count = 1;
        cc->code = (Artstore__V1__Code)j;
        cc->count = ms.codes[j];
        m->codes[m->n_codes++] = cc;
    }
    m->latency_us = histogram(ar, as_rpc_latency_bounds_us,
                              AS_RPC_LAT_BUCKETS, ms.lat_counts,
                              ms.lat_count, ms.lat_sum_us);
    return m->latency_us != NULL ? m : NULL;
}

/* Fills the store's and the server's gauges of resp. */
static void stats_gauges(as_service_t *svc, const as_store_stats_t *ss,
                         Artstore__V1__StatsResponse *resp)
{
    resp->version = ARTSTORE_VERSION_STRING;
    resp->has_articles = resp->has_tags = resp->has_last_seq = 1;
    resp->has_oldest_seq = resp->has_next_id = resp->has_map_size = 1;
    resp->has_map_used = resp->has_uptime_ms = resp->has_workers = 1;
    resp->articles = ss->articles;
    resp->tags = ss->tags;
    resp->last_seq = ss->last_seq;
    resp->oldest_seq = ss->oldest_seq;
    resp->next_id = ss->next_id ? ss->next_id : 1;
    resp->map_size = ss->map_size;
    resp->map_used = ss->map_used;
    resp->uptime_ms = (uint64_t)(as_clock_wall_ms() - svc->start_ms);
    resp->workers = svc->rpc ? (uint32_t)as_rpc_workers(svc->rpc) : 0;
    resp->has_subscribers = 1;
    resp->subscribers = svc->feed ? as_feed_subscribers(svc->feed) : 0;
    resp->has_waiting_changes = 1;
    resp->waiting_changes = svc->feed ? as_feed_waiters(svc->feed) : 0;
}

/* A cluster member's Raft progress (NULL when out of memory). */
static Artstore__V1__ClusterStats *cluster_stats(as_service_t *svc,
                                                 as_arena_t *ar)
{
    as_cluster_status_t *cs = as_arena_alloc(ar, sizeof(*cs));
    Artstore__V1__ClusterStats *c = as_arena_alloc(ar, sizeof(*c));

    if (cs == NULL || c == NULL)
        return NULL;
    as_cluster_get_status(svc->cluster, cs);
    artstore__v1__cluster_stats__init(c);
    c->has_node_id = c->has_leader = c->has_leader_id = 1;
    c->has_term = c->has_commit_index = c->has_applied_index = 1;
    c->has_apply_lag = 1;
    c->node_id = cs->id;
    c->leader = cs->leader_id == cs->id;
    c->leader_id = cs->leader_id;
    c->term = cs->term;
    c->commit_index = cs->commit_index;
    c->applied_index = cs->applied_index;
    c->apply_lag = cs->commit_index > cs->applied_index
                       ? cs->commit_index - cs->applied_index : 0;
    return c;
}

int as_service_stats(as_service_t *svc, as_reader_t *rd, as_arena_t *ar,
                     Artstore__V1__StatsResponse *resp, as_status_t *st)
{
    as_store_stats_t ss;
    as_writer_stats_t ws;
    size_t i, n = as_service_n_methods;
    int rc;

    artstore__v1__stats_response__init(resp);
    as_writer_barrier(svc->writer);
    if (rd == NULL || as_reader_begin(rd, st) != 0)
        return as_status_set(st, AS_CODE_UNAVAILABLE, "store not readable");
    rc = as_store_get_stats(rd, &ss, st);
    as_reader_end(rd);
    if (rc != 0)
        return rc;
    stats_gauges(svc, &ss, resp);
    if (svc->cluster != NULL &&
        (resp->cluster = cluster_stats(svc, ar)) == NULL)
        goto out_exhausted;
    if ((resp->methods = as_arena_alloc(ar, sizeof(*resp->methods) * n)) ==
        NULL)
        goto out_exhausted;
    for (i = 0; i < n; i++)
        if ((resp->methods[resp->n_methods++] = method_stats(svc, ar, i)) ==
            NULL)
            goto out_exhausted;
    as_writer_get_stats(svc->writer, &ws);
    resp->writer_batch = histogram(ar, as_writer_bucket_bounds,
                                   AS_WRITER_BUCKETS, ws.counts, ws.commits,
                                   (double)ws.items);
    if (resp->writer_batch == NULL)
        goto out_exhausted;
    resp->has_overlay_bytes = resp->has_lmdb_commits = 1;
    resp->has_asked_commits = 1;
    resp->overlay_bytes = ws.overlay_bytes;
    resp->lmdb_commits = ws.lmdb_commits;
    resp->asked_commits = ws.asked_commits;
    return 0;

out_exhausted:
    return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                         "stats reply needs more than max_decode_bytes");
}

void as__svc_stats(as_call_t *call, const uint8_t *payload, size_t len)
{
    Artstore__V1__StatsResponse resp;
    as_reader_t *rd;
    as_status_t st;

    if (as_service_unpack(call, &artstore__v1__stats_request__descriptor,
                          payload, len) == NULL ||
        (rd = as_service_reader(call)) == NULL)
        return;
    if (as_service_stats(as_call_ctx(call), rd, as_call_arena(call), &resp,
                         &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    as_call_reply(call, &resp.base);
}

/* ------------------------------------------------------------ Backup */

/* Runs the copy on the calling worker without holding its store reader
 * (the copy has its own read transaction), and replies with the path, the
 * size and the last seq. */
void as__svc_backup(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__BackupRequest *req;
    Artstore__V1__BackupResponse resp = ARTSTORE__V1__BACKUP_RESPONSE__INIT;
    as_status_t st;

    req = (Artstore__V1__BackupRequest *)as_service_unpack(
        call, &artstore__v1__backup_request__descriptor, payload, len);
    if (req == NULL)
        return;
    /* The copy holds every write acknowledged before the call. */
    as_writer_barrier(svc->writer);
    if (as_backup_run(svc->store, req->path, svc->data_dir,
                      !(req->has_no_compact && req->no_compact), &resp.bytes,
                      &resp.last_seq, &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    resp.path = req->path;
    resp.has_bytes = resp.has_last_seq = 1;
    as_call_reply(call, &resp.base);
}
