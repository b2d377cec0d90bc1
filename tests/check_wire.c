/*
 * check_wire.c - the hand-built reply encoding (server/wire.c): every named
 * field number agrees with the descriptors protoc-c generated from
 * artstore.proto, and bytes built by hand decode with the generated code.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "status.h"
#include "wire.h"

/* The wire type protobuf uses for a field of the given descriptor. */
static int wire_type_of(const ProtobufCFieldDescriptor *fd)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return AS_WIRE_LEN;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_ENUM:
        /* A packed repeated scalar would be length-delimited. */
        return fd->label == PROTOBUF_C_LABEL_REPEATED &&
                       (fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED)
                   ? AS_WIRE_LEN : AS_WIRE_VARINT;
    default:
        return -1;
    }
}

START_TEST(test_fields_match_descriptors)
{
    size_t i;

    ck_assert_uint_gt(as_wire_n_fields, 0);
    for (i = 0; i < as_wire_n_fields; i++) {
        const as_wire_field_t *w = &as_wire_fields[i];
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(w->msg, w->name);

        ck_assert_msg(fd != NULL, "%s has no field %s", w->msg->name,
                      w->name);
        ck_assert_msg(fd->id == w->number, "%s.%s is field %u in the .proto "
                      "but wire.h says %u", w->msg->name, w->name, fd->id,
                      w->number);
        ck_assert_msg(wire_type_of(fd) == w->wire_type,
                      "%s.%s has wire type %d, wire.c encodes %d",
                      w->msg->name, w->name, wire_type_of(fd), w->wire_type);
    }
}
END_TEST

/* A reply built with the wire functions decodes with the generated code
 * to the same values. */
START_TEST(test_query_reply_decodes)
{
    Artstore__V1__Article a = ARTSTORE__V1__ARTICLE__INIT;
    Artstore__V1__QueryResponse *resp;
    as_wire_buf_t b = { 0 };
    uint8_t packed[256], cur[3] = { 1, 2, 3 };
    size_t n;

    a.title = "t";
    a.has_id = 1;
    a.id = 300;
    n = artstore__v1__article__pack(&a, packed);
    ck_assert_int_eq(as_wire_put_bytes(&b, AS_WIRE_QUERY_ARTICLES, packed, n),
                     0);
    ck_assert_int_eq(as_wire_put_bytes(&b, AS_WIRE_QUERY_NEXT_CURSOR, cur, 3),
                     0);
    ck_assert_int_eq(as_wire_put_uint(&b, AS_WIRE_QUERY_TOTAL, 1ull << 40),
                     0);
    ck_assert_int_eq(as_wire_put_uint(&b, AS_WIRE_QUERY_SEQ, 7), 0);
    ck_assert_uint_eq(b.len, as_wire_bytes_size(AS_WIRE_QUERY_ARTICLES, n) +
                                 as_wire_bytes_size(AS_WIRE_QUERY_NEXT_CURSOR,
                                                    3) +
                                 as_wire_uint_size(AS_WIRE_QUERY_TOTAL,
                                                   1ull << 40) +
                                 as_wire_uint_size(AS_WIRE_QUERY_SEQ, 7));
    resp = artstore__v1__query_response__unpack(NULL, b.len, b.data);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->n_articles, 1);
    ck_assert_uint_eq(resp->articles[0]->id, 300);
    ck_assert_str_eq(resp->articles[0]->title, "t");
    ck_assert(resp->has_next_cursor && resp->next_cursor.len == 3);
    ck_assert_uint_eq(resp->total, 1ull << 40);
    ck_assert_uint_eq(resp->seq, 7);
    artstore__v1__query_response__free_unpacked(resp, NULL);
    as_wire_buf_free(&b);
}
END_TEST

/* A fixed buffer (a reply reserved in place) is never grown. */
START_TEST(test_fixed_buffer_bounded)
{
    uint8_t mem[4];
    as_wire_buf_t b = { mem, 0, sizeof(mem), 1 };

    ck_assert_int_eq(as_wire_put_uint(&b, AS_WIRE_GET_NOT_FOUND, 5), 0);
    ck_assert_int_eq(as_wire_put_bytes(&b, AS_WIRE_GET_ARTICLES, "abc", 3),
                     -1);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_ptr_eq(b.data, mem);
}
END_TEST

/* Status code names come from artstore.proto's Code enum, and the
 * server's AS_CODE_* numbers are that enum's. */
START_TEST(test_code_names_from_proto)
{
    const ProtobufCEnumDescriptor *d = &artstore__v1__code__descriptor;
    unsigned i;

    ck_assert_uint_eq(d->n_values, 17);
    for (i = 0; i < d->n_values; i++)
        ck_assert_str_eq(as_code_str(d->values[i].value), d->values[i].name);
    ck_assert_str_eq(as_code_str(AS_CODE_NOT_FOUND), "NOT_FOUND");
    ck_assert_int_eq(AS_CODE_UNAUTHENTICATED,
                     ARTSTORE__V1__CODE__UNAUTHENTICATED);
    ck_assert_int_eq(AS_CODE_OUT_OF_RANGE, ARTSTORE__V1__CODE__OUT_OF_RANGE);
    ck_assert_str_eq(as_code_str(-1), "UNKNOWN");
    ck_assert_str_eq(as_code_str(17), "UNKNOWN");
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_fields_match_descriptors);
    tcase_add_test(tc, test_query_reply_decodes);
    tcase_add_test(tc, test_fixed_buffer_bounded);
    tcase_add_test(tc, test_code_names_from_proto);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(wire_suite());
}
