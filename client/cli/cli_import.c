/*
 * cli_import.c - the import subcommand: bulk loads of JSON Lines or of a
 * directory of text files.
 *
 * One reader (the calling thread) parses the input into batches and hands
 * them through a bounded queue to --jobs sender threads, each with its own
 * client (an as_client_t carries one request at a time), which send them
 * with as_put_batch. Puts are idempotent, so a batch whose reply was lost
 * is simply sent again, and running an import twice stores nothing new.
 * Every rejected article is reported on stderr with its line number or
 * file name; the others are stored all the same.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_json.h"

#define DEFAULT_JOBS 4
#define MAX_JOBS 64
#define DEFAULT_BATCH 200
#define MAX_BATCH 1000
/* A line or text file over this is rejected without being parsed: the
 * server's default max_body_bytes is 1 MiB, and JSON escaping can at most
 * multiply a body by six. */
#define MAX_LINE_BYTES (8u << 20)
/* A batch is closed at this many bytes of input, well under the server's
 * default 16 MiB max_message_bytes. */
#define MAX_BATCH_BYTES (6u << 20)
/* The first pause before a batch that got no reply is sent again (the
 * batch is idempotent); it doubles up to RETRY_PAUSE_MAX_MS. */
#define RETRY_PAUSE_MS 100
#define RETRY_PAUSE_MAX_MS 1000

/* One batch of parsed articles and where each came from. */
typedef struct batch {
    as_article_t *arts;
    char **labels;                 /* "FILE:LINE" or a file name */
    size_t n;
    size_t bytes;
    struct batch *next;
} batch_t;

typedef struct import {
    const cli_globals_t *g;
    int batch_max;
    pthread_mutex_t lock;
    pthread_cond_t cond;           /* queue changed, or stop */
    batch_t *head, *tail;
    size_t queued, max_queued;
    int eof;                       /* the reader is done */
    int fatal;                     /* a sender gave up: stop reading */
    int fatal_exit;
    int any_reply;                 /* a batch got a reply (the server was
                                      there once); read without the lock
                                      only as a hint */
    /* Counts, under lock. */
    uint64_t created, updated, unchanged, rejected, read;
    /* Progress: input bytes read of total_bytes, or files of total_items
     * (0: unknown). */
    uint64_t bytes_read, total_bytes, total_items;
    int progress;                  /* stderr is a terminal */
    double start;
    double last_draw;
} import_t;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ progress */

/* Draws the progress line (caller holds lock), at most 5 times a second
 * unless force. */
static void draw_progress(import_t *im, int force)
{
    double now = mono_s(), el = now - im->start, rate, frac = -1;
    uint64_t done = im->created + im->updated + im->unchanged + im->rejected;
    char eta[32] = "";

    if (!im->progress || (!force && now - im->last_draw < 0.2))
        return;
    im->last_draw = now;
    rate = el > 0 ? (double)done / el : 0;
    if (im->total_items > 0)
        frac = (double)done / (double)im->total_items;
    else if (im->total_bytes > 0)
        frac = (double)im->bytes_read / (double)im->total_bytes;
    if (frac > 0.001 && frac < 1 && el > 0.5)
        snprintf(eta, sizeof(eta), " ETA %.0fs", el / frac - el);
    if (frac >= 0)
        fprintf(stderr, "\r\033[Kimport: %llu articles (%.0f%%), %.0f/s%s",
                (unsigned long long)done, frac > 1 ? 100 : frac * 100, rate,
                eta);
    else
        fprintf(stderr, "\r\033[Kimport: %llu articles, %.0f/s",
                (unsigned long long)done, rate);
    fflush(stderr);
}

/* Reports one rejected article (caller holds lock). */
static void report_rejected(import_t *im, const char *label,
                            const char *code, const char *why)
{
    if (im->progress)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "%s: rejected: %s%s%s\n", label, code ? code : "",
            code ? ": " : "", why);
    im->rejected++;
}

/* ------------------------------------------------------------ batches */

static void batch_free(batch_t *b)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i < b->n; i++) {
        cli_article_clear(&b->arts[i]);
        free(b->labels[i]);
    }
    free(b->arts);
    free(b->labels);
    free(b);
}

static batch_t *batch_new(size_t cap)
{
    batch_t *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    b->arts = calloc(cap, sizeof(*b->arts));
    b->labels = calloc(cap, sizeof(*b->labels));
    if (b->arts == NULL || b->labels == NULL) {
        batch_free(b);
        return NULL;
    }
    return b;
}

/* Queues b for the senders, waiting while the queue is full. Returns 0,
 * or -1 (b freed) once a sender has given up. */
static int enqueue(import_t *im, batch_t *b)
{
    pthread_mutex_lock(&im->lock);
    while (im->queued >= im->max_queued && !im->fatal)
        pthread_cond_wait(&im->cond, &im->lock);
    if (im->fatal) {
        pthread_mutex_unlock(&im->lock);
        batch_free(b);
        return -1;
    }
    b->next = NULL;
    if (im->tail)
        im->tail->next = b;
    else
        im->head = b;
    im->tail = b;
    im->queued++;
    pthread_cond_broadcast(&im->cond);
    pthread_mutex_unlock(&im->lock);
    return 0;
}

/* Takes the next batch; NULL once the input is done and the queue empty,
 * or after a fatal error. */
static batch_t *dequeue(import_t *im)
{
    batch_t *b = NULL;

    pthread_mutex_lock(&im->lock);
    while (im->head == NULL && !im->eof && !im->fatal)
        pthread_cond_wait(&im->cond, &im->lock);
    if (im->head != NULL && !im->fatal) {
        b = im->head;
        im->head = b->next;
        if (im->head == NULL)
            im->tail = NULL;
        im->queued--;
        pthread_cond_broadcast(&im->cond);
    }
    pthread_mutex_unlock(&im->lock);
    return b;
}

/*
 * Sends b and records every outcome. A batch that got no reply, found the
 * connection refused or the server's write queue full may or may not have
 * been stored, and storing it again changes nothing: it is sent again
 * until the import's budget for one batch (--timeout) is spent, each try
 * waiting only for what is left of it. So a dead server costs one
 * --timeout per import, not one per try.
 */
static int send_batch(import_t *im, as_client_t *c, batch_t *b,
                      as_put_result_t *res)
{
    int64_t start = mono_ms(), left;
    int rc = AS_OK, pause = RETRY_PAUSE_MS;
    size_t i;

    for (;;) {
        left = im->g->timeout_ms - (mono_ms() - start);
        as_client_set_timeout(c, left > 0 ? (int)left : 1);
        rc = as_put_batch(c, b->arts, b->n, NULL, res);
        if (rc != AS_EUNAVAILABLE && rc != AS_ERESOURCE_EXHAUSTED)
            break;
        /* A server that refused the very first batch is not there at
         * all (a wrong address, not a restart): say so at once. */
        if (rc == AS_EUNAVAILABLE && !im->any_reply &&
            strstr(as_client_errmsg(c), "refused") != NULL)
            break;
        if (rc == AS_ERESOURCE_EXHAUSTED &&
            strstr(as_client_errmsg(c), "max_queue") == NULL)
            break;
        left = im->g->timeout_ms - (mono_ms() - start);
        if (left <= pause)
            break;
        usleep((useconds_t)pause * 1000u);
        pause = pause * 2 > RETRY_PAUSE_MAX_MS ? RETRY_PAUSE_MAX_MS
                                               : pause * 2;
    }
    pthread_mutex_lock(&im->lock);
    if (rc != AS_EUNAVAILABLE)
        im->any_reply = 1;
    if (rc == AS_EUNAVAILABLE) {
        if (!im->fatal) {
            if (im->progress)
                fputs("\r\033[K", stderr);
            fprintf(stderr, "artstore import: UNAVAILABLE: %s (gave up "
                    "on a batch after %.1f s, the --timeout budget); "
                    "stopping\n", as_client_errmsg(c),
                    (double)(mono_ms() - start) / 1000);
        }
        im->fatal = 1;
        im->fatal_exit = CLI_EXIT_UNAVAILABLE;
        pthread_cond_broadcast(&im->cond);
        pthread_mutex_unlock(&im->lock);
        return -1;
    }
    for (i = 0; i < b->n; i++) {
        if (res[i].rc != AS_OK) {
            report_rejected(im, b->labels[i], as_code_name(res[i].rc),
                            res[i].message);
            continue;
        }
        switch (res[i].outcome) {
        case AS_PUT_CREATED: im->created++; break;
        case AS_PUT_UPDATED: im->updated++; break;
        default: im->unchanged++; break;
        }
    }
    draw_progress(im, 0);
    pthread_mutex_unlock(&im->lock);
    return 0;
}

static void *sender_main(void *arg)
{
    import_t *im = arg;
    as_put_result_t *res;
    as_client_t *c = NULL;
    batch_t *b;

    res = calloc((size_t)im->batch_max, sizeof(*res));
    if (res == NULL || cli_connect(im->g, &cli_cmd_import, &c) != CLI_EXIT_OK) {
        pthread_mutex_lock(&im->lock);
        if (res == NULL)
            fprintf(stderr, "artstore import: out of memory\n");
        im->fatal = 1;
        im->fatal_exit = CLI_EXIT_ERROR;
        pthread_cond_broadcast(&im->cond);
        pthread_mutex_unlock(&im->lock);
        free(res);
        return NULL;
    }
    while ((b = dequeue(im)) != NULL) {
        int rc = send_batch(im, c, b, res);

        batch_free(b);
        if (rc != 0)
            break;
    }
    as_client_close(c);
    free(res);
    return NULL;
}

/* ------------------------------------------------------------ readers */

/* The reader's state: the batch being filled. */
typedef struct reader {
    import_t *im;
    batch_t *cur;
} reader_t;

/* Sends the current batch, if any. Returns 0 or -1 (stop reading). */
static int flush(reader_t *r)
{
    batch_t *b = r->cur;

    r->cur = NULL;
    if (b == NULL || b->n == 0) {
        batch_free(b);
        return 0;
    }
    return enqueue(r->im, b);
}

/* Adds a parsed article (taken over, a zeroed on return) with its label
 * (taken over). Returns 0, or -1 (stop reading). */
static int add(reader_t *r, as_article_t *a, char *label, size_t bytes)
{
    if (r->cur == NULL && (r->cur = batch_new((size_t)r->im->batch_max)) ==
                              NULL) {
        cli_article_clear(a);
        free(label);
        fprintf(stderr, "artstore import: out of memory\n");
        return -1;
    }
    r->cur->arts[r->cur->n] = *a;
    r->cur->labels[r->cur->n] = label;
    r->cur->n++;
    r->cur->bytes += bytes;
    memset(a, 0, sizeof(*a));
    if (r->cur->n >= (size_t)r->im->batch_max ||
        r->cur->bytes >= MAX_BATCH_BYTES)
        return flush(r);
    return 0;
}

static void reject_local(import_t *im, const char *label, const char *why)
{
    pthread_mutex_lock(&im->lock);
    report_rejected(im, label, NULL, why);
    pthread_mutex_unlock(&im->lock);
}

/*
 * Reads one line of f into buf (grown as needed, up to MAX_LINE_BYTES),
 * without its newline. A longer line is consumed to its end and reported
 * by *too_long. Returns the line length, or -1 at the end of input.
 */
static ssize_t read_line(FILE *f, char **buf, size_t *cap, int *too_long,
                         uint64_t *bytes)
{
    size_t n = 0;
    int ch, any = 0;

    *too_long = 0;
    while ((ch = getc_unlocked(f)) != EOF) {
        any = 1;
        (*bytes)++;
        if (ch == '\n')
            break;
        if (n >= MAX_LINE_BYTES) {
            *too_long = 1;
            continue;
        }
        if (n + 1 >= *cap) {
            size_t ncap = *cap ? *cap * 2 : 65536;
            char *p = realloc(*buf, ncap);

            if (p == NULL) {
                *too_long = 1;
                continue;
            }
            *buf = p;
            *cap = ncap;
        }
        (*buf)[n++] = (char)ch;
    }
    if (!any)
        return -1;
    (*buf)[n] = '\0';
    return (ssize_t)n;
}

/* Reads JSON Lines from f (named name in messages). Returns 0 or -1 (stop:
 * a sender gave up, or out of memory). */
static int read_jsonl(reader_t *r, FILE *f, const char *name)
{
    char *line = NULL, err[300], label[320];
    size_t cap = 0;
    uint64_t lineno = 0, bytes = 0;
    int too_long, rc = 0;
    ssize_t len;

    while ((len = read_line(f, &line, &cap, &too_long, &bytes)) >= 0) {
        as_article_t a;
        json_error_t jerr;
        json_t *obj;
        char *lab;

        lineno++;
        pthread_mutex_lock(&r->im->lock);
        r->im->bytes_read = bytes;
        r->im->read++;
        pthread_mutex_unlock(&r->im->lock);
        snprintf(label, sizeof(label), "%s:%llu", name,
                 (unsigned long long)lineno);
        if (too_long) {
            snprintf(err, sizeof(err), "line is longer than %u bytes",
                     MAX_LINE_BYTES);
            reject_local(r->im, label, err);
            continue;
        }
        if (strspn(line, " \t\r") == (size_t)len)
            continue;              /* blank lines are allowed */
        obj = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (obj == NULL) {
            snprintf(err, sizeof(err), "invalid JSON at column %d: %s",
                     jerr.column, jerr.text);
            reject_local(r->im, label, err);
            continue;
        }
        /* The export format carries server-owned fields (id, revision,
         * ingested_at, content_hash); they are read and then ignored by
         * the put, so an export imports as it is. */
        rc = cli_article_from_json(obj, &a, err, sizeof(err));
        json_decref(obj);
        if (rc != 0) {
            reject_local(r->im, label, err);
            rc = 0;
            continue;
        }
        if ((lab = strdup(label)) == NULL) {
            cli_article_clear(&a);
            fprintf(stderr, "artstore import: out of memory\n");
            rc = -1;
            break;
        }
        if ((rc = add(r, &a, lab, (size_t)len)) != 0)
            break;
    }
    free(line);
    return rc;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Lists the *.txt files of dir, sorted. Returns 0 with *names (n entries,
 * each and the array free()) or -1 with errno set. */
static int list_txt(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL, **p;
    size_t cnt = 0, cap = 0, len;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".txt") != 0 ||
            e->d_name[0] == '.')
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            if ((p = realloc(v, cap * sizeof(*v))) == NULL)
                goto out_nomem;
            v = p;
        }
        if ((v[cnt] = strdup(e->d_name)) == NULL)
            goto out_nomem;
        cnt++;
    }
    closedir(d);
    if (cnt > 0)
        qsort(v, cnt, sizeof(*v), cmp_str);
    *names = v;
    *n = cnt;
    return 0;

out_nomem:
    closedir(d);
    while (cnt > 0)
        free(v[--cnt]);
    free(v);
    errno = ENOMEM;
    return -1;
}

/* Reads one text file into a (title = first non-blank line, body = the
 * rest). Returns 0, or -1 with the reason in err. */
static int read_text_file(const char *path, as_article_t *a, size_t *bytes,
                          char *err, size_t errlen)
{
    struct stat sb;
    char *text = NULL, *title, *body;
    size_t len;
    FILE *f;
    int rc = -1;

    memset(a, 0, sizeof(*a));
    if ((f = fopen(path, "rb")) == NULL) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > (off_t)MAX_LINE_BYTES) {
        snprintf(err, errlen, "file is larger than %u bytes", MAX_LINE_BYTES);
        goto out_close;
    }
    if (cli_read_all(f, &text, &len) != 0) {
        snprintf(err, errlen, "cannot read: %s", strerror(errno));
        goto out_close;
    }
    if (strlen(text) != len) {
        snprintf(err, errlen, "contains a NUL byte");
        goto out_free_text;
    }
    cli_text_split(text, &title, &body);
    if (title == NULL) {
        snprintf(err, errlen, "empty file (no title line)");
        goto out_free_text;
    }
    if ((a->title = strdup(title)) == NULL ||
        (body && (a->body = strdup(body)) == NULL)) {
        cli_article_clear(a);
        snprintf(err, errlen, "out of memory");
        goto out_free_text;
    }
    *bytes = len;
    rc = 0;

out_free_text:
    free(text);
out_close:
    fclose(f);
    return rc;
}

/* Reads every *.txt file of dir. Returns 0 or -1 (stop). */
static int read_dir(reader_t *r, const char *dir)
{
    char **names, err[300], *path;
    size_t n, i, bytes;
    int rc = 0;

    if (list_txt(dir, &names, &n) != 0) {
        fprintf(stderr, "artstore import: cannot read directory '%s': %s\n",
                dir, strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&r->im->lock);
    r->im->total_items = n;
    pthread_mutex_unlock(&r->im->lock);
    for (i = 0; i < n; i++) {
        as_article_t a;

        if (rc != 0)
            goto next;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
            rc = -1;
            goto next;
        }
        pthread_mutex_lock(&r->im->lock);
        r->im->read++;
        pthread_mutex_unlock(&r->im->lock);
        if (read_text_file(path, &a, &bytes, err, sizeof(err)) != 0) {
            reject_local(r->im, path, err);
            free(path);
            goto next;
        }
        rc = add(r, &a, path, bytes);
next:
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ------------------------------------------------------------ command */

enum { IMPORT_JOBS = CLI_OPT_FIRST, IMPORT_BATCH };

static const struct option import_opts[] = {
    { "jobs", required_argument, NULL, IMPORT_JOBS },
    { "batch", required_argument, NULL, IMPORT_BATCH },
    { NULL, 0, NULL, 0 },
};

/* Parses a count in [1, max] from a flag or variable. */
static int parse_count(const char *s, int max, int *out)
{
    uint64_t v;

    if (cli_parse_u64(s, &v) != 0 || v < 1 || v > (uint64_t)max)
        return -1;
    *out = (int)v;
    return 0;
}

static int run_import(cli_globals_t *g, int argc, char **argv)
{
    const cli_cmd_t *cmd = &cli_cmd_import;
    import_t im;
    reader_t rd = { &im, NULL };
    pthread_t threads[MAX_JOBS];
    const char *path = NULL, *env;
    int jobs = DEFAULT_JOBS, batch = DEFAULT_BATCH, started = 0, c, i, rc = 0;
    struct stat sb;
    FILE *f = NULL;

    if ((env = getenv("ARTSTORE_JOBS")) && parse_count(env, MAX_JOBS, &jobs))
        return cli_usage_error(cmd, "ARTSTORE_JOBS must be 1..%d", MAX_JOBS);
    if ((env = getenv("ARTSTORE_BATCH")) && parse_count(env, MAX_BATCH,
                                                        &batch))
        return cli_usage_error(cmd, "ARTSTORE_BATCH must be 1..%d", MAX_BATCH);
    while ((c = cli_getopt(g, cmd, argc, argv, "j:", import_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case 'j':
        case IMPORT_JOBS:
            if (parse_count(optarg, MAX_JOBS, &jobs) != 0)
                return cli_usage_error(cmd, "--jobs must be 1..%d", MAX_JOBS);
            break;
        case IMPORT_BATCH:
            if (parse_count(optarg, MAX_BATCH, &batch) != 0)
                return cli_usage_error(cmd, "--batch must be 1..%d",
                                       MAX_BATCH);
            break;
        default:
            return cli_getopt_exit(c);
        }
    }
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);

    memset(&im, 0, sizeof(im));
    im.g = g;
    im.batch_max = batch;
    im.max_queued = (size_t)jobs * 2;
    im.progress = isatty(STDERR_FILENO);
    im.start = mono_s();
    pthread_mutex_init(&im.lock, NULL);
    pthread_cond_init(&im.cond, NULL);

    if (path != NULL && strcmp(path, "-") != 0) {
        if (stat(path, &sb) != 0) {
            rc = cli_usage_error(cmd, "cannot open '%s': %s", path,
                                 strerror(errno));
            goto out_destroy;
        }
        if (!S_ISDIR(sb.st_mode)) {
            if ((f = fopen(path, "rb")) == NULL) {
                rc = cli_usage_error(cmd, "cannot open '%s': %s", path,
                                     strerror(errno));
                goto out_destroy;
            }
            if (S_ISREG(sb.st_mode))
                im.total_bytes = (uint64_t)sb.st_size;
        }
    }
    for (i = 0; i < jobs; i++) {
        if (pthread_create(&threads[i], NULL, sender_main, &im) != 0)
            break;
        started++;
    }
    if (started == 0) {
        fprintf(stderr, "artstore import: cannot start a thread\n");
        rc = CLI_EXIT_ERROR;
        goto out_close;
    }
    if (path != NULL && strcmp(path, "-") != 0 && f == NULL)
        rc = read_dir(&rd, path);
    else
        rc = read_jsonl(&rd, f ? f : stdin, f ? path : "stdin");
    if (rc == 0)
        rc = flush(&rd);
    batch_free(rd.cur);
    pthread_mutex_lock(&im.lock);
    im.eof = 1;
    if (rc != 0 && !im.fatal) {
        im.fatal = 1;
        im.fatal_exit = CLI_EXIT_ERROR;
    }
    pthread_cond_broadcast(&im.cond);
    pthread_mutex_unlock(&im.lock);
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    /* Batches left behind by a fatal stop were never sent. */
    while (im.head != NULL) {
        batch_t *b = im.head;

        im.head = b->next;
        batch_free(b);
    }
    draw_progress(&im, 1);
    if (im.progress)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "import: %llu created, %llu updated, %llu unchanged, "
            "%llu rejected%s (%.1f s)\n",
            (unsigned long long)im.created, (unsigned long long)im.updated,
            (unsigned long long)im.unchanged,
            (unsigned long long)im.rejected,
            im.fatal ? ", import stopped early" : "", mono_s() - im.start);
    if (im.fatal)
        rc = im.fatal_exit ? im.fatal_exit : CLI_EXIT_ERROR;
    else
        rc = im.rejected > 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;

out_close:
    if (f != NULL)
        fclose(f);
out_destroy:
    pthread_cond_destroy(&im.cond);
    pthread_mutex_destroy(&im.lock);
    return rc;
}

const cli_cmd_t cli_cmd_import = {
    .name = "import",
    .summary = "store many articles from JSON Lines or text files",
    .run = run_import,
    .help =
        "EXAMPLES\n"
        "  artstore import articles.jsonl\n"
        "  artstore export | artstore --server tcp://10.0.0.6:7400 import\n"
        "  artstore import ./texts/ --jobs 8 --batch 500\n"
        "\n"
        "USAGE\n"
        "  artstore import [FILE.jsonl | DIR | -] [flags]\n"
        "\n"
        "  Stores many articles, in batches sent over several connections at\n"
        "  once. A FILE (or stdin, without one or with -) holds JSON Lines:\n"
        "  one article object per line in the format of `get -o json` and\n"
        "  `export` (published_at as RFC 3339 or Unix seconds; the fields\n"
        "  the server owns, id, revision, ingested_at and content_hash, are\n"
        "  ignored); blank lines are skipped, lines over 8 MiB rejected.\n"
        "  A DIR is read for its *.txt files: the first non-blank line is\n"
        "  the title and the rest the body; without a URL, the title and\n"
        "  body are the article's key.\n"
        "\n"
        "  Imports are idempotent: an article already stored with the same\n"
        "  content is left unchanged. Each rejected article is reported on\n"
        "  stderr with its line number (or file name) and the reason; the\n"
        "  others are stored all the same. A progress line is shown when\n"
        "  stderr is a terminal, and a summary line at the end:\n"
        "    import: 980 created, 12 updated, 6 unchanged, 2 rejected\n"
        "  Exits 1 if any article was rejected, 3 if the server stopped\n"
        "  answering (articles sent before may be stored; run it again).\n"
        "\n"
        "FLAGS\n"
        "  -j, --jobs N   connections sending at once, 1-64 [$ARTSTORE_JOBS;\n"
        "                 default 4]\n"
        "      --batch N  articles per request, 1-1000 (the server's\n"
        "                 max_batch bounds it too) [$ARTSTORE_BATCH;\n"
        "                 default 200]\n",
};
