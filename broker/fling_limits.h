/*  fling_limits.h - shares no single peer may exceed.

    Tasks, bytes and names per producer key: with CURVE every task id
    starts with its producer key's tag (fling_curve_tag), so the broker
    counts what it holds per tag, recovered tasks included, and refuses a
    key's task (QUEUE_FULL) once that key holds its share; the other keys
    keep theirs. Names count too: a key that spread one task over each of
    thousands of made-up names would otherwise fill the name table for
    every producer, across restarts.

    Refused task names are logged at most once per name per minute, each
    line with its real reason, so a flood of made-up names costs a few
    lines, not one per message.
*/
#ifndef FLING_LIMITS_H_INCLUDED
#define FLING_LIMITS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fling_limits fling_limits_t;

/*  What one producer key may hold: tasks, bytes, and names it holds
    tasks under. NULL + ENOMEM. */
fling_limits_t *fling_limits_new (uint64_t max_tasks, uint64_t max_bytes, uint64_t max_names);
void fling_limits_destroy (fling_limits_t **self_p);

/*  May producer `tag` hold one more task of `size` bytes under the name
    of `queue` (any pointer that names it)? NULL if so, else the reason. */
const char *fling_limits_producer_room (fling_limits_t *self, uint64_t tag, const void *queue,
                                        size_t size);

/*  Counts a task of `tag` under `queue` in (held) or out (gone). -1 +
    ENOMEM on add: the caller refuses the task. */
int fling_limits_producer_add (fling_limits_t *self, uint64_t tag, const void *queue, size_t size);
void fling_limits_producer_remove (fling_limits_t *self, uint64_t tag, const void *queue,
                                   size_t size);

/*  Producer keys holding tasks now. */
size_t fling_limits_producers (const fling_limits_t *self);

/*  What `tag` holds (zeros when nothing). */
void fling_limits_producer_held (fling_limits_t *self, uint64_t tag, uint64_t *tasks,
                                 uint64_t *bytes, uint64_t *names);

/*  True if a refusal of `name` may be logged now: at most once per name
    per minute. While 4,096 names were logged within the last minute, new
    ones are not (the caller counts every refusal anyway). */
bool fling_limits_log_name (fling_limits_t *self, const char *name, int64_t now_ms);

#endif
