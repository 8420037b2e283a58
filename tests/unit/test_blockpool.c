/*  test_blockpool.c - freed blocks kept for reuse (common/fling_blockpool.c).

    The broker and the worker take one block per task from a pool and give
    it back when the task ends. What they rely on: a freed block of the
    same size class comes back (LIFO, so it is still in cache), sizes that
    differ only within a 16-byte class share blocks, the pool never holds
    more than its byte cap, large blocks bypass it, a NULL pool is plain
    malloc/free, and any block can be released with free() (the worker's
    abandoned pool threads do that after the pool is gone). A slab pool
    (the worker's async tasks) carves distinct, aligned blocks side by side
    from few slabs, reuses given-back ones first, has no cap, and frees all
    of it at destroy; its reserve maps memory already faulted in, for the
    first burst of tasks to use. ASan checks that nothing leaks and that a
    given-back block is not touched.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fling_blockpool.h"

static void test_reuses_the_last_block_of_a_class (void **state)
{
    fling_blockpool_t *pool = fling_blockpool_new (1 << 20);
    assert_non_null (pool);
    void *a = fling_blockpool_take (pool, 300);
    void *b = fling_blockpool_take (pool, 300);
    assert_non_null (a);
    assert_non_null (b);
    memset (a, 0xaa, 300); /* the whole size is usable */
    fling_blockpool_give (pool, a, 300);
    fling_blockpool_give (pool, b, 300);
    assert_true (fling_blockpool_held (pool) >= 600);
    /* LIFO: b first, then a; 305 bytes is the same 16-byte class as 300 */
    assert_ptr_equal (fling_blockpool_take (pool, 305), b);
    assert_ptr_equal (fling_blockpool_take (pool, 300), a);
    assert_int_equal (fling_blockpool_held (pool), 0);
    /* another class does not get them */
    void *c = fling_blockpool_take (pool, 100);
    assert_ptr_not_equal (c, a);
    assert_ptr_not_equal (c, b);
    fling_blockpool_give (pool, a, 300);
    fling_blockpool_give (pool, b, 305);
    fling_blockpool_give (pool, c, 100);
    fling_blockpool_destroy (&pool); /* frees what it holds */
    assert_null (pool);
    fling_blockpool_destroy (&pool); /* NULL is fine */
}

/* Large blocks are malloc'd and freed one by one, never held. */
static void assert_large_blocks_not_held (fling_blockpool_t *pool, size_t size)
{
    size_t held = fling_blockpool_held (pool);
    void *large = fling_blockpool_take (pool, size);
    assert_non_null (large);
    memset (large, 0, size);
    fling_blockpool_give (pool, large, size);
    assert_int_equal (fling_blockpool_held (pool), held);
}

static void test_cap_and_large_blocks_go_to_malloc (void **state)
{
    fling_blockpool_t *pool = fling_blockpool_new (1000);
    assert_non_null (pool);
    void *blocks[10];
    for (int i = 0; i < 10; i++)
        blocks[i] = fling_blockpool_take (pool, 200);
    for (int i = 0; i < 10; i++)
        fling_blockpool_give (pool, blocks[i], 200);
    assert_true (fling_blockpool_held (pool) <= 1000);
    assert_true (fling_blockpool_held (pool) > 0);
    assert_large_blocks_not_held (pool, 4096);
    fling_blockpool_destroy (&pool);
}

static void test_null_pool_and_free_are_valid (void **state)
{
    void *block = fling_blockpool_take (NULL, 200);
    assert_non_null (block);
    fling_blockpool_give (NULL, block, 200); /* plain free */
    fling_blockpool_give (NULL, NULL, 200);  /* nothing */

    fling_blockpool_t *pool = fling_blockpool_new (1 << 20);
    block = fling_blockpool_take (pool, 200);
    fling_blockpool_give (pool, block, 200);
    block = fling_blockpool_take (pool, 200); /* a recycled block */
    free (block);                             /* released without its pool */
    fling_blockpool_destroy (&pool);
}

static int by_address (const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void test_slab_pool_carves_blocks_side_by_side (void **state)
{
    enum { COUNT = 1000, SIZE = 300 };
    fling_blockpool_t *pool = fling_blockpool_new_slabs (64 << 10);
    assert_non_null (pool);
    static void *blocks[COUNT];
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = fling_blockpool_take (pool, SIZE);
        assert_non_null (blocks[i]);
        assert_int_equal ((uintptr_t)blocks[i] % 16, 0);
        memset (blocks[i], i & 0xff, SIZE); /* all of it is usable */
    }
    /* Distinct and not overlapping; 1000 blocks of ~300 bytes in 64 KB
       slabs: most sit right after the one before. */
    qsort (blocks, COUNT, sizeof blocks[0], by_address);
    int adjacent = 0;
    for (int i = 1; i < COUNT; i++) {
        size_t gap = (size_t)((char *)blocks[i] - (char *)blocks[i - 1]);
        assert_true (gap >= SIZE);
        adjacent += gap < 2 * SIZE;
    }
    assert_true (adjacent >= COUNT - 10);
    /* No cap: every block given back is held, and comes back LIFO. */
    for (int i = 0; i < COUNT; i++)
        fling_blockpool_give (pool, blocks[i], SIZE);
    assert_true (fling_blockpool_held (pool) >= (size_t)COUNT * SIZE);
    assert_ptr_equal (fling_blockpool_take (pool, SIZE), blocks[COUNT - 1]);
    assert_large_blocks_not_held (pool, 8192);
    /* Destroy frees the slabs, with the block still out (ASan: no leak). */
    fling_blockpool_destroy (&pool);
    assert_null (pool);
}

/* Pages of [addr, addr + size) in memory now. */
static size_t resident_pages (void *addr, size_t size)
{
    uintptr_t page = 4096, start = (uintptr_t)addr & ~(page - 1);
    size_t pages = ((uintptr_t)addr + size - start + page - 1) / page, resident = 0;
    unsigned char *vec = (unsigned char *)malloc (pages);
    assert_non_null (vec);
    assert_int_equal (mincore ((void *)start, pages * page, vec), 0);
    for (size_t i = 0; i < pages; i++)
        resident += vec[i] & 1;
    free (vec);
    return resident;
}

static void test_reserve_maps_a_faulted_in_slab (void **state)
{
    enum { COUNT = 3000, SIZE = 300, RESERVE = 1 << 20 };
    fling_blockpool_t *plain = fling_blockpool_new (1 << 20);
    assert_int_equal (fling_blockpool_reserve (plain, RESERVE), 0); /* nothing to do */
    fling_blockpool_destroy (&plain);

    fling_blockpool_t *pool = fling_blockpool_new_slabs (64 << 10);
    assert_int_equal (fling_blockpool_reserve (pool, RESERVE), 0);
    assert_int_equal (fling_blockpool_reserve (pool, RESERVE / 2), 0); /* has it already */
    char *first = (char *)fling_blockpool_take (pool, SIZE);
    assert_non_null (first);
    /* Its pages were faulted in by the reserve, before any block was used. */
    assert_true (resident_pages (first, RESERVE - 4096) >= (RESERVE - 4096) / 4096);
    /* 3,000 blocks of 320 bytes fit in it: all carved from that one map. */
    char *last = first;
    for (int i = 1; i < COUNT; i++) {
        char *block = (char *)fling_blockpool_take (pool, SIZE);
        assert_non_null (block);
        assert_ptr_equal (block, last + 320);
        memset (block, 0x5a, SIZE);
        last = block;
    }
    fling_blockpool_destroy (&pool); /* unmaps it, blocks out or not */
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_reuses_the_last_block_of_a_class),
        cmocka_unit_test (test_cap_and_large_blocks_go_to_malloc),
        cmocka_unit_test (test_null_pool_and_free_are_valid),
        cmocka_unit_test (test_slab_pool_carves_blocks_side_by_side),
        cmocka_unit_test (test_reserve_maps_a_faulted_in_slab),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
