/*  fling_keys.c - see fling_keys.h.

    One allocation per entry: the struct, then its table key
    "<scope in 16 hex digits>\x1f<name>\x1f<key>" (neither a name nor a key
    holds \x1f, so two refs never share one), which zhashx uses in place.
*/
#include "fling_keys.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX    (16 + 1 + FLING_NAME_MAX + 1 + FLING_UNIQUE_KEY_MAX + 1)
#define NOT_IN_HEAP SIZE_MAX

struct fling_key {
    fling_task_id_t id;
    void *owner;
    int64_t expires_ms; /* 0 = held by a live task */
    size_t heap_index;  /* in `expiring`, or NOT_IN_HEAP */
    uint64_t scope;
    uint32_t segment;
    uint8_t name_size;
    uint8_t key_size;
    char text[]; /* the table key */
};

struct fling_keys {
    zhashx_t *table;  /* text -> fling_key_t (owned) */
    zhashx_t *scopes; /* scope hex -> size_t* entries of it (non-zero scopes only) */
    fling_key_t **expiring;
    size_t expiring_count;
    size_t expiring_alloc;
    size_t max;
    size_t max_per_scope;
    fling_keys_gone_fn *gone;
    void *arg;
};

static size_t text_of (const fling_key_ref_t *ref, char *text)
{
    int n = snprintf (text, 18, "%016" PRIx64 "\x1f", ref->scope);
    memcpy (text + n, ref->name, ref->name_size);
    n += (int)ref->name_size;
    text[n++] = '\x1f';
    memcpy (text + n, ref->key, ref->key_size);
    n += (int)ref->key_size;
    text[n] = '\0';
    return (size_t)n;
}

static bool ref_valid (const fling_key_ref_t *ref)
{
    return ref->name_size && ref->name_size <= FLING_NAME_MAX && ref->key_size &&
           ref->key_size <= FLING_UNIQUE_KEY_MAX && !memchr (ref->name, '\x1f', ref->name_size) &&
           !memchr (ref->key, '\x1f', ref->key_size) && !memchr (ref->name, 0, ref->name_size) &&
           !memchr (ref->key, 0, ref->key_size);
}

fling_keys_t *fling_keys_new (size_t max, size_t max_per_scope, fling_keys_gone_fn *gone, void *arg)
{
    fling_keys_t *self = (fling_keys_t *)calloc (1, sizeof *self);
    if (!self || !(self->table = zhashx_new ()) || !(self->scopes = zhashx_new ())) {
        fling_keys_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    zhashx_set_key_duplicator (self->table, NULL); /* the entry's own text */
    zhashx_set_key_destructor (self->table, NULL);
    zhashx_set_destructor (self->scopes, (zhashx_destructor_fn *)zstr_free);
    self->max = max;
    self->max_per_scope = max_per_scope;
    self->gone = gone;
    self->arg = arg;
    return self;
}

void fling_keys_destroy (fling_keys_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_keys_t *self = *self_p;
    if (self->table) {
        for (void *entry = zhashx_first (self->table); entry; entry = zhashx_next (self->table))
            free (entry);
        zhashx_destroy (&self->table);
    }
    zhashx_destroy (&self->scopes);
    free (self->expiring);
    free (self);
    *self_p = NULL;
}

size_t fling_keys_size (const fling_keys_t *self)
{
    return zhashx_size (self->table);
}

/* ---- entries per scope ---------------------------------------------------- */

static size_t *scope_count (fling_keys_t *self, uint64_t scope, bool create)
{
    char hex[17];
    snprintf (hex, sizeof hex, "%016" PRIx64, scope);
    size_t *count = (size_t *)zhashx_lookup (self->scopes, hex);
    if (count || !create)
        return count;
    count = (size_t *)calloc (1, sizeof *count);
    if (count && zhashx_insert (self->scopes, hex, count)) {
        free (count);
        count = NULL;
    }
    return count;
}

static void scope_less (fling_keys_t *self, uint64_t scope)
{
    size_t *count = scope ? scope_count (self, scope, false) : NULL;
    if (count && --*count == 0) {
        char hex[17];
        snprintf (hex, sizeof hex, "%016" PRIx64, scope);
        zhashx_delete (self->scopes, hex);
    }
}

/* ---- the expiry heap ------------------------------------------------------ */

static void heap_set (fling_keys_t *self, size_t i, fling_key_t *key)
{
    self->expiring[i] = key;
    key->heap_index = i;
}

static void heap_up (fling_keys_t *self, size_t i)
{
    fling_key_t *key = self->expiring[i];
    while (i > 0 && key->expires_ms < self->expiring[(i - 1) / 2]->expires_ms) {
        heap_set (self, i, self->expiring[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set (self, i, key);
}

static void heap_down (fling_keys_t *self, size_t i)
{
    fling_key_t *key = self->expiring[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = l;
        if (l >= self->expiring_count)
            break;
        if (r < self->expiring_count &&
            self->expiring[r]->expires_ms < self->expiring[l]->expires_ms)
            m = r;
        if (self->expiring[m]->expires_ms >= key->expires_ms)
            break;
        heap_set (self, i, self->expiring[m]);
        i = m;
    }
    heap_set (self, i, key);
}

static void heap_remove (fling_keys_t *self, fling_key_t *key)
{
    size_t i = key->heap_index;
    if (i == NOT_IN_HEAP)
        return;
    key->heap_index = NOT_IN_HEAP;
    fling_key_t *last = self->expiring[--self->expiring_count];
    if (last == key)
        return;
    heap_set (self, i, last);
    heap_up (self, i);
    heap_down (self, last->heap_index);
}

/* The heap grows before an entry is added, so putting an entry in its
   TTL never fails: its slot is there. */
static int heap_room (fling_keys_t *self)
{
    size_t need = zhashx_size (self->table) + 1;
    if (need <= self->expiring_alloc)
        return 0;
    size_t alloc = self->expiring_alloc ? self->expiring_alloc * 2 : 64;
    fling_key_t **grown = (fling_key_t **)realloc (self->expiring, alloc * sizeof *grown);
    if (!grown)
        return -1;
    self->expiring = grown;
    self->expiring_alloc = alloc;
    return 0;
}

/* ---- entries -------------------------------------------------------------- */

fling_key_t *fling_keys_find (fling_keys_t *self, const fling_key_ref_t *ref, int64_t now_ms)
{
    char text[TEXT_MAX];
    if (!ref_valid (ref))
        return NULL;
    text_of (ref, text);
    fling_key_t *key = (fling_key_t *)zhashx_lookup (self->table, text);
    if (key && now_ms && key->expires_ms && key->expires_ms <= now_ms) {
        fling_keys_remove (self, key);
        return NULL;
    }
    return key;
}

fling_key_t *fling_keys_add (fling_keys_t *self, const fling_key_ref_t *ref,
                             const fling_task_id_t *id, void *owner, bool bounded)
{
    char text[TEXT_MAX];
    if (!ref_valid (ref)) {
        errno = EINVAL;
        return NULL;
    }
    size_t size = text_of (ref, text);
    if (zhashx_lookup (self->table, text)) {
        errno = EEXIST;
        return NULL;
    }
    size_t *count = ref->scope ? scope_count (self, ref->scope, false) : NULL;
    if (bounded && (zhashx_size (self->table) >= self->max ||
                    (count && self->max_per_scope && *count >= self->max_per_scope))) {
        errno = ENOSPC;
        return NULL;
    }
    if (ref->scope && !count && !(count = scope_count (self, ref->scope, true))) {
        errno = ENOMEM;
        return NULL;
    }
    if (count)
        ++*count; /* taken back by scope_less on a failure below */
    fling_key_t *key = (fling_key_t *)calloc (1, sizeof *key + size + 1);
    if (!key || heap_room (self)) {
        free (key);
        scope_less (self, ref->scope);
        errno = ENOMEM;
        return NULL;
    }
    key->id = *id;
    key->owner = owner;
    key->heap_index = NOT_IN_HEAP;
    key->scope = ref->scope;
    key->name_size = (uint8_t)ref->name_size;
    key->key_size = (uint8_t)ref->key_size;
    memcpy (key->text, text, size + 1);
    if (zhashx_insert (self->table, key->text, key)) {
        free (key);
        scope_less (self, ref->scope);
        errno = ENOMEM;
        return NULL;
    }
    return key;
}

void fling_keys_hold_until (fling_keys_t *self, fling_key_t *key, int64_t expires_ms,
                            uint32_t segment)
{
    heap_remove (self, key);
    key->expires_ms = expires_ms > 0 ? expires_ms : 1;
    key->segment = segment;
    key->heap_index = self->expiring_count++; /* room made by fling_keys_add */
    self->expiring[key->heap_index] = key;
    heap_up (self, key->heap_index);
}

void fling_keys_remove (fling_keys_t *self, fling_key_t *key)
{
    heap_remove (self, key);
    void *owner = key->owner;
    uint32_t segment = key->segment;
    scope_less (self, key->scope);
    zhashx_delete (self->table, key->text);
    free (key);
    if (self->gone)
        self->gone (self->arg, owner, segment);
}

size_t fling_keys_expire (fling_keys_t *self, int64_t now_ms, size_t max)
{
    size_t removed = 0;
    while (removed < max && self->expiring_count && self->expiring[0]->expires_ms <= now_ms) {
        fling_keys_remove (self, self->expiring[0]);
        removed++;
    }
    return removed;
}

fling_key_t *fling_keys_first (fling_keys_t *self)
{
    return (fling_key_t *)zhashx_first (self->table);
}

fling_key_t *fling_keys_next (fling_keys_t *self)
{
    return (fling_key_t *)zhashx_next (self->table);
}

const fling_task_id_t *fling_key_holder (const fling_key_t *key)
{
    return &key->id;
}

int64_t fling_key_expires (const fling_key_t *key)
{
    return key->expires_ms;
}

uint32_t fling_key_segment (const fling_key_t *key)
{
    return key->segment;
}

void fling_key_set_segment (fling_key_t *key, uint32_t segment)
{
    key->segment = segment;
}

void *fling_key_owner (const fling_key_t *key)
{
    return key->owner;
}

void fling_key_ref (const fling_key_t *key, fling_key_ref_t *ref)
{
    ref->scope = key->scope;
    ref->name = key->text + 17;
    ref->name_size = key->name_size;
    ref->key = key->text + 17 + key->name_size + 1;
    ref->key_size = key->key_size;
}
