/*
 * service.c - the ArticleStore methods.
 */
#include "service.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "article.h"
#include "backup.h"
#include "cluster.h"
#include "as_version.h"
#include "feed.h"
#include "log.h"
#include "pbcheck.h"
#include "query.h"

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ helpers */

static int buf_reserve(as_buf_t *b, size_t extra)
{
    size_t cap;
    uint8_t *p;

    if (b->len + extra <= b->cap)
        return 0;
    if (b->fixed)
        return -1;
    cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t as_buf_bytes_field_size(unsigned field, size_t len)
{
    return varint_size(((uint64_t)field << 3) | 2) + varint_size(len) + len;
}

size_t as_buf_varint_field_size(unsigned field, uint64_t v)
{
    return varint_size((uint64_t)field << 3) + varint_size(v);
}

int as_buf_put_bytes_field(as_buf_t *b, unsigned field, const void *data,
                           size_t len)
{
    if (buf_reserve(b, as_buf_bytes_field_size(field, len)) != 0)
        return -1;
    b->len += as_pb_put_varint(b->data + b->len, ((uint64_t)field << 3) | 2);
    b->len += as_pb_put_varint(b->data + b->len, len);
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int as_buf_put_varint_field(as_buf_t *b, unsigned field, uint64_t v)
{
    if (buf_reserve(b, as_buf_varint_field_size(field, v)) != 0)
        return -1;
    b->len += as_pb_put_varint(b->data + b->len, (uint64_t)field << 3);
    b->len += as_pb_put_varint(b->data + b->len, v);
    return 0;
}

void as_buf_free(as_buf_t *b)
{
    if (!b->fixed)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int as_service_article_bytes(as_bytes_t raw, int omit_body, as_arena_t *ar,
                             as_bytes_t *out, as_status_t *st)
{
    Artstore__V1__Article *a;
    ProtobufCAllocator al;
    uint8_t *packed;
    size_t n;

    if (!omit_body) {
        *out = raw;
        return 0;
    }
    al = as_arena_allocator(ar);
    a = artstore__v1__article__unpack(&al, raw.len, raw.data);
    if (a == NULL)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "a stored article cannot be decoded");
    a->body = NULL;
    n = artstore__v1__article__get_packed_size(a);
    packed = as_arena_alloc(ar, n ? n : 1);
    if (packed == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "reply needs more than max_decode_bytes");
    artstore__v1__article__pack(a, packed);
    out->data = packed;
    out->len = n;
    return 0;
}

int as_service_put_article(as_buf_t *b, unsigned field, as_bytes_t raw,
                           int omit_body, as_arena_t *ar, as_status_t *st)
{
    as_bytes_t bytes;
    int rc;

    if ((rc = as_service_article_bytes(raw, omit_body, ar, &bytes, st)) != 0)
        return rc;
    if (as_buf_put_bytes_field(b, field, bytes.data, bytes.len) != 0)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory building the reply");
    return 0;
}

ProtobufCMessage *as_service_unpack(as_call_t *call,
                                    const ProtobufCMessageDescriptor *desc,
                                    const uint8_t *payload, size_t len)
{
    ProtobufCAllocator al = as_arena_allocator(as_call_arena(call));
    ProtobufCMessage *m;
    as_status_t st;

    /* Strings lose their length when unpacked: NULs are refused here. */
    if (as_pbcheck_strings(desc, payload, len, &st) != 0) {
        as_call_reply_status(call, &st);
        return NULL;
    }
    m = protobuf_c_message_unpack(desc, &al, len, payload);
    if (m != NULL)
        return m;
    if (as_arena_exhausted(as_call_arena(call)))
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "%s decodes to more than max_decode_bytes=%zu",
                            desc->name, as_arena_budget(as_call_arena(call)));
    else
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "payload is not a valid %s (%zu bytes)",
                            desc->name, len);
    return NULL;
}

as_reader_t *as_service_reader(as_call_t *call)
{
    return as_call_worker(call);
}

void *as_service_worker_init(void *ctx)
{
    as_service_t *svc = ctx;
    as_reader_t *r = NULL;
    as_status_t st;

    if (as_reader_create(svc->store, &r, &st) != 0)
        as_log_error("worker has no store reader: %s", st.msg);
    return r;
}

void as_service_worker_fini(void *ctx, void *data)
{
    (void)ctx;
    as_reader_free(data);
}

/* Allocates a write job with n items in the call's arena. */
static as_write_job_t *new_job(as_call_t *call, size_t n,
                               void (*done)(as_write_job_t *))
{
    as_arena_t *ar = as_call_arena(call);
    as_write_job_t *job = as_arena_alloc(ar, sizeof(*job));

    if (job == NULL)
        return NULL;
    memset(job, 0, sizeof(*job));
    job->items = as_arena_alloc(ar, sizeof(*job->items) * (n ? n : 1));
    if (job->items == NULL)
        return NULL;
    memset(job->items, 0, sizeof(*job->items) * (n ? n : 1));
    job->n = n;
    job->done = done;
    job->arg = call;
    job->deadline_ms = as_call_deadline_ms(call);
    return job;
}

static void submit(as_call_t *call, as_write_job_t *job)
{
    as_service_t *svc = as_call_ctx(call);
    as_status_t st;
    int rc;

    /* In a cluster the write goes through the Raft log instead. */
    rc = svc->cluster ? as_cluster_submit(svc->cluster, job, &st)
                      : as_writer_submit(svc->writer, job, &st);
    if (rc != 0)
        as_call_reply_status(call, &st);
}

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
    return as_article_prepare(req->article, as_call_arena(call), &svc->limits,
                              &it->st);
}

static void handle_put(as_call_t *call, const uint8_t *payload, size_t len)
{
    Artstore__V1__PutRequest *req;
    as_write_job_t *job;

    req = (Artstore__V1__PutRequest *)as_service_unpack(
        call, &artstore__v1__put_request__descriptor, payload, len);
    if (req == NULL)
        return;
    job = new_job(call, 1, put_done);
    if (job == NULL) {
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "request needs more than max_decode_bytes");
        return;
    }
    if (prepare_put(call, req, &job->items[0]) != 0) {
        as_call_reply_status(call, &job->items[0].st);
        return;
    }
    submit(call, job);
}

/* ------------------------------------------------------------ PutBatch */

static void put_batch_done(as_write_job_t *job)
{
    as_call_t *call = job->arg;
    as_arena_t *ar = as_call_arena(call);
    Artstore__V1__PutBatchResponse resp = ARTSTORE__V1__PUT_BATCH_RESPONSE__INIT;
    Artstore__V1__PutResult *res;
    Artstore__V1__Status *sts;
    size_t i;

    if (job->st.code != AS_CODE_OK) {
        as_call_reply_status(call, &job->st);
        return;
    }
    res = as_arena_alloc(ar, sizeof(*res) * (job->n ? job->n : 1));
    sts = as_arena_alloc(ar, sizeof(*sts) * (job->n ? job->n : 1));
    resp.results = as_arena_alloc(ar, sizeof(*resp.results) *
                                          (job->n ? job->n : 1));
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

static void handle_put_batch(as_call_t *call, const uint8_t *payload,
                             size_t len)
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
    job = new_job(call, req->n_items, put_batch_done);
    if (job == NULL) {
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "request needs more than max_decode_bytes");
        return;
    }
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
    submit(call, job);
}

/* ------------------------------------------------------------ Get */

static void handle_get(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    as_reader_t *rd = as_service_reader(call);
    as_arena_t *ar = as_call_arena(call);
    Artstore__V1__GetRequest *req;
    as_bytes_t raw, *parts;
    as_status_t st;
    uint64_t id;
    char *url = NULL;
    int forms, rc;
    size_t i, n;

    req = (Artstore__V1__GetRequest *)as_service_unpack(
        call, &artstore__v1__get_request__descriptor, payload, len);
    if (req == NULL)
        return;
    forms = (req->has_id ? 1 : 0) + (req->url ? 1 : 0) + (req->n_ids ? 1 : 0);
    if (forms != 1) {
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
    if (rd == NULL || as_reader_begin(rd, &st) != 0) {
        as_call_reply_error(call, AS_CODE_UNAVAILABLE, "store not readable");
        return;
    }
    /* Two passes, so that the reply is built in place in the buffer that
     * is sent: each stored article is copied once, from the read snapshot
     * (which must stay open until then) into the reply. */
    n = req->n_ids ? req->n_ids : 1;
    parts = as_arena_alloc(ar, n * sizeof(*parts));
    if (parts == NULL) {
        rc = as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                           "reply needs more than max_decode_bytes");
    } else if (req->n_ids == 0) {
        id = req->id;
        rc = url ? as_store_find_url(rd, url, &id, &st) : 0;
        if (rc == 0)
            rc = as_store_get_raw(rd, id, &raw, &st);
        if (rc == 0)
            rc = as_service_article_bytes(raw, req->omit_body, ar,
                                          &parts[0], &st);
    } else {
        /* A repeated id is answered once (the library fills every slot
         * that asked for it): 1,000 copies of one id must not make a
         * reply of 1,000 articles. */
        for (i = 0, n = 0; i < req->n_ids; i++) {
            size_t j;

            for (j = 0; j < n && req->ids[j] != req->ids[i]; j++)
                ;
            if (j == n)
                req->ids[n++] = req->ids[i];
        }
        for (i = 0, rc = 0; i < n && rc == 0; i++) {
            rc = as_store_get_raw(rd, req->ids[i], &raw, &st);
            if (rc == AS_CODE_NOT_FOUND) {
                parts[i].data = NULL;       /* answered as missing */
                rc = 0;
            } else if (rc == 0) {
                rc = as_service_article_bytes(raw, req->omit_body, ar,
                                              &parts[i], &st);
            }
        }
    }
    if (rc == 0) {
        size_t total = 0;
        uint8_t *p;

        for (i = 0; i < n; i++)
            total += parts[i].data != NULL
                         ? as_buf_bytes_field_size(1, parts[i].len)
                         : as_buf_varint_field_size(2, req->ids[i]);
        if (total > svc->limits.max_reply_bytes) {
            rc = as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                               "reply would be %zu bytes, over the limit "
                               "max_reply_bytes=%zu; ask for fewer ids or "
                               "with omit_body", total,
                               svc->limits.max_reply_bytes);
        } else if ((p = as_call_reply_reserve(call, total)) == NULL) {
            rc = as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                               "out of memory for a reply of %zu bytes",
                               total);
        } else {
            as_buf_t b = { p, 0, total, 1 };

            for (i = 0; i < n && rc == 0; i++)
                rc = parts[i].data != NULL
                         ? as_buf_put_bytes_field(&b, 1, parts[i].data,
                                                  parts[i].len)
                         : as_buf_put_varint_field(&b, 2, req->ids[i]);
            if (rc != 0 || b.len != total)
                rc = as_status_set(&st, AS_CODE_INTERNAL,
                                   "reply size mismatch (%zu of %zu bytes)",
                                   b.len, total);
        }
    }
    as_reader_end(rd);
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

static void handle_delete(as_call_t *call, const uint8_t *payload, size_t len)
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
    job = new_job(call, 1, delete_done);
    if (job == NULL) {
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "request needs more than max_decode_bytes");
        return;
    }
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
    submit(call, job);
}

/* ------------------------------------------------------------ Ping, Stats */

static void handle_ping(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__PingResponse resp = ARTSTORE__V1__PING_RESPONSE__INIT;

    if (as_service_unpack(call, &artstore__v1__ping_request__descriptor,
                          payload, len) == NULL)
        return;
    resp.version = ARTSTORE_VERSION_STRING;
    resp.feed_endpoint = (char *)svc->feed_endpoint;
    resp.has_last_seq = resp.has_time_ms = 1;
    resp.last_seq = as_store_last_seq(svc->store);
    resp.time_ms = now_ms();
    resp.has_max_message_bytes = 1;
    resp.max_message_bytes = svc->limits.max_message_bytes;
    as_call_reply(call, &resp.base);
}

/* Fills a Histogram message from bucket bounds and counts (arena-backed). */
static Artstore__V1__Histogram *histogram(as_arena_t *ar, const double *bounds,
                                          size_t n, const uint64_t *counts,
                                          uint64_t count, double sum)
{
    Artstore__V1__Histogram *h = as_arena_alloc(ar, sizeof(*h));

    if (h == NULL)
        return NULL;
    artstore__v1__histogram__init(h);
    h->bounds = (double *)bounds;
    h->n_bounds = n;
    h->counts = as_arena_alloc(ar, sizeof(uint64_t) * (n + 1));
    if (h->counts == NULL)
        return NULL;
    memcpy(h->counts, counts, sizeof(uint64_t) * (n + 1));
    h->n_counts = n + 1;
    h->has_count = h->has_sum = 1;
    h->count = count;
    h->sum = sum;
    return h;
}

int as_service_stats(as_service_t *svc, as_reader_t *rd, as_arena_t *ar,
                     Artstore__V1__StatsResponse *resp, as_status_t *st)
{
    as_store_stats_t ss;
    as_writer_stats_t ws;
    size_t i, j, n = as_service_n_methods;
    int rc;

    artstore__v1__stats_response__init(resp);
    if (rd == NULL || as_reader_begin(rd, st) != 0)
        return as_status_set(st, AS_CODE_UNAVAILABLE, "store not readable");
    rc = as_store_get_stats(rd, &ss, st);
    as_reader_end(rd);
    if (rc != 0)
        return rc;
    resp->version = ARTSTORE_VERSION_STRING;
    resp->has_articles = resp->has_tags = resp->has_last_seq = 1;
    resp->has_oldest_seq = resp->has_next_id = resp->has_map_size = 1;
    resp->has_map_used = resp->has_uptime_ms = resp->has_workers = 1;
    resp->articles = ss.articles;
    resp->tags = ss.tags;
    resp->last_seq = ss.last_seq;
    resp->oldest_seq = ss.oldest_seq;
    resp->next_id = ss.next_id ? ss.next_id : 1;
    resp->map_size = ss.map_size;
    resp->map_used = ss.map_used;
    resp->uptime_ms = (uint64_t)(now_ms() - svc->start_ms);
    resp->workers = svc->rpc ? (uint32_t)as_rpc_workers(svc->rpc) : 0;
    resp->has_subscribers = 1;
    resp->subscribers = svc->feed ? as_feed_subscribers(svc->feed) : 0;

    resp->methods = as_arena_alloc(ar, sizeof(*resp->methods) * n);
    if (resp->methods == NULL)
        goto out_exhausted;
    for (i = 0; i < n && svc->rpc != NULL; i++) {
        Artstore__V1__MethodStats *m = as_arena_alloc(ar, sizeof(*m));
        as_method_stats_t ms, more;
        size_t b;

        if (m == NULL)
            goto out_exhausted;
        as_rpc_get_stats(svc->rpc, i, &ms);
        /* Requests through the dashboard's endpoint count the same. */
        if (svc->rpc_ws != NULL) {
            as_rpc_get_stats(svc->rpc_ws, i, &more);
            for (j = 0; j < AS_RPC_CODES; j++)
                ms.codes[j] += more.codes[j];
            for (b = 0; b <= AS_RPC_LAT_BUCKETS; b++)
                ms.lat_counts[b] += more.lat_counts[b];
            ms.lat_count += more.lat_count;
            ms.lat_sum_us += more.lat_sum_us;
        }
        artstore__v1__method_stats__init(m);
        m->method = (char *)as_service_methods[i].name;
        m->codes = as_arena_alloc(ar, sizeof(*m->codes) * AS_RPC_CODES);
        if (m->codes == NULL)
            goto out_exhausted;
        for (j = 0; j < AS_RPC_CODES; j++) {
            Artstore__V1__CodeCount *cc;

            if (ms.codes[j] == 0)
                continue;
            cc = as_arena_alloc(ar, sizeof(*cc));
            if (cc == NULL)
                goto out_exhausted;
            artstore__v1__code_count__init(cc);
            cc->has_code = cc->has_count = 1;
            cc->code = (Artstore__V1__Code)j;
            cc->count = ms.codes[j];
            m->codes[m->n_codes++] = cc;
        }
        m->latency_us = histogram(ar, as_rpc_latency_bounds_us,
                                  AS_RPC_LAT_BUCKETS, ms.lat_counts,
                                  ms.lat_count, ms.lat_sum_us);
        if (m->latency_us == NULL)
            goto out_exhausted;
        resp->methods[resp->n_methods++] = m;
    }
    as_writer_get_stats(svc->writer, &ws);
    resp->writer_batch = histogram(ar, as_writer_bucket_bounds,
                                   AS_WRITER_BUCKETS, ws.counts, ws.commits,
                                   (double)ws.items);
    if (resp->writer_batch == NULL)
        goto out_exhausted;
    return 0;

out_exhausted:
    return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                         "stats reply needs more than max_decode_bytes");
}

static void handle_stats(as_call_t *call, const uint8_t *payload, size_t len)
{
    Artstore__V1__StatsResponse resp;
    as_status_t st;

    if (as_service_unpack(call, &artstore__v1__stats_request__descriptor,
                          payload, len) == NULL)
        return;
    if (as_service_stats(as_call_ctx(call), as_service_reader(call),
                         as_call_arena(call), &resp, &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    as_call_reply(call, &resp.base);
}

/* ------------------------------------------------------------ the table */

/* Every method of the service has a handler; a method path that is not in
 * this table is answered UNIMPLEMENTED by rpc.c. */
const as_method_t as_service_methods[] = {
    /* quick_bytes: a single article, a handful of ids. */
    { "Put", handle_put, 1, 64 * 1024 },
    { "PutBatch", handle_put_batch, 1, 0 },
    { "Get", handle_get, 0, 64 },
    { "Delete", handle_delete, 1, 1024 },
    { "Query", as_query_handle, 0, 0 },
    { "ListTags", as_query_handle_list_tags, 0, 0 },
    { "Changes", as_feed_handle_changes, 0, 0 },
    { "Stats", handle_stats, 0, 0 },
    { "Ping", handle_ping, 0, 1024 },
    { "Backup", as_backup_handle, 1, 0 },
    { "ClusterStatus", as_service_cluster_status, 0, 0 },
    { "ClusterAnnounce", as_service_cluster_announce, 1, 0 },
};
const size_t as_service_n_methods =
    sizeof(as_service_methods) / sizeof(as_service_methods[0]);
