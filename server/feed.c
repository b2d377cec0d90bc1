/*
 * feed.c - the change feed (PUB socket), the Changes RPC and changelog
 * retention. See feed.h for the frame format and the threading model.
 */
#include "feed.h"

#include <errno.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "article.h"
#include "log.h"
#include "service.h"

/* Events read per read transaction while publishing, and scanned per
 * Changes call: bounds the time a snapshot stays open. */
#define PUBLISH_CHUNK 512
#define SCAN_MAX 20000
/* Change events dropped per retention transaction. */
#define TRIM_CHUNK 10000

/* A Changes call parked until something matches or its wait ends. */
/* Waiting Changes calls one connection may hold (a REQ socket has one call
 * in flight; more come only from a client pipelining raw requests). Kept
 * per bucket of connections, so a collision only makes the bound
 * stricter. nanomsg does not tell when a connection closes: this is what
 * bounds the slots a vanished connection holds until their waits end. */
#define MAX_WAITS_PER_CONN 4
#define PEER_BUCKETS 1024

typedef struct waiter {
    as_call_t *call;
    uint32_t peer;                       /* as_call_peer */
    Artstore__V1__ChangesRequest *req;   /* in the call's arena */
    uint64_t since;                      /* position reached so far */
    int64_t deadline_ms;
    struct waiter *next;
} waiter_t;

struct as_feed {
    as_store_t *store;
    as_writer_t *writer;
    as_feed_opts_t opts;
    int sock;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t committed;                  /* under lock: newest commit */
    int stopping;                        /* under lock */
    int waiters_new;                     /* under lock: a waiter was added */
    waiter_t *waiters;                   /* under lock */
    unsigned n_waiters;                  /* under lock */
    unsigned char peer_waits[PEER_BUCKETS]; /* under lock: per connection */
    uint64_t published;                  /* feed thread only */
    as_reader_t *reader;                 /* feed thread only */
    as_reader_t *maint_reader;           /* writer thread only */
};

/* Result of one scan of the changelog. */
typedef struct scan {
    Artstore__V1__ChangeEvent **ev;      /* unpacked with malloc */
    size_t n;
    uint64_t last_seq, oldest_seq, next_since;
} scan_t;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ filters */

static int has_tag(char **tags, size_t n, const char *t)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(tags[i], t) == 0)
            return 1;
    return 0;
}

/* Returns nonzero if the tag set satisfies the filter's tag conditions. */
static int tags_match(const Artstore__V1__Filter *f, char **tags, size_t n)
{
    size_t i;

    for (i = 0; i < f->n_all_of; i++)
        if (!has_tag(tags, n, f->all_of[i]))
            return 0;
    for (i = 0; i < f->n_none_of; i++)
        if (has_tag(tags, n, f->none_of[i]))
            return 0;
    if (f->n_any_of == 0)
        return 1;
    for (i = 0; i < f->n_any_of; i++)
        if (has_tag(tags, n, f->any_of[i]))
            return 1;
    return 0;
}

/* Returns nonzero if the event matches f (NULL matches everything). An
 * update matches when its tags before or after the change do. */
static int event_matches(const Artstore__V1__Filter *f,
                         const Artstore__V1__ChangeEvent *ev)
{
    if (f == NULL)
        return 1;
    if (!tags_match(f, ev->tags, ev->n_tags) &&
        !(ev->type == ARTSTORE__V1__CHANGE_TYPE__CHANGE_UPDATE &&
          tags_match(f, ev->prev_tags, ev->n_prev_tags)))
        return 0;
    if (f->source != NULL &&
        (ev->source == NULL || strcmp(f->source, ev->source) != 0))
        return 0;
    if (f->has_since && (!ev->has_published_at || ev->published_at < f->since))
        return 0;
    if (f->has_until && (!ev->has_published_at || ev->published_at >= f->until))
        return 0;
    return 1;
}

/* Normalizes the filter's tags and source in place (arena strings), so
 * that they compare equal to the stored, normalized ones. Returns 0 or a
 * code with st set, naming the field. */
static int normalize_list(char **v, size_t n, const char *field,
                          size_t max_bytes, as_arena_t *ar, as_status_t *st)
{
    char what[64];
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        snprintf(what, sizeof(what), "filter.%s[%zu]", field, i);
        if ((rc = as_tag_normalize(v[i], max_bytes, what, ar, &v[i], st)) != 0)
            return rc;
    }
    return 0;
}

static int normalize_filter(Artstore__V1__Filter *f, const as_limits_t *lim,
                            as_arena_t *ar, as_status_t *st)
{
    size_t total = f->n_all_of + f->n_any_of + f->n_none_of;
    int rc;

    if (total > lim->max_query_tags)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "filter has %zu tags, over the limit "
                             "max_query_tags=%zu", total, lim->max_query_tags);
    if ((rc = normalize_list(f->all_of, f->n_all_of, "all_of",
                             lim->max_tag_bytes, ar, st)) != 0 ||
        (rc = normalize_list(f->any_of, f->n_any_of, "any_of",
                             lim->max_tag_bytes, ar, st)) != 0 ||
        (rc = normalize_list(f->none_of, f->n_none_of, "none_of",
                             lim->max_tag_bytes, ar, st)) != 0)
        return rc;
    if (f->source != NULL && f->source[0] != '\0')
        return as_tag_normalize(f->source, lim->max_source_bytes,
                                "filter.source", ar, &f->source, st);
    f->source = NULL;
    return 0;
}

/* ------------------------------------------------------------ scanning */

static void scan_free(scan_t *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        artstore__v1__change_event__free_unpacked(s->ev[i], NULL);
    free(s->ev);
    s->ev = NULL;
    s->n = 0;
}

/*
 * Reads events with seq > since from a fresh snapshot of r, keeping up to
 * limit that match f and at most max_bytes of them (stored size; at least
 * one event), scanning at most SCAN_MAX. Fills out (scan_free).
 * Returns 0, OUT_OF_RANGE when since is older than the retained log,
 * INTERNAL/DATA_LOSS/RESOURCE_EXHAUSTED, with st set.
 */
static int scan_changes(as_reader_t *r, uint64_t since,
                        const Artstore__V1__Filter *f, size_t limit,
                        size_t max_bytes, scan_t *out, as_status_t *st)
{
    as_store_t *s = as__reader_store(r);
    MDB_txn *txn;
    MDB_cursor *c = NULL;
    MDB_val k, d, mk = { 8, "last_seq" };
    unsigned char kb[8];
    size_t scanned = 0, bytes = 0;
    int rc, ret = 0;

    memset(out, 0, sizeof(*out));
    out->ev = malloc(sizeof(*out->ev) * (limit ? limit : 1));
    if (out->ev == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if ((rc = as_reader_begin(r, st)) != 0) {
        free(out->ev);
        out->ev = NULL;
        return rc;
    }
    txn = as__reader_txn(r);
    rc = mdb_get(txn, as__store_dbi(s, AS_DBI_META), &mk, &d);
    if (rc == 0 && d.mv_size == 8)
        out->last_seq = as_be_u64(d.mv_data);
    else if (rc != MDB_NOTFOUND) {
        ret = as_status_set(st, AS_CODE_INTERNAL, "read last_seq: %s",
                            rc ? mdb_strerror(rc) : "bad size");
        goto out_end;
    }
    if ((rc = mdb_cursor_open(txn, as__store_dbi(s, AS_DBI_CHANGES), &c)) != 0) {
        ret = as_status_set(st, AS_CODE_INTERNAL, "open changes: %s",
                            mdb_strerror(rc));
        goto out_end;
    }
    if (mdb_cursor_get(c, &k, &d, MDB_FIRST) == 0 && k.mv_size == 8)
        out->oldest_seq = as_be_u64(k.mv_data);
    else
        out->oldest_seq = out->last_seq + 1;
    /* Written so that since = 2^64-1 does not wrap (oldest_seq >= 1). */
    if (since < out->oldest_seq - 1) {
        ret = as_status_set(st, AS_CODE_OUT_OF_RANGE,
                            "since=%llu is older than the retained changelog: "
                            "oldest retained seq=%llu; resync by query",
                            (unsigned long long)since,
                            (unsigned long long)out->oldest_seq);
        goto out_close;
    }
    out->next_since = since < out->last_seq ? since : out->last_seq;
    if (since >= out->last_seq)
        goto out_close;
    as_u64_be(kb, since + 1);
    k.mv_size = 8;
    k.mv_data = kb;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && out->n < limit && scanned < SCAN_MAX) {
        Artstore__V1__ChangeEvent *ev;
        uint64_t seq;

        if (k.mv_size != 8) {
            ret = as_status_set(st, AS_CODE_DATA_LOSS, "bad changes key");
            goto out_close;
        }
        seq = as_be_u64(k.mv_data);
        ev = artstore__v1__change_event__unpack(NULL, d.mv_size, d.mv_data);
        if (ev == NULL) {
            ret = as_status_set(st, AS_CODE_DATA_LOSS,
                                "change %llu cannot be decoded",
                                (unsigned long long)seq);
            goto out_close;
        }
        if (event_matches(f, ev) && max_bytes > 0 && out->n > 0 &&
            bytes + d.mv_size > max_bytes) {
            /* The page is full by size: stop before this event, so that
             * next_since leads the next call to it. */
            artstore__v1__change_event__free_unpacked(ev, NULL);
            break;
        }
        if (event_matches(f, ev)) {
            out->ev[out->n++] = ev;
            bytes += d.mv_size;
        } else
            artstore__v1__change_event__free_unpacked(ev, NULL);
        out->next_since = seq;
        scanned++;
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        out->next_since = out->last_seq;
    else if (rc != 0) {
        ret = as_status_set(st, AS_CODE_INTERNAL, "read changes: %s",
                            mdb_strerror(rc));
    }
out_close:
    mdb_cursor_close(c);
out_end:
    as_reader_end(r);
    if (ret != 0)
        scan_free(out);
    return ret;
}

/* Answers call with the scan (or its error) and frees the scan. */
static void reply_scan(as_call_t *call, scan_t *s)
{
    Artstore__V1__ChangesResponse resp = ARTSTORE__V1__CHANGES_RESPONSE__INIT;

    resp.events = s->ev;
    resp.n_events = s->n;
    resp.has_last_seq = resp.has_oldest_seq = resp.has_next_since = 1;
    resp.last_seq = s->last_seq;
    resp.oldest_seq = s->oldest_seq;
    resp.next_since = s->next_since;
    as_call_reply(call, &resp.base);
    scan_free(s);
}

/* ------------------------------------------------------------ Changes */

void as_feed_handle_changes(as_call_t *call, const uint8_t *payload,
                            size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    as_feed_t *f = svc->feed;
    Artstore__V1__ChangesRequest *req;
    as_reader_t *r = as_service_reader(call);
    waiter_t *w;
    as_status_t st;
    scan_t s;
    size_t limit;
    int64_t deadline;

    req = (Artstore__V1__ChangesRequest *)as_service_unpack(
        call, &artstore__v1__changes_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (f == NULL || r == NULL) {
        as_call_reply_error(call, AS_CODE_UNAVAILABLE,
                            "the change feed is not running");
        return;
    }
    if (req->filter != NULL &&
        normalize_filter(req->filter, &svc->limits, as_call_arena(call),
                         &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    limit = req->has_limit && req->limit > 0 ? req->limit : svc->limits.max_page;
    if (limit > svc->limits.max_page)
        limit = svc->limits.max_page;
    req->has_limit = 1;
    req->limit = (uint32_t)limit;
    if (req->has_wait_ms && req->wait_ms > AS_FEED_MAX_WAIT_MS)
        req->wait_ms = AS_FEED_MAX_WAIT_MS;

    if (scan_changes(r, req->since, req->filter, limit,
                     svc->limits.max_reply_bytes, &s, &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    if (s.n > 0 || !req->has_wait_ms || req->wait_ms == 0 ||
        s.next_since < s.last_seq) {
        reply_scan(call, &s);
        return;
    }
    /* Nothing yet: park the call on the feed; its thread answers it. */
    deadline = now_ms() + req->wait_ms;
    if (as_call_deadline_ms(call) != 0 && as_call_deadline_ms(call) < deadline)
        deadline = as_call_deadline_ms(call);
    w = as_arena_alloc(as_call_arena(call), sizeof(*w));
    if (w == NULL) {
        scan_free(&s);
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "out of memory for the wait");
        return;
    }
    w->call = call;
    w->peer = as_call_peer(call);
    w->req = req;
    w->since = s.next_since;
    w->deadline_ms = deadline;
    pthread_mutex_lock(&f->lock);
    if (!f->stopping && w->peer != 0 &&
        f->peer_waits[w->peer % PEER_BUCKETS] >= MAX_WAITS_PER_CONN) {
        pthread_mutex_unlock(&f->lock);
        scan_free(&s);
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "more than %d waiting Changes calls from one "
                            "connection; a client waits with one call at a "
                            "time", MAX_WAITS_PER_CONN);
        return;
    }
    if (f->stopping || f->n_waiters >= f->opts.max_waiters) {
        int stopping = f->stopping;

        pthread_mutex_unlock(&f->lock);
        if (stopping) {
            reply_scan(call, &s);
            return;
        }
        scan_free(&s);
        as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                            "too many waiting Changes calls "
                            "(max_watches=%zu); retry later or poll",
                            f->opts.max_waiters);
        return;
    }
    scan_free(&s);
    if (w->peer != 0)
        f->peer_waits[w->peer % PEER_BUCKETS]++;
    w->next = f->waiters;
    f->waiters = w;
    f->n_waiters++;
    f->waiters_new = 1;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

/* Gives back the connection's slot of a waiter about to be answered. */
static void release_peer(as_feed_t *f, uint32_t peer)
{
    if (peer == 0)
        return;
    pthread_mutex_lock(&f->lock);
    if (f->peer_waits[peer % PEER_BUCKETS] > 0)
        f->peer_waits[peer % PEER_BUCKETS]--;
    pthread_mutex_unlock(&f->lock);
}

/* Feed thread: re-scans every parked call that may have news and answers
 * those with matches, a passed deadline, or (final) a stopping server. */
static void serve_waiters(as_feed_t *f, waiter_t *list, uint64_t committed,
                          int final)
{
    waiter_t *keep = NULL, *next, *w;
    int64_t now = now_ms();
    unsigned answered = 0;

    for (w = list; w != NULL; w = next) {
        as_status_t st;
        scan_t s;

        next = w->next;
        if (w->since < committed || now >= w->deadline_ms || final) {
            if (scan_changes(f->reader, w->since, w->req->filter,
                             w->req->limit, f->opts.max_reply_bytes, &s,
                             &st) != 0) {
                release_peer(f, w->peer);
                as_call_reply_status(w->call, &st);
                answered++;
                continue;
            }
            if (s.n > 0 || now >= w->deadline_ms || final) {
                release_peer(f, w->peer);
                reply_scan(w->call, &s);
                answered++;
                continue;
            }
            w->since = s.next_since;
            scan_free(&s);
        }
        w->next = keep;
        keep = w;
    }
    pthread_mutex_lock(&f->lock);
    f->n_waiters -= answered;
    if (keep != NULL) {
        for (w = keep; w->next != NULL; w = w->next)
            ;
        w->next = f->waiters;
        f->waiters = keep;
    }
    pthread_mutex_unlock(&f->lock);
}

/* ------------------------------------------------------------ publishing */

static void put_be(unsigned char *p, uint64_t v, int n)
{
    int i;

    for (i = n - 1; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

/* Builds the event frame for a stored event into a new buffer; returns its
 * length, or 0 when the event cannot be decoded or memory runs out. */
static size_t build_event_frame(uint64_t seq, const void *raw, size_t rawlen,
                                unsigned char **out)
{
    Artstore__V1__ChangeEvent *ev;
    unsigned char *b, *p;
    size_t len = 1 + 8 + 2 + 2 + rawlen, i;

    ev = artstore__v1__change_event__unpack(NULL, rawlen, raw);
    if (ev == NULL)
        return 0;
    for (i = 0; i < ev->n_tags; i++)
        len += 2 + strlen(ev->tags[i]);
    for (i = 0; i < ev->n_prev_tags; i++)
        len += 2 + strlen(ev->prev_tags[i]);
    if ((b = malloc(len)) == NULL) {
        artstore__v1__change_event__free_unpacked(ev, NULL);
        return 0;
    }
    p = b;
    *p++ = AS_FEED_FRAME_EVENT;
    put_be(p, seq, 8);
    p += 8;
    put_be(p, ev->n_tags & 0xffff, 2);
    p += 2;
    for (i = 0; i < ev->n_tags && i < 0xffff; i++) {
        size_t n = strlen(ev->tags[i]) & 0xffff;

        put_be(p, n, 2);
        memcpy(p + 2, ev->tags[i], n);
        p += 2 + n;
    }
    put_be(p, ev->n_prev_tags & 0xffff, 2);
    p += 2;
    for (i = 0; i < ev->n_prev_tags && i < 0xffff; i++) {
        size_t n = strlen(ev->prev_tags[i]) & 0xffff;

        put_be(p, n, 2);
        memcpy(p + 2, ev->prev_tags[i], n);
        p += 2 + n;
    }
    memcpy(p, raw, rawlen);
    p += rawlen;
    artstore__v1__change_event__free_unpacked(ev, NULL);
    *out = b;
    return (size_t)(p - b);
}

static void send_frame(as_feed_t *f, const void *b, size_t len)
{
    /* PUB never blocks: a subscriber that cannot keep up loses frames and
     * fills the gap over Changes. */
    if (nn_send(f->sock, b, len, NN_DONTWAIT) < 0 && errno != EAGAIN)
        as_log_warn("feed: send failed: %s", nn_strerror(errno));
}

/* The one frame of a positions-only feed: the newest published seq. */
static void send_position(as_feed_t *f)
{
    unsigned char b[9];

    b[0] = AS_FEED_FRAME_POSITION;
    put_be(b + 1, f->published, 8);
    send_frame(f, b, sizeof(b));
}

static void send_heartbeat(as_feed_t *f)
{
    unsigned char b[17];

    if (f->opts.positions_only) {
        send_position(f);
        return;
    }

    b[0] = AS_FEED_FRAME_HEARTBEAT;
    put_be(b + 1, f->published, 8);
    put_be(b + 9, (uint64_t)now_ms(), 8);
    send_frame(f, b, sizeof(b));
}

/* Publishes events (published, upto]: a chunk per snapshot, sent after the
 * snapshot is closed. */
static void publish_upto(as_feed_t *f, uint64_t upto)
{
    unsigned char *frames[PUBLISH_CHUNK];
    size_t lens[PUBLISH_CHUNK];

    while (f->published < upto) {
        as_store_t *s = f->store;
        MDB_cursor *c;
        MDB_val k, d;
        unsigned char kb[8];
        size_t n = 0, i;
        uint64_t reached = upto;
        as_status_t st;
        int rc;

        if (as_reader_begin(f->reader, &st) != 0) {
            as_log_error("feed: %s", st.msg);
            return;
        }
        if (mdb_cursor_open(as__reader_txn(f->reader),
                            as__store_dbi(s, AS_DBI_CHANGES), &c) != 0) {
            as_reader_end(f->reader);
            return;
        }
        as_u64_be(kb, f->published + 1);
        k.mv_size = 8;
        k.mv_data = kb;
        rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
        while (rc == 0 && k.mv_size == 8 && n < PUBLISH_CHUNK) {
            uint64_t seq = as_be_u64(k.mv_data);

            if (seq > upto)
                break;
            lens[n] = build_event_frame(seq, d.mv_data, d.mv_size, &frames[n]);
            if (lens[n] > 0)
                n++;
            else
                as_log_warn("feed: change %llu skipped (undecodable)",
                            (unsigned long long)seq);
            reached = seq;
            rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
        }
        if (rc == 0 && n == PUBLISH_CHUNK && reached < upto)
            ;   /* more to come in the next chunk */
        else
            reached = upto;
        mdb_cursor_close(c);
        as_reader_end(f->reader);
        for (i = 0; i < n; i++) {
            send_frame(f, frames[i], lens[i]);
            free(frames[i]);
        }
        f->published = reached;
    }
}

static void *feed_main(void *arg)
{
    as_feed_t *f = arg;
    int64_t last_send = now_ms();

    for (;;) {
        waiter_t *list, *w;
        uint64_t committed;
        int64_t wake, now;
        int stopping;

        pthread_mutex_lock(&f->lock);
        for (;;) {
            struct timespec ts;

            if (f->stopping || f->committed > f->published || f->waiters_new)
                break;
            now = now_ms();
            wake = last_send + AS_FEED_HEARTBEAT_MS;
            for (w = f->waiters; w != NULL; w = w->next)
                if (w->deadline_ms < wake)
                    wake = w->deadline_ms;
            if (now >= wake)
                break;
            ts.tv_sec = wake / 1000;
            ts.tv_nsec = (wake % 1000) * 1000000;
            pthread_cond_timedwait(&f->cond, &f->lock, &ts);
        }
        committed = f->committed;
        stopping = f->stopping;
        list = f->waiters;
        f->waiters = NULL;
        f->waiters_new = 0;
        pthread_mutex_unlock(&f->lock);

        if (committed > f->published && f->opts.positions_only) {
            f->published = committed;
            send_position(f);
            last_send = now_ms();
        } else if (committed > f->published) {
            publish_upto(f, committed);
            last_send = now_ms();
        }
        serve_waiters(f, list, committed, stopping);
        if (stopping)
            break;
        if (now_ms() - last_send >= AS_FEED_HEARTBEAT_MS) {
            send_heartbeat(f);
            last_send = now_ms();
        }
    }
    return NULL;
}

/* Writer thread, after each commit: record and signal, nothing more. */
static void on_commit(void *arg, uint64_t last_seq)
{
    as_feed_t *f = arg;

    pthread_mutex_lock(&f->lock);
    if (last_seq > f->committed) {
        f->committed = last_seq;
        pthread_cond_signal(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
}

/* ------------------------------------------------------------ retention */

/* Returns nonzero if the change stored as (k, d) is past retention. */
static int expired(const as_feed_t *f, const MDB_val *k, const MDB_val *d,
                   uint64_t last_seq, int64_t cutoff_ms)
{
    uint64_t seq = as_be_u64(k->mv_data);
    Artstore__V1__ChangeEvent *ev;
    int old;

    if (f->opts.retain_changes && seq + f->opts.retain_changes <= last_seq)
        return 1;
    if (!f->opts.retain_hours)
        return 0;
    ev = artstore__v1__change_event__unpack(NULL, d->mv_size, d->mv_data);
    if (ev == NULL)
        return 0;
    old = ev->has_commit_time_ms && ev->commit_time_ms < cutoff_ms;
    artstore__v1__change_event__free_unpacked(ev, NULL);
    return old;
}

static int64_t retention_cutoff(const as_feed_t *f)
{
    return now_ms() - (int64_t)f->opts.retain_hours * 3600 * 1000;
}

/* as_store_write callback: deletes expired changes from the oldest on. */
static int trim_changes(as_wtxn_t *t, void *arg)
{
    as_feed_t *f = arg;
    MDB_txn *txn = as__wtxn_txn(t);
    MDB_dbi dbi = as__store_dbi(as__wtxn_store(t), AS_DBI_CHANGES);
    uint64_t last = as_store_txn_last_seq(t);
    int64_t cutoff = retention_cutoff(f);
    MDB_cursor *c;
    MDB_val k, d;
    size_t n = 0;
    int rc;

    if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
        return AS_CODE_INTERNAL;
    while (n < TRIM_CHUNK &&
           (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST)) == 0 &&
           k.mv_size == 8 && expired(f, &k, &d, last, cutoff)) {
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : AS_CODE_INTERNAL;
}

/* Writer thread, about once a second: trims the changelog when its oldest
 * entry is past retention (checked with a read first, so that an idle
 * server does not commit every second). */
static void on_maint(void *arg)
{
    as_feed_t *f = arg;
    MDB_cursor *c;
    MDB_val k, d;
    as_status_t st;
    int due = 0;

    if (!f->opts.retain_changes && !f->opts.retain_hours)
        return;
    if (as_reader_begin(f->maint_reader, &st) != 0)
        return;
    if (mdb_cursor_open(as__reader_txn(f->maint_reader),
                        as__store_dbi(f->store, AS_DBI_CHANGES), &c) == 0) {
        if (mdb_cursor_get(c, &k, &d, MDB_FIRST) == 0 && k.mv_size == 8)
            due = expired(f, &k, &d, as_store_last_seq(f->store),
                          retention_cutoff(f));
        mdb_cursor_close(c);
    }
    as_reader_end(f->maint_reader);
    if (due && as_store_write(f->store, trim_changes, f, &st) != 0)
        as_log_warn("changelog retention failed: %s", st.msg);
}

/* ------------------------------------------------------------ rate */

/* Commit time of the first retained change at or after seq (cursor c);
 * *at gets its seq. Returns 0, -1 when there is none, or a code with st
 * set. */
static int commit_time_at(MDB_cursor *c, uint64_t seq, uint64_t *at,
                          int64_t *t, as_status_t *st)
{
    Artstore__V1__ChangeEvent *ev;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, d;
    int rc;

    as_u64_be(kb, seq);
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND)
        return -1;
    if (rc != 0 || k.mv_size != 8)
        return as_status_set(st, AS_CODE_INTERNAL, "read changes: %s",
                             rc ? mdb_strerror(rc) : "bad key");
    *at = as_be_u64(k.mv_data);
    ev = artstore__v1__change_event__unpack(NULL, d.mv_size, d.mv_data);
    if (ev == NULL)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "change %llu cannot be decoded",
                             (unsigned long long)*at);
    *t = ev->has_commit_time_ms ? ev->commit_time_ms : 0;
    artstore__v1__change_event__free_unpacked(ev, NULL);
    return 0;
}

/* The first seq in [lo, hi] committed at or after t, or hi + 1 when none
 * is (bisection). Returns 0 or a code with st set. */
static int first_seq_since(MDB_cursor *c, uint64_t lo, uint64_t hi, int64_t t,
                           uint64_t *out, as_status_t *st)
{
    uint64_t end = hi + 1, at = 0;
    int64_t ct = 0;
    int rc;

    while (lo < end) {
        uint64_t mid = lo + (end - lo) / 2;

        if ((rc = commit_time_at(c, mid, &at, &ct, st)) > 0)
            return rc;
        if (rc < 0 || at >= end || ct >= t)
            end = mid;
        else
            lo = at + 1;
    }
    *out = end;
    return 0;
}

int as_feed_minute_counts(as_reader_t *r, int64_t now, size_t n,
                          uint64_t *counts, int64_t *minute0_ms,
                          as_status_t *st)
{
    as_store_t *s = as__reader_store(r);
    MDB_cursor *c = NULL;
    MDB_val k, d;
    uint64_t oldest, last, prev = 0, cur;
    int64_t start;
    size_t i;
    int rc, ret = 0;

    if (n == 0 || n > 1440)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "minutes=%zu is not in 1..1440", n);
    start = now - now % 60000 - (int64_t)(n - 1) * 60000;
    *minute0_ms = start;
    memset(counts, 0, n * sizeof(*counts));
    if ((rc = as_reader_begin(r, st)) != 0)
        return rc;
    if ((rc = mdb_cursor_open(as__reader_txn(r),
                              as__store_dbi(s, AS_DBI_CHANGES), &c)) != 0) {
        ret = as_status_set(st, AS_CODE_INTERNAL, "open changes: %s",
                            mdb_strerror(rc));
        goto out_end;
    }
    if (mdb_cursor_get(c, &k, &d, MDB_FIRST) != 0 || k.mv_size != 8)
        goto out_close;   /* no changes retained */
    oldest = as_be_u64(k.mv_data);
    if (mdb_cursor_get(c, &k, &d, MDB_LAST) != 0 || k.mv_size != 8)
        goto out_close;
    last = as_be_u64(k.mv_data);
    for (i = 0; i <= n; i++) {
        if (i == n)
            cur = last + 1;
        else if ((ret = first_seq_since(c, oldest, last,
                                        start + (int64_t)i * 60000, &cur,
                                        st)) != 0)
            goto out_close;
        if (i > 0)
            counts[i - 1] = cur - prev;
        prev = cur;
    }
out_close:
    mdb_cursor_close(c);
out_end:
    as_reader_end(r);
    return ret;
}

/* ------------------------------------------------------------ lifecycle */

int as_feed_derive_endpoint(const char *listen, char *out, size_t cap)
{
    const char *colon;
    char *end;
    unsigned long port;
    int n;

    if (strncmp(listen, "ipc://", 6) == 0) {
        n = snprintf(out, cap, "%s.feed", listen);
        return n > 0 && (size_t)n < cap ? 0 : -1;
    }
    if (strncmp(listen, "tcp://", 6) != 0 ||
        (colon = strrchr(listen, ':')) == NULL || colon < listen + 6)
        return -1;
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port == 0 || port >= 65535)
        return -1;
    n = snprintf(out, cap, "%.*s:%lu", (int)(colon - listen), listen, port + 1);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int as_feed_start(as_store_t *s, as_writer_t *w, const as_feed_opts_t *opts,
                  as_feed_t **out, as_status_t *st)
{
    as_feed_t *f = calloc(1, sizeof(*f));
    int rc, max = -1, one = 1;

    if (f == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    f->store = s;
    f->writer = w;
    f->opts = *opts;
    if (f->opts.max_waiters == 0)
        f->opts.max_waiters = 1;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    if ((rc = as_reader_create(s, &f->reader, st)) != 0)
        goto out_free;
    if ((rc = as_reader_create(s, &f->maint_reader, st)) != 0)
        goto out_reader;
    if ((f->sock = nn_socket(AF_SP, NN_PUB)) < 0) {
        rc = as_status_set(st, AS_CODE_INTERNAL, "feed socket: %s",
                           nn_strerror(errno));
        goto out_maint_reader;
    }
    nn_setsockopt(f->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    /* Subscribers never send, so their ACKs are delayed (up to 40 ms), and
     * Nagle would hold each small frame until the previous one is ACKed. */
    nn_setsockopt(f->sock, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one));
    if (nn_bind(f->sock, opts->endpoint) < 0) {
        rc = as_status_set(st, AS_CODE_UNAVAILABLE, "cannot bind feed %s: %s",
                           opts->endpoint, nn_strerror(errno));
        goto out_sock;
    }
    if (opts->ws_endpoint != NULL && opts->ws_endpoint[0] != '\0' &&
        nn_bind(f->sock, opts->ws_endpoint) < 0) {
        rc = as_status_set(st, AS_CODE_UNAVAILABLE,
                           "cannot bind feed %s: %s", opts->ws_endpoint,
                           nn_strerror(errno));
        goto out_sock;
    }
    f->committed = f->published = as_store_last_seq(s);
    if ((rc = pthread_create(&f->thread, NULL, feed_main, f)) != 0) {
        rc = as_status_set(st, AS_CODE_INTERNAL, "start feed: %s",
                           strerror(rc));
        goto out_sock;
    }
    as_writer_set_commit_hook(w, on_commit, f);
    as_writer_set_maint_hook(w, on_maint, f);
    *out = f;
    return 0;

out_sock:
    nn_close(f->sock);
out_maint_reader:
    as_reader_free(f->maint_reader);
out_reader:
    as_reader_free(f->reader);
out_free:
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return rc;
}

void as_feed_stop(as_feed_t *f)
{
    waiter_t *list;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    /* Calls parked after the thread's last look are answered here. */
    list = f->waiters;
    f->waiters = NULL;
    serve_waiters(f, list, f->committed, 1);
    nn_close(f->sock);
    as_reader_free(f->maint_reader);
    as_reader_free(f->reader);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

unsigned as_feed_subscribers(as_feed_t *f)
{
    /* nanomsg counts the PUB socket's live connections, accepted ones
     * included, and drops one when its peer goes away. */
    uint64_t n = nn_get_statistic(f->sock, NN_STAT_CURRENT_CONNECTIONS);

    return n == (uint64_t)-1 ? 0 : (unsigned)n;
}

unsigned as_feed_waiters(as_feed_t *f)
{
    unsigned n;

    pthread_mutex_lock(&f->lock);
    n = f->n_waiters;
    pthread_mutex_unlock(&f->lock);
    return n;
}
