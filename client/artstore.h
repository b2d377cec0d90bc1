/*
 * artstore.h - the artstore client library (libartstore).
 *
 * artstore is a networked store for news articles. A server, artstored,
 * keeps articles in LMDB and answers protobuf requests over nanomsg; this
 * library is the C way to talk to it. It hides the wire protocol: callers
 * deal in plain C structs (as_article_t) and integer return codes.
 *
 * A typical session:
 *
 *     as_client_t *c;
 *     if (as_client_connect("tcp://127.0.0.1:7400", 5000, &c) != AS_OK) ...
 *     static const char *const tags[] = { "news", "eu" };
 *     as_article_t a = { .url = "https://example.com/x", .title = "Hello",
 *                        .body = "...", .tags = tags, .n_tags = 2 };
 *     as_put_result_t r;
 *     int rc = as_put(c, &a, AS_REV_ANY, &r);
 *     if (rc != AS_OK)
 *         fprintf(stderr, "%s: %s\n", as_code_name(rc), as_client_errmsg(c));
 *     as_client_close(c);
 *
 * Caveats
 * -------
 * - Threads: an as_client_t is not thread-safe. It owns one nanomsg REQ
 *   socket, which carries one request at a time; use one client per thread.
 *   Distinct clients may be used from distinct threads freely.
 * - fork(): do not use a client across fork(). Create clients in the
 *   process that uses them.
 * - Retries and compare-and-set: nanomsg resends a request whose
 *   connection dropped. Unconditional puts are idempotent (same URL and
 *   content = no new change, PUT_UNCHANGED). A conditional put
 *   (expected_revision other than AS_REV_ANY) and every delete carry a
 *   random request id made by the library for that one call; the server
 *   records it with the revision the write produced, in the same
 *   transaction (so it survives a restart), and answers a resend of the
 *   call with that first result. The rule, in this order:
 *     1. a request id the server has recorded (kept for an hour) gets the
 *        first result again: OK, same id and revision, nothing written;
 *     2. a condition that does not hold gets AS_EFAILED_PRECONDITION,
 *        also when the content equals what is stored (a stale
 *        read-modify-write must never read as success);
 *     3. content equal to what is stored gets AS_PUT_UNCHANGED;
 *     4. otherwise the write is made.
 *   A new call is a new write, with a new id: if an earlier call may or
 *   may not have been applied (AS_EUNAVAILABLE), a conditional retry can
 *   answer AS_EFAILED_PRECONDITION; read the article to see whether your
 *   content is there.
 * - Read-your-writes: a write is acknowledged once the server has it in
 *   its flushed write-ahead log; LMDB commits it later (every
 *   --commit-interval, default 100 ms). Once a Put or Delete is
 *   acknowledged, as_get and as_get_by_url on that server return it
 *   (NOT_FOUND after a delete) and the same put again is recognised (rules
 *   above); the feed (as_watch_*) and the Changes RPC see it too (the
 *   server publishes a write's change once its log is flushed, and a
 *   watch may deliver it before the writer has its reply), and as_ping's
 *   last_seq counts it. as_query, as_list_tags and the story calls see it
 *   no later than the server's next LMDB commit: a call that reads a
 *   snapshot (those, as_stats, a backup) asks the server for that commit
 *   first and waits for it, so a read that follows an acknowledged write
 *   sees it.
 *   In a cluster the same holds on the member that acknowledged the write
 *   (the leader; the Raft log is its write-ahead log), and on the other
 *   members once they have applied it (as_client_set_linearizable waits
 *   for that).
 * - Lifetimes: every pointer this library returns is owned by the caller
 *   and freed with the matching *_free function, unless its contract says
 *   otherwise. Structs the caller passes in are only read, never kept.
 * - Strings are UTF-8 and NUL-terminated; the server rejects invalid UTF-8.
 * - Never call nn_term() in a process that uses this library.
 */
#ifndef ARTSTORE_H
#define ARTSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define AS_API __attribute__((visibility("default")))
#else
#define AS_API
#endif

/* ------------------------------------------------------------ versions */

#define AS_LIB_VERSION_MAJOR 0
#define AS_LIB_VERSION_MINOR 1
#define AS_LIB_VERSION_PATCH 0

/* Returns the library's version as "MAJOR.MINOR.PATCH" (static storage). */
AS_API const char *as_version(void);

/* ------------------------------------------------------------ return codes */

/*
 * Every function returns AS_OK (0) or a negative code. The codes are the
 * gRPC status numbers, negated: a status the server answered arrives as
 * is, and failures on this side are mapped onto the nearest one:
 *   AS_EUNAVAILABLE        the connection was refused (reported at once,
 *                          the message names the endpoint), no reply
 *                          within the client's timeout, or the socket
 *                          could not be created;
 *   AS_EINVALID_ARGUMENT   a bad argument caught before sending;
 *   AS_ERESOURCE_EXHAUSTED out of memory, or a request over the size limit;
 *   AS_EINTERNAL           a reply that could not be decoded.
 * as_client_errmsg() gives the message that goes with the last error.
 */
#define AS_OK                   0
#define AS_ECANCELLED          (-1)
#define AS_EUNKNOWN            (-2)
#define AS_EINVALID_ARGUMENT   (-3)
#define AS_EDEADLINE_EXCEEDED  (-4)
#define AS_ENOT_FOUND          (-5)
#define AS_EALREADY_EXISTS     (-6)
#define AS_EPERMISSION_DENIED  (-7)
#define AS_ERESOURCE_EXHAUSTED (-8)
#define AS_EFAILED_PRECONDITION (-9)
#define AS_EABORTED            (-10)
#define AS_EOUT_OF_RANGE       (-11)
#define AS_EUNIMPLEMENTED      (-12)
#define AS_EINTERNAL           (-13)
#define AS_EUNAVAILABLE        (-14)
#define AS_EDATA_LOSS          (-15)
#define AS_EUNAUTHENTICATED    (-16)

/* Returns the gRPC name of a code ("NOT_FOUND" for AS_ENOT_FOUND, "OK" for
 * 0, "UNKNOWN" for anything else). Static storage. */
AS_API const char *as_code_name(int rc);

/* Returns a one-line description of a code. Static storage. */
AS_API const char *as_strerror(int rc);

/* ------------------------------------------------------------ articles */

/* Sentinel for "no condition" where an expected revision is asked for. */
#define AS_REV_ANY UINT64_MAX

typedef struct as_meta {
    const char *key;
    const char *value;
} as_meta_t;

/*
 * An article, for input and output alike. Absent strings are NULL. Times
 * are Unix seconds (UTC).
 *
 * Input (as_put, as_put_batch): the fields are const, so an article is
 * filled from string literals or any caller-owned strings without casts,
 * in C and in C++:
 *
 *     static const char *const tags[] = { "weather", "shipping" };
 *     as_article_t a = { 0 };
 *     a.url = "https://example.com/x";
 *     a.title = "Storm closes ports";
 *     a.tags = tags;
 *     a.n_tags = 2;
 *
 * The library only reads them during the call and keeps nothing; id,
 * ingested_at, revision and content_hash are ignored (the server sets
 * them). An array may be NULL only with a count of 0, and no string in
 * it may be NULL: as_put and as_put_batch refuse such an article with
 * AS_EINVALID_ARGUMENT naming the array ("tags is NULL with n_tags=3",
 * "tags[1] is NULL") before sending anything.
 *
 * Output (as_get, as_query, ...): every string and array is a copy the
 * library allocated, owned by the caller through the article and freed
 * with as_article_free() (or as_article_clear() for a struct the caller
 * holds); the const only says that the caller reads them.
 */
typedef struct as_article {
    uint64_t id;
    const char *url;
    const char *title;
    const char *body;
    const char *source;
    const char *const *authors;
    size_t n_authors;
    int has_published_at;
    int64_t published_at;
    int64_t ingested_at;
    const char *const *tags;
    size_t n_tags;
    const as_meta_t *meta;
    size_t n_meta;
    uint64_t revision;
    int has_content_hash;
    uint8_t content_hash[16];
    /* Stories (set by the server, ignored in a put; docs/STORIES.md): the
     * article's story (the id of the article that started it; 0 from a
     * server without stories) and, for a near-duplicate (a syndicated
     * copy), the earliest article it copies (0: not a duplicate). */
    uint64_t story_id;
    uint64_t duplicate_of;
} as_article_t;

/* Frees an article returned by the library and everything it points to.
 * Accepts NULL. */
AS_API void as_article_free(as_article_t *a);

/* Frees everything an article points to (each string and array must come
 * from malloc, as in articles the library returns) and zeroes it, leaving
 * the struct itself to the caller. Accepts NULL. Never call it on an
 * article filled with literals or strings the caller still owns. */
AS_API void as_article_clear(as_article_t *a);

/* Frees an array of n articles (entries may be NULL) and the array. */
AS_API void as_articles_free(as_article_t **v, size_t n);

/* What a put did. */
#define AS_PUT_CREATED   1
#define AS_PUT_UPDATED   2
#define AS_PUT_UNCHANGED 3   /* identical content: no change was written */

typedef struct as_put_result {
    int rc;                  /* AS_OK or this item's error code */
    uint64_t id;
    int outcome;             /* AS_PUT_* when rc == AS_OK */
    uint64_t revision;
    char message[256];       /* the server's message when rc != AS_OK */
} as_put_result_t;

/* ------------------------------------------------------------ client */

typedef struct as_client as_client_t;

/*
 * Creates a client for the server at endpoint ("tcp://host:port" or
 * "ipc:///path"). timeout_ms bounds every call (<= 0: 5000 ms). The
 * connection is made by the first call, so an unreachable server shows up
 * as AS_EUNAVAILABLE on the first call, not here: within a few
 * milliseconds when the connection is refused (nothing listens on the
 * port, no socket at the ipc path), after timeout_ms when the host does
 * not answer at all. A call after the server came back (or restarted
 * between two calls) goes through on the same client: a lost connection
 * is made anew, and a request the old one never answered is sent once
 * more. The library speaks nanomsg's REQ protocol itself on tcp:// and
 * ipc:// (one thread, no hand-off to nanomsg's worker thread); other
 * nanomsg addresses go through a nanomsg REQ socket.
 *
 * endpoint may list the members of a cluster, comma-separated
 * ("tcp://a:7400,tcp://b:7400,tcp://c:7400"), at most AS_CLUSTER_MAX
 * (16). The client uses one at a time and fails over within each call's
 * timeout: to the next server when one does not take the request, loses
 * its connection or answers UNAVAILABLE, and to the leader a follower
 * names in its UNAVAILABLE answer ("...; leader: ENDPOINT"), which it
 * adds to its list (a one-address client follows the leader too). A call
 * may thus run on more than one server; puts are idempotent, a retried
 * delete may answer NOT_FOUND.
 * On success *out owns a client to be released with as_client_close().
 * Returns AS_OK, AS_EINVALID_ARGUMENT (bad endpoint), AS_EUNAVAILABLE
 * (socket could not be created) or AS_ERESOURCE_EXHAUSTED.
 */
AS_API int as_client_connect(const char *endpoint, int timeout_ms,
                             as_client_t **out);

/* Closes the client's socket and frees it. Accepts NULL. */
AS_API void as_client_close(as_client_t *c);

/* Returns the message of the last failed call on c: the server's status
 * message, or a description of the local failure. Valid until the next
 * call on c; "" when the last call succeeded. */
AS_API const char *as_client_errmsg(const as_client_t *c);

/* Sets the auth token sent with every request (NULL: none). The string is
 * copied. Returns AS_OK or AS_ERESOURCE_EXHAUSTED. */
AS_API int as_client_set_token(as_client_t *c, const char *token);

/* Sets the time every later call on c waits for its reply (<= 0: 5000
 * ms), e.g. what is left of a caller's overall budget before a retry.
 * Returns AS_OK or AS_EINVALID_ARGUMENT (c is NULL). */
AS_API int as_client_set_timeout(as_client_t *c, int timeout_ms);

/* Returns the reply timeout of c in milliseconds. */
AS_API int as_client_timeout(const as_client_t *c);

/*
 * Makes every later read on c (Get, Query, ListTags, Changes, Stats,
 * ListStories, GetStory) linearizable when on is nonzero: a cluster member
 * answers only after it has confirmed that it holds every write committed
 * before the request arrived (the leader commits a Raft barrier; a
 * follower asks the leader for its read index and waits until it has
 * applied that far). A read on a follower then sees a write acknowledged
 * by any member before the read was sent. It costs a round trip to the
 * leader and a log write there per read; without it a member answers from
 * what it has applied (at most its apply lag behind, see Stats). While no
 * leader is reachable a linearizable read fails AS_EUNAVAILABLE at its
 * deadline. A single server ignores it (its reads are linearizable
 * anyway). Writes are always linearizable. Returns AS_OK or
 * AS_EINVALID_ARGUMENT (c is NULL).
 */
AS_API int as_client_set_linearizable(as_client_t *c, int on);

/* Returns the endpoint the client uses now: the one it was created with,
 * or with a list the member it last moved to (owned by c). */
AS_API const char *as_client_endpoint(const as_client_t *c);

/* ------------------------------------------------------------ calls */

/*
 * Stores an article: created if its natural key (URL, or without one a
 * hash of title and body) is new, updated if known with other content,
 * unchanged if known with the same content. expected_revision is
 * AS_REV_ANY, 0 ("must not exist") or the revision the article must have.
 * res receives the outcome. Returns AS_OK, AS_EINVALID_ARGUMENT (the
 * message names the field and limit, or the NULL array or pointer inside
 * the article), AS_EFAILED_PRECONDITION (revision
 * mismatch), AS_ERESOURCE_EXHAUSTED, AS_EUNAVAILABLE, ...
 */
AS_API int as_put(as_client_t *c, const as_article_t *a,
                  uint64_t expected_revision, as_put_result_t *res);

/*
 * Fetches an article by id or by URL. On AS_OK *out is a new article
 * (as_article_free). omit_body leaves body NULL. Returns AS_OK,
 * AS_ENOT_FOUND, AS_EUNAVAILABLE, ...
 */
AS_API int as_get(as_client_t *c, uint64_t id, int omit_body,
                  as_article_t **out);
AS_API int as_get_by_url(as_client_t *c, const char *url, int omit_body,
                         as_article_t **out);

/*
 * Deletes an article by id. expected_revision as in as_put (AS_REV_ANY:
 * unconditional). *revision_out (may be NULL) receives the seq of the
 * delete. Returns AS_OK, AS_ENOT_FOUND, AS_EFAILED_PRECONDITION, ...
 */
AS_API int as_delete(as_client_t *c, uint64_t id, uint64_t expected_revision,
                     uint64_t *revision_out);

typedef struct as_ping_info {
    char version[32];
    char feed_endpoint[256];
    uint64_t last_seq;
    int64_t time_ms;
    uint64_t max_message_bytes;  /* largest request the server reads */
} as_ping_info_t;

/* Checks that the server answers. info (may be NULL) receives what it
 * said. The client also learns the server's max_message_bytes: until a
 * Ping, it assumes the default (16 MiB) and refuses larger requests with
 * AS_ERESOURCE_EXHAUSTED. Returns AS_OK or AS_EUNAVAILABLE. */
AS_API int as_ping(as_client_t *c, as_ping_info_t *info);

/* One extra statistics series, in Prometheus terms: a metric name, its
 * labels as `k="v",...` (may be ""), and a value. The series are:
 *   artstore_requests_total{method,code}          counter
 *   artstore_request_latency_us_bucket{method,le}  histogram, cumulative
 *   artstore_request_latency_us_sum/_count{method}  buckets, le in us
 *   artstore_writer_batch_bucket{le}, _sum, _count  articles per group of
 *     writes (one log flush; without the log, one commit)
 * (methods never called are left out), in that order per method; later
 * servers may add more. */
typedef struct as_stat {
    char *name;
    char *labels;
    double value;
} as_stat_t;

/* (The struct tag differs from the function's name, as_stats: in C++ a
 * function named like a struct hides it.) */
typedef struct as_stats_s {
    char *version;
    uint64_t articles;
    uint64_t tags;
    uint64_t last_seq;
    uint64_t oldest_seq;
    uint64_t next_id;
    uint64_t map_size;
    uint64_t map_used;
    uint64_t uptime_ms;
    uint32_t subscribers;
    uint32_t workers;
    as_stat_t *series;
    size_t n_series;
    /* All of the above in the Prometheus text exposition format (0.0.4),
     * exactly as artstored serves it at /metrics: latency histograms in
     * seconds (artstore_request_duration_seconds). */
    char *prometheus;
} as_stats_t;

/* Fetches server statistics. On AS_OK *out is new (as_stats_free). */
AS_API int as_stats(as_client_t *c, as_stats_t **out);

/* Frees statistics from as_stats(). Accepts NULL. */
AS_API void as_stats_free(as_stats_t *s);

/* ------------------------------------------------------------ batches */

/*
 * Stores n articles in one PutBatch call: one round trip, and on the
 * server one place in a group commit, acknowledged once durable. Each
 * article is handled as by as_put, with its own outcome: results[i]
 * (n entries, filled in every case) has rc AS_OK with id/outcome/revision,
 * or the item's own error code and message; one invalid or conflicting
 * article never fails the others. expected (may be NULL: no conditions)
 * gives n expected revisions as in as_put (AS_REV_ANY: none).
 * Without conditions a batch is idempotent like a put: sending it again
 * (a retry after a timeout) writes nothing new and returns the same ids,
 * as AS_PUT_UNCHANGED. Items with a condition follow the compare-and-set
 * rule under Caveats (each gets its own request id). n is bounded by the server's max_batch (1000 by
 * default) and the request by its max_message_bytes (16 MiB by default).
 * Returns AS_OK when the call went through (look at each results[i].rc),
 * or the call's error, also copied into every results[i]:
 * AS_EINVALID_ARGUMENT (NULL arrays or pointers inside an article, or
 * over max_batch), AS_ERESOURCE_EXHAUSTED, AS_EUNAVAILABLE (no reply: the
 * batch may or may not have been stored; resend it), ...
 */
AS_API int as_put_batch(as_client_t *c, const as_article_t *arts, size_t n,
                        const uint64_t *expected, as_put_result_t *results);

/*
 * Writes n exported articles as they were, for a migration into an empty
 * store (`artstore import --exact`): each keeps the id, revision and
 * ingested_at it carries (all three are required), and its story_id and
 * duplicate_of when the server has stories on; the other fields are
 * validated and normalized as by as_put. Each article's change is logged
 * at seq = its revision, so the changelog has gaps where the old store had
 * changes no article shows any more. The server's rules: the store must
 * be empty or hold only what exact puts wrote (else the item gets
 * AS_EFAILED_PRECONDITION), ids must ascend within the call and be above
 * every id stored (AS_EFAILED_PRECONDITION), a URL or a revision already
 * used is AS_EALREADY_EXISTS, and an article stored already with the same
 * id, revision, ingested_at and content is AS_PUT_UNCHANGED, so a resent
 * call changes nothing. A call with an invalid article (a missing field,
 * ids out of order, a revision twice, anything as_put refuses) is refused
 * whole: AS_EINVALID_ARGUMENT naming the article (articles[i]) and field,
 * nothing written. With a token file the server wants an admin token
 * (AS_EPERMISSION_DENIED otherwise). In a cluster the writes go through
 * the replicated log like every other. results as in as_put_batch.
 */
AS_API int as_put_exact(as_client_t *c, const as_article_t *arts, size_t n,
                        as_put_result_t *results);

/*
 * Fetches up to the server's max_batch articles by id in one call. On
 * AS_OK *out is a new array of n entries (as_articles_free(*out, n)),
 * (*out)[i] the article with ids[i] or NULL where there is none; all
 * from one consistent snapshot. omit_body leaves the bodies NULL.
 * Returns AS_OK, AS_EINVALID_ARGUMENT (over max_batch), AS_EUNAVAILABLE,
 * AS_ERESOURCE_EXHAUSTED, ...
 */
AS_API int as_get_many(as_client_t *c, const uint64_t *ids, size_t n,
                       int omit_body, as_article_t ***out);

/* ------------------------------------------------------------ queries */

/*
 * The filter fields the specs below share, written once here so that
 * as_query_spec_t, as_stories_spec_t and as_watch_opts_t cannot drift
 * apart (the macros are only for this header's structs; use the field
 * names). The tag lists: every tag of all_of, at least one of any_of
 * (when any is given), none of none_of; each array holds n_... strings
 * (NULL only when its n_... is 0).
 */
#define AS__TAG_FIELDS                                                    \
    const char *const *all_of;                                            \
    size_t n_all_of;                                                      \
    const char *const *any_of;                                            \
    size_t n_any_of;                                                      \
    const char *const *none_of;                                           \
    size_t n_none_of;

/*
 * The tag lists, then source (NULL: any source) and the time range
 * since (inclusive) to until (exclusive) in Unix seconds, each bound used
 * only when its has_... is set.
 */
#define AS__FILTER_FIELDS                                                 \
    AS__TAG_FIELDS                                                        \
    const char *source;                                                   \
    int has_since;                                                        \
    int64_t since;                                                        \
    int has_until;                                                        \
    int64_t until;

/*
 * What to look for. Every condition given must hold: all of all_of, at
 * least one of any_of (when any is given), none of none_of, the source,
 * and since <= time < until, where an article's time is its published_at
 * (its ingested_at when it has none). Tags and the source are normalized
 * by the server as in a put. All pointers are only read during the call.
 */
typedef struct as_query_spec {
    AS__FILTER_FIELDS
    int oldest_first;            /* 0: newest first (the default) */
    uint32_t limit;              /* page size; 0: the server's default (50) */
    const uint8_t *cursor;       /* next_cursor of the previous page, or NULL */
    size_t cursor_len;
    int omit_body;
    int count_total;             /* also count every match (costs a walk) */
    uint64_t story_id;           /* 0: any story; else that story's articles */
} as_query_spec_t;

/* One page of results, owned by the caller (as_query_result_free). */
typedef struct as_query_result {
    as_article_t **articles;     /* in the order asked for; ties by id */
    size_t n_articles;
    uint8_t *next_cursor;        /* NULL on the last page */
    size_t next_cursor_len;
    int has_total;
    uint64_t total;              /* every match, when count_total was set */
    uint64_t seq;                /* last seq of the snapshot that answered */
} as_query_result_t;

/*
 * Runs one page of a query. Pass the page's next_cursor in the next spec
 * (with the same filter and order) to continue; a walk over every page
 * returns each article that existed when it began and was not changed
 * during the walk exactly once, even while others are written. An
 * article whose own published_at (its place in the order) changes during
 * the walk can be missed, if it moves behind the cursor, or returned
 * twice, if it moves ahead of it: pages are positions in the order, not
 * one snapshot. A page may hold fewer than limit articles (even none) and
 * still have a next_cursor: the server cuts a page at its max_reply_bytes
 * and at its query budget (query_budget_ms of work); go on while there is
 * a cursor. When the server is running its max_long_calls queries
 * already, the library retries (pausing ~100 ms) until the client's
 * timeout. On AS_OK *out is new (as_query_result_free).
 * Returns AS_OK, AS_EINVALID_ARGUMENT (bad tag, too many tags: the limit
 * max_query_tags; limit over max_page; a malformed cursor, or one made
 * for another filter or order), AS_EUNAVAILABLE,
 * AS_ERESOURCE_EXHAUSTED, ...
 */
AS_API int as_query(as_client_t *c, const as_query_spec_t *q,
                    as_query_result_t **out);

/* Frees a result of as_query() and its articles. Accepts NULL. */
AS_API void as_query_result_free(as_query_result_t *r);

#define AS_TAGS_BY_COUNT 0       /* most used first, ties by name */
#define AS_TAGS_BY_NAME  1

typedef struct as_tags_spec {
    const char *prefix;          /* NULL or "": every tag */
    int order;                   /* AS_TAGS_BY_COUNT or AS_TAGS_BY_NAME */
    uint32_t limit;              /* 0: the server's default (50) */
    const uint8_t *cursor;       /* next_cursor of the previous page */
    size_t cursor_len;
} as_tags_spec_t;

typedef struct as_tag_count {
    char *tag;
    uint64_t count;              /* articles with the tag */
} as_tag_count_t;

typedef struct as_tag_list {
    as_tag_count_t *tags;
    size_t n_tags;
    uint8_t *next_cursor;        /* NULL on the last page */
    size_t next_cursor_len;
} as_tag_list_t;

/*
 * Lists tags with their article counts, one page at a time. On AS_OK *out
 * is new (as_tag_list_free). Returns AS_OK, AS_EINVALID_ARGUMENT (bad
 * prefix, limit over max_page, malformed cursor), AS_EUNAVAILABLE, ...
 */
AS_API int as_list_tags(as_client_t *c, const as_tags_spec_t *spec,
                        as_tag_list_t **out);

/* Frees a list from as_list_tags(). Accepts NULL. */
AS_API void as_tag_list_free(as_tag_list_t *l);

/* ------------------------------------------------------------ watch */

/*
 * A reliable change subscription. The server publishes every acknowledged
 * change on a PUB socket that drops frames for slow subscribers; a watch
 * checks seq continuity, fills every gap (and any silence past the
 * heartbeat) from the Changes RPC, and so returns each matching change
 * exactly once, in seq order, even across a stopped subscriber or a
 * restarted server. Tag filtering happens in the library, on the frame
 * header, without unpacking non-matching events.
 *
 * Clusters: every member has the same seqs, so a watch whose member goes
 * away (killed, unreachable) moves to another member and carries on from
 * its position, with no gap and no duplicate. It moves with its client:
 * when a catch-up call fails over to another member, the watch subscribes
 * to that member's feed (the descriptor of as_watch_fd stays the same). A
 * watch opened on a cluster member adds the members' client endpoints it
 * learns (ClusterStatus) to the client's list, so a client given one
 * member is enough. A member that has not applied the watch's position
 * yet is asked again with a linearizable read (as_client_set_linearizable).
 *
 * Threads: a watch uses the client it was opened with (for Ping and
 * Changes) on the caller's thread: do not use that client from another
 * thread meanwhile. Close the watch before the client.
 */

#define AS_CHANGE_CREATE 1
#define AS_CHANGE_UPDATE 2
#define AS_CHANGE_DELETE 3

/* One acknowledged change. Freed with as_change_free(). */
typedef struct as_change {
    uint64_t seq;
    int type;                /* AS_CHANGE_* */
    uint64_t id;
    uint64_t revision;       /* == seq */
    char **tags;             /* after the change (before, for a delete) */
    size_t n_tags;
    char **prev_tags;        /* before an update */
    size_t n_prev_tags;
    char *title;             /* NULL when absent */
    char *source;
    char *url;
    int has_published_at;
    int64_t published_at;
    int64_t commit_time_ms;
    int initial;             /* 1: part of the initial snapshot (the
                                article's last change, which matches now) */
    uint64_t story_id;       /* the article's story (0: none) */
    int new_story;           /* 1: this create started a new story */
} as_change_t;

/* Frees a change and everything it points to. Accepts NULL. */
AS_API void as_change_free(as_change_t *ch);

/*
 * What to watch. Tag lists are compared with the server's normalized tags:
 * they are normalized here exactly as the server normalizes tags (trimmed,
 * inner whitespace collapsed, case-folded, NFC), so "Straße" matches a
 * story tagged "STRASSE".
 * Every condition present must hold (all of all_of, at least one of
 * any_of when given, none of none_of); an update matches when its tags
 * before or after the change do.
 */
typedef struct as_watch_opts {
    AS__TAG_FIELDS
    int has_since;           /* 0: start at the current end */
    uint64_t since;          /* deliver every change with seq > since */
    /* Start with a snapshot: first the last change of every article that
     * matches now (initial = 1, in seq order), then every later change.
     * Built from the changelog, so it needs the whole log retained
     * (AS_EFAILED_PRECONDITION otherwise); ignores has_since. */
    int initial;
    /* NULL or "": any source. Else only changes of articles from this
     * source, compared as the server compares sources (normalized like a
     * tag: "Coastal Times" matches "coastal  times"). */
    const char *source;
    /* Only creates that start a new story: each story once, however many
     * outlets carry it (the tag conditions apply to that first article). */
    int new_stories;
} as_watch_opts_t;

typedef struct as_watch as_watch_t;

/*
 * Opens a watch through client c (which must outlive it): asks the server
 * for its feed endpoint (Ping) and subscribes. Without has_since it starts
 * at the server's last seq. On success *out owns the watch
 * (as_watch_close). Returns AS_OK, AS_EINVALID_ARGUMENT, AS_EUNAVAILABLE,
 * AS_ERESOURCE_EXHAUSTED; the message is in as_client_errmsg(c).
 */
AS_API int as_watch_open(as_client_t *c, const as_watch_opts_t *opts,
                         as_watch_t **out);

/*
 * Waits up to timeout_ms (< 0: forever) for the next matching change.
 * On AS_OK *out is a new change (as_change_free), with a seq greater than
 * every one returned before. Returns AS_OK, AS_EDEADLINE_EXCEEDED (the
 * server is there but nothing matched within timeout_ms: call again),
 * AS_EUNAVAILABLE (nothing within timeout_ms and the server is
 * unreachable: its feed connection is down or refused, or catch-up got no
 * reply; as_client_errmsg says which. The watch stays valid: call again,
 * and it resumes where it was, with nothing lost, once the server is
 * back), AS_EOUT_OF_RANGE (the changes after the watch's position were
 * dropped by the server's retention: resync by query), or another code
 * from the Changes RPC. While the server does not answer at all, a call
 * may overrun timeout_ms by the client's timeout.
 */
AS_API int as_watch_next(as_watch_t *w, int timeout_ms, as_change_t **out);

/*
 * Event loops (poll, epoll, libuv, ...), in the way of libcurl's multi
 * interface: as_watch_fd gives a descriptor that becomes readable when a
 * feed frame arrives (never read or write it, never close it; it lives as
 * long as the watch), and as_watch_timeout_ms the longest the loop may
 * wait before it calls again anyway (to notice silence and fill gaps).
 * When the descriptor is readable or the time is up, call
 * as_watch_next(w, 0, &ch) until it returns something other than AS_OK
 * (AS_EDEADLINE_EXCEEDED: nothing more now; AS_EUNAVAILABLE: the server
 * is away). A call with timeout 0 does not wait for frames, but one that
 * has to fill a gap makes a Changes call, which waits for its reply (the
 * client's timeout at most). client/examples/watch_poll.c shows a loop.
 *
 * as_watch_fd returns AS_OK with *fd set, or AS_EINVALID_ARGUMENT.
 * as_watch_timeout_ms returns milliseconds (0: call now).
 */
AS_API int as_watch_fd(const as_watch_t *w, int *fd);
AS_API int as_watch_timeout_ms(const as_watch_t *w);

/* Returns the seq the watch has caught up to: every change up to it was
 * delivered or did not match (heartbeats advance it too). */
AS_API uint64_t as_watch_position(const as_watch_t *w);

/* Closes the subscription and frees the watch. Accepts NULL. */
AS_API void as_watch_close(as_watch_t *w);

/* ------------------------------------------------------------ stories */

/*
 * A story: the articles about one piece of news, grouped by the server at
 * ingest (near-duplicates join their original's story; other articles
 * join by shared names and key terms published close in time; see
 * docs/STORIES.md). Times are the articles' published_at (ingested_at
 * when absent). Freed with as_story_free().
 */
typedef struct as_story {
    uint64_t id;             /* the id of the article that started it */
    char *title;             /* the lead article's title (NULL: none) */
    uint64_t lead_id;        /* that article (the earliest left once the
                                first is deleted) */
    uint64_t articles;       /* articles in the story */
    uint64_t duplicates;     /* of which near-duplicates of another */
    char **sources;          /* distinct sources, sorted */
    size_t n_sources;
    char **tags;             /* distinct tags of its articles, sorted */
    size_t n_tags;
    int64_t first_seen;
    int64_t last_seen;
} as_story_t;

/* Frees a story and everything it points to. Accepts NULL. */
AS_API void as_story_free(as_story_t *s);

/*
 * Which stories to list, newest first (by last_seen). A story matches
 * when its articles together satisfy the conditions: each all_of tag on
 * one of them, one of the any_of tags, none of the none_of tags, the
 * source among its sources, and [since, until) overlapping its
 * [first_seen, last_seen]. Strings are normalized as in a query.
 */
typedef struct as_stories_spec {
    AS__FILTER_FIELDS
    uint32_t limit;              /* page size; 0: the server's default (50) */
    const uint8_t *cursor;       /* next_cursor of the previous page */
    size_t cursor_len;
} as_stories_spec_t;

typedef struct as_story_list {
    as_story_t **stories;
    size_t n_stories;
    uint8_t *next_cursor;        /* NULL on the last page; a page may be
                                    short (even empty) when the server
                                    stopped looking: continue while set */
    size_t next_cursor_len;
} as_story_list_t;

/*
 * Lists one page of stories. On AS_OK *out is new (as_story_list_free).
 * Returns AS_OK, AS_EINVALID_ARGUMENT (bad tag, limit over max_page,
 * malformed cursor), AS_EUNAVAILABLE, ...
 */
AS_API int as_list_stories(as_client_t *c, const as_stories_spec_t *spec,
                           as_story_list_t **out);

/* Frees a list from as_list_stories(). Accepts NULL. */
AS_API void as_story_list_free(as_story_list_t *l);

/*
 * Gets story id and its articles, oldest first (at most limit; 0: the
 * server's max_page), bodies left out when omit_body. On AS_OK *story is
 * new (as_story_free) and *articles a new array of *n articles
 * (as_articles_free). Returns AS_OK, AS_ENOT_FOUND, AS_EINVALID_ARGUMENT,
 * AS_EUNAVAILABLE, ...
 */
AS_API int as_get_story(as_client_t *c, uint64_t id, uint32_t limit,
                        int omit_body, as_story_t **story,
                        as_article_t ***articles, size_t *n);

/* ------------------------------------------------------------ backup */

typedef struct as_backup_info {
    char path[4096];     /* where the server wrote the copy */
    uint64_t bytes;      /* size of the copy's data.mdb */
    uint64_t last_seq;   /* every change up to this seq is in the copy */
} as_backup_info_t;

/*
 * Asks the server to write a consistent hot copy of its store into dir, a
 * directory on the server's machine: an absolute path that does not exist
 * (it is created) or is empty, outside the server's data directory. The
 * copy is compacted unless no_compact. The server keeps serving meanwhile.
 * The copy takes as long as the store takes to read, so use a client with
 * a long timeout for large stores. info (may be NULL) receives the result.
 * The copy is a complete data directory: start a server on it to restore.
 * Returns AS_OK, AS_EINVALID_ARGUMENT (bad path), AS_EFAILED_PRECONDITION
 * (not empty, missing parent), AS_EINTERNAL (copy failed), ...
 */
AS_API int as_backup(as_client_t *c, const char *dir, int no_compact,
                     as_backup_info_t *info);

/* ------------------------------------------------------------ cluster */

#define AS_CLUSTER_MAX 16

typedef struct as_cluster_member {
    uint64_t id;
    char raft[128];        /* its Raft address HOST:PORT */
    char listen[256];      /* its client endpoint; "" if not announced */
    char role[16];         /* as the answering node sees it: leader,
                              follower, candidate, non-voter, unreachable */
    int voter;
    uint64_t match_index;  /* replicated up to (the leader's view only) */
} as_cluster_member_t;

typedef struct as_cluster_info {
    uint64_t id;           /* the answering node */
    char role[16];         /* its role */
    uint64_t leader_id;    /* 0: no leader known */
    char leader_listen[256];
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;  /* the answering node's last applied entry */
    uint64_t last_index;
    size_t n_members;
    as_cluster_member_t members[AS_CLUSTER_MAX];
} as_cluster_info_t;

/*
 * Asks the server for its view of its cluster (ClusterStatus). Returns
 * AS_OK with *info filled, AS_EFAILED_PRECONDITION when the server is not
 * a cluster member, or a call failure.
 */
AS_API int as_cluster_status(as_client_t *c, as_cluster_info_t *info);

/*
 * Membership changes, through the leader (a follower's UNAVAILABLE answer
 * names it and the library follows). as_cluster_add adds member id with
 * Raft address raft (HOST:PORT, numeric IPv4) as a voter, or with
 * non_voter as a read replica that follows the log without voting or
 * counting for a majority (libraft's standby role); called for a member
 * already there with the same address, it changes its role (promotes a
 * non-voter). A new voter is first caught up with the log, so give the
 * client a timeout long enough for that. Start the new node first with
 * --node-id ID --raft HOST:PORT and no --cluster. as_cluster_remove takes
 * member id out of the configuration (stop that node afterwards).
 * Returns AS_OK once the configuration is committed, AS_EINVALID_ARGUMENT,
 * AS_EALREADY_EXISTS (id or address used by another member),
 * AS_ENOT_FOUND (remove of an unknown id), AS_EFAILED_PRECONDITION (not a
 * cluster member; another change is in progress: retry),
 * AS_EPERMISSION_DENIED (not an admin token), AS_EUNAVAILABLE.
 */
AS_API int as_cluster_add(as_client_t *c, uint64_t id, const char *raft,
                          int non_voter);
AS_API int as_cluster_remove(as_client_t *c, uint64_t id);

#ifdef __cplusplus
}
#endif
#endif /* ARTSTORE_H */
