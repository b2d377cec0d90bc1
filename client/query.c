/*
 * query.c - the Query and ListTags calls of libartstore: conversion of the
 * C query spec to the wire Filter and of the pages back to C structs.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void as_query_result_free(as_query_result_t *r)
{
    if (r == NULL)
        return;
    as_articles_free(r->articles, r->n_articles);
    free(r->next_cursor);
    free(r);
}

int as__cursor_from_pb(const ProtobufCBinaryData *in, int has,
                       uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!has || in->len == 0)
        return 0;
    if ((*out = malloc(in->len)) == NULL)
        return -1;
    memcpy(*out, in->data, in->len);
    *out_len = in->len;
    return 0;
}

void as__page_to_pb(uint32_t limit, const void *cursor, size_t cursor_len,
                    protobuf_c_boolean *has_limit, uint32_t *pb_limit,
                    protobuf_c_boolean *has_cursor,
                    ProtobufCBinaryData *pb_cursor)
{
    if (limit) {
        *has_limit = 1;
        *pb_limit = limit;
    }
    if (cursor != NULL && cursor_len > 0) {
        *has_cursor = 1;
        pb_cursor->data = (uint8_t *)cursor;
        pb_cursor->len = cursor_len;
    }
}

int as__filter_to_pb(as_client_t *c, const as__filter_spec_t *in,
                     Artstore__V1__Filter *f)
{
    static const char *const names[] = { "all_of", "any_of", "none_of" };
    const char *const *lists[] = { in->all_of, in->any_of, in->none_of };
    size_t counts[] = { in->n_all_of, in->n_any_of, in->n_none_of };
    size_t i;
    int rc;

    for (i = 0; i < 3; i++)
        if ((rc = as__check_strv(names[i], lists[i], counts[i], c->errmsg,
                                 sizeof(c->errmsg))) != AS_OK)
            return rc;
    artstore__v1__filter__init(f);
    /* The wire struct wants char **; the strings are only read. */
    f->all_of = (char **)(uintptr_t)in->all_of;
    f->n_all_of = in->n_all_of;
    f->any_of = (char **)(uintptr_t)in->any_of;
    f->n_any_of = in->n_any_of;
    f->none_of = (char **)(uintptr_t)in->none_of;
    f->n_none_of = in->n_none_of;
    f->source = (char *)(uintptr_t)in->source;
    f->has_since = in->has_since != 0;
    f->since = in->since;
    f->has_until = in->has_until != 0;
    f->until = in->until;
    return AS_OK;
}

int as_query(as_client_t *c, const as_query_spec_t *q,
             as_query_result_t **out)
{
    Artstore__V1__QueryRequest req = ARTSTORE__V1__QUERY_REQUEST__INIT;
    Artstore__V1__Filter f = ARTSTORE__V1__FILTER__INIT;
    Artstore__V1__QueryResponse *resp;
    as_query_result_t *r;
    ProtobufCMessage *m;
    size_t i;
    int rc;

    if (c == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    *out = NULL;
    c->errmsg[0] = '\0';
    if (q == NULL)
        return as__fail(c, AS_EINVALID_ARGUMENT, "query spec is NULL");
    if ((rc = as__filter_to_pb(c, &(as__filter_spec_t)AS__FILTER_SPEC(q),
                               &f)) != AS_OK)
        return rc;
    f.has_story_id = q->story_id != 0;
    f.story_id = q->story_id;
    req.filter = &f;
    req.has_oldest_first = req.oldest_first = q->oldest_first != 0;
    as__page_to_pb(q->limit, q->cursor, q->cursor_len, &req.has_limit,
                   &req.limit, &req.has_cursor, &req.cursor);
    req.has_omit_body = req.omit_body = q->omit_body != 0;
    req.has_count_total = req.count_total = q->count_total != 0;

    rc = as__call(c, "Query", &req.base,
                  &artstore__v1__query_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    resp = (Artstore__V1__QueryResponse *)m;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        goto out_oom;
    r->articles = calloc(resp->n_articles ? resp->n_articles : 1,
                         sizeof(*r->articles));
    if (r->articles == NULL)
        goto out_oom;
    for (i = 0; i < resp->n_articles; i++) {
        if ((r->articles[i] = as__article_take_pb(resp->articles[i])) == NULL)
            goto out_oom;
        r->n_articles = i + 1;
    }
    if (as__cursor_from_pb(&resp->next_cursor, resp->has_next_cursor,
                           &r->next_cursor, &r->next_cursor_len) != 0)
        goto out_oom;
    r->has_total = resp->has_total;
    r->total = resp->total;
    r->seq = resp->seq;
    artstore__v1__query_response__free_unpacked(resp, NULL);
    *out = r;
    return AS_OK;

out_oom:
    as_query_result_free(r);
    artstore__v1__query_response__free_unpacked(resp, NULL);
    return as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory copying a page");
}

void as_tag_list_free(as_tag_list_t *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n_tags; i++)
        free(l->tags[i].tag);
    free(l->tags);
    free(l->next_cursor);
    free(l);
}

int as_list_tags(as_client_t *c, const as_tags_spec_t *spec,
                 as_tag_list_t **out)
{
    Artstore__V1__ListTagsRequest req = ARTSTORE__V1__LIST_TAGS_REQUEST__INIT;
    Artstore__V1__ListTagsResponse *resp;
    as_tag_list_t *l;
    ProtobufCMessage *m;
    size_t i;
    int rc, oom = 0;

    if (c == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    *out = NULL;
    c->errmsg[0] = '\0';
    if (spec != NULL) {
        req.prefix = (char *)spec->prefix;
        req.has_order = 1;
        req.order = spec->order == AS_TAGS_BY_NAME
                        ? ARTSTORE__V1__TAG_ORDER__TAGS_BY_NAME
                        : ARTSTORE__V1__TAG_ORDER__TAGS_BY_COUNT;
        as__page_to_pb(spec->limit, spec->cursor, spec->cursor_len, &req.has_limit,
                       &req.limit, &req.has_cursor, &req.cursor);
    }
    rc = as__call(c, "ListTags", &req.base,
                  &artstore__v1__list_tags_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    resp = (Artstore__V1__ListTagsResponse *)m;
    if ((l = calloc(1, sizeof(*l))) == NULL)
        goto out_oom;
    l->tags = calloc(resp->n_tags ? resp->n_tags : 1, sizeof(*l->tags));
    if (l->tags == NULL)
        goto out_oom;
    for (i = 0; i < resp->n_tags; i++) {
        l->tags[i].tag = as__strdup(resp->tags[i]->tag ? resp->tags[i]->tag
                                                        : "", &oom);
        l->tags[i].count = resp->tags[i]->count;
        l->n_tags = i + 1;
        if (oom)
            goto out_oom;
    }
    if (as__cursor_from_pb(&resp->next_cursor, resp->has_next_cursor,
                           &l->next_cursor, &l->next_cursor_len) != 0)
        goto out_oom;
    artstore__v1__list_tags_response__free_unpacked(resp, NULL);
    *out = l;
    return AS_OK;

out_oom:
    as_tag_list_free(l);
    artstore__v1__list_tags_response__free_unpacked(resp, NULL);
    return as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory copying tags");
}
