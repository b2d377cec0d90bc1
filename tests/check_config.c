/*
 * check_config.c - artstored's options: the INI config file (keys, sections,
 * values, errors with file:line) and how flags override it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"
#include "server.h"
#include "tempdir.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/artstored.conf", dir);
}

static void teardown(void)
{
    ts_tempdir_remove(dir);
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Runs as_config_parse_args on a NULL-terminated argument list. */
static int parse(as_config_t *c, const char *const *args)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = "artstored";
    while (*args != NULL && argc < 31)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    return as_config_parse_args(c, argc, argv);
}

START_TEST(file_sets_every_kind)
{
    as_config_t c;
    char err[512];

    write_file("; a comment\n"
               "# another\n"
               "data = /var/lib/artstore\n"
               "listen=ipc:///run/artstore/rpc\n"
               "\n"
               "[server]\n"
               "workers = 8\n"
               "sync = periodic\n"
               "map-size = 2G\n"
               "[LIMITS]\n"
               "max-body-bytes = 512K\n"
               "max-tags = 10\n");
    as_config_defaults(&c);
    ck_assert_msg(as_config_load_file(&c, path, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_str_eq(c.data_dir, "/var/lib/artstore");
    ck_assert_str_eq(c.listen, "ipc:///run/artstore/rpc");
    ck_assert_uint_eq(c.workers, 8);
    ck_assert_str_eq(c.sync, "periodic");
    ck_assert_uint_eq(c.map_size, (size_t)2 << 30);
    ck_assert_uint_eq(c.limits.max_body_bytes, 512 * 1024);
    ck_assert_uint_eq(c.limits.max_tags, 10);
    /* Untouched options keep their defaults. */
    ck_assert_str_eq(c.log_level, "info");
    ck_assert_uint_eq(c.limits.max_batch, 1000);
    as_config_free(&c);
}
END_TEST

START_TEST(file_errors_name_file_and_line)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        { "data = /x\nbogus = 1\n", ":2: unknown key 'bogus'" },
        { "workers = 4\n\n\nworkers = many\n",
          ":4: invalid value 'many' for workers" },
        { "max-body-bytes = 1Q\n", ":1: invalid value '1Q' for max-body-bytes" },
        { "[server]\ndata = /x\n[storage]\nmap-size = 1G\n",
          ":4: key 'map-size' is in unknown section [storage]" },
        { "data /x\n", ":1: syntax error" },
        { "config = /etc/other.conf\n", ":1: unknown key 'config'" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        as_config_t c;
        char err[512], want[256];

        write_file(cases[i].text);
        as_config_defaults(&c);
        ck_assert_int_eq(as_config_load_file(&c, path, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
                      "case %zu: got '%s', want '%s...'", i, err, want);
        as_config_free(&c);
    }
}
END_TEST

START_TEST(missing_file)
{
    as_config_t c;
    char err[512];

    as_config_defaults(&c);
    ck_assert_int_eq(as_config_load_file(&c, "/nonexistent/a.conf", err,
                                         sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/a.conf: No such file"));
    as_config_free(&c);
    {
        const char *args[] = { "--config", "/nonexistent/a.conf", NULL };

        ck_assert_int_eq(parse(&c, args), 2);
        as_config_free(&c);
    }
}
END_TEST

START_TEST(flags_override_file)
{
    as_config_t c;

    write_file("data = /from/file\nworkers = 8\nmax-tags = 10\n");
    {
        /* Flags before and after --config both win over the file. */
        const char *args[] = { "--workers", "2", "--config", path,
                               "--data=/from/flag", NULL };

        ck_assert_int_eq(parse(&c, args), 0);
        ck_assert_str_eq(c.data_dir, "/from/flag");
        ck_assert_uint_eq(c.workers, 2);
        ck_assert_uint_eq(c.limits.max_tags, 10);
        as_config_free(&c);
    }
    {
        char opt[160];
        const char *args[] = { opt, NULL };

        snprintf(opt, sizeof(opt), "--config=%s", path);
        ck_assert_int_eq(parse(&c, args), 0);
        ck_assert_str_eq(c.data_dir, "/from/file");
        ck_assert_uint_eq(c.workers, 8);
        as_config_free(&c);
    }
    {
        const char *args[] = { "--config", NULL };

        ck_assert_int_eq(parse(&c, args), 2);
        as_config_free(&c);
    }
}
END_TEST

START_TEST(file_values_are_validated)
{
    as_config_t c;
    const char *args[] = { "--config", path, NULL };

    write_file("workers = 0\n");
    ck_assert_int_eq(parse(&c, args), 2);
    as_config_free(&c);
    write_file("sync = sometimes\n");
    ck_assert_int_eq(parse(&c, args), 2);
    as_config_free(&c);
    write_file("compress-level = 20\n");
    ck_assert_int_eq(parse(&c, args), 2);
    as_config_free(&c);
    write_file("compress-level = 0\n");
    ck_assert_int_eq(parse(&c, args), 0);
    ck_assert_uint_eq(c.compress_level, 0);
    as_config_free(&c);
    write_file("[server]\nworkers = 3\n");
    ck_assert_int_eq(parse(&c, args), 0);
    ck_assert_uint_eq(c.workers, 3);
    as_config_free(&c);
}
END_TEST

/* Every option --help lists must be accepted as a key of the file, and
 * every key must be listed: one table drives both. */
/* The changelog is bounded by default (issue: a store that rewrites the
 * same articles grew by its changelog forever), by count, so that no
 * write rate can outgrow it; a cluster member takes the default and a
 * retention of its own alike (its trims go through the Raft log). */
START_TEST(changelog_retained_by_default)
{
    as_config_t c;
    as_status_t st;
    char *argv[] = { "artstored", "--node-id", "1", "--raft",
                     "127.0.0.1:7410", "--retain-changes", "5000", NULL };

    as_config_defaults(&c);
    ck_assert_uint_eq(c.retain_changes, AS_DEFAULT_RETAIN_CHANGES);
    ck_assert_uint_gt(c.retain_changes, 0);
    ck_assert_uint_eq(c.retain_hours, 0);
    as_config_free(&c);

    ck_assert_int_eq(as_config_parse_args(&c, 5, argv), 0);
    ck_assert_msg(as_server_check_config(&c, &st) == 0, "%s", st.msg);
    as_config_free(&c);
    ck_assert_int_eq(as_config_parse_args(&c, 7, argv), 0);
    ck_assert_msg(as_server_check_config(&c, &st) == 0, "%s", st.msg);
    ck_assert_uint_eq(c.retain_changes, 5000);
    as_config_free(&c);
}
END_TEST

START_TEST(help_keys_match_file_keys)
{
    char *buf = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int n = 0;

    ck_assert_ptr_nonnull(f);
    as_config_usage(f);
    fclose(f);
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[64], text[128], err[512];
        as_config_t c;

        if (sscanf(line, "  --%63[a-z-]=", name) != 1 ||
            strcmp(name, "config") == 0)
            continue;
        ck_assert_ptr_nonnull(strstr(line, "(default: "));
        snprintf(text, sizeof(text), "%s = %s\n", name,
                 strcmp(name, "sync") == 0 ? "full" : "7");
        write_file(text);
        as_config_defaults(&c);
        ck_assert_msg(as_config_load_file(&c, path, err, sizeof(err)) == 0,
                      "%s", err);
        as_config_free(&c);
        n++;
    }
    ck_assert_int_ge(n, 20);
    free(buf);
}
END_TEST

/* The limits' defaults are written once, in limit.h: the configuration
 * starts from AS_LIMITS_DEFAULT, the default --help prints for each
 * numeric option reads back as the default, and every field of
 * as_limits_t has an option (setting every numeric option to 7 through a
 * file leaves no limit at its default). */
START_TEST(limit_defaults_from_limit_h)
{
    static const as_limits_t want = AS_LIMITS_DEFAULT;
    char *buf = NULL, *line, *save = NULL, *all = NULL;
    size_t len = 0, alen = 0, i, n_limits = 0;
    FILE *f = open_memstream(&buf, &len), *af = open_memstream(&all, &alen);
    as_config_t c, d;
    char err[512];

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(af);
    as_config_defaults(&c);
    ck_assert_msg(memcmp(&c.limits, &want, sizeof(want)) == 0,
                  "defaults differ from AS_LIMITS_DEFAULT");
    as_config_usage(f);
    fclose(f);
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[64], text[160], type, *def = strstr(line, "(default: ");

        if (sscanf(line, "  --%63[a-z-]=%c", name, &type) != 2 ||
            type != 'N' || def == NULL)
            continue;
        /* The printed default, read back, is the default. */
        snprintf(text, sizeof(text), "%s = %.*s\n", name,
                 (int)strcspn(def + 10, ")"), def + 10);
        write_file(text);
        as_config_defaults(&d);
        ck_assert_msg(as_config_load_file(&d, path, err, sizeof(err)) == 0,
                      "%s", err);
        ck_assert_msg(memcmp(&d.limits, &want, sizeof(want)) == 0,
                      "--help shows another default: %s", line);
        as_config_free(&d);
        fprintf(af, "%s = 7\n", name);
        n_limits++;
    }
    fclose(af);
    write_file(all);
    ck_assert_msg(as_config_load_file(&c, path, err, sizeof(err)) == 0, "%s",
                  err);
    for (i = 0; i < sizeof(as_limits_t) / sizeof(size_t); i++)
        ck_assert_msg(((const size_t *)&c.limits)[i] == 7,
                      "limit field %zu has no option", i);
    ck_assert_uint_ge(n_limits, 19);
    as_config_free(&c);
    free(buf);
    free(all);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, file_sets_every_kind);
    tcase_add_test(tc, file_errors_name_file_and_line);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, flags_override_file);
    tcase_add_test(tc, file_values_are_validated);
    tcase_add_test(tc, help_keys_match_file_keys);
    tcase_add_test(tc, limit_defaults_from_limit_h);
    tcase_add_test(tc, changelog_retained_by_default);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(config_suite());
}
