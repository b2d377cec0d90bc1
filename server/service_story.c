/*
 * service_story.c - ListStories and GetStory (see service_story.h):
 * requests decoded and checked here, stories read through the store
 * (as_store_walk_stories, as_postings_open_story), replies built by hand
 * (wire.h) so that stored stories and articles are embedded as they are.
 */
#include "service_story.h"

#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "service.h"
#include "wire.h"

#define SCUR_VERSION 1
#define SCUR_LEN 17          /* version, time_key (8), story id (8) */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns nonzero if s is in the sorted list v. */
static int has(char **v, size_t n, const char *s)
{
    return n > 0 && bsearch(&s, v, n, sizeof(*v), cmp_str) != NULL;
}

/* Returns nonzero if story s satisfies f: its articles' tags together,
 * its sources, [first_seen, last_seen] against [since, until). */
static int story_matches(const as_filter_t *f, const Artstore__V1__Story *s)
{
    size_t i;

    for (i = 0; i < f->n_tags[AS_FILTER_ALL]; i++)
        if (!has(s->tags, s->n_tags, f->tags[AS_FILTER_ALL][i]))
            return 0;
    for (i = 0; i < f->n_tags[AS_FILTER_NONE]; i++)
        if (has(s->tags, s->n_tags, f->tags[AS_FILTER_NONE][i]))
            return 0;
    if (f->n_tags[AS_FILTER_ANY] > 0) {
        for (i = 0; i < f->n_tags[AS_FILTER_ANY]; i++)
            if (has(s->tags, s->n_tags, f->tags[AS_FILTER_ANY][i]))
                break;
        if (i == f->n_tags[AS_FILTER_ANY])
            return 0;
    }
    if (f->source != NULL && !has(s->sources, s->n_sources, f->source))
        return 0;
    if (f->has_since && s->last_seen < f->since)
        return 0;
    if (f->has_until && s->first_seen >= f->until)
        return 0;
    return 1;
}

/* ------------------------------------------------------------ display */

/* Replaces *raw, a packed Story of rd's open snapshot, with one whose
 * sources and tags (folded keys, as the story tables count them) are in
 * the forms they were first written in (as_store_get_form), packed into
 * ar. Returns 0 or a code with st set. */
static int story_forms(as_reader_t *rd, as_arena_t *ar, as_bytes_t *raw,
                       as_status_t *st)
{
    ProtobufCAllocator al = as_arena_allocator(ar);
    Artstore__V1__Story *s;
    as_bytes_t form;
    uint8_t *buf;
    size_t i, n;
    int rc;

    if ((s = artstore__v1__story__unpack(&al, raw->len, raw->data)) == NULL)
        return as_status_set(st, AS_CODE_DATA_LOSS, "a story cannot be "
                             "decoded (or max_decode_bytes=%zu is spent)",
                             as_arena_budget(ar));
    for (i = 0; i < s->n_sources + s->n_tags; i++) {
        int src = i < s->n_sources;
        char **v = src ? &s->sources[i] : &s->tags[i - s->n_sources];

        if ((rc = as_store_get_form(rd, src ? 's' : 't', *v, strlen(*v),
                                    &form, st)) != 0)
            return rc;
        if ((*v = as_arena_strndup(ar, form.data, form.len)) == NULL)
            goto out_oom;
    }
    n = artstore__v1__story__get_packed_size(s);
    if ((buf = as_arena_alloc(ar, n ? n : 1)) == NULL)
        goto out_oom;
    artstore__v1__story__pack(s, buf);
    raw->data = buf;
    raw->len = n;
    return 0;

out_oom:
    return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                         "reply needs more than max_decode_bytes=%zu",
                         as_arena_budget(ar));
}

/* ------------------------------------------------------------ ListStories */

typedef struct list_reply {
    as_wire_buf_t b;
    const as_filter_t *f;
    int filtered;            /* a condition needs the story unpacked */
    ProtobufCAllocator al;
    as_reader_t *rd;         /* its snapshot is open during the walk */
    as_arena_t *ar;
    size_t limit, n, scanned, max_bytes;
    as_pos_t last, prev;     /* last scanned position, and the one before */
    int more;
} list_reply_t;

/* as_story_visit_fn: appends a matching story, or stops the page. */
static int list_visit(void *arg, as_pos_t pos, as_bytes_t raw,
                      as_status_t *st)
{
    list_reply_t *lr = arg;
    int rc;

    if (lr->n == lr->limit || lr->scanned == AS_STORY_SCAN) {
        lr->more = 1;        /* go on after the last one looked at */
        return AS_VISIT_STOP;
    }
    lr->scanned++;
    lr->prev = lr->last;
    lr->last = pos;
    if (lr->filtered) {
        Artstore__V1__Story *s =
            artstore__v1__story__unpack(&lr->al, raw.len, raw.data);

        if (s == NULL)
            return as_status_set(st, AS_CODE_DATA_LOSS, "story %llu cannot "
                                 "be decoded", (unsigned long long)pos.id);
        if (!story_matches(lr->f, s))
            return 0;
    }
    if ((rc = story_forms(lr->rd, lr->ar, &raw, st)) != 0)
        return rc;
    /* A page is cut short at max_reply_bytes; the next one starts again
     * at this story. */
    if (lr->b.len + as_wire_bytes_size(AS_WIRE_STORIES_STORIES, raw.len) +
            64 > lr->max_bytes) {
        if (lr->n == 0)
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "story %llu is %zu bytes, over the limit "
                                 "max_reply_bytes=%zu",
                                 (unsigned long long)pos.id, raw.len,
                                 lr->max_bytes);
        lr->last = lr->prev;
        lr->more = 1;
        return AS_VISIT_STOP;
    }
    if (as_wire_put_bytes(&lr->b, AS_WIRE_STORIES_STORIES, raw.data,
                          raw.len) != 0)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory building the reply");
    lr->n++;
    return 0;
}

void as__svc_list_stories(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__ListStoriesRequest *req;
    list_reply_t lr;
    as_filter_t f;
    as_reader_t *rd;
    as_status_t st;
    as_pos_t after;
    unsigned char cur[SCUR_LEN];
    int rc, has_after = 0;

    req = (Artstore__V1__ListStoriesRequest *)as_service_unpack(
        call, &artstore__v1__list_stories_request__descriptor, payload, len);
    if (req == NULL)
        return;
    memset(&lr, 0, sizeof(lr));
    if (as_service_page_limit(call, req->has_limit, req->limit,
                              &lr.limit) != 0 ||
        as_service_filter(call, req->filter, &f) != 0)
        return;
    if (req->has_cursor && req->cursor.len > 0) {
        if (req->cursor.len != SCUR_LEN || req->cursor.data[0] != SCUR_VERSION) {
            as_filter_free(&f);
            as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                                "cursor is malformed (%zu bytes); pass "
                                "next_cursor from a previous reply",
                                req->cursor.len);
            return;
        }
        after.tk = as_be_get64(req->cursor.data + 1);
        after.id = as_be_get64(req->cursor.data + 9);
        has_after = 1;
    }
    if ((rd = as_service_reader(call)) == NULL) {
        as_filter_free(&f);
        return;
    }
    lr.f = &f;
    lr.filtered = f.n_tags[AS_FILTER_ALL] || f.n_tags[AS_FILTER_ANY] ||
                  f.n_tags[AS_FILTER_NONE] || f.source != NULL || f.has_until;
    lr.al = as_arena_allocator(as_call_arena(call));
    lr.rd = rd;
    lr.ar = as_call_arena(call);
    lr.max_bytes = svc->limits.max_reply_bytes;
    if ((rc = as_reader_begin(rd, &st)) == 0) {
        rc = as_store_walk_stories(rd, has_after ? &after : NULL,
                                   f.has_since ? as_time_key(f.since) : 0,
                                   list_visit, &lr, &st);
        as_reader_end(rd);
    }
    if (rc == 0 && lr.more) {
        cur[0] = SCUR_VERSION;
        as_be_put64(cur + 1, lr.last.tk);
        as_be_put64(cur + 9, lr.last.id);
        if (as_wire_put_bytes(&lr.b, AS_WIRE_STORIES_NEXT_CURSOR, cur,
                              sizeof(cur)) != 0)
            rc = as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                               "out of memory building the reply");
    }
    if (rc == 0)
        as_call_reply_raw(call, lr.b.data, lr.b.len);
    else
        as_call_reply_status(call, &st);
    as_wire_buf_free(&lr.b);
    as_filter_free(&f);
}

/* ------------------------------------------------------------ GetStory */

/* Appends the story's articles, oldest first, at most limit of them. */
static int story_articles(as_reader_t *rd, uint64_t id, size_t limit,
                          int omit_body, as_arena_t *ar, size_t max_bytes,
                          as_wire_buf_t *b, as_status_t *st)
{
    as_postings_t *p;
    as_pos_t target = { 0, 0 }, head;
    as_bytes_t raw;
    size_t n = 0;
    int rc, found;

    if ((rc = as_postings_open_story(rd, id, &p, st)) != 0)
        return rc;
    while (n < limit) {
        if ((rc = as_postings_seek(p, target, 0, &found, &head, st)) != 0 ||
            !found)
            break;
        if ((rc = as_store_get_raw(rd, head.id, &raw, st)) == 0 &&
            (rc = as_service_article_bytes(raw, omit_body, ar, &raw,
                                           st)) == 0) {
            if (b->len + as_wire_bytes_size(AS_WIRE_GET_STORY_ARTICLES,
                                            raw.len) + 64 > max_bytes) {
                rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                   "story %llu's articles are over the limit "
                                   "max_reply_bytes=%zu after %zu of them; "
                                   "ask with omit_body or a limit",
                                   (unsigned long long)id, max_bytes, n);
            } else if (as_wire_put_bytes(b, AS_WIRE_GET_STORY_ARTICLES,
                                         raw.data, raw.len) != 0) {
                rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                   "out of memory building the reply");
            }
        }
        if (rc != 0)
            break;
        n++;
        target = head;
        if (++target.id == 0 && ++target.tk == 0)
            break;   /* the last position there is */
    }
    as_postings_close(p);
    return rc;
}

void as__svc_get_story(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__GetStoryRequest *req;
    as_wire_buf_t b = { 0 };
    as_reader_t *rd;
    as_status_t st;
    as_bytes_t raw;
    size_t limit;
    int rc;

    req = (Artstore__V1__GetStoryRequest *)as_service_unpack(
        call, &artstore__v1__get_story_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (!req->has_id || req->id == 0) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT, "id is required");
        return;
    }
    limit = req->has_limit && req->limit ? req->limit : svc->limits.max_page;
    if (limit > svc->limits.max_page) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "limit %zu is over the limit max_page=%zu", limit,
                            svc->limits.max_page);
        return;
    }
    if ((rd = as_service_reader(call)) == NULL)
        return;
    if ((rc = as_reader_begin(rd, &st)) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    rc = as_store_get_story(rd, req->id, &raw, &st);
    if (rc == 0)
        rc = story_forms(rd, as_call_arena(call), &raw, &st);
    if (rc == 0 &&
        as_wire_put_bytes(&b, AS_WIRE_GET_STORY_STORY, raw.data, raw.len) != 0)
        rc = as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                           "out of memory building the reply");
    if (rc == 0)
        rc = story_articles(rd, req->id, limit,
                            req->has_omit_body && req->omit_body,
                            as_call_arena(call), svc->limits.max_reply_bytes,
                            &b, &st);
    as_reader_end(rd);
    if (rc == 0)
        as_call_reply_raw(call, b.data, b.len);
    else
        as_call_reply_status(call, &st);
    as_wire_buf_free(&b);
}
