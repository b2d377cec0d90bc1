/*
 * verify.h - offline consistency check of a data directory
 * (`artstored --check --data DIR`).
 *
 * Opens the LMDB environment read-only, in one snapshot, and verifies that
 * every index agrees with the articles and that the changelog and the
 * counters in `meta` agree with both:
 *   - every article decompresses (when stored compressed: the zstd frame
 *     carries a checksum) and unpacks, is stored under its own id, and has its
 *     by_url, by_tag, by_source and by_time entries;
 *   - every index entry points to an existing article that has it (no
 *     dangling postings; counts in both directions match);
 *   - change seqs are gap-free from the oldest retained one up to
 *     meta last_seq, and each event carries its own seq;
 *   - meta next_id is above every id, tag_count is the number of distinct
 *     tags, no revision is above last_seq;
 *   - tag_counts holds one entry per distinct tag with its number of
 *     postings (schema 2; a schema 1 store has none yet).
 * It never writes. Run it while no server holds the directory open for
 * writing, or accept that it sees one committed snapshot.
 */
#ifndef AS_VERIFY_H
#define AS_VERIFY_H

#include <stdint.h>
#include <stdio.h>

typedef struct as_verify_report {
    uint64_t articles;
    uint64_t compressed;   /* articles stored compressed (codec.h) */
    uint64_t tags;         /* distinct tags in by_tag */
    uint64_t changes;      /* retained change events */
    uint64_t oldest_seq;   /* 0 when no change is retained */
    uint64_t last_seq;
    uint64_t next_id;
    uint64_t problems;     /* inconsistencies found */
} as_verify_report_t;

/*
 * Checks the store in dir. Each problem is printed as one line to err
 * (the first 1000; all are counted in out->problems). Returns 0 when the
 * check ran (consistent or not: see out->problems), or -1 when the store
 * could not be opened or read, with the reason printed to err.
 */
int as_verify_run(const char *dir, FILE *err, as_verify_report_t *out);

#endif
