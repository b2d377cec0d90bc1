/*
 * cluster.c - the Raft instance of a replicated artstored, on its own
 * libuv loop thread. See cluster.h.
 */
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "apply.h"
#include "clock.h"
#include "feed.h"
#include "log.h"
#include "peer.h"
#include "snapshot.h"

/* How often the loop looks at parked writes, deadlines and its status. */
#define TICK_MS 20
/* A write without a deadline waits this long at most for a leader. */
#define DEFAULT_WAIT_MS 10000
/* The most requests, and write items, the leader merges into one entry:
 * every node applies an entry in one LMDB transaction. */
#define BATCH_MAX_OPS 256
#define BATCH_MAX_ITEMS 2048
/* How often the leader looks at retention, and the most changes one trim
 * entry deletes (one LMDB transaction on every node). */
#define TRIM_EVERY_MS 1000
#define TRIM_MAX 10000

enum { OP_WRITE = 1, OP_MEMBER = 2, OP_BARRIER = 3, OP_CHANGE = 4,
       OP_TRIM = 5 };

/* A linearizable read waiting for the leader's barrier: shared by the
 * waiting worker and the op on the loop thread, freed by whichever lets
 * go last (under the cluster's lock). */
typedef struct read_req {
    int refs;
    int done;
    int code;
    uint64_t index;              /* the read index, once done and OK */
    char msg[256];
} read_req_t;

/* A write (or announcement) on its way through the cluster thread. */
typedef struct op {
    int kind;
    as_write_job_t *job;         /* OP_WRITE; NULL once answered */
    int64_t deadline_ms;
    uint64_t seq;                /* origin seq once proposed */
    int applied;                 /* the entry was applied here */
    int self;                    /* OP_MEMBER: this node's own */
    Artstore__V1__ClusterMember member;   /* OP_MEMBER, strings below */
    char m_raft[128], m_listen[256], m_feed[256];
    struct raft_apply req;       /* the first op of an entry's requests */
    struct op *batch;            /* the next request in the same entry */
    struct raft_barrier barrier; /* OP_BARRIER */
    read_req_t *rd;              /* OP_BARRIER: the waiting read */
    as_cluster_t *cluster;       /* OP_BARRIER, OP_CHANGE */
    struct raft_change change;   /* OP_CHANGE: id, m_raft, role below */
    uint64_t ch_id;
    int ch_remove, ch_role, ch_assigning;
    uint64_t trim_upto;          /* OP_TRIM */
    struct op *next;             /* inbox, parked or pending list */
    struct op *all_next;         /* every live op, freed at stop */
    struct op **all_prev;
} op_t;

struct as_cluster {
    as_store_t *store;
    as_writer_t *writer;
    as_cluster_opts_t opts;      /* strings below are our copies */
    char *raft_addr, *bootstrap, *dir, *data_dir, *listen, *feed, *token;

    pthread_t thread;
    pthread_t announcer;
    pthread_mutex_t lock;        /* inbox, stopping, status, members */
    pthread_cond_t cond;         /* wakes the announcer to stop */
    pthread_cond_t read_cond;    /* applied_cmd moved, a barrier ended */
    uint64_t applied_cmd;        /* last write entry applied here */
    op_t *inbox_head, *inbox_tail;
    int stopping;
    as_cluster_status_t status;
    Artstore__V1__ClusterMembers *members;

    /* Cluster thread only. */
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t tick;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    as_fsm_t fsm_ctx;
    struct raft raft;
    int raft_up;                 /* raft_init done: close it */
    int closing;
    uint64_t run;
    uint64_t next_seq;
    op_t *parked;                /* waiting for a leader */
    op_t *pending;               /* proposed, waiting for apply */
    op_t *all;
    uint64_t loop_applied;       /* applied_cmd, as the loop knows it */
    int announcing;              /* a member entry is in flight */
    int trimming;                /* a trim entry is in flight */
    int64_t trim_after_ms;
    as_reader_t *trim_reader;    /* the leader's retention scans */
    int64_t announce_after_ms;
};

#define now_ms as_clock_wall_ms

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

/* ------------------------------------------------------------ options */

int as_cluster_check_address(const char *addr, as_status_t *st)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    char host[64], *end;
    struct in_addr a;
    unsigned long port;

    if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof(host))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "raft address '%.100s' is not HOST:PORT",
                             addr ? addr : "");
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (inet_pton(AF_INET, host, &a) != 1)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "raft address '%.100s': host must be a numeric "
                             "IPv4 address", addr);
    if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "raft address '%.100s': bad port", addr);
    return 0;
}

/* Calls fn(id, addr, arg) for each entry of a --cluster list, after
 * checking it; returns 0 or the first failure. */
static int each_member(const char *list, size_t *n_out,
                       int (*fn)(uint64_t, const char *, void *), void *arg,
                       as_status_t *st)
{
    uint64_t ids[AS_CLUSTER_MAX_NODES];
    const char *p = list;
    size_t n = 0, i;
    int rc;

    if (list == NULL || *list == '\0')
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cluster list is empty");
    while (*p != '\0') {
        const char *comma = strchr(p, ','), *eq;
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[160], *end;
        unsigned long long id;

        if (len == 0 || len >= sizeof(item))
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                 "cluster entry %zu is empty or too long",
                                 n + 1);
        memcpy(item, p, len);
        item[len] = '\0';
        eq = strchr(item, '=');
        if (eq == NULL)
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                 "cluster entry '%s' is not ID=HOST:PORT",
                                 item);
        errno = 0;
        id = strtoull(item, &end, 10);
        if (errno != 0 || end != eq || id == 0)
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                 "cluster entry '%s': id must be a number "
                                 "above 0", item);
        if ((rc = as_cluster_check_address(eq + 1, st)) != 0)
            return rc;
        if (n == AS_CLUSTER_MAX_NODES)
            return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                 "cluster list has more than %d members",
                                 AS_CLUSTER_MAX_NODES);
        for (i = 0; i < n; i++)
            if (ids[i] == id)
                return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                                     "cluster list names id %llu twice", id);
        ids[n++] = id;
        if (fn != NULL && (rc = fn(id, eq + 1, arg)) != 0)
            return as_status_set(st, AS_CODE_INTERNAL,
                                 "cluster entry '%s': %s", item,
                                 raft_strerror(rc));
        p += len;
        if (*p == ',')
            p++;
    }
    if (n_out != NULL)
        *n_out = n;
    return 0;
}

int as_cluster_parse_list(const char *list, size_t *n_out, as_status_t *st)
{
    return each_member(list, n_out, NULL, NULL, st);
}

static int add_voter(uint64_t id, const char *addr, void *arg)
{
    return raft_configuration_add(arg, id, addr, RAFT_VOTER);
}

/* ------------------------------------------------------------ members */

/* The announced client endpoint of node id ("" if none); call with lock. */
static const char *member_listen(as_cluster_t *c, uint64_t id)
{
    size_t i;

    for (i = 0; c->members && i < c->members->n_members; i++)
        if (c->members->members[i]->id == id &&
            c->members->members[i]->listen != NULL)
            return c->members->members[i]->listen;
    return "";
}

/* Reloads the member list from the store (after a member entry). */
static void reload_members(as_cluster_t *c)
{
    Artstore__V1__ClusterMembers *m;
    as_status_t st;

    if (as_apply_members(c->store, &m, &st) != 0) {
        as_log_warn("cluster: cannot read members: %s", st.msg);
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (c->members != NULL)
        artstore__v1__cluster_members__free_unpacked(c->members, NULL);
    c->members = m;
    pthread_mutex_unlock(&c->lock);
}

/* Whether the stored announcement of this node matches what it serves. */
static int announced(as_cluster_t *c)
{
    size_t i;
    int ok = 0;

    pthread_mutex_lock(&c->lock);
    for (i = 0; c->members && i < c->members->n_members; i++) {
        Artstore__V1__ClusterMember *m = c->members->members[i];

        if (m->id == c->opts.node_id)
            ok = m->raft && m->listen && m->feed &&
                 strcmp(m->raft, c->raft_addr) == 0 &&
                 strcmp(m->listen, c->listen) == 0 &&
                 strcmp(m->feed, c->feed) == 0;
    }
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* ------------------------------------------------------------ ops */

static op_t *op_new(as_cluster_t *c, int kind)
{
    op_t *op = calloc(1, sizeof(*op));

    if (op == NULL)
        return NULL;
    op->kind = kind;
    op->req.data = op;
    /* Linked in "all" so that whatever libraft never calls back for is
     * freed when the thread ends. */
    op->all_next = c->all;
    if (c->all != NULL)
        c->all->all_prev = &op->all_next;
    op->all_prev = &c->all;
    c->all = op;
    return op;
}

/* Copies member m into op (OP_MEMBER). */
static void op_set_member(op_t *op, uint64_t id, const char *raft,
                          const char *listen, const char *feed)
{
    artstore__v1__cluster_member__init(&op->member);
    snprintf(op->m_raft, sizeof(op->m_raft), "%s", raft ? raft : "");
    snprintf(op->m_listen, sizeof(op->m_listen), "%s", listen ? listen : "");
    snprintf(op->m_feed, sizeof(op->m_feed), "%s", feed ? feed : "");
    op->member.has_id = 1;
    op->member.id = id;
    op->member.raft = op->m_raft;
    op->member.listen = op->m_listen;
    op->member.feed = op->m_feed;
}

static void op_free(op_t *op)
{
    /* The loop may start the next trim once this one is over. */
    if (op->kind == OP_TRIM && op->cluster != NULL)
        op->cluster->trimming = 0;
    *op->all_prev = op->all_next;
    if (op->all_next != NULL)
        op->all_next->all_prev = op->all_prev;
    free(op);
}

/* Ends a waiting read (any thread): sets its outcome, wakes its waiter
 * and lets go of it. */
static void read_finish(as_cluster_t *c, read_req_t *rd, int code,
                        uint64_t index, const char *msg)
{
    pthread_mutex_lock(&c->lock);
    rd->done = 1;
    rd->code = code;
    rd->index = index;
    snprintf(rd->msg, sizeof(rd->msg), "%s", msg ? msg : "");
    pthread_cond_broadcast(&c->read_cond);
    if (--rd->refs == 0)
        free(rd);
    pthread_mutex_unlock(&c->lock);
}

/* Answers op's job with code and message (if it still has one). */
static void op_fail(op_t *op, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void op_fail(op_t *op, int code, const char *fmt, ...)
{
    as_write_job_t *job = op->job;
    va_list ap;

    if (op->rd != NULL) {
        char msg[256];

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        read_finish(op->cluster, op->rd, code, 0, msg);
        op->rd = NULL;
        return;
    }
    if (job == NULL)
        return;
    op->job = NULL;
    job->st.code = code;
    va_start(ap, fmt);
    vsnprintf(job->st.msg, sizeof(job->st.msg), fmt, ap);
    va_end(ap);
    job->done(job);
}

/* Finds the pending op proposed with seq (loop thread). */
static op_t *find_pending(as_cluster_t *c, uint64_t seq)
{
    op_t *op;

    for (op = c->pending; op != NULL; op = op->next)
        if (op->seq == seq)
            return op;
    return NULL;
}

static void apply_cb(struct raft_apply *req, int status, void *result);
static void change_cb(struct raft_change *req, int status);

/* The artstore code of a failed membership change. */
static int change_code(int rv)
{
    switch (rv) {
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS: return AS_CODE_ALREADY_EXISTS;
    case RAFT_BADID:
    case RAFT_NOTFOUND: return AS_CODE_NOT_FOUND;
    case RAFT_BADROLE:
    case RAFT_CANTCHANGE: return AS_CODE_FAILED_PRECONDITION;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
    case RAFT_SHUTDOWN:
    case RAFT_NOCONNECTION: return AS_CODE_UNAVAILABLE;
    default: return AS_CODE_INTERNAL;
    }
}

/* Starts membership change op on the leader: remove, add (then assign
 * the role in change_cb), or assign the role of a member already there.
 * Returns 0 (pending), 1 (not the leader) or -1 (failed and answered). */
static int propose_change(as_cluster_t *c, op_t *op)
{
    const struct raft_server *srv = NULL;
    unsigned i;
    int rv;

    op->change.data = op;
    op->cluster = c;
    for (i = 0; i < c->raft.configuration.n; i++)
        if (c->raft.configuration.servers[i].id == op->ch_id)
            srv = &c->raft.configuration.servers[i];
    if (op->ch_remove) {
        rv = raft_remove(&c->raft, &op->change, op->ch_id, change_cb);
    } else if (srv != NULL && strcmp(srv->address, op->m_raft) == 0) {
        if (srv->role == op->ch_role) {
            /* Nothing to change: done at once. */
            as_write_job_t *job = op->job;

            op->job = NULL;
            if (job != NULL)
                job->done(job);
            return -1;
        }
        op->ch_assigning = 1;
        rv = raft_assign(&c->raft, &op->change, op->ch_id, op->ch_role,
                         change_cb);
    } else {
        rv = raft_add(&c->raft, &op->change, op->ch_id, op->m_raft,
                      change_cb);
    }
    if (rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST)
        return 1;
    if (rv != 0) {
        op_fail(op, change_code(rv), "membership change of node %llu: %s",
                (unsigned long long)op->ch_id, rv == RAFT_CANTCHANGE
                    ? "another change is in progress; retry"
                    : rv == RAFT_BADID ? "no such member"
                    : raft_strerror(rv));
        return -1;
    }
    op->next = c->pending;
    c->pending = op;
    return 0;
}

/* Proposes op as a new entry. Returns 0 (pending), 1 (not the leader after
 * all: park it) or -1 (failed and answered). */
static int propose(as_cluster_t *c, op_t *op)
{
    as_entry_origin_t origin;
    struct raft_buffer buf;
    as_status_t st;
    size_t len;
    void *data;
    int rv;

    if (op->kind == OP_CHANGE)
        return propose_change(c, op);
    origin.node = c->opts.node_id;
    origin.run = c->run;
    origin.seq = ++c->next_seq;
    if (op->kind == OP_WRITE) {
        rv = as_entry_pack_job(op->job, now_ms(), &origin, raft_malloc,
                               &data, &len, &st);
    } else if (op->kind == OP_TRIM) {
        rv = as_entry_pack_trim(op->trim_upto, now_ms(), &origin,
                                raft_malloc, &data, &len, &st);
    } else {
        rv = as_entry_pack_member(&op->member, now_ms(), &origin,
                                  raft_malloc, &data, &len, &st);
    }
    if (rv != 0) {
        op_fail(op, st.code, "%s", st.msg);
        return -1;
    }
    buf.base = data;
    buf.len = len;
    op->seq = origin.seq;
    rv = raft_apply(&c->raft, &op->req, &buf, 1, apply_cb);
    if (rv != 0) {
        /* Ownership of the buffer passes only on success. */
        raft_free(data);
        if (rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST)
            return 1;
        op_fail(op, AS_CODE_UNAVAILABLE, "cannot propose the write: %s",
                raft_strerror(rv));
        return -1;
    }
    op->next = c->pending;
    c->pending = op;
    return 0;
}

static void route(as_cluster_t *c, op_t *op);

/* Proposes the n write requests in ops (n >= 2, on the leader) as one
 * entry: every node applies them in one transaction. Requests that cannot
 * go in are routed one by one (parked, redirected, answered). */
static void propose_batch(as_cluster_t *c, op_t **ops, size_t n)
{
    as_write_job_t *jobs[BATCH_MAX_OPS];
    as_entry_origin_t origin;
    struct raft_buffer buf;
    as_status_t st;
    size_t i, len;
    void *data;
    int rv;

    for (i = 0; i < n; i++)
        jobs[i] = ops[i]->job;
    origin.node = c->opts.node_id;
    origin.run = c->run;
    origin.seq = c->next_seq + 1;
    if (as_entry_pack_jobs(jobs, n, now_ms(), &origin, raft_malloc, &data,
                           &len, &st) != 0) {
        for (i = 0; i < n; i++) {
            op_fail(ops[i], st.code, "%s", st.msg);
            op_free(ops[i]);
        }
        return;
    }
    buf.base = data;
    buf.len = len;
    for (i = 0; i < n; i++) {
        ops[i]->seq = origin.seq + i;
        ops[i]->batch = i + 1 < n ? ops[i + 1] : NULL;
    }
    ops[0]->req.data = ops[0];
    rv = raft_apply(&c->raft, &ops[0]->req, &buf, 1, apply_cb);
    if (rv != 0) {
        raft_free(data);
        for (i = 0; i < n; i++) {
            ops[i]->batch = NULL;
            route(c, ops[i]);    /* not the leader after all, or failing */
        }
        return;
    }
    c->next_seq += n;
    for (i = 0; i < n; i++) {
        ops[i]->next = c->pending;
        c->pending = ops[i];
    }
}

/* Routes one op: proposes it (leader), answers with the leader's endpoint
 * (follower that knows it), or parks it until a leader is known. */
static void barrier_cb(struct raft_barrier *req, int status);

static void route(as_cluster_t *c, op_t *op)
{
    raft_id leader = 0;
    const char *addr = NULL;
    char hint[256] = "";

    /* A read barrier is for the leader only; a follower's reader asks
     * the leader itself (as_cluster_read_barrier). */
    if (op->kind == OP_BARRIER) {
        if (!c->closing && raft_state(&c->raft) == RAFT_LEADER &&
            raft_barrier(&c->raft, &op->barrier, barrier_cb) == 0) {
            op->next = c->pending;
            c->pending = op;
            return;
        }
        op_fail(op, AS_CODE_UNAVAILABLE, "node %llu is not the leader",
                (unsigned long long)c->opts.node_id);
        op_free(op);
        return;
    }

    if (op->deadline_ms != 0 && now_ms() > op->deadline_ms) {
        op_fail(op, AS_CODE_UNAVAILABLE,
                "no leader took the write before its deadline (the cluster "
                "is electing one, or this node cannot reach a majority)");
        if (op->self)
            c->announcing = 0;
        op_free(op);
        return;
    }
    if (op->kind == OP_TRIM && (c->closing ||
                                raft_state(&c->raft) != RAFT_LEADER)) {
        op_free(op);             /* the next leader decides again */
        return;
    }
    if (!c->closing && raft_state(&c->raft) == RAFT_LEADER) {
        int rc = propose(c, op);

        if (rc == 0)
            return;
        if (rc < 0) {
            if (op->self)
                c->announcing = 0;
            op_free(op);
            return;
        }
    }
    if (op->job != NULL && !c->closing) {
        raft_leader(&c->raft, &leader, &addr);
        if (leader != 0 && leader != c->opts.node_id) {
            pthread_mutex_lock(&c->lock);
            snprintf(hint, sizeof(hint), "%s", member_listen(c, leader));
            pthread_mutex_unlock(&c->lock);
        }
        if (hint[0] != '\0') {
            op_fail(op, AS_CODE_UNAVAILABLE,
                    "node %llu is not the leader; leader: %s",
                    (unsigned long long)c->opts.node_id, hint);
            op_free(op);
            return;
        }
    }
    op->next = c->parked;
    c->parked = op;
}

/* ------------------------------------------------------------ the FSM */

/* After each entry applied here (apply.c's FSM, on the loop thread): the
 * request it answers, if this process proposed it, gets its items'
 * outcomes; the feed learns of the commit. */
static void on_applied(void *arg, const as_applied_t *res)
{
    as_cluster_t *c = arg;
    op_t *op;
    size_t i;

    size_t p, off = 0;

    /* The requests of the entry, in order, with their items' outcomes. */
    for (p = 0; !res->skipped && res->origin.node == c->opts.node_id &&
                res->origin.run == c->run && p < res->n_parts; p++) {
        if ((op = find_pending(c, res->origin.seq + p)) != NULL &&
            op->applied == 0) {
            op->applied = 1;
            if (op->job != NULL && op->kind == OP_WRITE) {
                as_write_job_t *job = op->job;

                for (i = 0; i < job->n && off + i < res->n; i++) {
                    if (job->items[i].prefailed)
                        continue;
                    job->items[i].st = res->st[off + i];
                    job->items[i].out = res->out[off + i];
                }
            }
        }
        off += res->parts[p];
    }
    if (res->index > c->loop_applied) {
        c->loop_applied = res->index;
        pthread_mutex_lock(&c->lock);
        c->applied_cmd = res->index;
        pthread_cond_broadcast(&c->read_cond);
        pthread_mutex_unlock(&c->lock);
    }
    /* The FSM committed a member entry to LMDB before this hook. */
    if (res->member)
        reload_members(c);
}

/* The writer's read barrier wants the deferred entries committed
 * (as_writer_defer_elsewhere): wake the loop, whose wake_cb commits. */
static void ask_commit(void *arg)
{
    as_cluster_t *c = arg;

    uv_async_send(&c->wake);
}

/* Commits LMDB when the writer's policy says so (apply.h). */
static void commit_if_due(as_cluster_t *c)
{
    as_fsm_commit_if_due(&c->fsm_ctx, now_ms());
}

/* Adds endpoint ep to list (n of them, at most max) unless it is there. */
static void add_endpoint(const char **list, size_t *n, size_t max,
                         const char *ep)
{
    size_t i;

    if (ep == NULL || ep[0] == '\0' || *n == max)
        return;
    for (i = 0; i < *n; i++)
        if (strcmp(list[i], ep) == 0)
            return;
    list[(*n)++] = ep;
}

/* The FSM's install (apply.c's restore, on the loop thread, or in
 * raft_start before it runs): the store takes a member's copy holding the
 * snapshot's index, fetched from the members the snapshot names (the
 * leader first) and those this store knows, never this node itself. */
static int install_copy(void *arg, const Artstore__V1__RaftSnapshot *snap,
                        as_status_t *st)
{
    as_cluster_t *c = arg;
    const char *eps[2 * AS_CLUSTER_MAX_NODES];
    as_snapshot_fetch_opts_t o;
    raft_id leader = 0;
    const char *addr = NULL;
    size_t n = 0, i;
    int pass, rc;

    if (c->raft_up)
        raft_leader(&c->raft, &leader, &addr);
    pthread_mutex_lock(&c->lock);
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < snap->n_members; i++) {
            const Artstore__V1__ClusterMember *m = snap->members[i];

            if (m->id != c->opts.node_id && (pass == 1 || m->id == leader))
                add_endpoint(eps, &n, sizeof(eps) / sizeof(eps[0]),
                             m->listen);
        }
    for (i = 0; c->members != NULL && i < c->members->n_members; i++)
        if (c->members->members[i]->id != c->opts.node_id)
            add_endpoint(eps, &n, sizeof(eps) / sizeof(eps[0]),
                         c->members->members[i]->listen);
    pthread_mutex_unlock(&c->lock);
    memset(&o, 0, sizeof(o));
    o.data_dir = c->data_dir;
    o.token = c->token;
    o.endpoints = eps;
    o.n_endpoints = n;
    o.min_index = snap->index;
    /* The endpoints point into the member lists, which only this thread
     * replaces (reload_members, below). */
    if ((rc = as_snapshot_install(c->store, &o, st)) != 0)
        return rc;
    reload_members(c);
    pthread_mutex_lock(&c->lock);
    c->loop_applied = c->applied_cmd = as_store_applied_index(c->store);
    pthread_cond_broadcast(&c->read_cond);
    pthread_mutex_unlock(&c->lock);
    /* The FSM committed what it had deferred before the swap (restore). */
    c->fsm_ctx.deferred = c->loop_applied;
    if (c->writer != NULL)
        as_writer_committed(c->writer, c->loop_applied);
    return 0;
}

/* ------------------------------------------------------------ the loop */

/* Answers one request of an entry once libraft is done with it. */
static void finish_op(op_t *op, int status)
{
    if (op->job != NULL) {
        if (status == 0 && op->applied) {
            as_write_job_t *job = op->job;

            op->job = NULL;
            job->done(job);
        } else if (status == 0) {
            op_fail(op, AS_CODE_INTERNAL,
                    "the write was committed but not applied on this node");
        } else {
            op_fail(op, AS_CODE_UNAVAILABLE,
                    "leadership was lost before the write was committed "
                    "(%s); it may still be applied: retry (puts are "
                    "idempotent)", raft_strerror(status));
        }
    }
    op->applied = -1;            /* done: the loop unlinks and frees it */
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    op_t *op = req->data, *next;

    (void)result;
    for (; op != NULL; op = next) {
        next = op->batch;
        op->batch = NULL;
        finish_op(op, status);
    }
}

/* A read barrier was applied (status 0: everything committed before it
 * is applied here, and this node still led when it committed) or failed.
 * The read index is the last write entry applied before it. */
static void barrier_cb(struct raft_barrier *req, int status)
{
    op_t *op = req->data;
    as_cluster_t *c = op->cluster;

    if (op->rd != NULL) {
        if (status == 0) {
            read_finish(c, op->rd, 0, c->loop_applied, NULL);
            op->rd = NULL;
        } else {
            op_fail(op, AS_CODE_UNAVAILABLE, "leadership was lost before "
                    "the read barrier was committed (%s)",
                    raft_strerror(status));
        }
    }
    op->applied = -1;            /* done: the loop unlinks and frees it */
}

/* A membership change was committed (or failed). An added member gets
 * its role next (raft_add makes it a spare); a new voter is caught up
 * with the log by libraft before it is promoted. */
static void change_cb(struct raft_change *req, int status)
{
    op_t *op = req->data;
    as_cluster_t *c = op->cluster;

    if (status == 0 && !op->ch_remove && !op->ch_assigning) {
        int rv;

        op->ch_assigning = 1;
        rv = raft_assign(&c->raft, &op->change, op->ch_id, op->ch_role,
                         change_cb);
        if (rv == 0)
            return;              /* change_cb again */
        status = rv;
    }
    if (status == 0) {
        as_write_job_t *job = op->job;

        op->job = NULL;
        if (job != NULL)
            job->done(job);
    } else {
        op_fail(op, change_code(status), "membership change of node %llu: "
                "%s", (unsigned long long)op->ch_id, raft_strerror(status));
    }
    as_log_info("cluster: %s node %llu%s: %s", op->ch_remove ? "removing"
                : "adding", (unsigned long long)op->ch_id,
                op->ch_remove ? "" : op->ch_role == RAFT_VOTER
                                      ? " as a voter" : " as a non-voter",
                status == 0 ? "done" : raft_strerror(status));
    op->applied = -1;            /* done: the loop unlinks and frees it */
}

/* Drops ops whose callback has run from the pending list. */
static void reap_pending(as_cluster_t *c)
{
    op_t **p = &c->pending, *op;

    while ((op = *p) != NULL) {
        if (op->applied == -1) {
            *p = op->next;
            if (op->self)
                c->announcing = 0;
            op_free(op);
        } else {
            p = &op->next;
        }
    }
}

static const char *role_name(int state)
{
    switch (state) {
    case RAFT_LEADER: return "leader";
    case RAFT_FOLLOWER: return "follower";
    case RAFT_CANDIDATE: return "candidate";
    default: return "unavailable";
    }
}

/* Refreshes the status copy other threads read. */
static void refresh_status(as_cluster_t *c)
{
    as_cluster_status_t *s = &c->status;
    struct raft *r = &c->raft;
    raft_id leader = 0;
    const char *addr = NULL;
    unsigned i;

    raft_leader(r, &leader, &addr);
    pthread_mutex_lock(&c->lock);
    s->id = c->opts.node_id;
    snprintf(s->role, sizeof(s->role), "%s", role_name(raft_state(r)));
    /* A standby (or spare) follows without voting. */
    for (i = 0; i < r->configuration.n; i++)
        if (r->configuration.servers[i].id == c->opts.node_id &&
            r->configuration.servers[i].role != RAFT_VOTER &&
            raft_state(r) == RAFT_FOLLOWER)
            snprintf(s->role, sizeof(s->role), "non-voter");
    s->leader_id = leader;
    snprintf(s->leader_listen, sizeof(s->leader_listen), "%s",
             leader ? member_listen(c, leader) : "");
    s->term = r->current_term;
    s->commit_index = r->commit_index;
    s->applied_index = raft_last_applied(r);
    s->last_index = raft_last_index(r);
    s->n_nodes = 0;
    for (i = 0; i < r->configuration.n && i < AS_CLUSTER_MAX_NODES; i++) {
        const struct raft_server *srv = &r->configuration.servers[i];
        as_cluster_node_t *n = &s->nodes[s->n_nodes++];

        memset(n, 0, sizeof(*n));
        n->id = srv->id;
        snprintf(n->raft, sizeof(n->raft), "%s", srv->address);
        snprintf(n->listen, sizeof(n->listen), "%s",
                 member_listen(c, srv->id));
        n->voter = srv->role == RAFT_VOTER;
        if (srv->id == c->opts.node_id)
            snprintf(n->role, sizeof(n->role), "%s", s->role);
        else if (srv->id == leader)
            snprintf(n->role, sizeof(n->role), "leader");
        else if (!n->voter)
            snprintf(n->role, sizeof(n->role), "non-voter");
        else
            snprintf(n->role, sizeof(n->role), "follower");
        if (raft_state(r) == RAFT_LEADER && r->leader_state.progress) {
            n->match_index = r->leader_state.progress[i].match_index;
            if (srv->id != c->opts.node_id &&
                !r->leader_state.progress[i].recent_recv && n->voter)
                snprintf(n->role, sizeof(n->role), "unreachable");
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* Fails every op in list with the shutdown message and frees it. */
static void fail_list(op_t **list, const char *why)
{
    op_t *op;

    while ((op = *list) != NULL) {
        *list = op->next;
        op_fail(op, AS_CODE_UNAVAILABLE, "%s", why);
        op_free(op);
    }
}

static void on_raft_closed(struct raft *r)
{
    as_cluster_t *c = r->data;

    raft_uv_close(&c->io);
    raft_uv_tcp_close(&c->transport);
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_close((uv_handle_t *)&c->tick, NULL);
}

/* Starts the shutdown: answers everything still waiting. */
static void begin_close(as_cluster_t *c)
{
    op_t *op;

    if (c->closing)
        return;
    c->closing = 1;
    uv_timer_stop(&c->tick);
    /* What was applied reaches LMDB now; later applies (none, once
     * raft_close is called) would be commits of their own, and readers no
     * longer wake this loop. */
    as_fsm_commit(&c->fsm_ctx);
    c->fsm_ctx.defer = 0;
    if (c->writer != NULL)
        as_writer_defer_elsewhere(c->writer, NULL, NULL,
                                  c->fsm_ctx.deferred);
    fail_list(&c->parked, "server is shutting down");
    for (op = c->pending; op != NULL; op = op->next)
        op_fail(op, AS_CODE_UNAVAILABLE,
                "server is shutting down before the write was committed; "
                "it may still be applied: retry (puts are idempotent)");
    raft_close(&c->raft, on_raft_closed);
}

/* Proposes the writes gathered by drain_inbox: alone as usual, or
 * several as one entry. */
static void flush_batch(as_cluster_t *c, op_t **batch, size_t n)
{
    if (n == 1)
        route(c, batch[0]);
    else if (n > 1)
        propose_batch(c, batch, n);
}

/* Takes the inbox and routes every op in it. */
static void drain_inbox(as_cluster_t *c)
{
    op_t *list, *op, *batch[BATCH_MAX_OPS];
    size_t n_batch = 0, items = 0;
    int64_t now;
    int stopping, leading;

    pthread_mutex_lock(&c->lock);
    list = c->inbox_head;
    c->inbox_head = c->inbox_tail = NULL;
    stopping = c->stopping;
    pthread_mutex_unlock(&c->lock);
    /* A leader merges the write requests that waited for it (they pile up
     * while the loop applies) into one entry, up to BATCH_MAX_*. */
    leading = !stopping && !c->closing &&
              raft_state(&c->raft) == RAFT_LEADER;
    now = now_ms();
    while ((op = list) != NULL) {
        list = op->next;
        op->next = NULL;
        /* An op made on another thread joins the loop's list here. */
        op->all_next = c->all;
        if (c->all != NULL)
            c->all->all_prev = &op->all_next;
        op->all_prev = &c->all;
        c->all = op;
        if (stopping) {
            op_fail(op, AS_CODE_UNAVAILABLE, "server is shutting down");
            op_free(op);
            continue;
        }
        if (leading && op->kind == OP_WRITE && op->job != NULL &&
            (op->deadline_ms == 0 || now <= op->deadline_ms)) {
            if (n_batch == BATCH_MAX_OPS ||
                (n_batch > 0 && items + op->job->n > BATCH_MAX_ITEMS)) {
                flush_batch(c, batch, n_batch);
                n_batch = items = 0;
            }
            batch[n_batch++] = op;
            items += op->job->n;
            continue;
        }
        route(c, op);
    }
    flush_batch(c, batch, n_batch);
    if (stopping)
        begin_close(c);
}

static void wake_cb(uv_async_t *h)
{
    as_cluster_t *c = h->data;

    drain_inbox(c);
    if (!c->closing) {
        reap_pending(c);
        commit_if_due(c);
    }
}

/* The leader, about once a second: proposes a trim of what is past
 * retention, one entry in flight at a time. */
static void maybe_trim(as_cluster_t *c, int64_t now)
{
    as_status_t st;
    uint64_t upto;
    op_t *op;

    if ((!c->opts.retain_changes && !c->opts.retain_hours) || c->trimming ||
        now < c->trim_after_ms)
        return;
    c->trim_after_ms = now + TRIM_EVERY_MS;
    if (c->trim_reader == NULL &&
        as_reader_create(c->store, &c->trim_reader, &st) != 0) {
        as_log_warn("cluster: no reader for retention: %s", st.msg);
        return;
    }
    if (as_feed_trim_point(c->store, c->trim_reader, c->opts.retain_changes,
                           c->opts.retain_hours, now, TRIM_MAX, &upto,
                           &st) != 0) {
        as_log_warn("cluster: changelog retention: %s", st.msg);
        return;
    }
    if (upto == 0 || (op = op_new(c, OP_TRIM)) == NULL)
        return;
    op->cluster = c;
    op->trim_upto = upto;
    op->deadline_ms = now + 5000;
    c->trimming = 1;
    route(c, op);
}

static void tick_cb(uv_timer_t *h)
{
    as_cluster_t *c = h->data;
    int64_t now = now_ms();
    op_t *list, *op;

    reap_pending(c);
    commit_if_due(c);
    /* Parked writes: is there a leader now? */
    list = c->parked;
    c->parked = NULL;
    while ((op = list) != NULL) {
        list = op->next;
        op->next = NULL;
        route(c, op);
    }
    /* A write whose entry is not committed by its deadline is answered:
     * a leader cut off from its majority acknowledges nothing. */
    for (op = c->pending; op != NULL; op = op->next)
        if (op->job != NULL && op->deadline_ms != 0 && now > op->deadline_ms)
            op_fail(op, AS_CODE_UNAVAILABLE,
                    "the write was not committed before its deadline (is a "
                    "majority of the cluster reachable?); it may still be "
                    "applied: retry (puts are idempotent)");
    if (raft_state(&c->raft) == RAFT_LEADER)
        maybe_trim(c, now);
    /* A new leader tells the cluster where it serves clients. */
    if (raft_state(&c->raft) == RAFT_LEADER && !c->announcing &&
        now >= c->announce_after_ms && !announced(c)) {
        op = op_new(c, OP_MEMBER);
        if (op != NULL) {
            op_set_member(op, c->opts.node_id, c->raft_addr, c->listen,
                          c->feed);
            op->self = 1;
            c->announcing = 1;
            c->announce_after_ms = now + 1000;
            op->deadline_ms = now + 5000;
            route(c, op);
        }
    }
    refresh_status(c);
}

static void *cluster_main(void *arg)
{
    as_cluster_t *c = arg;
    op_t *op;

    /* Entries are applied into LMDB's deferred transaction from here on,
     * on this thread, which also commits it. */
    if (c->writer != NULL) {
        as_writer_defer_elsewhere(c->writer, ask_commit, c,
                                  c->fsm_ctx.deferred);
        c->fsm_ctx.defer = 1;
    }
    uv_run(&c->loop, UV_RUN_DEFAULT);
    as_fsm_commit(&c->fsm_ctx);
    /* Whatever libraft never called back for. */
    while ((op = c->all) != NULL) {
        op_fail(op, AS_CODE_UNAVAILABLE, "server is shutting down");
        op_free(op);
    }
    uv_loop_close(&c->loop);
    as_reader_free(c->trim_reader);
    return NULL;
}

/* ------------------------------------------------------------ announcer */

/* Calls method on the member at endpoint (another artstored's client
 * endpoint) with this node's token: as_peer_call with replies of up to
 * 1 MiB. Any thread but the loop's: it blocks. */
static int peer_call(as_cluster_t *c, const char *endpoint,
                     const char *method, const ProtobufCMessage *msg, int ms,
                     const ProtobufCMessageDescriptor *resp_desc,
                     ProtobufCMessage **resp, as_status_t *st)
{
    return as_peer_call(endpoint, c->token, method, msg, ms, 0, resp_desc,
                        resp, st);
}

/* Sends this node's endpoints to the leader at endpoint as a
 * ClusterAnnounce request and waits up to a second for the answer. The
 * leader writes them to the log; the answer itself is not needed. */
static void send_announce(as_cluster_t *c, const char *endpoint)
{
    Artstore__V1__ClusterMember m = ARTSTORE__V1__CLUSTER_MEMBER__INIT;
    as_status_t st;

    m.has_id = 1;
    m.id = c->opts.node_id;
    m.raft = c->raft_addr;
    m.listen = c->listen;
    m.feed = c->feed;
    (void)peer_call(c, endpoint, "ClusterAnnounce", &m.base, 1000, NULL, NULL,
                    &st);
}

/* A follower announces itself to the leader (only a leader can write to
 * the log) until its endpoints are in the log, then looks again every
 * half second in case they are replaced. */
static void *announcer_main(void *arg)
{
    as_cluster_t *c = arg;
    char leader[256];
    int follower;

    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        struct timespec ts = as_clock_wall_ts(now_ms() + 500);

        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        if (c->stopping)
            break;
        follower = c->status.leader_id != 0 &&
                   c->status.leader_id != c->opts.node_id;
        snprintf(leader, sizeof(leader), "%s", c->status.leader_listen);
        pthread_mutex_unlock(&c->lock);
        if (follower && leader[0] != '\0' && !announced(c))
            send_announce(c, leader);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

/* Sets up libuv, the transport, the I/O backend and the Raft instance,
 * bootstraps a new directory and starts Raft. Runs before the thread
 * exists, so every raft_* call is still made by one thread at a time. */
static int setup(as_cluster_t *c, as_status_t *st)
{
    struct raft_configuration conf;
    int rv;

    if ((rv = uv_loop_init(&c->loop)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "uv_loop_init: %s",
                             uv_strerror(rv));
    uv_async_init(&c->loop, &c->wake, wake_cb);
    c->wake.data = c;
    uv_timer_init(&c->loop, &c->tick);
    c->tick.data = c;
    if ((rv = raft_uv_tcp_init(&c->transport, &c->loop)) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "raft transport: %s",
                      raft_strerror(rv));
        goto out_handles;
    }
    if ((rv = raft_uv_init(&c->io, &c->loop, c->dir, &c->transport)) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "raft storage in %s: %s", c->dir,
                      raft_strerror(rv));
        goto out_transport;
    }
    c->fsm_ctx.store = c->store;
    c->fsm_ctx.raft = &c->raft;
    c->fsm_ctx.no_sync = c->opts.no_sync;
    c->fsm_ctx.writer = c->writer;
    c->fsm_ctx.deferred = as_store_applied_index(c->store);
    c->fsm_ctx.applied = on_applied;
    c->fsm_ctx.install = install_copy;
    c->fsm_ctx.arg = c;
    as_fsm_init(&c->fsm, &c->fsm_ctx);
    if ((rv = raft_init(&c->raft, &c->io, &c->fsm, c->opts.node_id,
                        c->raft_addr)) != 0) {
        as_status_set(st, AS_CODE_INTERNAL, "raft_init: %s",
                      raft_strerror(rv));
        goto out_io;
    }
    c->raft.data = c;
    c->raft_up = 1;
    raft_set_election_timeout(&c->raft, c->opts.election_timeout_ms);
    raft_set_heartbeat_timeout(&c->raft, c->opts.heartbeat_ms);
    raft_set_snapshot_threshold(&c->raft, c->opts.snapshot_threshold);
    raft_set_snapshot_trailing(&c->raft, c->opts.snapshot_trailing);
    raft_set_pre_vote(&c->raft, true);
    if (c->bootstrap[0] != '\0') {
        raft_configuration_init(&conf);
        rv = each_member(c->bootstrap, NULL, add_voter, &conf, st);
        if (rv == 0) {
            rv = raft_bootstrap(&c->raft, &conf);
            if (rv == 0)
                as_log_info("cluster: bootstrapped a new Raft directory "
                            "with %u voter(s)", conf.n);
            else if (rv == RAFT_CANTBOOTSTRAP)
                rv = 0;        /* not new: --cluster is ignored */
            else
                as_status_set(st, AS_CODE_INTERNAL, "raft_bootstrap: %s",
                              raft_strerror(rv));
        }
        raft_configuration_close(&conf);
        if (rv != 0)
            goto out_raft;
    }
    if ((rv = raft_start(&c->raft)) != 0) {
        as_status_set(st, rv == RAFT_IOERR || rv == RAFT_MALFORMED
                              ? AS_CODE_FAILED_PRECONDITION
                              : AS_CODE_UNAVAILABLE,
                      "raft_start on %s: %s (%s)", c->raft_addr,
                      raft_strerror(rv), raft_errmsg(&c->raft));
        goto out_raft;
    }
    uv_timer_start(&c->tick, tick_cb, TICK_MS, TICK_MS);
    return 0;

out_raft:
    /* raft_close closes the I/O backend; run the loop until it has. */
    raft_close(&c->raft, on_raft_closed);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    return st->code;
out_io:
    raft_uv_close(&c->io);
out_transport:
    raft_uv_tcp_close(&c->transport);
out_handles:
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_close((uv_handle_t *)&c->tick, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    return st->code;
}

static void free_cluster(as_cluster_t *c)
{
    if (c->members != NULL)
        artstore__v1__cluster_members__free_unpacked(c->members, NULL);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    pthread_cond_destroy(&c->read_cond);
    free(c->raft_addr);
    free(c->bootstrap);
    free(c->dir);
    free(c->data_dir);
    free(c->listen);
    free(c->feed);
    free(c->token);
    free(c);
}

int as_cluster_start(as_store_t *s, as_writer_t *w,
                     const as_cluster_opts_t *opts, as_cluster_t **out,
                     as_status_t *st)
{
    as_cluster_t *c;
    int rc;

    if (opts->node_id == 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "node-id must be above 0");
    if ((rc = as_cluster_check_address(opts->raft, st)) != 0)
        return rc;
    if (opts->bootstrap != NULL && opts->bootstrap[0] != '\0' &&
        (rc = as_cluster_parse_list(opts->bootstrap, NULL, st)) != 0)
        return rc;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    c->store = s;
    c->writer = w;
    c->opts = *opts;
    c->raft_addr = xstrdup(opts->raft);
    c->bootstrap = xstrdup(opts->bootstrap);
    c->dir = xstrdup(opts->dir);
    c->data_dir = xstrdup(opts->data_dir);
    c->listen = xstrdup(opts->listen);
    c->feed = xstrdup(opts->feed);
    c->token = xstrdup(opts->token);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    pthread_cond_init(&c->read_cond, NULL);
    c->applied_cmd = c->loop_applied = as_store_applied_index(s);
    if (!c->raft_addr || !c->bootstrap || !c->dir || !c->data_dir ||
        !c->listen ||
        !c->feed || !c->token) {
        free_cluster(c);
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (c->opts.election_timeout_ms == 0)
        c->opts.election_timeout_ms = 1000;
    if (c->opts.heartbeat_ms == 0)
        c->opts.heartbeat_ms = 100;
    if (c->opts.snapshot_threshold == 0)
        c->opts.snapshot_threshold = 4096;
    if (c->opts.snapshot_trailing == 0)
        c->opts.snapshot_trailing = 16384;
    if (mkdir(c->dir, 0755) != 0 && errno != EEXIST) {
        rc = as_status_set(st, AS_CODE_INTERNAL, "mkdir %s: %s", c->dir,
                           strerror(errno));
        free_cluster(c);
        return rc;
    }
    /* The run number tells this process's proposals from a previous
     * one's with the same node id (its entries may still be replayed). */
    if (getrandom(&c->run, sizeof(c->run), 0) != sizeof(c->run))
        c->run = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
    reload_members(c);
    /* A download of a member's copy that a crash cut short. */
    if (c->data_dir[0] != '\0')
        as_snapshot_remove_partial(c->data_dir);
    if ((rc = setup(c, st)) != 0) {
        free_cluster(c);
        return rc;
    }
    refresh_status(c);
    if ((rc = pthread_create(&c->thread, NULL, cluster_main, c)) != 0) {
        /* Nothing runs the loop: close it here. */
        raft_close(&c->raft, on_raft_closed);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        uv_loop_close(&c->loop);
        free_cluster(c);
        return as_status_set(st, AS_CODE_INTERNAL, "start cluster: %s",
                             strerror(rc));
    }
    if ((rc = pthread_create(&c->announcer, NULL, announcer_main, c)) != 0) {
        as_log_warn("cluster: no announcer thread (%s): this node's "
                    "endpoints are known only once it leads", strerror(rc));
        c->announcer = 0;
    }
    as_log_info("cluster: node %llu, raft %s, %s", (unsigned long long)
                c->opts.node_id, c->raft_addr,
                c->bootstrap[0] ? "bootstrap list given" : "joining");
    *out = c;
    return 0;
}

/* Queues op for the cluster thread; 0 or UNAVAILABLE (op freed). */
static int enqueue(as_cluster_t *c, op_t *op, as_status_t *st);

int as_cluster_submit(as_cluster_t *c, as_write_job_t *job, as_status_t *st)
{
    op_t *op = calloc(1, sizeof(*op));

    if (op == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    op->kind = OP_WRITE;
    op->job = job;
    return enqueue(c, op, st);
}

int as_cluster_announce(as_cluster_t *c, const Artstore__V1__ClusterMember *m,
                        as_write_job_t *job, as_status_t *st)
{
    op_t *op;
    int rc;

    if (!m->has_id || m->id == 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "member id must be above 0");
    if ((rc = as_cluster_check_address(m->raft, st)) != 0)
        return rc;
    if (m->listen == NULL || m->listen[0] == '\0' || strlen(m->listen) > 255 ||
        m->feed == NULL || strlen(m->feed) > 255)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "member listen (1 to 255 bytes) and feed (at "
                             "most 255) are required");
    if ((op = calloc(1, sizeof(*op))) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    op->kind = OP_MEMBER;
    op->job = job;
    op_set_member(op, m->id, m->raft, m->listen, m->feed);
    return enqueue(c, op, st);
}

int as_cluster_change(as_cluster_t *c, uint64_t id, const char *raft,
                      int non_voter, int remove, as_write_job_t *job,
                      as_status_t *st)
{
    op_t *op;
    int rc;

    if (id == 0)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "member id must be above 0");
    if (!remove && (rc = as_cluster_check_address(raft, st)) != 0)
        return rc;
    if ((op = calloc(1, sizeof(*op))) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    op->kind = OP_CHANGE;
    op->job = job;
    op->cluster = c;
    op->ch_id = id;
    op->ch_remove = remove != 0;
    op->ch_role = non_voter ? RAFT_STANDBY : RAFT_VOTER;
    snprintf(op->m_raft, sizeof(op->m_raft), "%s", raft ? raft : "");
    return enqueue(c, op, st);
}

/* Appends op to the loop thread's inbox and wakes the loop; called with
 * c->lock held. Returns 0, or UNAVAILABLE with st set (op not taken) when
 * the member is stopping. */
static int inbox_push(as_cluster_t *c, op_t *op, as_status_t *st)
{
    if (c->stopping)
        return as_status_set(st, AS_CODE_UNAVAILABLE,
                             "server is shutting down");
    if (c->inbox_tail != NULL)
        c->inbox_tail->next = op;
    else
        c->inbox_head = op;
    c->inbox_tail = op;
    uv_async_send(&c->wake);
    return 0;
}

static int enqueue(as_cluster_t *c, op_t *op, as_status_t *st)
{
    as_write_job_t *job = op->job;

    op->req.data = op;
    op->all_prev = &op->all_next;   /* linked on the loop thread */
    op->deadline_ms = job->deadline_ms ? job->deadline_ms
                                       : now_ms() + DEFAULT_WAIT_MS;
    as_status_ok(&job->st);
    pthread_mutex_lock(&c->lock);
    if (inbox_push(c, op, st) != 0) {
        pthread_mutex_unlock(&c->lock);
        free(op);
        return st->code;
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void as_cluster_stop(as_cluster_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_cond_broadcast(&c->read_cond);
    pthread_mutex_unlock(&c->lock);
    if (c->announcer != 0)
        pthread_join(c->announcer, NULL);
    uv_async_send(&c->wake);
    pthread_join(c->thread, NULL);
    free_cluster(c);
}

/* ------------------------------------------------------------ reads */

/* Sleeps ms milliseconds (a short pause between two tries). */
static void pause_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int as_cluster_leader_read_index(as_cluster_t *c, int64_t deadline_ms,
                                 uint64_t *index, as_status_t *st)
{
    read_req_t *rd;
    op_t *op;
    int rc;

    if (deadline_ms == 0)
        deadline_ms = now_ms() + DEFAULT_WAIT_MS;
    rd = calloc(1, sizeof(*rd));
    op = calloc(1, sizeof(*op));
    if (rd == NULL || op == NULL) {
        free(rd);
        free(op);
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory");
    }
    rd->refs = 2;                /* this waiter and the op */
    op->kind = OP_BARRIER;
    op->rd = rd;
    op->cluster = c;
    op->barrier.data = op;
    op->deadline_ms = deadline_ms;
    op->req.data = op;
    op->all_prev = &op->all_next;
    pthread_mutex_lock(&c->lock);
    if (inbox_push(c, op, st) != 0) {
        pthread_mutex_unlock(&c->lock);
        free(rd);
        free(op);
        return st->code;
    }
    while (!rd->done) {
        struct timespec ts = as_clock_wall_ts(deadline_ms);

        if (pthread_cond_timedwait(&c->read_cond, &c->lock, &ts) ==
                ETIMEDOUT && !rd->done)
            break;
    }
    if (!rd->done)
        rc = as_status_set(st, AS_CODE_UNAVAILABLE,
                           "the read barrier was not committed before the "
                           "deadline (is a majority of the cluster "
                           "reachable?)");
    else if (rd->code != 0)
        rc = as_status_set(st, rd->code, "%s", rd->msg);
    else
        rc = 0;
    *index = rd->index;
    if (--rd->refs == 0)
        free(rd);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Waits until this node has applied the write entry at index (or a later
 * one), up to deadline_ms. 0 or UNAVAILABLE with st set. */
static int wait_applied(as_cluster_t *c, uint64_t index, int64_t deadline_ms,
                        as_status_t *st)
{
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    while (c->applied_cmd < index && !c->stopping) {
        struct timespec ts = as_clock_wall_ts(deadline_ms);

        if (pthread_cond_timedwait(&c->read_cond, &c->lock, &ts) ==
                ETIMEDOUT && c->applied_cmd < index) {
            rc = as_status_set(st, AS_CODE_UNAVAILABLE,
                               "node %llu had applied up to %llu, not the "
                               "read index %llu, by the deadline",
                               (unsigned long long)c->opts.node_id,
                               (unsigned long long)c->applied_cmd,
                               (unsigned long long)index);
            break;
        }
    }
    if (rc == 0 && c->applied_cmd < index)
        rc = as_status_set(st, AS_CODE_UNAVAILABLE,
                           "server is shutting down");
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int as_cluster_read_barrier(as_cluster_t *c, int64_t deadline_ms,
                            as_status_t *st)
{
    Artstore__V1__ClusterReadIndexRequest req =
        ARTSTORE__V1__CLUSTER_READ_INDEX_REQUEST__INIT;
    uint64_t index;
    int rc = as_status_set(st, AS_CODE_UNAVAILABLE,
                           "no leader is known (an election?)");

    if (deadline_ms == 0)
        deadline_ms = now_ms() + DEFAULT_WAIT_MS;
    /* Bounded by the deadline: each try is, and the pauses are short. */
    while (now_ms() < deadline_ms) {
        char role[16], leader[256];
        uint64_t leader_id;
        int64_t left = deadline_ms - now_ms();

        pthread_mutex_lock(&c->lock);
        snprintf(role, sizeof(role), "%s", c->status.role);
        snprintf(leader, sizeof(leader), "%s", c->status.leader_listen);
        leader_id = c->status.leader_id;
        pthread_mutex_unlock(&c->lock);
        if (strcmp(role, "leader") == 0 && leader_id == c->opts.node_id) {
            /* The barrier's callback runs after everything before it was
             * applied here. */
            rc = as_cluster_leader_read_index(c, deadline_ms, &index, st);
            if (rc == 0)
                return 0;
        } else if (leader_id != 0 && leader[0] != '\0') {
            ProtobufCMessage *m = NULL;

            rc = peer_call(c, leader, "ClusterReadIndex", &req.base,
                           left > 0x7fffffff ? 0x7fffffff : (int)left,
                           &artstore__v1__cluster_read_index_response__descriptor,
                           &m, st);
            if (rc == 0) {
                index = ((Artstore__V1__ClusterReadIndexResponse *)m)->index;
                protobuf_c_message_free_unpacked(m, NULL);
                return wait_applied(c, index, deadline_ms, st);
            }
        }
        if (rc == AS_CODE_RESOURCE_EXHAUSTED || rc == AS_CODE_INTERNAL ||
            rc == AS_CODE_UNAUTHENTICATED || rc == AS_CODE_PERMISSION_DENIED)
            return rc;
        pause_ms(20);
    }
    if (rc == 0)
        rc = as_status_set(st, AS_CODE_UNAVAILABLE,
                           "deadline passed before the read index was known");
    return rc;
}

void as_cluster_get_status(as_cluster_t *c, as_cluster_status_t *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->status;
    pthread_mutex_unlock(&c->lock);
}
