/*
 * cli_query.c - `artstore query` (boolean tag filters over time, walked
 * page by page with the cursor) and `artstore tags` (tags and their
 * article counts).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"

/* Output formats of these commands, from the global -o. */
enum { FMT_TABLE, FMT_JSON, FMT_JSONL };

static int fmt_of(const cli_globals_t *g)
{
    return g->output == CLI_OUTPUT_JSON    ? FMT_JSON
           : g->output == CLI_OUTPUT_JSONL ? FMT_JSONL
                                           : FMT_TABLE;
}

/* Parses a positive count of at most max. Returns 0 or -1. */
static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
    return cli_parse_u64(s, out) != 0 || *out == 0 || *out > max ? -1 : 0;
}

/* A growable list of tag arguments (pointers into argv). */
typedef struct taglist {
    const char **v;
    size_t n, cap;
} taglist_t;

static int taglist_add(taglist_t *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        const char **v = realloc(l->v, cap * sizeof(*v));

        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 0;
}

/* ------------------------------------------------------------ query */

enum {
    Q_TAG = CLI_OPT_FIRST, Q_ANY, Q_NOT, Q_SINCE, Q_UNTIL, Q_SOURCE,
    Q_OLDEST, Q_LIMIT, Q_PAGE, Q_COUNT, Q_NO_BODY,
};

static const struct option query_opts[] = {
    { "tag", required_argument, NULL, Q_TAG },
    { "any", required_argument, NULL, Q_ANY },
    { "not", required_argument, NULL, Q_NOT },
    { "since", required_argument, NULL, Q_SINCE },
    { "until", required_argument, NULL, Q_UNTIL },
    { "source", required_argument, NULL, Q_SOURCE },
    { "oldest-first", no_argument, NULL, Q_OLDEST },
    { "limit", required_argument, NULL, Q_LIMIT },
    { "page-size", required_argument, NULL, Q_PAGE },
    { "count", no_argument, NULL, Q_COUNT },
    { "no-body", no_argument, NULL, Q_NO_BODY },
    { NULL, 0, NULL, 0 },
};

/* Appends s to buf (of len) as a column of width w, cut with "~" when
 * longer, and a separating space. */
static void column(char *buf, size_t len, const char *s, int w)
{
    size_t used = strlen(buf), n = strlen(s);

    if (used >= len)
        return;
    if ((int)n > w)
        snprintf(buf + used, len - used, "%.*s~ ", w - 1, s);
    else
        snprintf(buf + used, len - used, "%-*s ", w, s);
}

static void print_table_header(void)
{
    printf("%-10s %-20s %-16s %-30s %s\n", "ID", "TIME", "SOURCE", "TAGS",
           "TITLE");
}

/* Prints one table row: id, time, source, tags, title. */
static void print_table_row(const as_article_t *a)
{
    char line[512] = "", idbuf[24], tbuf[32], tags[256] = "";
    int64_t t = a->has_published_at ? a->published_at : a->ingested_at;
    size_t i, used = 0;

    snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)a->id);
    if (cli_time_format(t, tbuf, sizeof(tbuf)) != 0)
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)t);
    for (i = 0; i < a->n_tags && used < sizeof(tags) - 1; i++)
        used += (size_t)snprintf(tags + used, sizeof(tags) - used, "%s%s",
                                 i ? "," : "", a->tags[i]);
    column(line, sizeof(line), idbuf, 10);
    column(line, sizeof(line), tbuf, 20);
    column(line, sizeof(line), a->source ? a->source : "-", 16);
    column(line, sizeof(line), a->n_tags ? tags : "-", 30);
    printf("%s%s\n", line, a->title ? a->title : "");
}

static int run_query(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_query;
    taglist_t all = { 0 }, any = { 0 }, none = { 0 };
    as_query_spec_t q;
    as_query_result_t *res = NULL;
    as_client_t *client = NULL;
    json_t *arr = NULL;
    uint8_t *cursor = NULL;
    uint64_t limit = 0, page = 100, printed = 0, total = 0;
    int c, rc = CLI_EXIT_OK, fmt, has_total = 0, first = 1;
    char err[128];
    size_t i;

    memset(&q, 0, sizeof(q));
    while ((c = cli_getopt(g, cmd, argc, argv, "", query_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case Q_TAG:
            if (taglist_add(&all, optarg) != 0)
                goto out_oom;
            break;
        case Q_ANY:
            if (taglist_add(&any, optarg) != 0)
                goto out_oom;
            break;
        case Q_NOT:
            if (taglist_add(&none, optarg) != 0)
                goto out_oom;
            break;
        case Q_SINCE:
        case Q_UNTIL:
            if (cli_time_parse(optarg, c == Q_SINCE ? &q.since : &q.until,
                               err, sizeof(err)) != 0) {
                rc = cli_usage_error(cmd, "invalid --%s '%s': %s",
                                     c == Q_SINCE ? "since" : "until", optarg,
                                     err);
                goto out_free;
            }
            if (c == Q_SINCE)
                q.has_since = 1;
            else
                q.has_until = 1;
            break;
        case Q_SOURCE: q.source = optarg; break;
        case Q_OLDEST: q.oldest_first = 1; break;
        case Q_COUNT: q.count_total = 1; break;
        case Q_NO_BODY: q.omit_body = 1; break;
        case Q_LIMIT:
            if (parse_count(optarg, UINT64_MAX, &limit) != 0) {
                rc = cli_usage_error(cmd, "invalid --limit '%s' (a positive "
                                     "number)", optarg);
                goto out_free;
            }
            break;
        case Q_PAGE:
            if (parse_count(optarg, UINT32_MAX, &page) != 0) {
                rc = cli_usage_error(cmd, "invalid --page-size '%s' (a "
                                     "positive number)", optarg);
                goto out_free;
            }
            break;
        default:
            rc = cli_getopt_exit(c);
            goto out_free;
        }
    }
    if (optind < argc) {
        rc = cli_usage_error(cmd, "unexpected argument '%s' (tags go in "
                             "--tag, --any, --not)", argv[optind]);
        goto out_free;
    }
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                           CLI_FMT_JSONL,
                               CLI_OUTPUT_TEXT)) != 0)
        goto out_free;
    fmt = fmt_of(g);
    q.all_of = all.v;
    q.n_all_of = all.n;
    q.any_of = any.v;
    q.n_any_of = any.n;
    q.none_of = none.v;
    q.n_none_of = none.n;
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        goto out_free;
    if (fmt == FMT_JSON && (arr = json_array()) == NULL)
        goto out_oom;

    /* Walk the pages until the last one or until --limit is reached. */
    for (;;) {
        uint64_t want = page;

        if (limit && limit - printed < want)
            want = limit - printed;
        q.limit = (uint32_t)want;
        q.count_total = q.count_total && first;
        rc = as_query(client, &q, &res);
        if (rc != AS_OK) {
            rc = cli_call_error(client, rc);
            goto out_free;
        }
        if (first && fmt == FMT_TABLE)
            print_table_header();
        if (first && res->has_total) {
            has_total = 1;
            total = res->total;
        }
        first = 0;
        for (i = 0; i < res->n_articles; i++) {
            json_t *o;

            if (fmt == FMT_TABLE) {
                print_table_row(res->articles[i]);
                continue;
            }
            if ((o = cli_article_to_json(res->articles[i])) == NULL)
                goto out_oom;
            if (fmt == FMT_JSON) {
                if (json_array_append_new(arr, o) != 0)
                    goto out_oom;
            } else {
                char *line = json_dumps(o, JSON_COMPACT);

                json_decref(o);
                if (line == NULL)
                    goto out_oom;
                puts(line);
                free(line);
            }
        }
        printed += res->n_articles;
        free(cursor);
        cursor = res->next_cursor;  /* taken over from the result */
        q.cursor = cursor;
        q.cursor_len = res->next_cursor_len;
        res->next_cursor = NULL;
        as_query_result_free(res);
        res = NULL;
        if (cursor == NULL || (limit && printed >= limit))
            break;
    }
    rc = CLI_EXIT_OK;
    if (fmt == FMT_JSON) {
        if (has_total) {
            json_t *obj = json_pack("{s:o, s:I}", "articles", arr, "total",
                                    (json_int_t)total);

            arr = NULL;
            if (obj == NULL)
                goto out_oom;
            rc = cli_print_json(obj);
        } else {
            rc = cli_print_json(arr);
            arr = NULL;
        }
    } else if (has_total) {
        fprintf(fmt == FMT_TABLE ? stdout : stderr, "total: %llu\n",
                (unsigned long long)total);
    }
    if (fflush(stdout) != 0)
        rc = CLI_EXIT_ERROR;
    goto out_free;

out_oom:
    fprintf(stderr, "artstore query: out of memory\n");
    rc = CLI_EXIT_ERROR;
out_free:
    json_decref(arr);
    as_query_result_free(res);
    free(cursor);
    as_client_close(client);
    free(all.v);
    free(any.v);
    free(none.v);
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
        "  artstore query --source reuters --oldest-first -o jsonl > out.jsonl\n"
        "  artstore query --tag climate --count --limit 1\n"
        "\n"
        "USAGE\n"
        "  artstore query [--tag T]... [--any T]... [--not T]... [--since TIME]\n"
        "                 [--until TIME] [--source S] [--oldest-first]\n"
        "                 [--limit N] [--page-size N] [--count] [-o FORMAT]\n"
        "\n"
        "  Prints the articles that have every --tag, at least one --any\n"
        "  (when given), no --not, the --source, and a time (published_at,\n"
        "  else ingested_at) with SINCE <= time < UNTIL. Newest first, ties\n"
        "  by id. Without --limit every match is printed, fetched page by\n"
        "  page; the pages are consistent even while articles are added.\n"
        "  TIME is RFC 3339 or Unix seconds.\n"
        "\n"
        "  Formats: table (id, time, source, tags, title; the default),\n"
        "  json (one array, or an object {articles, total} with --count),\n"
        "  jsonl (one article per line, as `get -o json`).\n"
        "\n"
        "FLAGS\n"
        "      --tag T           articles must have tag T (repeatable)\n"
        "      --any T           articles must have one of these (repeatable)\n"
        "      --not T           articles must not have tag T (repeatable)\n"
        "      --since TIME      time >= TIME\n"
        "      --until TIME      time < TIME\n"
        "      --source S        articles from source S\n"
        "      --oldest-first    oldest first instead of newest first\n"
        "      --limit N         print at most N articles (default: all)\n"
        "      --page-size N     articles per request (default 100; the\n"
        "                        server's max_page bounds it)\n"
        "      --count           also print the total number of matches\n"
        "      --no-body         leave bodies out (json, jsonl)\n"
        "  -o, --output FORMAT   table, json or jsonl\n",
};

/* ------------------------------------------------------------ tags */

enum { T_PREFIX = CLI_OPT_FIRST, T_BY_NAME, T_LIMIT };

static const struct option tags_opts[] = {
    { "prefix", required_argument, NULL, T_PREFIX },
    { "by-name", no_argument, NULL, T_BY_NAME },
    { "limit", required_argument, NULL, T_LIMIT },
    { NULL, 0, NULL, 0 },
};

static int run_tags(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_tags;
    as_tags_spec_t spec;
    as_tag_list_t *l = NULL;
    as_client_t *client = NULL;
    json_t *arr = NULL;
    uint8_t *cursor = NULL;
    uint64_t limit = 0, printed = 0;
    int c, rc, fmt;
    size_t i;

    memset(&spec, 0, sizeof(spec));
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
                               CLI_OUTPUT_TEXT)) != 0)
        return rc;
    fmt = fmt_of(g);
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    if (fmt == FMT_JSON && (arr = json_array()) == NULL)
        goto out_oom;
    for (;;) {
        uint64_t want = 500;

        if (limit && limit - printed < want)
            want = limit - printed;
        spec.limit = (uint32_t)want;
        if ((rc = as_list_tags(client, &spec, &l)) != AS_OK) {
            rc = cli_call_error(client, rc);
            goto out_free;
        }
        for (i = 0; i < l->n_tags; i++) {
            if (fmt == FMT_TABLE) {
                printf("%10llu  %s\n", (unsigned long long)l->tags[i].count,
                       l->tags[i].tag);
            } else if (fmt == FMT_JSONL) {
                if (cli_print_json_line(json_pack(
                        "{s:s, s:I}", "tag", l->tags[i].tag, "count",
                        (json_int_t)l->tags[i].count)) != CLI_EXIT_OK) {
                    rc = CLI_EXIT_ERROR;
                    goto out_free;
                }
            } else if (json_array_append_new(
                           arr, json_pack("{s:s, s:I}", "tag", l->tags[i].tag,
                                          "count",
                                          (json_int_t)l->tags[i].count)) != 0) {
                goto out_oom;
            }
        }
        printed += l->n_tags;
        free(cursor);
        cursor = l->next_cursor;
        spec.cursor = cursor;
        spec.cursor_len = l->next_cursor_len;
        l->next_cursor = NULL;
        as_tag_list_free(l);
        l = NULL;
        if (cursor == NULL || (limit && printed >= limit))
            break;
    }
    rc = CLI_EXIT_OK;
    if (fmt == FMT_JSON) {
        rc = cli_print_json(arr);
        arr = NULL;
    }
    goto out_free;

out_oom:
    fprintf(stderr, "artstore tags: out of memory\n");
    rc = CLI_EXIT_ERROR;
out_free:
    json_decref(arr);
    as_tag_list_free(l);
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
