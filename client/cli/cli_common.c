/*
 * cli_common.c - helpers every subcommand uses: usage errors, parsing of
 * flag values, creating the client, reporting failed calls, and printing
 * JSON.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_usage_error(const cli_cmd_t *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "artstore%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'artstore%s%s --help' for usage.\n",
            cmd ? " " : "", cmd ? cmd->name : "");
    return CLI_EXIT_USAGE;
}

int cli_parse_output(const char *s, cli_output_t *out)
{
    if (strcmp(s, "text") == 0 || strcmp(s, "table") == 0)
        *out = CLI_OUTPUT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = CLI_OUTPUT_JSON;
    else if (strcmp(s, "jsonl") == 0)
        *out = CLI_OUTPUT_JSONL;
    else if (strcmp(s, "prometheus") == 0)
        *out = CLI_OUTPUT_PROMETHEUS;
    else
        return -1;
    return 0;
}

const char *cli_output_name(cli_output_t o)
{
    switch (o) {
    case CLI_OUTPUT_TEXT: return "text";
    case CLI_OUTPUT_JSON: return "json";
    case CLI_OUTPUT_JSONL: return "jsonl";
    case CLI_OUTPUT_PROMETHEUS: return "prometheus";
    }
    return "?";
}

int cli_output_check(cli_globals_t *g, const cli_cmd_t *cmd,
                     unsigned accepted, cli_output_t dflt)
{
    char names[64] = "";
    size_t used = 0;
    int o;

    if (!g->output_set) {
        g->output = dflt;
        return 0;
    }
    if (accepted & (1u << g->output))
        return 0;
    for (o = CLI_OUTPUT_TEXT; o <= CLI_OUTPUT_PROMETHEUS; o++)
        if (accepted & (1u << o))
            used += (size_t)snprintf(names + used, sizeof(names) - used,
                                     "%s%s", used ? ", " : "",
                                     cli_output_name((cli_output_t)o));
    return cli_usage_error(cmd, "cannot write -o %s (from -o/--output or "
                           "ARTSTORE_OUTPUT); %s writes %s",
                           cli_output_name(g->output), cmd->name, names);
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (s == NULL || *s == '\0' || strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int cli_parse_timeout(const char *s, int *ms)
{
    size_t n = strspn(s, "0123456789");
    unsigned long long v, unit;
    const char *suffix = s + n;
    char *end;

    if (n == 0)
        return -1;
    if (*suffix == '\0' || strcmp(suffix, "ms") == 0)
        unit = 1;
    else if (strcmp(suffix, "s") == 0)
        unit = 1000;
    else if (strcmp(suffix, "m") == 0)
        unit = 60000;
    else
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end != suffix || v == 0 || v > 0x7fffffffULL / unit)
        return -1;
    *ms = (int)(v * unit);
    return 0;
}

int cli_connect(const cli_globals_t *g, const cli_cmd_t *cmd,
                as_client_t **out)
{
    int rc = as_client_connect(g->server, g->timeout_ms, out);

    if (rc == AS_EINVALID_ARGUMENT)
        return cli_usage_error(cmd, "invalid server endpoint '%s' (expected "
                               "tcp://HOST:PORT or ipc:///PATH)", g->server);
    if (rc != AS_OK) {
        fprintf(stderr, "%s: cannot create a client for %s: %s\n",
                as_code_name(rc), g->server, as_strerror(rc));
        return rc == AS_EUNAVAILABLE ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_ERROR;
    }
    as_client_set_linearizable(*out, g->linearizable);
    if (g->token != NULL && as_client_set_token(*out, g->token) != AS_OK) {
        fprintf(stderr, "RESOURCE_EXHAUSTED: out of memory\n");
        as_client_close(*out);
        *out = NULL;
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

int cli_call_error(as_client_t *c, int rc)
{
    const char *msg = as_client_errmsg(c);

    fprintf(stderr, "%s: %s\n", as_code_name(rc),
            msg && *msg ? msg : as_strerror(rc));
    /* UNAVAILABLE means "try again later" whether no reply came or the
     * server itself said so. */
    return rc == AS_EUNAVAILABLE ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_ERROR;
}

int cli_stdout_is_tty(void)
{
    static int tty = -1;

    if (tty < 0)
        tty = isatty(STDOUT_FILENO);
    return tty;
}

int cli_print_json(json_t *v)
{
    size_t flags = (cli_stdout_is_tty() ? JSON_INDENT(2) : JSON_COMPACT) |
                   JSON_REAL_PRECISION(15);
    int rc;

    if (v == NULL) {
        fprintf(stderr, "RESOURCE_EXHAUSTED: out of memory building JSON\n");
        return CLI_EXIT_ERROR;
    }
    rc = json_dumpf(v, stdout, flags | JSON_ENCODE_ANY);
    json_decref(v);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        fprintf(stderr, "artstore: cannot write the output\n");
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

int cli_print_json_line(json_t *v)
{
    int rc;

    if (v == NULL) {
        fprintf(stderr, "RESOURCE_EXHAUSTED: out of memory building JSON\n");
        return CLI_EXIT_ERROR;
    }
    rc = json_dumpf(v, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15) |
                                   JSON_ENCODE_ANY);
    json_decref(v);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        fprintf(stderr, "artstore: cannot write the output\n");
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

int cli_print_json_as(const cli_globals_t *g, json_t *v)
{
    return g->output == CLI_OUTPUT_JSONL ? cli_print_json_line(v)
                                         : cli_print_json(v);
}

/* ------------------------------------------------------------ cursors */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *cli_cursor_encode(const uint8_t *p, size_t n)
{
    char *out = malloc(n / 3 * 4 + 5), *o = out;
    size_t i;

    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        *o++ = b64url[v >> 18];
        *o++ = b64url[v >> 12 & 63];
        *o++ = b64url[v >> 6 & 63];
        *o++ = b64url[v & 63];
    }
    if (n - i == 1) {
        *o++ = b64url[p[i] >> 2];
        *o++ = b64url[(p[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

        *o++ = b64url[v >> 10];
        *o++ = b64url[v >> 4 & 63];
        *o++ = b64url[(v & 15) << 2];
    }
    *o = '\0';
    return out;
}

int cli_cursor_decode(const char *s, uint8_t **out, size_t *len)
{
    size_t n = strlen(s), i, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    uint8_t *p;

    if (n == 0 || n % 4 == 1 || n > 4096)
        return -1;
    if ((p = malloc(n * 3 / 4 + 1)) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        const char *c = strchr(b64url, s[i]);

        if (c == NULL || s[i] == '\0') {
            free(p);
            return -1;
        }
        acc = acc << 6 | (uint32_t)(c - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = p;
    *len = o;
    return 0;
}
