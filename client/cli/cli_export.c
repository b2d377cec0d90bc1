/*
 * cli_export.c - the export subcommand: every article as JSON Lines, in id
 * order, in the format import reads back.
 *
 * There is no scan RPC: export asks Stats for next_id and walks the ids
 * 1..next_id-1 with Get, many ids per call; ids of deleted articles come
 * back as not found and are skipped. Each call reads one snapshot, so an
 * article is never torn, but writes that land during an export may or may
 * not be in it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_json.h"

#define DEFAULT_CHUNK 500
#define MAX_CHUNK 1000

enum { EXPORT_BATCH = CLI_OPT_FIRST };

static const struct option export_opts[] = {
    { "batch", required_argument, NULL, EXPORT_BATCH },
    { NULL, 0, NULL, 0 },
};

/* Writes the articles of v (n entries, NULL ones skipped) on stdout: as
 * JSON Lines, or with as_array as elements of one JSON array whose "["
 * the caller wrote (a comma before each but the first). Returns 0 or -1
 * (out of memory or a write error, printed). */
static int write_lines(as_article_t **v, size_t n, uint64_t *count,
                       int as_array)
{
    size_t i;

    for (i = 0; i < n; i++) {
        json_t *obj;
        int rc;

        if (v[i] == NULL)
            continue;
        if ((obj = cli_article_to_json(v[i])) == NULL) {
            fprintf(stderr, "artstore export: out of memory\n");
            return -1;
        }
        if (as_array && *count > 0 && putchar(',') == EOF)
            rc = -1;
        else
            rc = json_dumpf(obj, stdout, JSON_COMPACT);
        json_decref(obj);
        if (rc != 0 || (!as_array && putchar('\n') == EOF)) {
            fprintf(stderr, "artstore export: cannot write the output\n");
            return -1;
        }
        (*count)++;
    }
    return 0;
}

static int run_export(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_export;
    as_client_t *client;
    as_stats_t *stats = NULL;
    uint64_t *ids, next, end, count = 0, v64;
    int chunk = DEFAULT_CHUNK, c, rc, as_array;
    size_t n;

    while ((c = cli_getopt(g, cmd, argc, argv, "", export_opts)) !=
           CLI_GETOPT_END) {
        if (c != EXPORT_BATCH)
            return cli_getopt_exit(c);
        if (cli_parse_u64(optarg, &v64) != 0 || v64 < 1 || v64 > MAX_CHUNK)
            return cli_usage_error(cmd, "--batch must be 1..%d", MAX_CHUNK);
        chunk = (int)v64;
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    /* The format is export's own: JSON Lines unless -o json (one array)
     * is asked for; text it cannot write. */
    if ((rc = cli_output_check(g, cmd, CLI_FMT_JSON | CLI_FMT_JSONL,
                               CLI_OUTPUT_JSONL)) != 0)
        return rc;
    as_array = g->output == CLI_OUTPUT_JSON;
    if ((ids = calloc((size_t)chunk, sizeof(*ids))) == NULL) {
        fprintf(stderr, "artstore export: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        goto out_free_ids;
    if ((rc = as_stats(client, &stats)) != AS_OK) {
        rc = cli_call_error(client, rc);
        goto out_close;
    }
    end = stats->next_id;
    as_stats_free(stats);
    if (as_array && putchar('[') == EOF)
        rc = CLI_EXIT_ERROR;
    for (next = 1, rc = CLI_EXIT_OK; next < end && rc == CLI_EXIT_OK;) {
        as_article_t **v;
        int grc;

        for (n = 0; n < (size_t)chunk && next < end; n++)
            ids[n] = next++;
        if ((grc = as_get_many(client, ids, n, 0, &v)) != AS_OK) {
            rc = cli_call_error(client, grc);
            break;
        }
        if (write_lines(v, n, &count, as_array) != 0)
            rc = CLI_EXIT_ERROR;
        as_articles_free(v, n);
        if (rc != CLI_EXIT_OK)
            break;
    }
    if (as_array && rc == CLI_EXIT_OK && puts("]") == EOF)
        rc = CLI_EXIT_ERROR;
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "artstore export: cannot write the output\n");
        rc = CLI_EXIT_ERROR;
    }
    if (cli_stdout_is_tty() == 0 && isatty(2) && rc == CLI_EXIT_OK)
        fprintf(stderr, "export: %llu articles\n", (unsigned long long)count);

out_close:
    as_client_close(client);
out_free_ids:
    free(ids);
    return rc;
}

const cli_cmd_t cli_cmd_export = {
    .name = "export",
    .summary = "write every article as JSON Lines",
    .run = run_export,
    .help =
        "EXAMPLES\n"
        "  artstore export > articles.jsonl\n"
        "  artstore export | artstore --server tcp://10.0.0.6:7400 import\n"
        "  artstore export | jq -r 'select(.tags | index(\"sport\")) | .url'\n"
        "\n"
        "USAGE\n"
        "  artstore export [-o jsonl|json] [flags]\n"
        "\n"
        "  Writes every article on stdout, one JSON object per line, in id\n"
        "  order, in the format of `get -o json` (which `import` reads\n"
        "  back); -o json writes them as one JSON array instead, and -o text\n"
        "  is refused. Articles written while the export runs may or may not be\n"
        "  in it; each line is a whole article from one snapshot.\n"
        "\n"
        "FLAGS\n"
        "      --batch N  articles fetched per request, 1-1000 (the server's\n"
        "                 max_batch bounds it too) [default 500]\n",
};
