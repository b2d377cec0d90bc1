/*
 * check_cli.c - end-to-end tests of the artstore CLI against a real
 * artstored: put/get/delete/stats/ping output, JSON fields, exit codes,
 * an article that comes back identical after a server restart, and
 * `CMD --help` that prints the help and runs nothing.
 */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>
#include <uniwidth.h>

#include "artstore.h"
#include "check_main.h"
#include "clock.h"
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
                     "Shipping");
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

/* `artstore CMD --help` prints the help and does nothing else, for every
 * command `artstore --help` lists: a parser that took --help for "go on
 * with the defaults" ran the command too (import read stdin into the
 * store, watch followed the feed, query and stories queried). */
START_TEST(help_runs_nothing)
{
    const char *input = "{\"url\":\"https://h.example/2\",\"title\":"
                        "\"Imported by --help\"}\n";
    as_article_t a = { .url = "https://h.example/1", .title = "Stored",
                       .body = "before the --help runs" };
    char *list, *out, *err, *want, *line, *next;
    as_client_t *c;
    as_stats_t *st;
    size_t same;
    int rc, n = 0;

    /* One article, so that a query or a story list would print it. */
    ck_assert_int_eq(as_client_connect(srv.endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, NULL), AS_OK);
    ck_assert_int_eq(CLI(NULL, &list, NULL, "--help"), 0);
    line = strstr(list, "\nCOMMANDS\n");
    ck_assert_ptr_nonnull(line);
    for (line += strlen("\nCOMMANDS\n"); *line == ' '; line = next) {
        char name[32];

        next = strchr(line, '\n');
        ck_assert_ptr_nonnull(next);
        next++;
        ck_assert_int_eq(sscanf(line, " %31s", name), 1);
        ck_assert_int_eq(CLI(NULL, &want, NULL, "help", name), 0);
        rc = CLI(input, &out, &err, name, "--help");
        ck_assert_msg(rc == 0, "%s --help: exit %d: %s", name, rc, err);
        ck_assert_msg(err[0] == '\0', "%s --help wrote on stderr: %s", name,
                      err);
        for (same = 0; out[same] != '\0' && out[same] == want[same]; same++)
            ;
        ck_assert_msg(strstr(want, "EXAMPLES") != NULL &&
                      strcmp(out, want) == 0,
                      "%s --help printed other than its help, from: %s",
                      name, out + same);
        free(want);
        free(out);
        free(err);
        n++;
    }
    free(list);
    ck_assert_int_ge(n, 10);
    ck_assert_int_eq(as_stats(c, &st), AS_OK);
    ck_assert_uint_eq(st->articles, 1);
    ck_assert_uint_eq(st->last_seq, 1);
    as_stats_free(st);
    as_client_close(c);
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
        t0 = as_clock_mono_ms();
        rc = ts_cli(ep, "{\"title\":\"t\"}\n", &out, &err,
                    (const char *const[]){ "--timeout", "60s", cmds[i][0],
                                           cmds[i][1], NULL });
        took = as_clock_mono_ms() - t0;
        ck_assert_msg(rc == 3, "%s: exit %d: %s", cmds[i][0], rc, err);
        ck_assert_msg(strstr(err, ep) != NULL && strstr(err, "refused"),
                      "%s: %s", cmds[i][0], err);
        /* Far below the 60 s timeout: a refusal is reported, not waited
         * out. The bound is loose on purpose (a loaded sanitizer run took
         * 3 s); the timeout is what a regression would show. */
        ck_assert_msg(took < 30000, "%s took %lld ms", cmds[i][0],
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

/* The display width of the first n bytes of s (libunistring). */
static size_t width_of(const char *s, size_t n)
{
    return (size_t)u8_width((const uint8_t *)s, n, "UTF-8");
}

/* -o table cuts and pads by display width: every line is valid UTF-8 and
 * the TITLE column starts at the same display column on every row, with
 * accents, CJK and long tag lists alike; the time column says what it
 * shows. */
START_TEST(table_display_width)
{
    char *out, *err, *line, *save = NULL, *title;
    size_t col = 0;
    int rc, rows = 0;

    ck_assert_int_eq(CLI("Élection à Zürich\nbody\n", NULL, NULL, "put",
                         "--source", "Le Monde Diplomatique Édition",
                         "--tag", "europe", "--tag", "politics", "--tag",
                         "weather", "--tag", "北京天气预报", "--published",
                         "2024-06-18T09:30:00Z"), 0);
    ck_assert_int_eq(CLI("東京の天気\nbody\n", NULL, NULL, "put",
                         "--source", "日本経済新聞社の記事です", "--tag",
                         "天気"), 0);
    ck_assert_int_eq(CLI("Plain ASCII\nbody\n", NULL, NULL, "put", "--tag",
                         "x"), 0);
    rc = CLI(NULL, &out, &err, "query", "-o", "table");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_msg(u8_check((const uint8_t *)out, strlen(out)) == NULL,
                  "not UTF-8: %s", out);
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '(')
            continue;              /* the legend under the table */
        title = strstr(line, rows == 0 ? "TITLE" : "");
        if (rows > 0) {
            /* Row: the title is the text after the TAGS cell. */
            title = strstr(line, "Élection");
            if (title == NULL)
                title = strstr(line, "東京");
            if (title == NULL)
                title = strstr(line, "Plain");
        }
        ck_assert_msg(title != NULL, "row: %s", line);
        if (rows == 0)
            col = width_of(line, (size_t)(title - line));
        else
            ck_assert_msg(width_of(line, (size_t)(title - line)) == col,
                          "misaligned: '%s' (title at column %zu, not %zu)",
                          line, width_of(line, (size_t)(title - line)), col);
        rows++;
    }
    ck_assert_int_eq(rows, 4);
    free(out);
    free(err);
    /* The time column names what it shows; undated rows are marked. */
    rc = CLI(NULL, &out, &err, "query");
    ck_assert_msg(strstr(out, "PUBLISHED") && strstr(out, "Z* ") &&
                  strstr(out, "ingested"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* Relative times and cursor paging: --limit leaves a cursor on stderr
 * (text) or in next_cursor (json), and --cursor continues from it. */
START_TEST(relative_times_and_cursor)
{
    char *out, *err, cursor[256], *p;
    json_t *j;
    int rc, i;

    for (i = 0; i < 5; i++) {
        char text[32];

        snprintf(text, sizeof(text), "Story %d\nbody\n", i);
        ck_assert_int_eq(CLI(text, NULL, NULL, "put", "--tag", "p"), 0);
    }
    /* Ingested now: inside the last day, outside "until a week ago". */
    rc = CLI(NULL, &out, &err, "query", "--since", "-24h", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 5);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "query", "--until", "7d", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "query", "--since", "yesterday");
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(err, "-24h") != NULL, "%s", err);
    free(out);
    free(err);

    /* Page 1 of 2 in text: the cursor is on stderr. */
    rc = CLI(NULL, &out, &err, "query", "--tag", "p", "--limit", "3");
    ck_assert_msg(rc == 0, "%s", err);
    p = strstr(err, "next cursor: ");
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(sscanf(p, "next cursor: %255s", cursor), 1);
    ck_assert_msg(strstr(out, "Story 4") && !strstr(out, "Story 1"), "%s",
                  out);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "query", "--tag", "p", "--cursor", cursor,
             "-o", "json");
    ck_assert_msg(rc == 0, "%s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_msg(json_array_size(json_object_get(j, "articles")) == 2 &&
                  json_is_null(json_object_get(j, "next_cursor")), "%s", out);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "articles"), 0),
                         "title")), "Story 1");
    json_decref(j);
    free(out);
    free(err);
    /* In json the cursor is in the object. */
    rc = CLI(NULL, &out, &err, "query", "--tag", "p", "--limit", "3", "-o",
             "json");
    j = json_loads(out, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "next_cursor")),
                     cursor);
    json_decref(j);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "query", "--cursor", "not a cursor!");
    ck_assert_int_eq(rc, 2);
    free(out);
    free(err);
}
END_TEST

/* Random lowercase words, so that no two generated articles are one
 * story (xorshift: the same words on every run). */
static void random_words(uint64_t *state, char *out, size_t n_words)
{
    size_t w, i;

    for (w = 0; w < n_words; w++) {
        for (i = 0; i < 7; i++) {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *out++ = (char)('a' + *state % 26);
        }
        *out++ = w + 1 < n_words ? ' ' : '\0';
    }
}

/* The display column where needle starts in line (which must hold it). */
static size_t column_of(const char *line, const char *needle)
{
    const char *p = strstr(line, needle);

    ck_assert_msg(p != NULL, "'%s' not in '%s'", needle, line);
    return width_of(line, (size_t)(p - line));
}

/* stories and story share query's filter flags, paging, output model and
 * table: 105 stories come in two pages (100 + 5), --limit cuts the second,
 * -o and ARTSTORE_OUTPUT mean what they mean for query, the filters
 * select, and the table lines titles up by display width. */
START_TEST(stories_and_story)
{
    static const char *const env_jsonl[] = { "ARTSTORE_OUTPUT=jsonl", NULL };
    char title[64], body[400], *input, *out, *err, *line, *save = NULL;
    char idbuf[24], titles[3][64];
    size_t len = 0, cap = 105 * 600, col = 0;
    uint64_t state = 88172645463325252ull;
    json_t *j, *a;
    int rc, i, rows = 0;

    input = malloc(cap);
    ck_assert_ptr_nonnull(input);
    for (i = 0; i < 105; i++) {
        random_words(&state, title, 5);
        random_words(&state, body, 40);
        len += (size_t)snprintf(input + len, cap - len,
                                "{\"title\":\"%s\",\"body\":\"%s\","
                                "\"source\":\"src%d\",\"tags\":[\"t%d\"],"
                                "\"published_at\":%d}\n", title, body, i % 3,
                                i % 2, 1718703000 + i * 60);
    }
    rc = CLI(input, NULL, &err, "import", "-");
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    free(input);

    rc = CLI(NULL, &out, &err, "stories", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 105);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "stories", "--limit", "103", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 103);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "-o", "json", "stories", "--limit", "2");
    ck_assert_msg(rc == 0, "%s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_msg(json_is_array(j) && json_array_size(j) == 2, "%s", out);
    json_decref(j);
    free(out);
    free(err);
    rc = ts_cli_env(srv.endpoint, env_jsonl, NULL, &out, &err,
                    (const char *const[]){ "stories", "--limit", "1", NULL });
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 1);
    free(out);
    free(err);

    /* The filter flags select as in query. */
    rc = CLI(NULL, &out, &err, "stories", "--tag", "t1", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 52);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "stories", "--any", "t0", "--any", "t1",
             "--not", "t0", "--source", "src1", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 18);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "stories", "--until", "1718703000", "-o",
             "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "stories", "--since", "yesterday");
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(err, "invalid --since") != NULL, "%s", err);
    free(out);
    free(err);

    /* The table: titles start at one display column, wide sources too. */
    ck_assert_int_eq(CLI("東京の天気\nbody\n", NULL, NULL, "put", "--source",
                         "日本経済新聞社の記事です長い名前", "--tag", "天気"),
                     0);
    rc = CLI(NULL, &out, &err, "stories", "--limit", "3", "-o", "json");
    ck_assert_msg(rc == 0, "%s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_msg(json_array_size(j) == 3, "%s", out);
    for (i = 0; i < 3; i++)
        snprintf(titles[i], sizeof(titles[i]), "%s", json_string_value(
                     json_object_get(json_array_get(j, (size_t)i), "title")));
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_integer_value(
                 json_object_get(json_array_get(j, 0), "id")));
    ck_assert_str_eq(titles[0], "東京の天気");
    json_decref(j);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "stories", "--limit", "3");
    ck_assert_msg(rc == 0, "%s", err);
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), rows++) {
        if (rows == 0)
            col = column_of(line, "TITLE");
        else
            ck_assert_msg(column_of(line, titles[rows - 1]) == col,
                          "misaligned: '%s'", line);
    }
    ck_assert_int_eq(rows, 4);
    free(out);
    free(err);

    /* story ID: the story, then its articles; json or table only. */
    rc = CLI(NULL, &out, &err, "story", idbuf);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_msg(strstr(out, "LAST SEEN") && strstr(out, "COPY OF") &&
                  strstr(out, "東京の天気"), "%s", out);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "story", idbuf, "--no-body", "-o", "json");
    ck_assert_msg(rc == 0, "%s", err);
    j = json_loads(out, 0, NULL);
    a = json_object_get(j, "articles");
    ck_assert_msg(json_array_size(a) == 1 &&
                  json_object_get(json_array_get(a, 0), "body") == NULL &&
                  json_is_string(json_object_get(json_object_get(j, "story"),
                                                 "last_seen")), "%s", out);
    json_decref(j);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "story", idbuf, "-o", "jsonl");
    ck_assert_int_eq(rc, 2);
    free(out);
    free(err);

    /* watch takes the same tag and source flags. */
    rc = CLI(NULL, &out, &err, "watch", "--since", "0", "--tag", "t1",
             "--source", "src1", "--limit", "3", "-o", "jsonl");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(jsonl_objects(out), 3);
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        j = json_loads(line, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(j, "source")),
                         "src1");
        ck_assert_str_eq(json_string_value(json_array_get(
                             json_object_get(j, "tags"), 0)), "t1");
        json_decref(j);
    }
    free(out);
    free(err);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* import: several files and a directory, .txt files as text with --tag,
 * --source and --published defaults, a BOM dropped, unknown JSON fields
 * ignored on request, skipped entries named, a JSON summary. */
START_TEST(import_files_dirs_text)
{
    char dir[128], sub[160], path[192], txt[192], jsonl[192], *out, *err;
    json_t *j;
    int rc;

    snprintf(dir, sizeof(dir), "%s/corpus", srv.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(path, sizeof(path), "%s/a.txt", dir);
    write_file(path, "\xEF\xBB\xBF" "First story\n\nIts body.\n");
    snprintf(path, sizeof(path), "%s/b.md", dir);
    write_file(path, "not imported\n");
    snprintf(txt, sizeof(txt), "%s/c.txt", srv.dir);
    write_file(txt, "Second story\nbody two\n");
    snprintf(jsonl, sizeof(jsonl), "%s/d.jsonl", srv.dir);
    write_file(jsonl, "\xEF\xBB\xBF" "{\"url\":\"https://s.example/1\","
               "\"title\":\"Scraped\",\"scraper_id\":7,\"tags\":[\"Own\"]}\n"
               "{\"url\":\"https://s.example/2\",\"title\":\"Two\","
               "\"crawl\":{\"depth\":2}}\n");

    /* Without --ignore-unknown the extra fields reject the lines. */
    rc = CLI(NULL, &out, &err, "import", jsonl);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "d.jsonl:1: rejected: unknown field "
                              "'scraper_id' (--ignore-unknown"), "%s", err);
    free(out);
    free(err);

    rc = CLI(NULL, &out, &err, "import", dir, txt, jsonl, "--tag", "News",
             "--source", "Coastal Times", "--published",
             "2024-01-01T00:00:00Z", "--ignore-unknown", "-o", "json");
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "b.md: skipped") && strstr(err, "sub: skipped"),
                  "%s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "created")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "skipped")), 2);
    json_decref(j);
    free(out);
    free(err);

    /* a.txt: BOM gone, the defaults applied; a line's own tags kept. */
    rc = CLI(NULL, &out, &err, "get", "1", "-o", "json");
    j = json_loads(out, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "title")),
                     "First story");
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(j, "tags"), 0)), "News");
    ck_assert_str_eq(json_string_value(json_object_get(j, "published_at")),
                     "2024-01-01T00:00:00Z");
    ck_assert_ptr_nonnull(json_object_get(j, "source"));
    json_decref(j);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "get", "--url", "https://s.example/1", "-o",
             "json");
    j = json_loads(out, 0, NULL);
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(j, "tags"), 0)), "Own");
    json_decref(j);
    free(out);
    free(err);
}
END_TEST

/* Rejections come out in input order, whichever sender finished first. */
START_TEST(import_rejections_in_order)
{
    char path[192], line[600], *out, *err, *p;
    unsigned long prev = 0, n;
    FILE *f;
    int i, rc, seen = 0;

    snprintf(path, sizeof(path), "%s/mixed.jsonl", srv.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (i = 1; i <= 60; i++) {
        if (i % 7 == 0)          /* refused by the server: tag too long */
            snprintf(line, sizeof(line), "{\"title\":\"t%d\",\"tags\":"
                     "[\"%0300d\"]}", i, 0);
        else if (i % 5 == 0)     /* refused here: not JSON */
            snprintf(line, sizeof(line), "{broken %d", i);
        else
            snprintf(line, sizeof(line), "{\"title\":\"t%d\"}", i);
        fprintf(f, "%s\n", line);
    }
    ck_assert_int_eq(fclose(f), 0);
    rc = CLI(NULL, &out, &err, "import", path, "--batch", "2", "--jobs",
             "8");
    ck_assert_int_eq(rc, 1);
    for (p = strstr(err, "mixed.jsonl:"); p != NULL;
         p = strstr(p + 1, "mixed.jsonl:")) {
        n = strtoul(p + strlen("mixed.jsonl:"), NULL, 10);
        ck_assert_msg(n > prev, "rejection %lu after %lu:\n%s", n, prev, err);
        prev = n;
        seen++;
    }
    ck_assert_int_eq(seen, 8 + 12 - 1);   /* 35 is both: counted once */
    free(out);
    free(err);
}
END_TEST

/* Ctrl-C: the summary says what was acknowledged and how to resume; the
 * resumed import stores exactly the rest. */
START_TEST(import_interrupt_and_resume)
{
    char all[4096] = "", line[64], *out = NULL, *err = NULL, errpath[128];
    int pin[2], status, i, fd;
    as_client_t *c;
    as_stats_t *st;
    pid_t pid;
    int64_t t0;
    FILE *ef;

    for (i = 1; i <= 60; i++) {
        snprintf(line, sizeof(line), "{\"title\":\"line %d\"}\n", i);
        strcat(all, line);
    }
    snprintf(errpath, sizeof(errpath), "%s/import.err", srv.dir);
    ck_assert_int_eq(pipe(pin), 0);
    pid = ts_fork();
    if (pid == 0) {
        dup2(pin[0], 0);
        close(pin[1]);
        fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        setenv("ARTSTORE_SERVER", srv.endpoint, 1);
        execl(ts_cli_path(), ts_cli_path(), "import", "--batch", "10", "-",
              (char *)NULL);
        _exit(127);
    }
    close(pin[0]);
    /* The first 50 lines, then wait until they are stored; the input
     * stays open, as a slow producer's would. */
    ck_assert_int_eq(write(pin[1], all, strstr(all, "{\"title\":\"line 51")
                                               - all) > 0, 1);
    ck_assert_int_eq(as_client_connect(srv.endpoint, 5000, &c), AS_OK);
    for (t0 = as_clock_mono_ms();; usleep(20000)) {
        ck_assert_int_eq(as_stats(c, &st), AS_OK);
        i = (int)st->articles;
        as_stats_free(st);
        if (i == 50 || as_clock_mono_ms() - t0 > 20000)
            break;
    }
    ck_assert_int_eq(i, 50);
    kill(pid, SIGINT);
    waitpid(pid, &status, 0);
    close(pin[1]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130,
                  "status %d", status);
    ef = fopen(errpath, "r");
    err = calloc(1, 8192);
    fread(err, 1, 8191, ef);
    fclose(ef);
    ck_assert_msg(strstr(err, "50 created") && strstr(err, "interrupted") &&
                  strstr(err, "--resume-after 'stdin:50'"), "%s", err);
    free(err);

    i = ts_cli(srv.endpoint, all, &out, &err, (const char *const[]){
                   "import", "--resume-after", "stdin:50", NULL });
    ck_assert_msg(i == 0 && strstr(err, "10 created, 0 updated, 0 unchanged"),
                  "exit %d: %s", i, err);
    free(out);
    free(err);
    ck_assert_int_eq(as_stats(c, &st), AS_OK);
    ck_assert_uint_eq(st->articles, 60);
    as_stats_free(st);
    as_client_close(c);
}
END_TEST

/* Display forms: matched on the folded key, shown as written; the tag
 * list and stories show the form first written. */
START_TEST(display_forms)
{
    char *out, *err;
    json_t *j, *tags;
    int rc;

    rc = CLI("Body one.\n", &out, &err, "put", "--url", "https://d.example/1",
             "--title", "First", "--source", "Coastal Times", "--tag",
             "Straße", "--tag", " Big   News ", "--published",
             "2024-06-18T09:30:00Z", "-");
    ck_assert_msg(rc == 0, "put: %s", err);
    free(out);
    free(err);
    rc = CLI("Body two, other words.\n", &out, &err, "put", "--url",
             "https://d.example/2", "--title", "Second", "--source",
             "COASTAL TIMES", "--tag", "STRASSE", "--published",
             "2024-06-18T10:30:00Z", "-");
    ck_assert_msg(rc == 0, "put: %s", err);
    free(out);
    free(err);

    rc = CLI(NULL, &out, &err, "get", "1", "-o", "json");
    ck_assert_msg(rc == 0, "get: %s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "source")),
                     "Coastal Times");
    tags = json_object_get(j, "tags");
    ck_assert_str_eq(json_string_value(json_array_get(tags, 0)), "Big News");
    ck_assert_str_eq(json_string_value(json_array_get(tags, 1)), "Straße");
    json_decref(j);
    free(out);
    free(err);

    /* Matching is on the folded key; each article shows its own form. */
    rc = CLI(NULL, &out, &err, "query", "--tag", "strasse", "--source",
             "coastal times", "-o", "jsonl", "--oldest-first");
    ck_assert_msg(rc == 0, "query: %s", err);
    ck_assert_int_eq(jsonl_objects(out), 2);
    ck_assert_msg(strstr(out, "\"tags\":[\"Big News\",\"Straße\"]") &&
                  strstr(out, "\"tags\":[\"STRASSE\"]") &&
                  strstr(out, "\"source\":\"COASTAL TIMES\""), "%s", out);
    free(out);
    free(err);

    /* The tag list shows the form first written. */
    rc = CLI(NULL, &out, &err, "tags", "-o", "jsonl");
    ck_assert_msg(rc == 0, "tags: %s", err);
    ck_assert_msg(strstr(out, "\"Straße\"") && strstr(out, "\"Big News\"") &&
                  !strstr(out, "strasse") && !strstr(out, "STRASSE"),
                  "%s", out);
    free(out);
    free(err);

    /* The change feed, export and stories show them too. */
    rc = CLI(NULL, &out, &err, "watch", "--since", "0", "--limit", "2", "-o",
             "jsonl");
    ck_assert_msg(rc == 0, "watch: %s", err);
    ck_assert_msg(strstr(out, "\"Straße\"") && strstr(out, "\"STRASSE\"") &&
                  strstr(out, "Coastal Times"), "%s", out);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "export");
    ck_assert_msg(rc == 0, "export: %s", err);
    ck_assert_msg(strstr(out, "\"source\":\"Coastal Times\"") &&
                  strstr(out, "\"Straße\""), "%s", out);
    free(out);
    free(err);
    rc = CLI(NULL, &out, &err, "stories", "-o", "json");
    ck_assert_msg(rc == 0, "stories: %s", err);
    ck_assert_msg(strstr(out, "Coastal Times") && !strstr(out, "coastal times"),
                  "%s", out);
    free(out);
    free(err);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("e2e");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, put_then_get_json);
    tcase_add_test(tc, exit_codes);
    tcase_add_test(tc, help_runs_nothing);
    tcase_add_test(tc, delete_stats_ping);
    tcase_add_test(tc, down_server_fails_fast);
    tcase_add_test(tc, one_output_model);
    tcase_add_test(tc, table_display_width);
    tcase_add_test(tc, relative_times_and_cursor);
    tcase_add_test(tc, stories_and_story);
    tcase_add_test(tc, import_files_dirs_text);
    tcase_add_test(tc, import_rejections_in_order);
    tcase_add_test(tc, import_interrupt_and_resume);
    tcase_add_test(tc, display_forms);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(cli_suite());
}
