/*
 * cli_article.c - the article subcommands: put, get and delete.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_json.h"

/* ------------------------------------------------------------ input */

/* Reads the input of put: path, or stdin for NULL or "-". Returns
 * CLI_EXIT_OK with *text (free()) and *len set, or a usage error. */
static int read_input(const cli_cmd_t *cmd, const char *path, char **text,
                      size_t *len)
{
    FILE *f = stdin;
    int rc = CLI_EXIT_OK;

    if (path != NULL && strcmp(path, "-") != 0) {
        if ((f = fopen(path, "rb")) == NULL)
            return cli_usage_error(cmd, "cannot open '%s': %s", path,
                                   strerror(errno));
    } else if (isatty(STDIN_FILENO)) {
        fprintf(stderr, "artstore put: reading the article from the terminal "
                "(end with Ctrl-D)\n");
    }
    if (cli_read_all(f, text, len) != 0)
        rc = cli_usage_error(cmd, "cannot read '%s': %s",
                             f == stdin ? "stdin" : path, strerror(errno));
    if (f != stdin)
        fclose(f);
    return rc;
}

/* ------------------------------------------------------------ put */

enum {
    PUT_URL = CLI_OPT_FIRST,
    PUT_TITLE,
    PUT_SOURCE,
    PUT_TAG,
    PUT_AUTHOR,
    PUT_META,
    PUT_PUBLISHED,
    PUT_EXPECT,
    PUT_JSON,
};

static const struct option put_opts[] = {
    { "url", required_argument, NULL, PUT_URL },
    { "title", required_argument, NULL, PUT_TITLE },
    { "source", required_argument, NULL, PUT_SOURCE },
    { "tag", required_argument, NULL, PUT_TAG },
    { "author", required_argument, NULL, PUT_AUTHOR },
    { "meta", required_argument, NULL, PUT_META },
    { "published", required_argument, NULL, PUT_PUBLISHED },
    { "expect-revision", required_argument, NULL, PUT_EXPECT },
    { "json", no_argument, NULL, PUT_JSON },
    { NULL, 0, NULL, 0 },
};

/* What the put flags say; lists point into argv. */
typedef struct put_flags {
    const char *url, *title, *source;
    const char **tags, **authors, **meta;
    size_t n_tags, n_authors, n_meta;
    int has_published;
    int64_t published;
    uint64_t expected;
    int json;
} put_flags_t;

/* Frees what a const field of an article built here points to (each
 * came from malloc). */
static void free_const(const void *p)
{
    free((void *)(uintptr_t)p);
}

/* Replaces *dst by a copy of s. Returns 0 or -1. */
static int set_string(const char **dst, const char *s)
{
    char *d = strdup(s);

    if (d == NULL)
        return -1;
    free_const(*dst);
    *dst = d;
    return 0;
}

/* Replaces a list of the article with copies of v. Returns 0 or -1. */
static int set_list(const char *const **dst, size_t *n, const char **v,
                    size_t count)
{
    const char **arr;
    size_t i;

    for (i = 0; *dst != NULL && i < *n; i++)
        free_const((*dst)[i]);
    free_const(*dst);
    *dst = NULL;
    *n = 0;
    if ((arr = calloc(count, sizeof(*arr))) == NULL)
        return -1;
    *dst = arr;
    for (i = 0; i < count; i++, (*n)++)
        if ((arr[i] = strdup(v[i])) == NULL)
            return -1;
    return 0;
}

/* Applies the flags to the article, over what the input gave. The lists
 * given as flags replace the input's. Returns 0 or -1 (out of memory). */
static int apply_put_flags(const put_flags_t *f, as_article_t *a)
{
    as_meta_t *meta;
    size_t i;

    if ((f->url && set_string(&a->url, f->url)) ||
        (f->title && set_string(&a->title, f->title)) ||
        (f->source && set_string(&a->source, f->source)) ||
        (f->n_tags && set_list(&a->tags, &a->n_tags, f->tags, f->n_tags)) ||
        (f->n_authors &&
         set_list(&a->authors, &a->n_authors, f->authors, f->n_authors)))
        return -1;
    if (f->has_published) {
        a->has_published_at = 1;
        a->published_at = f->published;
    }
    if (f->n_meta == 0)
        return 0;
    for (i = 0; a->meta != NULL && i < a->n_meta; i++) {
        free_const(a->meta[i].key);
        free_const(a->meta[i].value);
    }
    free_const(a->meta);
    a->meta = NULL;
    a->n_meta = 0;
    if ((meta = calloc(f->n_meta, sizeof(*meta))) == NULL)
        return -1;
    a->meta = meta;
    for (i = 0; i < f->n_meta; i++, a->n_meta++) {
        const char *eq = strchr(f->meta[i], '=');

        meta[i].key = strndup(f->meta[i], (size_t)(eq - f->meta[i]));
        meta[i].value = strdup(eq + 1);
        if (meta[i].key == NULL || meta[i].value == NULL) {
            a->n_meta++;
            return -1;
        }
    }
    return 0;
}

/* Builds the article from the input text (or JSON with --json) and the
 * flags. Returns CLI_EXIT_OK with *a filled (cli_article_clear), or a
 * usage error. */
static int build_article(const cli_cmd_t *cmd, const put_flags_t *f,
                         char *text, size_t len, as_article_t *a)
{
    char err[256], *title, *body;
    json_error_t jerr;
    json_t *obj;

    memset(a, 0, sizeof(*a));
    if (f->json) {
        obj = json_loadb(text, len, 0, &jerr);
        if (obj == NULL)
            return cli_usage_error(cmd, "input is not valid JSON: line %d: "
                                   "%s", jerr.line, jerr.text);
        if (cli_article_from_json(obj, a, 0, err, sizeof(err)) != 0) {
            json_decref(obj);
            return cli_usage_error(cmd, "input: %s", err);
        }
        json_decref(obj);
    } else {
        if (memchr(text, '\0', len) != NULL)
            return cli_usage_error(cmd, "the input contains a NUL byte; "
                                   "is it text?");
        if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
            text += 3;
        if (f->title != NULL) {
            title = NULL;
            body = text[0] != '\0' ? text : NULL;
        } else {
            cli_text_split(text, &title, &body);
        }
        if ((title && (a->title = strdup(title)) == NULL) ||
            (body && (a->body = strdup(body)) == NULL))
            goto out_oom;
    }
    if (apply_put_flags(f, a) != 0)
        goto out_oom;
    return CLI_EXIT_OK;

out_oom:
    cli_article_clear(a);
    fprintf(stderr, "RESOURCE_EXHAUSTED: out of memory\n");
    return CLI_EXIT_ERROR;
}

static const char *outcome_name(int outcome)
{
    switch (outcome) {
    case AS_PUT_CREATED: return "created";
    case AS_PUT_UPDATED: return "updated";
    case AS_PUT_UNCHANGED: return "unchanged";
    default: return "unknown";
    }
}

/* Parses the flags of put into f. Returns 1 to go on (optind at the
 * operands), or 0 to stop with the exit status in *rc. */
static int parse_put_flags(cli_globals_t *g, int argc, char **argv,
                           put_flags_t *f, int *rc)
{
    const cli_cmd_t *cmd = &cli_cmd_put;
    char err[256];
    int c;

    memset(f, 0, sizeof(*f));
    f->expected = AS_REV_ANY;
    f->tags = calloc((size_t)argc, sizeof(*f->tags));
    f->authors = calloc((size_t)argc, sizeof(*f->authors));
    f->meta = calloc((size_t)argc, sizeof(*f->meta));
    if (f->tags == NULL || f->authors == NULL || f->meta == NULL) {
        fprintf(stderr, "RESOURCE_EXHAUSTED: out of memory\n");
        *rc = CLI_EXIT_ERROR;
        return 0;
    }
    while ((c = cli_getopt(g, cmd, argc, argv, "", put_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case PUT_URL: f->url = optarg; break;
        case PUT_TITLE: f->title = optarg; break;
        case PUT_SOURCE: f->source = optarg; break;
        case PUT_TAG: f->tags[f->n_tags++] = optarg; break;
        case PUT_AUTHOR: f->authors[f->n_authors++] = optarg; break;
        case PUT_JSON: f->json = 1; break;
        case PUT_META:
            if (strchr(optarg, '=') == NULL || optarg[0] == '=') {
                *rc = cli_usage_error(cmd, "--meta wants KEY=VALUE, not '%s'",
                                      optarg);
                return 0;
            }
            f->meta[f->n_meta++] = optarg;
            break;
        case PUT_PUBLISHED:
            if (cli_time_parse(optarg, &f->published, err, sizeof(err))) {
                *rc = cli_usage_error(cmd, "--published: %s", err);
                return 0;
            }
            f->has_published = 1;
            break;
        case PUT_EXPECT:
            if (cli_parse_u64(optarg, &f->expected) != 0 ||
                f->expected == AS_REV_ANY) {
                *rc = cli_usage_error(cmd, "invalid --expect-revision '%s'",
                                      optarg);
                return 0;
            }
            break;
        default:
            *rc = cli_getopt_exit(c);
            return 0;
        }
    }
    return 1;
}

static int run_put(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_put;
    as_client_t *client = NULL;
    as_put_result_t res;
    as_article_t a;
    put_flags_t f;
    char *text = NULL;
    size_t len = 0;
    json_t *obj;
    int rc;

    if (!parse_put_flags(g, argc, argv, &f, &rc))
        goto out_free_flags;
    if (argc - optind > 1) {
        rc = cli_usage_error(cmd, "too many arguments: one FILE at most");
        goto out_free_flags;
    }
    if ((rc = read_input(cmd, optind < argc ? argv[optind] : NULL, &text,
                         &len)) != CLI_EXIT_OK)
        goto out_free_flags;
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                           CLI_FMT_JSONL,
                               CLI_OUTPUT_TEXT)) != 0)
        goto out_free_text;
    if ((rc = build_article(cmd, &f, text, len, &a)) != CLI_EXIT_OK)
        goto out_free_text;
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        goto out_clear_article;
    if ((rc = as_put(client, &a, f.expected, &res)) != AS_OK) {
        rc = cli_call_error(client, rc);
        goto out_close;
    }
    if (g->output != CLI_OUTPUT_TEXT) {
        obj = json_pack("{sIsssI}", "id", (json_int_t)res.id, "outcome",
                        outcome_name(res.outcome), "revision",
                        (json_int_t)res.revision);
        rc = cli_print_json_as(g, obj);
    } else {
        printf("%llu\n", (unsigned long long)res.id);
        rc = CLI_EXIT_OK;
    }

out_close:
    as_client_close(client);
out_clear_article:
    cli_article_clear(&a);
out_free_text:
    free(text);
out_free_flags:
    free(f.tags);
    free(f.authors);
    free(f.meta);
    return rc;
}

const cli_cmd_t cli_cmd_put = {
    .name = "put",
    .summary = "store an article read from a file or stdin; prints its id",
    .run = run_put,
    .help =
        "EXAMPLES\n"
        "  printf 'Title\\n\\nBody\\n' | artstore put --url https://x.org/a\n"
        "  artstore put --url https://x.org/a --tag news --tag eu \\\n"
        "      --author 'Ann Lee' --published 2024-06-18T09:30:00Z story.txt\n"
        "  artstore put --title 'Just a note' --meta lang=en notes.txt\n"
        "  artstore get 42 -o json | artstore put --json --tag reviewed\n"
        "  artstore put --expect-revision 0 --url https://x.org/b b.txt\n"
        "\n"
        "USAGE\n"
        "  artstore put [flags] [FILE|-]\n"
        "\n"
        "  Stores an article and prints its id. The text comes from FILE,\n"
        "  or stdin when FILE is - or missing. Its first non-blank line is\n"
        "  the title and the rest the body, unless --title is given: then\n"
        "  all of it is the body. The article is new if its URL (or, without\n"
        "  one, its title and body) is new; otherwise it is updated, or left\n"
        "  unchanged if its content is the same.\n"
        "\n"
        "FLAGS\n"
        "      --url URL             the article's URL, its natural key\n"
        "      --title TITLE         the title; the text is then all body\n"
        "      --source SOURCE       where it comes from (a feed, a site)\n"
        "      --tag TAG             a tag; repeat for more\n"
        "      --author NAME         an author; repeat for more\n"
        "      --meta KEY=VALUE      a metadata entry; repeat for more\n"
        "      --published TIME      RFC 3339 (2024-06-18T09:30:00Z,\n"
        "                            2024-06-18T11:30:00+02:00) or Unix seconds\n"
        "      --expect-revision N   only if its revision is N; 0: only if new\n"
        "      --json                the input is one JSON article, as printed\n"
        "                            by `get -o json`; flags override its fields\n"
        "                            (list flags replace its lists)\n"
        "  With -o json, put prints {\"id\", \"outcome\", \"revision\"}.\n",
};

/* ------------------------------------------------------------ get */

/* Prints "Label:     a, b, c" for a non-empty list. */
static void print_list(const char *label, const char *const *v, size_t n)
{
    size_t i;

    if (n == 0)
        return;
    printf("%-11s", label);
    for (i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", v[i]);
    putchar('\n');
}

/* Prints "Label:     <time>" in RFC 3339, or Unix seconds out of range. */
static void print_time(const char *label, int64_t t)
{
    char buf[32];

    if (cli_time_format(t, buf, sizeof(buf)) != 0)
        snprintf(buf, sizeof(buf), "%lld", (long long)t);
    printf("%-11s%s\n", label, buf);
}

/* Prints the readable form of an article: a header block, a blank line,
 * then the body. */
static void print_article_text(const as_article_t *a)
{
    size_t i, n;

    printf("%-11s%llu\n", "Id:", (unsigned long long)a->id);
    if (a->url)
        printf("%-11s%s\n", "Url:", a->url);
    if (a->title)
        printf("%-11s%s\n", "Title:", a->title);
    if (a->source)
        printf("%-11s%s\n", "Source:", a->source);
    print_list("Authors:", a->authors, a->n_authors);
    if (a->has_published_at)
        print_time("Published:", a->published_at);
    if (a->ingested_at != 0)
        print_time("Ingested:", a->ingested_at);
    print_list("Tags:", a->tags, a->n_tags);
    for (i = 0; i < a->n_meta; i++)
        printf("%-11s%s=%s\n", "Meta:", a->meta[i].key, a->meta[i].value);
    printf("%-11s%llu\n", "Revision:", (unsigned long long)a->revision);
    if (a->body == NULL)
        return;
    n = strlen(a->body);
    printf("\n%s%s", a->body, n > 0 && a->body[n - 1] == '\n' ? "" : "\n");
}

enum { GET_URL = CLI_OPT_FIRST, GET_NO_BODY };

static const struct option get_opts[] = {
    { "url", required_argument, NULL, GET_URL },
    { "no-body", no_argument, NULL, GET_NO_BODY },
    { NULL, 0, NULL, 0 },
};

/* Ids fetched per GetBatch call: well under the server's default
 * max_batch (1000). */
#define GET_CHUNK 500

/* Prints one fetched article in g's format; json articles go into arr
 * (when several were asked for). Returns an exit status. */
static int print_one(const cli_globals_t *g, json_t *arr, as_article_t *a,
                     int *n_printed)
{
    json_t *o;

    if (g->output == CLI_OUTPUT_TEXT) {
        if ((*n_printed)++ > 0)
            putchar('\n');
        print_article_text(a);
        return CLI_EXIT_OK;
    }
    (*n_printed)++;
    if ((o = cli_article_to_json(a)) == NULL)
        return cli_print_json(NULL);
    if (arr != NULL)
        return json_array_append_new(arr, o) == 0 ? CLI_EXIT_OK
                                                   : cli_print_json(NULL);
    return cli_print_json_as(g, o);
}

static int run_get(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_get;
    as_client_t *client = NULL;
    as_article_t *a = NULL, **v = NULL;
    const char **urls = NULL;
    uint64_t *ids = NULL;
    json_t *arr = NULL;
    size_t n_urls = 0, n_ids = 0, i, j, n;
    int c, rc, no_body = 0, missing = 0, printed = 0;

    urls = calloc((size_t)argc, sizeof(*urls));
    ids = calloc((size_t)argc, sizeof(*ids));
    if (urls == NULL || ids == NULL) {
        rc = cli_print_json(NULL);
        goto out_free;
    }
    while ((c = cli_getopt(g, cmd, argc, argv, "", get_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case GET_URL: urls[n_urls++] = optarg; break;
        case GET_NO_BODY: no_body = 1; break;
        default:
            rc = cli_getopt_exit(c);
            goto out_free;
        }
    }
    for (i = (size_t)optind; i < (size_t)argc; i++)
        if (cli_parse_u64(argv[i], &ids[n_ids++]) != 0 || ids[n_ids - 1] == 0) {
            rc = cli_usage_error(cmd, "invalid ID '%s' (a positive number)",
                                 argv[i]);
            goto out_free;
        }
    if (n_ids == 0 && n_urls == 0) {
        rc = cli_usage_error(cmd, "missing ID (or --url URL)");
        goto out_free;
    }
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                           CLI_FMT_JSONL,
                               CLI_OUTPUT_TEXT)) != 0)
        goto out_free;
    /* -o json: one object for one article, as always; an array when
     * several were asked for. */
    if (g->output == CLI_OUTPUT_JSON && n_ids + n_urls > 1 &&
        (arr = json_array()) == NULL) {
        rc = cli_print_json(NULL);
        goto out_free;
    }
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        goto out_free;
    for (i = 0; i < n_urls && rc == CLI_EXIT_OK; i++) {
        int grc = as_get_by_url(client, urls[i], no_body, &a);

        if (grc == AS_ENOT_FOUND) {
            cli_call_error(client, grc);
            missing++;
            continue;
        }
        if (grc != AS_OK) {
            rc = cli_call_error(client, grc);
            break;
        }
        rc = print_one(g, arr, a, &printed);
        as_article_free(a);
        a = NULL;
    }
    /* One id: Get (its NOT_FOUND message as before); several: GetBatch,
     * one snapshot per chunk. */
    if (n_ids == 1 && rc == CLI_EXIT_OK) {
        int grc = as_get(client, ids[0], no_body, &a);

        if (grc == AS_ENOT_FOUND) {
            cli_call_error(client, grc);
            missing++;
        } else if (grc != AS_OK) {
            rc = cli_call_error(client, grc);
        } else {
            rc = print_one(g, arr, a, &printed);
        }
        as_article_free(a);
        a = NULL;
    }
    for (i = 0; n_ids > 1 && i < n_ids && rc == CLI_EXIT_OK; i += n) {
        int grc;

        n = n_ids - i < GET_CHUNK ? n_ids - i : GET_CHUNK;
        if ((grc = as_get_many(client, ids + i, n, no_body, &v)) != AS_OK) {
            rc = cli_call_error(client, grc);
            break;
        }
        for (j = 0; j < n && rc == CLI_EXIT_OK; j++) {
            if (v[j] == NULL) {
                fprintf(stderr, "NOT_FOUND: article %llu\n",
                        (unsigned long long)ids[i + j]);
                missing++;
                continue;
            }
            rc = print_one(g, arr, v[j], &printed);
        }
        as_articles_free(v, n);
        v = NULL;
    }
    if (rc == CLI_EXIT_OK && arr != NULL) {
        rc = cli_print_json(arr);
        arr = NULL;
    }
    if (rc == CLI_EXIT_OK && missing > 0)
        rc = CLI_EXIT_ERROR;

out_free:
    json_decref(arr);
    as_client_close(client);
    free(urls);
    free(ids);
    return rc;
}

const cli_cmd_t cli_cmd_get = {
    .name = "get",
    .summary = "print articles, by id or by URL",
    .run = run_get,
    .help =
        "EXAMPLES\n"
        "  artstore get 42\n"
        "  artstore get 42 43 44 -o jsonl\n"
        "  artstore get --url https://example.com/a\n"
        "  artstore get 42 -o json | jq -r .title\n"
        "  artstore get 42 --no-body\n"
        "\n"
        "USAGE\n"
        "  artstore get ID... | --url URL... [flags]\n"
        "\n"
        "  Prints articles, like redis-cli's MGET: every ID and --url given,\n"
        "  in that order (URLs first). Text output is a header block (Id:,\n"
        "  Url:, Title:, Source:, Authors:, Published:, Ingested:, Tags:,\n"
        "  Meta:, Revision:), a blank line and the body; articles are\n"
        "  separated by a blank line. JSON output is one object per article\n"
        "  with the fields id, url, title, body, source, authors,\n"
        "  published_at, ingested_at, tags, meta, revision and content_hash;\n"
        "  times are RFC 3339 UTC and absent fields are left out. -o json\n"
        "  prints the object for one article and an array for several; -o\n"
        "  jsonl one object per line. An article that does not exist is\n"
        "  reported on stderr (NOT_FOUND: article 42), the others are\n"
        "  printed, and the exit status is 1.\n"
        "\n"
        "FLAGS\n"
        "      --url URL   fetch the article with this URL (repeatable)\n"
        "      --no-body   leave the body out\n",
};

/* ------------------------------------------------------------ delete */

enum { DEL_EXPECT = CLI_OPT_FIRST };

static const struct option delete_opts[] = {
    { "expect-revision", required_argument, NULL, DEL_EXPECT },
    { "verbose", no_argument, NULL, 'v' },
    { NULL, 0, NULL, 0 },
};

static int run_delete(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_delete;
    uint64_t id, expected = AS_REV_ANY, revision = 0;
    as_client_t *client;
    int c, rc, drc, i, verbose = 0, failed = 0;

    while ((c = cli_getopt(g, cmd, argc, argv, "v", delete_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case 'v': verbose = 1; break;
        case DEL_EXPECT:
            if (cli_parse_u64(optarg, &expected) != 0 || expected == AS_REV_ANY)
                return cli_usage_error(cmd, "invalid --expect-revision '%s'",
                                       optarg);
            break;
        default: return cli_getopt_exit(c);
        }
    }
    if (argc - optind < 1)
        return cli_usage_error(cmd, "missing ID");
    if (argc - optind > 1 && expected != AS_REV_ANY)
        return cli_usage_error(cmd, "--expect-revision goes with one ID");
    for (i = optind; i < argc; i++)
        if (cli_parse_u64(argv[i], &id) != 0 || id == 0)
            return cli_usage_error(cmd, "invalid ID '%s' (a positive number)",
                                   argv[i]);
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                           CLI_FMT_JSONL,
                               CLI_OUTPUT_TEXT)) != 0)
        return rc;
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    /* Like redis-cli's DEL: every id is tried; one that fails is reported
     * and the others are deleted all the same. */
    for (i = optind; i < argc && rc == CLI_EXIT_OK; i++) {
        cli_parse_u64(argv[i], &id);
        if ((drc = as_delete(client, id, expected, &revision)) != AS_OK) {
            if (drc == AS_EUNAVAILABLE)
                rc = cli_call_error(client, drc);
            else
                failed = cli_call_error(client, drc);
        } else if (verbose && g->output != CLI_OUTPUT_TEXT) {
            rc = cli_print_json_as(g, json_pack("{sIsI}", "id",
                                                (json_int_t)id, "revision",
                                                (json_int_t)revision));
        } else if (verbose) {
            printf("deleted %llu at revision %llu\n", (unsigned long long)id,
                   (unsigned long long)revision);
        }
    }
    as_client_close(client);
    return rc != CLI_EXIT_OK ? rc : failed;
}

const cli_cmd_t cli_cmd_delete = {
    .name = "delete",
    .summary = "delete articles by id; silent on success",
    .run = run_delete,
    .help =
        "EXAMPLES\n"
        "  artstore delete 42\n"
        "  artstore delete 42 --expect-revision 17\n"
        "  artstore delete -v 42\n"
        "  artstore delete 42 43 44\n"
        "\n"
        "USAGE\n"
        "  artstore delete ID... [flags]\n"
        "\n"
        "  Deletes articles; prints nothing on success, like rm. Every ID\n"
        "  is tried: one that fails (NOT_FOUND, ...) is reported on stderr,\n"
        "  the others are deleted, and the exit status is 1.\n"
        "\n"
        "FLAGS\n"
        "      --expect-revision N  only if the article's revision is N\n"
        "                           (FAILED_PRECONDITION otherwise); one ID\n"
        "  -v, --verbose            print the id and the revision of the\n"
        "                           delete (an object with -o json)\n",
};
