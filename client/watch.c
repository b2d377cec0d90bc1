/*
 * watch.c - reliable change subscriptions on top of the server's PUB feed.
 *
 * The feed frames (proto/frame.h, docs/PROTOCOL.md) carry their seq and
 * the event's tags in a fixed header. The watch keeps `pos`, the seq it
 * has caught up to. A frame with seq pos+1 advances it (and is delivered
 * when it matches); an older one is a duplicate and skipped; a newer one,
 * a heartbeat ahead of pos, or silence longer than two heartbeats means
 * frames were lost, and the watch reads the missing range through the
 * Changes RPC (which filters on the server) before it looks at the feed
 * again. Events from Changes are queued and delivered before anything
 * newer, so the order is always the seq order. A server that wants
 * tokens publishes only position frames: every event then comes through
 * Changes, with the client's token.
 *
 * In a cluster every member has the same seqs, so a watch whose member
 * goes away moves on: the catch-up call fails over to another member
 * (the client knows them all: the watch adds the members' endpoints it
 * learns from ClusterStatus), and the watch then subscribes to that
 * member's feed, on the same socket, and goes on from its position. A
 * member that lags behind the position answers Changes OUT_OF_RANGE; the
 * watch then asks once more with a linearizable read, which the member
 * answers only after it has applied everything committed.
 */
#include <errno.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "feedconn.h"
#include "filter.h"
#include "frame.h"
#include "internal.h"
#include "tagfold.h"

/* Tags per list the watch reads from a frame header. */
#define FRAME_TAGS 256
/* How often a watch whose server is unreachable tries it again. */
#define UNREACHABLE_RETRY_MS 200
/* Silence after which the watch asks Changes (the server sends a
 * heartbeat every second when idle). */
#define SILENCE_MS 2000
/* The longest a watch waits for its feed connection to be accepted. */
#define CONNECT_TIMEOUT_MS 1000

struct as_watch {
    as_client_t *c;
    int ep;                    /* as_watch_fd: an epoll set holding the
                                  feed connection's descriptor, whichever
                                  it is (stays the same when it moves) */
    int direct;                /* the feed is read through fc, not sock */
    as_feedconn_t fc;          /* the feed connection (tcp://, ipc://) */
    char feed_ep[256];         /* the feed endpoint fc connects to */
    int refused;               /* fc's last connect attempt failed */
    int64_t retry_ms;          /* when fc, not connected, tries again */
    int sock;                  /* an NN_SUB socket for other transports */
    int feed_eid;              /* the endpoint id of its connection */
    char feed_of[256];         /* the client endpoint whose feed it is */
    uint64_t pos;
    int need_catchup;
    int64_t last_frame_ms;
    int unreachable;           /* the last attempt to reach the server
                                  failed (refused, no reply, feed down) */
    as_filter_t filter;        /* tag lists and source, normalized */
    as_change_t **queue;       /* from Changes, seq order */
    size_t q_head, q_len, q_cap;
};

#define now_ms as_clock_mono_ms

/* ------------------------------------------------------------ changes */

void as_change_free(as_change_t *ch)
{
    if (ch == NULL)
        return;
    as__strv_free(ch->tags, ch->n_tags);
    as__strv_free(ch->prev_tags, ch->n_prev_tags);
    free(ch->title);
    free(ch->source);
    free(ch->url);
    free(ch);
}

/* Returns a new change copied from ev, or NULL when out of memory. */
static as_change_t *change_from_pb(const Artstore__V1__ChangeEvent *ev)
{
    as_change_t *ch = calloc(1, sizeof(*ch));
    char **tags;
    int oom = 0;

    if (ch == NULL)
        return NULL;
    ch->seq = ev->seq;
    ch->type = (int)ev->type;
    ch->id = ev->id;
    ch->revision = ev->revision;
    /* Shown as written (tag_forms, source_form); the watch's filters were
     * applied to the keys before. */
    tags = ev->n_tag_forms > 0 && ev->n_tag_forms == ev->n_tags
               ? ev->tag_forms : ev->tags;
    ch->tags = as__strv_copy((const char *const *)tags, ev->n_tags, &oom);
    ch->n_tags = ch->tags ? ev->n_tags : 0;
    ch->prev_tags = as__strv_copy((const char *const *)ev->prev_tags,
                                  ev->n_prev_tags, &oom);
    ch->n_prev_tags = ch->prev_tags ? ev->n_prev_tags : 0;
    ch->title = as__strdup(ev->title, &oom);
    ch->source = as__strdup(ev->source_form ? ev->source_form : ev->source,
                            &oom);
    ch->url = as__strdup(ev->url, &oom);
    ch->has_published_at = ev->has_published_at;
    ch->published_at = ev->published_at;
    ch->commit_time_ms = ev->commit_time_ms;
    ch->story_id = ev->has_story_id ? ev->story_id : 0;
    ch->new_story = ev->has_new_story && ev->new_story;
    if (oom) {
        as_change_free(ch);
        return NULL;
    }
    return ch;
}

/* ------------------------------------------------------------ catch-up */

static int queue_push(as_watch_t *w, as_change_t *ch)
{
    if (w->q_head > 0 && w->q_head == w->q_len) {
        w->q_head = w->q_len = 0;
    }
    if (w->q_len == w->q_cap) {
        size_t cap = w->q_cap ? w->q_cap * 2 : 64;
        as_change_t **q = realloc(w->queue, cap * sizeof(*q));

        if (q == NULL)
            return -1;
        w->queue = q;
        w->q_cap = cap;
    }
    w->queue[w->q_len++] = ch;
    return 0;
}

/* Calls Changes(since) with the watch's tag filter. On AS_OK *out is the
 * response (free_unpacked). */
static int changes_call(as_watch_t *w, uint64_t since,
                        Artstore__V1__ChangesResponse **out)
{
    Artstore__V1__ChangesRequest req = ARTSTORE__V1__CHANGES_REQUEST__INIT;
    Artstore__V1__Filter f;
    ProtobufCMessage *m;
    int rc;

    as_filter_to_pb(&w->filter, &f);
    req.has_since = 1;
    req.since = since;
    req.filter = &f;
    rc = as__call(w->c, "Changes", &req.base,
                  &artstore__v1__changes_response__descriptor, &m);
    *out = rc == AS_OK ? (Artstore__V1__ChangesResponse *)m : NULL;
    return rc;
}

/* Reads one page of Changes after pos into the queue and advances pos.
 * Clears need_catchup once the page reached the server's last seq.
 * Returns AS_OK or the call's code. */
static int catch_up(as_watch_t *w)
{
    Artstore__V1__ChangesResponse *resp;
    size_t i;
    int rc;

    rc = changes_call(w, w->pos, &resp);
    /* On another member than the feed's (the call moved), the position
     * may be ahead of what this one has applied yet: a linearizable read
     * waits until it has applied everything committed. */
    if (rc == AS_EOUT_OF_RANGE &&
        strcmp(as_client_endpoint(w->c), w->feed_of) != 0) {
        int was = w->c->linearizable;

        w->c->linearizable = 1;
        rc = changes_call(w, w->pos, &resp);
        w->c->linearizable = was;
    }
    if (rc != AS_OK)
        return rc;
    for (i = 0; i < resp->n_events; i++) {
        as_change_t *ch;

        if (resp->events[i]->seq <= w->pos)
            continue;   /* never deliver twice */
        ch = change_from_pb(resp->events[i]);
        if (ch == NULL || queue_push(w, ch) != 0) {
            as_change_free(ch);
            artstore__v1__changes_response__free_unpacked(resp, NULL);
            return as__fail(w->c, AS_ERESOURCE_EXHAUSTED, "out of memory");
        }
        w->pos = ch->seq;
    }
    if (resp->next_since > w->pos)
        w->pos = resp->next_since;
    w->need_catchup = w->pos < resp->last_seq;
    artstore__v1__changes_response__free_unpacked(resp, NULL);
    return AS_OK;
}

/* Returns nonzero if source (as an event carries it) passes the watch's
 * source filter; both sides are compared in their normalized form. */
static int source_match(const as_watch_t *w, const char *source)
{
    char *folded = NULL;
    size_t len;
    unsigned char bad;
    int match;

    if (w->filter.source == NULL)
        return 1;
    if (source == NULL)
        return 0;
    if (strcmp(source, w->filter.source) == 0)
        return 1;
    if (as_tag_fold(source, strlen(source), &folded, &len, &bad) !=
        AS_TAGFOLD_OK) {
        free(folded);
        return 0;
    }
    match = strcmp(folded, w->filter.source) == 0;
    free(folded);
    return match;
}

/* ------------------------------------------------------------ snapshot */

/* The newest filtered change per article id (open addressing). */
typedef struct fold {
    uint64_t *ids;
    as_change_t **ch;
    size_t cap, n;
} fold_t;

static size_t fold_slot(const fold_t *f, uint64_t id)
{
    size_t i = (size_t)(id * 0x9E3779B97F4A7C15ull) & (f->cap - 1);

    while (f->ch[i] != NULL && f->ids[i] != id)
        i = (i + 1) & (f->cap - 1);
    return i;
}

/* Records ch as id's newest change (freeing an older one). 0 or -1. */
static int fold_put(fold_t *f, as_change_t *ch)
{
    size_t i;

    if ((f->n + 1) * 2 > f->cap) {
        fold_t g = { NULL, NULL, f->cap ? f->cap * 2 : 1024, 0 };

        g.ids = calloc(g.cap, sizeof(*g.ids));
        g.ch = calloc(g.cap, sizeof(*g.ch));
        if (g.ids == NULL || g.ch == NULL) {
            free(g.ids);
            free(g.ch);
            return -1;
        }
        for (i = 0; i < f->cap; i++)
            if (f->ch[i] != NULL) {
                size_t j = fold_slot(&g, f->ids[i]);

                g.ids[j] = f->ids[i];
                g.ch[j] = f->ch[i];
                g.n++;
            }
        free(f->ids);
        free(f->ch);
        *f = g;
    }
    i = fold_slot(f, ch->id);
    if (f->ch[i] != NULL)
        as_change_free(f->ch[i]);
    else
        f->n++;
    f->ids[i] = ch->id;
    f->ch[i] = ch;
    return 0;
}

static int cmp_seq(const void *a, const void *b)
{
    const as_change_t *x = *(as_change_t *const *)a;
    const as_change_t *y = *(as_change_t *const *)b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Queues the snapshot: reads the filtered changelog from seq 0 up to last,
 * keeps each article's newest change, and queues those that still match
 * (not deleted, current tags match) in seq order. Sound because an
 * article whose true last change is missing from the filtered stream has
 * current tags that do not match (see docs/PROTOCOL.md). Returns AS_OK,
 * AS_EFAILED_PRECONDITION when the log is not complete, or a call's code.
 */
static int build_snapshot(as_watch_t *w, uint64_t last)
{
    fold_t f = { NULL, NULL, 0, 0 };
    as_change_t **kept = NULL;
    uint64_t since = 0;
    size_t i, n = 0;
    int rc = AS_OK;

    while (since < last) {
        Artstore__V1__ChangesResponse *resp;

        if ((rc = changes_call(w, since, &resp)) == AS_EOUT_OF_RANGE &&
            since == 0) {
            char why[512];

            snprintf(why, sizeof(why), "%s", as_client_errmsg(w->c));
            rc = as__fail(w->c, AS_EFAILED_PRECONDITION,
                          "a snapshot needs the whole changelog: %s", why);
            goto out_free;
        }
        if (rc != AS_OK)
            goto out_free;
        if (since == 0 && resp->oldest_seq > 1) {
            rc = as__fail(w->c, AS_EFAILED_PRECONDITION,
                          "a snapshot needs the whole changelog, but the "
                          "server retains only seq >= %llu",
                          (unsigned long long)resp->oldest_seq);
            artstore__v1__changes_response__free_unpacked(resp, NULL);
            goto out_free;
        }
        for (i = 0; i < resp->n_events; i++) {
            as_change_t *ch;

            if (resp->events[i]->seq > last)
                break;
            ch = change_from_pb(resp->events[i]);
            /* Matched now, on the keys (ch shows the written forms);
             * `initial` holds the verdict until the snapshot is kept. */
            if (ch != NULL)
                ch->initial =
                    as_filter_match_strv(&w->filter, resp->events[i]->tags,
                                         resp->events[i]->n_tags) &&
                    source_match(w, resp->events[i]->source);
            if (ch == NULL || fold_put(&f, ch) != 0) {
                as_change_free(ch);
                artstore__v1__changes_response__free_unpacked(resp, NULL);
                rc = as__fail(w->c, AS_ERESOURCE_EXHAUSTED, "out of memory");
                goto out_free;
            }
        }
        if (resp->next_since <= since) {
            artstore__v1__changes_response__free_unpacked(resp, NULL);
            break;  /* no progress: the server has nothing more */
        }
        since = resp->next_since;
        artstore__v1__changes_response__free_unpacked(resp, NULL);
    }
    if (f.n > 0 && (kept = malloc(f.n * sizeof(*kept))) == NULL) {
        rc = as__fail(w->c, AS_ERESOURCE_EXHAUSTED, "out of memory");
        goto out_free;
    }
    for (i = 0; i < f.cap; i++) {
        as_change_t *ch = f.ch[i];

        if (ch == NULL)
            continue;
        f.ch[i] = NULL;
        if (ch->seq <= last && ch->type != AS_CHANGE_DELETE &&
            ch->initial) {
            ch->initial = 1;
            kept[n++] = ch;
        } else {
            as_change_free(ch);
        }
    }
    qsort(kept, n, sizeof(*kept), cmp_seq);
    for (i = 0; i < n; i++)
        if (queue_push(w, kept[i]) != 0) {
            while (i < n)
                as_change_free(kept[i++]);
            rc = as__fail(w->c, AS_ERESOURCE_EXHAUSTED, "out of memory");
            goto out_free;
        }
    w->pos = last;

out_free:
    for (i = 0; i < f.cap; i++)
        as_change_free(f.ch[i]);
    free(f.ids);
    free(f.ch);
    free(kept);
    return rc;
}

/* ------------------------------------------------------------ frames */

/*
 * Handles one feed frame. Returns 1 with *out set when it delivers a
 * matching event, 0 otherwise (skipped, or a gap noted in need_catchup),
 * or a negative code.
 */
static int handle_frame(as_watch_t *w, const unsigned char *b, size_t len,
                        as_change_t **out)
{
    as_span_t tags[FRAME_TAGS], prev[FRAME_TAGS];
    as_frame_t f;
    Artstore__V1__ChangeEvent *ev;
    int rc;

    f.tags = tags;
    f.prev = prev;
    if ((rc = as_frame_decode(b, len, &f, FRAME_TAGS)) == AS_FRAME_BAD)
        return 0;
    if (f.kind == AS_FRAME_HEARTBEAT || f.kind == AS_FRAME_POSITION) {
        if (f.seq > w->pos)
            w->need_catchup = 1;
        return 0;
    }
    if (f.seq <= w->pos)
        return 0;
    if (f.seq > w->pos + 1 || rc == AS_FRAME_BAD_TAGS) {
        /* A gap, or a header it cannot read: Changes delivers it. */
        w->need_catchup = 1;
        return 0;
    }
    if (!as_filter_match_spans(&w->filter, f.tags, f.n_tags) &&
        !(f.n_prev > 0 && as_filter_match_spans(&w->filter, f.prev, f.n_prev))) {
        w->pos = f.seq;
        return 0;
    }
    ev = artstore__v1__change_event__unpack(NULL, f.payload_len, f.payload);
    if (ev == NULL) {
        w->need_catchup = 1;
        return 0;
    }
    if (!source_match(w, ev->source) ||
        (w->filter.new_stories && !(ev->has_new_story && ev->new_story))) {
        artstore__v1__change_event__free_unpacked(ev, NULL);
        w->pos = f.seq;
        return 0;
    }
    *out = change_from_pb(ev);
    artstore__v1__change_event__free_unpacked(ev, NULL);
    if (*out == NULL)
        return as__fail(w->c, AS_ERESOURCE_EXHAUSTED, "out of memory");
    w->pos = f.seq;
    return 1;
}

/* ------------------------------------------------------------ API */

/* Normalizes the watch's tag lists into w->filter exactly as the server
 * normalizes a Changes filter (proto/filter.c), so that they compare
 * equal to the tags it publishes. Returns AS_OK, or an error set on the
 * client naming the tag. */
static int set_filter(as_watch_t *w, const as_watch_opts_t *opts)
{
    Artstore__V1__Filter f;
    as_filter_limits_t lim = { SIZE_MAX, SIZE_MAX, SIZE_MAX };
    char err[256];
    int rc;

    if ((rc = as__filter_to_pb(w->c, &(as__filter_spec_t)
                               AS__FILTER_SPEC_TAGS(opts), &f)) != AS_OK)
        return rc;
    /* An empty source is no source filter. */
    if (f.source != NULL && f.source[0] == '\0')
        f.source = NULL;
    f.has_new_stories = f.new_stories = opts->new_stories != 0;
    rc = as_filter_from_pb(&f, &lim, &w->filter, err, sizeof(err));
    if (rc == AS_FILTER_OK)
        return AS_OK;
    return as__fail(w->c, rc == AS_FILTER_NOMEM ? AS_ERESOURCE_EXHAUSTED
                                                : AS_EINVALID_ARGUMENT,
                    "watch %s", err);
}

/* Adds every member a cluster member knows to the client's servers, so
 * that the watch can move when its member goes away. Nothing happens on a
 * server outside a cluster. */
static void learn_members(as_watch_t *w)
{
    as_cluster_info_t *info = malloc(sizeof(*info));
    char keep[sizeof(w->c->errmsg)];
    size_t i;

    if (info == NULL)
        return;
    memcpy(keep, w->c->errmsg, sizeof(keep));
    if (as_cluster_status(w->c, info) == AS_OK)
        for (i = 0; i < info->n_members; i++)
            if (info->members[i].listen[0] != '\0')
                as__client_add_endpoint(w->c, info->members[i].listen);
    memcpy(w->c->errmsg, keep, sizeof(keep));
    free(info);
}

/* Adds descriptor fd to the watch's epoll set (as_watch_fd). */
static void watch_fd_add(as_watch_t *w, int fd)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Connects fc to feed_ep. A failure is not fatal: until a later attempt
 * succeeds, catch-up over Changes carries the watch. Anything committed
 * before the connection is found by catch-up. */
static void feed_connect(as_watch_t *w)
{
    int rc = as__feedconn_connect(&w->fc, w->feed_ep, CONNECT_TIMEOUT_MS);

    w->refused = rc < 0;
    w->retry_ms = now_ms() + UNREACHABLE_RETRY_MS;
    if (rc == 0) {
        watch_fd_add(w, w->fc.fd);
        w->need_catchup = 1;
    }
}

/* Opens the NN_SUB socket on first use. Returns AS_OK or a failure set on
 * the client. */
static int nn_sub_open(as_watch_t *w)
{
    int fd, max = AS_MAX_MESSAGE;
    size_t len = sizeof(fd);

    if (w->sock >= 0)
        return AS_OK;
    if ((w->sock = nn_socket(AF_SP, NN_SUB)) < 0)
        return as__fail(w->c, AS_EUNAVAILABLE, "feed socket: %s",
                        nn_strerror(errno));
    /* Every frame is needed (seq continuity): subscribe to everything. */
    nn_setsockopt(w->sock, NN_SUB, NN_SUB_SUBSCRIBE, "", 0);
    nn_setsockopt(w->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    /* nanomsg's receive descriptor: readable while a frame waits. */
    if (nn_getsockopt(w->sock, NN_SOL_SOCKET, NN_RCVFD, &fd, &len) == 0)
        watch_fd_add(w, fd);
    return AS_OK;
}

/* Connects the watch to the feed of the client's current server (asked by
 * Ping, which may itself move to another member), replacing the previous
 * connection; as_watch_fd stays the same. A tcp:// or ipc:// feed is read
 * directly (feedconn.h says why), others through nanomsg. *info gets the
 * Ping. Returns AS_OK or a failure set on the client. */
static int subscribe(as_watch_t *w, as_ping_info_t *info)
{
    int rc, eid;

    if ((rc = as_ping(w->c, info)) != AS_OK)
        return rc;
    if (info->feed_endpoint[0] == '\0')
        return as__fail(w->c, AS_EUNIMPLEMENTED,
                        "the server has no change feed");
    if (as__feedconn_supports(info->feed_endpoint)) {
        if (strlen(info->feed_endpoint) >= sizeof(w->feed_ep))
            return as__fail(w->c, AS_EINVALID_ARGUMENT,
                            "feed endpoint %s: too long",
                            info->feed_endpoint);
        if (w->feed_eid >= 0)
            nn_shutdown(w->sock, w->feed_eid);
        w->feed_eid = -1;
        w->direct = 1;
        snprintf(w->feed_ep, sizeof(w->feed_ep), "%s", info->feed_endpoint);
        feed_connect(w);
    } else {
        if ((rc = nn_sub_open(w)) != AS_OK)
            return rc;
        if ((eid = nn_connect(w->sock, info->feed_endpoint)) < 0)
            return as__fail(w->c, AS_EINVALID_ARGUMENT,
                            "feed endpoint %s: %s", info->feed_endpoint,
                            nn_strerror(errno));
        if (w->feed_eid >= 0)
            nn_shutdown(w->sock, w->feed_eid);
        w->feed_eid = eid;
        w->direct = 0;
        as__feedconn_close(&w->fc);
    }
    snprintf(w->feed_of, sizeof(w->feed_of), "%s", as_client_endpoint(w->c));
    /* Anything committed before this connection is found by catch-up. */
    w->need_catchup = 1;
    return AS_OK;
}

int as_watch_open(as_client_t *c, const as_watch_opts_t *opts,
                  as_watch_t **out)
{
    as_watch_opts_t none;
    as_ping_info_t info;
    as_watch_t *w;
    int rc;

    if (c == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    if (opts == NULL) {
        memset(&none, 0, sizeof(none));
        opts = &none;
    }
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory");
    w->c = c;
    w->sock = -1;
    w->feed_eid = -1;
    as__feedconn_init(&w->fc, AS_SP_PROTO_SUB, AS_SP_PROTO_PUB,
                      AS_MAX_MESSAGE);
    if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        rc = as__fail(c, AS_EUNAVAILABLE, "feed: epoll: %s",
                      strerror(errno));
        goto out_free;
    }
    if ((rc = set_filter(w, opts)) != AS_OK)
        goto out_free;
    if ((rc = subscribe(w, &info)) != AS_OK)
        goto out_free;
    learn_members(w);
    /* Subscribed before the position is fixed: anything committed from
     * now on is either on the socket or found by catch-up. */
    w->pos = opts->has_since ? opts->since : info.last_seq;
    w->need_catchup = 1;
    w->last_frame_ms = now_ms();
    if (opts->initial && (rc = build_snapshot(w, info.last_seq)) != AS_OK)
        goto out_free;
    *out = w;
    return AS_OK;

out_free:
    as_watch_close(w);
    return rc;
}

/* What as_watch_next returns when its time is up without a change: the
 * server was unreachable at the last attempt, or merely quiet. */
static int deadline_code(const as_watch_t *w)
{
    return w->unreachable ? AS_EUNAVAILABLE : AS_EDEADLINE_EXCEEDED;
}

/* Nonzero when the feed connection is down and its last attempt failed
 * (refused, no such ipc path): nobody to hear from until one succeeds. */
static int feed_refused(const as_watch_t *w)
{
    if (w->direct)
        return w->fc.fd < 0 && w->refused;
    return as__refused(w->sock);
}

/* Waits at most wait ms (0: only what is there) for a feed frame. Returns
 * its length with *frame set (and *msg, to free with nn_freemsg, when it
 * came through nanomsg), -EAGAIN when none came (time up; a direct
 * connection lost, which sets need_catchup, or not connected yet), or
 * another negated errno when the nanomsg socket failed. */
static int feed_recv(as_watch_t *w, int wait, const unsigned char **frame,
                     void **msg)
{
    ssize_t n;

    *msg = NULL;
    if (!w->direct) {
        if (wait > 0)
            nn_setsockopt(w->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &wait,
                          sizeof(wait));
        n = nn_recv(w->sock, msg, NN_MSG, wait > 0 ? 0 : NN_DONTWAIT);
        if (n < 0)
            return errno == ETIMEDOUT || errno == EAGAIN || errno == EINTR
                       ? -EAGAIN : -errno;
        *frame = *msg;
        return (int)n;
    }
    if (w->fc.fd < 0 && now_ms() >= w->retry_ms)
        feed_connect(w);
    if (w->fc.fd < 0) {
        /* Not connected: wait for the next attempt (or the time). */
        int64_t left = w->retry_ms - now_ms();

        if (left > wait)
            left = wait;
        if (left > 0)
            poll(NULL, 0, (int)left);
        return -EAGAIN;
    }
    n = as__feedconn_recv(&w->fc, wait, frame);
    if (n == -EAGAIN)
        return -EAGAIN;
    if (n < 0) {
        /* Lost (the server went away, or broke the framing): frames may
         * be missing. Connect again at once; catch-up fills the gap. */
        w->retry_ms = now_ms();
        w->need_catchup = 1;
        return -EAGAIN;
    }
    return (int)n;
}

int as_watch_next(as_watch_t *w, int timeout_ms, as_change_t **out)
{
    int64_t deadline, now;
    int rc;

    if (w == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    *out = NULL;
    deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
    for (;;) {
        const unsigned char *frame = NULL;
        void *msg = NULL;
        int n, wait;

        if (w->q_head < w->q_len) {
            *out = w->queue[w->q_head++];
            return AS_OK;
        }
        if (w->need_catchup) {
            rc = catch_up(w);
            if (rc == AS_OK) {
                w->unreachable = 0;
                /* The call moved to another member: follow with the feed
                 * (if that fails, catch-up keeps the watch going). */
                if (strcmp(as_client_endpoint(w->c), w->feed_of) != 0) {
                    as_ping_info_t info;

                    if (subscribe(w, &info) == AS_OK)
                        w->last_frame_ms = now_ms();
                } else if (w->direct && w->fc.fd < 0) {
                    /* The server answers again (it binds its feed before
                     * it takes calls): connect now, not at the next
                     * retry, so that the descriptor wakes the caller. */
                    feed_connect(w);
                }
                continue;
            }
            if (rc != AS_EUNAVAILABLE && rc != AS_EDEADLINE_EXCEEDED)
                return rc;
            /* Server away: keep trying until our own deadline, then say
             * so (the message of the failed call stays on the client). */
            w->unreachable = 1;
        }
        now = now_ms();
        wait = deadline - now > SILENCE_MS ? SILENCE_MS
               : deadline > now ? (int)(deadline - now) : 0;
        /* While the server is away, the catch-up call is retried often
         * enough to notice its return soon. */
        if (w->unreachable && wait > UNREACHABLE_RETRY_MS)
            wait = UNREACHABLE_RETRY_MS;
        /* Time is up: still take a frame that is already there (an event
         * loop calls with 0 when the descriptor is readable). */
        n = feed_recv(w, wait, &frame, &msg);
        if (n < 0) {
            if (n != -EAGAIN)
                return as__fail(w->c, AS_EUNAVAILABLE, "feed: %s",
                                nn_strerror(-n));
            if (feed_refused(w) && !w->unreachable) {
                w->unreachable = 1;
                as__fail(w->c, AS_EUNAVAILABLE, "lost the change feed of %s: "
                         "connection refused (server down?)",
                         as_client_endpoint(w->c));
            }
            if (now_ms() - w->last_frame_ms >= SILENCE_MS || w->unreachable)
                w->need_catchup = 1;
            if (now_ms() >= deadline)
                return deadline_code(w);
            continue;
        }
        w->last_frame_ms = now_ms();
        w->unreachable = 0;
        rc = handle_frame(w, frame, (size_t)n, out);
        if (msg != NULL)
            nn_freemsg(msg);
        if (rc != 0)
            return rc > 0 ? AS_OK : rc;
    }
}

int as_watch_fd(const as_watch_t *w, int *fd)
{
    if (w == NULL || fd == NULL)
        return AS_EINVALID_ARGUMENT;
    /* Readable while the feed connection has bytes (or nanomsg's receive
     * descriptor, a frame); frames already read are announced by
     * as_watch_timeout_ms returning 0. */
    *fd = w->ep;
    return AS_OK;
}

int as_watch_timeout_ms(const as_watch_t *w)
{
    int64_t left;

    if (w == NULL)
        return -1;
    if (w->q_head < w->q_len || w->need_catchup ||
        (w->direct && as__feedconn_pending(&w->fc)))
        return 0;
    if (w->unreachable)
        return UNREACHABLE_RETRY_MS;
    left = SILENCE_MS - (now_ms() - w->last_frame_ms);
    /* Not connected: the next attempt is due then. */
    if (w->direct && w->fc.fd < 0 && w->retry_ms - now_ms() < left)
        left = w->retry_ms - now_ms();
    return left > 0 ? (int)left : 0;
}

uint64_t as_watch_position(const as_watch_t *w)
{
    if (w == NULL)
        return 0;
    /* Queued changes are not delivered yet: the position stops short of
     * the first of them. */
    if (w->q_head < w->q_len)
        return w->queue[w->q_head]->seq - 1;
    return w->pos;
}

void as_watch_close(as_watch_t *w)
{
    if (w == NULL)
        return;
    if (w->sock >= 0)
        nn_close(w->sock);
    as__feedconn_free(&w->fc);
    if (w->ep >= 0)
        close(w->ep);
    as_filter_free(&w->filter);
    while (w->q_head < w->q_len)
        as_change_free(w->queue[w->q_head++]);
    free(w->queue);
    free(w);
}
