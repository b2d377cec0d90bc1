/*
 * cli_json.c - article <-> JSON object conversion with jansson.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"

void cli_article_clear(as_article_t *a)
{
    as_article_clear(a);
}

/* ------------------------------------------------------------ from JSON */

/* Each reader below takes one field's value (never NULL; JSON null has
 * been filtered out already), stores it in the article and returns 0, or
 * returns -1 with the reason in err. */

static int read_string(const char *key, json_t *v, const char **dst,
                       char *err, size_t errlen)
{
    if (!json_is_string(v)) {
        snprintf(err, errlen, "field '%s' must be a string", key);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, errlen, "field '%s' contains a NUL character", key);
        return -1;
    }
    *dst = strdup(json_string_value(v));
    if (*dst == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int read_strings(const char *key, json_t *v,
                        const char *const **dst, size_t *n, char *err,
                        size_t errlen)
{
    const char **arr;
    size_t i;
    char name[64];

    if (!json_is_array(v)) {
        snprintf(err, errlen, "field '%s' must be an array of strings", key);
        return -1;
    }
    if (json_array_size(v) == 0)
        return 0;
    arr = calloc(json_array_size(v), sizeof(*arr));
    if (arr == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* The article owns the array from here on (cli_article_clear). */
    *dst = arr;
    for (i = 0; i < json_array_size(v); i++) {
        snprintf(name, sizeof(name), "%s[%zu]", key, i);
        if (read_string(name, json_array_get(v, i), &arr[i], err,
                        errlen) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

static int read_time(const char *key, json_t *v, int64_t *dst, char *err,
                     size_t errlen)
{
    char why[160];

    if (json_is_integer(v)) {
        *dst = json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "field '%s' must be an RFC 3339 string or "
                 "Unix seconds", key);
        return -1;
    }
    if (cli_time_parse(json_string_value(v), dst, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "field '%s': %s", key, why);
        return -1;
    }
    return 0;
}

static int read_u64(const char *key, json_t *v, uint64_t *dst, char *err,
                    size_t errlen)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(err, errlen, "field '%s' must be a non-negative integer",
                 key);
        return -1;
    }
    *dst = (uint64_t)json_integer_value(v);
    return 0;
}

static int read_meta(json_t *v, as_article_t *a, char *err, size_t errlen)
{
    const char *k;
    json_t *val;
    char name[160];

    if (!json_is_object(v)) {
        snprintf(err, errlen, "field 'meta' must be an object of strings");
        return -1;
    }
    as_meta_t *entries;

    if (json_object_size(v) == 0)
        return 0;
    entries = calloc(json_object_size(v), sizeof(*entries));
    if (entries == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->meta = entries;
    json_object_foreach(v, k, val) {
        as_meta_t *m = &entries[a->n_meta];

        snprintf(name, sizeof(name), "meta.%.100s", k);
        if (read_string(name, val, &m->value, err, errlen) != 0)
            return -1;
        a->n_meta++;
        if ((m->key = strdup(k)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hash(json_t *v, as_article_t *a, char *err, size_t errlen)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    size_t i;

    if (s == NULL || strlen(s) != 2 * sizeof(a->content_hash))
        goto out_bad;
    for (i = 0; i < sizeof(a->content_hash); i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            goto out_bad;
        a->content_hash[i] = (uint8_t)(hi << 4 | lo);
    }
    a->has_content_hash = 1;
    return 0;

out_bad:
    snprintf(err, errlen, "field 'content_hash' must be %zu hex digits",
             2 * sizeof(a->content_hash));
    return -1;
}

/* Reads one field of an article object. Returns 0, -1 with err set, or 1
 * for a field that is not an article field. */
static int read_field(const char *key, json_t *v, as_article_t *a, char *err,
                      size_t errlen)
{
    if (strcmp(key, "id") == 0)
        return read_u64(key, v, &a->id, err, errlen);
    if (strcmp(key, "url") == 0)
        return read_string(key, v, &a->url, err, errlen);
    if (strcmp(key, "title") == 0)
        return read_string(key, v, &a->title, err, errlen);
    if (strcmp(key, "body") == 0)
        return read_string(key, v, &a->body, err, errlen);
    if (strcmp(key, "source") == 0)
        return read_string(key, v, &a->source, err, errlen);
    if (strcmp(key, "authors") == 0)
        return read_strings(key, v, &a->authors, &a->n_authors, err, errlen);
    if (strcmp(key, "tags") == 0)
        return read_strings(key, v, &a->tags, &a->n_tags, err, errlen);
    if (strcmp(key, "published_at") == 0) {
        a->has_published_at = 1;
        return read_time(key, v, &a->published_at, err, errlen);
    }
    if (strcmp(key, "ingested_at") == 0)
        return read_time(key, v, &a->ingested_at, err, errlen);
    if (strcmp(key, "meta") == 0)
        return read_meta(v, a, err, errlen);
    if (strcmp(key, "revision") == 0)
        return read_u64(key, v, &a->revision, err, errlen);
    if (strcmp(key, "content_hash") == 0)
        return read_hash(v, a, err, errlen);
    /* Set by the server: read so that exported articles import again. */
    if (strcmp(key, "story_id") == 0)
        return read_u64(key, v, &a->story_id, err, errlen);
    if (strcmp(key, "duplicate_of") == 0)
        return read_u64(key, v, &a->duplicate_of, err, errlen);
    return 1;
}

int cli_article_from_json(json_t *obj, as_article_t *out, int ignore_unknown,
                          char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "an article must be a JSON object");
        return -1;
    }
    json_object_foreach(obj, key, v) {
        if (json_is_null(v))
            continue;
        if ((rc = read_field(key, v, out, err, errlen)) == 1) {
            if (ignore_unknown)
                continue;
            snprintf(err, errlen, "unknown field '%.100s' (--ignore-unknown "
                     "skips such fields)", key);
            rc = -1;
        }
        if (rc != 0) {
            cli_article_clear(out);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ to JSON */

/* Adds key: v to obj unless v is NULL (then *oom is set). */
static void put(json_t *obj, const char *key, json_t *v, int *oom)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        *oom = 1;
}

static json_t *string_array(const char *const *v, size_t n)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, json_string(v[i])) != 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}


json_t *cli_article_to_json(const as_article_t *a)
{
    json_t *obj = json_object(), *meta;
    char hex[2 * sizeof(a->content_hash) + 1];
    int oom = 0;
    size_t i;

    if (obj == NULL)
        return NULL;
    if (a->id != 0)
        put(obj, "id", json_integer((json_int_t)a->id), &oom);
    if (a->url != NULL)
        put(obj, "url", json_string(a->url), &oom);
    if (a->title != NULL)
        put(obj, "title", json_string(a->title), &oom);
    if (a->body != NULL)
        put(obj, "body", json_string(a->body), &oom);
    if (a->source != NULL)
        put(obj, "source", json_string(a->source), &oom);
    if (a->n_authors > 0)
        put(obj, "authors", string_array(a->authors, a->n_authors), &oom);
    if (a->has_published_at)
        put(obj, "published_at", cli_time_json(a->published_at), &oom);
    if (a->ingested_at != 0)
        put(obj, "ingested_at", cli_time_json(a->ingested_at), &oom);
    if (a->n_tags > 0)
        put(obj, "tags", string_array(a->tags, a->n_tags), &oom);
    if (a->n_meta > 0) {
        meta = json_object();
        for (i = 0; meta != NULL && i < a->n_meta; i++)
            put(meta, a->meta[i].key, json_string(a->meta[i].value), &oom);
        put(obj, "meta", meta, &oom);
    }
    if (a->revision != 0)
        put(obj, "revision", json_integer((json_int_t)a->revision), &oom);
    if (a->has_content_hash) {
        for (i = 0; i < sizeof(a->content_hash); i++)
            snprintf(hex + 2 * i, 3, "%02x", a->content_hash[i]);
        put(obj, "content_hash", json_string(hex), &oom);
    }
    if (a->story_id != 0)
        put(obj, "story_id", json_integer((json_int_t)a->story_id), &oom);
    if (a->duplicate_of != 0)
        put(obj, "duplicate_of", json_integer((json_int_t)a->duplicate_of),
            &oom);
    if (oom) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}
