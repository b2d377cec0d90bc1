/*
 * check_cluster.c - end-to-end tests of a replicated cluster: three
 * artstored processes on loopback (Raft on free TCP ports, clients on ipc
 * paths in temp dirs).
 *
 *   - writes through any member land on every member; status names the
 *     leader and every member's endpoints;
 *   - the leader is killed (SIGKILL) ten times at random moments, and
 *     restarted, under four writers that retry: afterwards every
 *     acknowledged write is on every node with the same id, revision and
 *     body, the stores are identical byte for byte (articles and change
 *     log, seq by seq), and `artstored --check` passes on each;
 *   - a leader whose peers are stopped (SIGSTOP) acknowledges no write,
 *     and the cluster converges once they continue;
 *   - a linearizable read on a follower that missed a commit sees it; a
 *     cut-off leader answers no linearizable read;
 *   - a watch given one member, which is killed (twice, the second time
 *     the member it moved to), carries on from another with every seq
 *     once and in order;
 *   - a fourth node added as a non-voter follows the log, is promoted
 *     to a voter and removed, through `artstore cluster add/remove` and
 *     the library;
 *   - with --retain-changes every member trims the same changes (the
 *     leader's trim entries);
 *   - every node killed between LMDB commits (--commit-interval of a
 *     minute) replays from its Raft log exactly what LMDB had not
 *     committed: nothing acknowledged lost, nothing applied twice; an
 *     acknowledged write is read back at once by id and URL, and by a
 *     query (which asks for the LMDB commit);
 *   - once snapshots have truncated the log, a follower whose data
 *     directory is wiped (with tokens on), and a member added with
 *     `artstore cluster add`, catch up from the leader's snapshot and a
 *     member's copy of the store (snapshot.h), ending identical seq by
 *     seq and passing `artstored --check`.
 *
 * Randomness is seeded from the pid and printed, so a failing run can be
 * replayed. Every wait is bounded.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "store_schema.h"
#include "testutil.h"

#define N 3
#define WRITERS 4

static ts_server_t srv[N];
static char raft_addr[N][32];
static char members[256];
static char all_endpoints[512];
static char id_arg[N][8];
/* Extra artstored flags for every node (NULL-terminated). */
static const char *more_flags[8];

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The token the test's clients send (NULL: none); set by a test whose
 * members want tokens (each test runs in its own process). */
static const char *token;

/* as_client_connect, with the test's token. */
static int connect_to(const char *endpoints, int ms, as_client_t **c)
{
    int rc = as_client_connect(endpoints, ms, c);

    if (rc == AS_OK && token != NULL &&
        (rc = as_client_set_token(*c, token)) != AS_OK)
        as_client_close(*c);
    return rc;
}

/* A loopback TCP port nobody listens on right now. */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Starts the three members on fresh dirs. */
static void start_cluster(void)
{
    size_t off = 0, eoff = 0;
    int i;

    for (i = 0; i < N; i++) {
        snprintf(raft_addr[i], sizeof(raft_addr[i]), "127.0.0.1:%d",
                 free_port());
        off += (size_t)snprintf(members + off, sizeof(members) - off,
                                "%s%d=%s", i ? "," : "", i + 1, raft_addr[i]);
    }
    for (i = 0; i < N; i++) {
        const char *extra[24] = { "--node-id", id_arg[i], "--raft",
                                  raft_addr[i], "--cluster", members,
                                  "--raft-election-ms", "500", NULL };
        int k;

        for (k = 0; more_flags[k] != NULL; k++)
            extra[8 + k] = more_flags[k];
        snprintf(id_arg[i], sizeof(id_arg[i]), "%d", i + 1);
        ck_assert_msg(ts_start(&srv[i], extra) == 0, "node %d did not start",
                      i + 1);
        eoff += (size_t)snprintf(all_endpoints + eoff,
                                 sizeof(all_endpoints) - eoff, "%s%s",
                                 i ? "," : "", srv[i].endpoint);
    }
}

static void stop_cluster(void)
{
    int i;

    for (i = 0; i < N; i++)
        ts_cleanup(&srv[i]);
}

/* The index of the node that leads, as the members agree, within ms;
 * -1 when none is found. */
static int find_leader(int ms)
{
    int64_t end = mono_ms() + ms;
    as_cluster_info_t info;
    as_client_t *c;
    int i;

    while (mono_ms() < end) {
        for (i = 0; i < N; i++) {
            if (srv[i].pid <= 0)
                continue;
            if (connect_to(srv[i].endpoint, 500, &c) != AS_OK)
                continue;
            if (as_cluster_status(c, &info) == AS_OK &&
                strcmp(info.role, "leader") == 0) {
                as_client_close(c);
                return i;
            }
            as_client_close(c);
        }
        sleep_ms(50);
    }
    return -1;
}

/* Waits until every running node has applied the same last seq and
 * index, twice in a row, within ms. Returns 0 or -1. */
static int await_converged(int ms)
{
    int64_t end = mono_ms() + ms;
    uint64_t prev = 0;
    int same = 0, i;

    while (mono_ms() < end) {
        uint64_t seq[N], applied[N];
        int ok = 1;

        for (i = 0; i < N && ok; i++) {
            as_cluster_info_t info;
            as_ping_info_t ping;
            as_client_t *c;

            if (connect_to(srv[i].endpoint, 1000, &c) != AS_OK)
                return -1;
            ok = as_ping(c, &ping) == AS_OK &&
                 as_cluster_status(c, &info) == AS_OK;
            seq[i] = ping.last_seq;
            applied[i] = info.applied_index;
            as_client_close(c);
        }
        for (i = 1; i < N && ok; i++)
            ok = seq[i] == seq[0] && applied[i] == applied[0];
        if (ok && applied[0] == prev && ++same >= 2)
            return 0;
        if (!ok)
            same = 0;
        prev = ok ? applied[0] : 0;
        sleep_ms(200);
    }
    return -1;
}

/* Dumps the articles and changes of the store in data (its server
 * stopped), key and value bytes in key order (malloc'ed). */
static char *dump_dir(const char *data)
{
    as_store_opts_t o = { 0 };
    as_store_t *s;
    as_reader_t *r;
    as_status_t st;
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    int dbs[2] = { AS_DBI_ARTICLES, AS_DBI_CHANGES }, d;

    o.path = data;
    ck_assert_msg(as_store_open(&o, &s, &st) == 0, "open %s: %s", data,
                  st.msg);
    ck_assert_int_eq(as_reader_create(s, &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    for (d = 0; d < 2; d++) {
        MDB_cursor *c;
        MDB_val k, v;

        ck_assert_int_eq(mdb_cursor_open(as__reader_txn(r),
                                         as__store_dbi(s, dbs[d]), &c), 0);
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            while (len + k.mv_size + v.mv_size + 16 > cap)
                ck_assert_ptr_nonnull(out = realloc(out, cap *= 2));
            memcpy(out + len, &k.mv_size, sizeof(size_t));
            len += sizeof(size_t);
            memcpy(out + len, k.mv_data, k.mv_size);
            len += k.mv_size;
            memcpy(out + len, &v.mv_size, sizeof(size_t));
            len += sizeof(size_t);
            memcpy(out + len, v.mv_data, v.mv_size);
            len += v.mv_size;
        }
        mdb_cursor_close(c);
    }
    as_reader_end(r);
    as_reader_free(r);
    as_store_close(s);
    /* The length first, so that dumps compare with memcmp. */
    out = realloc(out, len + sizeof(size_t));
    memmove(out + sizeof(size_t), out, len);
    memcpy(out, &len, sizeof(size_t));
    return out;
}

static char *dump_store(int i)
{
    return dump_dir(srv[i].data);
}

/* Runs artstored --check on data dir data; returns its exit status. */
static int check_dir(const char *data)
{
    char cmd[512];
    int rc;

    snprintf(cmd, sizeof(cmd), "%s --check --data '%s' >/dev/null 2>&1",
             ts_artstored_path(), data);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int check_store(int i)
{
    return check_dir(srv[i].data);
}

/* ------------------------------------------------------------ writers */

static volatile sig_atomic_t stop_writing;

static void on_term(int sig)
{
    (void)sig;
    stop_writing = 1;
}

/* A writer process: puts new articles through a client that knows every
 * member, retrying each until it is acknowledged, and records each
 * acknowledged put as "N ID REVISION" in its file. */
static void writer_main(int w, const char *path)
{
    as_client_t *c;
    FILE *f = fopen(path, "w");
    int k;

    signal(SIGTERM, on_term);
    if (f == NULL || connect_to(all_endpoints, 3000, &c) != AS_OK)
        _exit(2);
    for (k = 0; k < 100000 && !stop_writing; k++) {
        char url[96], body[96];
        as_article_t a;
        as_put_result_t res;

        snprintf(url, sizeof(url), "https://w%d.example/%d", w, k);
        snprintf(body, sizeof(body), "body of writer %d article %d", w, k);
        memset(&a, 0, sizeof(a));
        a.url = url;
        a.title = "cluster";
        a.body = body;
        while (!stop_writing) {
            if (as_put(c, &a, AS_REV_ANY, &res) == AS_OK) {
                fprintf(f, "%d %llu %llu\n", k, (unsigned long long)res.id,
                        (unsigned long long)res.revision);
                fflush(f);
                break;
            }
            sleep_ms(20);
        }
    }
    as_client_close(c);
    fclose(f);
    _exit(0);
}

/* Checks every acknowledged put of writer w's file against node i's
 * store; returns how many there were. */
static size_t verify_writer(int w, const char *path, as_store_t *s)
{
    FILE *f = fopen(path, "r");
    as_reader_t *r;
    as_status_t st;
    unsigned long long id, rev;
    size_t n = 0;
    int k;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(as_reader_create(s, &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    while (fscanf(f, "%d %llu %llu", &k, &id, &rev) == 3) {
        char url[96], body[96];
        Artstore__V1__Article *a;
        as_bytes_t raw;

        snprintf(url, sizeof(url), "https://w%d.example/%d", w, k);
        snprintf(body, sizeof(body), "body of writer %d article %d", w, k);
        ck_assert_msg(as_store_get_raw(r, id, &raw, &st) == 0,
                      "acknowledged %s (id %llu) is missing: %s", url, id,
                      st.msg);
        a = artstore__v1__article__unpack(NULL, raw.len, raw.data);
        ck_assert_ptr_nonnull(a);
        ck_assert_str_eq(a->url, url);
        ck_assert_str_eq(a->body, body);
        ck_assert_msg(a->revision == rev, "%s: revision %llu, acknowledged "
                      "%llu", url, (unsigned long long)a->revision, rev);
        artstore__v1__article__free_unpacked(a, NULL);
        n++;
    }
    as_reader_end(r);
    as_reader_free(r);
    fclose(f);
    return n;
}

/* ------------------------------------------------------------ tests */

START_TEST(writes_reach_every_member)
{
    as_client_t *c;
    as_cluster_info_t info;
    as_article_t a;
    as_put_result_t res;
    as_article_t *got;
    int i, j, leader;

    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    /* A client that knows one follower only is sent to the leader. */
    i = (leader + 1) % N;
    ck_assert_int_eq(connect_to(srv[i].endpoint, 5000, &c), AS_OK);
    memset(&a, 0, sizeof(a));
    a.url = "https://example.com/one";
    a.title = "one";
    a.body = "first";
    ck_assert_msg(as_put(c, &a, AS_REV_ANY, &res) == AS_OK, "put: %s",
                  res.message);
    ck_assert_str_eq(as_client_endpoint(c), srv[leader].endpoint);
    as_client_close(c);
    ck_assert_int_eq(await_converged(15000), 0);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(connect_to(srv[i].endpoint, 2000, &c), AS_OK);
        ck_assert_int_eq(as_get(c, res.id, 0, &got), AS_OK);
        ck_assert_str_eq(got->body, "first");
        ck_assert_uint_eq(got->revision, res.revision);
        as_article_free(got);
        /* Every member knows every other's endpoints (announced). */
        for (j = 0; j < 100; j++) {
            size_t m, known = 0;

            ck_assert_int_eq(as_cluster_status(c, &info), AS_OK);
            for (m = 0; m < info.n_members; m++)
                known += info.members[m].listen[0] != '\0';
            if (known == N)
                break;
            sleep_ms(100);
        }
        ck_assert_msg(j < 100, "node %d does not know every endpoint", i + 1);
        ck_assert_uint_eq(info.n_members, N);
        ck_assert_uint_eq(info.leader_id, (uint64_t)leader + 1);
        /* Stats tell how far this node's reads are behind. */
        {
            as_stats_t *stats;
            size_t m;
            int seen = 0;

            ck_assert_int_eq(as_stats(c, &stats), AS_OK);
            for (m = 0; m < stats->n_series; m++)
                if (strcmp(stats->series[m].name,
                           "artstore_cluster_apply_lag") == 0 ||
                    (strcmp(stats->series[m].name,
                            "artstore_cluster_node_id") == 0 &&
                     stats->series[m].value == i + 1))
                    seen++;
            ck_assert_int_eq(seen, 2);
            as_stats_free(stats);
        }
        as_client_close(c);
    }
    stop_cluster();
}
END_TEST

START_TEST(leader_killed_ten_times_under_four_writers)
{
    pid_t writers[WRITERS];
    char paths[WRITERS][128];
    char *dumps[N];
    unsigned seed = (unsigned)getpid();
    size_t acked = 0;
    as_store_t *s;
    as_store_opts_t o = { 0 };
    as_status_t st;
    int i, w, kill_no, status;

    srand(seed);
    fprintf(stderr, "leader_killed_ten_times: seed %u\n", seed);
    start_cluster();
    ck_assert_int_ge(find_leader(15000), 0);
    for (w = 0; w < WRITERS; w++) {
        snprintf(paths[w], sizeof(paths[w]), "%s/acked-%d", srv[0].dir, w);
        writers[w] = ts_fork();
        ck_assert_int_ge(writers[w], 0);
        if (writers[w] == 0)
            writer_main(w, paths[w]);
    }
    for (kill_no = 0; kill_no < 10; kill_no++) {
        int leader;

        sleep_ms(200 + rand() % 800);
        leader = find_leader(20000);
        ck_assert_msg(leader >= 0, "no leader before kill %d", kill_no + 1);
        ts_kill(&srv[leader]);
        sleep_ms(rand() % 400);
        ck_assert_msg(ts_restart(&srv[leader]) == 0,
                      "node %d did not restart", leader + 1);
    }
    sleep_ms(1000);
    for (w = 0; w < WRITERS; w++) {
        kill(writers[w], SIGTERM);
        ck_assert_int_eq(waitpid(writers[w], &status, 0), writers[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer %d failed", w);
    }
    ck_assert_msg(await_converged(30000) == 0, "nodes did not converge");
    for (i = 0; i < N; i++)
        ck_assert_int_eq(ts_stop(&srv[i]), 0);
    /* Every acknowledged write on every node, stores identical. */
    for (i = 0; i < N; i++) {
        o.path = srv[i].data;
        ck_assert_int_eq(as_store_open(&o, &s, &st), 0);
        for (w = 0, acked = 0; w < WRITERS; w++)
            acked += verify_writer(w, paths[w], s);
        as_store_close(s);
        dumps[i] = dump_store(i);
        ck_assert_msg(check_store(i) == 0, "artstored --check failed on "
                      "node %d", i + 1);
    }
    fprintf(stderr, "leader_killed_ten_times: %zu acknowledged writes\n",
            acked);
    ck_assert_msg(acked >= 20, "only %zu writes were acknowledged", acked);
    for (i = 1; i < N; i++) {
        size_t len0, len;

        memcpy(&len0, dumps[0], sizeof(size_t));
        memcpy(&len, dumps[i], sizeof(size_t));
        ck_assert_msg(len == len0 && memcmp(dumps[0], dumps[i],
                                            len + sizeof(size_t)) == 0,
                      "node %d's store differs from node 1's", i + 1);
    }
    for (i = 0; i < N; i++)
        free(dumps[i]);
    stop_cluster();
}
END_TEST

START_TEST(cut_off_leader_acknowledges_nothing)
{
    as_client_t *c;
    as_article_t a;
    as_put_result_t res;
    int leader, i;

    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    for (i = 0; i < N; i++)
        if (i != leader)
            ck_assert_int_eq(ts_pause(&srv[i]), 0);
    /* The leader still takes the request but cannot commit it. */
    ck_assert_int_eq(connect_to(srv[leader].endpoint, 1500, &c),
                     AS_OK);
    memset(&a, 0, sizeof(a));
    a.url = "https://example.com/cut-off";
    a.title = "cut off";
    a.body = "never acknowledged while alone";
    ck_assert_int_ne(as_put(c, &a, AS_REV_ANY, &res), AS_OK);
    as_client_close(c);
    for (i = 0; i < N; i++)
        if (i != leader)
            kill(srv[i].pid, SIGCONT);
    /* Healed: a write goes through and every node converges. */
    ck_assert_int_eq(connect_to(all_endpoints, 10000, &c), AS_OK);
    a.body = "after healing";
    ck_assert_msg(as_put(c, &a, AS_REV_ANY, &res) == AS_OK, "put: %s",
                  res.message);
    as_client_close(c);
    ck_assert_int_eq(await_converged(20000), 0);
    stop_cluster();
}
END_TEST

/* Puts an article (url, title, body) through c, which must acknowledge
 * it; res gets the result. */
static void put_one(as_client_t *c, const char *url, const char *title,
                    const char *body, as_put_result_t *res)
{
    as_article_t a;

    memset(&a, 0, sizeof(a));
    a.url = url;
    a.title = title;
    a.body = body;
    ck_assert_msg(as_put(c, &a, AS_REV_ANY, res) == AS_OK, "put %s: %s",
                  url, res->message);
}

/* Puts n articles "https://bulk.example/<from..from+n>" through any member;
 * every one must be acknowledged. */
static void put_many(int from, int n)
{
    as_client_t *c;
    int k;

    ck_assert_int_eq(connect_to(all_endpoints, 10000, &c), AS_OK);
    for (k = from; k < from + n; k++) {
        char url[64], body[64];
        as_put_result_t res;

        snprintf(url, sizeof(url), "https://bulk.example/%d", k);
        snprintf(body, sizeof(body), "bulk body %d", k);
        put_one(c, url, "bulk", body, &res);
    }
    as_client_close(c);
}

/* Stops node i and removes its data directory (store and Raft log). */
static void wipe(int i)
{
    char cmd[256];

    ck_assert_int_eq(ts_stop(&srv[i]), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srv[i].data);
    ck_assert_int_eq(system(cmd), 0);
}

/* Stops every node and checks that their stores are identical and
 * consistent. */
static void stop_and_compare(void)
{
    char *dumps[N];
    size_t len0, len;
    int i;

    ck_assert_msg(await_converged(30000) == 0, "nodes did not converge");
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(ts_stop(&srv[i]), 0);
        dumps[i] = dump_store(i);
        ck_assert_msg(check_store(i) == 0, "artstored --check failed on "
                      "node %d", i + 1);
    }
    memcpy(&len0, dumps[0], sizeof(size_t));
    for (i = 1; i < N; i++) {
        memcpy(&len, dumps[i], sizeof(size_t));
        ck_assert_msg(len == len0 && memcmp(dumps[0], dumps[i],
                                            len + sizeof(size_t)) == 0,
                      "node %d's store differs from node 1's", i + 1);
    }
    for (i = 0; i < N; i++)
        free(dumps[i]);
}

START_TEST(follower_restarted_and_wiped_catches_up_from_the_log)
{
    int leader, f;

    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    f = (leader + 1) % N;
    put_many(0, 50);
    /* Killed during writes, restarted: catches up from the log. */
    ts_kill(&srv[f]);
    put_many(50, 50);
    ck_assert_int_eq(ts_restart(&srv[f]), 0);
    put_many(100, 10);
    ck_assert_int_eq(await_converged(20000), 0);
    /* Wiped (store and Raft log): the whole log is still there (no
     * snapshot yet), so it replays everything. */
    wipe(f);
    put_many(110, 20);
    ck_assert_int_eq(ts_restart(&srv[f]), 0);
    stop_and_compare();
    stop_cluster();
}
END_TEST

/* Puts url with body through c, which must have the outcome `outcome`
 * (AS_PUT_*), and reads it back at once, by id and by URL, through the
 * same client (the node that acknowledged it). *rev gets the revision
 * (the seq of its change). Returns the id. */
static uint64_t put_and_read_back(as_client_t *c, const char *url,
                                  const char *body, int outcome,
                                  uint64_t *rev)
{
    as_article_t *got;
    as_put_result_t res;

    put_one(c, url, "between commits", body, &res);
    ck_assert_msg(res.outcome == outcome, "put %s: outcome %d, expected %d",
                  url, res.outcome, outcome);
    ck_assert_int_eq(as_get(c, res.id, 0, &got), AS_OK);
    ck_assert_str_eq(got->body, body);
    ck_assert_uint_eq(got->revision, res.revision);
    as_article_free(got);
    ck_assert_int_eq(as_get_by_url(c, url, 0, &got), AS_OK);
    ck_assert_uint_eq(got->id, res.id);
    ck_assert_str_eq(got->body, body);
    as_article_free(got);
    *rev = res.revision;
    return res.id;
}

/* Node i (through c) holds article id with body and revision rev. */
static void expect_article(as_client_t *c, int i, uint64_t id,
                           const char *body, uint64_t rev)
{
    as_article_t *got;

    ck_assert_msg(as_get(c, id, 0, &got) == AS_OK, "node %d lost article "
                  "%llu", i + 1, (unsigned long long)id);
    ck_assert_str_eq(got->body, body);
    ck_assert_msg(got->revision == rev, "node %d: article %llu at revision "
                  "%llu, acknowledged %llu", i + 1, (unsigned long long)id,
                  (unsigned long long)got->revision, (unsigned long long)rev);
    as_article_free(got);
}

/* The last seq node i acknowledged (Ping). */
static uint64_t node_last_seq(int i)
{
    as_client_t *c;
    as_ping_info_t ping;

    ck_assert_int_eq(as_client_connect(srv[i].endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_ping(c, &ping), AS_OK);
    as_client_close(c);
    return ping.last_seq;
}

/* Makes node i commit to LMDB what it has applied: Stats reads a snapshot,
 * so it asks for the commit first. Returns the node's LMDB commits. */
static double commit_node(int i)
{
    as_client_t *c;
    as_stats_t *stats;
    double commits = -1;
    size_t m;

    ck_assert_int_eq(as_client_connect(srv[i].endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_stats(c, &stats), AS_OK);
    for (m = 0; m < stats->n_series; m++)
        if (strcmp(stats->series[m].name, "artstore_lmdb_commits_total") == 0)
            commits = stats->series[m].value;
    as_stats_free(stats);
    as_client_close(c);
    return commits;
}

/*
 * LMDB commits once a minute here, so the third round of writes exists
 * only in the Raft logs and the overlays when every node is killed; the
 * first two (a create, then an update of the same articles) were
 * committed to LMDB (a Stats call asks for the commit). After the restart
 * each node must replay the third round from its log and skip the first
 * two: a write lost shows as a missing or old article, one applied twice
 * as a revision (the seq of its change) other than the one acknowledged,
 * or an extra change seq.
 */
START_TEST(nodes_killed_between_lmdb_commits_lose_and_repeat_nothing)
{
    const char *flags[] = { "--commit-interval", "60000", NULL };
    enum { K = 30, NEW = 10 };
    uint64_t ids[K], revs[K], new_ids[NEW], new_revs[NEW], base, rev, id;
    double commits[N];
    as_query_spec_t q;
    as_query_result_t *page;
    char url[64], body[64];
    as_client_t *c;
    int i, k;

    for (i = 0; flags[i] != NULL; i++)
        more_flags[i] = flags[i];
    start_cluster();
    ck_assert_int_ge(find_leader(15000), 0);
    /* Each node's LMDB commits before the writes (the members' entries
     * applied and committed first). */
    ck_assert_int_eq(await_converged(20000), 0);
    for (i = 0; i < N; i++)
        commits[i] = commit_node(i);
    ck_assert_int_eq(as_client_connect(all_endpoints, 10000, &c), AS_OK);
    for (k = 0; k < K; k++) {
        snprintf(url, sizeof(url), "https://between.example/%d", k);
        snprintf(body, sizeof(body), "first %d", k);
        ids[k] = put_and_read_back(c, url, body, AS_PUT_CREATED, &rev);
    }
    /* Changed again: applying the first writes twice would undo this. */
    for (k = 0; k < K; k++) {
        snprintf(url, sizeof(url), "https://between.example/%d", k);
        snprintf(body, sizeof(body), "second %d", k);
        ck_assert_uint_eq(put_and_read_back(c, url, body, AS_PUT_UPDATED,
                                            &rev), ids[k]);
    }
    /* Every node applied and committed the first rounds: the minute-long
     * interval makes no commit, Stats asks for one (Ping does not). */
    ck_assert_int_eq(await_converged(20000), 0);
    for (i = 0; i < N; i++)
        ck_assert_msg(commit_node(i) > commits[i], "node %d made no LMDB "
                      "commit of the first rounds", i + 1);
    base = node_last_seq(0);
    ck_assert_uint_ge(base, rev);
    for (k = 0; k < K; k++) {
        snprintf(url, sizeof(url), "https://between.example/%d", k);
        snprintf(body, sizeof(body), "third %d", k);
        ck_assert_uint_eq(put_and_read_back(c, url, body, AS_PUT_UPDATED,
                                            &revs[k]), ids[k]);
    }
    for (k = 0; k < NEW; k++) {
        snprintf(url, sizeof(url), "https://between.example/new/%d", k);
        snprintf(body, sizeof(body), "new %d", k);
        new_ids[k] = put_and_read_back(c, url, body, AS_PUT_CREATED,
                                       &new_revs[k]);
    }
    as_client_close(c);
    for (i = 0; i < N; i++)
        ts_kill(&srv[i]);
    for (i = 0; i < N; i++)
        ck_assert_msg(ts_restart(&srv[i]) == 0, "node %d did not restart",
                      i + 1);
    ck_assert_int_ge(find_leader(15000), 0);
    /* A write of the new term commits the entries of the old one. */
    ck_assert_int_eq(as_client_connect(all_endpoints, 10000, &c), AS_OK);
    id = put_and_read_back(c, "https://between.example/after", "after",
                           AS_PUT_CREATED, &rev);
    /* A query right after it sees it: it asks the Raft thread for the
     * LMDB commit the minute-long interval would not make yet. */
    memset(&q, 0, sizeof(q));
    q.limit = 1;
    ck_assert_msg(as_query(c, &q, &page) == AS_OK, "query: %s",
                  as_client_errmsg(c));
    ck_assert_uint_eq(page->n_articles, 1);
    ck_assert_uint_eq(page->articles[0]->id, id);
    ck_assert_uint_ge(page->seq, rev);
    as_query_result_free(page);
    as_client_close(c);
    ck_assert_int_eq(await_converged(20000), 0);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(as_client_connect(srv[i].endpoint, 5000, &c),
                         AS_OK);
        for (k = 0; k < K; k++) {
            snprintf(body, sizeof(body), "third %d", k);
            expect_article(c, i, ids[k], body, revs[k]);
        }
        for (k = 0; k < NEW; k++) {
            snprintf(body, sizeof(body), "new %d", k);
            expect_article(c, i, new_ids[k], body, new_revs[k]);
        }
        as_client_close(c);
        /* One change per acknowledged write, none twice. */
        ck_assert_uint_eq(node_last_seq(i), base + K + NEW + 1);
    }
    stop_and_compare();
    stop_cluster();
}
END_TEST

START_TEST(replaced_member_catches_up_from_a_copy_and_the_log)
{
    const char *flags[] = { "--raft-snapshot-threshold", "100",
                            "--raft-snapshot-trailing", "10", NULL };
    char raftdir[256];
    as_client_t *c;
    as_backup_info_t bi;
    int leader, f, g, i;

    for (i = 0; flags[i] != NULL; i++)
        more_flags[i] = flags[i];
    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    f = (leader + 1) % N;
    g = (leader + 2) % N;
    put_many(0, 150);
    /* The member's disk is lost. */
    wipe(f);
    /* Snapshots have dropped the start of the log by now (about 300
     * entries, one snapshot every 100). */
    put_many(150, 150);
    snprintf(raftdir, sizeof(raftdir), "ls '%s/raft' | grep -q '^snapshot-'",
             srv[leader].data);
    ck_assert_msg(system(raftdir) == 0, "no Raft snapshot was taken");
    /* The manual way back: a backup of an up-to-date member as its new
     * data directory, then the log from there on (were the copy older
     * than the leader's latest snapshot, the node would fetch a newer
     * one itself: wiped_follower_catches_up_from_a_snapshot). */
    for (i = 0; i < 100; i++) {
        as_cluster_info_t info;

        ck_assert_int_eq(connect_to(srv[g].endpoint, 2000, &c), AS_OK);
        ck_assert_int_eq(as_cluster_status(c, &info), AS_OK);
        as_client_close(c);
        if (info.applied_index >= info.commit_index)
            break;
        sleep_ms(50);
    }
    ck_assert_int_eq(connect_to(srv[g].endpoint, 20000, &c), AS_OK);
    ck_assert_msg(as_backup(c, srv[f].data, 0, &bi) == AS_OK, "backup: %s",
                  as_client_errmsg(c));
    as_client_close(c);
    ck_assert_int_eq(ts_restart(&srv[f]), 0);
    put_many(300, 20);
    put_many(320, 10);
    stop_and_compare();
    stop_cluster();
}
END_TEST

static int await_seq(const char *endpoint, uint64_t seq, int ms);

/* Whether the file path (a server's log) contains needle. */
static int log_has(const char *path, const char *needle)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    int found = 0;

    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* Snapshots every 50 entries, 10 kept behind each: a hundred writes
 * truncate the start of the log. */
static const char *const snapshot_flags[] = {
    "--raft-snapshot-threshold", "50", "--raft-snapshot-trailing", "10", NULL
};

/* Asserts that node i's Raft directory holds a snapshot. */
static void assert_snapshot_taken(int i)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "ls '%s/raft' | grep -q '^snapshot-'",
             srv[i].data);
    ck_assert_msg(system(cmd) == 0, "node %d took no Raft snapshot", i + 1);
}

/* A follower whose data directory is wiped (store and Raft log) after the
 * log was truncated behind snapshots: the log alone cannot rebuild it. It
 * restores the leader's snapshot by fetching a member's copy of the
 * store, then follows the log; its change log ends identical seq by seq
 * and passes artstored --check. */
START_TEST(wiped_follower_catches_up_from_a_snapshot)
{
    char tokens[64];
    FILE *tf;
    int leader, f, i;

    /* With tokens: the members fetch the copy with the write token, as
     * they announce themselves. */
    snprintf(tokens, sizeof(tokens), "/tmp/as-tokens-%d", (int)getpid());
    ck_assert_ptr_nonnull(tf = fopen(tokens, "w"));
    fprintf(tf, "read snap-read-token\nwrite snap-write-token\n");
    fclose(tf);
    token = "snap-write-token";
    for (i = 0; snapshot_flags[i] != NULL; i++)
        more_flags[i] = snapshot_flags[i];
    more_flags[i++] = "--auth-token-file";
    more_flags[i++] = tokens;
    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    f = (leader + 1) % N;
    put_many(0, 60);
    ck_assert_int_eq(await_converged(20000), 0);
    wipe(f);
    /* Three more snapshots: the entries the wiped node lacks are gone. */
    put_many(60, 150);
    assert_snapshot_taken(leader);
    ck_assert_int_eq(ts_restart(&srv[f]), 0);
    put_many(210, 20);
    ck_assert_int_eq(await_converged(30000), 0);
    ck_assert_msg(log_has(srv[f].log, "replaced: raft index"),
                  "node %d did not take a member's copy (log %s)", f + 1,
                  srv[f].log);
    stop_and_compare();
    stop_cluster();
    unlink(tokens);
}
END_TEST

/* A member added with `artstore cluster add` once the log no longer
 * starts at 1 catches up from a snapshot and a member's copy. */
START_TEST(member_added_after_truncation_catches_up_from_a_snapshot)
{
    ts_server_t n4;
    char addr4[32], *out = NULL, *err = NULL, *d4, *d0;
    const char *flags4[] = { "--node-id", "4", "--raft", addr4,
                             "--raft-election-ms", "500",
                             "--raft-snapshot-threshold", "50",
                             "--raft-snapshot-trailing", "10", NULL };
    const char *add[] = { "cluster", "add", "4", addr4, NULL };
    as_client_t *c;
    as_ping_info_t ping;
    size_t l4, l0;
    int leader, rc, i;

    for (i = 0; snapshot_flags[i] != NULL; i++)
        more_flags[i] = snapshot_flags[i];
    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    put_many(0, 150);
    assert_snapshot_taken(leader);
    snprintf(addr4, sizeof(addr4), "127.0.0.1:%d", free_port());
    memset(&n4, 0, sizeof(n4));
    ck_assert_msg(ts_start(&n4, flags4) == 0, "node 4 did not start");
    rc = ts_cli(all_endpoints, NULL, &out, &err, add);
    ck_assert_msg(rc == 0, "cluster add: %d %s", rc, err ? err : "");
    free(out);
    free(err);
    put_many(150, 10);
    ck_assert_int_eq(connect_to(srv[leader].endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_ping(c, &ping), AS_OK);
    as_client_close(c);
    ck_assert_msg(await_seq(n4.endpoint, ping.last_seq, 30000) == 0,
                  "node 4 did not catch up to seq %llu",
                  (unsigned long long)ping.last_seq);
    ck_assert_msg(log_has(n4.log, "replaced: raft index"),
                  "node 4 did not take a member's copy (log %s)", n4.log);
    ck_assert_int_eq(await_converged(30000), 0);
    ck_assert_int_eq(ts_stop(&n4), 0);
    d4 = dump_dir(n4.data);
    ck_assert_msg(check_dir(n4.data) == 0, "artstored --check failed on "
                  "node 4");
    stop_and_compare();
    d0 = dump_store(0);
    memcpy(&l4, d4, sizeof(size_t));
    memcpy(&l0, d0, sizeof(size_t));
    ck_assert_msg(l4 == l0 && memcmp(d4, d0, l0 + sizeof(size_t)) == 0,
                  "node 4's store differs from node 1's");
    free(d4);
    free(d0);
    ts_cleanup(&n4);
    stop_cluster();
}
END_TEST

/* A linearizable read on a follower sees a write acknowledged by the
 * leader, even when the follower was stopped while it was committed (it
 * has not even received the entry when the read arrives); a leader cut
 * off from its peers answers no linearizable read. */
START_TEST(linearizable_read_on_a_follower_sees_an_acknowledged_write)
{
    as_client_t *lc, *fc;
    as_article_t a, *got;
    as_put_result_t res;
    char url[64], body[64], idbuf[32], *out = NULL, *err = NULL;
    int leader, f, g, k, rc;

    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    f = (leader + 1) % N;
    g = (leader + 2) % N;
    ck_assert_int_eq(connect_to(srv[leader].endpoint, 10000, &lc),
                     AS_OK);
    ck_assert_int_eq(connect_to(srv[f].endpoint, 10000, &fc), AS_OK);
    ck_assert_int_eq(as_client_set_linearizable(fc, 1), AS_OK);
    for (k = 0; k < 5; k++) {
        /* The follower misses the commit: the leader and g make the
         * majority. */
        ck_assert_int_eq(ts_pause(&srv[f]), 0);
        snprintf(url, sizeof(url), "https://lin.example/%d", k);
        snprintf(body, sizeof(body), "linearizable %d", k);
        memset(&a, 0, sizeof(a));
        a.url = url;
        a.title = "lin";
        a.body = body;
        rc = as_put(lc, &a, AS_REV_ANY, &res);
        kill(srv[f].pid, SIGCONT);
        ck_assert_msg(rc == AS_OK, "put %d: %s", k, res.message);
        ck_assert_msg(as_get(fc, res.id, 0, &got) == AS_OK,
                      "linearizable get %d on the follower: %s", k,
                      as_client_errmsg(fc));
        ck_assert_str_eq(got->body, body);
        ck_assert_uint_eq(got->revision, res.revision);
        ck_assert_str_eq(as_client_endpoint(fc), srv[f].endpoint);
        as_article_free(got);
    }
    /* The CLI flag asks for the same. */
    ck_assert_int_eq(ts_pause(&srv[f]), 0);
    a.body = "through the cli";
    rc = as_put(lc, &a, AS_REV_ANY, &res);
    kill(srv[f].pid, SIGCONT);
    ck_assert_msg(rc == AS_OK, "put: %s", res.message);
    snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)res.id);
    {
        const char *args[] = { "--linearizable", "get", idbuf, "-o", "json",
                               NULL };

        rc = ts_cli(srv[f].endpoint, NULL, &out, &err, args);
        ck_assert_msg(rc == 0, "artstore --linearizable get: %d %s", rc,
                      err ? err : "");
        ck_assert_msg(out != NULL && strstr(out, "through the cli") != NULL,
                      "stale read: %s", out ? out : "");
        free(out);
        free(err);
    }
    as_client_close(fc);
    /* Cut off: the leader still answers plain reads from its own store,
     * but no linearizable one (it cannot commit the barrier). Cut off
     * means every thread of both peers stopped (ts_pause): a peer whose
     * Raft thread still runs rightly acknowledges the barrier. */
    ck_assert_int_eq(ts_pause(&srv[f]), 0);
    ck_assert_int_eq(ts_pause(&srv[g]), 0);
    ck_assert_int_eq(as_client_set_timeout(lc, 1500), AS_OK);
    ck_assert_int_eq(as_get(lc, res.id, 0, &got), AS_OK);
    as_article_free(got);
    ck_assert_int_eq(as_client_set_linearizable(lc, 1), AS_OK);
    rc = as_get(lc, res.id, 0, &got);
    kill(srv[f].pid, SIGCONT);
    kill(srv[g].pid, SIGCONT);
    ck_assert_msg(rc != AS_OK, "a cut-off leader answered a linearizable "
                  "read");
    as_client_close(lc);
    ck_assert_int_eq(await_converged(20000), 0);
    stop_cluster();
}
END_TEST

/* The index of the node whose client endpoint is ep, or -1. */
static int node_of(const char *ep)
{
    int i;

    for (i = 0; i < N; i++)
        if (strcmp(srv[i].endpoint, ep) == 0)
            return i;
    return -1;
}

/* Reads changes from w until it has delivered `more` more of them or its
 * position reaches until (0: no such bound), within ms. Every change must
 * have the seq after the one before (no gap, no duplicate: nothing is
 * filtered out). Returns how many it read. */
static int read_watch(as_watch_t *w, as_client_t *c, uint64_t *last,
                      int more, uint64_t until, int ms)
{
    int64_t end = mono_ms() + ms;
    int n = 0;

    while (mono_ms() < end && (more == 0 || n < more) &&
           (until == 0 || *last < until)) {
        as_change_t *ch;
        int rc = as_watch_next(w, 500, &ch);

        if (rc == AS_EDEADLINE_EXCEEDED || rc == AS_EUNAVAILABLE)
            continue;
        ck_assert_msg(rc == AS_OK, "watch: %s (%s)", as_strerror(rc),
                      as_client_errmsg(c));
        ck_assert_msg(ch->seq == *last + 1, "watch delivered seq %llu after "
                      "%llu (on %s)", (unsigned long long)ch->seq,
                      (unsigned long long)*last, as_client_endpoint(c));
        *last = ch->seq;
        as_change_free(ch);
        n++;
    }
    return n;
}

START_TEST(watch_moves_to_another_member_without_gap_or_duplicate)
{
    char path[128];
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t opts;
    as_ping_info_t ping;
    uint64_t last, start;
    pid_t writer;
    int leader, on, kill_no, status, n;

    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    /* Every member must know every endpoint before the watch learns them
     * (the announcements go through the log). */
    ck_assert_int_eq(await_converged(20000), 0);
    for (n = 0; n < 200; n++) {
        as_cluster_info_t info;
        size_t m, known = 0;

        ck_assert_int_eq(connect_to(srv[leader].endpoint, 2000, &c),
                         AS_OK);
        ck_assert_int_eq(as_cluster_status(c, &info), AS_OK);
        as_client_close(c);
        for (m = 0; m < info.n_members; m++)
            known += info.members[m].listen[0] != '\0';
        if (known == N)
            break;
        sleep_ms(50);
    }
    /* The writer first: nanomsg does not survive a fork while a socket
     * is open. The watch starts at seq 0, so it misses nothing. */
    snprintf(path, sizeof(path), "%s/acked-watch", srv[0].dir);
    writer = ts_fork();
    ck_assert_int_ge(writer, 0);
    if (writer == 0)
        writer_main(0, path);
    /* The watch is given one member only: the leader, killed first. */
    ck_assert_int_eq(connect_to(srv[leader].endpoint, 3000, &c), AS_OK);
    memset(&opts, 0, sizeof(opts));
    opts.has_since = 1;
    opts.since = 0;
    ck_assert_msg(as_watch_open(c, &opts, &w) == AS_OK, "watch: %s",
                  as_client_errmsg(c));
    start = last = 0;
    for (kill_no = 0; kill_no < 2; kill_no++) {
        ck_assert_int_eq(read_watch(w, c, &last, 30, 0, 60000), 30);
        on = node_of(as_client_endpoint(c));
        ck_assert_int_ge(on, 0);
        fprintf(stderr, "watch: kill node %d at seq %llu\n", on + 1,
                (unsigned long long)last);
        ts_kill(&srv[on]);
        /* It moves to another member (frames the dead one sent before
         * it died may still be read first)... */
        for (n = 0; n < 2000 && node_of(as_client_endpoint(c)) == on; n++)
            read_watch(w, c, &last, 1, 0, 30000);
        ck_assert_int_ne(node_of(as_client_endpoint(c)), on);
        /* ...and carries on there while this one is down. */
        ck_assert_int_eq(read_watch(w, c, &last, 30, 0, 60000), 30);
        ck_assert_int_eq(ts_restart(&srv[on]), 0);
    }
    kill(writer, SIGTERM);
    ck_assert_int_eq(waitpid(writer, &status, 0), writer);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "writer failed");
    ck_assert_int_eq(await_converged(30000), 0);
    {
        as_client_t *p;

        ck_assert_int_eq(connect_to(srv[0].endpoint, 3000, &p), AS_OK);
        ck_assert_int_eq(as_ping(p, &ping), AS_OK);
        as_client_close(p);
    }
    read_watch(w, c, &last, 0, ping.last_seq, 60000);
    ck_assert_msg(last == ping.last_seq, "watch stopped at %llu of %llu",
                  (unsigned long long)last,
                  (unsigned long long)ping.last_seq);
    fprintf(stderr, "watch: %llu changes in order across 2 kills\n",
            (unsigned long long)(last - start));
    as_watch_close(w);
    as_client_close(c);
    stop_cluster();
}
END_TEST

/* Waits until the server at endpoint has applied up to seq, within ms.
 * Returns 0 or -1. */
static int await_seq(const char *endpoint, uint64_t seq, int ms)
{
    int64_t end = mono_ms() + ms;

    while (mono_ms() < end) {
        as_client_t *c;
        as_ping_info_t ping;
        int ok = 0;

        if (connect_to(endpoint, 1000, &c) == AS_OK) {
            ok = as_ping(c, &ping) == AS_OK && ping.last_seq >= seq;
            as_client_close(c);
        }
        if (ok)
            return 0;
        sleep_ms(100);
    }
    return -1;
}

/* Member id as node `at` sees it: its role and voter flag; 0 when it is
 * not in the configuration. */
static int member_role(const char *at, uint64_t id, char *role, int *voter)
{
    as_cluster_info_t info;
    as_client_t *c;
    size_t m;
    int found = 0;

    ck_assert_int_eq(connect_to(at, 3000, &c), AS_OK);
    ck_assert_msg(as_cluster_status(c, &info) == AS_OK, "status: %s",
                  as_client_errmsg(c));
    as_client_close(c);
    for (m = 0; m < info.n_members; m++)
        if (info.members[m].id == id) {
            snprintf(role, 16, "%s", info.members[m].role);
            *voter = info.members[m].voter;
            found = 1;
        }
    return found;
}

START_TEST(member_added_as_non_voter_promoted_and_removed)
{
    ts_server_t n4;
    char addr4[32], role[16], *out = NULL, *err = NULL;
    const char *flags4[] = { "--node-id", "4", "--raft", addr4,
                             "--raft-election-ms", "500", NULL };
    const char *add[] = { "cluster", "add", "4", addr4, "--non-voter", NULL };
    as_client_t *c;
    as_ping_info_t ping;
    int leader, voter, rc, k;

    start_cluster();
    ck_assert_int_ge(leader = find_leader(15000), 0);
    put_many(0, 30);
    /* A new node, started without --cluster, waits to be added. */
    snprintf(addr4, sizeof(addr4), "127.0.0.1:%d", free_port());
    memset(&n4, 0, sizeof(n4));
    ck_assert_msg(ts_start(&n4, flags4) == 0, "node 4 did not start");
    rc = ts_cli(all_endpoints, NULL, &out, &err, add);
    ck_assert_msg(rc == 0, "cluster add --non-voter: %d %s", rc,
                  err ? err : "");
    free(out);
    free(err);
    /* It follows the log from the start... */
    ck_assert_int_eq(connect_to(srv[leader].endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_ping(c, &ping), AS_OK);
    ck_assert_msg(await_seq(n4.endpoint, ping.last_seq, 30000) == 0,
                  "node 4 did not catch up to seq %llu",
                  (unsigned long long)ping.last_seq);
    /* ...without voting, as every member sees it. */
    ck_assert(member_role(srv[leader].endpoint, 4, role, &voter));
    ck_assert_int_eq(voter, 0);
    ck_assert_str_eq(role, "non-voter");
    for (k = 0; k < 100; k++) {
        as_cluster_info_t info;
        as_client_t *c4;

        ck_assert_int_eq(connect_to(n4.endpoint, 3000, &c4), AS_OK);
        ck_assert_int_eq(as_cluster_status(c4, &info), AS_OK);
        as_client_close(c4);
        if (strcmp(info.role, "non-voter") == 0 && info.leader_id != 0)
            break;
        sleep_ms(100);
    }
    ck_assert_msg(k < 100, "node 4 does not call itself a non-voter");
    /* Writes go on and reach it. */
    put_many(30, 10);
    ck_assert_int_eq(as_ping(c, &ping), AS_OK);
    ck_assert_int_eq(await_seq(n4.endpoint, ping.last_seq, 30000), 0);
    /* Promoted to a voter (add on a member already there). */
    ck_assert_int_eq(as_client_set_timeout(c, 60000), AS_OK);
    ck_assert_msg(as_cluster_add(c, 4, addr4, 0) == AS_OK, "promote: %s",
                  as_client_errmsg(c));
    /* (The status a member answers with is refreshed every few tens of
     * milliseconds.) */
    for (k = 0; k < 100; k++) {
        ck_assert(member_role(srv[leader].endpoint, 4, role, &voter));
        if (voter)
            break;
        sleep_ms(50);
    }
    ck_assert_int_eq(voter, 1);
    /* Refusals: another id at its address, an unknown id. */
    ck_assert_int_eq(as_cluster_add(c, 9, addr4, 0), AS_EALREADY_EXISTS);
    ck_assert_int_eq(as_cluster_remove(c, 9), AS_ENOT_FOUND);
    /* Removed: the cluster goes on with three. */
    ck_assert_msg(as_cluster_remove(c, 4) == AS_OK, "remove: %s",
                  as_client_errmsg(c));
    for (k = 0; k < 100 && member_role(srv[leader].endpoint, 4, role,
                                       &voter); k++)
        sleep_ms(50);
    ck_assert_msg(k < 100, "node 4 is still a member");
    as_client_close(c);
    ts_cleanup(&n4);
    put_many(40, 5);
    stop_and_compare();
    stop_cluster();
}
END_TEST

/* Retention goes through the log: every member trims the same changes. */
START_TEST(retention_trims_are_replicated)
{
    const char *flags[] = { "--retain-changes", "40", NULL };
    int64_t end;
    int i, ok = 0;

    for (i = 0; flags[i] != NULL; i++)
        more_flags[i] = flags[i];
    start_cluster();
    ck_assert_int_ge(find_leader(15000), 0);
    put_many(0, 100);
    /* Within a few of the leader's rounds every member keeps exactly
     * the newest 40. */
    for (end = mono_ms() + 30000; mono_ms() < end && !ok; sleep_ms(200)) {
        ok = 1;
        for (i = 0; i < N && ok; i++) {
            as_client_t *c;
            as_stats_t *stats;

            ck_assert_int_eq(connect_to(srv[i].endpoint, 2000, &c),
                             AS_OK);
            ok = as_stats(c, &stats) == AS_OK;
            if (ok) {
                ok = stats->last_seq == 100 && stats->oldest_seq == 61;
                as_stats_free(stats);
            }
            as_client_close(c);
        }
    }
    ck_assert_msg(ok, "the members did not all trim to the newest 40");
    stop_and_compare();
    stop_cluster();
}
END_TEST

static Suite *cluster_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("cluster");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, writes_reach_every_member);
    tcase_add_test(tc, leader_killed_ten_times_under_four_writers);
    tcase_add_test(tc, nodes_killed_between_lmdb_commits_lose_and_repeat_nothing);
    tcase_add_test(tc, cut_off_leader_acknowledges_nothing);
    tcase_add_test(tc, linearizable_read_on_a_follower_sees_an_acknowledged_write);
    tcase_add_test(tc, watch_moves_to_another_member_without_gap_or_duplicate);
    tcase_add_test(tc, member_added_as_non_voter_promoted_and_removed);
    tcase_add_test(tc, retention_trims_are_replicated);
    tcase_add_test(tc, follower_restarted_and_wiped_catches_up_from_the_log);
    tcase_add_test(tc, replaced_member_catches_up_from_a_copy_and_the_log);
    tcase_add_test(tc, wiped_follower_catches_up_from_a_snapshot);
    tcase_add_test(tc, member_added_after_truncation_catches_up_from_a_snapshot);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(cluster_suite());
}
