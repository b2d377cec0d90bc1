/*
 * code.c - status code names, read from artstore.proto's Code enum.
 */
#include "code.h"

#include "artstore.pb-c.h"

const char *as_code_str(int code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&artstore__v1__code__descriptor,
                                             code);

    return v != NULL ? v->name : "UNKNOWN";
}
