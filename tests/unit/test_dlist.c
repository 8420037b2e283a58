/*  test_dlist.c - the intrusive list under the worker's and the broker's
    task lists (common/fling_dlist.h).

    What they rely on: FIFO and LIFO order from push_tail / push_head /
    pop_head; removal from the head, the middle and the tail leaving both
    directions intact and the count right; insert_after keeping a sorted
    lane sorted (the worker's deadline lanes); one object on two lists at
    once through two links; and FLING_DLIST_ITEM mapping NULL to NULL and
    evaluating its argument once (a pop inside it must pop one item).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "fling_dlist.h"

typedef struct {
    int value;
    fling_dlink_t by_age;
    fling_dlink_t by_value;
} item_t;

static item_t *age (fling_dlink_t *link)
{
    return FLING_DLIST_ITEM (link, item_t, by_age);
}

/* Walks the list both ways: the values in order, and the count. */
static void assert_ages (fling_dlist_t *list, const int *values, size_t count)
{
    assert_int_equal (list->count, count);
    size_t i = 0;
    for (item_t *item = age (list->head); item; item = age (item->by_age.next), i++) {
        assert_true (i < count);
        assert_int_equal (item->value, values[i]);
    }
    assert_int_equal (i, count);
    for (item_t *item = age (list->tail); item; item = age (item->by_age.prev)) {
        assert_true (i > 0);
        assert_int_equal (item->value, values[--i]);
    }
    assert_int_equal (i, 0);
}

static void test_fifo_lifo_and_pop (void **state)
{
    item_t items[4] = {{.value = 0}, {.value = 1}, {.value = 2}, {.value = 3}};
    fling_dlist_t list = {0};
    assert_null (age (fling_dlist_pop_head (&list)));
    fling_dlist_push_tail (&list, &items[1].by_age);
    fling_dlist_push_tail (&list, &items[2].by_age);
    fling_dlist_push_head (&list, &items[0].by_age);
    fling_dlist_push_tail (&list, &items[3].by_age);
    assert_ages (&list, (const int[]){0, 1, 2, 3}, 4);
    /* One pop per use of the macro, whatever it does with its argument. */
    assert_ptr_equal (FLING_DLIST_ITEM (fling_dlist_pop_head (&list), item_t, by_age), &items[0]);
    assert_ptr_equal (FLING_DLIST_ITEM (fling_dlist_pop_head (&list), item_t, by_age), &items[1]);
    assert_ages (&list, (const int[]){2, 3}, 2);
    assert_null (items[0].by_age.next);
    assert_null (items[0].by_age.prev);
}

static void test_remove_anywhere (void **state)
{
    item_t items[5];
    fling_dlist_t list = {0};
    for (int i = 0; i < 5; i++) {
        items[i].value = i;
        fling_dlist_push_tail (&list, &items[i].by_age);
    }
    fling_dlist_remove (&list, &items[2].by_age); /* middle */
    assert_ages (&list, (const int[]){0, 1, 3, 4}, 4);
    fling_dlist_remove (&list, &items[0].by_age); /* head */
    assert_ages (&list, (const int[]){1, 3, 4}, 3);
    fling_dlist_remove (&list, &items[4].by_age); /* tail */
    assert_ages (&list, (const int[]){1, 3}, 2);
    fling_dlist_remove (&list, &items[1].by_age);
    fling_dlist_remove (&list, &items[3].by_age);
    assert_ages (&list, NULL, 0);
    assert_null (list.head);
    assert_null (list.tail);
    /* A removed item goes on again. */
    fling_dlist_push_head (&list, &items[2].by_age);
    assert_ages (&list, (const int[]){2}, 1);
}

/* Sorted insertion from the tail, as the worker's deadline lanes do. */
static void insert_sorted (fling_dlist_t *list, item_t *item)
{
    item_t *before = FLING_DLIST_ITEM (list->tail, item_t, by_value);
    while (before && before->value > item->value)
        before = FLING_DLIST_ITEM (before->by_value.prev, item_t, by_value);
    fling_dlist_insert_after (list, before ? &before->by_value : NULL, &item->by_value);
}

static void test_insert_after_and_two_lists (void **state)
{
    const int order[6] = {5, 1, 4, 4, 9, 0};
    item_t items[6];
    fling_dlist_t by_age = {0}, by_value = {0};
    for (int i = 0; i < 6; i++) {
        items[i].value = order[i];
        fling_dlist_push_tail (&by_age, &items[i].by_age);
        insert_sorted (&by_value, &items[i]);
    }
    assert_ages (&by_age, order, 6);
    int last = -1;
    size_t seen = 0;
    for (item_t *item = FLING_DLIST_ITEM (by_value.head, item_t, by_value); item;
         item = FLING_DLIST_ITEM (item->by_value.next, item_t, by_value), seen++) {
        assert_true (item->value >= last);
        last = item->value;
    }
    assert_int_equal (seen, 6);
    assert_int_equal (by_value.count, 6);
    /* Equal values keep their arrival order: the second 4 after the first. */
    assert_ptr_equal (items[2].by_value.next, &items[3].by_value);
    /* Off one list, still on the other. */
    fling_dlist_remove (&by_value, &items[4].by_value);
    assert_ages (&by_age, order, 6);
    assert_int_equal (by_value.count, 5);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_fifo_lifo_and_pop),
        cmocka_unit_test (test_remove_anywhere),
        cmocka_unit_test (test_insert_after_and_two_lists),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
