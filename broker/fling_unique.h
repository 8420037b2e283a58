/*  fling_unique.h - unique keys of tasks (proto/SPEC.md §3.6, §6.8).

    A task with a unique key holds it (fling_keys.h) from its acceptance
    until key-ttl-ms after it leaves the broker (done, or purged); a dead
    task still holds it. A second task with the key, under the same name
    and (with CURVE) the same producer key, is answered DUPLICATE and never
    stored. Durable: a live task's key comes back with its TASK record (the
    extension stays in the held record); a key in its TTL is a store note
    (FLING_STORE_NOTE_KEY) that pins its segment until the TTL ends.
*/
#ifndef FLING_UNIQUE_H_INCLUDED
#define FLING_UNIQUE_H_INCLUDED

#include "fling_state.h"

/*  Expired keys let go per turn at most (the rest go next turn; a lookup
    also drops one whose time is up). */
#define FLING_UNIQUE_EXPIRE_PER_TURN 1000

/*  The broker's key table: at most `max_tasks` keys, half of it per
    producer key. NULL + ENOMEM. */
fling_keys_t *fling_unique_table_new (fling_broker_t *self);

/*  Takes the key of `record` (which has one) for it, in `queue`. OK, or
    DUPLICATE (held by another task, or in its TTL), or QUEUE_FULL (the
    table is full), or UNAVAILABLE (out of memory). */
fling_reason_t fling_unique_take (fling_broker_t *self, const fling_record_t *record,
                                  fling_queue_t *queue);

void fling_unique_end_held (fling_broker_t *self, const fling_btask_t *task);
void fling_unique_drop_held (fling_broker_t *self, const fling_btask_t *task);

/*  `task` left the broker for good: its key (if it holds one) stays for
    its TTL, with a store note, or goes now. Inline: while no task ever
    held a key, every task's end pays one test (issue 20: unused features
    cost nothing). */
static inline void fling_unique_end (fling_broker_t *self, const fling_btask_t *task)
{
    if (self->keys_used)
        fling_unique_end_held (self, task);
}

/*  `task` is forgotten without ending (never acknowledged, or replayed
    out): its key (if it holds one) goes, no TTL. */
static inline void fling_unique_drop (fling_broker_t *self, const fling_btask_t *task)
{
    if (self->keys_used)
        fling_unique_drop_held (self, task);
}

/*  Recovery: a task read back from the store takes its key again; a key
    note brings a key in its TTL back (or is released when it ended). */
void fling_unique_recover_task (fling_broker_t *self, const fling_btask_t *task);
int fling_unique_recover_note (fling_broker_t *self, const fling_store_event_t *event);

/*  Puts again the key notes that live in store segment `segment`. */
void fling_unique_compact (fling_broker_t *self, uint32_t segment);

/*  End of turn: keys whose TTL ended go (bounded). */
void fling_unique_expire (fling_broker_t *self);

#endif
