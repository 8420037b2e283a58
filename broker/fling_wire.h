/*  fling_wire.h - sending to a peer on a ROUTER, and refusing its messages.

    Below every handler: the loop, intake, workers, dispatch and delivery
    send through it; it calls nothing of theirs. A send that fails returns
    -1 and the caller decides what that means for the peer.
*/
#ifndef FLING_WIRE_H_INCLUDED
#define FLING_WIRE_H_INCLUDED

#include "fling_state.h"

/*  Sends `*msg` (taken, even on failure) to `peer` on a ROUTER without
    blocking. -1 + errno EHOSTUNREACH (peer gone) or EAGAIN (peer not
    reading: at its HWM); counted in router_unroutable. */
int fling_wire_send (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer, zmsg_t **msg);

/*  Closes the connection of `peer` (a lost worker, a peer that does not
    read), so libzmq frees what it queued for it. */
void fling_wire_close_peer (fling_broker_t *self, const fling_peer_t *peer);

/*  Counts a refusal of the message `about` (decoded as far as it could
    be; NULL: not known), logs it (rate-limited) and answers ERROR(reason)
    in the message's version, naming its command and batch, except for a
    bad signature (an empty message too), which is dropped. */
void fling_wire_refuse (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                        const fling_msg_t *about, fling_reason_t reason, const char *why);

/*  The counting and logging half of fling_wire_refuse, for a refusal
    answered otherwise (a SUBMIT refused whole gets an ACK). */
void fling_wire_count_refusal (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                               const fling_msg_t *about, fling_reason_t reason, const char *why);

/*  The routing id in hex: the worker table's key, and for logs. */
void fling_peer_hex (const fling_peer_t *peer, char out[FLING_PEER_HEX_SIZE]);

#endif
