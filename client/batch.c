/*
 * batch.c - many articles per call: PutBatch and Get with many ids.
 *
 * A batch costs one round trip and, on the server, one place in a group
 * commit, so bulk loaders (import, the load generator) send batches
 * instead of single puts. Each item keeps its own status: one bad article
 * fails alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Copies the client's last message into a result's message buffer. */
static void set_message(as_put_result_t *r, const char *msg)
{
    size_t n = strnlen(msg, sizeof(r->message) - 1);

    memcpy(r->message, msg, n);
    r->message[n] = '\0';
}

/* Marks every result failed with rc and the client's message. */
static void fail_all(as_client_t *c, as_put_result_t *results, size_t n,
                     int rc)
{
    size_t i;

    for (i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof(results[i]));
        results[i].rc = rc;
        set_message(&results[i], c->errmsg);
    }
}

/* Copies the n per-item results of resp (a reply to method) into
 * results. Returns AS_OK or AS_EINTERNAL for a reply of another size. */
static int take_results(as_client_t *c, const char *method,
                        const Artstore__V1__PutBatchResponse *resp, size_t n,
                        as_put_result_t *results)
{
    size_t i;

    if (resp->n_results != n)
        return as__fail(c, AS_EINTERNAL, "%s reply has %zu results for "
                        "%zu items", method, resp->n_results, n);
    for (i = 0; i < n; i++) {
        const Artstore__V1__PutResult *r = resp->results[i];
        as_put_result_t *out = &results[i];
        int code = r->status && r->status->has_code ? (int)r->status->code : 0;

        memset(out, 0, sizeof(*out));
        if (code != 0) {
            out->rc = code > 0 && code <= -AS_EUNAUTHENTICATED ? -code
                                                               : AS_EUNKNOWN;
            set_message(out, r->status->message && r->status->message[0]
                                 ? r->status->message
                                 : as_strerror(out->rc));
        } else {
            out->id = r->id;
            out->outcome = (int)r->outcome;
            out->revision = r->revision;
        }
    }
    return AS_OK;
}

/* Checks a batch put's arguments, and every article before anything is
 * sent: a NULL pointer would crash the encoder, and since the caller's
 * array is then wrong, the whole batch fails. Returns AS_OK, or the error
 * (every result failed with it when there are results). */
static int check_batch(as_client_t *c, const as_article_t *arts, size_t n,
                       as_put_result_t *results)
{
    size_t i;
    int rc;

    if (c == NULL)
        return AS_EINVALID_ARGUMENT;
    c->errmsg[0] = '\0';
    if (results == NULL || (n > 0 && arts == NULL))
        return as__fail(c, AS_EINVALID_ARGUMENT,
                        "arts and results are required");
    for (i = 0; i < n; i++) {
        char msg[128];

        if (as__check_article(&arts[i], msg, sizeof(msg)) != AS_OK) {
            rc = as__fail(c, AS_EINVALID_ARGUMENT, "arts[%zu]: %s", i, msg);
            fail_all(c, results, n, rc);
            return rc;
        }
    }
    return AS_OK;
}

/* Frees n messages made by pb_articles (NULL is ignored). */
static void pb_articles_free(Artstore__V1__Article *pbs, size_t n)
{
    size_t i;

    if (pbs == NULL)
        return;
    for (i = 0; i < n; i++)
        as__article_pb_release(&pbs[i]);
    free(pbs);
}

/* The n checked articles as messages that borrow their strings, in one
 * array freed with pb_articles_free; NULL after as__fail (out of
 * memory). */
static Artstore__V1__Article *pb_articles(as_client_t *c,
                                          const as_article_t *arts, size_t n)
{
    Artstore__V1__Article *pbs = calloc(n, sizeof(*pbs));
    size_t i;

    if (pbs == NULL)
        goto out_fail;
    for (i = 0; i < n; i++) {
        if (as__article_to_pb(&arts[i], &pbs[i]) != 0) {
            pb_articles_free(pbs, i);
            goto out_fail;
        }
    }
    return pbs;

out_fail:
    as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory");
    return NULL;
}

/* Sends req (a PutBatch or PutExact request of n items) as method and
 * fills results from the per-item answer. Returns AS_OK, or the error of
 * the call as a whole, with every result failed with it. */
static int send_batch(as_client_t *c, const char *method,
                      const ProtobufCMessage *req, size_t n,
                      as_put_result_t *results)
{
    ProtobufCMessage *m = NULL;
    int rc;

    rc = as__call(c, method, req,
                  &artstore__v1__put_batch_response__descriptor, &m);
    if (rc == AS_OK) {
        rc = take_results(c, method, (Artstore__V1__PutBatchResponse *)m, n,
                          results);
        artstore__v1__put_batch_response__free_unpacked(
            (Artstore__V1__PutBatchResponse *)m, NULL);
    }
    if (rc != AS_OK)
        fail_all(c, results, n, rc);
    return rc;
}

int as_put_batch(as_client_t *c, const as_article_t *arts, size_t n,
                 const uint64_t *expected, as_put_result_t *results)
{
    Artstore__V1__PutBatchRequest req = ARTSTORE__V1__PUT_BATCH_REQUEST__INIT;
    Artstore__V1__PutRequest *items = NULL, **item_ptrs = NULL;
    Artstore__V1__Article *pbs = NULL;
    uint8_t *rids = NULL;
    size_t i;
    int rc;

    if ((rc = check_batch(c, arts, n, results)) != AS_OK || n == 0)
        return rc;
    items = calloc(n, sizeof(*items));
    item_ptrs = calloc(n, sizeof(*item_ptrs));
    rids = expected != NULL ? malloc(n * AS__REQUEST_ID_LEN) : NULL;
    if (items == NULL || item_ptrs == NULL ||
        (expected != NULL && rids == NULL)) {
        rc = as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory");
        goto out_fail_all;
    }
    if ((pbs = pb_articles(c, arts, n)) == NULL) {
        rc = AS_ERESOURCE_EXHAUSTED;
        goto out_fail_all;
    }
    for (i = 0; i < n; i++) {
        artstore__v1__put_request__init(&items[i]);
        items[i].article = &pbs[i];
        if (expected != NULL && expected[i] != AS_REV_ANY) {
            items[i].has_expected_revision = 1;
            items[i].expected_revision = expected[i];
            as__request_id(rids + i * AS__REQUEST_ID_LEN,
                           &items[i].has_request_id, &items[i].request_id);
        }
        item_ptrs[i] = &items[i];
    }
    req.n_items = n;
    req.items = item_ptrs;
    rc = send_batch(c, "PutBatch", &req.base, n, results);
    goto out_free;

out_fail_all:
    fail_all(c, results, n, rc);
out_free:
    pb_articles_free(pbs, n);
    free(rids);
    free(item_ptrs);
    free(items);
    return rc;
}

int as_put_exact(as_client_t *c, const as_article_t *arts, size_t n,
                 as_put_result_t *results)
{
    Artstore__V1__PutExactRequest req = ARTSTORE__V1__PUT_EXACT_REQUEST__INIT;
    Artstore__V1__Article *pbs = NULL, **ptrs = NULL;
    size_t i;
    int rc;

    if ((rc = check_batch(c, arts, n, results)) != AS_OK || n == 0)
        return rc;
    if ((ptrs = calloc(n, sizeof(*ptrs))) == NULL) {
        rc = as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory");
        goto out_fail_all;
    }
    if ((pbs = pb_articles(c, arts, n)) == NULL) {
        rc = AS_ERESOURCE_EXHAUSTED;
        goto out_fail_all;
    }
    for (i = 0; i < n; i++) {
        const as_article_t *a = &arts[i];
        Artstore__V1__Article *pb = &pbs[i];

        /* The fields a put ignores are what an exact put keeps. */
        pb->has_id = pb->has_revision = pb->has_ingested_at = 1;
        pb->id = a->id;
        pb->revision = a->revision;
        pb->ingested_at = a->ingested_at;
        pb->has_story_id = a->story_id != 0;
        pb->story_id = a->story_id;
        pb->has_duplicate_of = a->duplicate_of != 0;
        pb->duplicate_of = a->duplicate_of;
        ptrs[i] = pb;
    }
    req.n_articles = n;
    req.articles = ptrs;
    rc = send_batch(c, "PutExact", &req.base, n, results);
    goto out_free;

out_fail_all:
    fail_all(c, results, n, rc);
out_free:
    pb_articles_free(pbs, n);
    free(ptrs);
    return rc;
}

int as_get_many(as_client_t *c, const uint64_t *ids, size_t n, int omit_body,
                as_article_t ***out)
{
    Artstore__V1__GetRequest req = ARTSTORE__V1__GET_REQUEST__INIT;
    Artstore__V1__GetResponse *resp;
    ProtobufCMessage *m;
    as_article_t **v;
    size_t i, j, k;
    int rc;

    if (c == NULL || out == NULL)
        return AS_EINVALID_ARGUMENT;
    *out = NULL;
    c->errmsg[0] = '\0';
    if (n > 0 && ids == NULL)
        return as__fail(c, AS_EINVALID_ARGUMENT, "ids is NULL");
    v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL)
        return as__fail(c, AS_ERESOURCE_EXHAUSTED, "out of memory");
    if (n == 0) {
        *out = v;
        return AS_OK;
    }
    req.n_ids = n;
    req.ids = (uint64_t *)ids;
    req.has_omit_body = omit_body != 0;
    req.omit_body = omit_body != 0;
    rc = as__call(c, "Get", &req.base, &artstore__v1__get_response__descriptor,
                  &m);
    if (rc != AS_OK) {
        free(v);
        return rc;
    }
    resp = (Artstore__V1__GetResponse *)m;
    /* The server answers found articles in request order; match each to
     * the next request slot with its id. A repeated id is answered once
     * by a current server (more than once by an older one): the slots
     * that repeat it get copies, below. */
    for (i = 0, j = 0; i < resp->n_articles; i++) {
        Artstore__V1__Article *a = resp->articles[i];

        for (k = j; k < n && ids[k] != a->id; k++)
            ;
        if (k == n) {
            rc = as__fail(c, AS_EINTERNAL, "Get reply has article %llu that "
                          "was not asked for (or out of order)",
                          (unsigned long long)a->id);
            goto out_free;
        }
        if ((v[k] = as__article_take_pb(a)) == NULL) {
            rc = as__fail(c, AS_ERESOURCE_EXHAUSTED,
                          "out of memory copying the articles");
            goto out_free;
        }
        j = k + 1;
    }
    for (k = 0; k < n; k++) {
        if (v[k] != NULL)
            continue;
        for (j = 0; j < k && (v[j] == NULL || ids[j] != ids[k]); j++)
            ;
        if (j < k && (v[k] = as__article_copy(v[j])) == NULL) {
            rc = as__fail(c, AS_ERESOURCE_EXHAUSTED,
                          "out of memory copying the articles");
            goto out_free;
        }
    }
    artstore__v1__get_response__free_unpacked(resp, NULL);
    *out = v;
    return AS_OK;

out_free:
    artstore__v1__get_response__free_unpacked(resp, NULL);
    as_articles_free(v, n);
    return rc;
}
