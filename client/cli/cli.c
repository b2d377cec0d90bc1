/*
 * cli.c - the artstore command: global flags and ARTSTORE_* variables, the
 * subcommand table, flag parsing shared by the subcommands, and help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_SERVER "tcp://127.0.0.1:7400"

/* The subcommands, in the order `artstore --help` lists them. */
static const cli_cmd_t *const commands[] = {
    &cli_cmd_put,
    &cli_cmd_get,
    &cli_cmd_delete,
    &cli_cmd_query,
    &cli_cmd_tags,
    &cli_cmd_ping,
    &cli_cmd_stats,
    &cli_cmd_import,
    &cli_cmd_export,
    &cli_cmd_watch,
    &cli_cmd_stories,
    &cli_cmd_story,
    &cli_cmd_backup,
    &cli_cmd_cluster,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* ------------------------------------------------------------ help */

static const char main_help[] =
    "EXAMPLES\n"
    "  artstore ping\n"
    "  printf 'Title\\n\\nBody\\n' | artstore put --url https://x.org/a --tag news\n"
    "  artstore get 42\n"
    "  artstore get --url https://example.com/a -o json\n"
    "  artstore delete 42 --expect-revision 17\n"
    "  artstore --server tcp://10.0.0.5:7400 stats -o json\n"
    "  ARTSTORE_SERVER=ipc:///run/artstore/rpc artstore ping\n"
    "\n"
    "USAGE\n"
    "  artstore [global flags] COMMAND [flags] [arguments]\n"
    "\n"
    "  The command-line client of artstored, the article store.\n"
    "\n"
    "COMMANDS\n";

static const char global_flags_help[] =
    "GLOBAL FLAGS (before or after the command)\n"
    "  -s, --server ENDPOINT  server to talk to, tcp://HOST:PORT or ipc:///PATH\n"
    "                         [$ARTSTORE_SERVER; default " DEFAULT_SERVER "]\n"
    "      --timeout DURATION time to wait for each reply: 5000, 500ms, 5s, 1m\n"
    "                         [$ARTSTORE_TIMEOUT; default 5s]\n"
    "      --token TOKEN      auth token sent with each request; prefer the\n"
    "                         variable, flags show in ps [$ARTSTORE_TOKEN]\n"
    "      --linearizable     reads on a cluster member see every write\n"
    "                         committed before them (a round trip to the\n"
    "                         leader per read) [$ARTSTORE_LINEARIZABLE=1]\n"
    "  -o, --output FORMAT    text (or table), json, jsonl; stats also\n"
    "                         prometheus. json: JSON documents, indented on\n"
    "                         a terminal; jsonl: one compact object per\n"
    "                         line. A command refuses a format it cannot\n"
    "                         write [$ARTSTORE_OUTPUT; default text, export\n"
    "                         jsonl]\n"
    "  -h, --help             show help; `artstore COMMAND --help` for a command\n"
    "      --version          print the version and exit\n";

static const char exit_help[] =
    "EXIT STATUS\n"
    "  0  success\n"
    "  1  the server answered with an error (printed as CODE: message)\n"
    "  2  usage error: bad flags, arguments or input\n"
    "  3  the server is unavailable (no reply within the timeout)\n";

static void print_main_help(FILE *f)
{
    size_t i;

    fputs(main_help, f);
    for (i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fputc('\n', f);
    fputs(global_flags_help, f);
    fputc('\n', f);
    fputs(exit_help, f);
}

static void print_cmd_help(const cli_cmd_t *cmd)
{
    fputs(cmd->help, stdout);
    fputc('\n', stdout);
    fputs(global_flags_help, stdout);
}

/* ------------------------------------------------------------ flags */

enum {
    OPT_SERVER = CLI_OPT_GLOBAL,
    OPT_TIMEOUT,
    OPT_TOKEN,
    OPT_LINEARIZABLE,
    OPT_OUTPUT,
    OPT_HELP,
    OPT_VERSION,
};

/* The global flags; --version is only taken before the command. */
static const struct option global_longopts[] = {
    { "server", required_argument, NULL, OPT_SERVER },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "token", required_argument, NULL, OPT_TOKEN },
    { "linearizable", no_argument, NULL, OPT_LINEARIZABLE },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
};
#define N_GLOBAL (sizeof(global_longopts) / sizeof(global_longopts[0]))
#define GLOBAL_SHORTOPTS "s:o:h"

/* Maps a short global flag to its long value; other values pass. */
static int global_value(int c)
{
    switch (c) {
    case 's': return OPT_SERVER;
    case 'o': return OPT_OUTPUT;
    case 'h': return OPT_HELP;
    default: return c;
    }
}

/* Applies global flag c (a global_longopts value) with argument arg.
 * Returns 0, or CLI_GETOPT_BAD after printing a usage error. */
static int apply_global(cli_globals_t *g, const cli_cmd_t *cmd, int c,
                        const char *arg)
{
    switch (c) {
    case OPT_SERVER:
        g->server = arg;
        return 0;
    case OPT_TIMEOUT:
        if (cli_parse_timeout(arg, &g->timeout_ms) != 0) {
            cli_usage_error(cmd, "invalid --timeout '%s' (e.g. 5000, 500ms, "
                            "5s)", arg);
            return CLI_GETOPT_BAD;
        }
        g->timeout_set = 1;
        return 0;
    case OPT_TOKEN:
        g->token = arg;
        return 0;
    case OPT_LINEARIZABLE:
        g->linearizable = 1;
        return 0;
    case OPT_OUTPUT:
        if (cli_parse_output(arg, &g->output) != 0) {
            cli_usage_error(cmd, "invalid --output '%s' (text or table, "
                            "json, jsonl, prometheus)", arg);
            return CLI_GETOPT_BAD;
        }
        g->output_set = 1;
        return 0;
    default:
        cli_usage_error(cmd, "unexpected flag");
        return CLI_GETOPT_BAD;
    }
}

/* Prints the usage error for getopt's '?' or ':' result. */
static int flag_error(const cli_cmd_t *cmd, int c, char **argv)
{
    const char *flag = argv[optind - 1];
    char shortflag[3] = { '-', (char)optopt, '\0' };

    /* For an unknown or incomplete short flag inside a group, argv names
     * the group: name the flag itself. */
    if (optopt > 0 && optopt < 0x100)
        flag = shortflag;
    if (c == ':')
        cli_usage_error(cmd, "flag '%s' needs a value", flag);
    else
        cli_usage_error(cmd, "unknown flag '%s'", flag);
    return CLI_GETOPT_BAD;
}

int cli_getopt(cli_globals_t *g, const cli_cmd_t *cmd, int argc, char **argv,
               const char *shortopts, const struct option *longopts)
{
    static const cli_cmd_t *built_for;
    static struct option merged[128];
    static char shorts[128];
    size_t n = 0, i;
    int c, rc;

    if (built_for != cmd) {
        /* First call for this command: merge the tables and restart
         * getopt (optind 0 makes glibc reinitialize). */
        for (i = 0; longopts && longopts[i].name && n < 120; i++)
            merged[n++] = longopts[i];
        for (i = 0; i < N_GLOBAL; i++)
            if (global_longopts[i].val != OPT_VERSION)
                merged[n++] = global_longopts[i];
        memset(&merged[n], 0, sizeof(merged[n]));
        snprintf(shorts, sizeof(shorts), ":%s%s", shortopts ? shortopts : "",
                 GLOBAL_SHORTOPTS);
        built_for = cmd;
        optind = 0;
    }
    for (;;) {
        c = getopt_long(argc, argv, shorts, merged, NULL);
        if (c == -1)
            return CLI_GETOPT_END;
        if (c == '?' || c == ':')
            return flag_error(cmd, c, argv);
        /* A short flag the command declares is the command's. */
        if (c < 0x100 && shortopts && strchr(shortopts, c))
            return c;
        c = global_value(c);
        if (c < CLI_OPT_GLOBAL)
            return c;
        if (c == OPT_HELP) {
            print_cmd_help(cmd);
            return CLI_GETOPT_HELP;
        }
        if ((rc = apply_global(g, cmd, c, optarg)) != 0)
            return rc;
    }
}

int cli_getopt_exit(int c)
{
    return c == CLI_GETOPT_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

int cli_parse_stop(int c)
{
    return c == CLI_GETOPT_HELP ? CLI_GETOPT_HELP : cli_getopt_exit(c);
}

/* ------------------------------------------------------------ main */

/* Fills g from the ARTSTORE_* variables and the defaults. Returns 0, or
 * CLI_EXIT_USAGE after printing which variable is wrong. */
static int globals_from_env(cli_globals_t *g)
{
    const char *v;

    g->server = DEFAULT_SERVER;
    g->timeout_ms = 5000;
    g->timeout_set = 0;
    g->token = NULL;
    g->linearizable = 0;
    g->output = CLI_OUTPUT_TEXT;
    g->output_set = 0;
    if ((v = getenv("ARTSTORE_SERVER")) != NULL && *v != '\0')
        g->server = v;
    if ((v = getenv("ARTSTORE_TOKEN")) != NULL && *v != '\0')
        g->token = v;
    if ((v = getenv("ARTSTORE_LINEARIZABLE")) != NULL && *v != '\0') {
        if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
            return cli_usage_error(NULL, "invalid ARTSTORE_LINEARIZABLE '%s' "
                                   "(1 or 0)", v);
        g->linearizable = v[0] == '1';
    }
    if ((v = getenv("ARTSTORE_TIMEOUT")) != NULL && *v != '\0' &&
        cli_parse_timeout(v, &g->timeout_ms) != 0)
        return cli_usage_error(NULL, "invalid ARTSTORE_TIMEOUT '%s' (e.g. "
                               "5000, 500ms, 5s)", v);
    if (v != NULL && *v != '\0')
        g->timeout_set = 1;
    if ((v = getenv("ARTSTORE_OUTPUT")) != NULL && *v != '\0') {
        if (cli_parse_output(v, &g->output) != 0)
            return cli_usage_error(NULL, "invalid ARTSTORE_OUTPUT '%s' (text "
                                   "or table, json, jsonl, prometheus)", v);
        g->output_set = 1;
    }
    return 0;
}

static const cli_cmd_t *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* `artstore help [COMMAND]`. */
static int run_help(int argc, char **argv)
{
    const cli_cmd_t *cmd;

    if (argc < 2) {
        print_main_help(stdout);
        return CLI_EXIT_OK;
    }
    if ((cmd = find_command(argv[1])) == NULL)
        return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    print_cmd_help(cmd);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    cli_globals_t g;
    const cli_cmd_t *cmd;
    int c, rc;

    if ((rc = globals_from_env(&g)) != 0)
        return rc;
    opterr = 0;
    /* '+': stop at the command name; what follows is the command's. */
    while ((c = getopt_long(argc, argv, "+:" GLOBAL_SHORTOPTS,
                            global_longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return cli_getopt_exit(flag_error(NULL, c, argv));
        c = global_value(c);
        if (c == OPT_HELP) {
            print_main_help(stdout);
            return CLI_EXIT_OK;
        }
        if (c == OPT_VERSION) {
            printf("artstore %s\n", as_version());
            return CLI_EXIT_OK;
        }
        if (apply_global(&g, NULL, c, optarg) != 0)
            return CLI_EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage_error(NULL, "missing command (one of put, get, "
                               "delete, ping, stats, ...)");
    if (strcmp(argv[optind], "help") == 0)
        return run_help(argc - optind, argv + optind);
    if ((cmd = find_command(argv[optind])) == NULL)
        return cli_usage_error(NULL, "unknown command '%s'", argv[optind]);
    rc = cmd->run(&g, argc - optind, argv + optind);
    if (rc == CLI_GETOPT_HELP)    /* its parser stopped after --help */
        rc = CLI_EXIT_OK;
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "artstore: cannot write the output\n");
        rc = CLI_EXIT_ERROR;
    }
    return rc;
}
