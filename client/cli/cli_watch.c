/*
 * cli_watch.c - `artstore watch`: follow the change feed, every matching
 * change once and in order, through the library's as_watch_*.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
    OPT_SINCE = CLI_OPT_FIRST,
    OPT_COUNT,
    OPT_LIMIT,
    OPT_INITIAL,
    OPT_NEW_STORIES,
};

static const struct option watch_opts[] = {
    CLI_FILTER_TAG_FLAGS,
    /* --since is a seq here, not a time: watch's own flag. */
    { "since", required_argument, NULL, OPT_SINCE },
    { "limit", required_argument, NULL, OPT_LIMIT },
    { "count", optional_argument, NULL, OPT_COUNT },
    { "initial", no_argument, NULL, OPT_INITIAL },
    { "new-stories", no_argument, NULL, OPT_NEW_STORIES },
    { NULL, 0, NULL, 0 },
};

static const char *type_name(int type)
{
    switch (type) {
    case AS_CHANGE_CREATE: return "create";
    case AS_CHANGE_UPDATE: return "update";
    case AS_CHANGE_DELETE: return "delete";
    default: return "unknown";
    }
}

/* Returns one change as a JSON object (NULL when out of memory): seq,
 * type, id, revision, tags, commit_time (RFC 3339 with milliseconds),
 * and when present title, url, source, published_at (RFC 3339),
 * initial, prev_tags. */
static json_t *change_json(const as_change_t *ch)
{
    json_t *o = json_pack("{sIsssIsIsoso}", "seq", (json_int_t)ch->seq,
                          "type", type_name(ch->type),
                          "id", (json_int_t)ch->id,
                          "revision", (json_int_t)ch->revision,
                          "tags", cli_strv_json(ch->tags, ch->n_tags),
                          "commit_time",
                          cli_time_ms_json(ch->commit_time_ms));

    if (o == NULL)
        return NULL;
    if (ch->title != NULL)
        json_object_set_new(o, "title", json_string(ch->title));
    if (ch->url != NULL)
        json_object_set_new(o, "url", json_string(ch->url));
    if (ch->source != NULL)
        json_object_set_new(o, "source", json_string(ch->source));
    if (ch->has_published_at)
        json_object_set_new(o, "published_at",
                            cli_time_json(ch->published_at));
    if (ch->initial)
        json_object_set_new(o, "initial", json_true());
    if (ch->n_prev_tags > 0)
        json_object_set_new(o, "prev_tags",
                            cli_strv_json(ch->prev_tags, ch->n_prev_tags));
    if (ch->story_id != 0)
        json_object_set_new(o, "story_id",
                            json_integer((json_int_t)ch->story_id));
    if (ch->new_story)
        json_object_set_new(o, "new_story", json_true());
    return o;
}

static void print_text(const as_change_t *ch)
{
    size_t i;

    printf("%llu %s id=%llu", (unsigned long long)ch->seq,
           type_name(ch->type), (unsigned long long)ch->id);
    if (ch->story_id != 0)
        printf(" story=%llu%s", (unsigned long long)ch->story_id,
               ch->new_story ? "(new)" : "");
    printf(" tags=");
    for (i = 0; i < ch->n_tags; i++)
        printf("%s%s", i ? "," : "", ch->tags[i]);
    printf(" %s\n", ch->title ? ch->title : "");
}

/* Parses watch's flags into f, wo (its lists are f's) and *limit.
 * Returns CLI_EXIT_OK, or the exit status of an error it printed. */
static int parse_watch_args(cli_globals_t *g, int argc, char **argv,
                            cli_filter_t *f, as_watch_opts_t *wo,
                            uint64_t *limit)
{
    const cli_cmd_t *cmd = &cli_cmd_watch;
    int c, rc;

    while ((c = cli_getopt(g, cmd, argc, argv, "", watch_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case OPT_SINCE:
            if (cli_parse_u64(optarg, &wo->since) != 0)
                return cli_usage_error(cmd, "invalid --since '%s' (a seq)",
                                       optarg);
            wo->has_since = 1;
            break;
        case OPT_LIMIT:
            if (cli_parse_u64(optarg, limit) != 0 || *limit == 0)
                return cli_usage_error(cmd, "invalid --limit '%s' (a positive "
                                       "number)", optarg);
            break;
        case OPT_COUNT:
            /* One meaning per flag: --count is query's total. */
            return cli_usage_error(cmd, "--count is not a watch flag (it "
                                   "counts matches in query); use --limit N "
                                   "to exit after N changes");
        case OPT_INITIAL:
            wo->initial = 1;
            break;
        case OPT_NEW_STORIES:
            wo->new_stories = 1;
            break;
        default:
            if ((rc = cli_filter_flag(cmd, f, c, optarg)) < 0)
                return cli_parse_stop(c);
            if (rc != CLI_EXIT_OK)
                return rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    CLI_FILTER_TAGS_TO(f, wo);
    return cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                        CLI_FMT_JSONL,
                            CLI_OUTPUT_TEXT);
}

/* Prints the changes of w as they come, until limit of them (0: until an
 * error). A server that goes away is waited for, as etcdctl's watch does;
 * stderr says so once, and again when it is back. Returns an exit
 * status. */
static int follow_changes(const cli_globals_t *g, as_client_t *client,
                          as_watch_t *w, uint64_t limit)
{
    uint64_t seen = 0;
    int rc = CLI_EXIT_OK, away = 0;

    while (limit == 0 || seen < limit) {
        as_change_t *ch;
        int wrc = as_watch_next(w, 1000, &ch);

        if (wrc == AS_EUNAVAILABLE) {
            if (!away)
                fprintf(stderr, "artstore watch: server unreachable (%s); "
                        "waiting for it\n", as_client_errmsg(client));
            away = 1;
            continue;
        }
        if (away && (wrc == AS_OK || wrc == AS_EDEADLINE_EXCEEDED)) {
            fprintf(stderr, "artstore watch: server back; resuming after "
                    "seq %llu\n", (unsigned long long)as_watch_position(w));
            away = 0;
        }
        if (wrc == AS_EDEADLINE_EXCEEDED)
            continue;
        if (wrc != AS_OK)
            return cli_call_error(client, wrc);
        if (g->output == CLI_OUTPUT_TEXT)
            print_text(ch);
        else
            rc = cli_print_json_as(g, change_json(ch));
        as_change_free(ch);
        if (rc != CLI_EXIT_OK || fflush(stdout) != 0)
            return CLI_EXIT_ERROR;
        seen++;
    }
    return CLI_EXIT_OK;
}

static int run_watch(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_watch;
    cli_filter_t f;
    as_watch_opts_t wo;
    as_client_t *client = NULL;
    as_watch_t *w;
    uint64_t limit = 0;
    int rc;

    memset(&wo, 0, sizeof(wo));
    if (cli_filter_init(&f, argc) != 0)
        return cli_oom(cmd);
    if ((rc = parse_watch_args(g, argc, argv, &f, &wo, &limit)) !=
            CLI_EXIT_OK ||
        (rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        goto out_free;
    if ((rc = as_watch_open(client, &wo, &w)) != AS_OK) {
        rc = cli_call_error(client, rc);
        goto out_free;
    }
    rc = follow_changes(g, client, w, limit);
    as_watch_close(w);
out_free:
    as_client_close(client);
    cli_filter_free(&f);
    return rc;
}

const cli_cmd_t cli_cmd_watch = {
    .name = "watch",
    .summary = "follow changes: every matching one, in order, once",
    .run = run_watch,
    .help =
        "EXAMPLES\n"
        "  artstore watch --tag politics -o jsonl\n"
        "  artstore watch --any sport --any music --not ads\n"
        "  artstore watch --source 'Coastal Times'\n"
        "  artstore watch --since 1200 --limit 10\n"
        "  artstore watch --initial --tag politics -o jsonl\n"
        "  artstore watch --new-stories --tag politics\n"
        "\n"
        "USAGE\n"
        "  artstore watch [--tag T]... [--any T]... [--not T]... [--source S]\n"
        "                 [--since SEQ] [--limit N] [--initial] [--new-stories]\n"
        "                 [-o FORMAT]\n"
        "\n"
        "  Prints every change that matches, in seq order, exactly once, even\n"
        "  when the feed drops messages or the server restarts (gaps are\n"
        "  filled from the server's changelog). Without --since it starts at\n"
        "  the current end; --since S prints every change with seq > S first.\n"
        "  An update matches when its tags before or after the change do.\n"
        "  While the server is unreachable, watch says so on stderr and\n"
        "  waits; it resumes where it was once the server is back.\n"
        "  Exits 1 with OUT_OF_RANGE when the changes after S are no longer\n"
        "  retained.\n"
        "\n"
        "  Text output is `SEQ TYPE id=ID [story=S[(new)]] tags=T,... TITLE`\n"
        "  per change. JSON output has one object per change with seq, type,\n"
        "  id, revision, tags, commit_time (RFC 3339, milliseconds) and when\n"
        "  present title, url, source, published_at (RFC 3339), prev_tags,\n"
        "  initial, story_id, new_story (true when it started a story);\n"
        "  -o jsonl prints each on one line, -o json indents it on a\n"
        "  terminal.\n"
        "\n"
        "FLAGS\n"
        "  --tag T      the change has tag T (repeatable: all of them)\n"
        "  --any T      the change has at least one of these tags\n"
        "  --not T      the change has none of these tags\n"
        "  --source S   the article is from source S (compared as stored:\n"
        "               case and spacing do not matter)\n"
        "  --since SEQ  start after this seq (default: the current end)\n"
        "  --limit N    exit 0 after N changes\n"
        "  --initial    first print the last change of every article that\n"
        "               matches now (\"initial\": true), then follow; needs\n"
        "               the whole changelog retained\n"
        "  --new-stories  only creates that start a new story: each story\n"
        "               once, however many outlets carry it (the tags are\n"
        "               those of its first article)\n",
};
