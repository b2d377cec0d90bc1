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
 * - Retries: nanomsg resends a request whose connection dropped. Puts are
 *   idempotent (same URL and content = no new change), so a resend is
 *   harmless; a resent delete may answer NOT_FOUND.
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
 *   AS_EUNAVAILABLE        no reply within the client's timeout, or the
 *                          socket could not be created or connected;
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
    char *key;
    char *value;
} as_meta_t;

/*
 * An article. Absent strings are NULL. Times are Unix seconds (UTC).
 * In a put, id, ingested_at, revision and content_hash are ignored (the
 * server sets them) and the struct is only read. Articles returned by the
 * library are allocated by it and freed with as_article_free().
 */
typedef struct as_article {
    uint64_t id;
    char *url;
    char *title;
    char *body;
    char *source;
    char **authors;
    size_t n_authors;
    int has_published_at;
    int64_t published_at;
    int64_t ingested_at;
    char **tags;
    size_t n_tags;
    as_meta_t *meta;
    size_t n_meta;
    uint64_t revision;
    int has_content_hash;
    uint8_t content_hash[16];
} as_article_t;

/* Frees an article returned by the library and everything it points to.
 * Accepts NULL. */
AS_API void as_article_free(as_article_t *a);

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
 * "ipc:///path"). timeout_ms bounds every call (<= 0: 5000 ms). nanomsg
 * connects in the background, so an unreachable server shows up as
 * AS_EUNAVAILABLE on the first call, not here.
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

/* Returns the endpoint the client was created with (owned by c). */
AS_API const char *as_client_endpoint(const as_client_t *c);

/* ------------------------------------------------------------ calls */

/*
 * Stores an article: created if its natural key (URL, or without one a
 * hash of title and body) is new, updated if known with other content,
 * unchanged if known with the same content. expected_revision is
 * AS_REV_ANY, 0 ("must not exist") or the revision the article must have.
 * res receives the outcome. Returns AS_OK, AS_EINVALID_ARGUMENT (the
 * message names the field and limit), AS_EFAILED_PRECONDITION (revision
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
} as_ping_info_t;

/* Checks that the server answers. info (may be NULL) receives what it
 * said. Returns AS_OK or AS_EUNAVAILABLE. */
AS_API int as_ping(as_client_t *c, as_ping_info_t *info);

/* One extra statistics series, in Prometheus terms: a metric name, its
 * labels as `k="v",...` (may be ""), and a value. The series are:
 *   artstore_requests_total{method,code}          counter
 *   artstore_request_latency_us_bucket{method,le}  histogram, cumulative
 *   artstore_request_latency_us_sum/_count{method}  buckets, le in us
 *   artstore_writer_batch_bucket{le}, _sum, _count  articles per commit
 * (methods never called are left out), in that order per method; later
 * servers may add more. */
typedef struct as_stat {
    char *name;
    char *labels;
    double value;
} as_stat_t;

typedef struct as_stats {
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
} as_stats_t;

/* Fetches server statistics. On AS_OK *out is new (as_stats_free). */
AS_API int as_stats(as_client_t *c, as_stats_t **out);

/* Frees statistics from as_stats(). Accepts NULL. */
AS_API void as_stats_free(as_stats_t *s);

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

#ifdef __cplusplus
}
#endif
#endif /* ARTSTORE_H */
