/*
 * cli_json.h - articles as JSON objects, the format of `get -o json` and of
 * the JSON Lines that import and export read and write.
 *
 * An article object has the proto's field names: id, url, title, body,
 * source, authors (array), published_at, ingested_at (RFC 3339 UTC
 * strings on output; RFC 3339 strings or Unix seconds on input), tags
 * (array), meta (object of strings), revision, content_hash (32 hex
 * digits), story_id and duplicate_of (set by the server; read back but
 * ignored by a put). Absent fields are omitted on output; null is accepted as
 * absent on input.
 */
#ifndef CLI_JSON_H
#define CLI_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "artstore.h"

/*
 * Fills *out from the JSON object obj. Every string is copied: *out owns
 * its members, to be freed with cli_article_clear(). Rejects a field of
 * the wrong type, and an unknown field unless ignore_unknown, with a
 * message naming it in err. Returns 0, or -1 with *out cleared and the
 * reason in err.
 */
int cli_article_from_json(json_t *obj, as_article_t *out, int ignore_unknown,
                          char *err, size_t errlen);

/* Returns a new JSON object for a (json_decref), or NULL when out of
 * memory. */
json_t *cli_article_to_json(const as_article_t *a);

/* Frees the members of an article filled by cli_article_from_json (or
 * built with malloc'd members the same way) and zeroes it; the struct
 * itself is the caller's. */
void cli_article_clear(as_article_t *a);

#endif
