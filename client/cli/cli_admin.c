/*
 * cli_admin.c - the server subcommands: ping and stats.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"

/* ------------------------------------------------------------ ping */

static int run_ping(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_ping;
    as_client_t *client;
    as_ping_info_t info;
    double start, rtt;
    int c, rc;

    while ((c = cli_getopt(g, cmd, argc, argv, "", NULL)) != CLI_GETOPT_END)
        return cli_getopt_exit(c);
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                           CLI_FMT_JSONL,
                               CLI_OUTPUT_TEXT)) != 0)
        return rc;
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    start = as_clock_mono_sec();
    rc = as_ping(client, &info);
    rtt = (as_clock_mono_sec() - start) * 1e3;
    if (rc != AS_OK) {
        rc = cli_call_error(client, rc);
    } else if (g->output != CLI_OUTPUT_TEXT) {
        json_t *obj = json_pack("{sssIsosf}", "version", info.version,
                                "last_seq", (json_int_t)info.last_seq,
                                "time", cli_time_ms_json(info.time_ms),
                                "rtt_ms", round(rtt * 1000) / 1000);

        if (obj != NULL && info.feed_endpoint[0] != '\0' &&
            json_object_set_new(obj, "feed_endpoint",
                                json_string(info.feed_endpoint)) != 0) {
            json_decref(obj);
            obj = NULL;
        }
        rc = cli_print_json_as(g, obj);
    } else {
        printf("PONG artstored %s last_seq=%llu", info.version,
               (unsigned long long)info.last_seq);
        if (info.feed_endpoint[0] != '\0')
            printf(" feed=%s", info.feed_endpoint);
        printf(" (%.1f ms)\n", rtt);
    }
    as_client_close(client);
    return rc;
}

const cli_cmd_t cli_cmd_ping = {
    .name = "ping",
    .summary = "check that the server answers",
    .run = run_ping,
    .help =
        "EXAMPLES\n"
        "  artstore ping\n"
        "  artstore ping --server ipc:///run/artstore/rpc --timeout 1s\n"
        "  until artstore ping >/dev/null 2>&1; do sleep 0.2; done\n"
        "\n"
        "USAGE\n"
        "  artstore ping [flags]\n"
        "\n"
        "  Checks that the server answers. Prints its version, its last\n"
        "  change seq, its change feed endpoint and the round trip time:\n"
        "    PONG artstored 0.1.0 last_seq=12 feed=tcp://127.0.0.1:7401 "
        "(0.2 ms)\n"
        "  Exits 3 when no reply comes within the timeout.\n",
};

/* ------------------------------------------------------------ stats */

static void print_stats_text(const as_stats_t *s)
{
    size_t i;

    printf("version: %s\n", s->version);
    printf("articles: %llu\n", (unsigned long long)s->articles);
    printf("tags: %llu\n", (unsigned long long)s->tags);
    printf("last_seq: %llu\n", (unsigned long long)s->last_seq);
    printf("oldest_seq: %llu\n", (unsigned long long)s->oldest_seq);
    printf("next_id: %llu\n", (unsigned long long)s->next_id);
    printf("map_size: %llu\n", (unsigned long long)s->map_size);
    printf("map_used: %llu\n", (unsigned long long)s->map_used);
    printf("uptime_ms: %llu\n", (unsigned long long)s->uptime_ms);
    printf("subscribers: %u\n", s->subscribers);
    printf("workers: %u\n", s->workers);
    for (i = 0; i < s->n_series; i++) {
        const as_stat_t *st = &s->series[i];

        printf("%s%s%s%s: %.15g\n", st->name, st->labels[0] ? "{" : "",
               st->labels, st->labels[0] ? "}" : "", st->value);
    }
}

/* Returns v as a JSON integer when it is a whole number that a double
 * holds exactly (counters), else as a real. */
static json_t *number(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/*
 * Returns the labels of a series, `k="v",...` with Prometheus escapes
 * (\\, \", \n) in the values, as a JSON object {"k": "v", ...}, or NULL
 * when out of memory. A malformed rest is kept whole under "" rather
 * than dropped.
 */
static json_t *labels_json(const char *s)
{
    json_t *obj = json_object();
    char *val = malloc(strlen(s) + 1), key[128];
    const char *p = s;

    if (obj == NULL || val == NULL)
        goto out_fail;
    while (*p != '\0') {
        size_t kl = strcspn(p, "=\""), vl = 0;

        if (kl == 0 || kl >= sizeof(key) || p[kl] != '=' || p[kl + 1] != '"')
            break;
        memcpy(key, p, kl);
        key[kl] = '\0';
        for (p += kl + 2; *p != '\0' && *p != '"'; p++) {
            if (*p == '\\' && p[1] != '\0') {
                p++;
                val[vl++] = *p == 'n' ? '\n' : *p;
            } else {
                val[vl++] = *p;
            }
        }
        if (*p != '"')
            break;
        val[vl] = '\0';
        if (json_object_set_new(obj, key, json_string(val)) != 0)
            goto out_fail;
        p++;
        if (*p == ',')
            p++;
    }
    if (*p != '\0' && json_object_set_new(obj, "", json_string(p)) != 0)
        goto out_fail;
    free(val);
    return obj;

out_fail:
    free(val);
    json_decref(obj);
    return NULL;
}

/* Returns the statistics as a JSON object, or NULL when out of memory. */
static json_t *stats_json(const as_stats_t *s)
{
    json_t *obj, *series = json_array();
    size_t i;

    for (i = 0; series != NULL && i < s->n_series; i++) {
        const as_stat_t *st = &s->series[i];

        /* "o" hands value to the new object, even when packing fails. */
        if (json_array_append_new(series,
                                  json_pack("{ssso*so}", "name", st->name,
                                            "labels", labels_json(st->labels),
                                            "value",
                                            number(st->value))) != 0) {
            json_decref(series);
            return NULL;
        }
    }
    if (series == NULL)
        return NULL;
    obj = json_pack("{sssIsIsIsIsIsIsIsIsIsIso}",
                    "version", s->version,
                    "articles", (json_int_t)s->articles,
                    "tags", (json_int_t)s->tags,
                    "last_seq", (json_int_t)s->last_seq,
                    "oldest_seq", (json_int_t)s->oldest_seq,
                    "next_id", (json_int_t)s->next_id,
                    "map_size", (json_int_t)s->map_size,
                    "map_used", (json_int_t)s->map_used,
                    "uptime_ms", (json_int_t)s->uptime_ms,
                    "subscribers", (json_int_t)s->subscribers,
                    "workers", (json_int_t)s->workers,
                    "series", series);
    return obj;
}

static int run_stats(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_stats;
    as_client_t *client;
    as_stats_t *s;
    int c, rc;

    while ((c = cli_getopt(g, cmd, argc, argv, "", NULL)) != CLI_GETOPT_END)
        return cli_getopt_exit(c);
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                           CLI_FMT_JSONL | CLI_FMT_PROMETHEUS,
                               CLI_OUTPUT_TEXT)) != 0)
        return rc;
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    if ((rc = as_stats(client, &s)) != AS_OK) {
        rc = cli_call_error(client, rc);
        goto out_close;
    }
    if (g->output == CLI_OUTPUT_JSON || g->output == CLI_OUTPUT_JSONL) {
        rc = cli_print_json_as(g, stats_json(s));
    } else if (g->output == CLI_OUTPUT_PROMETHEUS) {
        /* The library renders it as artstored's /metrics does. */
        rc = fputs(s->prometheus, stdout) >= 0 && fflush(stdout) == 0
                 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    } else {
        print_stats_text(s);
        rc = CLI_EXIT_OK;
    }
    as_stats_free(s);

out_close:
    as_client_close(client);
    return rc;
}

const cli_cmd_t cli_cmd_stats = {
    .name = "stats",
    .summary = "print server statistics",
    .run = run_stats,
    .help =
        "EXAMPLES\n"
        "  artstore stats\n"
        "  artstore stats -o json | jq .articles\n"
        "  artstore stats | grep '^artstore_requests_total'\n"
        "  artstore stats -o prometheus > /var/lib/node_exporter/artstore.prom\n"
        "\n"
        "USAGE\n"
        "  artstore stats [flags]\n"
        "\n"
        "  Prints server statistics. Text output is `key: value` lines:\n"
        "  version, articles, tags, last_seq, oldest_seq, next_id, map_size,\n"
        "  map_used, uptime_ms, subscribers, workers, then counters in\n"
        "  Prometheus style, e.g.\n"
        "    artstore_requests_total{method=\"Put\",code=\"OK\"}: 12\n"
        "  JSON output (-o json, or on one line -o jsonl) is one object\n"
        "  with the same keys and a `series` array of {name, labels, value},\n"
        "  labels an object such as {\"method\": \"Put\", \"code\": \"OK\"}.\n"
        "  Prometheus output (-o prometheus) is the text exposition format\n"
        "  with # HELP and # TYPE lines, the same as artstored serves at\n"
        "  /metrics (--http): gauges artstore_articles, _tags, _last_seq,\n"
        "  _map_size_bytes, ..., the counter\n"
        "  artstore_requests_total{method,code} and the histograms\n"
        "  artstore_request_duration_seconds{method} and\n"
        "  artstore_writer_batch.\n",
};
