/*  fling_dedup.h - ids of tasks that ended recently (the duplicate window).

    A producer resends a batch whose ACK it lost; if the tasks already ran
    and left the broker, the resend must still be answered DUPLICATE. This
    remembers each ended id for `window_ms`, at most `max_ids` of them
    (the oldest forgotten first): a ring of (id, time) entries, 24 bytes
    each, allocated once, plus an id map over the ring (fling_idmap, 16
    bytes a slot): about 45-65 bytes per remembered id.
*/
#ifndef FLING_DEDUP_H_INCLUDED
#define FLING_DEDUP_H_INCLUDED

#include "fling_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fling_dedup fling_dedup_t;

/*  max_ids 0 or window_ms 0 = remember nothing. NULL + ENOMEM. */
fling_dedup_t *fling_dedup_new (size_t max_ids, int64_t window_ms);
void fling_dedup_destroy (fling_dedup_t **self_p);

/*  Remembers `id` as ended at `at_ms` (monotonic). Ids already in the
    window, and times already outside it, are ignored. */
void fling_dedup_add (fling_dedup_t *self, const fling_task_id_t *id, int64_t at_ms,
                      int64_t now_ms);

/*  True if `id` ended within the window before `now_ms`. */
bool fling_dedup_contains (fling_dedup_t *self, const fling_task_id_t *id, int64_t now_ms);

/*  The same, and when it ended (monotonic ms) in *at_ms. */
bool fling_dedup_ended (fling_dedup_t *self, const fling_task_id_t *id, int64_t now_ms,
                        int64_t *at_ms);

/*  Starts loading what fling_dedup_contains or fling_dedup_add of `id`
    will probe first (fling_idmap_prefetch). */
void fling_dedup_prefetch (const fling_dedup_t *self, const fling_task_id_t *id);

/*  Forgets entries older than the window. */
void fling_dedup_expire (fling_dedup_t *self, int64_t now_ms);

size_t fling_dedup_size (const fling_dedup_t *self);

#endif
