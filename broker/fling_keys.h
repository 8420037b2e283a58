/*  fling_keys.h - the unique keys the broker holds (proto/SPEC.md §6.8).

    A key is (scope, task name, key text); the scope is the producer key's
    tag with CURVE, else 0, so two producer keys never block each other.
    An entry is held by a live task (its id), or, once that task ended,
    until a wall-clock time (its TTL). Bounded: at most `max` entries, and
    at most `max_per_scope` of one non-zero scope (a key that fills the
    table with long TTLs cannot lock the others out). Entries in their TTL
    sit in a min-heap by expiry, so expiring is oldest first and bounded
    per call; a lookup also drops an entry whose time is up.

    No broker state here: fling_unique.c ties it to tasks and the store.
*/
#ifndef FLING_KEYS_H_INCLUDED
#define FLING_KEYS_H_INCLUDED

#include "fling_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fling_keys fling_keys_t;
typedef struct fling_key fling_key_t;

typedef struct {
    uint64_t scope;
    const char *name; /* name_size bytes, a valid task name */
    size_t name_size;
    const char *key; /* key_size bytes, 1..FLING_UNIQUE_KEY_MAX */
    size_t key_size;
} fling_key_ref_t;

/*  Called for each entry the table lets go (removed or expired), with the
    `owner` and `segment` it carries. */
typedef void (fling_keys_gone_fn) (void *arg, void *owner, uint32_t segment);

/*  NULL + ENOMEM. `max_per_scope` 0 = no limit per scope. */
fling_keys_t *fling_keys_new (size_t max, size_t max_per_scope, fling_keys_gone_fn *gone,
                              void *arg);
/*  Frees every entry without calling `gone`. */
void fling_keys_destroy (fling_keys_t **self_p);
size_t fling_keys_size (const fling_keys_t *self);

/*  The entry of `ref`, or NULL. An entry whose TTL ended by `now_ms` is
    removed here and NULL returned (now_ms 0: nothing expires). */
fling_key_t *fling_keys_find (fling_keys_t *self, const fling_key_ref_t *ref, int64_t now_ms);

/*  A new entry of `ref` held by task `id` (no TTL yet), carrying `owner`.
    `bounded`: refuse past the limits (false when recovering what the store
    holds). NULL + errno: EEXIST (`ref` has one), ENOSPC (a limit), EINVAL
    (a bad ref), ENOMEM. */
fling_key_t *fling_keys_add (fling_keys_t *self, const fling_key_ref_t *ref,
                             const fling_task_id_t *id, void *owner, bool bounded);

/*  The entry is held until `expires_ms` (wall clock, > 0) with its store
    note at `segment` (0 = none). Again on an entry in its TTL: moved. */
void fling_keys_hold_until (fling_keys_t *self, fling_key_t *key, int64_t expires_ms,
                            uint32_t segment);

/*  Lets go of one entry (calls `gone`). */
void fling_keys_remove (fling_keys_t *self, fling_key_t *key);

/*  Lets go of at most `max` entries whose TTL ended by `now_ms`, oldest
    first. Returns how many. */
size_t fling_keys_expire (fling_keys_t *self, int64_t now_ms, size_t max);

/*  Walks every entry (in no order); the table must not change meanwhile. */
fling_key_t *fling_keys_first (fling_keys_t *self);
fling_key_t *fling_keys_next (fling_keys_t *self);

const fling_task_id_t *fling_key_holder (const fling_key_t *key);
int64_t fling_key_expires (const fling_key_t *key); /* 0 = held by a live task */
uint32_t fling_key_segment (const fling_key_t *key);
void fling_key_set_segment (fling_key_t *key, uint32_t segment);
void *fling_key_owner (const fling_key_t *key);
void fling_key_ref (const fling_key_t *key, fling_key_ref_t *ref);

#endif
