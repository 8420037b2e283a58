/*  fling_idmap.c - see fling_idmap.h. */
#include "fling_idmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define INITIAL_SLOTS 1024 /* power of two */

typedef struct {
    uint64_t hash;
    void *value; /* NULL = empty */
} slot_t;

/* The outcome of the last probe: the slot holding `id`, or the empty slot
   where it would go. The broker looks an id up and then inserts it (a
   SUBMIT) or removes it (a RESULT); at millions of tasks each probe is a
   cache miss, so the second call reuses the slot instead of probing again.
   Valid while `version` is unchanged: every insert, remove and growth
   moves slots and bumps it. */
typedef struct {
    fling_task_id_t id;
    uint64_t hash;
    size_t slot;
    uint64_t version;
} last_probe_t;

struct fling_idmap {
    slot_t *slots;
    size_t mask; /* slot count - 1 */
    size_t size;
    uint64_t seed;
    uint64_t version; /* bumped on every change of the slots */
    last_probe_t last;
    fling_idmap_key_fn *key_of;
    fling_idmap_hash_fn *hash;
};

/* MurmurHash3's 64-bit finaliser: every input bit moves every output bit. */
static uint64_t fmix64 (uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* The producer half repeats for millions of ids and the sequence half
   counts up; mixing the seeded producer half before adding the sequence
   keeps ids that differ in either half apart, and without the seed a peer
   cannot predict which slot an id lands in. */
static uint64_t default_hash (const fling_task_id_t *id, uint64_t seed)
{
    uint64_t producer, seq;
    memcpy (&producer, id->bytes, 8);
    memcpy (&seq, id->bytes + 8, 8);
    return fmix64 (fmix64 (producer ^ seed) + seq * 0x9e3779b97f4a7c15ull);
}

static uint64_t random_seed (void)
{
    uint64_t seed;
    if (getrandom (&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    struct timespec now; /* no entropy yet at early boot: still varies */
    clock_gettime (CLOCK_MONOTONIC, &now);
    return fmix64 ((uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32) ^ (uintptr_t)&now);
}

fling_idmap_t *fling_idmap_new (fling_idmap_key_fn *key_of, fling_idmap_hash_fn *hash)
{
    if (!key_of) {
        errno = EINVAL;
        return NULL;
    }
    fling_idmap_t *self = (fling_idmap_t *)calloc (1, sizeof *self);
    if (self)
        self->slots = (slot_t *)calloc (INITIAL_SLOTS, sizeof (slot_t));
    if (!self || !self->slots) {
        free (self);
        errno = ENOMEM;
        return NULL;
    }
    self->mask = INITIAL_SLOTS - 1;
    self->seed = random_seed ();
    self->version = 1; /* the zeroed `last` never matches */
    self->key_of = key_of;
    self->hash = hash ? hash : default_hash;
    return self;
}

void fling_idmap_destroy (fling_idmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->slots);
    free (*self_p);
    *self_p = NULL;
}

static bool slot_holds (const fling_idmap_t *self, const slot_t *slot, uint64_t hash,
                        const fling_task_id_t *id)
{
    if (slot->hash != hash)
        return false;
    fling_task_id_t key;
    self->key_of (slot->value, &key);
    return memcmp (key.bytes, id->bytes, FLING_TASK_ID_SIZE) == 0;
}

/* Slot holding `id`, or the empty slot that ends its probe run. */
static size_t probe (const fling_idmap_t *self, const fling_task_id_t *id, uint64_t hash)
{
    size_t i = (size_t)hash & self->mask;
    while (self->slots[i].value && !slot_holds (self, &self->slots[i], hash, id))
        i = (i + 1) & self->mask;
    return i;
}

void fling_idmap_prefetch (const fling_idmap_t *self, const fling_task_id_t *id)
{
    __builtin_prefetch (&self->slots[(size_t)self->hash (id, self->seed) & self->mask]);
}

/* Slot holding `id`, or the empty slot that ends its probe run; reuses
   the last probe when it was for the same id and nothing changed since. */
static size_t find (fling_idmap_t *self, const fling_task_id_t *id, uint64_t *hash_out)
{
    last_probe_t *last = &self->last;
    if (last->version == self->version &&
        memcmp (last->id.bytes, id->bytes, FLING_TASK_ID_SIZE) == 0) {
        *hash_out = last->hash;
        return last->slot;
    }
    uint64_t hash = self->hash (id, self->seed);
    size_t i = probe (self, id, hash);
    *last = (last_probe_t){.id = *id, .hash = hash, .slot = i, .version = self->version};
    *hash_out = hash;
    return i;
}

/* The first empty slot of a hash's probe run: where an id known to be
   absent goes, found without comparing keys. */
static size_t empty_slot (const fling_idmap_t *self, uint64_t hash)
{
    size_t i = (size_t)hash & self->mask;
    while (self->slots[i].value)
        i = (i + 1) & self->mask;
    return i;
}

static int grow (fling_idmap_t *self)
{
    size_t old_count = self->mask + 1;
    size_t new_count = old_count * 2;
    if (new_count < old_count || new_count > SIZE_MAX / sizeof (slot_t)) {
        errno = ENOMEM;
        return -1;
    }
    slot_t *slots = (slot_t *)calloc (new_count, sizeof (slot_t));
    if (!slots) {
        errno = ENOMEM;
        return -1;
    }
    slot_t *old = self->slots;
    self->slots = slots;
    self->mask = new_count - 1;
    self->version++;
    /* Keys are all distinct: place by hash alone, no key comparisons. */
    for (size_t i = 0; i < old_count; i++)
        if (old[i].value)
            self->slots[empty_slot (self, old[i].hash)] = old[i];
    free (old);
    return 0;
}

int fling_idmap_insert (fling_idmap_t *self, const fling_task_id_t *id, void *value)
{
    if (!value) {
        errno = EINVAL;
        return -1;
    }
    uint64_t hash;
    size_t i = find (self, id, &hash);
    if (self->slots[i].value) {
        errno = EEXIST;
        return -1;
    }
    /* Keep the load under 3/4 so probe runs stay short. */
    if ((self->size + 1) * 4 > (self->mask + 1) * 3) {
        if (grow (self))
            return -1;
        i = empty_slot (self, hash);
    }
    self->slots[i].hash = hash;
    self->slots[i].value = value;
    self->size++;
    self->version++;
    /* A remove right after (a refused task) finds it without a probe. */
    self->last = (last_probe_t){.id = *id, .hash = hash, .slot = i, .version = self->version};
    return 0;
}

void *fling_idmap_lookup (fling_idmap_t *self, const fling_task_id_t *id)
{
    uint64_t hash;
    return self->slots[find (self, id, &hash)].value;
}

void *fling_idmap_remove (fling_idmap_t *self, const fling_task_id_t *id)
{
    uint64_t hash;
    size_t hole = find (self, id, &hash);
    void *value = self->slots[hole].value;
    if (!value)
        return NULL;
    self->version++;
    /* Backward shift: pull later entries of the run into the hole when the
       hole lies between their home and where they sit, so every entry stays
       reachable from its home without tombstones. */
    size_t j = hole;
    for (;;) {
        j = (j + 1) & self->mask;
        if (!self->slots[j].value)
            break;
        size_t home = (size_t)self->slots[j].hash & self->mask;
        if (((j - home) & self->mask) >= ((j - hole) & self->mask)) {
            self->slots[hole] = self->slots[j];
            hole = j;
        }
    }
    self->slots[hole].value = NULL;
    self->size--;
    return value;
}

void *fling_idmap_slot_value (const fling_idmap_t *self, size_t slot)
{
    return slot <= self->mask ? self->slots[slot].value : NULL;
}

size_t fling_idmap_size (const fling_idmap_t *self)
{
    return self->size;
}

size_t fling_idmap_slots (const fling_idmap_t *self)
{
    return self->mask + 1;
}
