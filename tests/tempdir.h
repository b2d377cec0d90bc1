/*
 * tempdir.h - temp dirs and child processes that do not outlive the test
 * that made them, even one that fails (Check's fork mode ends a test at
 * its failed assertion with _exit(), skipping the teardown): a reaper
 * process removes the dirs once the test process is gone, and ts_fork's
 * children die with it. For every suite, with or without a server.
 */
#ifndef AS_TEMPDIR_H
#define AS_TEMPDIR_H

#include <stddef.h>
#include <sys/types.h>

/* Makes a new dir /tmp/as-XXXXXX into buf (len bytes, at least 15) and
 * has it removed when the test process ends, unless ts_tempdir_remove
 * removed it before. Returns 0, or -1 with errno set. */
int ts_tempdir(char *buf, size_t len);

/* Tells that process pid (0: none any more) writes into dir, a ts_tempdir:
 * when the test ends, dir is removed once pid is gone (a ts_fork child
 * dies with the test, but may need a moment). */
void ts_tempdir_watch(const char *dir, pid_t pid);

/* Removes dir, a ts_tempdir, and everything in it, now. Returns 0, or -1
 * when something stayed. */
int ts_tempdir_remove(const char *dir);

/* fork(), but the child is killed (SIGKILL) when the calling thread's
 * process ends, a failed assertion included: for a test's own children (a
 * server, a CLI it runs in the background, writer processes), so that a
 * failing test leaves none behind. The kernel ties the signal to the
 * thread that forked: fork from the test's own thread, not from one that
 * ends before the test. */
pid_t ts_fork(void);

/* Whether process pid runs: neither gone nor a zombie (an orphan's zombie
 * may wait a while for whoever adopts it). */
int ts_alive(pid_t pid);

/* Mounts a tmpfs of size (mount's size= option: "16m") on a new dir
 * /tmp/as-df-XXXXXX, written into buf (len bytes, at least 18), in a mount
 * namespace of the calling process's own, so that it goes away with the
 * test's processes (a server the test starts after inherits it). For
 * tests of a full disk. Returns 0, or -1 with errno set (EPERM: it needs
 * root or CAP_SYS_ADMIN) and buf still naming the (removed) dir; undone
 * by ts_tmpfs_remove. */
int ts_tmpfs(char *buf, size_t len, const char *size);

/* ts_tmpfs for the test named test, which is skipped without one: on
 * failure prints "test: SKIPPED, cannot mount a tmpfs ..." with the error
 * on stderr, empties buf and returns -1 (the test then returns). */
int ts_tmpfs_or_skip(char *buf, size_t len, const char *size,
                     const char *test);

/* Unmounts and removes dir, a ts_tmpfs, and empties dir; nothing when dir
 * is "". */
void ts_tmpfs_remove(char *dir);

/* Fills the file system holding path with the file path, until not one
 * more byte fits. Returns the bytes written, or 0 when path cannot be
 * created. */
size_t ts_fill_disk(const char *path);

#endif
