/*
 * store.c - the LMDB store: articles, their indexes and the changelog.
 *
 * See store.h for the layout. The rules this file keeps:
 *   - a write checks everything it can before it changes anything, so a
 *     refused write (revision mismatch, not found) writes nothing;
 *   - counters (next_id, last_seq, tag_count) are read from `meta` at the
 *     start of each write transaction and written back before its commit,
 *     so they can never disagree with the data;
 *   - values returned from LMDB are copied (or packed into replies) before
 *     the transaction ends.
 */
#include "store_schema.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "article.h"
#include "be.h"
#include "clock.h"
#include "codec.h"
#include "log.h"
#include "overlay.h"
#include "store_story.h"

#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
/* Room a capped map, and the data directory's file system, must have left
 * for writes to be deferred. */
#define DEFER_ROOM ((uint64_t)256 << 20)
/* How long as_store_can_defer trusts a reading of the free space that
 * showed more than twice DEFER_ROOM (see there). */
#define DISK_RECHECK_MS 100

struct as_wtxn {
    as_store_t *s;
    MDB_txn *txn;
    uint64_t next_id;
    uint64_t last_seq;
    uint64_t tag_count;
    uint64_t applied;      /* meta raft_applied (cluster mode) */
    uint64_t applied_begin;
    uint64_t logged;       /* meta wal_applied (one node with a log) */
    uint64_t logged_begin;
    int64_t now_ms;
    int broken;            /* 0, or the LMDB error that broke the txn */
    int dirty;             /* something was written: commit it */
    int deferred;          /* a child of the deferred transaction: its
                              writes are staged in the overlay */
};

struct as_store {
    MDB_env *env;
    MDB_dbi dbi[AS_DBI_COUNT];
    int lock_fd;
    int lockmdb_fd;        /* LMDB's lock.mdb, kept open: alloc_lock_file */
    size_t map_size;
    size_t map_max;
    pthread_rwlock_t resize_lock;
    _Atomic uint64_t last_seq;
    _Atomic uint64_t applied;
    /* The writer thread's: articles are packed into pack and compressed
     * by wcodec (see codec.h) before they go into LMDB. */
    as_codec_t *wcodec;
    unsigned char *pack;
    size_t pack_cap;
    unsigned char *enc;    /* a value built from an as_put_pre_t */
    size_t enc_cap;
    size_t leaf_max;       /* longest value kept whole in `articles` */
    as_story_state_t *story;   /* used by the writing thread only */
    _Atomic uint64_t logged;
    /* Deferred commits (as_store_defer): the open parent transaction and
     * the thread that owns it. */
    as_wtxn_t dt;
    int dt_open;
    pthread_t dt_thread;
    as_overlay_t *ov;
    /* as_store_can_defer's last reading of the free space (the deferring
     * thread's) and when it was taken (0: never). */
    uint64_t disk_free;
    int64_t disk_checked_ms;
    /* Every reader, for the oldest open epoch (overlay.h), and to end
     * their transactions when the environment is replaced. */
    pthread_mutex_t readers_lock;
    struct as_reader *readers;
    /* The options it was opened with (as_store_replace opens it again). */
    as_store_opts_t opts;
    char *path;
    as_story_params_t story_params;
};

struct as_reader {
    as_store_t *s;
    MDB_txn *txn;
    as_codec_t *codec;     /* decompressed articles live until reader_end */
    int open;
    uint64_t epoch;        /* the overlay's epoch when the snapshot began */
    _Atomic uint64_t open_epoch;    /* epoch while open, else UINT64_MAX */
    void **ovbufs;         /* copies from the overlay, until reader_end */
    size_t n_ovbufs, cap_ovbufs;
    struct as_reader *next, *prev;
};

const as_dbi_def_t as_store_schema[AS_DBI_COUNT] = {
    [AS_DBI_ARTICLES] = { "articles", 0 },
    [AS_DBI_BY_URL] = { "by_url", 0 },
    [AS_DBI_BY_TAG] = { "by_tag", MDB_DUPSORT | MDB_DUPFIXED },
    [AS_DBI_BY_SOURCE] = { "by_source", MDB_DUPSORT | MDB_DUPFIXED },
    [AS_DBI_BY_TIME] = { "by_time", 0 },
    [AS_DBI_CHANGES] = { "changes", 0 },
    [AS_DBI_META] = { "meta", 0 },
    [AS_DBI_REQUESTS] = { "requests", 0 },
    [AS_DBI_REQUEST_LOG] = { "request_log", 0 },
    [AS_DBI_FINGERPRINTS] = { "fingerprints", 0 },
    [AS_DBI_STORIES] = { "stories", 0 },
    [AS_DBI_BY_STORY] = { "by_story", MDB_DUPSORT | MDB_DUPFIXED },
    [AS_DBI_STORY_TIME] = { "story_time", 0 },
    [AS_DBI_ARTICLE_TAILS] = { "article_tails", 0 },
    [AS_DBI_TAG_COUNTS] = { "tag_counts", 0 },
    [AS_DBI_FORMS] = { "forms", 0 },
};

/* ------------------------------------------------------------ helpers */

/* The longest value LMDB keeps in a leaf node under an 8-byte key: half a
 * page less the page header, rounded down to even, less the node's slot
 * (2), header (8) and key (8) (mdb.c's nodemax and mdb_node_add). Were
 * this wrong, values would land in overflow pages again: larger, never
 * incorrect. */
static size_t leaf_value_max(unsigned psize)
{
    return ((((size_t)psize - 16) / 2) & ~(size_t)1) - 2 - 8 - 8;
}

/* mdb_put for keys that usually come in ascending order (new ids, seqs):
 * with MDB_APPEND, a full page is left full and the new key starts the
 * next one; without it LMDB moves the page's last entry along, so pages
 * of large entries stay half empty (one 2 KB article head per 4 KB page
 * instead of two). A key that is not past the last one (an update) is
 * put the ordinary way. */
int as__put_ascending(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *d,
                      unsigned flags)
{
    int rc = mdb_put(txn, dbi, k, d, flags | MDB_APPEND);

    return rc == MDB_KEYEXIST ? mdb_put(txn, dbi, k, d, flags) : rc;
}

uint64_t as_time_key(int64_t t)
{
    return (uint64_t)t ^ ((uint64_t)1 << 63);
}

/* A write that fails with EIO while less than this is free on the data
 * directory's file system is taken for a full disk: LMDB reports a short
 * write (the file system filled up during it) as EIO. */
#define DISK_LOW_BYTES ((uint64_t)64 << 20)

/* The bytes of vfs's file system this process may write: root may use
 * the blocks reserved for it; others may not. */
static uint64_t disk_avail(const struct statvfs *vfs)
{
    return (uint64_t)(geteuid() == 0 ? vfs->f_bfree : vfs->f_bavail) *
           vfs->f_frsize;
}

int as_disk_error(const char *dir, int err, const char *what,
                  as_status_t *st)
{
    struct statvfs vfs;
    uint64_t avail = 0, total = 0;
    int known = statvfs(dir, &vfs) == 0;

    if (known) {
        avail = disk_avail(&vfs);
        total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    }
    if (err == ENOSPC || err == EDQUOT ||
        (err == EIO && known && avail < DISK_LOW_BYTES))
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "disk full: the data directory %s has %llu "
                             "bytes free of %llu (%s: %s); nothing was "
                             "written, writes resume once space is freed",
                             dir, (unsigned long long)avail,
                             (unsigned long long)total, what,
                             mdb_strerror(err));
    return as_status_set(st, AS_CODE_INTERNAL, "%s: %s", what,
                         mdb_strerror(err));
}

/* The data directory of the store (LMDB's copy of the path). */
static const char *store_dir(as_store_t *s)
{
    const char *path = NULL;

    if (mdb_env_get_path(s->env, &path) != 0 || path == NULL)
        return ".";
    return path;
}

/* Records an LMDB error as INTERNAL, or RESOURCE_EXHAUSTED for a full map
 * or a full disk (as_disk_error), marks the transaction broken, and
 * returns the code. */
static int txn_fail(as_wtxn_t *t, int mrc, const char *what, as_status_t *st)
{
    char lwhat[64];

    if (st == NULL) {
        as_status_t ignored;

        return txn_fail(t, mrc, what, &ignored);
    }
    t->broken = mrc;
    if (mrc == MDB_MAP_FULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "store is full (map_size=%zu bytes): %s",
                             t->s->map_size, what);
    snprintf(lwhat, sizeof(lwhat), "lmdb %s", what);
    return as_disk_error(store_dir(t->s), mrc, lwhat, st);
}

int as__meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name,
                     uint64_t *v)
{
    MDB_val k = { strlen(name), (void *)name }, d;
    int rc = mdb_get(txn, dbi, &k, &d);

    if (rc == MDB_NOTFOUND) {
        *v = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (d.mv_size != 8)
        return MDB_CORRUPTED;
    *v = as_be_get64(d.mv_data);
    return 0;
}

static int meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name,
                        uint64_t v)
{
    unsigned char buf[8];
    MDB_val k = { strlen(name), (void *)name }, d = { 8, buf };

    as_be_put64(buf, v);
    return mdb_put(txn, dbi, &k, &d, 0);
}

/* ------------------------------------------------------------ lifecycle */

/* Takes the data directory's LOCK file for this process, so that two
 * servers never share one store (their counters would diverge). */
static int lock_dir(const char *path, int *fd_out, as_status_t *st)
{
    char lock_path[4096];
    char pid[32];
    int fd, n;

    snprintf(lock_path, sizeof(lock_path), "%s/LOCK", path);
    fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return as_status_set(st, AS_CODE_INTERNAL, "open %s: %s", lock_path,
                             strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        n = (int)read(fd, pid, sizeof(pid) - 1);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        return as_status_set(st, AS_CODE_UNAVAILABLE,
                             "data directory %s is in use by another server "
                             "(pid %s)", path, pid[0] ? pid : "?");
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        as_log_warn("cannot write pid to %s: %s", lock_path, strerror(errno));
    *fd_out = fd;
    return 0;
}

int as_store_check_partial(const char *dir, as_status_t *st)
{
    char path[4096];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", dir, AS_BACKUP_PARTIAL);
    if (stat(path, &sb) == 0)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "%s holds an incomplete backup (%s, %lld bytes, "
                             "was never completed); take the backup again",
                             dir, AS_BACKUP_PARTIAL, (long long)sb.st_size);
    return 0;
}

int as_store_check_size(MDB_env *env, const char *path, as_status_t *st)
{
    struct stat sb;
    MDB_envinfo info;
    MDB_stat ms;
    uint64_t need;

    if (stat(path, &sb) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "stat %s: %s", path,
                             strerror(errno));
    if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &ms) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "cannot read the meta "
                             "page of %s", path);
    need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    if ((uint64_t)sb.st_size < need)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "%s is truncated: %lld bytes, but its last page "
                             "ends at %llu bytes (an interrupted copy, or a "
                             "full disk); restore it from a backup", path,
                             (long long)sb.st_size, (unsigned long long)need);
    return 0;
}

/*
 * Allocates the blocks of LMDB's lock file (dir/lock.mdb). LMDB sizes it
 * with ftruncate, a sparse file, and writes a reader's slot through a
 * shared mapping the first time a reader uses it: on a full disk, the
 * first reader on a page not yet allocated would kill the process with
 * SIGBUS. Allocated here, a full disk costs writes, never the server.
 * Returns 0, or RESOURCE_EXHAUSTED (as_disk_error) when even that does not
 * fit; a file system without fallocate is left as it is.
 */
static int alloc_lock_file(as_store_t *s, const char *dir, as_status_t *st)
{
    char path[4096];
    struct stat sb;
    int rc = 0;

    /* The descriptor stays open until the environment is closed: closing
     * any descriptor of a file drops every fcntl lock the process holds
     * on it, and LMDB marks its readers alive with such locks on this
     * very file. */
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    if ((s->lockmdb_fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return 0;
    if (fstat(s->lockmdb_fd, &sb) == 0 && sb.st_size > 0 &&
        (rc = posix_fallocate(s->lockmdb_fd, 0, sb.st_size)) != 0 &&
        rc != EOPNOTSUPP && rc != EINVAL)
        return as_disk_error(dir, rc, "allocate lock.mdb", st);
    return 0;
}

/* Writes tag_counts' key for (count, tag) into buf (AS_TAG_COUNT_KEY_MAX
 * bytes); returns its length, 0 for a tag too long for a key. */
static size_t tag_count_key(unsigned char *buf, uint64_t count,
                            const void *tag, size_t len)
{
    if (len > AS_TAG_COUNT_KEY_MAX - 8)
        return 0;
    as_be_put64(buf, UINT64_MAX - count);
    memcpy(buf + 8, tag, len);
    return 8 + len;
}

/* Moves tag's entry in tag_counts from count `from` to count `to` (0:
 * none). Returns 0 or an LMDB error. */
static int tag_count_move(MDB_txn *txn, MDB_dbi dbi, const void *tag,
                          size_t len, uint64_t from, uint64_t to)
{
    unsigned char buf[AS_TAG_COUNT_KEY_MAX];
    MDB_val k = { 0, buf }, d = { 0, NULL };
    int rc;

    if (from > 0 && (k.mv_size = tag_count_key(buf, from, tag, len)) > 0 &&
        (rc = mdb_del(txn, dbi, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (to > 0 && (k.mv_size = tag_count_key(buf, to, tag, len)) > 0 &&
        (rc = mdb_put(txn, dbi, &k, &d, 0)) != 0)
        return rc;
    return 0;
}

/*
 * as_store_write callback: builds tag_counts from by_tag (a store of
 * schema version 1 had none) and records schema version 2, all in one
 * transaction: a crash leaves version 1, and the next open builds again.
 * arg is the caller's as_status_t.
 */
static int build_tag_counts(as_wtxn_t *t, void *arg)
{
    MDB_txn *txn = as__wtxn_txn(t);
    MDB_dbi counts = t->s->dbi[AS_DBI_TAG_COUNTS];
    MDB_cursor *c;
    MDB_val k, d;
    size_t count;
    uint64_t n = 0;
    int rc;

    if ((rc = mdb_drop(txn, counts, 0)) != 0)
        return txn_fail(t, rc, "clear tag_counts", arg);
    if ((rc = mdb_cursor_open(txn, t->s->dbi[AS_DBI_BY_TAG], &c)) != 0)
        return txn_fail(t, rc, "cursor", arg);
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_NODUP)) {
        if ((rc = mdb_cursor_count(c, &count)) != 0 ||
            (rc = tag_count_move(txn, counts, k.mv_data, k.mv_size, 0,
                                 count)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return txn_fail(t, rc, "build tag_counts", arg);
    if ((rc = meta_put_u64(txn, t->s->dbi[AS_DBI_META],
                           AS_META_SCHEMA_VERSION, AS_SCHEMA_VERSION)) != 0)
        return txn_fail(t, rc, "write schema_version", arg);
    as_log_info("tag_counts: %llu tags indexed", (unsigned long long)n);
    return 0;
}

/* Closes s's environment and the lock file descriptor kept with it. */
static void close_env(as_store_t *s)
{
    mdb_env_close(s->env);
    s->env = NULL;
    if (s->lockmdb_fd >= 0)
        close(s->lockmdb_fd);
    s->lockmdb_fd = -1;
}

/*
 * Creates and opens s's LMDB environment in opts->path (its map size,
 * readers and flags from opts), checks data.mdb is not truncated,
 * allocates the lock file, and clears the reader slots of dead processes.
 * Returns 0, or an error in st with the environment closed (s->env NULL).
 */
static int open_env(as_store_t *s, const as_store_opts_t *opts,
                    as_status_t *st)
{
    MDB_envinfo info;
    MDB_stat ms;
    char file[4096];
    unsigned flags;
    int rc, dead = 0;

    s->map_size = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    s->map_max = opts->map_max;
    if ((rc = mdb_env_create(&s->env)) != 0) {
        s->env = NULL;
        return as_status_set(st, AS_CODE_INTERNAL, "mdb_env_create: %s",
                             mdb_strerror(rc));
    }
    mdb_env_set_maxdbs(s->env, AS_DBI_COUNT + 2);
    mdb_env_set_maxreaders(s->env, opts->max_readers ? opts->max_readers : 126);
    mdb_env_set_mapsize(s->env, s->map_size);
    /* MDB_NOTLS: read transactions belong to as_reader_t handles, not to
     * threads, so a worker may keep its reset handle between requests. */
    flags = MDB_NOTLS | (opts->no_sync ? MDB_NOSYNC : 0);
    if ((rc = mdb_env_open(s->env, opts->path, flags, 0644)) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "open store in %s: %s",
                      opts->path, mdb_strerror(rc));
        goto out_env;
    }
    snprintf(file, sizeof(file), "%s/data.mdb", opts->path);
    if (as_store_check_size(s->env, file, st) != 0 ||
        alloc_lock_file(s, opts->path, st) != 0)
        goto out_env;
    mdb_env_stat(s->env, &ms);
    s->leaf_max = leaf_value_max(ms.ms_psize);
    /* An existing, larger store keeps its size. */
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    if (s->map_max && s->map_max < s->map_size)
        s->map_max = s->map_size;

    mdb_reader_check(s->env, &dead);
    if (dead > 0)
        as_log_info("cleared %d stale reader slot(s) of dead processes", dead);
    return 0;

out_env:
    close_env(s);
    return st->code;
}

/*
 * Opens every sub-database of the schema in txn, writes the meta keys of
 * a new store or checks the schema version of an existing one (dir names
 * it in the error; *migrate is set for version 1, whose tag_counts the
 * caller builds), and reads last_seq, raft_applied and wal_applied.
 * Returns 0 or an
 * error in st.
 */
static int open_schema(as_store_t *s, MDB_txn *txn, const char *dir,
                       int *migrate, uint64_t *last_seq, uint64_t *applied,
                       uint64_t *logged, as_status_t *st)
{
    MDB_dbi meta;
    uint64_t version;
    int rc, i;

    *migrate = 0;
    for (i = 0; i < AS_DBI_COUNT; i++)
        if ((rc = mdb_dbi_open(txn, as_store_schema[i].name,
                               as_store_schema[i].flags | MDB_CREATE,
                               &s->dbi[i])) != 0)
            return as_status_set(st, AS_CODE_INTERNAL, "open db %s: %s",
                                 as_store_schema[i].name, mdb_strerror(rc));
    meta = s->dbi[AS_DBI_META];
    if ((rc = as__meta_get_u64(txn, meta, AS_META_SCHEMA_VERSION,
                               &version)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "read schema_version: %s",
                             mdb_strerror(rc));
    if (version == 0) {
        if ((rc = meta_put_u64(txn, meta, AS_META_SCHEMA_VERSION,
                               AS_SCHEMA_VERSION)) != 0 ||
            (rc = meta_put_u64(txn, meta, AS_META_NEXT_ID, 1)) != 0)
            return as_status_set(st, AS_CODE_INTERNAL, "init meta: %s",
                                 mdb_strerror(rc));
    } else if (version == 1) {
        *migrate = 1;  /* tag_counts is built later (build_tag_counts) */
    } else if (version != AS_SCHEMA_VERSION) {
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "data in %s has schema version %llu; this "
                             "server reads version %d", dir,
                             (unsigned long long)version, AS_SCHEMA_VERSION);
    }
    if ((rc = as__meta_get_u64(txn, meta, AS_META_LAST_SEQ, last_seq)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "read last_seq: %s",
                             mdb_strerror(rc));
    if ((rc = as__meta_get_u64(txn, meta, AS_META_RAFT_APPLIED,
                               applied)) != 0 ||
        (rc = as__meta_get_u64(txn, meta, AS_META_WAL_APPLIED, logged)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "read raft_applied: %s",
                             mdb_strerror(rc));
    return 0;
}

/* Initializes s's resize lock, which map growth takes for writing. */
static void init_resize_lock(as_store_t *s)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
    /* Growth must not starve behind a steady stream of readers. */
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->resize_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

int as_store_open(const as_store_opts_t *opts, as_store_t **out,
                  as_status_t *st)
{
    as_store_t *s;
    MDB_txn *txn;
    uint64_t last_seq, applied, logged;
    int rc, outdated, migrate;

    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    s->lock_fd = -1;
    s->lockmdb_fd = -1;
    s->opts = *opts;
    if (opts->story_params != NULL) {
        s->story_params = *opts->story_params;
        s->opts.story_params = &s->story_params;
    }
    if ((s->path = strdup(opts->path)) == NULL) {
        free(s);
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    s->opts.path = s->path;
    if ((s->wcodec = as_codec_new(opts->compress_level)) == NULL) {
        as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out_free;
    }
    if (mkdir(opts->path, 0755) != 0 && errno != EEXIST) {
        as_status_set(st, AS_CODE_INTERNAL, "mkdir %s: %s", opts->path,
                      strerror(errno));
        goto out_free;
    }
    if (lock_dir(opts->path, &s->lock_fd, st) != 0)
        goto out_free;
    if (as_store_check_partial(opts->path, st) != 0 ||
        open_env(s, opts, st) != 0)
        goto out_unlock;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "begin: %s", mdb_strerror(rc));
        goto out_env;
    }
    if (open_schema(s, txn, opts->path, &migrate, &last_seq, &applied,
                    &logged, st) != 0 ||
        as__story_open(s, txn, opts->story_params, !opts->no_stories,
                       &s->story, &outdated, st) != 0)
        goto out_txn;
    if ((rc = mdb_txn_commit(txn)) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "commit: %s", mdb_strerror(rc));
        goto out_story;
    }
    atomic_store(&s->last_seq, last_seq);
    atomic_store(&s->applied, applied);
    atomic_store(&s->logged, logged);
    if ((s->ov = as_overlay_new()) == NULL) {
        as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out_story;
    }
    pthread_mutex_init(&s->readers_lock, NULL);
    init_resize_lock(s);
    if (migrate) {
        as_log_info("store in %s has schema version 1: building the tag "
                    "count index (tag_counts)", opts->path);
        if (as_store_write(s, build_tag_counts, st, st) != 0) {
            as_store_close(s);
            return st->code;
        }
    }
    *out = s;
    return 0;

out_txn:
    mdb_txn_abort(txn);
out_story:
    as__story_close(s->story);
out_env:
    mdb_env_close(s->env);
    if (s->lockmdb_fd >= 0)
        close(s->lockmdb_fd);
out_unlock:
    close(s->lock_fd);
out_free:
    as_codec_free(s->wcodec);
    free(s->path);
    free(s);
    return st->code;
}

void as_store_close(as_store_t *s)
{
    as_status_t st;

    if (s == NULL)
        return;
    /* The deferred transaction belongs to its thread (LMDB's writer lock
     * is that thread's): its owner commits it before it ends. */
    if (s->dt_open && pthread_equal(s->dt_thread, pthread_self()) &&
        as_store_commit(s, &st) != 0)
        as_log_error("closing the store: %s", st.msg);
    as_overlay_free(s->ov);
    pthread_mutex_destroy(&s->readers_lock);
    as__story_close(s->story);
    mdb_env_close(s->env);
    if (s->lockmdb_fd >= 0)
        close(s->lockmdb_fd);
    pthread_rwlock_destroy(&s->resize_lock);
    close(s->lock_fd);
    as_codec_free(s->wcodec);
    free(s->pack);
    free(s->path);
    free(s->enc);
    free(s);
}

/* Both take the resize lock shared, like a reader: as_store_replace
 * closes the environment under it. */
int as_store_reader_check(as_store_t *s)
{
    int dead = 0, rc;

    pthread_rwlock_rdlock(&s->resize_lock);
    rc = mdb_reader_check(s->env, &dead);
    pthread_rwlock_unlock(&s->resize_lock);
    return rc != 0 ? -1 : dead;
}

int as_store_sync(as_store_t *s)
{
    int rc;

    pthread_rwlock_rdlock(&s->resize_lock);
    rc = mdb_env_sync(s->env, 1);
    pthread_rwlock_unlock(&s->resize_lock);
    return rc;
}

uint64_t as_store_last_seq(as_store_t *s)
{
    return atomic_load(&s->last_seq);
}

int as_store_copy_info(const char *file, as_store_copy_info_t *out,
                       as_status_t *st)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = mdb_env_create(&env)) != 0)
        goto out_lmdb;
    mdb_env_set_maxdbs(env, AS_DBI_COUNT + 2);
    if ((rc = mdb_env_open(env, file, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS |
                                          MDB_NOSUBDIR, 0644)) != 0)
        goto out_env;
    if (as_store_check_size(env, file, st) != 0) {
        mdb_env_close(env);
        return st->code;
    }
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
        goto out_env;
    if ((rc = mdb_dbi_open(txn, as_store_schema[AS_DBI_META].name, 0,
                           &dbi)) == 0 &&
        (rc = as__meta_get_u64(txn, dbi, AS_META_SCHEMA_VERSION,
                               &out->schema_version)) == 0 &&
        (rc = as__meta_get_u64(txn, dbi, AS_META_LAST_SEQ,
                               &out->last_seq)) == 0)
        rc = as__meta_get_u64(txn, dbi, AS_META_RAFT_APPLIED, &out->applied);
    mdb_txn_abort(txn);
out_env:
    mdb_env_close(env);
    if (rc == 0)
        return 0;
out_lmdb:
    return as_status_set(st, AS_CODE_INTERNAL, "read back %s: %s", file,
                         mdb_strerror(rc));
}

/* Flushes directory dir, so that a rename in it is durable. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int as_store_backup(as_store_t *s, const char *dir, int compact,
                    uint64_t *bytes, uint64_t *last_seq, as_status_t *st)
{
    char file[4096], partial[4096];
    as_store_copy_info_t info;
    struct stat sb;
    int rc, fd;

    if (snprintf(partial, sizeof(partial), "%s/%s", dir,
                 AS_BACKUP_PARTIAL) >= (int)sizeof(partial))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "backup path is too long");
    snprintf(file, sizeof(file), "%s/data.mdb", dir);
    /* Written under a temporary name and renamed once complete and
     * flushed: a data.mdb in a backup directory is always whole, and an
     * interrupted copy is recognizable (as_store_check_partial). */
    fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "create %s: %s", partial, strerror(errno));
    /* Shared, like a reader: growth must not remap under the copy. */
    pthread_rwlock_rdlock(&s->resize_lock);
    rc = mdb_env_copyfd2(s->env, fd, compact ? MDB_CP_COMPACT : 0);
    pthread_rwlock_unlock(&s->resize_lock);
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc != 0) {
        as_status_set(st, rc == ENOSPC ? AS_CODE_RESOURCE_EXHAUSTED
                                       : AS_CODE_INTERNAL,
                      "copy to %s: %s", partial, mdb_strerror(rc));
        goto out_remove;
    }
    if (stat(partial, &sb) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "stat %s: %s", partial,
                      strerror(errno));
        goto out_remove;
    }
    if (as_store_copy_info(partial, &info, st) != 0)
        goto out_remove;
    *last_seq = info.last_seq;
    if (rename(partial, file) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "rename %s to data.mdb: %s",
                      partial, strerror(errno));
        goto out_remove;
    }
    sync_dir(dir);
    *bytes = (uint64_t)sb.st_size;
    return 0;

out_remove:
    unlink(partial);
    return st->code;
}

/* Opens s's environment in s->path with its options and reloads its
 * counters and story tables (as_store_open's steps for an existing store,
 * without the migration). Returns 0 or a code with st set; on failure the
 * environment is closed. */
static int reopen_env(as_store_t *s, as_status_t *st)
{
    uint64_t last_seq, applied, logged;
    int rc, migrate, outdated;
    MDB_txn *txn;

    if (open_env(s, &s->opts, st) != 0)
        return st->code;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "begin: %s", mdb_strerror(rc));
        goto out_env;
    }
    if (open_schema(s, txn, s->path, &migrate, &last_seq, &applied, &logged,
                    st) != 0 ||
        as__story_open(s, txn, s->opts.story_params, !s->opts.no_stories,
                       &s->story, &outdated, st) != 0) {
        mdb_txn_abort(txn);
        goto out_env;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "commit: %s", mdb_strerror(rc));
        as__story_close(s->story);
        s->story = NULL;
        goto out_env;
    }
    if (outdated)
        as_log_warn("the store taken over in %s was built with other story "
                    "parameters; its stories stay as they are until a "
                    "restart rebuilds them", s->path);
    atomic_store(&s->last_seq, last_seq);
    atomic_store(&s->applied, applied);
    atomic_store(&s->logged, logged);
    return 0;

out_env:
    close_env(s);
    return st->code;
}

int as_store_replace(as_store_t *s, const char *file, as_status_t *st)
{
    char data[4096];
    as_store_copy_info_t info;
    as_status_t again;
    as_reader_t *r;
    int rc;

    if (s->dt_open && !pthread_equal(s->dt_thread, pthread_self()))
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "another thread holds deferred writes");
    if ((rc = as_store_copy_info(file, &info, st)) != 0)
        return rc;
    if (info.schema_version != AS_SCHEMA_VERSION)
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "%s has schema version %llu; this server "
                             "writes version %d", file,
                             (unsigned long long)info.schema_version,
                             AS_SCHEMA_VERSION);
    if ((rc = as_store_commit(s, st)) != 0)
        return rc;
    snprintf(data, sizeof(data), "%s/data.mdb", s->path);
    /* Exclusive: no snapshot is open, no backup copies, no sync runs. */
    pthread_rwlock_wrlock(&s->resize_lock);
    pthread_mutex_lock(&s->readers_lock);
    for (r = s->readers; r != NULL; r = r->next)
        if (r->txn != NULL) {
            mdb_txn_abort(r->txn);
            r->txn = NULL;
        }
    pthread_mutex_unlock(&s->readers_lock);
    as__story_close(s->story);
    s->story = NULL;
    close_env(s);
    if (rename(file, data) != 0) {
        rc = as_status_set(st, AS_CODE_INTERNAL, "rename %s to %s: %s", file,
                           data, strerror(errno));
    } else {
        sync_dir(s->path);
        rc = 0;
    }
    /* The new store, or the old one again when the rename failed. */
    if (reopen_env(s, rc == 0 ? st : &again) != 0) {
        as_log_error("cannot open the store in %s again after replacing it "
                     "(%s); stopping: a restart opens it", s->path,
                     rc == 0 ? st->msg : again.msg);
        abort();
    }
    pthread_rwlock_unlock(&s->resize_lock);
    if (rc == 0)
        as_log_info("store in %s replaced: raft index %llu, last seq %llu",
                    s->path, (unsigned long long)info.applied,
                    (unsigned long long)info.last_seq);
    return rc;
}

MDB_env *as__store_env(as_store_t *s)
{
    return s->env;
}

MDB_dbi as__store_dbi(as_store_t *s, enum as_dbi which)
{
    return s->dbi[which];
}

/* ------------------------------------------------------------ writes */

/* Grows the map (doubling, up to map_max) while no transaction is open in
 * this process: the writer has aborted its own, and the exclusive lock
 * waits for every reader to end. */
static int grow_map(as_store_t *s, as_status_t *st)
{
    size_t next = s->map_size * 2;
    int rc;

    if (s->map_max && next > s->map_max)
        next = s->map_max;
    if (next <= s->map_size)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "store is full: map_size=%zu reached the limit "
                             "map_max=%zu", s->map_size, s->map_max);
    pthread_rwlock_wrlock(&s->resize_lock);
    rc = mdb_env_set_mapsize(s->env, next);
    pthread_rwlock_unlock(&s->resize_lock);
    if (rc != 0)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "cannot grow map to %zu bytes: %s", next,
                             mdb_strerror(rc));
    as_log_info("store map grown from %zu to %zu bytes", s->map_size, next);
    s->map_size = next;
    return 0;
}

static int wtxn_begin(as_store_t *s, as_wtxn_t *t, as_status_t *st)
{
    MDB_dbi meta = s->dbi[AS_DBI_META];
    int rc;

    memset(t, 0, sizeof(*t));
    t->s = s;
    t->now_ms = as_clock_wall_ms();
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &t->txn)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "begin write: %s",
                             mdb_strerror(rc));
    if ((rc = as__meta_get_u64(t->txn, meta, AS_META_NEXT_ID,
                               &t->next_id)) != 0 ||
        (rc = as__meta_get_u64(t->txn, meta, AS_META_LAST_SEQ,
                               &t->last_seq)) != 0 ||
        (rc = as__meta_get_u64(t->txn, meta, AS_META_TAG_COUNT,
                               &t->tag_count)) != 0 ||
        (rc = as__meta_get_u64(t->txn, meta, AS_META_RAFT_APPLIED,
                               &t->applied)) != 0 ||
        (rc = as__meta_get_u64(t->txn, meta, AS_META_WAL_APPLIED,
                               &t->logged)) != 0) {
        mdb_txn_abort(t->txn);
        return as_status_set(st, AS_CODE_INTERNAL, "read counters: %s",
                             mdb_strerror(rc));
    }
    t->applied_begin = t->applied;
    t->logged_begin = t->logged;
    if ((rc = as__story_txn_begin(t, st)) != 0) {
        mdb_txn_abort(t->txn);
        return rc;
    }
    return 0;
}

/* Writes the transaction's counters into meta before its commit. Returns
 * 0 or an LMDB error. */
static int put_counters(as_wtxn_t *t)
{
    MDB_dbi meta = t->s->dbi[AS_DBI_META];
    int mrc;

    if ((mrc = meta_put_u64(t->txn, meta, AS_META_NEXT_ID, t->next_id)) != 0 ||
        (mrc = meta_put_u64(t->txn, meta, AS_META_LAST_SEQ,
                            t->last_seq)) != 0 ||
        (mrc = meta_put_u64(t->txn, meta, AS_META_TAG_COUNT,
                            t->tag_count)) != 0 ||
        (t->applied != t->applied_begin &&
         (mrc = meta_put_u64(t->txn, meta, AS_META_RAFT_APPLIED,
                             t->applied)) != 0) ||
        (t->logged != t->logged_begin &&
         (mrc = meta_put_u64(t->txn, meta, AS_META_WAL_APPLIED,
                             t->logged)) != 0))
        return mrc;
    return 0;
}

int as_store_write(as_store_t *s, as_store_write_fn fn, void *arg,
                   as_status_t *st)
{
    as_wtxn_t t;
    int rc, mrc;

    /* LMDB has one writer: the thread that holds the deferred transaction
     * commits it first (another thread waits for its commit). */
    if (s->dt_open && pthread_equal(s->dt_thread, pthread_self()) &&
        (rc = as_store_commit(s, st)) != 0)
        return rc;
    for (;;) {
        if ((rc = wtxn_begin(s, &t, st)) != 0)
            return rc;
        rc = fn(&t, arg);
        if (rc == 0 && !t.broken && !t.dirty) {
            /* Nothing written (every put unchanged, every write refused):
             * no commit, so no fsync for a retry or a re-import. */
            mdb_txn_abort(t.txn);
            return 0;
        }
        if (rc == 0 && !t.broken) {
            if ((mrc = put_counters(&t)) != 0) {
                txn_fail(&t, mrc, "write counters", st);
            } else if ((mrc = mdb_txn_commit(t.txn)) != 0) {
                /* A failed commit has already freed the transaction. */
                t.txn = NULL;
                txn_fail(&t, mrc, "commit", st);
            } else {
                atomic_store(&s->last_seq, t.last_seq);
                atomic_store(&s->applied, t.applied);
                atomic_store(&s->logged, t.logged);
                return 0;
            }
        }
        if (t.txn != NULL)
            mdb_txn_abort(t.txn);
        /* Puts of the aborted transaction may have reached the story
         * lookup tables: they are reloaded from the store before the
         * next write. */
        if (t.dirty)
            as__story_txn_aborted(s->story);
        if (t.broken != MDB_MAP_FULL)
            return rc ? rc : st->code;
        if ((rc = grow_map(s, st)) != 0)
            return rc;
    }
}

/* ------------------------------------------------------------ deferred */

/* The lowest epoch of an open reader, UINT64_MAX when none is open. */
static uint64_t min_open_epoch(as_store_t *s)
{
    uint64_t min = UINT64_MAX;
    as_reader_t *r;

    pthread_mutex_lock(&s->readers_lock);
    for (r = s->readers; r != NULL; r = r->next) {
        uint64_t e = atomic_load(&r->open_epoch);

        if (e < min)
            min = e;
    }
    pthread_mutex_unlock(&s->readers_lock);
    return min;
}

/* Grows the map ahead of a deferred transaction when it is three quarters
 * used: a long transaction that fills the map can only be cut short. */
static int grow_early(as_store_t *s, as_status_t *st)
{
    MDB_envinfo info;
    MDB_stat ms;
    uint64_t used;

    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &ms);
    used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    if (used < (uint64_t)s->map_size / 4 * 3 ||
        (s->map_max && s->map_size >= s->map_max))
        return 0;
    return grow_map(s, st);
}

int as_store_commit(as_store_t *s, as_status_t *st)
{
    as_wtxn_t *t = &s->dt;
    int mrc;

    if (!s->dt_open) {
        /* Nothing to commit: retired entries may still be freed. */
        if (as_overlay_bytes(s->ov) > 0)
            as_overlay_committed(s->ov, min_open_epoch(s));
        return 0;
    }
    s->dt_open = 0;
    if (!t->dirty) {
        mdb_txn_abort(t->txn);
        as_overlay_committed(s->ov, min_open_epoch(s));
        return 0;
    }
    if ((mrc = put_counters(t)) != 0 || (mrc = mdb_txn_commit(t->txn)) != 0) {
        /* Acknowledged writes are in this transaction: they are in the
         * write-ahead log (or the Raft log) too, which a restart replays,
         * but this process can no longer serve them. */
        as_log_error("LMDB commit of acknowledged writes failed (%s); "
                     "stopping: a restart replays them from the log",
                     mdb_strerror(mrc));
        abort();
    }
    atomic_store(&s->last_seq, t->last_seq);
    atomic_store(&s->applied, t->applied);
    atomic_store(&s->logged, t->logged);
    as_overlay_committed(s->ov, min_open_epoch(s));
    (void)st;
    return 0;
}

int as_store_defer(as_store_t *s, as_store_write_fn fn, void *arg,
                   as_status_t *st)
{
    as_wtxn_t c;
    size_t mark;
    int rc, mrc;

    for (;;) {
        if (!s->dt_open) {
            if ((rc = grow_early(s, st)) != 0 ||
                (rc = wtxn_begin(s, &s->dt, st)) != 0)
                return rc;
            s->dt_open = 1;
            s->dt_thread = pthread_self();
        }
        c = s->dt;
        c.now_ms = as_clock_wall_ms();
        c.dirty = 0;
        c.broken = 0;
        c.deferred = 1;
        if ((mrc = mdb_txn_begin(s->env, s->dt.txn, 0, &c.txn)) != 0) {
            as_store_commit(s, st);
            return as_status_set(st, AS_CODE_INTERNAL, "begin nested: %s",
                                 mdb_strerror(mrc));
        }
        mark = as_overlay_mark(s->ov);
        rc = fn(&c, arg);
        if (rc == 0 && !c.broken) {
            if ((mrc = mdb_txn_commit(c.txn)) != 0) {
                as_log_error("LMDB nested commit failed (%s); stopping: a "
                             "restart replays the log", mdb_strerror(mrc));
                abort();
            }
            s->dt.next_id = c.next_id;
            s->dt.last_seq = c.last_seq;
            s->dt.tag_count = c.tag_count;
            s->dt.applied = c.applied;
            s->dt.logged = c.logged;
            s->dt.dirty |= c.dirty;
            return 0;
        }
        /* The group failed: drop it, keep what came before it (durably),
         * and start afresh; a full map is grown and the group run again. */
        mdb_txn_abort(c.txn);
        as_overlay_rollback(s->ov, mark);
        if (c.dirty)
            as__story_txn_aborted(s->story);
        as_store_commit(s, st);
        if (c.broken != MDB_MAP_FULL)
            return rc ? rc : st->code;
        if ((rc = grow_map(s, st)) != 0)
            return rc;
    }
}

int as_store_can_defer(as_store_t *s)
{
    MDB_envinfo info;
    MDB_stat ms;
    uint64_t used, room;
    int64_t now = as_clock_mono_ms();

    /* A full disk is refused by a direct commit, naming the disk
     * (as_disk_error); a deferred one could only fail after the writes
     * were acknowledged. The free space is read again every
     * DISK_RECHECK_MS, and at every call once it is within twice
     * DEFER_ROOM: one statvfs (and geteuid) per group of writes was a
     * system call in every single put's path, and in 100 ms this
     * process writes tens of MB, not the 256 MiB of margin. */
    if (s->disk_checked_ms == 0 ||
        now - s->disk_checked_ms >= DISK_RECHECK_MS ||
        s->disk_free < 2 * DEFER_ROOM) {
        struct statvfs vfs;

        s->disk_free = statvfs(store_dir(s), &vfs) == 0 ? disk_avail(&vfs)
                                                        : UINT64_MAX;
        s->disk_checked_ms = now;
    }
    if (s->disk_free < DEFER_ROOM)
        return 0;
    if (s->map_max == 0)
        return 1;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &ms);
    used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    room = s->map_max > used ? s->map_max - used : 0;
    return room >= DEFER_ROOM && room >= used / 4;
}

int as_store_deferred(as_store_t *s)
{
    return s->dt_open && s->dt.dirty;
}

size_t as_store_overlay_bytes(as_store_t *s)
{
    return as_overlay_bytes(s->ov);
}

void as_store_publish(as_store_t *s)
{
    as_overlay_publish(s->ov);
}

uint64_t as_store_acked_seq(as_store_t *s)
{
    uint64_t committed = atomic_load(&s->last_seq);
    uint64_t published = as_overlay_last_change(s->ov);

    return published > committed ? published : committed;
}

void as_store_txn_set_logged(as_wtxn_t *t, uint64_t index)
{
    t->logged = index;
    t->dirty = 1;
}

uint64_t as_store_logged_index(as_store_t *s)
{
    return atomic_load(&s->logged);
}

/* Stages what a deferred write changed (overlay.h). Returns 0, or
 * RESOURCE_EXHAUSTED with st set. */
static int stage_article(as_wtxn_t *t, uint64_t id, uint64_t rev,
                         const void *val, size_t len, as_status_t *st)
{
    if (t->deferred &&
        as_overlay_stage_article(t->s->ov, id, rev, val, len) != 0)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for the overlay");
    return 0;
}

static int stage_key(as_wtxn_t *t, const unsigned char *key, size_t len,
                     uint64_t id, uint64_t rev, as_status_t *st)
{
    if (t->deferred && as_overlay_stage_key(t->s->ov, key, len, id, rev) != 0)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for the overlay");
    return 0;
}

MDB_txn *as__wtxn_txn(as_wtxn_t *t)
{
    /* Whoever takes the raw transaction may write through it. */
    t->dirty = 1;
    return t->txn;
}

as_store_t *as__wtxn_store(as_wtxn_t *t)
{
    return t->s;
}

MDB_txn *as__wtxn_raw(as_wtxn_t *t)
{
    return t->txn;
}

int as__wtxn_fail(as_wtxn_t *t, int mrc, const char *what, as_status_t *st)
{
    return txn_fail(t, mrc, what, st);
}

struct as_story_state *as__store_story(as_store_t *s)
{
    return s->story;
}

int as_store_stories_outdated(as_store_t *s)
{
    return as__story_outdated(s->story);
}

size_t as_store_story_memory(as_store_t *s)
{
    return as__story_memory(s->story);
}

size_t as_store_story_postings(as_store_t *s)
{
    return as__story_postings(s->story);
}

int as_store_txn_broken(const as_wtxn_t *t)
{
    return t->broken;
}

uint64_t as_store_txn_last_seq(const as_wtxn_t *t)
{
    return t->last_seq;
}

void as_store_txn_set_time_ms(as_wtxn_t *t, int64_t ms)
{
    t->now_ms = ms;
}

void as_store_txn_set_applied(as_wtxn_t *t, uint64_t index, int always)
{
    t->applied = index;
    if (always)
        t->dirty = 1;
}

uint64_t as_store_txn_applied(const as_wtxn_t *t)
{
    return t->applied;
}

uint64_t as_store_applied_index(as_store_t *s)
{
    return atomic_load(&s->applied);
}

/* Looks the meta entry name up in txn (table dbi) into *out. Returns 0,
 * NOT_FOUND with "meta <name>" in st, or -1 with the LMDB code in *mrc
 * (st untouched), for the caller to word as its transaction requires. */
static int meta_lookup(MDB_txn *txn, MDB_dbi dbi, const char *name,
                       as_bytes_t *out, int *mrc, as_status_t *st)
{
    MDB_val k = { strlen(name), (void *)name }, d;

    *mrc = mdb_get(txn, dbi, &k, &d);
    if (*mrc == MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_NOT_FOUND, "meta %s", name);
    if (*mrc != 0)
        return -1;
    out->data = d.mv_data;
    out->len = d.mv_size;
    return 0;
}

int as_store_txn_get_meta(as_wtxn_t *t, const char *name, as_bytes_t *out,
                          as_status_t *st)
{
    int mrc, rc = meta_lookup(t->txn, t->s->dbi[AS_DBI_META], name, out,
                              &mrc, st);

    return rc >= 0 ? rc : txn_fail(t, mrc, "get meta", st);
}

int as_store_txn_put_meta(as_wtxn_t *t, const char *name, const void *data,
                          size_t len, as_status_t *st)
{
    MDB_val k = { strlen(name), (void *)name }, d = { len, (void *)data };
    int rc = mdb_put(t->txn, t->s->dbi[AS_DBI_META], &k, &d, 0);

    if (rc != 0)
        return txn_fail(t, rc, "put meta", st);
    t->dirty = 1;
    return 0;
}

int as_store_get_meta(as_reader_t *r, const char *name, as_bytes_t *out,
                      as_status_t *st)
{
    int mrc, rc = meta_lookup(r->txn, r->s->dbi[AS_DBI_META], name, out,
                              &mrc, st);

    if (rc >= 0)
        return rc;
    return as_status_set(st, AS_CODE_INTERNAL, "get meta %s: %s", name,
                         mdb_strerror(mrc));
}

uint64_t as__article_time_key(const Artstore__V1__Article *a)
{
    return as_time_key(a->has_published_at ? a->published_at : a->ingested_at);
}

/* Adds (add != 0) or removes the posting time‖id under key in a DUPSORT
 * index, keeping *distinct (the number of keys) up to date if not NULL. */
/* Adds or removes the posting (tk, id) under key in dbi. For by_tag
 * (distinct not NULL) it also keeps the distinct count and the tag's
 * entry in tag_counts, in this same transaction. */
static int posting(as_wtxn_t *t, MDB_dbi dbi, const char *key, uint64_t tk,
                   uint64_t id, int add, uint64_t *distinct, int *edge,
                   as_status_t *st)
{
    unsigned char val[16];
    MDB_val k = { strlen(key), (void *)key }, d = { 16, val };
    MDB_cursor *c;
    size_t count = 0;
    int rc;

    *edge = 0;
    as_be_put64(val, tk);
    as_be_put64(val + 8, id);
    if ((rc = mdb_cursor_open(t->txn, dbi, &c)) != 0)
        return txn_fail(t, rc, "cursor", st);
    if (add) {
        /* A key whose only posting is the one just added is new. */
        rc = mdb_cursor_put(c, &k, &d, MDB_NODUPDATA);
        if (rc == 0) {
            if ((rc = mdb_cursor_count(c, &count)) != 0)
                goto out_fail;
            *edge = count == 1;
            if (count == 1 && distinct)
                (*distinct)++;
            if (distinct &&
                (rc = tag_count_move(t->txn, t->s->dbi[AS_DBI_TAG_COUNTS],
                                     key, strlen(key), count - 1,
                                     count)) != 0)
                goto out_fail;
        } else if (rc != MDB_KEYEXIST) {
            goto out_fail;
        }
    } else {
        rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH);
        if (rc == 0) {
            if ((rc = mdb_cursor_count(c, &count)) != 0)
                goto out_fail;
            *edge = count == 1;
            if (*edge && distinct)
                (*distinct)--;
            if ((rc = mdb_cursor_del(c, 0)) != 0)
                goto out_fail;
            if (distinct &&
                (rc = tag_count_move(t->txn, t->s->dbi[AS_DBI_TAG_COUNTS],
                                     key, strlen(key), count,
                                     count - 1)) != 0)
                goto out_fail;
        } else if (rc != MDB_NOTFOUND) {
            goto out_fail;
        }
    }
    mdb_cursor_close(c);
    return 0;

out_fail:
    mdb_cursor_close(c);
    return txn_fail(t, rc, add ? "add posting" : "remove posting", st);
}

/* The key of a display form in `forms`: kind ('t' tag, 's' source) and
 * the folded key; 0 when too long for an LMDB key (the form is then not
 * kept, and the key is shown). */
static size_t form_key(char kind, const char *key, unsigned char *out)
{
    size_t n = strlen(key);

    if (n + 1 > AS_FORM_KEY_MAX)
        return 0;
    out[0] = (unsigned char)kind;
    memcpy(out + 1, key, n);
    return n + 1;
}

/* Keeps the display form of key (form, or key itself when form is NULL)
 * when an article carrying it is added: always when key's posting list was
 * just created (edge), else only when key has no form yet (a key written
 * before forms were kept); drops it when the list is gone (remove with
 * edge). So a key shows the form it was first written in while any
 * article carries it. */
static int set_form(as_wtxn_t *t, char kind, const char *key,
                    const char *form, int add, int edge, as_status_t *st)
{
    unsigned char kb[AS_FORM_KEY_MAX];
    MDB_val k = { form_key(kind, key, kb), kb }, d;
    int rc;

    if (k.mv_size == 0 || (!add && !edge))
        return 0;
    if (add) {
        if (form == NULL)
            form = key;
        d.mv_size = strlen(form);
        d.mv_data = (void *)form;
        rc = mdb_put(t->txn, t->s->dbi[AS_DBI_FORMS], &k, &d,
                     edge ? 0 : MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST)
            rc = 0;
    } else {
        rc = mdb_del(t->txn, t->s->dbi[AS_DBI_FORMS], &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    return rc != 0 ? txn_fail(t, rc, "forms", st) : 0;
}

/* Adds or removes every index entry of article a (id and revision set). */
static int index_article(as_wtxn_t *t, const Artstore__V1__Article *a, int add,
                         as_status_t *st)
{
    as_store_t *s = t->s;
    uint64_t tk = as__article_time_key(a);
    unsigned char key[AS_KEY_MAX], tkey[16], idbuf[8];
    MDB_val k, d;
    size_t i;
    int rc, edge;

    for (i = 0; i < a->n_tags; i++) {
        const char *form = a->n_tag_forms == a->n_tags ? a->tag_forms[i]
                                                       : NULL;

        if ((rc = posting(t, s->dbi[AS_DBI_BY_TAG], a->tags[i], tk, a->id, add,
                          &t->tag_count, &edge, st)) != 0 ||
            (rc = set_form(t, 't', a->tags[i], form, add, edge, st)) != 0)
            return rc;
    }
    if (a->source != NULL &&
        ((rc = posting(t, s->dbi[AS_DBI_BY_SOURCE], a->source, tk, a->id, add,
                       NULL, &edge, st)) != 0 ||
         (rc = set_form(t, 's', a->source, a->source_form, add, edge,
                        st)) != 0))
        return rc;

    as_be_put64(tkey, tk);
    as_be_put64(tkey + 8, a->id);
    k.mv_size = 16;
    k.mv_data = tkey;
    d.mv_size = 0;
    d.mv_data = NULL;
    rc = add ? mdb_put(t->txn, s->dbi[AS_DBI_BY_TIME], &k, &d, 0)
             : mdb_del(t->txn, s->dbi[AS_DBI_BY_TIME], &k, NULL);
    if (rc != 0 && !(rc == MDB_NOTFOUND && !add))
        return txn_fail(t, rc, "by_time", st);

    k.mv_size = as_article_key(a, key);
    k.mv_data = key;
    as_be_put64(idbuf, a->id);
    d.mv_size = 8;
    d.mv_data = idbuf;
    rc = add ? mdb_put(t->txn, s->dbi[AS_DBI_BY_URL], &k, &d, 0)
             : mdb_del(t->txn, s->dbi[AS_DBI_BY_URL], &k, NULL);
    if (rc != 0 && !(rc == MDB_NOTFOUND && !add))
        return txn_fail(t, rc, "by_url", st);
    return 0;
}

/* Packs msg straight into a reserved LMDB value under key in dbi. */
static int put_packed(as_wtxn_t *t, MDB_dbi dbi, uint64_t key,
                      const ProtobufCMessage *msg, const char *what,
                      MDB_val *d, as_status_t *st)
{
    unsigned char kbuf[8];
    MDB_val k = { 8, kbuf };
    int rc;

    as_be_put64(kbuf, key);
    d->mv_size = protobuf_c_message_get_packed_size(msg);
    d->mv_data = NULL;
    if ((rc = as__put_ascending(t->txn, dbi, &k, d, MDB_RESERVE)) != 0)
        return txn_fail(t, rc, what, st);
    protobuf_c_message_pack(msg, d->mv_data);
    return 0;
}

/* ------------------------------------------------ article values
 *
 * LMDB keeps a value that does not fit in half a page in overflow pages
 * of its own, whole pages: a 2.3 KB compressed article would take 4 KB.
 * So a stored value longer than leaf_max is split (codec.h): its head,
 * AS_CODEC_TAG AS_CODEC_SPLIT and the value's first leaf_max - 2 bytes,
 * stays in `articles`, where heads pack two to a page, and the rest goes
 * to `article_tails` under the same key, where short tails share leaves.
 */

/* Stores the value v[0..n) under article key k, split when it is longer
 * than a leaf holds; a tail the article had before is removed. */
static int store_value(as_wtxn_t *t, MDB_val *k, const void *v, size_t n,
                       as_status_t *st)
{
    as_store_t *s = t->s;
    MDB_val d;
    int rc;

    if (n <= s->leaf_max) {
        d.mv_size = n;
        d.mv_data = (void *)v;
        if ((rc = as__put_ascending(t->txn, s->dbi[AS_DBI_ARTICLES], k, &d,
                                    0)) != 0)
            return txn_fail(t, rc, "put article", st);
        rc = mdb_del(t->txn, s->dbi[AS_DBI_ARTICLE_TAILS], k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return txn_fail(t, rc, "delete article tail", st);
        return 0;
    }
    d.mv_size = s->leaf_max;
    if ((rc = as__put_ascending(t->txn, s->dbi[AS_DBI_ARTICLES], k, &d,
                                MDB_RESERVE)) != 0)
        return txn_fail(t, rc, "put article", st);
    ((unsigned char *)d.mv_data)[0] = AS_CODEC_TAG;
    ((unsigned char *)d.mv_data)[1] = AS_CODEC_SPLIT;
    memcpy((unsigned char *)d.mv_data + 2, v, s->leaf_max - 2);
    d.mv_size = n - (s->leaf_max - 2);
    d.mv_data = (unsigned char *)v + (s->leaf_max - 2);
    if ((rc = as__put_ascending(t->txn, s->dbi[AS_DBI_ARTICLE_TAILS], k, &d,
                                0)) != 0)
        return txn_fail(t, rc, "put article tail", st);
    return 0;
}

int as__article_unstore(MDB_txn *txn, MDB_dbi tails, as_codec_t *c,
                        const MDB_val *key, const MDB_val *head,
                        const void **out, size_t *out_n, as_status_t *st)
{
    const void *v = head->mv_data;
    size_t n = head->mv_size;
    int rc;

    if (as_codec_is_split(v, n)) {
        MDB_val tail;

        rc = mdb_get(txn, tails, (MDB_val *)key, &tail);
        if (rc == MDB_NOTFOUND)
            return as_status_set(st, AS_CODE_DATA_LOSS,
                                 "article %llu is split but its tail is "
                                 "missing", key->mv_size == 8
                                 ? (unsigned long long)as_be_get64(key->mv_data)
                                 : 0ULL);
        if (rc != 0)
            return as_status_set(st, AS_CODE_INTERNAL, "get article tail: %s",
                                 mdb_strerror(rc));
        if ((rc = as_codec_join(c, v, n, tail.mv_data, tail.mv_size, &v, &n,
                                st)) != 0)
            return rc;
    }
    return as_codec_decode(c, v, n, out, out_n, st);
}

/* Makes *buf hold at least n bytes. Returns 0 or RESOURCE_EXHAUSTED. */
static int reserve(unsigned char **buf, size_t *cap, size_t n,
                   as_status_t *st)
{
    size_t c = n < 65536 ? 65536 : n;
    unsigned char *p;

    if (n <= *cap)
        return 0;
    if ((p = realloc(*buf, c)) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory packing an article");
    *buf = p;
    *cap = c;
    return 0;
}

/* Packs into out the fields of a that the writer assigns (as_put_pre_t):
 * the suffix that completes an article packed without them. Returns its
 * length (at most AS_CODEC_SUFFIX_MAX: five varint fields). */
static size_t pack_assigned(const Artstore__V1__Article *a,
                            unsigned char out[AS_CODEC_SUFFIX_MAX])
{
    Artstore__V1__Article x = ARTSTORE__V1__ARTICLE__INIT;

    x.has_id = a->has_id;
    x.id = a->id;
    x.has_ingested_at = a->has_ingested_at;
    x.ingested_at = a->ingested_at;
    x.has_revision = a->has_revision;
    x.revision = a->revision;
    x.has_story_id = a->has_story_id;
    x.story_id = a->story_id;
    x.has_duplicate_of = a->has_duplicate_of;
    x.duplicate_of = a->duplicate_of;
    return artstore__v1__article__pack(&x, out);
}

/* Stores article a under its id: packed, then compressed when that makes
 * it smaller (codec.h). With pre, a's other fields come packed and
 * encoded from pre, and only the assigned ones are packed here. */
static int put_article(as_wtxn_t *t, const Artstore__V1__Article *a,
                       const as_put_pre_t *pre, as_status_t *st)
{
    as_store_t *s = t->s;
    unsigned char kbuf[8], sfx[AS_CODEC_SUFFIX_MAX];
    MDB_val k = { 8, kbuf };
    const void *v;
    size_t n, vn, sn;
    int rc;

    as_be_put64(kbuf, a->id);
    if (pre != NULL) {
        sn = pack_assigned(a, sfx);
        n = pre->packed_len + sn;
        if ((rc = reserve(&s->pack, &s->pack_cap, n, st)) != 0 ||
            (rc = reserve(&s->enc, &s->enc_cap, pre->enc_len + sn + 3,
                          st)) != 0)
            return rc;
        /* Get reads the packed form, P ++ S, from the overlay. */
        memcpy(s->pack, pre->packed, pre->packed_len);
        memcpy(s->pack + pre->packed_len, sfx, sn);
        vn = as_codec_suffix(pre->enc, pre->enc_len, sfx, sn, s->enc);
        v = s->enc;
    } else {
        n = artstore__v1__article__get_packed_size(a);
        if ((rc = reserve(&s->pack, &s->pack_cap, n, st)) != 0)
            return rc;
        artstore__v1__article__pack(a, s->pack);
        if ((rc = as_codec_encode(s->wcodec, s->pack, n, &v, &vn, st)) != 0)
            return rc;
    }
    if ((rc = store_value(t, &k, v, vn, st)) != 0)
        return rc;
    /* Get reads the packed form; s->pack still holds it. */
    return stage_article(t, a->id, a->revision, s->pack, n, st);
}

as_codec_t *as_store_encoder_new(as_store_t *s)
{
    return as_codec_new(s->opts.compress_level);
}

/* Writes the change event of seq for a write of a (or delete of a). */
static int log_change_at(as_wtxn_t *t, uint64_t seq,
                         Artstore__V1__ChangeType type,
                         const Artstore__V1__Article *a,
                         const Artstore__V1__Article *prev, as_status_t *st)
{
    Artstore__V1__ChangeEvent ev = ARTSTORE__V1__CHANGE_EVENT__INIT;
    MDB_val d;
    int rc;

    ev.has_seq = 1;
    ev.seq = seq;
    ev.has_type = 1;
    ev.type = type;
    ev.has_id = 1;
    ev.id = a->id;
    ev.has_revision = 1;
    ev.revision = seq;
    ev.n_tags = a->n_tags;
    ev.tags = a->tags;
    ev.n_tag_forms = a->n_tag_forms;
    ev.tag_forms = a->tag_forms;
    ev.source_form = a->source_form;
    ev.title = a->title;
    ev.source = a->source;
    ev.url = a->url;
    ev.has_published_at = a->has_published_at;
    ev.published_at = a->published_at;
    ev.has_ingested_at = a->has_ingested_at;
    ev.ingested_at = a->ingested_at;
    ev.has_commit_time_ms = 1;
    ev.commit_time_ms = t->now_ms;
    if (prev != NULL) {
        ev.n_prev_tags = prev->n_tags;
        ev.prev_tags = prev->tags;
    }
    ev.has_story_id = a->has_story_id;
    ev.story_id = a->story_id;
    /* A new story's id is the id of the article that started it. */
    if (type == ARTSTORE__V1__CHANGE_TYPE__CHANGE_CREATE && a->has_story_id &&
        a->story_id == a->id) {
        ev.has_new_story = 1;
        ev.new_story = 1;
    }
    if ((rc = put_packed(t, t->s->dbi[AS_DBI_CHANGES], seq, &ev.base,
                         "changes", &d, st)) != 0)
        return rc;
    /* Changes and the feed read a deferred write's event from the
     * overlay once it is acknowledged (as_store_changes_scan_latest). */
    if (t->deferred &&
        as_overlay_stage_change(t->s->ov, seq, d.mv_data, d.mv_size) != 0)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for the overlay");
    return 0;
}

/* Appends the change event for a write of a (or delete of a) to the log,
 * at the transaction's last seq. */
static int log_change(as_wtxn_t *t, Artstore__V1__ChangeType type,
                      const Artstore__V1__Article *a,
                      const Artstore__V1__Article *prev, as_status_t *st)
{
    return log_change_at(t, t->last_seq, type, a, prev, st);
}

/* Reads and unpacks article id inside the write transaction. Returns 0,
 * NOT_FOUND or INTERNAL; *out is freed with
 * artstore__v1__article__free_unpacked(*out, NULL). */
static int wtxn_get_article(as_wtxn_t *t, uint64_t id,
                            Artstore__V1__Article **out, as_status_t *st)
{
    unsigned char kbuf[8];
    MDB_val k = { 8, kbuf }, d;
    int rc;

    as_be_put64(kbuf, id);
    rc = mdb_get(t->txn, t->s->dbi[AS_DBI_ARTICLES], &k, &d);
    if (rc == MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_NOT_FOUND, "article %llu",
                             (unsigned long long)id);
    if (rc != 0)
        return txn_fail(t, rc, "get article", st);
    {
        const void *v;
        size_t vn;

        rc = as__article_unstore(t->txn, t->s->dbi[AS_DBI_ARTICLE_TAILS],
                                 t->s->wcodec, &k, &d, &v, &vn, st);
        if (rc != 0) {
            as_codec_reset(t->s->wcodec);
            return rc;
        }
        *out = artstore__v1__article__unpack(NULL, vn, v);
        as_codec_reset(t->s->wcodec);
    }
    if (*out == NULL)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "article %llu is stored corrupt",
                             (unsigned long long)id);
    return 0;
}

/* Looks up a natural key; *id is 0 when absent. */
static int wtxn_find_key(as_wtxn_t *t, const unsigned char *key, size_t len,
                         uint64_t *id, as_status_t *st)
{
    MDB_val k = { len, (void *)key }, d;
    int rc = mdb_get(t->txn, t->s->dbi[AS_DBI_BY_URL], &k, &d);

    *id = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return txn_fail(t, rc, "get by_url", st);
    if (d.mv_size != 8)
        return as_status_set(st, AS_CODE_DATA_LOSS, "by_url entry corrupt");
    *id = as_be_get64(d.mv_data);
    return 0;
}

/* ------------------------------------------------------------ request ids */

#define REQ_VAL_LEN (8 + 8 + 8 + 1 + 16)

/* A recorded request id: what its write produced. */
typedef struct req_rec {
    uint64_t seq, id;
    int64_t time_ms;
    int outcome;                 /* PUT_*, or 0 for a delete */
    unsigned char hash[16];      /* content hash of a put, zeros for a delete */
} req_rec_t;

/* Looks up cond's request id; returns 1 with *rec filled when recorded, 0
 * when not (or no id), or a negative value with st set on an LMDB error. */
static int req_find(as_wtxn_t *t, const as_write_cond_t *cond, req_rec_t *rec,
                    as_status_t *st)
{
    MDB_val k, d;
    const unsigned char *p;
    int rc;

    /* Zeroed on every path, so no caller reads an unset field (and an
     * optimising build has nothing to warn about). */
    memset(rec, 0, sizeof(*rec));
    if (cond == NULL || cond->request_id.len == 0)
        return 0;
    k.mv_size = cond->request_id.len;
    k.mv_data = (void *)cond->request_id.data;
    rc = mdb_get(t->txn, t->s->dbi[AS_DBI_REQUESTS], &k, &d);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return -txn_fail(t, rc, "get request id", st);
    if (d.mv_size != REQ_VAL_LEN)
        return -as_status_set(st, AS_CODE_DATA_LOSS,
                              "request id entry is %zu bytes, not %d",
                              d.mv_size, REQ_VAL_LEN);
    p = d.mv_data;
    rec->seq = as_be_get64(p);
    rec->id = as_be_get64(p + 8);
    rec->time_ms = (int64_t)as_be_get64(p + 16);
    rec->outcome = p[24];
    memcpy(rec->hash, p + 25, 16);
    return 1;
}

/* Expires up to two of the oldest request ids: older than
 * AS_REQUEST_KEEP_MS, or beyond the newest AS_REQUEST_KEEP_COUNT. */
static int req_expire(as_wtxn_t *t, as_status_t *st)
{
    MDB_cursor *c;
    MDB_stat ms;
    MDB_val k, d;
    int rc, i;

    if ((rc = mdb_stat(t->txn, t->s->dbi[AS_DBI_REQUEST_LOG], &ms)) != 0)
        return txn_fail(t, rc, "stat request_log", st);
    if ((rc = mdb_cursor_open(t->txn, t->s->dbi[AS_DBI_REQUEST_LOG], &c)) != 0)
        return txn_fail(t, rc, "cursor request_log", st);
    for (i = 0; i < 2; i++) {
        req_rec_t rec;
        as_write_cond_t old;
        int found;

        if ((rc = mdb_cursor_get(c, &k, &d, MDB_FIRST)) != 0)
            break;
        memset(&old, 0, sizeof(old));
        old.request_id.data = d.mv_data;
        old.request_id.len = d.mv_size;
        if ((found = req_find(t, &old, &rec, st)) < 0) {
            mdb_cursor_close(c);
            return -found;
        }
        if (found && ms.ms_entries - (size_t)i <= AS_REQUEST_KEEP_COUNT &&
            rec.time_ms + AS_REQUEST_KEEP_MS > t->now_ms)
            break;
        if (found) {
            unsigned char kb[512];
            MDB_val rk = { d.mv_size < sizeof(kb) ? d.mv_size : sizeof(kb),
                           kb };

            memcpy(kb, d.mv_data, rk.mv_size);
            if ((rc = mdb_del(t->txn, t->s->dbi[AS_DBI_REQUESTS], &rk,
                              NULL)) != 0)
                break;
        }
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return txn_fail(t, rc, "expire request ids", st);
    return 0;
}

/* Records cond's request id (if any) for the change just logged. */
static int req_record(as_wtxn_t *t, const as_write_cond_t *cond, uint64_t id,
                      int outcome, const ProtobufCBinaryData *hash,
                      as_status_t *st)
{
    unsigned char v[REQ_VAL_LEN], sk[8];
    MDB_val k, d = { sizeof(v), v }, lk = { 8, sk };
    int rc;

    if (cond == NULL || cond->request_id.len == 0)
        return 0;
    if ((rc = req_expire(t, st)) != 0)
        return rc;
    memset(v, 0, sizeof(v));
    as_be_put64(v, t->last_seq);
    as_be_put64(v + 8, id);
    as_be_put64(v + 16, (uint64_t)t->now_ms);
    v[24] = (unsigned char)outcome;
    if (hash != NULL && hash->len == 16)
        memcpy(v + 25, hash->data, 16);
    k.mv_size = cond->request_id.len;
    k.mv_data = (void *)cond->request_id.data;
    as_be_put64(sk, t->last_seq);
    if ((rc = mdb_put(t->txn, t->s->dbi[AS_DBI_REQUESTS], &k, &d, 0)) != 0 ||
        (rc = mdb_put(t->txn, t->s->dbi[AS_DBI_REQUEST_LOG], &lk, &k, 0)) != 0)
        return txn_fail(t, rc, "record request id", st);
    return 0;
}

static int check_expected(uint64_t id, uint64_t current, int has_expected,
                          uint64_t expected, as_status_t *st)
{
    if (!has_expected)
        return 0;
    if (expected == 0 && id != 0)
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "article exists (id %llu, revision %llu) but "
                             "expected_revision is 0",
                             (unsigned long long)id,
                             (unsigned long long)current);
    if (expected != 0 && id == 0)
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "article does not exist but expected_revision "
                             "is %llu", (unsigned long long)expected);
    if (expected != 0 && current != expected)
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "article %llu has revision %llu, expected %llu",
                             (unsigned long long)id,
                             (unsigned long long)current,
                             (unsigned long long)expected);
    return 0;
}

int as_store_put(as_wtxn_t *t, const Artstore__V1__Article *a,
                 const as_write_cond_t *cond, as_put_out_t *out,
                 as_status_t *st)
{
    return as_store_put_fp(t, a, NULL, cond, out, st);
}

int as_store_put_fp(as_wtxn_t *t, const Artstore__V1__Article *a,
                    const as_story_fp_t *fp, const as_write_cond_t *cond,
                    as_put_out_t *out, as_status_t *st)
{
    return as_store_put_pre(t, a, fp, NULL, cond, out, st);
}

int as_store_put_pre(as_wtxn_t *t, const Artstore__V1__Article *a,
                     const as_story_fp_t *fp, const as_put_pre_t *pre,
                     const as_write_cond_t *cond, as_put_out_t *out,
                     as_status_t *st)
{
    Artstore__V1__Article *old = NULL, next = *a;
    unsigned char key[AS_KEY_MAX];
    size_t klen;
    req_rec_t rec;
    uint64_t id;
    int rc;

    /* A resend is told apart by its request id, never by equal content:
     * equal content under a stale condition is a lost update, not a
     * success. */
    if ((rc = req_find(t, cond, &rec, st)) < 0)
        return -rc;
    if (rc == 1) {
        if (rec.outcome == 0 || !a->has_content_hash ||
            a->content_hash.len != 16 ||
            memcmp(rec.hash, a->content_hash.data, 16) != 0)
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                 "request_id was already used by another "
                                 "write (revision %llu)",
                                 (unsigned long long)rec.seq);
        out->id = rec.id;
        out->outcome = rec.outcome;
        out->revision = rec.seq;
        return 0;
    }
    klen = as_article_key(a, key);
    if ((rc = wtxn_find_key(t, key, klen, &id, st)) != 0)
        return rc;
    if (id != 0 && (rc = wtxn_get_article(t, id, &old, st)) != 0)
        return rc;
    if ((rc = check_expected(id, old ? old->revision : 0,
                             cond && cond->has_expected,
                             cond ? cond->expected : 0, st)) != 0)
        goto out_free;
    if (old != NULL && old->has_content_hash && a->has_content_hash &&
        old->content_hash.len == a->content_hash.len &&
        memcmp(old->content_hash.data, a->content_hash.data,
               a->content_hash.len) == 0) {
        out->id = id;
        out->outcome = ARTSTORE__V1__PUT_OUTCOME__PUT_UNCHANGED;
        out->revision = old->revision;
        goto out_free;
    }

    t->last_seq++;
    t->dirty = 1;
    next.has_revision = 1;
    next.revision = t->last_seq;
    next.has_id = 1;
    next.has_ingested_at = 1;
    if (old != NULL) {
        next.id = old->id;
        next.ingested_at = old->ingested_at;
        if ((rc = index_article(t, old, 0, st)) != 0)
            goto out_free;
    } else {
        next.id = t->next_id++;
        next.ingested_at = t->now_ms / 1000;
    }
    if ((rc = as__story_put(t, old, &next, fp, st)) != 0 ||
        (rc = index_article(t, &next, 1, st)) != 0 ||
        (rc = put_article(t, &next, pre, st)) != 0 ||
        (rc = log_change(t, old ? ARTSTORE__V1__CHANGE_TYPE__CHANGE_UPDATE
                                : ARTSTORE__V1__CHANGE_TYPE__CHANGE_CREATE,
                         &next, old, st)) != 0 ||
        (old == NULL &&
         (rc = stage_key(t, key, klen, next.id, next.revision, st)) != 0))
        goto out_free;
    out->id = next.id;
    out->outcome = old ? ARTSTORE__V1__PUT_OUTCOME__PUT_UPDATED
                       : ARTSTORE__V1__PUT_OUTCOME__PUT_CREATED;
    out->revision = next.revision;
    rc = req_record(t, cond, next.id, out->outcome,
                    a->has_content_hash ? &a->content_hash : NULL, st);

out_free:
    if (old != NULL)
        artstore__v1__article__free_unpacked(old, NULL);
    return rc;
}

/* ------------------------------------------------------------ exact puts */

/* Decides whether the store may take exact puts: it has never been written
 * (no change, no id used), or every change so far was written by one
 * (meta exact_seq is the last seq). Returns 0 or FAILED_PRECONDITION. */
static int exact_allowed(as_wtxn_t *t, as_status_t *st)
{
    uint64_t exact_seq = 0;
    int rc;

    if (t->last_seq == 0 && t->next_id <= 1)
        return 0;
    if ((rc = as__meta_get_u64(t->txn, t->s->dbi[AS_DBI_META],
                               AS_META_EXACT_SEQ, &exact_seq)) != 0)
        return txn_fail(t, rc, "get meta " AS_META_EXACT_SEQ, st);
    if (exact_seq != 0 && exact_seq == t->last_seq)
        return 0;
    return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                         "the store is not empty (last seq %llu, next id "
                         "%llu, not written by an exact import): an exact "
                         "put needs an empty store",
                         (unsigned long long)t->last_seq,
                         (unsigned long long)t->next_id);
}

/* Answers an exact put of an id that is stored already: the same article
 * (id, revision, ingested_at and content) is a resend, PUT_UNCHANGED;
 * anything else is ALREADY_EXISTS. */
static int exact_again(const Artstore__V1__Article *old,
                       const Artstore__V1__Article *a, as_put_out_t *out,
                       as_status_t *st)
{
    if (old->revision == a->revision && old->ingested_at == a->ingested_at &&
        old->has_content_hash && a->has_content_hash &&
        old->content_hash.len == a->content_hash.len &&
        memcmp(old->content_hash.data, a->content_hash.data,
               a->content_hash.len) == 0) {
        out->id = old->id;
        out->outcome = ARTSTORE__V1__PUT_OUTCOME__PUT_UNCHANGED;
        out->revision = old->revision;
        return 0;
    }
    return as_status_set(st, AS_CODE_ALREADY_EXISTS,
                         "id %llu is stored already (revision %llu) with "
                         "other content, revision or ingested_at",
                         (unsigned long long)old->id,
                         (unsigned long long)old->revision);
}

int as_store_put_exact(as_wtxn_t *t, const Artstore__V1__Article *a,
                       const as_story_fp_t *fp, as_put_out_t *out,
                       as_status_t *st)
{
    Artstore__V1__Article *old = NULL, next = *a;
    unsigned char key[AS_KEY_MAX], kbuf[8];
    MDB_val k = { 8, kbuf }, d;
    uint64_t other;
    size_t klen;
    int rc;

    if (!a->has_id || a->id == 0 || !a->has_revision || a->revision == 0 ||
        !a->has_ingested_at)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "an exact put needs the article's id, revision "
                             "and ingested_at");
    rc = wtxn_get_article(t, a->id, &old, st);
    if (rc == 0) {
        rc = exact_again(old, a, out, st);
        artstore__v1__article__free_unpacked(old, NULL);
        return rc;
    }
    if (rc != AS_CODE_NOT_FOUND)
        return rc;
    as_status_ok(st);
    if ((rc = exact_allowed(t, st)) != 0)
        return rc;
    if (a->id < t->next_id)
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "id %llu is below the store's next id %llu: "
                             "an exact import writes ids in ascending order",
                             (unsigned long long)a->id,
                             (unsigned long long)t->next_id);
    klen = as_article_key(a, key);
    if ((rc = wtxn_find_key(t, key, klen, &other, st)) != 0)
        return rc;
    if (other != 0)
        return as_status_set(st, AS_CODE_ALREADY_EXISTS,
                             "article %llu has the same %s already",
                             (unsigned long long)other,
                             a->url ? "url" : "title and body (its key)");
    as_be_put64(kbuf, a->revision);
    rc = mdb_get(t->txn, t->s->dbi[AS_DBI_CHANGES], &k, &d);
    if (rc == 0)
        return as_status_set(st, AS_CODE_ALREADY_EXISTS,
                             "revision %llu is the seq of a change logged "
                             "already", (unsigned long long)a->revision);
    if (rc != MDB_NOTFOUND)
        return txn_fail(t, rc, "get change", st);

    t->dirty = 1;
    next.has_story_id = a->has_story_id && a->story_id != 0;
    next.has_duplicate_of = a->has_duplicate_of && a->duplicate_of != 0;
    /* Without stories here the old store's story ids would point at
     * nothing. */
    if (!as__story_active(t->s->story))
        next.has_story_id = next.has_duplicate_of = 0;
    if ((rc = as__story_put(t, NULL, &next, fp, st)) != 0 ||
        (rc = index_article(t, &next, 1, st)) != 0 ||
        (rc = put_article(t, &next, NULL, st)) != 0 ||
        (rc = log_change_at(t, next.revision,
                            ARTSTORE__V1__CHANGE_TYPE__CHANGE_CREATE, &next,
                            NULL, st)) != 0 ||
        (rc = stage_key(t, key, klen, next.id, next.revision, st)) != 0)
        return rc;
    t->next_id = next.id + 1;
    if (next.revision > t->last_seq)
        t->last_seq = next.revision;
    if ((rc = meta_put_u64(t->txn, t->s->dbi[AS_DBI_META], AS_META_EXACT_SEQ,
                           t->last_seq)) != 0)
        return txn_fail(t, rc, "put meta " AS_META_EXACT_SEQ, st);
    out->id = next.id;
    out->outcome = ARTSTORE__V1__PUT_OUTCOME__PUT_CREATED;
    out->revision = next.revision;
    return 0;
}

int as_store_delete(as_wtxn_t *t, uint64_t id, const char *url,
                    const as_write_cond_t *cond, uint64_t *id_out,
                    uint64_t *revision_out, as_status_t *st)
{
    Artstore__V1__Article *old = NULL;
    unsigned char kbuf[8];
    MDB_val k = { 8, kbuf };
    req_rec_t rec;
    int rc;

    if ((rc = req_find(t, cond, &rec, st)) < 0)
        return -rc;
    if (rc == 1) {
        if (rec.outcome != 0 || (id != 0 && id != rec.id))
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                 "request_id was already used by another "
                                 "write (revision %llu)",
                                 (unsigned long long)rec.seq);
        *id_out = rec.id;
        *revision_out = rec.seq;
        return 0;
    }

    if (id == 0 && url != NULL) {
        unsigned char key[AS_KEY_MAX];

        if ((rc = wtxn_find_key(t, key, as_url_key(url, key), &id, st)) != 0)
            return rc;
        if (id == 0)
            return as_status_set(st, AS_CODE_NOT_FOUND, "no article with url "
                                 "%.200s", url);
    }
    if ((rc = wtxn_get_article(t, id, &old, st)) != 0)
        return rc;
    if ((rc = check_expected(id, old->revision, cond && cond->has_expected,
                             cond ? cond->expected : 0, st)) != 0)
        goto out_free;
    t->last_seq++;
    t->dirty = 1;
    as_be_put64(kbuf, id);
    if ((rc = index_article(t, old, 0, st)) != 0 ||
        (rc = as__story_delete(t, old, st)) != 0)
        goto out_free;
    if ((rc = mdb_del(t->txn, t->s->dbi[AS_DBI_ARTICLES], &k, NULL)) != 0 ||
        ((rc = mdb_del(t->txn, t->s->dbi[AS_DBI_ARTICLE_TAILS], &k,
                       NULL)) != 0 && rc != MDB_NOTFOUND)) {
        rc = txn_fail(t, rc, "delete article", st);
        goto out_free;
    }
    if ((rc = log_change(t, ARTSTORE__V1__CHANGE_TYPE__CHANGE_DELETE, old,
                         NULL, st)) != 0 ||
        (rc = stage_article(t, id, t->last_seq, NULL, 0, st)) != 0)
        goto out_free;
    if (t->deferred) {
        unsigned char key[AS_KEY_MAX];

        if ((rc = stage_key(t, key, as_article_key(old, key), 0, t->last_seq,
                            st)) != 0)
            goto out_free;
    }
    *id_out = id;
    *revision_out = t->last_seq;
    rc = req_record(t, cond, id, 0, NULL, st);

out_free:
    artstore__v1__article__free_unpacked(old, NULL);
    return rc;
}

/* ------------------------------------------------------------ reads */

int as_reader_create(as_store_t *s, as_reader_t **out, as_status_t *st)
{
    as_reader_t *r = calloc(1, sizeof(*r));
    int rc;

    if (r == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    r->s = s;
    if ((r->codec = as_codec_new(0)) == NULL) {
        free(r);
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    atomic_store(&r->open_epoch, UINT64_MAX);
    /* Listed before the lock is let go: as_store_replace ends the
     * transaction of every listed reader. */
    pthread_rwlock_rdlock(&s->resize_lock);
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
    if (rc == 0) {
        mdb_txn_reset(r->txn);
        pthread_mutex_lock(&s->readers_lock);
        r->next = s->readers;
        if (s->readers != NULL)
            s->readers->prev = r;
        s->readers = r;
        pthread_mutex_unlock(&s->readers_lock);
    }
    pthread_rwlock_unlock(&s->resize_lock);
    if (rc != 0) {
        as_codec_free(r->codec);
        free(r);
        return as_status_set(st, AS_CODE_INTERNAL, "begin read: %s",
                             mdb_strerror(rc));
    }
    *out = r;
    return 0;
}

void as_reader_free(as_reader_t *r)
{
    if (r == NULL)
        return;
    if (r->open)
        as_reader_end(r);
    /* Shared, so that the environment is not replaced under the abort. */
    pthread_rwlock_rdlock(&r->s->resize_lock);
    pthread_mutex_lock(&r->s->readers_lock);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        r->s->readers = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    pthread_mutex_unlock(&r->s->readers_lock);
    if (r->txn != NULL)
        mdb_txn_abort(r->txn);
    pthread_rwlock_unlock(&r->s->resize_lock);
    as_codec_free(r->codec);
    free(r->ovbufs);
    free(r);
}

int as_reader_begin(as_reader_t *r, as_status_t *st)
{
    int rc;

    /* The epoch is read before the snapshot begins: every commit of an
     * earlier epoch is in the snapshot (overlay.h). */
    r->epoch = as_overlay_epoch(r->s->ov);
    atomic_store(&r->open_epoch, r->epoch);
    pthread_rwlock_rdlock(&r->s->resize_lock);
    /* No transaction: the environment was replaced (as_store_replace). */
    rc = r->txn != NULL ? mdb_txn_renew(r->txn)
                        : mdb_txn_begin(r->s->env, NULL, MDB_RDONLY, &r->txn);
    if (rc != 0) {
        atomic_store(&r->open_epoch, UINT64_MAX);
        pthread_rwlock_unlock(&r->s->resize_lock);
        return as_status_set(st, AS_CODE_INTERNAL, "renew read: %s",
                             mdb_strerror(rc));
    }
    r->open = 1;
    return 0;
}

void as_reader_end(as_reader_t *r)
{
    if (!r->open)
        return;
    mdb_txn_reset(r->txn);
    as_codec_reset(r->codec);
    while (r->n_ovbufs > 0)
        free(r->ovbufs[--r->n_ovbufs]);
    atomic_store(&r->open_epoch, UINT64_MAX);
    r->open = 0;
    pthread_rwlock_unlock(&r->s->resize_lock);
}

MDB_txn *as__reader_txn(as_reader_t *r)
{
    return r->txn;
}

/* Reads key k of table dbi in r's snapshot into *d. Returns 0, MDB_NOTFOUND
 * with st untouched (the caller says what an absent key means), or INTERNAL
 * with "get <what>: <lmdb error>". */
static int reader_get(as_reader_t *r, enum as_dbi dbi, MDB_val *k, MDB_val *d,
                      const char *what, as_status_t *st)
{
    int rc = mdb_get(r->txn, r->s->dbi[dbi], k, d);

    if (rc == 0 || rc == MDB_NOTFOUND)
        return rc;
    return as_status_set(st, AS_CODE_INTERNAL, "get %s: %s", what,
                         mdb_strerror(rc));
}

/* Reads the record of table dbi keyed by id (8 bytes big-endian, written
 * into kbuf) in r's snapshot into *d; *k, unless k is NULL, is set to the
 * key. Returns 0, NOT_FOUND with "<what> <id>", or INTERNAL as
 * reader_get. */
static int reader_get_id(as_reader_t *r, enum as_dbi dbi, uint64_t id,
                         unsigned char kbuf[8], MDB_val *k, MDB_val *d,
                         const char *what, as_status_t *st)
{
    MDB_val key = { 8, kbuf };
    int rc;

    as_be_put64(kbuf, id);
    if (k != NULL)
        *k = key;
    rc = reader_get(r, dbi, &key, d, what, st);
    if (rc == MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_NOT_FOUND, "%s %llu", what,
                             (unsigned long long)id);
    return rc;
}

int as_store_get_raw(as_reader_t *r, uint64_t id, as_bytes_t *out,
                     as_status_t *st)
{
    unsigned char kbuf[8];
    MDB_val k, d;
    int rc;

    if ((rc = reader_get_id(r, AS_DBI_ARTICLES, id, kbuf, &k, &d, "article",
                            st)) != 0)
        return rc;
    return as__article_unstore(r->txn, r->s->dbi[AS_DBI_ARTICLE_TAILS],
                               r->codec, &k, &d, &out->data, &out->len, st);
}

int as_store_find_url(as_reader_t *r, const char *url, uint64_t *id,
                      as_status_t *st)
{
    unsigned char key[AS_KEY_MAX];
    MDB_val k, d;
    int rc;

    k.mv_size = as_url_key(url, key);
    k.mv_data = key;
    rc = reader_get(r, AS_DBI_BY_URL, &k, &d, "by_url", st);
    if (rc == MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_NOT_FOUND, "no article with url %.200s",
                             url);
    if (rc != 0)
        return rc;
    if (d.mv_size != 8)
        return as_status_set(st, AS_CODE_DATA_LOSS, "by_url entry corrupt");
    *id = as_be_get64(d.mv_data);
    return 0;
}

int as_store_get_latest(as_reader_t *r, uint64_t id, as_bytes_t *out,
                        as_status_t *st)
{
    void *p = NULL;
    size_t n = 0;
    int rc = as_overlay_get(r->s->ov, id, r->epoch, &p, &n);

    if (rc == AS_OV_MISS)
        return as_store_get_raw(r, id, out, st);
    if (rc == AS_OV_GONE)
        return as_status_set(st, AS_CODE_NOT_FOUND, "article %llu",
                             (unsigned long long)id);
    if (rc == AS_OV_FOUND && r->n_ovbufs == r->cap_ovbufs) {
        size_t cap = r->cap_ovbufs ? r->cap_ovbufs * 2 : 16;
        void **b = realloc(r->ovbufs, cap * sizeof(*b));

        if (b == NULL) {
            free(p);
            rc = -1;
        } else {
            r->ovbufs = b;
            r->cap_ovbufs = cap;
        }
    }
    if (rc != AS_OV_FOUND)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory reading article %llu",
                             (unsigned long long)id);
    r->ovbufs[r->n_ovbufs++] = p;
    out->data = p;
    out->len = n;
    return 0;
}

int as_store_find_url_latest(as_reader_t *r, const char *url, uint64_t *id,
                             as_status_t *st)
{
    unsigned char key[AS_KEY_MAX];
    int rc = as_overlay_find_key(r->s->ov, key, as_url_key(url, key),
                                 r->epoch, id);

    if (rc == AS_OV_MISS)
        return as_store_find_url(r, url, id, st);
    if (rc == AS_OV_GONE)
        return as_status_set(st, AS_CODE_NOT_FOUND,
                             "no article with url %.200s", url);
    return 0;
}

int as_store_get_stats(as_reader_t *r, as_store_stats_t *out, as_status_t *st)
{
    as_store_t *s = r->s;
    MDB_dbi meta = s->dbi[AS_DBI_META];
    MDB_stat ms;
    MDB_envinfo info;
    MDB_cursor *c;
    MDB_val k, d;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = mdb_stat(r->txn, s->dbi[AS_DBI_ARTICLES], &ms)) != 0)
        goto out_fail;
    out->articles = ms.ms_entries;
    if ((rc = mdb_stat(r->txn, s->dbi[AS_DBI_CHANGES], &ms)) != 0)
        goto out_fail;
    out->changes = ms.ms_entries;
    if ((rc = as__meta_get_u64(r->txn, meta, AS_META_TAG_COUNT, &out->tags)) != 0 ||
        (rc = as__meta_get_u64(r->txn, meta, AS_META_LAST_SEQ, &out->last_seq)) != 0 ||
        (rc = as__meta_get_u64(r->txn, meta, AS_META_NEXT_ID, &out->next_id)) != 0)
        goto out_fail;
    if ((rc = mdb_cursor_open(r->txn, s->dbi[AS_DBI_CHANGES], &c)) != 0)
        goto out_fail;
    if (mdb_cursor_get(c, &k, &d, MDB_FIRST) == 0 && k.mv_size == 8)
        out->oldest_seq = as_be_get64(k.mv_data);
    mdb_cursor_close(c);
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &ms);
    out->map_size = info.me_mapsize;
    out->map_used = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
    return 0;

out_fail:
    return as_status_set(st, AS_CODE_INTERNAL, "stats: %s", mdb_strerror(rc));
}

int as_store_snapshot_seq(as_reader_t *r, uint64_t *seq, as_status_t *st)
{
    int rc = as__meta_get_u64(r->txn, r->s->dbi[AS_DBI_META], AS_META_LAST_SEQ,
                              seq);

    if (rc != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "read last_seq: %s",
                             mdb_strerror(rc));
    return 0;
}

/* ------------------------------------------------------------ postings */

/* How many single steps a posting iterator tries before it seeks. */
#define POSTINGS_STEPS 4

struct as_postings {
    MDB_cursor *c;
    MDB_val key;
    int time_index;        /* by_time: positions are keys, not values */
    int known;             /* the key has a list */
    int valid;             /* head is the cursor's current position */
    int done;              /* no position left in this direction */
    as_pos_t head;
    uint64_t count;
};

/* Encodes p as an index entry (time_key ‖ id, big-endian). */
static void pos_pack(as_pos_t p, unsigned char out[16])
{
    as_be_put64(out, p.tk);
    as_be_put64(out + 8, p.id);
}

/* Reads the cursor's current position (k, d) into p->head. */
static int postings_load(as_postings_t *p, const MDB_val *k, const MDB_val *d,
                         as_status_t *st)
{
    const MDB_val *v = p->time_index ? k : d;

    if (v->mv_size != 16)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "index entry of %zu bytes, not 16", v->mv_size);
    p->head.tk = as_be_get64(v->mv_data);
    p->head.id = as_be_get64((const unsigned char *)v->mv_data + 8);
    p->valid = 1;
    return 0;
}

/* Ends the walk when rc is MDB_NOTFOUND; reports other LMDB errors. */
static int postings_end(as_postings_t *p, int rc, as_status_t *st)
{
    if (rc == MDB_NOTFOUND) {
        p->done = 1;
        p->valid = 0;
        return 0;
    }
    return as_status_set(st, AS_CODE_INTERNAL, "index walk: %s",
                         mdb_strerror(rc));
}

/* Opens an iterator on key (klen bytes) of the DUPSORT index dbi. */
static int postings_open_key(as_reader_t *r, MDB_dbi dbi, const void *key,
                             size_t klen, as_postings_t **out,
                             as_status_t *st)
{
    as_postings_t *p = calloc(1, sizeof(*p));
    MDB_val k = { klen, (void *)key }, d;
    size_t count;
    int rc;

    if (p == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if ((rc = mdb_cursor_open(r->txn, dbi, &p->c)) != 0)
        goto out_fail;
    /* MDB_SET_KEY: k becomes the map's copy of the key, valid for the
     * transaction (the caller's key is gone when this returns). */
    rc = mdb_cursor_get(p->c, &k, &d, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) {
        p->done = 1;       /* an unknown key: an empty list */
        *out = p;
        return 0;
    }
    if (rc != 0 || (rc = mdb_cursor_count(p->c, &count)) != 0)
        goto out_fail;
    p->key = k;
    p->known = 1;
    p->count = count;
    *out = p;
    return 0;

out_fail:
    as_postings_close(p);
    return as_status_set(st, AS_CODE_INTERNAL, "open index: %s",
                         mdb_strerror(rc));
}

int as_postings_open_story(as_reader_t *r, uint64_t story,
                           as_postings_t **out, as_status_t *st)
{
    unsigned char kb[8];

    as_be_put64(kb, story);
    return postings_open_key(r, r->s->dbi[AS_DBI_BY_STORY], kb, 8, out, st);
}

int as_store_walk_stories(as_reader_t *r, const as_pos_t *before,
                          uint64_t since_tk, as_story_visit_fn fn, void *arg,
                          as_status_t *st)
{
    unsigned char start[16];
    MDB_cursor *c;
    MDB_val k, d;
    int rc, ret = 0;

    memset(start, 0xff, sizeof(start));
    if (before != NULL) {
        as_be_put64(start, before->tk);
        as_be_put64(start + 8, before->id);
    }
    if ((rc = mdb_cursor_open(r->txn, r->s->dbi[AS_DBI_STORY_TIME], &c)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "open story_time: %s",
                             mdb_strerror(rc));
    /* The last key below start, then backwards. */
    k.mv_size = sizeof(start);
    k.mv_data = start;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
    else if (rc == 0)
        rc = mdb_cursor_get(c, &k, &d, MDB_PREV);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_PREV)) {
        as_pos_t pos;
        as_bytes_t story;

        if (k.mv_size != 16 || memcmp(k.mv_data, start, 16) >= 0)
            continue;
        pos.tk = as_be_get64(k.mv_data);
        pos.id = as_be_get64((const unsigned char *)k.mv_data + 8);
        if (pos.tk < since_tk)
            break;  /* every story further on was last seen earlier */
        if ((ret = as_store_get_story(r, pos.id, &story, st)) != 0)
            break;
        if ((ret = fn(arg, pos, story, st)) != 0) {
            if (ret == AS_VISIT_STOP)
                ret = 0;
            break;
        }
    }
    mdb_cursor_close(c);
    if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_INTERNAL, "walk stories: %s",
                             mdb_strerror(rc));
    return ret;
}

int as_postings_open(as_reader_t *r, enum as_index which, const char *key,
                     as_postings_t **out, as_status_t *st)
{
    static const enum as_dbi dbis[] = {
        [AS_INDEX_TAG] = AS_DBI_BY_TAG,
        [AS_INDEX_SOURCE] = AS_DBI_BY_SOURCE,
        [AS_INDEX_TIME] = AS_DBI_BY_TIME,
    };
    MDB_dbi dbi = r->s->dbi[dbis[which]];
    as_postings_t *p;
    MDB_stat ms;
    int rc;

    if (which != AS_INDEX_TIME)
        return postings_open_key(r, dbi, key, strlen(key), out, st);
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if ((rc = mdb_cursor_open(r->txn, dbi, &p->c)) != 0 ||
        (rc = mdb_stat(r->txn, dbi, &ms)) != 0)
        goto out_fail;
    p->time_index = p->known = 1;
    p->count = ms.ms_entries;
    *out = p;
    return 0;

out_fail:
    as_postings_close(p);
    return as_status_set(st, AS_CODE_INTERNAL, "open index: %s",
                         mdb_strerror(rc));
}

void as_postings_close(as_postings_t *p)
{
    if (p == NULL)
        return;
    if (p->c != NULL)
        mdb_cursor_close(p->c);
    free(p);
}

int as_postings_known(const as_postings_t *p)
{
    return p->known;
}

uint64_t as_postings_count(const as_postings_t *p)
{
    return p->count;
}

void as_postings_rewind(as_postings_t *p)
{
    p->valid = 0;
    p->done = !p->known;
}

/* Range-seeks to target (MDB_GET_BOTH_RANGE in a list, MDB_SET_RANGE in
 * by_time). Newest first, the seek lands at or after target and steps
 * back once; when everything is before target it starts at the end. */
static int postings_range_seek(as_postings_t *p, as_pos_t target, int desc,
                               as_status_t *st)
{
    unsigned char buf[16];
    MDB_val k = p->key, d;
    int rc;

    pos_pack(target, buf);
    if (p->time_index) {
        k.mv_size = 16;
        k.mv_data = buf;
        rc = mdb_cursor_get(p->c, &k, &d, MDB_SET_RANGE);
    } else {
        d.mv_size = 16;
        d.mv_data = buf;
        rc = mdb_cursor_get(p->c, &k, &d, MDB_GET_BOTH_RANGE);
    }
    if (rc == 0) {
        if ((rc = postings_load(p, &k, &d, st)) != 0 || !desc ||
            as_pos_cmp(p->head, target) <= 0)
            return rc;
        rc = mdb_cursor_get(p->c, &k, &d,
                            p->time_index ? MDB_PREV : MDB_PREV_DUP);
        return rc ? postings_end(p, rc, st) : postings_load(p, &k, &d, st);
    }
    if (rc != MDB_NOTFOUND || !desc)
        return postings_end(p, rc, st);
    k = p->key;
    if (p->time_index)
        rc = mdb_cursor_get(p->c, &k, &d, MDB_LAST);
    else if ((rc = mdb_cursor_get(p->c, &k, &d, MDB_SET)) == 0)
        rc = mdb_cursor_get(p->c, &k, &d, MDB_LAST_DUP);
    return rc ? postings_end(p, rc, st) : postings_load(p, &k, &d, st);
}

int as_postings_seek(as_postings_t *p, as_pos_t target, int desc, int *found,
                     as_pos_t *head, as_status_t *st)
{
    MDB_cursor_op step = p->time_index ? (desc ? MDB_PREV : MDB_NEXT)
                                       : (desc ? MDB_PREV_DUP : MDB_NEXT_DUP);
    MDB_val k = p->key, d;
    int rc = 0, steps;

    *found = 0;
    if (p->done)
        return 0;
    if (p->valid && !as_pos_before(p->head, target, desc))
        goto out_found;
    /* A few steps first: a step costs far less than a seek, which searches
     * the main tree again, and dense lists often reach target in one. */
    for (steps = 0; p->valid && steps < POSTINGS_STEPS; steps++) {
        if ((rc = mdb_cursor_get(p->c, &k, &d, step)) != 0) {
            if ((rc = postings_end(p, rc, st)) != 0 || p->done)
                return rc;
        }
        if ((rc = postings_load(p, &k, &d, st)) != 0)
            return rc;
        if (!as_pos_before(p->head, target, desc))
            goto out_found;
    }
    if ((rc = postings_range_seek(p, target, desc, st)) != 0 || p->done)
        return rc;
out_found:
    *found = 1;
    *head = p->head;
    return 0;
}

int as_postings_has(as_postings_t *p, as_pos_t x, int *found,
                    as_status_t *st)
{
    unsigned char buf[16];
    MDB_val k = p->key, d = { 16, buf };
    int rc;

    *found = 0;
    p->valid = 0;
    if (!p->known)
        return 0;
    pos_pack(x, buf);
    rc = mdb_cursor_get(p->c, &k, &d, MDB_GET_BOTH);
    if (rc == 0)
        *found = 1;
    else if (rc != MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_INTERNAL, "index probe: %s",
                             mdb_strerror(rc));
    return 0;
}

/* Compares two byte strings as LMDB orders keys. */
static int mval_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
    int c = n ? memcmp(a->mv_data, b->mv_data, n) : 0;

    if (c != 0)
        return c;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

int as_store_get_form(as_reader_t *r, char kind, const char *key,
                      size_t len, as_bytes_t *out, as_status_t *st)
{
    unsigned char kb[AS_FORM_KEY_MAX];
    MDB_val k = { len + 1, kb }, d;
    int rc;

    out->data = key;
    out->len = len;
    if (len + 1 > AS_FORM_KEY_MAX)
        return 0;
    kb[0] = (unsigned char)kind;
    memcpy(kb + 1, key, len);
    rc = reader_get(r, AS_DBI_FORMS, &k, &d, "forms", st);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    out->data = d.mv_data;
    out->len = d.mv_size;
    return 0;
}

/* Ends a tag walk: closes its cursor c and returns the visitor's ret
 * (AS_VISIT_STOP is a normal end), else 0 when the cursor ran out
 * (MDB_NOTFOUND) or INTERNAL for another LMDB code rc. */
static int tag_walk_end(MDB_cursor *c, int rc, int ret, as_status_t *st)
{
    mdb_cursor_close(c);
    if (ret != 0)
        return ret == AS_VISIT_STOP ? 0 : ret;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_INTERNAL, "list tags: %s",
                             mdb_strerror(rc));
    return 0;
}

int as_store_walk_tags(as_reader_t *r, const void *from, size_t from_len,
                       const void *prefix, size_t prefix_len,
                       as_tag_visit_fn fn, void *arg, as_status_t *st)
{
    MDB_val k = { prefix_len, (void *)prefix }, f = { from_len, (void *)from };
    MDB_val d;
    MDB_cursor *c;
    size_t count;
    int rc, ret = 0;

    if ((rc = mdb_cursor_open(r->txn, r->s->dbi[AS_DBI_BY_TAG], &c)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "list tags: %s",
                             mdb_strerror(rc));
    if (from_len > 0 && mval_cmp(&f, &k) > 0)
        k = f;
    for (rc = mdb_cursor_get(c, &k, &d, k.mv_size ? MDB_SET_RANGE : MDB_FIRST);
         rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_NODUP)) {
        if (k.mv_size < prefix_len ||
            (prefix_len > 0 && memcmp(k.mv_data, prefix, prefix_len) != 0))
            break;
        if ((rc = mdb_cursor_count(c, &count)) != 0)
            break;
        if ((ret = fn(arg, k.mv_data, k.mv_size, count, st)) != 0)
            break;
    }
    return tag_walk_end(c, rc, ret, st);
}

int as_store_walk_tags_by_count(as_reader_t *r, int has_after,
                                uint64_t after_count, const void *after,
                                size_t after_len, as_tag_visit_fn fn,
                                void *arg, as_status_t *st)
{
    unsigned char buf[AS_TAG_COUNT_KEY_MAX];
    MDB_val k = { 0, buf }, d;
    MDB_cursor *c;
    int rc, ret = 0, op = MDB_FIRST;

    if (has_after) {
        /* A cursor's name longer than any indexed tag: start after every
         * tag of its count. */
        if ((k.mv_size = tag_count_key(buf, after_count, after,
                                       after_len)) == 0)
            k.mv_size = tag_count_key(buf, after_count, after,
                                      AS_TAG_COUNT_KEY_MAX - 8);
        op = MDB_SET_RANGE;
    }
    if ((rc = mdb_cursor_open(r->txn, r->s->dbi[AS_DBI_TAG_COUNTS], &c)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "list tags: %s",
                             mdb_strerror(rc));
    for (rc = mdb_cursor_get(c, &k, &d, op); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size < 8) {
            ret = as_status_set(st, AS_CODE_DATA_LOSS, "tag_counts: a key of "
                                "%zu bytes", k.mv_size);
            break;
        }
        /* The cursor's own entry was on the page before. */
        if (has_after && UINT64_MAX - as_be_get64(k.mv_data) == after_count &&
            k.mv_size - 8 == after_len &&
            memcmp((char *)k.mv_data + 8, after, after_len) == 0)
            continue;
        if ((ret = fn(arg, (const char *)k.mv_data + 8, k.mv_size - 8,
                      UINT64_MAX - as_be_get64(k.mv_data), st)) != 0)
            break;
    }
    return tag_walk_end(c, rc, ret, st);
}

/* ------------------------------------------------------------ changelog */

int as_store_changes_bounds(as_reader_t *r, uint64_t *oldest, uint64_t *last,
                            as_status_t *st)
{
    MDB_cursor *c;
    MDB_val k, d;
    int rc;

    *oldest = 0;
    if ((rc = as_store_snapshot_seq(r, last, st)) != 0)
        return rc;
    if ((rc = mdb_cursor_open(r->txn, r->s->dbi[AS_DBI_CHANGES], &c)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "open changes: %s",
                             mdb_strerror(rc));
    rc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    mdb_cursor_close(c);
    if (rc == 0 && k.mv_size == 8)
        *oldest = as_be_get64(k.mv_data);
    else if (rc == 0)
        return as_status_set(st, AS_CODE_DATA_LOSS, "bad changes key");
    else if (rc != MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_INTERNAL, "read changes: %s",
                             mdb_strerror(rc));
    return 0;
}

int as_store_changes_scan(as_reader_t *r, uint64_t after,
                          as_change_visit_fn fn, void *arg, as_status_t *st)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, d;
    MDB_cursor *c;
    as_bytes_t raw;
    int rc, ret = 0;

    if (after == UINT64_MAX)
        return 0;
    if ((rc = mdb_cursor_open(r->txn, r->s->dbi[AS_DBI_CHANGES], &c)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "open changes: %s",
                             mdb_strerror(rc));
    as_be_put64(kb, after + 1);
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size != 8) {
            ret = as_status_set(st, AS_CODE_DATA_LOSS, "bad changes key");
            break;
        }
        raw.data = d.mv_data;
        raw.len = d.mv_size;
        if ((ret = fn(arg, as_be_get64(k.mv_data), raw, st)) != 0)
            break;
    }
    mdb_cursor_close(c);
    if (ret != 0)
        return ret == AS_VISIT_STOP ? 0 : ret;
    if (rc != MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_INTERNAL, "read changes: %s",
                             mdb_strerror(rc));
    return 0;
}

int as_store_changes_bounds_latest(as_reader_t *r, uint64_t *oldest,
                                   uint64_t *last, as_status_t *st)
{
    uint64_t snap, tail;
    int rc;

    if ((rc = as_store_changes_bounds(r, oldest, last, st)) != 0)
        return rc;
    snap = *last;
    tail = as_overlay_last_change(r->s->ov);
    if (tail > snap) {
        *last = tail;
        /* Every retained change is in the overlay's tail. */
        if (*oldest == 0)
            *oldest = snap + 1;
    }
    return 0;
}

/* The state of as_store_changes_scan_latest: the caller's visitor, and
 * whether it stopped the walk. */
typedef struct latest_scan {
    as_change_visit_fn fn;
    void *arg;
    uint64_t upto;
    int stopped;
    as_status_t *st;
} latest_scan_t;

/* as_change_visit_fn over the snapshot: passes changes up to upto on. */
static int latest_visit(void *arg, uint64_t seq, as_bytes_t raw,
                        as_status_t *st)
{
    latest_scan_t *l = arg;
    int rc = seq > l->upto ? AS_VISIT_STOP : l->fn(l->arg, seq, raw, st);

    if (rc == AS_VISIT_STOP)
        l->stopped = 1;
    return rc;
}

/* as_overlay_change_fn: the same over the overlay's tail. */
static int latest_tail_visit(void *arg, uint64_t seq, const void *val,
                             size_t len)
{
    latest_scan_t *l = arg;
    as_bytes_t raw = { val, len };

    return l->fn(l->arg, seq, raw, l->st);
}

int as_store_changes_scan_latest(as_reader_t *r, uint64_t after, uint64_t upto,
                                 as_change_visit_fn fn, void *arg,
                                 as_status_t *st)
{
    latest_scan_t l = { fn, arg, upto, 0, st };
    uint64_t snap;
    int rc;

    if ((rc = as_store_changes_scan(r, after, latest_visit, &l, st)) != 0 ||
        l.stopped)
        return rc;
    if ((rc = as_store_snapshot_seq(r, &snap, st)) != 0)
        return rc;
    /* What the snapshot does not hold is in the tail until the reader
     * ends (overlay.h). */
    rc = as_overlay_changes(r->s->ov, after > snap ? after : snap, upto,
                            latest_tail_visit, &l);
    return rc == AS_VISIT_STOP ? 0 : rc;
}

int as_store_changes_trim(as_wtxn_t *t, as_change_expired_fn expired,
                          void *arg, size_t max, size_t *n, as_status_t *st)
{
    MDB_cursor *c;
    MDB_val k, d;
    as_bytes_t raw;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(t->txn, t->s->dbi[AS_DBI_CHANGES], &c)) != 0)
        return txn_fail(t, rc, "open changes", st);
    while (*n < max && (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST)) == 0) {
        if (k.mv_size != 8) {
            mdb_cursor_close(c);
            return as_status_set(st, AS_CODE_DATA_LOSS, "bad changes key");
        }
        raw.data = d.mv_data;
        raw.len = d.mv_size;
        if (!expired(arg, as_be_get64(k.mv_data), raw))
            break;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        t->dirty = 1;
        (*n)++;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return txn_fail(t, rc, "trim changes", st);
    return 0;
}

int as_store_get_story(as_reader_t *r, uint64_t id, as_bytes_t *out,
                       as_status_t *st)
{
    unsigned char kbuf[8];
    MDB_val d;
    int rc;

    if ((rc = reader_get_id(r, AS_DBI_STORIES, id, kbuf, NULL, &d, "story",
                            st)) != 0)
        return rc;
    if (as__story_record_parse(d.mv_data, d.mv_size, out) != 0)
        return as_status_set(st, AS_CODE_DATA_LOSS, "story %llu is stored "
                             "corrupt", (unsigned long long)id);
    return 0;
}

int as__wtxn_get_article(as_wtxn_t *t, uint64_t id,
                         Artstore__V1__Article **out, as_status_t *st)
{
    return wtxn_get_article(t, id, out, st);
}

int as__wtxn_put_article(as_wtxn_t *t, const Artstore__V1__Article *a,
                         as_status_t *st)
{
    return put_article(t, a, NULL, st);
}

int as_store_story_sizes(as_reader_t *r, uint64_t bytes[4], as_status_t *st)
{
    static const enum as_dbi dbis[4] = { AS_DBI_FINGERPRINTS, AS_DBI_STORIES,
                                         AS_DBI_BY_STORY, AS_DBI_STORY_TIME };
    MDB_stat ms;
    int i, rc;

    for (i = 0; i < 4; i++) {
        if ((rc = mdb_stat(r->txn, r->s->dbi[dbis[i]], &ms)) != 0)
            return as_status_set(st, AS_CODE_INTERNAL, "stat: %s",
                                 mdb_strerror(rc));
        bytes[i] = (uint64_t)(ms.ms_branch_pages + ms.ms_leaf_pages +
                              ms.ms_overflow_pages) * ms.ms_psize;
    }
    return 0;
}
