/*
 * overlay.c - acknowledged writes that LMDB has not committed yet. See
 * overlay.h.
 *
 * One chained hash table holds both kinds of entries, told apart by a kind
 * byte in front of the key: an article by its id (8 bytes big-endian) and
 * a natural key. Each entry is one allocation: the entry, its key, then its
 * value. Change events (KIND_CHANGE, keyed by seq) are not in the table but
 * in an array in seq order, the changelog's tail.
 */
#include "overlay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "be.h"

enum { KIND_ARTICLE = 'a', KIND_KEY = 'k', KIND_CHANGE = 'c' };

typedef struct entry {
    struct entry *next;         /* bucket chain */
    uint64_t hash;
    uint64_t rev;               /* KIND_CHANGE: the seq */
    uint64_t retired;           /* 0: published and live; N: epoch N */
    uint64_t id;                /* KIND_KEY: the article's id, 0: gone */
    int tomb;                   /* KIND_ARTICLE: deleted */
    size_t klen, vlen;
    unsigned char *key;         /* kind byte, then the key */
    unsigned char *val;
} entry_t;

struct as_overlay {
    pthread_rwlock_t lock;
    entry_t **buckets;
    size_t nbuckets, count;
    entry_t **staged;           /* the writing thread's, in order */
    size_t nstaged, capstaged;
    size_t staged_changes;      /* KIND_CHANGE entries among them */
    entry_t **changes;          /* published changes, seq order */
    size_t nchanges, capchanges;
    _Atomic uint64_t last_change;
    _Atomic size_t bytes;
    _Atomic uint64_t epoch;
};

static size_t entry_bytes(const entry_t *e)
{
    return sizeof(*e) + e->klen + e->vlen;
}

as_overlay_t *as_overlay_new(void)
{
    as_overlay_t *ov = calloc(1, sizeof(*ov));

    if (ov == NULL)
        return NULL;
    ov->nbuckets = 1024;
    ov->buckets = calloc(ov->nbuckets, sizeof(*ov->buckets));
    if (ov->buckets == NULL) {
        free(ov);
        return NULL;
    }
    pthread_rwlock_init(&ov->lock, NULL);
    return ov;
}

void as_overlay_free(as_overlay_t *ov)
{
    size_t i;

    if (ov == NULL)
        return;
    for (i = 0; i < ov->nbuckets; i++) {
        entry_t *e = ov->buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    for (i = 0; i < ov->nstaged; i++)
        free(ov->staged[i]);
    for (i = 0; i < ov->nchanges; i++)
        free(ov->changes[i]);
    free(ov->changes);
    free(ov->staged);
    free(ov->buckets);
    pthread_rwlock_destroy(&ov->lock);
    free(ov);
}

/* Allocates an entry with a copy of kind‖key and of val. */
static entry_t *entry_new(int kind, const void *key, size_t klen,
                          const void *val, size_t vlen)
{
    entry_t *e = malloc(sizeof(*e) + 1 + klen + vlen);

    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->key = (unsigned char *)(e + 1);
    e->key[0] = (unsigned char)kind;
    memcpy(e->key + 1, key, klen);
    e->klen = klen + 1;
    e->val = e->key + e->klen;
    if (vlen > 0)
        memcpy(e->val, val, vlen);
    e->vlen = vlen;
    e->hash = XXH3_64bits(e->key, e->klen);
    return e;
}

static int stage(as_overlay_t *ov, entry_t *e)
{
    if (ov->nstaged == ov->capstaged) {
        size_t cap = ov->capstaged ? ov->capstaged * 2 : 256;
        entry_t **p = realloc(ov->staged, cap * sizeof(*p));

        if (p == NULL) {
            free(e);
            return -1;
        }
        ov->staged = p;
        ov->capstaged = cap;
    }
    ov->staged[ov->nstaged++] = e;
    atomic_fetch_add(&ov->bytes, entry_bytes(e));
    return 0;
}

int as_overlay_stage_article(as_overlay_t *ov, uint64_t id, uint64_t rev,
                             const void *val, size_t len)
{
    unsigned char k[8];
    entry_t *e;

    as_be_put64(k, id);
    if ((e = entry_new(KIND_ARTICLE, k, 8, val, val ? len : 0)) == NULL)
        return -1;
    e->id = id;
    e->rev = rev;
    e->tomb = val == NULL;
    return stage(ov, e);
}

int as_overlay_stage_key(as_overlay_t *ov, const void *key, size_t len,
                         uint64_t id, uint64_t rev)
{
    entry_t *e = entry_new(KIND_KEY, key, len, NULL, 0);

    if (e == NULL)
        return -1;
    e->id = id;
    e->rev = rev;
    return stage(ov, e);
}

int as_overlay_stage_change(as_overlay_t *ov, uint64_t seq, const void *val,
                            size_t len)
{
    unsigned char k[8];
    size_t need = ov->nchanges + ov->staged_changes + 1, i;
    entry_t *e;

    /* The tail stays in seq order: a change below it (an exact import
     * keeps the revisions of the store it copies) is left to LMDB. */
    for (i = ov->nstaged; i > 0 && ov->staged_changes > 0; i--)
        if (ov->staged[i - 1]->key[0] == KIND_CHANGE) {
            if (seq <= ov->staged[i - 1]->rev)
                return 0;
            break;
        }
    if (seq <= atomic_load(&ov->last_change))
        return 0;

    /* Room in the published array is made now, so that publishing cannot
     * fail; readers copy from the array under the read lock. */
    if (need > ov->capchanges) {
        size_t cap = ov->capchanges ? ov->capchanges * 2 : 256;
        entry_t **p;

        while (cap < need)
            cap *= 2;
        pthread_rwlock_wrlock(&ov->lock);
        p = realloc(ov->changes, cap * sizeof(*p));
        if (p != NULL) {
            ov->changes = p;
            ov->capchanges = cap;
        }
        pthread_rwlock_unlock(&ov->lock);
        if (p == NULL)
            return -1;
    }
    as_be_put64(k, seq);
    if ((e = entry_new(KIND_CHANGE, k, 8, val, len)) == NULL)
        return -1;
    e->rev = seq;
    if (stage(ov, e) != 0)
        return -1;
    ov->staged_changes++;
    return 0;
}

size_t as_overlay_mark(const as_overlay_t *ov)
{
    return ov->nstaged;
}

void as_overlay_rollback(as_overlay_t *ov, size_t mark)
{
    while (ov->nstaged > mark) {
        entry_t *e = ov->staged[--ov->nstaged];

        if (e->key[0] == KIND_CHANGE)
            ov->staged_changes--;
        atomic_fetch_sub(&ov->bytes, entry_bytes(e));
        free(e);
    }
}

/* Finds the slot that points at the entry with e's key (or the chain's
 * end). Under the lock. */
static entry_t **find_slot(as_overlay_t *ov, uint64_t hash,
                           const unsigned char *key, size_t klen)
{
    entry_t **p = &ov->buckets[hash & (ov->nbuckets - 1)];

    for (; *p != NULL; p = &(*p)->next)
        if ((*p)->hash == hash && (*p)->klen == klen &&
            memcmp((*p)->key, key, klen) == 0)
            break;
    return p;
}

/* Doubles the table when it is fuller than one entry per bucket; a failed
 * allocation keeps the old size (longer chains, still correct). */
static void maybe_grow(as_overlay_t *ov)
{
    size_t n = ov->nbuckets * 2, i;
    entry_t **b;

    if (ov->count <= ov->nbuckets || (b = calloc(n, sizeof(*b))) == NULL)
        return;
    for (i = 0; i < ov->nbuckets; i++) {
        entry_t *e = ov->buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(ov->buckets);
    ov->buckets = b;
    ov->nbuckets = n;
}

void as_overlay_publish(as_overlay_t *ov)
{
    size_t i;

    if (ov->nstaged == 0)
        return;
    pthread_rwlock_wrlock(&ov->lock);
    for (i = 0; i < ov->nstaged; i++) {
        entry_t *e = ov->staged[i];
        entry_t **p;

        if (e->key[0] == KIND_CHANGE) {
            /* Room was made when it was staged. */
            ov->changes[ov->nchanges++] = e;
            atomic_store(&ov->last_change, e->rev);
            continue;
        }
        p = find_slot(ov, e->hash, e->key, e->klen);
        if (*p != NULL) {
            entry_t *old = *p;

            e->next = old->next;
            *p = e;
            atomic_fetch_sub(&ov->bytes, entry_bytes(old));
            free(old);
        } else {
            e->next = NULL;
            *p = e;
            ov->count++;
        }
    }
    maybe_grow(ov);
    pthread_rwlock_unlock(&ov->lock);
    ov->nstaged = 0;
    ov->staged_changes = 0;
}

/* Retires the published changes with epoch and frees, from the oldest,
 * those retired at or below min_open. Under the write lock. */
static void retire_changes(as_overlay_t *ov, uint64_t epoch,
                           uint64_t min_open)
{
    size_t i, gone = 0;

    for (i = 0; i < ov->nchanges; i++)
        if (ov->changes[i]->retired == 0)
            ov->changes[i]->retired = epoch;
    while (gone < ov->nchanges && ov->changes[gone]->retired <= min_open) {
        atomic_fetch_sub(&ov->bytes, entry_bytes(ov->changes[gone]));
        free(ov->changes[gone++]);
    }
    if (gone > 0) {
        ov->nchanges -= gone;
        memmove(ov->changes, ov->changes + gone,
                ov->nchanges * sizeof(*ov->changes));
    }
}

uint64_t as_overlay_committed(as_overlay_t *ov, uint64_t min_open)
{
    uint64_t epoch;
    size_t i;

    pthread_rwlock_wrlock(&ov->lock);
    epoch = atomic_fetch_add(&ov->epoch, 1) + 1;
    for (i = 0; i < ov->nbuckets; i++) {
        entry_t **p = &ov->buckets[i];

        while (*p != NULL) {
            entry_t *e = *p;

            if (e->retired == 0)
                e->retired = epoch;
            if (e->retired <= min_open) {
                *p = e->next;
                ov->count--;
                atomic_fetch_sub(&ov->bytes, entry_bytes(e));
                free(e);
            } else {
                p = &e->next;
            }
        }
    }
    retire_changes(ov, epoch, min_open);
    pthread_rwlock_unlock(&ov->lock);
    return epoch;
}

uint64_t as_overlay_epoch(const as_overlay_t *ov)
{
    return atomic_load(&((as_overlay_t *)ov)->epoch);
}

/* Looks up kind‖key under the read lock; returns the entry if the reader
 * of epoch `epoch` must see it. */
static const entry_t *lookup(as_overlay_t *ov, int kind, const void *key,
                             size_t klen, uint64_t epoch)
{
    unsigned char buf[1 + 512];
    const entry_t *e;
    uint64_t hash;

    if (klen + 1 > sizeof(buf))
        return NULL;
    buf[0] = (unsigned char)kind;
    memcpy(buf + 1, key, klen);
    hash = XXH3_64bits(buf, klen + 1);
    e = *find_slot(ov, hash, buf, klen + 1);
    /* A retired entry is in every snapshot that began after its commit. */
    if (e != NULL && e->retired != 0 && e->retired <= epoch)
        return NULL;
    return e;
}

int as_overlay_get(as_overlay_t *ov, uint64_t id, uint64_t epoch,
                   void **out, size_t *len)
{
    unsigned char k[8];
    const entry_t *e;
    int rc = AS_OV_MISS;

    if (atomic_load(&ov->bytes) == 0)
        return AS_OV_MISS;
    as_be_put64(k, id);
    pthread_rwlock_rdlock(&ov->lock);
    if ((e = lookup(ov, KIND_ARTICLE, k, 8, epoch)) != NULL) {
        if (e->tomb) {
            rc = AS_OV_GONE;
        } else if ((*out = malloc(e->vlen ? e->vlen : 1)) == NULL) {
            rc = -1;
        } else {
            memcpy(*out, e->val, e->vlen);
            *len = e->vlen;
            rc = AS_OV_FOUND;
        }
    }
    pthread_rwlock_unlock(&ov->lock);
    return rc;
}

int as_overlay_find_key(as_overlay_t *ov, const void *key, size_t len,
                        uint64_t epoch, uint64_t *id)
{
    const entry_t *e;
    int rc = AS_OV_MISS;

    if (atomic_load(&ov->bytes) == 0)
        return AS_OV_MISS;
    pthread_rwlock_rdlock(&ov->lock);
    if ((e = lookup(ov, KIND_KEY, key, len, epoch)) != NULL) {
        if (e->id == 0) {
            rc = AS_OV_GONE;
        } else {
            *id = e->id;
            rc = AS_OV_FOUND;
        }
    }
    pthread_rwlock_unlock(&ov->lock);
    return rc;
}

/* The index of the first published change with seq > after. Under the
 * lock. */
static size_t first_change_after(const as_overlay_t *ov, uint64_t after)
{
    size_t lo = 0, hi = ov->nchanges;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ov->changes[mid]->rev <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Changes copied out of the array per hold of the read lock. */
#define CHANGES_CHUNK 64

int as_overlay_changes(as_overlay_t *ov, uint64_t after, uint64_t upto,
                       as_overlay_change_fn fn, void *arg)
{
    const entry_t *chunk[CHANGES_CHUNK];
    size_t n, i, at;
    int rc;

    while (after < upto && atomic_load(&ov->last_change) > after) {
        /* The entries outlive the lock (overlay.h: the caller's open
         * snapshot keeps them); the array may move, so its pointers are
         * copied out. */
        pthread_rwlock_rdlock(&ov->lock);
        at = first_change_after(ov, after);
        for (n = 0; n < CHANGES_CHUNK && at + n < ov->nchanges &&
                    ov->changes[at + n]->rev <= upto; n++)
            chunk[n] = ov->changes[at + n];
        pthread_rwlock_unlock(&ov->lock);
        if (n == 0)
            break;
        for (i = 0; i < n; i++)
            if ((rc = fn(arg, chunk[i]->rev, chunk[i]->val,
                         chunk[i]->vlen)) != 0)
                return rc;
        after = chunk[n - 1]->rev;
    }
    return 0;
}

uint64_t as_overlay_last_change(const as_overlay_t *ov)
{
    return atomic_load(&((as_overlay_t *)ov)->last_change);
}

size_t as_overlay_bytes(const as_overlay_t *ov)
{
    return atomic_load(&((as_overlay_t *)ov)->bytes);
}
