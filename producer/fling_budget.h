/*  fling_budget.h - the outbox's bounds as credit: the room (tasks, bytes)
    not given to any shard, and the credit each shard takes ahead of its
    appends (fling_outbox.c says why shards).

    The bounds are exact: a shard's credit counts as held, so what is
    appended never exceeds them. Credit is taken in small pieces (a
    sixteenth of what is left, at most FLING_CREDIT_TASKS and
    FLING_CREDIT_BYTES), and a caller that finds none left takes back what
    other shards hold unused (their threads may have stopped sending)
    before it is refused; the refusal also raises `recall`, for the I/O
    thread to do the same on its next take or resolve.

    A value embedded in the outbox, not an opaque object: its fields sit
    under the outbox's lock and on the outbox's cache lines. Functions say
    which lock they need; the `*_seen` mirrors let callers refuse a full
    outbox without the lock, so callers retrying on EAGAIN do not queue up
    on the lock the I/O thread needs to make room.
*/
#ifndef FLING_BUDGET_H_INCLUDED
#define FLING_BUDGET_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define FLING_CREDIT_TASKS 64
#define FLING_CREDIT_BYTES (64 * 1024)

/*  Room one shard has taken ahead and not used yet (under its shard lock). */
typedef struct {
    size_t tasks;
    size_t bytes;
} fling_credit_t;

typedef struct {
    size_t tasks; /* room not given to any shard: under the outbox lock */
    size_t bytes;
    _Atomic size_t tasks_seen, bytes_seen; /* lock-free mirrors */
    atomic_bool recall; /* a caller was refused: shards give back unused credit */
} fling_budget_t;

void fling_budget_init (fling_budget_t *self, size_t tasks, size_t bytes);

/*  Lock-free: true when even with `held` the budget cannot give room for
    one record of `record_size` bytes (then raises recall). */
bool fling_budget_looks_short (fling_budget_t *self, const fling_credit_t *held,
                               size_t record_size);

/*  Outbox lock held: takes back `credit`, then grants it room for at least
    one record of `record_size` bytes out of `shares` equal shares; false
    (credit 0, recall raised) when there is not enough. */
bool fling_budget_grant (fling_budget_t *self, fling_credit_t *credit, size_t record_size,
                         size_t shares);

/*  Outbox lock held: takes back `credit` (zeroed). */
void fling_budget_take_back (fling_budget_t *self, fling_credit_t *credit);

/*  Outbox lock held: room freed by resolved tasks. */
void fling_budget_release (fling_budget_t *self, size_t tasks, size_t bytes);

/*  True once after a refusal raised recall. */
bool fling_budget_recall_asked (fling_budget_t *self);

#endif
