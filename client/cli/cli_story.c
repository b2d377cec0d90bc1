/*
 * cli_story.c - `artstore stories` (stories newest first, with the outlets
 * that carry each) and `artstore story ID` (one story and its articles).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"

/* Returns a new JSON object for story s, or NULL when out of memory. */
static json_t *story_json(const as_story_t *s)
{
    json_t *o = json_pack("{sIsIsIsI}", "id", (json_int_t)s->id,
                          "lead_id", (json_int_t)s->lead_id,
                          "articles", (json_int_t)s->articles,
                          "duplicates", (json_int_t)s->duplicates);

    if (o == NULL)
        return NULL;
    if (json_object_set_new(o, "title", s->title ? json_string(s->title)
                                                 : json_null()) != 0 ||
        json_object_set_new(o, "sources",
                            cli_strv_json(s->sources, s->n_sources)) != 0 ||
        json_object_set_new(o, "tags", cli_strv_json(s->tags, s->n_tags)) !=
            0 ||
        json_object_set_new(o, "first_seen", cli_time_json(s->first_seen)) !=
            0 ||
        json_object_set_new(o, "last_seen", cli_time_json(s->last_seen)) !=
            0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The stories table: id, last seen, articles, sources, then the title. */
static const int story_widths[] = { 10, 20, 8, 24 };

static void print_header(void)
{
    static const char *const names[] = { "ID", "LAST SEEN", "ARTICLES",
                                         "SOURCES" };

    cli_table_row(names, story_widths, 4, "TITLE");
}

/* Prints one table row: id, last seen, articles, sources, title. */
static void print_row(const as_story_t *s)
{
    char idbuf[24], tbuf[32], nbuf[24], src[128] = "";
    const char *cells[4];
    size_t i, used = 0;

    snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)s->id);
    if (cli_time_format(s->last_seen, tbuf, sizeof(tbuf)) != 0)
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)s->last_seen);
    /* Right-aligned, as numbers are. */
    snprintf(nbuf, sizeof(nbuf), "%8llu", (unsigned long long)s->articles);
    /* Enough sources to fill the column; the cell cuts at a character. */
    for (i = 0; i < s->n_sources && used < 64; i++)
        used += (size_t)snprintf(src + used, sizeof(src) - used, "%s%.60s",
                                 i ? "," : "", s->sources[i]);
    cells[0] = idbuf;
    cells[1] = tbuf;
    cells[2] = nbuf;
    cells[3] = s->n_sources ? src : NULL;
    cli_table_row(cells, story_widths, 4, s->title);
}

/* ------------------------------------------------------------ stories */

enum { S_LIMIT = CLI_OPT_FIRST, S_NO_BODY };

static const struct option stories_opts[] = {
    CLI_FILTER_TAG_FLAGS,
    CLI_FILTER_TIME_FLAGS,
    { "limit", required_argument, NULL, S_LIMIT },
    { NULL, 0, NULL, 0 },
};

/* Parses the stories flags into f and *limit. Returns CLI_EXIT_OK, or the
 * exit status of an error it printed. */
static int parse_stories_args(cli_globals_t *g, int argc, char **argv,
                              cli_filter_t *f, uint64_t *limit)
{
    const cli_cmd_t *cmd = &cli_cmd_stories;
    int c, rc;

    while ((c = cli_getopt(g, cmd, argc, argv, "", stories_opts)) !=
           CLI_GETOPT_END) {
        if (c == S_LIMIT) {
            if (cli_parse_u64(optarg, limit) != 0 || *limit == 0)
                return cli_usage_error(cmd, "invalid --limit '%s' (a "
                                       "positive number)", optarg);
            continue;
        }
        if ((rc = cli_filter_flag(cmd, f, c, optarg)) < 0)
            return cli_parse_stop(c);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                        CLI_FMT_JSONL,
                            CLI_OUTPUT_TEXT);
}

/* Asks for the stories page after page and prints them into list, until
 * the last page or the limit. Returns an exit status. */
static int walk_stories(as_client_t *client, as_stories_spec_t *spec,
                        cli_list_t *list)
{
    as_story_list_t *l = NULL;
    uint8_t *cursor = NULL;
    int rc = CLI_EXIT_OK, more, first = 1;
    size_t i;

    do {
        spec->limit = cli_list_want(list, 100);
        if ((rc = as_list_stories(client, spec, &l)) != AS_OK) {
            rc = cli_call_error(client, rc);
            break;
        }
        if (first && list->fmt == CLI_OUTPUT_TEXT)
            print_header();
        first = 0;
        for (i = 0; i < l->n_stories && rc == CLI_EXIT_OK; i++) {
            if (list->fmt == CLI_OUTPUT_TEXT)
                print_row(l->stories[i]);
            else
                rc = cli_list_add(list, story_json(l->stories[i]));
        }
        free(cursor);
        cursor = l->next_cursor;   /* taken over from the list */
        spec->cursor = cursor;
        spec->cursor_len = l->next_cursor_len;
        l->next_cursor = NULL;
        more = cli_list_more(list, l->n_stories, cursor);
        as_story_list_free(l);
    } while (rc == CLI_EXIT_OK && more);
    free(cursor);
    spec->cursor = NULL;
    return rc;
}

static int run_stories(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_stories;
    cli_filter_t f;
    as_stories_spec_t spec;
    as_client_t *client = NULL;
    cli_list_t list;
    uint64_t limit = 0;
    int rc;

    memset(&spec, 0, sizeof(spec));
    memset(&list, 0, sizeof(list));
    if (cli_filter_init(&f, argc) != 0)
        return cli_oom(cmd);
    if ((rc = parse_stories_args(g, argc, argv, &f, &limit)) != CLI_EXIT_OK ||
        (rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK ||
        (rc = cli_list_init(&list, cmd, g, limit)) != CLI_EXIT_OK)
        goto out_free;
    CLI_FILTER_TO(&f, &spec);
    if ((rc = walk_stories(client, &spec, &list)) == CLI_EXIT_OK &&
        list.fmt == CLI_OUTPUT_JSON)
        rc = cli_print_json(cli_list_take(&list));
    if (fflush(stdout) != 0)
        rc = CLI_EXIT_ERROR;
out_free:
    cli_list_free(&list);
    as_client_close(client);
    cli_filter_free(&f);
    return rc;
}

const cli_cmd_t cli_cmd_stories = {
    .name = "stories",
    .summary = "list stories (one piece of news, many outlets), newest first",
    .run = run_stories,
    .help =
        "EXAMPLES\n"
        "  artstore stories --limit 20\n"
        "  artstore stories --tag politics --since 2024-06-01T00:00:00Z\n"
        "  artstore stories -o json | jq '.[] | {title, sources}'\n"
        "\n"
        "USAGE\n"
        "  artstore stories [--tag T]... [--any T]... [--not T]... [--since TIME]\n"
        "                   [--until TIME] [--source S] [--limit N]\n"
        "                   [-o table|json|jsonl]\n"
        "\n"
        "  Prints the stories the server grouped at ingest, the most recently\n"
        "  seen first: syndicated copies of one article and other outlets'\n"
        "  articles about the same event are one story (docs/STORIES.md).\n"
        "  A story matches when its articles together have every --tag, one\n"
        "  of the --any, none of the --not and the --source, and were\n"
        "  published between SINCE and UNTIL. TIME is RFC 3339 or Unix\n"
        "  seconds.\n"
        "\n"
        "  Formats: table (id, last seen, articles, sources, title; the\n"
        "  default), json (one array), jsonl (one story per line). A story\n"
        "  object has id, title (of its lead article), lead_id, articles\n"
        "  (count), duplicates (of which syndicated copies), sources (the\n"
        "  outlets carrying it), tags, first_seen, last_seen.\n"
        "\n"
        "FLAGS\n"
        "      --tag T           one of its articles has tag T (repeatable)\n"
        "      --any T           one of its articles has one of these\n"
        "      --not T           none of its articles has tag T\n"
        "      --since TIME      last seen at or after TIME\n"
        "      --until TIME      first seen before TIME\n"
        "      --source S        one of its articles is from S\n"
        "      --limit N         print at most N stories (default: all)\n"
        "  -o, --output FORMAT   table, json or jsonl\n",
};

/* ------------------------------------------------------------ story */

/* The articles table of a story: id, time, the article it copies,
 * source, then the title. */
static const int story_article_widths[] = { 10, 20, 10, 16 };

/* Prints story s and its articles v[0..n) as two tables. */
static void print_story_tables(const as_story_t *s, as_article_t *const *v,
                               size_t n)
{
    static const char *const names[] = { "ARTICLE", "TIME", "COPY OF",
                                         "SOURCE" };
    size_t i;

    print_header();
    print_row(s);
    printf("\n");
    cli_table_row(names, story_article_widths, 4, "TITLE");
    for (i = 0; i < n; i++) {
        const as_article_t *a = v[i];
        int64_t t = a->has_published_at ? a->published_at : a->ingested_at;
        char idbuf[24], tbuf[32], dup[24];
        const char *cells[4];

        snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)a->id);
        if (cli_time_format(t, tbuf, sizeof(tbuf)) != 0)
            snprintf(tbuf, sizeof(tbuf), "%lld", (long long)t);
        snprintf(dup, sizeof(dup), "%llu",
                 (unsigned long long)a->duplicate_of);
        cells[0] = idbuf;
        cells[1] = tbuf;
        cells[2] = a->duplicate_of != 0 ? dup : NULL;
        cells[3] = a->source;
        cli_table_row(cells, story_article_widths, 4, a->title);
    }
}

/* Prints story s and its articles v[0..n) as one JSON object. Returns an
 * exit status. */
static int print_story_json(const as_story_t *s, as_article_t *const *v,
                            size_t n)
{
    json_t *o = story_json(s), *arr = json_array();
    size_t i;

    for (i = 0; o != NULL && arr != NULL && i < n; i++)
        if (json_array_append_new(arr, cli_article_to_json(v[i])) != 0)
            break;
    if (o == NULL || arr == NULL || i < n) {
        json_decref(o);
        json_decref(arr);
        return cli_oom(&cli_cmd_story);
    }
    return cli_print_json(json_pack("{soso}", "story", o, "articles", arr));
}

static const struct option story_opts[] = {
    { "no-body", no_argument, NULL, S_NO_BODY },
    { NULL, 0, NULL, 0 },
};

static int run_story(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_story;
    as_client_t *client = NULL;
    as_story_t *s = NULL;
    as_article_t **v = NULL;
    size_t n = 0;
    uint64_t id;
    int c, rc, no_body = 0;

    while ((c = cli_getopt(g, cmd, argc, argv, "", story_opts)) !=
           CLI_GETOPT_END) {
        if (c != S_NO_BODY)
            return cli_getopt_exit(c);
        no_body = 1;
    }
    if (optind + 1 != argc)
        return cli_usage_error(cmd, "expected one story id");
    if (cli_parse_u64(argv[optind], &id) != 0 || id == 0)
        return cli_usage_error(cmd, "invalid story id '%s'", argv[optind]);
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON,
                               CLI_OUTPUT_TEXT)) != 0 ||
        (rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    if ((rc = as_get_story(client, id, 0,
                           no_body || g->output == CLI_OUTPUT_TEXT, &s, &v,
                           &n)) != AS_OK) {
        rc = cli_call_error(client, rc);
        goto out_free;
    }
    if (g->output == CLI_OUTPUT_JSON)
        rc = print_story_json(s, v, n);
    else
        print_story_tables(s, v, n);
    if (fflush(stdout) != 0)
        rc = CLI_EXIT_ERROR;
out_free:
    as_story_free(s);
    as_articles_free(v, n);
    as_client_close(client);
    return rc;
}

const cli_cmd_t cli_cmd_story = {
    .name = "story",
    .summary = "show one story and its articles, oldest first",
    .run = run_story,
    .help =
        "EXAMPLES\n"
        "  artstore story 1234\n"
        "  artstore story 1234 -o json --no-body\n"
        "\n"
        "USAGE\n"
        "  artstore story ID [--no-body] [-o table|json]\n"
        "\n"
        "  Prints story ID (as `artstore stories` does) and its articles,\n"
        "  oldest first, with the article each syndicated copy copies\n"
        "  (COPY OF). json: {\"story\": the story as in `artstore stories`,\n"
        "  \"articles\": its articles as `get -o json` prints them}.\n"
        "\n"
        "FLAGS\n"
        "      --no-body         leave the articles' bodies out (json)\n"
        "  -o, --output FORMAT   table or json\n",
};
