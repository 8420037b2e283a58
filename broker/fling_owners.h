/*  fling_owners.h - which key held a task when its worker vanished (CURVE).

    A worker declared dead (silent, unreachable, revoked) may only have
    been cut off: when it comes back it claims the tasks it still runs
    (HOLDING, or a late RESULT), so they do not run twice. With CURVE only
    the key that held a task may claim it back: this remembers, per task
    id, the key of the worker that held it, for a minute (then the task has
    long run elsewhere). At most 100,000 entries: past that a claim is
    refused, which costs a second run, never a wrong owner.
*/
#ifndef FLING_OWNERS_H_INCLUDED
#define FLING_OWNERS_H_INCLUDED

#include "fling_proto.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fling_owners fling_owners_t;

fling_owners_t *fling_owners_new (void);
void fling_owners_destroy (fling_owners_t **self_p);

/*  Remembers that `owner` (a principal) held task `id` until now. */
void fling_owners_note (fling_owners_t *self, const fling_task_id_t *id, const void *owner,
                        int64_t now_ms);

/*  The owner noted for `id`, or NULL. */
const void *fling_owners_find (fling_owners_t *self, const fling_task_id_t *id);

/*  Forgets entries noted more than a minute ago. */
void fling_owners_expire (fling_owners_t *self, int64_t now_ms);

size_t fling_owners_size (const fling_owners_t *self);

#endif
