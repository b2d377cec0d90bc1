/*
 * watch_poll.c - an artstore watch inside a poll() event loop.
 *
 * The loop waits on the watch's descriptor (a real program adds its other
 * descriptors to the same poll), for at most the time the watch asks for,
 * then drains the watch with as_watch_next(w, 0, ...). The same two calls
 * plug into epoll, libuv (uv_poll_t + uv_timer_t) or libevent.
 *
 *   watch_poll ENDPOINT [COUNT]
 *
 * prints every change from the start of the server's changelog as
 * "SEQ TYPE ID TITLE" and exits 0 after COUNT changes (default: never).
 * Exit 1 on an error.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "artstore.h"

static const char *type_name(int type)
{
    return type == AS_CHANGE_CREATE   ? "create"
           : type == AS_CHANGE_UPDATE ? "update"
                                      : "delete";
}

int main(int argc, char **argv)
{
    as_watch_opts_t opts = { 0 };
    as_client_t *c = NULL;
    as_watch_t *w = NULL;
    unsigned long count = 0, seen = 0;
    struct pollfd pfd;
    int rc, away = 0, status = 1;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: watch_poll ENDPOINT [COUNT]\n");
        return 2;
    }
    if (argc == 3)
        count = strtoul(argv[2], NULL, 10);
    if ((rc = as_client_connect(argv[1], 5000, &c)) != AS_OK) {
        fprintf(stderr, "connect: %s\n", as_strerror(rc));
        return 1;
    }
    opts.has_since = 1;          /* from the start of the changelog */
    opts.since = 0;
    if ((rc = as_watch_open(c, &opts, &w)) != AS_OK) {
        fprintf(stderr, "watch: %s: %s\n", as_code_name(rc),
                as_client_errmsg(c));
        goto out;
    }
    if (as_watch_fd(w, &pfd.fd) != AS_OK)
        goto out;
    pfd.events = POLLIN;
    for (;;) {
        as_change_t *ch;

        if (poll(&pfd, 1, as_watch_timeout_ms(w)) < 0)
            goto out;
        /* Readable or timed out: take everything there is now. */
        while ((rc = as_watch_next(w, 0, &ch)) == AS_OK) {
            printf("%llu %s %llu %s\n", (unsigned long long)ch->seq,
                   type_name(ch->type), (unsigned long long)ch->id,
                   ch->title ? ch->title : "");
            fflush(stdout);
            as_change_free(ch);
            if (count > 0 && ++seen >= count) {
                status = 0;
                goto out;
            }
        }
        if (rc == AS_EUNAVAILABLE && !away)
            fprintf(stderr, "disconnected: %s\n", as_client_errmsg(c));
        away = rc == AS_EUNAVAILABLE;
        if (rc != AS_EDEADLINE_EXCEEDED && rc != AS_EUNAVAILABLE) {
            fprintf(stderr, "watch: %s: %s\n", as_code_name(rc),
                    as_client_errmsg(c));
            goto out;
        }
    }

out:
    as_watch_close(w);
    as_client_close(c);
    return status;
}
