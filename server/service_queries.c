/*
 * service_queries.c - Query and ListTags: requests decoded and checked
 * here, answered by the query engine (query.h), replies built by hand
 * (wire.h) so that stored articles are embedded as they are.
 */
#include <stdlib.h>
#include <string.h>

#include "article.h"
#include "query.h"
#include "service.h"
#include "wire.h"

/* ------------------------------------------------------------ Query */

/* What the Query visitor needs. */
typedef struct query_reply {
    as_wire_buf_t b;
    int omit_body;
    size_t n;                /* articles in the reply */
    size_t max_bytes;        /* limits.max_reply_bytes */
    as_arena_t *ar;
} query_reply_t;

/* as_query_visit_fn: appends a stored article to the reply. */
static int query_visit(void *arg, uint64_t id, as_bytes_t raw,
                       as_status_t *st)
{
    query_reply_t *qr = arg;
    as_bytes_t bytes;
    int rc;

    if ((rc = as_service_article_bytes(raw, qr->omit_body, qr->ar, &bytes,
                                       st)) != 0)
        return rc;
    /* A page is cut short at max_reply_bytes (the cursor goes on from the
     * last article in it); a single article over it is an error. */
    if (qr->b.len + as_wire_bytes_size(AS_WIRE_QUERY_ARTICLES, bytes.len) +
            64 > qr->max_bytes) {
        if (qr->n > 0)
            return AS_VISIT_STOP;
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "article %llu is %zu bytes, over the limit "
                             "max_reply_bytes=%zu; ask with omit_body",
                             (unsigned long long)id, bytes.len, qr->max_bytes);
    }
    qr->n++;
    if (as_wire_put_bytes(&qr->b, AS_WIRE_QUERY_ARTICLES, bytes.data,
                          bytes.len) != 0)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory building the reply");
    return 0;
}

/* Appends next_cursor (when more follow), total and seq to the reply.
 * Returns 0 or -1 when out of memory. */
static int query_reply_tail(query_reply_t *qr, const as_query_t *q,
                            const as_query_result_t *res)
{
    unsigned char cur[AS_QUERY_CURSOR_LEN];
    size_t n;

    if (res->more) {
        n = as_query_cursor_encode(q->filter, q->desc, res->last, cur);
        if (as_wire_put_bytes(&qr->b, AS_WIRE_QUERY_NEXT_CURSOR, cur, n) != 0)
            return -1;
    }
    if (q->count_total &&
        as_wire_put_uint(&qr->b, AS_WIRE_QUERY_TOTAL, res->total) != 0)
        return -1;
    return as_wire_put_uint(&qr->b, AS_WIRE_QUERY_SEQ, res->seq);
}

/* Answers Query from one snapshot: the page from the cursor's position,
 * the stored articles embedded as they are, next_cursor (only when one
 * more match exists), total and seq. */
void as__svc_query(as_call_t *call, const uint8_t *payload, size_t len)
{
    Artstore__V1__QueryRequest *req;
    query_reply_t qr;
    as_query_result_t res;
    as_query_t q;
    as_filter_t f;
    as_reader_t *rd;
    as_status_t st;
    int rc;

    req = (Artstore__V1__QueryRequest *)as_service_unpack(
        call, &artstore__v1__query_request__descriptor, payload, len);
    if (req == NULL)
        return;
    memset(&q, 0, sizeof(q));
    q.desc = !(req->has_oldest_first && req->oldest_first);
    q.count_total = req->has_count_total && req->count_total;
    q.deadline_ms = as_call_deadline_ms(call);
    q.budget_ms = ((as_service_t *)as_call_ctx(call))->limits.query_budget_ms;
    q.filter = &f;
    if (as_service_page_limit(call, req->has_limit, req->limit, &q.limit) != 0 ||
        as_service_filter(call, req->filter, &f) != 0)
        return;
    if (req->has_cursor && req->cursor.len > 0) {
        if (as_query_cursor_decode(req->cursor.data, req->cursor.len, &f,
                                   q.desc, &q.after, &st) != 0) {
            as_filter_free(&f);
            as_call_reply_status(call, &st);
            return;
        }
        q.has_after = 1;
    }
    if ((rd = as_service_reader(call)) == NULL) {
        as_filter_free(&f);
        return;
    }
    memset(&qr, 0, sizeof(qr));
    qr.omit_body = req->has_omit_body && req->omit_body;
    qr.ar = as_call_arena(call);
    qr.max_bytes = ((as_service_t *)as_call_ctx(call))->limits.max_reply_bytes;
    rc = as_query_run(rd, &q, query_visit, &qr, &res, &st);
    if (rc == 0 && query_reply_tail(&qr, &q, &res) != 0)
        rc = as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                           "out of memory building the reply");
    if (rc == 0)
        as_call_reply_raw(call, qr.b.data, qr.b.len);
    else
        as_call_reply_status(call, &st);
    as_wire_buf_free(&qr.b);
    as_filter_free(&f);
}

/* ------------------------------------------------------------ ListTags */

/* The ListTags reply being built, and the reader whose snapshot the walk
 * holds open (display forms are read from it). */
typedef struct tags_reply {
    as_wire_buf_t b;
    as_reader_t *rd;
} tags_reply_t;

/* as_tags_visit_fn: appends one TagCount to the reply, the tag in the
 * form it was first written in. */
static int tags_visit(void *arg, const char *name, size_t len,
                      uint64_t count, as_status_t *st)
{
    tags_reply_t *tr = arg;
    as_wire_buf_t *b = &tr->b, m = { 0 };
    as_bytes_t form;
    int rc;

    if ((rc = as_store_get_form(tr->rd, 't', name, len, &form, st)) != 0)
        return rc;
    rc = as_wire_put_bytes(&m, AS_WIRE_TAG_COUNT_TAG, form.data, form.len) ||
         as_wire_put_uint(&m, AS_WIRE_TAG_COUNT_COUNT, count) ||
         as_wire_put_bytes(b, AS_WIRE_TAGS_TAGS, m.data, m.len);
    as_wire_buf_free(&m);
    return rc ? as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                              "out of memory building the reply")
              : 0;
}

/* Answers ListTags from one snapshot (see query.h for the cost). */
void as__svc_list_tags(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__ListTagsRequest *req;
    as_tags_query_t q;
    tags_reply_t tr = { { 0 }, NULL };
    as_reader_t *rd;
    as_status_t st;
    unsigned char *cursor = NULL;
    size_t cursor_len = 0;
    char *prefix = NULL;
    int rc;

    req = (Artstore__V1__ListTagsRequest *)as_service_unpack(
        call, &artstore__v1__list_tags_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (req->has_order &&
        req->order != ARTSTORE__V1__TAG_ORDER__TAGS_BY_COUNT &&
        req->order != ARTSTORE__V1__TAG_ORDER__TAGS_BY_NAME) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "order %d is not a TagOrder (0: by count, 1: by "
                            "name)", (int)req->order);
        return;
    }
    memset(&q, 0, sizeof(q));
    q.by_name = req->has_order &&
                req->order == ARTSTORE__V1__TAG_ORDER__TAGS_BY_NAME;
    q.deadline_ms = as_call_deadline_ms(call);
    q.budget_ms = svc->limits.query_budget_ms;
    if (as_service_page_limit(call, req->has_limit, req->limit, &q.limit) != 0)
        return;
    if (req->prefix != NULL && req->prefix[0] != '\0' &&
        as_tag_normalize(req->prefix, svc->limits.max_tag_bytes, "prefix",
                         as_call_arena(call), &prefix, &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    q.prefix = prefix;
    if (req->has_cursor) {
        q.cursor = req->cursor.data;
        q.cursor_len = req->cursor.len;
    }
    if ((rd = as_service_reader(call)) == NULL)
        return;
    tr.rd = rd;
    rc = as_query_list_tags(rd, &q, tags_visit, &tr, &cursor, &cursor_len,
                            &st);
    if (rc == 0 && cursor != NULL &&
        as_wire_put_bytes(&tr.b, AS_WIRE_TAGS_NEXT_CURSOR, cursor,
                          cursor_len) != 0)
        rc = as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                           "out of memory building the reply");
    if (rc == 0)
        as_call_reply_raw(call, tr.b.data, tr.b.len);
    else
        as_call_reply_status(call, &st);
    free(cursor);
    as_wire_buf_free(&tr.b);
}
