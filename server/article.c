/*
 * article.c - validation and normalization of articles and their keys.
 */
#include "article.h"

#include "filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* Checks one free-text field: valid UTF-8 and at most max bytes. A NULL
 * field is fine. */
static int check_text(const char *s, size_t max, const char *field,
                      const char *limit, as_status_t *st)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n > max)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "%s is %zu bytes, over the limit %s=%zu", field,
                             n, limit, max);
    if (!as_utf8_valid(s, n))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "%s is not valid UTF-8", field);
    return 0;
}

/* Checks how many entries a repeated field has: at most max, the limit
 * named limit; noun names the entries in the message. Returns 0 or
 * INVALID_ARGUMENT in st. */
static int check_count(size_t n, size_t max, const char *noun,
                       const char *limit, as_status_t *st)
{
    if (n > max)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "%zu %s, over the limit %s=%zu", n, noun, limit,
                             max);
    return 0;
}

/* Returns the RESOURCE_EXHAUSTED status of an arena over its budget. */
static int arena_full(as_arena_t *ar, as_status_t *st)
{
    return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                         "request needs more memory than "
                         "max_decode_bytes=%zu", as_arena_budget(ar));
}

int as_tag_normalize(const char *in, size_t max_bytes, const char *what,
                     as_arena_t *ar, char **out, as_status_t *st)
{
    const char *limit = strcmp(what, "source") == 0 ? "max_source_bytes"
                                                     : "max_tag_bytes";
    char *folded = NULL, err[256];
    size_t len = 0;
    int rc;

    rc = as_filter_fold_tag(in, strlen(in), max_bytes, what, limit, &folded,
                            &len, err, sizeof(err));
    if (rc == AS_FILTER_INVALID)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT, "%s", err);
    if (rc == AS_FILTER_OK) {
        *out = as_arena_strndup(ar, folded, len);
        free(folded);
        if (*out != NULL)
            return 0;
    }
    return arena_full(ar, st);
}

/* The display form of a tag or source as written: in trimmed of ASCII
 * whitespace, each inner run of it made one space, case and composition
 * kept (in was checked by as_tag_normalize). Allocated from ar; NULL when
 * the arena is spent. */
static char *display_form(const char *in, as_arena_t *ar)
{
    size_t n = strlen(in), i, j = 0;
    char *out = as_arena_alloc(ar, n + 1);
    int space = 0;

    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (as_is_ascii_space((unsigned char)in[i])) {
            space = j > 0;
            continue;
        }
        if (space)
            out[j++] = ' ';
        space = 0;
        out[j++] = in[i];
    }
    out[j] = '\0';
    return out;
}

/* A tag's key and the form it was written in, with its place in the
 * input: sorted by key, the first written of equal keys first. */
typedef struct tag_pair {
    char *key, *form;
    size_t at;
} tag_pair_t;

static int cmp_pair(const void *a, const void *b)
{
    const tag_pair_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c != 0 ? c : x->at < y->at ? -1 : x->at > y->at;
}

/* Normalizes a's tags into sorted unique keys and sets tag_forms to the
 * forms they were written in (left empty when every form is its key).
 * Returns 0 or a code with st set. */
static int prepare_tags(Artstore__V1__Article *a, as_arena_t *ar,
                        const as_limits_t *lim, as_status_t *st)
{
    tag_pair_t *p;
    char what[48];
    size_t i, j, differ = 0;
    int rc;

    a->n_tag_forms = 0;
    a->tag_forms = NULL;
    if (a->n_tags == 0)
        return 0;
    if ((p = as_arena_alloc(ar, a->n_tags * sizeof(*p))) == NULL)
        goto out_oom;
    for (i = 0; i < a->n_tags; i++) {
        snprintf(what, sizeof(what), "tag %zu", i + 1);
        if ((rc = as_tag_normalize(a->tags[i], lim->max_tag_bytes, what, ar,
                                   &p[i].key, st)) != 0)
            return rc;
        if ((p[i].form = display_form(a->tags[i], ar)) == NULL)
            goto out_oom;
        p[i].at = i;
    }
    qsort(p, a->n_tags, sizeof(*p), cmp_pair);
    for (i = 0, j = 0; i < a->n_tags; i++) {
        if (j > 0 && strcmp(p[i].key, p[j - 1].key) == 0)
            continue;
        p[j++] = p[i];
    }
    a->n_tags = j;
    for (i = 0; i < j; i++) {
        a->tags[i] = p[i].key;
        differ += strcmp(p[i].key, p[i].form) != 0;
    }
    if (differ == 0)
        return 0;
    if ((a->tag_forms = as_arena_alloc(ar, j * sizeof(*a->tag_forms))) ==
        NULL)
        goto out_oom;
    for (i = 0; i < j; i++)
        a->tag_forms[i] = p[i].form;
    a->n_tag_forms = j;
    return 0;

out_oom:
    return arena_full(ar, st);
}

static int is_scheme_char(unsigned char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' ||
                      c == '.');
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

int as_url_canonicalize(const char *in, size_t max_bytes, as_arena_t *ar,
                        char **out, as_status_t *st)
{
    const char *s = in, *e = in + strlen(in), *p, *auth, *auth_end, *host;
    size_t n, len = 0, scheme_len;
    char *u;

    while (s < e && as_is_ascii_space((unsigned char)*s))
        s++;
    while (e > s && as_is_ascii_space((unsigned char)e[-1]))
        e--;
    n = (size_t)(e - s);
    if (n == 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT, "url is empty");
    if (n > max_bytes)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "url is %zu bytes, over the limit max_url_bytes=%zu",
                             n, max_bytes);
    if (!as_utf8_valid(s, n))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "url is not valid UTF-8");
    for (p = s; p < e; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                 "url contains whitespace or a control "
                                 "character at byte %zu", (size_t)(p - s));
    for (p = s; p < e && is_scheme_char((unsigned char)*p, p == s); p++)
        ;
    if (p == s || p == e || *p != ':')
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "url has no scheme (expected e.g. https://...)");
    scheme_len = (size_t)(p - s);

    u = as_arena_alloc(ar, n + 2);
    if (u == NULL)
        return arena_full(ar, st);
    for (p = s; p <= s + scheme_len; p++)
        u[len++] = ascii_lower(*p);
    p = s + scheme_len + 1;
    if (e - p >= 2 && p[0] == '/' && p[1] == '/') {
        int is_http = scheme_len == 4 && strncmp(u, "http", 4) == 0;
        int is_https = scheme_len == 5 && strncmp(u, "https", 5) == 0;

        u[len++] = '/';
        u[len++] = '/';
        auth = p + 2;
        for (auth_end = auth; auth_end < e && *auth_end != '/' &&
                              *auth_end != '?' && *auth_end != '#';
             auth_end++)
            ;
        host = memchr(auth, '@', (size_t)(auth_end - auth));
        host = host ? host + 1 : auth;
        memcpy(u + len, auth, (size_t)(host - auth));
        len += (size_t)(host - auth);
        for (p = host; p < auth_end; p++)
            u[len++] = ascii_lower(*p);
        if ((is_http && len >= 3 && memcmp(u + len - 3, ":80", 3) == 0) ||
            (is_https && len >= 4 && memcmp(u + len - 4, ":443", 4) == 0))
            len -= is_http ? 3 : 4;
        p = auth_end;
        if ((is_http || is_https) && (p == e || *p != '/'))
            u[len++] = '/';
    }
    for (; p < e && *p != '#'; p++)
        u[len++] = *p;
    u[len] = '\0';
    *out = u;
    return 0;
}

static int cmp_meta(const void *a, const void *b)
{
    const Artstore__V1__MetaEntry *x = *(Artstore__V1__MetaEntry *const *)a;
    const Artstore__V1__MetaEntry *y = *(Artstore__V1__MetaEntry *const *)b;

    return strcmp(x->key, y->key);
}

/* Hashes one length-prefixed field into the running content hash. */
static void hash_field(XXH3_state_t *h, unsigned char tag, const char *s)
{
    uint64_t n = s ? strlen(s) : UINT64_MAX;

    XXH3_128bits_update(h, &tag, 1);
    XXH3_128bits_update(h, &n, sizeof(n));
    if (s != NULL)
        XXH3_128bits_update(h, s, (size_t)n);
}

/* Computes the content hash: every field a client controls, in a fixed
 * order, each length-prefixed, so that two articles hash alike exactly
 * when a reader could not tell them apart. */
static void content_hash(const Artstore__V1__Article *a, unsigned char out[16])
{
    XXH3_state_t h;
    XXH128_canonical_t c;
    size_t i;

    XXH3_128bits_reset(&h);
    hash_field(&h, 'u', a->url);
    hash_field(&h, 't', a->title);
    hash_field(&h, 'b', a->body);
    hash_field(&h, 's', a->source);
    for (i = 0; i < a->n_authors; i++)
        hash_field(&h, 'a', a->authors[i]);
    if (a->has_published_at) {
        unsigned char tag = 'p';

        XXH3_128bits_update(&h, &tag, 1);
        XXH3_128bits_update(&h, &a->published_at, sizeof(a->published_at));
    }
    for (i = 0; i < a->n_tags; i++)
        hash_field(&h, 'g', a->tags[i]);
    for (i = 0; i < a->n_meta; i++) {
        hash_field(&h, 'k', a->meta[i]->key);
        hash_field(&h, 'v', a->meta[i]->value);
    }
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&h));
    memcpy(out, c.digest, 16);
}

/* Checks and normalizes the single fields: the URL (canonical), title
 * (required, not blank), body, published_at (years 0000-9999) and source
 * (folded as a tag, its display form kept when it differs; empty is
 * none). Returns 0 or an error in st. */
static int prepare_fields(Artstore__V1__Article *a, as_arena_t *ar,
                          const as_limits_t *lim, as_status_t *st)
{
    char *norm, *form;
    int rc;

    if (a->url != NULL &&
        (rc = as_url_canonicalize(a->url, lim->max_url_bytes, ar, &a->url,
                                  st)) != 0)
        return rc;
    if ((rc = check_text(a->title, lim->max_title_bytes, "title",
                         "max_title_bytes", st)) != 0 ||
        (rc = check_text(a->body, lim->max_body_bytes, "body",
                         "max_body_bytes", st)) != 0)
        return rc;
    if (a->title == NULL || strspn(a->title, " \t\r\n\v\f") == strlen(a->title))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "title is required and must not be blank");
    /* Years 0000-9999, the range of RFC 3339: every stored time can be
     * written as one, so JSON output never switches to a number. */
    if (a->has_published_at && (a->published_at < AS_TIME_MIN ||
                                a->published_at > AS_TIME_MAX))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "published_at %lld is outside the years "
                             "0000-9999 (%lld to %lld)",
                             (long long)a->published_at,
                             (long long)AS_TIME_MIN, (long long)AS_TIME_MAX);
    a->source_form = NULL;
    if (a->source == NULL || a->source[0] == '\0') {
        a->source = NULL;
        return 0;
    }
    if ((rc = check_text(a->source, lim->max_source_bytes, "source",
                         "max_source_bytes", st)) != 0 ||
        (rc = as_tag_normalize(a->source, lim->max_source_bytes, "source",
                               ar, &norm, st)) != 0)
        return rc;
    if ((form = display_form(a->source, ar)) == NULL)
        return arena_full(ar, st);
    if (strcmp(form, norm) != 0)
        a->source_form = form;
    a->source = norm;
    return 0;
}

/* Checks the authors: at most max_authors, each valid text of at most
 * max_author_bytes. Returns 0 or an error in st. */
static int prepare_authors(Artstore__V1__Article *a, const as_limits_t *lim,
                           as_status_t *st)
{
    char what[48];
    size_t i;
    int rc = check_count(a->n_authors, lim->max_authors, "authors",
                         "max_authors", st);

    for (i = 0; rc == 0 && i < a->n_authors; i++) {
        snprintf(what, sizeof(what), "author %zu", i + 1);
        rc = check_text(a->authors[i], lim->max_author_bytes, what,
                        "max_author_bytes", st);
    }
    return rc;
}

/* Checks the meta entries (at most max_meta; keys non-empty and unique,
 * keys and values valid text within their limits; a missing value is
 * "") and sorts them by key. Returns 0 or an error in st. */
static int prepare_meta(Artstore__V1__Article *a, const as_limits_t *lim,
                        as_status_t *st)
{
    char what[48];
    size_t i;
    int rc;

    if ((rc = check_count(a->n_meta, lim->max_meta, "meta entries",
                          "max_meta", st)) != 0)
        return rc;
    for (i = 0; i < a->n_meta; i++) {
        Artstore__V1__MetaEntry *m = a->meta[i];

        snprintf(what, sizeof(what), "meta key %zu", i + 1);
        if (m->key == NULL || m->key[0] == '\0')
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT, "%s is empty",
                                 what);
        if ((rc = check_text(m->key, lim->max_meta_key_bytes, what,
                             "max_meta_key_bytes", st)) != 0)
            return rc;
        if (m->value == NULL)
            m->value = "";
        snprintf(what, sizeof(what), "meta value '%.24s'", m->key);
        if ((rc = check_text(m->value, lim->max_meta_value_bytes, what,
                             "max_meta_value_bytes", st)) != 0)
            return rc;
    }
    if (a->n_meta > 1) {
        qsort(a->meta, a->n_meta, sizeof(*a->meta), cmp_meta);
        for (i = 1; i < a->n_meta; i++)
            if (strcmp(a->meta[i]->key, a->meta[i - 1]->key) == 0)
                return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                     "meta key '%.64s' appears twice",
                                     a->meta[i]->key);
    }
    return 0;
}

int as_article_prepare(Artstore__V1__Article *a, as_arena_t *ar,
                       const as_limits_t *lim, as_status_t *st)
{
    int rc;

    /* The fields the server owns are never taken from a client. */
    a->has_id = 0;
    a->has_revision = 0;
    a->has_ingested_at = 0;
    a->has_story_id = 0;
    a->has_duplicate_of = 0;
    a->has_content_hash = 0;
    if ((rc = prepare_fields(a, ar, lim, st)) != 0 ||
        (rc = prepare_authors(a, lim, st)) != 0)
        return rc;
    if ((rc = check_count(a->n_tags, lim->max_tags, "tags", "max_tags",
                          st)) != 0 ||
        (rc = prepare_tags(a, ar, lim, st)) != 0 ||
        (rc = prepare_meta(a, lim, st)) != 0)
        return rc;
    if ((a->content_hash.data = as_arena_alloc(ar, 16)) == NULL)
        return arena_full(ar, st);
    content_hash(a, a->content_hash.data);
    a->content_hash.len = 16;
    a->has_content_hash = 1;
    return 0;
}

size_t as_url_key(const char *url, unsigned char *key)
{
    size_t n = strlen(url);
    XXH128_canonical_t c;
    static const char hex[] = "0123456789abcdef";
    size_t i, len;

    if (n <= AS_KEY_MAX) {
        memcpy(key, url, n);
        return n;
    }
    /* Control bytes never occur in a canonical URL, so the 0x01 separator
     * keeps a shortened key from equalling any real URL. */
    len = AS_KEY_MAX - 33;
    memcpy(key, url, len);
    key[len++] = 0x01;
    XXH128_canonicalFromHash(&c, XXH3_128bits(url, n));
    for (i = 0; i < 16; i++) {
        key[len++] = (unsigned char)hex[c.digest[i] >> 4];
        key[len++] = (unsigned char)hex[c.digest[i] & 15];
    }
    return len;
}

size_t as_article_key(const Artstore__V1__Article *a, unsigned char *key)
{
    XXH3_state_t h;
    XXH128_canonical_t c;

    if (a->url != NULL)
        return as_url_key(a->url, key);
    XXH3_128bits_reset(&h);
    hash_field(&h, 't', a->title);
    hash_field(&h, 'b', a->body);
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&h));
    key[0] = 0x02;
    memcpy(key + 1, c.digest, 16);
    return 17;
}
