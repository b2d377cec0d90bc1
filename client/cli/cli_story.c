/*
 * cli_story.c - `artstore stories` (stories newest first, with the outlets
 * that carry each) and `artstore story ID` (one story and its articles).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"

enum { FMT_TABLE, FMT_JSON, FMT_JSONL };

#define MAX_STORY_TAGS 64

static int parse_format(const char *s, int *out)
{
    if (strcmp(s, "table") == 0 || strcmp(s, "text") == 0)
        *out = FMT_TABLE;
    else if (strcmp(s, "json") == 0)
        *out = FMT_JSON;
    else if (strcmp(s, "jsonl") == 0)
        *out = FMT_JSONL;
    else
        return -1;
    return 0;
}

static json_t *strv_json(char **v, size_t n)
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

static json_t *time_json(int64_t t)
{
    char buf[32];

    if (cli_time_format(t, buf, sizeof(buf)) != 0)
        return json_integer((json_int_t)t);
    return json_string(buf);
}

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
                            strv_json(s->sources, s->n_sources)) != 0 ||
        json_object_set_new(o, "tags", strv_json(s->tags, s->n_tags)) != 0 ||
        json_object_set_new(o, "first_seen", time_json(s->first_seen)) != 0 ||
        json_object_set_new(o, "last_seen", time_json(s->last_seen)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Prints one table row: id, last seen, articles, sources, title. */
static void print_row(const as_story_t *s)
{
    char tbuf[32], src[64] = "";
    size_t i, used = 0;

    if (cli_time_format(s->last_seen, tbuf, sizeof(tbuf)) != 0)
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)s->last_seen);
    for (i = 0; i < s->n_sources && used < sizeof(src) - 1; i++)
        used += (size_t)snprintf(src + used, sizeof(src) - used, "%s%s",
                                 i ? "," : "", s->sources[i]);
    if (used >= 24)
        memcpy(src + 22, "~", 2);
    printf("%-10llu %-20s %8llu %-24s %s\n", (unsigned long long)s->id, tbuf,
           (unsigned long long)s->articles, s->n_sources ? src : "-",
           s->title ? s->title : "");
}

/* ------------------------------------------------------------ stories */

enum {
    S_TAG = CLI_OPT_FIRST, S_ANY, S_NOT, S_SINCE, S_UNTIL, S_SOURCE, S_LIMIT,
    S_OUTPUT, S_NO_BODY,
};

static int run_stories(cli_globals_t *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "tag", required_argument, NULL, S_TAG },
        { "any", required_argument, NULL, S_ANY },
        { "not", required_argument, NULL, S_NOT },
        { "since", required_argument, NULL, S_SINCE },
        { "until", required_argument, NULL, S_UNTIL },
        { "source", required_argument, NULL, S_SOURCE },
        { "limit", required_argument, NULL, S_LIMIT },
        { "output", required_argument, NULL, S_OUTPUT },
        { NULL, 0, NULL, 0 },
    };
    const cli_cmd_t *cmd = &cli_cmd_stories;
    const char *all[MAX_STORY_TAGS], *any[MAX_STORY_TAGS],
        *none[MAX_STORY_TAGS];
    as_stories_spec_t spec;
    as_story_list_t *l = NULL;
    as_client_t *client = NULL;
    json_t *arr = NULL;
    uint8_t *cursor = NULL;
    uint64_t limit = 0, printed = 0;
    int c, rc, fmt, first = 1;
    char err[128];
    size_t i;

    memset(&spec, 0, sizeof(spec));
    spec.all_of = all;
    spec.any_of = any;
    spec.none_of = none;
    fmt = g->output == CLI_OUTPUT_JSON ? FMT_JSON : FMT_TABLE;
    while ((c = cli_getopt(g, cmd, argc, argv, "o:", longopts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case S_TAG:
        case S_ANY:
        case S_NOT: {
            size_t *n = c == S_TAG ? &spec.n_all_of
                      : c == S_ANY ? &spec.n_any_of : &spec.n_none_of;
            const char **v = c == S_TAG ? all : c == S_ANY ? any : none;

            if (*n >= MAX_STORY_TAGS)
                return cli_usage_error(cmd, "more than %d tags in one list",
                                       MAX_STORY_TAGS);
            v[(*n)++] = optarg;
            break;
        }
        case S_SINCE:
        case S_UNTIL:
            if (cli_time_parse(optarg, c == S_SINCE ? &spec.since
                                                    : &spec.until,
                               err, sizeof(err)) != 0)
                return cli_usage_error(cmd, "invalid --%s '%s': %s",
                                       c == S_SINCE ? "since" : "until",
                                       optarg, err);
            if (c == S_SINCE)
                spec.has_since = 1;
            else
                spec.has_until = 1;
            break;
        case S_SOURCE:
            spec.source = optarg;
            break;
        case S_LIMIT:
            if (cli_parse_u64(optarg, &limit) != 0 || limit == 0)
                return cli_usage_error(cmd, "invalid --limit '%s' (a "
                                       "positive number)", optarg);
            break;
        case 'o':
        case S_OUTPUT:
            if (parse_format(optarg, &fmt) != 0)
                return cli_usage_error(cmd, "invalid --output '%s' (table, "
                                       "json or jsonl)", optarg);
            break;
        default:
            return cli_getopt_exit(c);
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    if (fmt == FMT_JSON && (arr = json_array()) == NULL)
        goto out_oom;
    for (;;) {
        uint64_t want = 100;

        if (limit && limit - printed < want)
            want = limit - printed;
        spec.limit = (uint32_t)want;
        if ((rc = as_list_stories(client, &spec, &l)) != AS_OK) {
            rc = cli_call_error(client, rc);
            goto out_free;
        }
        if (first && fmt == FMT_TABLE)
            printf("%-10s %-20s %8s %-24s %s\n", "ID", "LAST SEEN", "ARTICLES",
                   "SOURCES", "TITLE");
        first = 0;
        for (i = 0; i < l->n_stories; i++) {
            json_t *o;

            if (fmt == FMT_TABLE) {
                print_row(l->stories[i]);
                continue;
            }
            if ((o = story_json(l->stories[i])) == NULL)
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
        printed += l->n_stories;
        free(cursor);
        cursor = l->next_cursor;   /* taken over from the list */
        spec.cursor = cursor;
        spec.cursor_len = l->next_cursor_len;
        l->next_cursor = NULL;
        as_story_list_free(l);
        l = NULL;
        if (cursor == NULL || (limit && printed >= limit))
            break;
    }
    rc = CLI_EXIT_OK;
    if (fmt == FMT_JSON) {
        rc = cli_print_json(arr);
        arr = NULL;
    }
    if (fflush(stdout) != 0)
        rc = CLI_EXIT_ERROR;
    goto out_free;

out_oom:
    fprintf(stderr, "artstore stories: out of memory\n");
    rc = CLI_EXIT_ERROR;
out_free:
    json_decref(arr);
    as_story_list_free(l);
    free(cursor);
    as_client_close(client);
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

static int run_story(cli_globals_t *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "output", required_argument, NULL, S_OUTPUT },
        { "no-body", no_argument, NULL, S_NO_BODY },
        { NULL, 0, NULL, 0 },
    };
    const cli_cmd_t *cmd = &cli_cmd_story;
    as_client_t *client = NULL;
    as_story_t *s = NULL;
    as_article_t **v = NULL;
    size_t n = 0, i;
    uint64_t id;
    int c, rc, fmt, no_body = 0;

    fmt = g->output == CLI_OUTPUT_JSON ? FMT_JSON : FMT_TABLE;
    while ((c = cli_getopt(g, cmd, argc, argv, "o:", longopts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case 'o':
        case S_OUTPUT:
            if (parse_format(optarg, &fmt) != 0 || fmt == FMT_JSONL)
                return cli_usage_error(cmd, "invalid --output '%s' (table "
                                       "or json)", optarg);
            break;
        case S_NO_BODY:
            no_body = 1;
            break;
        default:
            return cli_getopt_exit(c);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(cmd, "expected one story id");
    if (cli_parse_u64(argv[optind], &id) != 0 || id == 0)
        return cli_usage_error(cmd, "invalid story id '%s'", argv[optind]);
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    if ((rc = as_get_story(client, id, 0, no_body || fmt == FMT_TABLE, &s,
                           &v, &n)) != AS_OK) {
        rc = cli_call_error(client, rc);
        goto out_free;
    }
    if (fmt == FMT_JSON) {
        json_t *o = story_json(s), *arr = json_array();

        for (i = 0; o != NULL && arr != NULL && i < n; i++)
            if (json_array_append_new(arr, cli_article_to_json(v[i])) != 0)
                break;
        if (o == NULL || arr == NULL || i < n ||
            (o = json_pack("{soso}", "story", o, "articles", arr)) == NULL) {
            fprintf(stderr, "artstore story: out of memory\n");
            rc = CLI_EXIT_ERROR;
            goto out_free;
        }
        rc = cli_print_json(o);
        goto out_free;
    }
    printf("%-10s %-20s %8s %-24s %s\n", "ID", "LAST SEEN", "ARTICLES",
           "SOURCES", "TITLE");
    print_row(s);
    printf("\n%-10s %-20s %-10s %-16s %s\n", "ARTICLE", "TIME", "COPY OF",
           "SOURCE", "TITLE");
    for (i = 0; i < n; i++) {
        const as_article_t *a = v[i];
        int64_t t = a->has_published_at ? a->published_at : a->ingested_at;
        char tbuf[32], dup[24] = "-";

        if (cli_time_format(t, tbuf, sizeof(tbuf)) != 0)
            snprintf(tbuf, sizeof(tbuf), "%lld", (long long)t);
        if (a->duplicate_of != 0)
            snprintf(dup, sizeof(dup), "%llu",
                     (unsigned long long)a->duplicate_of);
        printf("%-10llu %-20s %-10s %-16.16s %s\n", (unsigned long long)a->id,
               tbuf, dup, a->source ? a->source : "-",
               a->title ? a->title : "");
    }
    rc = fflush(stdout) != 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
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
