/*
 * server.h - the one wiring of artstored: opens the store, starts the
 * writer, the change feed, the cluster membership, the request rpc with the
 * service's method table, the dashboard's ws:// endpoints and its HTTP
 * listener (when asked for), and takes them down in the order that loses nothing. main.c, the
 * tests and the fuzzers all build the server through here, so that what is
 * tested and fuzzed is what runs.
 *
 * Without a listen endpoint the rpc is socketless (as_rpc_local): requests
 * are fed with as_server_dispatch on the calling thread, for tests and
 * fuzzers; the writer and the feed still run on their own threads.
 */
#ifndef AS_SERVER_H
#define AS_SERVER_H

#include <stddef.h>

#include "config.h"
#include "status.h"

typedef struct as_server as_server_t;

/* Checks the combination of options (a cluster member needs --node-id and
 * --raft, and no changelog retention). Returns 0 or INVALID_ARGUMENT with
 * st saying why. as_server_open checks it too. */
int as_server_check_config(const as_config_t *cfg, as_status_t *st);

/*
 * Builds the server described by cfg: store in cfg->data_dir, writer,
 * feed on cfg->feed (derived from cfg->listen when empty; no feed when
 * both are empty), rpc on cfg->listen (socketless when empty), auth from
 * cfg->auth_token_file, and the cluster membership of cfg->node_id /
 * cfg->raft / cfg->cluster (writes then go through the Raft log). cfg must
 * outlive the server. Returns 0 with *out
 * set, or the code of the part that failed with st set (everything
 * started so far is stopped again).
 */
int as_server_open(const as_config_t *cfg, as_server_t **out,
                   as_status_t *st);

/* --rebuild-stories: opens the store of cfg alone, recomputes every
 * fingerprint and story (progress in the log) and closes it. Returns 0 or
 * a code with st set. */
int as_server_rebuild_stories(const as_config_t *cfg, as_status_t *st);

/* The endpoint of the change feed, "" when it is not running. */
const char *as_server_feed_endpoint(const as_server_t *s);

/* Runs one request (a packed Request envelope, n bytes) through the
 * socketless rpc on the calling thread; the reply is encoded and
 * dropped. Only for a server opened without a listen endpoint. */
void as_server_dispatch(as_server_t *s, const void *body, size_t n);

/* Stops taking requests, lets the writer finish and acknowledge what it
 * holds, answers parked Changes calls, then closes the socket and the
 * store. Accepts NULL. */
void as_server_close(as_server_t *s);

#endif
