/*
 * cli_prom.c - statistics in the Prometheus text exposition format (0.0.4):
 * one # HELP and one # TYPE line per metric family, then all its samples
 * together, so that the output can be dropped into node_exporter's
 * textfile collector (`artstore stats -o prometheus > dir/artstore.prom`).
 */
#include <string.h>

#include "cli.h"

typedef struct family {
    const char *name;
    const char *type;     /* counter, gauge, histogram */
    const char *help;
} family_t;

/* Families of the library's series (see as_stat_t in artstore.h). A
 * series not listed here is printed as untyped, so newer servers' series
 * still come out. */
static const family_t families[] = {
    { "artstore_requests_total", "counter",
      "Requests answered, by method and status code." },
    { "artstore_request_latency_us", "histogram",
      "Time from receiving a request to sending its reply, in microseconds." },
    { "artstore_writer_batch", "histogram",
      "Articles committed per write transaction (group commit)." },
};

/* Returns the family of series name s: a listed histogram for its
 * _bucket/_sum/_count series, a listed family by name, or NULL. */
static const family_t *family_of(const char *s)
{
    static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
    size_t i, j, n;

    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        n = strlen(families[i].name);
        if (strncmp(s, families[i].name, n) != 0)
            continue;
        if (s[n] == '\0')
            return &families[i];
        if (strcmp(families[i].type, "histogram") != 0)
            continue;
        for (j = 0; j < 3; j++)
            if (strcmp(s + n, suffixes[j]) == 0)
                return &families[i];
    }
    return NULL;
}

/* The family name series s is grouped under (the series name itself for
 * unlisted ones). */
static const char *family_name(const char *s)
{
    const family_t *f = family_of(s);

    return f ? f->name : s;
}

/* Prints a sample value: whole numbers (counters) in full, others with
 * 15 significant digits. */
static void value(FILE *out, double v)
{
    if (v == (double)(long long)v && v < 9007199254740992.0 &&
        v > -9007199254740992.0)
        fprintf(out, "%lld\n", (long long)v);
    else
        fprintf(out, "%.15g\n", v);
}

static void gauge(FILE *out, const char *name, const char *help, double v)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n%s ", name, help, name,
            name);
    value(out, v);
}

static void sample(FILE *out, const as_stat_t *st)
{
    fprintf(out, "%s%s%s%s ", st->name, st->labels[0] ? "{" : "",
            st->labels, st->labels[0] ? "}" : "");
    value(out, st->value);
}

int cli_print_prometheus(FILE *out, const as_stats_t *s)
{
    size_t i, j;

    fprintf(out, "# HELP artstore_info Server version (always 1).\n"
                 "# TYPE artstore_info gauge\n"
                 "artstore_info{version=\"");
    for (i = 0; s->version[i] != '\0'; i++) {
        if (s->version[i] == '\\' || s->version[i] == '"')
            fputc('\\', out);
        if (s->version[i] == '\n')
            fputs("\\n", out);
        else
            fputc(s->version[i], out);
    }
    fprintf(out, "\"} 1\n");
    gauge(out, "artstore_articles", "Articles stored.", (double)s->articles);
    gauge(out, "artstore_tags", "Distinct tags in the tag index.",
          (double)s->tags);
    gauge(out, "artstore_last_seq", "Sequence number of the last change.",
          (double)s->last_seq);
    gauge(out, "artstore_oldest_seq",
          "Oldest change still in the changelog (0: none).",
          (double)s->oldest_seq);
    gauge(out, "artstore_next_id", "Id the next new article gets.",
          (double)s->next_id);
    gauge(out, "artstore_map_size_bytes",
          "Size of the LMDB map (grows when full).", (double)s->map_size);
    gauge(out, "artstore_map_used_bytes", "Bytes of the LMDB map in use.",
          (double)s->map_used);
    gauge(out, "artstore_uptime_seconds", "Time since the server started.",
          (double)s->uptime_ms / 1000.0);
    gauge(out, "artstore_workers", "Request worker threads.",
          (double)s->workers);
    gauge(out, "artstore_subscribers", "Change feed subscribers.",
          (double)s->subscribers);

    /* Each family once, at its first series, with all its series. */
    for (i = 0; i < s->n_series; i++) {
        const char *fam = family_name(s->series[i].name);
        const family_t *f = family_of(s->series[i].name);
        int seen = 0;

        for (j = 0; j < i && !seen; j++)
            seen = strcmp(family_name(s->series[j].name), fam) == 0;
        if (seen)
            continue;
        if (f != NULL)
            fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
                    f->name, f->type);
        else
            fprintf(out, "# TYPE %s untyped\n", fam);
        for (j = i; j < s->n_series; j++)
            if (strcmp(family_name(s->series[j].name), fam) == 0)
                sample(out, &s->series[j]);
    }
    return ferror(out) ? -1 : 0;
}
