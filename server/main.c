/*
 * main.c - artstored: parse options, build the server (server.c), then wait
 * for SIGINT/SIGTERM and shut down in the order that loses nothing: stop
 * taking requests, let the writer finish and acknowledge what it holds,
 * then close the socket and the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>
#include <pthread.h>

#ifdef AS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "as_version.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "verify.h"

/* Tells systemd (Type=notify) how the server is doing; a no-op when built
 * without libsystemd or not started by systemd (no NOTIFY_SOCKET). */
static void notify(const char *state)
{
#ifdef AS_HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

/* Every request allocates and frees its arena chunks and buffers; glibc's
 * default trimming hands that memory back to the kernel and faults it in
 * again on the next request (madvise, page faults: about a sixth of the
 * time of a put or get, measured). Keep freed memory, and keep buffers up
 * to 4 MiB (a request's arena, a large body) on the heap. */
static void tune_malloc(void)
{
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

/* nanomsg spins when it runs out of descriptors: take all we may have. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* --check: verifies the store offline and prints a summary. Returns the
 * exit code (0 consistent, 1 problems or unreadable). */
static int run_check(const char *data_dir)
{
    as_verify_report_t rep;
    char lock_path[4096], pid[32] = "";
    int fd, n;

    /* A running server holds the directory's LOCK (store.c): a check
     * then reads a store that changes under it, and would report the
     * writes in flight as problems. Refuse, and say what to do. */
    snprintf(lock_path, sizeof(lock_path), "%s/LOCK", data_dir);
    if ((fd = open(lock_path, O_RDONLY | O_CLOEXEC)) >= 0) {
        if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
            n = (int)read(fd, pid, sizeof(pid) - 1);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            close(fd);
            fprintf(stderr, "artstored --check: %s is in use by a running "
                    "server (pid %s); --check reads a store offline: stop "
                    "the server first, or check a copy (artstore backup "
                    "DIR, then artstored --check --data DIR)\n", data_dir,
                    pid[0] ? pid : "?");
            return 1;
        }
        close(fd);
    }
    if (as_verify_run(data_dir, stderr, &rep) != 0)
        return 1;
    printf("%s: %llu articles (%llu compressed), %llu tags, %llu changes "
           "(seq %llu..%llu), next_id %llu: %s (%llu problems)\n", data_dir,
           (unsigned long long)rep.articles,
           (unsigned long long)rep.compressed, (unsigned long long)rep.tags,
           (unsigned long long)rep.changes, (unsigned long long)rep.oldest_seq,
           (unsigned long long)rep.last_seq, (unsigned long long)rep.next_id,
           rep.problems ? "INCONSISTENT" : "consistent",
           (unsigned long long)rep.problems);
    return rep.problems ? 1 : 0;
}

/* Serves until SIGINT or SIGTERM. Returns the exit code. */
static int run_server(const as_config_t *cfg)
{
    as_server_t *srv;
    as_status_t st;
    sigset_t set;
    int sig = 0;

    if (as_server_check_config(cfg, &st) != 0) {
        as_log_error("%s", st.msg);
        return 2;
    }
    raise_nofile();
    tune_malloc();
    /* Block the stop signals in every thread; main waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (as_server_open(cfg, &srv, &st) != 0) {
        as_log_error("%s", st.msg);
        return 1;
    }
    as_log_info("artstored %s serving %s on %s, change feed on %s "
                "(%zu workers, sync=%s)", ARTSTORE_VERSION_STRING,
                cfg->data_dir, cfg->listen,
                as_server_feed_endpoint(srv)[0] ? as_server_feed_endpoint(srv)
                                                : "(none)",
                cfg->workers, cfg->sync);
    /* The socket is bound: clients may connect from now on. */
    notify("READY=1");
    while (sigwait(&set, &sig) != 0)
        ;
    as_log_info("received %s, shutting down", strsignal(sig));
    notify("STOPPING=1");
    as_server_close(srv);
    as_log_info("stopped cleanly");
    return 0;
}

int main(int argc, char **argv)
{
    as_config_t cfg;
    int rc, level;

    rc = as_config_parse_args(&cfg, argc, argv);
    if (rc != 0) {
        as_config_free(&cfg);
        return rc == 1 ? 0 : 2;
    }
    level = as_log_parse_level(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "artstored: unknown --log-level '%s'\n", cfg.log_level);
        as_config_free(&cfg);
        return 2;
    }
    as_log_set_level(level);
    if (cfg.rebuild_stories) {
        as_status_t st;

        rc = as_server_rebuild_stories(&cfg, &st) == 0 ? 0 : 1;
        if (rc != 0)
            as_log_error("rebuilding stories: %s", st.msg);
    } else {
        rc = cfg.check ? run_check(cfg.data_dir) : run_server(&cfg);
    }
    as_config_free(&cfg);
    return rc;
}
