/*
 * check_rpc.c - the envelope layer (server/rpc.c), socketless: decoding,
 * the method lookup and its errors, auth before everything, deadlines
 * from deadline_ms and timeout_ms, call ids, and replies built in place.
 * A test method table records what its handlers were given; the replies
 * are caught with the local_reply hook.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "clock.h"
#include "rpc.h"
#include "status.h"

/* What the handlers saw and what came back. */
typedef struct seen {
    int calls;                     /* handler invocations */
    int64_t deadline_ms;           /* as_call_deadline_ms of the last */
    Artstore__V1__Reply *reply;    /* the last reply, unpacked */
} seen_t;

static seen_t seen;

static void on_reply(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    if (seen.reply != NULL)
        artstore__v1__reply__free_unpacked(seen.reply, NULL);
    seen.reply = artstore__v1__reply__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(seen.reply);
}

/* Echo: replies with the payload as it came, built in place. */
static void h_echo(as_call_t *call, const uint8_t *payload, size_t len)
{
    uint8_t *p;

    seen.calls++;
    seen.deadline_ms = as_call_deadline_ms(call);
    if ((p = as_call_reply_reserve(call, len)) == NULL) {
        as_call_reply_error(call, AS_CODE_INTERNAL, "reserve failed");
        return;
    }
    if (len > 0)
        memcpy(p, payload, len);
    as_call_reply_send(call);
}

/* Fails with the code in the first byte of the payload. */
static void h_fail(as_call_t *call, const uint8_t *payload, size_t len)
{
    seen.calls++;
    as_call_reply_error(call, len > 0 ? payload[0] : AS_CODE_UNKNOWN,
                        "failed as asked");
}

static const as_method_t methods[] = {
    { .name = "Echo", .fn = h_echo },
    { .name = "Fail", .fn = h_fail, .write = 1 },
};

/* Auth: the token "r" may read, "w" may write, anything else nothing. */
static int auth(void *ctx, const char *token, int write, as_status_t *st)
{
    (void)ctx;
    if (token != NULL && strcmp(token, "w") == 0)
        return 0;
    if (token != NULL && strcmp(token, "r") == 0 && !write)
        return 0;
    return as_status_set(st, token ? AS_CODE_PERMISSION_DENIED
                                   : AS_CODE_UNAUTHENTICATED,
                         "token refused");
}

static as_rpc_t *make_rpc(int with_auth)
{
    as_rpc_opts_t o;
    as_rpc_t *r;

    memset(&o, 0, sizeof(o));
    o.max_message_bytes = 1 << 20;
    o.max_decode_bytes = 1 << 20;
    o.methods = methods;
    o.n_methods = sizeof(methods) / sizeof(methods[0]);
    o.local_reply = on_reply;
    if (with_auth)
        o.auth = auth;
    r = as_rpc_local(&o);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* Packs an envelope and runs it; returns the reply's code (0: OK). */
static int call(as_rpc_t *r, Artstore__V1__Request *env)
{
    uint8_t buf[4096];
    size_t n = artstore__v1__request__pack(env, buf);

    as_rpc_dispatch_bytes(r, NULL, buf, n);
    ck_assert_ptr_nonnull(seen.reply);
    return seen.reply->status ? (int)seen.reply->status->code : 0;
}

static void setup(void)
{
    memset(&seen, 0, sizeof(seen));
}

static void teardown(void)
{
    if (seen.reply != NULL)
        artstore__v1__reply__free_unpacked(seen.reply, NULL);
    seen.reply = NULL;
}

/* An OK reply echoes the call id and carries the payload, no status. */
START_TEST(echo_and_call_id)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    as_rpc_t *r = make_rpc(0);

    env.method = "/artstore.v1.ArticleStore/Echo";
    env.has_call_id = 1;
    env.call_id = 77;
    env.has_payload = 1;
    env.payload.data = (uint8_t *)"hello";
    env.payload.len = 5;
    ck_assert_int_eq(call(r, &env), 0);
    ck_assert_ptr_null(seen.reply->status);
    ck_assert_uint_eq(seen.reply->call_id, 77);
    ck_assert(seen.reply->has_payload && seen.reply->payload.len == 5 &&
              memcmp(seen.reply->payload.data, "hello", 5) == 0);
    ck_assert_int_eq(seen.deadline_ms, 0);
    as_rpc_close(r);
}
END_TEST

/* An envelope without a method is a malformed request (INVALID_ARGUMENT),
 * not a request for a method the server lacks (UNIMPLEMENTED). */
START_TEST(method_missing_or_unknown)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    as_rpc_t *r = make_rpc(0);

    ck_assert_int_eq(call(r, &env), AS_CODE_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(seen.reply->status->message, "no method"));
    env.method = "";
    ck_assert_int_eq(call(r, &env), AS_CODE_INVALID_ARGUMENT);
    env.method = "/artstore.v1.ArticleStore/Nope";
    ck_assert_int_eq(call(r, &env), AS_CODE_UNIMPLEMENTED);
    ck_assert_ptr_nonnull(strstr(seen.reply->status->message, "Nope"));
    env.method = "Echo";            /* without the service's path */
    ck_assert_int_eq(call(r, &env), AS_CODE_UNIMPLEMENTED);
    ck_assert_int_eq(seen.calls, 0);
    as_rpc_close(r);
}
END_TEST

/* Bytes that are not an envelope are INVALID_ARGUMENT. */
START_TEST(garbage_envelope)
{
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    as_rpc_t *r = make_rpc(0);

    as_rpc_dispatch_bytes(r, NULL, junk, sizeof(junk));
    ck_assert_ptr_nonnull(seen.reply);
    ck_assert_int_eq(seen.reply->status->code, AS_CODE_INVALID_ARGUMENT);
    ck_assert_int_eq(seen.calls, 0);
    as_rpc_close(r);
}
END_TEST

/* timeout_ms sets the call's deadline from its arrival; with deadline_ms
 * too, the earlier one wins; a deadline already past is answered
 * DEADLINE_EXCEEDED without running the handler. */
START_TEST(deadlines)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    as_rpc_t *r = make_rpc(0);
    int64_t t0, t1;

    env.method = "/artstore.v1.ArticleStore/Echo";
    env.has_timeout_ms = 1;
    env.timeout_ms = 5000;
    t0 = as_clock_wall_ms();
    ck_assert_int_eq(call(r, &env), 0);
    t1 = as_clock_wall_ms();
    ck_assert_msg(seen.deadline_ms >= t0 + 5000 &&
                  seen.deadline_ms <= t1 + 5000,
                  "deadline %lld not arrival + timeout_ms (%lld..%lld)",
                  (long long)seen.deadline_ms, (long long)t0 + 5000,
                  (long long)t1 + 5000);

    /* An absolute deadline later than the timeout: the timeout wins. */
    env.has_deadline_ms = 1;
    env.deadline_ms = t1 + 3600 * 1000;
    ck_assert_int_eq(call(r, &env), 0);
    ck_assert(seen.deadline_ms <= as_clock_wall_ms() + 5000);
    /* An earlier absolute deadline wins over the timeout. */
    env.deadline_ms = as_clock_wall_ms() + 2000;
    ck_assert_int_eq(call(r, &env), 0);
    ck_assert_int_eq(seen.deadline_ms, env.deadline_ms);

    /* Already past: refused before the handler. */
    seen.calls = 0;
    env.has_timeout_ms = 0;
    env.deadline_ms = as_clock_wall_ms() - 1000;
    ck_assert_int_eq(call(r, &env), AS_CODE_DEADLINE_EXCEEDED);
    ck_assert_int_eq(seen.calls, 0);
    as_rpc_close(r);
}
END_TEST

/* Auth runs first: without a token even an unknown method is refused
 * with the auth error; a read token cannot call a write method. */
START_TEST(auth_first)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    as_rpc_t *r = make_rpc(1);
    uint8_t code = AS_CODE_NOT_FOUND;

    env.method = "/artstore.v1.ArticleStore/Nope";
    ck_assert_int_eq(call(r, &env), AS_CODE_UNAUTHENTICATED);
    env.method = "/artstore.v1.ArticleStore/Fail";
    env.auth_token = "r";
    ck_assert_int_eq(call(r, &env), AS_CODE_PERMISSION_DENIED);
    ck_assert_int_eq(seen.calls, 0);
    env.auth_token = "w";
    env.has_payload = 1;
    env.payload.data = &code;
    env.payload.len = 1;
    ck_assert_int_eq(call(r, &env), AS_CODE_NOT_FOUND);
    ck_assert_str_eq(seen.reply->status->message, "failed as asked");
    ck_assert_int_eq(seen.calls, 1);
    as_rpc_close(r);
}
END_TEST

/* Every reply is counted per method and code. */
START_TEST(stats_per_method)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    as_rpc_t *r = make_rpc(0);
    as_method_stats_t ms;
    uint8_t code = AS_CODE_ABORTED;

    env.method = "/artstore.v1.ArticleStore/Echo";
    ck_assert_int_eq(call(r, &env), 0);
    ck_assert_int_eq(call(r, &env), 0);
    env.method = "/artstore.v1.ArticleStore/Fail";
    env.has_payload = 1;
    env.payload.data = &code;
    env.payload.len = 1;
    ck_assert_int_eq(call(r, &env), AS_CODE_ABORTED);
    as_rpc_get_stats(r, 0, &ms);
    ck_assert_uint_eq(ms.codes[AS_CODE_OK], 2);
    ck_assert_uint_eq(ms.lat_count, 2);
    as_rpc_get_stats(r, 1, &ms);
    ck_assert_uint_eq(ms.codes[AS_CODE_ABORTED], 1);
    as_rpc_close(r);
}
END_TEST

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("local");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, echo_and_call_id);
    tcase_add_test(tc, method_missing_or_unknown);
    tcase_add_test(tc, garbage_envelope);
    tcase_add_test(tc, deadlines);
    tcase_add_test(tc, auth_first);
    tcase_add_test(tc, stats_per_method);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(rpc_suite());
}
