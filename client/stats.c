/*
 * stats.c - the Stats call: server statistics into an as_stats_t, with the
 * per-method counters and histograms flattened into Prometheus-style
 * series (name, labels, value).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "promtext.h"

typedef struct series_buf {
    as_stat_t *v;
    size_t n, cap;
    int oom;
} series_buf_t;

/* Writes s into out (size outlen) as a Prometheus label value: backslash,
 * double quote and newline escaped. Truncates silently. */
static void escape_label(const char *s, char *out, size_t outlen)
{
    size_t o = 0;

    for (; s != NULL && *s != '\0' && o + 3 < outlen; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

/* Appends one series; on failure sets b->oom and leaves b as it was. */
static void add_series(series_buf_t *b, const char *name, const char *labels,
                       double value)
{
    as_stat_t *s;

    if (b->oom)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        as_stat_t *v = realloc(b->v, cap * sizeof(*v));

        if (v == NULL) {
            b->oom = 1;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    s = &b->v[b->n];
    s->name = strdup(name);
    s->labels = strdup(labels);
    s->value = value;
    if (s->name == NULL || s->labels == NULL) {
        free(s->name);
        free(s->labels);
        b->oom = 1;
        return;
    }
    b->n++;
}

/* Adds a histogram as Prometheus series: cumulative name_bucket{le=...}
 * (the wire carries one count per bucket, plus one for +Inf), name_sum and
 * name_count. labels are the series' other labels ("" for none). */
static void add_histogram(series_buf_t *b, const char *name,
                          const char *labels,
                          const Artstore__V1__Histogram *h)
{
    char series[128], lab[384];
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    size_t i;

    snprintf(series, sizeof(series), "%s_bucket", name);
    for (i = 0; i < h->n_bounds && i < h->n_counts; i++) {
        cum += h->counts[i];
        snprintf(lab, sizeof(lab), "%s%sle=\"%.15g\"", labels, sep,
                 h->bounds[i]);
        add_series(b, series, lab, (double)cum);
    }
    /* +Inf holds everything, whether or not the wire sent its bucket. */
    snprintf(lab, sizeof(lab), "%s%sle=\"+Inf\"", labels, sep);
    add_series(b, series, lab, (double)h->count);
    snprintf(series, sizeof(series), "%s_sum", name);
    add_series(b, series, labels, h->sum);
    snprintf(series, sizeof(series), "%s_count", name);
    add_series(b, series, labels, (double)h->count);
}

/* Flattens the per-method statistics, the writer's batch histogram and a
 * cluster member's Raft progress. */
static void flatten(series_buf_t *b, const Artstore__V1__StatsResponse *r)
{
    char method[128], labels[256];
    size_t i, j;

    for (i = 0; i < r->n_methods; i++) {
        const Artstore__V1__MethodStats *m = r->methods[i];

        /* Methods never called would only add zeros. */
        if (m->n_codes == 0 && (m->latency_us == NULL ||
                                m->latency_us->count == 0))
            continue;
        escape_label(m->method, method, sizeof(method));
        for (j = 0; j < m->n_codes; j++) {
            const Artstore__V1__CodeCount *cc = m->codes[j];

            snprintf(labels, sizeof(labels), "method=\"%s\",code=\"%s\"",
                     method, as_code_name(-(int)cc->code));
            add_series(b, "artstore_requests_total", labels,
                       (double)cc->count);
        }
        if (m->latency_us != NULL) {
            snprintf(labels, sizeof(labels), "method=\"%s\"", method);
            add_histogram(b, "artstore_request_latency_us", labels,
                          m->latency_us);
        }
    }
    if (r->writer_batch != NULL)
        add_histogram(b, "artstore_writer_batch", "", r->writer_batch);
    if (r->has_overlay_bytes)
        add_series(b, "artstore_overlay_bytes", "", (double)r->overlay_bytes);
    if (r->has_lmdb_commits)
        add_series(b, "artstore_lmdb_commits_total", "",
                   (double)r->lmdb_commits);
    if (r->has_asked_commits)
        add_series(b, "artstore_lmdb_commits_asked_total", "",
                   (double)r->asked_commits);
    if (r->cluster != NULL) {
        const Artstore__V1__ClusterStats *cl = r->cluster;

        add_series(b, "artstore_cluster_node_id", "", (double)cl->node_id);
        add_series(b, "artstore_cluster_leader", "", cl->leader ? 1 : 0);
        add_series(b, "artstore_cluster_leader_id", "",
                   (double)cl->leader_id);
        add_series(b, "artstore_cluster_term", "", (double)cl->term);
        add_series(b, "artstore_cluster_commit_index", "",
                   (double)cl->commit_index);
        add_series(b, "artstore_cluster_applied_index", "",
                   (double)cl->applied_index);
        add_series(b, "artstore_cluster_apply_lag", "",
                   (double)cl->apply_lag);
    }
}

int as_stats(as_client_t *c, as_stats_t **out)
{
    Artstore__V1__StatsRequest req = ARTSTORE__V1__STATS_REQUEST__INIT;
    Artstore__V1__StatsResponse *r;
    series_buf_t b = { 0 };
    ProtobufCMessage *m;
    as_stats_t *s;
    int rc;

    if (c == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    *out = NULL;
    rc = as__call(c, "Stats", &req.base,
                  &artstore__v1__stats_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    r = (Artstore__V1__StatsResponse *)m;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto out_oom;
    s->version = strdup(r->version ? r->version : "");
    s->articles = r->articles;
    s->tags = r->tags;
    s->last_seq = r->last_seq;
    s->oldest_seq = r->oldest_seq;
    s->next_id = r->next_id;
    s->map_size = r->map_size;
    s->map_used = r->map_used;
    s->uptime_ms = r->uptime_ms;
    s->subscribers = r->subscribers;
    s->workers = r->workers;
    flatten(&b, r);
    s->series = b.v;
    s->n_series = b.n;
    s->prometheus = as_prom_render(r, NULL);
    if (s->version == NULL || b.oom || s->prometheus == NULL)
        goto out_oom;
    artstore__v1__stats_response__free_unpacked(r, NULL);
    *out = s;
    return AS_OK;

out_oom:
    as_stats_free(s);
    artstore__v1__stats_response__free_unpacked(r, NULL);
    return as__fail(c, AS_ERESOURCE_EXHAUSTED,
                    "out of memory copying the statistics");
}

void as_stats_free(as_stats_t *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->n_series; i++) {
        free(s->series[i].name);
        free(s->series[i].labels);
    }
    free(s->series);
    free(s->version);
    free(s->prometheus);
    free(s);
}
