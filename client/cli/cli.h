/*
 * cli.h - what the artstore subcommands share: the command table entry,
 * global options, exit codes, flag parsing, and helpers for output
 * formats, times, numbers, client creation and error reporting.
 *
 * Adding a subcommand: write cli_<topic>.c defining a `const cli_cmd_t`
 * (name, summary, help text starting with EXAMPLES, run function), declare
 * it at the end of this header, add it to the table in cli.c and the file
 * to client/CMakeLists.txt.
 */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "artstore.h"

/* Exit statuses; documented in `artstore --help`. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,        /* the server answered with an error */
    CLI_EXIT_USAGE = 2,        /* bad flags, arguments or input */
    CLI_EXIT_UNAVAILABLE = 3,  /* no reply from the server */
};

/*
 * Output formats. One meaning everywhere: text (also "table") is for
 * people; json is JSON documents (one per result; indented on a
 * terminal); jsonl is exactly one compact JSON object per line; prometheus
 * is the text exposition format (stats only). A command that cannot write
 * the format asked for refuses it, naming those it can.
 */
typedef enum cli_output {
    CLI_OUTPUT_TEXT,
    CLI_OUTPUT_JSON,
    CLI_OUTPUT_JSONL,
    CLI_OUTPUT_PROMETHEUS,
} cli_output_t;

/* Bits for cli_output_check's accepted formats. */
#define CLI_FMT_TEXT (1u << CLI_OUTPUT_TEXT)
#define CLI_FMT_JSON (1u << CLI_OUTPUT_JSON)
#define CLI_FMT_JSONL (1u << CLI_OUTPUT_JSONL)
#define CLI_FMT_PROMETHEUS (1u << CLI_OUTPUT_PROMETHEUS)

/* Options every subcommand accepts, from ARTSTORE_* variables and flags. */
typedef struct cli_globals {
    const char *server;        /* --server, ARTSTORE_SERVER */
    int timeout_ms;            /* --timeout, ARTSTORE_TIMEOUT */
    int timeout_set;           /* timeout was given (flag or variable) */
    const char *token;         /* --token, ARTSTORE_TOKEN */
    int linearizable;          /* --linearizable, ARTSTORE_LINEARIZABLE */
    cli_output_t output;       /* -o/--output, ARTSTORE_OUTPUT */
    int output_set;            /* output was given (flag or variable) */
} cli_globals_t;

typedef struct cli_cmd {
    const char *name;
    const char *summary;       /* one line for the command list */
    const char *help;          /* `artstore NAME --help`: usage, EXAMPLES,
                                  FLAGS (global flags are appended) */
    /* Runs the command; argv[0] is its name. Returns an exit status, or
     * CLI_GETOPT_HELP when it stopped after --help (exit 0). */
    int (*run)(cli_globals_t *g, int argc, char **argv);
} cli_cmd_t;

/* ------------------------------------------------------------ flags */

/* Values of long-only command flags start here; global flags use values
 * from CLI_OPT_GLOBAL up, so a command's table never collides with them. */
#define CLI_OPT_FIRST 0x100
#define CLI_OPT_GLOBAL 0x1000

/* What cli_getopt returns besides a command flag's value. */
#define CLI_GETOPT_END (-1)    /* no more flags; operands from optind */
#define CLI_GETOPT_HELP (-2)   /* --help was printed: exit 0 */
#define CLI_GETOPT_BAD (-3)    /* a usage error was printed: exit 2 */

/*
 * Returns the next flag of command cmd: its own (shortopts, longopts
 * terminated by a zero entry) or a global one, which it applies to g
 * itself and skips. Flags and operands may be mixed; the operands are
 * argv[optind..argc) once it returns CLI_GETOPT_END. Prints the help or
 * a usage error itself (see CLI_GETOPT_*).
 */
int cli_getopt(cli_globals_t *g, const cli_cmd_t *cmd, int argc, char **argv,
               const char *shortopts, const struct option *longopts);

/* Maps CLI_GETOPT_HELP/BAD (or any unexpected flag value) to the exit
 * status the command should return. */
int cli_getopt_exit(int c);

/* The same for an argument parser whose CLI_EXIT_OK means "go on": after
 * --help it returns CLI_GETOPT_HELP, so that the command stops there
 * instead of running with its defaults; a command may return it, and
 * exits 0 (main maps it). Anything else is cli_getopt_exit(c). */
int cli_parse_stop(int c);

/* Prints "artstore CMD: <message>" and the --help hint on stderr; returns
 * CLI_EXIT_USAGE. cmd may be NULL for errors before the subcommand. */
int cli_usage_error(const cli_cmd_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ values */

/* Parses "text" (or "table"), "json", "jsonl" or "prometheus". Returns 0
 * or -1. */
int cli_parse_output(const char *s, cli_output_t *out);

/* Returns the name of an output format ("text", "json", ...). */
const char *cli_output_name(cli_output_t o);

/*
 * Settles the output format of cmd: the one given with -o (before or
 * after the command) or ARTSTORE_OUTPUT, else dflt. A given format
 * outside accepted (CLI_FMT_* bits) is a usage error naming the formats
 * cmd writes. Returns 0 with g->output set, or CLI_EXIT_USAGE (printed).
 */
int cli_output_check(cli_globals_t *g, const cli_cmd_t *cmd,
                     unsigned accepted, cli_output_t dflt);

/* Parses a timeout: milliseconds ("500"), or with a unit ("500ms", "5s",
 * "1m"). Returns 0 and a positive *ms, or -1. */
int cli_parse_timeout(const char *s, int *ms);

/* Parses a decimal unsigned 64-bit number (digits only). Returns 0 or -1. */
int cli_parse_u64(const char *s, uint64_t *out);

/*
 * Parses a time into Unix seconds: RFC 3339 ("2024-06-18T09:30:00Z",
 * "2024-06-18T11:30:00.250+02:00"; fractions are dropped), Unix seconds
 * ("1718703000", "-86400"), or relative to now: "now", a count with a unit
 * s, m, h, d or w, that long ago ("24h", "-24h", "7d") or with + that far
 * ahead ("+1h"). Returns 0, or -1 with a reason in err.
 */
int cli_time_parse(const char *s, int64_t *out, char *err, size_t errlen);

/* Formats Unix seconds as RFC 3339 UTC ("2024-06-18T09:30:00Z") into buf
 * (at least 21 bytes). Returns 0, or -1 when the year is outside
 * 0000-9999, which RFC 3339 cannot write. */
int cli_time_format(int64_t t, char *buf, size_t len);

/* Formats Unix milliseconds as RFC 3339 UTC with milliseconds
 * ("2024-06-18T09:30:00.250Z") into buf (at least 25 bytes). Returns as
 * cli_time_format. */
int cli_time_format_ms(int64_t ms, char *buf, size_t len);

/* Returns a JSON value for Unix seconds t: an RFC 3339 string, or the
 * number when RFC 3339 cannot write its year. NULL when out of memory. */
json_t *cli_time_json(int64_t t);

/* As cli_time_json for Unix milliseconds. */
json_t *cli_time_ms_json(int64_t ms);

/* Returns a page cursor (opaque bytes) as printable text, base64url
 * without padding (free()), or NULL when out of memory. */
char *cli_cursor_encode(const uint8_t *p, size_t n);

/* Parses a cursor printed by cli_cursor_encode into *out (free()) of
 * *len bytes. Returns 0 or -1 (not a cursor). */
int cli_cursor_decode(const char *s, uint8_t **out, size_t *len);

/* ------------------------------------------------------------ server */

/* Creates a client for g (server, timeout, token). Returns
 * CLI_EXIT_OK with *out set, or prints why not and returns the exit
 * status. */
int cli_connect(const cli_globals_t *g, const cli_cmd_t *cmd,
                as_client_t **out);

/* Prints a failed call as "CODE_NAME: message" on stderr and returns its
 * exit status: CLI_EXIT_UNAVAILABLE for AS_EUNAVAILABLE, else
 * CLI_EXIT_ERROR. */
int cli_call_error(as_client_t *c, int rc);

/* Returns whether stdout is a terminal (pretty output, hints). */
int cli_stdout_is_tty(void);

/* Prints a jansson value on stdout followed by a newline: indented on a
 * terminal, one line otherwise. Consumes v. Returns CLI_EXIT_OK, or
 * CLI_EXIT_ERROR if it could not be written. */
int cli_print_json(json_t *v);

/* Prints v as one compact line (JSON Lines), whatever stdout is.
 * Consumes v. Returns as cli_print_json. */
int cli_print_json_line(json_t *v);

/* Prints v as the output format g->output asks: json (cli_print_json) or
 * jsonl (cli_print_json_line). Consumes v. */
int cli_print_json_as(const cli_globals_t *g, json_t *v);

/* ------------------------------------------------------------ text */

/* Reads all of f into a new NUL-terminated buffer (*out, free()) of *len
 * bytes. Returns 0, or -1 with errno set. */
int cli_read_all(FILE *f, char **out, size_t *len);

/*
 * Splits text (modified in place) into a title, its first non-blank line
 * trimmed, and a body, the rest after that line without its leading blank
 * lines. Either may come back NULL (no such line, nothing after it); both
 * point into text.
 */
void cli_text_split(char *text, char **title, char **body);
/* Returns the display width of UTF-8 text s in terminal columns (wide
 * East Asian characters count 2, combining marks 0). */
size_t cli_text_width(const char *s);

/*
 * Appends s to the NUL-terminated out (cap bytes in all) as a table cell
 * exactly width columns wide: padded with spaces, or cut to width - 1
 * columns followed by "~" when wider. A cut never falls inside a
 * character; control characters are shown as spaces.
 */
void cli_text_cell(char *out, size_t cap, const char *s, int width);

/* Appends s to out (cap bytes in all) uncut, control characters shown as
 * spaces (for a table's last column). */
void cli_text_clean(char *out, size_t cap, const char *s);

/* ------------------------------------------------------------ lists */

/*
 * The filter flags query, stories and watch share, one meaning each:
 * --tag/--any/--not T (repeatable), --source S and, where a command takes
 * times, --since/--until TIME (cli_time_parse). Their values sit apart
 * from CLI_OPT_FIRST's, so a command's own flags never collide with them.
 */
#define CLI_OPT_FILTER 0x800
enum {
    CLI_OPT_TAG = CLI_OPT_FILTER,
    CLI_OPT_ANY,
    CLI_OPT_NOT,
    CLI_OPT_SOURCE,
    CLI_OPT_SINCE,
    CLI_OPT_UNTIL,
};

/* getopt_long entries for the tag and source flags, and for the times. */
#define CLI_FILTER_TAG_FLAGS                               \
    { "tag", required_argument, NULL, CLI_OPT_TAG },       \
    { "any", required_argument, NULL, CLI_OPT_ANY },       \
    { "not", required_argument, NULL, CLI_OPT_NOT },       \
    { "source", required_argument, NULL, CLI_OPT_SOURCE }
#define CLI_FILTER_TIME_FLAGS                              \
    { "since", required_argument, NULL, CLI_OPT_SINCE },   \
    { "until", required_argument, NULL, CLI_OPT_UNTIL }

/* What the filter flags said; the tags and source point into argv. */
typedef struct cli_filter {
    const char **all_of, **any_of, **none_of;
    size_t n_all_of, n_any_of, n_none_of;
    const char *source;
    int has_since, has_until;
    int64_t since, until;        /* Unix seconds */
} cli_filter_t;

/* Prepares f for a command line of argc words (no list can be longer).
 * Returns 0, or -1 when out of memory. Free with cli_filter_free. */
int cli_filter_init(cli_filter_t *f, int argc);

/* Frees f's lists (not the strings: they are argv's). */
void cli_filter_free(cli_filter_t *f);

/*
 * Takes filter flag c (a CLI_OPT_* value from cli_getopt) with its value
 * arg into f. Returns CLI_EXIT_OK, CLI_EXIT_USAGE for a time it cannot
 * parse (printed, naming the flag), or -1 when c is not a filter flag.
 */
int cli_filter_flag(const cli_cmd_t *cmd, cli_filter_t *f, int c,
                    const char *arg);

/* Copies f's tag lists and source into spec, which may be any of
 * as_query_spec_t, as_stories_spec_t and as_watch_opts_t (their filter
 * fields have the same names); f must outlive spec. */
#define CLI_FILTER_TAGS_TO(f, spec)                                    \
    do {                                                               \
        (spec)->all_of = (f)->all_of;                                  \
        (spec)->n_all_of = (f)->n_all_of;                              \
        (spec)->any_of = (f)->any_of;                                  \
        (spec)->n_any_of = (f)->n_any_of;                              \
        (spec)->none_of = (f)->none_of;                                \
        (spec)->n_none_of = (f)->n_none_of;                            \
        (spec)->source = (f)->source;                                  \
    } while (0)

/* As CLI_FILTER_TAGS_TO, with the times too (as_query_spec_t,
 * as_stories_spec_t). */
#define CLI_FILTER_TO(f, spec)                                         \
    do {                                                               \
        CLI_FILTER_TAGS_TO(f, spec);                                   \
        (spec)->has_since = (f)->has_since;                            \
        (spec)->since = (f)->since;                                    \
        (spec)->has_until = (f)->has_until;                            \
        (spec)->until = (f)->until;                                    \
    } while (0)

/*
 * The output of a listing command (query, tags, stories) walked page by
 * page: a table the command prints row by row (CLI_OUTPUT_TEXT), one JSON
 * array of every item (CLI_OUTPUT_JSON, printed by cli_list_end), or one
 * object per line as the items come (CLI_OUTPUT_JSONL); and --limit.
 */
typedef struct cli_list {
    const cli_cmd_t *cmd;
    cli_output_t fmt;
    json_t *items;               /* json: the items so far */
    uint64_t limit;              /* at most this many items; 0: all */
    uint64_t count;              /* items so far */
} cli_list_t;

/* Starts a list of cmd in g's output format (settled beforehand by
 * cli_output_check). Returns CLI_EXIT_OK, or CLI_EXIT_ERROR when out of
 * memory (printed). Free with cli_list_free. */
int cli_list_init(cli_list_t *l, const cli_cmd_t *cmd,
                  const cli_globals_t *g, uint64_t limit);

/* Returns how many items to ask the server for next: page, or what is
 * left of the limit when that is less. */
uint32_t cli_list_want(const cli_list_t *l, uint64_t page);

/* Adds one item of a json or jsonl list: appended, or printed on a line.
 * Consumes o (NULL: out of memory). Returns CLI_EXIT_OK or
 * CLI_EXIT_ERROR (printed). */
int cli_list_add(cli_list_t *l, json_t *o);

/* Counts the n items of a page and returns whether to ask for the next:
 * there is one (cursor not NULL) and the limit is not reached. */
int cli_list_more(cli_list_t *l, size_t n, const void *cursor);

/* Takes the json list's array (NULL for other formats): the caller owns
 * it and prints it, or wraps it in an object first. */
json_t *cli_list_take(cli_list_t *l);

/* Frees what l holds; l may be NULL. */
void cli_list_free(cli_list_t *l);

/* Prints "artstore CMD: out of memory" on stderr; returns CLI_EXIT_ERROR. */
int cli_oom(const cli_cmd_t *cmd);

/* Returns a JSON array of the strings v[0..n), or NULL when out of
 * memory. */
json_t *cli_strv_json(char *const *v, size_t n);

/*
 * Prints one table row on stdout: cells[0..n) each cut or padded to
 * widths[i] columns (cli_text_cell; a NULL cell shows as "-"), separated
 * by one space, then last uncut on the same line (cli_text_clean; NULL
 * shows nothing). One function for every table, so columns line up by
 * display width everywhere.
 */
void cli_table_row(const char *const *cells, const int *widths, size_t n,
                   const char *last);

/* ------------------------------------------------------------ commands */

extern const cli_cmd_t cli_cmd_put;
extern const cli_cmd_t cli_cmd_get;
extern const cli_cmd_t cli_cmd_delete;
extern const cli_cmd_t cli_cmd_ping;
extern const cli_cmd_t cli_cmd_stats;
extern const cli_cmd_t cli_cmd_import;
extern const cli_cmd_t cli_cmd_export;
extern const cli_cmd_t cli_cmd_query;
extern const cli_cmd_t cli_cmd_tags;
extern const cli_cmd_t cli_cmd_watch;
extern const cli_cmd_t cli_cmd_backup;
extern const cli_cmd_t cli_cmd_cluster;
extern const cli_cmd_t cli_cmd_stories;
extern const cli_cmd_t cli_cmd_story;

#endif
