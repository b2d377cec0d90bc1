/*
 * cli_query.c - `artstore query` (boolean tag filters over time, walked
 * page by page with the cursor) and `artstore tags` (tags and their
 * article counts).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"

/* Parses a positive count of at most max. Returns 0 or -1. */
static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
    return cli_parse_u64(s, out) != 0 || *out == 0 || *out > max ? -1 : 0;
}

/* ------------------------------------------------------------ query */

enum {
    Q_OLDEST = CLI_OPT_FIRST, Q_LIMIT, Q_PAGE, Q_COUNT, Q_NO_BODY, Q_CURSOR,
    Q_STORY,
};

static const struct option query_opts[] = {
    CLI_FILTER_TAG_FLAGS,
    CLI_FILTER_TIME_FLAGS,
    { "story", required_argument, NULL, Q_STORY },
    { "oldest-first", no_argument, NULL, Q_OLDEST },
    { "limit", required_argument, NULL, Q_LIMIT },
    { "page-size", required_argument, NULL, Q_PAGE },
    { "count", no_argument, NULL, Q_COUNT },
    { "no-body", no_argument, NULL, Q_NO_BODY },
    { "cursor", required_argument, NULL, Q_CURSOR },
    { NULL, 0, NULL, 0 },
};

/* The table's columns: widths in terminal columns (display width, not
 * bytes: accents and CJK line up, and a cut never splits a character). */
static const int query_widths[] = { 10, 21, 16, 30 };

/* The time column shows published_at; an article without one shows its
 * ingested_at followed by this mark, explained under the table. */
#define INGESTED_MARK "*"

static void print_table_header(void)
{
    static const char *const names[] = { "ID", "PUBLISHED", "SOURCE",
                                         "TAGS" };

    cli_table_row(names, query_widths, 4, "TITLE");
}

/* Prints one table row: id, time, source, tags, title. Returns 1 when the
 * time shown is the ingested_at (no published_at), else 0. */
static int print_table_row(const as_article_t *a)
{
    char idbuf[24], tbuf[40], tags[512] = "";
    int64_t t = a->has_published_at ? a->published_at : a->ingested_at;
    size_t i, used = 0;
    const char *cells[4];

    snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)a->id);
    if (cli_time_format(t, tbuf, sizeof(tbuf)) != 0)
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)t);
    if (!a->has_published_at)
        strcat(tbuf, INGESTED_MARK);
    /* Enough tags to fill the column; the cell cuts at a character. */
    for (i = 0; i < a->n_tags && used < 200; i++)
        used += (size_t)snprintf(tags + used, sizeof(tags) - used, "%s%.100s",
                                 i ? "," : "", a->tags[i]);
    cells[0] = idbuf;
    cells[1] = tbuf;
    cells[2] = a->source;
    cells[3] = a->n_tags ? tags : NULL;
    cli_table_row(cells, query_widths, 4, a->title);
    return !a->has_published_at;
}

/* What the query flags say. */
typedef struct query_args {
    cli_filter_t filter;
    as_query_spec_t q;         /* the request; its lists are filter's */
    uint8_t *cursor;           /* q's cursor (free()) */
    uint64_t limit, page;
} query_args_t;

/* Parses query's flags and operands into a (a->filter initialized).
 * Returns CLI_EXIT_OK, or the exit status of an error it printed. */
static int parse_query_args(cli_globals_t *g, int argc, char **argv,
                            query_args_t *a)
{
    const cli_cmd_t *cmd = &cli_cmd_query;
    size_t cursor_len;
    int c, rc;

    while ((c = cli_getopt(g, cmd, argc, argv, "", query_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case Q_CURSOR:
            free(a->cursor);
            a->cursor = NULL;
            if (cli_cursor_decode(optarg, &a->cursor, &cursor_len) != 0)
                return cli_usage_error(cmd, "invalid --cursor '%s' (give "
                                       "the next cursor a query printed)",
                                       optarg);
            a->q.cursor = a->cursor;
            a->q.cursor_len = cursor_len;
            break;
        case Q_STORY:
            if (cli_parse_u64(optarg, &a->q.story_id) != 0 ||
                a->q.story_id == 0)
                return cli_usage_error(cmd, "invalid --story '%s' (a story "
                                       "id, as `artstore stories` prints)",
                                       optarg);
            break;
        case Q_OLDEST: a->q.oldest_first = 1; break;
        case Q_COUNT: a->q.count_total = 1; break;
        case Q_NO_BODY: a->q.omit_body = 1; break;
        case Q_LIMIT:
            if (parse_count(optarg, UINT64_MAX, &a->limit) != 0)
                return cli_usage_error(cmd, "invalid --limit '%s' (a "
                                       "positive number)", optarg);
            break;
        case Q_PAGE:
            if (parse_count(optarg, UINT32_MAX, &a->page) != 0)
                return cli_usage_error(cmd, "invalid --page-size '%s' (a "
                                       "positive number)", optarg);
            break;
        default:
            if ((rc = cli_filter_flag(cmd, &a->filter, c, optarg)) < 0)
                return cli_parse_stop(c);
            if (rc != CLI_EXIT_OK)
                return rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' (tags go in "
                               "--tag, --any, --not)", argv[optind]);
    CLI_FILTER_TO(&a->filter, &a->q);
    return cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                        CLI_FMT_JSONL,
                            CLI_OUTPUT_TEXT);
}

/* A query's output so far. */
typedef struct query_out {
    cli_list_t list;
    int has_total;
    uint64_t total;
    int ingested;              /* a row showed an ingested_at */
} query_out_t;

/* Prints (or, for json, collects) one page of articles. Returns
 * CLI_EXIT_OK or CLI_EXIT_ERROR (printed). */
static int print_query_page(query_out_t *out, const as_query_result_t *res)
{
    size_t i;
    int rc;

    for (i = 0; i < res->n_articles; i++) {
        if (out->list.fmt == CLI_OUTPUT_TEXT)
            out->ingested |= print_table_row(res->articles[i]);
        else if ((rc = cli_list_add(&out->list, cli_article_to_json(
                                                     res->articles[i]))) !=
                 CLI_EXIT_OK)
            return rc;
    }
    return CLI_EXIT_OK;
}

/* Asks for the pages of a->q one after the other and prints them, until
 * the last page or until the limit. On return a->q.cursor is the cursor
 * of the rest (NULL after the last page). Returns an exit status. */
static int walk_query(as_client_t *client, query_args_t *a,
                      query_out_t *out)
{
    as_query_result_t *res = NULL;
    int rc, first = 1, more;

    do {
        a->q.limit = cli_list_want(&out->list, a->page);
        a->q.count_total = a->q.count_total && first;
        if ((rc = as_query(client, &a->q, &res)) != AS_OK)
            return cli_call_error(client, rc);
        if (first && out->list.fmt == CLI_OUTPUT_TEXT)
            print_table_header();
        if (first && res->has_total) {
            out->has_total = 1;
            out->total = res->total;
        }
        first = 0;
        rc = print_query_page(out, res);
        free(a->cursor);
        a->cursor = res->next_cursor;  /* taken over from the result */
        a->q.cursor = a->cursor;
        a->q.cursor_len = res->next_cursor_len;
        res->next_cursor = NULL;
        more = cli_list_more(&out->list, res->n_articles, a->cursor);
        as_query_result_free(res);
    } while (rc == CLI_EXIT_OK && more);
    return rc;
}

/* Prints what follows the articles: for json the one object, else the
 * table's footnote, the total (--count) and the cursor of the rest.
 * Returns an exit status. */
static int finish_query(query_out_t *out, const query_args_t *a)
{
    const cli_cmd_t *cmd = &cli_cmd_query;
    char *next = NULL;
    int rc = CLI_EXIT_OK;

    /* The rest of the matches, when --limit stopped the walk early. */
    if (a->cursor != NULL &&
        (next = cli_cursor_encode(a->cursor, a->q.cursor_len)) == NULL)
        return cli_oom(cmd);
    if (out->list.fmt == CLI_OUTPUT_JSON) {
        json_t *obj = json_pack("{s:o, s:s?}", "articles",
                                cli_list_take(&out->list), "next_cursor",
                                next);

        if (obj == NULL ||
            (out->has_total &&
             json_object_set_new(obj, "total",
                                 json_integer((json_int_t)out->total)) != 0)) {
            json_decref(obj);
            free(next);
            return cli_oom(cmd);
        }
        rc = cli_print_json(obj);
    } else {
        if (out->ingested)
            printf("(" INGESTED_MARK " no published time: the time shown "
                   "is when the article was ingested)\n");
        if (out->has_total)
            fprintf(out->list.fmt == CLI_OUTPUT_TEXT ? stdout : stderr,
                    "total: %llu\n", (unsigned long long)out->total);
        /* The cursor goes to stderr, so stdout stays articles only. */
        if (next != NULL)
            fprintf(stderr, "next cursor: %s  (more: add --cursor %s)\n",
                    next, next);
    }
    free(next);
    return rc;
}

static int run_query(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_query;
    query_args_t a;
    query_out_t out;
    as_client_t *client = NULL;
    int rc;

    memset(&a, 0, sizeof(a));
    memset(&out, 0, sizeof(out));
    a.page = 100;
    if (cli_filter_init(&a.filter, argc) != 0)
        return cli_oom(cmd);
    if ((rc = parse_query_args(g, argc, argv, &a)) != CLI_EXIT_OK ||
        (rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK ||
        (rc = cli_list_init(&out.list, cmd, g, a.limit)) != CLI_EXIT_OK ||
        (rc = walk_query(client, &a, &out)) != CLI_EXIT_OK)
        goto out_free;
    rc = finish_query(&out, &a);
    if (fflush(stdout) != 0)
        rc = CLI_EXIT_ERROR;
out_free:
    cli_list_free(&out.list);
    free(a.cursor);
    as_client_close(client);
    cli_filter_free(&a.filter);
    return rc;
}

const cli_cmd_t cli_cmd_query = {
    .name = "query",
    .summary = "find articles by tags, time and source, newest first",
    .run = run_query,
    .help =
        "EXAMPLES\n"
        "  artstore query --tag politics --tag europe --limit 20\n"
        "  artstore query --any sports --any football --not betting\n"
        "  artstore query --tag tech --since 2024-06-01T00:00:00Z "
        "--until 2024-07-01T00:00:00Z\n"
        "  artstore query --tag weather --since -24h\n"
        "  artstore query --source reuters --oldest-first -o jsonl > out.jsonl\n"
        "  artstore query --tag climate --count --limit 1\n"
        "  artstore query --story 1234 --oldest-first   # one story's articles\n"
        "  artstore query --tag eu --limit 20 --cursor CURSOR   # the next 20\n"
        "\n"
        "USAGE\n"
        "  artstore query [--tag T]... [--any T]... [--not T]... [--since TIME]\n"
        "                 [--until TIME] [--source S] [--story ID] [--oldest-first]\n"
        "                 [--limit N] [--cursor C] [--page-size N] [--count]\n"
        "                 [-o FORMAT]\n"
        "\n"
        "  Prints the articles that have every --tag, at least one --any\n"
        "  (when given), no --not, the --source, the --story, and a time\n"
        "  (published_at, else ingested_at) with SINCE <= time < UNTIL.\n"
        "  Newest first, ties by id. Without --limit every match is printed,\n"
        "  fetched page by page; the pages are consistent even while articles\n"
        "  are added.\n"
        "  TIME is RFC 3339, Unix seconds, or relative to now: -24h or 24h\n"
        "  (24 hours ago), 7d, 2w, 30m, now.\n"
        "\n"
        "  Paging: when --limit stops before the last match, the cursor of\n"
        "  the rest is printed on stderr (`next cursor: C`) in text and\n"
        "  jsonl output, and as next_cursor in json; pass it back with\n"
        "  --cursor C and the same filters for the next page.\n"
        "\n"
        "  Formats: table (= text; the default): ID, PUBLISHED, SOURCE, TAGS,\n"
        "  TITLE, columns cut and padded by display width (a cut shows ~).\n"
        "  PUBLISHED is the published_at; an article without one shows its\n"
        "  ingested_at marked with *. json: one object {\"articles\": [...],\n"
        "  \"next_cursor\": C or null, \"total\": N with --count}. jsonl: one\n"
        "  article per line, as `get -o json`.\n"
        "\n"
        "FLAGS\n"
        "      --tag T           articles must have tag T (repeatable)\n"
        "      --any T           articles must have one of these (repeatable)\n"
        "      --not T           articles must not have tag T (repeatable)\n"
        "      --since TIME      time >= TIME\n"
        "      --until TIME      time < TIME\n"
        "      --source S        articles from source S\n"
        "      --story ID        articles of story ID (see `artstore stories`)\n"
        "      --oldest-first    oldest first instead of newest first\n"
        "      --limit N         print at most N articles (default: all)\n"
        "      --cursor C        start where a previous query stopped\n"
        "      --page-size N     articles per request (default 100; the\n"
        "                        server's max_page bounds it)\n"
        "      --count           also print the total number of matches\n"
        "      --no-body         leave bodies out (json, jsonl)\n",
};

/* ------------------------------------------------------------ tags */

enum { T_PREFIX = CLI_OPT_FIRST, T_BY_NAME, T_LIMIT };

static const struct option tags_opts[] = {
    { "prefix", required_argument, NULL, T_PREFIX },
    { "by-name", no_argument, NULL, T_BY_NAME },
    { "limit", required_argument, NULL, T_LIMIT },
    { NULL, 0, NULL, 0 },
};

/* Prints (or, for json, collects) one page of tags. Returns CLI_EXIT_OK
 * or CLI_EXIT_ERROR (printed). */
static int print_tags_page(cli_list_t *list, const as_tag_list_t *l)
{
    size_t i;
    int rc;

    for (i = 0; i < l->n_tags; i++) {
        if (list->fmt == CLI_OUTPUT_TEXT)
            printf("%10llu  %s\n", (unsigned long long)l->tags[i].count,
                   l->tags[i].tag);
        else if ((rc = cli_list_add(list, json_pack(
                          "{s:s, s:I}", "tag", l->tags[i].tag, "count",
                          (json_int_t)l->tags[i].count))) != CLI_EXIT_OK)
            return rc;
    }
    return CLI_EXIT_OK;
}

static int run_tags(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_tags;
    as_tags_spec_t spec;
    as_tag_list_t *l = NULL;
    as_client_t *client = NULL;
    cli_list_t list;
    uint8_t *cursor = NULL;
    uint64_t limit = 0;
    int c, rc, more;

    memset(&spec, 0, sizeof(spec));
    memset(&list, 0, sizeof(list));
    while ((c = cli_getopt(g, cmd, argc, argv, "", tags_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case T_PREFIX: spec.prefix = optarg; break;
        case T_BY_NAME: spec.order = AS_TAGS_BY_NAME; break;
        case T_LIMIT:
            if (parse_count(optarg, UINT64_MAX, &limit) != 0)
                return cli_usage_error(cmd, "invalid --limit '%s' (a "
                                       "positive number)", optarg);
            break;
        default:
            return cli_getopt_exit(c);
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                           CLI_FMT_JSONL,
                               CLI_OUTPUT_TEXT)) != 0 ||
        (rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK ||
        (rc = cli_list_init(&list, cmd, g, limit)) != CLI_EXIT_OK)
        goto out_free;
    do {
        spec.limit = cli_list_want(&list, 500);
        if ((rc = as_list_tags(client, &spec, &l)) != AS_OK) {
            rc = cli_call_error(client, rc);
            goto out_free;
        }
        rc = print_tags_page(&list, l);
        free(cursor);
        cursor = l->next_cursor;   /* taken over from the list */
        spec.cursor = cursor;
        spec.cursor_len = l->next_cursor_len;
        l->next_cursor = NULL;
        more = cli_list_more(&list, l->n_tags, cursor);
        as_tag_list_free(l);
    } while (rc == CLI_EXIT_OK && more);
    if (rc == CLI_EXIT_OK && list.fmt == CLI_OUTPUT_JSON)
        rc = cli_print_json(cli_list_take(&list));
out_free:
    cli_list_free(&list);
    free(cursor);
    as_client_close(client);
    return rc;
}

const cli_cmd_t cli_cmd_tags = {
    .name = "tags",
    .summary = "list tags with their article counts",
    .run = run_tags,
    .help =
        "EXAMPLES\n"
        "  artstore tags --limit 20\n"
        "  artstore tags --prefix elect --by-name\n"
        "  artstore tags -o json | jq -r '.[].tag'\n"
        "\n"
        "USAGE\n"
        "  artstore tags [--prefix P] [--by-name] [--limit N] [-o FORMAT]\n"
        "\n"
        "  Prints every tag (or those starting with P) with the number of\n"
        "  articles that have it, most used first (ties by name), or by name.\n"
        "  Table output is COUNT TAG per line; json is an array of\n"
        "  {tag, count} objects; jsonl one such object per line.\n"
        "\n"
        "FLAGS\n"
        "      --prefix P        only tags starting with P (normalized)\n"
        "      --by-name         order by name instead of by count\n"
        "      --limit N         print at most N tags (default: all)\n"
        "  -o, --output FORMAT   table (= text), json or jsonl\n",
};
