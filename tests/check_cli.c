/*
 * check_cli.c - end-to-end tests of the artstore CLI against a real
 * artstored: put/get/delete/stats/ping output, JSON fields, exit codes,
 * and an article that comes back identical after a server restart.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "testutil.h"

static ts_server_t srv;

static void setup(void)
{
    ck_assert_msg(ts_start(&srv, NULL) == 0, "server did not start");
}

static void teardown(void)
{
    ts_cleanup(&srv);
}

#define CLI(input, out, err, ...) \
    ts_cli(srv.endpoint, input, out, err, (const char *const[]){ __VA_ARGS__, NULL })

static const char *TEXT =
    "\n  Storm closes ports along the coast  \n\nHeavy winds shut three ports.\n"
    "Ferries were cancelled.\n";

START_TEST(put_then_get_json)
{
    char *out, *err, *out2;
    json_t *j;
    json_error_t je;
    int rc;

    rc = CLI(TEXT, &out, &err, "put", "--url", "https://news.example/storm",
             "--source", "Coastal Times", "--tag", "Weather", "--tag",
             " Shipping ", "--published", "2024-06-18T09:30:00Z", "-");
    ck_assert_msg(rc == 0, "put exit %d: %s", rc, err);
    ck_assert_str_eq(out, "1\n");
    free(out);
    free(err);

    rc = CLI(NULL, &out, &err, "get", "1", "-o", "json");
    ck_assert_msg(rc == 0, "get exit %d: %s", rc, err);
    j = json_loads(out, 0, &je);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(j, "title")),
                     "Storm closes ports along the coast");
    ck_assert_str_eq(json_string_value(json_object_get(j, "body")),
                     "Heavy winds shut three ports.\nFerries were cancelled.\n");
    ck_assert_str_eq(json_string_value(json_object_get(j, "url")),
                     "https://news.example/storm");
    ck_assert_str_eq(json_string_value(json_object_get(j, "published_at")),
                     "2024-06-18T09:30:00Z");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "tags"), 0)),
                     "shipping");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "revision")), 1);
    ck_assert_ptr_nonnull(json_object_get(j, "ingested_at"));
    json_decref(j);
    free(err);

    /* Identical after a restart. */
    ck_assert_int_eq(ts_stop(&srv), 0);
    ck_assert_int_eq(ts_restart(&srv), 0);
    rc = CLI(NULL, &out2, &err, "get", "--url", "https://news.example/storm",
             "-o", "json");
    ck_assert_msg(rc == 0, "get after restart exit %d: %s", rc, err);
    ck_assert_str_eq(out2, out);
    free(out);
    free(out2);
    free(err);
}
END_TEST

START_TEST(exit_codes)
{
    char *out, *err;
    int rc;

    rc = CLI(NULL, &out, &err, "get", "42");
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "NOT_FOUND: article 42"), "%s", err);
    free(out);
    free(err);

    rc = CLI(NULL, &out, &err, "frobnicate");
    ck_assert_int_eq(rc, 2);
    free(out);
    free(err);

    rc = CLI(NULL, &out, &err, "get", "--no-such-flag");
    ck_assert_int_eq(rc, 2);
    free(out);
    free(err);

    rc = CLI("Title\n", &out, &err, "put", "--tag", "bad\xff");
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "INVALID_ARGUMENT") && strstr(err, "tag 1"),
                  "%s", err);
    free(out);
    free(err);

    rc = ts_cli("ipc:///tmp/as-nonexistent/rpc", NULL, &out, &err,
                (const char *const[]){ "--timeout", "300", "ping", NULL });
    ck_assert_int_eq(rc, 3);
    free(out);
    free(err);
}
END_TEST

START_TEST(delete_stats_ping)
{
    char *out, *err;
    json_t *j;
    int rc;

    ck_assert_int_eq(CLI("One\nbody\n", NULL, NULL, "put"), 0);
    ck_assert_int_eq(CLI("Two\nbody\n", NULL, NULL, "put", "--tag", "x"), 0);
    ck_assert_int_eq(CLI(NULL, NULL, NULL, "delete", "1"), 0);
    ck_assert_int_eq(CLI(NULL, NULL, NULL, "delete", "1"), 1);

    rc = CLI(NULL, &out, &err, "stats", "-o", "json");
    ck_assert_msg(rc == 0, "stats: %s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "articles")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "last_seq")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "tags")), 1);
    json_decref(j);
    free(out);
    free(err);

    rc = CLI(NULL, &out, &err, "ping");
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(out, "last_seq=3"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* A server that is not there is reported at once, naming the address,
 * by a single call and by an import alike (exit 3). */
START_TEST(down_server_fails_fast)
{
    const char *cmds[][3] = { { "ping", NULL, NULL },
                              { "get", "1", NULL },
                              { "import", NULL, NULL } };
    char ep[64], *out, *err;
    int64_t t0, took;
    size_t i;
    int rc;

    ck_assert_int_eq(ts_dead_tcp_endpoint(ep, sizeof(ep)), 0);
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        t0 = ts_mono_ms_now();
        rc = ts_cli(ep, "{\"title\":\"t\"}\n", &out, &err,
                    (const char *const[]){ "--timeout", "10s", cmds[i][0],
                                           cmds[i][1], NULL });
        took = ts_mono_ms_now() - t0;
        ck_assert_msg(rc == 3, "%s: exit %d: %s", cmds[i][0], rc, err);
        ck_assert_msg(strstr(err, ep) != NULL && strstr(err, "refused"),
                      "%s: %s", cmds[i][0], err);
        /* Far below the 10 s timeout (a loaded machine included). */
        ck_assert_msg(took < 3000, "%s took %lld ms", cmds[i][0],
                      (long long)took);
        free(out);
        free(err);
    }
}
END_TEST

/* Returns the number of lines of s that parse as a JSON object each (-1
 * when one does not). */
static int jsonl_objects(const char *s)
{
    int n = 0;

    while (*s != '\0') {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        json_t *j = json_loadb(s, len, 0, NULL);

        if (j == NULL || !json_is_object(j)) {
            json_decref(j);
            return -1;
        }
        json_decref(j);
        n++;
        s += len + (nl != NULL);
    }
    return n;
}

/* Returns whether s looks like RFC 3339 UTC: 2024-06-18T09:30:00[.mmm]Z. */
static int is_rfc3339(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' &&
           s[13] == ':' && s[16] == ':' && s[n - 1] == 'Z';
}

/* -o before or after the command and ARTSTORE_OUTPUT mean the same; jsonl
 * is one object per line everywhere; a format a command cannot write is
 * refused; JSON times are RFC 3339; stats labels are objects; --count has
 * one meaning. */
START_TEST(one_output_model)
{
    static const char *const env_jsonl[] = { "ARTSTORE_OUTPUT=jsonl", NULL };
    static const char *const env_table[] = { "ARTSTORE_OUTPUT=table", NULL };
    char *out, *out2, *out3, *err;
    json_t *j, *labels;
    int rc;

    ck_assert_int_eq(CLI("One\nbody\n", NULL, NULL, "put", "--tag", "a",
                         "--published", "2024-06-18T09:30:00Z"), 0);
    ck_assert_int_eq(CLI("Two\nbody\n", NULL, NULL, "put", "--tag", "a"), 0);

    rc = CLI(NULL, &out, &err, "-o", "jsonl", "query", "--tag", "a");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 2);
    free(err);
    rc = CLI(NULL, &out2, &err, "query", "--tag", "a", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(out, out2);
    free(err);
    rc = ts_cli_env(srv.endpoint, env_jsonl, NULL, &out3, &err,
                    (const char *const[]){ "query", "--tag", "a", NULL });
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(out, out3);
    free(out);
    free(out2);
    free(out3);
    free(err);

    rc = ts_cli_env(srv.endpoint, env_table, NULL, &out, &err,
                    (const char *const[]){ "query", "--tag", "a", NULL });
    ck_assert_msg(rc == 0 && strncmp(out, "ID ", 3) == 0, "%s%s", out, err);
    free(out);
    free(err);

    rc = CLI(NULL, &out, &err, "tags", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 1);
    free(out);
    free(err);

    /* A format a command cannot write is refused, naming what it can. */
    rc = CLI(NULL, &out, &err, "export", "-o", "text");
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(err, "json, jsonl") != NULL, "%s", err);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "-o", "prometheus", "get", "1");
    ck_assert_int_eq(rc, 2);
    free(out);
    free(err);

    /* get and delete take several ids; jsonl is one object per line. */
    rc = CLI(NULL, &out, &err, "get", "1", "2", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 2);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "get", "1", "9", "2", "-o", "json");
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "NOT_FOUND: article 9") != NULL, "%s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_msg(json_is_array(j) && json_array_size(j) == 2, "%s", out);
    json_decref(j);
    free(out);
    free(err);

    /* watch: RFC 3339 times, --limit to stop, --count refused. */
    rc = CLI(NULL, &out, &err, "watch", "--since", "0", "--limit", "1",
             "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_msg(is_rfc3339(json_string_value(json_object_get(j,
                  "commit_time"))), "%s", out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "published_at")),
                     "2024-06-18T09:30:00Z");
    json_decref(j);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "watch", "--count", "1");
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(err, "--limit") != NULL, "%s", err);
    free(out);
    free(err);

    /* ping's time is RFC 3339 too; stats labels are objects. */
    rc = CLI(NULL, &out, &err, "ping", "-o", "json");
    ck_assert_msg(rc == 0, "%s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_msg(is_rfc3339(json_string_value(json_object_get(j, "time"))),
                  "%s", out);
    json_decref(j);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "stats", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 1);
    j = json_loads(out, 0, NULL);
    labels = json_object_get(json_array_get(json_object_get(j, "series"), 0),
                             "labels");
    ck_assert_msg(json_is_object(labels) &&
                  json_is_string(json_object_get(labels, "method")), "%s",
                  out);
    json_decref(j);
    free(out);
    free(err);

    /* delete several: one missing is reported, the others deleted. */
    rc = CLI(NULL, &out, &err, "delete", "1", "9", "2");
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "NOT_FOUND") != NULL, "%s", err);
    free(out);
    free(err);
    ck_assert_int_eq(CLI(NULL, NULL, NULL, "get", "2"), 1);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("e2e");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, put_then_get_json);
    tcase_add_test(tc, exit_codes);
    tcase_add_test(tc, delete_stats_ping);
    tcase_add_test(tc, down_server_fails_fast);
    tcase_add_test(tc, one_output_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(cli_suite());
}
