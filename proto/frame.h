/*
 * frame.h - the change feed's frame format, encoded by the server's feed
 * and decoded by libartstore's watch. The one definition of the format
 * (docs/PROTOCOL.md describes it for other clients).
 *
 * Frame format (all integers big-endian):
 *
 *   heartbeat:  'H' | last_seq (8) | time_ms (8, signed)
 *   position:   'P' | last_seq (8)
 *   event:      'E' | seq (8) | n_tags (2) | n_tags x (len (2) | bytes)
 *                   | n_prev (2) | n_prev x (len (2) | bytes)
 *                   | packed artstore.v1.ChangeEvent (rest of the frame)
 *
 * The tags (after the change; before it for a delete) and prev_tags (before
 * an update) come first so that a subscriber can apply its tag filter and
 * skip an event without unpacking it.
 *
 * A server that wants tokens publishes position frames only (PUB cannot
 * check a token): one after each commit and as the heartbeat. Its
 * subscribers read the events themselves with Changes, which checks the
 * token.
 */
#ifndef AS_FRAME_H
#define AS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "filter.h"

#define AS_FRAME_EVENT 'E'
#define AS_FRAME_HEARTBEAT 'H'
#define AS_FRAME_POSITION 'P'
#define AS_FRAME_HEARTBEAT_LEN 17
#define AS_FRAME_POSITION_LEN 9
/* Tags per list and bytes per tag a frame can carry (the server's limits
 * are far below). */
#define AS_FRAME_MAX_TAGS 0xffff
#define AS_FRAME_MAX_TAG_LEN 0xffff

/* A decoded frame; tags and payload point into the frame's buffer. */
typedef struct as_frame {
    int kind;                  /* AS_FRAME_EVENT, _HEARTBEAT or _POSITION */
    uint64_t seq;              /* event: its seq; else last_seq */
    int64_t time_ms;           /* heartbeat only */
    as_span_t *tags, *prev;    /* caller's arrays (cap entries each) */
    size_t n_tags, n_prev;
    const void *payload;       /* event: the packed ChangeEvent */
    size_t payload_len;
} as_frame_t;

/* Results of as_frame_decode. */
enum {
    AS_FRAME_OK = 0,
    AS_FRAME_BAD = -1,         /* too short or unknown kind */
    AS_FRAME_BAD_TAGS = -2     /* kind and seq are set, the rest unreadable
                                  (or more tags than cap) */
};

/* Returns the size of an event frame for these tags and payload. */
size_t as_frame_event_size(char *const *tags, size_t n_tags,
                           char *const *prev, size_t n_prev,
                           size_t payload_len);

/* Writes an event frame into out (as_frame_event_size bytes); returns its
 * length. Lists are cut at AS_FRAME_MAX_TAGS, tags at
 * AS_FRAME_MAX_TAG_LEN. */
size_t as_frame_put_event(unsigned char *out, uint64_t seq,
                          char *const *tags, size_t n_tags,
                          char *const *prev, size_t n_prev,
                          const void *payload, size_t payload_len);

/* Writes a heartbeat frame (AS_FRAME_HEARTBEAT_LEN bytes) into out. */
void as_frame_put_heartbeat(unsigned char *out, uint64_t last_seq,
                            int64_t time_ms);

/* Writes a position frame (AS_FRAME_POSITION_LEN bytes) into out. */
void as_frame_put_position(unsigned char *out, uint64_t last_seq);

/*
 * Decodes the len bytes at buf into f. f->tags and f->prev must point to
 * arrays of cap spans each. Returns AS_FRAME_OK, AS_FRAME_BAD or
 * AS_FRAME_BAD_TAGS.
 */
int as_frame_decode(const void *buf, size_t len, as_frame_t *f, size_t cap);

#endif
