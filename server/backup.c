/*
 * backup.c - the Backup method. The copy itself is the store's
 * (as_store_backup, LMDB's mdb_env_copy2 in its own read transaction); this
 * module decides where a copy may go and answers the call.
 *
 * Why the path rules: the path comes from the network and is used by the
 * server's user, so it must be unambiguous (absolute), must not overwrite
 * anything (a missing or empty directory only) and must not land inside
 * the live data directory, where a second data.mdb would be mistaken for
 * the store or copied into the next backup.
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "service.h"

/* Returns nonzero if directory path holds no entry besides . and .. */
static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int empty = 1;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

/* Returns nonzero if path equals dir or lies below it (both resolved). */
static int is_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (strncmp(path, dir, n) != 0)
        return 0;
    return path[n] == '\0' || path[n] == '/' || (n == 1 && dir[0] == '/');
}

int as_backup_prepare_dir(const char *path, const char *data_dir,
                          int *created, as_status_t *st)
{
    char parent[PATH_MAX], rparent[PATH_MAX], rdata[PATH_MAX];
    char target[PATH_MAX + NAME_MAX + 2];
    const char *base;
    size_t len;
    struct stat sb;

    *created = 0;
    if (path == NULL || path[0] == '\0')
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "path: a backup directory is required");
    len = strlen(path);
    if (path[0] != '/')
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "path: '%.200s' is relative; give an absolute "
                             "path on the server's machine", path);
    if (len >= PATH_MAX - 16)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "path: longer than %d bytes", PATH_MAX - 16);
    /* Split into parent and last component, ignoring trailing slashes. */
    memcpy(parent, path, len + 1);
    while (len > 1 && parent[len - 1] == '/')
        parent[--len] = '\0';
    base = strrchr(parent, '/') + 1;
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "path: '%.200s' does not name a new directory",
                             path);
    if (base == parent + 1) {
        strcpy(rparent, "/");
    } else {
        parent[base - parent - 1] = '\0';
        if (realpath(parent, rparent) == NULL)
            return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                                 "path: parent directory %.200s: %s", parent,
                                 strerror(errno));
    }
    snprintf(target, sizeof(target), "%s%s%s", rparent,
             strcmp(rparent, "/") == 0 ? "" : "/", base);
    if (realpath(data_dir, rdata) == NULL)
        return as_status_set(st, AS_CODE_INTERNAL, "data directory %.200s: %s",
                             data_dir, strerror(errno));
    /* A symlinked target is resolved too, so it cannot point inside. */
    if (lstat(target, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        char rtarget[PATH_MAX];

        if (realpath(target, rtarget) == NULL)
            return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                                 "path: %.200s: %s", target, strerror(errno));
        snprintf(target, sizeof(target), "%s", rtarget);
    }
    if (is_within(target, rdata) || is_within(rdata, target))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "path: %.200s overlaps the data directory %.200s",
                             target, rdata);
    if (mkdir(target, 0700) == 0) {
        *created = 1;
        return 0;
    }
    if (errno != EEXIST)
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "path: mkdir %.200s: %s", target, strerror(errno));
    if (stat(target, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "path: %.200s exists and is not a directory",
                             target);
    if (!dir_is_empty(target))
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "path: %.200s is not empty; a backup never "
                             "overwrites", target);
    return 0;
}

void as_backup_handle(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    Artstore__V1__BackupRequest *req;
    Artstore__V1__BackupResponse resp = ARTSTORE__V1__BACKUP_RESPONSE__INIT;
    as_status_t st;
    uint64_t bytes = 0, last_seq = 0;
    int created;

    req = (Artstore__V1__BackupRequest *)as_service_unpack(
        call, &artstore__v1__backup_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (as_backup_prepare_dir(req->path, svc->data_dir, &created, &st) != 0) {
        as_call_reply_status(call, &st);
        return;
    }
    /* The worker's own reader stays closed: the copy has its own read
     * transaction (the store is MDB_NOTLS). */
    as_log_info("backup to %s started", req->path);
    if (as_store_backup(svc->store, req->path,
                        !(req->has_no_compact && req->no_compact), &bytes,
                        &last_seq, &st) != 0) {
        as_log_error("backup to %s failed: %s", req->path, st.msg);
        if (created)
            rmdir(req->path);
        as_call_reply_status(call, &st);
        return;
    }
    as_log_info("backup to %s done: %llu bytes, last_seq %llu", req->path,
                (unsigned long long)bytes, (unsigned long long)last_seq);
    resp.path = req->path;
    resp.has_bytes = resp.has_last_seq = 1;
    resp.bytes = bytes;
    resp.last_seq = last_seq;
    as_call_reply(call, &resp.base);
}
