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
    Q_OLDEST, Q_LIMIT, Q_PAGE, Q_COUNT, Q_NO_BODY, Q_CURSOR, Q_STORY,
};

static const struct option query_opts[] = {
    { "tag", required_argument, NULL, Q_TAG },
    { "any", required_argument, NULL, Q_ANY },
    { "not", required_argument, NULL, Q_NOT },
    { "since", required_argument, NULL, Q_SINCE },
    { "until", required_argument, NULL, Q_UNTIL },
    { "source", required_argument, NULL, Q_SOURCE },
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
#define W_ID 10
#define W_TIME 21
#define W_SOURCE 16
#define W_TAGS 30

/* The time column shows published_at; an article without one shows its
 * ingested_at followed by this mark, explained under the table. */
#define INGESTED_MARK "*"

static void print_table_header(void)
{
    char line[256] = "";

    cli_text_cell(line, sizeof(line), "ID", W_ID);
    strcat(line, " ");
    cli_text_cell(line, sizeof(line), "PUBLISHED", W_TIME);
    strcat(line, " ");
    cli_text_cell(line, sizeof(line), "SOURCE", W_SOURCE);
    strcat(line, " ");
    cli_text_cell(line, sizeof(line), "TAGS", W_TAGS);
    printf("%s TITLE\n", line);
}

/* Prints one table row: id, time, source, tags, title. Returns 1 when the
 * time shown is the ingested_at (no published_at), else 0. */
static int print_table_row(const as_article_t *a)
{
    char line[1024] = "", idbuf[24], tbuf[40], tags[512] = "", *title;
    int64_t t = a->has_published_at ? a->published_at : a->ingested_at;
    size_t i, used = 0, tlen = a->title ? strlen(a->title) : 0;

    snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)a->id);
    if (cli_time_format(t, tbuf, sizeof(tbuf)) != 0)
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)t);
    if (!a->has_published_at)
        strcat(tbuf, INGESTED_MARK);
    /* Enough tags to fill the column; the cell cuts at a character. */
    for (i = 0; i < a->n_tags && used < 200; i++)
        used += (size_t)snprintf(tags + used, sizeof(tags) - used, "%s%.100s",
                                 i ? "," : "", a->tags[i]);
    cli_text_cell(line, sizeof(line), idbuf, W_ID);
    strcat(line, " ");
    cli_text_cell(line, sizeof(line), tbuf, W_TIME);
    strcat(line, " ");
    cli_text_cell(line, sizeof(line), a->source ? a->source : "-", W_SOURCE);
    strcat(line, " ");
    cli_text_cell(line, sizeof(line), a->n_tags ? tags : "-", W_TAGS);
    /* The title is the last column: shown whole, on one line. */
    if ((title = calloc(1, tlen * 3 + 1)) != NULL && a->title != NULL)
        cli_text_clean(title, tlen * 3 + 1, a->title);
    printf("%s %s\n", line, title ? title : "");
    free(title);
    return !a->has_published_at;
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
    char *next = NULL;
    uint64_t limit = 0, page = 100, printed = 0, total = 0;
    size_t cursor_len = 0;
    int c, rc = CLI_EXIT_OK, fmt, has_total = 0, first = 1, ingested = 0;
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
        case Q_CURSOR:
            free(cursor);
            if (cli_cursor_decode(optarg, &cursor, &cursor_len) != 0) {
                cursor = NULL;
                rc = cli_usage_error(cmd, "invalid --cursor '%s' (give the "
                                     "next cursor a query printed)", optarg);
                goto out_free;
            }
            q.cursor = cursor;
            q.cursor_len = cursor_len;
            break;
        case Q_SOURCE: q.source = optarg; break;
        case Q_STORY:
            if (cli_parse_u64(optarg, &q.story_id) != 0 || q.story_id == 0) {
                rc = cli_usage_error(cmd, "invalid --story '%s' (a story id, "
                                     "as `artstore stories` prints)", optarg);
                goto out_free;
            }
            break;
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
                ingested |= print_table_row(res->articles[i]);
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
    /* The rest of the matches, when --limit stopped the walk early. */
    if (cursor != NULL &&
        (next = cli_cursor_encode(cursor, q.cursor_len)) == NULL)
        goto out_oom;
    if (fmt == FMT_JSON) {
        json_t *obj = json_pack("{s:o, s:s?}", "articles", arr,
                                "next_cursor", next);

        arr = NULL;
        if (obj == NULL || (has_total &&
                            json_object_set_new(obj, "total",
                                                json_integer((json_int_t)
                                                             total)) != 0)) {
            json_decref(obj);
            goto out_oom;
        }
        rc = cli_print_json(obj);
    } else {
        if (ingested && fmt == FMT_TABLE)
            printf("(" INGESTED_MARK " no published time: the time shown "
                   "is when the article was ingested)\n");
        if (has_total)
            fprintf(fmt == FMT_TABLE ? stdout : stderr, "total: %llu\n",
                    (unsigned long long)total);
        /* The cursor goes to stderr, so stdout stays articles only. */
        if (next != NULL)
            fprintf(stderr, "next cursor: %s  (more: add --cursor %s)\n",
                    next, next);
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
    free(next);
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
