/*
 * check_client.c - the client library's behaviour toward a server that is
 * not there: a refused connection fails a call at once (not after the
 * timeout) with a message naming the endpoint, for tcp:// and ipc://, and
 * the same client works once a server appears, and at once after its
 * server restarted; toward a peer that does not speak the protocol; and
 * toward one that answers a call the client gave up on after the next
 * call's reply.
 */
#include <check.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "artstore.h"
#include "artstore.pb-c.h"
#include "check_main.h"
#include "clock.h"
#include "testutil.h"

/* A refusal must come well before this timeout; the bound the tests check
 * is a fraction of it, far from what a loaded machine needs. */
#define LONG_TIMEOUT_MS 10000
#define REFUSED_BOUND_MS 2000

/* Pings endpoint with a long timeout; checks that it fails UNAVAILABLE
 * quickly, naming the endpoint and the refusal. */
static void check_refused(const char *endpoint)
{
    as_client_t *c;
    int64_t t0, took;
    int rc;

    ck_assert_int_eq(as_client_connect(endpoint, LONG_TIMEOUT_MS, &c), AS_OK);
    t0 = as_clock_mono_ms();
    rc = as_ping(c, NULL);
    took = as_clock_mono_ms() - t0;
    ck_assert_msg(rc == AS_EUNAVAILABLE, "ping %s: %s", endpoint,
                  as_code_name(rc));
    ck_assert_msg(took < REFUSED_BOUND_MS, "refused after %lld ms",
                  (long long)took);
    ck_assert_msg(strstr(as_client_errmsg(c), endpoint) != NULL &&
                  strstr(as_client_errmsg(c), "refused") != NULL,
                  "message: %s", as_client_errmsg(c));
    /* Again on the same client: still refused, still at once. */
    t0 = as_clock_mono_ms();
    ck_assert_int_eq(as_ping(c, NULL), AS_EUNAVAILABLE);
    ck_assert_int_lt(as_clock_mono_ms() - t0, REFUSED_BOUND_MS);
    as_client_close(c);
}

START_TEST(refused_tcp_fails_at_once)
{
    char ep[64];

    ck_assert_int_eq(ts_dead_tcp_endpoint(ep, sizeof(ep)), 0);
    check_refused(ep);
}
END_TEST

START_TEST(refused_ipc_fails_at_once)
{
    check_refused("ipc:///tmp/as-no-such-dir/rpc");
}
END_TEST

/* A client made while the server is down works once it is up. */
START_TEST(refused_then_server_comes_up)
{
    ts_server_t s;
    as_client_t *c;
    int rc = AS_EUNAVAILABLE, i;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(ts_stop(&s), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, LONG_TIMEOUT_MS, &c),
                     AS_OK);
    ck_assert_int_eq(as_ping(c, NULL), AS_EUNAVAILABLE);
    ck_assert_int_eq(ts_restart(&s), 0);
    /* nanomsg reconnects every 100 ms in the background. */
    for (i = 0; i < 100 && rc != AS_OK; i++) {
        rc = as_ping(c, NULL);
        if (rc != AS_OK)
            usleep(50000);
    }
    ck_assert_msg(rc == AS_OK, "ping after restart: %s",
                  as_client_errmsg(c));
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* A client whose server restarted (stopped, or killed) between two calls
 * still holds the old connection: the next call goes through on the
 * first try, on a new connection. */
static void check_call_across_restart(int hard)
{
    ts_server_t s;
    as_client_t *c;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, LONG_TIMEOUT_MS, &c),
                     AS_OK);
    ck_assert_msg(as_ping(c, NULL) == AS_OK, "ping: %s", as_client_errmsg(c));
    if (hard)
        ts_kill(&s);
    else
        ck_assert_int_eq(ts_stop(&s), 0);
    ck_assert_int_eq(ts_restart(&s), 0);
    ck_assert_msg(as_ping(c, NULL) == AS_OK, "ping after restart: %s",
                  as_client_errmsg(c));
    ck_assert_msg(as_ping(c, NULL) == AS_OK, "second ping: %s",
                  as_client_errmsg(c));
    as_client_close(c);
    ts_cleanup(&s);
}

START_TEST(call_after_server_restart)
{
    check_call_across_restart(0);
}
END_TEST

START_TEST(call_after_server_killed_and_restarted)
{
    check_call_across_restart(1);
}
END_TEST

/* Accepts one connection on listener *arg and answers it in HTTP. */
static void *http_peer(void *arg)
{
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    int fd = accept(*(int *)arg, NULL, NULL);
    char buf[256];

    if (fd < 0)
        return NULL;
    if (write(fd, resp, sizeof(resp) - 1) < 0)
        perror("write");
    /* Held open until the client gives up. */
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
    return NULL;
}

/* A peer that is not an SP REP socket fails the call at once, with a
 * message that says so, instead of the timeout. */
START_TEST(peer_not_speaking_sp_fails_at_once)
{
    struct sockaddr_in a;
    pthread_t th;
    as_client_t *c;
    char ep[64];
    int lfd, port = ts_free_port(), one = 1;
    int64_t t0;

    ck_assert_int_gt(port, 0);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, http_peer, &lfd), 0);
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", port);
    ck_assert_int_eq(as_client_connect(ep, LONG_TIMEOUT_MS, &c), AS_OK);
    t0 = as_clock_mono_ms();
    ck_assert_int_eq(as_ping(c, NULL), AS_EUNAVAILABLE);
    ck_assert_int_lt(as_clock_mono_ms() - t0, REFUSED_BOUND_MS);
    ck_assert_msg(strstr(as_client_errmsg(c), "does not speak") != NULL,
                  "message: %s", as_client_errmsg(c));
    as_client_close(c);
    pthread_join(th, NULL);
    close(lfd);
}
END_TEST

/* One request taken by the late-replying server: its body and the raw
 * REP control header that routes the reply back. */
typedef struct held_req {
    void *body;
    void *ctl;
    int len;
} held_req_t;

static int take_request(int sock, held_req_t *r)
{
    struct nn_iovec iov = { &r->body, NN_MSG };
    struct nn_msghdr h;

    memset(&h, 0, sizeof(h));
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = &r->ctl;
    h.msg_controllen = NN_MSG;
    r->len = nn_recvmsg(sock, &h, 0);
    return r->len;
}

/* Answers r with a Ping reply for its call id, padded well past the size
 * nanomsg keeps inline in a message (so that the reply is a heap chunk).
 * Frees r's buffers. Returns 0 or -1. */
static int answer_ping(int sock, held_req_t *r)
{
    Artstore__V1__Request *req;
    Artstore__V1__Reply rep = ARTSTORE__V1__REPLY__INIT;
    Artstore__V1__PingResponse pr = ARTSTORE__V1__PING_RESPONSE__INIT;
    char version[512];
    uint8_t payload[1024];
    struct nn_iovec iov;
    struct nn_msghdr h;
    void *msg;
    size_t len;
    int rc;

    req = artstore__v1__request__unpack(NULL, (size_t)r->len, r->body);
    nn_freemsg(r->body);
    if (req == NULL) {
        nn_freemsg(r->ctl);
        return -1;
    }
    memset(version, 'v', sizeof(version) - 1);
    version[sizeof(version) - 1] = '\0';
    pr.version = version;
    rep.has_call_id = req->has_call_id;
    rep.call_id = req->call_id;
    artstore__v1__request__free_unpacked(req, NULL);
    rep.has_payload = 1;
    rep.payload.data = payload;
    rep.payload.len = artstore__v1__ping_response__pack(&pr, payload);
    len = artstore__v1__reply__get_packed_size(&rep);
    if ((msg = nn_allocmsg(len, 0)) == NULL) {
        nn_freemsg(r->ctl);
        return -1;
    }
    artstore__v1__reply__pack(&rep, msg);
    iov.iov_base = &msg;
    iov.iov_len = NN_MSG;
    memset(&h, 0, sizeof(h));
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = &r->ctl;
    h.msg_controllen = NN_MSG;
    rc = nn_sendmsg(sock, &h, 0);
    if (rc < 0) {
        nn_freemsg(msg);
        nn_freemsg(r->ctl);
    }
    return rc < 0 ? -1 : 0;
}

/* The server: holds the first call until the second one arrives, answers
 * the second, then the first (a slow call finishing late), then answers
 * whatever comes next at once. It writes a byte to ready once bound and
 * another once it holds the first call. */
static void late_server(const char *endpoint, int ready)
{
    held_req_t first, second, next;
    int sock = nn_socket(AF_SP_RAW, NN_REP);

    if (sock < 0 || nn_bind(sock, endpoint) < 0 || write(ready, "b", 1) != 1)
        _exit(2);
    if (take_request(sock, &first) < 0 || write(ready, "h", 1) != 1 ||
        take_request(sock, &second) < 0)
        _exit(3);
    if (answer_ping(sock, &second) != 0 || answer_ping(sock, &first) != 0)
        _exit(4);
    while (take_request(sock, &next) >= 0)
        if (answer_ping(sock, &next) != 0)
            _exit(5);
    _exit(0);
}

/* Reads the byte the late server writes next, within 10 s. */
static char await_server(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };
    char b = 0;

    if (poll(&p, 1, 10000) != 1 || read(fd, &b, 1) != 1)
        return 0;
    return b;
}

/* A call the client gave up on is answered after the next call's reply:
 * the late reply must neither be taken for a later call nor crash the
 * client (nanomsg's REQ socket frees such a reply and keeps using it, so
 * the client must not send another request on that socket). */
START_TEST(late_reply_to_an_abandoned_call)
{
    char dir[64], endpoint[96];
    as_client_t *c;
    as_ping_info_t info;
    pid_t pid;
    int i, status, ready[2];

    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/late", dir);
    ck_assert_int_eq(pipe(ready), 0);
    /* Forked before the test opens any socket of its own. */
    ck_assert_int_ge(pid = ts_fork(), 0);
    if (pid == 0) {
        close(ready[0]);
        late_server(endpoint, ready[1]);
    }
    close(ready[1]);
    ts_tempdir_watch(dir, pid);
    ck_assert_int_eq(await_server(ready[0]), 'b');
    ck_assert_int_eq(as_client_connect(endpoint, 300, &c), AS_OK);
    /* Held by the server: no reply within the timeout. */
    ck_assert_int_eq(as_ping(c, NULL), AS_EUNAVAILABLE);
    ck_assert_int_eq(await_server(ready[0]), 'h');
    ck_assert_int_eq(as_client_set_timeout(c, 10000), AS_OK);
    ck_assert_msg(as_ping(c, &info) == AS_OK, "ping: %s",
                  as_client_errmsg(c));
    ck_assert_msg(info.version[0] == 'v', "version %s", info.version);
    /* The late reply reaches the client's socket, if it is still open,
     * before the close (which would free it a second time)... */
    usleep(300000);
    as_client_close(c);
    /* ...or before the next call. */
    ck_assert_int_eq(as_client_connect(endpoint, 10000, &c), AS_OK);
    for (i = 0; i < 3; i++)
        ck_assert_msg(as_ping(c, &info) == AS_OK, "ping %d: %s", i,
                      as_client_errmsg(c));
    as_client_close(c);
    close(ready[0]);
    /* Still serving: it met no error. */
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}
END_TEST

/* An article filled from string literals (this file is built with
 * -Wwrite-strings -Werror) is stored and read back; the same from C++. */
START_TEST(article_from_literals)
{
    static const char *const tags[] = { "Weather", "Shipping" };
    static const as_meta_t meta[] = { { "lang", "en" } };
    ts_server_t s;
    as_client_t *c;
    as_article_t a = { 0 }, *got = NULL;
    as_put_result_t r;
    char cmd[512];
    FILE *p;
    unsigned long long cxx_id = 0;

    a.url = "https://lit.example/1";
    a.title = "Storm closes ports";
    a.body = "Heavy winds.";
    a.tags = tags;
    a.n_tags = 2;
    a.meta = meta;
    a.n_meta = 1;
    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &r), AS_OK);
    ck_assert_int_eq(as_get(c, r.id, 0, &got), AS_OK);
    ck_assert_str_eq(got->title, "Storm closes ports");
    ck_assert_uint_eq(got->n_tags, 2);
    ck_assert_str_eq(got->meta[0].value, "en");
    as_article_free(got);

    snprintf(cmd, sizeof(cmd), "'%s' '%s'", CXX_HEADER_PATH, s.endpoint);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(fscanf(p, "%llu", &cxx_id), 1);
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_eq(as_get(c, cxx_id, 0, &got), AS_OK);
    ck_assert_str_eq(got->title, "Filled from C++");
    ck_assert_str_eq(got->tags[0], "C++");
    as_article_free(got);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* The event-loop example: watch_poll waits in poll() on as_watch_fd and
 * prints the changes made meanwhile. */
START_TEST(watch_poll_example)
{
    ts_server_t s;
    as_client_t *c;
    as_article_t a = { 0 };
    as_put_result_t r;
    char cmd[512], line[256], title[32];
    unsigned long long seq;
    FILE *p;
    int i;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &c), AS_OK);
    snprintf(cmd, sizeof(cmd), "'%s' '%s' 5", WATCH_POLL_PATH, s.endpoint);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    /* Some before it subscribes (caught up from the log), some after. */
    for (i = 0; i < 5; i++) {
        snprintf(title, sizeof(title), "Story %d", i);
        a.title = title;
        a.body = "body";
        ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &r), AS_OK);
        usleep(100000);
    }
    for (i = 0; i < 5; i++) {
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
        ck_assert_int_eq(sscanf(line, "%llu create", &seq), 1);
        ck_assert_uint_eq(seq, (unsigned long long)i + 1);
        snprintf(title, sizeof(title), "Story %d", i);
        ck_assert_msg(strstr(line, title) != NULL, "%s", line);
    }
    ck_assert_int_eq(pclose(p), 0);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* The library names every code as the wire does (the names come from
 * artstore.proto, shared with the server) and describes each. */
/* Display forms through the library: get, list_tags and a watch's initial
 * snapshot (filtered on the folded key) show the forms as written. */
START_TEST(display_forms_in_the_library)
{
    static const char *const t1[] = { "Straße", "EU" };
    static const char *const t2[] = { "STRASSE" };
    static const char *const want[] = { "strasse" };
    as_article_t a;
    as_put_result_t r;
    as_article_t *got;
    as_tag_list_t *l;
    as_tags_spec_t spec;
    as_watch_opts_t wo;
    as_watch_t *w;
    as_change_t *ch;
    as_client_t *c;
    ts_server_t s;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &c), AS_OK);
    memset(&a, 0, sizeof(a));
    a.url = "https://f.example/1";
    a.title = "One";
    a.source = "Coastal Times";
    a.tags = t1;
    a.n_tags = 2;
    ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &r), AS_OK);
    a.url = "https://f.example/2";
    a.title = "Two";
    a.source = "coastal times";
    a.tags = t2;
    a.n_tags = 1;
    ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &r), AS_OK);

    ck_assert_int_eq(as_get(c, 1, 0, &got), AS_OK);
    ck_assert_str_eq(got->source, "Coastal Times");
    ck_assert_uint_eq(got->n_tags, 2);
    ck_assert_str_eq(got->tags[0], "EU");
    ck_assert_str_eq(got->tags[1], "Straße");
    as_article_free(got);
    ck_assert_int_eq(as_get(c, 2, 0, &got), AS_OK);
    ck_assert_str_eq(got->source, "coastal times");
    ck_assert_str_eq(got->tags[0], "STRASSE");
    as_article_free(got);

    memset(&spec, 0, sizeof(spec));
    spec.order = AS_TAGS_BY_NAME;
    ck_assert_int_eq(as_list_tags(c, &spec, &l), AS_OK);
    ck_assert_uint_eq(l->n_tags, 2);
    ck_assert_str_eq(l->tags[0].tag, "EU");
    ck_assert_str_eq(l->tags[1].tag, "Straße");
    ck_assert_uint_eq(l->tags[1].count, 2);
    as_tag_list_free(l);

    memset(&wo, 0, sizeof(wo));
    wo.all_of = want;
    wo.n_all_of = 1;
    wo.initial = 1;
    wo.source = "COASTAL TIMES";
    ck_assert_int_eq(as_watch_open(c, &wo, &w), AS_OK);
    ck_assert_int_eq(as_watch_next(w, 5000, &ch), AS_OK);
    ck_assert(ch->initial);
    ck_assert_str_eq(ch->source, "Coastal Times");
    ck_assert_str_eq(ch->tags[1], "Straße");
    as_change_free(ch);
    ck_assert_int_eq(as_watch_next(w, 5000, &ch), AS_OK);
    ck_assert_str_eq(ch->tags[0], "STRASSE");
    as_change_free(ch);
    as_watch_close(w);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

START_TEST(code_names_and_texts)
{
    int rc;

    ck_assert_str_eq(as_code_name(AS_OK), "OK");
    ck_assert_str_eq(as_code_name(AS_ENOT_FOUND), "NOT_FOUND");
    ck_assert_str_eq(as_code_name(AS_EUNAUTHENTICATED), "UNAUTHENTICATED");
    for (rc = 0; rc >= AS_EUNAUTHENTICATED; rc--) {
        ck_assert_msg(rc == AS_EUNKNOWN ||
                      strcmp(as_code_name(rc), "UNKNOWN") != 0,
                      "code %d has no name", rc);
        ck_assert_msg(rc == AS_EUNKNOWN ||
                      strcmp(as_strerror(rc), "unknown error") != 0,
                      "code %d has no text", rc);
    }
    ck_assert_str_eq(as_code_name(AS_EUNAUTHENTICATED - 1), "UNKNOWN");
    ck_assert_str_eq(as_code_name(1), "UNKNOWN");
    ck_assert_str_eq(as_strerror(AS_EUNAUTHENTICATED - 1), "unknown error");
}
END_TEST

/* as_put, as_put_batch and the filters of Query, ListStories and watch
 * apply one pointer rule: a NULL array with a count, or a NULL string in
 * an array, is refused before sending (put used to drop tags == NULL with
 * n_tags = 3 silently; a watch did not look inside its lists), and
 * nothing is stored. */
START_TEST(put_and_batch_check_pointers_alike)
{
    static const char *const holes[] = { "a", NULL };
    static const as_meta_t bad_meta[] = { { "k", NULL } };
    ts_server_t s;
    as_client_t *c;
    as_article_t a = { 0 }, two[2];
    as_put_result_t r, rs[2];
    as_ping_info_t info;
    int i;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &c), AS_OK);
    for (i = 0; i < 5; i++) {
        memset(&a, 0, sizeof(a));
        a.title = "Pointer rules";
        a.body = "body";
        switch (i) {
        case 0: a.n_tags = 3; break;
        case 1: a.tags = holes; a.n_tags = 2; break;
        case 2: a.n_authors = 1; break;
        case 3: a.n_meta = 2; break;
        case 4: a.meta = bad_meta; a.n_meta = 1; break;
        }
        ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &r), AS_EINVALID_ARGUMENT);
        ck_assert_msg(strstr(as_client_errmsg(c),
                             i == 0 ? "tags is NULL with n_tags=3"
                             : i == 1 ? "tags[1] is NULL"
                             : i == 2 ? "authors is NULL with n_authors=1"
                             : i == 3 ? "meta is NULL with n_meta=2"
                                      : "meta[0] has a NULL key") != NULL,
                      "put %d: %s", i, as_client_errmsg(c));
        memset(two, 0, sizeof(two));
        two[0].title = "Fine";
        two[0].body = "body";
        two[1] = a;
        ck_assert_int_eq(as_put_batch(c, two, 2, NULL, rs),
                         AS_EINVALID_ARGUMENT);
        ck_assert_msg(strstr(rs[0].message, "arts[1]: ") != NULL &&
                      strstr(rs[0].message, i == 0 ? "n_tags=3"
                                            : i == 1 ? "tags[1]"
                                            : i == 2 ? "n_authors=1"
                                            : i == 3 ? "n_meta=2"
                                                     : "meta[0]") != NULL,
                      "batch %d: %s", i, rs[0].message);
    }
    /* The filters of Query, ListStories and a watch: the same rule, the
     * same words (one mapping to the wire). */
    {
        static const char *const one_hole[] = { NULL };
        as_query_spec_t q = { 0 };
        as_stories_spec_t sp = { 0 };
        as_watch_opts_t wo = { 0 };
        as_query_result_t *qr = NULL;
        as_story_list_t *sl = NULL;
        as_watch_t *w = NULL;

        q.n_any_of = 2;
        ck_assert_int_eq(as_query(c, &q, &qr), AS_EINVALID_ARGUMENT);
        ck_assert_str_eq(as_client_errmsg(c), "any_of is NULL with n_any_of=2");
        sp.none_of = one_hole;
        sp.n_none_of = 1;
        ck_assert_int_eq(as_list_stories(c, &sp, &sl), AS_EINVALID_ARGUMENT);
        ck_assert_str_eq(as_client_errmsg(c), "none_of[0] is NULL");
        wo.n_all_of = 2;
        ck_assert_int_eq(as_watch_open(c, &wo, &w), AS_EINVALID_ARGUMENT);
        ck_assert_str_eq(as_client_errmsg(c), "all_of is NULL with n_all_of=2");
        wo.all_of = one_hole;
        wo.n_all_of = 1;
        ck_assert_int_eq(as_watch_open(c, &wo, &w), AS_EINVALID_ARGUMENT);
        ck_assert_str_eq(as_client_errmsg(c), "all_of[0] is NULL");
        ck_assert_ptr_null(w);
    }
    /* Nothing reached the store, not even the batches' good articles. */
    ck_assert_int_eq(as_ping(c, &info), AS_OK);
    ck_assert_uint_eq(info.last_seq, 0);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("down");

    tcase_add_test(tc, refused_tcp_fails_at_once);
    tcase_add_test(tc, refused_ipc_fails_at_once);
    tcase_add_test(tc, refused_then_server_comes_up);
    tcase_add_test(tc, call_after_server_restart);
    tcase_add_test(tc, call_after_server_killed_and_restarted);
    tcase_add_test(tc, peer_not_speaking_sp_fails_at_once);
    tcase_add_test(tc, late_reply_to_an_abandoned_call);
    tcase_add_test(tc, article_from_literals);
    tcase_add_test(tc, watch_poll_example);
    tcase_add_test(tc, code_names_and_texts);
    tcase_add_test(tc, display_forms_in_the_library);
    tcase_add_test(tc, put_and_batch_check_pointers_alike);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(client_suite());
}
