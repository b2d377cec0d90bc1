/*
 * code.h - the names of the wire's status codes, shared by the server
 * (its logs and replies) and libartstore (as_code_name).
 *
 * The names come from the Code enum of artstore.proto through the
 * descriptor protoc-c generates, so the proto is the one list: a code
 * added there is named on both sides without a table to update.
 */
#ifndef AS_CODE_H
#define AS_CODE_H

/* Returns the name of wire status code code, gRPC's ("NOT_FOUND"), or
 * "UNKNOWN" for a number the Code enum does not have. The string is
 * static. */
const char *as_code_str(int code);

#endif
