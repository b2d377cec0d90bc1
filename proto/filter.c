/*
 * filter.c - the one filter normalization and match. See filter.h.
 */
#include "filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagfold.h"

const char *const as_filter_list_names[AS_FILTER_LISTS] = {
    "all_of", "any_of", "none_of",
};

int as_filter_fold_tag(const char *in, size_t n, size_t max_bytes,
                       const char *what, const char *limit_name, char **out,
                       size_t *out_len, char *err, size_t errcap)
{
    unsigned char bad = 0;
    const char *why;

    *out = NULL;
    /* Folding can grow a string (ß -> ss) but not fourfold: refuse a
     * hopeless one before paying for the fold. */
    if (max_bytes != SIZE_MAX && n > 4 * max_bytes + 64) {
        snprintf(err, errcap, "%s is %zu bytes, over the limit %s=%zu", what,
                 n, limit_name, max_bytes);
        return AS_FILTER_INVALID;
    }
    switch (as_tag_fold(in, n, out, out_len, &bad)) {
    case AS_TAGFOLD_OK:
        if (*out_len <= max_bytes)
            return AS_FILTER_OK;
        snprintf(err, errcap, "%s is %zu bytes, over the limit %s=%zu", what,
                 *out_len, limit_name, max_bytes);
        free(*out);
        *out = NULL;
        return AS_FILTER_INVALID;
    case AS_TAGFOLD_UTF8:
        why = "is not valid UTF-8";
        break;
    case AS_TAGFOLD_CONTROL:
        snprintf(err, errcap, "%s contains control character 0x%02x", what,
                 bad);
        return AS_FILTER_INVALID;
    case AS_TAGFOLD_EMPTY:
        why = "is empty";
        break;
    case AS_TAGFOLD_FOLD:
        why = "cannot be case-folded";
        break;
    case AS_TAGFOLD_NOMEM:
    default:
        snprintf(err, errcap, "out of memory normalizing %s", what);
        return AS_FILTER_NOMEM;
    }
    snprintf(err, errcap, "%s %s", what, why);
    return AS_FILTER_INVALID;
}

void as_filter_free(as_filter_t *f)
{
    size_t i;
    int l;

    for (l = 0; l < AS_FILTER_LISTS; l++) {
        for (i = 0; i < f->n_tags[l]; i++)
            free(f->tags[l][i]);
        free(f->tags[l]);
    }
    free(f->source);
    memset(f, 0, sizeof(*f));
}

int as_filter_from_pb(const Artstore__V1__Filter *in,
                      const as_filter_limits_t *lim, as_filter_t *out,
                      char *err, size_t errcap)
{
    char **lists[AS_FILTER_LISTS];
    size_t ns[AS_FILTER_LISTS], i, len, total;
    char what[64];
    int l, rc;

    memset(out, 0, sizeof(*out));
    if (in == NULL)
        return AS_FILTER_OK;
    lists[AS_FILTER_ALL] = in->all_of;
    ns[AS_FILTER_ALL] = in->n_all_of;
    lists[AS_FILTER_ANY] = in->any_of;
    ns[AS_FILTER_ANY] = in->n_any_of;
    lists[AS_FILTER_NONE] = in->none_of;
    ns[AS_FILTER_NONE] = in->n_none_of;
    total = ns[0] + ns[1] + ns[2];
    if (total > lim->max_query_tags) {
        snprintf(err, errcap, "filter has %zu tags, over the limit "
                 "max_query_tags=%zu", total, lim->max_query_tags);
        return AS_FILTER_INVALID;
    }
    for (l = 0; l < AS_FILTER_LISTS; l++) {
        if (ns[l] == 0)
            continue;
        if ((out->tags[l] = calloc(ns[l], sizeof(char *))) == NULL) {
            snprintf(err, errcap, "out of memory for the filter");
            rc = AS_FILTER_NOMEM;
            goto out_free;
        }
        out->n_tags[l] = ns[l];
        for (i = 0; i < ns[l]; i++) {
            if (lists[l][i] == NULL) {
                snprintf(err, errcap, "filter.%s[%zu] is NULL",
                         as_filter_list_names[l], i);
                rc = AS_FILTER_INVALID;
                goto out_free;
            }
            snprintf(what, sizeof(what), "filter.%s[%zu]",
                     as_filter_list_names[l], i);
            if ((rc = as_filter_fold_tag(lists[l][i], strlen(lists[l][i]),
                                         lim->max_tag_bytes, what,
                                         "max_tag_bytes", &out->tags[l][i],
                                         &len, err, errcap)) != AS_FILTER_OK)
                goto out_free;
        }
    }
    if (in->source != NULL &&
        (rc = as_filter_fold_tag(in->source, strlen(in->source),
                                 lim->max_source_bytes, "filter.source",
                                 "max_source_bytes", &out->source, &len, err,
                                 errcap)) != AS_FILTER_OK)
        goto out_free;
    out->has_since = in->has_since;
    out->since = in->since;
    out->has_until = in->has_until;
    out->until = in->until;
    out->has_story_id = in->has_story_id;
    out->story_id = in->story_id;
    out->new_stories = in->has_new_stories && in->new_stories;
    return AS_FILTER_OK;

out_free:
    as_filter_free(out);
    return rc;
}

void as_filter_to_pb(const as_filter_t *f, Artstore__V1__Filter *out)
{
    artstore__v1__filter__init(out);
    out->all_of = f->tags[AS_FILTER_ALL];
    out->n_all_of = f->n_tags[AS_FILTER_ALL];
    out->any_of = f->tags[AS_FILTER_ANY];
    out->n_any_of = f->n_tags[AS_FILTER_ANY];
    out->none_of = f->tags[AS_FILTER_NONE];
    out->n_none_of = f->n_tags[AS_FILTER_NONE];
    out->source = f->source;
    out->has_since = f->has_since;
    out->since = f->since;
    out->has_until = f->has_until;
    out->until = f->until;
    out->has_story_id = f->has_story_id;
    out->story_id = f->story_id;
    out->has_new_stories = out->new_stories = f->new_stories != 0;
}

int as_filter_is_empty(const as_filter_t *f)
{
    return f->n_tags[0] + f->n_tags[1] + f->n_tags[2] == 0 &&
           f->source == NULL && !f->has_since && !f->has_until &&
           !f->has_story_id && !f->new_stories;
}

/* A tag set given either as spans or as NUL-terminated strings. */
typedef struct tagset {
    const as_span_t *spans;
    char *const *strv;
    size_t n;
} tagset_t;

static int set_has(const tagset_t *s, const char *t)
{
    size_t tl = strlen(t), i;

    for (i = 0; i < s->n; i++) {
        if (s->spans != NULL) {
            if (s->spans[i].len == tl && memcmp(s->spans[i].p, t, tl) == 0)
                return 1;
        } else if (strcmp(s->strv[i], t) == 0) {
            return 1;
        }
    }
    return 0;
}

static int set_match(const as_filter_t *f, const tagset_t *s)
{
    size_t i;

    for (i = 0; i < f->n_tags[AS_FILTER_ALL]; i++)
        if (!set_has(s, f->tags[AS_FILTER_ALL][i]))
            return 0;
    for (i = 0; i < f->n_tags[AS_FILTER_NONE]; i++)
        if (set_has(s, f->tags[AS_FILTER_NONE][i]))
            return 0;
    if (f->n_tags[AS_FILTER_ANY] == 0)
        return 1;
    for (i = 0; i < f->n_tags[AS_FILTER_ANY]; i++)
        if (set_has(s, f->tags[AS_FILTER_ANY][i]))
            return 1;
    return 0;
}

int as_filter_match_spans(const as_filter_t *f, const as_span_t *tags,
                          size_t n)
{
    tagset_t s = { tags, NULL, n };

    return set_match(f, &s);
}

int as_filter_match_strv(const as_filter_t *f, char *const *tags, size_t n)
{
    tagset_t s = { NULL, tags, n };

    return set_match(f, &s);
}

int as_filter_match_time(const as_filter_t *f, int64_t t)
{
    return (!f->has_since || t >= f->since) && (!f->has_until || t < f->until);
}

int as_filter_match_event(const as_filter_t *f,
                          const Artstore__V1__ChangeEvent *ev)
{
    if (!as_filter_match_strv(f, ev->tags, ev->n_tags) &&
        !(ev->type == ARTSTORE__V1__CHANGE_TYPE__CHANGE_UPDATE &&
          as_filter_match_strv(f, ev->prev_tags, ev->n_prev_tags)))
        return 0;
    if (f->source != NULL &&
        (ev->source == NULL || strcmp(f->source, ev->source) != 0))
        return 0;
    if (f->has_story_id && (!ev->has_story_id || ev->story_id != f->story_id))
        return 0;
    if (f->new_stories && !(ev->has_new_story && ev->new_story))
        return 0;
    if (f->has_since || f->has_until) {
        if (ev->has_published_at)
            return as_filter_match_time(f, ev->published_at);
        if (ev->has_ingested_at)
            return as_filter_match_time(f, ev->ingested_at);
        return 0;   /* logged before events carried ingested_at */
    }
    return 1;
}
