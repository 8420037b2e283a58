/*  fling_sender.h - the producer's I/O thread.

    One thread owns the DEALER socket to the broker. It takes batches from
    the outbox, sends them as SUBMIT (at most `window_batches` waiting for
    their ACK), resolves them when the ACK comes, resends what the broker
    has not answered, and sends PING when idle. Nobody else touches the
    socket; callers reach the thread only through the outbox (its eventfd)
    and the stop flag.
*/
#ifndef FLING_SENDER_H_INCLUDED
#define FLING_SENDER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "fling_curve.h"
#include "fling_outbox.h"
#include "fling_producer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_sender fling_sender_t;

typedef struct {
    const char *endpoint;
    unsigned window_batches; /* >= 1 */
    unsigned ack_timeout_ms; /* >= 1 */
    unsigned heartbeat_ms;   /* >= 1 */
    unsigned batch_linger_us;
    fling_ack_fn *ack_fn; /* may be NULL */
    void *ack_arg;
    fling_curve_client_t curve; /* key files, read by fling_sender_new */
} fling_sender_config_t;

typedef struct {
    uint64_t accepted;
    uint64_t rejected;
    uint64_t dropped; /* unresolved when the thread stopped */
    uint64_t resent;
    uint64_t broker_errors;      /* ERROR messages from the broker */
    uint64_t bad_messages;       /* messages from the broker that did not decode */
    uint64_t handshake_failures; /* CURVE handshakes refused or failed */
} fling_sender_counts_t;

/*  Creates the socket, connects it and starts the thread, which takes
    batches from `outbox` (not owned; must outlive the sender). NULL +
    errno on failure: EINVAL for a bad endpoint or key file. */
fling_sender_t *fling_sender_new (const fling_sender_config_t *config, fling_outbox_t *outbox);

/*  Stops the thread. Every batch it still holds, and every batch left in
    the outbox, is reported FLING_ACK_DROPPED (on the I/O thread) and
    resolved. Close the outbox first so nothing new arrives. */
void fling_sender_destroy (fling_sender_t **self_p);

/*  Copies the counters; lock-free. */
void fling_sender_counts (fling_sender_t *self, fling_sender_counts_t *counts);

/*  True when the broker was heard from within the last 3 heartbeats. */
bool fling_sender_connected (fling_sender_t *self);

#ifdef __cplusplus
}
#endif

#endif
