/*
 * check_http.c - tests for server/http.c and what --http brings with it: a
 * real artstored with --http serves the page, /config (the ws:// endpoints
 * it bound, derived from the HTTP port unless given), /ingest (changes per
 * minute), 404 and 405; its ws:// request endpoint answers reads and
 * refuses writes; its feed is bound on ws:// too. /metrics is parsed in
 * check_stats.c.
 */
#include <check.h>
#include <jansson.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "http.h"
#include "rawreq.h"
#include "status.h"
#include "testutil.h"

#define N_PUTS 5

/* Returns whether 127.0.0.1:port can be bound now. */
static int bindable(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* A port whose next two are free as well, below the ephemeral range
 * (where the outgoing connections of tests running alongside take theirs). */
static int free_three(void)
{
    int i;

    for (i = 0; i < 200; i++) {
        int p = 20000 + (int)((unsigned)rand() % 12000);

        if (bindable(p) && bindable(p + 1) && bindable(p + 2))
            return p;
    }
    return 0;
}

/* Starts a server with --http on a free port; with explicit ws endpoints
 * unless derive, in which case the port and the next two must be free
 * (retried on other ports when they are not). Returns the HTTP port. */
static int start_http(ts_server_t *srv, char *ws_rpc, char *ws_feed,
                      int derive)
{
    static char http[64], rpc_arg[64], feed_arg[64];
    const char *extra[8];
    char last[512] = "";
    int tries;

    srand((unsigned)getpid());
    for (tries = 0; tries < 5; tries++) {
        int port = derive ? free_three() : ts_free_port(), n = 0;

        ck_assert_int_gt(port, 0);
        /* A name, resolved for both the listener and the ws:// ones. */
        snprintf(http, sizeof(http), "%s:%d", derive ? "localhost" :
                 "127.0.0.1", port);
        extra[n++] = "--http";
        extra[n++] = http;
        if (derive) {
            snprintf(ws_rpc, 64, "ws://127.0.0.1:%d", port + 1);
            snprintf(ws_feed, 64, "ws://127.0.0.1:%d", port + 2);
        } else {
            snprintf(ws_rpc, 64, "ws://127.0.0.1:%d", ts_free_port());
            snprintf(ws_feed, 64, "ws://127.0.0.1:%d", ts_free_port());
            snprintf(rpc_arg, sizeof(rpc_arg), "%s", ws_rpc);
            snprintf(feed_arg, sizeof(feed_arg), "%s", ws_feed);
            extra[n++] = "--ws-listen";
            extra[n++] = rpc_arg;
            extra[n++] = "--ws-feed";
            extra[n++] = feed_arg;
        }
        extra[n] = NULL;
        if (ts_start(srv, extra) == 0)
            return port;
        /* Keep the end of the server's log for the message. */
        {
            FILE *f = fopen(srv->log, "r");

            if (f != NULL) {
                size_t got;

                fseek(f, -(long)(sizeof(last) - 1), SEEK_END);
                got = fread(last, 1, sizeof(last) - 1, f);
                last[got] = '\0';
                fclose(f);
            }
        }
        ts_cleanup(srv);
    }
    ck_abort_msg("no server with --http started; the last log: %s", last);
    return 0;
}

/* Puts n new articles, numbered from first. */
static void put_some(const char *endpoint, int first, int n)
{
    as_client_t *c;
    int i;

    ck_assert_int_eq(as_client_connect(endpoint, 5000, &c), AS_OK);
    for (i = first; i < first + n; i++) {
        char url[64];
        as_article_t art = { 0 };
        as_put_result_t r;

        snprintf(url, sizeof(url), "https://example.com/h/%d", i);
        art.url = url;
        art.title = "t";
        art.body = "b";
        ck_assert_int_eq(as_put(c, &art, AS_REV_ANY, &r), AS_OK);
    }
    as_client_close(c);
}

START_TEST(serves_page_config_and_ingest)
{
    ts_server_t srv;
    char ws_rpc[64], ws_feed[64], *hdr = NULL, *body = NULL;
    json_t *j, *counts;
    json_error_t jerr;
    size_t i;
    uint64_t total = 0;
    int port, status;

    port = start_http(&srv, ws_rpc, ws_feed, 0);
    put_some(srv.endpoint, 0, N_PUTS);

    ck_assert_int_eq(ts_http(port, "GET", "/config", &status, &hdr, &body), 0);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(hdr, "application/json"));
    j = json_loads(body, 0, &jerr);
    ck_assert_msg(j != NULL, "/config is not JSON: %s", body);
    ck_assert_str_eq(json_string_value(json_object_get(j, "rpc")), ws_rpc);
    ck_assert_str_eq(json_string_value(json_object_get(j, "feed")), ws_feed);
    ck_assert(json_is_false(json_object_get(j, "auth")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "version")),
                     as_version());
    json_decref(j);
    free(hdr);
    free(body);

    ck_assert_int_eq(ts_http(port, "GET", "/ingest", &status, NULL, &body), 0);
    ck_assert_int_eq(status, 200);
    j = json_loads(body, 0, &jerr);
    ck_assert_msg(j != NULL, "/ingest is not JSON: %s", body);
    counts = json_object_get(j, "counts");
    ck_assert_uint_eq(json_array_size(counts), 60);
    for (i = 0; i < json_array_size(counts); i++)
        total += (uint64_t)json_integer_value(json_array_get(counts, i));
    ck_assert_uint_eq(total, N_PUTS);
    ck_assert(json_integer_value(json_object_get(j, "minute0_ms")) % 60000 == 0);
    json_decref(j);
    free(body);

    ck_assert_int_eq(ts_http(port, "GET", "/", &status, &hdr, &body), 0);
    if (as_http_has_dashboard()) {
        ck_assert_int_eq(status, 200);
        ck_assert_ptr_nonnull(strstr(hdr, "text/html"));
        ck_assert_ptr_nonnull(strstr(hdr, "Content-Security-Policy"));
        ck_assert_ptr_nonnull(strstr(body, "/app.js"));
        free(hdr);
        free(body);
        ck_assert_int_eq(ts_http(port, "GET", "/app.js", &status, &hdr,
                                 &body), 0);
        ck_assert_int_eq(status, 200);
        ck_assert_ptr_nonnull(strstr(hdr, "text/javascript"));
        free(hdr);
        free(body);
        /* The code pbjs generated from artstore.proto is built in. */
        ck_assert_int_eq(ts_http(port, "GET", "/artstore_pb.js", &status,
                                 NULL, &body), 0);
        ck_assert_int_eq(status, 200);
        ck_assert_ptr_nonnull(strstr(body, "ChangesRequest"));
    } else {
        ck_assert_int_eq(status, 404);
        ck_assert_ptr_nonnull(strstr(body, "ARTSTORE_DASHBOARD=OFF"));
        free(hdr);
    }
    free(body);

    ck_assert_int_eq(ts_http(port, "GET", "/nope", &status, NULL, &body), 0);
    ck_assert_int_eq(status, 404);
    free(body);
    ck_assert_int_eq(ts_http(port, "POST", "/metrics", &status, &hdr, &body),
                     0);
    ck_assert_int_eq(status, 405);
    ck_assert_ptr_nonnull(strstr(hdr, "Allow: GET, HEAD"));
    free(hdr);
    free(body);
    ck_assert_int_eq(ts_stop(&srv), 0);
    ts_cleanup(&srv);
}
END_TEST

START_TEST(ws_endpoints_derived_read_only_and_feed)
{
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT;
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    Artstore__V1__Reply *r;
    ts_server_t srv;
    char ws_rpc[64], ws_feed[64], *body = NULL, want[96], *msg = NULL;
    int port, status, sub, tmo = 5000, n = -1, i;

    port = start_http(&srv, ws_rpc, ws_feed, 1);
    ck_assert_int_eq(ts_http(port, "GET", "/config", &status, NULL, &body), 0);
    snprintf(want, sizeof(want), "\"rpc\":\"ws://127.0.0.1:%d\"", port + 1);
    ck_assert_msg(strstr(body, want) != NULL, "%s not in %s", want, body);
    snprintf(want, sizeof(want), "\"feed\":\"ws://127.0.0.1:%d\"", port + 2);
    ck_assert_msg(strstr(body, want) != NULL, "%s not in %s", want, body);
    free(body);

    /* Reads work over ws://, writes are refused and change nothing. */
    r = raw_call(ws_rpc, "Ping", NULL, NULL, 0, 0);
    ck_assert_int_eq(raw_code(r), 0);
    artstore__v1__reply__free_unpacked(r, NULL);
    art.url = "https://example.com/ws";
    art.title = "t";
    put.article = &art;
    r = raw_call(ws_rpc, "Put", &put.base, NULL, 0, 0);
    ck_assert_int_eq(raw_code(r), AS_CODE_PERMISSION_DENIED);
    ck_assert_msg(strstr(raw_msg(r), "read-only") != NULL, "%s", raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);

    /* The feed is bound on ws:// as well: a put shows up there. */
    sub = nn_socket(AF_SP, NN_SUB);
    ck_assert_int_ge(sub, 0);
    nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "E", 1);
    nn_setsockopt(sub, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
    ck_assert_int_ge(nn_connect(sub, ws_feed), 0);
    /* Subscriptions take a moment: put until an event arrives. */
    for (i = 0; i < 20 && n < 0; i++) {
        put_some(srv.endpoint, i, 1);
        tmo = 250;
        nn_setsockopt(sub, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
        n = nn_recv(sub, &msg, NN_MSG, 0);
    }
    ck_assert_msg(n > 9, "no event on the ws:// feed");
    ck_assert_int_eq(msg[0], 'E');
    nn_freemsg(msg);
    nn_close(sub);
    ck_assert_int_eq(ts_stop(&srv), 0);
    ts_cleanup(&srv);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, serves_page_config_and_ingest);
    tcase_add_test(tc, ws_endpoints_derived_read_only_and_feed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(http_suite());
}
