/*  fling_wire.c - see fling_wire.h. */
#include "fling_wire.h"
#include "fling_log.h"
#include "fling_logfmt.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

int fling_wire_send (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg) {
        errno = ENOMEM;
        return -1;
    }
    /* Raw zmq_send with DONTWAIT: a ROUTER with ROUTER_MANDATORY reports an
       unknown peer (EHOSTUNREACH) or a full pipe (EAGAIN) on the routing
       frame, where it would otherwise drop silently or block the loop. */
    /* The frames themselves are handed over (zframe_send), not copied as
       zmq_send would: a DISPATCH body is up to 256 KB. Once the routing
       frame is accepted, the rest cannot fail for want of a peer or room:
       a ROUTER takes a whole message or none of it. */
    void *handle = zsock_resolve (sock);
    int rc = zmq_send (handle, peer->bytes, peer->size, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zframe_t *frame;
    while (rc >= 0 && (frame = zmsg_pop (msg))) {
        int more = zmsg_size (msg) ? ZFRAME_MORE : 0;
        rc = zframe_send (&frame, handle, more | ZFRAME_DONTWAIT);
        zframe_destroy (&frame); /* kept by some czmq versions when the send failed */
    }
    int err = errno;
    zmsg_destroy (&msg);
    if (rc >= 0)
        return 0;
    self->counters.router_unroutable++;
    /* EAGAIN: its queue is at the high-water mark, so it does not read.
       Close it: libzmq then frees what it queued for it. */
    if (err == EAGAIN)
        fling_wire_close_peer (self, peer);
    errno = err;
    return -1;
}

void fling_wire_close_peer (fling_broker_t *self, const fling_peer_t *peer)
{
    fling_conns_close (self->conns, peer->fd, peer->bytes, peer->size);
}

void fling_peer_hex (const fling_peer_t *peer, char out[FLING_PEER_HEX_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < peer->size; i++) {
        out[2 * i] = digits[peer->bytes[i] >> 4];
        out[2 * i + 1] = digits[peer->bytes[i] & 15];
    }
    out[2 * peer->size] = '\0';
}

void fling_wire_count_refusal (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                               const fling_msg_t *about, fling_reason_t reason, const char *why)
{
    int slot = reason < FLING_REASON_MAX ? (int)reason : FLING_REASON_MALFORMED;
    self->refused[slot]++;
    self->refused_quiet[slot]++;
    /* A hostile peer must not be able to flood the log: one line per
       reason per second, carrying the count of the lines it stands for. */
    if (self->now_ms - self->refused_logged_ms[slot] >= 1000 ||
        self->refused_logged_ms[slot] == 0) {
        char hex[FLING_PEER_HEX_SIZE];
        fling_peer_hex (peer, hex);
        char quoted[256];
        fling_warn (
            "refused reason=%s socket=%s peer=%s command=%s count=%" PRIu64 " why=%s",
            fling_reason_name (slot), sock == self->producer_sock ? "producer" : "worker", hex,
            about && about->cmd ? fling_cmd_name (about->cmd) : "-", self->refused_quiet[slot],
            fling_logfmt_quote (quoted, sizeof quoted, why ? why : "", why ? strlen (why) : 0));
        self->refused_quiet[slot] = 0;
        self->refused_logged_ms[slot] = self->now_ms;
    }
}

void fling_wire_refuse (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                        const fling_msg_t *about, fling_reason_t reason, const char *why)
{
    fling_wire_count_refusal (self, sock, peer, about, reason, why);
    if (reason == FLING_REASON_BAD_SIGNATURE)
        return; /* cannot trust the framing: answer nothing (SPEC.md §7.1) */
    /* In the peer's version; a version we do not speak gets version 1,
       the layout every FLP peer reads. */
    uint8_t version = about && about->version ? about->version : 1;
    uint64_t batch_seq = about && (about->cmd == FLING_CMD_SUBMIT || about->cmd == FLING_CMD_RESULT)
                             ? about->batch_seq
                             : 0;
    zmsg_t *reply =
        fling_msg_error (version, reason, about ? (uint8_t)about->cmd : 0, batch_seq, why);
    fling_wire_send (self, sock, peer, &reply);
}
