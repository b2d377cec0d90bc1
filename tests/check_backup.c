/*
 * check_backup.c - the Backup method end to end: a hot copy taken while
 * another client keeps writing holds exactly the changes up to the seq it
 * reports, and a second server started on it serves them.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

#define MAX_PUTS 4000

typedef struct writer_arg {
    const char *endpoint;
    atomic_int stop;
    atomic_int n;                 /* puts acknowledged so far */
    uint64_t rev[MAX_PUTS];       /* revision of put i (its change seq) */
    int rc;                       /* first failure, AS_OK if none */
} writer_arg_t;

static int put_one(as_client_t *c, int i, uint64_t *rev)
{
    char url[64], title[64];
    const char *tags[] = { "backup" };
    as_article_t a = { 0 };
    as_put_result_t r;
    int rc;

    snprintf(url, sizeof(url), "https://example.com/b/%d", i);
    snprintf(title, sizeof(title), "title %d", i);
    a.url = url;
    a.title = title;
    a.body = "body";
    a.tags = tags;
    a.n_tags = 1;
    rc = as_put(c, &a, AS_REV_ANY, &r);
    if (rc == AS_OK)
        *rev = r.revision;
    return rc;
}

/* Puts articles first..MAX_PUTS-1 until told to stop. */
static void *writer_main(void *p)
{
    writer_arg_t *w = p;
    as_client_t *c;
    int i;

    w->rc = as_client_connect(w->endpoint, 5000, &c);
    if (w->rc != AS_OK)
        return NULL;
    for (i = atomic_load(&w->n); i < MAX_PUTS && !atomic_load(&w->stop); i++) {
        if ((w->rc = put_one(c, i, &w->rev[i])) != AS_OK)
            break;
        atomic_store(&w->n, i + 1);
    }
    as_client_close(c);
    return NULL;
}

START_TEST(hot_backup_serves_same_data)
{
    ts_server_t s, s2;
    writer_arg_t *w = calloc(1, sizeof(*w));
    as_client_t *c, *c2;
    as_backup_info_t info;
    as_ping_info_t ping;
    pthread_t th;
    char bk[128];
    int i, n, before = 0, after = 0;

    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &c), AS_OK);
    /* A first batch, then a second client that keeps writing. */
    for (i = 0; i < 200; i++)
        ck_assert_int_eq(put_one(c, i, &w->rev[i]), AS_OK);
    atomic_store(&w->n, 200);
    w->endpoint = s.endpoint;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_main, w), 0);
    while (atomic_load(&w->n) < 300 && w->rc == AS_OK)
        usleep(1000);
    snprintf(bk, sizeof(bk), "%s/bk", s.dir);
    ck_assert_msg(as_backup(c, bk, 0, &info) == AS_OK, "backup: %s",
                  as_client_errmsg(c));
    /* Let the writer go on past the backup, then stop it. */
    n = atomic_load(&w->n);
    while (atomic_load(&w->n) < n + 100 && atomic_load(&w->n) < MAX_PUTS &&
           w->rc == AS_OK)
        usleep(1000);
    atomic_store(&w->stop, 1);
    pthread_join(th, NULL);
    ck_assert_msg(w->rc == AS_OK, "writer: %s", as_code_name(w->rc));
    n = atomic_load(&w->n);
    ck_assert_uint_ge(info.last_seq, 300);
    ck_assert_uint_lt(info.last_seq, w->rev[n - 1]);
    ck_assert_uint_gt(info.bytes, 0);
    ck_assert_str_eq(info.path, bk);

    /* A second server on the copy serves exactly the changes up to
     * last_seq, while the first one still runs. */
    {
        const char *extra[] = { "--data", bk, NULL };

        ck_assert_int_eq(ts_start(&s2, extra), 0);
    }
    ck_assert_int_eq(as_client_connect(s2.endpoint, 5000, &c2), AS_OK);
    ck_assert_int_eq(as_ping(c2, &ping), AS_OK);
    ck_assert_uint_eq(ping.last_seq, info.last_seq);
    for (i = 0; i < n; i++) {
        char url[64], title[64];
        as_article_t *a = NULL;
        int rc;

        snprintf(url, sizeof(url), "https://example.com/b/%d", i);
        rc = as_get_by_url(c2, url, 0, &a);
        if (w->rev[i] <= info.last_seq) {
            ck_assert_msg(rc == AS_OK, "article %d (rev %llu) missing: %s", i,
                          (unsigned long long)w->rev[i], as_client_errmsg(c2));
            snprintf(title, sizeof(title), "title %d", i);
            ck_assert_str_eq(a->title, title);
            ck_assert_uint_eq(a->revision, w->rev[i]);
            before++;
        } else {
            ck_assert_msg(rc == AS_ENOT_FOUND, "article %d (rev %llu > %llu) "
                          "should not be in the copy", i,
                          (unsigned long long)w->rev[i],
                          (unsigned long long)info.last_seq);
            after++;
        }
        as_article_free(a);
    }
    ck_assert_int_ge(before, 300);
    ck_assert_int_gt(after, 0);
    as_client_close(c2);
    as_client_close(c);
    ck_assert_int_eq(ts_stop(&s2), 0);
    ts_cleanup(&s2);
    ck_assert_int_eq(ts_stop(&s), 0);
    ts_cleanup(&s);
    free(w);
}
END_TEST

START_TEST(backup_path_rules)
{
    ts_server_t s;
    as_client_t *c;
    as_backup_info_t info;
    char path[160];
    FILE *f;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_backup(c, "relative/dir", 0, &info),
                     AS_EINVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(as_client_errmsg(c), "relative"));
    ck_assert_int_eq(as_backup(c, s.data, 0, &info), AS_EINVALID_ARGUMENT);
    snprintf(path, sizeof(path), "%s/sub", s.data);
    ck_assert_int_eq(as_backup(c, path, 0, &info), AS_EINVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(as_client_errmsg(c), "data directory"));
    /* The data dir reached through "..": still refused. */
    snprintf(path, sizeof(path), "%s/data/../data/x", s.dir);
    ck_assert_int_eq(as_backup(c, path, 0, &info), AS_EINVALID_ARGUMENT);
    snprintf(path, sizeof(path), "%s/missing/x", s.dir);
    ck_assert_int_eq(as_backup(c, path, 0, &info), AS_EFAILED_PRECONDITION);
    /* A non-empty directory is never overwritten. */
    snprintf(path, sizeof(path), "%s/full", s.dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/full/keep", s.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("keep", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/full", s.dir);
    ck_assert_int_eq(as_backup(c, path, 0, &info), AS_EFAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(as_client_errmsg(c), "not empty"));
    /* A regular file is not a directory. */
    snprintf(path, sizeof(path), "%s/full/keep", s.dir);
    ck_assert_int_eq(as_backup(c, path, 0, &info), AS_EFAILED_PRECONDITION);
    /* An existing empty directory is fine, uncompacted too. */
    snprintf(path, sizeof(path), "%s/empty", s.dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_msg(as_backup(c, path, 1, &info) == AS_OK, "%s",
                  as_client_errmsg(c));
    as_client_close(c);
    ck_assert_int_eq(ts_stop(&s), 0);
    ts_cleanup(&s);
}
END_TEST

START_TEST(cli_backup)
{
    ts_server_t s;
    char *out = NULL, *err = NULL, path[128];
    const char *args[] = { "backup", path, NULL };
    const char *rel[] = { "backup", "bk", NULL };
    struct stat sb;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    snprintf(path, sizeof(path), "%s/cli-bk", s.dir);
    ck_assert_int_eq(ts_cli(s.endpoint, NULL, &out, &err, args), 0);
    ck_assert_ptr_nonnull(strstr(out, "last_seq=0"));
    snprintf(path, sizeof(path), "%s/cli-bk/data.mdb", s.dir);
    ck_assert_int_eq(stat(path, &sb), 0);
    free(out);
    free(err);
    ck_assert_int_eq(ts_cli(s.endpoint, NULL, &out, &err, rel), 2);
    ck_assert_ptr_nonnull(strstr(err, "absolute"));
    free(out);
    free(err);
    snprintf(path, sizeof(path), "%s/cli-bk", s.dir);
    ck_assert_int_eq(ts_cli(s.endpoint, NULL, &out, &err, args), 1);
    ck_assert_ptr_nonnull(strstr(err, "FAILED_PRECONDITION"));
    free(out);
    free(err);
    ck_assert_int_eq(ts_stop(&s), 0);
    ts_cleanup(&s);
}
END_TEST

static Suite *backup_suite(void)
{
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, hot_backup_serves_same_data);
    tcase_add_test(tc, backup_path_rules);
    tcase_add_test(tc, cli_backup);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(backup_suite());
}
