/*  fling_blockpool.h - freed memory blocks kept for reuse, by size.

    The broker and the worker each allocate and free one block per task
    (the task's record plus its bookkeeping, a few hundred bytes). At a
    steady flow glibc keeps only 7 blocks of a size in its thread cache and
    sends the rest through its bins (coalescing, splitting, consolidating:
    ~370 instructions a task, measured in the broker), where a free list
    costs ~10 and hands back a block that is still in cache.

    Blocks are sized to whole glibc chunks (16-byte steps), so a pooled
    block uses no more memory than malloc would, and every block is a
    malloc'd block: free() is a valid way to release one when its pool is
    gone. Blocks over ~1 KB are not pooled. The pool holds at most
    `max_bytes` of free blocks; beyond that, given blocks are freed.

    A slab pool (fling_blockpool_new_slabs) carves its blocks from slabs
    it maps instead: a burst costs one mapping per slab, not a malloc per block,
    and the blocks sit together, not between the caller's own small
    allocations. That matters in the worker, whose async handlers add a
    zloop timer per task: zloop walks every timer on each turn, and with
    task blocks between them the walk missed the cache (W3, bench/README).
    A slab pool keeps every block it ever carved until it is destroyed (no
    byte cap; its peak is its owner's bound on tasks in hand), and its
    blocks cannot be released with free().

    Not thread-safe: one pool per thread (the broker's, the worker's loop).
*/
#ifndef FLING_BLOCKPOOL_H
#define FLING_BLOCKPOOL_H

#include <stddef.h>

typedef struct fling_blockpool fling_blockpool_t;

/*  NULL + ENOMEM. */
fling_blockpool_t *fling_blockpool_new (size_t max_bytes);

/*  A slab pool: blocks up to ~1 KB are carved from `slab_bytes` slabs and
    stay the pool's until it is destroyed; larger ones are malloc'd and
    freed one by one. NULL + ENOMEM. */
fling_blockpool_t *fling_blockpool_new_slabs (size_t slab_bytes);

/*  A slab pool: maps `bytes` of slab now, its pages faulted in, to carve
    the next blocks from (a first burst then finds its memory ready: a page
    fault costs ~1.5 us on a VM, three to four 384-byte tasks' worth). 0 if
    the pool has that much left to carve already, or is not a slab pool;
    -1 + ENOMEM. */
int fling_blockpool_reserve (fling_blockpool_t *self, size_t bytes);

/*  Frees the blocks it holds (a slab pool: its slabs, so every block it
    gave out, given back or not). NULL-safe. */
void fling_blockpool_destroy (fling_blockpool_t **self_p);

/*  A block of at least `size` bytes, reused if one of its size class is
    free, else malloc'd. `self` may be NULL (plain malloc). NULL + ENOMEM. */
void *fling_blockpool_take (fling_blockpool_t *self, size_t size);

/*  Gives back a block taken with the same `size`. `self` may be NULL
    (plain free). */
void fling_blockpool_give (fling_blockpool_t *self, void *block, size_t size);

/*  Bytes of free blocks held. */
size_t fling_blockpool_held (const fling_blockpool_t *self);

#endif
