/*  fling_unacked.h - the RESULTs a worker sent that the broker has not
    acknowledged yet (SPEC.md: RESULT, RESULT_ACK).

    A RESULT may be lost on its way (the broker died before its store commit
    made the outcome durable, or the connection broke and the broker never
    read it); the task then runs again. So each RESULT's body is copied here
    under its result_seq when it is sent, and stays until a RESULT_ACK with
    that sequence or a later one; after a reconnect the worker sends what
    is here again (the broker ignores what it has already applied).

    One ring of mapped memory, filled in sending order: adding is a memcpy
    of the result records (25 bytes each without error text), with no
    malloc on the loop thread. When a new RESULT does not fit, the oldest
    ones are forgotten (counted): the worst that can happen to those is the
    rerun that happened without this module. Loop thread only.
*/
#ifndef FLING_UNACKED_H_INCLUDED
#define FLING_UNACKED_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct fling_unacked fling_unacked_t;

/*  A ring of `bytes` (rounded up to pages, mapped as it is first used).
    NULL + ENOMEM. */
fling_unacked_t *fling_unacked_new (size_t bytes);
void fling_unacked_destroy (fling_unacked_t **self_p);

/*  Keeps a copy of RESULT `seq` (its `count` records, `size` bytes). `seq`
    must be above every one kept. Forgets the oldest RESULTs when there is
    no room; a body larger than the ring is not kept. Returns the results
    forgotten (or not kept) by this call. */
size_t fling_unacked_add (fling_unacked_t *self, uint64_t seq, uint32_t count, const uint8_t *body,
                          size_t size);

/*  The broker has every RESULT up to `seq`: forgets them. */
void fling_unacked_ack (fling_unacked_t *self, uint64_t seq);

/*  Calls fn for each RESULT kept, oldest first; stops early when fn
    returns non-zero and returns that value, else 0. */
typedef int (fling_unacked_fn) (uint64_t seq, uint32_t count, const uint8_t *body, size_t size,
                                void *arg);
int fling_unacked_each (fling_unacked_t *self, fling_unacked_fn *fn, void *arg);

/*  RESULTs and results kept now. */
size_t fling_unacked_messages (const fling_unacked_t *self);
size_t fling_unacked_results (const fling_unacked_t *self);

#endif
