/*
 * check_stats.c - statistics end to end: the series libartstore flattens
 * (full latency histograms, request counters), `artstore stats -o
 * prometheus` and a scrape of artstored's /metrics (--http), checked
 * against the text exposition format's rules: one
 * HELP and TYPE per family before all of its samples, valid names and
 * labels, cumulative buckets ending in +Inf = _count.
 */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

#define N_PUTS 7

/* Puts N_PUTS articles and asks for one missing id, so that Put has OK
 * and Get has NOT_FOUND counts. */
static void load(const char *endpoint)
{
    as_client_t *c;
    as_article_t *a = NULL;
    int i;

    ck_assert_int_eq(as_client_connect(endpoint, 5000, &c), AS_OK);
    for (i = 0; i < N_PUTS; i++) {
        char url[64];
        as_article_t art = { 0 };
        as_put_result_t r;

        snprintf(url, sizeof(url), "https://example.com/s/%d", i);
        art.url = url;
        art.title = "t";
        art.body = "b";
        ck_assert_int_eq(as_put(c, &art, AS_REV_ANY, &r), AS_OK);
    }
    ck_assert_int_eq(as_get(c, 999, 0, &a), AS_ENOT_FOUND);
    as_client_close(c);
}

/* Returns the value of the series name{labels} in s, or -1 if absent. */
static double find(const as_stats_t *s, const char *name, const char *labels)
{
    size_t i;

    for (i = 0; i < s->n_series; i++)
        if (strcmp(s->series[i].name, name) == 0 &&
            strcmp(s->series[i].labels, labels) == 0)
            return s->series[i].value;
    return -1;
}

START_TEST(library_series_have_full_histograms)
{
    ts_server_t srv;
    as_client_t *c;
    as_stats_t *s;
    size_t i;
    double prev = 0;
    int buckets = 0;

    ck_assert_int_eq(ts_start(&srv, NULL), 0);
    load(srv.endpoint);
    ck_assert_int_eq(as_client_connect(srv.endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_stats(c, &s), AS_OK);
    ck_assert_uint_eq(s->articles, N_PUTS);
    ck_assert(find(s, "artstore_requests_total",
                   "method=\"Put\",code=\"OK\"") == N_PUTS);
    ck_assert(find(s, "artstore_requests_total",
                   "method=\"Get\",code=\"NOT_FOUND\"") == 1);
    ck_assert(find(s, "artstore_request_latency_us_count",
                   "method=\"Put\"") == N_PUTS);
    ck_assert(find(s, "artstore_request_latency_us_sum", "method=\"Put\"") > 0);
    ck_assert(find(s, "artstore_request_latency_us_bucket",
                   "method=\"Put\",le=\"+Inf\"") == N_PUTS);
    for (i = 0; i < s->n_series; i++) {
        const as_stat_t *st = &s->series[i];

        if (strcmp(st->name, "artstore_request_latency_us_bucket") != 0 ||
            strncmp(st->labels, "method=\"Put\",", 13) != 0)
            continue;
        ck_assert_msg(st->value >= prev, "bucket %s not cumulative",
                      st->labels);
        prev = st->value;
        buckets++;
    }
    ck_assert_int_ge(buckets, 5);
    ck_assert(find(s, "artstore_writer_batch_bucket", "le=\"+Inf\"") >= 1);
    ck_assert(find(s, "artstore_writer_batch_sum", "") == N_PUTS);
    as_stats_free(s);
    as_client_close(c);
    ck_assert_int_eq(ts_stop(&srv), 0);
    ts_cleanup(&srv);
}
END_TEST

/* Asks Stats until it reports want subscribers, at most ~10 s: nanomsg
 * connects and notices a closed peer in the background. */
static uint32_t await_subscribers(as_client_t *c, uint32_t want)
{
    uint32_t seen = UINT32_MAX;
    int i;

    for (i = 0; i < 500 && seen != want; i++) {
        as_stats_t *s;

        if (i > 0)
            usleep(20000);
        ck_assert_int_eq(as_stats(c, &s), AS_OK);
        seen = s->subscribers;
        as_stats_free(s);
    }
    return seen;
}

START_TEST(subscribers_are_the_feed_connections)
{
    ts_server_t srv;
    as_client_t *c;
    as_watch_t *w1, *w2;
    as_watch_opts_t o = { 0 };

    ck_assert_int_eq(ts_start(&srv, NULL), 0);
    ck_assert_int_eq(as_client_connect(srv.endpoint, 5000, &c), AS_OK);
    ck_assert_uint_eq(await_subscribers(c, 0), 0);
    ck_assert_int_eq(as_watch_open(c, &o, &w1), AS_OK);
    ck_assert_int_eq(as_watch_open(c, &o, &w2), AS_OK);
    ck_assert_uint_eq(await_subscribers(c, 2), 2);
    as_watch_close(w1);
    ck_assert_uint_eq(await_subscribers(c, 1), 1);
    as_watch_close(w2);
    ck_assert_uint_eq(await_subscribers(c, 0), 0);
    as_client_close(c);
    ck_assert_int_eq(ts_stop(&srv), 0);
    ts_cleanup(&srv);
}
END_TEST

#define MAX_FAMILIES 64

/* What check_exposition found in a text. */
typedef struct prom_seen {
    int samples;
    double put_inf, put_count, put_ok, articles, put_sum;
    double max_le;            /* largest finite le of the Put histogram */
} prom_seen_t;

/* Checks text (modified) against the exposition format's rules: one HELP
 * then one TYPE per family, before all of its samples; valid names and
 * labels; cumulative buckets per series. */
static void check_exposition(char *text, prom_seen_t *seen)
{
    regex_t sample_re, le_re;
    regmatch_t m[4];
    char *line, *save = NULL;
    char families[MAX_FAMILIES][96], types[MAX_FAMILIES][16];
    char cur[96] = "", helped[96] = "", series[256] = "";
    int n_fam = 0, i;
    double last_bucket = -1;

    memset(seen, 0, sizeof(*seen));
    seen->put_inf = seen->put_count = seen->put_ok = seen->articles = -1;
    seen->put_sum = -1;
    ck_assert_int_eq(regcomp(&sample_re,
        "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|"
        "\\\\.)*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*)\\})? "
        "(-?[0-9.e+-]+|\\+Inf|NaN)$", REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&le_re, "le=\"([^\"]*)\"", REG_EXTENDED), 0);

    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[96], fam[96], kind[16];
        const char *suffix;
        double v;

        if (strncmp(line, "# HELP ", 7) == 0) {
            ck_assert_int_eq(sscanf(line + 7, "%95s", helped), 1);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            ck_assert_int_eq(sscanf(line + 7, "%95s %15s", fam, kind), 2);
            ck_assert_str_eq(fam, helped); /* HELP right before TYPE */
            for (i = 0; i < n_fam; i++)
                ck_assert_msg(strcmp(families[i], fam) != 0,
                              "family %s declared twice", fam);
            ck_assert_int_lt(n_fam, MAX_FAMILIES);
            ck_assert_msg(strcmp(kind, "counter") == 0 ||
                          strcmp(kind, "gauge") == 0 ||
                          strcmp(kind, "histogram") == 0, "type %s", kind);
            snprintf(families[n_fam], sizeof(families[n_fam]), "%s", fam);
            snprintf(types[n_fam], sizeof(types[n_fam]), "%s", kind);
            n_fam++;
            snprintf(cur, sizeof(cur), "%s", fam);
            last_bucket = -1;
            continue;
        }
        ck_assert_msg(line[0] != '#', "stray comment: %s", line);
        ck_assert_msg(regexec(&sample_re, line, 4, m, 0) == 0,
                      "not a sample line: '%s'", line);
        snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                 line);
        v = strtod(strrchr(line, ' ') + 1, NULL);
        /* Every sample belongs to the family declared last. */
        ck_assert_msg(strncmp(name, cur, strlen(cur)) == 0,
                      "sample %s outside its family (current %s)", name, cur);
        suffix = name + strlen(cur);
        ck_assert_msg(*suffix == '\0' || (strcmp(types[n_fam - 1],
                      "histogram") == 0 && (strcmp(suffix, "_bucket") == 0 ||
                      strcmp(suffix, "_sum") == 0 ||
                      strcmp(suffix, "_count") == 0)),
                      "sample %s in family %s", name, cur);
        if (strcmp(suffix, "_bucket") == 0) {
            regmatch_t lm[2];

            ck_assert_int_eq(regexec(&le_re, line, 2, lm, 0), 0);
            /* A new series (labels before le differ) starts again. */
            if (strncmp(line, series, lm[0].rm_so) != 0 ||
                series[lm[0].rm_so] != '\0')
                last_bucket = -1;
            snprintf(series, sizeof(series), "%.*s", (int)lm[0].rm_so, line);
            ck_assert_msg(v >= last_bucket, "bucket not cumulative: %s", line);
            last_bucket = v;
            if (strstr(line, "artstore_request_duration_seconds_bucket"
                             "{method=\"Put\"")) {
                if (strstr(line, "+Inf"))
                    seen->put_inf = v;
                else if (strtod(line + lm[1].rm_so, NULL) > seen->max_le)
                    seen->max_le = strtod(line + lm[1].rm_so, NULL);
            }
        }
        if (strstr(line, "artstore_request_duration_seconds_count"
                         "{method=\"Put\"}"))
            seen->put_count = v;
        if (strstr(line, "artstore_request_duration_seconds_sum"
                         "{method=\"Put\"}"))
            seen->put_sum = v;
        if (strstr(line, "artstore_requests_total{method=\"Put\",code=\"OK\"}"))
            seen->put_ok = v;
        if (strcmp(name, "artstore_articles") == 0)
            seen->articles = v;
        seen->samples++;
    }
    regfree(&sample_re);
    regfree(&le_re);
}

/* The checks both ways of getting the text share, after N_PUTS puts. */
static void check_after_puts(const prom_seen_t *seen)
{
    ck_assert_int_ge(seen->samples, 20);
    ck_assert(seen->articles == N_PUTS);
    ck_assert(seen->put_ok == N_PUTS);
    ck_assert(seen->put_count == N_PUTS);
    ck_assert(seen->put_inf == N_PUTS);
    /* Seconds, as Prometheus expects: the largest bound is 5 s (not
     * 5,000,000 us), and a put on this machine takes well under 10 s. */
    ck_assert_msg(seen->max_le == 5, "largest le %g", seen->max_le);
    ck_assert_msg(seen->put_sum > 0 && seen->put_sum < 10 * N_PUTS,
                  "Put duration sum %g s", seen->put_sum);
}

START_TEST(prometheus_text_format)
{
    static const char *const args[] = { "stats", "-o", "prometheus", NULL };
    ts_server_t srv;
    char *out = NULL, *err = NULL;
    prom_seen_t seen;

    ck_assert_int_eq(ts_start(&srv, NULL), 0);
    load(srv.endpoint);
    ck_assert_int_eq(ts_cli(srv.endpoint, NULL, &out, &err, args), 0);
    check_exposition(out, &seen);
    check_after_puts(&seen);
    free(out);
    free(err);
    ck_assert_int_eq(ts_stop(&srv), 0);
    ts_cleanup(&srv);
}
END_TEST

/* Prometheus scrapes artstored --http at /metrics: the same format and
 * families as the CLI's output (both come from proto/promtext.c). */
START_TEST(metrics_over_http)
{
    static const char *const args[] = { "stats", "-o", "prometheus", NULL };
    ts_server_t srv;
    char http[64], wsr[64], wsf[64], *hdr = NULL, *body = NULL;
    char *cli = NULL, *p, *q;
    const char *extra[7];
    prom_seen_t seen;
    int port = ts_free_port(), status;

    snprintf(http, sizeof(http), "127.0.0.1:%d", port);
    snprintf(wsr, sizeof(wsr), "ws://127.0.0.1:%d", ts_free_port());
    snprintf(wsf, sizeof(wsf), "ws://127.0.0.1:%d", ts_free_port());
    extra[0] = "--metrics";       /* the alias of --http */
    extra[1] = http;
    extra[2] = "--ws-listen";
    extra[3] = wsr;
    extra[4] = "--ws-feed";
    extra[5] = wsf;
    extra[6] = NULL;
    ck_assert_int_eq(ts_start(&srv, extra), 0);
    load(srv.endpoint);
    ck_assert_int_eq(ts_http(port, "GET", "/metrics", &status, &hdr, &body),
                     0);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(strstr(hdr, "Content-Type: text/plain; version=0.0.4") !=
                  NULL, "headers: %s", hdr);
    ck_assert_int_eq(ts_cli(srv.endpoint, NULL, &cli, NULL, args), 0);
    /* Every family the CLI prints is scraped too. */
    for (p = strstr(cli, "# TYPE "); p != NULL; p = strstr(p + 1, "# TYPE ")) {
        char line[160];

        q = strchr(p, '\n');
        ck_assert_ptr_nonnull(q);
        snprintf(line, sizeof(line), "%.*s", (int)(q - p), p);
        ck_assert_msg(strstr(body, line) != NULL, "%s missing at /metrics",
                      line);
    }
    check_exposition(body, &seen);
    check_after_puts(&seen);
    free(hdr);
    free(body);
    free(cli);
    ck_assert_int_eq(ts_stop(&srv), 0);
    ts_cleanup(&srv);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, library_series_have_full_histograms);
    tcase_add_test(tc, prometheus_text_format);
    tcase_add_test(tc, metrics_over_http);
    tcase_add_test(tc, subscribers_are_the_feed_connections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(stats_suite());
}
