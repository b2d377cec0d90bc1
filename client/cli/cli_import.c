/*
 * cli_import.c - the import subcommand: bulk loads of JSON Lines files,
 * text files and directories of them.
 *
 * One reader (the calling thread) parses the inputs, in the order given,
 * into batches and hands them through a bounded queue to --jobs sender
 * threads, each with its own client (an as_client_t carries one request
 * at a time), which send them with as_put_batch. Puts are idempotent, so
 * a batch whose reply was lost is simply sent again, and running an
 * import twice stores nothing new.
 *
 * Batches are numbered as they are read and reported in that order, so
 * rejections come out in input order whatever sender finished first, and
 * "acknowledged through X" is always a prefix of the input: what a Ctrl-C
 * summary prints, and what --resume-after skips.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_json.h"
#include "clock.h"

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

/* One batch: the input items it covers, in input order, each either an
 * article to send or a local rejection (parse error, too long, ...). */
typedef struct batch {
    uint64_t seq;                  /* input order, from 0 */
    as_article_t *arts;            /* the articles to send */
    size_t n;
    char **labels;                 /* per item: "FILE:LINE" or a file name */
    char **local_err;              /* per item: why it was rejected here,
                                      or NULL (then it is arts[art[i]]) */
    size_t *art;
    size_t n_items, cap_items;
    size_t bytes;
    as_put_result_t *res;          /* per article, once sent */
    int sent;                      /* res is filled */
    struct batch *next;
} batch_t;

/* Defaults for articles that lack a field (every text file does). */
typedef struct import_defaults {
    const char **tags;
    size_t n_tags;
    const char *source;
    int has_published;
    int64_t published;
} import_defaults_t;

typedef struct import {
    const cli_globals_t *g;
    int batch_max;
    int ignore_unknown;
    int exact;                     /* --exact: as_put_exact, in order */
    import_defaults_t dflt;
    const char *resume_after;      /* skip input up to this label */
    int resumed;                   /* the label was seen */
    pthread_mutex_t lock;
    pthread_cond_t cond;           /* queue changed, or stop */
    batch_t *head, *tail;
    size_t queued, max_queued;
    uint64_t next_seq;             /* the reader's next batch number */
    int eof;                       /* the reader is done */
    int fatal;                     /* a sender gave up: stop reading */
    int fatal_exit;
    int any_reply;                 /* a batch got a reply (the server was
                                      there once); read without the lock
                                      only as a hint */
    /* Batches sent, waiting for the ones before them to be reported. */
    batch_t *done;
    uint64_t report_seq;           /* next batch number to report */
    int gap;                       /* a batch before was not sent */
    char *acked_through;           /* label of the last item of the input
                                      prefix acknowledged so far */
    /* Counts, under lock; acknowledged in input order. */
    uint64_t created, updated, unchanged, rejected, read, skipped;
    uint64_t unsent;               /* items left unsent by a stop */
    /* Progress: input bytes read of total_bytes (0: unknown). */
    uint64_t bytes_read, total_bytes;
    int progress;                  /* stderr is a terminal */
    double start;
    double last_draw;
} import_t;

/* Set by SIGINT/SIGTERM: stop reading, finish what is in flight. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = 1;
    /* A second Ctrl-C ends the process at once. */
    signal(sig, SIG_DFL);
}

/* ------------------------------------------------------------ progress */

/* Draws the progress line (caller holds lock), at most 5 times a second
 * unless force. */
static void draw_progress(import_t *im, int force)
{
    double now = as_clock_mono_sec(), el = now - im->start, rate, frac = -1;
    uint64_t done = im->created + im->updated + im->unchanged + im->rejected;
    char eta[32] = "";

    if (!im->progress || (!force && now - im->last_draw < 0.2))
        return;
    im->last_draw = now;
    rate = el > 0 ? (double)done / el : 0;
    if (im->total_bytes > 0)
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
    for (i = 0; i < b->n; i++)
        cli_article_clear(&b->arts[i]);
    for (i = 0; i < b->n_items; i++) {
        free(b->labels[i]);
        free(b->local_err[i]);
    }
    free(b->arts);
    free(b->labels);
    free(b->local_err);
    free(b->art);
    free(b->res);
    free(b);
}

/* A batch holds up to cap articles and up to twice as many items, so a
 * run of bad lines still moves on. */
static batch_t *batch_new(size_t cap)
{
    batch_t *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    b->cap_items = cap * 2;
    b->arts = calloc(cap, sizeof(*b->arts));
    b->res = calloc(cap, sizeof(*b->res));
    b->labels = calloc(b->cap_items, sizeof(*b->labels));
    b->local_err = calloc(b->cap_items, sizeof(*b->local_err));
    b->art = calloc(b->cap_items, sizeof(*b->art));
    if (b->arts == NULL || b->res == NULL || b->labels == NULL ||
        b->local_err == NULL || b->art == NULL) {
        batch_free(b);
        return NULL;
    }
    return b;
}

/* Reports batch b (caller holds lock): its rejections in item order and
 * its counts; then frees it. A batch that was never sent (a stop) counts
 * its articles as unsent. */
static void report_batch(import_t *im, batch_t *b)
{
    size_t i, same = 0, repeats = 0;

    for (i = 0; i < b->n_items; i++) {
        const as_put_result_t *r = b->local_err[i] ? NULL : &b->res[b->art[i]];

        if (b->local_err[i] != NULL) {
            report_rejected(im, b->labels[i], NULL, b->local_err[i]);
            continue;
        }
        if (!b->sent) {
            im->unsent++;
            continue;
        }
        if (r->rc != AS_OK) {
            /* An exact import refused for the store's state (not empty)
             * refuses every article alike: said once, then counted. */
            if (im->exact && same > 0 && r->rc == b->res[same - 1].rc &&
                strcmp(r->message, b->res[same - 1].message) == 0) {
                im->rejected++;
                repeats++;
                continue;
            }
            report_rejected(im, b->labels[i], as_code_name(r->rc), r->message);
            same = b->art[i] + 1;
            continue;
        }
        switch (r->outcome) {
        case AS_PUT_CREATED: im->created++; break;
        case AS_PUT_UPDATED: im->updated++; break;
        default: im->unchanged++; break;
        }
    }
    if (repeats > 0)
        fprintf(stderr, "  (and %zu more articles of this batch, for the "
                "same reason)\n", repeats);
    /* An exact import cannot go on past a hole: the ids after it would
     * be stored, and the missing article could never be put back in its
     * place (ids ascend). */
    if (im->exact && im->rejected > 0 && !im->fatal) {
        im->fatal = 1;
        im->fatal_exit = CLI_EXIT_ERROR;
        pthread_cond_broadcast(&im->cond);
    }
    batch_free(b);
}

/* Files sent batch b among the done ones (caller holds lock) and reports
 * every batch that is next in input order. */
static void batch_done(import_t *im, batch_t *b)
{
    batch_t **pp = &im->done;

    while (*pp != NULL && (*pp)->seq < b->seq)
        pp = &(*pp)->next;
    b->next = *pp;
    *pp = b;
    while (im->done != NULL && im->done->seq == im->report_seq) {
        batch_t *d = im->done;

        im->done = d->next;
        im->report_seq++;
        if (!d->sent && d->n > 0)
            im->gap = 1;
        if (d->n_items > 0 && !im->gap) {
            free(im->acked_through);
            im->acked_through = strdup(d->labels[d->n_items - 1]);
        }
        report_batch(im, d);
    }
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
    b->seq = im->next_seq++;
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
    /* After Ctrl-C, queued batches stay unsent (reported as such). */
    if (im->head != NULL && !im->fatal && !interrupted) {
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
 * Reports an exact batch that the server refused as a whole (caller holds
 * lock): once, naming the line of the article the message names
 * ("articles[N]: ..."), and stops the import. Nothing of the batch was
 * written, so it counts as unsent and the resume point stays before it.
 */
static void exact_refused(import_t *im, as_client_t *c, batch_t *b, int rc)
{
    const char *msg = as_client_errmsg(c), *label = NULL;
    unsigned long n;
    size_t i;

    if (sscanf(msg, "articles[%lu]", &n) == 1)
        for (i = 0; i < b->n_items; i++)
            if (b->local_err[i] == NULL && b->art[i] == n)
                label = b->labels[i];
    if (im->progress)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "%s: rejected: %s: %s (nothing of its batch was "
            "written; stopping)\n", label ? label : "artstore import",
            as_code_name(rc), msg);
    im->rejected++;
    im->fatal = 1;
    im->fatal_exit = CLI_EXIT_ERROR;
    b->sent = 0;
    batch_done(im, b);
    pthread_cond_broadcast(&im->cond);
}

/*
 * Sends b and records every outcome. A batch that got no reply, found the
 * connection refused or the server's write queue full may or may not have
 * been stored, and storing it again changes nothing: it is sent again
 * until the import's budget for one batch (--timeout) is spent, each try
 * waiting only for what is left of it. So a dead server costs one
 * --timeout per import, not one per try.
 */
static int send_batch(import_t *im, as_client_t *c, batch_t *b)
{
    int64_t start = as_clock_mono_ms(), left;
    int rc = AS_OK, pause = RETRY_PAUSE_MS;

    for (;;) {
        if (b->n == 0)
            break;                 /* only local rejections */
        left = im->g->timeout_ms - (as_clock_mono_ms() - start);
        as_client_set_timeout(c, left > 0 ? (int)left : 1);
        rc = im->exact ? as_put_exact(c, b->arts, b->n, b->res)
                       : as_put_batch(c, b->arts, b->n, NULL, b->res);
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
        left = im->g->timeout_ms - (as_clock_mono_ms() - start);
        if (left <= pause)
            break;
        usleep((useconds_t)pause * 1000u);
        pause = pause * 2 > RETRY_PAUSE_MAX_MS ? RETRY_PAUSE_MAX_MS
                                               : pause * 2;
    }
    pthread_mutex_lock(&im->lock);
    if (rc != AS_EUNAVAILABLE)
        im->any_reply = 1;
    if (im->exact && rc != AS_OK && rc != AS_EUNAVAILABLE) {
        exact_refused(im, c, b, rc);
        pthread_mutex_unlock(&im->lock);
        return -1;
    }
    if (rc == AS_EUNAVAILABLE) {
        if (!im->fatal) {
            if (im->progress)
                fputs("\r\033[K", stderr);
            fprintf(stderr, "artstore import: UNAVAILABLE: %s (gave up "
                    "on a batch after %.1f s, the --timeout budget); "
                    "stopping\n", as_client_errmsg(c),
                    (double)(as_clock_mono_ms() - start) / 1000);
        }
        im->fatal = 1;
        im->fatal_exit = CLI_EXIT_UNAVAILABLE;
        b->sent = 0;
        batch_done(im, b);
        pthread_cond_broadcast(&im->cond);
        pthread_mutex_unlock(&im->lock);
        return -1;
    }
    b->sent = 1;
    batch_done(im, b);
    draw_progress(im, 0);
    pthread_mutex_unlock(&im->lock);
    return 0;
}

static void *sender_main(void *arg)
{
    import_t *im = arg;
    as_client_t *c = NULL;
    batch_t *b;

    if (cli_connect(im->g, &cli_cmd_import, &c) != CLI_EXIT_OK) {
        pthread_mutex_lock(&im->lock);
        im->fatal = 1;
        im->fatal_exit = CLI_EXIT_ERROR;
        pthread_cond_broadcast(&im->cond);
        pthread_mutex_unlock(&im->lock);
        return NULL;
    }
    while ((b = dequeue(im)) != NULL)
        if (send_batch(im, c, b) != 0)
            break;
    as_client_close(c);
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
    if (b == NULL || b->n_items == 0) {
        batch_free(b);
        return 0;
    }
    return enqueue(r->im, b);
}

/* Returns whether the item labelled label is to be read: false while
 * --resume-after has not been passed yet (the label itself included). */
static int wanted(reader_t *r, const char *label)
{
    import_t *im = r->im;

    if (im->resume_after == NULL || im->resumed)
        return 1;
    if (strcmp(label, im->resume_after) == 0)
        im->resumed = 1;
    return 0;
}

/* Adds an item: the parsed article a (taken over, zeroed on return) or,
 * with why != NULL, a local rejection; label is copied. Returns 0, or -1
 * (stop reading). */
static int add_item(reader_t *r, as_article_t *a, const char *label,
                    const char *why, size_t bytes)
{
    batch_t *b;
    size_t i;

    if (r->cur == NULL && (r->cur = batch_new((size_t)r->im->batch_max)) ==
                              NULL)
        goto out_oom;
    b = r->cur;
    i = b->n_items;
    if ((b->labels[i] = strdup(label)) == NULL ||
        (why != NULL && (b->local_err[i] = strdup(why)) == NULL)) {
        free(b->labels[i]);
        b->labels[i] = NULL;
        goto out_oom;
    }
    b->n_items++;
    if (why == NULL) {
        b->art[i] = b->n;
        b->arts[b->n++] = *a;
        memset(a, 0, sizeof(*a));
        b->bytes += bytes;
    }
    if (b->n >= (size_t)r->im->batch_max || b->n_items >= b->cap_items ||
        b->bytes >= MAX_BATCH_BYTES)
        return flush(r);
    return 0;

out_oom:
    if (a != NULL)
        cli_article_clear(a);
    fprintf(stderr, "artstore import: out of memory\n");
    return -1;
}

static int add(reader_t *r, as_article_t *a, const char *label, size_t bytes)
{
    return add_item(r, a, label, NULL, bytes);
}

static int reject_local(reader_t *r, const char *label, const char *why)
{
    return add_item(r, NULL, label, why, 0);
}

/* Fills the fields a lacks from the --tag, --source and --published
 * defaults. Returns 0 or -1 (out of memory). */
static int apply_defaults(const import_defaults_t *d, as_article_t *a)
{
    size_t i;

    if (a->source == NULL && d->source != NULL &&
        (a->source = strdup(d->source)) == NULL)
        return -1;
    if (!a->has_published_at && d->has_published) {
        a->has_published_at = 1;
        a->published_at = d->published;
    }
    if (a->n_tags == 0 && d->n_tags > 0) {
        const char **tags = calloc(d->n_tags, sizeof(*tags));

        if (tags == NULL)
            return -1;
        a->tags = tags;
        for (i = 0; i < d->n_tags; i++, a->n_tags++)
            if ((tags[i] = strdup(d->tags[i])) == NULL)
                return -1;
    }
    return 0;
}

static int stopping(reader_t *r)
{
    return interrupted || r->im->fatal;
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
 * a sender gave up, out of memory, or interrupted). */
static int read_jsonl(reader_t *r, FILE *f, const char *name)
{
    char *line = NULL, err[300], label[4200];
    size_t cap = 0;
    uint64_t lineno = 0, bytes = 0, last = 0;
    int too_long, rc = 0;
    ssize_t len;

    while (!stopping(r) &&
           (len = read_line(f, &line, &cap, &too_long, &bytes)) >= 0) {
        as_article_t a;
        json_error_t jerr;
        json_t *obj;
        char *text = line;

        lineno++;
        pthread_mutex_lock(&r->im->lock);
        r->im->bytes_read += bytes - last;
        last = bytes;
        r->im->read++;
        pthread_mutex_unlock(&r->im->lock);
        snprintf(label, sizeof(label), "%s:%llu", name,
                 (unsigned long long)lineno);
        if (!wanted(r, label))
            continue;
        if (too_long) {
            snprintf(err, sizeof(err), "line is longer than %u bytes",
                     MAX_LINE_BYTES);
            if ((rc = reject_local(r, label, err)) != 0)
                break;
            continue;
        }
        /* A byte order mark before the first line is not JSON. */
        if (lineno == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
            text += 3;
            len -= 3;
        }
        if (strspn(text, " \t\r") == (size_t)len)
            continue;              /* blank lines are allowed */
        obj = json_loadb(text, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (obj == NULL) {
            snprintf(err, sizeof(err), "invalid JSON at column %d: %s",
                     jerr.column, jerr.text);
            if ((rc = reject_local(r, label, err)) != 0)
                break;
            continue;
        }
        /* The export format carries server-owned fields (id, revision,
         * ingested_at, content_hash); they are read and then ignored by
         * the put, so an export imports as it is. */
        rc = cli_article_from_json(obj, &a, r->im->ignore_unknown, err,
                                   sizeof(err));
        json_decref(obj);
        if (rc == 0 && r->im->exact && (a.id == 0 || a.revision == 0)) {
            cli_article_clear(&a);
            snprintf(err, sizeof(err), "an exact import needs the fields "
                     "'id' and 'revision' (and 'ingested_at'), as export "
                     "writes them");
            rc = -1;
        }
        if (rc != 0) {
            if ((rc = reject_local(r, label, err)) != 0)
                break;
            continue;
        }
        if (apply_defaults(&r->im->dflt, &a) != 0) {
            cli_article_clear(&a);
            fprintf(stderr, "artstore import: out of memory\n");
            rc = -1;
            break;
        }
        if ((rc = add(r, &a, label, (size_t)len)) != 0)
            break;
    }
    free(line);
    return stopping(r) ? -1 : rc;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Returns whether name ends with suffix. */
static int ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);

    return n > k && strcmp(name + n - k, suffix) == 0;
}

/* What an input file is read as: text (*.txt) or JSON Lines. */
static int is_text(const char *path)
{
    return ends_with(path, ".txt");
}

/* Lists the entries of dir but . and .., sorted. Returns 0 with *names (n
 * entries, each and the array free()) or -1 with errno set. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL, **p;
    size_t cnt = 0, cap = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
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

/* Says on stderr that path was not read, and why. */
static void report_skipped(import_t *im, const char *path, const char *why)
{
    pthread_mutex_lock(&im->lock);
    if (im->progress)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "%s: skipped: %s\n", path, why);
    im->skipped++;
    pthread_mutex_unlock(&im->lock);
}

/* Reads one text file into a (title = first non-blank line, body = the
 * rest; a UTF-8 byte order mark is dropped). Returns 0, or -1 with the
 * reason in err. */
static int read_text_file(const char *path, as_article_t *a, size_t *bytes,
                          char *err, size_t errlen)
{
    struct stat sb;
    char *text = NULL, *start, *title, *body;
    size_t len;
    FILE *f;
    int rc = -1;

    memset(a, 0, sizeof(*a));
    *bytes = 0;
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
    *bytes = len;
    if (strlen(text) != len) {
        snprintf(err, errlen, "contains a NUL byte");
        goto out_free_text;
    }
    start = text;
    if (len >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0)
        start += 3;
    cli_text_split(start, &title, &body);
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
    rc = 0;

out_free_text:
    free(text);
out_close:
    fclose(f);
    return rc;
}

/* Reads one text file as one article. Returns 0 or -1 (stop). */
static int read_text(reader_t *r, const char *path)
{
    as_article_t a;
    char err[300];
    size_t bytes;
    int rc;

    if (!wanted(r, path))
        return 0;
    pthread_mutex_lock(&r->im->lock);
    r->im->read++;
    pthread_mutex_unlock(&r->im->lock);
    rc = read_text_file(path, &a, &bytes, err, sizeof(err));
    pthread_mutex_lock(&r->im->lock);
    r->im->bytes_read += bytes;
    pthread_mutex_unlock(&r->im->lock);
    if (rc != 0)
        return reject_local(r, path, err);
    if (apply_defaults(&r->im->dflt, &a) != 0) {
        cli_article_clear(&a);
        fprintf(stderr, "artstore import: out of memory\n");
        return -1;
    }
    return add(r, &a, path, bytes);
}

/* Reads a JSON Lines file. Returns 0 or -1 (stop). */
static int read_jsonl_file(reader_t *r, const char *path)
{
    FILE *f = fopen(path, "rb");
    int rc;

    if (f == NULL) {
        report_skipped(r->im, path, strerror(errno));
        return 0;
    }
    rc = read_jsonl(r, f, path);
    fclose(f);
    return rc;
}

/* Reads the *.txt files (as text) and *.jsonl files of dir, in name
 * order; everything else is reported as skipped. Returns 0 or -1. */
static int read_dir(reader_t *r, const char *dir)
{
    char **names, *path;
    size_t n, i;
    struct stat sb;
    int rc = 0;

    if (list_dir(dir, &names, &n) != 0) {
        report_skipped(r->im, dir, strerror(errno));
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (rc != 0 || stopping(r))
            goto next;
        if (asprintf(&path, "%s%s%s", dir,
                     ends_with(dir, "/") ? "" : "/", names[i]) < 0) {
            rc = -1;
            goto next;
        }
        if (stat(path, &sb) != 0)
            report_skipped(r->im, path, strerror(errno));
        else if (S_ISDIR(sb.st_mode))
            report_skipped(r->im, path, "a directory inside a directory "
                           "(not read; name it to import it)");
        else if (!S_ISREG(sb.st_mode))
            report_skipped(r->im, path, "not a regular file");
        else if (is_text(names[i]))
            rc = read_text(r, path);
        else if (ends_with(names[i], ".jsonl"))
            rc = read_jsonl_file(r, path);
        else
            report_skipped(r->im, path, "neither *.txt nor *.jsonl");
        free(path);
next:
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Reads one input named on the command line. Returns 0 or -1 (stop). */
static int read_input(reader_t *r, const char *path)
{
    struct stat sb;

    if (strcmp(path, "-") == 0)
        return read_jsonl(r, stdin, "stdin");
    if (stat(path, &sb) != 0) {
        report_skipped(r->im, path, strerror(errno));
        return 0;
    }
    if (S_ISDIR(sb.st_mode))
        return read_dir(r, path);
    if (is_text(path))
        return read_text(r, path);
    return read_jsonl_file(r, path);
}

/* Adds the sizes of what read_input(path) reads to *total. */
static void input_size(const char *path, uint64_t *total)
{
    struct stat sb;
    char **names, *p;
    size_t n, i;

    if (strcmp(path, "-") == 0 || stat(path, &sb) != 0)
        return;
    if (S_ISREG(sb.st_mode)) {
        *total += (uint64_t)sb.st_size;
        return;
    }
    if (!S_ISDIR(sb.st_mode) || list_dir(path, &names, &n) != 0)
        return;
    for (i = 0; i < n; i++) {
        if ((is_text(names[i]) || ends_with(names[i], ".jsonl")) &&
            asprintf(&p, "%s/%s", path, names[i]) >= 0) {
            if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
                *total += (uint64_t)sb.st_size;
            free(p);
        }
        free(names[i]);
    }
    free(names);
}

/* ------------------------------------------------------------ command */

enum {
    IMPORT_JOBS = CLI_OPT_FIRST,
    IMPORT_BATCH,
    IMPORT_TAG,
    IMPORT_SOURCE,
    IMPORT_PUBLISHED,
    IMPORT_IGNORE_UNKNOWN,
    IMPORT_RESUME_AFTER,
    IMPORT_EXACT,
};

static const struct option import_opts[] = {
    { "jobs", required_argument, NULL, IMPORT_JOBS },
    { "batch", required_argument, NULL, IMPORT_BATCH },
    { "tag", required_argument, NULL, IMPORT_TAG },
    { "source", required_argument, NULL, IMPORT_SOURCE },
    { "published", required_argument, NULL, IMPORT_PUBLISHED },
    { "ignore-unknown", no_argument, NULL, IMPORT_IGNORE_UNKNOWN },
    { "resume-after", required_argument, NULL, IMPORT_RESUME_AFTER },
    { "exact", no_argument, NULL, IMPORT_EXACT },
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

/* The exit status of an import stopped by Ctrl-C (128 + SIGINT). */
#define CLI_EXIT_INTERRUPTED 130

/* Prints the closing summary: a line on stderr, and with -o json/jsonl an
 * object on stdout. */
static int print_summary(import_t *im, const char *const *inputs,
                         size_t n_inputs)
{
    int stopped = interrupted || im->fatal;
    size_t i;

    if (im->progress)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "import: %llu created, %llu updated, %llu unchanged, "
            "%llu rejected, %llu skipped%s (%.1f s)\n",
            (unsigned long long)im->created, (unsigned long long)im->updated,
            (unsigned long long)im->unchanged,
            (unsigned long long)im->rejected,
            (unsigned long long)im->skipped,
            interrupted ? ", interrupted"
                        : im->fatal ? ", import stopped early" : "",
            as_clock_mono_sec() - im->start);
    if (stopped) {
        if (im->acked_through != NULL)
            fprintf(stderr, "import: everything through %s is acknowledged "
                    "(stored or rejected as listed)", im->acked_through);
        else
            fprintf(stderr, "import: nothing was acknowledged");
        fprintf(stderr, "; to resume, run it again with the same inputs%s%s%s "
                "(stored articles come back unchanged):\n  artstore import",
                im->acked_through ? " and --resume-after '" : "",
                im->acked_through ? im->acked_through : "",
                im->acked_through ? "'" : "");
        for (i = 0; i < n_inputs; i++)
            fprintf(stderr, " %s", inputs[i]);
        if (im->acked_through)
            fprintf(stderr, " --resume-after '%s'", im->acked_through);
        fputc('\n', stderr);
    }
    if (im->g->output == CLI_OUTPUT_TEXT)
        return CLI_EXIT_OK;
    return cli_print_json_as(im->g, json_pack(
        "{sIsIsIsIsIsbsbss?}", "created", (json_int_t)im->created,
        "updated", (json_int_t)im->updated,
        "unchanged", (json_int_t)im->unchanged,
        "rejected", (json_int_t)im->rejected,
        "skipped", (json_int_t)im->skipped,
        "interrupted", (int)interrupted, "stopped_early", im->fatal,
        "acknowledged_through", im->acked_through));
}

/* What the import flags and variables say, besides what goes into the
 * import_t itself. */
typedef struct import_args {
    int jobs, batch;
    const char *const *inputs;     /* the inputs, or stdin alone */
    size_t n_inputs;
} import_args_t;

/*
 * Parses ARTSTORE_JOBS/ARTSTORE_BATCH, the flags (defaults into im->dflt,
 * whose tags array holds argc entries) and the inputs, each of which must
 * exist, and settles the output format. Returns CLI_EXIT_OK, or the exit
 * status of an error it printed.
 */
static int parse_import_args(cli_globals_t *g, int argc, char **argv,
                             import_t *im, import_args_t *a)
{
    static const char *const stdin_only[] = { "-" };
    const cli_cmd_t *cmd = &cli_cmd_import;
    const char *env;
    char err[200];
    size_t i;
    int c;

    a->jobs = DEFAULT_JOBS;
    a->batch = DEFAULT_BATCH;
    if ((env = getenv("ARTSTORE_JOBS")) && parse_count(env, MAX_JOBS,
                                                       &a->jobs))
        return cli_usage_error(cmd, "ARTSTORE_JOBS must be 1..%d", MAX_JOBS);
    if ((env = getenv("ARTSTORE_BATCH")) && parse_count(env, MAX_BATCH,
                                                        &a->batch))
        return cli_usage_error(cmd, "ARTSTORE_BATCH must be 1..%d", MAX_BATCH);
    while ((c = cli_getopt(g, cmd, argc, argv, "j:", import_opts)) !=
           CLI_GETOPT_END) {
        switch (c) {
        case 'j':
        case IMPORT_JOBS:
            if (parse_count(optarg, MAX_JOBS, &a->jobs) != 0)
                return cli_usage_error(cmd, "--jobs must be 1..%d", MAX_JOBS);
            break;
        case IMPORT_BATCH:
            if (parse_count(optarg, MAX_BATCH, &a->batch) != 0)
                return cli_usage_error(cmd, "--batch must be 1..%d",
                                       MAX_BATCH);
            break;
        case IMPORT_TAG: im->dflt.tags[im->dflt.n_tags++] = optarg; break;
        case IMPORT_SOURCE: im->dflt.source = optarg; break;
        case IMPORT_PUBLISHED:
            if (cli_time_parse(optarg, &im->dflt.published, err,
                               sizeof(err)) != 0)
                return cli_usage_error(cmd, "--published: %s", err);
            im->dflt.has_published = 1;
            break;
        case IMPORT_IGNORE_UNKNOWN: im->ignore_unknown = 1; break;
        case IMPORT_RESUME_AFTER: im->resume_after = optarg; break;
        case IMPORT_EXACT: im->exact = 1; break;
        default:
            return cli_parse_stop(c);
        }
    }
    if (optind < argc) {
        a->inputs = (const char *const *)argv + optind;
        a->n_inputs = (size_t)(argc - optind);
    } else {
        a->inputs = stdin_only;
        a->n_inputs = 1;
    }
    /* A name that is not there is a typo: refuse before importing any. */
    for (i = 0; i < a->n_inputs; i++) {
        struct stat sb;

        if (strcmp(a->inputs[i], "-") != 0 && stat(a->inputs[i], &sb) != 0)
            return cli_usage_error(cmd, "cannot open '%s': %s", a->inputs[i],
                                   strerror(errno));
        input_size(a->inputs[i], &im->total_bytes);
    }
    return cli_output_check(g, cmd, CLI_FMT_TEXT | CLI_FMT_JSON |
                                        CLI_FMT_JSONL,
                            CLI_OUTPUT_TEXT);
}

/* The SIGINT and SIGTERM handlers import replaced. */
typedef struct saved_signals {
    struct sigaction old_int, old_term;
} saved_signals_t;

/*
 * Catches Ctrl-C and SIGTERM (saved keeps the old handlers) and starts
 * up to jobs sender threads into threads. Ctrl-C stops the reading; the
 * batches in flight are waited for and counted, so the summary says what
 * the server acknowledged. Only this thread takes the signals: the
 * senders' waits go on. Returns how many threads started.
 */
static int start_senders(import_t *im, int jobs, pthread_t *threads,
                         saved_signals_t *saved)
{
    struct sigaction sa;
    sigset_t block, prev;
    int started = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &saved->old_int);
    sigaction(SIGTERM, &sa, &saved->old_term);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &prev);
    while (started < jobs &&
           pthread_create(&threads[started], NULL, sender_main, im) == 0)
        started++;
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    return started;
}

/*
 * Reads the inputs in order into batches for the senders, until the end
 * or a stop, then tells the senders there is no more. A read error stops
 * the import (exit 1) unless a sender or Ctrl-C stopped it first.
 */
static void read_inputs(import_t *im, const import_args_t *a)
{
    reader_t rd = { im, NULL };
    size_t i;
    int rc = 0;

    for (i = 0; i < a->n_inputs && rc == 0 && !stopping(&rd); i++)
        rc = read_input(&rd, a->inputs[i]);
    if (!stopping(&rd) && rc == 0)
        rc = flush(&rd);
    if (rd.cur != NULL) {
        /* Read, never queued (interrupted): unsent. */
        pthread_mutex_lock(&im->lock);
        rd.cur->seq = im->next_seq++;
        batch_done(im, rd.cur);
        pthread_mutex_unlock(&im->lock);
        rd.cur = NULL;
    }
    pthread_mutex_lock(&im->lock);
    im->eof = 1;
    if (rc != 0 && !im->fatal && !interrupted) {
        im->fatal = 1;
        im->fatal_exit = CLI_EXIT_ERROR;
    }
    pthread_cond_broadcast(&im->cond);
    pthread_mutex_unlock(&im->lock);
}

/* Waits for the started senders, then reports every batch not reported
 * yet, in input order: those left in the queue by a stop were never sent
 * and are reported as unsent in their place. */
static void finish_senders(import_t *im, pthread_t *threads, int started)
{
    int i;

    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    while (im->head != NULL) {
        batch_t *b = im->head;

        im->head = b->next;
        b->sent = 0;
        batch_done(im, b);
    }
    while (im->done != NULL) {
        batch_t *b = im->done;

        im->done = b->next;
        report_batch(im, b);
    }
    draw_progress(im, 1);
}

/* Prints the end of an import that ran and returns its exit status: a
 * --resume-after that named nothing is a usage error; else the summary,
 * then 130 if interrupted, the senders' status if one gave up, 1 if an
 * article was rejected. */
static int import_result(import_t *im, const import_args_t *a)
{
    int rc;

    if (im->resume_after != NULL && !im->resumed) {
        if (im->progress)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "artstore import: --resume-after '%s' names no "
                "line or file of these inputs; nothing was imported\n",
                im->resume_after);
        return CLI_EXIT_USAGE;
    }
    rc = print_summary(im, a->inputs, a->n_inputs);
    if (interrupted)
        return CLI_EXIT_INTERRUPTED;
    if (im->fatal)
        return im->fatal_exit ? im->fatal_exit : CLI_EXIT_ERROR;
    if (rc == CLI_EXIT_OK && im->rejected > 0)
        return CLI_EXIT_ERROR;
    return rc;
}

static int run_import(cli_globals_t *g, int argc, char **argv)
{
    import_t im;
    import_args_t a;
    pthread_t threads[MAX_JOBS];
    saved_signals_t saved;
    const char **tags;
    int started, rc;

    memset(&im, 0, sizeof(im));
    memset(&a, 0, sizeof(a));
    if ((tags = calloc((size_t)argc, sizeof(*tags))) == NULL)
        return cli_oom(&cli_cmd_import);
    im.dflt.tags = tags;
    if ((rc = parse_import_args(g, argc, argv, &im, &a)) != CLI_EXIT_OK)
        goto out_free_tags;

    /* Exact puts must reach the server in input order (ids ascend): one
     * sender. */
    if (im.exact)
        a.jobs = 1;
    im.g = g;
    im.batch_max = a.batch;
    im.max_queued = (size_t)a.jobs * 2;
    im.progress = isatty(STDERR_FILENO);
    im.start = as_clock_mono_sec();
    pthread_mutex_init(&im.lock, NULL);
    pthread_cond_init(&im.cond, NULL);
    if ((started = start_senders(&im, a.jobs, threads, &saved)) == 0) {
        fprintf(stderr, "artstore import: cannot start a thread\n");
        rc = CLI_EXIT_ERROR;
        goto out_destroy;
    }
    read_inputs(&im, &a);
    finish_senders(&im, threads, started);
    rc = import_result(&im, &a);

out_destroy:
    sigaction(SIGINT, &saved.old_int, NULL);
    sigaction(SIGTERM, &saved.old_term, NULL);
    pthread_cond_destroy(&im.cond);
    pthread_mutex_destroy(&im.lock);
    free(im.acked_through);
out_free_tags:
    free(tags);
    return rc;
}

const cli_cmd_t cli_cmd_import = {
    .name = "import",
    .summary = "store many articles from JSON Lines and text files",
    .run = run_import,
    .help =
        "EXAMPLES\n"
        "  artstore import articles.jsonl\n"
        "  artstore import corpus/*.txt --source 'Coastal Times' --tag news\n"
        "  artstore import ./texts/ more.jsonl --jobs 8 --batch 500\n"
        "  artstore import scraped.jsonl --ignore-unknown --published -2d\n"
        "  artstore export | artstore --server tcp://10.0.0.6:7400 import\n"
        "  artstore export > old.jsonl && artstore -s tcp://new:7400 import --exact old.jsonl\n"
        "\n"
        "USAGE\n"
        "  artstore import [FILE | DIR | -]... [flags]\n"
        "\n"
        "  Stores many articles, in batches sent over several connections at\n"
        "  once, from each input in the order given (stdin without any, or\n"
        "  for -):\n"
        "  - a FILE.txt is one text article: its first non-blank line is the\n"
        "    title, the rest the body; without a URL, the title and body\n"
        "    are the article's key;\n"
        "  - any other FILE (and stdin) holds JSON Lines: one article object\n"
        "    per line in the format of `get -o json` and `export`\n"
        "    (published_at as RFC 3339 or Unix seconds; the fields the\n"
        "    server owns, id, revision, ingested_at and content_hash, are\n"
        "    ignored); blank lines are skipped, lines over 8 MiB rejected;\n"
        "  - a DIR is read for its *.txt and *.jsonl files, in name order;\n"
        "    every other entry (subdirectories too) is listed on stderr as\n"
        "    `PATH: skipped: why`.\n"
        "  A UTF-8 byte order mark at the start of a file is dropped.\n"
        "\n"
        "  The server gives imported articles their own ids, ingested_at and\n"
        "  revisions (an export imported elsewhere is renumbered), unless\n"
        "  --exact is given.\n"
        "\n"
        "  --exact migrates an export into an EMPTY store as it was: every\n"
        "  article keeps its id, revision and ingested_at (and story_id and\n"
        "  duplicate_of when the server has stories on), so export, import\n"
        "  --exact, export gives the same lines. Every line needs id and\n"
        "  revision (and ingested_at); ids must ascend, as export writes\n"
        "  them; one connection sends in input order. The server refuses a\n"
        "  store that holds anything but an earlier exact import (the first\n"
        "  line is rejected FAILED_PRECONDITION: the store is not empty); a\n"
        "  rerun or resume stores nothing twice (same articles: unchanged).\n"
        "  Each article's change is logged at seq = its revision, so the\n"
        "  changelog has gaps (artstored --check knows them); watchers that\n"
        "  follow the feed during the import may miss events, Changes from\n"
        "  0 has them all. The first rejected line stops the import (a\n"
        "  request with an invalid article writes nothing of it). With a\n"
        "  token file the server wants an admin token. For a copy of the\n"
        "  whole store, changelog and stories included, use `artstore\n"
        "  backup`.\n"
        "\n"
        "  Imports are idempotent: an article already stored with the same\n"
        "  content is left unchanged. Each rejected article is reported on\n"
        "  stderr, in input order, with its line (FILE:LINE) or file name and\n"
        "  the reason; the others are stored all the same. A progress line\n"
        "  is shown when stderr is a terminal, and a summary line at the end:\n"
        "    import: 980 created, 12 updated, 6 unchanged, 2 rejected, 0 skipped\n"
        "  With -o json or jsonl the summary is also printed on stdout as an\n"
        "  object (created, updated, unchanged, rejected, skipped,\n"
        "  interrupted, stopped_early, acknowledged_through).\n"
        "\n"
        "  Ctrl-C (or SIGTERM) stops reading, waits for the batches in\n"
        "  flight and prints the summary with the last line or file through\n"
        "  which everything was acknowledged, and the command that resumes\n"
        "  after it (--resume-after); a second Ctrl-C quits at once. A\n"
        "  batch that gets no reply is sent again until --timeout is spent\n"
        "  on it; then the import stops. A server that refuses the first\n"
        "  connection is reported at once.\n"
        "\n"
        "  Exits 1 if any article was rejected, 3 if the server stopped\n"
        "  answering (run it again, or resume as the summary says), 130 if\n"
        "  interrupted.\n"
        "\n"
        "FLAGS\n"
        "  -j, --jobs N            connections sending at once, 1-64\n"
        "                          [$ARTSTORE_JOBS; default 4]\n"
        "      --batch N           articles per request, 1-1000 (the server's\n"
        "                          max_batch bounds it too) [$ARTSTORE_BATCH;\n"
        "                          default 200]\n"
        "      --tag TAG           a tag for articles that have none (every\n"
        "                          text file); repeat for more\n"
        "      --source SOURCE     the source of articles without one\n"
        "      --published TIME    the published time of articles without\n"
        "                          one: RFC 3339, Unix seconds or relative\n"
        "                          (-2d)\n"
        "      --exact             keep ids, revisions and ingested_at: a\n"
        "                          migration into an empty store (above)\n"
        "      --ignore-unknown    skip JSON fields that are not article\n"
        "                          fields instead of rejecting the line\n"
        "      --resume-after L    skip the input up to and including L, a\n"
        "                          FILE:LINE or file name as the summary of\n"
        "                          an interrupted import printed it\n",
};
