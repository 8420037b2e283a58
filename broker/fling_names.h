/*  fling_names.h - the broker's table of task names (one fling_queue_t each):
    created for a task or a worker's READY within the --max-names budget,
    with their per-name settings, forgotten when nothing uses them.
*/
#ifndef FLING_NAMES_H_INCLUDED
#define FLING_NAMES_H_INCLUDED

#include "fling_state.h"

/*  Who asks for a queue: only find it, or create it for a task (the whole
    name table) or for a worker's READY (a quarter of the table is kept for
    names that carry tasks, so a flood of READYs cannot block producers). */
typedef enum {
    FLING_QUEUE_FIND,
    FLING_QUEUE_FOR_TASK,
    FLING_QUEUE_FOR_WORKER,
    FLING_QUEUE_RECOVERED /* replaying the store: what it holds, it holds */
} fling_queue_use_t;

/*  The queue for a name, created for `use` (NULL + errno ENOSPC when the
    name table is full for that use, ENOMEM). Names with no task and no
    worker are forgotten again at the next sweep. */
fling_queue_t *fling_names_queue (fling_broker_t *self, const char *name, size_t name_size,
                                  fling_queue_use_t use);

/*  Logs a refused name at most once a minute per name, with the reason. */
void fling_names_refused (fling_broker_t *self, const char *name, size_t name_size,
                          const char *why);

/*  Forgets the names that hold no task and that no worker serves (end of
    turn, when a name may have lost its last task or worker). */
void fling_names_sweep (fling_broker_t *self);

#endif
