/*
 * feed.c - the change feed engine: PUB socket, changelog reads, parked
 * long-polls and retention. See feed.h for the threading model and
 * proto/frame.h for the frames.
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

#include "clock.h"
#include "frame.h"
#include "log.h"

/* Events read per snapshot while publishing, and scanned per read:
 * bounds the time a snapshot stays open. */
#define PUBLISH_CHUNK 512
#define SCAN_MAX 20000
/* Change events dropped per retention transaction. */
#define TRIM_CHUNK 10000

/* Waiting calls one connection may hold (a REQ socket has one call in
 * flight; more come only from a client pipelining raw requests). Kept per
 * bucket of connections, so a collision only makes the bound stricter.
 * nanomsg does not tell when a connection closes: this is what bounds the
 * slots a vanished connection holds until their waits end. */
#define MAX_WAITS_PER_CONN 4
#define PEER_BUCKETS 1024

/* A parked wait. */
typedef struct waiter {
    uint32_t peer;                       /* the caller's connection */
    uint64_t since;                      /* position reached so far */
    const as_filter_t *filter;
    size_t limit;
    int64_t deadline_ms;
    as_feed_wait_fn fn;
    void *arg;
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
    uint64_t acked;                      /* under lock: newest acknowledged
                                            seq (writer.h's commit hook) */
    int stopping;                        /* under lock */
    int waiters_new;                     /* under lock: a waiter was added */
    waiter_t *waiters;                   /* under lock */
    unsigned n_waiters;                  /* under lock */
    unsigned char peer_waits[PEER_BUCKETS]; /* under lock: per connection */
    uint64_t published;                  /* feed thread only */
    as_reader_t *reader;                 /* feed thread only */
    as_reader_t *maint_reader;           /* writer thread only */
    uint64_t maint_seq;                  /* writer thread only: last_seq
                                            at the last retention round */
};

/* ------------------------------------------------------------ reading */

void as_changes_free(as_changes_t *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        artstore__v1__change_event__free_unpacked(c->ev[i], NULL);
    free(c->ev);
    c->ev = NULL;
    c->n = 0;
}

/* The state of one read. */
typedef struct reading {
    const as_filter_t *filter;
    size_t limit, scanned;
    size_t max_bytes, bytes;   /* stored size of the events kept */
    int full;                  /* stopped by max_bytes */
    as_changes_t *out;
} reading_t;

/* as_store_changes_scan visitor: keeps matching events. */
static int read_visit(void *arg, uint64_t seq, as_bytes_t raw,
                      as_status_t *st)
{
    reading_t *rd = arg;
    Artstore__V1__ChangeEvent *ev;

    if (rd->out->n == rd->limit || rd->scanned == SCAN_MAX)
        return AS_VISIT_STOP;
    ev = artstore__v1__change_event__unpack(NULL, raw.len, raw.data);
    if (ev == NULL)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "change %llu cannot be decoded",
                             (unsigned long long)seq);
    if (rd->filter != NULL && !as_filter_match_event(rd->filter, ev)) {
        artstore__v1__change_event__free_unpacked(ev, NULL);
    } else if (rd->max_bytes > 0 && rd->out->n > 0 &&
               rd->bytes + raw.len > rd->max_bytes) {
        /* The page is full by size: stop before this event, so that
         * next_since leads the next call to it. */
        artstore__v1__change_event__free_unpacked(ev, NULL);
        rd->full = 1;
        return AS_VISIT_STOP;
    } else {
        rd->out->ev[rd->out->n++] = ev;
        rd->bytes += raw.len;
    }
    rd->out->next_since = seq;
    rd->scanned++;
    return 0;
}

/* Checks since against the retained log [oldest, last]. */
static int check_since(uint64_t since, const as_changes_t *c,
                       as_status_t *st)
{
    if (since > c->last_seq)
        return as_status_set(st, AS_CODE_OUT_OF_RANGE,
                             "since=%llu is beyond the last seq=%llu: the "
                             "store is older than the position (restored "
                             "from a backup?); resync by query",
                             (unsigned long long)since,
                             (unsigned long long)c->last_seq);
    if (since < c->oldest_seq - 1)
        return as_status_set(st, AS_CODE_OUT_OF_RANGE,
                             "since=%llu is older than the retained changelog: "
                             "oldest retained seq=%llu; resync by query",
                             (unsigned long long)since,
                             (unsigned long long)c->oldest_seq);
    return 0;
}

int as_feed_read(as_reader_t *r, uint64_t since, const as_filter_t *f,
                 size_t limit, size_t max_bytes, as_changes_t *out,
                 as_status_t *st)
{
    reading_t rd = { f, limit, 0, max_bytes, 0, 0, out };
    int rc;

    memset(out, 0, sizeof(*out));
    out->ev = malloc(sizeof(*out->ev) * (limit ? limit : 1));
    if (out->ev == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if ((rc = as_reader_begin(r, st)) != 0)
        goto out_free;
    rc = as_store_changes_bounds_latest(r, &out->oldest_seq, &out->last_seq,
                                        st);
    if (rc == 0 && out->oldest_seq == 0)
        out->oldest_seq = out->last_seq + 1;
    if (rc == 0)
        rc = check_since(since, out, st);
    if (rc == 0) {
        out->next_since = since;
        rc = as_store_changes_scan_latest(r, since, out->last_seq, read_visit,
                                          &rd, st);
        /* The whole log was read: the position is the last seq. */
        if (rc == 0 && out->n < limit && rd.scanned < SCAN_MAX && !rd.full)
            out->next_since = out->last_seq;
    }
    as_reader_end(r);
out_free:
    if (rc != 0)
        as_changes_free(out);
    return rc;
}

/* ------------------------------------------------------------ waiting */

int as_feed_wait(as_feed_t *f, uint32_t peer, uint64_t since,
                 const as_filter_t *filter, size_t limit, int64_t deadline_ms,
                 as_feed_wait_fn fn, void *arg, as_status_t *st)
{
    waiter_t *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for the wait");
    w->peer = peer;
    w->since = since;
    w->filter = filter;
    w->limit = limit;
    w->deadline_ms = deadline_ms;
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_lock(&f->lock);
    if (!f->stopping && peer != 0 &&
        f->peer_waits[peer % PEER_BUCKETS] >= MAX_WAITS_PER_CONN) {
        pthread_mutex_unlock(&f->lock);
        free(w);
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "more than %d waiting Changes calls from one "
                             "connection; a client waits with one call at a "
                             "time", MAX_WAITS_PER_CONN);
    }
    if (f->stopping || f->n_waiters >= f->opts.max_waiters) {
        int stopping = f->stopping;

        pthread_mutex_unlock(&f->lock);
        free(w);
        if (stopping)
            return as_status_set(st, AS_CODE_UNAVAILABLE,
                                 "the change feed is stopping");
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "too many waiting Changes calls "
                             "(max_watches=%zu); retry later or poll",
                             f->opts.max_waiters);
    }
    if (peer != 0)
        f->peer_waits[peer % PEER_BUCKETS]++;
    w->next = f->waiters;
    f->waiters = w;
    f->n_waiters++;
    f->waiters_new = 1;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* Gives back the slots (max_watches, and its connection's) of a waiter
 * about to be answered. Before the reply, not after: a client that polls
 * again as soon as it has its answer must find its slot free. */
static void release_waiter(as_feed_t *f, uint32_t peer)
{
    pthread_mutex_lock(&f->lock);
    f->n_waiters--;
    if (peer != 0 && f->peer_waits[peer % PEER_BUCKETS] > 0)
        f->peer_waits[peer % PEER_BUCKETS]--;
    pthread_mutex_unlock(&f->lock);
}

/* Reads for waiter w: completes it (and returns 1) when it has matches, its
 * deadline passed or the feed stops (final); else moves it on and
 * returns 0. */
static int serve_one(as_feed_t *f, waiter_t *w, int64_t now, int final)
{
    as_changes_t ch;
    as_status_t st;

    if (as_feed_read(f->reader, w->since, w->filter, w->limit,
                     f->opts.max_reply_bytes, &ch, &st) != 0) {
        release_waiter(f, w->peer);
        w->fn(w->arg, NULL, &st);
        return 1;
    }
    if (ch.n > 0 || now >= w->deadline_ms || final) {
        release_waiter(f, w->peer);
        w->fn(w->arg, &ch, NULL);
        as_changes_free(&ch);
        return 1;
    }
    w->since = ch.next_since;
    as_changes_free(&ch);
    return 0;
}

/* Feed thread: re-reads for every parked wait that may have news and
 * completes those with matches, a passed deadline, or (final) a stopping
 * feed. */
static void serve_waiters(as_feed_t *f, waiter_t *list, uint64_t acked,
                          int final)
{
    waiter_t *keep = NULL, *next, *w;
    int64_t now = as_clock_wall_ms();

    for (w = list; w != NULL; w = next) {
        next = w->next;
        if ((w->since < acked || now >= w->deadline_ms || final) &&
            serve_one(f, w, now, final)) {
            free(w);
            continue;
        }
        w->next = keep;
        keep = w;
    }
    pthread_mutex_lock(&f->lock);
    if (keep != NULL) {
        for (w = keep; w->next != NULL; w = w->next)
            ;
        w->next = f->waiters;
        f->waiters = keep;
    }
    pthread_mutex_unlock(&f->lock);
}

/* ------------------------------------------------------------ publishing */

/* Builds the event frame for a stored event into a new buffer; returns its
 * length, or 0 when the event cannot be decoded or memory runs out. */
static size_t build_event_frame(uint64_t seq, as_bytes_t raw,
                                unsigned char **out)
{
    Artstore__V1__ChangeEvent *ev;
    size_t len;

    ev = artstore__v1__change_event__unpack(NULL, raw.len, raw.data);
    if (ev == NULL)
        return 0;
    len = as_frame_event_size(ev->tags, ev->n_tags, ev->prev_tags,
                              ev->n_prev_tags, raw.len);
    if ((*out = malloc(len)) != NULL)
        len = as_frame_put_event(*out, seq, ev->tags, ev->n_tags,
                                 ev->prev_tags, ev->n_prev_tags, raw.data,
                                 raw.len);
    else
        len = 0;
    artstore__v1__change_event__free_unpacked(ev, NULL);
    return len;
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
    unsigned char b[AS_FRAME_POSITION_LEN];

    as_frame_put_position(b, f->published);
    send_frame(f, b, sizeof(b));
}

static void send_heartbeat(as_feed_t *f)
{
    unsigned char b[AS_FRAME_HEARTBEAT_LEN];

    if (f->opts.positions_only) {
        send_position(f);
        return;
    }
    as_frame_put_heartbeat(b, f->published, as_clock_wall_ms());
    send_frame(f, b, sizeof(b));
}

/* One chunk of frames built from a snapshot, sent after it is closed. */
typedef struct chunk {
    uint64_t upto, reached;
    unsigned char *frames[PUBLISH_CHUNK];
    size_t lens[PUBLISH_CHUNK];
    size_t n;
    int full;
} chunk_t;

/* as_store_changes_scan visitor: frames events up to c->upto. */
static int chunk_visit(void *arg, uint64_t seq, as_bytes_t raw,
                       as_status_t *st)
{
    chunk_t *c = arg;

    (void)st;
    if (seq > c->upto)
        return AS_VISIT_STOP;
    if (c->n == PUBLISH_CHUNK) {
        c->full = 1;
        return AS_VISIT_STOP;
    }
    c->lens[c->n] = build_event_frame(seq, raw, &c->frames[c->n]);
    if (c->lens[c->n] > 0)
        c->n++;
    else
        as_log_warn("feed: change %llu skipped (undecodable)",
                    (unsigned long long)seq);
    c->reached = seq;
    return 0;
}

/* Publishes events (published, upto]: a chunk per snapshot. */
static void publish_upto(as_feed_t *f, uint64_t upto)
{
    chunk_t c;
    as_status_t st;
    size_t i;
    int rc;

    while (f->published < upto) {
        memset(&c, 0, sizeof(c));
        c.upto = upto;
        if (as_reader_begin(f->reader, &st) != 0) {
            as_log_error("feed: %s", st.msg);
            return;
        }
        rc = as_store_changes_scan_latest(f->reader, f->published, upto,
                                          chunk_visit, &c, &st);
        as_reader_end(f->reader);
        if (rc != 0)
            as_log_warn("feed: %s", st.msg);
        for (i = 0; i < c.n; i++) {
            send_frame(f, c.frames[i], c.lens[i]);
            free(c.frames[i]);
        }
        f->published = c.full ? c.reached : upto;
    }
}

/* Waits until there is something to do: a commit to publish, a new or
 * expiring waiter, a heartbeat due, or stopping. Called with f->lock. */
static void feed_sleep(as_feed_t *f, int64_t last_send)
{
    waiter_t *w;
    int64_t wake, now;

    for (;;) {
        struct timespec ts;

        if (f->stopping || f->acked > f->published || f->waiters_new)
            return;
        now = as_clock_wall_ms();
        wake = last_send + AS_FEED_HEARTBEAT_MS;
        for (w = f->waiters; w != NULL; w = w->next)
            if (w->deadline_ms < wake)
                wake = w->deadline_ms;
        if (now >= wake)
            return;
        ts = as_clock_wall_ts(wake);
        pthread_cond_timedwait(&f->cond, &f->lock, &ts);
    }
}

static void *feed_main(void *arg)
{
    as_feed_t *f = arg;
    int64_t last_send = as_clock_wall_ms();

    for (;;) {
        waiter_t *list;
        uint64_t acked;
        int stopping;

        pthread_mutex_lock(&f->lock);
        feed_sleep(f, last_send);
        acked = f->acked;
        stopping = f->stopping;
        list = f->waiters;
        f->waiters = NULL;
        f->waiters_new = 0;
        pthread_mutex_unlock(&f->lock);

        /* Nobody to send to: PUB would drop the frames. A subscriber
         * that connects later fills the gap through Changes, as after
         * any frame it missed. */
        if (acked > f->published && as_feed_subscribers(f) == 0)
            f->published = acked;
        if (acked > f->published && f->opts.positions_only) {
            f->published = acked;
            send_position(f);
            last_send = as_clock_wall_ms();
        } else if (acked > f->published) {
            publish_upto(f, acked);
            last_send = as_clock_wall_ms();
        }
        serve_waiters(f, list, acked, stopping);
        if (stopping)
            break;
        if (as_clock_wall_ms() - last_send >= AS_FEED_HEARTBEAT_MS) {
            send_heartbeat(f);
            last_send = as_clock_wall_ms();
        }
    }
    return NULL;
}

/* Writer thread, once a group is acknowledged and after each commit:
 * record and signal, nothing more. With no subscriber and no parked
 * Changes call the feed thread has nothing to do with the news, and is
 * not woken for it (it catches up at its next heartbeat). */
static void on_commit(void *arg, uint64_t last_seq)
{
    as_feed_t *f = arg;

    pthread_mutex_lock(&f->lock);
    if (last_seq > f->acked) {
        f->acked = last_seq;
        if (f->waiters != NULL || as_feed_subscribers(f) > 0)
            pthread_cond_signal(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
}

/* ------------------------------------------------------------ retention */

/* What retention keeps: the newest retain_changes, the last retain_hours. */
typedef struct retention {
    const as_feed_opts_t *opts;
    uint64_t last_seq;
    int64_t cutoff_ms;
} retention_t;

/* as_change_expired_fn: nonzero if the change is past retention. */
static int expired(void *arg, uint64_t seq, as_bytes_t raw)
{
    const retention_t *r = arg;
    Artstore__V1__ChangeEvent *ev;
    int old;

    if (r->opts->retain_changes && seq + r->opts->retain_changes <= r->last_seq)
        return 1;
    if (!r->opts->retain_hours)
        return 0;
    ev = artstore__v1__change_event__unpack(NULL, raw.len, raw.data);
    if (ev == NULL)
        return 0;
    old = ev->has_commit_time_ms && ev->commit_time_ms < r->cutoff_ms;
    artstore__v1__change_event__free_unpacked(ev, NULL);
    return old;
}

static void retention_init(const as_feed_t *f, uint64_t last_seq,
                           retention_t *r)
{
    r->opts = &f->opts;
    r->last_seq = last_seq;
    r->cutoff_ms = as_clock_wall_ms() -
                   (int64_t)f->opts.retain_hours * 3600 * 1000;
}

/* as_store_write callback: deletes expired changes from the oldest on. */
static int trim_changes(as_wtxn_t *t, void *arg)
{
    void **a = arg;
    retention_t r;
    size_t n;

    retention_init(a[0], as_store_txn_last_seq(t), &r);
    return as_store_changes_trim(t, expired, &r, TRIM_CHUNK, &n, a[1]);
}

/* as_store_changes_scan visitor: is the oldest change past retention? */
static int oldest_visit(void *arg, uint64_t seq, as_bytes_t raw,
                        as_status_t *st)
{
    void **a = arg;

    (void)st;
    *(int *)a[1] = expired(a[0], seq, raw);
    return AS_VISIT_STOP;
}

/* as_feed_trim_point's walk from the oldest change. */
typedef struct trim_scan {
    retention_t r;
    size_t left;
    uint64_t upto;
} trim_scan_t;

static int trim_point_visit(void *arg, uint64_t seq, as_bytes_t raw,
                            as_status_t *st)
{
    trim_scan_t *t = arg;

    (void)st;
    if (t->left == 0 || !expired(&t->r, seq, raw))
        return AS_VISIT_STOP;
    t->upto = seq;
    t->left--;
    return 0;
}

int as_feed_trim_point(as_store_t *s, as_reader_t *r, uint64_t retain_changes,
                       uint64_t retain_hours, int64_t now_ms, size_t max,
                       uint64_t *upto, as_status_t *st)
{
    as_feed_opts_t o;
    trim_scan_t t;
    int rc;

    *upto = 0;
    if (!retain_changes && !retain_hours)
        return 0;
    memset(&o, 0, sizeof(o));
    o.retain_changes = retain_changes;
    o.retain_hours = retain_hours;
    t.r.opts = &o;
    t.r.last_seq = as_store_last_seq(s);
    t.r.cutoff_ms = now_ms - (int64_t)retain_hours * 3600 * 1000;
    t.left = max;
    t.upto = 0;
    if ((rc = as_reader_begin(r, st)) != 0)
        return rc;
    rc = as_store_changes_scan(r, 0, trim_point_visit, &t, st);
    as_reader_end(r);
    if (rc == 0)
        *upto = t.upto;
    return rc;
}

/* Returns nonzero when the oldest retained change is past retention
 * (read in a snapshot of its own, so that an idle server does not commit
 * every second). */
static int trim_due(as_feed_t *f)
{
    retention_t r;
    as_status_t st;
    void *vargs[2] = { &r, NULL };
    int due = 0;

    if (as_reader_begin(f->maint_reader, &st) != 0)
        return 0;
    retention_init(f, as_store_last_seq(f->store), &r);
    vargs[1] = &due;
    as_store_changes_scan(f->maint_reader, 0, oldest_visit, vargs, &st);
    as_reader_end(f->maint_reader);
    return due;
}

/* Writer thread, about once a second: trims the changelog while its
 * oldest entry is past retention, TRIM_CHUNK events per transaction. One
 * round trims up to as many events as were written since the last round,
 * plus one chunk: retention keeps up with any write rate (a fixed chunk a
 * second would not, past 10,000 changes a second), and a backlog (a store
 * from before a retention was set) shrinks by a chunk a second without
 * holding the writer for long. */
static void on_maint(void *arg)
{
    as_feed_t *f = arg;
    as_status_t st;
    void *targs[2] = { f, &st };
    uint64_t last = as_store_last_seq(f->store), budget, done = 0;

    if (!f->opts.retain_changes && !f->opts.retain_hours)
        return;
    budget = TRIM_CHUNK + (last > f->maint_seq ? last - f->maint_seq : 0);
    f->maint_seq = last;
    while (done < budget && trim_due(f)) {
        if (as_store_write(f->store, trim_changes, targs, &st) != 0) {
            as_log_warn("changelog retention failed: %s", st.msg);
            return;
        }
        done += TRIM_CHUNK;
    }
}

/* ------------------------------------------------------------ rate */

/* The first retained change at or after a seq: its seq and commit time. */
typedef struct first_at {
    uint64_t seq;
    int64_t t;
    int found;
} first_at_t;

/* as_store_changes_scan visitor: takes the first change and stops. */
static int first_visit(void *arg, uint64_t seq, as_bytes_t raw,
                       as_status_t *st)
{
    first_at_t *fa = arg;
    Artstore__V1__ChangeEvent *ev;

    ev = artstore__v1__change_event__unpack(NULL, raw.len, raw.data);
    if (ev == NULL)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "change %llu cannot be decoded",
                             (unsigned long long)seq);
    fa->seq = seq;
    fa->t = ev->has_commit_time_ms ? ev->commit_time_ms : 0;
    fa->found = 1;
    artstore__v1__change_event__free_unpacked(ev, NULL);
    return AS_VISIT_STOP;
}

/* The first seq in [lo, hi] committed at or after t, or hi + 1 when none
 * is (bisection). Returns 0 or a code with st set. */
static int first_seq_since(as_reader_t *r, uint64_t lo, uint64_t hi,
                           int64_t t, uint64_t *out, as_status_t *st)
{
    uint64_t end = hi + 1;
    int rc;

    while (lo < end) {
        uint64_t mid = lo + (end - lo) / 2;
        first_at_t fa = { 0, 0, 0 };

        if ((rc = as_store_changes_scan(r, mid - 1, first_visit, &fa,
                                        st)) != 0)
            return rc;
        if (!fa.found || fa.seq >= end || fa.t >= t)
            end = mid;
        else
            lo = fa.seq + 1;
    }
    *out = end;
    return 0;
}

int as_feed_minute_counts(as_reader_t *r, int64_t now, size_t n,
                          uint64_t *counts, int64_t *minute0_ms,
                          as_status_t *st)
{
    uint64_t oldest, last, prev = 0, cur;
    int64_t start;
    size_t i;
    int rc;

    if (n == 0 || n > 1440)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "minutes=%zu is not in 1..1440", n);
    start = now - now % 60000 - (int64_t)(n - 1) * 60000;
    *minute0_ms = start;
    memset(counts, 0, n * sizeof(*counts));
    if ((rc = as_reader_begin(r, st)) != 0)
        return rc;
    rc = as_store_changes_bounds(r, &oldest, &last, st);
    for (i = 0; rc == 0 && oldest != 0 && i <= n; i++) {
        if (i == n)
            cur = last + 1;
        else if ((rc = first_seq_since(r, oldest, last,
                                       start + (int64_t)i * 60000, &cur,
                                       st)) != 0)
            break;
        if (i > 0)
            counts[i - 1] = cur - prev;
        prev = cur;
    }
    as_reader_end(r);
    return rc;
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

/* Opens the PUB socket and binds it to endpoint and ws_endpoint (if any).
 * Returns 0 or a code with st set. */
static int feed_bind(as_feed_t *f, const char *endpoint,
                     const char *ws_endpoint, as_status_t *st)
{
    int max = -1, one = 1;

    if ((f->sock = nn_socket(AF_SP, NN_PUB)) < 0)
        return as_status_set(st, AS_CODE_INTERNAL, "feed socket: %s",
                             nn_strerror(errno));
    nn_setsockopt(f->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    /* Subscribers never send, so their ACKs are delayed (up to 40 ms), and
     * Nagle would hold each small frame until the previous one is ACKed. */
    nn_setsockopt(f->sock, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one));
    if (nn_bind(f->sock, endpoint) < 0 ||
        (ws_endpoint != NULL && ws_endpoint[0] != '\0' &&
         nn_bind(f->sock, endpoint = ws_endpoint) < 0)) {
        as_status_set(st, AS_CODE_UNAVAILABLE, "cannot bind feed %s: %s",
                      endpoint, nn_strerror(errno));
        nn_close(f->sock);
        return st->code;
    }
    return 0;
}

int as_feed_start(as_store_t *s, as_writer_t *w, const as_feed_opts_t *opts,
                  as_feed_t **out, as_status_t *st)
{
    as_feed_t *f = calloc(1, sizeof(*f));
    int rc;

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
    if ((rc = feed_bind(f, opts->endpoint, opts->ws_endpoint, st)) != 0)
        goto out_maint_reader;
    f->acked = f->published = as_store_acked_seq(s);
    f->maint_seq = as_store_last_seq(s);
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
    /* Waits parked after the thread's last look are completed here. */
    list = f->waiters;
    f->waiters = NULL;
    serve_waiters(f, list, f->acked, 1);
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
