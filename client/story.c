/*
 * story.c - the ListStories and GetStory calls of libartstore.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void as_story_free(as_story_t *s)
{
    if (s == NULL)
        return;
    free(s->title);
    as__strv_free(s->sources, s->n_sources);
    as__strv_free(s->tags, s->n_tags);
    free(s);
}

/* Returns a new story made from pb; its strings and arrays move over (pb
 * must come from an unpack with the default allocator). NULL when out of
 * memory. */
static as_story_t *story_take_pb(Artstore__V1__Story *pb)
{
    as_story_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->id = pb->id;
    s->title = pb->title;
    pb->title = NULL;
    s->lead_id = pb->lead_id;
    s->articles = pb->articles;
    s->duplicates = pb->duplicates;
    s->sources = pb->sources;
    s->n_sources = pb->n_sources;
    pb->sources = NULL;
    pb->n_sources = 0;
    s->tags = pb->tags;
    s->n_tags = pb->n_tags;
    pb->tags = NULL;
    pb->n_tags = 0;
    s->first_seen = pb->first_seen;
    s->last_seen = pb->last_seen;
    return s;
}

void as_story_list_free(as_story_list_t *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n_stories; i++)
        as_story_free(l->stories[i]);
    free(l->stories);
    free(l->next_cursor);
    free(l);
}

int as_list_stories(as_client_t *c, const as_stories_spec_t *spec,
                    as_story_list_t **out)
{
    Artstore__V1__ListStoriesRequest req =
        ARTSTORE__V1__LIST_STORIES_REQUEST__INIT;
    Artstore__V1__Filter f = ARTSTORE__V1__FILTER__INIT;
    Artstore__V1__ListStoriesResponse *resp;
    as_story_list_t *l = NULL;
    ProtobufCMessage *m;
    size_t i;
    int rc;

    if (c == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    *out = NULL;
    c->errmsg[0] = '\0';
    if (spec != NULL) {
        if ((rc = as__filter_to_pb(c, &(as__filter_spec_t)AS__FILTER_SPEC(
                                           spec), &f)) != AS_OK)
            return rc;
        req.filter = &f;
        as__page_to_pb(spec->limit, spec->cursor, spec->cursor_len,
                       &req.has_limit, &req.limit, &req.has_cursor,
                       &req.cursor);
    }
    rc = as__call(c, "ListStories", &req.base,
                  &artstore__v1__list_stories_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    resp = (Artstore__V1__ListStoriesResponse *)m;
    if ((l = calloc(1, sizeof(*l))) == NULL)
        goto out_oom;
    l->stories = calloc(resp->n_stories ? resp->n_stories : 1,
                        sizeof(*l->stories));
    if (l->stories == NULL)
        goto out_oom;
    for (i = 0; i < resp->n_stories; i++) {
        if ((l->stories[i] = story_take_pb(resp->stories[i])) == NULL)
            goto out_oom;
        l->n_stories = i + 1;
    }
    if (as__cursor_from_pb(&resp->next_cursor, resp->has_next_cursor,
                           &l->next_cursor, &l->next_cursor_len) != 0)
        goto out_oom;
    artstore__v1__list_stories_response__free_unpacked(resp, NULL);
    *out = l;
    return AS_OK;

out_oom:
    as_story_list_free(l);
    artstore__v1__list_stories_response__free_unpacked(resp, NULL);
    return as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory copying a page");
}

int as_get_story(as_client_t *c, uint64_t id, uint32_t limit, int omit_body,
                 as_story_t **story, as_article_t ***articles, size_t *n)
{
    Artstore__V1__GetStoryRequest req = ARTSTORE__V1__GET_STORY_REQUEST__INIT;
    Artstore__V1__GetStoryResponse *resp;
    as_article_t **v = NULL;
    as_story_t *s = NULL;
    ProtobufCMessage *m;
    size_t i, got = 0;
    int rc;

    if (c == NULL || story == NULL || articles == NULL || n == NULL)
        return AS_EINVALID_ARGUMENT;
    *story = NULL;
    *articles = NULL;
    *n = 0;
    c->errmsg[0] = '\0';
    req.has_id = 1;
    req.id = id;
    req.has_omit_body = req.omit_body = omit_body != 0;
    if (limit) {
        req.has_limit = 1;
        req.limit = limit;
    }
    rc = as__call(c, "GetStory", &req.base,
                  &artstore__v1__get_story_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    resp = (Artstore__V1__GetStoryResponse *)m;
    if (resp->story == NULL) {
        artstore__v1__get_story_response__free_unpacked(resp, NULL);
        return as__fail(c, AS_EINTERNAL, "GetStory reply without a story");
    }
    if ((s = story_take_pb(resp->story)) == NULL)
        goto out_oom;
    v = calloc(resp->n_articles ? resp->n_articles : 1, sizeof(*v));
    if (v == NULL)
        goto out_oom;
    for (i = 0; i < resp->n_articles; i++) {
        if ((v[i] = as__article_take_pb(resp->articles[i])) == NULL)
            goto out_oom;
        got = i + 1;
    }
    artstore__v1__get_story_response__free_unpacked(resp, NULL);
    *story = s;
    *articles = v;
    *n = got;
    return AS_OK;

out_oom:
    as_story_free(s);
    as_articles_free(v, got);
    artstore__v1__get_story_response__free_unpacked(resp, NULL);
    return as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory copying a story");
}
