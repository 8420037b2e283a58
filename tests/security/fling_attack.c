/*  fling_attack.c - the hostile peer of the security tests (label
    `security`). A raw ZeroMQ client that does what no fling library would:
    submits under another producer's ids, registers as a worker for any
    name and completes what it gets without running it, registers
    thousands of names, asks for credit it never reads, floods the admin
    port without reading, holds connections open saying nothing. With
    --curve-broker-key/--curve-key it is an *authenticated* attacker.

    One action per run; one JSON line of what happened on stdout, so the
    test (tests/security/test_NAME.py) judges it. Every loop is bounded by --count
    and by --hold-ms / --timeout-ms.

      submit    --count N [--prefix HEX] [--name N | --names K] [--seq-start S]
      worker    [--name N | --names K] [--messages M] [--connections C]
                [--capacity N] [--take] [--deaf] [--hold-ms T]
      admin     --op JSON [--repeat N] [--no-read]
      idle      --connections N --hold-ms T
      forge     --count N            (RESULT DONE and HOLDING for made-up ids)
      badinput  [--worker-endpoint EP --worker-curve-key F]
                                     (every malformed message; replies judged)
    --plain USER:PASS makes it a PLAIN client (a mechanism the broker
    does not speak).
*/
#include "fling_attack.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>

/* FLP/1.1: every RESULT carries the next result_seq of its sender. */
static uint64_t result_seq;

static uint64_t random_u64 (void)
{
    uint64_t value = 0;
    if (getrandom (&value, sizeof value, 0) != (ssize_t)sizeof value)
        value = (uint64_t)fling_clock_us () * 0x9E3779B97F4A7C15ull;
    return value;
}

zsock_t *attack_dealer (const attack_t *a, const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    char error[256];
    if (fling_curve_client_apply (&a->curve, sock, NULL, error, sizeof error)) {
        fprintf (stderr, "fling-attack: %s\n", error);
        zsock_destroy (&sock);
        return NULL;
    }
    if (a->plain && strchr (a->plain, ':')) {
        char user[256];
        snprintf (user, sizeof user, "%.*s", (int)(strchr (a->plain, ':') - a->plain), a->plain);
        zsock_set_plain_username (sock, user);
        zsock_set_plain_password (sock, strchr (a->plain, ':') + 1);
    }
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, 0);
    zsock_set_rcvhwm (sock, a->no_read ? 1 : 0);
    zsock_set_sndtimeo (sock, 1000);
    /* libzmq's source-address form: tcp://SOURCE:0;HOST:PORT */
    int rc = a->source && strncmp (endpoint, "tcp://", 6) == 0
                 ? zsock_connect (sock, "tcp://%s:0;%s", a->source, endpoint + 6)
                 : zsock_connect (sock, "%s", endpoint);
    if (rc) {
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

zmsg_t *attack_recv (zsock_t *sock, int timeout_ms, fling_msg_t *out)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    zmsg_t *msg = NULL;
    int64_t deadline = fling_clock_ms () + timeout_ms;
    while (!msg && fling_clock_ms () < deadline) {
        if (!zpoller_wait (poller, (int)(deadline - fling_clock_ms ())))
            continue;
        msg = zmsg_recv (sock);
        fling_reason_t reason;
        if (msg && out && fling_msg_decode (msg, out, &reason))
            zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return msg;
}

/* Ends the JSON line with a count per reason seen ("FORBIDDEN": 3...). */
static void end_line (const uint64_t counts[FLING_REASON_MAX + 1])
{
    for (int r = 0; r <= FLING_REASON_MAX; r++)
        if (counts[r])
            printf (",\"%s\":%" PRIu64, fling_reason_name (r), counts[r]);
    printf ("}\n");
}

/* ---- submit ---------------------------------------------------------------- */

static void task_name (const attack_t *a, uint64_t i, char *out, size_t size)
{
    if (a->names)
        snprintf (out, size, "flood.%016" PRIx64 ".%" PRIu64, a->salt, i % a->names);
    else
        snprintf (out, size, "%s", a->name ? a->name : "test.noop");
}

static int do_submit (const attack_t *a)
{
    zsock_t *sock = attack_dealer (a, a->endpoint);
    if (!sock)
        return 2;
    uint64_t prefix = a->prefix ? strtoull (a->prefix, NULL, 16) : 0;
    if (!prefix) {
        char error[256];
        if (fling_curve_client_apply (&a->curve, NULL, &prefix, error, sizeof error) || !prefix)
            prefix = random_u64 ();
    }
    uint64_t statuses[FLING_REASON_MAX + 1] = {0}, answered = 0, sent = 0, errors = 0;
    uint64_t seq = a->seq_start ? a->seq_start : 1, batch_seq = 0;
    const char *payload = "{\"attack\":true}";
    uint8_t *records = (uint8_t *)malloc (256 * (FLING_RECORD_OVERHEAD + 200));
    while (sent < a->count && records) {
        size_t size = 0;
        uint32_t n = 0;
        for (; n < 256 && sent + n < a->count; n++) {
            char name[128];
            task_name (a, sent + n, name, sizeof name);
            fling_task_id_t id;
            fling_task_id_make (&id, prefix, seq++);
            size += fling_record_write (records + size, &id, 0, 0, 0, 0, name, strlen (name),
                                        payload, strlen (payload));
        }
        zmsg_t *msg = fling_msg_submit (++batch_seq, n, records, size);
        if (zmsg_send (&msg, sock)) {
            zmsg_destroy (&msg);
            break;
        }
        sent += n;
        fling_msg_t reply;
        zmsg_t *answer = attack_recv (sock, (int)a->timeout_ms, &reply);
        if (answer && reply.cmd == FLING_CMD_ACK) {
            for (uint32_t i = 0; i < reply.count; i++)
                statuses[reply.body[i] <= FLING_REASON_MAX ? reply.body[i] : FLING_REASON_MAX]++;
            answered += reply.count;
        } else if (answer)
            errors++;
        zmsg_destroy (&answer);
        if (!answer && a->stop_on_silence)
            break;
    }
    free (records);
    printf ("{\"action\":\"submit\",\"prefix\":\"%016" PRIx64 "\",\"sent\":%" PRIu64
            ",\"answered\":%" PRIu64 ",\"errors\":%" PRIu64,
            prefix, sent, answered, errors);
    end_line (statuses);
    zsock_destroy (&sock);
    return 0;
}

/* ---- worker ---------------------------------------------------------------- */

static zmsg_t *ready_msg (const attack_t *a, uint64_t round)
{
    size_t count = a->names ? a->names : 1;
    if (count > FLING_NAMES_MAX)
        count = FLING_NAMES_MAX;
    char (*names)[64] = calloc (count, 64);
    const char **list = calloc (count, sizeof *list);
    fling_class_t *classes = calloc (count, sizeof *classes);
    zmsg_t *msg = NULL;
    if (names && list && classes) {
        for (size_t i = 0; i < count; i++) {
            if (a->names)
                snprintf (names[i], 64, "flood.%016" PRIx64 ".%" PRIu64 ".%zu", a->salt, round, i);
            else
                snprintf (names[i], 64, "%s", a->name ? a->name : "test.noop");
            list[i] = names[i];
            classes[i] = FLING_CLASS_LOOP;
        }
        uint32_t capacity[FLING_CLASS_COUNT] = {(uint32_t)a->capacity, (uint32_t)a->capacity};
        msg = fling_msg_ready (capacity, NULL, 1, "attacker", count, list, classes);
    }
    free (names);
    free (list);
    free (classes);
    return msg;
}

/* Answers every DISPATCH with DONE for all its tasks: "work" never done. */
static uint64_t take_all (zsock_t *sock, const fling_msg_t *dispatch)
{
    const uint8_t *cursor = dispatch->body;
    size_t size = (size_t)dispatch->count * FLING_RESULT_OVERHEAD;
    uint8_t *results = (uint8_t *)malloc (size);
    size_t at = 0;
    fling_record_t record;
    for (uint32_t i = 0; results && i < dispatch->count; i++) {
        fling_record_read (&cursor, &record);
        fling_result_t result = {.id = record.id, .attempt = record.attempt};
        at += fling_result_write (results + at, &result);
    }
    zmsg_t *msg = results ? fling_msg_result (++result_seq, dispatch->count, results, at) : NULL;
    free (results);
    if (msg && zmsg_send (&msg, sock) == 0)
        return dispatch->count;
    zmsg_destroy (&msg);
    return 0;
}

static int do_worker (const attack_t *a)
{
    size_t connections = a->connections ? a->connections : 1;
    zsock_t **socks = calloc (connections, sizeof *socks);
    uint64_t readies = 0, dispatched = 0, taken = 0, errors = 0, pongs = 0;
    uint64_t reasons[FLING_REASON_MAX + 1] = {0};
    for (size_t c = 0; socks && c < connections; c++) {
        if (!(socks[c] = attack_dealer (a, a->endpoint)))
            break;
        for (uint64_t m = 0; m < (a->messages ? a->messages : 1); m++) {
            zmsg_t *msg = ready_msg (a, c * 1000000 + m);
            if (zmsg_send (&msg, socks[c]) == 0)
                readies++;
            zmsg_destroy (&msg);
        }
    }
    int64_t until = fling_clock_ms () + (int64_t)a->hold_ms, last_ping = 0;
    while (socks && fling_clock_ms () < until) {
        if (fling_clock_ms () - last_ping >= 500 && (a->ping || !a->deaf)) {
            last_ping = fling_clock_ms ();
            for (size_t c = 0; c < connections && socks[c]; c++) {
                zmsg_t *ping = fling_msg_ping ();
                zmsg_send (&ping, socks[c]);
                zmsg_destroy (&ping);
            }
        }
        if (a->deaf) {
            zclock_sleep (50);
            continue;
        }
        for (size_t c = 0; c < connections && socks[c]; c++) {
            fling_msg_t in;
            zmsg_t *msg;
            while ((msg = attack_recv (socks[c], 10, &in))) {
                if (in.cmd == FLING_CMD_DISPATCH) {
                    dispatched += in.count;
                    if (a->take)
                        taken += take_all (socks[c], &in);
                } else if (in.cmd == FLING_CMD_ERROR) {
                    errors++;
                    reasons[in.reason <= FLING_REASON_MAX ? in.reason : FLING_REASON_MAX]++;
                } else if (in.cmd == FLING_CMD_PONG)
                    pongs++;
                zmsg_destroy (&msg);
            }
        }
    }
    printf ("{\"action\":\"worker\",\"readies\":%" PRIu64 ",\"dispatched\":%" PRIu64
            ",\"taken\":%" PRIu64 ",\"pongs\":%" PRIu64 ",\"errors\":%" PRIu64,
            readies, dispatched, taken, pongs, errors);
    end_line (reasons);
    for (size_t c = 0; socks && c < connections; c++)
        zsock_destroy (&socks[c]);
    free (socks);
    return 0;
}

/* ---- admin, idle, forge ------------------------------------------------------ */

static int do_admin (const attack_t *a)
{
    zsock_t *sock = attack_dealer (a, a->endpoint);
    if (!sock)
        return 2;
    uint64_t sent = 0, replies = 0, errors = 0, bytes = 0;
    uint64_t reasons[FLING_REASON_MAX + 1] = {0};
    for (uint64_t i = 0; i < (a->repeat ? a->repeat : 1); i++) {
        zmsg_t *msg = fling_msg_admin (a->op ? a->op : "{\"op\":\"stats\"}");
        if (zmsg_send (&msg, sock)) {
            zmsg_destroy (&msg);
            break;
        }
        sent++;
        if (a->no_read)
            continue;
        fling_msg_t reply;
        zmsg_t *answer = attack_recv (sock, (int)a->timeout_ms, &reply);
        if (answer && reply.cmd == FLING_CMD_ADMIN_REPLY) {
            replies++;
            bytes += reply.text_size;
            if (a->repeat <= 1)
                printf ("%.*s\n", (int)reply.text_size, reply.text);
        } else if (answer && reply.cmd == FLING_CMD_ERROR) {
            errors++;
            reasons[reply.reason <= FLING_REASON_MAX ? reply.reason : FLING_REASON_MAX]++;
        }
        zmsg_destroy (&answer);
    }
    if (a->no_read && a->hold_ms)
        zclock_sleep ((int)a->hold_ms);
    printf ("{\"action\":\"admin\",\"sent\":%" PRIu64 ",\"replies\":%" PRIu64
            ",\"reply_bytes\":%" PRIu64 ",\"errors\":%" PRIu64,
            sent, replies, bytes, errors);
    end_line (reasons);
    zsock_destroy (&sock);
    return 0;
}

static int do_idle (const attack_t *a)
{
    /* Each connection is a socket of its own: several descriptors each. */
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    zsys_set_max_sockets (0);
    size_t n = a->connections ? a->connections : 1, opened = 0;
    zsock_t **socks = calloc (n, sizeof *socks);
    for (; socks && opened < n; opened++)
        if (!(socks[opened] = attack_dealer (a, a->endpoint)))
            break;
    printf ("{\"action\":\"idle\",\"opened\":%zu}\n", opened);
    fflush (stdout);
    zclock_sleep ((int)a->hold_ms);
    for (size_t i = 0; socks && i < opened; i++)
        zsock_destroy (&socks[i]);
    free (socks);
    return 0;
}

/* RESULT DONE and HOLDING for ids this peer never got: must change
   nothing (stale_results, holding_ignored). */
static int do_forge (const attack_t *a)
{
    zsock_t *sock = attack_dealer (a, a->endpoint);
    if (!sock)
        return 2;
    zmsg_t *msg = ready_msg (a, 0);
    zmsg_send (&msg, sock);
    zmsg_destroy (&msg);
    uint64_t prefix = a->prefix ? strtoull (a->prefix, NULL, 16) : random_u64 ();
    uint64_t sent = 0;
    uint8_t results[100 * FLING_RESULT_OVERHEAD], leases[100 * FLING_LEASE_SIZE];
    for (uint64_t seq = a->seq_start ? a->seq_start : 1; sent < a->count;) {
        size_t rs = 0, ls = 0;
        uint32_t n = 0;
        for (; n < 100 && sent + n < a->count; n++, seq++) {
            fling_task_id_t id;
            fling_task_id_make (&id, prefix, seq);
            for (uint16_t attempt = 1; attempt <= 1; attempt++) {
                fling_result_t result = {.id = id, .attempt = attempt};
                rs += fling_result_write (results + rs, &result);
                ls += fling_lease_write (leases + ls, &id, attempt);
            }
        }
        zmsg_t *holding = fling_msg_holding (n, leases, ls);
        zmsg_t *result = fling_msg_result (++result_seq, n, results, rs);
        zmsg_send (&holding, sock);
        zmsg_send (&result, sock);
        zmsg_destroy (&holding);
        zmsg_destroy (&result);
        sent += n;
    }
    zclock_sleep (200);
    printf ("{\"action\":\"forge\",\"prefix\":\"%016" PRIx64 "\",\"sent\":%" PRIu64 "}\n", prefix,
            sent);
    zsock_destroy (&sock);
    return 0;
}

int main (int argc, char **argv)
{
    zsys_handler_set (NULL);
    attack_t a;
    const char *action;
    int rc = attack_options (&a, argc, argv, &action);
    if (rc >= 0)
        return rc;
    a.salt = random_u64 ();
    if (strcmp (action, "submit") == 0)
        rc = do_submit (&a);
    else if (strcmp (action, "worker") == 0)
        rc = do_worker (&a);
    else if (strcmp (action, "admin") == 0)
        rc = do_admin (&a);
    else if (strcmp (action, "idle") == 0)
        rc = do_idle (&a);
    else if (strcmp (action, "forge") == 0)
        rc = do_forge (&a);
    else if (strcmp (action, "badinput") == 0)
        rc = attack_bad_input (&a);
    else {
        fprintf (stderr, "fling-attack: unknown action '%s'\n", action);
        rc = 2;
    }
    fflush (stdout);
    zsys_shutdown ();
    return rc;
}
