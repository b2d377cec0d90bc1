/*
 * promtext.h - the server's statistics (a StatsResponse) in the Prometheus
 * text exposition format 0.0.4: the one rendering shared by artstored's
 * HTTP /metrics and libartstore (`artstore stats -o prometheus`), so that
 * a scrape and a textfile collector see the same names, types and units.
 *
 * Each family has one # HELP and one # TYPE line, then all its samples.
 * Times are in seconds, as Prometheus expects: request latency is the
 * histogram artstore_request_duration_seconds (the wire carries
 * microseconds; bounds and sum are converted here).
 */
#ifndef AS_PROMTEXT_H
#define AS_PROMTEXT_H

#include <stddef.h>

#include "artstore.pb-c.h"

/*
 * Renders r. Returns a NUL-terminated string the caller frees with free(),
 * its length (without the NUL) in *len when len is not NULL; NULL when out
 * of memory.
 */
char *as_prom_render(const Artstore__V1__StatsResponse *r, size_t *len);

#endif
