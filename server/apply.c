/*
 * apply.c - Raft log entries of writes, and their deterministic
 * application to a node's store. See apply.h.
 */
#include "apply.h"

#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "clock.h"
#include "log.h"
#include "snapshot.h"

#define MEMBERS_KEY "cluster_members"

/* ------------------------------------------------------------ packing */

/*
 * An entry is framed: "ASE1", the message's length (u32 big-endian), the
 * packed RaftEntry, then zeros up to a multiple of 8 bytes. libraft 0.15's
 * disk format assumes 8-byte multiples: a command of another length is
 * written fine but its segment cannot be read back after a restart
 * ("entries batch 2 ...: read header: short read").
 */
#define FRAME_MAGIC "ASE1"
#define FRAME_HEADER 8

/* Packs e with alloc; returns 0 or RESOURCE_EXHAUSTED. */
static int pack_entry(const Artstore__V1__RaftEntry *e,
                      void *(*alloc)(size_t), void **out, size_t *len,
                      as_status_t *st)
{
    size_t n = artstore__v1__raft_entry__get_packed_size(e);
    size_t total = FRAME_HEADER + ((n + 7) & ~(size_t)7);
    unsigned char *p;

    if (n > UINT32_MAX)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "a log entry of %zu bytes is too large", n);
    p = alloc(total);
    if (p == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for a %zu-byte log entry", total);
    memcpy(p, FRAME_MAGIC, 4);
    as_be_put32(p + 4, (uint32_t)n);
    artstore__v1__raft_entry__pack(e, p + FRAME_HEADER);
    memset(p + FRAME_HEADER + n, 0, total - FRAME_HEADER - n);
    *out = p;
    *len = total;
    return 0;
}

/* Unframes and unpacks an entry; NULL when it is not one. */
static Artstore__V1__RaftEntry *unpack_entry(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t n;

    if (len < FRAME_HEADER || memcmp(p, FRAME_MAGIC, 4) != 0)
        return NULL;
    n = as_be_get32(p + 4);
    if (n > len - FRAME_HEADER)
        return NULL;
    return artstore__v1__raft_entry__unpack(NULL, n, p + FRAME_HEADER);
}

static void set_origin(Artstore__V1__RaftEntry *e, int64_t time_ms,
                       const as_entry_origin_t *o)
{
    e->has_time_ms = e->has_origin_node = 1;
    e->has_origin_run = e->has_origin_seq = 1;
    e->time_ms = time_ms;
    e->origin_node = o->node;
    e->origin_run = o->run;
    e->origin_seq = o->seq;
}

/* Fills w with the write of item it, pointing into it (nothing copied);
 * an item the service refused leaves w empty. */
static void fill_write(const as_write_item_t *it, Artstore__V1__RaftWrite *w)
{
    artstore__v1__raft_write__init(w);
    if (it->prefailed)
        return;
    if (it->op == AS_WRITE_PUT || it->op == AS_WRITE_EXACT) {
        w->article = (Artstore__V1__Article *)it->article;
        w->has_exact = w->exact = it->op == AS_WRITE_EXACT;
    } else {
        w->has_delete_id = 1;
        w->delete_id = it->id;
        w->delete_url = (char *)it->url;
    }
    w->has_expected_revision = it->cond.has_expected != 0;
    w->expected_revision = it->cond.expected;
    if (it->cond.request_id.len > 0) {
        w->has_request_id = 1;
        w->request_id.data = (uint8_t *)it->cond.request_id.data;
        w->request_id.len = it->cond.request_id.len;
    }
}

/* Bytes of a varint of v. */
static size_t varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v as a varint at p; returns the bytes written. */
static size_t varint_put(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

size_t as_entry_write_size(const as_write_item_t *it)
{
    Artstore__V1__RaftWrite w;

    fill_write(it, &w);
    return artstore__v1__raft_write__get_packed_size(&w);
}

size_t as_entry_write_pack(const as_write_item_t *it, uint8_t *out,
                           size_t *article_off, size_t *article_len)
{
    Artstore__V1__RaftWrite w;
    uint64_t alen = 0;
    unsigned shift = 0;
    size_t n, i = 1;

    fill_write(it, &w);
    n = artstore__v1__raft_write__pack(&w, out);
    *article_off = *article_len = 0;
    if (w.article != NULL) {
        /* Field 1, the article, comes first: its tag, its length as a
         * varint, then the packed article. */
        while (out[i] & 0x80) {
            alen |= (uint64_t)(out[i] & 0x7f) << shift;
            shift += 7;
            i++;
        }
        alen |= (uint64_t)out[i] << shift;
        *article_off = i + 1;
        *article_len = (size_t)alen;
    }
    return n;
}

/*
 * The entry is packed in three parts that protobuf lets us concatenate,
 * in field order, so the bytes are the ones protobuf-c would write for the
 * whole message: the stamp (fields 1-4) and the parts (field 8) packed by
 * protobuf-c, and between them each write (field 5) as its tag, its length
 * and its packed RaftWrite. A write the service packed on its worker
 * (item->wire) is copied as it is, so that the one writer thread does not
 * pack articles again.
 */
int as_entry_pack_jobs(as_write_job_t *const *jobs, size_t n_jobs,
                       int64_t time_ms, const as_entry_origin_t *origin,
                       void *(*alloc)(size_t), void **out, size_t *len,
                       as_status_t *st)
{
    Artstore__V1__RaftEntry head = ARTSTORE__V1__RAFT_ENTRY__INIT;
    Artstore__V1__RaftEntry tail = ARTSTORE__V1__RAFT_ENTRY__INIT;
    uint32_t *parts = NULL;
    size_t *sizes = NULL;
    size_t i, j, n = 0, k, msg, total, off;
    unsigned char *p;
    int rc = 0;

    for (j = 0; j < n_jobs; j++)
        n += jobs[j]->n;
    sizes = malloc(sizeof(*sizes) * (n ? n : 1));
    parts = malloc(sizeof(*parts) * (n_jobs ? n_jobs : 1));
    if (sizes == NULL || parts == NULL) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for a log entry of %zu items", n);
        goto out_free;
    }
    set_origin(&head, time_ms, origin);
    /* One request: no parts (the form of an entry of one request). */
    if (n_jobs > 1) {
        tail.n_parts = n_jobs;
        tail.parts = parts;
    }
    msg = artstore__v1__raft_entry__get_packed_size(&head);
    for (j = 0, k = 0; j < n_jobs; j++) {
        if (jobs[j]->n > UINT32_MAX) {
            rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                               "a request of %zu items is too large for a "
                               "log entry", jobs[j]->n);
            goto out_free;
        }
        parts[j] = (uint32_t)jobs[j]->n;
        for (i = 0; i < jobs[j]->n; i++, k++) {
            const as_write_item_t *it = &jobs[j]->items[i];

            sizes[k] = it->wire != NULL ? it->wire_len
                                        : as_entry_write_size(it);
            msg += 1 + varint_size(sizes[k]) + sizes[k];
        }
    }
    msg += artstore__v1__raft_entry__get_packed_size(&tail);
    if (msg > UINT32_MAX) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                           "a log entry of %zu bytes is too large", msg);
        goto out_free;
    }
    total = FRAME_HEADER + ((msg + 7) & ~(size_t)7);
    if ((p = alloc(total)) == NULL) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for a %zu-byte log entry", total);
        goto out_free;
    }
    memcpy(p, FRAME_MAGIC, 4);
    as_be_put32(p + 4, (uint32_t)msg);
    off = FRAME_HEADER;
    off += artstore__v1__raft_entry__pack(&head, p + off);
    for (j = 0, k = 0; j < n_jobs; j++) {
        for (i = 0; i < jobs[j]->n; i++, k++) {
            const as_write_item_t *it = &jobs[j]->items[i];
            size_t aoff, alen;

            p[off++] = (5 << 3) | 2;        /* writes: length-delimited */
            off += varint_put(p + off, sizes[k]);
            if (it->wire != NULL)
                memcpy(p + off, it->wire, sizes[k]);
            else
                as_entry_write_pack(it, p + off, &aoff, &alen);
            off += sizes[k];
        }
    }
    off += artstore__v1__raft_entry__pack(&tail, p + off);
    memset(p + off, 0, total - off);
    *out = p;
    *len = total;

out_free:
    free(parts);
    free(sizes);
    return rc;
}

int as_entry_pack_job(const as_write_job_t *job, int64_t time_ms,
                      const as_entry_origin_t *origin,
                      void *(*alloc)(size_t), void **out, size_t *len,
                      as_status_t *st)
{
    as_write_job_t *one = (as_write_job_t *)job;

    return as_entry_pack_jobs(&one, 1, time_ms, origin, alloc, out, len, st);
}

int as_entry_pack_member(const Artstore__V1__ClusterMember *m,
                         int64_t time_ms, const as_entry_origin_t *origin,
                         void *(*alloc)(size_t), void **out, size_t *len,
                         as_status_t *st)
{
    Artstore__V1__RaftEntry e = ARTSTORE__V1__RAFT_ENTRY__INIT;

    set_origin(&e, time_ms, origin);
    e.member = (Artstore__V1__ClusterMember *)m;
    return pack_entry(&e, alloc, out, len, st);
}

int as_entry_pack_trim(uint64_t upto, int64_t time_ms,
                       const as_entry_origin_t *origin,
                       void *(*alloc)(size_t), void **out, size_t *len,
                       as_status_t *st)
{
    Artstore__V1__RaftEntry e = ARTSTORE__V1__RAFT_ENTRY__INIT;

    set_origin(&e, time_ms, origin);
    e.has_trim_upto = 1;
    e.trim_upto = upto;
    return pack_entry(&e, alloc, out, len, st);
}

/* ------------------------------------------------------------ applying */

/* as_change_expired_fn of a trim entry: the changes up to its seq. */
static int upto_expired(void *arg, uint64_t seq, as_bytes_t raw)
{
    (void)raw;
    return seq <= *(const uint64_t *)arg;
}

typedef struct apply_ctx {
    uint64_t index;
    int wal;                    /* a write-ahead log record, not Raft's */
    const Artstore__V1__RaftEntry *e;
    as_applied_t *res;
    as_status_t *st;            /* the entry's failure as a whole */
} apply_ctx_t;

/* Replaces (or adds) member m in the stored member list. */
static int put_member(as_wtxn_t *t, const Artstore__V1__ClusterMember *m,
                      as_status_t *st)
{
    Artstore__V1__ClusterMembers *list = NULL, next =
        ARTSTORE__V1__CLUSTER_MEMBERS__INIT;
    Artstore__V1__ClusterMember **arr;
    as_bytes_t cur;
    uint8_t *buf;
    size_t i, n = 0, len;
    int rc;

    rc = as_store_txn_get_meta(t, MEMBERS_KEY, &cur, st);
    if (rc == 0) {
        list = artstore__v1__cluster_members__unpack(NULL, cur.len, cur.data);
        if (list == NULL)
            return as_status_set(st, AS_CODE_DATA_LOSS,
                                 "meta %s does not decode", MEMBERS_KEY);
        n = list->n_members;
    } else if (rc != AS_CODE_NOT_FOUND) {
        return rc;
    }
    arr = calloc(n + 1, sizeof(*arr));
    if (arr == NULL) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out_free;
    }
    for (i = 0; i < n; i++)
        if (list->members[i]->id != m->id)
            arr[next.n_members++] = list->members[i];
    arr[next.n_members++] = (Artstore__V1__ClusterMember *)m;
    next.members = arr;
    len = artstore__v1__cluster_members__get_packed_size(&next);
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out_arr;
    }
    artstore__v1__cluster_members__pack(&next, buf);
    rc = as_store_txn_put_meta(t, MEMBERS_KEY, buf, len, st);
    free(buf);

out_arr:
    free(arr);
out_free:
    if (list != NULL)
        artstore__v1__cluster_members__free_unpacked(list, NULL);
    return rc;
}

/* as_store_write callback: every write of the entry, then its index. */
static int apply_txn(as_wtxn_t *t, void *arg)
{
    apply_ctx_t *c = arg;
    const Artstore__V1__RaftEntry *e = c->e;
    as_applied_t *res = c->res;
    size_t i;
    int rc;

    /* Applied already, in the deferred transaction (not yet committed). */
    if (!c->wal && c->index <= as_store_txn_applied(t)) {
        res->skipped = 1;
        return 0;
    }
    /* The leader's clock, never ours: every node writes the same times. */
    if (e->has_time_ms)
        as_store_txn_set_time_ms(t, e->time_ms);
    for (i = 0; i < res->n; i++) {
        const Artstore__V1__RaftWrite *w = e->writes[i];
        as_write_cond_t cond;

        as_status_ok(&res->st[i]);
        memset(&res->out[i], 0, sizeof(res->out[i]));
        memset(&cond, 0, sizeof(cond));
        cond.has_expected = w->has_expected_revision;
        cond.expected = w->expected_revision;
        if (w->has_request_id) {
            cond.request_id.data = w->request_id.data;
            cond.request_id.len = w->request_id.len;
        }
        if (w->article != NULL && w->has_exact && w->exact)
            rc = as_store_put_exact(t, w->article, NULL, &res->out[i],
                                    &res->st[i]);
        else if (w->article != NULL)
            rc = as_store_put(t, w->article, &cond, &res->out[i],
                              &res->st[i]);
        else if (w->has_delete_id || w->delete_url != NULL)
            rc = as_store_delete(t, w->has_delete_id ? w->delete_id : 0,
                                 w->delete_url, &cond, &res->out[i].id,
                                 &res->out[i].revision, &res->st[i]);
        else
            continue;           /* refused by the leader: its status */
        /* An item's own refusal writes nothing; a broken transaction
         * fails the entry as a whole. */
        if (rc != 0 && as_store_txn_broken(t)) {
            *c->st = res->st[i];
            return rc;
        }
    }
    if (e->member != NULL && (rc = put_member(t, e->member, c->st)) != 0)
        return rc;
    if (e->has_trim_upto) {
        size_t n;

        /* The leader bounds a trim (one chunk per entry). */
        if ((rc = as_store_changes_trim(t, upto_expired,
                                        (void *)&e->trim_upto, SIZE_MAX, &n,
                                        c->st)) != 0)
            return rc;
    }
    if (c->wal)
        as_store_txn_set_logged(t, c->index);
    else
        as_store_txn_set_applied(t, c->index, 0);
    return 0;
}

/* as_apply_entry and as_apply_entry_deferred: the entry in a commit of
 * its own, or deferred. */
static int apply_entry(as_store_t *s, uint64_t index, const void *data,
                       size_t len, int deferred, as_applied_t *res,
                       as_status_t *st)
{
    Artstore__V1__RaftEntry *e;
    apply_ctx_t c;
    size_t n;
    int rc;

    memset(res, 0, sizeof(*res));
    res->index = index;
    if (index <= as_store_applied_index(s)) {
        res->skipped = 1;
        return 0;
    }
    e = unpack_entry(data, len);
    if (e == NULL) {
        /* Every node holds the same bytes and skips them alike. */
        as_log_error("raft entry %llu (%zu bytes) does not decode; skipped",
                     (unsigned long long)index, len);
        res->skipped = 1;
        return 0;
    }
    res->origin.node = e->origin_node;
    res->origin.run = e->origin_run;
    res->origin.seq = e->origin_seq;
    res->member = e->member != NULL;
    n = e->n_writes;
    res->st = calloc(n ? n : 1, sizeof(*res->st));
    res->out = calloc(n ? n : 1, sizeof(*res->out));
    res->parts = calloc(e->n_parts ? e->n_parts : 1, sizeof(*res->parts));
    if (res->st == NULL || res->out == NULL || res->parts == NULL) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                           "out of memory applying entry %llu",
                           (unsigned long long)index);
        goto out_free;
    }
    res->n = n;
    /* Which writes answer which request: parts that do not add up (no
     * leader writes such an entry) make it one request, on every node
     * alike. */
    {
        size_t i, sum = 0;

        for (i = 0; i < e->n_parts; i++)
            sum += e->parts[i];
        if (e->n_parts > 0 && sum == n) {
            for (i = 0; i < e->n_parts; i++)
                res->parts[i] = e->parts[i];
            res->n_parts = e->n_parts;
        } else {
            res->parts[0] = n;
            res->n_parts = 1;
        }
    }
    c.index = index;
    c.wal = 0;
    c.e = e;
    c.res = res;
    c.st = st;
    rc = deferred ? as_store_defer(s, apply_txn, &c, st)
                  : as_store_write(s, apply_txn, &c, st);

out_free:
    artstore__v1__raft_entry__free_unpacked(e, NULL);
    if (rc != 0) {
        as_applied_free(res);
        memset(res, 0, sizeof(*res));
        res->index = index;
    }
    return rc;
}

int as_apply_entry(as_store_t *s, uint64_t index, const void *data,
                   size_t len, as_applied_t *res, as_status_t *st)
{
    return apply_entry(s, index, data, len, 0, res, st);
}

int as_apply_entry_deferred(as_store_t *s, uint64_t index, const void *data,
                            size_t len, as_applied_t *res, as_status_t *st)
{
    return apply_entry(s, index, data, len, 1, res, st);
}

/* as_wal_scan visitor of as_apply_replay: one record into the deferred
 * transaction. */
static int replay_record(void *arg, uint64_t index, const void *data,
                         size_t len, as_status_t *st)
{
    as_store_t *s = arg;
    Artstore__V1__RaftEntry *e = unpack_entry(data, len);
    as_applied_t res;
    apply_ctx_t c;
    int rc;

    if (e == NULL)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "write-ahead log record %llu has a valid "
                             "checksum but does not decode",
                             (unsigned long long)index);
    memset(&res, 0, sizeof(res));
    res.n = e->n_writes;
    res.st = calloc(res.n ? res.n : 1, sizeof(*res.st));
    res.out = calloc(res.n ? res.n : 1, sizeof(*res.out));
    if (res.st == NULL || res.out == NULL) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                           "out of memory replaying record %llu",
                           (unsigned long long)index);
        goto out_free;
    }
    c.index = index;
    c.wal = 1;
    c.e = e;
    c.res = &res;
    c.st = st;
    rc = as_store_defer(s, apply_txn, &c, st);
    as_store_publish(s);

out_free:
    as_applied_free(&res);
    artstore__v1__raft_entry__free_unpacked(e, NULL);
    return rc;
}

int as_apply_replay(as_store_t *s, as_wal_t *w, uint64_t *n, as_status_t *st)
{
    uint64_t after = as_store_logged_index(s), last;
    int rc;

    *n = 0;
    rc = as_wal_scan(w, after, replay_record, s, &last, st);
    if (rc == 0 && (rc = as_store_commit(s, st)) == 0)
        as_wal_reset(w);
    if (rc == 0)
        *n = last - after;
    return rc;
}

/* as_store_write callback of as_apply_mark. */
static int mark_txn(as_wtxn_t *t, void *arg)
{
    uint64_t index = *(const uint64_t *)arg;

    if (index > as_store_txn_applied(t))
        as_store_txn_set_applied(t, index, 1);
    return 0;
}

int as_apply_mark(as_store_t *s, uint64_t index, as_status_t *st)
{
    if (index <= as_store_applied_index(s))
        return 0;
    return as_store_write(s, mark_txn, &index, st);
}

void as_applied_free(as_applied_t *res)
{
    free(res->st);
    free(res->out);
    free(res->parts);
    res->st = NULL;
    res->out = NULL;
    res->parts = NULL;
    res->n = 0;
    res->n_parts = 0;
}

int as_apply_members(as_store_t *s, Artstore__V1__ClusterMembers **out,
                     as_status_t *st)
{
    as_reader_t *r;
    as_bytes_t b;
    int rc;

    *out = NULL;
    if ((rc = as_reader_create(s, &r, st)) != 0)
        return rc;
    if ((rc = as_reader_begin(r, st)) != 0)
        goto out_free;
    rc = as_store_get_meta(r, MEMBERS_KEY, &b, st);
    if (rc == 0) {
        *out = artstore__v1__cluster_members__unpack(NULL, b.len, b.data);
        if (*out == NULL)
            rc = as_status_set(st, AS_CODE_DATA_LOSS,
                               "meta %s does not decode", MEMBERS_KEY);
    } else if (rc == AS_CODE_NOT_FOUND) {
        Artstore__V1__ClusterMembers empty =
            ARTSTORE__V1__CLUSTER_MEMBERS__INIT;
        uint8_t dummy[1];

        /* An empty list in the same form as a decoded one. */
        artstore__v1__cluster_members__pack(&empty, dummy);
        *out = artstore__v1__cluster_members__unpack(NULL, 0, dummy);
        rc = *out ? 0 : as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                      "out of memory");
    }
    as_reader_end(r);
out_free:
    as_reader_free(r);
    return rc;
}

/* ------------------------------------------------------------ the FSM */

void as_fsm_commit(as_fsm_t *f)
{
    as_status_t st;

    if (f->pending_since == 0 && !as_store_deferred(f->store))
        return;
    as_store_commit(f->store, &st);     /* a failure aborts (store.h) */
    f->pending_since = 0;
    if (f->writer != NULL)
        as_writer_committed(f->writer, f->deferred);
}

void as_fsm_commit_if_due(as_fsm_t *f, int64_t now)
{
    as_status_t st;

    if (!f->defer || f->writer == NULL)
        return;
    if (f->pending_since == 0) {
        /* Overlay entries retired by the last commit that a reader still
         * held are freed at a later one. */
        if (as_store_overlay_bytes(f->store) > 0)
            as_store_commit(f->store, &st);
        return;
    }
    if (as_writer_commit_wanted(f->writer, f->pending_since, now))
        as_fsm_commit(f);
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    as_fsm_t *f = fsm->data;
    uint64_t index = raft_last_applied(f->raft) + 1;
    int defer = f->defer && f->writer != NULL;
    as_applied_t res;
    as_status_t st;
    int rc;

    *result = NULL;
    /* The overlay's bound: commit first (nothing is refused). */
    if (defer && as_writer_overlay_full(f->writer))
        as_fsm_commit(f);
    /* Short of room on disk or in the map, a deferred commit could fail
     * after the acknowledgement: commit each entry instead. */
    if (defer && !as_store_can_defer(f->store)) {
        as_fsm_commit(f);
        defer = 0;
    }
    rc = defer ? as_apply_entry_deferred(f->store, index, buf->base,
                                         buf->len, &res, &st)
               : as_apply_entry(f->store, index, buf->base, buf->len, &res,
                                &st);
    if (rc != 0) {
        as_log_error("cannot apply raft entry %llu: %s (applying stops "
                     "until it can)", (unsigned long long)index, st.msg);
        /* A failed deferred entry committed what came before it. */
        if (defer && f->pending_since != 0) {
            f->pending_since = 0;
            as_writer_committed(f->writer, f->deferred);
        }
        return RAFT_IOERR;
    }
    if (defer && !res.skipped) {
        /* In the Raft log on a majority, and applied: readable now. */
        as_store_publish(f->store);
        if (f->pending_since == 0)
            f->pending_since = as_clock_wall_ms();
        f->deferred = index;
        as_writer_acked(f->writer, index);
        /* Members are read back from LMDB (as_apply_members). */
        if (res.member)
            as_fsm_commit(f);
    } else if (!defer && f->writer != NULL && !res.skipped) {
        as_writer_committed(f->writer, index);
    }
    if (f->applied != NULL)
        f->applied(f->arg, &res);
    as_applied_free(&res);
    if (defer)
        as_fsm_commit_if_due(f, as_clock_wall_ms());
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    as_fsm_t *f = fsm->data;
    uint64_t index = raft_last_applied(f->raft);
    Artstore__V1__ClusterMembers *members = NULL;
    as_status_t st;
    size_t len;
    void *p;

    /* The store must never claim less than a snapshot that lets libraft
     * drop the log before it: what was deferred is committed first, so
     * the log is dropped only behind a durable LMDB commit. */
    as_fsm_commit(f);
    if (as_apply_mark(f->store, index, &st) != 0) {
        as_log_error("raft snapshot at %llu: %s", (unsigned long long)index,
                     st.msg);
        return RAFT_IOERR;
    }
    if (f->no_sync && as_store_sync(f->store) != 0)
        return RAFT_IOERR;
    /* Where a node that needs the store can fetch it (snapshot.h). */
    if (as_apply_members(f->store, &members, &st) != 0)
        as_log_warn("raft snapshot at %llu names no member: %s",
                    (unsigned long long)index, st.msg);
    *bufs = raft_malloc(sizeof(**bufs));
    if (*bufs == NULL ||
        as_snapshot_pack(index, members, raft_malloc, &p, &len, &st) != 0) {
        raft_free(*bufs);
        if (members != NULL)
            artstore__v1__cluster_members__free_unpacked(members, NULL);
        return RAFT_NOMEM;
    }
    if (members != NULL)
        artstore__v1__cluster_members__free_unpacked(members, NULL);
    (*bufs)[0].base = p;
    (*bufs)[0].len = len;
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    as_fsm_t *f = fsm->data;
    Artstore__V1__RaftSnapshot *snap;
    uint64_t index, have;
    as_status_t st;

    /* What was applied counts (and a copy of the store is swapped in
     * only with no transaction open). */
    as_fsm_commit(f);
    have = as_store_applied_index(f->store);
    if (as_snapshot_parse(buf->base, buf->len, &snap, &st) != 0) {
        as_log_error("%s", st.msg);
        return RAFT_MALFORMED;
    }
    index = snap->index;
    if (have < index && f->install != NULL) {
        /* The entries between are no longer in the log: a member's
         * copy of the store takes their place. */
        as_log_info("this node's store has applied raft index %llu, the "
                    "cluster's snapshot covers %llu: fetching a member's "
                    "copy of the store", (unsigned long long)have,
                    (unsigned long long)index);
        if (f->install(f->arg, snap, &st) != 0)
            as_log_error("cannot take a member's copy of the store: %s "
                         "(the leader sends its snapshot again)", st.msg);
        have = as_store_applied_index(f->store);
    }
    artstore__v1__raft_snapshot__free_unpacked(snap, NULL);
    if (have < index) {
        as_log_error("this node's store has applied raft index %llu but the "
                     "cluster's snapshot covers %llu, and the entries "
                     "between are no longer in the log", (unsigned long long)
                     have, (unsigned long long)index);
        return RAFT_IOERR;
    }
    /* On success the buffer is ours to free. */
    raft_free(buf->base);
    return 0;
}

void as_fsm_init(struct raft_fsm *fsm, as_fsm_t *f)
{
    memset(fsm, 0, sizeof(*fsm));
    fsm->version = 1;
    fsm->data = f;
    fsm->apply = fsm_apply;
    fsm->snapshot = fsm_snapshot;
    fsm->restore = fsm_restore;
    fsm->snapshot_finalize = NULL;
    fsm->snapshot_async = NULL;
}
