/*  test_keys.c - the broker's table of unique keys (broker/fling_keys.c):
    one holder per (scope, name, key); the same text under another name or
    another scope is another key; a TTL entry is held until its time and
    dropped by a lookup after it, or by expire, oldest first and at most
    `max` per call; the limits (total, per scope) refuse with ENOSPC while
    unbounded adds (recovery) pass; every entry let go is reported once
    with its owner and segment; 10,000 entries with random TTLs expire in
    order, checked against a plain array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fling_keys.h"

typedef struct {
    size_t gone;
    uint64_t segments; /* sum of the segments reported */
    void *last_owner;
} gone_log_t;

static void on_gone (void *arg, void *owner, uint32_t segment)
{
    gone_log_t *log = (gone_log_t *)arg;
    log->gone++;
    log->segments += segment;
    log->last_owner = owner;
}

static fling_key_ref_t ref (uint64_t scope, const char *name, const char *key)
{
    fling_key_ref_t r = {scope, name, strlen (name), key, strlen (key)};
    return r;
}

static fling_task_id_t id_of (uint64_t seq)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0xabcdull, seq);
    return id;
}

static void test_one_holder (void **state)
{
    gone_log_t log = {0};
    fling_keys_t *keys = fling_keys_new (100, 0, on_gone, &log);
    assert_non_null (keys);
    fling_key_ref_t a = ref (0, "email.send", "user:42:welcome");
    fling_task_id_t id1 = id_of (1), id2 = id_of (2);
    int owner;
    fling_key_t *key = fling_keys_add (keys, &a, &id1, &owner, true);
    assert_non_null (key);
    assert_null (fling_keys_add (keys, &a, &id2, &owner, true));
    assert_int_equal (errno, EEXIST);
    assert_ptr_equal (fling_keys_find (keys, &a, 1000), key);
    assert_memory_equal (fling_key_holder (key), &id1, sizeof id1);
    assert_int_equal (fling_key_expires (key), 0);
    /* Another name, another scope: other keys. */
    fling_key_ref_t b = ref (0, "email.other", "user:42:welcome");
    fling_key_ref_t c = ref (7, "email.send", "user:42:welcome");
    assert_null (fling_keys_find (keys, &b, 1000));
    assert_null (fling_keys_find (keys, &c, 1000));
    assert_non_null (fling_keys_add (keys, &b, &id2, &owner, true));
    assert_non_null (fling_keys_add (keys, &c, &id2, &owner, true));
    assert_int_equal (fling_keys_size (keys), 3);
    fling_key_ref_t back;
    fling_key_ref (key, &back);
    assert_int_equal (back.scope, 0);
    assert_int_equal (back.name_size, 10);
    assert_memory_equal (back.name, "email.send", 10);
    assert_int_equal (back.key_size, 15);
    assert_memory_equal (back.key, "user:42:welcome", 15);
    fling_keys_remove (keys, key);
    assert_int_equal (log.gone, 1);
    assert_ptr_equal (log.last_owner, &owner);
    assert_null (fling_keys_find (keys, &a, 1000));
    assert_non_null (fling_keys_add (keys, &a, &id2, &owner, true)); /* free again */
    fling_keys_destroy (&keys);
    assert_int_equal (log.gone, 1); /* destroy calls nothing back */
}

static void test_bad_refs (void **state)
{
    fling_keys_t *keys = fling_keys_new (100, 0, NULL, NULL);
    fling_task_id_t id = id_of (1);
    char long_key[FLING_UNIQUE_KEY_MAX + 2];
    memset (long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    fling_key_ref_t bad[] = {ref (0, "n", ""), ref (0, "", "k"), ref (0, "n", long_key),
                             ref (0, "n",
                                  "a\x1f"
                                  "b")};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null (fling_keys_add (keys, &bad[i], &id, NULL, true));
        assert_int_equal (errno, EINVAL);
        assert_null (fling_keys_find (keys, &bad[i], 1));
    }
    long_key[FLING_UNIQUE_KEY_MAX] = '\0'; /* 128 bytes: the longest */
    fling_key_ref_t longest = ref (0, "n", long_key);
    assert_non_null (fling_keys_add (keys, &longest, &id, NULL, true));
    fling_keys_destroy (&keys);
}

static void test_ttl (void **state)
{
    gone_log_t log = {0};
    fling_keys_t *keys = fling_keys_new (100, 0, on_gone, &log);
    fling_key_ref_t a = ref (0, "n", "a"), b = ref (0, "n", "b");
    fling_task_id_t id = id_of (1);
    fling_key_t *ka = fling_keys_add (keys, &a, &id, NULL, true);
    fling_key_t *kb = fling_keys_add (keys, &b, &id, NULL, true);
    fling_keys_hold_until (keys, ka, 5000, 11);
    fling_keys_hold_until (keys, kb, 3000, 22);
    assert_int_equal (fling_keys_expire (keys, 2999, 10), 0);
    assert_ptr_equal (fling_keys_find (keys, &a, 4999), ka); /* held until its time */
    assert_int_equal (fling_key_segment (ka), 11);
    assert_int_equal (fling_keys_expire (keys, 3000, 10), 1);
    assert_int_equal (log.segments, 22);
    assert_null (fling_keys_find (keys, &b, 3000));
    /* A lookup after its time drops it too; now 0 never expires. */
    assert_ptr_equal (fling_keys_find (keys, &a, 0), ka);
    assert_null (fling_keys_find (keys, &a, 5000));
    assert_int_equal (log.gone, 2);
    assert_int_equal (log.segments, 33);
    assert_int_equal (fling_keys_size (keys), 0);
    /* Held again (a compacted copy): moved, not doubled. */
    ka = fling_keys_add (keys, &a, &id, NULL, true);
    fling_keys_hold_until (keys, ka, 9000, 1);
    fling_keys_hold_until (keys, ka, 4000, 2);
    assert_int_equal (fling_keys_expire (keys, 4000, 10), 1);
    assert_int_equal (fling_keys_expire (keys, 10000, 10), 0);
    fling_keys_destroy (&keys);
}

static void test_limits (void **state)
{
    gone_log_t log = {0};
    fling_keys_t *keys = fling_keys_new (4, 2, on_gone, &log);
    char text[16];
    for (int i = 0; i < 2; i++) {
        snprintf (text, sizeof text, "k%d", i);
        fling_key_ref_t r = ref (5, "n", text);
        fling_task_id_t id = id_of ((uint64_t)i);
        assert_non_null (fling_keys_add (keys, &r, &id, NULL, true));
    }
    fling_key_ref_t third = ref (5, "n", "k2"); /* scope 5 holds its share */
    fling_task_id_t id = id_of (9);
    assert_null (fling_keys_add (keys, &third, &id, NULL, true));
    assert_int_equal (errno, ENOSPC);
    fling_key_ref_t other = ref (6, "n", "k2"); /* another scope is served */
    assert_non_null (fling_keys_add (keys, &other, &id, NULL, true));
    fling_key_ref_t plain = ref (0, "n", "k3"); /* scope 0 (no CURVE): the total only */
    assert_non_null (fling_keys_add (keys, &plain, &id, NULL, true));
    fling_key_ref_t over = ref (0, "n", "k4");
    assert_null (fling_keys_add (keys, &over, &id, NULL, true));
    assert_int_equal (errno, ENOSPC);
    /* Recovery takes what the store holds, past the limits. */
    assert_non_null (fling_keys_add (keys, &over, &id, NULL, false));
    assert_non_null (fling_keys_add (keys, &third, &id, NULL, false));
    assert_int_equal (fling_keys_size (keys), 6);
    /* Scope 5 holds 3 (one over its share): it gets room again only
       below its share, and the total below max. */
    fling_keys_remove (keys, fling_keys_find (keys, &third, 0));
    fling_keys_remove (keys, fling_keys_find (keys, &over, 0));
    fling_keys_remove (keys, fling_keys_find (keys, &plain, 0));
    assert_null (fling_keys_add (keys, &third, &id, NULL, true));
    assert_int_equal (errno, ENOSPC);
    fling_key_ref_t k0 = ref (5, "n", "k0");
    fling_keys_remove (keys, fling_keys_find (keys, &k0, 0));
    assert_int_equal (log.gone, 4);
    assert_non_null (fling_keys_add (keys, &third, &id, NULL, true));
    fling_keys_destroy (&keys);
}

/* 10,000 entries with random times: expire returns them in time order,
   `max` at a time, as a sorted array says. */
static int cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_expire_order (void **state)
{
    enum { N = 10000 };
    gone_log_t log = {0};
    fling_keys_t *keys = fling_keys_new (N, 0, on_gone, &log);
    int64_t *times = (int64_t *)malloc (N * sizeof *times);
    uint64_t rng = 88172645463325252ull;
    char text[32];
    for (int i = 0; i < N; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        times[i] = 1 + (int64_t)(rng % 100000);
        snprintf (text, sizeof text, "key-%d", i);
        fling_key_ref_t r = ref (0, "n", text);
        fling_task_id_t id = id_of ((uint64_t)i);
        fling_key_t *k = fling_keys_add (keys, &r, &id, NULL, true);
        assert_non_null (k);
        if (i % 3) /* a third stays held by its live task */
            fling_keys_hold_until (keys, k, times[i], 1);
    }
    size_t ttl = 0;
    for (int i = 0; i < N; i++)
        if (i % 3)
            times[ttl++] = times[i];
    qsort (times, ttl, sizeof *times, cmp_i64);
    size_t gone = 0;
    for (size_t at = 0; at < ttl; at += 100) {
        int64_t now = times[at + 99 < ttl ? at + 99 : ttl - 1];
        size_t expected = 0;
        while (gone + expected < ttl && times[gone + expected] <= now)
            expected++;
        size_t got = 0, step;
        while ((step = fling_keys_expire (keys, now, 37)) > 0) {
            assert_true (step <= 37);
            got += step;
        }
        assert_int_equal (got, expected);
        gone += got;
    }
    assert_int_equal (gone, ttl);
    assert_int_equal (log.gone, ttl);
    assert_int_equal (fling_keys_size (keys), N - ttl); /* the live ones stay */
    size_t walked = 0;
    for (fling_key_t *k = fling_keys_first (keys); k; k = fling_keys_next (keys)) {
        assert_int_equal (fling_key_expires (k), 0);
        walked++;
    }
    assert_int_equal (walked, N - ttl);
    free (times);
    fling_keys_destroy (&keys);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_one_holder),   cmocka_unit_test (test_bad_refs),
        cmocka_unit_test (test_ttl),          cmocka_unit_test (test_limits),
        cmocka_unit_test (test_expire_order),
    };
    return cmocka_run_group_tests_name ("keys", tests, NULL, NULL);
}
