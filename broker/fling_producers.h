/*  fling_producers.h - the broker's producer side: SUBMIT, its ACK after the
    turn's group commit, PING and ADMIN on the producer socket.
*/
#ifndef FLING_PRODUCERS_H_INCLUDED
#define FLING_PRODUCERS_H_INCLUDED

#include "fling_state.h"

/*  Handles a decoded message from the producer socket. */
void fling_producers_handle (fling_broker_t *self, const fling_peer_t *peer,
                             const fling_msg_t *msg);

/*  Answers a SUBMIT that failed to decode but whose batch_seq and count
    were read (msg->has_batch) with an ACK of `count` x `status`. */
void fling_producers_refuse_batch (fling_broker_t *self, const fling_peer_t *peer,
                                   const fling_msg_t *msg, fling_reason_t status);

/*  Takes one task record in as a SUBMIT's would be (checks, limits, the
    store), without an ACK: OK, DUPLICATE, or why not. The firings of
    schedules (fling_schedules_fire) come in here; the turn's commit makes
    them durable. */
fling_reason_t fling_producers_accept (fling_broker_t *self, const fling_record_t *record);

/*  End of turn: one store commit, then the ACK of every SUBMIT of the turn. */
void fling_producers_commit_and_ack (fling_broker_t *self);

/*  Frees the turn's pending ACKs without sending them (destroy). */
void fling_producers_discard_acks (fling_broker_t *self);

#endif
