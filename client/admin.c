/*
 * admin.c - operator calls of libartstore: Backup.
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
