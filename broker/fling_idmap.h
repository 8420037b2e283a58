/*  fling_idmap.h - task id -> pointer, for the tasks the broker holds.

    Open addressing with linear probing and backward-shift deletion (no
    tombstones, so a long-running broker never degrades), in one array that
    doubles when it is 3/4 full: no allocation per entry.

    A slot is 16 bytes: the value and the id's 64-bit hash. The id itself is
    not copied into the table: each value carries its own id, read back by
    `key_of` when a hash matches. That saves 16 bytes a slot (~20-40 bytes a
    task at the table's load), which matters at millions of tasks.
    Values are non-NULL pointers; NULL marks an empty slot.
*/
#ifndef FLING_IDMAP_H_INCLUDED
#define FLING_IDMAP_H_INCLUDED

#include "fling_proto.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_idmap fling_idmap_t;

/*  Writes the id of `value` (a value given to fling_idmap_insert) to `id`. */
typedef void (fling_idmap_key_fn) (const void *value, fling_task_id_t *id);

/*  Hash of an id. The default mixes both halves with a per-map random seed,
    since peers choose ids and must not be able to aim them all at one slot.
    Tests pass a poor one to force collisions. */
typedef uint64_t (fling_idmap_hash_fn) (const fling_task_id_t *id, uint64_t seed);

/*  Creates an empty map. `key_of` is required; `hash` may be NULL for the
    default. NULL + errno (EINVAL, ENOMEM). */
fling_idmap_t *fling_idmap_new (fling_idmap_key_fn *key_of, fling_idmap_hash_fn *hash);
void fling_idmap_destroy (fling_idmap_t **self_p);

/*  Adds id -> value, where key_of(value) gives `id`. Returns 0, or -1 with
    errno EEXIST (id present; the map is unchanged), EINVAL (value NULL) or
    ENOMEM (could not grow). */
int fling_idmap_insert (fling_idmap_t *self, const fling_task_id_t *id, void *value);

/*  The value for `id`, or NULL. The map remembers where the probe ended,
    so an insert (after a miss) or a remove (after a hit) of the same id
    with no change of the map in between costs no second probe. */
void *fling_idmap_lookup (fling_idmap_t *self, const fling_task_id_t *id);

/*  Starts loading `id`'s home slot into the cache and returns at once; the
    map does not change. At millions of entries every probe is a cache
    miss: a loop over a batch (a SUBMIT's records, a RESULT's results)
    prefetches the ids a few items ahead, so that their misses overlap
    the work on the current one instead of following it. */
void fling_idmap_prefetch (const fling_idmap_t *self, const fling_task_id_t *id);

/*  Removes `id`; returns its value, or NULL if it was absent. */
void *fling_idmap_remove (fling_idmap_t *self, const fling_task_id_t *id);

/*  The value in slot `slot` (0 .. fling_idmap_slots()-1), or NULL for an
    empty slot: a walk over every entry. The map must not change during
    the walk. */
void *fling_idmap_slot_value (const fling_idmap_t *self, size_t slot);

/*  Entries held, and slots allocated (for memory accounting). */
size_t fling_idmap_size (const fling_idmap_t *self);
size_t fling_idmap_slots (const fling_idmap_t *self);

#ifdef __cplusplus
}
#endif

#endif
