/*
 * fuzz_request.c - libFuzzer target: the input is one request message as
 * it would arrive on the socket. It runs through the server's real path,
 * socketless (as_rpc_dispatch_bytes): envelope decode with the per-request
 * memory budget, auth, deadline, method lookup, the handler's decode and
 * validation, the store (reads on this thread, writes through the writer
 * thread) and the reply's encoding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"
#include "service.h"
#include "store.h"
#include "writer.h"

static char dir[] = "/tmp/as-fuzz-XXXXXX";
static as_service_t svc;
static as_rpc_t *rpc;
static void *worker;

static void remove_dir(void)
{
    char cmd[64];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* Opens a store in a temp dir, starts the writer and a socketless rpc
 * with the real method table; aborts when that fails (not a finding). */
static void init_once(void)
{
    as_limits_t lim = AS_LIMITS_DEFAULT;
    as_store_opts_t so;
    as_writer_opts_t wo;
    as_rpc_opts_t ro;
    as_status_t st;

    as_log_set_level(AS_LOG_ERROR);
    if (mkdtemp(dir) == NULL)
        abort();
    atexit(remove_dir);
    memset(&so, 0, sizeof(so));
    so.path = dir;
    so.map_size = (size_t)256 << 20;
    so.no_sync = 1;        /* durability is not under test here */
    memset(&wo, 0, sizeof(wo));
    memset(&svc, 0, sizeof(svc));
    if (as_store_open(&so, &svc.store, &st) != 0 ||
        as_writer_start(svc.store, &wo, &svc.writer, &st) != 0) {
        fprintf(stderr, "fuzz setup: %s\n", st.msg);
        abort();
    }
    svc.limits = lim;
    svc.data_dir = dir;
    memset(&ro, 0, sizeof(ro));
    ro.max_message_bytes = lim.max_message_bytes;
    ro.max_decode_bytes = lim.max_decode_bytes;
    ro.methods = as_service_methods;
    ro.n_methods = as_service_n_methods;
    ro.ctx = &svc;
    if ((rpc = as_rpc_local(&ro)) == NULL)
        abort();
    svc.rpc = rpc;
    worker = as_service_worker_init(&svc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rpc == NULL)
        init_once();
    as_rpc_dispatch_bytes(rpc, worker, data, size);
    return 0;
}
