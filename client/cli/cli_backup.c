/*
 * cli_backup.c - the backup subcommand: asks the server for a hot copy of
 * its store (as_backup).
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

/* A copy reads the whole store: give it far longer than a normal call. */
#define BACKUP_MIN_TIMEOUT_MS (10 * 60 * 1000)

enum { BACKUP_NO_COMPACT = CLI_OPT_FIRST };

static const struct option backup_longopts[] = {
    { "no-compact", no_argument, NULL, BACKUP_NO_COMPACT },
    { NULL, 0, NULL, 0 },
};

static int run_backup(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_backup;
    cli_globals_t lg;
    as_client_t *client;
    as_backup_info_t info;
    int c, rc, no_compact = 0;

    while ((c = cli_getopt(g, cmd, argc, argv, "", backup_longopts)) !=
           CLI_GETOPT_END) {
        if (c == BACKUP_NO_COMPACT)
            no_compact = 1;
        else
            return cli_getopt_exit(c);
    }
    if (optind >= argc)
        return cli_usage_error(cmd, "missing DIR");
    if (optind + 1 < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'",
                               argv[optind + 1]);
    if (argv[optind][0] != '/')
        return cli_usage_error(cmd, "DIR '%s' must be an absolute path (on "
                               "the server's machine)", argv[optind]);
    if ((rc = cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                           CLI_FMT_JSONL,
                               CLI_OUTPUT_TEXT)) != 0)
        return rc;
    lg = *g;
    /* A backup reads the whole store: without a timeout of the user's,
     * wait 10 minutes, not the 5 s of other calls; a given one counts. */
    if (!g->timeout_set)
        lg.timeout_ms = BACKUP_MIN_TIMEOUT_MS;
    if ((rc = cli_connect(&lg, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    rc = as_backup(client, argv[optind], no_compact, &info);
    if (rc != AS_OK) {
        rc = cli_call_error(client, rc);
    } else if (g->output != CLI_OUTPUT_TEXT) {
        rc = cli_print_json_as(g, json_pack("{sssIsI}", "path", info.path,
                                      "bytes", (json_int_t)info.bytes,
                                      "last_seq", (json_int_t)info.last_seq));
    } else {
        printf("backup %s: %" PRIu64 " bytes, last_seq=%" PRIu64 "\n",
               info.path, info.bytes, info.last_seq);
        rc = CLI_EXIT_OK;
    }
    as_client_close(client);
    return rc;
}

const cli_cmd_t cli_cmd_backup = {
    .name = "backup",
    .summary = "write a hot copy of the server's store into a directory",
    .run = run_backup,
    .help =
        "EXAMPLES\n"
        "  artstore backup /var/backups/artstore/$(date +%F)\n"
        "  artstore backup --no-compact /srv/backup/artstore-1 -o json\n"
        "\n"
        "USAGE\n"
        "  artstore backup [flags] DIR\n"
        "\n"
        "  Asks the server to write a consistent copy of its store into DIR,\n"
        "  while it keeps serving. DIR is a path on the SERVER's machine,\n"
        "  absolute, outside the server's data directory; it must not exist\n"
        "  (it is created) or be empty. The copy is compacted (free pages\n"
        "  left out) unless --no-compact. Prints the path, the size of the\n"
        "  copy and the last change seq it holds:\n"
        "    backup /srv/backup/a1: 1048576 bytes, last_seq=1234\n"
        "  To restore, stop the server and start it with --data DIR (or move\n"
        "  DIR into place as its data directory).\n"
        "  The call waits 10 minutes unless --timeout (or ARTSTORE_TIMEOUT)\n"
        "  says otherwise.\n"
        "\n"
        "FLAGS\n"
        "  --no-compact    copy the file as it is, free pages included\n",
};
