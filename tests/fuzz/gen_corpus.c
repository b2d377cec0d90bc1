/*
 * gen_corpus.c - writes the seed corpus of fuzz_request: one valid request
 * envelope per method (and a few near-misses) into the directory given,
 * one file each. The seeds let the fuzzer start from messages that reach
 * the handlers instead of discovering the envelope format first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artstore.pb-c.h"

static const char *dir;

/* Wraps msg (may be NULL) in an envelope for method and writes it. */
static void seed(const char *name, const char *method,
                 const ProtobufCMessage *msg)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    uint8_t payload[4096], out[8192];
    char path[512], mpath[128];
    size_t len;
    FILE *f;

    snprintf(mpath, sizeof(mpath), "/artstore.v1.ArticleStore/%s", method);
    env.method = mpath;
    env.has_call_id = 1;
    env.call_id = 1;
    if (msg != NULL) {
        env.has_payload = 1;
        env.payload.data = payload;
        env.payload.len = protobuf_c_message_pack(msg, payload);
    }
    len = artstore__v1__request__pack(&env, out);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) == NULL || fwrite(out, 1, len, f) != len) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    Artstore__V1__MetaEntry me = ARTSTORE__V1__META_ENTRY__INIT, *mp = &me;
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT, *pp = &put;
    Artstore__V1__PutBatchRequest batch = ARTSTORE__V1__PUT_BATCH_REQUEST__INIT;
    Artstore__V1__GetRequest get = ARTSTORE__V1__GET_REQUEST__INIT;
    Artstore__V1__DeleteRequest del = ARTSTORE__V1__DELETE_REQUEST__INIT;
    Artstore__V1__PingRequest ping = ARTSTORE__V1__PING_REQUEST__INIT;
    Artstore__V1__StatsRequest stats = ARTSTORE__V1__STATS_REQUEST__INIT;
    Artstore__V1__Filter filter = ARTSTORE__V1__FILTER__INIT;
    Artstore__V1__QueryRequest query = ARTSTORE__V1__QUERY_REQUEST__INIT;
    Artstore__V1__ListTagsRequest lt = ARTSTORE__V1__LIST_TAGS_REQUEST__INIT;
    Artstore__V1__ChangesRequest changes = ARTSTORE__V1__CHANGES_REQUEST__INIT;
    char *none[] = { "sport" };
    char *tags[] = { "World", "  Politics ", "Straße" };
    char *authors[] = { "A. Writer" };
    uint64_t ids[] = { 1, 2, 3 };

    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    art.url = "HTTPS://Example.COM:443/news/1#top";
    art.title = "A title";
    art.body = "Body text.";
    art.source = "Wire";
    art.authors = authors;
    art.n_authors = 1;
    art.tags = tags;
    art.n_tags = 3;
    art.has_published_at = 1;
    art.published_at = 1700000000;
    me.key = "lang";
    me.value = "en";
    art.meta = &mp;
    art.n_meta = 1;
    put.article = &art;
    seed("put", "Put", &put.base);
    put.has_expected_revision = 1;
    put.expected_revision = 0;
    seed("put_expect", "Put", &put.base);
    batch.items = &pp;
    batch.n_items = 1;
    seed("put_batch", "PutBatch", &batch.base);
    get.has_id = 1;
    get.id = 1;
    seed("get_id", "Get", &get.base);
    get.has_id = 0;
    get.url = "https://example.com/news/1";
    seed("get_url", "Get", &get.base);
    get.url = NULL;
    get.ids = ids;
    get.n_ids = 3;
    seed("get_ids", "Get", &get.base);
    del.has_id = 1;
    del.id = 1;
    seed("delete", "Delete", &del.base);
    seed("ping", "Ping", &ping.base);
    seed("stats", "Stats", &stats.base);
    filter.all_of = tags;
    filter.n_all_of = 1;
    filter.any_of = tags + 1;
    filter.n_any_of = 2;
    filter.none_of = none;
    filter.n_none_of = 1;
    filter.source = "wire";
    filter.has_since = 1;
    filter.since = 1600000000;
    query.filter = &filter;
    query.has_limit = 1;
    query.limit = 2;
    query.has_count_total = 1;
    query.count_total = 1;
    seed("query", "Query", &query.base);
    lt.prefix = "wo";
    seed("list_tags", "ListTags", &lt.base);
    changes.filter = &filter;
    seed("changes", "Changes", &changes.base);
    changes.has_wait_ms = 1;
    changes.wait_ms = 5;
    changes.has_since = 1;
    changes.since = 1;
    seed("changes_wait", "Changes", &changes.base);
    seed("unknown", "Nope", NULL);
    return 0;
}
