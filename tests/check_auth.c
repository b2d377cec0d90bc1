/*
 * check_auth.c - tests for server/auth.c and its enforcement in rpc.c:
 * with --auth-token-file, no or a wrong token is UNAUTHENTICATED, a read
 * token may only read (PERMISSION_DENIED on writes, nothing written), a
 * write token may do everything but the admin methods (membership
 * changes, PutExact); the client library and the CLI send the token.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "artstore.h"
#include "auth.h"
#include "check_main.h"
#include "rawreq.h"
#include "testutil.h"

#define WTOKEN "w-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
#define RTOKEN "r-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define ATOKEN "a-5e4d3c2b1a09f8e7d6c5b4a392817060"

static ts_server_t s;
static char token_dir[32];       /* the token file's temp dir */
static char token_file[128];

/* Starts a server that wants tokens, from a token file in its temp dir. */
static void start_auth_server(void)
{
    static const char *extra[3];
    FILE *f;

    ck_assert_int_eq(ts_tempdir(token_dir, sizeof(token_dir)), 0);
    snprintf(token_file, sizeof(token_file), "%s/tokens", token_dir);
    f = fopen(token_file, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "# who may do what\n\nwrite %s\nread %s\nadmin %s\n", WTOKEN,
            RTOKEN, ATOKEN);
    fclose(f);
    extra[0] = "--auth-token-file";
    extra[1] = token_file;
    extra[2] = NULL;
    ck_assert_int_eq(ts_start(&s, extra), 0);
}

static void stop_auth_server(void)
{
    ts_cleanup(&s);
    if (ts_tempdir_remove(token_dir) != 0)
        fprintf(stderr, "cannot remove %s\n", token_dir);
}

static as_client_t *client_with(const char *token)
{
    as_client_t *c;

    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &c), AS_OK);
    if (token != NULL)
        ck_assert_int_eq(as_client_set_token(c, token), AS_OK);
    return c;
}

static int put_one(as_client_t *c, const char *url)
{
    as_article_t a;
    as_put_result_t res;

    memset(&a, 0, sizeof(a));
    a.url = (char *)url;
    a.title = "t";
    a.body = "b";
    return as_put(c, &a, AS_REV_ANY, &res);
}

START_TEST(missing_or_wrong_token_unauthenticated)
{
    as_client_t *none, *wrong, *prefix;
    Artstore__V1__PingRequest ping = ARTSTORE__V1__PING_REQUEST__INIT;
    Artstore__V1__Reply *r;

    start_auth_server();
    none = client_with(NULL);
    wrong = client_with("w-not-the-token");
    /* A prefix of the right token is not the token. */
    prefix = client_with("w-9f8e7d6c5b4a3928");
    ck_assert_int_eq(as_ping(none, NULL), AS_EUNAUTHENTICATED);
    ck_assert_msg(strstr(as_client_errmsg(none), "requires an auth token"),
                  "%s", as_client_errmsg(none));
    ck_assert_int_eq(as_ping(wrong, NULL), AS_EUNAUTHENTICATED);
    ck_assert_int_eq(as_ping(prefix, NULL), AS_EUNAUTHENTICATED);
    ck_assert_int_eq(put_one(none, "https://auth.test/1"), AS_EUNAUTHENTICATED);
    ck_assert_int_eq(put_one(wrong, "https://auth.test/1"),
                     AS_EUNAUTHENTICATED);
    /* An empty token in the envelope counts as none. */
    r = raw_call(s.endpoint, "Ping", &ping.base, "", 0, 0);
    ck_assert_int_eq(raw_code(r), AS_CODE_UNAUTHENTICATED);
    artstore__v1__reply__free_unpacked(r, NULL);
    /* Without a token, not even the method names are revealed. */
    r = raw_call(s.endpoint, "NoSuchMethod", NULL, NULL, 0, 0);
    ck_assert_int_eq(raw_code(r), AS_CODE_UNAUTHENTICATED);
    artstore__v1__reply__free_unpacked(r, NULL);
    r = raw_call(s.endpoint, "NoSuchMethod", NULL, RTOKEN, 0, 0);
    ck_assert_int_eq(raw_code(r), AS_CODE_UNIMPLEMENTED);
    artstore__v1__reply__free_unpacked(r, NULL);
    as_client_close(none);
    as_client_close(wrong);
    as_client_close(prefix);
    stop_auth_server();
}
END_TEST

START_TEST(read_token_reads_only)
{
    as_client_t *rd = NULL, *wr = NULL;
    as_article_t *a = NULL;
    uint64_t rev;

    start_auth_server();
    rd = client_with(RTOKEN);
    wr = client_with(WTOKEN);
    ck_assert_int_eq(as_ping(rd, NULL), AS_OK);
    ck_assert_int_eq(put_one(rd, "https://auth.test/r"),
                     AS_EPERMISSION_DENIED);
    ck_assert_msg(strstr(as_client_errmsg(rd), "read token"), "%s",
                  as_client_errmsg(rd));
    /* Refused means not written. */
    ck_assert_int_eq(as_get_by_url(wr, "https://auth.test/r", 0, &a),
                     AS_ENOT_FOUND);
    ck_assert_int_eq(put_one(wr, "https://auth.test/w"), AS_OK);
    ck_assert_int_eq(as_get_by_url(rd, "https://auth.test/w", 0, &a), AS_OK);
    as_article_free(a);
    ck_assert_int_eq(as_delete(rd, 1, AS_REV_ANY, &rev),
                     AS_EPERMISSION_DENIED);
    ck_assert_int_eq(as_delete(wr, 1, AS_REV_ANY, &rev), AS_OK);
    as_client_close(rd);
    as_client_close(wr);
    stop_auth_server();
}
END_TEST

/* Membership changes need the admin token: a write token's holder (an
 * ingestion worker) cannot take voters out of the cluster. */
START_TEST(membership_needs_admin_token)
{
    as_client_t *rd, *wr, *ad;

    start_auth_server();
    rd = client_with(RTOKEN);
    wr = client_with(WTOKEN);
    ad = client_with(ATOKEN);
    ck_assert_int_eq(as_cluster_remove(rd, 2), AS_EPERMISSION_DENIED);
    ck_assert_int_eq(as_cluster_remove(wr, 2), AS_EPERMISSION_DENIED);
    ck_assert_msg(strstr(as_client_errmsg(wr), "admin token"), "%s",
                  as_client_errmsg(wr));
    ck_assert_int_eq(as_cluster_add(wr, 2, "127.0.0.1:1", 1),
                     AS_EPERMISSION_DENIED);
    /* The admin token gets past the check; this server is no cluster. */
    ck_assert_int_ne(as_cluster_remove(ad, 2), AS_EPERMISSION_DENIED);
    ck_assert_int_ne(as_cluster_remove(ad, 2), AS_EUNAUTHENTICATED);
    as_client_close(rd);
    as_client_close(wr);
    as_client_close(ad);
    stop_auth_server();
}
END_TEST

START_TEST(cli_sends_token)
{
    const char *ok[] = { "--token", WTOKEN, "put", "--url",
                         "https://auth.test/cli", "--title", "T", NULL };
    const char *no[] = { "put", "--url", "https://auth.test/cli2", "--title",
                         "T", NULL };
    char *out = NULL, *err = NULL;
    int rc;

    start_auth_server();
    rc = ts_cli(s.endpoint, "body\n", &out, &err, ok);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    rc = ts_cli(s.endpoint, "body\n", &out, &err, no);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "UNAUTHENTICATED") || strstr(err, "token"),
                  "%s", err);
    free(out);
    free(err);
    stop_auth_server();
}
END_TEST

START_TEST(token_file_parsing)
{
    char dir[32], path[128], cmd[512];
    as_auth_t *a = NULL;
    as_status_t st;
    FILE *f;

    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/t", dir);
    f = fopen(path, "w");
    fprintf(f, "write abc\nsuper xyz\n");
    fclose(f);
    ck_assert_int_eq(as_auth_load(path, &a, &st), AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, ":2:"), "%s", st.msg);
    f = fopen(path, "w");
    fprintf(f, "# nothing\n");
    fclose(f);
    ck_assert_int_eq(as_auth_load(path, &a, &st), AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "no token"), "%s", st.msg);
    f = fopen(path, "w");
    fprintf(f, "read r1\nwrite w1\nadmin a1\n");
    fclose(f);
    ck_assert_int_eq(as_auth_load(path, &a, &st), 0);
    ck_assert_int_eq(as_auth_check(a, "r1", 0, &st), 0);
    ck_assert_int_eq(as_auth_check(a, "r1", 1, &st),
                     AS_CODE_PERMISSION_DENIED);
    ck_assert_int_eq(as_auth_check(a, "w1", 1, &st), 0);
    /* Admin methods (PutExact) need an admin token, which may do all. */
    ck_assert_int_eq(as_auth_check(a, "w1", 2, &st),
                     AS_CODE_PERMISSION_DENIED);
    ck_assert_msg(strstr(st.msg, "admin token"), "%s", st.msg);
    ck_assert_int_eq(as_auth_check(a, "r1", 2, &st),
                     AS_CODE_PERMISSION_DENIED);
    ck_assert_int_eq(as_auth_check(a, "a1", 2, &st), 0);
    ck_assert_int_eq(as_auth_check(a, "a1", 1, &st), 0);
    ck_assert_int_eq(as_auth_check(a, "a1", 0, &st), 0);
    ck_assert_int_eq(as_auth_check(a, "w", 0, &st), AS_CODE_UNAUTHENTICATED);
    ck_assert_int_eq(as_auth_check(a, "w1x", 0, &st),
                     AS_CODE_UNAUTHENTICATED);
    ck_assert_int_eq(as_auth_check(a, NULL, 0, &st), AS_CODE_UNAUTHENTICATED);
    as_auth_free(a);
    /* The server refuses to start on a bad token file. */
    snprintf(cmd, sizeof(cmd),
             "'%s' --data %s/d --listen ipc://%s/rpc --auth-token-file "
             "%s/missing 2>/dev/null", ts_artstored_path(), dir, dir, dir);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
    ck_assert_int_eq(ts_tempdir_remove(dir), 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("auth");
    TCase *tc = tcase_create("auth");

    tcase_add_test(tc, missing_or_wrong_token_unauthenticated);
    tcase_add_test(tc, read_token_reads_only);
    tcase_add_test(tc, membership_needs_admin_token);
    tcase_add_test(tc, cli_sends_token);
    tcase_add_test(tc, token_file_parsing);
    suite_add_tcase(su, tc);
    return as_check_run(su);
}
