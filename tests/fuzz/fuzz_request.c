/*
 * fuzz_request.c - libFuzzer target: the input is one request message as
 * it would arrive on the socket. It runs through the server as main()
 * builds it (as_server_open), socketless: envelope decode with the
 * per-request memory budget, auth, deadline, method lookup, the handler's
 * decode and validation, the store (reads on this thread, writes through
 * the writer thread), the change feed (Changes with its filters, parked
 * long-polls answered by the feed thread) and the reply's encoding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "server.h"

static char dir[] = "/tmp/as-fuzz-XXXXXX";
static char feed[64];
static as_config_t cfg;
static as_server_t *srv;

/* Replaces a string option (the defaults are malloc'd). */
static void set_str(char **slot, const char *v)
{
    free(*slot);
    if ((*slot = strdup(v)) == NULL)
        abort();
}

static void remove_dir(void)
{
    char cmd[64];

    as_server_close(srv);
    as_config_free(&cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* Builds the server in a temp dir, socketless, with a live feed; aborts
 * when that fails (not a finding). */
static void init_once(void)
{
    as_status_t st;

    as_log_set_level(AS_LOG_ERROR);
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(feed, sizeof(feed), "ipc://%s/feed", dir);
    as_config_defaults(&cfg);
    set_str(&cfg.data_dir, dir);
    set_str(&cfg.listen, "");
    set_str(&cfg.feed, feed);
    set_str(&cfg.sync, "periodic");   /* durability is not under test */
    cfg.map_size = (size_t)256 << 20;
    if (as_server_open(&cfg, &srv, &st) != 0) {
        fprintf(stderr, "fuzz setup: %s\n", st.msg);
        abort();
    }
    atexit(remove_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv == NULL)
        init_once();
    as_server_dispatch(srv, data, size);
    return 0;
}
