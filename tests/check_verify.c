/*
 * check_verify.c - tests for server/verify.c (`artstored --check`): a store
 * written by a real server is consistent; each kind of damage done to it
 * directly through LMDB is found and named.
 */
#include <check.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

/* Starts a server, stores a few articles (one updated, one deleted) and
 * stops it, leaving a consistent store in s->data. */
static void make_store(ts_server_t *s)
{
    as_client_t *c;
    const char *tags[] = { "world", "politics" }, *tags2[] = { "sport" };
    char url[64];
    int i;

    ck_assert_int_eq(ts_start(s, NULL), 0);
    ck_assert_int_eq(as_client_connect(s->endpoint, 5000, &c), AS_OK);
    for (i = 0; i < 5; i++) {
        as_article_t a;
        as_put_result_t res;

        memset(&a, 0, sizeof(a));
        snprintf(url, sizeof(url), "https://verify.test/%d", i);
        a.url = url;
        a.title = "title";
        a.body = "body";
        a.source = i % 2 ? "wire" : "desk";
        a.tags = i % 2 ? tags : tags2;
        a.n_tags = i % 2 ? 2 : 1;
        ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &res), AS_OK);
    }
    ck_assert_int_eq(as_delete(c, 2, AS_REV_ANY, NULL), AS_OK);
    as_client_close(c);
    ck_assert_int_eq(ts_stop(s), 0);
}

/* Opens the store for writing, for a test to damage it. */
static MDB_txn *open_rw(const ts_server_t *s, MDB_env **env)
{
    MDB_txn *txn;

    ck_assert_int_eq(mdb_env_create(env), 0);
    mdb_env_set_maxdbs(*env, 16);
    ck_assert_int_eq(mdb_env_open(*env, s->data, 0, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(*env, NULL, 0, &txn), 0);
    return txn;
}

static MDB_dbi dbi(MDB_txn *txn, const char *name)
{
    MDB_dbi d;
    unsigned flags = strcmp(name, "by_tag") == 0 ||
                     strcmp(name, "by_source") == 0
                         ? MDB_DUPSORT | MDB_DUPFIXED : 0;

    ck_assert_int_eq(mdb_dbi_open(txn, name, flags, &d), 0);
    return d;
}

static void u64be(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

START_TEST(consistent_store_passes)
{
    ts_server_t s;
    char *report = NULL;

    make_store(&s);
    ck_assert_msg(ts_verify(&s, &report) == 0, "%s", report);
    ck_assert_msg(strstr(report, "4 articles") && strstr(report, "consistent"),
                  "%s", report);
    ck_assert_msg(strstr(report, "6 changes"), "%s", report);
    free(report);
    ts_cleanup(&s);
}
END_TEST

START_TEST(damage_is_reported)
{
    ts_server_t s;
    MDB_env *env;
    MDB_txn *txn;
    MDB_val k, v;
    unsigned char key[16], val[16];
    char *report = NULL;

    make_store(&s);
    txn = open_rw(&s, &env);
    /* 1: article 1 loses its "sport" posting. */
    k.mv_data = "sport";
    k.mv_size = 5;
    ck_assert_int_eq(mdb_del(txn, dbi(txn, "by_tag"), &k, NULL), 0);
    /* 2: a by_time entry for an article that does not exist. */
    u64be(key, 5);
    u64be(key + 8, 999);
    k.mv_data = key;
    k.mv_size = 16;
    v.mv_data = "";
    v.mv_size = 0;
    ck_assert_int_eq(mdb_put(txn, dbi(txn, "by_time"), &k, &v, 0), 0);
    /* 3: a gap in the changelog. */
    u64be(key, 3);
    k.mv_size = 8;
    ck_assert_int_eq(mdb_del(txn, dbi(txn, "changes"), &k, NULL), 0);
    /* 4: next_id behind the ids in use. */
    u64be(val, 2);
    k.mv_data = "next_id";
    k.mv_size = 7;
    v.mv_data = val;
    v.mv_size = 8;
    ck_assert_int_eq(mdb_put(txn, dbi(txn, "meta"), &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    ck_assert_int_eq(ts_verify(&s, &report), 1);
    ck_assert_msg(strstr(report, "no by_tag posting for tag 'sport'"), "%s",
                  report);
    ck_assert_msg(strstr(report, "tag_count is 3, by_tag has 2"), "%s",
                  report);
    ck_assert_msg(strstr(report, "by_time: dangling entry to missing article "
                                 "999"), "%s", report);
    ck_assert_msg(strstr(report, "gap after seq 2"), "%s", report);
    ck_assert_msg(strstr(report, "next_id 2 is not above"), "%s", report);
    ck_assert_msg(strstr(report, "INCONSISTENT"), "%s", report);
    free(report);
    ts_cleanup(&s);
}
END_TEST

/* tag_counts must agree with by_tag: a count changed behind the store's
 * back is reported, naming the tag and both numbers. */
START_TEST(tag_counts_damage_reported)
{
    ts_server_t s;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi tc;
    MDB_val k, v = { 0, "" };
    unsigned char key[16];
    char *report = NULL;

    make_store(&s);
    txn = open_rw(&s, &env);
    tc = dbi(txn, "tag_counts");
    /* "world" is left on article 4 only (2 was deleted): count 1 becomes
     * 5. */
    u64be(key, UINT64_MAX - 1);
    memcpy(key + 8, "world", 5);
    k.mv_data = key;
    k.mv_size = 13;
    ck_assert_int_eq(mdb_del(txn, tc, &k, NULL), 0);
    u64be(key, UINT64_MAX - 5);
    ck_assert_int_eq(mdb_put(txn, tc, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    ck_assert_int_eq(ts_verify(&s, &report), 1);
    ck_assert_msg(strstr(report, "tag_counts: tag 'world' counted 5, by_tag "
                                 "has 1 postings"), "%s", report);
    free(report);
    ts_cleanup(&s);
}
END_TEST

/* A store of schema version 1 has no tag_counts: --check accepts it, and
 * a server that opens it builds the index (ListTags by count answers
 * from it), after which --check verifies the index too. */
START_TEST(schema1_store_upgraded)
{
    ts_server_t s;
    MDB_env *env;
    MDB_txn *txn;
    MDB_val k = { 14, "schema_version" }, v;
    unsigned char one[8];
    char *report = NULL;
    as_client_t *c;
    as_tags_spec_t spec = { NULL, AS_TAGS_BY_COUNT, 10, NULL, 0 };
    as_tag_list_t *l = NULL;

    make_store(&s);
    txn = open_rw(&s, &env);
    ck_assert_int_eq(mdb_drop(txn, dbi(txn, "tag_counts"), 1), 0);
    u64be(one, 1);
    v.mv_data = one;
    v.mv_size = 8;
    ck_assert_int_eq(mdb_put(txn, dbi(txn, "meta"), &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    ck_assert_msg(ts_verify(&s, &report) == 0, "schema 1: %s", report);
    free(report);

    ck_assert_int_eq(ts_restart(&s), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 5000, &c), AS_OK);
    ck_assert_int_eq(as_list_tags(c, &spec, &l), AS_OK);
    ck_assert_uint_eq(l->n_tags, 3);
    ck_assert_str_eq(l->tags[0].tag, "sport");
    ck_assert_uint_eq(l->tags[0].count, 3);
    ck_assert_str_eq(l->tags[1].tag, "politics");
    ck_assert_uint_eq(l->tags[1].count, 1);
    ck_assert_str_eq(l->tags[2].tag, "world");
    ck_assert_uint_eq(l->tags[2].count, 1);
    as_tag_list_free(l);
    as_client_close(c);
    ck_assert_int_eq(ts_stop(&s), 0);
    ck_assert_msg(ts_verify(&s, &report) == 0, "upgraded: %s", report);
    free(report);
    ts_cleanup(&s);
}
END_TEST

START_TEST(missing_store_fails)
{
    ts_server_t s;
    char *report = NULL;

    memset(&s, 0, sizeof(s));
    snprintf(s.data, sizeof(s.data), "/nonexistent/artstore-verify");
    ck_assert_int_eq(ts_verify(&s, &report), 1);
    ck_assert_msg(strstr(report, "cannot open the store"), "%s", report);
    free(report);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("verify");
    TCase *tc = tcase_create("verify");

    tcase_add_test(tc, consistent_store_passes);
    tcase_add_test(tc, damage_is_reported);
    tcase_add_test(tc, tag_counts_damage_reported);
    tcase_add_test(tc, schema1_store_upgraded);
    tcase_add_test(tc, missing_store_fails);
    suite_add_tcase(su, tc);
    return as_check_run(su);
}
