/*
 * errors.c - the library's version, and the names and descriptions of its
 * return codes (gRPC's status codes, negated).
 */
#include "artstore.h"
#include "as_version.h"
#include "code.h"

/* The header's version macros and the project version must agree. */
_Static_assert(AS_LIB_VERSION_MAJOR == ARTSTORE_VERSION_MAJOR &&
               AS_LIB_VERSION_MINOR == ARTSTORE_VERSION_MINOR &&
               AS_LIB_VERSION_PATCH == ARTSTORE_VERSION_PATCH,
               "artstore.h AS_LIB_VERSION_* differ from the project version");

/* What each code means to a library user, by code number. The names are
 * the wire's (as_code_str, from artstore.proto), shared with the server. */
static const char *const texts[] = {
    "success",
    "the call was cancelled",
    "unknown error",
    "invalid argument",
    "the deadline passed before the call completed",
    "not found",
    "already exists",
    "permission denied",
    "out of memory or over a size limit",
    "a condition of the call does not hold (e.g. a revision mismatch)",
    "the call was aborted",
    "out of range",
    "not implemented by the server",
    "internal error, or a reply that could not be decoded",
    "the server is unavailable",
    "stored data is lost or corrupt",
    "missing or wrong auth token",
};

#define N_CODES (int)(sizeof(texts) / sizeof(texts[0]))

const char *as_version(void)
{
    return ARTSTORE_VERSION_STRING;
}

const char *as_code_name(int rc)
{
    if (rc > 0 || rc <= -N_CODES)
        return "UNKNOWN";
    return as_code_str(-rc);
}

const char *as_strerror(int rc)
{
    if (rc > 0 || rc <= -N_CODES)
        return texts[-AS_EUNKNOWN];
    return texts[-rc];
}
