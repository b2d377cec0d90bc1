/*
 * testutil.h - helpers for tests that need a real server: start artstored
 * as a child process on a fresh temp data dir and a short ipc:// path,
 * wait until it answers, stop it by PID; run the artstore CLI and capture
 * its output. Call these inside a test (after Check's fork), never before.
 *
 * A test that fails ends at once (Check's fork mode skips its teardown):
 * the processes these helpers start die with the test process, and their
 * temp dirs are removed after it (ts_fork, ts_tempdir: tempdir.h). Start
 * servers from the test's own thread (see ts_fork).
 */
#ifndef AS_TESTUTIL_H
#define AS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tempdir.h"

typedef struct ts_server {
    pid_t pid;
    char dir[64];          /* /tmp/as-XXXXXX */
    char data[96];         /* dir/data */
    char endpoint[128];    /* ipc://dir/rpc */
    char log[96];          /* dir/log: the server's stderr */
    const char *extra[32]; /* extra artstored arguments, NULL-terminated */
} ts_server_t;

/* Makes the temp dir and starts the server with extra args (NULL-terminated
 * list, may be NULL); returns 0 once it answers Ping, -1 otherwise. */
int ts_start(ts_server_t *s, const char *const *extra);

/* Starts the server again on the same dir and endpoint. */
int ts_restart(ts_server_t *s);

/* Stops the server with SIGTERM and waits; returns its exit status, or -1
 * if it died by a signal. */
int ts_stop(ts_server_t *s);

/* Kills the server with SIGKILL and reaps it. */
void ts_kill(ts_server_t *s);

/*
 * Stops the server with SIGSTOP and waits (up to 10 s) until every one of
 * its threads is stopped: kill(2) returns before they are, and on a busy
 * machine a thread can go on for tens of milliseconds (answer a peer, say)
 * after the signal was sent. Returns 0, or -1 if they did not all stop.
 * SIGCONT resumes it.
 */
int ts_pause(const ts_server_t *s);

/* ts_pause for any child process (a CLI, say). */
int ts_pause_pid(pid_t pid);

/* Stops the server if running and removes the temp dir. */
void ts_cleanup(ts_server_t *s);

/* Runs `artstored --check` on the server's data dir (stop the server
 * first). *report (may be NULL) gets its malloc'ed output. Returns the
 * exit status: 0 consistent, 1 problems or an unreadable store. */
int ts_verify(const ts_server_t *s, char **report);

/* Waits until the server at endpoint answers Ping (up to ms); 0 or -1. */
int ts_wait_ready(const char *endpoint, int ms);

/*
 * Runs the artstore CLI with args (NULL-terminated, without argv[0]),
 * ARTSTORE_SERVER=endpoint, feeding input (may be NULL) on stdin. *out and
 * *err (may be NULL) receive malloc'ed NUL-terminated output. Returns the
 * exit status, or -1 if it died by a signal.
 */
int ts_cli(const char *endpoint, const char *input, char **out, char **err,
           const char *const *args);

/* As ts_cli, with extra environment entries ("NAME=value", NULL-terminated
 * list, may be NULL) set in the child. */
int ts_cli_env(const char *endpoint, const char *const *env,
               const char *input, char **out, char **err,
               const char *const *args);

/* Writes "tcp://127.0.0.1:PORT" for a loopback port nothing listens on
 * (bound, then closed) into buf. Returns 0 or -1. */
int ts_dead_tcp_endpoint(char *buf, size_t len);

/* Returns a TCP port on 127.0.0.1 that was free a moment ago, or 0. */
int ts_free_port(void);

/* Opens a TCP connection to 127.0.0.1:port and sends the SP connection
 * header of protocol proto (0x30: REQ), as a hand-written SP peer does.
 * Returns the descriptor, or -1. */
int ts_sp_open(int port, unsigned proto);

/*
 * Sends `METHOD PATH HTTP/1.1` to 127.0.0.1:port (retrying the connect for
 * up to 2 s, as a listener may start just after the server answers Ping)
 * and reads the whole answer. *status gets the status code; *headers and
 * *body (each may be NULL) the malloc'ed, NUL-terminated header block and
 * body. Returns 0, or -1 when there is no valid answer.
 */
int ts_http(int port, const char *method, const char *path, int *status,
            char **headers, char **body);

/* Path of the built binaries (set by CMake). */
const char *ts_artstored_path(void);
const char *ts_cli_path(void);

#endif
