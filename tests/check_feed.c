/*
 * check_feed.c - end-to-end tests of the change feed (server/feed.c), the
 * Changes RPC and the library's watch (client/watch.c): every change, in
 * order, once, for stopped, late, filtered and restarted subscribers;
 * retention answers OUT_OF_RANGE; long-polls return when a write lands.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "feed.h"
#include "internal.h"
#include "testutil.h"
#include "clock.h"

/* LeakSanitizer: nanomsg 1.1.5 leaks a message its transport thread was
 * receiving when nn_close() lands mid-receive (allocated in nn_chunk_alloc
 * on a libnanomsg worker thread, never handed to us). Only that is
 * suppressed; leaks in our code are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:nn_chunkref_init\n";
}

/* The suppression needs the full stack (libnanomsg has no frame
 * pointers). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

static const char *const fast_sync[] = { "--sync", "periodic", NULL };

/* Puts article number i with the given tags (NULL-terminated); returns
 * its revision. */
static uint64_t put_one(as_client_t *c, int i, const char *const *tags)
{
    char url[64], title[32];
    const char *tv[8];
    size_t n = 0;
    as_article_t a;
    as_put_result_t r;
    int rc;

    memset(&a, 0, sizeof(a));
    snprintf(url, sizeof(url), "https://feed.test/%d", i);
    snprintf(title, sizeof(title), "title %d", i);
    while (tags != NULL && tags[n] != NULL && n < 8) {
        tv[n] = tags[n];
        n++;
    }
    a.url = url;
    a.title = title;
    a.body = "body";
    a.tags = tv;
    a.n_tags = n;
    rc = as_put(c, &a, AS_REV_ANY, &r);
    ck_assert_msg(rc == AS_OK, "put %d: %s %s", i, as_code_name(rc),
                  as_client_errmsg(c));
    return r.revision;
}

/* Ends a test: closes its watch, the watch's own client (or NULL), the
 * writing client, and stops and removes the server. */
static void end_watch(as_watch_t *w, as_client_t *wc, as_client_t *c,
                      ts_server_t *s)
{
    as_watch_close(w);
    as_client_close(wc);
    as_client_close(c);
    ts_cleanup(s);
}

static as_client_t *connect_to(const ts_server_t *s)
{
    as_client_t *c;

    ck_assert_int_eq(as_client_connect(s->endpoint, 5000, &c), AS_OK);
    return c;
}

/* Starts s with the extra arguments args and returns a client of it,
 * once it has put articles 0 to n - 1 (put_one, untagged). */
static as_client_t *start_filled(ts_server_t *s, const char *const *args,
                                 int n)
{
    as_client_t *c;
    int i;

    ck_assert_int_eq(ts_start(s, args), 0);
    c = connect_to(s);
    for (i = 0; i < n; i++)
        put_one(c, i, NULL);
    return c;
}

/* Waits (up to 10 s) until the server's artstore_waiting_changes gauge
 * reads n: a long-poll is parked once the gauge counts it. */
static void await_waiting(const char *endpoint, unsigned n)
{
    as_client_t *c;
    as_stats_t *st;
    char want[64];
    int64_t t0 = as_clock_mono_ms();
    int seen = 0;

    snprintf(want, sizeof(want), "\nartstore_waiting_changes %u\n", n);
    ck_assert_int_eq(as_client_connect(endpoint, 5000, &c), AS_OK);
    while (!seen && as_clock_mono_ms() - t0 < 10000) {
        ck_assert_int_eq(as_stats(c, &st), AS_OK);
        seen = strstr(st->prometheus, want) != NULL;
        as_stats_free(st);
        if (!seen)
            usleep(10000);
    }
    as_client_close(c);
    ck_assert_msg(seen, "artstore_waiting_changes never read %u", n);
}

/* Reads the next change, failing the test if none comes within ms. */
static as_change_t *next_change(as_watch_t *w, as_client_t *c, int ms)
{
    as_change_t *ch = NULL;
    int rc = as_watch_next(w, ms, &ch);

    ck_assert_msg(rc == AS_OK, "watch_next: %s %s (position %llu)",
                  as_code_name(rc), as_client_errmsg(c),
                  (unsigned long long)as_watch_position(w));
    return ch;
}

/* ------------------------------------------------------------ tests */

/*
 * A CLI watch stopped with SIGSTOP while thousands of changes are
 * committed (its feed socket overflows and PUB drops frames) still prints
 * every change, in order, once, after SIGCONT.
 */
START_TEST(stopped_subscriber_gets_everything)
{
    enum { BEFORE = 50, DURING = 3000, AFTER = 300,
           TOTAL = BEFORE + DURING + AFTER };
    ts_server_t s;
    as_client_t *c;
    char outpath[128], count[16], line[4096];
    pid_t pid;
    FILE *f;
    int i, status, lines = 0, fd;
    int64_t t0;
    uint64_t want = 1;

    c = start_filled(&s, fast_sync, BEFORE);
    snprintf(outpath, sizeof(outpath), "%s/watch.out", s.dir);
    snprintf(count, sizeof(count), "%d", TOTAL);
    pid = ts_fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        close(fd);
        setenv("ARTSTORE_SERVER", s.endpoint, 1);
        execl(ts_cli_path(), ts_cli_path(), "watch", "--since", "0",
              "--limit", count, "-o", "jsonl", (char *)NULL);
        _exit(127);
    }
    /* Wait until it has printed the history, then stop it. */
    t0 = as_clock_mono_ms();
    for (;;) {
        f = fopen(outpath, "r");
        lines = 0;
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
            lines++;
        if (f != NULL)
            fclose(f);
        if (lines >= BEFORE || as_clock_mono_ms() - t0 > 20000)
            break;
        usleep(20000);
    }
    ck_assert_int_eq(lines, BEFORE);
    ck_assert_int_eq(ts_pause_pid(pid), 0);
    for (i = BEFORE; i < TOTAL; i++)
        put_one(c, i, (const char *[]){ "bulk", NULL });
    kill(pid, SIGCONT);
    /* Live changes right behind the backlog: the subscriber meets them
     * after the frames it lost, a gap in the middle of the stream. */
    for (i = BEFORE + DURING; i < TOTAL; i++)
        put_one(c, i, NULL);

    t0 = as_clock_mono_ms();
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (as_clock_mono_ms() - t0 > 40000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("watch did not finish: events were lost");
        }
        usleep(20000);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "watch exit status %d", status);
    f = fopen(outpath, "r");
    ck_assert(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long seq;

        ck_assert_msg(sscanf(line, "{\"seq\":%llu", &seq) == 1, "line: %s",
                      line);
        ck_assert_msg(seq == want, "got seq %llu, expected %llu", seq,
                      (unsigned long long)want);
        want++;
    }
    fclose(f);
    ck_assert_int_eq(want - 1, TOTAL);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* --since S delivers exactly the history after S, then live changes. */
START_TEST(since_history_then_live)
{
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;
    as_change_t *ch;
    int i;
    uint64_t want;

    c = start_filled(&s, fast_sync, 20);
    memset(&o, 0, sizeof(o));
    o.has_since = 1;
    o.since = 10;
    ck_assert_int_eq(as_watch_open(c, &o, &w), AS_OK);
    for (want = 11; want <= 20; want++) {
        ch = next_change(w, c, 10000);
        ck_assert_uint_eq(ch->seq, want);
        ck_assert_int_eq(ch->type, AS_CHANGE_CREATE);
        as_change_free(ch);
    }
    ck_assert_uint_eq(as_watch_position(w), 20);
    for (i = 20; i < 25; i++)
        put_one(c, i, NULL);
    /* An update and a delete arrive live too. */
    put_one(c, 3, (const char *[]){ "changed", NULL });
    ck_assert_int_eq(as_delete(c, 1, AS_REV_ANY, NULL), AS_OK);
    for (want = 21; want <= 27; want++) {
        ch = next_change(w, c, 10000);
        ck_assert_uint_eq(ch->seq, want);
        if (want == 26)
            ck_assert_int_eq(ch->type, AS_CHANGE_UPDATE);
        if (want == 27)
            ck_assert_int_eq(ch->type, AS_CHANGE_DELETE);
        as_change_free(ch);
    }
    ck_assert_int_eq(as_watch_next(w, 1500, &ch), AS_EDEADLINE_EXCEEDED);
    end_watch(w, NULL, c, &s);
}
END_TEST

/* A filtered watch gets exactly the matching changes, from history and
 * live; an update matches through its previous tags too. */
START_TEST(tag_filter_exact)
{
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;
    const char *all[] = { "Alpha" }, *none[] = { "beta" };
    uint64_t expect[64], rev;
    size_t n_expect = 0, got = 0;
    as_change_t *ch;
    int i;

    c = start_filled(&s, fast_sync, 0);
    memset(&o, 0, sizeof(o));
    o.all_of = all;
    o.n_all_of = 1;
    o.none_of = none;
    o.n_none_of = 1;
    o.has_since = 1;
    o.since = 0;
    for (i = 0; i < 40; i++) {
        const char *const *tags =
            i % 3 == 0 ? (const char *[]){ "alpha", NULL }
            : i % 3 == 1 ? (const char *[]){ "alpha", "beta", NULL }
                         : (const char *[]){ "gamma", NULL };

        if (i == 20)
            ck_assert_int_eq(as_watch_open(c, &o, &w), AS_OK);
        rev = put_one(c, i, tags);
        if (i % 3 == 0)
            expect[n_expect++] = rev;
    }
    /* Article 0 loses alpha: matches by its previous tags. Article 2
     * (gamma) gains beta only: does not match. */
    expect[n_expect++] = put_one(c, 0, (const char *[]){ "gamma", NULL });
    put_one(c, 2, (const char *[]){ "beta", NULL });
    expect[n_expect++] = put_one(c, 5, (const char *[]){ "alpha", NULL });
    for (got = 0; got < n_expect; got++) {
        ch = next_change(w, c, 10000);
        ck_assert_uint_eq(ch->seq, expect[got]);
        as_change_free(ch);
    }
    ck_assert_int_eq(as_watch_next(w, 1500, &ch), AS_EDEADLINE_EXCEEDED);
    ck_assert_uint_eq(as_watch_position(w), expect[n_expect - 1]);
    end_watch(w, NULL, c, &s);
}
END_TEST

/*
 * Watch filters are normalized as the server normalizes tags: case-folded
 * (ß folds to ss), NFC-composed, whitespace trimmed and collapsed. Before,
 * the client only lower-cased ASCII, so such a filter never matched.
 */
START_TEST(tag_filter_unicode)
{
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w1, *w2;
    as_watch_opts_t o1, o2, bad;
    const char *all[] = { "  STRASSE \t Nachrichten " };
    const char *any[] = { "e\xcc\x81" "cole" }; /* e + combining acute */
    const char *invalid[] = { "ok", "caf\xc3" };
    uint64_t m1, m2, m3;
    as_change_t *ch;

    c = start_filled(&s, fast_sync, 0);
    memset(&bad, 0, sizeof(bad));
    bad.any_of = invalid;
    bad.n_any_of = 2;
    ck_assert_int_eq(as_watch_open(c, &bad, &w1), AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(c), "any_of[1]") != NULL &&
                      strstr(as_client_errmsg(c), "UTF-8") != NULL,
                  "%s", as_client_errmsg(c));
    memset(&o1, 0, sizeof(o1));
    o1.all_of = all;
    o1.n_all_of = 1;
    memset(&o2, 0, sizeof(o2));
    o2.any_of = any;
    o2.n_any_of = 1;
    ck_assert_int_eq(as_watch_open(c, &o1, &w1), AS_OK);
    ck_assert_int_eq(as_watch_open(c, &o2, &w2), AS_OK);
    m1 = put_one(c, 1, (const char *[]){ "Stra\xc3\x9f" "e Nachrichten", NULL });
    put_one(c, 2, (const char *[]){ "strasse", NULL });
    m2 = put_one(c, 3, (const char *[]){ "politik",
                                         "STRASSE  NACHRICHTEN", NULL });
    m3 = put_one(c, 4, (const char *[]){ "\xc3\x89" "cole", NULL });
    ch = next_change(w1, c, 10000);
    ck_assert_uint_eq(ch->seq, m1);
    as_change_free(ch);
    ch = next_change(w1, c, 10000);
    ck_assert_uint_eq(ch->seq, m2);
    as_change_free(ch);
    ch = next_change(w2, c, 10000);
    ck_assert_uint_eq(ch->seq, m3);
    as_change_free(ch);
    ck_assert_int_eq(as_watch_next(w1, 1500, &ch), AS_EDEADLINE_EXCEEDED);
    ck_assert_int_eq(as_watch_next(w2, 100, &ch), AS_EDEADLINE_EXCEEDED);
    as_watch_close(w1);
    as_watch_close(w2);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* The server restarts under a subscriber, which carries on. */
START_TEST(server_restart_under_subscriber)
{
    ts_server_t s;
    as_client_t *c, *wc;
    as_watch_t *w;
    as_watch_opts_t o;
    as_change_t *ch;
    uint64_t want;
    int i;

    c = start_filled(&s, NULL, 0);
    wc = connect_to(&s);
    memset(&o, 0, sizeof(o));
    o.has_since = 1;
    ck_assert_int_eq(as_watch_open(wc, &o, &w), AS_OK);
    for (i = 0; i < 10; i++)
        put_one(c, i, NULL);
    for (want = 1; want <= 10; want++) {
        ch = next_change(w, wc, 10000);
        ck_assert_uint_eq(ch->seq, want);
        as_change_free(ch);
    }
    ck_assert_int_eq(ts_stop(&s), 0);
    /* While the server is away the watch says it is unreachable, not
     * merely quiet, and stays usable. */
    ck_assert_int_eq(as_watch_next(w, 300, &ch), AS_EUNAVAILABLE);
    ck_assert_msg(strstr(as_client_errmsg(wc), "refused") != NULL, "%s",
                  as_client_errmsg(wc));
    ck_assert_int_eq(ts_restart(&s), 0);
    as_client_close(c);
    c = connect_to(&s);
    for (i = 10; i < 20; i++)
        put_one(c, i, NULL);
    for (want = 11; want <= 20; want++) {
        ch = next_change(w, wc, 15000);
        ck_assert_uint_eq(ch->seq, want);
        as_change_free(ch);
    }
    end_watch(w, wc, c, &s);
}
END_TEST

/* Reads the next change the way an event loop does (poll on as_watch_fd
 * for as_watch_timeout_ms, then as_watch_next with 0), failing the test
 * if none comes within ms. */
static as_change_t *loop_change(as_watch_t *w, as_client_t *c, int ms)
{
    int64_t deadline = as_clock_mono_ms() + ms;
    as_change_t *ch = NULL;
    struct pollfd pfd = { -1, POLLIN, 0 };
    int rc;

    ck_assert_int_eq(as_watch_fd(w, &pfd.fd), AS_OK);
    for (;;) {
        rc = as_watch_next(w, 0, &ch);
        if (rc == AS_OK)
            return ch;
        ck_assert_msg(rc == AS_EDEADLINE_EXCEEDED || rc == AS_EUNAVAILABLE,
                      "watch_next: %s %s", as_code_name(rc),
                      as_client_errmsg(c));
        ck_assert_msg(as_clock_mono_ms() < deadline, "no change in %d ms",
                      ms);
        poll(&pfd, 1, as_watch_timeout_ms(w));
    }
}

/* An event loop's descriptor stays the same and keeps working when the
 * server restarts under the watch (the feed connection is a new one). */
START_TEST(watch_fd_across_restart)
{
    ts_server_t s;
    as_client_t *c, *wc;
    as_watch_t *w;
    as_watch_opts_t o;
    as_change_t *ch;
    struct pollfd pfd = { -1, POLLIN, 0 };
    int fd0, fd1, rc, i;

    c = start_filled(&s, NULL, 0);
    wc = connect_to(&s);
    memset(&o, 0, sizeof(o));
    ck_assert_int_eq(as_watch_open(wc, &o, &w), AS_OK);
    ck_assert_int_eq(as_watch_fd(w, &fd0), AS_OK);
    put_one(c, 0, NULL);
    ch = loop_change(w, wc, 10000);
    ck_assert_uint_eq(ch->seq, 1);
    as_change_free(ch);
    ck_assert_int_eq(ts_stop(&s), 0);
    for (i = 0; i < 100; i++) {
        rc = as_watch_next(w, 0, &ch);
        if (rc == AS_EUNAVAILABLE)
            break;
        ck_assert_int_eq(rc, AS_EDEADLINE_EXCEEDED);
        usleep(20000);
    }
    ck_assert_int_eq(rc, AS_EUNAVAILABLE);
    ck_assert_int_eq(ts_restart(&s), 0);
    as_client_close(c);
    c = connect_to(&s);
    put_one(c, 1, NULL);
    ch = loop_change(w, wc, 15000);
    ck_assert_uint_eq(ch->seq, 2);
    as_change_free(ch);
    ck_assert_int_eq(as_watch_fd(w, &fd1), AS_OK);
    ck_assert_int_eq(fd1, fd0);
    /* Drained, the descriptor becomes readable again for the next
     * frame (this event, or a heartbeat within a second). */
    while (as_watch_next(w, 0, &ch) == AS_OK)
        as_change_free(ch);
    put_one(c, 2, NULL);
    pfd.fd = fd1;
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ch = loop_change(w, wc, 10000);
    ck_assert_uint_eq(ch->seq, 3);
    as_change_free(ch);
    end_watch(w, wc, c, &s);
}
END_TEST

/*
 * Waits (up to ~15 s: retention runs about once a second on the writer
 * thread) until a watch from since is refused with OUT_OF_RANGE naming
 * oldest as the oldest retained seq, then checks that a watch from just
 * before it starts at oldest.
 */
static void await_trimmed_to(as_client_t *c, uint64_t since, uint64_t oldest)
{
    as_watch_opts_t o;
    as_watch_t *w = NULL;
    as_change_t *ch = NULL;
    char want[64];
    int64_t t0 = as_clock_mono_ms();
    int rc;

    memset(&o, 0, sizeof(o));
    o.has_since = 1;
    o.since = since;
    snprintf(want, sizeof(want), "oldest retained seq=%llu",
             (unsigned long long)oldest);
    for (;;) {
        ck_assert_int_eq(as_watch_open(c, &o, &w), AS_OK);
        rc = as_watch_next(w, 2000, &ch);
        as_change_free(ch);
        ch = NULL;
        as_watch_close(w);
        /* A trim that ran while the puts were still arriving already
         * refuses since, naming an older oldest seq: wait for the trim
         * after the last put. */
        if ((rc == AS_EOUT_OF_RANGE &&
             strstr(as_client_errmsg(c), want) != NULL) ||
            as_clock_mono_ms() - t0 > 15000)
            break;
        /* Before the trim, the history is still served. */
        ck_assert_msg(rc == AS_OK || rc == AS_EOUT_OF_RANGE, "got %s",
                      as_code_name(rc));
        usleep(200000);
    }
    ck_assert_msg(rc == AS_EOUT_OF_RANGE, "got %s", as_code_name(rc));
    ck_assert_msg(strstr(as_client_errmsg(c), want) != NULL, "%s",
                  as_client_errmsg(c));
    o.since = oldest - 1;
    ck_assert_int_eq(as_watch_open(c, &o, &w), AS_OK);
    ch = next_change(w, c, 10000);
    ck_assert_uint_eq(ch->seq, oldest);
    as_change_free(ch);
    as_watch_close(w);
}

/* Changes before the retained changelog answer OUT_OF_RANGE, naming the
 * oldest retained seq; the retained part is still served. */
START_TEST(compacted_history_out_of_range)
{
    static const char *const args[] = { "--sync", "periodic",
                                        "--retain-changes", "10", NULL };
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;

    c = start_filled(&s, args, 50);
    await_trimmed_to(c, 5, 41);
    memset(&o, 0, sizeof(o));
    /* A snapshot from an incomplete log is refused. */
    o.initial = 1;
    ck_assert_int_eq(as_watch_open(c, &o, &w), AS_EFAILED_PRECONDITION);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* libfaketime, from Debian's faketime package (deploy/deps.sh test). */
#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

/*
 * --retain-hours: changes committed three hours ago are dropped, a fresh
 * one is kept. The first run of the server commits under libfaketime with
 * its clock three hours behind; the second runs on the real clock.
 */
START_TEST(retain_hours_drops_old_changes)
{
    static const char *const args[] = { "--sync", "periodic",
                                        "--retain-hours", "1", NULL };
    const char *prev = getenv("ASAN_OPTIONS");
    char asan[512];
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;
    as_change_t *ch;
    int i;

    ck_assert_msg(access(FAKETIME_LIB, R_OK) == 0,
                  "%s is missing: apt-get install faketime", FAKETIME_LIB);
    /* libfaketime cannot come before the ASan runtime; it need not. */
    snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0",
             prev ? prev : "", prev ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    setenv("FAKETIME", "-3h", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    ck_assert_int_eq(ts_start(&s, args), 0);
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME");
    c = connect_to(&s);
    for (i = 0; i < 5; i++)
        put_one(c, i, NULL);
    /* Under the fake clock nothing is old yet: the whole log is there. */
    memset(&o, 0, sizeof(o));
    o.has_since = 1;
    ck_assert_int_eq(as_watch_open(c, &o, &w), AS_OK);
    ch = next_change(w, c, 10000);
    ck_assert_uint_eq(ch->seq, 1);
    as_change_free(ch);
    as_watch_close(w);
    as_client_close(c);
    ck_assert_int_eq(ts_stop(&s), 0);

    ck_assert_int_eq(ts_restart(&s), 0);
    c = connect_to(&s);
    put_one(c, 5, NULL); /* seq 6, now */
    await_trimmed_to(c, 0, 6);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* Calls Changes(since, wait_ms) on its own client. */
typedef struct poll_arg {
    const char *endpoint;
    uint64_t since;
    uint32_t wait_ms;
    int rc;
    size_t n_events;
    uint64_t first_seq, next_since;
} poll_arg_t;

static void *long_poll(void *p)
{
    poll_arg_t *a = p;
    Artstore__V1__ChangesRequest req = ARTSTORE__V1__CHANGES_REQUEST__INIT;
    Artstore__V1__ChangesResponse *resp;
    ProtobufCMessage *m;
    as_client_t *c;

    if (as_client_connect(a->endpoint, 30000, &c) != AS_OK) {
        a->rc = AS_EUNAVAILABLE;
        return NULL;
    }
    req.has_since = req.has_wait_ms = 1;
    req.since = a->since;
    req.wait_ms = a->wait_ms;
    a->rc = as__call(c, "Changes", &req.base,
                     &artstore__v1__changes_response__descriptor, &m);
    if (a->rc == AS_OK) {
        resp = (Artstore__V1__ChangesResponse *)m;
        a->n_events = resp->n_events;
        a->first_seq = resp->n_events ? resp->events[0]->seq : 0;
        a->next_since = resp->next_since;
        artstore__v1__changes_response__free_unpacked(resp, NULL);
    }
    as_client_close(c);
    return NULL;
}

/* A long-poll returns when a write arrives, long before its wait ends;
 * with nothing written it returns empty at the end of its wait; waiters
 * over max_watches get RESOURCE_EXHAUSTED. */
START_TEST(changes_long_poll)
{
    static const char *const args[] = { "--max-watches", "1", NULL };
    ts_server_t s;
    as_client_t *c;
    pthread_t th, th2;
    poll_arg_t a, b;
    int64_t t0, elapsed;

    c = start_filled(&s, args, 1);


    memset(&a, 0, sizeof(a));
    a.endpoint = s.endpoint;
    a.since = 1;
    a.wait_ms = 30000;
    t0 = as_clock_mono_ms();
    pthread_create(&th, NULL, long_poll, &a);
    await_waiting(s.endpoint, 1);
    /* The one allowed waiter is parked: a second one is refused. */
    memset(&b, 0, sizeof(b));
    b.endpoint = s.endpoint;
    b.since = 1;
    b.wait_ms = 30000;
    pthread_create(&th2, NULL, long_poll, &b);
    pthread_join(th2, NULL);
    ck_assert_msg(b.rc == AS_ERESOURCE_EXHAUSTED, "second waiter: %s",
                  as_code_name(b.rc));
    put_one(c, 1, NULL);
    pthread_join(th, NULL);
    elapsed = as_clock_mono_ms() - t0;
    ck_assert_msg(a.rc == AS_OK, "long poll: %s", as_code_name(a.rc));
    ck_assert_uint_eq(a.n_events, 1);
    ck_assert_uint_eq(a.first_seq, 2);
    ck_assert_uint_eq(a.next_since, 2);
    ck_assert_msg(elapsed < 25000, "long poll waited %lld ms",
                  (long long)elapsed);

    /* Nothing written: an empty answer at the end of the wait. */
    a.since = 2;
    a.wait_ms = 300;
    long_poll(&a);
    ck_assert_int_eq(a.rc, AS_OK);
    ck_assert_uint_eq(a.n_events, 0);
    ck_assert_uint_eq(a.next_since, 2);

    /* A call parked when the server stops is answered, not dropped. */
    a.wait_ms = 30000;
    a.rc = AS_EUNKNOWN;
    t0 = as_clock_mono_ms();
    pthread_create(&th, NULL, long_poll, &a);
    await_waiting(s.endpoint, 1);
    ck_assert_int_eq(ts_stop(&s), 0);
    pthread_join(th, NULL);
    ck_assert_msg(a.rc == AS_OK, "parked call at shutdown: %s",
                  as_code_name(a.rc));
    ck_assert_uint_eq(a.n_events, 0);
    ck_assert_msg(as_clock_mono_ms() - t0 < 25000, "parked call not answered at stop");
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* A bad filter is refused with a message naming the field; a watch with
 * a NULL tag is refused before anything is sent. */
START_TEST(changes_bad_filter)
{
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;
    const char *bad[] = { NULL };
    Artstore__V1__ChangesRequest req = ARTSTORE__V1__CHANGES_REQUEST__INIT;
    Artstore__V1__Filter f = ARTSTORE__V1__FILTER__INIT;
    char *tags[] = { "ok\xff" };
    ProtobufCMessage *m;
    int rc;

    c = start_filled(&s, NULL, 0);
    f.any_of = tags;
    f.n_any_of = 1;
    req.filter = &f;
    rc = as__call(c, "Changes", &req.base,
                  &artstore__v1__changes_response__descriptor, &m);
    ck_assert_int_eq(rc, AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(c), "filter.any_of[0]") != NULL,
                  "%s", as_client_errmsg(c));
    memset(&o, 0, sizeof(o));
    o.all_of = bad;
    o.n_all_of = 1;
    ck_assert_int_eq(as_watch_open(c, &o, &w), AS_EINVALID_ARGUMENT);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* A snapshot start delivers the last change of each article matching
 * now, in seq order, then live changes. */
START_TEST(initial_snapshot)
{
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;
    const char *all[] = { "hot" };
    uint64_t want[8];
    size_t n_want = 0, i;
    as_change_t *ch;

    c = start_filled(&s, fast_sync, 0);
    put_one(c, 0, (const char *[]){ "hot", NULL });          /* id 1 */
    put_one(c, 1, (const char *[]){ "hot", NULL });          /* id 2 */
    put_one(c, 2, (const char *[]){ "cold", NULL });         /* id 3 */
    put_one(c, 3, (const char *[]){ "hot", NULL });          /* id 4 */
    put_one(c, 1, (const char *[]){ "cold", NULL });         /* 2 leaves */
    put_one(c, 2, (const char *[]){ "hot", "x", NULL });     /* 3 joins */
    ck_assert_int_eq(as_delete(c, 4, AS_REV_ANY, NULL), AS_OK);
    want[n_want++] = 1;   /* id 1, created at seq 1 */
    want[n_want++] = 6;   /* id 3, updated at seq 6 */
    memset(&o, 0, sizeof(o));
    o.all_of = all;
    o.n_all_of = 1;
    o.initial = 1;
    ck_assert_int_eq(as_watch_open(c, &o, &w), AS_OK);
    for (i = 0; i < n_want; i++) {
        ch = next_change(w, c, 10000);
        ck_assert_uint_eq(ch->seq, want[i]);
        ck_assert_int_eq(ch->initial, 1);
        as_change_free(ch);
    }
    put_one(c, 9, (const char *[]){ "hot", NULL });
    ch = next_change(w, c, 10000);
    ck_assert_uint_eq(ch->seq, 8);
    ck_assert_int_eq(ch->initial, 0);
    as_change_free(ch);
    ck_assert_int_eq(as_watch_next(w, 1200, &ch), AS_EDEADLINE_EXCEEDED);
    end_watch(w, NULL, c, &s);
}
END_TEST

/* Calls Changes with since, an optional filter and limit; returns the
 * code, with *resp set on AS_OK (free_unpacked). */
static int changes(as_client_t *c, uint64_t since,
                   Artstore__V1__Filter *f, uint32_t limit,
                   Artstore__V1__ChangesResponse **resp)
{
    Artstore__V1__ChangesRequest req = ARTSTORE__V1__CHANGES_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    int rc;

    req.has_since = 1;
    req.since = since;
    req.filter = f;
    req.has_limit = limit != 0;
    req.limit = limit;
    rc = as__call(c, "Changes", &req.base,
                  &artstore__v1__changes_response__descriptor, &m);
    *resp = (Artstore__V1__ChangesResponse *)m;
    return rc;
}

/* A position beyond the last seq (a subscriber ahead of a store restored
 * from an older backup) is OUT_OF_RANGE naming the last seq, and a watch
 * from there reports it instead of waiting for seqs to catch up. */
START_TEST(since_beyond_last_seq)
{
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;
    as_change_t *ch = NULL;
    Artstore__V1__ChangesResponse *r;

    c = start_filled(&s, fast_sync, 3);
    ck_assert_int_eq(changes(c, 3, NULL, 0, &r), AS_OK);
    ck_assert_uint_eq(r->n_events, 0);
    ck_assert_uint_eq(r->next_since, 3);
    artstore__v1__changes_response__free_unpacked(r, NULL);
    ck_assert_int_eq(changes(c, 10, NULL, 0, &r), AS_EOUT_OF_RANGE);
    ck_assert_msg(strstr(as_client_errmsg(c), "last seq=3") != NULL, "%s",
                  as_client_errmsg(c));
    memset(&o, 0, sizeof(o));
    o.has_since = 1;
    o.since = 10;
    ck_assert_int_eq(as_watch_open(c, &o, &w), AS_OK);
    ck_assert_int_eq(as_watch_next(w, 5000, &ch), AS_EOUT_OF_RANGE);
    ck_assert_ptr_null(ch);
    end_watch(w, NULL, c, &s);
}
END_TEST

/* Changes and Query share one page rule: a limit over max_page is
 * refused (Changes used to cut it silently), absent is the default. */
START_TEST(changes_page_limit)
{
    static const char *const args[] = { "--max-page", "10", NULL };
    ts_server_t s;
    as_client_t *c;
    Artstore__V1__ChangesResponse *r;

    c = start_filled(&s, args, 12);
    ck_assert_int_eq(changes(c, 0, NULL, 11, &r), AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(c), "max_page=10") != NULL, "%s",
                  as_client_errmsg(c));
    ck_assert_int_eq(changes(c, 0, NULL, 10, &r), AS_OK);
    ck_assert_uint_eq(r->n_events, 10);
    artstore__v1__changes_response__free_unpacked(r, NULL);
    ck_assert_int_eq(changes(c, 0, NULL, 0, &r), AS_OK);
    ck_assert_uint_eq(r->n_events, 10);   /* the default, 50, capped */
    artstore__v1__changes_response__free_unpacked(r, NULL);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* Filter.since/until mean the article's time in Changes as in Query:
 * published_at, else ingested_at. An article without published_at used
 * to be dropped by any time bound in Changes. */
START_TEST(changes_time_is_article_time)
{
    ts_server_t s;
    as_client_t *c;
    Artstore__V1__ChangesResponse *r;
    Artstore__V1__Filter f = ARTSTORE__V1__FILTER__INIT;
    as_query_spec_t q;
    as_query_result_t *page = NULL;

    c = start_filled(&s, fast_sync, 1);   /* no published_at */
    f.has_since = 1;
    f.since = 1000000000;                 /* 2001: before its ingested_at */
    ck_assert_int_eq(changes(c, 0, &f, 0, &r), AS_OK);
    ck_assert_uint_eq(r->n_events, 1);
    artstore__v1__changes_response__free_unpacked(r, NULL);
    memset(&q, 0, sizeof(q));
    q.has_since = 1;
    q.since = f.since;
    ck_assert_int_eq(as_query(c, &q, &page), AS_OK);
    ck_assert_uint_eq(page->n_articles, 1);
    as_query_result_free(page);
    f.has_since = 0;
    f.has_until = 1;
    f.until = 1000000000;
    ck_assert_int_eq(changes(c, 0, &f, 0, &r), AS_OK);
    ck_assert_uint_eq(r->n_events, 0);
    artstore__v1__changes_response__free_unpacked(r, NULL);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* The default feed endpoint: tcp port + 1, or the ipc path + ".feed". */
START_TEST(derived_feed_endpoint)
{
    char out[128];

    ck_assert_int_eq(as_feed_derive_endpoint("tcp://127.0.0.1:7400", out,
                                             sizeof(out)), 0);
    ck_assert_str_eq(out, "tcp://127.0.0.1:7401");
    ck_assert_int_eq(as_feed_derive_endpoint("tcp://[::1]:9000", out,
                                             sizeof(out)), 0);
    ck_assert_str_eq(out, "tcp://[::1]:9001");
    ck_assert_int_eq(as_feed_derive_endpoint("ipc:///tmp/x/rpc", out,
                                             sizeof(out)), 0);
    ck_assert_str_eq(out, "ipc:///tmp/x/rpc.feed");
    ck_assert_int_eq(as_feed_derive_endpoint("tcp://h:65535", out,
                                             sizeof(out)), -1);
    ck_assert_int_eq(as_feed_derive_endpoint("tcp://h", out, sizeof(out)), -1);
    ck_assert_int_eq(as_feed_derive_endpoint("ws://h:1", out, sizeof(out)), -1);
}
END_TEST

/* Reads a series of the server's Stats (its Prometheus text). */
static double stat_value(as_client_t *c, const char *name)
{
    as_stats_t *st;
    char want[128];
    const char *p;
    double v = -1;

    snprintf(want, sizeof(want), "\n%s ", name);
    ck_assert_int_eq(as_stats(c, &st), AS_OK);
    p = strstr(st->prometheus, want);
    ck_assert_msg(p != NULL, "no %s in Stats", name);
    v = strtod(p + strlen(want), NULL);
    as_stats_free(st);
    return v;
}

/* Starts s logging every write before its acknowledgement (--sync full)
 * with LMDB commits every commit_ms, and returns a client of it. */
static as_client_t *start_logged(ts_server_t *s, const char *commit_ms)
{
    const char *const args[] = { "--sync", "full", "--commit-interval",
                                 commit_ms, NULL };

    return start_filled(s, args, 0);
}

/* With the write-ahead log, the feed, Changes and a parked long-poll see a
 * write once it is acknowledged: with LMDB's commit ten minutes away,
 * every event arrives at once, and the only commit is the one Stats asks
 * for. */
START_TEST(feed_publishes_at_ack)
{
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_change_t *ch;
    Artstore__V1__ChangesResponse *r;
    as_ping_info_t info;
    poll_arg_t a;
    pthread_t th;
    int i;

    c = start_logged(&s, "600000");
    ck_assert_int_eq(as_watch_open(c, NULL, &w), AS_OK);
    for (i = 0; i < 10; i++) {
        char url[64];

        ck_assert_uint_eq(put_one(c, i, NULL), (uint64_t)i + 1);
        ch = next_change(w, c, 10000);
        snprintf(url, sizeof(url), "https://feed.test/%d", i);
        ck_assert_uint_eq(ch->seq, (uint64_t)i + 1);
        ck_assert_str_eq(ch->url, url);
        as_change_free(ch);
    }
    ck_assert_int_eq(as_ping(c, &info), AS_OK);
    ck_assert_uint_eq(info.last_seq, 10);
    ck_assert_int_eq(changes(c, 0, NULL, 0, &r), AS_OK);
    ck_assert_uint_eq(r->n_events, 10);
    for (i = 0; i < 10; i++)
        ck_assert_uint_eq(r->events[i]->seq, (uint64_t)i + 1);
    ck_assert_uint_eq(r->last_seq, 10);
    ck_assert_uint_eq(r->next_since, 10);
    artstore__v1__changes_response__free_unpacked(r, NULL);

    /* A long-poll parked at the end is answered by the next write. */
    memset(&a, 0, sizeof(a));
    a.endpoint = s.endpoint;
    a.since = 10;
    a.wait_ms = 30000;
    pthread_create(&th, NULL, long_poll, &a);
    await_waiting(s.endpoint, 1);
    put_one(c, 10, NULL);
    pthread_join(th, NULL);
    ck_assert_msg(a.rc == AS_OK, "long poll: %s", as_code_name(a.rc));
    ck_assert_uint_eq(a.n_events, 1);
    ck_assert_uint_eq(a.first_seq, 11);
    ch = next_change(w, c, 10000);
    ck_assert_uint_eq(ch->seq, 11);
    as_change_free(ch);

    /* await_waiting's Stats calls each asked for a commit; nothing else
     * committed. */
    ck_assert(stat_value(c, "artstore_lmdb_commits_total") ==
              stat_value(c, "artstore_lmdb_commits_asked_total"));
    end_watch(w, NULL, c, &s);
}
END_TEST

/* Writers and readers of the ordering test. */
#define ORDER_WRITERS 4
#define ORDER_PER_WRITER 150
#define ORDER_TOTAL (ORDER_WRITERS * ORDER_PER_WRITER)

typedef struct order_arg order_arg_t;

/* One thread of the ordering test: run works with the client c; err is
 * set at the first thing it sees wrong. */
struct order_arg {
    const char *endpoint;
    char who[16];           /* for messages */
    int k;                  /* a writer's number */
    void (*run)(order_arg_t *a, as_client_t *c);
    int64_t t0;             /* when it started */
    char err[256];          /* empty: every seq seen once, in order */
};

/* The body of each thread: connects to the server, runs a->run and
 * closes the client. */
static void *order_thread(void *p)
{
    order_arg_t *a = p;
    as_client_t *c;

    a->t0 = as_clock_mono_ms();
    if (as_client_connect(a->endpoint, 10000, &c) != AS_OK) {
        snprintf(a->err, sizeof(a->err), "%s cannot connect", a->who);
        return NULL;
    }
    a->run(a, c);
    as_client_close(c);
    return NULL;
}

/* Starts the thread *th running run as who. */
static void order_start(pthread_t *th, order_arg_t *a, const char *endpoint,
                        void (*run)(order_arg_t *, as_client_t *),
                        const char *who, int k)
{
    memset(a, 0, sizeof(*a));
    a->endpoint = endpoint;
    snprintf(a->who, sizeof(a->who), "%s", who);
    a->k = k;
    a->run = run;
    pthread_create(th, NULL, order_thread, a);
}

/* Sets a->err when the thread has run for over 40 s; at is how far it
 * got. */
static void order_deadline(order_arg_t *a, uint64_t at)
{
    if (as_clock_mono_ms() - a->t0 > 40000)
        snprintf(a->err, sizeof(a->err), "%s stuck at %llu", a->who,
                 (unsigned long long)at);
}

/* Puts ORDER_PER_WRITER articles of its own. */
static void order_writer(order_arg_t *a, as_client_t *c)
{
    int i;

    for (i = 0; i < ORDER_PER_WRITER; i++)
        put_one(c, a->k * ORDER_PER_WRITER + i, NULL);
}

/* Follows the log with watches reopened every 37 events from their
 * position (each reopening catches up through Changes). */
static void order_rewatcher(order_arg_t *a, as_client_t *c)
{
    uint64_t want = 1;

    while (want <= ORDER_TOTAL && a->err[0] == '\0') {
        as_watch_opts_t o;
        as_watch_t *w;
        int n;

        memset(&o, 0, sizeof(o));
        o.has_since = 1;
        o.since = want - 1;
        if (as_watch_open(c, &o, &w) != AS_OK) {
            snprintf(a->err, sizeof(a->err), "watch_open: %s",
                     as_client_errmsg(c));
            break;
        }
        for (n = 0; n < 37 && want <= ORDER_TOTAL; n++) {
            as_change_t *ch = NULL;
            int rc = as_watch_next(w, 10000, &ch);

            if (rc != AS_OK || ch->seq != want)
                snprintf(a->err, sizeof(a->err),
                         "rewatcher: %s, seq %llu, expected %llu",
                         as_code_name(rc), ch ? (unsigned long long)ch->seq
                                              : 0ULL,
                         (unsigned long long)want);
            as_change_free(ch);
            if (a->err[0] != '\0')
                break;
            want++;
        }
        as_watch_close(w);
        if (want <= ORDER_TOTAL)
            order_deadline(a, want);
    }
}

/* Pages through Changes, 50 at a time, from 0 to the end. */
static void order_pager(order_arg_t *a, as_client_t *c)
{
    uint64_t pos = 0;
    size_t i;

    while (pos < ORDER_TOTAL && a->err[0] == '\0') {
        Artstore__V1__ChangesResponse *r;
        int rc = changes(c, pos, NULL, 50, &r);

        if (rc != AS_OK) {
            snprintf(a->err, sizeof(a->err), "Changes: %s",
                     as_client_errmsg(c));
            break;
        }
        for (i = 0; i < r->n_events && a->err[0] == '\0'; i++)
            if (r->events[i]->seq != ++pos)
                snprintf(a->err, sizeof(a->err),
                         "pager: seq %llu, expected %llu",
                         (unsigned long long)r->events[i]->seq,
                         (unsigned long long)pos);
        if (r->next_since < pos || r->last_seq < pos)
            snprintf(a->err, sizeof(a->err),
                     "pager: next_since %llu, last_seq %llu below %llu",
                     (unsigned long long)r->next_since,
                     (unsigned long long)r->last_seq,
                     (unsigned long long)pos);
        if (r->n_events == 0)
            usleep(1000);
        artstore__v1__changes_response__free_unpacked(r, NULL);
        order_deadline(a, pos);
    }
}

/*
 * Events published at acknowledgement and LMDB commits every 3 ms,
 * interleaved: with four writers, a live watch, a watch reopened from its
 * position again and again (catching up through Changes, across the
 * overlay's tail and LMDB) and a reader paging through Changes each see
 * every seq once, in order, with no gap.
 */
START_TEST(feed_at_ack_order_across_commits)
{
    ts_server_t s;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;
    order_arg_t wr[ORDER_WRITERS], rw, pg;
    pthread_t wt[ORDER_WRITERS], rt, pt;
    uint64_t want;
    int k;

    c = start_logged(&s, "3");
    memset(&o, 0, sizeof(o));
    o.has_since = 1;
    ck_assert_int_eq(as_watch_open(c, &o, &w), AS_OK);
    order_start(&rt, &rw, s.endpoint, order_rewatcher, "rewatcher", 0);
    order_start(&pt, &pg, s.endpoint, order_pager, "pager", 0);
    for (k = 0; k < ORDER_WRITERS; k++) {
        char who[16];

        snprintf(who, sizeof(who), "writer %d", k);
        order_start(&wt[k], &wr[k], s.endpoint, order_writer, who, k);
    }
    for (want = 1; want <= ORDER_TOTAL; want++) {
        as_change_t *ch = next_change(w, c, 20000);

        ck_assert_msg(ch->seq == want, "live watch: seq %llu, expected %llu",
                      (unsigned long long)ch->seq, (unsigned long long)want);
        as_change_free(ch);
    }
    for (k = 0; k < ORDER_WRITERS; k++) {
        pthread_join(wt[k], NULL);
        ck_assert_msg(wr[k].err[0] == '\0', "%s", wr[k].err);
    }
    pthread_join(rt, NULL);
    pthread_join(pt, NULL);
    ck_assert_msg(rw.err[0] == '\0', "%s", rw.err);
    ck_assert_msg(pg.err[0] == '\0', "%s", pg.err);
    /* Several commits came between the acknowledgements. */
    ck_assert(stat_value(c, "artstore_lmdb_commits_total") > 1);
    end_watch(w, NULL, c, &s);
}
END_TEST

static Suite *feed_suite(void)
{
    Suite *s = suite_create("feed");
    TCase *tc = tcase_create("e2e");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stopped_subscriber_gets_everything);
    tcase_add_test(tc, since_history_then_live);
    tcase_add_test(tc, tag_filter_exact);
    tcase_add_test(tc, tag_filter_unicode);
    tcase_add_test(tc, server_restart_under_subscriber);
    tcase_add_test(tc, watch_fd_across_restart);
    tcase_add_test(tc, compacted_history_out_of_range);
    tcase_add_test(tc, retain_hours_drops_old_changes);
    tcase_add_test(tc, changes_long_poll);
    tcase_add_test(tc, changes_bad_filter);
    tcase_add_test(tc, initial_snapshot);
    tcase_add_test(tc, derived_feed_endpoint);
    tcase_add_test(tc, since_beyond_last_seq);
    tcase_add_test(tc, changes_page_limit);
    tcase_add_test(tc, changes_time_is_article_time);
    tcase_add_test(tc, feed_publishes_at_ack);
    tcase_add_test(tc, feed_at_ack_order_across_commits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(feed_suite());
}
