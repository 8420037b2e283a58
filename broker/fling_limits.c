/*  fling_limits.c - see fling_limits.h.

    Two small open-addressing tables (linear probing, backward-shift
    deletion, so no tombstones pile up), keyed by two 64-bit words: per
    producer tag (tasks, bytes, names), and per (tag, queue) pair (tasks),
    which tells when a key's first task enters a name and its last leaves.
    Entries come and go with their tasks; a batch's records mostly share a
    key and a name, so the last slot found is tried first.
*/
#include "fling_limits.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAME_LOG_MS  60000
#define NAME_LOG_MAX 4096

typedef struct {
    uint64_t k1, k2; /* k1 0 = empty slot (a tag of 0 is counted under 1) */
    uint64_t tasks;
    uint64_t bytes;
    uint64_t names;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t mask; /* slots - 1 */
    size_t used;
    size_t last; /* slot of the last key found */
} table_t;

struct fling_limits {
    uint64_t max_tasks, max_bytes, max_names;
    table_t keys;     /* tag -> tasks, bytes, names */
    table_t pairs;    /* (tag, queue) -> tasks */
    zhashx_t *logged; /* name -> time of its last line, + 1 (int64 in the pointer) */
    int64_t logged_reset_ms;
};

/* ---- the table ----------------------------------------------------------- */

static uint64_t key_of (uint64_t tag)
{
    return tag ? tag : 1;
}

static size_t home (const table_t *t, uint64_t k1, uint64_t k2)
{
    return (size_t)(((k1 ^ (k2 * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull) >> 20) & t->mask;
}

static int table_init (table_t *t)
{
    t->mask = 63;
    t->slots = (slot_t *)calloc (t->mask + 1, sizeof *t->slots);
    return t->slots ? 0 : -1;
}

/* The slot of (k1, k2), or the empty slot where it would go. */
static size_t probe (table_t *t, uint64_t k1, uint64_t k2)
{
    if (t->slots[t->last].k1 == k1 && t->slots[t->last].k2 == k2)
        return t->last;
    size_t i = home (t, k1, k2);
    while (t->slots[i].k1 && (t->slots[i].k1 != k1 || t->slots[i].k2 != k2))
        i = (i + 1) & t->mask;
    return i;
}

static int grow (table_t *t)
{
    size_t size = (t->mask + 1) * 2, old_size = t->mask + 1;
    slot_t *old = t->slots;
    if (!(t->slots = (slot_t *)calloc (size, sizeof *t->slots))) {
        t->slots = old;
        return -1;
    }
    t->mask = size - 1;
    t->last = 0;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].k1)
            t->slots[probe (t, old[i].k1, old[i].k2)] = old[i];
    free (old);
    return 0;
}

/* The slot of (k1, k2), made (zeroed) if absent; NULL when out of memory. */
static slot_t *upsert (table_t *t, uint64_t k1, uint64_t k2, bool *made)
{
    *made = false;
    if ((t->used + 1) * 4 > (t->mask + 1) * 3 && grow (t))
        return NULL;
    size_t i = probe (t, k1, k2);
    if (!t->slots[i].k1) {
        t->slots[i].k1 = k1;
        t->slots[i].k2 = k2;
        t->used++;
        *made = true;
    }
    t->last = i;
    return &t->slots[i];
}

/* Empties slot i and pulls back the entries that probed past it, so
   every entry stays reachable from its home slot. */
static void remove_slot (table_t *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->slots[j].k1)
            break;
        size_t k = home (t, t->slots[j].k1, t->slots[j].k2);
        /* The entry at j stays if its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        t->slots[i] = t->slots[j];
        i = j;
    }
    memset (&t->slots[i], 0, sizeof t->slots[i]);
    t->used--;
    t->last = 0;
}

/* ---- per producer key -------------------------------------------------------- */

fling_limits_t *fling_limits_new (uint64_t max_tasks, uint64_t max_bytes, uint64_t max_names)
{
    fling_limits_t *self = (fling_limits_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_tasks = max_tasks;
    self->max_bytes = max_bytes;
    self->max_names = max_names;
    self->logged = zhashx_new ();
    if (table_init (&self->keys) || table_init (&self->pairs) || !self->logged) {
        fling_limits_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    return self;
}

void fling_limits_destroy (fling_limits_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_limits_t *self = *self_p;
    free (self->keys.slots);
    free (self->pairs.slots);
    zhashx_destroy (&self->logged);
    free (self);
    *self_p = NULL;
}

const char *fling_limits_producer_room (fling_limits_t *self, uint64_t tag, const void *queue,
                                        size_t size)
{
    uint64_t key = key_of (tag);
    size_t i = probe (&self->keys, key, 0);
    const slot_t *slot = &self->keys.slots[i];
    if (!slot->k1)
        return size <= self->max_bytes && self->max_tasks && self->max_names
                   ? NULL
                   : "the task alone is above this key's share";
    self->keys.last = i;
    if (slot->tasks >= self->max_tasks)
        return "this key holds --max-producer-tasks tasks";
    if (slot->bytes + size > self->max_bytes)
        return "this key holds --max-producer-bytes bytes";
    if (slot->names >= self->max_names &&
        !self->pairs.slots[probe (&self->pairs, key, (uintptr_t)queue)].k1)
        return "this key holds tasks under --max-producer-names names";
    return NULL;
}

int fling_limits_producer_add (fling_limits_t *self, uint64_t tag, const void *queue, size_t size)
{
    uint64_t key = key_of (tag);
    bool made_key, made_pair;
    slot_t *slot = upsert (&self->keys, key, 0, &made_key);
    if (!slot)
        return -1;
    slot_t *pair = upsert (&self->pairs, key, (uintptr_t)queue, &made_pair);
    if (!pair) {
        if (made_key)
            remove_slot (&self->keys, probe (&self->keys, key, 0));
        return -1;
    }
    pair->tasks++;
    slot = &self->keys.slots[probe (&self->keys, key, 0)]; /* the pairs' upsert did not move it */
    slot->tasks++;
    slot->bytes += size;
    slot->names += made_pair;
    return 0;
}

void fling_limits_producer_remove (fling_limits_t *self, uint64_t tag, const void *queue,
                                   size_t size)
{
    uint64_t key = key_of (tag);
    size_t p = probe (&self->pairs, key, (uintptr_t)queue);
    bool last_in_name = false;
    if (self->pairs.slots[p].k1 && --self->pairs.slots[p].tasks == 0) {
        remove_slot (&self->pairs, p);
        last_in_name = true;
    }
    size_t i = probe (&self->keys, key, 0);
    slot_t *slot = &self->keys.slots[i];
    if (!slot->k1)
        return;
    slot->bytes = slot->bytes > size ? slot->bytes - size : 0;
    if (last_in_name && slot->names)
        slot->names--;
    if (--slot->tasks == 0)
        remove_slot (&self->keys, i);
}

size_t fling_limits_producers (const fling_limits_t *self)
{
    return self->keys.used;
}

void fling_limits_producer_held (fling_limits_t *self, uint64_t tag, uint64_t *tasks,
                                 uint64_t *bytes, uint64_t *names)
{
    const slot_t *slot = &self->keys.slots[probe (&self->keys, key_of (tag), 0)];
    *tasks = slot->k1 ? slot->tasks : 0;
    *bytes = slot->k1 ? slot->bytes : 0;
    *names = slot->k1 ? slot->names : 0;
}

/* ---- the name log -------------------------------------------------------------- */

bool fling_limits_log_name (fling_limits_t *self, const char *name, int64_t now_ms)
{
    void *seen = zhashx_lookup (self->logged, name);
    if (seen && now_ms - ((int64_t)(intptr_t)seen - 1) < NAME_LOG_MS)
        return false;
    if (!seen && zhashx_size (self->logged) >= NAME_LOG_MAX) {
        /* Full: forget the names not logged for a minute, once a second. */
        if (now_ms - self->logged_reset_ms < 1000)
            return false;
        self->logged_reset_ms = now_ms;
        zlist_t *old = zlist_new ();
        for (void *t = zhashx_first (self->logged); t && old; t = zhashx_next (self->logged))
            if (now_ms - ((int64_t)(intptr_t)t - 1) >= NAME_LOG_MS)
                zlist_append (old, (void *)zhashx_cursor (self->logged));
        for (const char *key = old ? (const char *)zlist_first (old) : NULL; key;
             key = (const char *)zlist_next (old))
            zhashx_delete (self->logged, key);
        zlist_destroy (&old);
        if (zhashx_size (self->logged) >= NAME_LOG_MAX)
            return false;
    }
    zhashx_update (self->logged, name, (void *)(intptr_t)(now_ms + 1));
    return true;
}
