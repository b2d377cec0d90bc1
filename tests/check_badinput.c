/*
 * check_badinput.c - malformed requests get an error status, never a
 * crash, a hang or a partial write, and the server keeps serving (a Ping
 * after each one). Each test counts the bad inputs it sent.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "rawreq.h"
#include "status.h"
#include "testutil.h"

static ts_server_t s;
static as_client_t *pinger;
static unsigned sent;

static void setup(void)
{
    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &pinger), AS_OK);
    sent = 0;
}

static void teardown(void)
{
    as_client_close(pinger);
    ts_cleanup(&s);
}

/* The server answered r with an error status and still answers Ping. */
static void expect_error(Artstore__V1__Reply *r, const char *what)
{
    sent++;
    ck_assert_msg(r != NULL, "%s: no reply", what);
    ck_assert_msg(raw_code(r) != 0, "%s: accepted", what);
    artstore__v1__reply__free_unpacked(r, NULL);
    ck_assert_msg(as_ping(pinger, NULL) == AS_OK, "%s: server stopped "
                  "serving: %s", what, as_client_errmsg(pinger));
}

/* Packs an envelope for method around payload bytes into *out (malloc). */
static size_t envelope(const char *method, const void *payload, size_t plen,
                       uint8_t **out)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    char path[128];
    size_t len;

    snprintf(path, sizeof(path), "/artstore.v1.ArticleStore/%s", method);
    env.method = path;
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

static void article_absent(const char *url)
{
    as_article_t *a = NULL;

    ck_assert_int_eq(as_get_by_url(pinger, url, 0, &a), AS_ENOT_FOUND);
}

START_TEST(random_bytes)
{
    unsigned seed = (unsigned)getpid();
    uint8_t buf[1024];
    int i;
    size_t j, len;

    for (i = 0; i < 300; i++) {
        len = 1 + (size_t)rand_r(&seed) % sizeof(buf);
        for (j = 0; j < len; j++)
            buf[j] = (uint8_t)rand_r(&seed);
        expect_error(raw_send(s.endpoint, buf, len, 5000), "random bytes");
    }
    fprintf(stderr, "random_bytes: %u bad inputs (seed %u)\n", sent,
            (unsigned)getpid());
}
END_TEST

START_TEST(wrong_messages)
{
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    Artstore__V1__PingResponse pr = ARTSTORE__V1__PING_RESPONSE__INIT;
    Artstore__V1__GetRequest get = ARTSTORE__V1__GET_REQUEST__INIT;
    uint8_t buf[512], *env;
    size_t len;
    static const uint8_t method_as_varint[] = { 0x08, 0x96, 0x01 };
    static const uint8_t bad_wire_type[] = { 0x0f, 0x01 };
    static const uint8_t bad_varint[] = { 0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    static const uint8_t huge_length[] = { 0x0a, 0xff, 0xff, 0xff, 0xff,
                                           0x0f };

    /* A valid Article where an envelope should be. */
    art.has_id = 1;
    art.id = 5;
    art.url = "https://bad.test/a";
    art.title = "t";
    len = artstore__v1__article__pack(&art, buf);
    expect_error(raw_send(s.endpoint, buf, len, 5000), "Article as envelope");
    /* An envelope whose payload is the wrong message for its method. */
    pr.version = "x";
    pr.has_last_seq = 1;
    pr.last_seq = 3;
    len = artstore__v1__ping_response__pack(&pr, buf);
    len = envelope("Put", buf, len, &env);
    expect_error(raw_send(s.endpoint, env, len, 5000), "PingResponse as Put");
    free(env);
    /* A Get with neither id nor url. */
    len = artstore__v1__get_request__pack(&get, buf);
    len = envelope("Get", buf, len, &env);
    expect_error(raw_send(s.endpoint, env, len, 5000), "empty Get");
    free(env);
    /* A Put without a payload. */
    len = envelope("Put", NULL, 0, &env);
    expect_error(raw_send(s.endpoint, env, len, 5000), "Put without payload");
    free(env);
    /* Unknown methods and paths. */
    expect_error(raw_call(s.endpoint, "Frobnicate", NULL, NULL, 0, 0),
                 "unknown method");
    expect_error(raw_call(s.endpoint, "/other.Service/Put", NULL, NULL, 0, 0),
                 "foreign service");
    expect_error(raw_call(s.endpoint, "/artstore.v1.ArticleStore/", NULL, NULL,
                          0, 0), "empty method name");
    /* An empty message decodes to an envelope without a method. */
    expect_error(raw_send(s.endpoint, "", 0, 5000), "empty message");
    /* Broken wire encodings. */
    expect_error(raw_send(s.endpoint, method_as_varint,
                          sizeof(method_as_varint), 5000), "method as varint");
    expect_error(raw_send(s.endpoint, bad_wire_type, sizeof(bad_wire_type),
                          5000), "bad wire type");
    expect_error(raw_send(s.endpoint, bad_varint, sizeof(bad_varint), 5000),
                 "overlong varint");
    expect_error(raw_send(s.endpoint, huge_length, sizeof(huge_length), 5000),
                 "length past the end");
    article_absent("https://bad.test/a");
    fprintf(stderr, "wrong_messages: %u bad inputs\n", sent);
}
END_TEST

START_TEST(invalid_utf8)
{
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT;
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    char *bad_tags[] = { "ok", "caf\xc3", "\xed\xa0\x80" /* surrogate */,
                         "\xc0\xaf" /* overlong '/' */, "\xff\xfe" };
    char *tag[1];
    size_t i;

    art.url = "https://bad.test/utf8";
    art.title = "t";
    put.article = &art;
    for (i = 1; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
        Artstore__V1__Reply *r;

        tag[0] = bad_tags[i];
        art.tags = tag;
        art.n_tags = 1;
        r = raw_call(s.endpoint, "Put", &put.base, NULL, 0, 0);
        ck_assert_int_eq(raw_code(r), AS_CODE_INVALID_ARGUMENT);
        ck_assert_msg(strstr(raw_msg(r), "UTF-8"), "%s", raw_msg(r));
        expect_error(r, "invalid UTF-8 tag");
    }
    art.tags = NULL;
    art.n_tags = 0;
    art.title = "caf\xc3";
    expect_error(raw_call(s.endpoint, "Put", &put.base, NULL, 0, 0),
                 "invalid UTF-8 title");
    article_absent("https://bad.test/utf8");
    fprintf(stderr, "invalid_utf8: %u bad inputs\n", sent);
}
END_TEST

START_TEST(truncated_envelopes)
{
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT;
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    uint8_t payload[512], *env;
    size_t plen, len, cut;

    art.url = "https://bad.test/truncated";
    art.title = "a title long enough to cut in many places";
    art.body = "body";
    put.article = &art;
    plen = artstore__v1__put_request__pack(&put, payload);
    len = envelope("Put", payload, plen, &env);
    /* Every proper prefix is malformed, or a Put without a valid article. */
    for (cut = 0; cut < len; cut++) {
        Artstore__V1__Reply *r = raw_send(s.endpoint, env, cut, 5000);

        ck_assert_msg(r != NULL && raw_code(r) != 0,
                      "prefix of %zu/%zu bytes accepted", cut, len);
        expect_error(r, "truncated envelope");
    }
    free(env);
    article_absent("https://bad.test/truncated");
    fprintf(stderr, "truncated_envelopes: %u bad inputs\n", sent);
}
END_TEST

START_TEST(huge_repeated_fields)
{
    Artstore__V1__GetRequest get = ARTSTORE__V1__GET_REQUEST__INIT;
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT;
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    size_t n = 100000, i, plen, len;
    uint64_t *ids = calloc(n, sizeof(uint64_t));
    char **tags = calloc(n, sizeof(char *));
    uint8_t *payload, *env;
    Artstore__V1__Reply *r;

    ck_assert_ptr_nonnull(ids);
    ck_assert_ptr_nonnull(tags);
    for (i = 0; i < n; i++) {
        ids[i] = i + 1;
        tags[i] = "t";
    }
    get.ids = ids;
    get.n_ids = n;
    r = raw_call(s.endpoint, "Get", &get.base, NULL, 0, 0);
    ck_assert_msg(strstr(raw_msg(r), "max_batch"), "%s", raw_msg(r));
    expect_error(r, "100k ids");

    art.url = "https://bad.test/many-tags";
    art.title = "t";
    art.tags = tags;
    art.n_tags = n;
    put.article = &art;
    r = raw_call(s.endpoint, "Put", &put.base, NULL, 0, 0);
    ck_assert_msg(strstr(raw_msg(r), "max_tags"), "%s", raw_msg(r));
    expect_error(r, "100k tags");

    /* 4 M empty batch items in 8 MiB: decoding them would take hundreds
     * of MB, over the per-request decode budget. */
    plen = (size_t)8 << 20;
    payload = malloc(plen);
    ck_assert_ptr_nonnull(payload);
    for (i = 0; i + 1 < plen; i += 2) {
        payload[i] = 0x0a;      /* field 1 (items), length-delimited */
        payload[i + 1] = 0x00;  /* empty PutRequest */
    }
    len = envelope("PutBatch", payload, plen, &env);
    r = raw_send(s.endpoint, env, len, 10000);
    ck_assert_msg(raw_code(r) == AS_CODE_RESOURCE_EXHAUSTED ||
                  raw_code(r) == AS_CODE_INVALID_ARGUMENT, "code %d: %s",
                  raw_code(r), raw_msg(r));
    expect_error(r, "4M empty batch items");
    free(env);
    free(payload);
    article_absent("https://bad.test/many-tags");
    free(ids);
    free(tags);
    fprintf(stderr, "huge_repeated_fields: %u bad inputs\n", sent);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("badinput");
    TCase *tc = tcase_create("badinput");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, random_bytes);
    tcase_add_test(tc, wrong_messages);
    tcase_add_test(tc, invalid_utf8);
    tcase_add_test(tc, truncated_envelopes);
    tcase_add_test(tc, huge_repeated_fields);
    suite_add_tcase(su, tc);
    return as_check_run(su);
}
