/*
 * config.c - artstored's options, from flags and from an INI file.
 *
 * The file is parsed with inih (Debian's libinih): it is small, well kept
 * and handles the INI details (comments, sections, whitespace, line
 * numbers for errors) that a hand-written parser would get subtly wrong.
 * Keys are the option names of the one table below, so a file can set
 * exactly what the flags can, with the same value syntax.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "as_version.h"

enum opt_type { OPT_STR, OPT_SIZE, OPT_COUNT, OPT_FLAG };

typedef struct option_def {
    const char *name;
    enum opt_type type;
    size_t offset;
    const char *def;           /* NULL for a limit: its default is set once,
                                  in limit.h's AS_LIMITS_DEFAULT */
    const char *help;
} option_def_t;

#define CFG(field) offsetof(as_config_t, field)
#define LIM(field) (offsetof(as_config_t, limits) + offsetof(as_limits_t, field))

static const option_def_t options[] = {
    { "data", OPT_STR, CFG(data_dir), "./artstore-data",
      "data directory (created if missing)" },
    { "listen", OPT_STR, CFG(listen), "tcp://127.0.0.1:7400",
      "request endpoint: tcp://HOST:PORT or ipc:///PATH" },
    { "feed", OPT_STR, CFG(feed), "",
      "change feed endpoint (default: listen port + 1, or PATH.feed for ipc)" },
    { "workers", OPT_COUNT, CFG(workers), "4",
      "request worker threads" },
    { "map-size", OPT_SIZE, CFG(map_size), "1G",
      "initial LMDB map size; the map grows when full" },
    { "map-max", OPT_SIZE, CFG(map_max), "0",
      "largest map size the store may grow to (0: no limit)" },
    { "max-queue", OPT_COUNT, CFG(max_queue), "10000",
      "write requests waiting for the writer" },
    { "writer-batch", OPT_COUNT, CFG(writer_batch), "1024",
      "most articles committed in one transaction" },
    { "sync", OPT_STR, CFG(sync), "full",
      "full: every write is flushed before it is acknowledged; "
      "periodic: flushed once a second (a power cut may lose the last "
      "second; a killed server loses nothing)" },
    { "commit-interval", OPT_COUNT, CFG(commit_interval_ms), "100",
      "milliseconds between LMDB commits; writes are acknowledged once "
      "in the write-ahead log (one node) or applied from the Raft log (a "
      "cluster member), which a restart replays after the last commit" },
    { "overlay-max", OPT_SIZE, CFG(overlay_max), "64M",
      "acknowledged writes held in memory until LMDB commits them; at "
      "this size writers wait for the next commit" },
    { "max-readers", OPT_COUNT, CFG(max_readers), "256",
      "LMDB reader slots" },
    { "compress-level", OPT_COUNT, CFG(compress_level), "1",
      "zstd level (1-19) for articles as they are written; 0 stores them "
      "uncompressed (articles already stored are read either way)" },
    { "log-level", OPT_STR, CFG(log_level), "info",
      "debug, info, warn or error" },
    { "max-message-bytes", OPT_SIZE, LIM(max_message_bytes), NULL,
      "largest request on the wire" },
    { "max-decode-bytes", OPT_SIZE, LIM(max_decode_bytes), NULL,
      "memory one request may decode into" },
    { "max-body-bytes", OPT_SIZE, LIM(max_body_bytes), NULL,
      "largest article body" },
    { "max-title-bytes", OPT_SIZE, LIM(max_title_bytes), NULL,
      "largest title" },
    { "max-url-bytes", OPT_SIZE, LIM(max_url_bytes), NULL,
      "longest URL" },
    { "max-source-bytes", OPT_SIZE, LIM(max_source_bytes), NULL,
      "longest source" },
    { "max-tag-bytes", OPT_SIZE, LIM(max_tag_bytes), NULL,
      "longest tag after normalization (at most 503: a tag is an LMDB key)" },
    { "max-tags", OPT_COUNT, LIM(max_tags), NULL,
      "tags per article" },
    { "max-authors", OPT_COUNT, LIM(max_authors), NULL,
      "authors per article" },
    { "max-author-bytes", OPT_SIZE, LIM(max_author_bytes), NULL,
      "longest author name" },
    { "max-meta", OPT_COUNT, LIM(max_meta), NULL,
      "meta entries per article" },
    { "max-meta-key-bytes", OPT_SIZE, LIM(max_meta_key_bytes), NULL,
      "longest meta key" },
    { "max-meta-value-bytes", OPT_SIZE, LIM(max_meta_value_bytes), NULL,
      "longest meta value" },
    { "max-batch", OPT_COUNT, LIM(max_batch), NULL,
      "articles per PutBatch, ids per Get" },
    { "max-query-tags", OPT_COUNT, LIM(max_query_tags), NULL,
      "tags in one query filter" },
    { "max-page", OPT_COUNT, LIM(max_page), NULL,
      "results per page" },
    { "retain-changes", OPT_COUNT, CFG(retain_changes),
      AS_STR(AS_DEFAULT_RETAIN_CHANGES),
      "keep the newest N change events: the changelog of a store that "
      "rewrites the same articles stays bounded (0: no count limit; in a "
      "cluster the leader's trims go through the Raft log)" },
    { "retain-hours", OPT_COUNT, CFG(retain_hours), "0",
      "drop change events older than H hours (0: no age limit)" },
    { "max-watches", OPT_COUNT, LIM(max_watches), NULL,
      "concurrent long-polling Changes calls" },
    { "query-budget-ms", OPT_COUNT, LIM(query_budget_ms), NULL,
      "time one Query or ListTags call may work (0: no bound): a query "
      "then answers the page so far with a cursor to go on" },
    { "max-long-calls", OPT_COUNT, CFG(max_long_calls), "0",
      "Query, ListTags and Backup calls running at once (0: "
      "workers - 1), so that a worker stays free for quick calls" },
    { "recv-stall-ms", OPT_COUNT, CFG(recv_stall_ms), "120000",
      "drop a connection whose request has stayed half-sent, or whose "
      "replies have stayed unread, this long (it holds up to "
      "max-message-bytes meanwhile; 0: never). On ws:// longer than any "
      "call may take: Changes waits up to 60 s" },
    { "max-reply-bytes", OPT_SIZE, LIM(max_reply_bytes), NULL,
      "largest reply: a Get over it is refused, a Query or Changes page "
      "is cut short (with a cursor to go on)" },
    { "check", OPT_FLAG, CFG(check), "0",
      "check the consistency of the store in --data offline, print a "
      "summary and exit (0: consistent, 1: problems found)" },
    { "stories", OPT_STR, CFG(stories), "on",
      "on: find near-duplicates and group articles into stories at ingest "
      "(docs/STORIES.md); off: neither" },
    { "rebuild-stories", OPT_FLAG, CFG(rebuild_stories), "0",
      "recompute every article's fingerprint and story in --data offline, "
      "logging the progress, and exit (also done at start when the story "
      "options below changed)" },
    { "story-threshold", OPT_COUNT, CFG(story_threshold), "30",
      "near-duplicate when at least this percent of the 4-word shingles "
      "are shared (estimated Jaccard similarity)" },
    { "story-window-hours", OPT_COUNT, CFG(story_window_hours), "72",
      "an article joins a story by key terms only when published within "
      "this many hours of one of its articles" },
    { "story-join-terms", OPT_COUNT, CFG(story_join_terms), "3",
      "key terms (two of them names carried by at most 50 articles of the "
      "window) shared with one article to join its story" },
    { "auth-token-file", OPT_STR, CFG(auth_token_file), "",
      "file of access tokens, one 'read TOKEN', 'write TOKEN' or "
      "'admin TOKEN' a line; "
      "when set every request needs a token (see docs/SECURITY.md)" },
    { "node-id", OPT_COUNT, CFG(node_id), "0",
      "cluster: this node's id (> 0); with --raft, runs a replicated "
      "cluster member (see docs/OPERATIONS.md)" },
    { "raft", OPT_STR, CFG(raft), "",
      "cluster: this node's Raft address HOST:PORT (numeric IPv4; the "
      "port carries no authentication: keep it on a private network)" },
    { "cluster", OPT_STR, CFG(cluster), "",
      "cluster: the initial voters ID=HOST:PORT,... used to bootstrap a "
      "new data directory, ignored afterwards (omit to join through "
      "'artstore cluster add')" },
    { "raft-election-ms", OPT_COUNT, CFG(raft_election_ms), "1000",
      "cluster: election timeout (a leader silent this long is replaced; "
      "randomized between 1x and 2x)" },
    { "raft-snapshot-threshold", OPT_COUNT, CFG(raft_snapshot_threshold),
      "4096", "cluster: log entries between Raft snapshots" },
    { "raft-snapshot-trailing", OPT_COUNT, CFG(raft_snapshot_trailing),
      "16384", "cluster: log entries kept behind a snapshot (a node "
      "further behind fetches a member's copy of the store first)" },
    { "http", OPT_STR, CFG(http), "",
      "HOST:PORT to serve the dashboard at / and Prometheus metrics at "
      "/metrics; also binds --ws-listen and --ws-feed" },
    { "metrics", OPT_STR, CFG(http), "",
      "the same as --http" },
    { "ws-listen", OPT_STR, CFG(ws_listen), "",
      "read-only request endpoint for the dashboard, ws://HOST:PORT "
      "(default: with --http, its port + 1; else none)" },
    { "ws-feed", OPT_STR, CFG(ws_feed), "",
      "the change feed on ws://HOST:PORT for the dashboard "
      "(default: with --http, its port + 2; else none)" },
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

int as_parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;
    int shift = 0;

    if (s == NULL || *s == '\0' || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    if (*end != '\0' || (shift && v > (SIZE_MAX >> shift)))
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

/* Sets one option from its text value; returns 0 or -1 (bad value). */
static int set_option(as_config_t *c, const option_def_t *o, const char *v,
                      int owned)
{
    char *base = (char *)c;

    switch (o->type) {
    case OPT_STR: {
        char **slot = (char **)(base + o->offset);
        char *copy = strdup(v);

        if (copy == NULL)
            return -1;
        if (owned)
            free(*slot);
        *slot = copy;
        return 0;
    }
    case OPT_SIZE:
        return as_parse_size(v, (size_t *)(base + o->offset));
    case OPT_FLAG:
        *(size_t *)(base + o->offset) = strcmp(v, "0") != 0;
        return 0;
    case OPT_COUNT: {
        char *end;
        unsigned long n;

        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || *v == '-')
            return -1;
        *(size_t *)(base + o->offset) = n;
        return 0;
    }
    }
    return -1;
}

/* Returns nonzero when option i is another name for an earlier option
 * (the same field): its default is that option's. */
static int is_alias(size_t i)
{
    size_t j;

    for (j = 0; j < i; j++)
        if (options[j].offset == options[i].offset)
            return 1;
    return 0;
}

void as_config_defaults(as_config_t *c)
{
    static const as_limits_t limits = AS_LIMITS_DEFAULT;
    size_t i;

    memset(c, 0, sizeof(*c));
    c->limits = limits;
    for (i = 0; i < N_OPTIONS; i++)
        if (!is_alias(i) && options[i].def != NULL &&
            set_option(c, &options[i], options[i].def, 0) != 0)
            abort(); /* a default that does not parse is a bug */
}

void as_config_free(as_config_t *c)
{
    size_t i;

    for (i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_STR && !is_alias(i)) {
            char **slot = (char **)((char *)c + options[i].offset);

            free(*slot);
            *slot = NULL;
        }
}

/* ------------------------------------------------------------ file */

typedef struct file_ctx {
    as_config_t *c;
    const char *path;
    char *err;
    size_t errlen;
    int failed;
} file_ctx_t;

/* Line numbers come from inih's return value, which names the first line
 * whose handler failed: so only the first error is recorded. */
static int on_ini_entry(void *user, const char *section, const char *name,
                        const char *value)
{
    file_ctx_t *x = user;
    size_t i;

    if (x->failed)
        return 0;
    if (section[0] != '\0' && strcasecmp(section, "server") != 0 &&
        strcasecmp(section, "limits") != 0) {
        snprintf(x->err, x->errlen, "key '%s' is in unknown section [%s] "
                 "(use [server] or [limits], or none)", name, section);
        x->failed = 1;
        return 0;
    }
    for (i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].name, name) == 0)
            break;
    if (i == N_OPTIONS) {
        snprintf(x->err, x->errlen, "unknown key '%s'%s", name,
                 strcmp(name, "config") == 0 ? " (config files do not "
                 "nest)" : "; see 'artstored --help'");
        x->failed = 1;
        return 0;
    }
    if (set_option(x->c, &options[i], value, 1) != 0) {
        snprintf(x->err, x->errlen, "invalid value '%s' for %s", value, name);
        x->failed = 1;
        return 0;
    }
    return 1;
}

int as_config_load_file(as_config_t *c, const char *path, char *err,
                        size_t errlen)
{
    char msg[512] = "syntax error (expected 'key = value' or '[section]')";
    file_ctx_t x = { c, path, msg, sizeof(msg), 0 };
    FILE *f;
    int line;

    if ((f = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    line = ini_parse_file(f, on_ini_entry, &x);
    fclose(f);
    if (line == 0)
        return 0;
    if (line < 0)
        snprintf(err, errlen, "%s: out of memory", path);
    else
        snprintf(err, errlen, "%s:%d: %s", path, line, msg);
    return -1;
}

/* Finds the value of --config in argv (--config FILE or --config=FILE),
 * before getopt runs, so that the file is read before the other flags.
 * Returns it, NULL when absent, or sets *missing when the value is. */
static const char *find_config_arg(int argc, char **argv, int *missing)
{
    const char *path = NULL;
    int i;

    *missing = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                *missing = 1;
                return NULL;
            }
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
    }
    return path;
}

/* Writes the default of option o into buf as --help shows it: its text,
 * or for a limit its value in dflt (the defaults, which took it from
 * AS_LIMITS_DEFAULT), a size with the G or M suffix that divides it
 * ("16M", "4096"). */
static void format_default(const option_def_t *o, const as_config_t *dflt,
                           char *buf, size_t len)
{
    size_t v;

    if (o->def != NULL) {
        snprintf(buf, len, "%s", o->def[0] ? o->def : "none");
        return;
    }
    v = *(const size_t *)((const char *)dflt + o->offset);
    if (o->type == OPT_SIZE && v != 0 && v % (1u << 30) == 0)
        snprintf(buf, len, "%zuG", v >> 30);
    else if (o->type == OPT_SIZE && v != 0 && v % (1u << 20) == 0)
        snprintf(buf, len, "%zuM", v >> 20);
    else
        snprintf(buf, len, "%zu", v);
}

void as_config_usage(FILE *f)
{
    as_config_t dflt;
    size_t i;

    fprintf(f,
        "Usage: artstored [OPTION]...\n"
        "Serve an artstore article store.\n\n"
        "Examples:\n"
        "  artstored                                   # ./artstore-data on tcp://127.0.0.1:7400\n"
        "  artstored --data /var/lib/artstore --listen tcp://127.0.0.1:7400\n"
        "  artstored --data /tmp/as --listen ipc:///tmp/as.sock --workers 8\n"
        "  artstored --http 127.0.0.1:8080             # dashboard at http://127.0.0.1:8080/\n"
        "  artstored --config /etc/artstore/artstored.conf --log-level debug\n\n"
        "Options (sizes take K, M, G suffixes):\n");
    as_config_defaults(&dflt);
    fprintf(f, "  %-26s %s\n", "--config=FILE",
            "read options from an INI file first (keys are the option "
            "names: 'data = /var/lib/artstore'); flags override it "
            "(default: none)");
    for (i = 0; i < N_OPTIONS; i++) {
        char flag[64], def[32];

        if (options[i].type == OPT_FLAG)
            snprintf(flag, sizeof(flag), "--%s", options[i].name);
        else
            snprintf(flag, sizeof(flag), "--%s=%s", options[i].name,
                     options[i].type == OPT_STR ? "S" : "N");
        /* A help text that explains its own default says it once. */
        if (strstr(options[i].help, "(default") != NULL)
            fprintf(f, "  %-26s %s\n", flag, options[i].help);
        else {
            format_default(&options[i], &dflt, def, sizeof(def));
            fprintf(f, "  %-26s %s (default: %s)\n", flag, options[i].help,
                    def);
        }
    }
    as_config_free(&dflt);
    fprintf(f, "  %-26s %s\n", "-h, --help", "show this help");
    fprintf(f, "  %-26s %s\n", "-V, --version", "show the version");
    fprintf(f, "\nExit status: 0 after a clean shutdown (SIGINT/SIGTERM), "
               "1 on a startup or runtime error, 2 on a usage error.\n");
}

int as_config_parse_args(as_config_t *c, int argc, char **argv)
{
    struct option longopts[N_OPTIONS + 4];
    const char *file;
    char err[1024];
    size_t i;
    int ch, idx, missing;

    as_config_defaults(c);
    file = find_config_arg(argc, argv, &missing);
    if (missing) {
        fprintf(stderr, "artstored: --config needs a FILE\n");
        return 2;
    }
    if (file != NULL && as_config_load_file(c, file, err, sizeof(err)) != 0) {
        fprintf(stderr, "artstored: %s\n", err);
        return 2;
    }
    for (i = 0; i < N_OPTIONS; i++) {
        longopts[i].name = options[i].name;
        longopts[i].has_arg = options[i].type == OPT_FLAG ? no_argument
                                                          : required_argument;
        longopts[i].flag = NULL;
        longopts[i].val = 1000 + (int)i;
    }
    longopts[N_OPTIONS] = (struct option){ "help", no_argument, NULL, 'h' };
    longopts[N_OPTIONS + 1] = (struct option){ "version", no_argument, NULL, 'V' };
    longopts[N_OPTIONS + 2] = (struct option){ "config", required_argument, NULL, 'c' };
    longopts[N_OPTIONS + 3] = (struct option){ NULL, 0, NULL, 0 };

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hV", longopts, &idx)) != -1) {
        if (ch == 'h') {
            as_config_usage(stdout);
            return 1;
        }
        if (ch == 'V') {
            printf("artstored %s\n", ARTSTORE_VERSION_STRING);
            return 1;
        }
        if (ch == 'c')
            continue; /* read above, before the other flags */
        if (ch < 1000 || ch >= 1000 + (int)N_OPTIONS) {
            fprintf(stderr, "artstored: try 'artstored --help'\n");
            return 2;
        }
        if (set_option(c, &options[ch - 1000], optarg ? optarg : "1",
                       1) != 0) {
            fprintf(stderr, "artstored: invalid value '%s' for --%s\n",
                    optarg, options[ch - 1000].name);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "artstored: unexpected argument '%s'; try "
                        "'artstored --help'\n", argv[optind]);
        return 2;
    }
    if (c->workers < 1 || c->workers > 256) {
        fprintf(stderr, "artstored: --workers must be 1..256\n");
        return 2;
    }
    if (c->recv_stall_ms != 0 && c->recv_stall_ms < 100) {
        fprintf(stderr, "artstored: --recv-stall-ms must be 0 or at least "
                        "100\n");
        return 2;
    }
    /* A tag is a key of by_tag and, after 8 bytes of count, of
     * tag_counts: LMDB keys are at most 511 bytes. */
    if (c->limits.max_tag_bytes > 503) {
        fprintf(stderr, "artstored: --max-tag-bytes must be at most 503 "
                        "(a tag is an LMDB key)\n");
        return 2;
    }
    if (c->compress_level > 19) {
        fprintf(stderr, "artstored: --compress-level must be 0..19\n");
        return 2;
    }
    if (strcmp(c->sync, "full") != 0 && strcmp(c->sync, "periodic") != 0) {
        fprintf(stderr, "artstored: --sync must be full or periodic\n");
        return 2;
    }
    if (strcmp(c->stories, "on") != 0 && strcmp(c->stories, "off") != 0) {
        fprintf(stderr, "artstored: --stories must be on or off\n");
        return 2;
    }
    if (c->story_threshold < 1 || c->story_threshold > 100) {
        fprintf(stderr, "artstored: --story-threshold must be 1..100\n");
        return 2;
    }
    return 0;
}
