/*  fuzz_proto.c - libFuzzer target for the FLP/1 decoder.

    Turns the input into a multi-frame zmsg_t (format in fuzz_proto.h), runs
    fling_msg_decode and, when it accepts the message, walks every record,
    result and name the way the broker and worker do. Beyond "no crash, no
    out-of-bounds read" (ASan/UBSan), it checks properties that catch logic
    bugs: a refusal always carries a known reason; an accepted message holds
    exactly `count` well-formed items; and encoding what was decoded gives
    back the very same frames, so decoder and encoders agree on the layout.
    Any violated property calls abort(), which libFuzzer reports as a crash.
*/
#include "fuzz_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_proto.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "fuzz_proto: property failed: %s (line %d)\n", #cond, __LINE__);      \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

/* Sums bytes so that ASan sees a read of each one. */
static volatile unsigned sink;

static void touch (const void *data, size_t size)
{
    const uint8_t *p = (const uint8_t *)data;
    unsigned sum = 0;
    for (size_t i = 0; i < size; i++)
        sum += p[i];
    sink += sum;
}

static bool same_frames (zmsg_t *a, zmsg_t *b)
{
    if (!a || !b || zmsg_size (a) != zmsg_size (b))
        return false;
    zframe_t *fa = zmsg_first (a), *fb = zmsg_first (b);
    for (; fa && fb; fa = zmsg_next (a), fb = zmsg_next (b))
        if (!zframe_eq (fa, fb))
            return false;
    return true;
}

/* A SUBMIT's records one by one: each sound one re-encodes (walk_record),
   and exactly bad_records of them are refused, BAD_TASK or TOO_LARGE. */
static void walk_record (const fling_msg_t *m, const fling_record_t *r);

static void walk_submit (const fling_msg_t *m)
{
    const uint8_t *cursor = m->body, *end = m->body + m->body_size;
    fling_record_t r;
    fling_reason_t status;
    uint32_t seen = 0, bad = 0;
    while (fling_submit_record_next_v (&cursor, end, &r, &status, m->version) == 1) {
        if (status == FLING_REASON_OK) {
            CHECK (r.attempt == 0 && fling_task_id_seq (&r.id) != 0);
            walk_record (m, &r);
        } else {
            CHECK (status == FLING_REASON_BAD_TASK || status == FLING_REASON_TOO_LARGE);
            bad++;
        }
        seen++;
    }
    CHECK (seen == m->count && bad == m->bad_records && cursor == end);
}

/* Walks `count` records; each must re-encode to its own raw bytes. */
static void walk_records (const fling_msg_t *m)
{
    const uint8_t *cursor = m->body, *end = m->body + m->body_size;
    fling_record_t r;
    fling_reason_t reason;
    uint32_t seen = 0;
    while (fling_record_next (&cursor, end, &r, &reason) == 1) {
        walk_record (m, &r);
        seen++;
    }
    CHECK (seen == m->count && cursor == end);
}

static void walk_record (const fling_msg_t *m, const fling_record_t *rp)
{
    const fling_record_t r = *rp;
    {
        CHECK (r.raw >= m->body && r.raw + r.raw_size <= m->body + m->body_size);
        CHECK (fling_name_valid (r.name, r.name_size));
        CHECK (r.name[r.name_size] == '\0' && r.payload[r.payload_size] == '\0');
        CHECK (r.payload_size <= FLING_PAYLOAD_MAX);
        touch (r.payload, r.payload_size + 1);
        uint8_t *copy = (uint8_t *)malloc (r.raw_size);
        CHECK (copy);
        size_t n = fling_record_write_ext (copy, &r.id, r.attempt, r.max_attempts, r.timeout_ms,
                                           r.backoff_ms, r.name, r.name_size, r.payload,
                                           r.payload_size, &r.ext);
        CHECK (n == r.raw_size && memcmp (copy, r.raw, n) == 0);
        free (copy);
    }
}

static void walk_results (const fling_msg_t *m)
{
    const uint8_t *cursor = m->body, *end = m->body + m->body_size;
    fling_result_t r;
    fling_reason_t reason;
    uint32_t seen = 0;
    while (fling_result_next (&cursor, end, &r, &reason) == 1) {
        const uint8_t *start = cursor - fling_result_size (r.error_size);
        CHECK (r.outcome < FLING_OUTCOME_MAX && r.error_size <= FLING_ERROR_TEXT_MAX);
        CHECK ((r.error_size == 0) == (r.error == NULL));
        touch (r.error, r.error_size);
        uint8_t copy[FLING_RESULT_OVERHEAD + FLING_ERROR_TEXT_MAX];
        size_t n = fling_result_write (copy, &r);
        CHECK (n == fling_result_size (r.error_size) && memcmp (copy, start, n) == 0);
        seen++;
    }
    CHECK (seen == m->count && cursor == end);
}

/* Re-encodes a READY from its decoded parts. */
static zmsg_t *reencode_ready (const fling_msg_t *m)
{
    const char *names[FLING_NAMES_MAX];
    fling_class_t classes[FLING_NAMES_MAX];
    char text[FLING_NAMES_MAX][FLING_NAME_MAX + 1];
    const uint8_t *cursor = m->body, *end = m->body + m->body_size;
    size_t count = 0, name_size;
    const char *name;
    fling_class_t cls;
    while (fling_ready_name_next (&cursor, end, &cls, &name, &name_size) == 1) {
        CHECK (count < FLING_NAMES_MAX && cls < FLING_CLASS_COUNT);
        CHECK (fling_name_valid (name, name_size));
        memcpy (text[count], name, name_size);
        text[count][name_size] = '\0';
        names[count] = text[count];
        classes[count++] = cls;
    }
    CHECK (count == m->count && cursor == end);
    char worker[FLING_NAME_MAX + 1];
    CHECK (m->worker_name_size <= FLING_NAME_MAX);
    memcpy (worker, m->worker_name, m->worker_name_size);
    worker[m->worker_name_size] = '\0';
    return fling_msg_ready (m->capacity, m->slots, m->pid, worker, count, names, classes);
}

/* Text-carrying commands re-encode through strlen(): only without NULs. */
static zmsg_t *reencode_text (const fling_msg_t *m)
{
    touch (m->text, m->text_size);
    if (m->text_size && memchr (m->text, 0, m->text_size))
        return NULL;
    char *text = (char *)malloc (m->text_size + 1);
    CHECK (text);
    memcpy (text, m->text, m->text_size);
    text[m->text_size] = '\0';
    zmsg_t *msg = m->cmd == FLING_CMD_ERROR
                      ? fling_msg_error (m->version, (fling_reason_t)m->reason, m->refused_cmd,
                                         m->batch_seq, text)
                  : m->cmd == FLING_CMD_ADMIN ? fling_msg_admin (text)
                                              : fling_msg_admin_reply (text);
    free (text);
    return msg;
}

/* Encodes the decoded message again; NULL where that cannot be exact. */
static zmsg_t *reencode (const fling_msg_t *m)
{
    switch (m->cmd) {
    case FLING_CMD_SUBMIT:
        walk_submit (m);
        return fling_msg_submit (m->batch_seq, m->count, m->body, m->body_size);
    case FLING_CMD_DISPATCH:
        walk_records (m);
        return fling_msg_dispatch (m->count, m->body, m->body_size);
    case FLING_CMD_ACK:
        CHECK (m->body_size == m->count);
        return fling_msg_ack (m->batch_seq, m->count, m->body);
    case FLING_CMD_RESULT:
        walk_results (m);
        if (m->version < 2)
            return NULL; /* encoded in version 2 only */
        return fling_msg_result (m->batch_seq, m->count, m->body, m->body_size);
    case FLING_CMD_WELCOME:
        return fling_msg_welcome (m->heartbeat_ms, m->worker_timeout_ms);
    case FLING_CMD_RESULT_ACK:
        return fling_msg_result_ack (m->batch_seq);
    case FLING_CMD_READY:
        return reencode_ready (m);
    case FLING_CMD_CAPACITY:
        return fling_msg_capacity (m->capacity, m->slots);
    case FLING_CMD_PING:
        return fling_msg_ping ();
    case FLING_CMD_PONG:
        return fling_msg_pong ();
    case FLING_CMD_BYE:
        return fling_msg_bye ();
    case FLING_CMD_HOLDING: {
        /* Every lease reads back; the decoder checked the size. */
        const uint8_t *cursor = m->body, *end = m->body + m->body_size;
        fling_task_id_t id;
        uint16_t attempt;
        uint32_t leases = 0;
        while (fling_lease_next (&cursor, end, &id, &attempt) == 1)
            leases++;
        CHECK (leases == m->count && cursor == end);
        return fling_msg_holding (m->count, m->body, m->body_size);
    }
    case FLING_CMD_ERROR:
    case FLING_CMD_ADMIN:
    case FLING_CMD_ADMIN_REPLY:
        return reencode_text (m);
    default:
        CHECK (!"decoded an unknown command");
        return NULL;
    }
}

/* Bonus: the task id parser on the input as text. parse(format(parse(x)))
   must equal parse(x). */
static void fuzz_task_id (const uint8_t *data, size_t size)
{
    char text[64];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy (text, data, n);
    text[n] = '\0';
    fling_task_id_t id, again;
    if (fling_task_id_parse (&id, text) != 0)
        return;
    char buf[FLING_TASK_ID_TEXT_SIZE];
    fling_task_id_format (&id, buf);
    CHECK (fling_task_id_parse (&again, buf) == 0);
    CHECK (memcmp (id.bytes, again.bytes, FLING_TASK_ID_SIZE) == 0);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_task_id (data, size);
    zmsg_t *msg = fuzz_input_to_msg (data, size);
    if (!msg)
        return 0;
    fling_msg_t m;
    fling_reason_t reason = FLING_REASON_OK;
    if (fling_msg_decode_v (msg, &m, &reason, FLING_PROTO_VERSION_SCHED) != 0) {
        CHECK (reason != FLING_REASON_OK);
        CHECK (strcmp (fling_reason_name (reason), "UNKNOWN_REASON") != 0);
        zmsg_destroy (&msg);
        return 0;
    }
    CHECK (reason == FLING_REASON_OK && m.version >= FLING_PROTO_VERSION_MIN &&
           m.version <= FLING_PROTO_VERSION_SCHED);
    CHECK (m.cmd > 0 && m.cmd < FLING_CMD_MAX);
    zmsg_t *again = reencode (&m);
    if (m.cmd != FLING_CMD_ERROR)
        fling_msg_set_version (again, m.version); /* ERROR was built in it */
    if (again)
        CHECK (same_frames (msg, again));
    zmsg_destroy (&again);
    zmsg_destroy (&msg);
    return 0;
}
