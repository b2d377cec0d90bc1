/*
 * article.c - as_article_t: freeing it, and converting it to and from the
 * wire's Artstore__V1__Article.
 */
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

void as_article_clear(as_article_t *a)
{
    size_t i;

    if (a == NULL)
        return;
    free(a->url);
    free(a->title);
    free(a->body);
    free(a->source);
    for (i = 0; i < a->n_authors; i++)
        free(a->authors[i]);
    free(a->authors);
    for (i = 0; i < a->n_tags; i++)
        free(a->tags[i]);
    free(a->tags);
    for (i = 0; i < a->n_meta; i++) {
        free(a->meta[i].key);
        free(a->meta[i].value);
    }
    free(a->meta);
    memset(a, 0, sizeof(*a));
}

void as_article_free(as_article_t *a)
{
    as_article_clear(a);
    free(a);
}

/* Copies n strings into a new array (NULL for n == 0); sets *oom. */
static char **strv_copy(char *const *v, size_t n, int *oom)
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
    c->authors = strv_copy(a->authors, a->n_authors, &oom);
    c->n_authors = c->authors ? a->n_authors : 0;
    c->tags = strv_copy(a->tags, a->n_tags, &oom);
    c->n_tags = c->tags ? a->n_tags : 0;
    c->meta = NULL;
    c->n_meta = 0;
    if (a->meta != NULL && a->n_meta > 0) {
        if ((c->meta = calloc(a->n_meta, sizeof(*c->meta))) == NULL) {
            oom = 1;
        } else {
            c->n_meta = a->n_meta;
            for (i = 0; i < a->n_meta; i++) {
                c->meta[i].key = as__strdup(a->meta[i].key, &oom);
                c->meta[i].value = as__strdup(a->meta[i].value, &oom);
            }
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

int as__article_to_pb(const as_article_t *a, Artstore__V1__Article *pb)
{
    size_t i;

    artstore__v1__article__init(pb);
    pb->url = a->url;
    pb->title = a->title;
    pb->body = a->body;
    pb->source = a->source;
    pb->authors = a->authors;
    pb->n_authors = a->authors ? a->n_authors : 0;
    pb->tags = a->tags;
    pb->n_tags = a->tags ? a->n_tags : 0;
    pb->has_published_at = a->has_published_at != 0;
    pb->published_at = a->published_at;
    if (a->meta == NULL || a->n_meta == 0)
        return 0;
    /* One block holds the pointer array followed by the entries. */
    pb->meta = malloc(a->n_meta * (sizeof(*pb->meta) + sizeof(**pb->meta)));
    if (pb->meta == NULL)
        return -1;
    for (i = 0; i < a->n_meta; i++) {
        Artstore__V1__MetaEntry *e =
            (Artstore__V1__MetaEntry *)(pb->meta + a->n_meta) + i;

        artstore__v1__meta_entry__init(e);
        e->key = a->meta[i].key;
        e->value = a->meta[i].value;
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
    a->authors = pb->authors;
    a->n_authors = pb->n_authors;
    pb->url = pb->title = pb->body = pb->source = NULL;
    pb->authors = NULL;
    pb->n_authors = 0;
    a->has_published_at = pb->has_published_at;
    a->published_at = pb->has_published_at ? pb->published_at : 0;
    a->ingested_at = pb->has_ingested_at ? pb->ingested_at : 0;
    a->tags = pb->tags;
    a->n_tags = pb->n_tags;
    pb->tags = NULL;
    pb->n_tags = 0;
    a->revision = pb->has_revision ? pb->revision : 0;
    if (pb->has_content_hash &&
        pb->content_hash.len == sizeof(a->content_hash)) {
        memcpy(a->content_hash, pb->content_hash.data, sizeof(a->content_hash));
        a->has_content_hash = 1;
    }
    if (pb->n_meta > 0) {
        a->meta = calloc(pb->n_meta, sizeof(*a->meta));
        if (a->meta == NULL)
            oom = 1;
        else
            a->n_meta = pb->n_meta;
        for (i = 0; i < a->n_meta; i++) {
            a->meta[i].key = as__strdup(pb->meta[i]->key ? pb->meta[i]->key
                                                         : "", &oom);
            a->meta[i].value = as__strdup(pb->meta[i]->value
                                              ? pb->meta[i]->value : "", &oom);
        }
    }
    if (oom) {
        as_article_free(a);
        return NULL;
    }
    return a;
}
