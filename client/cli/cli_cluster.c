/*
 * cli_cluster.c - `artstore cluster status`: every member of a replicated
 * cluster, as each answers for itself; `artstore cluster add` and
 * `artstore cluster remove`: membership changes through the leader.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct member_row {
    as_cluster_member_t m;
    int answered;               /* the member answered ClusterStatus */
    as_cluster_info_t self;     /* its own answer */
} member_row_t;

/* Asks the member at endpoint for its own status, within timeout_ms. */
static int ask_member(const char *endpoint, const cli_globals_t *g,
                      int timeout_ms, as_cluster_info_t *out)
{
    as_client_t *c;
    int rc;

    if (endpoint[0] == '\0' ||
        as_client_connect(endpoint, timeout_ms, &c) != AS_OK)
        return -1;
    if (g->token != NULL)
        as_client_set_token(c, g->token);
    rc = as_cluster_status(c, out);
    as_client_close(c);
    return rc == AS_OK ? 0 : -1;
}

static int run_status(cli_globals_t *g, int argc, char **argv,
                      const cli_cmd_t *cmd)
{
    as_client_t *client;
    as_cluster_info_t view, *leader = NULL;
    member_row_t rows[AS_CLUSTER_MAX];
    uint64_t commit;
    size_t i, n;
    int rc, each_ms = g->timeout_ms < 1000 ? g->timeout_ms : 1000;

    if (optind + 1 < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'",
                               argv[optind + 1]);
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    rc = as_cluster_status(client, &view);
    if (rc != AS_OK) {
        rc = cli_call_error(client, rc);
        as_client_close(client);
        return rc;
    }
    as_client_close(client);
    n = view.n_members;
    memset(rows, 0, sizeof(rows));
    for (i = 0; i < n; i++) {
        rows[i].m = view.members[i];
        if (view.members[i].id == view.id) {
            rows[i].answered = 1;
            rows[i].self = view;
        } else if (ask_member(view.members[i].listen, g, each_ms,
                              &rows[i].self) == 0) {
            rows[i].answered = 1;
        }
        if (rows[i].answered && strcmp(rows[i].self.role, "leader") == 0)
            leader = &rows[i].self;
    }
    commit = leader ? leader->commit_index : view.commit_index;
    if (g->output == CLI_OUTPUT_JSON) {
        json_t *arr = json_array(), *obj;

        for (i = 0; arr != NULL && i < n; i++) {
            const member_row_t *r = &rows[i];

            obj = json_pack("{sIsssssssb}", "id", (json_int_t)r->m.id,
                            "raft", r->m.raft, "listen", r->m.listen,
                            "role", r->answered ? r->self.role
                                    : r->m.listen[0] ? "unreachable"
                                                     : r->m.role,
                            "voter", r->m.voter);
            if (obj != NULL && r->answered) {
                json_object_set_new(obj, "applied_index",
                                    json_integer((json_int_t)
                                                 r->self.applied_index));
                json_object_set_new(obj, "lag", json_integer(
                    (json_int_t)(commit > r->self.applied_index
                                     ? commit - r->self.applied_index : 0)));
            }
            if (obj == NULL || json_array_append_new(arr, obj) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        obj = arr ? json_pack("{sosI}", "members", arr, "commit_index",
                              (json_int_t)commit) : NULL;
        if (obj != NULL)
            json_object_set_new(obj, "leader", leader
                                ? json_integer((json_int_t)leader->id)
                                : json_null());
        return cli_print_json(obj);
    }
    printf("%-4s %-22s %-28s %-11s %-8s %s\n", "ID", "RAFT", "LISTEN",
           "ROLE", "APPLIED", "LAG");
    for (i = 0; i < n; i++) {
        const member_row_t *r = &rows[i];

        if (r->answered)
            printf("%-4llu %-22s %-28s %-11s %-8llu %llu\n",
                   (unsigned long long)r->m.id, r->m.raft,
                   r->m.listen[0] ? r->m.listen : "-", r->self.role,
                   (unsigned long long)r->self.applied_index,
                   (unsigned long long)(commit > r->self.applied_index
                                            ? commit - r->self.applied_index
                                            : 0));
        else
            printf("%-4llu %-22s %-28s %-11s %-8s %s\n",
                   (unsigned long long)r->m.id, r->m.raft,
                   r->m.listen[0] ? r->m.listen : "-",
                   r->m.listen[0] ? "unreachable" : r->m.role, "-", "-");
    }
    if (leader != NULL)
        printf("leader: %llu\n", (unsigned long long)leader->id);
    else
        printf("leader: none\n");
    return CLI_EXIT_OK;
}

/* A new voter is caught up with the log before it is promoted. */
#define CHANGE_MIN_TIMEOUT_MS 60000

/* `cluster add ID HOST:PORT [--non-voter]`, `cluster remove ID`. */
static int run_change(cli_globals_t *g, int argc, char **argv,
                      const cli_cmd_t *cmd, int non_voter)
{
    const char *sub = argv[optind];
    int add = strcmp(sub, "add") == 0, want = add ? 3 : 2, rc;
    unsigned long long id;
    as_client_t *client;
    char *end;

    if (argc - optind < want)
        return cli_usage_error(cmd, "%s needs %s", sub,
                               add ? "ID HOST:PORT" : "ID");
    if (argc - optind > want)
        return cli_usage_error(cmd, "unexpected argument '%s'",
                               argv[optind + want]);
    if (!add && non_voter)
        return cli_usage_error(cmd, "--non-voter goes with add");
    errno = 0;
    id = strtoull(argv[optind + 1], &end, 10);
    if (errno != 0 || *end != '\0' || id == 0 || argv[optind + 1][0] == '-')
        return cli_usage_error(cmd, "invalid ID '%s' (a number above 0)",
                               argv[optind + 1]);
    if (!g->timeout_set || g->timeout_ms < CHANGE_MIN_TIMEOUT_MS)
        g->timeout_ms = g->timeout_ms > CHANGE_MIN_TIMEOUT_MS
                            ? g->timeout_ms : CHANGE_MIN_TIMEOUT_MS;
    if ((rc = cli_connect(g, cmd, &client)) != CLI_EXIT_OK)
        return rc;
    rc = add ? as_cluster_add(client, id, argv[optind + 2], non_voter)
             : as_cluster_remove(client, id);
    if (rc != AS_OK) {
        rc = cli_call_error(client, rc);
        as_client_close(client);
        return rc;
    }
    as_client_close(client);
    if (add)
        fprintf(stderr, "node %llu is a %s at %s\n", id,
                non_voter ? "non-voter" : "voter", argv[optind + 2]);
    else
        fprintf(stderr, "node %llu removed; stop it now\n", id);
    return CLI_EXIT_OK;
}

enum { CLUSTER_NON_VOTER = CLI_OPT_FIRST };

static const struct option cluster_longopts[] = {
    { "non-voter", no_argument, NULL, CLUSTER_NON_VOTER },
    { NULL, 0, NULL, 0 },
};

static int run_cluster(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_cluster;
    int c, non_voter = 0;

    while ((c = cli_getopt(g, cmd, argc, argv, "", cluster_longopts)) !=
           CLI_GETOPT_END) {
        if (c == CLUSTER_NON_VOTER)
            non_voter = 1;
        else
            return cli_getopt_exit(c);
    }
    if (optind >= argc)
        return cli_usage_error(cmd, "missing subcommand (status, add, "
                               "remove)");
    if (strcmp(argv[optind], "status") == 0) {
        if (non_voter)
            return cli_usage_error(cmd, "--non-voter goes with add");
        return run_status(g, argc, argv, cmd);
    }
    if (strcmp(argv[optind], "add") == 0 ||
        strcmp(argv[optind], "remove") == 0)
        return run_change(g, argc, argv, cmd, non_voter);
    return cli_usage_error(cmd, "unknown subcommand '%s' (status, add, "
                           "remove)", argv[optind]);
}

const cli_cmd_t cli_cmd_cluster = {
    .name = "cluster",
    .summary = "show, add or remove the members of a replicated cluster",
    .run = run_cluster,
    .help =
        "EXAMPLES\n"
        "  artstore cluster status\n"
        "  artstore --server tcp://10.0.0.1:7400,tcp://10.0.0.2:7400 "
        "cluster status -o json\n"
        "  artstore cluster add 4 10.0.0.4:7410\n"
        "  artstore cluster add 5 10.0.0.5:7410 --non-voter\n"
        "  artstore cluster remove 3\n"
        "\n"
        "USAGE\n"
        "  artstore cluster status [flags]\n"
        "  artstore cluster add ID HOST:PORT [--non-voter] [flags]\n"
        "  artstore cluster remove ID [flags]\n"
        "\n"
        "  Lists every member of the cluster the server belongs to: its id,\n"
        "  Raft address, client endpoint, role (leader, follower,\n"
        "  candidate, non-voter, or unreachable when it does not answer\n"
        "  within a second), the last log index it applied and its lag\n"
        "  behind the leader's commit index, then the leader's id. Each\n"
        "  member is asked for itself at the client endpoint it announced;\n"
        "  a member that never led may not have announced one yet (\"-\").\n"
        "  Fails with FAILED_PRECONDITION on a server that is not a\n"
        "  cluster member.\n"
        "\n"
        "  add makes node ID, at Raft address HOST:PORT, a member: start\n"
        "  it first with --node-id ID --raft HOST:PORT and no --cluster.\n"
        "  A voter is caught up with the log before it counts for the\n"
        "  majority; with --non-voter it follows the log without voting\n"
        "  (a read replica that does not slow writes). add on a member\n"
        "  already there changes its role. remove takes node ID out;\n"
        "  stop it afterwards. Both go through the leader and wait for the\n"
        "  change to commit (at least 60 s of timeout). A write token is\n"
        "  needed when the server wants tokens.\n"
        "\n"
        "FLAGS\n"
        "      --non-voter        add: a member that does not vote\n",
};
