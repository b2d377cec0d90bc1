/*
 * service.c - the method table and what the handlers share. The handlers
 * are in service_*.c (see service.h).
 */
#include "service.h"

#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "cluster.h"
#include "codec.h"
#include "log.h"
#include "pbcheck.h"
#include "query.h"
#include "service_story.h"

/* ------------------------------------------------------------ the table */

/* Every method of the service has a handler; a method path that is not in
 * this table is answered UNIMPLEMENTED by rpc.c. */
const as_method_t as_service_methods[] = {
    /* quick_bytes: a single article, a handful of ids. long_call: may
     * walk an index or copy the store (at most max_long_calls at once).
     * Changes is not one: its scan is bounded (20,000 events, a page of
     * max_reply_bytes), and every watcher calls it after each commit. */
    { "Put", as__svc_put, AS_ACCESS_WRITE, 64 * 1024, 0 },
    { "PutBatch", as__svc_put_batch, AS_ACCESS_WRITE, 0, 0 },
    { "Get", as__svc_get, AS_ACCESS_READ, 64, 0 },
    { "Delete", as__svc_delete, AS_ACCESS_WRITE, 1024, 0 },
    { "Query", as__svc_query, AS_ACCESS_READ, 0, 1 },
    { "ListTags", as__svc_list_tags, AS_ACCESS_READ, 0, 1 },
    { "Changes", as__svc_changes, AS_ACCESS_READ, 0, 0 },
    { "Stats", as__svc_stats, AS_ACCESS_READ, 0, 0 },
    { "Ping", as__svc_ping, AS_ACCESS_READ, 1024, 0 },
    { "Backup", as__svc_backup, AS_ACCESS_WRITE, 0, 1 },
    { "ClusterStatus", as__svc_cluster_status, AS_ACCESS_READ, 0, 0 },
    { "ClusterAnnounce", as__svc_cluster_announce, AS_ACCESS_WRITE, 0, 0 },
    { "ClusterReadIndex", as__svc_cluster_read_index, AS_ACCESS_READ, 0, 0 },
    /* Membership: removing a voter can cost the cluster its majority. */
    { "ClusterChange", as__svc_cluster_change, AS_ACCESS_ADMIN, 0, 0 },
    { "ListStories", as__svc_list_stories, AS_ACCESS_READ, 0, 1 },
    { "GetStory", as__svc_get_story, AS_ACCESS_READ, 64, 0 },
    /* A migration's writes: an admin token's (auth.h). */
    { "PutExact", as__svc_put_exact, AS_ACCESS_ADMIN, 0, 0 },
    /* A member's store copy, streamed to another member (snapshot.h): a
     * write token's, as the members present to each other; long the
     * first time (it makes the copy). */
    { "ClusterSnapshot", as__svc_cluster_snapshot, AS_ACCESS_WRITE, 0, 1 },
};
const size_t as_service_n_methods =
    sizeof(as_service_methods) / sizeof(as_service_methods[0]);

/* ------------------------------------------------------------ workers */

/* A worker's own state: its store reader, and the encoder of the
 * articles it packs ahead of the writer (as_service_prepack). */
typedef struct worker {
    as_reader_t *rd;
    as_codec_t *enc;
} worker_t;

void *as_service_worker_init(void *ctx)
{
    as_service_t *svc = ctx;
    worker_t *w = calloc(1, sizeof(*w));
    as_status_t st;

    if (w == NULL) {
        as_log_error("worker: out of memory");
        return NULL;
    }
    if (as_reader_create(svc->store, &w->rd, &st) != 0)
        as_log_error("worker has no store reader: %s", st.msg);
    /* Without one, the writer packs and compresses as before. */
    w->enc = as_store_encoder_new(svc->store);
    return w;
}

void as_service_worker_fini(void *ctx, void *data)
{
    worker_t *w = data;

    (void)ctx;
    if (w == NULL)
        return;
    as_reader_free(w->rd);
    as_codec_free(w->enc);
    free(w);
}

void as_service_prepack(as_call_t *call, as_write_item_t *it, size_t keep)
{
    as_service_t *svc = as_call_ctx(call);
    as_arena_t *ar = as_call_arena(call);
    worker_t *w = as_call_worker(call);
    size_t n = as_entry_write_size(it), off, alen, en;
    as_put_pre_t *pre;
    const void *e;
    uint8_t *wire;
    as_status_t st;

    /* The packed write, its compressed article (kept only when smaller)
     * and the as_put_pre_t: under twice the write, plus alignment. */
    if (as_arena_left(ar) < keep || as_arena_left(ar) - keep < 2 * n + 128 ||
        (wire = as_arena_alloc(ar, n ? n : 1)) == NULL)
        return;
    as_entry_write_pack(it, wire, &off, &alen);
    it->wire = wire;
    it->wire_len = n;
    /* A cluster applies its writes from the Raft entry; the store form is
     * for the writer thread of a single node. */
    if (it->op != AS_WRITE_PUT || alen == 0 || svc->cluster != NULL ||
        w == NULL || w->enc == NULL ||
        (pre = as_arena_alloc(ar, sizeof(*pre))) == NULL ||
        as_codec_encode(w->enc, wire + off, alen, &e, &en, &st) != 0)
        return;
    pre->packed = wire + off;
    pre->packed_len = alen;
    pre->enc = e;
    pre->enc_len = en;
    if (e != wire + off) {
        /* The codec's buffer is reused by its next article. */
        void *copy = as_arena_alloc(ar, en);

        if (copy == NULL)
            return;
        memcpy(copy, e, en);
        pre->enc = copy;
    }
    it->pre = pre;
}

as_reader_t *as_service_reader_latest(as_call_t *call)
{
    as_service_t *svc = as_call_ctx(call);
    worker_t *w = as_call_worker(call);
    as_reader_t *rd = w != NULL ? w->rd : NULL;
    as_status_t st;

    if (rd == NULL) {
        as_call_reply_error(call, AS_CODE_UNAVAILABLE, "store not readable");
        return NULL;
    }
    /* Every read method takes its reader here: a linearizable read first
     * makes sure this node holds everything committed before it. */
    if (as_call_linearizable(call) && svc->cluster != NULL &&
        as_cluster_read_barrier(svc->cluster, as_call_deadline_ms(call),
                                &st) != 0) {
        as_call_reply_status(call, &st);
        return NULL;
    }
    return rd;
}

as_reader_t *as_service_reader(as_call_t *call)
{
    as_service_t *svc = as_call_ctx(call);
    as_reader_t *rd = as_service_reader_latest(call);

    /* Acknowledged writes (and, after a linearizable read's barrier,
     * everything this node applied) are committed before this snapshot
     * begins. */
    if (rd != NULL)
        as_writer_barrier(svc->writer);
    return rd;
}

/* ------------------------------------------------------------ requests */

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

int as_service_filter(as_call_t *call, const Artstore__V1__Filter *in,
                      as_filter_t *out)
{
    as_service_t *svc = as_call_ctx(call);
    as_filter_limits_t lim;
    char err[256];
    int rc;

    lim.max_query_tags = svc->limits.max_query_tags;
    lim.max_tag_bytes = svc->limits.max_tag_bytes;
    lim.max_source_bytes = svc->limits.max_source_bytes;
    rc = as_filter_from_pb(in, &lim, out, err, sizeof(err));
    if (rc == AS_FILTER_OK)
        return 0;
    as_call_reply_error(call, rc == AS_FILTER_NOMEM
                                  ? AS_CODE_RESOURCE_EXHAUSTED
                                  : AS_CODE_INVALID_ARGUMENT, "%s", err);
    return -1;
}

int as_service_page_limit(as_call_t *call, int has_limit, uint32_t limit,
                          size_t *out)
{
    as_service_t *svc = as_call_ctx(call);

    if (!has_limit || limit == 0) {
        *out = AS_QUERY_DEFAULT_LIMIT < svc->limits.max_page
                   ? AS_QUERY_DEFAULT_LIMIT : svc->limits.max_page;
        return 0;
    }
    *out = limit;
    if (*out <= svc->limits.max_page)
        return 0;
    as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                        "limit %zu is over the limit max_page=%zu", *out,
                        svc->limits.max_page);
    return -1;
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

/* ------------------------------------------------------------ writes */

as_write_job_t *as_service_new_job(as_call_t *call, size_t n,
                                   void (*done)(as_write_job_t *))
{
    as_arena_t *ar = as_call_arena(call);
    as_write_job_t *job = as_arena_alloc(ar, sizeof(*job));
    size_t items = sizeof(*job->items) * (n ? n : 1);

    if (job != NULL) {
        memset(job, 0, sizeof(*job));
        job->items = as_arena_alloc(ar, items);
    }
    if (job == NULL || job->items == NULL) {
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "request needs more than max_decode_bytes");
        return NULL;
    }
    memset(job->items, 0, items);
    job->n = n;
    job->done = done;
    job->arg = call;
    job->deadline_ms = as_call_deadline_ms(call);
    return job;
}

void as_service_submit(as_call_t *call, as_write_job_t *job)
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
