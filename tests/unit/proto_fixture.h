/*  proto_fixture.h - samples and checks for the codec tests
    (test_proto.c, test_proto_bad.c, test_proto_text.c): one valid message
    of every command, records, results and READYs to break, and the two
    verdicts a decode can give.
*/
#ifndef PROTO_FIXTURE_H_INCLUDED
#define PROTO_FIXTURE_H_INCLUDED

#include "fling_proto.h"

/* Big-endian stores, for writing a field by hand. */
void put_u16 (uint8_t *p, uint16_t v);
void put_u32 (uint8_t *p, uint32_t v);

/* Frame `index` of `msg` (fails the test if there is none). */
zframe_t *frame_at (zmsg_t *msg, size_t index);

/* Decodes `msg`, expects failure with `want`, and destroys it. */
void expect_reason (zmsg_t *msg, fling_reason_t want);

/* Decodes `msg` and expects success. The caller keeps and destroys `msg`. */
void expect_ok (zmsg_t *msg, fling_msg_t *out);

/* A message of one frame, the 4-byte header. */
zmsg_t *raw_msg (const uint8_t header[4]);

/* A record (producer 0x1122334455667788, seq) in a fresh buffer; *size gets
   its length. */
uint8_t *make_record (uint64_t seq, const char *name, size_t name_size, const char *payload,
                      size_t payload_size, size_t *size);

/* A SUBMIT with one valid record "mail.send" / {"a":1}. */
zmsg_t *valid_submit (void);
zmsg_t *valid_result (void);
zmsg_t *valid_ready (void);

/* One valid message of every command, for the shape tests. */
zmsg_t *valid_message (fling_cmd_t cmd);

#endif
