/*
 * snapshot.c - the Raft snapshot's format, and the store copy a member
 * streams to a node that needs it. See snapshot.h.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "be.h"
#include "clock.h"
#include "log.h"
#include "peer.h"
#include "verify.h"

#define MAGIC_V1 "ASSNAP01"
#define MAGIC "ASSNAP02"
#define MAGIC_LEN 8

/* How long a member waits, at most, to make its copy. */
#define DEFAULT_PREPARE_MS (10 * 60 * 1000)
#define DEFAULT_CHUNK_MS (60 * 1000)
/* How long to keep trying members before restore fails (libraft's
 * leader sends its snapshot again later); a download under way goes on. */
#define DEFAULT_DEADLINE_MS (60 * 1000)
/* A member must answer a Ping this fast before it is asked for a copy:
 * a dead one must not hold the wait for a copy being made. */
#define PROBE_MS 2000
/* A pause between two rounds over the members. */
#define RETRY_PAUSE_MS 500

/* ------------------------------------------------------------ format */

int as_snapshot_pack(uint64_t index,
                     const Artstore__V1__ClusterMembers *members,
                     void *(*alloc)(size_t), void **out, size_t *len,
                     as_status_t *st)
{
    Artstore__V1__RaftSnapshot snap = ARTSTORE__V1__RAFT_SNAPSHOT__INIT;
    unsigned char *p;
    size_t n;

    snap.has_index = 1;
    snap.index = index;
    if (members != NULL) {
        snap.n_members = members->n_members;
        snap.members = members->members;
    }
    n = artstore__v1__raft_snapshot__get_packed_size(&snap);
    if ((p = alloc(MAGIC_LEN + n)) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for a %zu-byte snapshot", n);
    memcpy(p, MAGIC, MAGIC_LEN);
    artstore__v1__raft_snapshot__pack(&snap, p + MAGIC_LEN);
    *out = p;
    *len = MAGIC_LEN + n;
    return 0;
}

int as_snapshot_parse(const void *data, size_t len,
                      Artstore__V1__RaftSnapshot **out, as_status_t *st)
{
    const unsigned char *p = data;
    Artstore__V1__RaftSnapshot *snap;

    *out = NULL;
    if (len == 16 && memcmp(p, MAGIC_V1, MAGIC_LEN) == 0) {
        /* The index alone, in the form of a decoded message. */
        uint8_t empty[1] = { 0 };

        snap = artstore__v1__raft_snapshot__unpack(NULL, 0, empty);
        if (snap == NULL)
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "out of memory");
        snap->has_index = 1;
        snap->index = as_be_get64(p + MAGIC_LEN);
        *out = snap;
        return 0;
    }
    if (len < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "a raft snapshot of %zu bytes is not "
                             "artstore's", len);
    snap = artstore__v1__raft_snapshot__unpack(NULL, len - MAGIC_LEN,
                                               p + MAGIC_LEN);
    if (snap == NULL || !snap->has_index) {
        if (snap != NULL)
            artstore__v1__raft_snapshot__free_unpacked(snap, NULL);
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "artstore's raft snapshot of %zu bytes does "
                             "not decode", len);
    }
    *out = snap;
    return 0;
}

/* ------------------------------------------------------------ files */

/* Flushes directory dir, so that a rename or unlink in it is durable. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Removes directory dir and the files in it (a copy's leftovers: no
 * subdirectories), if it exists. */
static void remove_dir(const char *dir)
{
    char path[4096];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            as_log_warn("cannot remove %s: %s", path, strerror(errno));
    }
    closedir(d);
    if (rmdir(dir) != 0)
        as_log_warn("cannot remove %s: %s", dir, strerror(errno));
}

/* ------------------------------------------------------------ serving */

struct as_snapshot_source {
    as_store_t *store;
    char dir[4096];              /* DATA/snapshot-out */
    pthread_mutex_t lock;        /* everything below */
    int fd;                      /* the copy in hand (unlinked), or -1 */
    uint64_t id;
    uint64_t size;
    uint64_t applied;
};

int as_snapshot_source_new(as_store_t *s, const char *data_dir,
                           as_snapshot_source_t **out, as_status_t *st)
{
    as_snapshot_source_t *src = calloc(1, sizeof(*src));

    if (src == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    src->store = s;
    src->fd = -1;
    if (snprintf(src->dir, sizeof(src->dir), "%s/%s", data_dir,
                 AS_SNAPSHOT_OUT_DIR) >= (int)sizeof(src->dir)) {
        free(src);
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "data directory path is too long");
    }
    pthread_mutex_init(&src->lock, NULL);
    /* A copy being made when the process stopped. */
    remove_dir(src->dir);
    *out = src;
    return 0;
}

/* Lets the copy in hand go; call with the lock. */
static void drop_copy(as_snapshot_source_t *src)
{
    if (src->fd >= 0) {
        close(src->fd);
        as_log_info("snapshot copy %016llx let go",
                    (unsigned long long)src->id);
    }
    src->fd = -1;
    src->id = src->size = src->applied = 0;
}

/* Makes a new copy (as_store_backup into DATA/snapshot-out), opens it and
 * unlinks it; call with the lock. Returns 0 or a code with st set. */
static int make_copy(as_snapshot_source_t *src, as_status_t *st)
{
    char file[4096 + 16];
    as_store_copy_info_t info;
    uint64_t bytes, last_seq, id;
    int64_t t0 = as_clock_mono_ms();
    int fd, rc;

    drop_copy(src);
    remove_dir(src->dir);
    if (mkdir(src->dir, 0700) != 0)
        return as_disk_error(src->dir, errno, "mkdir", st);
    snprintf(file, sizeof(file), "%s/data.mdb", src->dir);
    if ((rc = as_store_backup(src->store, src->dir, 1, &bytes, &last_seq,
                              st)) != 0)
        goto out_remove;
    if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = as_status_set(st, AS_CODE_INTERNAL, "open %s: %s", file,
                           strerror(errno));
        goto out_remove;
    }
    if ((rc = as_store_copy_info(file, &info, st)) != 0) {
        close(fd);
        goto out_remove;
    }
    if (getrandom(&id, sizeof(id), 0) != sizeof(id))
        id = (uint64_t)as_clock_wall_ms() ^ ((uint64_t)getpid() << 32);
    src->fd = fd;
    src->id = id ? id : 1;
    src->size = bytes;
    src->applied = info.applied;
    as_log_info("snapshot copy %016llx made: %llu bytes, raft index %llu, "
                "last seq %llu, in %lld ms", (unsigned long long)src->id,
                (unsigned long long)bytes, (unsigned long long)info.applied,
                (unsigned long long)last_seq,
                (long long)(as_clock_mono_ms() - t0));
    rc = 0;

out_remove:
    /* The open descriptor keeps the copy; its name goes now. */
    remove_dir(src->dir);
    return rc;
}

int as_snapshot_source_read(as_snapshot_source_t *src, uint64_t min_index,
                            uint64_t copy_id, uint64_t offset, size_t max,
                            as_snapshot_chunk_t *out, as_status_t *st)
{
    size_t n = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (max == 0 || max > AS_SNAPSHOT_CHUNK)
        max = AS_SNAPSHOT_CHUNK;
    pthread_mutex_lock(&src->lock);
    if (copy_id == 0) {
        if ((src->fd < 0 || src->applied < min_index) &&
            (rc = make_copy(src, st)) != 0)
            goto out_unlock;
        if (src->applied < min_index) {
            rc = as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                               "this member's store holds raft index %llu, "
                               "not yet %llu",
                               (unsigned long long)src->applied,
                               (unsigned long long)min_index);
            goto out_unlock;
        }
    } else if (src->fd < 0 || copy_id != src->id) {
        rc = as_status_set(st, AS_CODE_NOT_FOUND,
                           "snapshot copy %016llx is no longer served; "
                           "start again", (unsigned long long)copy_id);
        goto out_unlock;
    }
    if (offset > src->size) {
        rc = as_status_set(st, AS_CODE_OUT_OF_RANGE,
                           "offset %llu is past the copy's %llu bytes",
                           (unsigned long long)offset,
                           (unsigned long long)src->size);
        goto out_unlock;
    }
    out->copy_id = src->id;
    out->size = src->size;
    out->applied = src->applied;
    out->offset = offset;
    if (copy_id != 0 && offset == src->size) {
        drop_copy(src);
        goto out_unlock;
    }
    if (src->size - offset < max)
        n = (size_t)(src->size - offset);
    else
        n = max;
    if (n > 0 && (out->data = malloc(n)) == NULL) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory "
                           "for a %zu-byte chunk", n);
        goto out_unlock;
    }
    while (out->len < n) {
        ssize_t got = pread(src->fd, (char *)out->data + out->len,
                            n - out->len, (off_t)(offset + out->len));

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = as_status_set(st, AS_CODE_INTERNAL, "read snapshot copy at "
                               "%llu: %s", (unsigned long long)offset,
                               got < 0 ? strerror(errno) : "short file");
            free(out->data);
            memset(out, 0, sizeof(*out));
            goto out_unlock;
        }
        out->len += (size_t)got;
    }
    out->checksum = XXH3_64bits(out->data, out->len);

out_unlock:
    pthread_mutex_unlock(&src->lock);
    return rc;
}

void as_snapshot_source_free(as_snapshot_source_t *src)
{
    if (src == NULL)
        return;
    drop_copy(src);
    pthread_mutex_destroy(&src->lock);
    free(src);
}

/* ------------------------------------------------------------ receiving */

/* Writes all of buf at offset of fd. Returns 0 or an errno. */
static int write_all(int fd, const void *buf, size_t len, uint64_t offset)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
                           (off_t)(offset + done));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        done += (size_t)n;
    }
    return 0;
}

/* One ClusterSnapshot call. Returns 0 with *resp set, or a code. */
static int call_chunk(const as_snapshot_fetch_opts_t *o, const char *ep,
                      uint64_t copy_id, uint64_t offset, int ms,
                      Artstore__V1__ClusterSnapshotResponse **resp,
                      as_status_t *st)
{
    Artstore__V1__ClusterSnapshotRequest req =
        ARTSTORE__V1__CLUSTER_SNAPSHOT_REQUEST__INIT;
    size_t chunk = o->chunk && o->chunk < AS_SNAPSHOT_CHUNK
                       ? o->chunk : AS_SNAPSHOT_CHUNK;

    req.has_min_index = req.has_copy_id = req.has_offset = 1;
    req.has_max_bytes = 1;
    req.min_index = o->min_index;
    req.copy_id = copy_id;
    req.offset = offset;
    req.max_bytes = (uint32_t)chunk;
    return as_peer_call(ep, o->token, "ClusterSnapshot", &req.base, ms,
                        chunk + 256,
                        &artstore__v1__cluster_snapshot_response__descriptor,
                        (ProtobufCMessage **)resp, st);
}

/* Checks one answer against what was asked and the copy so far. */
static int check_chunk(const Artstore__V1__ClusterSnapshotResponse *r,
                       const char *ep, uint64_t copy_id, uint64_t size,
                       uint64_t offset, size_t asked, as_status_t *st)
{
    if ((copy_id != 0 && r->copy_id != copy_id) || r->copy_id == 0 ||
        (copy_id != 0 && r->size != size) || r->offset != offset ||
        r->data.len > asked || r->data.len > r->size - offset ||
        (r->data.len == 0 && offset < r->size) ||
        XXH3_64bits(r->data.data, r->data.len) != r->checksum)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "%s answered chunk %llu of snapshot copy "
                             "%016llx wrongly (copy %016llx, offset %llu, "
                             "%zu bytes of %llu, or a checksum mismatch)",
                             ep, (unsigned long long)offset,
                             (unsigned long long)copy_id,
                             (unsigned long long)r->copy_id,
                             (unsigned long long)r->offset, r->data.len,
                             (unsigned long long)r->size);
    return 0;
}

/* Downloads the copy of the member at ep into partial (created) and
 * renames it to file. Returns 0 or a code with st set (partial removed). */
static int download(const as_snapshot_fetch_opts_t *o, const char *ep,
                    const char *partial, const char *file, uint64_t *applied,
                    as_status_t *st)
{
    Artstore__V1__ClusterSnapshotResponse *r = NULL;
    size_t asked = o->chunk && o->chunk < AS_SNAPSHOT_CHUNK
                       ? o->chunk : AS_SNAPSHOT_CHUNK;
    uint64_t copy_id = 0, size = 0, offset = 0;
    int64_t t0 = as_clock_mono_ms();
    int fd, rc, err;

    Artstore__V1__PingRequest ping = ARTSTORE__V1__PING_REQUEST__INIT;

    if ((rc = as_peer_call(ep, o->token, "Ping", &ping.base, PROBE_MS, 0,
                           NULL, NULL, st)) != 0)
        return rc;
    fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return as_disk_error(o->data_dir, errno, "create snapshot copy", st);
    for (;;) {
        rc = call_chunk(o, ep, copy_id, offset,
                        copy_id == 0 ? (o->prepare_ms ? o->prepare_ms
                                                      : DEFAULT_PREPARE_MS)
                                     : (o->chunk_ms ? o->chunk_ms
                                                    : DEFAULT_CHUNK_MS),
                        &r, st);
        if (rc != 0)
            goto out_close;
        if ((rc = check_chunk(r, ep, copy_id, size, offset, asked, st)) != 0)
            goto out_free;
        if (copy_id == 0) {
            copy_id = r->copy_id;
            size = r->size;
            *applied = r->applied_index;
            if (r->applied_index < o->min_index) {
                rc = as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                                   "%s offered a copy of raft index %llu, "
                                   "not %llu", ep,
                                   (unsigned long long)r->applied_index,
                                   (unsigned long long)o->min_index);
                goto out_free;
            }
        }
        if ((err = write_all(fd, r->data.data, r->data.len, offset)) != 0) {
            rc = as_disk_error(o->data_dir, err, "write snapshot copy", st);
            goto out_free;
        }
        offset += r->data.len;
        artstore__v1__cluster_snapshot_response__free_unpacked(r, NULL);
        r = NULL;
        if (offset == size)
            break;
    }
    if (fsync(fd) != 0) {
        rc = as_disk_error(o->data_dir, errno, "flush snapshot copy", st);
        goto out_close;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = as_disk_error(o->data_dir, errno, "close snapshot copy", st);
        goto out_unlink;
    }
    fd = -1;
    if (rename(partial, file) != 0) {
        rc = as_status_set(st, AS_CODE_INTERNAL, "rename %s: %s", partial,
                           strerror(errno));
        goto out_unlink;
    }
    /* Let the member free its copy (it would be replaced or freed with
     * its process anyway). */
    if (call_chunk(o, ep, copy_id, size, 2000, &r, st) == 0)
        artstore__v1__cluster_snapshot_response__free_unpacked(r, NULL);
    as_log_info("snapshot copy %016llx from %s: %llu bytes, raft index "
                "%llu, in %lld ms", (unsigned long long)copy_id, ep,
                (unsigned long long)size, (unsigned long long)*applied,
                (long long)(as_clock_mono_ms() - t0));
    return 0;

out_free:
    if (r != NULL)
        artstore__v1__cluster_snapshot_response__free_unpacked(r, NULL);
out_close:
    if (fd >= 0)
        close(fd);
out_unlink:
    unlink(partial);
    return rc;
}

/* Checks the downloaded copy in dir (file its data.mdb): no problem as
 * artstored --check finds them, the schema, and the index it holds. */
static int check_copy(const char *dir, const char *file, uint64_t min_index,
                      uint64_t claimed, as_status_t *st)
{
    as_verify_report_t rep;
    as_store_copy_info_t info;
    char *text = NULL;
    size_t text_len = 0;
    FILE *err = open_memstream(&text, &text_len);
    int rc;

    if (err == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    rc = as_verify_run(dir, err, &rep);
    fclose(err);
    if (rc != 0 || rep.problems > 0) {
        if (text != NULL)
            text[strcspn(text, "\n")] = '\0';
        rc = as_status_set(st, AS_CODE_DATA_LOSS,
                           "the snapshot copy fails its check (%llu "
                           "problem(s)): %s", (unsigned long long)rep.problems,
                           text != NULL ? text : "");
        free(text);
        return rc;
    }
    free(text);
    if ((rc = as_store_copy_info(file, &info, st)) != 0)
        return rc;
    if (info.applied < min_index || info.applied != claimed)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "the snapshot copy holds raft index %llu, not "
                             "the %llu announced (needed: %llu)",
                             (unsigned long long)info.applied,
                             (unsigned long long)claimed,
                             (unsigned long long)min_index);
    return 0;
}

/* Sleeps ms milliseconds. */
static void pause_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int as_snapshot_fetch(const as_snapshot_fetch_opts_t *o, char *file,
                      size_t file_len, as_status_t *st)
{
    char dir[4096], partial[4096 + 32];
    int64_t deadline = o->deadline_ms ? o->deadline_ms
                                      : as_clock_wall_ms() +
                                            DEFAULT_DEADLINE_MS;
    uint64_t applied = 0;
    size_t i;
    int rc;

    if (snprintf(dir, sizeof(dir), "%s/%s", o->data_dir,
                 AS_SNAPSHOT_IN_DIR) >= (int)sizeof(dir) ||
        snprintf(file, file_len, "%s/data.mdb", dir) >= (int)file_len)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "data directory path is too long");
    snprintf(partial, sizeof(partial), "%s/%s", dir, AS_BACKUP_PARTIAL);
    rc = as_status_set(st, AS_CODE_UNAVAILABLE,
                       "no member to fetch a snapshot copy from is known");
    do {
        for (i = 0; i < o->n_endpoints; i++) {
            const char *ep = o->endpoints[i];

            /* Whatever an earlier try (or a crash) left. */
            remove_dir(dir);
            if (mkdir(dir, 0700) != 0)
                return as_disk_error(o->data_dir, errno, "mkdir "
                                     AS_SNAPSHOT_IN_DIR, st);
            if ((rc = download(o, ep, partial, file, &applied, st)) == 0 &&
                (rc = check_copy(dir, file, o->min_index, applied, st)) == 0)
                return 0;
            as_log_warn("snapshot copy from %s: %s", ep, st->msg);
            remove_dir(dir);
            if (rc == AS_CODE_RESOURCE_EXHAUSTED)
                return rc;       /* our disk: another member will not help */
            if (as_clock_wall_ms() >= deadline)
                break;
        }
        if (as_clock_wall_ms() + RETRY_PAUSE_MS >= deadline)
            break;
        pause_ms(RETRY_PAUSE_MS);
    } while (o->n_endpoints > 0);
    return rc;
}

void as_snapshot_remove_partial(const char *data_dir)
{
    char dir[4096 + 32];

    snprintf(dir, sizeof(dir), "%s/%s", data_dir, AS_SNAPSHOT_IN_DIR);
    remove_dir(dir);
}

int as_snapshot_install(as_store_t *s, const as_snapshot_fetch_opts_t *o,
                        as_status_t *st)
{
    char file[4096 + 32];
    int rc;

    if ((rc = as_snapshot_fetch(o, file, sizeof(file), st)) != 0)
        return rc;
    rc = as_store_replace(s, file, st);
    as_snapshot_remove_partial(o->data_dir);
    sync_dir(o->data_dir);
    return rc;
}
