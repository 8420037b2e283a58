/*  fling_limits.c - see fling_limits.h.

    Per-key counts in a small open-addressing table (linear probing,
    backward-shift deletion, so no tombstones pile up): keys come and go
    with their tasks, and a batch's records share one key, so the last
    slot found is tried first.
*/
#include "fling_limits.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAME_LOG_MS  60000
#define NAME_LOG_MAX 4096

typedef struct {
    uint64_t tag; /* 0 = empty slot (a tag of 0 is counted under 1) */
    uint64_t tasks;
    uint64_t bytes;
} slot_t;

struct fling_limits {
    uint64_t max_tasks, max_bytes;
    slot_t *slots;
    size_t mask;  /* slots - 1 */
    size_t used;
    size_t last;  /* slot of the last key found */
    zhashx_t *logged;       /* name -> time of its last line (int64 in the pointer) */
    int64_t logged_reset_ms;
};

static uint64_t key_of (uint64_t tag)
{
    return tag ? tag : 1;
}

static size_t home (const fling_limits_t *self, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & self->mask;
}

/* The slot of `key`, or the empty slot where it would go. */
static size_t probe (fling_limits_t *self, uint64_t key)
{
    if (self->slots[self->last].tag == key)
        return self->last;
    size_t i = home (self, key);
    while (self->slots[i].tag && self->slots[i].tag != key)
        i = (i + 1) & self->mask;
    return i;
}

static int grow (fling_limits_t *self)
{
    size_t size = (self->mask + 1) * 2;
    slot_t *old = self->slots;
    size_t old_size = self->mask + 1;
    self->slots = (slot_t *)calloc (size, sizeof *self->slots);
    if (!self->slots) {
        self->slots = old;
        return -1;
    }
    self->mask = size - 1;
    self->last = 0;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].tag)
            self->slots[probe (self, old[i].tag)] = old[i];
    free (old);
    return 0;
}

fling_limits_t *fling_limits_new (uint64_t max_tasks, uint64_t max_bytes)
{
    fling_limits_t *self = (fling_limits_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_tasks = max_tasks;
    self->max_bytes = max_bytes;
    self->mask = 63;
    self->slots = (slot_t *)calloc (self->mask + 1, sizeof *self->slots);
    self->logged = zhashx_new ();
    if (!self->slots || !self->logged) {
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
    free (self->slots);
    zhashx_destroy (&self->logged);
    free (self);
    *self_p = NULL;
}

bool fling_limits_producer_room (fling_limits_t *self, uint64_t tag, size_t size)
{
    size_t i = probe (self, key_of (tag));
    const slot_t *slot = &self->slots[i];
    if (!slot->tag)
        return size <= self->max_bytes && self->max_tasks > 0;
    self->last = i;
    return slot->tasks < self->max_tasks && slot->bytes + size <= self->max_bytes;
}

int fling_limits_producer_add (fling_limits_t *self, uint64_t tag, size_t size)
{
    uint64_t key = key_of (tag);
    if ((self->used + 1) * 4 > (self->mask + 1) * 3 && grow (self))
        return -1;
    size_t i = probe (self, key);
    if (!self->slots[i].tag) {
        self->slots[i].tag = key;
        self->used++;
    }
    self->slots[i].tasks++;
    self->slots[i].bytes += size;
    self->last = i;
    return 0;
}

/* Empties slot i and pulls back the entries that probed past it, so
   every entry stays reachable from its home slot. */
static void remove_slot (fling_limits_t *self, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & self->mask;
        if (!self->slots[j].tag)
            break;
        size_t k = home (self, self->slots[j].tag);
        /* The entry at j stays if its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        self->slots[i] = self->slots[j];
        i = j;
    }
    memset (&self->slots[i], 0, sizeof self->slots[i]);
}

void fling_limits_producer_remove (fling_limits_t *self, uint64_t tag, size_t size)
{
    size_t i = probe (self, key_of (tag));
    slot_t *slot = &self->slots[i];
    if (!slot->tag)
        return;
    slot->bytes = slot->bytes > size ? slot->bytes - size : 0;
    if (--slot->tasks == 0) {
        remove_slot (self, i);
        self->used--;
        self->last = 0;
    }
}

size_t fling_limits_producers (const fling_limits_t *self)
{
    return self->used;
}

void fling_limits_producer_held (fling_limits_t *self, uint64_t tag, uint64_t *tasks,
                                 uint64_t *bytes)
{
    const slot_t *slot = &self->slots[probe (self, key_of (tag))];
    *tasks = slot->tag ? slot->tasks : 0;
    *bytes = slot->tag ? slot->bytes : 0;
}

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
