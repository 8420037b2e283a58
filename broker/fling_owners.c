/*  fling_owners.c - see fling_owners.h. */
#include "fling_owners.h"
#include "fling_idmap.h"

#include <stdbool.h>
#include <stdlib.h>

#define KEEP_MS     60000
#define ENTRIES_MAX 100000

typedef struct {
    fling_task_id_t id;
    const void *owner;
    int64_t at_ms;
} entry_t;

struct fling_owners {
    fling_idmap_t *map; /* id -> entry_t (owned) */
};

static void entry_key (const void *value, fling_task_id_t *id)
{
    *id = ((const entry_t *)value)->id;
}

fling_owners_t *fling_owners_new (void)
{
    fling_owners_t *self = (fling_owners_t *)calloc (1, sizeof *self);
    if (self && !(self->map = fling_idmap_new (entry_key, NULL))) {
        free (self);
        self = NULL;
    }
    return self;
}

static void forget_all (fling_owners_t *self, int64_t older_than_ms, bool all)
{
    /* Collect first: the map must not change during a walk. */
    size_t slots = fling_idmap_slots (self->map), count = 0;
    entry_t **old = (entry_t **)malloc ((fling_idmap_size (self->map) + 1) * sizeof *old);
    if (!old)
        return;
    for (size_t i = 0; i < slots; i++) {
        entry_t *entry = (entry_t *)fling_idmap_slot_value (self->map, i);
        if (entry && (all || entry->at_ms < older_than_ms))
            old[count++] = entry;
    }
    for (size_t i = 0; i < count; i++) {
        fling_idmap_remove (self->map, &old[i]->id);
        free (old[i]);
    }
    free (old);
}

void fling_owners_destroy (fling_owners_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_owners_t *self = *self_p;
    forget_all (self, 0, true);
    fling_idmap_destroy (&self->map);
    free (self);
    *self_p = NULL;
}

void fling_owners_note (fling_owners_t *self, const fling_task_id_t *id, const void *owner,
                        int64_t now_ms)
{
    entry_t *entry = (entry_t *)fling_idmap_lookup (self->map, id);
    if (!entry) {
        if (fling_idmap_size (self->map) >= ENTRIES_MAX ||
            !(entry = (entry_t *)calloc (1, sizeof *entry)))
            return;
        entry->id = *id;
        if (fling_idmap_insert (self->map, id, entry)) {
            free (entry);
            return;
        }
    }
    entry->owner = owner;
    entry->at_ms = now_ms;
}

const void *fling_owners_find (fling_owners_t *self, const fling_task_id_t *id)
{
    const entry_t *entry = (const entry_t *)fling_idmap_lookup (self->map, id);
    return entry ? entry->owner : NULL;
}

void fling_owners_expire (fling_owners_t *self, int64_t now_ms)
{
    if (fling_idmap_size (self->map))
        forget_all (self, now_ms - KEEP_MS, false);
}

size_t fling_owners_size (const fling_owners_t *self)
{
    return fling_idmap_size (self->map);
}
