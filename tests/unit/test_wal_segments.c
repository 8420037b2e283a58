/*  test_wal_segments.c - the log's list of segments (broker/fling_wal_segments.h).

    What the log relies on: the list stays in id order through pushes and
    drops from the front and the middle, find answers by id (NULL for one
    that left), the file count follows regular files only, live counts stop
    at 0 and ignore unknown ids, dirty is any segment's flag, and the
    compaction candidate is a damaged segment with live records first,
    else the oldest of three or more when few of its records are live,
    never the active one and never with fewer than two segments.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "fling_wal_segments.h"

#define SEGMENT_BYTES (64u << 20) /* "few" live records: under 64 MiB / 4 / 160 = 104857 */

static fling_wal_segments_t *list_of (const uint32_t *ids, size_t count)
{
    fling_wal_segments_t *list = fling_wal_segments_new ();
    assert_non_null (list);
    for (size_t i = 0; i < count; i++)
        assert_int_equal (fling_wal_segments_push (list, ids[i], -1, ids[i] != 3), 0);
    return list;
}

static void test_order_find_and_drop (void **state)
{
    const uint32_t ids[] = {1, 2, 3, 4, 5};
    fling_wal_segments_t *list = list_of (ids, 5);
    assert_int_equal (fling_wal_segments_count (list), 5);
    assert_int_equal (fling_wal_segments_files (list), 4); /* 3 is no regular file */
    assert_int_equal (fling_wal_segments_active (list)->id, 5);
    assert_int_equal (fling_wal_segments_find (list, 4)->id, 4);
    assert_null (fling_wal_segments_find (list, 9));

    fling_wal_segments_drop (list, fling_wal_segments_at (list, 0));   /* the oldest */
    fling_wal_segments_drop (list, fling_wal_segments_find (list, 3)); /* one in the middle */
    assert_int_equal (fling_wal_segments_count (list), 3);
    assert_int_equal (fling_wal_segments_files (list), 3);
    const uint32_t left[] = {2, 4, 5};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (fling_wal_segments_at (list, i)->id, left[i]);
    assert_null (fling_wal_segments_at (list, 3));
    assert_null (fling_wal_segments_find (list, 3));
    assert_int_equal (fling_wal_segments_find (list, 5)->id, 5);
    fling_wal_segments_destroy (&list);
    assert_null (list);

    list = fling_wal_segments_new ();
    assert_null (fling_wal_segments_active (list));
    assert_int_equal (fling_wal_segments_compaction_candidate (list, SEGMENT_BYTES), -1);
    fling_wal_segments_destroy (&list);
}

static void test_live_and_dirty (void **state)
{
    const uint32_t ids[] = {1, 2};
    fling_wal_segments_t *list = list_of (ids, 2);
    fling_wal_segments_live (list, 1, 3);
    fling_wal_segments_live (list, 1, -1);
    assert_int_equal (fling_wal_segments_find (list, 1)->live, 2);
    fling_wal_segments_live (list, 1, -5); /* stops at 0 */
    assert_int_equal (fling_wal_segments_find (list, 1)->live, 0);
    fling_wal_segments_live (list, 7, 1); /* no such segment: nothing */
    assert_int_equal (fling_wal_segments_find (list, 2)->live, 0);

    assert_false (fling_wal_segments_dirty (list));
    fling_wal_segments_find (list, 2)->dirty = true;
    assert_true (fling_wal_segments_dirty (list));
    fling_wal_segments_destroy (&list);
}

static void test_compaction_candidate (void **state)
{
    const uint32_t ids[] = {1, 2, 3};
    fling_wal_segments_t *list = list_of (ids, 3);
    /* Oldest empty: nothing to move (the sweep removes it). */
    assert_int_equal (fling_wal_segments_compaction_candidate (list, SEGMENT_BYTES), -1);
    /* Few live in the oldest: move them. */
    fling_wal_segments_live (list, 1, 10);
    assert_int_equal (fling_wal_segments_compaction_candidate (list, SEGMENT_BYTES), 1);
    /* Many live: not worth it. */
    fling_wal_segments_live (list, 1, 200000);
    assert_int_equal (fling_wal_segments_compaction_candidate (list, SEGMENT_BYTES), -1);
    /* A damaged segment with live records goes first, whatever the oldest holds... */
    fling_wal_segment_t *damaged = fling_wal_segments_find (list, 2);
    damaged->damage = "bad record";
    fling_wal_segments_live (list, 2, 1);
    assert_int_equal (fling_wal_segments_compaction_candidate (list, SEGMENT_BYTES), 2);
    /* ...but never the active one. */
    damaged->live = 0;
    fling_wal_segment_t *active = fling_wal_segments_active (list);
    active->damage = "bad record";
    fling_wal_segments_live (list, active->id, 1);
    assert_int_equal (fling_wal_segments_compaction_candidate (list, SEGMENT_BYTES), -1);
    fling_wal_segments_destroy (&list);

    /* Two segments: the oldest with few live records stays (needs three). */
    list = list_of (ids, 2);
    fling_wal_segments_live (list, 1, 10);
    assert_int_equal (fling_wal_segments_compaction_candidate (list, SEGMENT_BYTES), -1);
    fling_wal_segments_destroy (&list);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_order_find_and_drop),
        cmocka_unit_test (test_live_and_dirty),
        cmocka_unit_test (test_compaction_candidate),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
