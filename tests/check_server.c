/*
 * check_server.c - end-to-end tests of artstored through libartstore and
 * through raw nanomsg sockets: round trips, restart and SIGKILL survival,
 * batches, and junk on the socket answered with an error status while the
 * server keeps serving; and that testutil leaves no server or temp dir
 * behind a test that fails.
 */
#include <arpa/inet.h>
#include <check.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "artstore.h"
#include "artstore.pb-c.h"
#include "check_main.h"
#include "clock.h"
#include "testutil.h"

static ts_server_t srv;
static as_client_t *cli;

static void setup(void)
{
    ck_assert_msg(ts_start(&srv, NULL) == 0, "server did not start");
    ck_assert(as_client_connect(srv.endpoint, 5000, &cli) == AS_OK);
}

static void teardown(void)
{
    as_client_close(cli);
    ts_cleanup(&srv);
}

static void reconnect(void)
{
    as_client_close(cli);
    ck_assert(as_client_connect(srv.endpoint, 5000, &cli) == AS_OK);
}

START_TEST(put_get_round_trip)
{
    const char *tags[] = { "World", "Politics " };
    const char *authors[] = { "A. Writer", "B. Reporter" };
    as_meta_t meta[] = { { "lang", "en" }, { "desk", "foreign" } };
    as_article_t a = { 0 };
    as_article_t *got = NULL;
    as_put_result_t r;
    int rc;

    a.url = "https://news.example/2024/06/18/story";
    a.title = "Ministers meet — again";
    a.body = "Line one.\nLine two with ünïcödé.\n";
    a.source = "Example News";
    a.authors = authors;
    a.n_authors = 2;
    a.has_published_at = 1;
    a.published_at = 1718703000;
    a.tags = tags;
    a.n_tags = 2;
    a.meta = meta;
    a.n_meta = 2;
    rc = as_put(cli, &a, AS_REV_ANY, &r);
    ck_assert_msg(rc == AS_OK, "put: %s", as_client_errmsg(cli));
    ck_assert_int_eq(r.outcome, AS_PUT_CREATED);

    rc = as_get(cli, r.id, 0, &got);
    ck_assert_msg(rc == AS_OK, "get: %s", as_client_errmsg(cli));
    ck_assert_str_eq(got->url, a.url);
    ck_assert_str_eq(got->title, a.title);
    ck_assert_str_eq(got->body, a.body);
    /* Matched folded ("example news"), shown as written. */
    ck_assert_str_eq(got->source, "Example News");
    ck_assert_uint_eq(got->n_authors, 2);
    ck_assert_str_eq(got->authors[1], "B. Reporter");
    ck_assert_int_eq(got->published_at, 1718703000);
    ck_assert_uint_eq(got->n_tags, 2);
    ck_assert_str_eq(got->tags[0], "Politics");
    ck_assert_str_eq(got->tags[1], "World");
    ck_assert_uint_eq(got->n_meta, 2);
    ck_assert_str_eq(got->meta[0].key, "desk");
    ck_assert_uint_eq(got->revision, r.revision);
    ck_assert(got->has_content_hash);
    as_article_free(got);

    ck_assert_int_eq(as_get_by_url(cli, "HTTPS://NEWS.example/2024/06/18/story",
                                   1, &got), AS_OK);
    ck_assert_ptr_null(got->body);
    ck_assert_uint_eq(got->id, r.id);
    as_article_free(got);

    ck_assert_int_eq(as_put(cli, &a, AS_REV_ANY, &r), AS_OK);
    ck_assert_int_eq(r.outcome, AS_PUT_UNCHANGED);
    ck_assert_int_eq(as_get(cli, 999, 0, &got), AS_ENOT_FOUND);
    ck_assert_msg(strstr(as_client_errmsg(cli), "999"), "%s",
                  as_client_errmsg(cli));
}
END_TEST

START_TEST(delete_and_conditions)
{
    as_article_t a = { 0 }, *got;
    as_put_result_t r;
    uint64_t rev;

    a.url = "https://e.com/x";
    a.title = "T";
    uint64_t id;

    ck_assert_int_eq(as_put(cli, &a, 0, &r), AS_OK);
    id = r.id;
    /* A new call with the same create-only condition is a new write and
     * its condition no longer holds, even with the same content (resends
     * of one call are told apart by their request id: check_attack). */
    ck_assert_int_eq(as_put(cli, &a, 0, &r), AS_EFAILED_PRECONDITION);
    a.title = "T2";
    ck_assert_int_eq(as_put(cli, &a, 0, &r), AS_EFAILED_PRECONDITION);
    ck_assert_int_eq(as_delete(cli, id, 42, &rev), AS_EFAILED_PRECONDITION);
    ck_assert_int_eq(as_delete(cli, id, AS_REV_ANY, &rev), AS_OK);
    ck_assert_uint_eq(rev, 2);
    ck_assert_int_eq(as_get(cli, id, 0, &got), AS_ENOT_FOUND);
    ck_assert_int_eq(as_delete(cli, id, AS_REV_ANY, &rev), AS_ENOT_FOUND);
}
END_TEST

/* Puts n articles with distinct URLs; returns their ids in ids. */
static void put_many(int n, uint64_t *ids)
{
    char url[64], title[64];
    as_article_t a = { 0 };
    as_put_result_t r;
    int i;

    for (i = 0; i < n; i++) {
        snprintf(url, sizeof(url), "https://e.com/%d", i);
        snprintf(title, sizeof(title), "Title %d", i);
        a.url = url;
        a.title = title;
        ck_assert_msg(as_put(cli, &a, AS_REV_ANY, &r) == AS_OK, "put %d: %s",
                      i, as_client_errmsg(cli));
        ids[i] = r.id;
    }
}

static void check_many(int n, const uint64_t *ids)
{
    char title[64];
    as_article_t *got;
    int i;

    for (i = 0; i < n; i++) {
        snprintf(title, sizeof(title), "Title %d", i);
        ck_assert_msg(as_get(cli, ids[i], 0, &got) == AS_OK, "get %d: %s", i,
                      as_client_errmsg(cli));
        ck_assert_str_eq(got->title, title);
        as_article_free(got);
    }
}

START_TEST(survives_restart)
{
    uint64_t ids[50];
    as_stats_t *s;

    put_many(50, ids);
    ck_assert_int_eq(ts_stop(&srv), 0);
    ck_assert_int_eq(ts_restart(&srv), 0);
    reconnect();
    check_many(50, ids);
    ck_assert_int_eq(as_stats(cli, &s), AS_OK);
    ck_assert_uint_eq(s->articles, 50);
    ck_assert_uint_eq(s->last_seq, 50);
    as_stats_free(s);
}
END_TEST

START_TEST(acked_writes_survive_sigkill)
{
    uint64_t ids[200];

    put_many(200, ids);
    ts_kill(&srv);
    ck_assert_int_eq(ts_restart(&srv), 0);
    reconnect();
    check_many(200, ids);
}
END_TEST

/* Sends raw bytes as a request and returns the unpacked Reply (or NULL if
 * none came within 3 s). */
static Artstore__V1__Reply *raw_call(const void *buf, size_t len)
{
    int s = nn_socket(AF_SP, NN_REQ), tmo = 3000, max = -1;
    Artstore__V1__Reply *rep = NULL;
    void *msg = NULL;
    int n;

    ck_assert_int_ge(s, 0);
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    ck_assert_int_ge(nn_connect(s, srv.endpoint), 0);
    ck_assert_int_ge(nn_send(s, buf, len, 0), 0);
    n = nn_recv(s, &msg, NN_MSG, 0);
    if (n >= 0) {
        rep = artstore__v1__reply__unpack(NULL, (size_t)n, msg);
        nn_freemsg(msg);
    }
    nn_close(s);
    return rep;
}

/* Packs an envelope for method with payload and calls it raw. */
static Artstore__V1__Reply *raw_method(const char *method, const void *payload,
                                       size_t len)
{
    Artstore__V1__Request req = ARTSTORE__V1__REQUEST__INIT;
    uint8_t buf[8192];
    size_t n;

    req.method = (char *)method;
    req.has_payload = payload != NULL;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    n = artstore__v1__request__pack(&req, buf);
    return raw_call(buf, n);
}

static void expect_code(Artstore__V1__Reply *rep, int code, const char *what)
{
    ck_assert_msg(rep != NULL, "%s: no reply", what);
    ck_assert_msg(rep->status != NULL && (int)rep->status->code == code,
                  "%s: got code %d (%s), want %d", what,
                  rep->status ? (int)rep->status->code : 0,
                  rep->status && rep->status->message ? rep->status->message
                                                      : "",
                  code);
    artstore__v1__reply__free_unpacked(rep, NULL);
    ck_assert_msg(as_ping(cli, NULL) == AS_OK, "server dead after %s", what);
}

START_TEST(junk_on_the_socket)
{
    uint8_t junk[512];
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT;
    char *tags[] = { "fine", "bad\xff\xfe" };
    uint8_t payload[1024];
    size_t i, n;
    unsigned seed = 42;
    as_stats_t *s;

    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)rand_r(&seed);
    junk[0] = 0xff; /* an invalid field tag: never a valid envelope */
    expect_code(raw_call(junk, sizeof(junk)), 3, "random bytes");
    /* An envelope without a method is malformed, not a method the
     * server lacks. */
    expect_code(raw_call("", 0), 3, "empty message");
    expect_code(raw_method("/artstore.v1.ArticleStore/Frobnicate", NULL, 0),
                12, "unknown method");
    expect_code(raw_method("Put", NULL, 0), 12, "method without path");
    /* A valid protobuf of the wrong message: an Article as a GetRequest
     * payload puts a string where a varint belongs. */
    art.url = "https://e.com/1";
    art.title = "T";
    n = artstore__v1__article__pack(&art, payload);
    expect_code(raw_method("/artstore.v1.ArticleStore/Get", payload, n), 3,
                "wrong message type");
    expect_code(raw_method("/artstore.v1.ArticleStore/Put", junk, 64), 3,
                "junk payload");
    expect_code(raw_method("/artstore.v1.ArticleStore/Put", NULL, 0), 3,
                "put without article");
    art.tags = tags;
    art.n_tags = 2;
    put.article = &art;
    n = artstore__v1__put_request__pack(&put, payload);
    expect_code(raw_method("/artstore.v1.ArticleStore/Put", payload, n), 3,
                "invalid UTF-8 tag");
    /* None of it wrote anything. */
    ck_assert_int_eq(as_stats(cli, &s), AS_OK);
    ck_assert_uint_eq(s->articles, 0);
    ck_assert_uint_eq(s->last_seq, 0);
    as_stats_free(s);
}
END_TEST

START_TEST(batch_with_one_invalid_item)
{
    Artstore__V1__PutBatchRequest req = ARTSTORE__V1__PUT_BATCH_REQUEST__INIT;
    Artstore__V1__PutRequest items[3], *pitems[3];
    Artstore__V1__Article arts[3];
    Artstore__V1__PutBatchResponse *resp;
    Artstore__V1__Reply *rep;
    char *bad[] = { "\xc3(" };
    char urls[3][32];
    uint8_t buf[4096];
    size_t n, i;

    for (i = 0; i < 3; i++) {
        artstore__v1__article__init(&arts[i]);
        artstore__v1__put_request__init(&items[i]);
        snprintf(urls[i], sizeof(urls[i]), "https://e.com/b%zu", i);
        arts[i].url = urls[i];
        arts[i].title = "T";
        items[i].article = &arts[i];
        pitems[i] = &items[i];
    }
    arts[1].tags = bad;
    arts[1].n_tags = 1;
    req.items = pitems;
    req.n_items = 3;
    n = artstore__v1__put_batch_request__pack(&req, buf);
    rep = raw_method("/artstore.v1.ArticleStore/PutBatch", buf, n);
    ck_assert_ptr_nonnull(rep);
    ck_assert(rep->status == NULL || rep->status->code == 0);
    resp = artstore__v1__put_batch_response__unpack(NULL, rep->payload.len,
                                                    rep->payload.data);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->n_results, 3);
    ck_assert_int_eq(resp->results[0]->status->code, 0);
    ck_assert_int_eq(resp->results[1]->status->code, 3);
    ck_assert_msg(strstr(resp->results[1]->status->message, "tag 1"), "%s",
                  resp->results[1]->status->message);
    ck_assert_int_eq(resp->results[2]->status->code, 0);
    ck_assert_uint_eq(resp->results[2]->id, 2);
    artstore__v1__put_batch_response__free_unpacked(resp, NULL);
    artstore__v1__reply__free_unpacked(rep, NULL);
}
END_TEST

/* Runs artstored with args (one shell-quoted string) and returns its exit
 * status, with stdout and stderr in *out (malloc'ed). */
static int run_artstored(const char *args, char **out)
{
    char cmd[1024];
    size_t n = 0, cap = 8192;
    FILE *p;
    int status;

    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", ts_artstored_path(), args);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    *out = calloc(1, cap);
    n = fread(*out, 1, cap - 1, p);
    (*out)[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Listens on a free loopback port (the test holds it) and returns the
 * socket; *port gets the port. */
static int hold_port(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A start that fails on a taken port names the endpoint that is taken
 * and leaves no new data directory behind; --check refuses a store a
 * server is running on; --help says each default once. */
START_TEST(startup_failures_are_clear)
{
    char args[512], dir[160], *out;
    struct stat sb;
    int port, fd, rc;
    const char *line;

    snprintf(dir, sizeof(dir), "%s/fresh", srv.dir);
    fd = hold_port(&port);
    snprintf(args, sizeof(args), "--data '%s' --listen tcp://127.0.0.1:%d",
             dir, port);
    rc = run_artstored(args, &out);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(out, "request endpoint") && strstr(out, "in use"),
                  "%s", out);
    ck_assert_msg(stat(dir, &sb) != 0, "%s was left behind", dir);
    free(out);
    /* The feed's port taken: the message names the feed. */
    snprintf(args, sizeof(args), "--data '%s' --listen ipc://%s/other "
             "--feed tcp://127.0.0.1:%d", dir, srv.dir, port);
    rc = run_artstored(args, &out);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(out, "change feed endpoint") &&
                  strstr(out, "--feed"), "%s", out);
    ck_assert_msg(stat(dir, &sb) != 0, "%s was left behind", dir);
    free(out);
    close(fd);

    snprintf(args, sizeof(args), "--check --data '%s'", srv.data);
    rc = run_artstored(args, &out);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(out, "in use by a running server"), "%s", out);
    free(out);

    rc = run_artstored("--help", &out);
    ck_assert_int_eq(rc, 0);
    for (line = out; line != NULL && *line; line = strchr(line, '\n')) {
        const char *first = strstr(line, "(default"), *nl;

        line += *line == '\n';
        nl = strchr(line, '\n');
        first = strstr(line, "(default");
        if (first != NULL && (nl == NULL || first < nl)) {
            const char *second = strstr(first + 1, "(default");

            ck_assert_msg(second == NULL || (nl != NULL && second > nl),
                          "default given twice: %.*s",
                          (int)(nl ? nl - line : 200), line);
        }
    }
    ck_assert_msg(strstr(out, "--feed=S") != NULL, "%s", out);
    free(out);
}
END_TEST

/* ------------------------------------------------------------ testutil */

/* A test that fails ends at its failed assertion with _exit() (Check's
 * fork mode skips the teardown): the server testutil started for it and
 * its temp dir must not outlive it. A child plays that test: it starts a
 * server, reports the server's pid and dir, and _exits without
 * ts_cleanup. */
START_TEST(failed_test_leaves_nothing)
{
    struct { pid_t pid; char dir[64]; } got;
    struct stat sb;
    int p[2], status;
    int64_t end;
    pid_t child;

    ck_assert_int_eq(pipe(p), 0);
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        ts_server_t s;

        close(p[0]);
        memset(&got, 0, sizeof(got));
        if (ts_start(&s, NULL) == 0) {
            got.pid = s.pid;
            snprintf(got.dir, sizeof(got.dir), "%s", s.dir);
        }
        if (write(p[1], &got, sizeof(got)) != (ssize_t)sizeof(got))
            _exit(2);
        _exit(1);   /* as a failed assertion does: no cleanup */
    }
    close(p[1]);
    ck_assert_int_eq(read(p[0], &got, sizeof(got)), (ssize_t)sizeof(got));
    close(p[0]);
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(got.pid > 0, "the child's server did not start");
    end = as_clock_mono_ms() + 10000;
    while ((ts_alive(got.pid) || stat(got.dir, &sb) == 0) &&
           as_clock_mono_ms() < end)
        usleep(20000);
    ck_assert_msg(!ts_alive(got.pid), "artstored %ld outlived its test",
                  (long)got.pid);
    ck_assert_msg(stat(got.dir, &sb) != 0, "%s outlived its test", got.dir);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("e2e");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, put_get_round_trip);
    tcase_add_test(tc, delete_and_conditions);
    tcase_add_test(tc, survives_restart);
    tcase_add_test(tc, acked_writes_survive_sigkill);
    tcase_add_test(tc, junk_on_the_socket);
    tcase_add_test(tc, batch_with_one_invalid_item);
    tcase_add_test(tc, startup_failures_are_clear);
    suite_add_tcase(s, tc);
    /* No fixture: the test starts (and does not stop) its own server. */
    tc = tcase_create("testutil");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, failed_test_leaves_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(server_suite());
}
