/*
 * query.h - the Query and ListTags methods: boolean tag filters, time
 * ranges and cursor pagination evaluated from the indexes.
 *
 * A query is answered from the time-ordered posting lists of by_tag and
 * by_source (time_key ‖ id, 16 bytes big-endian) and from by_time; it never
 * scans all articles. The lists of the all_of tags (and of the source) are
 * intersected by leapfrogging: each list seeks to the position the others
 * reached (MDB_GET_BOTH_RANGE), starting with the shortest list
 * (mdb_cursor_count). The any_of lists are merged into one ordered union
 * that takes part in the intersection like a single list; none_of tags are
 * membership probes (MDB_GET_BOTH) on each candidate. With no tag and no
 * source the walk follows by_time. The time range bounds where the walk
 * starts and where it stops.
 *
 * Costs: a page costs O(page × lists × log n) seeks, far less when one list
 * is rare. count_total walks every match once (O(matches)), except for the
 * shortcuts of one all_of tag or no filter at all, which are O(1).
 * ListTags by name is O(page); by count it reads every distinct tag (that
 * match the prefix) once and sorts them: tags are far fewer than articles.
 *
 * Cursors are opaque to clients: a version byte, the order and the last
 * returned position (time_key, id), so a walk over all pages returns every
 * match that existed when it began exactly once, even while articles are
 * added (new ones land before or after the position, never shift it).
 */
#ifndef AS_QUERY_H
#define AS_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

/* The default page size of Query and ListTags when limit is 0 or absent. */
#define AS_QUERY_DEFAULT_LIMIT 50

/* Answers a Query request (see artstore.proto QueryRequest). */
void as_query_handle(as_call_t *call, const uint8_t *payload, size_t len);

/* Answers a ListTags request (see artstore.proto ListTagsRequest). */
void as_query_handle_list_tags(as_call_t *call, const uint8_t *payload,
                               size_t len);

#endif
