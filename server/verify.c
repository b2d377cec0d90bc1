/*
 * verify.c - offline consistency check of a data directory.
 *
 * The check walks each sub-database once. Forward: for every article it
 * looks up each index entry the article implies. Backward: for every index
 * entry it checks that its article exists and implies it. Since LMDB keeps
 * no duplicate entries, the two directions together prove the indexes are
 * exactly what the articles imply.
 */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "article.h"
#include "be.h"
#include "codec.h"
#include "store_schema.h"

#define MAX_PRINTED 1000

typedef struct check {
    MDB_txn *txn;
    MDB_dbi dbi[AS_DBI_COUNT];
    FILE *err;
    as_verify_report_t *rep;
    as_codec_t *codec;     /* decompresses stored articles (codec.h) */
    int have_tails;        /* article_tails exists (older stores lack it) */
    int check_tag_counts;  /* schema 2: tag_counts must match by_tag */
    int have_forms;        /* forms exists (older stores lack it) */
} check_t;

/* The name of a sub-database, from the store's schema. */
#define DBI_NAME(which) (as_store_schema[which].name)

/* Counts one problem and prints it while under the print cap. */
static void problem(check_t *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(check_t *k, const char *fmt, ...)
{
    va_list ap;

    if (k->rep->problems++ < MAX_PRINTED) {
        va_start(ap, fmt);
        fputs("check: ", k->err);
        vfprintf(k->err, fmt, ap);
        fputc('\n', k->err);
        va_end(ap);
    }
}

static uint64_t meta_u64(check_t *k, const char *name, int *present)
{
    MDB_val key = { strlen(name), (void *)name }, d;

    *present = 0;
    if (mdb_get(k->txn, k->dbi[AS_DBI_META], &key, &d) != 0)
        return 0;
    if (d.mv_size != 8) {
        problem(k, "meta %s is %zu bytes, not 8", name, d.mv_size);
        return 0;
    }
    *present = 1;
    return as_be_get64(d.mv_data);
}

/* Unpacks the article stored under key (its value d in `articles`),
 * joining a split value with its tail and decompressing it first; NULL
 * when it is corrupt (*why says how). *compressed (may be NULL) says
 * whether it was stored compressed. */
static Artstore__V1__Article *unpack_stored(check_t *k, const MDB_val *key,
                                            const MDB_val *d, as_status_t *why,
                                            int *compressed)
{
    Artstore__V1__Article *a;
    const void *v;
    size_t n;

    if (as_codec_is_split(d->mv_data, d->mv_size) && !k->have_tails) {
        as_status_set(why, AS_CODE_DATA_LOSS, "split, and the store has no "
                      "%s", DBI_NAME(AS_DBI_ARTICLE_TAILS));
        return NULL;
    }
    if (compressed != NULL) {
        const unsigned char *p = d->mv_data;
        size_t skip = as_codec_is_split(p, d->mv_size) ? 2 : 0;

        *compressed = as_codec_is_compressed(p + skip, d->mv_size - skip);
    }
    if (as__article_unstore(k->txn, k->dbi[AS_DBI_ARTICLE_TAILS], k->codec,
                            key, d, &v, &n, why) != 0) {
        as_codec_reset(k->codec);
        return NULL;
    }
    a = artstore__v1__article__unpack(NULL, n, v);
    as_codec_reset(k->codec);
    if (a == NULL)
        as_status_set(why, AS_CODE_DATA_LOSS, "not a valid Article");
    return a;
}

/* Reads and unpacks article id; NULL when absent or corrupt. */
static Artstore__V1__Article *load_article(check_t *k, uint64_t id)
{
    unsigned char kb[8];
    MDB_val key = { 8, kb }, d;
    as_status_t why;

    as_be_put64(kb, id);
    if (mdb_get(k->txn, k->dbi[AS_DBI_ARTICLES], &key, &d) != 0)
        return NULL;
    return unpack_stored(k, &key, &d, &why, NULL);
}

/* Whether the DUPSORT index dbi holds (key, tk‖id). */
static int has_posting(check_t *k, MDB_dbi dbi, const char *key, uint64_t tk,
                       uint64_t id)
{
    unsigned char v[16];
    MDB_val kv = { strlen(key), (void *)key }, d = { 16, v };
    MDB_cursor *c;
    int rc;

    if (kv.mv_size == 0 || mdb_cursor_open(k->txn, dbi, &c) != 0)
        return 0;
    as_be_put64(v, tk);
    as_be_put64(v + 8, id);
    rc = mdb_cursor_get(c, &kv, &d, MDB_GET_BOTH);
    mdb_cursor_close(c);
    return rc == 0;
}

/* ------------------------------------------------------------ forward */

/* Checks one article and the entries it implies; counts them in exp[]. */
static void check_article(check_t *k, const MDB_val *key, const MDB_val *val,
                          uint64_t exp[AS_DBI_COUNT], uint64_t *max_id,
                          uint64_t last_seq)
{
    Artstore__V1__Article *a;
    unsigned char nk[AS_KEY_MAX], tb[16];
    uint64_t id, tk;
    MDB_val kv, d;
    as_status_t why;
    size_t i;
    int compressed;

    if (key->mv_size != 8) {
        problem(k, "articles: key of %zu bytes, not 8", key->mv_size);
        return;
    }
    id = as_be_get64(key->mv_data);
    if (id > *max_id)
        *max_id = id;
    if (as_codec_is_split(val->mv_data, val->mv_size))
        exp[AS_DBI_ARTICLE_TAILS]++;
    a = unpack_stored(k, key, val, &why, &compressed);
    if (a == NULL) {
        problem(k, "article %llu: stored value is corrupt: %s",
                (unsigned long long)id, why.msg);
        return;
    }
    if (compressed)
        k->rep->compressed++;
    if (!a->has_id || a->id != id)
        problem(k, "article %llu: stored with id %llu", (unsigned long long)id,
                (unsigned long long)a->id);
    if (a->revision > last_seq)
        problem(k, "article %llu: revision %llu is above last_seq %llu",
                (unsigned long long)id, (unsigned long long)a->revision,
                (unsigned long long)last_seq);
    tk = as__article_time_key(a);

    kv.mv_size = as_article_key(a, nk);
    kv.mv_data = nk;
    exp[AS_DBI_BY_URL]++;
    if (mdb_get(k->txn, k->dbi[AS_DBI_BY_URL], &kv, &d) != 0)
        problem(k, "article %llu: no by_url entry for '%.200s'",
                (unsigned long long)id, a->url ? a->url : "(hash key)");
    else if (d.mv_size != 8 || as_be_get64(d.mv_data) != id)
        problem(k, "article %llu: by_url '%.200s' points elsewhere",
                (unsigned long long)id, a->url ? a->url : "(hash key)");

    for (i = 0; i < a->n_tags; i++) {
        exp[AS_DBI_BY_TAG]++;
        if (!has_posting(k, k->dbi[AS_DBI_BY_TAG], a->tags[i], tk, id))
            problem(k, "article %llu: no by_tag posting for tag '%.200s'",
                    (unsigned long long)id, a->tags[i]);
    }
    if (a->source != NULL) {
        exp[AS_DBI_BY_SOURCE]++;
        if (!has_posting(k, k->dbi[AS_DBI_BY_SOURCE], a->source, tk, id))
            problem(k, "article %llu: no by_source posting for '%.200s'",
                    (unsigned long long)id, a->source);
    }
    as_be_put64(tb, tk);
    as_be_put64(tb + 8, id);
    kv.mv_size = 16;
    kv.mv_data = tb;
    exp[AS_DBI_BY_TIME]++;
    if (mdb_get(k->txn, k->dbi[AS_DBI_BY_TIME], &kv, &d) != 0)
        problem(k, "article %llu: no by_time entry", (unsigned long long)id);
    artstore__v1__article__free_unpacked(a, NULL);
}

/* ------------------------------------------------------------ backward */

/* Checks that every posting in a DUPSORT index (by_tag or by_source)
 * belongs to an article that has it; returns the number of postings and
 * sets *distinct to the number of keys. */
static uint64_t check_postings(check_t *k, enum as_dbi which,
                               uint64_t *distinct)
{
    MDB_cursor *c;
    MDB_val key, d;
    uint64_t n = 0;
    char name[512];
    int rc;

    *distinct = 0;
    if (mdb_cursor_open(k->txn, k->dbi[which], &c) != 0) {
        problem(k, "%s: cannot open cursor", DBI_NAME(which));
        return 0;
    }
    for (rc = mdb_cursor_get(c, &key, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &d, MDB_NEXT)) {
        Artstore__V1__Article *a;
        uint64_t id, tk;
        size_t i;
        int found = 0;

        n++;
        if (key.mv_size >= sizeof(name) || d.mv_size != 16) {
            problem(k, "%s: malformed entry (key %zu bytes, value %zu)",
                    DBI_NAME(which), key.mv_size, d.mv_size);
            continue;
        }
        memcpy(name, key.mv_data, key.mv_size);
        name[key.mv_size] = '\0';
        tk = as_be_get64(d.mv_data);
        id = as_be_get64((unsigned char *)d.mv_data + 8);
        a = load_article(k, id);
        if (a == NULL) {
            problem(k, "%s '%.200s': dangling posting to missing article %llu",
                    DBI_NAME(which), name, (unsigned long long)id);
            continue;
        }
        if (which == AS_DBI_BY_TAG) {
            for (i = 0; i < a->n_tags; i++)
                if (strcmp(a->tags[i], name) == 0)
                    found = 1;
        } else {
            found = a->source != NULL && strcmp(a->source, name) == 0;
        }
        if (!found || as__article_time_key(a) != tk)
            problem(k, "%s '%.200s': posting for article %llu, which does "
                    "not have it (or has another time)", DBI_NAME(which), name,
                    (unsigned long long)id);
        artstore__v1__article__free_unpacked(a, NULL);
    }
    /* MDB_NEXT_NODUP visits each key once. */
    for (rc = mdb_cursor_get(c, &key, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &d, MDB_NEXT_NODUP))
        (*distinct)++;
    mdb_cursor_close(c);
    return n;
}

/* Checks by_url and by_time entries point to articles that imply them;
 * returns the number of entries. */
static uint64_t check_simple(check_t *k, enum as_dbi which)
{
    MDB_cursor *c;
    MDB_val key, d;
    uint64_t n = 0;
    int rc;

    if (mdb_cursor_open(k->txn, k->dbi[which], &c) != 0) {
        problem(k, "%s: cannot open cursor", DBI_NAME(which));
        return 0;
    }
    for (rc = mdb_cursor_get(c, &key, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &d, MDB_NEXT)) {
        Artstore__V1__Article *a;
        unsigned char nk[AS_KEY_MAX];
        uint64_t id;
        size_t nl;

        n++;
        if (which == AS_DBI_BY_URL) {
            if (d.mv_size != 8) {
                problem(k, "by_url: value of %zu bytes", d.mv_size);
                continue;
            }
            id = as_be_get64(d.mv_data);
        } else {
            if (key.mv_size != 16) {
                problem(k, "by_time: key of %zu bytes", key.mv_size);
                continue;
            }
            id = as_be_get64((unsigned char *)key.mv_data + 8);
        }
        a = load_article(k, id);
        if (a == NULL) {
            problem(k, "%s: dangling entry to missing article %llu",
                    DBI_NAME(which), (unsigned long long)id);
            continue;
        }
        if (which == AS_DBI_BY_URL) {
            nl = as_article_key(a, nk);
            if (nl != key.mv_size || memcmp(nk, key.mv_data, nl) != 0)
                problem(k, "by_url: entry for article %llu under a key it "
                        "does not have", (unsigned long long)id);
        } else if (as_be_get64(key.mv_data) != as__article_time_key(a)) {
            problem(k, "by_time: entry for article %llu at a time it does "
                    "not have", (unsigned long long)id);
        }
        artstore__v1__article__free_unpacked(a, NULL);
    }
    mdb_cursor_close(c);
    return n;
}

/* Checks the changelog: gap-free seqs ending at last_seq, but for the
 * gaps an exact import leaves up to exact_seq (store.h). */
static void check_changes(check_t *k, uint64_t last_seq, uint64_t exact_seq)
{
    MDB_cursor *c;
    MDB_val key, d;
    uint64_t prev = 0, seq;
    int rc;

    if (mdb_cursor_open(k->txn, k->dbi[AS_DBI_CHANGES], &c) != 0) {
        problem(k, "changes: cannot open cursor");
        return;
    }
    for (rc = mdb_cursor_get(c, &key, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &d, MDB_NEXT)) {
        Artstore__V1__ChangeEvent *ev;

        if (key.mv_size != 8) {
            problem(k, "changes: key of %zu bytes", key.mv_size);
            continue;
        }
        seq = as_be_get64(key.mv_data);
        if (k->rep->changes == 0)
            k->rep->oldest_seq = seq;
        else if (seq != prev + 1 && seq > exact_seq)
            problem(k, "changes: gap after seq %llu (next is %llu)",
                    (unsigned long long)prev, (unsigned long long)seq);
        k->rep->changes++;
        prev = seq;
        ev = artstore__v1__change_event__unpack(NULL, d.mv_size, d.mv_data);
        if (ev == NULL) {
            problem(k, "changes: seq %llu is not a valid ChangeEvent",
                    (unsigned long long)seq);
            continue;
        }
        if (!ev->has_seq || ev->seq != seq)
            problem(k, "changes: seq %llu holds the event of seq %llu",
                    (unsigned long long)seq, (unsigned long long)ev->seq);
        artstore__v1__change_event__free_unpacked(ev, NULL);
    }
    mdb_cursor_close(c);
    if (k->rep->changes > 0 && prev != last_seq)
        problem(k, "changes: last seq is %llu but meta last_seq is %llu",
                (unsigned long long)prev, (unsigned long long)last_seq);
    if (k->rep->changes == 0 && last_seq != 0)
        /* Retention may drop old events, never the newest one. */
        problem(k, "changes: empty but meta last_seq is %llu",
                (unsigned long long)last_seq);
}

/* ------------------------------------------------------------ driver */

/* Before LMDB maps anything: an interrupted backup is reported as such,
 * and a directory a server holds (its LOCK) is refused, since the check
 * opens the store without LMDB's lock file. Returns 0 or -1 (printed). */
static int offline_checks(const char *dir, FILE *err)
{
    char path[4096];
    as_status_t st;
    int fd;

    if (as_store_check_partial(dir, &st) != 0) {
        fprintf(err, "check: %s\n", st.msg);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        close(fd);
        fprintf(err, "check: %s is in use by a running server; stop it "
                "first (or check a backup)\n", dir);
        return -1;
    }
    close(fd);
    return 0;
}

/* Opens the environment in dir read-only and every sub-database of the
 * schema in one read snapshot (k->txn). Returns 0, or -1 with the reason
 * printed to err (and everything closed). */
static int verify_open(const char *dir, FILE *err, check_t *k, MDB_env **env)
{
    int rc, i;

    char file[4096];
    as_status_t st;

    if (offline_checks(dir, err) != 0)
        return -1;
    if ((rc = mdb_env_create(env)) != 0)
        goto out_lmdb;
    mdb_env_set_maxdbs(*env, AS_DBI_COUNT + 2);
    /* MDB_RDONLY | MDB_NOLOCK: the check never writes, not even lock.mdb,
     * and works on a read-only copy; offline_checks made sure that no
     * server has the directory open. */
    if ((rc = mdb_env_open(*env, dir, MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK,
                           0644)) != 0)
        goto out_lmdb;
    snprintf(file, sizeof(file), "%s/data.mdb", dir);
    if (as_store_check_size(*env, file, &st) != 0) {
        fprintf(err, "check: %s\n", st.msg);
        mdb_env_close(*env);
        return -1;
    }
    if ((rc = mdb_txn_begin(*env, NULL, MDB_RDONLY, &k->txn)) != 0)
        goto out_lmdb;
    for (i = 0; i < AS_DBI_COUNT; i++) {
        rc = mdb_dbi_open(k->txn, DBI_NAME(i), as_store_schema[i].flags,
                          &k->dbi[i]);
        /* A store written before request ids existed has no such table. */
        if (rc == MDB_NOTFOUND && i >= AS_DBI_REQUESTS)
            continue;
        if (rc == 0 && i == AS_DBI_ARTICLE_TAILS)
            k->have_tails = 1;
        /* Schema 1 has no tag_counts: the server builds it at open. */
        if (rc == MDB_NOTFOUND && i == AS_DBI_TAG_COUNTS)
            continue;
        if (rc == 0 && i == AS_DBI_FORMS)
            k->have_forms = 1;
        if (rc != 0) {
            fprintf(err, "check: %s: sub-database %s: %s\n", dir, DBI_NAME(i),
                    mdb_strerror(rc));
            mdb_txn_abort(k->txn);
            mdb_env_close(*env);
            return -1;
        }
    }
    return 0;

out_lmdb:
    fprintf(err, "check: cannot open the store in %s: %s\n", dir,
            mdb_strerror(rc));
    if (k->txn != NULL)
        mdb_txn_abort(k->txn);
    mdb_env_close(*env);
    return -1;
}

/* Checks every article forward (counting the entries they imply in exp)
 * and next_id. Returns 0 or an LMDB error. */
static int verify_articles(check_t *k, uint64_t exp[AS_DBI_COUNT])
{
    as_verify_report_t *out = k->rep;
    MDB_cursor *c;
    MDB_val key, val;
    uint64_t max_id = 0;
    int rc;

    if ((rc = mdb_cursor_open(k->txn, k->dbi[AS_DBI_ARTICLES], &c)) != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
        out->articles++;
        check_article(k, &key, &val, exp, &max_id, out->last_seq);
    }
    mdb_cursor_close(c);
    if (out->articles > 0 && out->next_id <= max_id)
        problem(k, "meta: next_id %llu is not above the largest id %llu",
                (unsigned long long)out->next_id, (unsigned long long)max_id);
    return 0;
}

/* Checks that every tail in article_tails belongs to an article stored
 * split; returns the number of tails. */
static uint64_t check_tails(check_t *k)
{
    MDB_cursor *c;
    MDB_val key, d, head;
    uint64_t n = 0;
    int rc;

    if (!k->have_tails ||
        mdb_cursor_open(k->txn, k->dbi[AS_DBI_ARTICLE_TAILS], &c) != 0)
        return 0;
    for (rc = mdb_cursor_get(c, &key, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &d, MDB_NEXT)) {
        n++;
        if (key.mv_size != 8)
            problem(k, "%s: key of %zu bytes, not 8",
                    DBI_NAME(AS_DBI_ARTICLE_TAILS), key.mv_size);
        else if (mdb_get(k->txn, k->dbi[AS_DBI_ARTICLES], &key, &head) != 0 ||
                 !as_codec_is_split(head.mv_data, head.mv_size))
            problem(k, "%s: a tail for article %llu, which is not stored "
                    "split", DBI_NAME(AS_DBI_ARTICLE_TAILS),
                    (unsigned long long)as_be_get64(key.mv_data));
    }
    mdb_cursor_close(c);
    return n;
}

/*
 * Checks tag_counts against by_tag: each entry's count is its tag's number
 * of postings, and there is one entry per distinct tag (distinct: by_tag's
 * distinct keys).
 */
static void check_tag_counts(check_t *k, uint64_t distinct)
{
    MDB_cursor *c, *bt;
    MDB_val key, d, tag;
    uint64_t n = 0, count;
    size_t have;
    int rc;

    if (mdb_cursor_open(k->txn, k->dbi[AS_DBI_TAG_COUNTS], &c) != 0 ||
        mdb_cursor_open(k->txn, k->dbi[AS_DBI_BY_TAG], &bt) != 0) {
        problem(k, "%s: cannot open cursor", DBI_NAME(AS_DBI_TAG_COUNTS));
        return;
    }
    for (rc = mdb_cursor_get(c, &key, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &d, MDB_NEXT)) {
        n++;
        if (key.mv_size <= 8) {
            problem(k, "%s: malformed key of %zu bytes",
                    DBI_NAME(AS_DBI_TAG_COUNTS), key.mv_size);
            continue;
        }
        count = UINT64_MAX - as_be_get64(key.mv_data);
        tag.mv_size = key.mv_size - 8;
        tag.mv_data = (char *)key.mv_data + 8;
        have = 0;
        if (mdb_cursor_get(bt, &tag, &d, MDB_SET) == 0)
            mdb_cursor_count(bt, &have);
        if (have != count)
            problem(k, "%s: tag '%.*s' counted %llu, by_tag has %zu "
                    "postings", DBI_NAME(AS_DBI_TAG_COUNTS),
                    (int)(key.mv_size - 8 > 200 ? 200 : key.mv_size - 8),
                    (const char *)key.mv_data + 8, (unsigned long long)count,
                    have);
    }
    mdb_cursor_close(bt);
    mdb_cursor_close(c);
    if (n != distinct)
        problem(k, "%s: %llu entries for %llu distinct tags in by_tag",
                DBI_NAME(AS_DBI_TAG_COUNTS), (unsigned long long)n,
                (unsigned long long)distinct);
}

/* Checks every index backward against what the articles implied (exp). */
/* Checks `forms`: every display form belongs to a tag ('t') or source
 * ('s') key that some article carries (a form outlives no key). */
static void check_forms(check_t *k)
{
    MDB_cursor *c;
    MDB_val key, d, pk, pd;
    int rc;

    if (!k->have_forms)
        return;                /* a store from before display forms */
    if (mdb_cursor_open(k->txn, k->dbi[AS_DBI_FORMS], &c) != 0) {
        problem(k, "forms: cannot open cursor");
        return;
    }
    for (rc = mdb_cursor_get(c, &key, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &d, MDB_NEXT)) {
        const char *kp = key.mv_data;
        enum as_dbi idx = kp[0] == 's' ? AS_DBI_BY_SOURCE : AS_DBI_BY_TAG;

        if (key.mv_size < 2 || (kp[0] != 't' && kp[0] != 's')) {
            problem(k, "forms: a key of %zu bytes is not 't' or 's' and a "
                    "key", key.mv_size);
            continue;
        }
        pk.mv_size = key.mv_size - 1;
        pk.mv_data = (char *)key.mv_data + 1;
        if (mdb_get(k->txn, k->dbi[idx], &pk, &pd) != 0)
            problem(k, "forms: '%.*s' (%s) is carried by no article",
                    (int)(pk.mv_size > 64 ? 64 : pk.mv_size),
                    (const char *)pk.mv_data, kp[0] == 's' ? "source" : "tag");
    }
    mdb_cursor_close(c);
}

static void verify_indexes(check_t *k, const uint64_t exp[AS_DBI_COUNT],
                           uint64_t tag_count)
{
    as_verify_report_t *out = k->rep;
    uint64_t n, distinct;

    if ((n = check_tails(k)) != exp[AS_DBI_ARTICLE_TAILS])
        problem(k, "%s: %llu tails for %llu articles stored split",
                DBI_NAME(AS_DBI_ARTICLE_TAILS), (unsigned long long)n,
                (unsigned long long)exp[AS_DBI_ARTICLE_TAILS]);
    if ((n = check_simple(k, AS_DBI_BY_URL)) != exp[AS_DBI_BY_URL])
        problem(k, "by_url: %llu entries for %llu articles",
                (unsigned long long)n, (unsigned long long)exp[AS_DBI_BY_URL]);
    if ((n = check_simple(k, AS_DBI_BY_TIME)) != exp[AS_DBI_BY_TIME])
        problem(k, "by_time: %llu entries for %llu articles",
                (unsigned long long)n, (unsigned long long)exp[AS_DBI_BY_TIME]);
    if ((n = check_postings(k, AS_DBI_BY_TAG, &out->tags)) !=
        exp[AS_DBI_BY_TAG])
        problem(k, "by_tag: %llu postings, the articles have %llu tags",
                (unsigned long long)n, (unsigned long long)exp[AS_DBI_BY_TAG]);
    if (out->tags != tag_count)
        problem(k, "meta: tag_count is %llu, by_tag has %llu distinct tags",
                (unsigned long long)tag_count, (unsigned long long)out->tags);
    if (k->check_tag_counts)
        check_tag_counts(k, out->tags);
    if ((n = check_postings(k, AS_DBI_BY_SOURCE, &distinct)) !=
        exp[AS_DBI_BY_SOURCE])
        problem(k, "by_source: %llu postings for %llu articles with a "
                "source", (unsigned long long)n,
                (unsigned long long)exp[AS_DBI_BY_SOURCE]);
    check_forms(k);
}

int as_verify_run(const char *dir, FILE *err, as_verify_report_t *out)
{
    check_t k;
    MDB_env *env = NULL;
    uint64_t exp[AS_DBI_COUNT] = { 0 }, tag_count, version;
    int rc, present;

    memset(out, 0, sizeof(*out));
    memset(&k, 0, sizeof(k));
    k.err = err;
    k.rep = out;
    if ((k.codec = as_codec_new(0)) == NULL) {
        fprintf(err, "check: out of memory\n");
        return -1;
    }
    if (verify_open(dir, err, &k, &env) != 0) {
        as_codec_free(k.codec);
        return -1;
    }
    out->last_seq = meta_u64(&k, AS_META_LAST_SEQ, &present);
    out->next_id = meta_u64(&k, AS_META_NEXT_ID, &present);
    if (!present)
        problem(&k, "meta: next_id is missing");
    tag_count = meta_u64(&k, AS_META_TAG_COUNT, &present);
    /* Version 1 (no tag_counts yet) is upgraded by the server at open. */
    version = meta_u64(&k, AS_META_SCHEMA_VERSION, &present);
    if (version != AS_SCHEMA_VERSION && version != 1)
        problem(&k, "meta: schema_version is %llu, not %d (or 1)",
                (unsigned long long)version, AS_SCHEMA_VERSION);
    k.check_tag_counts = version == AS_SCHEMA_VERSION;
    if ((rc = verify_articles(&k, exp)) == 0) {
        verify_indexes(&k, exp, tag_count);
        check_changes(&k, out->last_seq,
                      meta_u64(&k, AS_META_EXACT_SEQ, &present));
    } else {
        fprintf(err, "check: %s: %s\n", dir, mdb_strerror(rc));
    }
    mdb_txn_abort(k.txn);
    mdb_env_close(env);
    as_codec_free(k.codec);
    return rc == 0 ? 0 : -1;
}
