/*  fuzz_proto.h - the input format of the fuzz_proto target, shared by the
    target and the seed generator so the two cannot disagree.

    byte 0          frame count (taken modulo FUZZ_FRAMES_LIMIT, so counts
                    above FLING_FRAMES_MAX are reachable)
    then per frame  u16 big-endian length, then that many bytes; a length
                    running past the input is cut to what is left, and a
                    frame with no length bytes left is empty.
*/
#ifndef FUZZ_PROTO_H_INCLUDED
#define FUZZ_PROTO_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_FRAMES_LIMIT 20

/* Builds the message an input describes. Never fails on any input. */
static inline zmsg_t *fuzz_input_to_msg (const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg || size == 0)
        return msg;
    size_t frames = data[0] % FUZZ_FRAMES_LIMIT;
    size_t at = 1;
    for (size_t i = 0; i < frames; i++) {
        size_t len = 0;
        if (size - at >= 2) {
            len = ((size_t)data[at] << 8) | data[at + 1];
            at += 2;
        }
        if (len > size - at)
            len = size - at;
        zmsg_addmem (msg, data + at, len);
        at += len;
    }
    return msg;
}

/* Writes the input that describes `msg` into a new buffer; frames above
   65535 bytes cannot be described and make it return NULL. */
static inline uint8_t *fuzz_msg_to_input (zmsg_t *msg, size_t *size)
{
    size_t total = 1;
    for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg)) {
        if (zframe_size (f) > 0xffff)
            return NULL;
        total += 2 + zframe_size (f);
    }
    uint8_t *buf = (uint8_t *)malloc (total);
    if (!buf)
        return NULL;
    buf[0] = (uint8_t)zmsg_size (msg);
    size_t at = 1;
    for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg)) {
        buf[at] = (uint8_t)(zframe_size (f) >> 8);
        buf[at + 1] = (uint8_t)zframe_size (f);
        memcpy (buf + at + 2, zframe_data (f), zframe_size (f));
        at += 2 + zframe_size (f);
    }
    *size = total;
    return buf;
}

#endif
