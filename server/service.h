/*
 * service.h - the ArticleStore methods: each handler decodes its request,
 * validates it, calls an engine with plain C values (the store and the
 * writer for articles, query.h, feed.h, backup.h) and encodes the reply.
 *
 * The handlers are grouped by concern:
 *   service_articles.c   Put, PutBatch, Get, Delete
 *   service_queries.c    Query, ListTags
 *   service_changes.c    Changes
 *   service_admin.c      Ping, Stats, Backup
 *   service_cluster.c    ClusterStatus, ClusterAnnounce, ClusterReadIndex,
 *                        ClusterChange, ClusterSnapshot
 *   service_story.c      ListStories, GetStory
 * service.c holds the method table, the per-worker state and the helpers
 * they share. The service never touches sockets (rpc.c does) or LMDB
 * (store.c does); the engines never see a call.
 */
#ifndef AS_SERVICE_H
#define AS_SERVICE_H

#include <stdint.h>

#include "feed.h"
#include "filter.h"
#include "limit.h"
#include "rpc.h"
#include "store.h"
#include "writer.h"

typedef struct as_service {
    as_store_t *store;
    as_writer_t *writer;
    as_feed_t *feed;         /* change feed; NULL: Changes is UNAVAILABLE */
    struct as_cluster *cluster; /* replicated writes; NULL: the writer */
    struct as_snapshot_source *snapshot; /* store copies for members that
                                            need one (cluster only) */
    as_rpc_t *rpc;           /* the request endpoint (set by as_rpc_start
                                before its workers run), for Stats */
    as_rpc_t *rpc_ws;        /* the dashboard's ws:// endpoint, or NULL */
    as_limits_t limits;
    const char *feed_endpoint; /* told to clients by Ping; may be NULL */
    const char *data_dir;
    int64_t start_ms;
    int stories;             /* fingerprint puts on the workers */
} as_service_t;

/* The method table, in the order of the service in artstore.proto. */
extern const as_method_t as_service_methods[];
extern const size_t as_service_n_methods;

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

/* rpc worker hooks: each worker gets its own store reader. */
void *as_service_worker_init(void *ctx);
void as_service_worker_fini(void *ctx, void *data);

/* ------------------------------------------------------------ handlers */

void as__svc_put(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_put_batch(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_put_exact(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_get(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_delete(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_query(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_list_tags(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_changes(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_ping(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_stats(as_call_t *call, const uint8_t *payload, size_t len);
void as__svc_backup(as_call_t *call, const uint8_t *payload, size_t len);
/* service_cluster.c: this node's view of the cluster (FAILED_PRECONDITION
 * on a server that is not a member), and a member's endpoints, written to
 * the log by the leader and answered once committed. */
void as__svc_cluster_status(as_call_t *call, const uint8_t *payload,
                            size_t len);
void as__svc_cluster_announce(as_call_t *call, const uint8_t *payload,
                              size_t len);
void as__svc_cluster_read_index(as_call_t *call, const uint8_t *payload,
                                size_t len);
void as__svc_cluster_change(as_call_t *call, const uint8_t *payload,
                            size_t len);
/* A member's store copy, one chunk per call (snapshot.h). */
void as__svc_cluster_snapshot(as_call_t *call, const uint8_t *payload,
                              size_t len);
/* service_story.c: stories newest first with Query's filters and paging,
 * and one story with its articles (docs/STORIES.md). */
void as__svc_list_stories(as_call_t *call, const uint8_t *payload,
                          size_t len);
void as__svc_get_story(as_call_t *call, const uint8_t *payload, size_t len);

/* ------------------------------------------------------------ shared */

/* Unpacks payload as a message of desc into the call's arena, or replies
 * INVALID_ARGUMENT (naming the message type) / RESOURCE_EXHAUSTED and
 * returns NULL. */
ProtobufCMessage *as_service_unpack(as_call_t *call,
                                    const ProtobufCMessageDescriptor *desc,
                                    const uint8_t *payload, size_t len);

/* The calling worker's store reader, or NULL after replying UNAVAILABLE
 * (a worker whose reader could not be made) or the failure of a
 * linearizable read's barrier (the envelope asked for one on a cluster
 * member: as_cluster_read_barrier, which may block up to the deadline).
 * as_service_reader first waits until LMDB holds every write acknowledged
 * through the write-ahead log (as_writer_barrier): for every read of a
 * snapshot; as_service_reader_latest does not: for Get and Changes,
 * which read acknowledged writes from the overlay. */
as_reader_t *as_service_reader(as_call_t *call);
as_reader_t *as_service_reader_latest(as_call_t *call);

/* Packs the prepared write item it on the calling worker, in the call's
 * arena: its RaftWrite for the log (it->wire) and, for a put on a single
 * node, its article packed and encoded for storage (it->pre), so that the
 * one writer thread does neither. It leaves keep bytes of the arena free
 * (what the reply will take from it); short of memory it leaves them NULL
 * and the writer packs as before. */
void as_service_prepack(as_call_t *call, as_write_item_t *it, size_t keep);

/* Normalizes the request's filter (NULL: none) into out (as_filter_free),
 * or replies INVALID_ARGUMENT / RESOURCE_EXHAUSTED and returns -1. */
int as_service_filter(as_call_t *call, const Artstore__V1__Filter *in,
                      as_filter_t *out);

/* The one page-size rule of Query, ListTags and Changes: absent or 0 is
 * AS_QUERY_DEFAULT_LIMIT (or max_page when that is smaller); over
 * limits.max_page is refused. Sets *out, or replies INVALID_ARGUMENT and
 * returns -1. */
int as_service_page_limit(as_call_t *call, int has_limit, uint32_t limit,
                          size_t *out);

/* A stored (packed) article as sent: raw itself, or with omit_body a copy
 * without the body in ar. Returns 0, or a code with st set. */
int as_service_article_bytes(as_bytes_t raw, int omit_body, as_arena_t *ar,
                             as_bytes_t *out, as_status_t *st);

/* Allocates a write job of n items in the call's arena, completed by done
 * (job->arg is the call); NULL after replying RESOURCE_EXHAUSTED. */
as_write_job_t *as_service_new_job(as_call_t *call, size_t n,
                                   void (*done)(as_write_job_t *));

/* Hands job to the writer, or replies with why it cannot take it. */
void as_service_submit(as_call_t *call, as_write_job_t *job);

#endif
