/*
 * limit.h - every size limit of the server in one struct, with defaults.
 *
 * Each limit has a command-line flag (config.c) and is named in the error a
 * client gets when it is exceeded, e.g. "body is 2000000 bytes, over the
 * limit max_body_bytes=1048576".
 *
 * AS_LIMITS_DEFAULT is the one place a default is written: the server's
 * configuration starts from it and `artstored --help` prints it from there
 * (check_config verifies that every field has a flag and that the help
 * shows these values).
 */
#ifndef AS_LIMIT_H
#define AS_LIMIT_H

#include <stddef.h>

typedef struct as_limits {
    size_t max_message_bytes;   /* a request on the wire (NN_RCVMAXSIZE) */
    size_t max_decode_bytes;    /* memory one request may decode into */
    size_t max_body_bytes;
    size_t max_title_bytes;
    size_t max_url_bytes;
    size_t max_source_bytes;
    size_t max_tag_bytes;       /* one tag, after normalization */
    size_t max_tags;            /* tags per article */
    size_t max_authors;
    size_t max_author_bytes;
    size_t max_meta;            /* meta entries per article */
    size_t max_meta_key_bytes;
    size_t max_meta_value_bytes;
    size_t max_batch;           /* articles per PutBatch, ids per Get */
    size_t max_query_tags;      /* tags in one filter, all lists together */
    size_t max_page;            /* results per page (Query, Changes, tags) */
    size_t max_watches;         /* concurrent long-poll Changes calls */
    size_t max_reply_bytes;     /* a reply's payload (Get, Query, Changes) */
    size_t query_budget_ms;     /* work per Query/ListTags call (0: none) */
} as_limits_t;

#define AS_LIMITS_DEFAULT {                                                  \
    .max_message_bytes = 16u << 20,                                        \
    .max_decode_bytes = 64u << 20,                                         \
    .max_body_bytes = 1u << 20,                                            \
    .max_title_bytes = 4096,                                               \
    .max_url_bytes = 4096,                                                 \
    .max_source_bytes = 256,                                               \
    .max_tag_bytes = 128,                                                  \
    .max_tags = 64,                                                        \
    .max_authors = 64,                                                     \
    .max_author_bytes = 256,                                               \
    .max_meta = 64,                                                        \
    .max_meta_key_bytes = 128,                                             \
    .max_meta_value_bytes = 4096,                                          \
    .max_batch = 1000,                                                     \
    .max_query_tags = 64,                                                  \
    .max_page = 1000,                                                      \
    .max_watches = 256,                                                    \
    .max_reply_bytes = 16u << 20,                                          \
    .query_budget_ms = 1000,                                               \
}

#endif
