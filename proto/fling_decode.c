/*  fling_decode.c - decoding and checking whole messages (proto/SPEC.md
    §2, §4, §7): frame counts, field sizes, versions, and the records,
    results and names of a body, before anything is applied. */
#include "fling_proto.h"
#include "fling_proto_internal.h"
#include "fling_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- READY names: u8 class, u8 length, name -------------------------------- */

/* The READY name at `p`: 1, 0 at the end, -1 (with *reason, *problem). */
static int ready_name_check (const uint8_t *p, const uint8_t *end, fling_reason_t *reason,
                             const char **problem)
{
    if (p == end)
        return 0;
    *reason = FLING_REASON_MALFORMED;
    *problem = "READY names: an entry runs past the end of its frame";
    if (end - p < 2 || (size_t)(end - p) < 2u + p[1])
        return -1;
    *reason = FLING_REASON_BAD_FIELD;
    *problem = "READY names: class must be 0 (loop) or 1 (pool)";
    if (p[0] >= FLING_CLASS_COUNT)
        return -1;
    *reason = FLING_REASON_BAD_TASK;
    *problem = "READY names: a task name is empty or not [A-Za-z0-9._:-]";
    if (!fling_name_valid ((const char *)p + 2, p[1]))
        return -1;
    *reason = FLING_REASON_OK;
    return 1;
}

int fling_ready_name_next (const uint8_t **cursor, const uint8_t *end, fling_class_t *cls,
                           const char **name, size_t *name_size)
{
    const uint8_t *p = *cursor;
    fling_reason_t reason;
    const char *problem;
    int rc = ready_name_check (p, end, &reason, &problem);
    if (rc <= 0)
        return rc;
    *cls = (fling_class_t)p[0];
    *name = (const char *)p + 2;
    *name_size = p[1];
    *cursor = p + 2 + p[1];
    return 1;
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct {
    zframe_t *frames[FLING_FRAMES_MAX];
    size_t count;
} frame_list_t;

static int fail (fling_msg_t *out, fling_reason_t *reason, fling_reason_t why, const char *problem)
{
    *reason = why;
    out->problem = problem;
    return -1;
}

/* Walks `count` records and checks that they fill the body exactly. In a
   DISPATCH every record must be sound. In a SUBMIT only the framing must
   be: a record whose content is bad is counted in out->bad_records and
   refused on its own (its status in the ACK). */
static int check_records (fling_msg_t *out, uint32_t count, fling_reason_t *reason)
{
    const uint8_t *cursor = out->body, *end = out->body + out->body_size;
    bool submitted = out->cmd == FLING_CMD_SUBMIT;
    /* Extensions only in an FLP/1.2 SUBMIT; a DISPATCH never has them. */
    int checks = 0;
    if (submitted)
        checks = FLING_CHECK_SUBMITTED |
                 (out->version >= FLING_PROTO_VERSION_SCHED ? FLING_CHECK_EXTENSIONS : 0);
    fling_name_cache_t names = {NULL, 0};
    uint32_t seen = 0;
    size_t total;
    int rc;
    while ((rc = fling_record_frame (cursor, end, &total)) == 1) {
        const char *problem;
        fling_reason_t status = fling_record_content (cursor, total, checks, &names, &problem);
        if (status != FLING_REASON_OK) {
            if (!submitted)
                return fail (out, reason, status, problem);
            out->bad_records++;
        }
        cursor += total;
        seen++;
    }
    if (rc < 0)
        return fail (out, reason, submitted ? FLING_REASON_MALFORMED : FLING_REASON_BAD_TASK,
                     "task records: a length prefix runs past the body or under 35");
    if (seen != count)
        return fail (out, reason, FLING_REASON_MALFORMED,
                     "task records: their number is not the count field");
    return 0;
}

static int check_results (fling_msg_t *out, fling_reason_t *reason)
{
    const uint8_t *cursor = out->body, *end = out->body + out->body_size;
    fling_result_t result;
    uint32_t seen = 0;
    int rc;
    while ((rc = fling_result_next (&cursor, end, &result, reason)) == 1)
        seen++;
    if (rc < 0)
        return fail (out, reason, *reason,
                     *reason == FLING_REASON_BAD_FIELD
                         ? "result record: outcome above 4"
                         : "result record: error text above 1024 bytes or past the body");
    if (seen != out->count)
        return fail (out, reason, FLING_REASON_MALFORMED,
                     "result records: their number is not the count field");
    return 0;
}

static int check_names (fling_msg_t *out, fling_reason_t *reason)
{
    const uint8_t *cursor = out->body, *end = out->body + out->body_size;
    uint32_t seen = 0;
    int rc;
    const char *problem = NULL;
    while ((rc = ready_name_check (cursor, end, reason, &problem)) == 1) {
        cursor += 2 + cursor[1];
        seen++;
    }
    if (rc < 0)
        return fail (out, reason, *reason, problem);
    if (seen != out->count)
        return fail (out, reason, FLING_REASON_MALFORMED,
                     "READY names: their number is not name_count");
    return 0;
}

/* Expected frame count (header included) and size of the fields frame
   (0: free, or no fields frame), in version 2. Version 1 differs only in
   ERROR (reason alone) and RESULT (count alone), and has neither WELCOME
   nor RESULT_ACK. */
static const struct {
    uint8_t frames;
    uint8_t fields_size;
} shape[FLING_CMD_MAX] = {
    [FLING_CMD_SUBMIT] = {3, 12}, [FLING_CMD_ACK] = {3, 12},      [FLING_CMD_PING] = {1, 0},
    [FLING_CMD_PONG] = {1, 0},    [FLING_CMD_READY] = {4, 22},    [FLING_CMD_DISPATCH] = {3, 4},
    [FLING_CMD_RESULT] = {3, 12}, [FLING_CMD_CAPACITY] = {2, 16}, [FLING_CMD_BYE] = {1, 0},
    [FLING_CMD_ERROR] = {3, 11},  [FLING_CMD_ADMIN] = {2, 0},     [FLING_CMD_ADMIN_REPLY] = {2, 0},
    [FLING_CMD_HOLDING] = {3, 4}, [FLING_CMD_WELCOME] = {2, 8},   [FLING_CMD_RESULT_ACK] = {2, 8},
};

static size_t fields_size_of (fling_cmd_t cmd, uint8_t version)
{
    if (version == 1 && cmd == FLING_CMD_ERROR)
        return 2;
    if (version == 1 && cmd == FLING_CMD_RESULT)
        return 4;
    return shape[cmd].fields_size;
}

/* -1 if a class runs more tasks at once than it holds. */
static int read_capacity (fling_msg_t *out, const uint8_t *fields, size_t slots_at)
{
    for (size_t i = 0; i < FLING_CLASS_COUNT; i++) {
        fling_class_t cls = fling_wire_class (i);
        out->capacity[cls] = fling_get_u32 (fields + 4 * i);
        out->slots[cls] = fling_get_u32 (fields + slots_at + 4 * i);
        if (out->slots[cls] > out->capacity[cls])
            return -1;
    }
    return 0;
}

/* A worker name: at most 127 bytes, no control characters (it shows in
   logs and in stats). Multi-byte UTF-8 is let through as bytes. */
static bool worker_name_valid (const char *name, size_t size)
{
    if (size > FLING_NAME_MAX)
        return false;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static int batch_count_check (fling_msg_t *out, fling_reason_t *reason)
{
    if (out->count == 0 || out->count > FLING_BATCH_TASKS_MAX)
        return fail (out, reason, FLING_REASON_BAD_FIELD, "count must be 1 to 1000");
    return 0;
}

static int decode_ready (fling_msg_t *out, const uint8_t *fields, frame_list_t *list,
                         fling_reason_t *reason)
{
    out->pid = fling_get_u32 (fields + 8);
    out->count = fling_get_u16 (fields + 12);
    if (out->count == 0 || out->count > FLING_NAMES_MAX)
        return fail (out, reason, FLING_REASON_BAD_FIELD, "READY: name_count must be 1 to 256");
    if (read_capacity (out, fields, 14))
        return fail (out, reason, FLING_REASON_BAD_FIELD, "READY: slots above capacity");
    out->worker_name = (const char *)out->body;
    out->worker_name_size = out->body_size;
    if (!worker_name_valid (out->worker_name, out->worker_name_size))
        return fail (out, reason, FLING_REASON_BAD_FIELD,
                     "READY: worker name longer than 127 bytes or with control characters");
    out->body = zframe_data (list->frames[3]);
    out->body_size = zframe_size (list->frames[3]);
    return check_names (out, reason);
}

static int decode_body (fling_msg_t *out, frame_list_t *list, fling_reason_t *reason)
{
    const uint8_t *fields = list->count > 1 ? zframe_data (list->frames[1]) : NULL;
    size_t fields_size = list->count > 1 ? zframe_size (list->frames[1]) : 0;
    size_t expected = fields_size_of (out->cmd, out->version);
    if (expected && fields_size != expected)
        return fail (out, reason, FLING_REASON_MALFORMED, "fields frame of the wrong size");
    if (list->count > 2) {
        out->body = zframe_data (list->frames[2]);
        out->body_size = zframe_size (list->frames[2]);
    }
    switch (out->cmd) {
    case FLING_CMD_SUBMIT:
    case FLING_CMD_ACK:
        out->batch_seq = fling_get_u64 (fields);
        out->count = fling_get_u32 (fields + 8);
        if (batch_count_check (out, reason))
            return -1;
        if (out->cmd == FLING_CMD_ACK)
            return out->body_size == out->count ? 0
                                                : fail (out, reason, FLING_REASON_MALFORMED,
                                                        "ACK: not one status byte per task");
        return check_records (out, out->count, reason);
    case FLING_CMD_HOLDING:
        out->count = fling_get_u32 (fields);
        if (batch_count_check (out, reason))
            return -1;
        return out->body_size == (size_t)out->count * FLING_LEASE_SIZE
                   ? 0
                   : fail (out, reason, FLING_REASON_MALFORMED,
                           "HOLDING: body is not count x 18 bytes");
    case FLING_CMD_DISPATCH:
        out->count = fling_get_u32 (fields);
        if (batch_count_check (out, reason))
            return -1;
        return check_records (out, out->count, reason);
    case FLING_CMD_RESULT:
        if (out->version >= 2) {
            out->batch_seq = fling_get_u64 (fields);
            fields += 8;
        }
        out->count = fling_get_u32 (fields);
        if (batch_count_check (out, reason))
            return -1;
        return check_results (out, reason);
    case FLING_CMD_READY:
        return decode_ready (out, fields, list, reason);
    case FLING_CMD_CAPACITY:
        return read_capacity (out, fields, 8)
                   ? fail (out, reason, FLING_REASON_BAD_FIELD, "CAPACITY: slots above capacity")
                   : 0;
    case FLING_CMD_ERROR:
        out->reason = fling_get_u16 (fields);
        if (out->version >= 2) {
            out->refused_cmd = fields[2];
            out->batch_seq = fling_get_u64 (fields + 3);
        }
        out->text = (const char *)out->body;
        out->text_size = out->body_size;
        out->body = NULL;
        out->body_size = 0;
        return out->text_size <= FLING_ERROR_TEXT_MAX
                   ? 0
                   : fail (out, reason, FLING_REASON_MALFORMED, "ERROR: text above 1024 bytes");
    case FLING_CMD_WELCOME:
        out->heartbeat_ms = fling_get_u32 (fields);
        out->worker_timeout_ms = fling_get_u32 (fields + 4);
        return 0;
    case FLING_CMD_RESULT_ACK:
        out->batch_seq = fling_get_u64 (fields);
        return 0;
    case FLING_CMD_ADMIN:
    case FLING_CMD_ADMIN_REPLY:
        out->text = (const char *)fields;
        out->text_size = fields_size;
        return 0;
    default:
        return 0;
    }
}

/* A SUBMIT refused as a whole is still answered with an ACK for its batch
   once batch_seq and count can be read (SPEC.md §4.1). */
static void peek_batch (fling_msg_t *out, const frame_list_t *list)
{
    if (out->cmd != FLING_CMD_SUBMIT || list->count < 2 || zframe_size (list->frames[1]) != 12)
        return;
    const uint8_t *fields = zframe_data (list->frames[1]);
    out->batch_seq = fling_get_u64 (fields);
    out->count = fling_get_u32 (fields + 8);
    out->has_batch = out->count >= 1 && out->count <= FLING_BATCH_TASKS_MAX;
}

int fling_msg_decode_v (zmsg_t *msg, fling_msg_t *out, fling_reason_t *reason, uint8_t max_version)
{
    memset (out, 0, sizeof *out);
    frame_list_t list = {.count = 0};
    size_t total = 0;
    for (zframe_t *frame = zmsg_first (msg); frame; frame = zmsg_next (msg)) {
        if (list.count == FLING_FRAMES_MAX)
            return fail (out, reason, FLING_REASON_MALFORMED, "more than 16 frames");
        total += zframe_size (frame);
        list.frames[list.count++] = frame;
    }
    if (list.count == 0)
        return fail (out, reason, FLING_REASON_BAD_SIGNATURE, "empty message");
    const uint8_t *header = zframe_data (list.frames[0]);
    if (zframe_size (list.frames[0]) != FLING_HEADER_SIZE || header[0] != 'F' || header[1] != 'L')
        return fail (out, reason, FLING_REASON_BAD_SIGNATURE, "first frame is not F L v c");
    if (header[2] < FLING_PROTO_VERSION_MIN || header[2] > max_version)
        return fail (out, reason, FLING_REASON_BAD_VERSION,
                     max_version >= FLING_PROTO_VERSION_SCHED ? "versions 1 to 3 are spoken"
                                                              : "versions 1 and 2 are spoken");
    out->version = header[2];
    if (header[3] == 0 || header[3] >= FLING_CMD_MAX ||
        (out->version == 1 && header[3] >= FLING_CMD_WELCOME))
        return fail (out, reason, FLING_REASON_BAD_COMMAND, "unknown command");
    out->cmd = (fling_cmd_t)header[3];
    peek_batch (out, &list);
    if (total > FLING_MSG_BYTES_MAX)
        return fail (out, reason, FLING_REASON_TOO_LARGE, "message above 8 MiB");
    if (list.count != shape[out->cmd].frames)
        return fail (out, reason, FLING_REASON_MALFORMED, "wrong number of frames");
    *reason = FLING_REASON_OK;
    return decode_body (out, &list, reason);
}

int fling_msg_decode (zmsg_t *msg, fling_msg_t *out, fling_reason_t *reason)
{
    return fling_msg_decode_v (msg, out, reason, FLING_PROTO_VERSION);
}
