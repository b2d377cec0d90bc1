/*
 * service_articles.c - Put, PutBatch, Get and Delete: validated on the
 * worker, written through the writer (completed on the writer thread after
 * the commit), read from the worker's store snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "article.h"
#include "service.h"
#include "wire.h"

/* ------------------------------------------------------------ Put */

/* For a one-item job: replies with the job's error or else its item's, and
 * returns 1, or returns 0 when both are OK and the caller must reply. */
static int reply_if_failed(as_write_job_t *job)
{
    const as_status_t *st = job->st.code != AS_CODE_OK ? &job->st
                                                        : &job->items[0].st;

    if (st->code == AS_CODE_OK)
        return 0;
    as_call_reply_status(job->arg, st);
    return 1;
}

static void put_done(as_write_job_t *job)
{
    as_call_t *call = job->arg;
    as_write_item_t *it = &job->items[0];
    Artstore__V1__PutResponse resp = ARTSTORE__V1__PUT_RESPONSE__INIT;

    if (reply_if_failed(job))
        return;
    resp.has_id = resp.has_outcome = resp.has_revision = 1;
    resp.id = it->out.id;
    resp.outcome = (Artstore__V1__PutOutcome)it->out.outcome;
    resp.revision = it->out.revision;
    as_call_reply(call, &resp.base);
}

/* Fills a write's condition and request id; returns 0 or
 * INVALID_ARGUMENT for a request id out of bounds. */
static int set_cond(as_write_cond_t *cond, int has_expected, uint64_t expected,
                    int has_id, const ProtobufCBinaryData *id,
                    as_status_t *st)
{
    memset(cond, 0, sizeof(*cond));
    cond->has_expected = has_expected;
    cond->expected = expected;
    if (!has_id)
        return 0;
    if (id->len == 0 || id->len > AS_REQUEST_ID_MAX)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "request_id is %zu bytes; it must be 1 to %d",
                             id->len, AS_REQUEST_ID_MAX);
    cond->request_id.data = id->data;
    cond->request_id.len = id->len;
    return 0;
}

/* Arena bytes put_batch_done takes to answer n items (its three arrays,
 * each rounded up for alignment): the packing ahead of the writer
 * (as_service_prepack) leaves them free. */
static size_t batch_reply_bytes(size_t n)
{
    return (n ? n : 1) * (sizeof(Artstore__V1__PutResult) +
                          sizeof(Artstore__V1__Status) +
                          sizeof(Artstore__V1__PutResult *)) + 3 * 16;
}

/* Validates one PutRequest into a write item; returns 0 or the code. */
static int prepare_put(as_call_t *call, Artstore__V1__PutRequest *req,
                       as_write_item_t *it)
{
    as_service_t *svc = as_call_ctx(call);

    it->op = AS_WRITE_PUT;
    if (set_cond(&it->cond, req->has_expected_revision,
                 req->expected_revision, req->has_request_id,
                 &req->request_id, &it->st) != 0)
        return it->st.code;
    if (req->article == NULL)
        return as_status_set(&it->st, AS_CODE_INVALID_ARGUMENT,
                             "article is required");
    it->article = req->article;
    if (as_article_prepare(req->article, as_call_arena(call), &svc->limits,
                           &it->st) != 0)
        return it->st.code;
    /* The fingerprint is pure CPU: computed here, in parallel, so the one
     * writer thread only looks it up. */
    if (svc->stories) {
        as_story_fp_t *fp = as_arena_alloc(as_call_arena(call), sizeof(*fp));

        if (fp != NULL)
            as_story_fingerprint(req->article->title, req->article->body, fp);
        it->fp = fp;
    }
    return 0;
}

/* Packs the n items of job ahead of the writer (as_service_prepack), once
 * every item is prepared, leaving the arena what put_batch_done needs. */
static void prepack_items(as_call_t *call, as_write_job_t *job)
{
    size_t i, keep = batch_reply_bytes(job->n);

    for (i = 0; i < job->n; i++)
        if (!job->items[i].prefailed)
            as_service_prepack(call, &job->items[i], keep);
}

void as__svc_put(as_call_t *call, const uint8_t *payload, size_t len)
{
    Artstore__V1__PutRequest *req;
    as_write_job_t *job;

    req = (Artstore__V1__PutRequest *)as_service_unpack(
        call, &artstore__v1__put_request__descriptor, payload, len);
    if (req == NULL || (job = as_service_new_job(call, 1, put_done)) == NULL)
        return;
    if (prepare_put(call, req, &job->items[0]) != 0) {
        as_call_reply_status(call, &job->items[0].st);
        return;
    }
    as_service_prepack(call, &job->items[0], 0);
    as_service_submit(call, job);
}

/* ------------------------------------------------------------ PutBatch */

static void put_batch_done(as_write_job_t *job)
{
    as_call_t *call = job->arg;
    as_arena_t *ar = as_call_arena(call);
    Artstore__V1__PutBatchResponse resp = ARTSTORE__V1__PUT_BATCH_RESPONSE__INIT;
    Artstore__V1__PutResult *res;
    Artstore__V1__Status *sts;
    size_t i, n = job->n ? job->n : 1;

    if (job->st.code != AS_CODE_OK) {
        as_call_reply_status(call, &job->st);
        return;
    }
    res = as_arena_alloc(ar, sizeof(*res) * n);
    sts = as_arena_alloc(ar, sizeof(*sts) * n);
    resp.results = as_arena_alloc(ar, sizeof(*resp.results) * n);
    if (res == NULL || sts == NULL || resp.results == NULL) {
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "reply needs more than max_decode_bytes");
        return;
    }
    for (i = 0; i < job->n; i++) {
        as_write_item_t *it = &job->items[i];
        Artstore__V1__PutResult *r = &res[i];

        artstore__v1__put_result__init(r);
        artstore__v1__status__init(&sts[i]);
        sts[i].has_code = 1;
        sts[i].code = (Artstore__V1__Code)it->st.code;
        if (it->st.code != AS_CODE_OK) {
            sts[i].message = it->st.msg;
        } else {
            r->has_id = r->has_outcome = r->has_revision = 1;
            r->id = it->out.id;
            r->outcome = (Artstore__V1__PutOutcome)it->out.outcome;
            r->revision = it->out.revision;
        }
        r->status = &sts[i];
        resp.results[i] = r;
    }
    resp.n_results = job->n;
    as_call_reply(call, &resp.base);
}

void as__svc_put_batch(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__PutBatchRequest *req;
    as_write_job_t *job;
    size_t i, n_ok;

    req = (Artstore__V1__PutBatchRequest *)as_service_unpack(
        call, &artstore__v1__put_batch_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (req->n_items > svc->limits.max_batch) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "batch has %zu items, over the limit "
                            "max_batch=%zu", req->n_items,
                            svc->limits.max_batch);
        return;
    }
    if ((job = as_service_new_job(call, req->n_items, put_batch_done)) == NULL)
        return;
    n_ok = 0;
    for (i = 0; i < req->n_items; i++) {
        if (prepare_put(call, req->items[i], &job->items[i]) != 0)
            job->items[i].prefailed = 1;
        else
            n_ok++;
    }
    /* Nothing valid to write: answer at once instead of costing the
     * writer a commit. */
    if (n_ok == 0) {
        put_batch_done(job);
        return;
    }
    prepack_items(call, job);
    as_service_submit(call, job);
}

/* ------------------------------------------------------------ PutExact */

/* Ids, revisions and story ids of exact puts stay below this: far beyond
 * any real store, and next_id (id + 1) and later seqs cannot wrap. */
#define EXACT_MAX (UINT64_C(1) << 62)

/* Checks the fields an exact put keeps (the rest is as_article_prepare's)
 * of article i, whose id must be above prev_id. Returns 0 or
 * INVALID_ARGUMENT naming the article and the field. */
static int exact_check(const Artstore__V1__Article *a, size_t i,
                       uint64_t prev_id, as_status_t *st)
{
    if (!a->has_id || a->id == 0 || a->id >= EXACT_MAX)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "articles[%zu].id is %s; an exact put needs "
                             "the id, 1 to 2^62-1", i,
                             a->has_id && a->id ? "out of range" : "missing");
    if (!a->has_revision || a->revision == 0 || a->revision >= EXACT_MAX)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "articles[%zu].revision is %s; an exact put "
                             "needs the revision, 1 to 2^62-1", i,
                             a->has_revision && a->revision ? "out of range"
                                                            : "missing");
    if (!a->has_ingested_at || a->ingested_at < AS_TIME_MIN ||
        a->ingested_at > AS_TIME_MAX)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "articles[%zu].ingested_at is %s; an exact put "
                             "needs it, in the years 0000-9999", i,
                             a->has_ingested_at ? "out of range" : "missing");
    if (a->id <= prev_id)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "articles[%zu].id %llu does not come after "
                             "the id before it (%llu): ids must ascend", i,
                             (unsigned long long)a->id,
                             (unsigned long long)prev_id);
    /* A story is named after the article that started it, an earlier one;
     * a duplicate copies an earlier article. */
    if (a->has_story_id && a->story_id > a->id)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "articles[%zu].story_id %llu is after the "
                             "article's id %llu", i,
                             (unsigned long long)a->story_id,
                             (unsigned long long)a->id);
    if (a->has_duplicate_of && a->duplicate_of >= a->id)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "articles[%zu].duplicate_of %llu is not before "
                             "the article's id %llu", i,
                             (unsigned long long)a->duplicate_of,
                             (unsigned long long)a->id);
    return 0;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

/* Validates every article of req into job's items: all of them, or the
 * request is refused whole (returns the code with st set), so that an
 * invalid line never leaves a migration half-written. */
static int prepare_exact(as_call_t *call, Artstore__V1__PutExactRequest *req,
                         as_write_job_t *job, as_status_t *st)
{
    as_service_t *svc = as_call_ctx(call);
    as_arena_t *ar = as_call_arena(call);
    uint64_t prev_id = 0, *revs;
    as_status_t why;
    size_t i;

    revs = as_arena_alloc(ar, sizeof(*revs) * (req->n_articles + 1));
    if (revs == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "request needs more memory than "
                             "max_decode_bytes=%zu", as_arena_budget(ar));
    for (i = 0; i < req->n_articles; i++) {
        Artstore__V1__Article *a = req->articles[i], kept;
        as_write_item_t *it = &job->items[i];

        if (exact_check(a, i, prev_id, st) != 0)
            return st->code;
        prev_id = a->id;
        revs[i] = a->revision;
        /* Prepare clears the fields the server owns: they are put back. */
        kept = *a;
        if (as_article_prepare(a, ar, &svc->limits, &why) != 0)
            return as_status_set(st, why.code, "articles[%zu]: %s", i,
                                 why.msg);
        a->has_id = a->has_revision = a->has_ingested_at = 1;
        a->id = kept.id;
        a->revision = kept.revision;
        a->ingested_at = kept.ingested_at;
        a->has_story_id = kept.has_story_id;
        a->story_id = kept.story_id;
        a->has_duplicate_of = kept.has_duplicate_of;
        a->duplicate_of = kept.duplicate_of;
        it->op = AS_WRITE_EXACT;
        it->article = a;
        if (svc->stories) {
            as_story_fp_t *fp = as_arena_alloc(ar, sizeof(*fp));

            if (fp != NULL)
                as_story_fingerprint(a->title, a->body, fp);
            it->fp = fp;
        }
    }
    qsort(revs, req->n_articles, sizeof(*revs), cmp_u64);
    for (i = 1; i < req->n_articles; i++)
        if (revs[i] == revs[i - 1])
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                 "revision %llu appears twice; each change "
                                 "seq is one article's",
                                 (unsigned long long)revs[i]);
    return 0;
}

void as__svc_put_exact(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__PutExactRequest *req;
    as_write_job_t *job;
    as_status_t st;

    req = (Artstore__V1__PutExactRequest *)as_service_unpack(
        call, &artstore__v1__put_exact_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (req->n_articles > svc->limits.max_batch) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "request has %zu articles, over the limit "
                            "max_batch=%zu", req->n_articles,
                            svc->limits.max_batch);
        return;
    }
    if ((job = as_service_new_job(call, req->n_articles,
                                  put_batch_done)) == NULL)
        return;
    if (prepare_exact(call, req, job, &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    if (req->n_articles == 0) {
        put_batch_done(job);
        return;
    }
    prepack_items(call, job);
    as_service_submit(call, job);
}

/* ------------------------------------------------------------ Get */

/* Keeps the first of each repeated id (the library fills every slot that
 * asked for it): 1,000 copies of one id must not make a reply of 1,000
 * articles. */
static void get_dedupe(Artstore__V1__GetRequest *req)
{
    size_t i, j, n = 0;

    for (i = 0; i < req->n_ids; i++) {
        for (j = 0; j < n && req->ids[j] != req->ids[i]; j++)
            ;
        if (j == n)
            req->ids[n++] = req->ids[i];
    }
    req->n_ids = n;
}

/* Reads the requested articles from rd's open snapshot into parts (one per
 * id; data NULL for a missing one of ids). Returns 0 or a code with st. */
static int get_parts(as_call_t *call, as_reader_t *rd,
                     const Artstore__V1__GetRequest *req, const char *url,
                     as_bytes_t *parts, as_status_t *st)
{
    as_arena_t *ar = as_call_arena(call);
    as_bytes_t raw;
    uint64_t id = req->id;
    size_t i;
    int rc;

    if (req->n_ids == 0) {
        if ((url && (rc = as_store_find_url_latest(rd, url, &id, st)) != 0) ||
            (rc = as_store_get_latest(rd, id, &raw, st)) != 0)
            return rc;
        return as_service_article_bytes(raw, req->omit_body, ar, &parts[0],
                                        st);
    }
    for (i = 0; i < req->n_ids; i++) {
        rc = as_store_get_latest(rd, req->ids[i], &raw, st);
        if (rc == AS_CODE_NOT_FOUND)
            parts[i].data = NULL;       /* answered as missing */
        else if (rc != 0 ||
                 (rc = as_service_article_bytes(raw, req->omit_body, ar,
                                                &parts[i], st)) != 0)
            return rc;
    }
    return 0;
}

/* Builds the GetResponse in place in the reply buffer: each article is
 * copied once, from the snapshot (still open) into the reply. Returns 0
 * (then the caller sends it) or a code with st set. */
static int get_reply(as_call_t *call, const Artstore__V1__GetRequest *req,
                     const as_bytes_t *parts, size_t n, as_status_t *st)
{
    as_service_t *svc = as_call_ctx(call);
    as_wire_buf_t b = { NULL, 0, 0, 1 };
    size_t i, total = 0;
    int rc = 0;

    for (i = 0; i < n; i++)
        total += parts[i].data != NULL
                     ? as_wire_bytes_size(AS_WIRE_GET_ARTICLES, parts[i].len)
                     : as_wire_uint_size(AS_WIRE_GET_NOT_FOUND, req->ids[i]);
    if (total > svc->limits.max_reply_bytes)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "reply would be %zu bytes, over the limit "
                             "max_reply_bytes=%zu; ask for fewer ids or "
                             "with omit_body", total,
                             svc->limits.max_reply_bytes);
    if ((b.data = as_call_reply_reserve(call, total)) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for a reply of %zu bytes", total);
    b.cap = total;
    for (i = 0; i < n && rc == 0; i++)
        rc = parts[i].data != NULL
                 ? as_wire_put_bytes(&b, AS_WIRE_GET_ARTICLES, parts[i].data,
                                     parts[i].len)
                 : as_wire_put_uint(&b, AS_WIRE_GET_NOT_FOUND, req->ids[i]);
    if (rc != 0 || b.len != total)
        return as_status_set(st, AS_CODE_INTERNAL,
                             "reply size mismatch (%zu of %zu bytes)", b.len,
                             total);
    return 0;
}

void as__svc_get(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    as_arena_t *ar = as_call_arena(call);
    Artstore__V1__GetRequest *req;
    as_reader_t *rd;
    as_bytes_t *parts;
    as_status_t st;
    char *url = NULL;
    size_t n;
    int rc;

    req = (Artstore__V1__GetRequest *)as_service_unpack(
        call, &artstore__v1__get_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if ((req->has_id ? 1 : 0) + (req->url ? 1 : 0) + (req->n_ids ? 1 : 0) != 1) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "give exactly one of id, url or ids");
        return;
    }
    if (req->n_ids > svc->limits.max_batch) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "%zu ids, over the limit max_batch=%zu",
                            req->n_ids, svc->limits.max_batch);
        return;
    }
    if (req->url != NULL &&
        as_url_canonicalize(req->url, svc->limits.max_url_bytes, ar, &url,
                            &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    get_dedupe(req);
    n = req->n_ids ? req->n_ids : 1;
    if ((parts = as_arena_alloc(ar, n * sizeof(*parts))) == NULL) {
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "reply needs more than max_decode_bytes");
        return;
    }
    /* Get reads acknowledged writes from the overlay: no barrier. */
    if ((rd = as_service_reader_latest(call)) == NULL)
        return;
    if ((rc = as_reader_begin(rd, &st)) == 0) {
        /* Two passes, so that the reply is built in place in the buffer
         * that is sent, while the snapshot stays open. */
        if ((rc = get_parts(call, rd, req, url, parts, &st)) == 0)
            rc = get_reply(call, req, parts, n, &st);
        as_reader_end(rd);
    }
    if (rc != 0)
        as_call_reply_status(call, &st);
    else
        as_call_reply_send(call);
}

/* ------------------------------------------------------------ Delete */

static void delete_done(as_write_job_t *job)
{
    as_call_t *call = job->arg;
    as_write_item_t *it = &job->items[0];
    Artstore__V1__DeleteResponse resp = ARTSTORE__V1__DELETE_RESPONSE__INIT;

    if (reply_if_failed(job))
        return;
    resp.has_id = resp.has_revision = 1;
    resp.id = it->out.id;
    resp.revision = it->out.revision;
    as_call_reply(call, &resp.base);
}

void as__svc_delete(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__DeleteRequest *req;
    as_write_job_t *job;
    as_write_item_t *it;
    char *url = NULL;

    req = (Artstore__V1__DeleteRequest *)as_service_unpack(
        call, &artstore__v1__delete_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if ((req->has_id && req->id != 0) == (req->url != NULL)) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "give exactly one of id (non-zero) or url");
        return;
    }
    if ((job = as_service_new_job(call, 1, delete_done)) == NULL)
        return;
    it = &job->items[0];
    if (req->url != NULL &&
        as_url_canonicalize(req->url, svc->limits.max_url_bytes,
                            as_call_arena(call), &url, &it->st) != 0) {
        as_call_reply_status(call, &it->st);
        return;
    }
    it->op = AS_WRITE_DELETE;
    it->id = req->has_id ? req->id : 0;
    it->url = url;
    if (set_cond(&it->cond, req->has_expected_revision,
                 req->expected_revision, req->has_request_id,
                 &req->request_id, &it->st) != 0) {
        as_call_reply_status(call, &it->st);
        return;
    }
    as_service_submit(call, job);
}
