/*
 * status.c - status values shared by the server modules.
 */
#include "status.h"

#include <stdio.h>
#include <string.h>

int as_status_set(as_status_t *st, int code, const char *fmt, ...)
{
    va_list ap;

    if (st == NULL)
        return code;
    st->code = code;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
    va_end(ap);
    return code;
}

void as_status_ok(as_status_t *st)
{
    st->code = AS_CODE_OK;
    st->msg[0] = '\0';
}
