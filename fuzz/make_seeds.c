/*  make_seeds.c - writes the seed corpus of fuzz_proto: one valid message
    of every command (and a few richer ones) in the fuzz input format, so the
    fuzzer starts from inputs the decoder accepts instead of guessing the
    header. Usage: fuzz_proto_seeds DIR   (fuzz/corpus/proto is committed).
*/
#include "fuzz_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_proto.h"

static int write_seed (const char *dir, const char *name, zmsg_t *msg)
{
    size_t size = 0;
    uint8_t *buf = msg ? fuzz_msg_to_input (msg, &size) : NULL;
    zmsg_destroy (&msg);
    if (!buf) {
        fprintf (stderr, "make_seeds: cannot encode %s\n", name);
        return -1;
    }
    char path[512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    int rc = file && fwrite (buf, 1, size, file) == size ? 0 : -1;
    if (file && fclose (file) != 0)
        rc = -1;
    if (rc)
        perror (path);
    free (buf);
    return rc;
}

/* A plain-text seed for the task id parser the target also runs. */
static int write_text (const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    int rc = file && fwrite (text, 1, strlen (text), file) == strlen (text) ? 0 : -1;
    if (file && fclose (file) != 0)
        rc = -1;
    if (rc)
        perror (path);
    return rc;
}

static size_t add_record (uint8_t *dest, uint64_t seq, const char *name, const char *payload)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0x5eed5eed5eed5eedULL, seq);
    return fling_record_write (dest, &id, 0, 5, 30000, 100, name, strlen (name), payload,
                               strlen (payload));
}

static zmsg_t *records_msg (fling_cmd_t cmd, uint32_t count)
{
    const char *names[] = {"email.send", "img.resize", "a"};
    const char *payloads[] = {"{\"to\":\"a@b.c\",\"n\":1}", "{}",
                              "{\"i\":7,\"ms\":0,\"pad\":\"xx\"}"};
    uint8_t body[1024];
    size_t size = 0;
    for (uint32_t i = 0; i < count; i++)
        size += add_record (body + size, i + 1, names[i % 3], payloads[i % 3]);
    if (cmd == FLING_CMD_DISPATCH) {
        fling_record_set_attempt (body, 1);
        return fling_msg_dispatch (count, body, size);
    }
    return fling_msg_submit (42, count, body, size);
}

/* An FLP/1.2 SUBMIT: a delayed task, and one with a priority, a due time
   and a unique key (SPEC.md §3.6). */
static zmsg_t *extended_submit (void)
{
    uint8_t body[512];
    size_t size = 0;
    fling_task_id_t id;
    fling_task_ext_t delayed = {.delay_ms = 5000};
    fling_task_ext_t keyed = {.due_at_ms = 1796666400000ULL,
                              .priority = 7,
                              .key = "user:42:welcome",
                              .key_size = 15,
                              .key_ttl_ms = 3600000};
    fling_task_id_make (&id, 0x5eed5eed5eed5eedULL, 1);
    size +=
        fling_record_write_ext (body + size, &id, 0, 0, 0, 0, "email.send", 10, "{}", 2, &delayed);
    fling_task_id_make (&id, 0x5eed5eed5eed5eedULL, 2);
    size += fling_record_write_ext (body + size, &id, 0, 0, 0, 0, "email.welcome", 13,
                                    "{\"user\":42}", 11, &keyed);
    zmsg_t *msg = fling_msg_submit (43, 2, body, size);
    fling_msg_set_version (msg, FLING_PROTO_VERSION_SCHED);
    return msg;
}

static zmsg_t *results_msg (void)
{
    uint8_t body[256];
    size_t size = 0;
    fling_result_t r = {.attempt = 1, .outcome = FLING_OUTCOME_DONE};
    fling_task_id_make (&r.id, 1, 1);
    size += fling_result_write (body + size, &r);
    r.outcome = FLING_OUTCOME_RETRY;
    r.retry_delay_ms = 250;
    r.error = "connection refused";
    r.error_size = strlen (r.error);
    size += fling_result_write (body + size, &r);
    return fling_msg_result (1, 2, body, size);
}

static zmsg_t *ready_msg (void)
{
    uint32_t capacity[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 16, [FLING_CLASS_LOOP] = 512};
    uint32_t slots[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 8, [FLING_CLASS_LOOP] = 256};
    const char *names[] = {"email.send", "img.resize", "test.noop"};
    fling_class_t classes[] = {FLING_CLASS_POOL, FLING_CLASS_POOL, FLING_CLASS_LOOP};
    return fling_msg_ready (capacity, slots, 4242, "worker-1", 3, names, classes);
}

int main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    uint8_t statuses[3] = {FLING_REASON_OK, FLING_REASON_DUPLICATE, FLING_REASON_QUEUE_FULL};
    uint32_t capacity[FLING_CLASS_COUNT] = {0, 0};
    int rc = 0;
    rc |= write_seed (dir, "submit-1", records_msg (FLING_CMD_SUBMIT, 1));
    rc |= write_seed (dir, "submit-3", records_msg (FLING_CMD_SUBMIT, 3));
    rc |= write_seed (dir, "dispatch-2", records_msg (FLING_CMD_DISPATCH, 2));
    rc |= write_seed (dir, "submit-flp12-extensions", extended_submit ());
    rc |= write_seed (dir, "ack-3", fling_msg_ack (42, 3, statuses));
    rc |= write_seed (dir, "ping", fling_msg_ping ());
    rc |= write_seed (dir, "pong", fling_msg_pong ());
    rc |= write_seed (dir, "bye", fling_msg_bye ());
    rc |= write_seed (dir, "ready", ready_msg ());
    rc |= write_seed (dir, "result-2", results_msg ());
    rc |= write_seed (dir, "capacity-drain", fling_msg_capacity (capacity, NULL));
    rc |= write_seed (
        dir, "error",
        fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER, 0, 0, "send READY"));
    rc |= write_seed (dir, "welcome", fling_msg_welcome (1000, 3000));
    rc |= write_seed (dir, "result-ack", fling_msg_result_ack (7));
    rc |= write_seed (dir, "admin", fling_msg_admin ("{\"op\":\"stats\"}"));
    rc |= write_seed (dir, "admin-reply",
                      fling_msg_admin_reply ("{\"tasks\":0,\"queues\":[],\"workers\":[]}"));
    rc |= write_text (dir, "task-id", "0123456789abcdef:18446744073709551615");
    return rc ? 1 : 0;
}
