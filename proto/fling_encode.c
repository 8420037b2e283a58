/*  fling_encode.c - building messages (proto/SPEC.md §4), and the names of
    commands, reasons, outcomes and classes for logs. */
#include "fling_proto.h"
#include "fling_proto_internal.h"
#include "fling_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- encoding ---------------------------------------------------------- */

static zmsg_t *msg_start_version (fling_cmd_t cmd, uint8_t version)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg)
        return NULL;
    uint8_t header[FLING_HEADER_SIZE] = {'F', 'L', version, (uint8_t)cmd};
    if (zmsg_addmem (msg, header, sizeof header)) {
        zmsg_destroy (&msg);
        return NULL;
    }
    return msg;
}

static zmsg_t *msg_start (fling_cmd_t cmd)
{
    return msg_start_version (cmd, FLING_PROTO_VERSION);
}

void fling_msg_set_version (zmsg_t *msg, uint8_t version)
{
    zframe_t *header = msg ? zmsg_first (msg) : NULL;
    if (header && zframe_size (header) == FLING_HEADER_SIZE)
        zframe_data (header)[2] = version;
}

static zmsg_t *msg_add (zmsg_t *msg, const void *data, size_t size)
{
    if (msg && zmsg_addmem (msg, data, size))
        zmsg_destroy (&msg);
    return msg;
}

static zmsg_t *seq_count_body (fling_cmd_t cmd, uint64_t seq, uint32_t count, const void *body,
                               size_t size)
{
    uint8_t fields[12];
    fling_put_u64 (fields, seq);
    fling_put_u32 (fields + 8, count);
    zmsg_t *msg = msg_add (msg_start (cmd), fields, sizeof fields);
    return msg_add (msg, body, size);
}

static zmsg_t *count_body (fling_cmd_t cmd, uint32_t count, const void *body, size_t size)
{
    uint8_t fields[4];
    fling_put_u32 (fields, count);
    zmsg_t *msg = msg_add (msg_start (cmd), fields, sizeof fields);
    return msg_add (msg, body, size);
}

zmsg_t *fling_msg_submit (uint64_t batch_seq, uint32_t count, const void *records, size_t size)
{
    return seq_count_body (FLING_CMD_SUBMIT, batch_seq, count, records, size);
}

zmsg_t *fling_msg_ack (uint64_t batch_seq, uint32_t count, const uint8_t *statuses)
{
    return seq_count_body (FLING_CMD_ACK, batch_seq, count, statuses, count);
}

zmsg_t *fling_msg_ping (void)
{
    return msg_start (FLING_CMD_PING);
}

zmsg_t *fling_msg_pong (void)
{
    return msg_start (FLING_CMD_PONG);
}

zmsg_t *fling_msg_bye (void)
{
    return msg_start (FLING_CMD_BYE);
}

zmsg_t *fling_msg_dispatch (uint32_t count, const void *records, size_t size)
{
    return count_body (FLING_CMD_DISPATCH, count, records, size);
}

zmsg_t *fling_msg_dispatch_frame (uint32_t count, zframe_t **body_p)
{
    zframe_t *body = *body_p;
    *body_p = NULL;
    uint8_t fields[4];
    fling_put_u32 (fields, count);
    zmsg_t *msg = body ? msg_add (msg_start (FLING_CMD_DISPATCH), fields, sizeof fields) : NULL;
    if (!msg || zmsg_append (msg, &body)) {
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
    return msg;
}

zmsg_t *fling_msg_holding (uint32_t count, const void *leases, size_t size)
{
    return count_body (FLING_CMD_HOLDING, count, leases, size);
}

zmsg_t *fling_msg_result (uint64_t result_seq, uint32_t count, const void *results, size_t size)
{
    return seq_count_body (FLING_CMD_RESULT, result_seq, count, results, size);
}

int fling_msg_send_result (void *socket, uint64_t result_seq, uint32_t count, void *body,
                           size_t size, zmq_free_fn *free_fn, void *hint)
{
    zmq_msg_t frame;
    if (zmq_msg_init_data (&frame, body, size, free_fn, hint)) {
        free_fn (body, hint);
        errno = ENOMEM;
        return -1;
    }
    uint8_t header[FLING_HEADER_SIZE] = {'F', 'L', FLING_PROTO_VERSION, (uint8_t)FLING_CMD_RESULT};
    uint8_t fields[12];
    fling_put_u64 (fields, result_seq);
    fling_put_u32 (fields + 8, count);
    /* Only the first frame can meet the high-water mark: once it is in,
       libzmq takes the rest of the message. */
    if (zmq_send (socket, header, sizeof header, ZMQ_SNDMORE | ZMQ_DONTWAIT) != sizeof header ||
        zmq_send (socket, fields, sizeof fields, ZMQ_SNDMORE | ZMQ_DONTWAIT) != sizeof fields ||
        zmq_msg_send (&frame, socket, ZMQ_DONTWAIT) == -1) {
        int saved = zmq_errno ();
        zmq_msg_close (&frame); /* calls free_fn */
        errno = saved;
        return -1;
    }
    return 0;
}

static void write_capacity (uint8_t *fields, size_t slots_at,
                            const uint32_t capacity[FLING_CLASS_COUNT],
                            const uint32_t slots[FLING_CLASS_COUNT])
{
    for (size_t i = 0; i < FLING_CLASS_COUNT; i++) {
        fling_class_t cls = fling_wire_class (i);
        fling_put_u32 (fields + 4 * i, capacity[cls]);
        fling_put_u32 (fields + slots_at + 4 * i, slots ? slots[cls] : capacity[cls]);
    }
}

zmsg_t *fling_msg_ready (const uint32_t capacity[FLING_CLASS_COUNT],
                         const uint32_t slots[FLING_CLASS_COUNT], uint32_t pid,
                         const char *worker_name, size_t name_count, const char *const *names,
                         const fling_class_t *classes)
{
    uint8_t fields[22];
    write_capacity (fields, 14, capacity, slots);
    fling_put_u32 (fields + 8, pid);
    fling_put_u16 (fields + 12, (uint16_t)name_count);
    size_t packed_size = 0;
    for (size_t i = 0; i < name_count; i++)
        packed_size += 2 + strlen (names[i]);
    uint8_t *packed = (uint8_t *)malloc (packed_size ? packed_size : 1);
    if (!packed)
        return NULL;
    uint8_t *p = packed;
    for (size_t i = 0; i < name_count; i++) {
        size_t len = strlen (names[i]);
        p[0] = (uint8_t)classes[i];
        p[1] = (uint8_t)len;
        memcpy (p + 2, names[i], len);
        p += 2 + len;
    }
    zmsg_t *msg = msg_add (msg_start (FLING_CMD_READY), fields, sizeof fields);
    msg = msg_add (msg, worker_name, strlen (worker_name));
    msg = msg_add (msg, packed, packed_size);
    free (packed);
    return msg;
}

zmsg_t *fling_msg_capacity (const uint32_t capacity[FLING_CLASS_COUNT],
                            const uint32_t slots[FLING_CLASS_COUNT])
{
    uint8_t fields[16];
    write_capacity (fields, 8, capacity, slots);
    return msg_add (msg_start (FLING_CMD_CAPACITY), fields, sizeof fields);
}

zmsg_t *fling_msg_error (uint8_t version, fling_reason_t reason, uint8_t refused_cmd,
                         uint64_t batch_seq, const char *text)
{
    uint8_t fields[11];
    fling_put_u16 (fields, (uint16_t)reason);
    fields[2] = refused_cmd;
    fling_put_u64 (fields + 3, batch_seq);
    size_t text_size = text ? strlen (text) : 0;
    if (text_size > FLING_ERROR_TEXT_MAX)
        text_size = FLING_ERROR_TEXT_MAX;
    zmsg_t *msg = msg_add (msg_start_version (FLING_CMD_ERROR, version), fields,
                           version >= 2 ? sizeof fields : 2);
    return msg_add (msg, text ? text : "", text_size);
}

zmsg_t *fling_msg_welcome (uint32_t heartbeat_ms, uint32_t worker_timeout_ms)
{
    uint8_t fields[8];
    fling_put_u32 (fields, heartbeat_ms);
    fling_put_u32 (fields + 4, worker_timeout_ms);
    return msg_add (msg_start (FLING_CMD_WELCOME), fields, sizeof fields);
}

zmsg_t *fling_msg_result_ack (uint64_t result_seq)
{
    uint8_t fields[8];
    fling_put_u64 (fields, result_seq);
    return msg_add (msg_start (FLING_CMD_RESULT_ACK), fields, sizeof fields);
}

zmsg_t *fling_msg_admin (const char *json)
{
    return msg_add (msg_start (FLING_CMD_ADMIN), json, strlen (json));
}

zmsg_t *fling_msg_admin_reply (const char *json)
{
    return msg_add (msg_start (FLING_CMD_ADMIN_REPLY), json, strlen (json));
}

/* ---- names for logs ---------------------------------------------------- */

const char *fling_cmd_name (int cmd)
{
    static const char *names[FLING_CMD_MAX] = {
        "?",        "SUBMIT", "ACK",   "PING",  "PONG",        "READY",   "DISPATCH", "RESULT",
        "CAPACITY", "BYE",    "ERROR", "ADMIN", "ADMIN_REPLY", "HOLDING", "WELCOME",  "RESULT_ACK",
    };
    return cmd > 0 && cmd < FLING_CMD_MAX ? names[cmd] : "UNKNOWN";
}

const char *fling_reason_name (int reason)
{
    switch (reason) {
    case FLING_REASON_OK:
        return "OK";
    case FLING_REASON_DUPLICATE:
        return "DUPLICATE";
    case FLING_REASON_QUEUE_FULL:
        return "QUEUE_FULL";
    case FLING_REASON_STORE_FULL:
        return "STORE_FULL";
    case FLING_REASON_UNAVAILABLE:
        return "UNAVAILABLE";
    case FLING_REASON_BAD_TASK:
        return "BAD_TASK";
    case FLING_REASON_TOO_LARGE:
        return "TOO_LARGE";
    case FLING_REASON_BAD_SIGNATURE:
        return "BAD_SIGNATURE";
    case FLING_REASON_BAD_VERSION:
        return "BAD_VERSION";
    case FLING_REASON_BAD_COMMAND:
        return "BAD_COMMAND";
    case FLING_REASON_MALFORMED:
        return "MALFORMED";
    case FLING_REASON_BAD_FIELD:
        return "BAD_FIELD";
    case FLING_REASON_BAD_STATE:
        return "BAD_STATE";
    case FLING_REASON_UNKNOWN_PEER:
        return "UNKNOWN_PEER";
    case FLING_REASON_FORBIDDEN:
        return "FORBIDDEN";
    default:
        return "UNKNOWN_REASON";
    }
}

const char *fling_outcome_name (int outcome)
{
    static const char *names[FLING_OUTCOME_MAX] = {"DONE", "RETRY", "FAIL", "RELEASED", "TIMEOUT"};
    return outcome >= 0 && outcome < FLING_OUTCOME_MAX ? names[outcome] : "UNKNOWN";
}

const char *fling_class_name (int cls)
{
    return cls == FLING_CLASS_LOOP ? "loop" : cls == FLING_CLASS_POOL ? "pool" : "unknown";
}

int fling_reason_errno (int reason)
{
    switch (reason) {
    case FLING_REASON_OK:
    case FLING_REASON_DUPLICATE:
        return 0;
    case FLING_REASON_QUEUE_FULL:
        return FLING_EQUEUEFULL;
    case FLING_REASON_STORE_FULL:
        return FLING_ESTOREFULL;
    case FLING_REASON_UNAVAILABLE:
        return FLING_EUNAVAILABLE;
    case FLING_REASON_BAD_TASK:
        return FLING_EBADTASK;
    case FLING_REASON_TOO_LARGE:
        return FLING_ETOOLARGE;
    case FLING_REASON_FORBIDDEN:
        return FLING_EFORBIDDEN;
    case FLING_REASON_BAD_VERSION:
        return FLING_EVERSION;
    default:
        return FLING_EPROTO;
    }
}
