/*
 * tempdir.c - temp dirs and child processes of tests that do not outlive
 * the test, however it ends.
 *
 * Check's fork mode ends a test at its first failed assertion with
 * _exit(): neither the teardown nor atexit handlers run. Check then kills
 * the test's process group, but the temp dirs stay behind, and without
 * fork mode (CK_FORK=no), or when the runner itself is killed, nothing
 * stops the servers. So nothing that must be undone is left to the
 * teardown: a ts_fork child is killed by the kernel when the test process
 * dies (PR_SET_PDEATHSIG), and the temp dirs are removed by a reaper
 * process that outlives the test.
 */
#define _GNU_SOURCE   /* nftw, prctl, unshare */
#include "tempdir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ reaper */

/*
 * The reaper: a process forked from the test process at its first
 * ts_tempdir, holding the other end of a socket. The test tells it each
 * dir, with the pid of a server writing into it ("+PID DIR" when it is
 * made, when its server starts or stops; "-DIR" once it was removed).
 * When the socket reaches end of file, the test process is gone, however
 * it ended: the reaper waits for the servers it knows of to die (their
 * PR_SET_PDEATHSIG kills them) and removes their dirs. It runs in a
 * process group of its own, which Check's kill of the test's group
 * spares. Only the process that started a reaper writes to it; a child
 * forked from it (ts_fork) closes its copy.
 */

#define REAPER_MAX 64

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reaper_fd = -1;
static pid_t reaper_owner;

static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* The reaper's life: reads the test's messages until end of file, then
 * cleans up after it. Never returns. */
static void reaper_main(int fd)
{
    struct { pid_t pid; char dir[64]; } ent[REAPER_MAX];
    char buf[4096], *line, *nl;
    size_t len = 0, n = 0, i;
    ssize_t r;
    int64_t end;

    setpgid(0, 0);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (;;) {
        r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
            char dir[64];
            long pid = 0;

            *nl = '\0';
            if (sscanf(line, "+%ld %63s", &pid, dir) != 2 &&
                sscanf(line, "-%63s", dir) != 1)
                continue;
            for (i = 0; i < n && strcmp(ent[i].dir, dir) != 0; i++)
                ;
            if (line[0] == '-') {
                if (i < n)
                    ent[i] = ent[--n];
            } else if (i < n || n < REAPER_MAX) {
                if (i == n)
                    snprintf(ent[n++].dir, sizeof(ent[0].dir), "%s", dir);
                ent[i].pid = (pid_t)pid;
            }
        }
        len -= (size_t)(line - buf);
        memmove(buf, line, len);
    }
    /* The servers die with the test, but the socket may reach its end
     * before the kernel has sent them their signal: wait (boundedly) for
     * them to be gone before removing what they write into. */
    end = mono_ms() + 5000;
    for (i = 0; i < n; i++)
        while (ent[i].pid > 0 && ts_alive(ent[i].pid) &&
               mono_ms() < end)
            usleep(10000);
    for (i = 0; i < n; i++)
        nftw(ent[i].dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    _exit(0);
}

/* Starts this process's reaper, once. Returns 0 or -1. */
static int reaper_start(void)
{
    int sv[2], fd, max;
    pid_t pid;

    if (reaper_fd >= 0 && reaper_owner == getpid())
        return 0;
    if (reaper_fd >= 0) {
        close(reaper_fd);     /* a parent's, inherited through fork() */
        reaper_fd = -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        /* Nothing of the test's: its sockets, files and pipes (a held
         * pipe would keep its reader waiting for the reaper). */
        max = (int)sysconf(_SC_OPEN_MAX);
        for (fd = 0; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            if (fd != sv[1] && fd != 2)
                close(fd);
        if ((fd = open("/dev/null", O_RDWR)) == 0)
            dup2(fd, 1);
        reaper_main(sv[1]);
    }
    close(sv[1]);
    reaper_fd = sv[0];
    reaper_owner = getpid();
    return 0;
}

/* Tells the reaper about dir: "+PID DIR" (pid may be 0), or with gone
 * set, "-DIR" (removed). */
static void reaper_tell(const char *dir, pid_t pid, int gone)
{
    char msg[128];
    int n;

    if (reaper_start() != 0)
        return;
    n = gone ? snprintf(msg, sizeof(msg), "-%s\n", dir)
             : snprintf(msg, sizeof(msg), "+%ld %s\n", (long)pid, dir);
    /* MSG_NOSIGNAL: a reaper that died costs the test nothing. */
    if (send(reaper_fd, msg, (size_t)n, MSG_NOSIGNAL) != n)
        fprintf(stderr, "tempdir: the reaper will not remove %s\n", dir);
}

int ts_tempdir(char *buf, size_t len)
{
    if (snprintf(buf, len, "/tmp/as-XXXXXX") >= (int)len ||
        mkdtemp(buf) == NULL)
        return -1;
    reaper_tell(buf, 0, 0);
    return 0;
}

void ts_tempdir_watch(const char *dir, pid_t pid)
{
    reaper_tell(dir, pid, 0);
}

int ts_tempdir_remove(const char *dir)
{
    int rc = nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

    reaper_tell(dir, 0, 1);
    return rc == 0 && access(dir, F_OK) != 0 ? 0 : -1;
}

int ts_alive(pid_t pid)
{
    char path[64], buf[512], *paren;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "PID (COMM) STATE ...": COMM may hold anything, up to the last ')'. */
    paren = strrchr(buf, ')');
    return paren == NULL || (paren[1] == ' ' && paren[2] != 'Z' &&
                             paren[2] != 'X');
}

/* In a child just forked: dies (SIGKILL) when parent does, and forgets
 * the parent's reaper. */
static void die_with(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126);
    if (reaper_fd >= 0) {
        close(reaper_fd);
        reaper_fd = -1;
    }
}

pid_t ts_fork(void)
{
    pid_t parent = getpid(), pid = fork();

    if (pid == 0)
        die_with(parent);
    return pid;
}

/* ------------------------------------------------------------ full disks */

int ts_tmpfs(char *buf, size_t len, const char *size)
{
    char opts[64];
    int err;

    if (len < 18) {
        errno = ERANGE;
        return -1;
    }
    snprintf(buf, len, "/tmp/as-df-XXXXXX");
    if (mkdtemp(buf) == NULL)
        return -1;
    snprintf(opts, sizeof(opts), "size=%s", size);
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", buf, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        err = errno;
        rmdir(buf);
        errno = err;
        return -1;
    }
    return 0;
}

int ts_tmpfs_or_skip(char *buf, size_t len, const char *size,
                     const char *test)
{
    if (ts_tmpfs(buf, len, size) == 0)
        return 0;
    fprintf(stderr, "%s: SKIPPED, cannot mount a tmpfs on %s: %s (needs "
            "root or CAP_SYS_ADMIN)\n", test, buf, strerror(errno));
    buf[0] = '\0';
    return -1;
}

void ts_tmpfs_remove(char *dir)
{
    if (dir[0] == '\0')
        return;
    umount2(dir, MNT_DETACH);
    rmdir(dir);
    dir[0] = '\0';
}

size_t ts_fill_disk(const char *path)
{
    static char chunk[64 * 1024];
    size_t total = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0)
        return 0;
    memset(chunk, 'x', sizeof(chunk));
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof(chunk));

        if (n <= 0)
            break;
        total += (size_t)n;
    }
    /* The last pages too: a write of one byte at a time until none fits. */
    while (write(fd, chunk, 1) == 1)
        total++;
    close(fd);
    return total;
}
