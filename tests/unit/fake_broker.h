/*  fake_broker.h - a broker the producer and worker library tests talk to: a
    ROUTER on 127.0.0.1 in the test process that speaks FLP/1.1 through the
    codec. Two ways to drive it:

    - step by step from the test's thread (worker tests): fake_broker_next,
      fake_broker_expect and fake_broker_send, to the last peer heard;
    - on a thread of its own that answers producers as `mode` says
      (producer tests): fake_broker_serve, then read what it saw.

    Part of the unit tests' one test-support layer (with unit_support.h and
    broker_fixture.h). Every wait is bounded; failures fail the test.
*/
#ifndef FAKE_BROKER_H_INCLUDED
#define FAKE_BROKER_H_INCLUDED

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fling_proto.h"

typedef enum {
    FAKE_ACK,           /* ACK every SUBMIT with the status pattern */
    FAKE_SILENT,        /* read everything, answer nothing (PING included) */
    FAKE_NO_ACK,        /* answer PING, never ACK */
    FAKE_DROP_FIRST,    /* ignore the first SUBMIT of each batch_seq, ACK the next */
    FAKE_ERROR_AND_ACK, /* ERROR, garbage, then the ACK, for every SUBMIT */
} fake_mode_t;

typedef struct {
    fling_task_id_t id;
    uint64_t batch_seq;
    uint8_t version;   /* of the SUBMIT that carried it */
    size_t ext_size;   /* bytes of FLP/1.2 extensions in its record */
    uint32_t delay_ms; /* and what they said (the key is not kept) */
    uint64_t due_at_ms;
    uint8_t priority;
    size_t key_size;
} fake_seen_t;

typedef struct {
    zsock_t *router;
    char endpoint[64];
    int port;
    /* Step by step: the last peer heard and the last message received
       (`decoded` points into `msg`). */
    zframe_t *peer;
    int peers_seen; /* distinct routing ids: a new one per reconnect */
    int pings;
    bool answer_pings;             /* default true: PONG to PING, WELCOME to READY */
    bool ack_results;              /* default true: RESULT_ACK to RESULT */
    unsigned welcome_heartbeat_ms; /* announced in WELCOME; default 1000 */
    uint64_t result_seq;           /* of the last RESULT received */
    zmsg_t *msg;
    fling_msg_t decoded;
    /* The highest version it decodes: FLING_PROTO_VERSION (default: an
       FLP/1.1 broker, which answers a version-3 message ERROR(BAD_VERSION)
       in the FLP/1 layout, as fling-broker does) or FLING_PROTO_VERSION_SCHED.
       Set it before fake_broker_serve. */
    uint8_t max_version;
    /* Serving producers on `thread`; `lock` guards what follows it. */
    pthread_t thread;
    bool serving;
    atomic_bool stop;
    pthread_mutex_t lock;
    fake_mode_t mode;
    uint8_t pattern[4]; /* status of task i = pattern[i % pattern_size] */
    size_t pattern_size;
    fake_seen_t *seen; /* every record received, resends included */
    size_t seen_count, seen_capacity;
    size_t submits;
    uint32_t largest_batch;
    uint64_t first_seqs[4096]; /* batch_seqs already seen, for FAKE_DROP_FIRST */
    size_t first_seq_count;
} fake_broker_t;

/* Binds tcp://127.0.0.1:`port` (0: a free port the kernel picks; a given
   port is retried for a second while it is still being released). */
fake_broker_t *fake_broker_new (int port);

/* Stops serving if it does, closes the socket, frees, nulls *self_p. */
void fake_broker_destroy (fake_broker_t **self_p);

/* ---- step by step --------------------------------------------------------- */

/* The next message (any command) within timeout_ms, or NULL. PINGs are
   counted and, if answer_pings, answered, then skipped unless want_ping.
   A message that does not decode fails the test. */
fling_msg_t *fake_broker_next (fake_broker_t *self, int timeout_ms, bool want_ping);

/* The next message, which must be `cmd`, within wait_ms. */
fling_msg_t *fake_broker_expect (fake_broker_t *self, fling_cmd_t cmd, int wait_ms);

/* Sends `msg` (not NULL) to the last peer heard. */
void fake_broker_send (fake_broker_t *self, zmsg_t *msg);

/* ---- serving producers ------------------------------------------------------ */

/* Answers on a thread of its own from now on, as `mode` says. */
void fake_broker_serve (fake_broker_t *self, fake_mode_t mode);
void fake_broker_set_mode (fake_broker_t *self, fake_mode_t mode);
void fake_broker_set_pattern (fake_broker_t *self, const uint8_t *pattern, size_t size);

/* Distinct task ids received (*total: every copy, resends included). */
size_t fake_broker_distinct (fake_broker_t *self, size_t *total);
size_t fake_broker_submits (fake_broker_t *self);
uint32_t fake_broker_largest_batch (fake_broker_t *self);

#endif
