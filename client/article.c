/*
 * article.c - as_article_t: freeing it, and converting it to and from the
 * wire's Artstore__V1__Article.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

char *as__strdup(const char *s, int *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = 1;
    return d;
}

/* Frees memory the library (or a caller, with malloc) gave an article
 * through one of its const fields. */
static void free_const(const void *p)
{
    free((void *)(uintptr_t)p);
}

void as_article_clear(as_article_t *a)
{
    size_t i;

    if (a == NULL)
        return;
    free_const(a->url);
    free_const(a->title);
    free_const(a->body);
    free_const(a->source);
    for (i = 0; a->authors && i < a->n_authors; i++)
        free_const(a->authors[i]);
    free_const(a->authors);
    for (i = 0; a->tags && i < a->n_tags; i++)
        free_const(a->tags[i]);
    free_const(a->tags);
    for (i = 0; a->meta && i < a->n_meta; i++) {
        free_const(a->meta[i].key);
        free_const(a->meta[i].value);
    }
    free_const(a->meta);
    memset(a, 0, sizeof(*a));
}

void as_article_free(as_article_t *a)
{
    as_article_clear(a);
    free(a);
}

char **as__strv_copy(const char *const *v, size_t n, int *oom)
{
    char **out;
    size_t i;

    if (v == NULL || n == 0)
        return NULL;
    if ((out = calloc(n, sizeof(*out))) == NULL) {
        *oom = 1;
        return NULL;
    }
    for (i = 0; i < n; i++)
        out[i] = as__strdup(v[i], oom);
    return out;
}

void as__strv_free(char **v, size_t n)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

as_article_t *as__article_copy(const as_article_t *a)
{
    as_article_t *c = malloc(sizeof(*c));
    int oom = 0;
    size_t i;

    if (c == NULL)
        return NULL;
    *c = *a;
    c->url = as__strdup(a->url, &oom);
    c->title = as__strdup(a->title, &oom);
    c->body = as__strdup(a->body, &oom);
    c->source = as__strdup(a->source, &oom);
    c->authors = (const char *const *)as__strv_copy(a->authors, a->n_authors,
                                                &oom);
    c->n_authors = c->authors ? a->n_authors : 0;
    c->tags = (const char *const *)as__strv_copy(a->tags, a->n_tags, &oom);
    c->n_tags = c->tags ? a->n_tags : 0;
    c->meta = NULL;
    c->n_meta = 0;
    if (a->meta != NULL && a->n_meta > 0) {
        as_meta_t *m = calloc(a->n_meta, sizeof(*m));

        if (m == NULL) {
            oom = 1;
        } else {
            for (i = 0; i < a->n_meta; i++) {
                m[i].key = as__strdup(a->meta[i].key, &oom);
                m[i].value = as__strdup(a->meta[i].value, &oom);
            }
            c->meta = m;
            c->n_meta = a->n_meta;
        }
    }
    if (oom) {
        as_article_free(c);
        return NULL;
    }
    return c;
}

void as_articles_free(as_article_t **v, size_t n)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++)
        as_article_free(v[i]);
    free(v);
}

int as__check_strv(const char *name, const char *const *v, size_t n,
                   char *msg, size_t len)
{
    size_t i;

    if (n > 0 && v == NULL) {
        snprintf(msg, len, "%s is NULL with n_%s=%zu", name, name, n);
        return AS_EINVALID_ARGUMENT;
    }
    for (i = 0; i < n; i++)
        if (v[i] == NULL) {
            snprintf(msg, len, "%s[%zu] is NULL", name, i);
            return AS_EINVALID_ARGUMENT;
        }
    return AS_OK;
}

int as__check_article(const as_article_t *a, char *msg, size_t len)
{
    size_t i;
    int rc;

    if ((rc = as__check_strv("authors", a->authors, a->n_authors, msg,
                             len)) != AS_OK ||
        (rc = as__check_strv("tags", a->tags, a->n_tags, msg, len)) != AS_OK)
        return rc;
    if (a->n_meta > 0 && a->meta == NULL) {
        snprintf(msg, len, "meta is NULL with n_meta=%zu", a->n_meta);
        return AS_EINVALID_ARGUMENT;
    }
    for (i = 0; i < a->n_meta; i++)
        if (a->meta[i].key == NULL || a->meta[i].value == NULL) {
            snprintf(msg, len, "meta[%zu] has a NULL key or value", i);
            return AS_EINVALID_ARGUMENT;
        }
    return AS_OK;
}

int as__article_to_pb(const as_article_t *a, Artstore__V1__Article *pb)
{
    size_t i;

    /* The message only borrows the caller's strings for packing, which
     * reads them; protobuf-c's structs are not const-qualified. */
    artstore__v1__article__init(pb);
    pb->url = (char *)(uintptr_t)a->url;
    pb->title = (char *)(uintptr_t)a->title;
    pb->body = (char *)(uintptr_t)a->body;
    pb->source = (char *)(uintptr_t)a->source;
    /* The arrays passed as__check_article: not NULL when counted. */
    pb->authors = (char **)(uintptr_t)a->authors;
    pb->n_authors = a->n_authors;
    pb->tags = (char **)(uintptr_t)a->tags;
    pb->n_tags = a->n_tags;
    pb->has_published_at = a->has_published_at != 0;
    pb->published_at = a->published_at;
    if (a->n_meta == 0)
        return 0;
    /* One block holds the pointer array followed by the entries. */
    pb->meta = malloc(a->n_meta * (sizeof(*pb->meta) + sizeof(**pb->meta)));
    if (pb->meta == NULL)
        return -1;
    for (i = 0; i < a->n_meta; i++) {
        Artstore__V1__MetaEntry *e =
            (Artstore__V1__MetaEntry *)(pb->meta + a->n_meta) + i;

        artstore__v1__meta_entry__init(e);
        e->key = (char *)(uintptr_t)a->meta[i].key;
        e->value = (char *)(uintptr_t)a->meta[i].value;
        pb->meta[i] = e;
    }
    pb->n_meta = a->n_meta;
    return 0;
}

void as__article_pb_release(Artstore__V1__Article *pb)
{
    free(pb->meta);
    pb->meta = NULL;
    pb->n_meta = 0;
}

as_article_t *as__article_take_pb(Artstore__V1__Article *pb)
{
    as_article_t *a = calloc(1, sizeof(*a));
    int oom = 0;
    size_t i;

    if (a == NULL)
        return NULL;
    a->id = pb->has_id ? pb->id : 0;
    /* protobuf-c unpacked every string and array with malloc, as
     * as_article_free frees them: they move over rather than being
     * copied (a batch of 100 articles was 1,000 mallocs and 400 KB of
     * copying less). */
    a->url = pb->url;
    a->title = pb->title;
    a->body = pb->body;
    a->source = pb->source;
    a->authors = (const char *const *)pb->authors;
    a->n_authors = pb->n_authors;
    pb->url = pb->title = pb->body = pb->source = NULL;
    pb->authors = NULL;
    pb->n_authors = 0;
    a->has_published_at = pb->has_published_at;
    a->published_at = pb->has_published_at ? pb->published_at : 0;
    a->ingested_at = pb->has_ingested_at ? pb->ingested_at : 0;
    /* Shown as written (Article.tag_forms, source_form), not as the
     * folded keys that filters match. */
    a->n_tags = pb->n_tags;
    if (pb->n_tag_forms > 0 && pb->n_tag_forms == pb->n_tags) {
        a->tags = (const char *const *)pb->tag_forms;
        pb->tag_forms = NULL;
        pb->n_tag_forms = 0;
    } else {
        a->tags = (const char *const *)pb->tags;
        pb->tags = NULL;
        pb->n_tags = 0;
    }
    if (pb->source_form != NULL) {
        free((void *)(uintptr_t)a->source);
        a->source = pb->source_form;
        pb->source_form = NULL;
    }
    a->revision = pb->has_revision ? pb->revision : 0;
    a->story_id = pb->has_story_id ? pb->story_id : 0;
    a->duplicate_of = pb->has_duplicate_of ? pb->duplicate_of : 0;
    if (pb->has_content_hash &&
        pb->content_hash.len == sizeof(a->content_hash)) {
        memcpy(a->content_hash, pb->content_hash.data, sizeof(a->content_hash));
        a->has_content_hash = 1;
    }
    if (pb->n_meta > 0) {
        as_meta_t *m = calloc(pb->n_meta, sizeof(*m));

        if (m == NULL)
            oom = 1;
        for (i = 0; m != NULL && i < pb->n_meta; i++) {
            m[i].key = as__strdup(pb->meta[i]->key ? pb->meta[i]->key : "",
                                  &oom);
            m[i].value = as__strdup(pb->meta[i]->value ? pb->meta[i]->value
                                                       : "", &oom);
        }
        a->meta = m;
        a->n_meta = m != NULL ? pb->n_meta : 0;
    }
    if (oom) {
        as_article_free(a);
        return NULL;
    }
    return a;
}
