/*
 * service_changes.c - Changes: a page of the changelog after `since`,
 * filtered, answered at once or, with wait_ms, parked on the feed engine
 * (feed.h) until something matches or the wait ends, without holding a
 * worker.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "feed.h"
#include "service.h"

/* A Changes call in progress; lives in the call's arena. */
typedef struct changes_call {
    as_call_t *call;
    as_filter_t filter;
} changes_call_t;

/* Replies with a page of events. */
static void reply_changes(as_call_t *call, const as_changes_t *ch)
{
    Artstore__V1__ChangesResponse resp = ARTSTORE__V1__CHANGES_RESPONSE__INIT;

    resp.events = ch->ev;
    resp.n_events = ch->n;
    resp.has_last_seq = resp.has_oldest_seq = resp.has_next_since = 1;
    resp.last_seq = ch->last_seq;
    resp.oldest_seq = ch->oldest_seq;
    resp.next_since = ch->next_since;
    as_call_reply(call, &resp.base);
}

/* as_feed_wait_fn: completes a parked call (on the feed thread). */
static void wait_done(void *arg, as_changes_t *ch, const as_status_t *st)
{
    changes_call_t *cc = arg;
    as_filter_t f = cc->filter;   /* cc goes with the call's arena */

    if (ch != NULL)
        reply_changes(cc->call, ch);
    else
        as_call_reply_status(cc->call, st);
    as_filter_free(&f);
}

/* Parks the call on the feed after a read found nothing, handing it the
 * filter f. Returns 0 when parked (the feed answers it and frees the
 * filter); -1 when it was not (the feed is stopping, or no memory): the
 * caller answers with what it read; 1 after replying to another refusal.
 * The caller frees f unless 0 is returned. */
static int park(as_call_t *call, as_filter_t *f,
                const Artstore__V1__ChangesRequest *req,
                const as_changes_t *ch, size_t limit)
{
    as_service_t *svc = as_call_ctx(call);
    int64_t deadline, call_deadline = as_call_deadline_ms(call);
    uint32_t wait = req->wait_ms;
    changes_call_t *cc;
    as_status_t st;

    if ((cc = as_arena_alloc(as_call_arena(call), sizeof(*cc))) == NULL)
        return -1;     /* answered at once, as if the wait had ended */
    cc->call = call;
    cc->filter = *f;   /* the filter goes with the parked call */

    if (wait > AS_FEED_MAX_WAIT_MS)
        wait = AS_FEED_MAX_WAIT_MS;
    deadline = as_clock_wall_ms() + wait;
    if (call_deadline != 0 && call_deadline < deadline)
        deadline = call_deadline;
    if (as_feed_wait(svc->feed, as_call_peer(call), ch->next_since,
                     &cc->filter, limit, deadline, wait_done, cc, &st) == 0)
        return 0;
    if (st.code == AS_CODE_UNAVAILABLE)
        return -1;
    as_call_reply_status(call, &st);
    return 1;
}

void as__svc_changes(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__ChangesRequest *req;
    as_reader_t *rd;
    as_changes_t ch;
    as_filter_t f;
    as_status_t st;
    size_t limit;
    int rc;

    req = (Artstore__V1__ChangesRequest *)as_service_unpack(
        call, &artstore__v1__changes_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (svc->feed == NULL) {
        as_call_reply_error(call, AS_CODE_UNAVAILABLE,
                            "the change feed is not running");
        return;
    }
    if (as_service_page_limit(call, req->has_limit, req->limit, &limit) != 0 ||
        as_service_filter(call, req->filter, &f) != 0)
        return;
    /* No read barrier: as_feed_read sees acknowledged writes (feed.h). */
    if ((rd = as_service_reader_latest(call)) == NULL) {
        as_filter_free(&f);
        return;
    }
    if (as_feed_read(rd, req->since, &f, limit, svc->limits.max_reply_bytes,
                     &ch, &st) != 0) {
        as_filter_free(&f);
        as_call_reply_status(call, &st);
        return;
    }
    /* Nothing yet, and the caller will wait: park the call on the feed. */
    rc = -1;
    if (ch.n == 0 && req->has_wait_ms && req->wait_ms > 0 &&
        ch.next_since >= ch.last_seq)
        rc = park(call, &f, req, &ch, limit);
    if (rc < 0)
        reply_changes(call, &ch);
    if (rc != 0)
        as_filter_free(&f);
    as_changes_free(&ch);
}
