/*  fling_blockpool.c - see fling_blockpool.h. */
#include "fling_blockpool.h"
#include "fling_pages.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define POISON(addr, size)   ASAN_POISON_MEMORY_REGION (addr, size)
#define UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION (addr, size)
#else
#define POISON(addr, size)   ((void)(addr), (void)(size))
#define UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

#define CLASSES 64 /* chunks up to 1 KB */

struct fling_blockpool {
    void *free[CLASSES]; /* singly linked through each block's first word */
    size_t bytes;        /* held in the lists */
    size_t max_bytes;
    size_t slab_bytes; /* 0: blocks are malloc'd one by one */
    void *slabs;       /* slab pool: its slabs, linked through their first word */
    char *carve;       /* the current slab's part not carved yet */
    size_t carve_left;
};

fling_blockpool_t *fling_blockpool_new (size_t max_bytes)
{
    fling_blockpool_t *self = (fling_blockpool_t *)calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->max_bytes = max_bytes;
    return self;
}

/* A slab starts with this header (16 bytes: blocks stay 16-byte aligned). */
typedef struct slab {
    struct slab *next;
    size_t size;
} slab_t;

fling_blockpool_t *fling_blockpool_new_slabs (size_t slab_bytes)
{
    fling_blockpool_t *self = fling_blockpool_new (SIZE_MAX);
    if (self)
        self->slab_bytes = slab_bytes < 4096 ? 4096 : slab_bytes;
    return self;
}

/* A slab of at least `size` bytes becomes the one blocks are carved from;
   the rest of the last one, under 1 KB, is left unused. Slabs are mapped,
   not malloc'd, to stay out of the heap. */
static int slab_add (fling_blockpool_t *self, size_t size, bool populate)
{
    slab_t *slab = (slab_t *)fling_pages_map (&size, populate);
    if (!slab)
        return -1;
    slab->next = (slab_t *)self->slabs;
    slab->size = size;
    self->slabs = slab;
    self->carve = (char *)slab + sizeof *slab;
    self->carve_left = size - sizeof *slab;
    POISON (self->carve, self->carve_left); /* not handed out yet */
    return 0;
}

int fling_blockpool_reserve (fling_blockpool_t *self, size_t bytes)
{
    if (!self || !self->slab_bytes || bytes <= self->carve_left)
        return 0;
    return slab_add (self, bytes + sizeof (slab_t), true);
}

void fling_blockpool_destroy (fling_blockpool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_blockpool_t *self = *self_p;
    while (self->slabs) {
        slab_t *slab = (slab_t *)self->slabs;
        self->slabs = slab->next;
        UNPOISON (slab, slab->size);
        fling_pages_unmap (slab, slab->size);
    }
    for (size_t k = 0; k < CLASSES && !self->slab_bytes; k++)
        while (self->free[k]) {
            void *block = self->free[k];
            UNPOISON (block, sizeof (void *));
            self->free[k] = *(void **)block;
            free (block);
        }
    free (self);
    *self_p = NULL;
}

/* The chunk class of a block of `size` bytes (8 bytes of chunk header,
   16-byte steps), and the bytes to ask malloc for. */
static size_t class(size_t size)
{
    return (size + 8 + 15) / 16;
}

static size_t class_bytes (size_t k)
{
    return k * 16 - 8;
}

/* A block's usable bytes: a slab block has no chunk header. */
static size_t block_bytes (const fling_blockpool_t *self, size_t k)
{
    return self->slab_bytes ? k * 16 : class_bytes (k);
}

/* A new block of class k cut from the current slab (a new one when it is
   short). */
static void *carve (fling_blockpool_t *self, size_t k)
{
    size_t size = block_bytes (self, k);
    if (self->carve_left < size && slab_add (self, self->slab_bytes, false))
        return NULL;
    void *block = self->carve;
    self->carve += size;
    self->carve_left -= size;
    UNPOISON (block, size);
    return block;
}

void *fling_blockpool_take (fling_blockpool_t *self, size_t size)
{
    size_t k = class(size);
    if (k >= CLASSES)
        return malloc (size);
    void *block = self ? self->free[k] : NULL;
    if (!block && self && self->slab_bytes)
        return carve (self, k);
    if (!block)
        return malloc (class_bytes (k));
    UNPOISON (block, block_bytes (self, k));
    self->free[k] = *(void **)block;
    self->bytes -= block_bytes (self, k);
    return block;
}

void fling_blockpool_give (fling_blockpool_t *self, void *block, size_t size)
{
    if (!block)
        return;
    size_t k = class(size);
    if (!self || k >= CLASSES || self->bytes + block_bytes (self, k) > self->max_bytes) {
        free (block);
        return;
    }
    *(void **)block = self->free[k];
    self->free[k] = block;
    self->bytes += block_bytes (self, k);
    POISON (block, block_bytes (self, k)); /* a use after give still trips ASan */
}

size_t fling_blockpool_held (const fling_blockpool_t *self)
{
    return self ? self->bytes : 0;
}
