/*
 * promtext.c - a StatsResponse in the Prometheus text format (0.0.4). See
 * promtext.h.
 */
#define _GNU_SOURCE
#include "promtext.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Writes s as a label value: backslash, double quote and newline
 * escaped. */
static void label_value(FILE *out, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

/* A sample value: whole numbers (counters) in full, others with 15
 * significant digits. */
static void value(FILE *out, double v)
{
    if (v == (double)(long long)v && v < 9007199254740992.0 &&
        v > -9007199254740992.0)
        fprintf(out, "%lld\n", (long long)v);
    else
        fprintf(out, "%.15g\n", v);
}

static void family(FILE *out, const char *name, const char *type,
                   const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(FILE *out, const char *name, const char *help, double v)
{
    family(out, name, "gauge", help);
    fprintf(out, "%s ", name);
    value(out, v);
}

/* Writes histogram h of family name, labelled with method unless it is
 * NULL, multiplying bounds and sum by scale: cumulative _bucket lines
 * ending in +Inf, then _sum and _count. */
static void histogram(FILE *out, const char *name, const char *method,
                      const Artstore__V1__Histogram *h, double scale)
{
    uint64_t cum = 0;
    size_t i;

    for (i = 0; i < h->n_bounds && i < h->n_counts; i++) {
        cum += h->counts[i];
        fprintf(out, "%s_bucket{", name);
        if (method != NULL) {
            fputs("method=\"", out);
            label_value(out, method);
            fputs("\",", out);
        }
        fprintf(out, "le=\"%.15g\"} %llu\n", h->bounds[i] * scale,
                (unsigned long long)cum);
    }
    /* +Inf holds everything, whether or not the wire sent its bucket. */
    fprintf(out, "%s_bucket{", name);
    if (method != NULL) {
        fputs("method=\"", out);
        label_value(out, method);
        fputs("\",", out);
    }
    fprintf(out, "le=\"+Inf\"} %llu\n", (unsigned long long)h->count);
    fprintf(out, "%s_sum", name);
    if (method != NULL) {
        fputs("{method=\"", out);
        label_value(out, method);
        fputs("\"}", out);
    }
    fputc(' ', out);
    value(out, h->sum * scale);
    fprintf(out, "%s_count", name);
    if (method != NULL) {
        fputs("{method=\"", out);
        label_value(out, method);
        fputs("\"}", out);
    }
    fprintf(out, " %llu\n", (unsigned long long)h->count);
}

/* Methods never called would only add zeros. */
static int called(const Artstore__V1__MethodStats *m)
{
    return m->n_codes > 0 || (m->latency_us != NULL &&
                              m->latency_us->count > 0);
}

static const char *code_name(int code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&artstore__v1__code__descriptor,
                                             code);

    return v != NULL ? v->name : "UNKNOWN";
}

char *as_prom_render(const Artstore__V1__StatsResponse *r, size_t *len)
{
    char *buf = NULL;
    size_t size = 0, i, j;
    FILE *out = open_memstream(&buf, &size);
    int any;

    if (out == NULL)
        return NULL;
    family(out, "artstore_info", "gauge", "Server version (always 1).");
    fputs("artstore_info{version=\"", out);
    label_value(out, r->version ? r->version : "");
    fputs("\"} 1\n", out);
    gauge(out, "artstore_articles", "Articles stored.", (double)r->articles);
    gauge(out, "artstore_tags", "Distinct tags in the tag index.",
          (double)r->tags);
    gauge(out, "artstore_last_seq", "Sequence number of the last change.",
          (double)r->last_seq);
    gauge(out, "artstore_oldest_seq",
          "Oldest change still in the changelog (0: none).",
          (double)r->oldest_seq);
    gauge(out, "artstore_next_id", "Id the next new article gets.",
          (double)r->next_id);
    gauge(out, "artstore_map_size_bytes",
          "Size of the LMDB map (grows when full).", (double)r->map_size);
    gauge(out, "artstore_map_used_bytes", "Bytes of the LMDB map in use.",
          (double)r->map_used);
    gauge(out, "artstore_uptime_seconds", "Time since the server started.",
          (double)r->uptime_ms / 1000.0);
    gauge(out, "artstore_workers", "Request worker threads.",
          (double)r->workers);
    gauge(out, "artstore_subscribers", "Connections to the change feed.",
          (double)r->subscribers);
    gauge(out, "artstore_waiting_changes",
          "Changes calls parked until an event matches (long-polls).",
          (double)r->waiting_changes);
    if (r->has_overlay_bytes)
        gauge(out, "artstore_overlay_bytes",
              "Acknowledged writes held in memory until LMDB commits them.",
              (double)r->overlay_bytes);
    if (r->has_lmdb_commits) {
        family(out, "artstore_lmdb_commits_total", "counter",
               "LMDB commits behind the write-ahead log.");
        fprintf(out, "artstore_lmdb_commits_total %llu\n",
                (unsigned long long)r->lmdb_commits);
    }
    if (r->has_asked_commits) {
        family(out, "artstore_lmdb_commits_asked_total", "counter",
               "LMDB commits a read asked for, before its snapshot.");
        fprintf(out, "artstore_lmdb_commits_asked_total %llu\n",
                (unsigned long long)r->asked_commits);
    }

    for (i = 0, any = 0; i < r->n_methods; i++) {
        const Artstore__V1__MethodStats *m = r->methods[i];

        if (!called(m))
            continue;
        if (!any++)
            family(out, "artstore_requests_total", "counter",
                   "Requests answered, by method and status code.");
        for (j = 0; j < m->n_codes; j++) {
            fputs("artstore_requests_total{method=\"", out);
            label_value(out, m->method);
            fprintf(out, "\",code=\"%s\"} %llu\n",
                    code_name((int)m->codes[j]->code),
                    (unsigned long long)m->codes[j]->count);
        }
    }
    for (i = 0, any = 0; i < r->n_methods; i++) {
        const Artstore__V1__MethodStats *m = r->methods[i];

        if (!called(m) || m->latency_us == NULL)
            continue;
        if (!any++)
            family(out, "artstore_request_duration_seconds", "histogram",
                   "Time from receiving a request to sending its reply.");
        histogram(out, "artstore_request_duration_seconds",
                  m->method ? m->method : "", m->latency_us, 1e-6);
    }
    if (r->writer_batch != NULL) {
        family(out, "artstore_writer_batch", "histogram",
               "Articles per group of writes taken at once (one log "
               "flush; without the log, one commit).");
        histogram(out, "artstore_writer_batch", NULL, r->writer_batch, 1);
    }
    if (r->cluster != NULL) {
        const Artstore__V1__ClusterStats *cl = r->cluster;

        gauge(out, "artstore_cluster_node_id", "This cluster member's id.",
              (double)cl->node_id);
        gauge(out, "artstore_cluster_leader",
              "1 when this member is the leader.", cl->leader ? 1 : 0);
        gauge(out, "artstore_cluster_leader_id",
              "The leader's id as this member knows it (0: none).",
              (double)cl->leader_id);
        gauge(out, "artstore_cluster_term", "Raft term.", (double)cl->term);
        gauge(out, "artstore_cluster_commit_index",
              "Raft log index known committed.", (double)cl->commit_index);
        gauge(out, "artstore_cluster_applied_index",
              "Raft log index applied to the store.",
              (double)cl->applied_index);
        gauge(out, "artstore_cluster_apply_lag",
              "Committed entries not yet applied.", (double)cl->apply_lag);
    }
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    if (len != NULL)
        *len = size;
    return buf;
}
