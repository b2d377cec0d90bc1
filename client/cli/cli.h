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
    cli_output_t output;       /* -o/--output, ARTSTORE_OUTPUT */
    int output_set;            /* output was given (flag or variable) */
} cli_globals_t;

typedef struct cli_cmd {
    const char *name;
    const char *summary;       /* one line for the command list */
    const char *help;          /* `artstore NAME --help`: usage, EXAMPLES,
                                  FLAGS (global flags are appended) */
    /* Runs the command; argv[0] is its name. Returns an exit status. */
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
