/*  fling_golden.c - the C codec's side of the Python codec's golden vectors.

    The Python package (python/src/fling/protocol.py, validate.py) must
    build and parse the same bytes as proto/fling_proto.c and refuse the
    same inputs for the same reasons as proto/ and producer/. This program
    speaks for the C side; tests/python/test_codec_golden.py compares.

      fling_golden write      prints the golden vectors, one JSON object a
                              line: every message kind built by the C
                              encoders ("good"), hand-made bad messages with
                              the C decoder's reason ("bad"), task ids
                              formatted and parsed ("id", "id_parse")
      fling_golden decode     reads lines of hex frames (space-separated),
                              prints for each what the C decoder makes of
                              them: {"msg": {...}} or {"reason": N}
      fling_golden validate   reads lines "NAME_HEX PAYLOAD_HEX", prints
                              for each the errno of fling_task_validate
                              (0 when valid)

    The decoded form of a message ("msg") is the one both sides render:
    hex for bytes, numbers as numbers (batch_seq, a u64, as decimal text),
    names as text.
*/
#include "fling_error.h"
#include "fling_producer.h"
#include "fling_proto.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hex ------------------------------------------------------------------ */

static json_t *s_hex (const void *data, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    char *text = (char *)malloc (2 * size + 1);
    const uint8_t *bytes = (const uint8_t *)data;
    for (size_t i = 0; i < size; i++) {
        text[2 * i] = digits[bytes[i] >> 4];
        text[2 * i + 1] = digits[bytes[i] & 15];
    }
    text[2 * size] = 0;
    json_t *value = json_string (text);
    free (text);
    return value;
}

static int s_hex_digit (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes `size` lowercase hex digits into a new buffer; NULL if they are not
   hex. (Not sscanf: glibc's measures the whole rest of the string per call.) */
static uint8_t *s_unhex (const char *text, size_t size, size_t *out_size)
{
    if (size % 2)
        return NULL;
    uint8_t *out = (uint8_t *)malloc (size / 2 + 1);
    for (size_t i = 0; i < size / 2; i++) {
        int high = s_hex_digit (text[2 * i]), low = s_hex_digit (text[2 * i + 1]);
        if (high < 0 || low < 0) {
            free (out);
            return NULL;
        }
        out[i] = (uint8_t)(high << 4 | low);
    }
    out[size / 2] = 0;
    *out_size = size / 2;
    return out;
}

/* ---- rendering a decoded message -------------------------------------------- */

static json_t *s_classes (const uint32_t values[FLING_CLASS_COUNT])
{
    return json_pack ("{s:I,s:I}", "loop", (json_int_t)values[FLING_CLASS_LOOP], "pool",
                      (json_int_t)values[FLING_CLASS_POOL]);
}

static json_t *s_records (const fling_msg_t *msg)
{
    json_t *list = json_array ();
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_record_t r;
    fling_reason_t why;
    while (fling_record_next (&cursor, end, &r, &why) == 1)
        json_array_append_new (
            list, json_pack ("{s:o,s:i,s:i,s:I,s:I,s:s%,s:o}", "id", s_hex (r.id.bytes, 16),
                             "attempt", (int)r.attempt, "max_attempts", (int)r.max_attempts,
                             "timeout_ms", (json_int_t)r.timeout_ms, "backoff_ms",
                             (json_int_t)r.backoff_ms, "name", r.name, r.name_size, "payload",
                             s_hex (r.payload, r.payload_size)));
    return list;
}

static json_t *s_results (const fling_msg_t *msg)
{
    json_t *list = json_array ();
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_result_t r;
    fling_reason_t why;
    while (fling_result_next (&cursor, end, &r, &why) == 1)
        json_array_append_new (
            list, json_pack ("{s:o,s:i,s:i,s:I,s:o}", "id", s_hex (r.id.bytes, 16), "attempt",
                             (int)r.attempt, "outcome", (int)r.outcome, "retry_delay_ms",
                             (json_int_t)r.retry_delay_ms, "error", s_hex (r.error, r.error_size)));
    return list;
}

static json_t *s_leases (const fling_msg_t *msg)
{
    json_t *list = json_array ();
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_task_id_t id;
    uint16_t attempt;
    while (fling_lease_next (&cursor, end, &id, &attempt) == 1)
        json_array_append_new (list,
                               json_pack ("{s:o,s:i}", "id", s_hex (id.bytes, 16), "attempt", attempt));
    return list;
}

static json_t *s_names (const fling_msg_t *msg)
{
    json_t *list = json_array ();
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_class_t cls;
    const char *name;
    size_t size;
    while (fling_ready_name_next (&cursor, end, &cls, &name, &size) == 1)
        json_array_append_new (list, json_pack ("{s:i,s:s%}", "class", (int)cls, "name", name, size));
    return list;
}

static json_t *s_render (const fling_msg_t *msg)
{
    json_t *out = json_pack ("{s:i,s:i}", "cmd", (int)msg->cmd, "version", (int)msg->version);
    switch (msg->cmd) {
    case FLING_CMD_SUBMIT:
    case FLING_CMD_DISPATCH:
        if (msg->cmd == FLING_CMD_SUBMIT)
            json_object_set_new (out, "batch_seq", json_sprintf ("%" PRIu64, msg->batch_seq));
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "records", s_records (msg));
        break;
    case FLING_CMD_ACK:
        json_object_set_new (out, "batch_seq", json_sprintf ("%" PRIu64, msg->batch_seq));
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "statuses", s_hex (msg->body, msg->body_size));
        break;
    case FLING_CMD_RESULT:
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "results", s_results (msg));
        break;
    case FLING_CMD_HOLDING:
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "leases", s_leases (msg));
        break;
    case FLING_CMD_READY:
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "pid", json_integer (msg->pid));
        json_object_set_new (out, "worker_name", s_hex (msg->worker_name, msg->worker_name_size));
        json_object_set_new (out, "names", s_names (msg));
        json_object_set_new (out, "capacity", s_classes (msg->capacity));
        json_object_set_new (out, "slots", s_classes (msg->slots));
        break;
    case FLING_CMD_CAPACITY:
        json_object_set_new (out, "capacity", s_classes (msg->capacity));
        json_object_set_new (out, "slots", s_classes (msg->slots));
        break;
    case FLING_CMD_ERROR:
        json_object_set_new (out, "reason", json_integer (msg->reason));
        json_object_set_new (out, "text", s_hex (msg->text, msg->text_size));
        break;
    case FLING_CMD_ADMIN:
    case FLING_CMD_ADMIN_REPLY:
        json_object_set_new (out, "text", s_hex (msg->text, msg->text_size));
        break;
    default:
        break;
    }
    return out;
}

static json_t *s_frames (zmsg_t *msg)
{
    json_t *list = json_array ();
    for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg))
        json_array_append_new (list, s_hex (zframe_data (f), zframe_size (f)));
    return list;
}

/* Prints one vector: the frames and what the C decoder makes of them. */
static void s_emit (const char *name, zmsg_t *msg)
{
    fling_msg_t decoded;
    fling_reason_t reason;
    json_t *line = json_pack ("{s:s,s:o}", "name", name, "frames", s_frames (msg));
    if (fling_msg_decode (msg, &decoded, &reason) == 0) {
        json_object_set_new (line, "kind", json_string ("good"));
        json_object_set_new (line, "msg", s_render (&decoded));
    } else {
        json_object_set_new (line, "kind", json_string ("bad"));
        json_object_set_new (line, "reason", json_integer (reason));
    }
    char *text = json_dumps (line, JSON_COMPACT | JSON_SORT_KEYS);
    puts (text);
    free (text);
    json_decref (line);
    zmsg_destroy (&msg);
}

/* ---- write: the vectors ------------------------------------------------------- */

static size_t s_record (uint8_t *at, uint64_t seq, uint16_t attempt, const char *name,
                        const char *payload, uint16_t max_attempts, uint32_t timeout_ms,
                        uint32_t backoff_ms)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0x9f86d081884c7d65ull, seq);
    return fling_record_write (at, &id, attempt, max_attempts, timeout_ms, backoff_ms, name,
                               strlen (name), payload, strlen (payload));
}

static void s_write_tasks (void)
{
    static uint8_t buf[8192];
    char long_name[FLING_NAME_MAX + 1];
    memset (long_name, 'n', FLING_NAME_MAX);
    long_name[FLING_NAME_MAX] = 0;
    size_t size = s_record (buf, 1, 0, "email.welcome", "{\"user\":42}", 0, 0, 0);
    s_emit ("submit_one", fling_msg_submit (1, 1, buf, size));
    size += s_record (buf + size, 2, 0, "analytics.page_view", "{}", 5, 1000, 200);
    size += s_record (buf + size, UINT64_MAX, 0, long_name, "{\"a\":[1,2,{\"b\":null}]}",
                      UINT16_MAX, UINT32_MAX, UINT32_MAX);
    s_emit ("submit_three", fling_msg_submit (UINT64_MAX, 3, buf, size));
    size = s_record (buf, 7, 1, "a", "{\"x\":\"\xc3\xa9\"}", 0, 300000, 0);
    size += s_record (buf + size, 8, UINT16_MAX, "A-Z_a:z.0-9", "{}", 3, 0, 1000);
    s_emit ("dispatch_two", fling_msg_dispatch (2, buf, size));
    uint8_t statuses[] = {0, 1, 2, 3, 4, 5, 6};
    s_emit ("ack_statuses", fling_msg_ack (42, sizeof statuses, statuses));
}

static void s_write_results (void)
{
    static uint8_t buf[4096];
    char long_error[FLING_ERROR_TEXT_MAX + 10];
    memset (long_error, 'e', sizeof long_error);
    fling_result_t results[] = {
        {.attempt = 1, .outcome = FLING_OUTCOME_DONE},
        {.attempt = 2, .outcome = FLING_OUTCOME_RETRY, .retry_delay_ms = 5000, .error = "later",
         .error_size = 5},
        {.attempt = 3, .outcome = FLING_OUTCOME_FAIL, .error = long_error,
         .error_size = sizeof long_error}, /* cut at 1,024 by the encoder */
        {.attempt = 1, .outcome = FLING_OUTCOME_RELEASED},
        {.attempt = UINT16_MAX, .outcome = FLING_OUTCOME_TIMEOUT, .retry_delay_ms = UINT32_MAX},
    };
    size_t size = 0;
    uint8_t leases[3 * FLING_LEASE_SIZE];
    for (size_t i = 0; i < 5; i++) {
        fling_task_id_make (&results[i].id, 0x0123456789abcdefull, i + 1);
        size += fling_result_write (buf + size, &results[i]);
        if (i < 3)
            fling_lease_write (leases + i * FLING_LEASE_SIZE, &results[i].id, results[i].attempt);
    }
    s_emit ("result_five", fling_msg_result (5, buf, size));
    s_emit ("holding_three", fling_msg_holding (3, leases, sizeof leases));
}

static void s_write_control (void)
{
    uint32_t capacity[FLING_CLASS_COUNT] = {[FLING_CLASS_LOOP] = 2000, [FLING_CLASS_POOL] = 16};
    uint32_t slots[FLING_CLASS_COUNT] = {[FLING_CLASS_LOOP] = 1000, [FLING_CLASS_POOL] = 8};
    uint32_t none[FLING_CLASS_COUNT] = {0, 0};
    const char *names[] = {"email.welcome", "images.resize", "x"};
    fling_class_t classes[] = {FLING_CLASS_LOOP, FLING_CLASS_POOL, FLING_CLASS_POOL};
    s_emit ("ready_prefetch",
            fling_msg_ready (capacity, slots, 4242, "host-4242", 3, names, classes));
    s_emit ("ready_no_slots", fling_msg_ready (capacity, NULL, UINT32_MAX, "", 1, names, classes));
    s_emit ("capacity_drain", fling_msg_capacity (none, NULL));
    s_emit ("capacity_prefetch", fling_msg_capacity (capacity, slots));
    s_emit ("ping", fling_msg_ping ());
    s_emit ("pong", fling_msg_pong ());
    s_emit ("bye", fling_msg_bye ());
    s_emit ("error_unknown_peer",
            fling_msg_error (FLING_REASON_UNKNOWN_PEER, "unknown worker: send READY"));
    s_emit ("error_empty", fling_msg_error (FLING_REASON_MALFORMED, NULL));
    s_emit ("admin_stats", fling_msg_admin ("{\"op\":\"stats\"}"));
    s_emit ("admin_reply", fling_msg_admin_reply ("{\"retried\":3}"));
}

/* A message from frames given as (pointer, size) pairs; NULL ends. */
static zmsg_t *s_raw (const void *first, size_t first_size, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, first_size);
    for (const void *data = first; data; data = va_arg (args, const void *)) {
        size_t size = data == first ? first_size : va_arg (args, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (args);
    return msg;
}

#define H(cmd) ((const uint8_t[]){'F', 'L', 1, (cmd)})

static void s_write_bad_framing (void)
{
    s_emit ("bad_empty_message", zmsg_new ());
    zmsg_t *many = zmsg_new ();
    zmsg_addmem (many, H (FLING_CMD_PING), 4);
    for (int i = 0; i < FLING_FRAMES_MAX; i++)
        zmsg_addmem (many, "", 0);
    s_emit ("bad_seventeen_frames", many);
    s_emit ("bad_short_header", s_raw ("FL\x01", (size_t)3, NULL));
    s_emit ("bad_signature", s_raw ("XL\x01\x03", (size_t)4, NULL));
    s_emit ("bad_version", s_raw ("FL\x02\x03", (size_t)4, NULL));
    s_emit ("bad_command_zero", s_raw ("FL\x01\x00", (size_t)4, NULL));
    s_emit ("bad_command_14", s_raw ("FL\x01\x0e", (size_t)4, NULL));
    s_emit ("bad_ping_two_frames", s_raw (H (FLING_CMD_PING), (size_t)4, "x", (size_t)1, NULL));
    s_emit ("bad_submit_fields", s_raw (H (FLING_CMD_SUBMIT), (size_t)4, "12345678901", (size_t)11,
                                        "", (size_t)0, NULL));
    s_emit ("bad_capacity_fields",
            s_raw (H (FLING_CMD_CAPACITY), (size_t)4, "123456789012345", (size_t)15, NULL));
    s_emit ("bad_error_fields", s_raw (H (FLING_CMD_ERROR), (size_t)4, "123", (size_t)3, "",
                                       (size_t)0, NULL));
}

static void s_write_bad_records (void)
{
    static uint8_t rec[256];
    const uint8_t one[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    const uint8_t two[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2};
    const uint8_t zero[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    const uint8_t many[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x03, 0xe9};
    size_t size = s_record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    s_emit ("bad_submit_count_zero", s_raw (H (1), (size_t)4, zero, (size_t)12, rec, size, NULL));
    s_emit ("bad_submit_count_1001", s_raw (H (1), (size_t)4, many, (size_t)12, rec, size, NULL));
    s_emit ("bad_submit_count_two", s_raw (H (1), (size_t)4, two, (size_t)12, rec, size, NULL));
    s_emit ("bad_record_truncated", s_raw (H (1), (size_t)4, one, (size_t)12, rec, size - 1, NULL));
    s_emit ("bad_record_short", s_raw (H (1), (size_t)4, one, (size_t)12, rec, (size_t)38, NULL));
    rec[33] = ' '; /* the name's first byte */
    s_emit ("bad_record_name_char", s_raw (H (1), (size_t)4, one, (size_t)12, rec, size, NULL));
    size = s_record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    rec[size - 1] = 'x'; /* the payload's zero byte */
    s_emit ("bad_record_no_zero", s_raw (H (1), (size_t)4, one, (size_t)12, rec, size, NULL));
    size = s_record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    rec[41] = 0, rec[42] = 0x10, rec[43] = 0, rec[44] = 1; /* P (at 34 + N) = 1 MiB + 1 */
    s_emit ("bad_record_payload_size", s_raw (H (1), (size_t)4, one, (size_t)12, rec, size, NULL));
    size = s_record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    rec[3] += 1; /* L one more than the record */
    s_emit ("bad_record_length", s_raw (H (1), (size_t)4, one, (size_t)12, rec, size, NULL));
    size = s_record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    rec[32] = 0; /* N = 0 */
    s_emit ("bad_record_name_empty", s_raw (H (1), (size_t)4, one, (size_t)12, rec, size, NULL));
    size = s_record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    s_emit ("bad_dispatch_count", s_raw (H (FLING_CMD_DISPATCH), (size_t)4, "\0\0\0\2", (size_t)4,
                                         rec, size, NULL));
    s_emit ("bad_ack_statuses", s_raw (H (FLING_CMD_ACK), (size_t)4, two, (size_t)12, "\0",
                                       (size_t)1, NULL));
}

static void s_write_bad_worker (void)
{
    uint8_t res[64] = {0};
    res[18] = FLING_OUTCOME_MAX;
    s_emit ("bad_result_outcome", s_raw (H (FLING_CMD_RESULT), (size_t)4, "\0\0\0\1", (size_t)4,
                                         res, (size_t)25, NULL));
    res[18] = 0, res[23] = 0x04, res[24] = 0x01; /* E = 1025 */
    s_emit ("bad_result_error_size", s_raw (H (FLING_CMD_RESULT), (size_t)4, "\0\0\0\1", (size_t)4,
                                            res, (size_t)25, NULL));
    s_emit ("bad_result_short", s_raw (H (FLING_CMD_RESULT), (size_t)4, "\0\0\0\1", (size_t)4,
                                       res, (size_t)24, NULL));
    s_emit ("bad_holding_size", s_raw (H (FLING_CMD_HOLDING), (size_t)4, "\0\0\0\1", (size_t)4,
                                       res, (size_t)17, NULL));
    s_emit ("bad_holding_count_zero", s_raw (H (FLING_CMD_HOLDING), (size_t)4, "\0\0\0\0",
                                             (size_t)4, res, (size_t)0, NULL));
    /* READY fields: pool cap, loop cap, pid, name count, pool slots, loop slots */
    uint8_t ready[22] = {0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 1, 0, 1, 0, 0, 0, 8, 0, 0, 0, 8};
    const char names[] = "\x01\x01x";
    s_emit ("ready_minimal", s_raw (H (FLING_CMD_READY), (size_t)4, ready, (size_t)22, "w",
                                    (size_t)1, names, (size_t)3, NULL));
    ready[21] = 9; /* loop slots above loop capacity */
    s_emit ("bad_ready_slots", s_raw (H (FLING_CMD_READY), (size_t)4, ready, (size_t)22, "w",
                                      (size_t)1, names, (size_t)3, NULL));
    ready[21] = 8, ready[13] = 0; /* no names */
    s_emit ("bad_ready_no_names", s_raw (H (FLING_CMD_READY), (size_t)4, ready, (size_t)22, "w",
                                         (size_t)1, "", (size_t)0, NULL));
    ready[13] = 1;
    s_emit ("bad_ready_worker_nul", s_raw (H (FLING_CMD_READY), (size_t)4, ready, (size_t)22,
                                           "a\0b", (size_t)3, names, (size_t)3, NULL));
    s_emit ("bad_ready_class", s_raw (H (FLING_CMD_READY), (size_t)4, ready, (size_t)22, "w",
                                      (size_t)1, "\x02\x01x", (size_t)3, NULL));
    ready[13] = 2;
    s_emit ("bad_ready_name_count", s_raw (H (FLING_CMD_READY), (size_t)4, ready, (size_t)22, "w",
                                           (size_t)1, names, (size_t)3, NULL));
    uint8_t cap[16] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1};
    s_emit ("bad_capacity_slots", s_raw (H (FLING_CMD_CAPACITY), (size_t)4, cap, (size_t)16, NULL));
}

static void s_write_ids (void)
{
    const uint64_t seqs[] = {0, 1, 42, 10, UINT64_MAX};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        fling_task_id_t id;
        char text[FLING_TASK_ID_TEXT_SIZE];
        fling_task_id_make (&id, 0x9f86d081884c7d65ull, seqs[i]);
        json_t *line = json_pack ("{s:s,s:o,s:s}", "kind", "id", "id", s_hex (id.bytes, 16),
                                  "text", fling_task_id_format (&id, text));
        char *out = json_dumps (line, JSON_COMPACT | JSON_SORT_KEYS);
        puts (out);
        free (out);
        json_decref (line);
    }
    const char *texts[] = {"9f86d081884c7d65:42", "9f86d081884c7d65:0",
                           "9f86d081884c7d65:18446744073709551615",
                           "9f86d081884c7d65:18446744073709551616", "9f86d081884c7d65:042",
                           "9f86d081884c7d65:", "9F86d081884c7d65:1", "9f86d081884c7d6:1",
                           "9f86d081884c7d65-1", "9f86d081884c7d65:1x", "", "9f86d081884c7d65:-1"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        fling_task_id_t id;
        int rc = fling_task_id_parse (&id, texts[i]);
        json_t *line = json_pack ("{s:s,s:s,s:b}", "kind", "id_parse", "text", texts[i], "ok",
                                  rc == 0);
        if (rc == 0)
            json_object_set_new (line, "id", s_hex (id.bytes, 16));
        char *out = json_dumps (line, JSON_COMPACT | JSON_SORT_KEYS);
        puts (out);
        free (out);
        json_decref (line);
    }
}

/* ---- decode, validate: lines from stdin ------------------------------------------ */

static int s_decode_line (char *line)
{
    zmsg_t *msg = zmsg_new ();
    for (char *word = strtok (line, " \n"); word; word = strtok (NULL, " \n")) {
        size_t size;
        /* "-" is an empty frame (a line of words cannot hold an empty one) */
        uint8_t *data = strcmp (word, "-") ? s_unhex (word, strlen (word), &size) : calloc (1, 1);
        if (!strcmp (word, "-"))
            size = 0;
        if (!data) {
            zmsg_destroy (&msg);
            return -1;
        }
        zmsg_addmem (msg, data, size);
        free (data);
    }
    fling_msg_t decoded;
    fling_reason_t reason;
    json_t *out = fling_msg_decode (msg, &decoded, &reason) == 0
                      ? json_pack ("{s:o}", "msg", s_render (&decoded))
                      : json_pack ("{s:i}", "reason", (int)reason);
    char *text = json_dumps (out, JSON_COMPACT | JSON_SORT_KEYS);
    puts (text);
    free (text);
    json_decref (out);
    zmsg_destroy (&msg);
    return 0;
}

static int s_validate_line (char *line)
{
    char *name_hex = strtok (line, " \n"), *payload_hex = strtok (NULL, " \n");
    size_t name_size = 0, payload_size = 0;
    uint8_t *name = name_hex && strcmp (name_hex, "-") ? s_unhex (name_hex, strlen (name_hex),
                                                                  &name_size)
                                                       : (uint8_t *)calloc (1, 1);
    uint8_t *payload = payload_hex && strcmp (payload_hex, "-")
                           ? s_unhex (payload_hex, strlen (payload_hex), &payload_size)
                           : (uint8_t *)calloc (1, 1);
    if (!name || !payload) {
        free (name);
        free (payload);
        return -1;
    }
    /* An empty payload: json_size 0 means strlen, which is 0 as well. */
    errno = 0;
    int rc = fling_task_validate ((const char *)name, (const char *)payload, payload_size);
    printf ("%d\n", rc == 0 ? 0 : errno);
    free (name);
    free (payload);
    return 0;
}

static int s_each_line (int (*fn) (char *line))
{
    size_t room = 0;
    char *line = NULL;
    ssize_t got;
    while ((got = getline (&line, &room, stdin)) > 0) {
        if (fn (line)) {
            fprintf (stderr, "fling_golden: bad input line\n");
            free (line);
            return 1;
        }
        fflush (stdout);
    }
    free (line);
    return 0;
}

int main (int argc, char **argv)
{
    zsys_handler_set (NULL);
    if (argc == 2 && !strcmp (argv[1], "write")) {
        s_write_tasks ();
        s_write_results ();
        s_write_control ();
        s_write_bad_framing ();
        s_write_bad_records ();
        s_write_bad_worker ();
        s_write_ids ();
        return 0;
    }
    if (argc == 2 && !strcmp (argv[1], "decode"))
        return s_each_line (s_decode_line);
    if (argc == 2 && !strcmp (argv[1], "validate"))
        return s_each_line (s_validate_line);
    fprintf (stderr, "usage: fling_golden write | decode | validate\n");
    return 2;
}
