/*
 * internal.h - what the modules of libartstore share and callers never see:
 * the client struct, the generic call, and article conversions to and from
 * the wire messages. Nothing here is exported from the shared library.
 */
#ifndef AS_INTERNAL_H
#define AS_INTERNAL_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "artstore.h"
#include "artstore.pb-c.h"
#include "feedconn.h"

/* The largest message this client sends or accepts (NN_RCVMAXSIZE). It is
 * set explicitly because nanomsg's 1 MiB default drops larger replies
 * without a word. */
#define AS_MAX_MESSAGE (64 * 1024 * 1024)

/* The server's default max_message_bytes: a request over it is dropped by
 * the server's socket, which the client only sees as a missing reply. */
#define AS_SERVER_DEFAULT_MAX_MESSAGE (16 * 1024 * 1024)

#define AS_DEFAULT_TIMEOUT_MS 5000

/* Most servers a client knows (the ones it was given plus leaders it was
 * pointed to). */
#define AS_MAX_ENDPOINTS AS_CLUSTER_MAX

struct as_client {
    int sock;                /* nanomsg REQ socket, -1 when direct */
    int direct;              /* the current endpoint is spoken through conn */
    as_feedconn_t conn;      /* tcp:// and ipc://: SP spoken directly */
    uint32_t req_id;         /* the SP request id of the last request */
    int timeout_ms;
    uint64_t next_call_id;
    char *endpoint;          /* the current one, endpoints[cur] */
    char *endpoints[AS_MAX_ENDPOINTS];
    size_t n_endpoints, cur;
    int abandoned;           /* sock holds a request whose reply was not
                                taken: it carries no other (call_once) */
    char *token;
    int linearizable;        /* ask for linearizable reads (Request field) */
    size_t max_message;      /* the server's max_message_bytes, as known:
                                the default until a Ping tells */
    /* Kept between calls for the reply envelope's payload, the one large
     * block a call allocates (see reply_alloc in client.c). */
    void *payload_buf;
    size_t payload_cap;
    int payload_busy;
    char errmsg[1024];
};

/* Adds endpoint to c's list of servers unless it is there (a cluster
 * member learnt from ClusterStatus). Returns its index, or -1 (list full,
 * out of memory). */
int as__client_add_endpoint(as_client_t *c, const char *endpoint);

/* What as__recv_reply returns for a refused connection (the message is
 * already set on the client). Below every negated errno. */
#define AS_EUNAVAILABLE_REFUSED (-100000)

/* Returns nonzero when nanomsg socket sock has no connection and its
 * endpoint's last connect attempt failed (refused, no such ipc path). */
int as__refused(int sock);

/*
 * Waits up to wait_ms for the reply on c's socket (whose NN_RCVTIMEO the
 * caller has set to wait_ms). Returns its length with *buf a nanomsg
 * message (nn_freemsg), AS_EUNAVAILABLE_REFUSED (with c->errmsg set) as
 * soon as the connection is refused, or -errno.
 */
int as__recv_reply(as_client_t *c, int wait_ms, void **buf);

/* Records a printf-formatted message as the client's last error and
 * returns rc, so that failures read `return as__fail(c, rc, ...)`. */
int as__fail(as_client_t *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Performs one call: sends req as the payload of a Request envelope for
 * method ("Put") and waits for the Reply. On AS_OK *resp is the unpacked
 * response of type resp_desc, to be freed with
 * protobuf_c_message_free_unpacked(*resp, NULL). Otherwise returns the
 * server's status code negated or a local failure (see artstore.h), with
 * the message in c->errmsg.
 */
int as__call(as_client_t *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc,
             ProtobufCMessage **resp);

/*
 * The library's one rule for a caller's array with a count: the array is
 * not NULL when n > 0 (a NULL array with n = 3 is a mistake, not an empty
 * list), and no string in it is NULL. Checks string array name v[0..n).
 * Returns AS_OK, or AS_EINVALID_ARGUMENT with msg (len bytes) naming the
 * array and the index ("tags is NULL with n_tags=3", "tags[1] is NULL").
 */
int as__check_strv(const char *name, const char *const *v, size_t n,
                   char *msg, size_t len);

/* Checks the arrays of article a that the encoder follows (authors, tags,
 * meta and its keys and values) by the rule of as__check_strv. Returns
 * AS_OK or AS_EINVALID_ARGUMENT with the reason in msg. Used by as_put and
 * as_put_batch alike. */
int as__check_article(const as_article_t *a, char *msg, size_t len);

/*
 * The filter fields the public specs share (as_query_spec_t,
 * as_stories_spec_t, as_watch_opts_t), taken from any of them with
 * AS__FILTER_SPEC or, for a watch (whose since is a seq, not a time),
 * AS__FILTER_SPEC_TAGS.
 */
typedef struct as__filter_spec {
    AS__FILTER_FIELDS
} as__filter_spec_t;

#define AS__FILTER_SPEC_TAGS(s)                                           \
    { (s)->all_of, (s)->n_all_of, (s)->any_of, (s)->n_any_of,             \
      (s)->none_of, (s)->n_none_of, (s)->source, 0, 0, 0, 0 }
#define AS__FILTER_SPEC(s)                                                \
    { (s)->all_of, (s)->n_all_of, (s)->any_of, (s)->n_any_of,             \
      (s)->none_of, (s)->n_none_of, (s)->source, (s)->has_since,          \
      (s)->since, (s)->has_until, (s)->until }

/*
 * Checks the tag lists of in (as__check_strv, the message in c->errmsg)
 * and fills the wire filter f (initialized here) from in; f borrows in's
 * strings. The one mapping of a caller's filter to the wire, for Query,
 * ListStories and Changes. Returns AS_OK or AS_EINVALID_ARGUMENT.
 */
int as__filter_to_pb(as_client_t *c, const as__filter_spec_t *in,
                     Artstore__V1__Filter *f);

/*
 * Sets a request's page fields from a caller's page: limit (0: the
 * server's default) and cursor (NULL or empty: the first page; pb_cursor
 * borrows it). The one mapping for Query, ListTags and ListStories.
 */
void as__page_to_pb(uint32_t limit, const void *cursor, size_t cursor_len,
                    protobuf_c_boolean *has_limit, uint32_t *pb_limit,
                    protobuf_c_boolean *has_cursor,
                    ProtobufCBinaryData *pb_cursor);

/*
 * The other way: copies a reply's next_cursor (in, present when has) into
 * *out (malloc'ed, the caller's) and *out_len; NULL and 0 when absent or
 * empty, the last page. Returns 0, or -1 when out of memory.
 */
int as__cursor_from_pb(const ProtobufCBinaryData *in, int has,
                       uint8_t **out, size_t *out_len);

/*
 * Fills pb with the put-relevant fields of a (server-set fields are left
 * out), a having passed as__check_article. pb borrows a's strings; the
 * arrays it needs are allocated and released with
 * as__article_pb_release(). Returns 0 or -1 (out of memory).
 */
int as__article_to_pb(const as_article_t *a, Artstore__V1__Article *pb);

/* Frees what as__article_to_pb allocated (not the borrowed strings). */
void as__article_pb_release(Artstore__V1__Article *pb);

/* Returns a new article (as_article_free) made from pb, or NULL when out
 * of memory. pb must come from an unpack with the default (malloc)
 * allocator: its strings and arrays move into the article, and pb is
 * left without them, still to be freed as usual. */
as_article_t *as__article_take_pb(Artstore__V1__Article *pb);

/* Length of the request ids the library makes. */
#define AS__REQUEST_ID_LEN 16

/* Fills id with a fresh random request id (idempotency key) for one
 * write: getrandom(), or time, pid and a counter if that fails; and sets
 * a request's request_id field (*has, *pb) to it: pb borrows id, which
 * must outlive the call. */
void as__request_id(uint8_t id[AS__REQUEST_ID_LEN], protobuf_c_boolean *has,
                    ProtobufCBinaryData *pb);

/* Returns a deep copy of a (as_article_free), or NULL when out of memory. */
as_article_t *as__article_copy(const as_article_t *a);

/* strdup that accepts NULL (returning NULL) and sets *oom on failure. */
char *as__strdup(const char *s, int *oom);

/* Copies n strings into a new array (NULL for n == 0 or v NULL), freed
 * with as__strv_free; sets *oom when out of memory (the array may then
 * hold NULLs). */
char **as__strv_copy(const char *const *v, size_t n, int *oom);

/* Frees n strings of v and v itself. Accepts NULL. */
void as__strv_free(char **v, size_t n);

#endif
