/*
 * backup.c - backups. The copy itself is the store's (as_store_backup, in
 * its own read transaction); this module decides where a copy may go.
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

int as_backup_run(as_store_t *s, const char *path, const char *data_dir,
                  int compact, uint64_t *bytes, uint64_t *last_seq,
                  as_status_t *st)
{
    int created, rc;

    *bytes = *last_seq = 0;
    if ((rc = as_backup_prepare_dir(path, data_dir, &created, st)) != 0)
        return rc;
    as_log_info("backup to %s started", path);
    if ((rc = as_store_backup(s, path, compact, bytes, last_seq, st)) != 0) {
        as_log_error("backup to %s failed: %s", path, st->msg);
        if (created)
            rmdir(path);
        return rc;
    }
    as_log_info("backup to %s done: %llu bytes, last_seq %llu", path,
                (unsigned long long)*bytes, (unsigned long long)*last_seq);
    return 0;
}
