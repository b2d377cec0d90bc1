/*
 * check_article.c - tests for server/article.c: validation, tag and URL
 * normalization, natural keys and content hashes.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "article.h"
#include "check_main.h"

static as_limits_t lim = AS_LIMITS_DEFAULT;
static as_arena_t *ar;

static void setup(void)
{
    ar = as_arena_create(1 << 20);
}

static void teardown(void)
{
    as_arena_destroy(ar);
}

static void check_tag(const char *in, const char *want)
{
    as_status_t st;
    char *out = NULL;
    int rc = as_tag_normalize(in, lim.max_tag_bytes, "tag", ar, &out, &st);

    ck_assert_msg(rc == 0, "normalize '%s': %s", in, st.msg);
    ck_assert_str_eq(out, want);
}

START_TEST(tag_normalization)
{
    check_tag("World", "world");
    check_tag("  World \t  News\n", "world news");
    check_tag("ÉCOLE", "école");
    /* NFC: "e" + combining acute equals precomposed é after folding. */
    check_tag("E\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9");
    check_tag("Straße", "strasse");
}
END_TEST

START_TEST(tag_rejections)
{
    as_status_t st;
    char *out;
    char big[300];

    ck_assert_int_eq(as_tag_normalize("ok\xff", 128, "tag 2", ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "tag 2") && strstr(st.msg, "UTF-8"), "%s",
                  st.msg);
    ck_assert_int_eq(as_tag_normalize("   ", 128, "tag", ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_int_eq(as_tag_normalize("a\x01" "b", 128, "tag", ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(as_tag_normalize(big, 128, "tag", ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "max_tag_bytes=128"), "%s", st.msg);
}
END_TEST

static void check_url(const char *in, const char *want)
{
    as_status_t st;
    char *out = NULL;
    int rc = as_url_canonicalize(in, 4096, ar, &out, &st);

    ck_assert_msg(rc == 0, "canonicalize '%s': %s", in, st.msg);
    ck_assert_str_eq(out, want);
}

START_TEST(url_canonical)
{
    check_url(" HTTPS://Example.COM/A/b?x=1#frag ", "https://example.com/A/b?x=1");
    check_url("http://example.com:80", "http://example.com/");
    check_url("https://user@Example.com:443/p", "https://user@example.com/p");
    check_url("https://example.com:8443/p", "https://example.com:8443/p");
    check_url("urn:isbn:0451450523", "urn:isbn:0451450523");
}
END_TEST

START_TEST(url_rejections)
{
    as_status_t st;
    char *out;

    ck_assert_int_eq(as_url_canonicalize("no scheme", 4096, ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_int_eq(as_url_canonicalize("example.com/x", 4096, ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_int_eq(as_url_canonicalize("http://a b", 4096, ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_int_eq(as_url_canonicalize("", 4096, ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_int_eq(as_url_canonicalize("http://x/\xc3", 4096, ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_int_eq(as_url_canonicalize("http://x/aaaa", 10, ar, &out, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "max_url_bytes=10"), "%s", st.msg);
}
END_TEST

/* Builds an article in the arena with the given tags (NULL-terminated). */
static Artstore__V1__Article *mk(const char *url, const char *title,
                                 const char *body, const char **tags)
{
    Artstore__V1__Article *a = as_arena_alloc(ar, sizeof(*a));
    size_t n = 0;

    artstore__v1__article__init(a);
    a->url = url ? as_arena_strndup(ar, url, strlen(url)) : NULL;
    a->title = (char *)title;
    a->body = (char *)body;
    while (tags && tags[n])
        n++;
    a->tags = as_arena_alloc(ar, sizeof(char *) * (n + 1));
    for (a->n_tags = 0; a->n_tags < n; a->n_tags++)
        a->tags[a->n_tags] = (char *)tags[a->n_tags];
    return a;
}

START_TEST(prepare_sorts_and_hashes)
{
    const char *t1[] = { "Politics", "world", " WORLD ", NULL };
    const char *t2[] = { "world", "politics", NULL };
    Artstore__V1__Article *a = mk("https://x.org/1", "T", "B", t1);
    Artstore__V1__Article *b = mk("https://X.org/1#c", "T", "B", t2);
    as_status_t st;

    ck_assert_msg(as_article_prepare(a, ar, &lim, &st) == 0, "%s", st.msg);
    ck_assert_msg(as_article_prepare(b, ar, &lim, &st) == 0, "%s", st.msg);
    ck_assert_uint_eq(a->n_tags, 2);
    ck_assert_str_eq(a->tags[0], "politics");
    ck_assert_str_eq(a->tags[1], "world");
    ck_assert_uint_eq(a->content_hash.len, 16);
    ck_assert_mem_eq(a->content_hash.data, b->content_hash.data, 16);
    b->title = "T2";
    ck_assert(as_article_prepare(b, ar, &lim, &st) == 0);
    ck_assert(memcmp(a->content_hash.data, b->content_hash.data, 16) != 0);
}
END_TEST

START_TEST(prepare_rejections)
{
    const char *bad[] = { "ok", "bad\xc3(", NULL };
    Artstore__V1__Article *a;
    as_status_t st;
    as_limits_t small = lim;

    a = mk("https://x.org/1", "T", "B", bad);
    ck_assert_int_eq(as_article_prepare(a, ar, &lim, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "tag 2"), "%s", st.msg);

    a = mk(NULL, NULL, "B", NULL);
    ck_assert_int_eq(as_article_prepare(a, ar, &lim, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "title"), "%s", st.msg);

    a = mk(NULL, "T", "body\xff", NULL);
    ck_assert_int_eq(as_article_prepare(a, ar, &lim, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "body"), "%s", st.msg);

    small.max_body_bytes = 3;
    a = mk(NULL, "T", "long", NULL);
    ck_assert_int_eq(as_article_prepare(a, ar, &small, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "max_body_bytes=3"), "%s", st.msg);

    small = lim;
    small.max_tags = 1;
    a = mk(NULL, "T", "B", (const char *[]){ "a", "b", NULL });
    ck_assert_int_eq(as_article_prepare(a, ar, &small, &st),
                     AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.msg, "max_tags=1"), "%s", st.msg);
}
END_TEST

START_TEST(natural_keys)
{
    unsigned char k1[AS_KEY_MAX], k2[AS_KEY_MAX];
    Artstore__V1__Article *a = mk(NULL, "T", "B", NULL);
    Artstore__V1__Article *b = mk(NULL, "T", "B", NULL);
    char *longurl = as_arena_alloc(ar, 3001);
    size_t n1, n2;
    as_status_t st;

    ck_assert(as_article_prepare(a, ar, &lim, &st) == 0);
    ck_assert(as_article_prepare(b, ar, &lim, &st) == 0);
    n1 = as_article_key(a, k1);
    n2 = as_article_key(b, k2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(k1, k2, n1);
    ck_assert_int_eq(k1[0], 0x02);

    memcpy(longurl, "https://x.org/", 14);
    memset(longurl + 14, 'a', 2986);
    longurl[3000] = '\0';
    n1 = as_url_key(longurl, k1);
    ck_assert_uint_le(n1, AS_KEY_MAX);
    longurl[2999] = 'b';
    n2 = as_url_key(longurl, k2);
    ck_assert(n1 != n2 || memcmp(k1, k2, n1) != 0);
}
END_TEST

/* as_utf8_valid skips ASCII a word at a time and checks the rest with
 * u8_check: it must agree with u8_check on the whole string, for every
 * alignment and mix of ASCII, valid and broken sequences. */
START_TEST(utf8_matches_libunistring)
{
    static const char *pieces[] = {
        "a", "plain ascii text ", "\n", "\xc3\xa9", "\xe2\x80\x9c",
        "\xf0\x9f\x93\xb0", "\xff", "\xc3", "\xe2\x80", "\x80",
        "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "",
    };
    const size_t np = sizeof(pieces) / sizeof(pieces[0]);
    unsigned seed = 12345;
    char buf[256];
    int i, k, valid = 0, invalid = 0;

    for (i = 0; i < 20000; i++) {
        size_t len = 0, off = (size_t)(rand_r(&seed) % 8);
        int parts = 1 + rand_r(&seed) % 12;

        for (k = 0; k < parts; k++) {
            const char *p = pieces[rand_r(&seed) % np];
            size_t n = strlen(p);

            if (off + len + n >= sizeof(buf))
                break;
            memcpy(buf + off + len, p, n);
            len += n;
        }
        if (u8_check((const uint8_t *)buf + off, len) == NULL) {
            valid++;
            ck_assert_msg(as_utf8_valid(buf + off, len), "case %d", i);
        } else {
            invalid++;
            ck_assert_msg(!as_utf8_valid(buf + off, len), "case %d", i);
        }
    }
    ck_assert_int_gt(valid, 1000);
    ck_assert_int_gt(invalid, 1000);
}
END_TEST

static Suite *article_suite(void)
{
    Suite *s = suite_create("article");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, tag_normalization);
    tcase_add_test(tc, tag_rejections);
    tcase_add_test(tc, url_canonical);
    tcase_add_test(tc, url_rejections);
    tcase_add_test(tc, prepare_sorts_and_hashes);
    tcase_add_test(tc, prepare_rejections);
    tcase_add_test(tc, natural_keys);
    tcase_add_test(tc, utf8_matches_libunistring);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(article_suite());
}
