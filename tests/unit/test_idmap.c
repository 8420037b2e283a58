/*  test_idmap.c - the broker's id -> task map (broker/fling_idmap.c):
    insert, lookup, remove, growth with 100k ids, collisions forced with a
    poor hash, and backward-shift deletion checked against a plain array;
    the reuse of the last probe's slot (lookup then insert or remove), which
    prefetches in between must not disturb; and the duplicate window built
    on the map (broker/fling_dedup.c), its eviction prefetch included.

    The map reads each value's id back through key_of; here every value is
    a pointer into an array of ids, so key_of is a copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fling_dedup.h"
#include "fling_idmap.h"

#define MANY 100000

static void key_of (const void *value, fling_task_id_t *id)
{
    memcpy (id, value, sizeof *id);
}

/* An array of `count` distinct ids: producer `producer + i % spread`, seq i. */
static fling_task_id_t *make_ids (size_t count, uint64_t producer, size_t spread)
{
    fling_task_id_t *ids = (fling_task_id_t *)calloc (count, sizeof *ids);
    assert_non_null (ids);
    for (size_t i = 0; i < count; i++)
        fling_task_id_make (&ids[i], producer + i % spread, i);
    return ids;
}

static void test_insert_lookup_remove (void **state)
{
    fling_idmap_t *map = fling_idmap_new (key_of, NULL);
    assert_non_null (map);
    fling_task_id_t *ids = make_ids (3, 0x1122334455667788ull, 1);
    fling_task_id_t *a = &ids[0], *b = &ids[1], same_as_a = ids[0];
    assert_null (fling_idmap_lookup (map, a));
    assert_int_equal (fling_idmap_insert (map, a, a), 0);
    assert_int_equal (fling_idmap_insert (map, b, b), 0);
    assert_ptr_equal (fling_idmap_lookup (map, &same_as_a), a);
    assert_ptr_equal (fling_idmap_lookup (map, b), b);
    assert_null (fling_idmap_lookup (map, &ids[2]));
    assert_int_equal (fling_idmap_size (map), 2);

    errno = 0;
    assert_int_equal (fling_idmap_insert (map, &same_as_a, &same_as_a), -1);
    assert_int_equal (errno, EEXIST);
    assert_ptr_equal (fling_idmap_lookup (map, a), a);
    assert_int_equal (fling_idmap_insert (map, &ids[2], NULL), -1);
    assert_int_equal (errno, EINVAL);

    assert_ptr_equal (fling_idmap_remove (map, a), a);
    assert_null (fling_idmap_remove (map, a));
    assert_null (fling_idmap_lookup (map, a));
    assert_ptr_equal (fling_idmap_lookup (map, b), b);
    assert_int_equal (fling_idmap_size (map), 1);

    fling_idmap_destroy (&map);
    assert_null (map);
    fling_idmap_destroy (&map); /* idempotent */
    assert_null (fling_idmap_new (NULL, NULL));
    assert_int_equal (errno, EINVAL);
    free (ids);
}

static void test_grow_many (void **state)
{
    fling_idmap_t *map = fling_idmap_new (key_of, NULL);
    assert_non_null (map);
    fling_task_id_t *ids = make_ids (MANY, 0xabcdef0123456789ull, 7);
    size_t first_slots = fling_idmap_slots (map);
    for (size_t i = 0; i < MANY; i++)
        assert_int_equal (fling_idmap_insert (map, &ids[i], &ids[i]), 0);
    assert_int_equal (fling_idmap_size (map), MANY);
    assert_true (fling_idmap_slots (map) > first_slots);
    assert_true (fling_idmap_size (map) * 4 <= fling_idmap_slots (map) * 3);
    for (size_t i = 0; i < MANY; i++) {
        fling_task_id_t copy = ids[i];
        assert_ptr_equal (fling_idmap_lookup (map, &copy), &ids[i]);
    }
    /* Remove every other id; the rest must stay reachable. */
    for (size_t i = 0; i < MANY; i += 2)
        assert_ptr_equal (fling_idmap_remove (map, &ids[i]), &ids[i]);
    assert_int_equal (fling_idmap_size (map), MANY / 2);
    for (size_t i = 0; i < MANY; i++) {
        if (i % 2)
            assert_ptr_equal (fling_idmap_lookup (map, &ids[i]), &ids[i]);
        else
            assert_null (fling_idmap_lookup (map, &ids[i]));
    }
    fling_task_id_t absent;
    fling_task_id_make (&absent, 42, 42);
    assert_null (fling_idmap_lookup (map, &absent));
    fling_idmap_destroy (&map);
    free (ids);
}

/* Every id lands in one of 4 slots at the end of the first table, so runs
   wrap around to slot 0, where backward shift has the most to do; and
   equal hashes make the map compare keys. */
static uint64_t poor_hash (const fling_task_id_t *id, uint64_t seed)
{
    return 1020 + (fling_task_id_seq (id) & 3);
}

/* Random insert/remove against a reference array, with the poor hash.
   `lookups`: look ids up between the changes (the same id, as the broker
   does, or another one), so inserts and removes reuse or discard the
   last probe's slot. */
static void run_against_reference (bool lookups)
{
    enum { N = 600, ROUNDS = 20000 };
    fling_idmap_t *map = fling_idmap_new (key_of, poor_hash);
    assert_non_null (map);
    fling_task_id_t *ids = make_ids (N, 5, 1);
    bool present[N] = {false};
    size_t size = 0;
    srand (7);
    for (int round = 0; round < ROUNDS; round++) {
        size_t i = (size_t)rand () % N;
        int before = lookups ? rand () % 3 : 0;
        if (before == 1)
            assert_ptr_equal (fling_idmap_lookup (map, &ids[i]), present[i] ? &ids[i] : NULL);
        else if (before == 2) {
            size_t other = (size_t)rand () % N;
            assert_ptr_equal (fling_idmap_lookup (map, &ids[other]),
                              present[other] ? &ids[other] : NULL);
        }
        if (present[i]) {
            assert_ptr_equal (fling_idmap_remove (map, &ids[i]), &ids[i]);
            present[i] = false;
            size--;
        } else {
            assert_int_equal (fling_idmap_insert (map, &ids[i], &ids[i]), 0);
            present[i] = true;
            size++;
        }
        if (round % 500 == 0 || round == ROUNDS - 1) {
            assert_int_equal (fling_idmap_size (map), size);
            for (size_t k = 0; k < N; k++)
                assert_ptr_equal (fling_idmap_lookup (map, &ids[k]), present[k] ? &ids[k] : NULL);
        }
    }
    fling_idmap_destroy (&map);
    free (ids);
}

static void test_collisions_against_reference (void **state)
{
    run_against_reference (false);
}

static void test_lookups_against_reference (void **state)
{
    run_against_reference (true);
}

/* The slot a lookup found is reused only while the map is unchanged. */
static void test_last_probe_invalidated (void **state)
{
    fling_idmap_t *map = fling_idmap_new (key_of, poor_hash);
    assert_non_null (map);
    fling_task_id_t *ids = make_ids (8, 3, 1); /* ids 0 and 4 hash alike */
    fling_task_id_t *a = &ids[0], *b = &ids[4];
    /* a's lookup ends at the empty slot b then takes: a goes after it. */
    assert_null (fling_idmap_lookup (map, a));
    assert_int_equal (fling_idmap_insert (map, b, b), 0);
    assert_int_equal (fling_idmap_insert (map, a, a), 0);
    assert_ptr_equal (fling_idmap_lookup (map, b), b);
    assert_ptr_equal (fling_idmap_lookup (map, a), a);
    /* A lookup's hit, then the insert of the same id: still EEXIST. */
    assert_int_equal (fling_idmap_insert (map, a, a), -1);
    assert_int_equal (errno, EEXIST);
    /* a's slot found, then b removed (a shifts back into b's slot). */
    assert_ptr_equal (fling_idmap_lookup (map, a), a);
    assert_ptr_equal (fling_idmap_remove (map, b), b);
    assert_ptr_equal (fling_idmap_remove (map, a), a);
    assert_int_equal (fling_idmap_size (map), 0);
    assert_null (fling_idmap_lookup (map, a));
    assert_null (fling_idmap_remove (map, a));
    /* A miss, then an insert that has to grow the table first. */
    fling_idmap_destroy (&map);
    map = fling_idmap_new (key_of, NULL);
    fling_task_id_t *many = make_ids (2000, 11, 3);
    size_t i = 0;
    size_t slots = fling_idmap_slots (map);
    for (; fling_idmap_slots (map) == slots; i++) {
        assert_null (fling_idmap_lookup (map, &many[i]));
        assert_int_equal (fling_idmap_insert (map, &many[i], &many[i]), 0);
    }
    for (size_t k = 0; k < 2000; k++)
        assert_ptr_equal (fling_idmap_lookup (map, &many[k]), k < i ? &many[k] : NULL);
    fling_idmap_destroy (&map);
    free (many);
    free (ids);
}

/* The broker prefetches the ids of a batch's next items between a
   lookup and the insert or remove that reuses its slot: a prefetch must
   leave the map, and that reuse, as they were. */
static void test_prefetch_changes_nothing (void **state)
{
    fling_idmap_t *map = fling_idmap_new (key_of, poor_hash);
    assert_non_null (map);
    fling_task_id_t *ids = make_ids (64, 5, 1);
    for (size_t i = 0; i < 64; i += 2) {
        assert_null (fling_idmap_lookup (map, &ids[i]));
        fling_idmap_prefetch (map, &ids[i + 1]); /* absent */
        fling_idmap_prefetch (map, &ids[0]);     /* present after the first round */
        assert_int_equal (fling_idmap_insert (map, &ids[i], &ids[i]), 0);
    }
    assert_int_equal (fling_idmap_size (map), 32);
    for (size_t i = 0; i < 64; i++) {
        fling_idmap_prefetch (map, &ids[(i + 7) % 64]);
        assert_ptr_equal (fling_idmap_lookup (map, &ids[i]), i % 2 ? NULL : &ids[i]);
        fling_idmap_prefetch (map, &ids[(i + 9) % 64]);
        assert_ptr_equal (fling_idmap_remove (map, &ids[i]), i % 2 ? NULL : &ids[i]);
    }
    assert_int_equal (fling_idmap_size (map), 0);
    fling_idmap_destroy (&map);
    free (ids);
}

/* ---- the duplicate window ------------------------------------------------ */

static void test_dedup_window (void **state)
{
    fling_task_id_t *ids = make_ids (4, 21, 1);
    fling_dedup_t *dedup = fling_dedup_new (100, 1000);
    assert_non_null (dedup);
    fling_dedup_add (dedup, &ids[0], 5000, 5000);
    fling_dedup_add (dedup, &ids[0], 5100, 5100); /* already there: ignored */
    fling_dedup_add (dedup, &ids[1], 3000, 5000); /* ended outside the window */
    fling_dedup_add (dedup, &ids[2], 5500, 5500);
    assert_int_equal (fling_dedup_size (dedup), 2);
    assert_true (fling_dedup_contains (dedup, &ids[0], 5999));
    assert_false (fling_dedup_contains (dedup, &ids[0], 6000)); /* 1000 ms old */
    assert_false (fling_dedup_contains (dedup, &ids[1], 5000));
    assert_false (fling_dedup_contains (dedup, &ids[3], 5000));
    fling_dedup_expire (dedup, 6000);
    assert_int_equal (fling_dedup_size (dedup), 1);
    assert_true (fling_dedup_contains (dedup, &ids[2], 6000));
    fling_dedup_expire (dedup, 6500);
    assert_int_equal (fling_dedup_size (dedup), 0);
    assert_false (fling_dedup_contains (dedup, &ids[2], 6000));
    fling_dedup_destroy (&dedup);
    assert_null (dedup);
    dedup = fling_dedup_new (100, 0); /* window 0: remembers nothing */
    fling_dedup_add (dedup, &ids[0], 5000, 5000);
    assert_false (fling_dedup_contains (dedup, &ids[0], 5000));
    fling_dedup_destroy (&dedup);
    free (ids);
}

/* A full ring forgets its oldest id first; a duplicate arriving when it
   is full changes nothing (not even which id is oldest). */
static void test_dedup_full_ring (void **state)
{
    fling_task_id_t *ids = make_ids (8, 33, 1);
    fling_dedup_t *dedup = fling_dedup_new (4, 60000);
    assert_non_null (dedup);
    for (int i = 0; i < 5; i++)
        fling_dedup_add (dedup, &ids[i], 1000 + i, 1000 + i);
    assert_int_equal (fling_dedup_size (dedup), 4);
    assert_false (fling_dedup_contains (dedup, &ids[0], 2000));
    for (int i = 1; i < 5; i++)
        assert_true (fling_dedup_contains (dedup, &ids[i], 2000));
    fling_dedup_add (dedup, &ids[3], 1010, 1010); /* full, and a duplicate */
    assert_int_equal (fling_dedup_size (dedup), 4);
    for (int i = 1; i < 5; i++)
        assert_true (fling_dedup_contains (dedup, &ids[i], 2000));
    fling_dedup_add (dedup, &ids[5], 1011, 1011); /* 1 is still the oldest */
    assert_false (fling_dedup_contains (dedup, &ids[1], 2000));
    for (int i = 2; i < 6; i++)
        assert_true (fling_dedup_contains (dedup, &ids[i], 2000));
    /* Round the ring a few times: always the last four. */
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 8; i++) {
            fling_task_id_t id;
            fling_task_id_make (&id, 99, (uint64_t)(round * 8 + i));
            fling_dedup_add (dedup, &id, 2000, 2000);
            assert_true (fling_dedup_contains (dedup, &id, 2000));
        }
    for (int i = 0; i < 24; i++) {
        fling_task_id_t id;
        fling_task_id_make (&id, 99, (uint64_t)i);
        assert_true (fling_dedup_contains (dedup, &id, 2000) == (i >= 20));
    }
    assert_int_equal (fling_dedup_size (dedup), 4);
    fling_dedup_expire (dedup, 70000);
    assert_int_equal (fling_dedup_size (dedup), 0);
    fling_dedup_destroy (&dedup);
    free (ids);
}

/* A ring larger than the eviction prefetch distance, full and going round
   many times, with the broker's prefetch before each add: still exactly
   the last `max` ids. */
static void test_dedup_ring_with_prefetch (void **state)
{
    enum { MAX = 24, TOTAL = 500 };
    fling_dedup_t *dedup = fling_dedup_new (MAX, 60000);
    assert_non_null (dedup);
    fling_task_id_t *ids = make_ids (TOTAL, 44, 1);
    for (int i = 0; i < TOTAL; i++) {
        if (i + 8 < TOTAL)
            fling_dedup_prefetch (dedup, &ids[i + 8]);
        fling_dedup_add (dedup, &ids[i], 1000, 1000);
        assert_int_equal (fling_dedup_size (dedup), i < MAX ? i + 1 : MAX);
    }
    for (int i = 0; i < TOTAL; i++)
        assert_true (fling_dedup_contains (dedup, &ids[i], 1000) == (i >= TOTAL - MAX));
    fling_dedup_destroy (&dedup);
    dedup = fling_dedup_new (MAX, 0); /* no window: no index to prefetch in */
    fling_dedup_prefetch (dedup, &ids[0]);
    fling_dedup_destroy (&dedup);
    free (ids);
}

static void test_remove_then_reinsert (void **state)
{
    fling_idmap_t *map = fling_idmap_new (key_of, poor_hash);
    assert_non_null (map);
    fling_task_id_t *ids = make_ids (16, 9, 1);
    fling_task_id_t *again = make_ids (16, 9, 1); /* same ids, other values */
    for (size_t i = 0; i < 16; i++)
        assert_int_equal (fling_idmap_insert (map, &ids[i], &ids[i]), 0);
    /* Remove from the middle of a run, then put it back with a new value. */
    for (size_t i = 0; i < 16; i += 3) {
        assert_ptr_equal (fling_idmap_remove (map, &ids[i]), &ids[i]);
        assert_null (fling_idmap_lookup (map, &ids[i]));
        assert_int_equal (fling_idmap_insert (map, &again[i], &again[i]), 0);
    }
    for (size_t i = 0; i < 16; i++)
        assert_ptr_equal (fling_idmap_lookup (map, &ids[i]), i % 3 ? &ids[i] : &again[i]);
    assert_int_equal (fling_idmap_size (map), 16);
    /* Empty it completely and refill: nothing is left behind. */
    for (size_t i = 0; i < 16; i++)
        assert_non_null (fling_idmap_remove (map, &ids[i]));
    assert_int_equal (fling_idmap_size (map), 0);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal (fling_idmap_insert (map, &ids[i], &ids[i]), 0);
    assert_int_equal (fling_idmap_size (map), 16);
    fling_idmap_destroy (&map);
    free (ids);
    free (again);
}

/* Two maps (each with its own random seed) hold the same ids. */
static void test_seeded_hash (void **state)
{
    fling_task_id_t *ids = make_ids (1000, 77, 1);
    fling_idmap_t *one = fling_idmap_new (key_of, NULL);
    fling_idmap_t *two = fling_idmap_new (key_of, NULL);
    for (size_t i = 0; i < 1000; i++) {
        assert_int_equal (fling_idmap_insert (one, &ids[i], &ids[i]), 0);
        assert_int_equal (fling_idmap_insert (two, &ids[i], &ids[i]), 0);
    }
    for (size_t i = 0; i < 1000; i++)
        assert_ptr_equal (fling_idmap_lookup (two, &ids[i]), fling_idmap_lookup (one, &ids[i]));
    fling_idmap_destroy (&one);
    fling_idmap_destroy (&two);
    free (ids);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_insert_lookup_remove),
        cmocka_unit_test (test_grow_many),
        cmocka_unit_test (test_collisions_against_reference),
        cmocka_unit_test (test_lookups_against_reference),
        cmocka_unit_test (test_last_probe_invalidated),
        cmocka_unit_test (test_dedup_window),
        cmocka_unit_test (test_dedup_full_ring),
        cmocka_unit_test (test_dedup_ring_with_prefetch),
        cmocka_unit_test (test_prefetch_changes_nothing),
        cmocka_unit_test (test_remove_then_reinsert),
        cmocka_unit_test (test_seeded_hash),
    };
    return cmocka_run_group_tests_name ("idmap", tests, NULL, NULL);
}
