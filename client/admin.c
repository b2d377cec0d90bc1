/*
 * admin.c - operator calls of libartstore: Backup, ClusterStatus,
 * ClusterChange.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

int as_backup(as_client_t *c, const char *dir, int no_compact,
              as_backup_info_t *info)
{
    Artstore__V1__BackupRequest req = ARTSTORE__V1__BACKUP_REQUEST__INIT;
    Artstore__V1__BackupResponse *r;
    ProtobufCMessage *m;
    int rc;

    if (c == NULL || dir == NULL || dir[0] == '\0')
        return AS_EINVALID_ARGUMENT;
    req.path = (char *)dir;
    req.has_no_compact = 1;
    req.no_compact = no_compact != 0;
    rc = as__call(c, "Backup", &req.base,
                  &artstore__v1__backup_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    r = (Artstore__V1__BackupResponse *)m;
    if (info != NULL) {
        snprintf(info->path, sizeof(info->path), "%s",
                 r->path ? r->path : dir);
        info->bytes = r->bytes;
        info->last_seq = r->last_seq;
    }
    artstore__v1__backup_response__free_unpacked(r, NULL);
    return AS_OK;
}

int as_cluster_status(as_client_t *c, as_cluster_info_t *info)
{
    Artstore__V1__ClusterStatusRequest req =
        ARTSTORE__V1__CLUSTER_STATUS_REQUEST__INIT;
    Artstore__V1__ClusterStatusResponse *r;
    ProtobufCMessage *m;
    size_t i;
    int rc;

    if (c == NULL || info == NULL)
        return AS_EINVALID_ARGUMENT;
    rc = as__call(c, "ClusterStatus", &req.base,
                  &artstore__v1__cluster_status_response__descriptor, &m);
    if (rc != AS_OK)
        return rc;
    r = (Artstore__V1__ClusterStatusResponse *)m;
    memset(info, 0, sizeof(*info));
    info->id = r->id;
    snprintf(info->role, sizeof(info->role), "%s", r->role ? r->role : "");
    info->leader_id = r->leader_id;
    snprintf(info->leader_listen, sizeof(info->leader_listen), "%s",
             r->leader_listen ? r->leader_listen : "");
    info->term = r->term;
    info->commit_index = r->commit_index;
    info->applied_index = r->applied_index;
    info->last_index = r->last_index;
    for (i = 0; i < r->n_nodes && i < AS_CLUSTER_MAX; i++) {
        const Artstore__V1__ClusterNode *n = r->nodes[i];
        as_cluster_member_t *mb = &info->members[info->n_members++];

        mb->id = n->id;
        snprintf(mb->raft, sizeof(mb->raft), "%s", n->raft ? n->raft : "");
        snprintf(mb->listen, sizeof(mb->listen), "%s",
                 n->listen ? n->listen : "");
        snprintf(mb->role, sizeof(mb->role), "%s", n->role ? n->role : "");
        mb->voter = n->voter;
        mb->match_index = n->match_index;
    }
    artstore__v1__cluster_status_response__free_unpacked(r, NULL);
    return AS_OK;
}

/* Sends a ClusterChange (the library follows a follower's leader hint). */
static int cluster_change(as_client_t *c, uint64_t id, const char *raft,
                          int non_voter, int remove)
{
    Artstore__V1__ClusterChangeRequest req =
        ARTSTORE__V1__CLUSTER_CHANGE_REQUEST__INIT;
    ProtobufCMessage *m;
    int rc;

    req.has_id = 1;
    req.id = id;
    req.raft = (char *)raft;
    req.has_non_voter = req.non_voter = non_voter != 0;
    req.has_remove = req.remove = remove != 0;
    rc = as__call(c, "ClusterChange", &req.base,
                  &artstore__v1__cluster_change_response__descriptor, &m);
    if (rc == AS_OK)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int as_cluster_add(as_client_t *c, uint64_t id, const char *raft,
                   int non_voter)
{
    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    if (id == 0 || raft == NULL || raft[0] == '\0')
        return as__fail(c, AS_EINVALID_ARGUMENT,
                        "cluster add needs an id above 0 and a Raft address");
    return cluster_change(c, id, raft, non_voter, 0);
}

int as_cluster_remove(as_client_t *c, uint64_t id)
{
    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    if (id == 0)
        return as__fail(c, AS_EINVALID_ARGUMENT,
                        "cluster remove needs an id above 0");
    return cluster_change(c, id, NULL, 0, 1);
}
