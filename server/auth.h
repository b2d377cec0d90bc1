/*
 * auth.h - shared-secret access tokens (`--auth-token-file`).
 *
 * The token file holds one token a line, `read TOKEN`, `write TOKEN` or
 * `admin TOKEN`; blank lines and lines starting with '#' are ignored. A
 * read token allows the methods that do not write, a write token every
 * method but the admin ones, an admin token every method. The admin
 * methods (rpc.h AS_ACCESS_ADMIN) are PutExact, the writes of an exact
 * migration, which set ids and revisions. Tokens
 * are compared in constant time, so timing does not reveal how much of a
 * guess was right. Without a token file the server asks for no token.
 *
 * Threads: an as_auth_t is read-only after as_auth_load and may be used by
 * every worker at once.
 */
#ifndef AS_AUTH_H
#define AS_AUTH_H

#include "status.h"

typedef struct as_auth as_auth_t;

/*
 * Loads the tokens of path into *out (free with as_auth_free). Returns 0,
 * or INVALID_ARGUMENT (unreadable file, bad line, no token at all) with st
 * naming the file and line.
 */
int as_auth_load(const char *path, as_auth_t **out, as_status_t *st);

/* Frees the tokens, wiping them from memory first. Accepts NULL. */
void as_auth_free(as_auth_t *a);

/*
 * Decides whether token (may be NULL) may call a method that needs access
 * `write`: 0 reads only, 1 writes, 2 admin (rpc.h AS_ACCESS_*). Returns 0,
 * UNAUTHENTICATED (no token, or not a known one) or PERMISSION_DENIED (a
 * token of a lower level) with st set. Fits as_rpc_opts_t.auth with a as
 * the ctx.
 */
int as_auth_check(void *a, const char *token, int write, as_status_t *st);

/* A write (or admin) token of a (the first in the file), or NULL: what a cluster
 * member presents when it announces itself to the leader, whose token
 * file is the same. Valid until as_auth_free. */
const char *as_auth_write_token(const as_auth_t *a);

/*
 * The check of the dashboard's ws:// request endpoint: any web page the
 * browser opens can reach a WebSocket, so that endpoint never writes.
 * Methods that write get PERMISSION_DENIED whatever the token; reads need
 * a token as as_auth_check decides when ctx holds tokens (ctx NULL: no
 * token needed). Fits as_rpc_opts_t.auth.
 */
int as_auth_check_read_only(void *ctx, const char *token, int write,
                            as_status_t *st);

#endif
