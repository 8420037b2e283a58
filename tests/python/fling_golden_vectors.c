/*  fling_golden_vectors.c - the golden vectors fling_golden writes: every
    command built by the C encoders in FLP/1.1 (and in FLP/1 where its
    frames differ: RESULT, ERROR), hand-made messages that the C decoder
    refuses (each with its reason) or judges record by record (SUBMIT), and
    task ids formatted and parsed. See fling_golden.c. */
#include "fling_golden.h"
#include "fling_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define emit fling_golden_emit

/* A message from frames given as (pointer, size) pairs; END ends. */
static zmsg_t *raw (const void *first, size_t first_size, ...)
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

/* Headers: FLP/1.1 (version byte 2) and FLP/1 (version byte 1). */
#define H(cmd)  ((const uint8_t[]){'F', 'L', FLING_PROTO_VERSION, (cmd)})
#define H1(cmd) ((const uint8_t[]){'F', 'L', 1, (cmd)})
#define Z       (size_t)
#define END     ((const void *)0) /* ends raw's list: a pointer, as va_arg reads it */

static size_t record (uint8_t *at, uint64_t seq, uint16_t attempt, const char *name,
                      const char *payload, uint16_t max_attempts, uint32_t timeout_ms,
                      uint32_t backoff_ms)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0x9f86d081884c7d65ull, seq);
    return fling_record_write (at, &id, attempt, max_attempts, timeout_ms, backoff_ms, name,
                               strlen (name), payload, strlen (payload));
}

static void tasks (void)
{
    static uint8_t buf[8192];
    char long_name[FLING_NAME_MAX + 1];
    memset (long_name, 'n', FLING_NAME_MAX);
    long_name[FLING_NAME_MAX] = 0;
    size_t size = record (buf, 1, 0, "email.welcome", "{\"user\":42}", 0, 0, 0);
    emit ("submit_one", fling_msg_submit (1, 1, buf, size));
    zmsg_t *v1 = fling_msg_submit (1, 1, buf, size);
    fling_msg_set_version (v1, 1);
    emit ("submit_one_v1", v1);
    size += record (buf + size, 2, 0, "analytics.page_view", "{}", 5, 1000, 200);
    size += record (buf + size, UINT64_MAX, 0, long_name, "{\"a\":[1,2,{\"b\":null}]}", UINT16_MAX,
                    UINT32_MAX, UINT32_MAX);
    emit ("submit_three", fling_msg_submit (UINT64_MAX, 3, buf, size));
    size = record (buf, 7, 1, "a", "{\"x\":\"\xc3\xa9\"}", 0, 300000, 0);
    size += record (buf + size, 8, UINT16_MAX, "A-Z_a:z.0-9", "{}", 3, 0, 1000);
    emit ("dispatch_two", fling_msg_dispatch (2, buf, size));
    uint8_t statuses[] = {0, 1, 2, 3, 4, 5, 6, 23, 27, 99};
    emit ("ack_statuses", fling_msg_ack (42, sizeof statuses, statuses));
}

static void result_vectors (void)
{
    static uint8_t buf[4096];
    char long_error[FLING_ERROR_TEXT_MAX + 10];
    memset (long_error, 'e', sizeof long_error);
    fling_result_t results[] = {
        {.attempt = 1, .outcome = FLING_OUTCOME_DONE},
        {.attempt = 2,
         .outcome = FLING_OUTCOME_RETRY,
         .retry_delay_ms = 5000,
         .error = "later",
         .error_size = 5},
        {.attempt = 3,
         .outcome = FLING_OUTCOME_FAIL,
         .error = long_error,
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
    emit ("result_five", fling_msg_result (1, 5, buf, size));
    emit ("result_seq_max", fling_msg_result (UINT64_MAX, 1, buf, FLING_RESULT_OVERHEAD));
    emit ("result_five_v1", raw (H1 (FLING_CMD_RESULT), Z 4, "\0\0\0\5", Z 4, buf, size, END));
    emit ("result_ack", fling_msg_result_ack (77));
    emit ("holding_three", fling_msg_holding (3, leases, sizeof leases));
}

static void control (void)
{
    uint32_t capacity[FLING_CLASS_COUNT] = {[FLING_CLASS_LOOP] = 2000, [FLING_CLASS_POOL] = 16};
    uint32_t slots[FLING_CLASS_COUNT] = {[FLING_CLASS_LOOP] = 1000, [FLING_CLASS_POOL] = 8};
    uint32_t none[FLING_CLASS_COUNT] = {0, 0};
    const char *names[] = {"email.welcome", "images.resize", "x"};
    fling_class_t classes[] = {FLING_CLASS_LOOP, FLING_CLASS_POOL, FLING_CLASS_POOL};
    emit ("ready_prefetch",
          fling_msg_ready (capacity, slots, 4242, "host-4242", 3, names, classes));
    emit ("ready_no_slots", fling_msg_ready (capacity, NULL, UINT32_MAX, "", 1, names, classes));
    emit ("welcome", fling_msg_welcome (1000, 3000));
    emit ("capacity_drain", fling_msg_capacity (none, END));
    emit ("capacity_prefetch", fling_msg_capacity (capacity, slots));
    emit ("ping", fling_msg_ping ());
    emit ("pong", fling_msg_pong ());
    emit ("bye", fling_msg_bye ());
    emit ("error_unknown_peer",
          fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER, FLING_CMD_RESULT, 9,
                           "unknown worker: send READY"));
    emit ("error_submit",
          fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_BAD_FIELD, FLING_CMD_SUBMIT,
                           UINT64_MAX, "count must be 1 to 1000"));
    emit ("error_empty", fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_MALFORMED, 0, 0, END));
    emit ("error_v1_bad_version", fling_msg_error (1, FLING_REASON_BAD_VERSION, 0, 0, "1 and 2"));
    emit ("admin_stats", fling_msg_admin ("{\"op\":\"stats\"}"));
    emit ("admin_reply", fling_msg_admin_reply ("{\"retried\":3}"));
}

static void bad_framing (void)
{
    emit ("bad_empty_message", zmsg_new ());
    zmsg_t *many = zmsg_new ();
    zmsg_addmem (many, H (FLING_CMD_PING), 4);
    for (int i = 0; i < FLING_FRAMES_MAX; i++)
        zmsg_addmem (many, "", 0);
    emit ("bad_seventeen_frames", many);
    emit ("bad_short_header", raw ("FL\x02", Z 3, END));
    emit ("bad_signature", raw ("XL\x02\x03", Z 4, END));
    emit ("bad_version_3", raw ("FL\x03\x03", Z 4, END));
    emit ("bad_version_0", raw ("FL\x00\x03", Z 4, END));
    emit ("bad_command_zero", raw ("FL\x02\x00", Z 4, END));
    emit ("bad_command_16", raw ("FL\x02\x10", Z 4, END));
    emit ("bad_welcome_in_v1", raw (H1 (FLING_CMD_WELCOME), Z 4, "12345678", Z 8, END));
    emit ("bad_ping_two_frames", raw (H (FLING_CMD_PING), Z 4, "x", Z 1, END));
    emit ("bad_submit_fields", raw (H (1), Z 4, "12345678901", Z 11, "", Z 0, END));
    emit ("bad_capacity_fields", raw (H (FLING_CMD_CAPACITY), Z 4, "123456789012345", Z 15, END));
    emit ("bad_error_fields_v2", raw (H (FLING_CMD_ERROR), Z 4, "\0\1", Z 2, "", Z 0, END));
    emit ("bad_error_fields_v1",
          raw (H1 (FLING_CMD_ERROR), Z 4, "12345678901", Z 11, "", Z 0, END));
    emit ("bad_result_fields_v2", raw (H (FLING_CMD_RESULT), Z 4, "\0\0\0\1", Z 4, "", Z 0, END));
    emit ("bad_welcome_fields", raw (H (FLING_CMD_WELCOME), Z 4, "1234567", Z 7, END));
    emit ("bad_result_ack_fields", raw (H (FLING_CMD_RESULT_ACK), Z 4, "123456789", Z 9, END));
    static char text[FLING_ERROR_TEXT_MAX + 1];
    memset (text, 't', sizeof text);
    emit ("bad_error_text",
          raw (H (FLING_CMD_ERROR), Z 4, "\0\1\0\0\0\0\0\0\0\0\0", Z 11, text, sizeof text, END));
}

/* The same broken record in a SUBMIT (refused alone: a status) and in a
   DISPATCH (refused whole). */
static void both (const char *name, const uint8_t *rec, size_t size)
{
    const uint8_t one[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    char label[64];
    snprintf (label, sizeof label, "submit_%s", name);
    emit (label, raw (H (FLING_CMD_SUBMIT), Z 4, one, Z 12, rec, size, END));
    snprintf (label, sizeof label, "dispatch_%s", name);
    emit (label, raw (H (FLING_CMD_DISPATCH), Z 4, one + 8, Z 4, rec, size, END));
}

static void bad_records (void)
{
    static uint8_t rec[256];
    const uint8_t two[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2};
    const uint8_t zero[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    const uint8_t many[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x03, 0xe9};
    size_t size = record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    emit ("bad_submit_count_zero", raw (H (1), Z 4, zero, Z 12, rec, size, END));
    emit ("bad_submit_count_1001", raw (H (1), Z 4, many, Z 12, rec, size, END));
    emit ("bad_submit_count_two", raw (H (1), Z 4, two, Z 12, rec, size, END));
    both ("truncated", rec, size - 1);
    both ("short", rec, 38);
    rec[33] = ' '; /* the name's first byte */
    both ("name_char", rec, size);
    size = record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    rec[size - 1] = 'x'; /* the payload's zero byte */
    both ("no_zero", rec, size);
    size = record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    rec[41] = 0, rec[42] = 0x10, rec[43] = 0, rec[44] = 1; /* P (at 34 + N) = 1 MiB + 1 */
    both ("payload_size", rec, size);
    size = record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    rec[3] += 1; /* L one more than the record */
    both ("length", rec, size);
    size = record (rec, 1, 0, "ok.name", "{}", 0, 0, 0);
    rec[32] = 0; /* N = 0 */
    both ("name_empty", rec, size);
    size = record (rec, 0, 0, "ok.name", "{}", 0, 0, 0); /* sequence 0 */
    both ("sequence_zero", rec, size);
    size = record (rec, 1, 3, "ok.name", "{}", 0, 0, 0); /* attempt 3 */
    both ("attempt", rec, size);
    /* a good record after a refused one: judged apart in a SUBMIT */
    size = record (rec, 5, 2, "ok.name", "{}", 0, 0, 0);
    size += record (rec + size, 6, 0, "ok.name", "{}", 0, 0, 0);
    emit ("submit_one_refused_one_taken", raw (H (1), Z 4, two, Z 12, rec, size, END));
    emit ("bad_ack_statuses", raw (H (FLING_CMD_ACK), Z 4, two, Z 12, "\0", Z 1, END));
}

static void bad_worker (void)
{
    uint8_t res[64] = {0};
    const char seq1[12] = "\0\0\0\0\0\0\0\1\0\0\0\1";
    res[18] = FLING_OUTCOME_MAX;
    emit ("bad_result_outcome", raw (H (FLING_CMD_RESULT), Z 4, seq1, Z 12, res, Z 25, END));
    res[18] = 0, res[23] = 0x04, res[24] = 0x01; /* E = 1025 */
    emit ("bad_result_error_size", raw (H (FLING_CMD_RESULT), Z 4, seq1, Z 12, res, Z 25, END));
    emit ("bad_result_short", raw (H (FLING_CMD_RESULT), Z 4, seq1, Z 12, res, Z 24, END));
    emit ("bad_holding_size", raw (H (FLING_CMD_HOLDING), Z 4, "\0\0\0\1", Z 4, res, Z 17, END));
    emit ("bad_holding_count_zero",
          raw (H (FLING_CMD_HOLDING), Z 4, "\0\0\0\0", Z 4, res, Z 0, END));
    /* READY fields: pool cap, loop cap, pid, name count, pool slots, loop slots */
    uint8_t ready[22] = {0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 1, 0, 1, 0, 0, 0, 8, 0, 0, 0, 8};
    const char names[] = "\x01\x01x";
#define READY(label, worker, worker_size, entries, entries_size)                                   \
    emit (label, raw (H (FLING_CMD_READY), Z 4, ready, Z 22, worker, Z (worker_size), entries,     \
                      Z (entries_size), END))
    READY ("ready_minimal", "w", 1, names, 3);
    ready[21] = 9; /* loop slots above loop capacity */
    READY ("bad_ready_slots", "w", 1, names, 3);
    ready[21] = 8, ready[13] = 0; /* no names */
    READY ("bad_ready_no_names", "w", 1, "", 0);
    ready[13] = 1;
    READY ("bad_ready_worker_nul", "a\0b", 3, names, 3);
    READY ("bad_ready_worker_del", "a\x7f", 2, names, 3);
    READY ("ready_worker_utf8", "\xc3\xa9", 2, names, 3);
    READY ("bad_ready_class", "w", 1, "\x02\x01x", 3);
    READY ("bad_ready_task_name", "w", 1, "\x01\x01 ", 3);
    READY ("bad_ready_entry_past", "w", 1, "\x01\x05x", 3);
    ready[13] = 2;
    READY ("bad_ready_name_count", "w", 1, names, 3);
#undef READY
    uint8_t cap[16] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1};
    emit ("bad_capacity_slots", raw (H (FLING_CMD_CAPACITY), Z 4, cap, Z 16, END));
}

static void print (json_t *line)
{
    char *out = json_dumps (line, JSON_COMPACT | JSON_SORT_KEYS);
    puts (out);
    free (out);
    json_decref (line);
}

static void ids (void)
{
    const uint64_t seqs[] = {0, 1, 42, 10, UINT64_MAX};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        fling_task_id_t id;
        char text[FLING_TASK_ID_TEXT_SIZE];
        fling_task_id_make (&id, 0x9f86d081884c7d65ull, seqs[i]);
        print (json_pack ("{s:s,s:o,s:s}", "kind", "id", "id", fling_golden_hex (id.bytes, 16),
                          "text", fling_task_id_format (&id, text)));
    }
    const char *texts[] = {"9f86d081884c7d65:42",
                           "9f86d081884c7d65:0",
                           "9f86d081884c7d65:18446744073709551615",
                           "9f86d081884c7d65:18446744073709551616",
                           "9f86d081884c7d65:042",
                           "9f86d081884c7d65:",
                           "9F86d081884c7d65:1",
                           "9f86d081884c7d6:1",
                           "9f86d081884c7d65-1",
                           "9f86d081884c7d65:1x",
                           "",
                           "9f86d081884c7d65:-1"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        fling_task_id_t id;
        int rc = fling_task_id_parse (&id, texts[i]);
        json_t *line =
            json_pack ("{s:s,s:s,s:b}", "kind", "id_parse", "text", texts[i], "ok", rc == 0);
        if (rc == 0)
            json_object_set_new (line, "id", fling_golden_hex (id.bytes, 16));
        print (line);
    }
}

void fling_golden_write (void)
{
    tasks ();
    result_vectors ();
    control ();
    bad_framing ();
    bad_records ();
    bad_worker ();
    ids ();
}
