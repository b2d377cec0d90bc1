/*
 * check_notify.c - artstored under systemd's Type=notify: it must send
 * READY=1 on $NOTIFY_SOCKET only once it answers requests, and STOPPING=1
 * when told to stop. A datagram socket stands in for systemd.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

/* Receives one notification into buf (NUL-terminated); waits up to 10 s. */
static int recv_state(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len - 1, 0);

    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

START_TEST(ready_and_stopping)
{
    ts_server_t s;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct timeval tv = { 10, 0 };
    char dir[32], buf[256];
    as_client_t *c;
    int fd;

    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(setenv("NOTIFY_SOCKET", sa.sun_path, 1), 0);

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(recv_state(fd, buf, sizeof(buf)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "READY=1"));
    /* Ready means serving. */
    ck_assert_int_eq(as_client_connect(s.endpoint, 2000, &c), AS_OK);
    ck_assert_int_eq(as_ping(c, NULL), AS_OK);
    as_client_close(c);
    ck_assert_int_eq(ts_stop(&s), 0);
    ck_assert_int_eq(recv_state(fd, buf, sizeof(buf)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "STOPPING=1"));
    ts_cleanup(&s);
    close(fd);
    ck_assert_int_eq(ts_tempdir_remove(dir), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, ready_and_stopping);
    suite_add_tcase(s, tc);
    return as_check_run(s);
}
