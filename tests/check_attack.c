/*
 * check_attack.c - the attacks of a hostile client and a careless operator,
 * run against a real artstored. Each test reproduces one hole that was
 * found by attacking the server and checks that it stays closed: wire
 * input is sent raw (rawreq.c), the rest goes through the client library
 * and the CLI.
 */
#define _GNU_SOURCE             /* memmem */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "noise.h"
#include "rawreq.h"
#include "status.h"
#include "testutil.h"

#define WTOKEN "w-attack-5b4a39281706f5e4d3c2b1a0"
#define RTOKEN "r-attack-60718293a4b5c6d7e8f90a1b"

static ts_server_t s;
static as_client_t *cl;
static int running;
static char token_dir[64];
static char mnt_dir[64];         /* a tmpfs the test mounted, or "" */

/* The checked teardown: stops the test's server and removes its files. */
static void stop_server(void)
{
    as_client_close(cl);
    cl = NULL;
    if (running)
        ts_cleanup(&s);
    running = 0;
    if (token_dir[0] != '\0') {
        ts_tempdir_remove(token_dir);
        token_dir[0] = '\0';
    }
    ts_tmpfs_remove(mnt_dir);
}

/* Writes a token file (one write, one read token) in a temp dir of its
 * own and returns its path (static storage). */
static const char *token_file(void)
{
    static char path[128];
    FILE *f;

    ck_assert_int_eq(ts_tempdir(token_dir, sizeof(token_dir)), 0);
    snprintf(path, sizeof(path), "%s/tokens", token_dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "write %s\nread %s\n", WTOKEN, RTOKEN);
    fclose(f);
    return path;
}

static void start_server(const char *const *extra)
{
    ck_assert_int_eq(ts_start(&s, extra), 0);
    running = 1;
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &cl), AS_OK);
}

/* Packs an envelope for method around payload bytes into *out (malloc). */
static size_t envelope(const char *method, const char *token,
                       const void *payload, size_t plen, uint8_t **out)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    char path[128];
    size_t len;

    snprintf(path, sizeof(path), "/artstore.v1.ArticleStore/%s", method);
    env.method = path;
    env.auth_token = (char *)token;
    env.has_call_id = 1;
    env.call_id = 99;
    env.has_payload = payload != NULL;
    env.payload.data = (uint8_t *)payload;
    env.payload.len = plen;
    len = artstore__v1__request__get_packed_size(&env);
    *out = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(*out);
    artstore__v1__request__pack(&env, *out);
    return len;
}

/* Packs msg, turns every 0x7f byte of it into a NUL (the marker stands
 * for the NUL in strings that protobuf-c cannot pack), wraps it for
 * method and sends it. */
static Artstore__V1__Reply *send_with_nul(const char *method,
                                          const ProtobufCMessage *msg)
{
    size_t plen = protobuf_c_message_get_packed_size(msg), len, i;
    uint8_t *payload = malloc(plen ? plen : 1), *env;
    Artstore__V1__Reply *r;

    ck_assert_ptr_nonnull(payload);
    protobuf_c_message_pack(msg, payload);
    for (i = 0; i < plen; i++)
        if (payload[i] == 0x7f)
            payload[i] = 0;
    len = envelope(method, NULL, payload, plen, &env);
    r = raw_send(s.endpoint, env, len, 5000);
    free(env);
    free(payload);
    return r;
}

static void expect_nul_refused(Artstore__V1__Reply *r, const char *what,
                               const char *field)
{
    ck_assert_msg(raw_code(r) == AS_CODE_INVALID_ARGUMENT,
                  "%s: code %d (%s)", what, raw_code(r), raw_msg(r));
    ck_assert_msg(strstr(raw_msg(r), field) != NULL &&
                  strstr(raw_msg(r), "NUL") != NULL,
                  "%s: message does not name %s: %s", what, field,
                  raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
}

/* ------------------------------------------------------------ 3: NUL */

/* A Put whose URL holds a NUL must not alias (and overwrite) the article
 * at the URL's prefix; every string field of every request is checked,
 * in nested messages and in the envelope too. */
START_TEST(nul_bytes_refused)
{
    as_article_t a = { .url = "https://nul.example/a", .title = "victim",
                       .body = "original" }, *got = NULL;
    as_put_result_t res;
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT;
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    Artstore__V1__QueryRequest q = ARTSTORE__V1__QUERY_REQUEST__INIT;
    Artstore__V1__Filter f = ARTSTORE__V1__FILTER__INIT;
    Artstore__V1__MetaEntry me = ARTSTORE__V1__META_ENTRY__INIT, *mep = &me;
    char *tags[] = { "ok", "bad\x7ftag" };
    uint8_t *env;
    size_t len;

    start_server(NULL);
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, &res), AS_OK);

    put.article = &art;
    art.url = "https://nul.example/a\x7f" "attacker";
    art.title = "attacker";
    art.body = "overwritten";
    expect_nul_refused(send_with_nul("Put", &put.base), "url", "url");

    art.url = "https://nul.example/b";
    art.title = "cut\x7fhere";
    expect_nul_refused(send_with_nul("Put", &put.base), "title", "title");
    art.title = "t";
    art.body = "body\x7fhidden";
    expect_nul_refused(send_with_nul("Put", &put.base), "body", "body");
    art.body = "b";
    art.tags = tags;
    art.n_tags = 2;
    expect_nul_refused(send_with_nul("Put", &put.base), "tag", "tags");
    art.n_tags = 0;
    me.key = "k";
    me.value = "v\x7fv";
    art.meta = &mep;
    art.n_meta = 1;
    expect_nul_refused(send_with_nul("Put", &put.base), "meta", "value");
    art.n_meta = 0;

    q.filter = &f;
    f.source = "src\x7fx";
    expect_nul_refused(send_with_nul("Query", &q.base), "filter", "source");

    /* The envelope: a token cut at a NUL could match a shorter token. */
    len = envelope("Ping", "tok\x7f", NULL, 0, &env);
    *(uint8_t *)memchr(env, 0x7f, len) = 0;
    expect_nul_refused(raw_send(s.endpoint, env, len, 5000), "auth_token",
                       "auth_token");
    free(env);

    /* Nothing was written. */
    ck_assert_int_eq(as_get_by_url(cl, "https://nul.example/a", 0, &got),
                     AS_OK);
    ck_assert_str_eq(got->title, "victim");
    ck_assert_str_eq(got->body, "original");
    ck_assert_uint_eq(got->revision, res.revision);
    as_article_free(got);
    ck_assert_int_eq(as_get_by_url(cl, "https://nul.example/b", 0, &got),
                     AS_ENOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------ 4: CAS */

#define RMW_THREADS 4
#define RMW_WINS 40

typedef struct rmw {
    const char *endpoint;
    int wins, stale, errors;
} rmw_t;

/* Read-modify-write increments of the counter in the article's body,
 * each conditional on the revision read, until RMW_WINS succeed. */
static void *rmw_main(void *arg)
{
    rmw_t *w = arg;
    as_client_t *c;
    int tries;

    if (as_client_connect(w->endpoint, 5000, &c) != AS_OK) {
        w->errors++;
        return NULL;
    }
    for (tries = 0; w->wins < RMW_WINS && tries < 5000; tries++) {
        as_article_t *a = NULL, next = { 0 };
        as_put_result_t r;
        char body[32];
        int rc;

        if (as_get_by_url(c, "https://cas.example/counter", 0, &a) != AS_OK) {
            w->errors++;
            break;
        }
        snprintf(body, sizeof(body), "%ld", strtol(a->body, NULL, 10) + 1);
        next.url = a->url;
        next.title = a->title;
        next.body = body;
        rc = as_put(c, &next, a->revision, &r);
        if (rc == AS_OK && r.outcome == AS_PUT_UPDATED)
            w->wins++;
        else if (rc == AS_EFAILED_PRECONDITION)
            w->stale++;
        else
            w->errors++;
        as_article_free(a);
    }
    as_client_close(c);
    return NULL;
}

/* Concurrent read-modify-write: every stale put (equal content included)
 * is refused, so the counter equals the number of successes. */
START_TEST(cas_stale_refused)
{
    as_article_t a = { .url = "https://cas.example/counter", .title = "n",
                       .body = "0" }, *got = NULL;
    pthread_t th[RMW_THREADS];
    rmw_t w[RMW_THREADS];
    int i, wins = 0, stale = 0;

    start_server(NULL);
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, NULL), AS_OK);
    memset(w, 0, sizeof(w));
    for (i = 0; i < RMW_THREADS; i++) {
        w[i].endpoint = s.endpoint;
        ck_assert_int_eq(pthread_create(&th[i], NULL, rmw_main, &w[i]), 0);
    }
    for (i = 0; i < RMW_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].errors, 0);
        wins += w[i].wins;
        stale += w[i].stale;
    }
    ck_assert_int_eq(as_get_by_url(cl, a.url, 0, &got), AS_OK);
    fprintf(stderr, "cas: %d increments, %d stale puts refused, counter %s\n",
            wins, stale, got->body);
    ck_assert_int_eq(strtol(got->body, NULL, 10), wins);
    as_article_free(got);
}
END_TEST

/* The same Put sent twice (as nanomsg resends it: the same bytes, so the
 * same request id) is answered OK with the revision it made, also after a
 * restart; the same content under a stale condition without that id is
 * FAILED_PRECONDITION. */
START_TEST(cas_resend_by_request_id)
{
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT;
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    Artstore__V1__PutResponse *pr;
    Artstore__V1__Reply *r;
    as_put_result_t res;
    as_article_t a = { .url = "https://cas.example/r", .title = "v1" };
    uint8_t rid[] = "resend-0001";
    uint64_t rev;
    int round;

    start_server(NULL);
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, &res), AS_OK);
    rev = res.revision;
    put.article = &art;
    art.url = (char *)a.url;
    art.title = "v2";
    put.has_expected_revision = 1;
    put.expected_revision = rev;
    put.has_request_id = 1;
    put.request_id.data = rid;
    put.request_id.len = sizeof(rid) - 1;
    for (round = 0; round < 3; round++) {
        if (round == 2) {
            ck_assert_int_eq(ts_stop(&s), 0);
            ck_assert_int_eq(ts_restart(&s), 0);
            as_client_close(cl);
            ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &cl), AS_OK);
        }
        r = raw_call(s.endpoint, "Put", &put.base, NULL, 0, 0);
        ck_assert_msg(raw_code(r) == 0, "round %d: %d %s", round, raw_code(r),
                      raw_msg(r));
        pr = artstore__v1__put_response__unpack(NULL, r->payload.len,
                                                r->payload.data);
        ck_assert_ptr_nonnull(pr);
        ck_assert_uint_eq(pr->revision, rev + 1);
        ck_assert_int_eq(pr->outcome, ARTSTORE__V1__PUT_OUTCOME__PUT_UPDATED);
        artstore__v1__put_response__free_unpacked(pr, NULL);
        artstore__v1__reply__free_unpacked(r, NULL);
    }
    /* Equal content, stale condition, not a resend: refused. */
    put.has_request_id = 0;
    r = raw_call(s.endpoint, "Put", &put.base, NULL, 0, 0);
    ck_assert_msg(raw_code(r) == AS_CODE_FAILED_PRECONDITION, "%d %s",
                  raw_code(r), raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    /* The library's own calls: a stale create-only put of equal content. */
    a.title = "v2";
    ck_assert_int_eq(as_put(cl, &a, 0, &res), AS_EFAILED_PRECONDITION);
    ck_assert_int_eq(as_put(cl, &a, rev, &res), AS_EFAILED_PRECONDITION);
    ck_assert_int_eq(as_put(cl, &a, rev + 1, &res), AS_OK);
    ck_assert_int_eq(res.outcome, AS_PUT_UNCHANGED);
}
END_TEST

/* ------------------------------------------------------------ 2: replies */

#define BIG_N 40

/* Unpacks an OK reply's payload as desc, or fails the test. */
static ProtobufCMessage *payload_of(Artstore__V1__Reply *r,
                                    const ProtobufCMessageDescriptor *desc,
                                    const char *what)
{
    ProtobufCMessage *m;

    ck_assert_msg(raw_code(r) == 0, "%s: %d %s", what, raw_code(r),
                  raw_msg(r));
    m = protobuf_c_message_unpack(desc, NULL, r->payload.len,
                                  r->payload.data);
    ck_assert_msg(m != NULL, "%s: bad payload", what);
    return m;
}

/* Every reply is bounded by --max-reply-bytes: a Get of one id repeated
 * 1,000 times answers it once; a Get over the bound is refused by name;
 * Query with bodies and Changes cut their pages short and go on. */
START_TEST(replies_bounded)
{
    const char *args[] = { "--max-reply-bytes", "64K", NULL };
    char *body = malloc(20001), title[4001], url[64];
    Artstore__V1__GetRequest g = ARTSTORE__V1__GET_REQUEST__INIT;
    Artstore__V1__QueryRequest q = ARTSTORE__V1__QUERY_REQUEST__INIT;
    Artstore__V1__ChangesRequest ch = ARTSTORE__V1__CHANGES_REQUEST__INIT;
    Artstore__V1__GetResponse *gr;
    Artstore__V1__QueryResponse *qr;
    Artstore__V1__ChangesResponse *cr;
    Artstore__V1__Reply *r;
    uint64_t ids[1000], seen[BIG_N + 1];
    size_t i, n_seen = 0, pages = 0;
    uint8_t cursor[64];
    uint64_t since = 0;

    start_server(args);
    ck_assert_ptr_nonnull(body);
    memset(body, 'b', 20000);
    body[20000] = '\0';
    memset(title, 't', 4000);
    title[4000] = '\0';
    for (i = 0; i < BIG_N; i++) {
        as_article_t a = { .url = url, .title = title, .body = body };
        as_put_result_t res;

        snprintf(url, sizeof(url), "https://big.example/%zu", i);
        ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, &res), AS_OK);
        ids[i] = res.id;
    }

    /* 1,000 times the same id: one article in the reply. */
    for (i = 0; i < 1000; i++)
        ids[i] = ids[0];
    g.ids = ids;
    g.n_ids = 1000;
    r = raw_call(s.endpoint, "Get", &g.base, NULL, 0, 0);
    ck_assert_msg(r != NULL && r->payload.len < 64 * 1024,
                  "reply of %zu bytes", r ? r->payload.len : 0);
    gr = (Artstore__V1__GetResponse *)payload_of(
        r, &artstore__v1__get_response__descriptor, "Get repeated");
    ck_assert_uint_eq(gr->n_articles, 1);
    artstore__v1__get_response__free_unpacked(gr, NULL);
    artstore__v1__reply__free_unpacked(r, NULL);
    {
        /* The library still fills every slot that asked for the id. */
        as_article_t **v = NULL;

        ck_assert_int_eq(as_get_many(cl, ids, 3, 1, &v), AS_OK);
        ck_assert(v[0] != NULL && v[1] != NULL && v[2] != NULL);
        ck_assert_uint_eq(v[2]->id, ids[0]);
        as_articles_free(v, 3);
    }

    /* Distinct ids over the bound: refused, naming it. */
    for (i = 0; i < BIG_N; i++)
        ids[i] = i + 1;
    g.n_ids = BIG_N;
    r = raw_call(s.endpoint, "Get", &g.base, NULL, 0, 0);
    ck_assert_msg(raw_code(r) == AS_CODE_RESOURCE_EXHAUSTED &&
                  strstr(raw_msg(r), "max_reply_bytes") != NULL,
                  "Get over the bound: %d %s", raw_code(r), raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);

    /* Query with bodies: short pages, each article exactly once. */
    q.has_limit = 1;
    q.limit = BIG_N;
    for (;;) {
        r = raw_call(s.endpoint, "Query", &q.base, NULL, 0, 0);
        ck_assert_msg(r != NULL && r->payload.len <= 64 * 1024,
                      "Query reply of %zu bytes", r ? r->payload.len : 0);
        qr = (Artstore__V1__QueryResponse *)payload_of(
            r, &artstore__v1__query_response__descriptor, "Query");
        ck_assert_uint_gt(qr->n_articles, 0);
        for (i = 0; i < qr->n_articles; i++) {
            ck_assert_ptr_nonnull(qr->articles[i]->body);
            ck_assert_uint_lt(n_seen, BIG_N);
            seen[n_seen++] = qr->articles[i]->id;
        }
        pages++;
        if (!qr->has_next_cursor) {
            artstore__v1__query_response__free_unpacked(qr, NULL);
            artstore__v1__reply__free_unpacked(r, NULL);
            break;
        }
        ck_assert_uint_le(qr->next_cursor.len, sizeof(cursor));
        memcpy(cursor, qr->next_cursor.data, qr->next_cursor.len);
        q.has_cursor = 1;
        q.cursor.data = cursor;
        q.cursor.len = qr->next_cursor.len;
        artstore__v1__query_response__free_unpacked(qr, NULL);
        artstore__v1__reply__free_unpacked(r, NULL);
        ck_assert_uint_lt(pages, 100);
    }
    ck_assert_uint_eq(n_seen, BIG_N);
    ck_assert_uint_gt(pages, 1);
    for (i = 1; i < n_seen; i++)
        ck_assert_uint_ne(seen[i], seen[i - 1]);

    /* Changes: short pages too, next_since going on to the end. */
    pages = 0;
    n_seen = 0;
    ch.has_limit = 1;
    ch.limit = 1000;
    do {
        ch.has_since = 1;
        ch.since = since;
        r = raw_call(s.endpoint, "Changes", &ch.base, NULL, 0, 0);
        ck_assert_msg(r != NULL && r->payload.len <= 64 * 1024,
                      "Changes reply of %zu bytes", r ? r->payload.len : 0);
        cr = (Artstore__V1__ChangesResponse *)payload_of(
            r, &artstore__v1__changes_response__descriptor, "Changes");
        n_seen += cr->n_events;
        ck_assert_uint_gt(cr->next_since, since);
        since = cr->next_since;
        pages++;
        artstore__v1__changes_response__free_unpacked(cr, NULL);
        artstore__v1__reply__free_unpacked(r, NULL);
    } while (since < BIG_N && pages < 100);
    ck_assert_uint_eq(n_seen, BIG_N);
    ck_assert_uint_gt(pages, 1);

    /* Changes since 2^64-1 does not wrap into "older than the log" (item
     * 7): it is beyond the last seq, which the error names. */
    ch.since = UINT64_MAX;
    r = raw_call(s.endpoint, "Changes", &ch.base, NULL, 0, 0);
    ck_assert_msg(raw_code(r) == AS_CODE_OUT_OF_RANGE &&
                  strstr(raw_msg(r), "beyond the last seq=") != NULL,
                  "since=2^64-1: %d %s", raw_code(r), raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    free(body);
}
END_TEST

/* ------------------------------------------------------------ 1: feed */

/* With tokens on, a subscriber without one sees only positions ('P' and
 * a seq) on the feed, never a title; a watch with a read token still gets
 * every event, read through Changes. */
START_TEST(feed_needs_token)
{
    const char *args[] = { "--auth-token-file", token_file(), NULL };
    const char *secret = "SECRET-TITLE-7d1f";
    char feed[160];
    as_article_t a = { .url = "https://feed.example/1",
                       .title = (char *)secret };
    as_put_result_t res;
    as_client_t *reader;
    as_watch_opts_t o = { 0 };
    as_watch_t *w;
    as_change_t *ch = NULL;
    int sub, tmo = 200, frames = 0, tries, reached = 0;

    start_server(args);
    ck_assert_int_eq(as_client_set_token(cl, WTOKEN), AS_OK);
    snprintf(feed, sizeof(feed), "%s.feed", s.endpoint);
    ck_assert_int_ge(sub = nn_socket(AF_SP, NN_SUB), 0);
    nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0);
    nn_setsockopt(sub, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
    ck_assert_int_ge(nn_connect(sub, feed), 0);
    usleep(300000);    /* PUB drops frames for a subscriber not yet there */
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, &res), AS_OK);
    for (tries = 0; tries < 30 && !reached; tries++) {
        void *msg = NULL;
        int n = nn_recv(sub, &msg, NN_MSG, 0);
        const unsigned char *b = msg;
        uint64_t seq = 0;
        int i;

        if (n < 0)
            continue;
        frames++;
        ck_assert_msg(memmem(b, (size_t)n, secret, strlen(secret)) == NULL,
                      "the feed leaked the title to a subscriber without "
                      "a token (frame '%c', %d bytes)", b[0], n);
        ck_assert_msg(b[0] == 'P' && n == 9, "frame '%c' of %d bytes on a "
                      "feed that wants tokens", b[0], n);
        for (i = 1; i < 9; i++)
            seq = seq << 8 | b[i];
        reached = seq >= res.revision;
        nn_freemsg(msg);
    }
    nn_close(sub);
    ck_assert_msg(reached, "no position frame for seq %llu (%d frames)",
                  (unsigned long long)res.revision, frames);

    /* A reader with a token gets the event, title and all. */
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &reader), AS_OK);
    ck_assert_int_eq(as_client_set_token(reader, RTOKEN), AS_OK);
    o.has_since = 1;
    o.since = 0;
    ck_assert_int_eq(as_watch_open(reader, &o, &w), AS_OK);
    ck_assert_int_eq(as_watch_next(w, 5000, &ch), AS_OK);
    ck_assert_str_eq(ch->title, secret);
    as_change_free(ch);
    /* And a live one, after the watch has caught up. */
    a.url = "https://feed.example/2";
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, &res), AS_OK);
    ck_assert_int_eq(as_watch_next(w, 5000, &ch), AS_OK);
    ck_assert_uint_eq(ch->seq, res.revision);
    as_change_free(ch);
    as_watch_close(w);
    as_client_close(reader);
}
END_TEST

/* ------------------------------------------------------------ 5: files */

/* Runs a shell command line (bounded by `timeout`), its output in *out
 * (malloc). Returns the exit status, or 128 + the signal that killed it. */
static int run_cmd(const char *cmd, char **out)
{
    char line[1024], full[1200];
    size_t len = 0;
    FILE *p;
    int status;

    snprintf(full, sizeof(full), "timeout -s KILL 20 %s 2>&1", cmd);
    p = popen(full, "r");
    ck_assert_ptr_nonnull(p);
    *out = calloc(1, 1);
    while (fgets(line, sizeof(line), p) != NULL) {
        *out = realloc(*out, len + strlen(line) + 1);
        memcpy(*out + len, line, strlen(line) + 1);
        len += strlen(line);
    }
    status = pclose(p);
    /* The shell reports a child killed by a signal as 128 + signal. */
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int exists(const char *dir, const char *name)
{
    char path[256];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

/* Fills the server with ~1 MB of articles. */
static void fill_and_stop(void)
{
    char url[64], body[3001];
    size_t i;

    memset(body, 'x', 3000);
    body[3000] = '\0';
    for (i = 0; i < 300; i++) {
        as_article_t a = { .url = url, .title = "t", .body = body };

        snprintf(url, sizeof(url), "https://trunc.example/%zu", i);
        ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, NULL), AS_OK);
    }
}

/* A store cut short is refused by the server and by --check with an
 * error naming both sizes, never a SIGBUS; --check creates no lock.mdb. */
START_TEST(truncated_store_refused)
{
    char trunc[128], cmd[512], *out = NULL;
    int rc;

    start_server(NULL);
    fill_and_stop();
    ck_assert_int_eq(ts_stop(&s), 0);
    snprintf(trunc, sizeof(trunc), "%s/trunc", s.dir);
    ck_assert_int_eq(mkdir(trunc, 0755), 0);
    snprintf(cmd, sizeof(cmd), "head -c 200000 %s/data.mdb > %s/data.mdb",
             s.data, trunc);
    ck_assert_int_eq(system(cmd), 0);

    snprintf(cmd, sizeof(cmd), "%s --check --data %s", ts_artstored_path(),
             trunc);
    rc = run_cmd(cmd, &out);
    ck_assert_msg(rc == 1 && strstr(out, "truncated") != NULL,
                  "--check on a truncated store: exit %d: %s", rc, out);
    free(out);
    ck_assert_msg(!exists(trunc, "lock.mdb"), "--check created lock.mdb");

    snprintf(cmd, sizeof(cmd), "%s --data %s --listen ipc://%s/t.sock",
             ts_artstored_path(), trunc, s.dir);
    rc = run_cmd(cmd, &out);
    ck_assert_msg(rc > 0 && rc < 128 && strstr(out, "truncated") != NULL,
                  "server on a truncated store: exit %d: %s", rc, out);
    free(out);

    /* The whole store still checks fine, and the check leaves no lock. */
    snprintf(cmd, sizeof(cmd), "rm -f %s/lock.mdb && %s --check --data %s",
             s.data, ts_artstored_path(), s.data);
    rc = run_cmd(cmd, &out);
    ck_assert_msg(rc == 0, "--check on the whole store: exit %d: %s", rc, out);
    free(out);
    ck_assert_msg(!exists(s.data, "lock.mdb"), "--check created lock.mdb");
}
END_TEST

/* A backup appears as data.mdb only once complete; an interrupted one
 * (data.mdb.partial) is reported as such by --check and refused as a
 * store. */
START_TEST(backup_partial_reported)
{
    char dir[128], part[128], cmd[512], *out = NULL;
    as_backup_info_t info;
    int rc;

    start_server(NULL);
    fill_and_stop();
    snprintf(dir, sizeof(dir), "%s/bk", s.dir);
    ck_assert_int_eq(as_backup(cl, dir, 0, &info), AS_OK);
    ck_assert(exists(dir, "data.mdb"));
    ck_assert(!exists(dir, "data.mdb.partial"));

    /* What a kill -9 during the copy leaves. */
    snprintf(part, sizeof(part), "%s/bk2", s.dir);
    ck_assert_int_eq(mkdir(part, 0700), 0);
    snprintf(cmd, sizeof(cmd), "head -c 100000 %s/data.mdb > "
             "%s/data.mdb.partial", dir, part);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s --check --data %s", ts_artstored_path(),
             part);
    rc = run_cmd(cmd, &out);
    ck_assert_msg(rc == 1 && strstr(out, "incomplete backup") != NULL,
                  "--check on an interrupted backup: exit %d: %s", rc, out);
    free(out);
    snprintf(cmd, sizeof(cmd), "%s --data %s --listen ipc://%s/p.sock",
             ts_artstored_path(), part, s.dir);
    rc = run_cmd(cmd, &out);
    ck_assert_msg(rc > 0 && rc < 128 && strstr(out, "incomplete backup"),
                  "server on an interrupted backup: exit %d: %s", rc, out);
    free(out);
    ck_assert(!exists(part, "data.mdb"));
}
END_TEST

/* ------------------------------------------------------------ 7: holes */

/* A token longer than the server can compare is refused at load, naming
 * the line and the limit, instead of locking its owner out silently. */
START_TEST(long_token_refused)
{
    char dir[32], path[64], cmd[512], *out = NULL;
    FILE *f;
    int rc, i;

    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/tokens", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("read ", f);
    for (i = 0; i < 300; i++)
        fputc('a' + i % 26, f);
    fputc('\n', f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s --data %s/d --listen ipc://%s/s "
             "--auth-token-file %s", ts_artstored_path(), dir, dir, path);
    rc = run_cmd(cmd, &out);
    ck_assert_int_eq(ts_tempdir_remove(dir), 0);
    ck_assert_msg(rc > 0 && rc < 128 && strstr(out, ":1:") != NULL &&
                  strstr(out, "256") != NULL,
                  "server with a 300-byte token: exit %d: %s", rc, out);
    free(out);
}
END_TEST

/* 300 pipelined long-polls on one raw connection take at most a few
 * --max-watches slots: another client can still wait. */
START_TEST(watch_slots_per_connection)
{
    Artstore__V1__ChangesRequest ch = ARTSTORE__V1__CHANGES_REQUEST__INIT;
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    Artstore__V1__Reply *r;
    uint8_t payload[64], msg[256];
    size_t plen, elen;
    int sock, i, tmo = 2000;

    start_server(NULL);
    ch.has_wait_ms = 1;
    ch.wait_ms = 60000;
    plen = artstore__v1__changes_request__pack(&ch, payload);
    env.method = "/artstore.v1.ArticleStore/Changes";
    env.has_payload = 1;
    env.payload.data = payload;
    env.payload.len = plen;
    elen = artstore__v1__request__get_packed_size(&env);
    ck_assert_uint_lt(elen + 4, sizeof(msg));
    artstore__v1__request__pack(&env, msg + 4);
    /* A raw REQ socket sends without waiting for replies: the body starts
     * with the request id (top bit set), as the REQ protocol has it. */
    ck_assert_int_ge(sock = nn_socket(AF_SP_RAW, NN_REQ), 0);
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof(tmo));
    ck_assert_int_ge(nn_connect(sock, s.endpoint), 0);
    for (i = 0; i < 300; i++) {
        msg[0] = 0x80;
        msg[1] = 0;
        msg[2] = (uint8_t)(i >> 8);
        msg[3] = (uint8_t)i;
        ck_assert_int_eq(nn_send(sock, msg, elen + 4, 0), (int)(elen + 4));
    }
    usleep(500000);
    /* Another client's long-poll still gets a slot (OK after its wait, not
     * RESOURCE_EXHAUSTED at once). */
    ch.wait_ms = 200;
    r = raw_call(s.endpoint, "Changes", &ch.base, NULL, 0, 0);
    ck_assert_msg(raw_code(r) == 0, "a second client's wait: %d %s",
                  raw_code(r), raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    nn_close(sock);
}
END_TEST

/* `artstore backup --timeout 1s` against a server that never answers
 * gives up after about its timeout, not after 10 minutes. */
START_TEST(backup_honours_timeout)
{
    char ep[128], cmd[512], *out = NULL;
    int rep, rc;

    start_server(NULL);
    snprintf(ep, sizeof(ep), "ipc://%s/mute", s.dir);
    ck_assert_int_ge(rep = nn_socket(AF_SP, NN_REP), 0);
    ck_assert_int_ge(nn_bind(rep, ep), 0);
    snprintf(cmd, sizeof(cmd), "env ARTSTORE_SERVER=%s %s --timeout 1s backup "
             "%s/bk", ep, ts_cli_path(), s.dir);
    rc = run_cmd(cmd, &out);
    nn_close(rep);
    ck_assert_msg(rc == 3, "backup against a mute server: exit %d (137: "
                  "still waiting after 20 s): %s", rc, out);
    free(out);
}
END_TEST

/* ListTags with an order that is not a TagOrder; a published_at that no
 * RFC 3339 time can show. */
START_TEST(bad_enum_and_time_refused)
{
    Artstore__V1__ListTagsRequest lt = ARTSTORE__V1__LIST_TAGS_REQUEST__INIT;
    Artstore__V1__Reply *r;
    as_article_t a = { .url = "https://time.example/far", .title = "t",
                       .has_published_at = 1,
                       .published_at = 300000000000LL };

    start_server(NULL);
    lt.has_order = 1;
    lt.order = (Artstore__V1__TagOrder)99;
    r = raw_call(s.endpoint, "ListTags", &lt.base, NULL, 0, 0);
    ck_assert_msg(raw_code(r) == AS_CODE_INVALID_ARGUMENT &&
                  strstr(raw_msg(r), "order") != NULL, "order=99: %d %s",
                  raw_code(r), raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, NULL), AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(cl), "published_at") != NULL, "%s",
                  as_client_errmsg(cl));
    a.published_at = -62167219200LL;        /* 0000-01-01T00:00:00Z */
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, NULL), AS_OK);
}
END_TEST

/* ListTags by count used to read and sort every distinct tag on every
 * page (6.1M tags: 2.65 s a call, deadline or not). It now reads the page
 * from the count index: with a 1 ms budget, 40,002 distinct tags are
 * listed page by page, most used first, each exactly once, where every
 * call used to run out of its budget. */
#define TAGS_ARTICLES 800
#define TAGS_EACH 50
START_TEST(list_tags_by_count_indexed)
{
    const char *args[] = { "--query-budget-ms", "1", NULL };
    static char names[TAGS_ARTICLES][TAGS_EACH][16];
    static const char *tags[TAGS_ARTICLES][TAGS_EACH + 2];
    static char urls[TAGS_ARTICLES][48];
    static as_article_t arts[TAGS_ARTICLES];
    as_tags_spec_t spec = { NULL, AS_TAGS_BY_COUNT, 1000, NULL, 0 };
    as_tag_list_t *l = NULL;
    uint8_t *cursor = NULL;
    size_t total = 0, pages = 0, i, j, ones = 0;
    char last[16] = "";
    int rc;

    start_server(args);
    for (i = 0; i < TAGS_ARTICLES; i++) {
        for (j = 0; j < TAGS_EACH; j++) {
            snprintf(names[i][j], sizeof(names[i][j]), "t%06zu",
                     i * TAGS_EACH + j);
            tags[i][j] = names[i][j];
        }
        tags[i][TAGS_EACH] = "common";
        tags[i][TAGS_EACH + 1] = "mid";
        snprintf(urls[i], sizeof(urls[i]), "https://tags.example/%zu", i);
        memset(&arts[i], 0, sizeof(arts[i]));
        arts[i].url = urls[i];
        arts[i].title = "t";
        arts[i].tags = tags[i];
        arts[i].n_tags = TAGS_EACH + (i % 8 == 0 ? 2 : 1);
    }
    for (i = 0; i < TAGS_ARTICLES; i += 100) {
        static as_put_result_t res[100];

        rc = as_put_batch(cl, arts + i, 100, NULL, res);
        ck_assert_msg(rc == AS_OK, "batch: %d (%s)", rc,
                      as_client_errmsg(cl));
    }

    for (;;) {
        rc = as_list_tags(cl, &spec, &l);
        ck_assert_msg(rc == AS_OK, "page %zu: %d (%s)", pages, rc,
                      as_client_errmsg(cl));
        for (i = 0; i < l->n_tags; i++, total++) {
            if (total == 0) {
                ck_assert_str_eq(l->tags[i].tag, "common");
                ck_assert_uint_eq(l->tags[i].count, TAGS_ARTICLES);
            } else if (total == 1) {
                ck_assert_str_eq(l->tags[i].tag, "mid");
                ck_assert_uint_eq(l->tags[i].count, TAGS_ARTICLES / 8);
            } else {
                /* Then every tag of count 1, by name, once. */
                ck_assert_uint_eq(l->tags[i].count, 1);
                ck_assert_msg(strcmp(last, l->tags[i].tag) < 0,
                              "%s after %s", l->tags[i].tag, last);
                snprintf(last, sizeof(last), "%s", l->tags[i].tag);
                ones++;
            }
        }
        pages++;
        free(cursor);
        cursor = NULL;
        if (l->next_cursor == NULL) {
            as_tag_list_free(l);
            break;
        }
        cursor = malloc(l->next_cursor_len);
        ck_assert_ptr_nonnull(cursor);
        memcpy(cursor, l->next_cursor, l->next_cursor_len);
        spec.cursor = cursor;
        spec.cursor_len = l->next_cursor_len;
        as_tag_list_free(l);
        ck_assert_uint_lt(pages, 100);
    }
    ck_assert_uint_eq(ones, TAGS_ARTICLES * TAGS_EACH);
    ck_assert_uint_eq(total, TAGS_ARTICLES * TAGS_EACH + 2);
    fprintf(stderr, "list tags by count: %zu tags in %zu pages\n", total,
            pages);
}
END_TEST

/* ------------------------------------------------------------ 11: half-sent */

/* Connects a raw TCP socket to 127.0.0.1:port and does the SP handshake
 * of a REQ socket. Returns the descriptor. */
static int sp_connect(int port)
{
    unsigned char theirs[8];
    int fd = ts_sp_open(port, 0x30);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(recv(fd, theirs, 8, MSG_WAITALL), 8);
    ck_assert(theirs[1] == 'S' && theirs[5] == 0x31);
    return fd;
}

/* Sends a Ping as one SP message (length, REQ's request id, envelope) on
 * fd and reads its reply; returns nonzero when a reply came. */
static int sp_ping(int fd, uint32_t id)
{
    uint8_t *env, head[12], rhead[8];
    size_t len = envelope("Ping", NULL, NULL, 0, &env);
    uint64_t n = len + 4, rlen;
    struct pollfd p = { fd, POLLIN, 0 };
    char *body;
    int i, ok;

    for (i = 0; i < 8; i++)
        head[i] = (uint8_t)(n >> (56 - 8 * i));
    id |= 0x80000000u;
    for (i = 0; i < 4; i++)
        head[8 + i] = (uint8_t)(id >> (24 - 8 * i));
    ok = write(fd, head, 12) == 12 && write(fd, env, len) == (ssize_t)len;
    free(env);
    if (!ok || poll(&p, 1, 10000) != 1 ||
        recv(fd, rhead, 8, MSG_WAITALL) != 8)
        return 0;
    for (rlen = 0, i = 0; i < 8; i++)
        rlen = rlen << 8 | rhead[i];
    if (rlen < 4 || rlen > 65536 || (body = malloc(rlen)) == NULL)
        return 0;
    ok = recv(fd, body, rlen, MSG_WAITALL) == (ssize_t)rlen &&
         ((uint32_t)(uint8_t)body[0] << 24 | (uint32_t)(uint8_t)body[1] << 16 |
          (uint32_t)(uint8_t)body[2] << 8 | (uint32_t)(uint8_t)body[3]) == id;
    free(body);
    return ok;
}

/* A connection that sends 1 MiB of an 8 MiB request and stalls used to
 * hold it until it closed (60 of them held 700 MB). With --recv-stall-ms
 * the server drops it once it has sent nothing for that long; a
 * connection that went idle before it, after its request was answered,
 * is kept (it is older, so a rule that dropped idle connections would
 * have dropped it first). */
START_TEST(half_sent_request_dropped)
{
    char feed[128], cmd[256], line[32] = "";
    const char *args[] = { "--recv-stall-ms", "300", "--feed", feed, NULL };
    static char chunk[1 << 20];
    unsigned char head[12] = { 0, 0, 0, 0, 0, 0x80, 0, 4, 0x80, 0, 0, 7 };
    int port = ts_free_port(), idle, stalled, i, closed = 0;
    FILE *p;

    ck_assert_int_gt(port, 0);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(ts_tempdir(s.dir, sizeof(s.dir)), 0);
    snprintf(s.data, sizeof(s.data), "%s/data", s.dir);
    snprintf(s.endpoint, sizeof(s.endpoint), "tcp://127.0.0.1:%d", port);
    snprintf(s.log, sizeof(s.log), "%s/log", s.dir);
    snprintf(feed, sizeof(feed), "ipc://%s/feed", s.dir);
    for (i = 0; args[i] != NULL; i++)
        s.extra[i] = args[i];
    running = 1;
    ck_assert_int_eq(ts_restart(&s), 0);

    idle = sp_connect(port);
    ck_assert_msg(sp_ping(idle, 1), "no answer to a ping");
    stalled = sp_connect(port);
    /* 8 MiB announced (head: length 0x800004 with the request id), 1 MiB
     * sent. */
    ck_assert_int_eq(write(stalled, head, 12), 12);
    ck_assert_int_eq(write(stalled, chunk, sizeof(chunk)), sizeof(chunk));
    for (i = 0; i < 300 && !closed; i++) {
        struct pollfd pf = { stalled, POLLIN, 0 };
        char b;

        if (poll(&pf, 1, 100) == 1 && recv(stalled, &b, 1, 0) <= 0)
            closed = 1;
    }
    ck_assert_msg(closed, "a connection stalled half-sent for 30 s was kept");
    /* The idle one was not dropped: it answers on the same connection. */
    ck_assert_msg(sp_ping(idle, 2), "the idle connection was dropped");
    close(idle);
    close(stalled);
    snprintf(cmd, sizeof(cmd), "grep -c 'stalled half-sent' '%s'", s.log);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    if (fgets(line, sizeof(line), p) == NULL)
        line[0] = '\0';
    pclose(p);
    ck_assert_msg(atoi(line) == 1, "log lines about the drop: %s", line);
}
END_TEST

/* ------------------------------------------------------------ 6: disk full */

/* A write on a full disk is RESOURCE_EXHAUSTED naming the data directory
 * and its free space (it was INTERNAL "lmdb commit: Input/output error"),
 * changes nothing, reads go on, and writes resume once space is freed.
 * The store lives on a small tmpfs the test mounts itself. */
START_TEST(disk_full_named)
{
    char data[80], filler[128], *report = NULL, url[64];
    const char *args[] = { "--data", data, NULL };
    as_article_t a = { .url = "https://disk.example/first",
                       .title = "first", .body = "kept" }, *got = NULL;
    char *big = malloc(512 * 1024 + 1);
    as_stats_t *stats = NULL;
    struct stat sb;
    size_t filled;
    int rc, i;

    ck_assert_ptr_nonnull(big);
    /* The tmpfs goes away with the test's processes, also when a failed
     * assertion ends the test before its teardown. */
    if (ts_tmpfs_or_skip(mnt_dir, sizeof(mnt_dir), "16m",
                         "disk_full_named") != 0) {
        free(big);
        return;
    }
    snprintf(data, sizeof(data), "%s/data", mnt_dir);
    start_server(args);
    snprintf(s.data, sizeof(s.data), "%s", data);
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, NULL), AS_OK);

    /* LMDB's lock file is allocated, not sparse: a reader slot written on
     * a full disk would otherwise be a SIGBUS. */
    snprintf(filler, sizeof(filler), "%s/lock.mdb", data);
    ck_assert_int_eq(stat(filler, &sb), 0);
    ck_assert_msg((off_t)sb.st_blocks * 512 >= sb.st_size,
                  "lock.mdb: %lld bytes, %lld allocated",
                  (long long)sb.st_size, (long long)sb.st_blocks * 512);

    snprintf(filler, sizeof(filler), "%s/filler", mnt_dir);
    filled = ts_fill_disk(filler);
    ck_assert_uint_gt(filled, 256 * 1024);
    /* Noise: stored compressed, a body of one repeated byte would fit in
     * a page. */
    ts_noise(big, 512 * 1024, 1);
    /* Each put needs new pages (a 512 KB body, about 400 KB compressed),
     * so none fits in what
     * LMDB already holds. The first finds no byte free (ENOSPC); the next
     * ones find 64 KB, so that LMDB's write is cut short (which it
     * reports as EIO). */
    for (i = 0; i < 3; i++) {
        as_article_t b = { .url = url, .title = "big", .body = big };

        if (i > 0)
            ck_assert_int_eq(truncate(filler, (off_t)(filled -
                                      (size_t)i * 64 * 1024)), 0);
        snprintf(url, sizeof(url), "https://disk.example/big%d", i);
        rc = as_put(cl, &b, AS_REV_ANY, NULL);
        ck_assert_msg(rc == AS_ERESOURCE_EXHAUSTED,
                      "put on a full disk: %d (%s)", rc,
                      as_client_errmsg(cl));
        ck_assert_msg(strstr(as_client_errmsg(cl), "disk full") != NULL &&
                      strstr(as_client_errmsg(cl), data) != NULL &&
                      strstr(as_client_errmsg(cl), "bytes free") != NULL,
                      "message does not name the disk: %s",
                      as_client_errmsg(cl));
        fprintf(stderr, "%s\n", as_client_errmsg(cl));
    }
    /* Reads go on, and nothing was written. */
    ck_assert_int_eq(as_ping(cl, NULL), AS_OK);
    ck_assert_int_eq(as_get_by_url(cl, "https://disk.example/first", 0,
                                   &got), AS_OK);
    ck_assert_str_eq(got->body, "kept");
    as_article_free(got);
    ck_assert_int_eq(as_get_by_url(cl, "https://disk.example/big0", 0,
                                   &got), AS_ENOT_FOUND);
    ck_assert_int_eq(as_stats(cl, &stats), AS_OK);
    ck_assert_uint_eq(stats->articles, 1);
    ck_assert_uint_eq(stats->last_seq, 1);
    as_stats_free(stats);

    /* Space freed: writes resume, without a restart. */
    ck_assert_int_eq(unlink(filler), 0);
    {
        as_article_t b = { .url = "https://disk.example/big0",
                           .title = "big", .body = big };

        rc = as_put(cl, &b, AS_REV_ANY, NULL);
        ck_assert_msg(rc == AS_OK, "put after space was freed: %d (%s)", rc,
                      as_client_errmsg(cl));
    }
    ck_assert_int_eq(ts_stop(&s), 0);
    rc = ts_verify(&s, &report);
    ck_assert_msg(rc == 0, "--check after a full disk: %s", report);
    ck_assert_ptr_nonnull(strstr(report, "2 articles"));
    free(report);
    free(big);
}
END_TEST

/* ------------------------------------------------------------ 8, 9: cost */

#define COST_N 20000

/* Stores COST_N small articles, all tagged "all", in batches. */
static void fill_cost(void)
{
    static as_article_t arts[1000];
    static char urls[1000][48];
    static const char *tags[] = { "all" };
    as_put_result_t *res = calloc(1000, sizeof(*res));
    size_t b, i;

    ck_assert_ptr_nonnull(res);
    for (b = 0; b < COST_N / 1000; b++) {
        for (i = 0; i < 1000; i++) {
            snprintf(urls[i], sizeof(urls[i]), "https://cost.example/%zu",
                     b * 1000 + i);
            memset(&arts[i], 0, sizeof(arts[i]));
            arts[i].url = urls[i];
            arts[i].title = "t";
            arts[i].tags = tags;
            arts[i].n_tags = 1;
            arts[i].has_published_at = 1;
            arts[i].published_at = 1700000000 + (int64_t)(b * 1000 + i);
        }
        ck_assert_int_eq(as_put_batch(cl, arts, 1000, NULL, res), AS_OK);
    }
    free(res);
}

/* The costly query of the attack: none_of 63 absent tags and one tag
 * every article has, so that it walks every article and matches none. */
static void costly_filter(Artstore__V1__Filter *f, char **tags)
{
    static char names[63][16];
    size_t i;

    for (i = 0; i < 63; i++) {
        snprintf(names[i], sizeof(names[i]), "rare%zu", i);
        tags[i] = names[i];
    }
    tags[63] = "all";
    f->none_of = tags;
    f->n_none_of = 64;
}

/* Without a deadline, the costly query is bounded by the server's budget:
 * it answers short (even empty) pages with a cursor, and walking them
 * finds exactly what there is (here the 20 untagged articles hidden among
 * 20,000 tagged "all"). */
START_TEST(query_budget_pages)
{
    const char *args[] = { "--query-budget-ms", "1", NULL };
    Artstore__V1__QueryRequest q = ARTSTORE__V1__QUERY_REQUEST__INIT;
    Artstore__V1__Filter f = ARTSTORE__V1__FILTER__INIT;
    Artstore__V1__QueryResponse *qr;
    Artstore__V1__Reply *r;
    char *tags[64];
    uint8_t cursor[64];
    size_t pages = 0, found = 0;

    size_t i;

    start_server(args);
    fill_cost();
    for (i = 0; i < 20; i++) {
        char url[64];
        as_article_t a = { .url = url, .title = "untagged",
                           .has_published_at = 1,
                           .published_at = 1700000000 + (int64_t)i * 1000 +
                                           500 };

        snprintf(url, sizeof(url), "https://cost.example/untagged/%zu", i);
        ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, NULL), AS_OK);
    }
    costly_filter(&f, tags);
    q.filter = &f;
    q.has_limit = 1;
    q.limit = 1000;
    q.has_omit_body = q.omit_body = 1;
    for (;;) {
        r = raw_call(s.endpoint, "Query", &q.base, NULL, 0, 0);
        qr = (Artstore__V1__QueryResponse *)payload_of(
            r, &artstore__v1__query_response__descriptor, "Query");
        found += qr->n_articles;
        pages++;
        if (!qr->has_next_cursor) {
            artstore__v1__query_response__free_unpacked(qr, NULL);
            artstore__v1__reply__free_unpacked(r, NULL);
            break;
        }
        memcpy(cursor, qr->next_cursor.data, qr->next_cursor.len);
        q.has_cursor = 1;
        q.cursor.data = cursor;
        q.cursor.len = qr->next_cursor.len;
        artstore__v1__query_response__free_unpacked(qr, NULL);
        artstore__v1__reply__free_unpacked(r, NULL);
        ck_assert_uint_lt(pages, 5000);
    }
    ck_assert_uint_eq(found, 20);
    ck_assert_uint_gt(pages, 1);
    /* count_total cannot be had within the budget: a named error. */
    q.has_cursor = 0;
    q.has_count_total = q.count_total = 1;
    r = raw_call(s.endpoint, "Query", &q.base, NULL, 0, 0);
    ck_assert_msg(raw_code(r) == 0 ||
                  (raw_code(r) == AS_CODE_RESOURCE_EXHAUSTED &&
                   strstr(raw_msg(r), "query_budget_ms") != NULL),
                  "count_total: %d %s", raw_code(r), raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    fprintf(stderr, "query budget 1 ms: %zu articles in %zu pages\n", found,
            pages);
}
END_TEST

typedef struct hammer {
    const char *endpoint;
    volatile int *stop;
    int done, refused;
} hammer_t;

/* Whether r refuses a long call, naming the limit. */
static int refused_long(const Artstore__V1__Reply *r)
{
    return raw_code(r) == AS_CODE_RESOURCE_EXHAUSTED &&
           strstr(raw_msg(r), "max_long_calls") != NULL;
}

/* Sends the costly query (no deadline) again and again. */
static void *hammer_main(void *arg)
{
    hammer_t *h = arg;
    Artstore__V1__QueryRequest q = ARTSTORE__V1__QUERY_REQUEST__INIT;
    Artstore__V1__Filter f = ARTSTORE__V1__FILTER__INIT;
    char *tags[64];

    costly_filter(&f, tags);
    q.filter = &f;
    q.has_count_total = q.count_total = 1;
    while (!*h->stop && h->done < 500) {
        Artstore__V1__Reply *r = raw_call(h->endpoint, "Query", &q.base,
                                          NULL, 0, 0);

        h->refused += refused_long(r);
        if (r != NULL)
            artstore__v1__reply__free_unpacked(r, NULL);
        h->done++;
    }
    return NULL;
}

/* Long calls beyond --max-long-calls are refused at once, naming the
 * limit, so that a worker stays free: Gets and Pings go on while clients
 * send costly queries back to back. Who is refused depends on timing (the
 * test's own queries may hold the one slot while both hammers are turned
 * away), so refusals are counted over all three. */
START_TEST(long_calls_leave_a_worker)
{
    const char *args[] = { "--workers", "2", "--query-budget-ms", "0", NULL };
    Artstore__V1__QueryRequest q = ARTSTORE__V1__QUERY_REQUEST__INIT;
    Artstore__V1__Filter f = ARTSTORE__V1__FILTER__INIT;
    volatile int stop = 0;
    hammer_t h[2];
    pthread_t th[2];
    char *tags[64];
    int i, refused = 0, pings = 0, tries;

    start_server(args);
    fill_cost();
    for (i = 0; i < 2; i++) {
        h[i].endpoint = s.endpoint;
        h[i].stop = &stop;
        h[i].done = h[i].refused = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
    }
    costly_filter(&f, tags);
    q.filter = &f;
    for (tries = 0; tries < 400 && (tries < 20 || refused + h[0].refused +
                                                  h[1].refused < 3);
         tries++) {
        Artstore__V1__Reply *r = raw_call(s.endpoint, "Query", &q.base,
                                          NULL, 0, 0);

        refused += refused_long(r);
        if (r != NULL)
            artstore__v1__reply__free_unpacked(r, NULL);
        /* A quick call always finds the free worker. */
        ck_assert_msg(as_ping(cl, NULL) == AS_OK, "Ping: %s",
                      as_client_errmsg(cl));
        pings++;
    }
    stop = 1;
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    fprintf(stderr, "long calls: %d of %d queries refused while %d+%d ran "
            "(%d+%d refused); %d pings answered\n", refused, tries,
            h[0].done, h[1].done, h[0].refused, h[1].refused, pings);
    ck_assert_msg(refused + h[0].refused + h[1].refused > 0,
                  "no query was refused in %d+%d+%d: the long calls are not "
                  "bounded", tries, h[0].done, h[1].done);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("attack");
    TCase *tc = tcase_create("attack");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, stop_server);
    tcase_add_test(tc, nul_bytes_refused);
    tcase_add_test(tc, cas_stale_refused);
    tcase_add_test(tc, cas_resend_by_request_id);
    tcase_add_test(tc, replies_bounded);
    tcase_add_test(tc, feed_needs_token);
    tcase_add_test(tc, truncated_store_refused);
    tcase_add_test(tc, backup_partial_reported);
    tcase_add_test(tc, long_token_refused);
    tcase_add_test(tc, watch_slots_per_connection);
    tcase_add_test(tc, backup_honours_timeout);
    tcase_add_test(tc, bad_enum_and_time_refused);
    tcase_add_test(tc, query_budget_pages);
    tcase_add_test(tc, long_calls_leave_a_worker);
    tcase_add_test(tc, disk_full_named);
    tcase_add_test(tc, list_tags_by_count_indexed);
    tcase_add_test(tc, half_sent_request_dropped);
    suite_add_tcase(su, tc);
    return as_check_run(su);
}
