/*
 * check_crash.c - a killed server loses no acknowledged write.
 *
 * Writer threads, each with its own client and its own URLs, put articles
 * and record every acknowledged id and URL. The server is killed with
 * SIGKILL at a random moment, the store is checked offline
 * (`artstored --check`), the server restarted, and every acknowledged write
 * must be there with the same id and title. Several rounds, bounded.
 */
#include <check.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

#define ROUNDS 5
#define WRITERS 4
#define MAX_ACKS 20000      /* per round, all writers together */

typedef struct ack {
    uint64_t id;
    char url[96];
    char title[64];
} ack_t;

typedef struct round {
    const char *endpoint;
    int round;
    atomic_int stop;
    pthread_mutex_t lock;
    ack_t *acks;
    size_t n_acks;
} round_t;

typedef struct writer_arg {
    round_t *r;
    int thread;
} writer_arg_t;

/* Puts articles until told to stop or the server stops answering;
 * records each acknowledged one. */
static void *writer_main(void *p)
{
    writer_arg_t *w = p;
    round_t *r = w->r;
    as_client_t *c;
    const char *tags[] = { "crash", "round" };
    char url[96], title[64], body[128];
    int n;

    /* A generous per-call timeout: on a loaded machine (sanitizers, other
     * builds) a put can take seconds, and a timeout here would end the
     * writer before the kill rather than because of it. */
    if (as_client_connect(r->endpoint, 10000, &c) != AS_OK)
        return NULL;
    for (n = 0; !atomic_load(&r->stop); n++) {
        as_article_t a;
        as_put_result_t res;

        memset(&a, 0, sizeof(a));
        snprintf(url, sizeof(url), "https://crash.test/r%d/t%d/%d", r->round,
                 w->thread, n);
        snprintf(title, sizeof(title), "title r%d t%d n%d", r->round,
                 w->thread, n);
        snprintf(body, sizeof(body), "body of %s", url);
        a.url = url;
        a.title = title;
        a.body = body;
        a.source = "crash-source";
        a.tags = tags;
        a.n_tags = 2;
        a.has_published_at = 1;
        a.published_at = 1700000000 + n;
        if (as_put(c, &a, AS_REV_ANY, &res) != AS_OK)
            break;          /* killed: nothing after this is acknowledged */
        pthread_mutex_lock(&r->lock);
        if (r->n_acks < MAX_ACKS) {
            ack_t *k = &r->acks[r->n_acks++];

            k->id = res.id;
            snprintf(k->url, sizeof(k->url), "%s", url);
            snprintf(k->title, sizeof(k->title), "%s", title);
        } else {
            atomic_store(&r->stop, 1);
        }
        pthread_mutex_unlock(&r->lock);
    }
    as_client_close(c);
    return NULL;
}

/* Whether any write of the round has been acknowledged yet. */
static int round_acked(round_t *r)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = r->n_acks;
    pthread_mutex_unlock(&r->lock);
    return n > 0;
}

/* Every acknowledged write of the round must be readable by URL with the
 * id and title it was acknowledged with. */
static void verify_acks(const char *endpoint, const round_t *r)
{
    as_client_t *c;
    size_t i;

    ck_assert_int_eq(as_client_connect(endpoint, 5000, &c), AS_OK);
    for (i = 0; i < r->n_acks; i++) {
        as_article_t *a = NULL;
        int rc = as_get_by_url(c, r->acks[i].url, 1, &a);

        ck_assert_msg(rc == AS_OK, "round %d: acknowledged %s lost: %s",
                      r->round, r->acks[i].url, as_client_errmsg(c));
        ck_assert_uint_eq(a->id, r->acks[i].id);
        ck_assert_str_eq(a->title, r->acks[i].title);
        as_article_free(a);
    }
    as_client_close(c);
}

START_TEST(kill_rounds_lose_nothing)
{
    ts_server_t s;
    unsigned seed = (unsigned)getpid();
    size_t total = 0;
    int round;

    fprintf(stderr, "crash test seed %u\n", seed);
    ck_assert_int_eq(ts_start(&s, NULL), 0);
    for (round = 0; round < ROUNDS; round++) {
        round_t r;
        writer_arg_t args[WRITERS];
        pthread_t th[WRITERS];
        char *report = NULL;
        int i, vrc;

        memset(&r, 0, sizeof(r));
        r.endpoint = s.endpoint;
        r.round = round;
        pthread_mutex_init(&r.lock, NULL);
        r.acks = calloc(MAX_ACKS, sizeof(ack_t));
        ck_assert_ptr_nonnull(r.acks);
        for (i = 0; i < WRITERS; i++) {
            args[i].r = &r;
            args[i].thread = i;
            ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main,
                                            &args[i]), 0);
        }
        /* Kill at a random moment, 50..550 ms after the first
         * acknowledgement (waited for, bounded, so that a slow machine
         * still kills mid-write rather than before any write). */
        for (i = 0; i < 3000 && !round_acked(&r); i++)
            usleep(10000);
        usleep(50000 + (useconds_t)(rand_r(&seed) % 500) * 1000);
        ts_kill(&s);
        atomic_store(&r.stop, 1);
        for (i = 0; i < WRITERS; i++)
            pthread_join(th[i], NULL);
        ck_assert_msg(r.n_acks > 0, "round %d: no write acknowledged", round);

        vrc = ts_verify(&s, &report);
        ck_assert_msg(vrc == 0, "round %d: store inconsistent:\n%s", round,
                      report);
        free(report);

        ck_assert_int_eq(ts_restart(&s), 0);
        verify_acks(s.endpoint, &r);
        total += r.n_acks;
        free(r.acks);
        pthread_mutex_destroy(&r.lock);
    }
    fprintf(stderr, "crash test: %d kill rounds, %zu acknowledged writes "
                    "all found\n", ROUNDS, total);
    ts_cleanup(&s);
}
END_TEST

/*
 * A SIGKILLed server leaves its reader slots in the lock file. LMDB resets
 * the reader table when the first process opens the environment, so the
 * slots only stay stale while another process keeps it open (a backup or
 * a check): this test is that process. The restarted server must clear
 * them (mdb_reader_check) and say so.
 */
START_TEST(stale_readers_cleared)
{
    ts_server_t s;
    char cmd[256], line[64] = "";
    const char *args[] = { "get", "--url", "https://nowhere.test/x", NULL };
    MDB_env *env;
    FILE *p;
    int found, dead = -1;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    /* A read makes a worker take a reader slot. */
    ts_cli(s.endpoint, NULL, NULL, NULL, args);
    ck_assert_int_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    ck_assert_int_eq(mdb_env_open(env, s.data, MDB_RDONLY, 0644), 0);
    ts_kill(&s);
    ck_assert_int_eq(ts_restart(&s), 0);
    snprintf(cmd, sizeof(cmd), "grep -c 'stale reader slot' '%s'", s.log);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    if (fgets(line, sizeof(line), p) == NULL)
        line[0] = '\0';
    pclose(p);
    found = atoi(line);
    ck_assert_msg(found >= 1, "restart did not clear the killed server's "
                              "reader slots (see %s)", s.log);
    /* Nothing stale is left for anyone else to clear. */
    ck_assert_int_eq(mdb_reader_check(env, &dead), 0);
    ck_assert_int_eq(dead, 0);
    mdb_env_close(env);
    ts_cleanup(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("crash");
    TCase *tc = tcase_create("kill");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, kill_rounds_lose_nothing);
    tcase_add_test(tc, stale_readers_cleared);
    suite_add_tcase(su, tc);
    return as_check_run(su);
}
