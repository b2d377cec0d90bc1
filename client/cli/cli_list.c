/*
 * cli_list.c - what the listing commands share: the filter flags of
 * query, stories and watch, the output of a list walked page by page
 * (table, JSON array or JSON Lines, with --limit), and the table row.
 *
 * Each of these was once written in every command, in slightly different
 * words (a tag cap in two commands and none in the third, byte widths in
 * one table and display widths in the other); here each is written once.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ------------------------------------------------------------ filters */

int cli_filter_init(cli_filter_t *f, int argc)
{
    size_t n = argc > 0 ? (size_t)argc : 1;

    memset(f, 0, sizeof(*f));
    f->all_of = calloc(n, sizeof(*f->all_of));
    f->any_of = calloc(n, sizeof(*f->any_of));
    f->none_of = calloc(n, sizeof(*f->none_of));
    if (f->all_of == NULL || f->any_of == NULL || f->none_of == NULL) {
        cli_filter_free(f);
        return -1;
    }
    return 0;
}

void cli_filter_free(cli_filter_t *f)
{
    free(f->all_of);
    free(f->any_of);
    free(f->none_of);
    f->all_of = f->any_of = f->none_of = NULL;
}

int cli_filter_flag(const cli_cmd_t *cmd, cli_filter_t *f, int c,
                    const char *arg)
{
    char err[128];

    switch (c) {
    case CLI_OPT_TAG: f->all_of[f->n_all_of++] = arg; break;
    case CLI_OPT_ANY: f->any_of[f->n_any_of++] = arg; break;
    case CLI_OPT_NOT: f->none_of[f->n_none_of++] = arg; break;
    case CLI_OPT_SOURCE: f->source = arg; break;
    case CLI_OPT_SINCE:
    case CLI_OPT_UNTIL:
        if (cli_time_parse(arg, c == CLI_OPT_SINCE ? &f->since : &f->until,
                           err, sizeof(err)) != 0)
            return cli_usage_error(cmd, "invalid --%s '%s': %s",
                                   c == CLI_OPT_SINCE ? "since" : "until",
                                   arg, err);
        if (c == CLI_OPT_SINCE)
            f->has_since = 1;
        else
            f->has_until = 1;
        break;
    default:
        return -1;
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ lists */

int cli_oom(const cli_cmd_t *cmd)
{
    fprintf(stderr, "artstore %s: out of memory\n", cmd->name);
    return CLI_EXIT_ERROR;
}

int cli_list_init(cli_list_t *l, const cli_cmd_t *cmd,
                  const cli_globals_t *g, uint64_t limit)
{
    memset(l, 0, sizeof(*l));
    l->cmd = cmd;
    l->fmt = g->output;
    l->limit = limit;
    if (l->fmt == CLI_OUTPUT_JSON && (l->items = json_array()) == NULL)
        return cli_oom(cmd);
    return CLI_EXIT_OK;
}

uint32_t cli_list_want(const cli_list_t *l, uint64_t page)
{
    if (l->limit && l->limit - l->count < page)
        page = l->limit - l->count;
    return (uint32_t)page;
}

int cli_list_add(cli_list_t *l, json_t *o)
{
    if (l->fmt == CLI_OUTPUT_JSONL)
        return cli_print_json_line(o);
    if (o == NULL || json_array_append_new(l->items, o) != 0)
        return cli_oom(l->cmd);
    return CLI_EXIT_OK;
}

int cli_list_more(cli_list_t *l, size_t n, const void *cursor)
{
    l->count += n;
    return cursor != NULL && !(l->limit && l->count >= l->limit);
}

json_t *cli_list_take(cli_list_t *l)
{
    json_t *a = l->items;

    l->items = NULL;
    return a;
}

void cli_list_free(cli_list_t *l)
{
    if (l == NULL)
        return;
    json_decref(l->items);
    l->items = NULL;
}

json_t *cli_strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ------------------------------------------------------------ tables */

void cli_table_row(const char *const *cells, const int *widths, size_t n,
                   const char *last)
{
    char line[1024] = "", *clean = NULL;
    size_t i, len = last ? strlen(last) : 0;

    for (i = 0; i < n; i++) {
        if (i > 0)
            strcat(line, " ");
        cli_text_cell(line, sizeof(line), cells[i] ? cells[i] : "-",
                      widths[i]);
    }
    /* The last column is shown whole, on one line: control characters
     * become spaces, and a byte that is not UTF-8 becomes U+FFFD (three
     * bytes), so three bytes a byte is always room enough. */
    if (last != NULL && (clean = calloc(1, len * 3 + 1)) != NULL)
        cli_text_clean(clean, len * 3 + 1, last);
    printf("%s %s\n", line, clean ? clean : "");
    free(clean);
}
