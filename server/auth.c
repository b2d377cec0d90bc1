/*
 * auth.c - shared-secret access tokens.
 */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 64
#define MAX_TOKEN_BYTES 256

typedef struct token {
    char *value;
    size_t len;
    int level;             /* 0 read, 1 write, 2 admin (rpc.h AS_ACCESS_*) */
} token_t;

struct as_auth {
    token_t tokens[MAX_TOKENS];
    size_t n;
};

/* Compares a and b without an early exit, so that the time taken does not
 * depend on where they differ. Lengths are not secret. */
static int equal_ct(const char *a, size_t alen, const char *b, size_t blen)
{
    volatile unsigned char diff = alen != blen;
    size_t i, n = alen < blen ? alen : blen;

    for (i = 0; i < n; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
    return diff == 0;
}

void as_auth_free(as_auth_t *a)
{
    size_t i;

    if (a == NULL)
        return;
    for (i = 0; i < a->n; i++) {
        /* explicit_bzero: a secret should not outlive its use in memory. */
        explicit_bzero(a->tokens[i].value, a->tokens[i].len);
        free(a->tokens[i].value);
    }
    free(a);
}

int as_auth_load(const char *path, as_auth_t **out, as_status_t *st)
{
    as_auth_t *a = calloc(1, sizeof(*a));
    char line[MAX_TOKEN_BYTES + 64];
    unsigned lineno = 0;
    FILE *f;

    if (a == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if ((f = fopen(path, "r")) == NULL) {
        as_status_set(st, AS_CODE_INVALID_ARGUMENT, "auth token file %s: %s",
                      path, strerror(errno));
        goto out_free;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *kind, *tok, *extra, *save = NULL;
        token_t *t;

        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                          "%s:%u: line too long (a token has at most %d "
                          "bytes)", path, lineno, MAX_TOKEN_BYTES);
            goto out_close;
        }
        kind = strtok_r(line, " \t\r\n", &save);
        if (kind == NULL || kind[0] == '#')
            continue;
        tok = strtok_r(NULL, " \t\r\n", &save);
        extra = strtok_r(NULL, " \t\r\n", &save);
        if (tok == NULL || extra != NULL ||
            (strcmp(kind, "read") != 0 && strcmp(kind, "write") != 0 &&
             strcmp(kind, "admin") != 0)) {
            as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                          "%s:%u: expected 'read TOKEN', 'write TOKEN' or "
                          "'admin TOKEN'", path, lineno);
            goto out_close;
        }
        if (a->n == MAX_TOKENS) {
            as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                          "%s:%u: more than %d tokens", path, lineno,
                          MAX_TOKENS);
            goto out_close;
        }
        /* A longer token could never match (requests are compared on
         * their first MAX_TOKEN_BYTES + 1 bytes): its owner would be
         * locked out without a word. */
        if (strlen(tok) > MAX_TOKEN_BYTES) {
            as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                          "%s:%u: token is %zu bytes, over the limit of %d",
                          path, lineno, strlen(tok), MAX_TOKEN_BYTES);
            goto out_close;
        }
        t = &a->tokens[a->n];
        if ((t->value = strdup(tok)) == NULL) {
            as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
            goto out_close;
        }
        t->len = strlen(tok);
        t->level = strcmp(kind, "admin") == 0   ? 2
                   : strcmp(kind, "write") == 0 ? 1
                                                : 0;
        a->n++;
    }
    explicit_bzero(line, sizeof(line));
    if (a->n == 0) {
        as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                      "auth token file %s holds no token", path);
        goto out_close;
    }
    fclose(f);
    *out = a;
    return 0;

out_close:
    explicit_bzero(line, sizeof(line));
    fclose(f);
out_free:
    as_auth_free(a);
    return st->code;
}

int as_auth_check(void *ctx, const char *token, int write, as_status_t *st)
{
    const as_auth_t *a = ctx;
    size_t i, len;
    int found = -1;

    if (token == NULL || token[0] == '\0')
        return as_status_set(st, AS_CODE_UNAUTHENTICATED,
                             "this server requires an auth token");
    len = strnlen(token, MAX_TOKEN_BYTES + 1);
    /* Every token is compared, whichever matches, for even timing. */
    for (i = 0; i < a->n; i++)
        if (equal_ct(token, len, a->tokens[i].value, a->tokens[i].len))
            found = (int)i;
    if (found < 0)
        return as_status_set(st, AS_CODE_UNAUTHENTICATED,
                             "auth token not accepted");
    if (write > a->tokens[found].level)
        return as_status_set(st, AS_CODE_PERMISSION_DENIED,
                             write >= 2 ? "this method (an exact import) "
                                          "needs an admin token"
                                        : "a read token cannot call a "
                                          "method that writes");
    return 0;
}

const char *as_auth_write_token(const as_auth_t *a)
{
    size_t i;

    for (i = 0; a != NULL && i < a->n; i++)
        if (a->tokens[i].level >= 1)
            return a->tokens[i].value;
    return NULL;
}

int as_auth_check_read_only(void *ctx, const char *token, int write,
                            as_status_t *st)
{
    int rc;

    if (ctx != NULL && (rc = as_auth_check(ctx, token, 0, st)) != 0)
        return rc;
    if (write)
        return as_status_set(st, AS_CODE_PERMISSION_DENIED,
                             "this endpoint (ws://, for the dashboard) is "
                             "read-only: write through the listen endpoint");
    return 0;
}
