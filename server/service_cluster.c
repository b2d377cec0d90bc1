/*
 * service_cluster.c - the cluster methods: ClusterStatus (the answering
 * node's view of its Raft cluster, cluster.h, for `artstore cluster
 * status`), ClusterChange, and the server-to-server ClusterAnnounce,
 * ClusterReadIndex and ClusterSnapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cluster.h"
#include "service.h"
#include "snapshot.h"

/* Whether this server is a cluster member; if not, replies
 * FAILED_PRECONDITION (the cluster methods need one) and returns 0. */
static int is_member(as_call_t *call)
{
    as_service_t *svc = as_call_ctx(call);

    if (svc->cluster != NULL)
        return 1;
    as_call_reply_error(call, AS_CODE_FAILED_PRECONDITION,
                        "this server is not a cluster member (started "
                        "without --node-id and --raft)");
    return 0;
}

/* Completes a job whose success reply is the empty message ok: the job's
 * status if it failed, ok otherwise. */
static void reply_job(as_write_job_t *job, const ProtobufCMessage *ok)
{
    if (job->st.code != AS_CODE_OK)
        as_call_reply_status(job->arg, &job->st);
    else
        as_call_reply(job->arg, ok);
}

void as__svc_cluster_status(as_call_t *call, const uint8_t *payload,
                               size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    as_arena_t *ar = as_call_arena(call);
    Artstore__V1__ClusterStatusResponse resp =
        ARTSTORE__V1__CLUSTER_STATUS_RESPONSE__INIT;
    as_cluster_status_t *s;
    size_t i;

    if (as_service_unpack(call, &artstore__v1__cluster_status_request__descriptor,
                          payload, len) == NULL)
        return;
    if (!is_member(call))
        return;
    s = as_arena_alloc(ar, sizeof(*s));
    resp.nodes = as_arena_alloc(ar, sizeof(*resp.nodes) * AS_CLUSTER_MAX_NODES);
    if (s == NULL || resp.nodes == NULL)
        goto out_exhausted;
    as_cluster_get_status(svc->cluster, s);
    resp.has_id = resp.has_leader_id = resp.has_term = 1;
    resp.has_commit_index = resp.has_applied_index = resp.has_last_index = 1;
    resp.id = s->id;
    resp.role = s->role;
    resp.leader_id = s->leader_id;
    resp.leader_listen = s->leader_listen;
    resp.term = s->term;
    resp.commit_index = s->commit_index;
    resp.applied_index = s->applied_index;
    resp.last_index = s->last_index;
    for (i = 0; i < s->n_nodes; i++) {
        Artstore__V1__ClusterNode *n = as_arena_alloc(ar, sizeof(*n));

        if (n == NULL)
            goto out_exhausted;
        artstore__v1__cluster_node__init(n);
        n->has_id = n->has_voter = n->has_match_index = 1;
        n->id = s->nodes[i].id;
        n->raft = s->nodes[i].raft;
        n->listen = s->nodes[i].listen;
        n->role = s->nodes[i].role;
        n->voter = s->nodes[i].voter != 0;
        n->match_index = s->nodes[i].match_index;
        resp.nodes[resp.n_nodes++] = n;
    }
    as_call_reply(call, &resp.base);
    return;

out_exhausted:
    as_call_reply_error(call, AS_CODE_RESOURCE_EXHAUSTED,
                        "cluster status needs more than max_decode_bytes");
}

static void announce_done(as_write_job_t *job)
{
    Artstore__V1__ClusterAnnounceResponse resp =
        ARTSTORE__V1__CLUSTER_ANNOUNCE_RESPONSE__INIT;

    reply_job(job, &resp.base);
}

void as__svc_cluster_announce(as_call_t *call, const uint8_t *payload,
                                 size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__ClusterMember *m;
    as_write_job_t *job;
    as_status_t st;

    m = (Artstore__V1__ClusterMember *)as_service_unpack(
        call, &artstore__v1__cluster_member__descriptor, payload, len);
    if (m == NULL)
        return;
    if (!is_member(call))
        return;
    if ((job = as_service_new_job(call, 0, announce_done)) == NULL)
        return;
    if (as_cluster_announce(svc->cluster, m, job, &st) != 0)
        as_call_reply_status(call, &st);
}

/* A follower's linearizable read asks the leader for its read index. */
void as__svc_cluster_read_index(as_call_t *call, const uint8_t *payload,
                                size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__ClusterReadIndexResponse resp =
        ARTSTORE__V1__CLUSTER_READ_INDEX_RESPONSE__INIT;
    as_status_t st;
    uint64_t index;

    if (as_service_unpack(call,
                          &artstore__v1__cluster_read_index_request__descriptor,
                          payload, len) == NULL)
        return;
    if (!is_member(call))
        return;
    if (as_cluster_leader_read_index(svc->cluster, as_call_deadline_ms(call),
                                     &index, &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    resp.has_index = 1;
    resp.index = index;
    as_call_reply(call, &resp.base);
}

static void change_done(as_write_job_t *job)
{
    Artstore__V1__ClusterChangeResponse resp =
        ARTSTORE__V1__CLUSTER_CHANGE_RESPONSE__INIT;

    reply_job(job, &resp.base);
}

/* `artstore cluster add/remove`: a membership change through the leader. */
void as__svc_cluster_change(as_call_t *call, const uint8_t *payload,
                            size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__ClusterChangeRequest *req;
    as_write_job_t *job;
    as_status_t st;

    req = (Artstore__V1__ClusterChangeRequest *)as_service_unpack(
        call, &artstore__v1__cluster_change_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (!is_member(call))
        return;
    if ((job = as_service_new_job(call, 0, change_done)) == NULL)
        return;
    if (as_cluster_change(svc->cluster, req->has_id ? req->id : 0, req->raft,
                          req->has_non_voter && req->non_voter,
                          req->has_remove && req->remove, job, &st) != 0)
        as_call_reply_status(call, &st);
}

/* A member that must restore a snapshot its store does not cover reads a
 * copy of this one's store, chunk by chunk (snapshot.h). */
void as__svc_cluster_snapshot(as_call_t *call, const uint8_t *payload,
                              size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__ClusterSnapshotRequest *req;
    Artstore__V1__ClusterSnapshotResponse resp =
        ARTSTORE__V1__CLUSTER_SNAPSHOT_RESPONSE__INIT;
    as_snapshot_chunk_t chunk;
    as_status_t st;
    size_t max;

    req = (Artstore__V1__ClusterSnapshotRequest *)as_service_unpack(
        call, &artstore__v1__cluster_snapshot_request__descriptor, payload,
        len);
    if (req == NULL)
        return;
    if (svc->cluster == NULL || svc->snapshot == NULL) {
        as_call_reply_error(call, AS_CODE_FAILED_PRECONDITION,
                            "this server is not a cluster member");
        return;
    }
    /* A chunk and its envelope fit in a reply. */
    max = svc->limits.max_reply_bytes > 8192
              ? svc->limits.max_reply_bytes - 4096 : 4096;
    if (req->max_bytes > 0 && req->max_bytes < max)
        max = req->max_bytes;
    if (as_snapshot_source_read(svc->snapshot, req->min_index, req->copy_id,
                                req->offset, max, &chunk,
                                &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    resp.has_copy_id = resp.has_size = resp.has_applied_index = 1;
    resp.has_offset = resp.has_data = resp.has_checksum = 1;
    resp.copy_id = chunk.copy_id;
    resp.size = chunk.size;
    resp.applied_index = chunk.applied;
    resp.offset = chunk.offset;
    resp.data.data = chunk.data;
    resp.data.len = chunk.len;
    resp.checksum = chunk.checksum;
    as_call_reply(call, &resp.base);
    free(chunk.data);
}
