/*
 * check_exact.c - end-to-end tests of the exact migration, `artstore
 * import --exact` over PutExact, against real servers: an export imported
 * exactly into a fresh server exports again byte for byte (ids with a
 * deleted one's gap, revisions, ingested_at of undated articles, stories
 * and duplicates), and the copy passes `artstored --check` with the
 * changelog gaps it has; a rerun changes nothing; a store with other
 * writes is refused; an invalid request writes nothing and names the
 * line; only an admin token may do it.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

static ts_server_t a_srv, b_srv;

static void teardown(void)
{
    ts_cleanup(&a_srv);
    ts_cleanup(&b_srv);
}

#define CLI(srv, input, out, err, ...)                                      \
    ts_cli((srv).endpoint, input, out, err,                                 \
           (const char *const[]){ __VA_ARGS__, NULL })

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

static as_client_t *connect_to(const ts_server_t *s)
{
    as_client_t *c;

    ck_assert_int_eq(as_client_connect(s->endpoint, 5000, &c), AS_OK);
    return c;
}

/* Puts an article; returns its id. */
static uint64_t put(as_client_t *c, const char *url, const char *title,
                    const char *body, int64_t published)
{
    static const char *const tags[] = { "Weather", "Straße" };
    as_article_t a;
    as_put_result_t r;
    int rc;

    memset(&a, 0, sizeof(a));
    a.url = url;
    a.title = title;
    a.body = body;
    a.source = "Coastal Times";
    a.tags = tags;
    a.n_tags = 2;
    a.has_published_at = published != 0;
    a.published_at = published;
    rc = as_put(c, &a, AS_REV_ANY, &r);
    ck_assert_msg(rc == AS_OK, "put: %s", as_client_errmsg(c));
    return r.id;
}

static const char *BODY =
    "Heavy winds shut three ports along the northern coast on Tuesday, "
    "and ferries to the islands were cancelled until further notice.";

/* Export of a store with updates, a delete, an undated article, a
 * duplicate and one without URL; imported exactly into a fresh server it
 * exports the same bytes, passes --check, and a rerun changes nothing. */
START_TEST(round_trip_is_exact)
{
    char path[192], *out1, *out2, *err;
    as_client_t *c;
    as_stats_t *st;
    uint64_t last_a;
    int rc;

    ck_assert_msg(ts_start(&a_srv, NULL) == 0, "server A did not start");
    ck_assert_msg(ts_start(&b_srv, NULL) == 0, "server B did not start");
    c = connect_to(&a_srv);
    put(c, "https://n.example/1", "Storm closes ports", BODY, 1718703000);
    put(c, "https://n.example/2", "Undated piece", "No date here.", 0);
    put(c, "https://other.example/copy", "Storm shuts ports", BODY,
        1718703500);
    put(c, "https://n.example/1", "Storm closes ports", "Updated body.",
        1718703000);
    put(c, "https://n.example/4", "Soon deleted", "Gone later.", 1718703100);
    ck_assert_int_eq(as_delete(c, 4, AS_REV_ANY, NULL), AS_OK);
    put(c, NULL, "No URL at all", "Keyed by title and body.", 1718704000);
    ck_assert_int_eq(as_stats(c, &st), AS_OK);
    last_a = st->last_seq;
    as_stats_free(st);
    as_client_close(c);

    rc = CLI(a_srv, NULL, &out1, &err, "export");
    ck_assert_msg(rc == 0, "export: %s", err);
    free(err);
    ck_assert_msg(strstr(out1, "\"duplicate_of\":1") != NULL,
                  "the copy is not a duplicate: %s", out1);
    ck_assert_msg(strstr(out1, "\"id\":4,") == NULL, "%s", out1);
    snprintf(path, sizeof(path), "%s/export.jsonl", b_srv.dir);
    write_file(path, out1);

    rc = CLI(b_srv, NULL, NULL, &err, "import", "--exact", path);
    ck_assert_msg(rc == 0, "import --exact exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "import: 4 created"), "%s", err);
    free(err);
    rc = CLI(b_srv, NULL, &out2, &err, "export");
    ck_assert_msg(rc == 0, "export B: %s", err);
    ck_assert_str_eq(out2, out1);
    free(out2);
    free(err);

    /* The ids, revisions and seqs go on from where A's were. */
    c = connect_to(&b_srv);
    ck_assert_int_eq(as_stats(c, &st), AS_OK);
    ck_assert_uint_eq(st->articles, 4);
    ck_assert_uint_eq(st->next_id, 6);
    ck_assert_uint_le(st->last_seq, last_a);
    as_stats_free(st);
    as_client_close(c);

    /* Run again (a resumed or repeated migration): nothing changes. */
    rc = CLI(b_srv, NULL, NULL, &err, "import", "--exact", path);
    ck_assert_msg(rc == 0, "rerun exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "0 created, 0 updated, 4 unchanged"), "%s",
                  err);
    free(err);

    /* The changelog has the gaps of A's update and delete. */
    ck_assert_int_eq(ts_stop(&b_srv), 0);
    rc = ts_verify(&b_srv, &err);
    ck_assert_msg(rc == 0, "--check after an exact import: %s", err);
    free(err);
    ck_assert_int_eq(ts_restart(&b_srv), 0);
    rc = CLI(b_srv, NULL, &out2, &err, "export");
    ck_assert_msg(rc == 0, "export B after restart: %s", err);
    ck_assert_str_eq(out2, out1);
    free(out2);
    free(err);
    free(out1);
}
END_TEST

static const char *OLD =
    "{\"id\":5,\"url\":\"https://old.example/a\",\"title\":\"Old one\","
    "\"ingested_at\":\"2001-02-03T04:05:06Z\",\"revision\":9}\n"
    "{\"id\":7,\"url\":\"https://old.example/b\",\"title\":\"Old two\","
    "\"ingested_at\":\"2002-02-03T04:05:06Z\",\"revision\":3}\n";

/* The fields are kept; an invalid request writes nothing and names its
 * line; a line without id or revision is refused here; once the store has
 * had another write, --exact is refused. */
START_TEST(fields_kept_and_refusals)
{
    char path[192], *out, *err;
    json_t *j;
    as_client_t *c;
    as_stats_t *st;
    int rc;

    ck_assert_msg(ts_start(&a_srv, NULL) == 0, "server did not start");
    snprintf(path, sizeof(path), "%s/bad.jsonl", a_srv.dir);
    /* Ids out of order: the server refuses the request whole. */
    write_file(path,
               "{\"id\":9,\"title\":\"Nine\",\"revision\":1,"
               "\"ingested_at\":1000}\n"
               "{\"id\":8,\"title\":\"Eight\",\"revision\":2,"
               "\"ingested_at\":1000}\n");
    rc = CLI(a_srv, NULL, NULL, &err, "import", "--exact", path);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "bad.jsonl:2: rejected: INVALID_ARGUMENT: "
                              "articles[1].id 8 does not come after"),
                  "%s", err);
    free(err);
    write_file(path, "{\"id\":4,\"title\":\"No revision\"}\n");
    rc = CLI(a_srv, NULL, NULL, &err, "import", "--exact", path);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "bad.jsonl:1: rejected: an exact import needs "
                              "the fields 'id' and 'revision'"), "%s", err);
    free(err);
    c = connect_to(&a_srv);
    ck_assert_int_eq(as_stats(c, &st), AS_OK);
    ck_assert_uint_eq(st->articles, 0);
    ck_assert_uint_eq(st->last_seq, 0);
    as_stats_free(st);

    rc = CLI(a_srv, OLD, NULL, &err, "import", "--exact", "-");
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    rc = CLI(a_srv, NULL, &out, &err, "get", "5", "-o", "json");
    ck_assert_msg(rc == 0, "%s", err);
    j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "ingested_at")),
                     "2001-02-03T04:05:06Z");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "revision")), 9);
    json_decref(j);
    free(out);
    free(err);

    /* An ordinary write goes on from the largest id and revision. */
    ck_assert_uint_eq(put(c, "https://new.example/x", "New", "Body.", 0), 8);
    ck_assert_int_eq(as_stats(c, &st), AS_OK);
    ck_assert_uint_eq(st->last_seq, 10);
    as_stats_free(st);
    as_client_close(c);

    /* Now the store is not empty: refused, said once. */
    write_file(path,
               "{\"id\":20,\"title\":\"Late\",\"revision\":20,"
               "\"ingested_at\":1000}\n"
               "{\"id\":21,\"title\":\"Later\",\"revision\":21,"
               "\"ingested_at\":1000}\n");
    rc = CLI(a_srv, NULL, NULL, &err, "import", "--exact", path);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "bad.jsonl:1: rejected: FAILED_PRECONDITION: "
                              "the store is not empty"), "%s", err);
    ck_assert_msg(strstr(err, "and 1 more articles of this batch"), "%s", err);
    free(err);

    ck_assert_int_eq(ts_stop(&a_srv), 0);
    rc = ts_verify(&a_srv, &err);
    ck_assert_msg(rc == 0, "--check: %s", err);
    free(err);
}
END_TEST

/* PutExact's input checks through the library: each refusal names the
 * article and field, and nothing is written. */
START_TEST(library_checks_name_the_field)
{
    as_article_t a[2];
    as_put_result_t r[2];
    as_client_t *c;
    as_stats_t *st;
    int i;

    ck_assert_msg(ts_start(&a_srv, NULL) == 0, "server did not start");
    c = connect_to(&a_srv);
    memset(a, 0, sizeof(a));
    for (i = 0; i < 2; i++) {
        a[i].title = i ? "Two" : "One";
        a[i].id = (uint64_t)i + 1;
        a[i].revision = (uint64_t)i + 10;
        a[i].ingested_at = 1000;
    }
    a[1].revision = 0;
    ck_assert_int_eq(as_put_exact(c, a, 2, r), AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(c), "articles[1].revision is "
                         "missing"), "%s", as_client_errmsg(c));
    ck_assert_int_eq(r[0].rc, AS_EINVALID_ARGUMENT);
    a[1].revision = 10;
    ck_assert_int_eq(as_put_exact(c, a, 2, r), AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(c), "revision 10 appears twice"),
                  "%s", as_client_errmsg(c));
    a[1].revision = 11;
    a[1].story_id = 5;
    ck_assert_int_eq(as_put_exact(c, a, 2, r), AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(c), "articles[1].story_id 5 is "
                         "after"), "%s", as_client_errmsg(c));
    a[1].story_id = 0;
    a[1].title = " ";
    ck_assert_int_eq(as_put_exact(c, a, 2, r), AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(c), "articles[1]: title"), "%s",
                  as_client_errmsg(c));
    ck_assert_int_eq(as_stats(c, &st), AS_OK);
    ck_assert_uint_eq(st->articles, 0);
    ck_assert_uint_eq(st->last_seq, 0);
    as_stats_free(st);
    a[1].title = "Two";
    ck_assert_int_eq(as_put_exact(c, a, 2, r), AS_OK);
    ck_assert_int_eq(r[1].rc, AS_OK);
    ck_assert_uint_eq(r[1].revision, 11);
    ck_assert_int_eq(r[1].outcome, AS_PUT_CREATED);
    as_client_close(c);
}
END_TEST

/* With a token file, a write token may not migrate; an admin token may. */
START_TEST(admin_token_needed)
{
    char path[192], arg[256], *err;
    static const char *write_env[] = { "ARTSTORE_TOKEN=w-token", NULL };
    static const char *admin_env[] = { "ARTSTORE_TOKEN=a-token", NULL };
    const char *extra[3];
    int rc;

    snprintf(path, sizeof(path), "/tmp/as-tok-%d", (int)getpid());
    write_file(path, "write w-token\nadmin a-token\n");
    snprintf(arg, sizeof(arg), "%s", path);
    extra[0] = "--auth-token-file";
    extra[1] = arg;
    extra[2] = NULL;
    ck_assert_msg(ts_start(&a_srv, extra) == 0, "server did not start");
    rc = ts_cli_env(a_srv.endpoint, write_env, OLD, NULL, &err,
                    (const char *const[]){ "import", "--exact", "-", NULL });
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "PERMISSION_DENIED") &&
                  strstr(err, "admin token"), "%s", err);
    free(err);
    rc = ts_cli_env(a_srv.endpoint, admin_env, OLD, NULL, &err,
                    (const char *const[]){ "import", "--exact", "-", NULL });
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    unlink(path);
}
END_TEST

static Suite *exact_suite(void)
{
    Suite *s = suite_create("exact");
    TCase *tc = tcase_create("e2e");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, round_trip_is_exact);
    tcase_add_test(tc, fields_kept_and_refusals);
    tcase_add_test(tc, library_checks_name_the_field);
    tcase_add_test(tc, admin_token_needed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(exact_suite());
}
