/*
 * check_story_e2e.c - stories end to end, through a real artstored: the
 * library's ListStories, GetStory and Query by story; the CLI's
 * `stories`, `story` and `query --story`; and `watch --new-stories`
 * (library and CLI), which must deliver each story once, however many
 * outlets carry it. The articles are the five hand-written ones of
 * storyfix.h and their syndicated copies in other outlets' chrome
 * (check_story tests the engine itself on the store API).
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artstore.h"
#include "check_main.h"
#include "storyfix.h"
#include "testutil.h"

#define T0 1718000000
#define TIMEOUT_MS 20000

static ts_server_t srv;
static as_client_t *cl;

/* The ids of what fill() stored: the five originals, then copies of
 * article 0 in the chrome of outlets 1 and 2, and a copy of article 1 in
 * outlet 4's. Articles 0 and 3 report one event in their own words, so
 * the stories are {0, 3, copies of 0}, {1, its copy}, {2}, {4}. */
static uint64_t orig[AS_FIX_N], copy0[2], copy1;

static void setup(void)
{
    ck_assert_msg(ts_start(&srv, NULL) == 0, "server did not start");
    ck_assert_int_eq(as_client_connect(srv.endpoint, TIMEOUT_MS, &cl), AS_OK);
}

static void teardown(void)
{
    as_client_close(cl);
    ts_cleanup(&srv);
}

#define CLI(out, err, ...) \
    ts_cli(srv.endpoint, NULL, out, err, (const char *const[]){ __VA_ARGS__, NULL })

/* The page of fixture article i in outlet `site`'s chrome, a syndicated
 * copy when copy != 0 (as_fix_page); malloc'ed. */
static char *page(int i, int site, int copy)
{
    char *out = malloc(AS_FIX_PAGE_CAP);

    ck_assert_ptr_nonnull(out);
    as_fix_page(i, site, copy, out);
    return out;
}

/* Puts fixture article i as published by outlet `site` at time t;
 * returns its id. */
static uint64_t put(int i, int site, int copy, int64_t t, const char *tag)
{
    char url[96], *body = page(i, site, copy);
    const char *tags[1] = { tag };
    as_article_t a = { 0 };
    as_put_result_t r;
    int rc;

    snprintf(url, sizeof(url), "https://o%d.example/%s-%d", site,
             copy ? "copy" : "a", i);
    a.url = url;
    a.title = copy ? "Wire: the news of the day" : as_fix[i].title;
    a.body = body;
    a.source = as_fix[site].source;
    a.has_published_at = 1;
    a.published_at = t;
    a.tags = tags;
    a.n_tags = tag != NULL;
    rc = as_put(cl, &a, AS_REV_ANY, &r);
    ck_assert_msg(rc == AS_OK, "put %s: %s", url, as_client_errmsg(cl));
    free(body);
    return r.id;
}

static void fill(void)
{
    int i;

    for (i = 0; i < AS_FIX_N; i++)
        orig[i] = put(i, i, 0, T0 + i * 3600, i == 0 ? "harbor" : "news");
    copy0[0] = put(0, 1, 1, T0 + 86400, "news");
    copy0[1] = put(0, 2, 1, T0 + 86400 + 60, "news");
    copy1 = put(1, 4, 1, T0 + 86400 + 120, "news");
}

/* Checks the story of article 0 as the library returns it. */
static void check_story0(const as_story_t *s)
{
    ck_assert_uint_eq(s->id, orig[0]);
    ck_assert_uint_eq(s->lead_id, orig[0]);
    ck_assert_str_eq(s->title, as_fix[0].title);
    ck_assert_uint_eq(s->articles, 4);
    ck_assert_uint_eq(s->duplicates, 2);
    ck_assert_uint_eq(s->n_sources, 4);   /* outlets 0, 1, 2 and 3 */
    ck_assert_int_eq(s->first_seen, T0);
    ck_assert_int_eq(s->last_seen, T0 + 86400 + 60);
}

/* The library: each article's story and duplicate_of, ListStories (newest
 * first, paged), GetStory (oldest first) and Query by story. */
START_TEST(library_lists_and_gets_stories)
{
    as_stories_spec_t spec = { 0 };
    as_story_list_t *l = NULL;
    as_query_spec_t q = { 0 };
    as_query_result_t *qr = NULL;
    as_article_t *a, **v = NULL;
    as_story_t *s = NULL;
    uint64_t seen[8];
    size_t n = 0, i, n_seen = 0;
    const char *const harbor[] = { "harbor" };

    fill();
    ck_assert_int_eq(as_get(cl, copy0[1], 1, &a), AS_OK);
    ck_assert_uint_eq(a->duplicate_of, orig[0]);
    ck_assert_uint_eq(a->story_id, orig[0]);
    as_article_free(a);
    ck_assert_int_eq(as_get(cl, orig[3], 1, &a), AS_OK);
    ck_assert_uint_eq(a->duplicate_of, 0);       /* its own words */
    ck_assert_uint_eq(a->story_id, orig[0]);     /* the same event */
    as_article_free(a);
    ck_assert_int_eq(as_get(cl, copy1, 1, &a), AS_OK);
    ck_assert_uint_eq(a->duplicate_of, orig[1]);
    ck_assert_uint_eq(a->story_id, orig[1]);
    as_article_free(a);

    /* Every story once, newest first, two to a page. */
    spec.limit = 2;
    do {
        ck_assert_int_eq(as_list_stories(cl, &spec, &l), AS_OK);
        for (i = 0; i < l->n_stories; i++) {
            ck_assert_uint_lt(n_seen, 8);
            seen[n_seen++] = l->stories[i]->id;
            if (l->stories[i]->id == orig[0])
                check_story0(l->stories[i]);
        }
        free((void *)spec.cursor);
        spec.cursor = l->next_cursor;
        spec.cursor_len = l->next_cursor_len;
        l->next_cursor = NULL;
        as_story_list_free(l);
    } while (spec.cursor != NULL);
    ck_assert_uint_eq(n_seen, 4);
    /* last_seen: copy1's story, copy0's, then 4 and 2. */
    ck_assert_uint_eq(seen[0], orig[1]);
    ck_assert_uint_eq(seen[1], orig[0]);
    ck_assert_uint_eq(seen[2], orig[4]);
    ck_assert_uint_eq(seen[3], orig[2]);

    /* A tag filter: the story one of whose articles has it. */
    memset(&spec, 0, sizeof(spec));
    spec.all_of = harbor;
    spec.n_all_of = 1;
    ck_assert_int_eq(as_list_stories(cl, &spec, &l), AS_OK);
    ck_assert_uint_eq(l->n_stories, 1);
    check_story0(l->stories[0]);
    as_story_list_free(l);

    ck_assert_int_eq(as_get_story(cl, orig[0], 0, 1, &s, &v, &n), AS_OK);
    check_story0(s);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(v[0]->id, orig[0]);
    ck_assert_uint_eq(v[1]->id, orig[3]);
    ck_assert_uint_eq(v[2]->id, copy0[0]);
    ck_assert_uint_eq(v[3]->id, copy0[1]);
    ck_assert_ptr_null(v[0]->body);
    as_story_free(s);
    as_articles_free(v, n);
    ck_assert_int_eq(as_get_story(cl, orig[0] + 1000, 0, 1, &s, &v, &n),
                     AS_ENOT_FOUND);

    /* Query by story, alone and with a tag. */
    q.story_id = orig[0];
    q.oldest_first = 1;
    q.omit_body = 1;
    ck_assert_int_eq(as_query(cl, &q, &qr), AS_OK);
    ck_assert_uint_eq(qr->n_articles, 4);
    ck_assert_uint_eq(qr->articles[0]->id, orig[0]);
    ck_assert_uint_eq(qr->articles[3]->id, copy0[1]);
    for (i = 0; i < qr->n_articles; i++)
        ck_assert_uint_eq(qr->articles[i]->story_id, orig[0]);
    as_query_result_free(qr);
    q.all_of = harbor;
    q.n_all_of = 1;
    ck_assert_int_eq(as_query(cl, &q, &qr), AS_OK);
    ck_assert_uint_eq(qr->n_articles, 1);
    ck_assert_uint_eq(qr->articles[0]->id, orig[0]);
    as_query_result_free(qr);
    q.story_id = orig[1];
    ck_assert_int_eq(as_query(cl, &q, &qr), AS_OK);
    ck_assert_uint_eq(qr->n_articles, 0);
    as_query_result_free(qr);
}
END_TEST

/* The CLI: stories -o json, story ID -o json, query --story. */
START_TEST(cli_stories_story_query)
{
    char *out, *err, arg[32];
    json_t *j, *o, *arts;
    json_error_t je;
    size_t i, lines = 0;
    int rc, found = 0;
    const char *p;

    fill();
    rc = CLI(&out, &err, "stories", "-o", "json");
    ck_assert_msg(rc == 0, "stories exit %d: %s", rc, err);
    j = json_loads(out, 0, &je);
    ck_assert_msg(json_is_array(j), "not a JSON array: %s", out);
    ck_assert_uint_eq(json_array_size(j), 4);
    json_array_foreach(j, i, o) {
        json_t *src = json_object_get(o, "sources");

        ck_assert_ptr_nonnull(json_object_get(o, "title"));
        if ((uint64_t)json_integer_value(json_object_get(o, "id")) != orig[0])
            continue;
        found = 1;
        ck_assert_int_eq(json_integer_value(json_object_get(o, "articles")), 4);
        ck_assert_str_eq(json_string_value(json_object_get(o, "title")),
                         as_fix[0].title);
        ck_assert_uint_eq(json_array_size(src), 4);
    }
    ck_assert_msg(found, "story %llu not listed: %s",
                  (unsigned long long)orig[0], out);
    json_decref(j);
    free(out);
    free(err);

    snprintf(arg, sizeof(arg), "%llu", (unsigned long long)orig[1]);
    rc = CLI(&out, &err, "story", arg, "-o", "json", "--no-body");
    ck_assert_msg(rc == 0, "story exit %d: %s", rc, err);
    j = json_loads(out, 0, &je);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    o = json_object_get(j, "story");
    arts = json_object_get(j, "articles");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "articles")), 2);
    ck_assert_uint_eq(json_array_size(arts), 2);
    ck_assert_uint_eq(json_integer_value(json_object_get(
                          json_array_get(arts, 1), "duplicate_of")), orig[1]);
    json_decref(j);
    free(out);
    free(err);

    snprintf(arg, sizeof(arg), "%llu", (unsigned long long)orig[0]);
    rc = CLI(&out, &err, "query", "--story", arg, "--oldest-first",
             "--no-body", "-o", "jsonl");
    ck_assert_msg(rc == 0, "query exit %d: %s", rc, err);
    for (p = out; *p != '\0'; p = strchr(p, '\n') + 1) {
        uint64_t want[4] = { orig[0], orig[3], copy0[0], copy0[1] };

        ck_assert_uint_lt(lines, 4);
        j = json_loadb(p, (size_t)(strchr(p, '\n') - p), 0, &je);
        ck_assert_msg(j != NULL, "not JSON: %s", p);
        ck_assert_uint_eq(json_integer_value(json_object_get(j, "id")),
                          want[lines]);
        ck_assert_uint_eq(json_integer_value(json_object_get(j, "story_id")),
                          orig[0]);
        json_decref(j);
        lines++;
    }
    ck_assert_uint_eq(lines, 4);
    free(out);
    free(err);

    rc = CLI(&out, &err, "query", "--story", "x1");
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(err, "--story") != NULL, "stderr: %s", err);
    free(out);
    free(err);
    rc = CLI(&out, &err, "story", "999999");
    ck_assert_msg(rc != 0, "story 999999 exit 0: %s", out);
    free(out);
    free(err);
}
END_TEST

/* A new story after everything else: its arrival means every change
 * before it was seen by the watch. */
static uint64_t put_sentinel(void)
{
    as_article_t a = { 0 };
    as_put_result_t r;

    a.url = "https://sentinel.example/last";
    a.title = "Glassworks Guild Elects Tomasz Verhaalen as Chair";
    a.body = "The Glassworks Guild of Ostrava Minor elected Tomasz Verhaalen "
             "as its chair on a vote of the members gathered in Lindqvist "
             "Hall, ending a contest that lasted two seasons.\n";
    a.has_published_at = 1;
    a.published_at = T0 + 30 * 86400;
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, &r), AS_OK);
    return r.id;
}

/* watch --new-stories, library and CLI: the first article of each story
 * once, no copy and no other article of a story. */
START_TEST(watch_new_stories_once)
{
    as_watch_opts_t o = { 0 };
    as_watch_t *w;
    as_change_t *ch;
    uint64_t want[5], sentinel, got[8];
    size_t n = 0, i;
    char *out, *err, *p;
    int rc;

    fill();
    sentinel = put_sentinel();
    want[0] = orig[0];
    want[1] = orig[1];
    want[2] = orig[2];
    want[3] = orig[4];
    want[4] = sentinel;

    o.has_since = 1;
    o.since = 0;
    o.new_stories = 1;
    ck_assert_int_eq(as_watch_open(cl, &o, &w), AS_OK);
    for (;;) {
        rc = as_watch_next(w, TIMEOUT_MS, &ch);
        ck_assert_msg(rc == AS_OK, "watch: %s %s", as_code_name(rc),
                      as_client_errmsg(cl));
        ck_assert_uint_lt(n, 8);
        ck_assert_int_eq(ch->type, AS_CHANGE_CREATE);
        ck_assert_int_eq(ch->new_story, 1);
        ck_assert_uint_eq(ch->story_id, ch->id);
        got[n++] = ch->id;
        as_change_free(ch);
        if (got[n - 1] == sentinel)
            break;
    }
    as_watch_close(w);
    ck_assert_uint_eq(n, 5);
    for (i = 0; i < n; i++)
        ck_assert_uint_eq(got[i], want[i]);

    /* The CLI, stopped by --limit at the sentinel. */
    rc = CLI(&out, &err, "watch", "--new-stories", "--since", "0", "--limit",
             "5", "-o", "jsonl");
    ck_assert_msg(rc == 0, "watch exit %d: %s", rc, err);
    for (i = 0, p = out; i < 5; i++) {
        json_error_t je;
        json_t *j;
        char *nl = strchr(p, '\n');

        ck_assert_msg(nl != NULL, "%zu lines, want 5: %s", i, out);
        j = json_loadb(p, (size_t)(nl - p), 0, &je);
        ck_assert_msg(j != NULL, "not JSON: %s", p);
        ck_assert_uint_eq(json_integer_value(json_object_get(j, "id")),
                          want[i]);
        ck_assert_uint_eq(json_integer_value(json_object_get(j, "story_id")),
                          want[i]);
        ck_assert(json_is_true(json_object_get(j, "new_story")));
        json_decref(j);
        p = nl + 1;
    }
    ck_assert_str_eq(p, "");
    free(out);
    free(err);
}
END_TEST

static Suite *story_e2e_suite(void)
{
    Suite *s = suite_create("story_e2e");
    TCase *tc = tcase_create("server");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, library_lists_and_gets_stories);
    tcase_add_test(tc, cli_stories_story_query);
    tcase_add_test(tc, watch_new_stories_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(story_e2e_suite());
}
