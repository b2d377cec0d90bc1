/*
 * service.h - the ArticleStore methods: decode a method's request, validate
 * it, run it against the store (reads, on the worker thread) or the writer
 * (writes, completed on the writer thread), and encode the response.
 *
 * The service owns the method table handed to rpc.c and the context every
 * handler shares. It never touches sockets (rpc.c does) or LMDB directly
 * (store.c does).
 */
#ifndef AS_SERVICE_H
#define AS_SERVICE_H

#include <stdint.h>

#include "limit.h"
#include "rpc.h"
#include "store.h"
#include "writer.h"

typedef struct as_service {
    as_store_t *store;
    as_writer_t *writer;
    as_rpc_t *rpc;           /* set once the socket is up, for Stats */
    as_rpc_t *rpc_ws;        /* the dashboard's ws:// endpoint, or NULL */
    as_limits_t limits;
    const char *feed_endpoint; /* told to clients by Ping; may be NULL */
    const char *data_dir;
    int64_t start_ms;
    struct as_feed *feed;    /* change feed and Changes; NULL: not running */
    struct as_cluster *cluster; /* replicated writes; NULL: the writer */
} as_service_t;

/* The method table, in the order of the service in artstore.proto. */
extern const as_method_t as_service_methods[];
extern const size_t as_service_n_methods;

/* ClusterStatus (service_cluster.c): this node's view of the cluster;
 * FAILED_PRECONDITION on a server that is not a cluster member. */
void as_service_cluster_status(as_call_t *call, const uint8_t *payload,
                               size_t len);

/* ClusterAnnounce (service_cluster.c): a member's endpoints, written to
 * the log by the leader; answered once committed. */
void as_service_cluster_announce(as_call_t *call, const uint8_t *payload,
                                 size_t len);

/* rpc worker hooks: each worker gets its own store reader. */
void *as_service_worker_init(void *ctx);
void as_service_worker_fini(void *ctx, void *data);

/* Shared by handlers in other modules (query, feed, ...): unpacks payload
 * as a message of desc into the call's arena, or replies INVALID_ARGUMENT
 * (naming the message type) / RESOURCE_EXHAUSTED and returns NULL. */
ProtobufCMessage *as_service_unpack(as_call_t *call,
                                    const ProtobufCMessageDescriptor *desc,
                                    const uint8_t *payload, size_t len);

/*
 * Fills resp with the server's statistics (what Stats answers): the
 * store's counts from a fresh snapshot of rd, the per-method counters and
 * latency histograms of every request endpoint, the writer's batch sizes.
 * Repeated fields and histograms are allocated in ar; strings are static.
 * Returns 0, or UNAVAILABLE / RESOURCE_EXHAUSTED / a store error with st
 * set.
 */
int as_service_stats(as_service_t *svc, as_reader_t *rd, as_arena_t *ar,
                     Artstore__V1__StatsResponse *resp, as_status_t *st);

/* The calling worker's store reader (NULL off the worker threads). */
as_reader_t *as_service_reader(as_call_t *call);

/* Appends one length-delimited protobuf field (field number, bytes) to a
 * growing buffer; used to embed stored articles in replies without
 * unpacking them. Returns 0 or -1 when out of memory. */
typedef struct as_buf {
    uint8_t *data;
    size_t len, cap;
    int fixed;             /* data is not ours (a reserved reply): never
                              grown or freed; a put past cap fails */
} as_buf_t;
int as_buf_put_bytes_field(as_buf_t *b, unsigned field, const void *data,
                           size_t len);
int as_buf_put_varint_field(as_buf_t *b, unsigned field, uint64_t v);
void as_buf_free(as_buf_t *b);
/* The encoded size of those fields, for replies built in place. */
size_t as_buf_bytes_field_size(unsigned field, size_t len);
size_t as_buf_varint_field_size(unsigned field, uint64_t v);

/* A stored (packed) article as sent: raw itself, or with omit_body a copy
 * without the body in ar. Returns 0, or a code with st set. */
int as_service_article_bytes(as_bytes_t raw, int omit_body, as_arena_t *ar,
                             as_bytes_t *out, as_status_t *st);

/* Appends a stored (packed) article to b as field number `field`, with the
 * body dropped when omit_body. Returns 0, or a code with st set. */
int as_service_put_article(as_buf_t *b, unsigned field, as_bytes_t raw,
                           int omit_body, as_arena_t *ar, as_status_t *st);

#endif
