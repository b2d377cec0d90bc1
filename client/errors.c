/*
 * errors.c - the library's version, and the names and descriptions of its
 * return codes (gRPC's status codes, negated).
 */
#include "artstore.h"
#include "as_version.h"

/* The header's version macros and the project version must agree. */
_Static_assert(AS_LIB_VERSION_MAJOR == ARTSTORE_VERSION_MAJOR &&
               AS_LIB_VERSION_MINOR == ARTSTORE_VERSION_MINOR &&
               AS_LIB_VERSION_PATCH == ARTSTORE_VERSION_PATCH,
               "artstore.h AS_LIB_VERSION_* differ from the project version");

static const struct {
    const char *name;
    const char *text;
} codes[] = {
    { "OK", "success" },
    { "CANCELLED", "the call was cancelled" },
    { "UNKNOWN", "unknown error" },
    { "INVALID_ARGUMENT", "invalid argument" },
    { "DEADLINE_EXCEEDED", "the deadline passed before the call completed" },
    { "NOT_FOUND", "not found" },
    { "ALREADY_EXISTS", "already exists" },
    { "PERMISSION_DENIED", "permission denied" },
    { "RESOURCE_EXHAUSTED", "out of memory or over a size limit" },
    { "FAILED_PRECONDITION", "a condition of the call does not hold "
                             "(e.g. a revision mismatch)" },
    { "ABORTED", "the call was aborted" },
    { "OUT_OF_RANGE", "out of range" },
    { "UNIMPLEMENTED", "not implemented by the server" },
    { "INTERNAL", "internal error, or a reply that could not be decoded" },
    { "UNAVAILABLE", "the server is unavailable" },
    { "DATA_LOSS", "stored data is lost or corrupt" },
    { "UNAUTHENTICATED", "missing or wrong auth token" },
};

#define N_CODES (int)(sizeof(codes) / sizeof(codes[0]))

const char *as_version(void)
{
    return ARTSTORE_VERSION_STRING;
}

const char *as_code_name(int rc)
{
    if (rc > 0 || rc <= -N_CODES)
        return "UNKNOWN";
    return codes[-rc].name;
}

const char *as_strerror(int rc)
{
    if (rc > 0 || rc <= -N_CODES)
        return codes[2].text;
    return codes[-rc].text;
}
