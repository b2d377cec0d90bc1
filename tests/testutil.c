/*
 * testutil.c - helpers for tests that need a real server. Its children
 * (servers, CLI runs) and temp dirs do not outlive a failed test: they are
 * made with ts_fork and ts_tempdir (tempdir.h).
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "clock.h"

const char *ts_artstored_path(void)
{
    return ARTSTORED_PATH;
}

const char *ts_cli_path(void)
{
    return ARTSTORE_CLI_PATH;
}

/* ------------------------------------------------------------ servers */

int ts_wait_ready(const char *endpoint, int ms)
{
    as_client_t *c;
    int64_t end = as_clock_mono_ms() + ms;
    int rc = -1;

    if (as_client_connect(endpoint, 200, &c) != AS_OK)
        return -1;
    /* A refused connection fails a ping at once: count real time. */
    while (as_clock_mono_ms() < end) {
        /* Any answer means the server is up, including a refusal from a
         * server that wants an auth token. */
        int prc = as_ping(c, NULL);

        if (prc == AS_OK || prc == AS_EUNAUTHENTICATED) {
            rc = 0;
            break;
        }
        usleep(20000);
    }
    as_client_close(c);
    return rc;
}

static int spawn(ts_server_t *s)
{
    const char *argv[48];
    int n = 0, i, fd;

    argv[n++] = ts_artstored_path();
    argv[n++] = "--data";
    argv[n++] = s->data;
    argv[n++] = "--listen";
    argv[n++] = s->endpoint;
    for (i = 0; s->extra[i] != NULL && n < 46; i++)
        argv[n++] = s->extra[i];
    argv[n] = NULL;
    s->pid = ts_fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    ts_tempdir_watch(s->dir, s->pid);
    return ts_wait_ready(s->endpoint, 10000);
}

int ts_start(ts_server_t *s, const char *const *extra)
{
    int i = 0;

    memset(s->extra, 0, sizeof(s->extra));
    while (extra != NULL && extra[i] != NULL && i < 31) {
        s->extra[i] = extra[i];
        i++;
    }
    s->pid = 0;
    if (ts_tempdir(s->dir, sizeof(s->dir)) != 0)
        return -1;
    snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
    snprintf(s->endpoint, sizeof(s->endpoint), "ipc://%s/rpc", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/log", s->dir);
    return spawn(s);
}

int ts_restart(ts_server_t *s)
{
    return spawn(s);
}

int ts_stop(ts_server_t *s)
{
    int status;

    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    ts_tempdir_watch(s->dir, s->pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void ts_kill(ts_server_t *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    ts_tempdir_watch(s->dir, s->pid);
}

/* Whether every thread of pid is stopped (state T in its stat), 0 when
 * one runs or cannot be read. */
static int all_threads_stopped(pid_t pid)
{
    char path[320], buf[512];
    struct dirent *e;
    DIR *d;
    int stopped = 1, n = 0;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    if ((d = opendir(path)) == NULL)
        return 0;
    while (stopped && (e = readdir(d)) != NULL) {
        const char *state;
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid,
                 e->d_name);
        /* The state follows the command name's closing parenthesis. */
        if ((f = fopen(path, "r")) == NULL ||
            fgets(buf, sizeof(buf), f) == NULL ||
            (state = strrchr(buf, ')')) == NULL || state[1] != ' ' ||
            (state[2] != 'T' && state[2] != 't'))
            stopped = 0;
        if (f != NULL)
            fclose(f);
        n++;
    }
    closedir(d);
    return stopped && n > 0;
}

int ts_pause(const ts_server_t *s)
{
    return ts_pause_pid(s->pid);
}

int ts_pause_pid(pid_t pid)
{
    int64_t end = as_clock_mono_ms() + 10000;

    if (pid <= 0 || kill(pid, SIGSTOP) != 0)
        return -1;
    while (!all_threads_stopped(pid)) {
        struct timespec pause = { 0, 1000000L };

        if (as_clock_mono_ms() > end)
            return -1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

void ts_cleanup(ts_server_t *s)
{
    if (s->pid > 0)
        ts_kill(s);
    if (s->dir[0] != '\0' && ts_tempdir_remove(s->dir) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
}

/* Reads all of fd into a malloc'ed string. */
static char *slurp(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;

    while (buf != NULL) {
        if (len + 1 >= cap) {
            char *p = realloc(buf, cap *= 2);

            if (p == NULL) {
                free(buf);
                return NULL;
            }
            buf = p;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

int ts_cli(const char *endpoint, const char *input, char **out, char **err,
           const char *const *args)
{
    return ts_cli_env(endpoint, NULL, input, out, err, args);
}

int ts_dead_tcp_endpoint(char *buf, size_t len)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    /* Closed without listen(): connects to the port are refused. */
    close(fd);
    snprintf(buf, len, "tcp://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    return 0;
}

int ts_cli_env(const char *endpoint, const char *const *env,
               const char *input, char **out, char **err,
               const char *const *args)
{
    const char *argv[64];
    char tmpl_in[] = "/tmp/as-in-XXXXXX", tmpl_err[] = "/tmp/as-err-XXXXXX";
    int pout[2], fin, ferr, status, n = 0;
    pid_t pid;

    argv[n++] = ts_cli_path();
    while (args[n - 1] != NULL && n < 63) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    /* stdin and stderr go through files, stdout through a pipe we drain. */
    fin = mkstemp(tmpl_in);
    ferr = mkstemp(tmpl_err);
    unlink(tmpl_in);
    unlink(tmpl_err);
    if (fin < 0 || ferr < 0 || pipe(pout) != 0)
        return -1;
    if (input != NULL && write(fin, input, strlen(input)) < 0)
        return -1;
    lseek(fin, 0, SEEK_SET);
    pid = ts_fork();
    if (pid == 0) {
        dup2(fin, 0);
        dup2(pout[1], 1);
        dup2(ferr, 2);
        close(pout[0]);
        if (endpoint != NULL)
            setenv("ARTSTORE_SERVER", endpoint, 1);
        for (n = 0; env != NULL && env[n] != NULL; n++)
            putenv((char *)env[n]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pout[1]);
    close(fin);
    if (out != NULL)
        *out = slurp(pout[0]);
    else
        free(slurp(pout[0]));
    close(pout[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (err != NULL) {
        lseek(ferr, 0, SEEK_SET);
        *err = slurp(ferr);
    }
    close(ferr);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ts_verify(const ts_server_t *s, char **report)
{
    char cmd[512];
    char *out;
    FILE *p;
    int status;

    /* The report is the summary line (stdout) and the problems (stderr). */
    snprintf(cmd, sizeof(cmd), "'%s' --check --data '%s' 2>&1",
             ts_artstored_path(), s->data);
    if ((p = popen(cmd, "r")) == NULL)
        return -1;
    out = slurp(fileno(p));
    status = pclose(p);
    if (report != NULL)
        *report = out ? out : strdup("");
    else
        free(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ts_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int ts_sp_open(int port, unsigned proto)
{
    unsigned char hello[8] = { 0, 'S', 'P', 0, 0, 0, 0, 0 };
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    hello[4] = (unsigned char)(proto >> 8);
    hello[5] = (unsigned char)proto;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        write(fd, hello, sizeof(hello)) != (ssize_t)sizeof(hello)) {
        close(fd);
        return -1;
    }
    return fd;
}

int ts_http(int port, const char *method, const char *path, int *status,
            char **headers, char **body)
{
    struct sockaddr_in a;
    char req[512], *buf = NULL, *sep;
    size_t len = 0, cap = 0;
    int fd = -1, tries;
    ssize_t n;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (tries = 0; tries < 100; tries++) {
        if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            break;
        close(fd);
        fd = -1;
        usleep(20000);
    }
    if (fd < 0)
        return -1;
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Connection: close\r\n\r\n", method, path, port);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        goto out_fail;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *b = realloc(buf, cap = cap ? cap * 2 : 16384);

            if (b == NULL)
                goto out_fail;
            buf = b;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (buf == NULL)
        return -1;
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 ||
        (sep = strstr(buf, "\r\n\r\n")) == NULL) {
        free(buf);
        return -1;
    }
    if (body != NULL)
        *body = strdup(sep + 4);
    *sep = '\0';
    if (headers != NULL)
        *headers = strdup(buf);
    free(buf);
    return 0;

out_fail:
    close(fd);
    free(buf);
    return -1;
}
