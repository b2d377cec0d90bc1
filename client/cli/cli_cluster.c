/*
 * cli_cluster.c - `artstore cluster status`: every member of a replicated
 * cluster, as each answers for itself.
 */
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

static int run_cluster(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_cluster;
    int c;

    while ((c = cli_getopt(g, cmd, argc, argv, "", NULL)) != CLI_GETOPT_END)
        return cli_getopt_exit(c);
    if (optind >= argc)
        return cli_usage_error(cmd, "missing subcommand (status)");
    if (strcmp(argv[optind], "status") == 0)
        return run_status(g, argc, argv, cmd);
    return cli_usage_error(cmd, "unknown subcommand '%s' (status)",
                           argv[optind]);
}

const cli_cmd_t cli_cmd_cluster = {
    .name = "cluster",
    .summary = "show the members of a replicated cluster",
    .run = run_cluster,
    .help =
        "EXAMPLES\n"
        "  artstore cluster status\n"
        "  artstore --server tcp://10.0.0.1:7400,tcp://10.0.0.2:7400 "
        "cluster status -o json\n"
        "\n"
        "USAGE\n"
        "  artstore cluster status [flags]\n"
        "\n"
        "  Lists every member of the cluster the server belongs to: its id,\n"
        "  Raft address, client endpoint, role (leader, follower,\n"
        "  candidate, non-voter, or unreachable when it does not answer\n"
        "  within a second), the last log index it applied and its lag\n"
        "  behind the leader's commit index, then the leader's id. Each\n"
        "  member is asked for itself at the client endpoint it announced;\n"
        "  a member that never led may not have announced one yet (\"-\").\n"
        "  Fails with FAILED_PRECONDITION on a server that is not a\n"
        "  cluster member.\n",
};
