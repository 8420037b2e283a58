/*  fling_attack_input.c - the malformed-message battery (bad input
    catalogue: frames and envelope, fields, protocol state), sent by an
    authenticated peer when CURVE is on.

    Each case is one message and the answer it must get. To tell "no
    answer" from "no answer yet" without waiting, a PING follows each
    case on the same connection: the broker answers in order, so whatever
    arrives before the PONG is the case's answer.
*/
#include "fling_attack.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAMES_MAX 20
#define ANSWER_MS  5000

typedef struct {
    const char *name;
    size_t count;
    zframe_t *frames[FRAMES_MAX];
    const char *want; /* "none", "PONG", "ADMIN_REPLY", "ACK:<REASON>" or an ERROR reason */
} case_t;

/* Who the peer is: with CURVE its admin requests are FORBIDDEN (a
   producer key), without CURVE anyone may ask. */
static const char *admin_answer;

/* The sequence of the battery's one good task: new each run, so that a
   key's fixed id prefix (CURVE) does not make a second run DUPLICATE. */
static uint64_t good_seq;

static uint8_t header_bytes[4] = {'F', 'L', 1, 0};

static zframe_t *header (uint8_t cmd)
{
    header_bytes[3] = cmd;
    return zframe_new (header_bytes, 4);
}

static zframe_t *bytes (const void *data, size_t size)
{
    return zframe_new (data, size);
}

static void put_u32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64 (uint8_t *p, uint64_t v)
{
    put_u32 (p, (uint32_t)(v >> 32));
    put_u32 (p + 4, (uint32_t)v);
}

static zframe_t *submit_fields (uint64_t batch, uint32_t count)
{
    uint8_t fields[12];
    put_u64 (fields, batch);
    put_u32 (fields + 8, count);
    return bytes (fields, sizeof fields);
}

static zframe_t *one_record (uint64_t prefix, uint64_t seq, const char *name, size_t payload_size)
{
    char *payload = (char *)malloc (payload_size + 1);
    if (!payload)
        return NULL;
    memset (payload, ' ', payload_size);
    if (payload_size >= 2) {
        payload[0] = '{';
        payload[payload_size - 1] = '}';
    }
    size_t size = fling_record_size (strlen (name), payload_size);
    uint8_t *record = (uint8_t *)malloc (size);
    fling_task_id_t id;
    fling_task_id_make (&id, prefix, seq);
    zframe_t *frame = NULL;
    if (record) {
        fling_record_write (record, &id, 0, 0, 0, 0, name, strlen (name), payload, payload_size);
        frame = bytes (record, size);
    }
    free (record);
    free (payload);
    return frame;
}

#define CASE(label, answer, ...)                                                                   \
    do {                                                                                           \
        case_t *c_ = &cases[n++];                                                                  \
        zframe_t *list_[] = {__VA_ARGS__};                                                         \
        c_->name = label;                                                                          \
        c_->want = answer;                                                                         \
        c_->count = sizeof list_ / sizeof list_[0];                                                \
        memcpy (c_->frames, list_, sizeof list_);                                                  \
    } while (0)

/* The producer endpoint's cases; `prefix` is an id prefix this peer may use.
   FLP/1.1 (SPEC §4.1): a SUBMIT whose batch can be read is answered by an
   ACK, one status per record (MALFORMED for all when the records cannot be
   told apart); only a SUBMIT whose batch cannot be read gets an ERROR. */
static size_t producer_cases (case_t *cases, uint64_t prefix)
{
    size_t n = 0;
    static const uint8_t empty = 0;
    CASE ("empty frame", "none", bytes (&empty, 0));
    CASE ("bad signature", "none", bytes ("XX\x01\x01", 4));
    CASE ("header of 5 bytes", "none", bytes ("FL\x01\x01\x00", 5));
    CASE ("bad version", "BAD_VERSION", bytes ("FL\x09\x03", 4));
    CASE ("unknown command", "BAD_COMMAND", bytes ("FL\x01\x63", 4));
    CASE ("SUBMIT without body", "ACK:MALFORMED", header (FLING_CMD_SUBMIT), submit_fields (1, 1));
    CASE ("SUBMIT with an extra frame", "ACK:MALFORMED", header (FLING_CMD_SUBMIT),
          submit_fields (1, 1), one_record (prefix, 1, "test.noop", 2), bytes ("x", 1));
    CASE ("17 frames", "MALFORMED", header (FLING_CMD_PING), bytes ("", 0), bytes ("", 0),
          bytes ("", 0), bytes ("", 0), bytes ("", 0), bytes ("", 0), bytes ("", 0), bytes ("", 0),
          bytes ("", 0), bytes ("", 0), bytes ("", 0), bytes ("", 0), bytes ("", 0), bytes ("", 0),
          bytes ("", 0), bytes ("", 0));
    CASE ("truncated SUBMIT fields", "MALFORMED", header (FLING_CMD_SUBMIT),
          bytes ("\0\0\0\0\0", 5), one_record (prefix, 1, "test.noop", 2));
    CASE ("SUBMIT count 0", "BAD_FIELD", header (FLING_CMD_SUBMIT), submit_fields (1, 0),
          bytes ("", 0));
    CASE ("SUBMIT count above the records", "ACK:MALFORMED", header (FLING_CMD_SUBMIT),
          submit_fields (1, 2), one_record (prefix, 1, "test.noop", 2));
    CASE ("task name with a space", "ACK:BAD_TASK", header (FLING_CMD_SUBMIT), submit_fields (1, 1),
          one_record (prefix, 2, "bad name", 2));
    CASE ("payload above 1 MiB", "ACK:TOO_LARGE", header (FLING_CMD_SUBMIT), submit_fields (1, 1),
          one_record (prefix, 3, "test.noop", FLING_PAYLOAD_MAX + 1));
    CASE ("READY on the producer endpoint", "BAD_STATE", header (FLING_CMD_READY),
          bytes ("\0\0\0\1\0\0\0\1\0\0\0\1\0\1\0\0\0\1\0\0\0\1", 22), bytes ("w", 1),
          bytes ("\0\1a", 3));
    CASE ("ADMIN that is not JSON", admin_answer, header (FLING_CMD_ADMIN), bytes ("{nope", 5));
    CASE ("ADMIN unknown op", admin_answer, header (FLING_CMD_ADMIN),
          bytes ("{\"op\":\"rm -rf\"}", 15));
    CASE ("PING", "PONG", header (FLING_CMD_PING));
    CASE ("a good task", "ACK:OK", header (FLING_CMD_SUBMIT), submit_fields (7, 1),
          one_record (prefix, good_seq, "attack.once", 2));
    CASE ("the same task again", "ACK:DUPLICATE", header (FLING_CMD_SUBMIT), submit_fields (8, 1),
          one_record (prefix, good_seq, "attack.once", 2));
    return n;
}

/* The worker endpoint's cases, after a READY on this connection. */
static size_t worker_cases (case_t *cases, uint64_t prefix)
{
    size_t n = 0;
    uint8_t result[FLING_RESULT_OVERHEAD];
    fling_task_id_t id;
    fling_task_id_make (&id, prefix, 1);
    fling_result_t done = {.id = id, .attempt = 1, .outcome = FLING_OUTCOME_DONE};
    fling_result_write (result, &done);
    uint8_t bad_outcome[FLING_RESULT_OVERHEAD];
    done.outcome = 9;
    fling_result_write (bad_outcome, &done);
    uint8_t lease[FLING_LEASE_SIZE];
    fling_lease_write (lease, &id, 1);
    CASE ("bad signature", "none", bytes ("XX\x01\x01", 4));
    CASE ("unknown command", "BAD_COMMAND", bytes ("FL\x01\x63", 4));
    CASE ("SUBMIT on the worker endpoint", "BAD_STATE", header (FLING_CMD_SUBMIT),
          submit_fields (1, 1), one_record (prefix, 1, "test.noop", 2));
    CASE ("ADMIN on the worker endpoint", "BAD_STATE", header (FLING_CMD_ADMIN),
          bytes ("{\"op\":\"stats\"}", 14));
    CASE ("RESULT for a task never dispatched", "none", header (FLING_CMD_RESULT),
          bytes ("\0\0\0\1", 4), bytes (result, sizeof result));
    CASE ("RESULT with outcome 9", "BAD_FIELD", header (FLING_CMD_RESULT), bytes ("\0\0\0\1", 4),
          bytes (bad_outcome, sizeof bad_outcome));
    CASE ("HOLDING for a task never dispatched", "none", header (FLING_CMD_HOLDING),
          bytes ("\0\0\0\1", 4), bytes (lease, sizeof lease));
    CASE ("HOLDING of 17 bytes", "MALFORMED", header (FLING_CMD_HOLDING), bytes ("\0\0\0\1", 4),
          bytes (lease, FLING_LEASE_SIZE - 1));
    CASE ("CAPACITY with slots above capacity", "BAD_FIELD", header (FLING_CMD_CAPACITY),
          bytes ("\0\0\0\1\0\0\0\1\0\0\0\7\0\0\0\7", 16));
    CASE ("PING", "PONG", header (FLING_CMD_PING));
    return n;
}

/* CURVE only: keys used for what their role does not allow (the producer
   endpoint, with a worker key). */
static size_t wrong_role_cases (case_t *cases, uint64_t prefix)
{
    size_t n = 0;
    CASE ("SUBMIT with a worker key", "ACK:FORBIDDEN", header (FLING_CMD_SUBMIT),
          submit_fields (1, 1), one_record (prefix, 1, "test.noop", 2));
    CASE ("ADMIN with a worker key", "FORBIDDEN", header (FLING_CMD_ADMIN),
          bytes ("{\"op\":\"dead_purge\",\"all\":true}", 31));
    CASE ("PING with a worker key", "PONG", header (FLING_CMD_PING));
    return n;
}

/* CURVE only: ids under another key's prefix. */
static size_t foreign_id_cases (case_t *cases, uint64_t prefix)
{
    size_t n = 0;
    CASE ("SUBMIT under another key's id prefix", "ACK:FORBIDDEN", header (FLING_CMD_SUBMIT),
          submit_fields (9, 1), one_record (prefix ^ 1, 1, "test.noop", 2));
    return n;
}

/* What came back for one case, as the `want` strings spell it. */
static void describe (const fling_msg_t *m, char *out, size_t size)
{
    if (m->cmd == FLING_CMD_ERROR)
        snprintf (out, size, "%s", fling_reason_name (m->reason));
    else if (m->cmd == FLING_CMD_ACK && m->count >= 1)
        snprintf (out, size, "ACK:%s", fling_reason_name (m->body[0]));
    else
        snprintf (out, size, "%s", fling_cmd_name (m->cmd));
}

/* Sends the case then a PING; collects the answers before the PONG. An
   ACK is the exception: it waits for the end of the broker's turn (the
   store commit), so a PONG of the same turn overtakes it. */
static bool run_case (zsock_t *sock, case_t *c, char *got, size_t got_size)
{
    zmsg_t *msg = zmsg_new ();
    for (size_t i = 0; i < c->count; i++)
        zmsg_append (msg, &c->frames[i]);
    zmsg_send (&msg, sock);
    zmsg_t *ping = fling_msg_ping ();
    zmsg_send (&ping, sock);
    got[0] = '\0';
    bool is_ping = strcmp (c->want, "PONG") == 0;
    bool want_ack = strncmp (c->want, "ACK:", 4) == 0, acked = false;
    int pongs = 0;
    while (pongs < (is_ping ? 2 : 1) || (want_ack && !acked)) {
        fling_msg_t in;
        zmsg_t *answer = attack_recv (sock, ANSWER_MS, &in);
        if (!answer) {
            snprintf (got, got_size, "%s(no PONG)", got[0] ? got : "");
            return false;
        }
        if (in.cmd == FLING_CMD_PONG)
            pongs++;
        acked = acked || in.cmd == FLING_CMD_ACK;
        if (in.cmd != FLING_CMD_PONG || (is_ping && pongs == 1)) {
            size_t at = strlen (got);
            describe (&in, got + at, got_size - at);
        }
        zmsg_destroy (&answer);
    }
    if (!got[0])
        snprintf (got, got_size, "none");
    return strcmp (got, c->want) == 0;
}

static int run_battery (zsock_t *sock, case_t *cases, size_t n, const char *where, bool *first)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char got[128];
        bool ok = run_case (sock, &cases[i], got, sizeof got);
        failed += !ok;
        printf ("%s{\"endpoint\":\"%s\",\"case\":\"%s\",\"want\":\"%s\",\"got\":\"%s\",\"ok\":%s}",
                *first ? "" : ",", where, cases[i].name, cases[i].want, got, ok ? "true" : "false");
        *first = false;
    }
    return failed;
}

/* The worker's key, when CURVE is on (--worker-curve-key). */
static attack_t as_worker (const attack_t *a)
{
    attack_t w = *a;
    if (a->worker_key)
        w.curve.key = a->worker_key;
    return w;
}

int attack_bad_input (const attack_t *a)
{
    uint64_t prefix = 0;
    char error[256];
    bool curve = fling_curve_client_on (&a->curve);
    if (fling_curve_client_apply (&a->curve, NULL, &prefix, error, sizeof error) || !prefix)
        prefix = 0x6261642d696e7075ull ^ (uint64_t)fling_clock_us ();
    admin_answer = curve ? "FORBIDDEN" : "ADMIN_REPLY";
    good_seq = (uint64_t)fling_clock_us ();
    static case_t cases[64];
    int failed = 0;
    bool first = true;
    printf ("{\"action\":\"badinput\",\"cases\":[");
    zsock_t *sock = attack_dealer (a, a->endpoint);
    if (!sock)
        return 2;
    size_t n = producer_cases (cases, prefix);
    failed += run_battery (sock, cases, n, "producer", &first);
    if (curve) {
        n = foreign_id_cases (cases, prefix);
        failed += run_battery (sock, cases, n, "producer", &first);
    }
    zsock_destroy (&sock);
    attack_t worker = as_worker (a);
    if (curve && a->worker_key && (sock = attack_dealer (&worker, a->endpoint))) {
        n = wrong_role_cases (cases, prefix);
        failed += run_battery (sock, cases, n, "producer", &first);
        zsock_destroy (&sock);
    }
    if (a->worker_endpoint && (sock = attack_dealer (&worker, a->worker_endpoint))) {
        const char *names[1] = {"attack.only"};
        fling_class_t classes[1] = {FLING_CLASS_LOOP};
        uint32_t capacity[FLING_CLASS_COUNT] = {1, 1};
        zmsg_t *ready = fling_msg_ready (capacity, NULL, 1, "badinput", 1, names, classes);
        zmsg_send (&ready, sock);
        /* FLP/1.1: READY is answered (WELCOME) at the end of the broker's
           turn; the battery starts once it is in. */
        for (int tries = 0; tries < 10; tries++) {
            fling_msg_t in;
            zmsg_t *answer = attack_recv (sock, ANSWER_MS, &in);
            bool welcome = answer && in.cmd == FLING_CMD_WELCOME;
            zmsg_destroy (&answer);
            if (welcome || !answer)
                break;
        }
        n = worker_cases (cases, prefix);
        failed += run_battery (sock, cases, n, "worker", &first);
        zmsg_t *bye = fling_msg_bye ();
        zmsg_send (&bye, sock);
        zsock_destroy (&sock);
    }
    printf ("],\"failed\":%d}\n", failed);
    return failed ? 1 : 0;
}
