/*
 * status.h - a status code plus a human message, passed between server
 * modules. Codes are gRPC's numbers (the proto's artstore.v1.Code); a
 * message names the field or limit at fault so a client can act on it.
 */
#ifndef AS_STATUS_H
#define AS_STATUS_H

#include <stdarg.h>

#include "code.h"               /* as_code_str: a code's name */

enum {
    AS_CODE_OK = 0,
    AS_CODE_CANCELLED = 1,
    AS_CODE_UNKNOWN = 2,
    AS_CODE_INVALID_ARGUMENT = 3,
    AS_CODE_DEADLINE_EXCEEDED = 4,
    AS_CODE_NOT_FOUND = 5,
    AS_CODE_ALREADY_EXISTS = 6,
    AS_CODE_PERMISSION_DENIED = 7,
    AS_CODE_RESOURCE_EXHAUSTED = 8,
    AS_CODE_FAILED_PRECONDITION = 9,
    AS_CODE_ABORTED = 10,
    AS_CODE_OUT_OF_RANGE = 11,
    AS_CODE_UNIMPLEMENTED = 12,
    AS_CODE_INTERNAL = 13,
    AS_CODE_UNAVAILABLE = 14,
    AS_CODE_DATA_LOSS = 15,
    AS_CODE_UNAUTHENTICATED = 16,
};

typedef struct as_status {
    int code;
    char msg[256];
} as_status_t;

/* Sets st to code and a printf-formatted message; returns code so that a
 * caller can write `return as_status_set(st, ...)`. st may be NULL. */
int as_status_set(as_status_t *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears st to OK with an empty message. */
void as_status_ok(as_status_t *st);

#endif
