/*
 * config.h - artstored's options: one table that gives every option its
 * flag, its default and its help line, so that flags, defaults and --help
 * can never disagree.
 */
#ifndef AS_CONFIG_H
#define AS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "limit.h"

/*
 * The changelog's default retention: the newest million change events.
 * An event holds no body (url, title, tags, source: a few hundred bytes),
 * so the changelog of a default install stays within a few hundred MB
 * however often its articles are rewritten, while a watcher that was away
 * for a million changes can still catch up. No age limit by default: a
 * quiet store keeps its whole recent history. Like MongoDB's capped oplog,
 * rather than Kafka's 7 days (which bounds time, not size).
 */
#define AS_DEFAULT_RETAIN_CHANGES 1000000
#define AS_STR_(x) #x
#define AS_STR(x) AS_STR_(x)

typedef struct as_config {
    char *data_dir;
    char *listen;
    char *feed;              /* "" : derived from listen */
    size_t workers;
    size_t max_long_calls;   /* 0: workers - 1 (at least 1) */
    size_t recv_stall_ms;    /* drop a TCP request half-sent this long
                                (0: never; stall.h) */
    size_t map_size;
    size_t map_max;
    size_t max_queue;
    size_t writer_batch;     /* items per commit */
    char *sync;              /* "full" or "periodic" */
    size_t commit_interval_ms;   /* LMDB commits behind the log */
    size_t overlay_max;      /* bytes of acknowledged, uncommitted writes */
    size_t max_readers;
    size_t compress_level;   /* zstd level for stored articles; 0: off */
    char *log_level;
    as_limits_t limits;
    size_t retain_changes;   /* 0: no count limit */
    size_t retain_hours;     /* 0: no age limit */
    size_t check;            /* --check: verify the store and exit */
    char *stories;           /* "on" or "off" */
    size_t rebuild_stories;  /* --rebuild-stories: rebuild and exit */
    size_t story_threshold;  /* near-duplicate threshold, percent */
    size_t story_window_hours;
    size_t story_join_terms;
    char *auth_token_file;   /* "" : no authentication */
    size_t node_id;          /* cluster: 0 = not a cluster member */
    char *raft;              /* cluster: this node's HOST:PORT, "" none */
    char *cluster;           /* cluster: bootstrap voters, "" none */
    size_t raft_election_ms;
    size_t raft_snapshot_threshold;
    size_t raft_snapshot_trailing;
    char *http;              /* "" : no HTTP listener; else HOST:PORT */
    char *ws_listen;         /* "" : ws://HOST:(http port + 1) with --http */
    char *ws_feed;           /* "" : ws://HOST:(http port + 2) with --http */
} as_config_t;

/* Fills c with every option's default. Strings point into static storage
 * or are strdup'ed by as_config_parse_args; see as_config_free. */
void as_config_defaults(as_config_t *c);

/*
 * Parses argv into c: defaults first, then the file of --config FILE if
 * given (anywhere in argv), then every other flag, so flags override the
 * file. Returns 0 to run, 1 when --help or --version was printed (exit 0),
 * or 2 on a usage or config file error (message on stderr, exit 2).
 */
int as_config_parse_args(as_config_t *c, int argc, char **argv);

/*
 * Reads an INI config file into c (over what c holds): every key is an
 * option's long name ("data = /var/lib/artstore", "max-body-bytes = 1M"),
 * at the top or in a [server] or [limits] section (sections are only for
 * the reader; any option may go in either). Returns 0, or -1 with a
 * message "FILE:LINE: ..." in err (unknown key or section, bad value,
 * syntax error) or "FILE: <strerror>" when it cannot be read. On error c
 * may hold some of the file's values; as_config_free still frees it.
 */
int as_config_load_file(as_config_t *c, const char *path, char *err,
                        size_t errlen);

/* Prints the usage text, every option with its default, to f. */
void as_config_usage(FILE *f);

/* Frees the strings the parser allocated. */
void as_config_free(as_config_t *c);

/* Parses a size with an optional K, M, G or T suffix (powers of 1024).
 * Returns 0 or -1. */
int as_parse_size(const char *s, size_t *out);

#endif
