/*  fling_golden.c - the C codec's side of the Python codec's golden vectors.

    The Python package (python/src/fling/protocol.py, validate.py) must
    build and parse the same bytes as proto/fling_proto.c and refuse the
    same inputs for the same reasons as proto/ and producer/. This program
    speaks for the C side; tests/python/test_codec_golden.py compares.

      fling_golden write      prints the golden vectors (fling_golden_vectors.c),
                              one JSON object a line: every command built by
                              the C encoders ("good"), hand-made messages the
                              C decoder refuses, with its reason ("bad"), task
                              ids formatted and parsed ("id", "id_parse")
      fling_golden decode     reads lines of hex frames (space-separated),
                              prints for each what the C decoder makes of
                              them: {"msg": {...}} or {"reason": N}
      fling_golden validate   reads lines "NAME_HEX PAYLOAD_HEX", prints
                              for each the errno of fling_task_validate
                              (0 when valid)

    The decoded form of a message ("msg") is the one both sides render:
    hex for bytes, numbers as numbers (batch_seq and result_seq, u64s, as
    decimal text), names as text; a SUBMIT record refused on its own is
    {"status": reason}.
*/
#include "fling_golden.h"
#include "fling_error.h"
#include "fling_producer.h"
#include "fling_proto.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hex ------------------------------------------------------------------ */

json_t *fling_golden_hex (const void *data, size_t size)
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

static int hex_digit (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes `size` lowercase hex digits into a new buffer; NULL if they are not
   hex. (Not sscanf: glibc's measures the whole rest of the string per call.) */
static uint8_t *unhex (const char *text, size_t size, size_t *out_size)
{
    if (size % 2)
        return NULL;
    uint8_t *out = (uint8_t *)malloc (size / 2 + 1);
    for (size_t i = 0; i < size / 2; i++) {
        int high = hex_digit (text[2 * i]), low = hex_digit (text[2 * i + 1]);
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

static json_t *classes (const uint32_t values[FLING_CLASS_COUNT])
{
    return json_pack ("{s:I,s:I}", "loop", (json_int_t)values[FLING_CLASS_LOOP], "pool",
                      (json_int_t)values[FLING_CLASS_POOL]);
}

/* A record; its FLP/1.2 extensions (SPEC.md §3.6) only when it has some,
   so FLP/1.1 vectors stay as they were. */
static json_t *record_json (const fling_record_t *r)
{
    json_t *out = json_pack (
        "{s:o,s:i,s:i,s:I,s:I,s:s%,s:o}", "id", fling_golden_hex (r->id.bytes, 16), "attempt",
        (int)r->attempt, "max_attempts", (int)r->max_attempts, "timeout_ms",
        (json_int_t)r->timeout_ms, "backoff_ms", (json_int_t)r->backoff_ms, "name", r->name,
        r->name_size, "payload", fling_golden_hex (r->payload, r->payload_size));
    if (r->ext_size)
        json_object_set_new (out, "ext",
                             json_pack ("{s:I,s:o,s:i,s:s%,s:I}", "delay_ms",
                                        (json_int_t)r->ext.delay_ms, "due_at_ms",
                                        json_sprintf ("%" PRIu64, r->ext.due_at_ms), "priority",
                                        (int)r->ext.priority, "key", r->ext.key ? r->ext.key : "",
                                        r->ext.key ? r->ext.key_size : 0, "key_ttl_ms",
                                        (json_int_t)r->ext.key_ttl_ms));
    return out;
}

/* DISPATCH: every record sound. SUBMIT: each judged on its own, a record
   refused alone shown as {"status": reason} (SPEC.md §4.1). */
static json_t *records (const fling_msg_t *msg)
{
    json_t *list = json_array ();
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_record_t r;
    fling_reason_t why;
    if (msg->cmd == FLING_CMD_DISPATCH) {
        while (fling_record_next (&cursor, end, &r, &why) == 1)
            json_array_append_new (list, record_json (&r));
        return list;
    }
    while (fling_submit_record_next_v (&cursor, end, &r, &why, msg->version) == 1)
        json_array_append_new (list, why == FLING_REASON_OK ? record_json (&r)
                                                            : json_pack ("{s:i}", "status", why));
    return list;
}

static json_t *results (const fling_msg_t *msg)
{
    json_t *list = json_array ();
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_result_t r;
    fling_reason_t why;
    while (fling_result_next (&cursor, end, &r, &why) == 1)
        json_array_append_new (list, json_pack ("{s:o,s:i,s:i,s:I,s:o}", "id",
                                                fling_golden_hex (r.id.bytes, 16), "attempt",
                                                (int)r.attempt, "outcome", (int)r.outcome,
                                                "retry_delay_ms", (json_int_t)r.retry_delay_ms,
                                                "error", fling_golden_hex (r.error, r.error_size)));
    return list;
}

static json_t *leases (const fling_msg_t *msg)
{
    json_t *list = json_array ();
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_task_id_t id;
    uint16_t attempt;
    while (fling_lease_next (&cursor, end, &id, &attempt) == 1)
        json_array_append_new (list, json_pack ("{s:o,s:i}", "id", fling_golden_hex (id.bytes, 16),
                                                "attempt", attempt));
    return list;
}

static json_t *names (const fling_msg_t *msg)
{
    json_t *list = json_array ();
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_class_t cls;
    const char *name;
    size_t size;
    while (fling_ready_name_next (&cursor, end, &cls, &name, &size) == 1)
        json_array_append_new (list,
                               json_pack ("{s:i,s:s%}", "class", (int)cls, "name", name, size));
    return list;
}

static json_t *render (const fling_msg_t *msg)
{
    json_t *out = json_pack ("{s:i,s:i}", "cmd", (int)msg->cmd, "version", (int)msg->version);
    switch (msg->cmd) {
    case FLING_CMD_SUBMIT:
    case FLING_CMD_DISPATCH:
        if (msg->cmd == FLING_CMD_SUBMIT)
            json_object_set_new (out, "batch_seq", json_sprintf ("%" PRIu64, msg->batch_seq));
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "records", records (msg));
        break;
    case FLING_CMD_ACK:
        json_object_set_new (out, "batch_seq", json_sprintf ("%" PRIu64, msg->batch_seq));
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "statuses", fling_golden_hex (msg->body, msg->body_size));
        break;
    case FLING_CMD_RESULT:
        json_object_set_new (out, "result_seq", json_sprintf ("%" PRIu64, msg->batch_seq));
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "results", results (msg));
        break;
    case FLING_CMD_RESULT_ACK:
        json_object_set_new (out, "result_seq", json_sprintf ("%" PRIu64, msg->batch_seq));
        break;
    case FLING_CMD_WELCOME:
        json_object_set_new (out, "heartbeat_ms", json_integer (msg->heartbeat_ms));
        json_object_set_new (out, "worker_timeout_ms", json_integer (msg->worker_timeout_ms));
        break;
    case FLING_CMD_HOLDING:
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "leases", leases (msg));
        break;
    case FLING_CMD_READY:
        json_object_set_new (out, "count", json_integer (msg->count));
        json_object_set_new (out, "pid", json_integer (msg->pid));
        json_object_set_new (out, "worker_name",
                             fling_golden_hex (msg->worker_name, msg->worker_name_size));
        json_object_set_new (out, "names", names (msg));
        json_object_set_new (out, "capacity", classes (msg->capacity));
        json_object_set_new (out, "slots", classes (msg->slots));
        break;
    case FLING_CMD_CAPACITY:
        json_object_set_new (out, "capacity", classes (msg->capacity));
        json_object_set_new (out, "slots", classes (msg->slots));
        break;
    case FLING_CMD_ERROR:
        json_object_set_new (out, "reason", json_integer (msg->reason));
        json_object_set_new (out, "refused_cmd", json_integer (msg->refused_cmd));
        json_object_set_new (out, "batch_seq", json_sprintf ("%" PRIu64, msg->batch_seq));
        json_object_set_new (out, "text", fling_golden_hex (msg->text, msg->text_size));
        break;
    case FLING_CMD_ADMIN:
    case FLING_CMD_ADMIN_REPLY:
        json_object_set_new (out, "text", fling_golden_hex (msg->text, msg->text_size));
        break;
    default:
        break;
    }
    return out;
}

static json_t *frames (zmsg_t *msg)
{
    json_t *list = json_array ();
    for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg))
        json_array_append_new (list, fling_golden_hex (zframe_data (f), zframe_size (f)));
    return list;
}

/* Prints one vector: the frames and what the C decoder makes of them. */
void fling_golden_emit (const char *name, zmsg_t *msg)
{
    fling_msg_t decoded;
    fling_reason_t reason;
    json_t *line = json_pack ("{s:s,s:o}", "name", name, "frames", frames (msg));
    if (fling_msg_decode (msg, &decoded, &reason) == 0) {
        json_object_set_new (line, "kind", json_string ("good"));
        json_object_set_new (line, "msg", render (&decoded));
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

/* ---- decode, validate: lines from stdin ------------------------------------------ */

/* The highest version `decode` accepts: FLP/1.1 (a producer's default), or
   FLP/1.2 for `decode12` (a broker that speaks task extensions). */
static uint8_t decode_version = FLING_PROTO_VERSION;

static int decode_line (char *line)
{
    zmsg_t *msg = zmsg_new ();
    for (char *word = strtok (line, " \n"); word; word = strtok (NULL, " \n")) {
        size_t size;
        /* "-" is an empty frame (a line of words cannot hold an empty one) */
        uint8_t *data = strcmp (word, "-") ? unhex (word, strlen (word), &size) : calloc (1, 1);
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
    json_t *out = fling_msg_decode_v (msg, &decoded, &reason, decode_version) == 0
                      ? json_pack ("{s:o}", "msg", render (&decoded))
                      : json_pack ("{s:i}", "reason", (int)reason);
    char *text = json_dumps (out, JSON_COMPACT | JSON_SORT_KEYS);
    puts (text);
    free (text);
    json_decref (out);
    zmsg_destroy (&msg);
    return 0;
}

static int validate_line (char *line)
{
    char *name_hex = strtok (line, " \n"), *payload_hex = strtok (NULL, " \n");
    size_t name_size = 0, payload_size = 0;
    uint8_t *name = name_hex && strcmp (name_hex, "-")
                        ? unhex (name_hex, strlen (name_hex), &name_size)
                        : (uint8_t *)calloc (1, 1);
    uint8_t *payload = payload_hex && strcmp (payload_hex, "-")
                           ? unhex (payload_hex, strlen (payload_hex), &payload_size)
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

static int each_line (int (*fn) (char *line))
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
        fling_golden_write ();
        return 0;
    }
    if (argc == 2 && !strcmp (argv[1], "decode"))
        return each_line (decode_line);
    if (argc == 2 && !strcmp (argv[1], "decode12")) {
        decode_version = FLING_PROTO_VERSION_SCHED;
        return each_line (decode_line);
    }
    if (argc == 2 && !strcmp (argv[1], "validate"))
        return each_line (validate_line);
    fprintf (stderr, "usage: fling_golden write | decode | decode12 | validate\n");
    return 2;
}
