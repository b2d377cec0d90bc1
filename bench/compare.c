/*
 * compare.c - one workload of the side-by-side benchmark, against
 * artstored (through libartstore), Redis (through hiredis) or PostgreSQL
 * (through libpq), printing one line of results:
 * `result workload=... target=... key=value...`. bench/compare runs it
 * alternately on the targets and takes medians.
 *
 * Workloads:
 *   seed      ids 1..K on every target (the get workloads' ids).
 *   ingest    W writers put articles (3-5 KB of generated prose, 1-6
 *             tags), single or in batches of B; Redis: a hash per article
 *             plus ZADD per tag, in one MULTI; PostgreSQL: a prepared
 *             upsert on url, multi-row for a batch (--notify 0: with the
 *             NOTIFY trigger disabled for the run).
 *   get       one client, point gets of random existing ids: latency.
 *   getbatch  one client, --batch ids per request (default 100); Redis a
 *             pipeline of HGETALL, PostgreSQL `id = ANY($1)`: articles/s.
 *   qload     loads the query corpus (the same generated prose, Zipf tags
 *             q0..q199, one second apart).
 *   query     first page of 50 newest for a 2-tag AND, bodies included.
 *   fanout    16 subscribers follow one paced writer: delivery latency.
 *   echo      the transport floor: a bare nanomsg REQ/REP echo of an
 *             article-sized payload, p50/p99 (target "nanomsg").
 *   text      prints query-corpus article --max-id (to read or compress).
 *
 * The PostgreSQL schema the statements assume is bench/pg_schema.sql.
 */
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "artstore.h"
#include "clock.h"

typedef struct opts {
    const char *workload;
    const char *target;        /* artstore | redis | pg | nanomsg */
    const char *server;        /* artstore endpoint */
    const char *redis_host;
    int redis_port;
    int pg_port;
    const char *pg_user;
    int notify;                /* pg: keep the NOTIFY trigger on (ingest) */
    int writers;
    int batch;
    int articles;              /* per writer for ingest; requests for gets */
    int max_id;                /* ids 1..max_id exist (gets) */
    unsigned run;              /* distinguishes URLs between runs */
} opts_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* ------------------------------------------------------------ articles */

/*
 * Article text. Bodies are generated prose, so that compression sees what
 * it would see on news text and not one repeated sentence: sentences of
 * 6-28 words drawn with a Zipf law (Mandelbrot, exponent 1) from a
 * vocabulary of the 120 commonest English words followed by 6,000
 * invented words, with capitalised names, numbers, commas and paragraphs.
 * The vocabulary is built from a fixed seed, so every process and every
 * target sees the same corpus.
 */
static const char *common_words[] = {
    "the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for",
    "it", "with", "as", "his", "on", "be", "at", "by", "had", "are", "but",
    "from", "or", "have", "an", "they", "which", "one", "were", "her", "all",
    "she", "there", "would", "their", "we", "him", "been", "has", "when",
    "who", "will", "more", "no", "if", "out", "so", "said", "what", "up",
    "its", "about", "into", "than", "them", "can", "only", "other", "new",
    "some", "could", "time", "these", "two", "may", "then", "do", "first",
    "any", "now", "such", "like", "our", "over", "even", "most", "made",
    "after", "also", "did", "many", "before", "must", "through", "back",
    "years", "where", "much", "way", "well", "down", "should", "because",
    "each", "just", "those", "people", "how", "too", "little", "state",
    "good", "very", "make", "world", "still", "own", "see", "government",
    "work", "long", "get", "here", "between", "both", "life", "being",
    "under", "never", "day", "same", "another", "minister",
};
#define N_COMMON (sizeof(common_words) / sizeof(common_words[0]))
#define N_INVENTED 6000
#define N_VOCAB (N_COMMON + N_INVENTED)
#define N_TAGS 200

#define ZIPF_BITS 20

static char invented[N_INVENTED][24];
static const char *vocab[N_VOCAB];
static unsigned char vocab_len[N_VOCAB];
/* Word index by a uniform 20-bit draw: the Zipf law as a lookup table
 * (2 MiB), so that generating 1M articles costs seconds, not minutes. */
static uint16_t *zipf_table;
static pthread_once_t vocab_once = PTHREAD_ONCE_INIT;

/* Builds the vocabulary and its cumulative Zipf weights. */
static void vocab_init(void)
{
    static const char *onset[] = {
        "", "b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h",
        "j", "k", "l", "m", "n", "p", "pl", "pr", "r", "s", "sh", "sl", "st",
        "t", "th", "tr", "v", "w", "z",
    };
    static const char *vowel[] = {
        "a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "ee",
    };
    static const char *coda[] = {
        "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck", "rt",
    };
    static const char *suffix[] = { "ing", "ed", "tion", "s", "ly", "er" };
    unsigned seed = 424242;
    double sum = 0, cdf = 0;
    size_t i, rank = 0;

    for (i = 0; i < N_INVENTED; i++) {
        char *w = invented[i];
        int syl = 1 + rand_r(&seed) % 3 + (rand_r(&seed) % 4 == 0), s;

        w[0] = '\0';
        for (s = 0; s < syl; s++) {
            strcat(w, onset[rand_r(&seed) % (sizeof(onset) / sizeof(*onset))]);
            strcat(w, vowel[rand_r(&seed) % (sizeof(vowel) / sizeof(*vowel))]);
            if (s == syl - 1 || rand_r(&seed) % 3 == 0)
                strcat(w, coda[rand_r(&seed) % (sizeof(coda) / sizeof(*coda))]);
        }
        if (rand_r(&seed) % 4 == 0)
            strcat(w, suffix[rand_r(&seed) % (sizeof(suffix) / sizeof(*suffix))]);
    }
    for (i = 0; i < N_VOCAB; i++) {
        vocab[i] = i < N_COMMON ? common_words[i] : invented[i - N_COMMON];
        vocab_len[i] = (unsigned char)strlen(vocab[i]);
        sum += 1.0 / ((double)i + 2.7);
    }
    zipf_table = malloc(sizeof(uint16_t) << ZIPF_BITS);
    if (zipf_table == NULL)
        abort();
    cdf = 1.0 / 2.7 / sum;
    for (i = 0; i < (1u << ZIPF_BITS); i++) {
        double u = ((double)i + 0.5) / (double)(1u << ZIPF_BITS);

        while (cdf < u && rank + 1 < N_VOCAB) {
            rank++;
            cdf += 1.0 / ((double)rank + 2.7) / sum;
        }
        zipf_table[i] = (uint16_t)rank;
    }
}

/* Draws a word's index by its Zipf weight. */
static size_t pick_index(unsigned *seed)
{
    return zipf_table[(unsigned)rand_r(seed) & ((1u << ZIPF_BITS) - 1)];
}

static const char *pick_word(unsigned *seed)
{
    return vocab[pick_index(seed)];
}

/* Appends n bytes of s to buf when they fit (always terminated). */
static void put_mem(char *buf, size_t cap, size_t *len, const char *s,
                    size_t n)
{
    if (*len + n >= cap)
        n = cap - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/* Appends at most cap-1-*len bytes of s to buf (always terminated). */
static void put_str(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (*len + n >= cap)
        n = cap - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/* Appends one sentence (without its final stop) of lo..hi words. */
static void sentence(char *buf, size_t cap, size_t *len, unsigned *seed,
                     int lo, int hi)
{
    int n = lo + rand_r(seed) % (hi - lo + 1), i;
    char tok[48];

    for (i = 0; i < n; i++) {
        int r = rand_r(seed) % 100;

        if (i > 0)
            put_mem(buf, cap, len, " ", 1);
        if (r < 3) {
            switch (rand_r(seed) % 4) {
            case 0:
                snprintf(tok, sizeof(tok), "%d", 1950 + rand_r(seed) % 80);
                break;
            case 1:
                snprintf(tok, sizeof(tok), "%d.%d million",
                         1 + rand_r(seed) % 900, rand_r(seed) % 10);
                break;
            case 2:
                snprintf(tok, sizeof(tok), "%d percent", 1 + rand_r(seed) % 99);
                break;
            default:
                snprintf(tok, sizeof(tok), "%d", 2 + rand_r(seed) % 5000);
            }
        } else if (r < 10 || i == 0) {
            /* A name, or the sentence's first word: capitalised. */
            const char *w = r < 10 ? invented[rand_r(seed) % N_INVENTED]
                                   : pick_word(seed);

            snprintf(tok, sizeof(tok), "%s", w);
            tok[0] = (char)(tok[0] >= 'a' && tok[0] <= 'z' ? tok[0] - 32
                                                             : tok[0]);
        } else {
            size_t w = pick_index(seed);

            put_mem(buf, cap, len, vocab[w], vocab_len[w]);
            tok[0] = '\0';
        }
        put_str(buf, cap, len, tok);
        if (i + 1 < n && rand_r(seed) % 14 == 0)
            put_mem(buf, cap, len, ",", 1);
    }
}

/* Fills buf with paragraphs of prose until it holds about target bytes. */
static size_t prose(char *buf, size_t cap, unsigned *seed, size_t target)
{
    size_t len = 0;
    int in_par = 0;

    pthread_once(&vocab_once, vocab_init);
    buf[0] = '\0';
    while (len < target && len + 256 < cap) {
        if (in_par > 0)
            put_str(buf, cap, &len, " ");
        sentence(buf, cap, &len, seed, 6, 28);
        put_str(buf, cap, &len, rand_r(seed) % 25 == 0 ? "?" : ".");
        if (++in_par >= 2 + rand_r(seed) % 5) {
            put_str(buf, cap, &len, "\n\n");
            in_par = 0;
        }
    }
    return len;
}

typedef struct gen_article {
    char url[96];
    char title[160];
    char body[5600];
    char source[32];
    char tag_buf[6][16];
    const char *tags[6];
    int n_tags;
    int64_t published;
} gen_article_t;

/* Zipf-like tag pick: a few tags very common, most rare. */
static int pick_tag(unsigned *seed)
{
    double u = (double)rand_r(seed) / RAND_MAX;

    return (int)((double)N_TAGS * u * u * u) % N_TAGS;
}

/* Fills the title, body (3-5 KB of prose) and source of a from seed. */
static void gen_text(gen_article_t *a, unsigned *seed)
{
    size_t len = 0;

    pthread_once(&vocab_once, vocab_init);
    a->title[0] = '\0';
    sentence(a->title, sizeof(a->title), &len, seed, 5, 12);
    prose(a->body, sizeof(a->body), seed, 3000 + (size_t)(rand_r(seed) % 2000));
    snprintf(a->source, sizeof(a->source), "wire%d", rand_r(seed) % 20);
}

/* Makes a realistic article for (writer, i): 3-5 KB body, 1-6 tags. */
static void gen(gen_article_t *a, const opts_t *o, int writer, int i)
{
    unsigned seed = (unsigned)(writer * 7919 + i * 104729) ^ o->run;
    int t, k;

    snprintf(a->url, sizeof(a->url), "https://bench.example/%u/%d/%d", o->run,
             writer, i);
    gen_text(a, &seed);
    a->n_tags = 1 + rand_r(&seed) % 6;
    for (t = 0; t < a->n_tags; t++) {
        k = pick_tag(&seed);
        snprintf(a->tag_buf[t], sizeof(a->tag_buf[t]), "tag%d", k);
        a->tags[t] = a->tag_buf[t];
    }
    a->published = 1700000000 + i * 60 + writer;
}

static void to_as(const gen_article_t *g, as_article_t *a)
{
    memset(a, 0, sizeof(*a));
    a->url = g->url;
    a->title = g->title;
    a->body = g->body;
    a->source = g->source;
    a->tags = g->tags;
    a->n_tags = (size_t)g->n_tags;
    a->has_published_at = 1;
    a->published_at = g->published;
}

/* ------------------------------------------------------------ targets */

typedef enum target { T_ARTSTORE, T_REDIS, T_PG } target_t;

static target_t target_of(const opts_t *o)
{
    if (strcmp(o->target, "artstore") == 0)
        return T_ARTSTORE;
    if (strcmp(o->target, "redis") == 0)
        return T_REDIS;
    return T_PG;
}

/* One connection to whichever target the run measures. */
typedef struct conn {
    as_client_t *as;
    redisContext *r;
    PGconn *pg;
    unsigned char prepared[1001];  /* pg: "put<n>" prepared for n rows */
} conn_t;

static redisContext *redis_connect(const opts_t *o)
{
    redisContext *r = redisConnect(o->redis_host, o->redis_port);

    if (r == NULL || r->err) {
        fprintf(stderr, "redis connect: %s\n", r ? r->errstr : "oom");
        exit(1);
    }
    return r;
}

/* The statements a PostgreSQL user would prepare: the schema is
 * bench/pg_schema.sql. */
#define PG_COLS "id, url, title, body, source, tags, published_at"
#define PG_GET1 "SELECT " PG_COLS " FROM articles WHERE id = $1"
#define PG_GETN "SELECT " PG_COLS " FROM articles WHERE id = ANY($1::bigint[])"
#define PG_QUERY "SELECT " PG_COLS " FROM articles WHERE tags @> " \
                 "ARRAY[$1, $2]::text[] ORDER BY published_at DESC LIMIT 50"
#define PG_UPSERT_TAIL                                                       \
    " ON CONFLICT (url) DO UPDATE SET title = EXCLUDED.title, "              \
    "body = EXCLUDED.body, source = EXCLUDED.source, tags = EXCLUDED.tags, " \
    "published_at = EXCLUDED.published_at, "                                 \
    "revision = articles.revision + 1 RETURNING id"

static PGresult *pg_check(PGconn *pg, PGresult *res, ExecStatusType want,
                          const char *what)
{
    if (PQresultStatus(res) != want) {
        fprintf(stderr, "pg %s: %s", what, PQerrorMessage(pg));
        PQclear(res);
        return NULL;
    }
    return res;
}

static int pg_exec(PGconn *pg, const char *sql)
{
    PGresult *res = pg_check(pg, PQexec(pg, sql), PGRES_COMMAND_OK, sql);

    PQclear(res);
    return res ? 0 : -1;
}

static PGconn *pg_connect(const opts_t *o)
{
    char info[160];
    PGconn *pg;
    PGresult *res;

    snprintf(info, sizeof(info), "host=%s port=%d user=%s dbname=postgres",
             o->redis_host, o->pg_port, o->pg_user);
    pg = PQconnectdb(info);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "pg connect: %s", PQerrorMessage(pg));
        exit(1);
    }
    if (!(res = pg_check(pg, PQprepare(pg, "get1", PG_GET1, 0, NULL),
                         PGRES_COMMAND_OK, "prepare get1")))
        exit(1);
    PQclear(res);
    if (!(res = pg_check(pg, PQprepare(pg, "getn", PG_GETN, 0, NULL),
                         PGRES_COMMAND_OK, "prepare getn")))
        exit(1);
    PQclear(res);
    if (!(res = pg_check(pg, PQprepare(pg, "query", PG_QUERY, 0, NULL),
                         PGRES_COMMAND_OK, "prepare query")))
        exit(1);
    PQclear(res);
    return pg;
}

static void conn_open(conn_t *c, const opts_t *o, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    switch (target_of(o)) {
    case T_ARTSTORE:
        if (as_client_connect(o->server, timeout_ms, &c->as) != AS_OK) {
            fprintf(stderr, "artstore connect %s failed\n", o->server);
            exit(1);
        }
        break;
    case T_REDIS:
        c->r = redis_connect(o);
        break;
    case T_PG:
        c->pg = pg_connect(o);
        break;
    }
}

static void conn_close(conn_t *c)
{
    as_client_close(c->as);
    if (c->r != NULL)
        redisFree(c->r);
    if (c->pg != NULL)
        PQfinish(c->pg);
    memset(c, 0, sizeof(*c));
}

/* Upserts n articles in one statement: a multi-row INSERT ... ON CONFLICT,
 * prepared once per row count. ids (may be NULL) gets the ids, in order.
 * Returns 0 or -1 (message on stderr). */
static int pg_put(conn_t *c, const gen_article_t *g, int n, int64_t *ids)
{
    char name[16], (*tags)[112] = malloc(sizeof(*tags) * (size_t)n);
    char (*ts)[24] = malloc(sizeof(*ts) * (size_t)n);
    const char **v = malloc(sizeof(char *) * 6 * (size_t)n);
    PGresult *res;
    int i, t, rc = -1;

    snprintf(name, sizeof(name), "put%d", n);
    if (!c->prepared[n]) {
        size_t cap = 64 + (size_t)n * 96 + sizeof(PG_UPSERT_TAIL), len;
        char *sql = malloc(cap);

        len = (size_t)snprintf(sql, cap, "INSERT INTO articles (url, title, "
                               "body, source, tags, published_at) VALUES ");
        for (i = 0; i < n; i++)
            len += (size_t)snprintf(sql + len, cap - len,
                                    "%s($%d, $%d, $%d, $%d, $%d::text[], "
                                    "to_timestamp($%d))", i ? ", " : "",
                                    6 * i + 1, 6 * i + 2, 6 * i + 3,
                                    6 * i + 4, 6 * i + 5, 6 * i + 6);
        snprintf(sql + len, cap - len, "%s", PG_UPSERT_TAIL);
        res = pg_check(c->pg, PQprepare(c->pg, name, sql, 0, NULL),
                       PGRES_COMMAND_OK, "prepare put");
        free(sql);
        if (res == NULL)
            goto out;
        PQclear(res);
        c->prepared[n] = 1;
    }
    for (i = 0; i < n; i++) {
        size_t len = 1;

        tags[i][0] = '{';
        for (t = 0; t < g[i].n_tags; t++)
            len += (size_t)snprintf(tags[i] + len, sizeof(tags[i]) - len,
                                    "%s%s", t ? "," : "", g[i].tags[t]);
        snprintf(tags[i] + len, sizeof(tags[i]) - len, "}");
        snprintf(ts[i], sizeof(ts[i]), "%lld", (long long)g[i].published);
        v[6 * i] = g[i].url;
        v[6 * i + 1] = g[i].title;
        v[6 * i + 2] = g[i].body;
        v[6 * i + 3] = g[i].source;
        v[6 * i + 4] = tags[i];
        v[6 * i + 5] = ts[i];
    }
    res = pg_check(c->pg, PQexecPrepared(c->pg, name, 6 * n, v, NULL, NULL, 0),
                   PGRES_TUPLES_OK, "put");
    if (res == NULL)
        goto out;
    if (PQntuples(res) == n) {
        for (i = 0; ids != NULL && i < n; i++)
            ids[i] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        rc = 0;
    }
    PQclear(res);
out:
    free(tags);
    free(ts);
    free(v);
    return rc;
}

/* Sets the NOTIFY trigger on or off (for the ingest run without it). */
static int pg_notify_trigger(const opts_t *o, int on)
{
    conn_t c;
    int rc;

    conn_open(&c, o, 0);
    rc = pg_exec(c.pg, on ? "ALTER TABLE articles ENABLE TRIGGER articles_notify"
                          : "ALTER TABLE articles DISABLE TRIGGER articles_notify");
    conn_close(&c);
    return rc;
}

/* ------------------------------------------------------------ ingest */

typedef struct worker {
    const opts_t *o;
    int id;
    double *lat;               /* per request, seconds */
    size_t n_lat;
    int errors;
} worker_t;

/* Appends the MULTI body for one article: HSET + one ZADD per tag. */
static int redis_append_article(redisContext *r, const gen_article_t *g,
                                long long id)
{
    char key[32], ts[32], idbuf[32];
    int t, n = 1;

    snprintf(key, sizeof(key), "art:%lld", id);
    snprintf(ts, sizeof(ts), "%lld", (long long)g->published);
    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    redisAppendCommand(r, "HSET %s url %s title %s body %s source %s "
                          "published_at %s", key, g->url, g->title, g->body,
                       g->source, ts);
    for (t = 0; t < g->n_tags; t++, n++)
        redisAppendCommand(r, "ZADD tag:%s %s %s", g->tags[t], ts, idbuf);
    return n;
}

static int redis_read_replies(redisContext *r, int n)
{
    redisReply *rep;
    int i, bad = 0;

    for (i = 0; i < n; i++) {
        if (redisGetReply(r, (void **)&rep) != REDIS_OK)
            return -1;
        if (rep->type == REDIS_REPLY_ERROR)
            bad++;
        freeReplyObject(rep);
    }
    return bad;
}

/* Puts n generated articles on any target, as one request (artstore: a
 * put or a batch; Redis: one MULTI; pg: one multi-row upsert). id0 is
 * Redis's first key. Returns 0 or -1. */
static int put_articles(conn_t *c, gen_article_t *g, int n, long long id0)
{
    as_article_t arts[1000];
    as_put_result_t res[1000];
    int j, cmds = 2;

    if (c->as != NULL) {
        int rc;

        for (j = 0; j < n; j++)
            to_as(&g[j], &arts[j]);
        rc = n == 1 ? as_put(c->as, &arts[0], AS_REV_ANY, &res[0])
                    : as_put_batch(c->as, arts, (size_t)n, NULL, res);
        if (rc != AS_OK)
            fprintf(stderr, "put: %s\n", as_client_errmsg(c->as));
        return rc == AS_OK ? 0 : -1;
    }
    if (c->pg != NULL)
        return pg_put(c, g, n, NULL);
    redisAppendCommand(c->r, "MULTI");
    for (j = 0; j < n; j++)
        cmds += redis_append_article(c->r, &g[j], id0 + j);
    redisAppendCommand(c->r, "EXEC");
    return redis_read_replies(c->r, cmds) == 0 ? 0 : -1;
}

static void *ingest_worker(void *arg)
{
    worker_t *w = arg;
    const opts_t *o = w->o;
    int per = o->articles, b = o->batch > 0 ? o->batch : 1, i, j;
    gen_article_t *g = malloc(sizeof(*g) * (size_t)b);
    conn_t c;

    w->lat = malloc(sizeof(double) * (size_t)(per / b + 1));
    conn_open(&c, o, 30000);
    for (i = 0; i < per; i += b) {
        int n = per - i < b ? per - i : b;
        double t0;

        for (j = 0; j < n; j++)
            gen(&g[j], o, w->id, i + j);
        t0 = as_clock_mono_sec();
        if (put_articles(&c, g, n, 1000000000LL +
                                       (long long)o->run * 10000000LL +
                                       (long long)w->id * 100000LL + i) != 0)
            w->errors++;
        w->lat[w->n_lat++] = as_clock_mono_sec() - t0;
    }
    conn_close(&c);
    free(g);
    return NULL;
}

static int run_ingest(const opts_t *o)
{
    worker_t *ws = calloc((size_t)o->writers, sizeof(*ws));
    pthread_t *th = calloc((size_t)o->writers, sizeof(*th));
    double t0, el, *all;
    size_t n = 0, i, k;
    int errors = 0;

    if (target_of(o) == T_PG && !o->notify && pg_notify_trigger(o, 0) != 0)
        return 1;
    t0 = as_clock_mono_sec();
    for (i = 0; i < (size_t)o->writers; i++) {
        ws[i].o = o;
        ws[i].id = (int)i;
        pthread_create(&th[i], NULL, ingest_worker, &ws[i]);
    }
    for (i = 0; i < (size_t)o->writers; i++)
        pthread_join(th[i], NULL);
    el = as_clock_mono_sec() - t0;
    if (target_of(o) == T_PG && !o->notify && pg_notify_trigger(o, 1) != 0)
        errors++;
    for (i = 0; i < (size_t)o->writers; i++)
        n += ws[i].n_lat;
    all = malloc(sizeof(double) * n);
    for (i = 0, n = 0; i < (size_t)o->writers; i++) {
        for (k = 0; k < ws[i].n_lat; k++)
            all[n++] = ws[i].lat[k];
        errors += ws[i].errors;
        free(ws[i].lat);
    }
    qsort(all, n, sizeof(double), cmp_double);
    printf("result workload=ingest target=%s writers=%d batch=%d "
           "articles=%d rate=%.0f p50_us=%.0f p99_us=%.0f errors=%d\n",
           o->target, o->writers, o->batch, o->writers * o->articles,
           (double)(o->writers * o->articles) / el, pct(all, n, 0.5) * 1e6,
           pct(all, n, 0.99) * 1e6, errors);
    free(all);
    free(ws);
    free(th);
    return errors ? 1 : 0;
}

/* ------------------------------------------------------------ gets */

/* Fetches ids[0..n-1] (one get, or one batched request) and returns how
 * many were found, or -1 on an error. */
static long long get_articles(conn_t *c, const uint64_t *ids, int n)
{
    long long got = 0;
    int j;

    if (c->as != NULL && n == 1) {
        as_article_t *a = NULL;

        got = as_get(c->as, ids[0], 0, &a) == AS_OK ? 1 : -1;
        as_article_free(a);
    } else if (c->as != NULL) {
        as_article_t **v = NULL;

        if (as_get_many(c->as, ids, (size_t)n, 0, &v) != AS_OK)
            return -1;
        for (j = 0; j < n; j++)
            got += v[j] != NULL;
        as_articles_free(v, (size_t)n);
    } else if (c->pg != NULL) {
        char *list = malloc((size_t)n * 21 + 3), one[24];
        const char *p[1];
        size_t len = 1;
        PGresult *res;

        list[0] = '{';
        for (j = 0; j < n; j++)
            len += (size_t)sprintf(list + len, "%s%llu", j ? "," : "",
                                   (unsigned long long)ids[j]);
        strcpy(list + len, "}");
        snprintf(one, sizeof(one), "%llu", (unsigned long long)ids[0]);
        p[0] = n == 1 ? one : list;
        res = pg_check(c->pg, PQexecPrepared(c->pg, n == 1 ? "get1" : "getn",
                                             1, p, NULL, NULL, 0),
                       PGRES_TUPLES_OK, "get");
        free(list);
        if (res == NULL)
            return -1;
        got = PQntuples(res);
        PQclear(res);
    } else {
        for (j = 0; j < n; j++)
            redisAppendCommand(c->r, "HGETALL art:%llu",
                               (unsigned long long)ids[j]);
        for (j = 0; j < n; j++) {
            redisReply *rep;

            if (redisGetReply(c->r, (void **)&rep) != REDIS_OK)
                return -1;
            got += rep->type == REDIS_REPLY_ARRAY && rep->elements > 0;
            freeReplyObject(rep);
        }
    }
    return got;
}

static int run_get(const opts_t *o, int batch)
{
    int reqs = o->articles, i, j, errors = 0;
    double *lat = malloc(sizeof(double) * (size_t)reqs), t0;
    uint64_t ids[1000];
    unsigned seed = o->run;
    long long got = 0, k;
    double start, el;
    conn_t c;

    conn_open(&c, o, 30000);
    start = as_clock_mono_sec();
    for (i = 0; i < reqs; i++) {
        /* Distinct ids: PostgreSQL's `= ANY` answers a repeated id once. */
        for (j = 0; j < batch; j++) {
            int d;

            ids[j] = 1 + (uint64_t)(rand_r(&seed) % o->max_id);
            for (d = 0; d < j && batch <= o->max_id; d++) {
                if (ids[d] == ids[j]) {
                    ids[j] = 1 + (uint64_t)(rand_r(&seed) % o->max_id);
                    d = -1;
                }
            }
        }
        t0 = as_clock_mono_sec();
        if ((k = get_articles(&c, ids, batch)) < 0)
            errors++;
        else
            got += k;
        lat[i] = as_clock_mono_sec() - t0;
    }
    el = as_clock_mono_sec() - start;
    qsort(lat, (size_t)reqs, sizeof(double), cmp_double);
    printf("result workload=%s target=%s requests=%d batch=%d found=%lld "
           "rate=%.0f p50_us=%.1f p99_us=%.1f\n",
           batch == 1 ? "get" : "getbatch", o->target, reqs, batch, got,
           (double)got / el, pct(lat, (size_t)reqs, 0.5) * 1e6,
           pct(lat, (size_t)reqs, 0.99) * 1e6);
    if (got < (long long)reqs * batch)
        errors++;
    free(lat);
    conn_close(&c);
    return errors ? 1 : 0;
}

/* ------------------------------------------------------------ seed */

/* Loads articles 0..K-1 of writer 0, run 0, as ids 1..K on every target,
 * so the get workloads ask each for the same ids. artstore and PostgreSQL
 * (an identity column) assign ids in order, so the store must be empty:
 * the seed checks that it got 1..K. */
static int run_seed(const opts_t *o)
{
    opts_t so = *o;
    gen_article_t *gs = malloc(sizeof(*gs) * 100);
    as_article_t arts[100];
    as_put_result_t res[100];
    int64_t ids[100];
    int k = o->articles, i, j;
    conn_t c;

    so.run = 0;
    conn_open(&c, o, 30000);
    for (i = 0; i < k; i += 100) {
        int n = k - i < 100 ? k - i : 100;

        for (j = 0; j < n; j++) {
            gen(&gs[j], &so, 0, i + j);
            to_as(&gs[j], &arts[j]);
        }
        if (c.as != NULL) {
            if (as_put_batch(c.as, arts, (size_t)n, NULL, res) != AS_OK ||
                res[n - 1].id != (uint64_t)(i + n)) {
                fprintf(stderr, "seed: store not empty or put failed: %s\n",
                        as_client_errmsg(c.as));
                return 1;
            }
        } else if (c.pg != NULL) {
            if (pg_put(&c, gs, n, ids) != 0 || ids[n - 1] != i + n) {
                fprintf(stderr, "seed: table not empty or put failed\n");
                return 1;
            }
        } else if (put_articles(&c, gs, n, i + 1) != 0) {
            return 1;
        }
    }
    printf("result workload=seed target=%s articles=%d\n", o->target, k);
    conn_close(&c);
    free(gs);
    return 0;
}

/* ------------------------------------------------------------ echo */

static void *echo_server(void *arg)
{
    int s = *(int *)arg;

    for (;;) {
        void *msg = NULL;
        int n = nn_recv(s, &msg, NN_MSG, 0);

        if (n < 0)
            break;
        if (nn_send(s, &msg, NN_MSG, 0) < 0) {
            nn_freemsg(msg);
            break;
        }
    }
    return NULL;
}

/* A bare nanomsg REQ/REP round trip with a reply the size of a stored
 * article: the floor under any artstore request. */
static int run_echo(const opts_t *o)
{
    int rep = nn_socket(AF_SP, NN_REP), req = nn_socket(AF_SP, NN_REQ);
    int reqs = o->articles, i, max = -1;
    double *lat = malloc(sizeof(double) * (size_t)reqs), t0;
    gen_article_t g;
    pthread_t th;

    gen(&g, o, 0, 0);
    nn_setsockopt(rep, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    nn_setsockopt(req, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    if (nn_bind(rep, o->server) < 0 || nn_connect(req, o->server) < 0) {
        fprintf(stderr, "echo: %s\n", nn_strerror(nn_errno()));
        return 1;
    }
    pthread_create(&th, NULL, echo_server, &rep);
    for (i = 0; i < reqs; i++) {
        void *msg = NULL;

        t0 = as_clock_mono_sec();
        nn_send(req, g.body, strlen(g.body), 0);
        if (nn_recv(req, &msg, NN_MSG, 0) < 0)
            return 1;
        nn_freemsg(msg);
        lat[i] = as_clock_mono_sec() - t0;
    }
    nn_close(rep);
    pthread_join(th, NULL);
    nn_close(req);
    qsort(lat, (size_t)reqs, sizeof(double), cmp_double);
    printf("result workload=echo target=nanomsg requests=%d bytes=%zu "
           "p50_us=%.1f p99_us=%.1f\n", reqs, strlen(g.body),
           pct(lat, (size_t)reqs, 0.5) * 1e6, pct(lat, (size_t)reqs, 0.99) * 1e6);
    free(lat);
    return 0;
}

/* ------------------------------------------------------------ query */

#define QCHUNK 1000

/* Generates query-corpus article i: 3-5 KB of prose, Zipf tags q0..q199,
 * published one second apart. The same on every target. */
static void gen_q(gen_article_t *a, int i)
{
    unsigned seed = (unsigned)i * 2654435761u ^ 12345u;
    int t;

    snprintf(a->url, sizeof(a->url), "https://q.example/%d", i);
    gen_text(a, &seed);
    a->n_tags = 1 + rand_r(&seed) % 6;
    for (t = 0; t < a->n_tags; t++) {
        snprintf(a->tag_buf[t], sizeof(a->tag_buf[t]), "q%d",
                 pick_tag(&seed));
        a->tags[t] = a->tag_buf[t];
    }
    a->published = 1600000000 + i;
}

/* Appends s to a COPY text-format line, escaping what COPY needs. */
static size_t copy_field(char *out, const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        if (*s == '\\' || *s == '\n' || *s == '\t' || *s == '\r') {
            out[n++] = '\\';
            out[n++] = *s == '\n' ? 'n' : *s == '\t' ? 't'
                       : *s == '\r' ? 'r' : '\\';
        } else {
            out[n++] = *s;
        }
    }
    return n;
}

/* Loads chunk [i, i+m) of the query corpus into PostgreSQL with COPY, as
 * a bulk load would (the NOTIFY trigger is off during the load). */
static int pg_copy_chunk(PGconn *pg, gen_article_t *g, int m)
{
    size_t cap = 2 * sizeof(*g) + 256, n;
    char *line = malloc(cap);
    PGresult *res;
    int j, t, rc = 0;

    res = pg_check(pg, PQexec(pg, "COPY articles (url, title, body, source, "
                                  "tags, published_at) FROM STDIN"),
                   PGRES_COPY_IN, "copy");
    if (res == NULL) {
        free(line);
        return -1;
    }
    PQclear(res);
    for (j = 0; j < m && rc == 0; j++) {
        time_t tt = (time_t)g[j].published;
        struct tm tm;

        n = copy_field(line, g[j].url);
        line[n++] = '\t';
        n += copy_field(line + n, g[j].title);
        line[n++] = '\t';
        n += copy_field(line + n, g[j].body);
        line[n++] = '\t';
        n += copy_field(line + n, g[j].source);
        line[n++] = '\t';
        line[n++] = '{';
        for (t = 0; t < g[j].n_tags; t++)
            n += (size_t)sprintf(line + n, "%s%s", t ? "," : "", g[j].tags[t]);
        line[n++] = '}';
        line[n++] = '\t';
        gmtime_r(&tt, &tm);
        n += strftime(line + n, 32, "%Y-%m-%d %H:%M:%S+00\n", &tm);
        if (PQputCopyData(pg, line, (int)n) != 1)
            rc = -1;
    }
    free(line);
    if (PQputCopyEnd(pg, rc ? "failed" : NULL) != 1)
        return -1;
    res = pg_check(pg, PQgetResult(pg), PGRES_COMMAND_OK, "copy end");
    PQclear(res);
    while ((res = PQgetResult(pg)) != NULL)
        PQclear(res);
    return res == NULL && rc == 0 ? 0 : -1;
}

/* Loads the query corpus (articles 0..N-1 of gen_q) into the target:
 * artstore in batches of 1,000, Redis as hash art:q<i> plus ZADD
 * qtag:<t>, PostgreSQL with COPY. */
static int run_qload(const opts_t *o)
{
    gen_article_t *g = malloc(sizeof(*g) * QCHUNK);
    as_article_t arts[QCHUNK];
    as_put_result_t res[QCHUNK];
    int n = o->articles, i, j, t, rc = 0;
    conn_t c;

    conn_open(&c, o, 60000);
    if (c.pg != NULL)
        rc = pg_exec(c.pg, "ALTER TABLE articles DISABLE TRIGGER "
                           "articles_notify");
    for (i = 0; i < n && rc == 0; i += QCHUNK) {
        int m = n - i < QCHUNK ? n - i : QCHUNK, cmds = 0;

        for (j = 0; j < m; j++) {
            gen_q(&g[j], i + j);
            to_as(&g[j], &arts[j]);
        }
        if (c.as != NULL) {
            if (as_put_batch(c.as, arts, (size_t)m, NULL, res) != AS_OK) {
                fprintf(stderr, "qload: %s\n", as_client_errmsg(c.as));
                rc = -1;
            }
            continue;
        }
        if (c.pg != NULL) {
            rc = pg_copy_chunk(c.pg, g, m);
            continue;
        }
        /* One MULTI per chunk: with appendfsync always, Redis flushes
         * once per EXEC instead of once per read of the pipeline. */
        redisAppendCommand(c.r, "MULTI");
        cmds = 2;
        for (j = 0; j < m; j++) {
            char key[32], ts[32];

            snprintf(key, sizeof(key), "art:q%d", i + j);
            snprintf(ts, sizeof(ts), "%lld", (long long)g[j].published);
            redisAppendCommand(c.r, "HSET %s url %s title %s body %s "
                                    "source %s published_at %s", key,
                               g[j].url, g[j].title, g[j].body, g[j].source,
                               ts);
            cmds++;
            for (t = 0; t < g[j].n_tags; t++, cmds++)
                redisAppendCommand(c.r, "ZADD qtag:%s %s q%d", g[j].tags[t],
                                   ts, i + j);
        }
        redisAppendCommand(c.r, "EXEC");
        if (redis_read_replies(c.r, cmds) != 0)
            rc = -1;
    }
    if (c.pg != NULL && rc == 0)
        rc = pg_exec(c.pg, "ALTER TABLE articles ENABLE TRIGGER "
                           "articles_notify");
    if (c.pg != NULL && rc == 0)
        rc = pg_exec(c.pg, "VACUUM ANALYZE articles");
    if (rc == 0)
        printf("result workload=qload target=%s articles=%d\n", o->target, n);
    conn_close(&c);
    free(g);
    return rc ? 1 : 0;
}

/* First page of the 50 newest articles (with bodies) tagged with two
 * common tags. Redis: ZINTERSTORE + ZREVRANGE, then the 50 hashes;
 * PostgreSQL: tags @> ARRAY[a, b] ORDER BY published_at DESC LIMIT 50. */
static int run_query(const opts_t *o)
{
    int reqs = o->articles, i, j, errors = 0;
    double *lat = malloc(sizeof(double) * (size_t)reqs), t0;
    unsigned seed = o->run;
    long long got = 0;
    char a[8], b[8], tmp[32];
    conn_t c;

    conn_open(&c, o, 30000);
    snprintf(tmp, sizeof(tmp), "tmp:%u", o->run);
    for (i = 0; i < reqs; i++) {
        int x = rand_r(&seed) % 4, y = x + 1 + rand_r(&seed) % 3;

        snprintf(a, sizeof(a), "q%d", x);
        snprintf(b, sizeof(b), "q%d", y);
        t0 = as_clock_mono_sec();
        if (c.as != NULL) {
            const char *tags[2] = { a, b };
            as_query_spec_t q = { 0 };
            as_query_result_t *res = NULL;

            q.all_of = tags;
            q.n_all_of = 2;
            q.limit = 50;
            if (as_query(c.as, &q, &res) == AS_OK)
                got += (long long)res->n_articles;
            else
                errors++;
            as_query_result_free(res);
        } else if (c.pg != NULL) {
            const char *p[2] = { a, b };
            PGresult *res = pg_check(c.pg, PQexecPrepared(c.pg, "query", 2, p,
                                                          NULL, NULL, 0),
                                     PGRES_TUPLES_OK, "query");

            if (res == NULL) {
                errors++;
                break;
            }
            got += PQntuples(res);
            PQclear(res);
        } else {
            redisReply *rep = NULL, *ids = NULL;

            redisAppendCommand(c.r, "ZINTERSTORE %s 2 qtag:%s qtag:%s "
                                    "AGGREGATE MAX", tmp, a, b);
            redisAppendCommand(c.r, "ZREVRANGE %s 0 49", tmp);
            if (redisGetReply(c.r, (void **)&rep) != REDIS_OK ||
                redisGetReply(c.r, (void **)&ids) != REDIS_OK) {
                errors++;
                break;
            }
            freeReplyObject(rep);
            for (j = 0; j < (int)ids->elements; j++)
                redisAppendCommand(c.r, "HGETALL art:%s", ids->element[j]->str);
            for (j = 0; j < (int)ids->elements; j++) {
                if (redisGetReply(c.r, (void **)&rep) != REDIS_OK) {
                    errors++;
                    break;
                }
                got += rep->type == REDIS_REPLY_ARRAY && rep->elements > 0;
                freeReplyObject(rep);
            }
            freeReplyObject(ids);
        }
        lat[i] = as_clock_mono_sec() - t0;
    }
    qsort(lat, (size_t)reqs, sizeof(double), cmp_double);
    printf("result workload=query target=%s requests=%d found=%lld "
           "p50_us=%.1f p99_us=%.1f\n", o->target, reqs, got,
           pct(lat, (size_t)reqs, 0.5) * 1e6, pct(lat, (size_t)reqs, 0.99) * 1e6);
    free(lat);
    conn_close(&c);
    return errors ? 1 : 0;
}

/* ------------------------------------------------------------ fanout */

#define FAN_SUBS 16

typedef struct fan {
    const opts_t *o;
    double *t_send;            /* per article index, set before its put */
    pthread_barrier_t ready;
    double *lat;               /* FAN_SUBS * articles */
    int got[FAN_SUBS];
} fan_t;

typedef struct fan_sub {
    fan_t *f;
    int k;
} fan_sub_t;

/* Parses the article index from a fan-out URL or message; -1 if none. */
static int fan_index(const char *s)
{
    const char *p = s ? strrchr(s, '/') : NULL;

    return p ? atoi(p + 1) : (s ? atoi(s) : -1);
}

static void fan_record(fan_t *f, int k, int i)
{
    if (i >= 0 && i < f->o->articles && f->got[k] < f->o->articles)
        f->lat[k * f->o->articles + f->got[k]++] = as_clock_mono_sec() - f->t_send[i];
}

static void *fan_subscriber(void *arg)
{
    fan_sub_t *fs = arg;
    fan_t *f = fs->f;
    const opts_t *o = f->o;
    double deadline;

    if (target_of(o) == T_ARTSTORE) {
        as_client_t *c = NULL;
        as_watch_t *w;
        as_watch_opts_t wo = { 0 };
        int rc = as_client_connect(o->server, 10000, &c);

        if (rc != AS_OK || (rc = as_watch_open(c, &wo, &w)) != AS_OK) {
            fprintf(stderr, "fanout: cannot open a watch: %s: %s\n",
                    as_code_name(rc), c ? as_client_errmsg(c) : "");
            exit(1);
        }
        pthread_barrier_wait(&f->ready);
        deadline = as_clock_mono_sec() + 60;
        while (f->got[fs->k] < o->articles && as_clock_mono_sec() < deadline) {
            as_change_t *ch = NULL;

            if (as_watch_next(w, 1000, &ch) == AS_OK && ch != NULL)
                fan_record(f, fs->k, fan_index(ch->url));
            as_change_free(ch);
        }
        as_watch_close(w);
        as_client_close(c);
    } else if (target_of(o) == T_PG) {
        conn_t c;
        PGnotify *nt;

        conn_open(&c, o, 0);
        if (pg_exec(c.pg, "LISTEN articles") != 0)
            exit(1);
        pthread_barrier_wait(&f->ready);
        deadline = as_clock_mono_sec() + 60;
        while (f->got[fs->k] < o->articles && as_clock_mono_sec() < deadline) {
            struct pollfd pfd = { PQsocket(c.pg), POLLIN, 0 };

            if (poll(&pfd, 1, 1000) < 0 || !PQconsumeInput(c.pg))
                break;
            while ((nt = PQnotifies(c.pg)) != NULL) {
                fan_record(f, fs->k, fan_index(nt->extra));
                PQfreemem(nt);
            }
        }
        conn_close(&c);
    } else {
        redisContext *r = redis_connect(o);
        redisReply *rep;
        struct timeval tv = { 1, 0 };

        rep = redisCommand(r, "SUBSCRIBE fan:%u", o->run);
        freeReplyObject(rep);
        redisSetTimeout(r, tv);
        pthread_barrier_wait(&f->ready);
        deadline = as_clock_mono_sec() + 60;
        while (f->got[fs->k] < o->articles && as_clock_mono_sec() < deadline) {
            if (redisGetReply(r, (void **)&rep) != REDIS_OK)
                break;
            if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3)
                fan_record(f, fs->k, fan_index(rep->element[2]->str));
            freeReplyObject(rep);
        }
        redisFree(r);
    }
    return NULL;
}

/* One writer puts articles at a steady pace while 16 subscribers follow
 * the changes (artstore: a watch each; Redis: SUBSCRIBE, with the writer
 * PUBLISHing after each EXEC; PostgreSQL: LISTEN, the trigger NOTIFYing
 * at commit). Latency: put sent -> event received. */
static int run_fanout(const opts_t *o)
{
    fan_t f;
    fan_sub_t subs[FAN_SUBS];
    pthread_t th[FAN_SUBS];
    conn_t c;
    size_t n = 0;
    int i, k, missing = 0, errors = 0;

    memset(&f, 0, sizeof(f));
    f.o = o;
    f.t_send = calloc((size_t)o->articles, sizeof(double));
    f.lat = calloc((size_t)o->articles * FAN_SUBS, sizeof(double));
    pthread_barrier_init(&f.ready, NULL, FAN_SUBS + 1);
    for (k = 0; k < FAN_SUBS; k++) {
        subs[k].f = &f;
        subs[k].k = k;
        pthread_create(&th[k], NULL, fan_subscriber, &subs[k]);
    }
    conn_open(&c, o, 30000);
    pthread_barrier_wait(&f.ready);
    {
        struct timespec pause = { 0, 200 * 1000000L };

        nanosleep(&pause, NULL);
    }
    for (i = 0; i < o->articles; i++) {
        gen_article_t g;
        struct timespec gap = { 0, 5 * 1000000L };

        gen(&g, o, 99, i);
        snprintf(g.url, sizeof(g.url), "https://fan.example/%u/%d", o->run, i);
        f.t_send[i] = as_clock_mono_sec();
        if (c.r != NULL) {
            char msg[16];
            int cmds = 2;

            redisAppendCommand(c.r, "MULTI");
            cmds += redis_append_article(c.r, &g, 2000000000LL +
                                                      (long long)o->run * 100000 + i);
            redisAppendCommand(c.r, "EXEC");
            snprintf(msg, sizeof(msg), "%d", i);
            redisAppendCommand(c.r, "PUBLISH fan:%u %s", o->run, msg);
            if (redis_read_replies(c.r, cmds + 1) != 0)
                errors++;
        } else if (put_articles(&c, &g, 1, 0) != 0) {
            errors++;
        }
        nanosleep(&gap, NULL);
    }
    for (k = 0; k < FAN_SUBS; k++) {
        pthread_join(th[k], NULL);
        missing += o->articles - f.got[k];
        memmove(f.lat + n, f.lat + (size_t)k * o->articles,
                sizeof(double) * (size_t)f.got[k]);
        n += (size_t)f.got[k];
    }
    qsort(f.lat, n, sizeof(double), cmp_double);
    printf("result workload=fanout target=%s subscribers=%d events=%d "
           "missing=%d p50_us=%.0f p99_us=%.0f\n", o->target, FAN_SUBS,
           o->articles, missing, pct(f.lat, n, 0.5) * 1e6,
           pct(f.lat, n, 0.99) * 1e6);
    conn_close(&c);
    pthread_barrier_destroy(&f.ready);
    free(f.t_send);
    free(f.lat);
    return errors ? 1 : 0;
}

/* ------------------------------------------------------------ text */

/* Prints query-corpus article i's body (to look at, or to compress). */
static int run_text(const opts_t *o)
{
    gen_article_t *g = malloc(sizeof(*g));

    gen_q(g, o->max_id);
    printf("%s\n\n%s", g->title, g->body);
    free(g);
    return 0;
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
        "usage: compare WORKLOAD TARGET [--server EP] [--redis-port P]\n"
        "               [--pg-port P] [--pg-user NAME] [--notify 0|1]\n"
        "               [--writers N] [--batch N] [--articles N] "
        "[--max-id N] [--run N]\n"
        "  WORKLOAD: seed | ingest | get | getbatch | echo | qload | query\n"
        "            | fanout | text (prints corpus article --max-id)\n"
        "  TARGET:   artstore | redis | pg | nanomsg (echo)\n"
        "  getbatch asks for --batch ids per request (default 100).\n");
    exit(2);
}

int main(int argc, char **argv)
{
    opts_t o = { 0 };
    int i, batch_set = 0;

    if (argc < 3)
        usage();
    o.workload = argv[1];
    o.target = argv[2];
    o.server = "tcp://127.0.0.1:7400";
    o.redis_host = "127.0.0.1";
    o.redis_port = 6379;
    o.pg_port = 5432;
    o.pg_user = "postgres";
    o.notify = 1;
    o.writers = 1;
    o.batch = 1;
    o.articles = 1000;
    o.max_id = 1000;
    for (i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--server") == 0)
            o.server = argv[i + 1];
        else if (strcmp(argv[i], "--redis-port") == 0)
            o.redis_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--pg-port") == 0)
            o.pg_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--pg-user") == 0)
            o.pg_user = argv[i + 1];
        else if (strcmp(argv[i], "--notify") == 0)
            o.notify = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--writers") == 0)
            o.writers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            o.batch = atoi(argv[i + 1]), batch_set = 1;
        else if (strcmp(argv[i], "--articles") == 0)
            o.articles = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max-id") == 0)
            o.max_id = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--run") == 0)
            o.run = (unsigned)atoi(argv[i + 1]);
        else
            usage();
    }
    if (i != argc || o.writers < 1 || o.batch < 1 || o.batch > 1000 ||
        o.articles < 1 || o.max_id < 1)
        usage();
    if (strcmp(o.target, "artstore") != 0 && strcmp(o.target, "redis") != 0 &&
        strcmp(o.target, "pg") != 0 &&
        !(strcmp(o.target, "nanomsg") == 0 && strcmp(o.workload, "echo") == 0))
        usage();
    if (strcmp(o.workload, "seed") == 0)
        return run_seed(&o);
    if (strcmp(o.workload, "ingest") == 0)
        return run_ingest(&o);
    if (strcmp(o.workload, "get") == 0)
        return run_get(&o, 1);
    if (strcmp(o.workload, "getbatch") == 0)
        return run_get(&o, batch_set ? o.batch : 100);
    if (strcmp(o.workload, "echo") == 0)
        return run_echo(&o);
    if (strcmp(o.workload, "qload") == 0)
        return run_qload(&o);
    if (strcmp(o.workload, "query") == 0)
        return run_query(&o);
    if (strcmp(o.workload, "fanout") == 0)
        return run_fanout(&o);
    if (strcmp(o.workload, "text") == 0)
        return run_text(&o);
    usage();
    return 2;
}
