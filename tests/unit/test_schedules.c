/*  test_schedules.c - the broker's schedules (broker/fling_schedules.c,
    proto/SPEC.md §5.3, §6.8) on a bare broker state: a SCHEDULE parsed and
    refused, added / replaced / unchanged, the table's bound, firings taken
    by a recording intake at a wall clock the test sets (never early, each
    fire time once, the deterministic id), and the disk store's records
    across a "restart": the mark survives, missed once runs the latest
    missed time once, missed skip none, a removal stays removed (and pins
    no segment), a 1 MiB payload comes back whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fling_schedule.h"
#include "fling_schedules.h"
#include "fling_schedules_json.h"
#include "store_fixture.h"

#define T0 1796000000000LL /* a whole second, in 2026 */

/* ---- a bare broker and a recording intake ----------------------------- */

static fling_task_id_t taken[64];
static size_t taken_count;
static fling_reason_t intake_answer = FLING_REASON_OK;

static char last_task[64], last_payload[64];
static unsigned last_attempts, last_timeout, last_backoff;

static fling_reason_t intake (fling_broker_t *self, const fling_record_t *record)
{
    snprintf (last_task, sizeof last_task, "%.*s", (int)record->name_size, record->name);
    snprintf (last_payload, sizeof last_payload, "%.*s", (int)record->payload_size,
              record->payload);
    last_attempts = record->max_attempts;
    last_timeout = record->timeout_ms;
    last_backoff = record->backoff_ms;
    if (intake_answer == FLING_REASON_OK && taken_count < 64)
        taken[taken_count++] = record->id;
    return intake_answer;
}

static int on_event (const fling_store_event_t *event, void *arg)
{
    if (event->kind == FLING_STORE_EV_NOTE)
        return fling_schedules_recovered ((fling_broker_t *)arg, event);
    return 0;
}

/* A broker state with only what the schedules use: config, store, table;
   the store replayed (a restart when `dir` holds one). */
static size_t segment_bytes; /* 0 = the default */

static fling_broker_t *bare_new (const char *dir, size_t max)
{
    fling_broker_t *self = (fling_broker_t *)calloc (1, sizeof *self);
    assert_non_null (self);
    fling_broker_config_init (&self->config);
    if (dir) {
        fling_store_options_t options;
        fling_store_options_init (&options);
        snprintf (options.dir, sizeof options.dir, "%s", dir);
        options.wal.free_floor_bytes = 0;
        if (segment_bytes)
            options.wal.segment_bytes = segment_bytes;
        self->store = fling_store_disk_open (&options);
    } else
        self->store = fling_store_memory_open ();
    assert_non_null (self->store);
    self->schedules = fling_schedules_new (max);
    assert_non_null (self->schedules);
    assert_int_equal (fling_store_recover (self->store, on_event, self), 0);
    taken_count = 0;
    intake_answer = FLING_REASON_OK;
    return self;
}

/* The same store directory opened again and replayed: a restart. */
static fling_broker_t *bare_restart (fling_broker_t *old, const char *dir)
{
    fling_store_destroy (&old->store);
    fling_schedules_destroy (&old->schedules);
    free (old);
    return bare_new (dir, 10);
}

static void bare_destroy (fling_broker_t *self)
{
    fling_store_destroy (&self->store);
    fling_schedules_destroy (&self->schedules);
    free (self);
}

static json_t *parsed (const char *text, char *error, size_t size)
{
    json_t *in = json_loads (text, 0, NULL);
    assert_non_null (in);
    json_t *def = fling_schedules_json_parse (in, error, size);
    json_decref (in);
    return def;
}

static void add_at (fling_broker_t *self, int64_t wall, const char *text, bool want_added,
                    bool want_replaced)
{
    char error[200];
    json_t *def = parsed (text, error, sizeof error);
    assert_non_null (def);
    self->wall_ms = wall;
    bool added, replaced;
    int64_t next;
    assert_int_equal (
        fling_schedules_add (self, def, &added, &replaced, &next, error, sizeof error), 0);
    assert_int_equal (added, want_added);
    assert_int_equal (replaced, want_replaced);
    json_decref (def);
}

static void fire_at (fling_broker_t *self, int64_t wall)
{
    self->wall_ms = wall;
    fling_schedules_fire (self, intake);
}

/* Fires once a second from T0 + 1 s for `seconds` seconds as the broker's
   turns do: commit, compact the schedules, commit, maintain the store.
   Returns the most segments the store held at once. */
static uint64_t fire_compacting (fling_broker_t *self, int64_t seconds)
{
    fling_store_status_t status;
    uint64_t most = 0;
    for (int64_t i = 1; i <= seconds; i++) {
        fire_at (self, T0 + i * 1000);
        assert_int_equal (fling_store_commit (self->store), 0);
        fling_schedules_compact (self);
        assert_int_equal (fling_store_commit (self->store), 0);
        fling_store_maintain (self->store, i * 1000);
        fling_store_status (self->store, &status);
        most = status.segments > most ? status.segments : most;
    }
    return most;
}

static void assert_taken (size_t i, const char *name, int64_t fire_ms)
{
    fling_task_id_t want;
    assert_int_equal (fling_schedule_task_id (name, fire_ms, &want), 0);
    assert_true (i < taken_count);
    assert_memory_equal (taken[i].bytes, want.bytes, FLING_TASK_ID_SIZE);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_parse (void **state)
{
    char error[200];
    json_t *def =
        parsed ("{\"name\":\"a\",\"task\":\"t.x\",\"every_ms\":1000}", error, sizeof error);
    assert_non_null (def);
    char *text = json_dumps (def, JSON_COMPACT);
    assert_string_equal (text, "{\"name\":\"a\",\"task\":\"t.x\",\"payload\":{},\"every_ms\":1000,"
                               "\"tz\":\"UTC\",\"missed\":\"once\"}");
    free (text);
    json_decref (def);
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"[]", "a JSON object"},
        {"{\"name\":\"a\",\"task\":\"t\",\"every_ms\":1000,\"evry\":1}", "unknown member"},
        {"{\"name\":\"a b\",\"task\":\"t\",\"every_ms\":1000}", "\"name\""},
        {"{\"name\":\"a\",\"every_ms\":1000}", "\"task\""},
        {"{\"name\":\"a\",\"task\":\"t\",\"every_ms\":1000,\"payload\":[1]}", "\"payload\""},
        {"{\"name\":\"a\",\"task\":\"t\"}", "not both"},
        {"{\"name\":\"a\",\"task\":\"t\",\"every_ms\":1000,\"cron\":\"* * * * *\"}", "not both"},
        {"{\"name\":\"a\",\"task\":\"t\",\"every_ms\":999}", "interval"},
        {"{\"name\":\"a\",\"task\":\"t\",\"every_ms\":\"1000\"}", "every_ms"},
        {"{\"name\":\"a\",\"task\":\"t\",\"cron\":\"61 * * * *\"}", "minute"},
        {"{\"name\":\"a\",\"task\":\"t\",\"cron\":\"0 3 * * *\",\"tz\":\"Mars/Base\"}", "zone"},
        {"{\"name\":\"a\",\"task\":\"t\",\"every_ms\":1000,\"missed\":\"twice\"}", "missed"},
        {"{\"name\":\"a\",\"task\":\"t\",\"every_ms\":1000,\"priority\":10}", "priority"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error[0] = '\0';
        def = parsed (bad[i].json, error, sizeof error);
        if (def || !strstr (error, bad[i].why))
            fail_msg ("%s: got \"%s\", want \"%s\"", bad[i].json, error, bad[i].why);
    }
}

static void test_add_replace_bound (void **state)
{
    fling_broker_t *self = bare_new (NULL, 2);
    const char *a = "{\"name\":\"a\",\"task\":\"t\",\"every_ms\":1000}";
    add_at (self, T0 + 500, a, true, false);
    add_at (self, T0 + 600, a, false, false); /* a second admin: unchanged */
    add_at (self, T0 + 700,
            "{\"name\":\"a\",\"task\":\"t\",\"every_ms\":1000,\"payload\":{\"v\":2}}", true, true);
    add_at (self, T0 + 700, "{\"name\":\"b\",\"task\":\"t\",\"every_ms\":2000}", true, false);
    char error[200];
    json_t *def = parsed ("{\"name\":\"c\",\"task\":\"t\",\"every_ms\":1000}", error, sizeof error);
    bool added, replaced;
    int64_t next;
    assert_int_equal (
        fling_schedules_add (self, def, &added, &replaced, &next, error, sizeof error), -1);
    assert_non_null (strstr (error, "--max-schedules"));
    json_decref (def);
    assert_int_equal (fling_schedules_count (self->schedules), 2);
    assert_int_equal (fling_schedules_remove (self, "a", error, sizeof error), 1);
    assert_int_equal (fling_schedules_remove (self, "a", error, sizeof error), 0);
    assert_int_equal (fling_schedules_count (self->schedules), 1);
    bare_destroy (self);
}

static void test_fires_on_time_once (void **state)
{
    fling_broker_t *self = bare_new (NULL, 10);
    add_at (self, T0 + 500,
            "{\"name\":\"a\",\"task\":\"t.run\",\"every_ms\":1000,\"payload\":{\"k\":[1]},"
            "\"max_attempts\":5,\"timeout_ms\":700,\"backoff_ms\":50}",
            true, false);
    fire_at (self, T0 + 999); /* first turn: nothing due yet */
    assert_int_equal (taken_count, 0);
    fire_at (self, T0 + 1000);
    assert_int_equal (taken_count, 1);
    assert_taken (0, "a", T0 + 1000);
    assert_string_equal (last_task, "t.run");
    assert_string_equal (last_payload, "{\"k\":[1]}");
    assert_int_equal (last_attempts, 5);
    assert_int_equal (last_timeout, 700);
    assert_int_equal (last_backoff, 50);
    fire_at (self, T0 + 1500);
    assert_int_equal (taken_count, 1);
    fire_at (self, T0 + 3200); /* a stalled loop: one firing, the latest */
    assert_int_equal (taken_count, 2);
    assert_taken (1, "a", T0 + 3000);
    /* Refused (a full store): tried again a second later, never twice. */
    intake_answer = FLING_REASON_STORE_FULL;
    fire_at (self, T0 + 4000);
    intake_answer = FLING_REASON_OK;
    fire_at (self, T0 + 4500);
    assert_int_equal (taken_count, 2);
    fire_at (self, T0 + 5000);
    assert_int_equal (taken_count, 3);
    assert_taken (2, "a", T0 + 5000);
    assert_int_equal (fling_schedules_counters (self->schedules)->refused, 1);
    assert_true (fling_schedules_timeout_ms (self, 100000) <= 100000);
    bare_destroy (self);
}

static void test_restart (void **state)
{
    char *dir = store_dir_new ("schedules");
    fling_broker_t *self = bare_new (dir, 10);
    add_at (self, T0 + 500, "{\"name\":\"once\",\"task\":\"t\",\"every_ms\":1000}", true, false);
    add_at (self, T0 + 500,
            "{\"name\":\"skip\",\"task\":\"t\",\"every_ms\":1000,\"missed\":\"skip\"}", true,
            false);
    add_at (self, T0 + 500, "{\"name\":\"gone\",\"task\":\"t\",\"every_ms\":1000}", true, false);
    fire_at (self, T0 + 1000);
    fire_at (self, T0 + 2000);
    assert_int_equal (taken_count, 6);
    char error[200];
    assert_int_equal (fling_schedules_remove (self, "gone", error, sizeof error), 1);
    assert_int_equal (fling_store_commit (self->store), 0);
    /* Killed right after a firing at 2000 was staged but not committed. */
    fire_at (self, T0 + 3000);
    assert_int_equal (taken_count, 8);

    self = bare_restart (self, dir);
    assert_int_equal (fling_schedules_count (self->schedules), 2);
    fire_at (self, T0 + 2500); /* at start, nothing missed: 2000 is done */
    assert_int_equal (taken_count, 0);
    fire_at (self, T0 + 3000);
    assert_int_equal (taken_count, 2); /* 3000 again: its first firing was never committed */
    assert_int_equal (fling_store_commit (self->store), 0);

    self = bare_restart (self, dir);
    fire_at (self, T0 + 7300); /* 4000..7000 fell while down */
    assert_int_equal (taken_count, 1);
    assert_taken (0, "once", T0 + 7000);
    const fling_schedules_counters_t *c = fling_schedules_counters (self->schedules);
    assert_int_equal (c->missed_run, 1);
    assert_int_equal (c->missed_skipped, 1);
    fire_at (self, T0 + 8000);
    assert_int_equal (taken_count, 3);
    bare_destroy (self);
    store_dir_remove (dir);
}

/* A schedule that rarely fires pins the oldest segment with its record;
   compaction moves it, so the log stays short and the schedule survives. */
static void test_compaction (void **state)
{
    char *dir = store_dir_new ("schedules-compact");
    segment_bytes = 65536;
    fling_broker_t *self = bare_new (dir, 10);
    add_at (self, T0 + 500, "{\"name\":\"rare\",\"task\":\"t\",\"cron\":\"0 3 1 1 *\"}", true,
            false);
    add_at (self, T0 + 500, "{\"name\":\"busy\",\"task\":\"t\",\"every_ms\":1000}", true, false);
    uint64_t most = fire_compacting (self, 3000);
    assert_true (most <= 4);
    self = bare_restart (self, dir);
    segment_bytes = 0;
    assert_int_equal (fling_schedules_count (self->schedules), 2);
    fire_at (self, T0 + 3000 * 1000 + 500); /* nothing missed */
    assert_int_equal (taken_count, 0);
    fire_at (self, T0 + 3001 * 1000);
    assert_int_equal (taken_count, 1);
    assert_taken (0, "busy", T0 + 3001 * 1000);
    bare_destroy (self);
    store_dir_remove (dir);
}

/* A schedule's note carries its whole definition: one with the largest
   payload (1 MiB, far over a small note's 512 bytes) is written and read
   back at a restart as it was, nothing counted as damage; a small note
   over its limit is refused when written, never dropped at replay. */
static void test_large_restart (void **state)
{
    char *dir = store_dir_new ("schedules-large");
    fling_broker_t *self = bare_new (dir, 10);
    size_t n = FLING_PAYLOAD_MAX - 8; /* {"x":"..."} is FLING_PAYLOAD_MAX bytes */
    char *text = (char *)malloc (n + 100);
    assert_non_null (text);
    int head = snprintf (text, 100,
                         "{\"name\":\"big\",\"task\":\"t\",\"every_ms\":1000,"
                         "\"payload\":{\"x\":\"");
    memset (text + head, 'a', n);
    strcpy (text + head + n, "\"}}");
    add_at (self, T0 + 500, text, true, false);
    free (text);
    assert_int_equal (fling_store_commit (self->store), 0);
    uint8_t small[FLING_STORE_NOTE_MAX + 1] = {0};
    uint32_t segment = 0;
    assert_int_equal (
        fling_store_note (self->store, FLING_STORE_NOTE_KEY, small, sizeof small, 0, &segment), -1);
    assert_int_equal (errno, EMSGSIZE);

    self = bare_restart (self, dir);
    fling_store_status_t status;
    fling_store_status (self->store, &status);
    assert_int_equal (status.corrupt_records, 0);
    assert_int_equal (fling_schedules_count (self->schedules), 1);
    json_t *list = fling_schedules_list (self, 10);
    json_t *def = json_array_get (json_object_get (list, "schedules"), 0);
    const char *x = json_string_value (json_object_get (json_object_get (def, "payload"), "x"));
    assert_non_null (x);
    assert_int_equal (strlen (x), n);
    json_decref (list);
    fire_at (self, T0 + 1000);
    assert_int_equal (taken_count, 1);
    bare_destroy (self);
    store_dir_remove (dir);
}

/* A removal's note pins nothing once read back: after a restart the
   segment holding a removed schedule's notes still empties, and the log
   stays short while another schedule fires. */
static void test_removed_restart_compacts (void **state)
{
    char *dir = store_dir_new ("schedules-removed");
    segment_bytes = 65536;
    fling_broker_t *self = bare_new (dir, 10);
    add_at (self, T0 + 500, "{\"name\":\"gone\",\"task\":\"t\",\"every_ms\":1000}", true, false);
    add_at (self, T0 + 500, "{\"name\":\"busy\",\"task\":\"t\",\"every_ms\":1000}", true, false);
    char error[200];
    assert_int_equal (fling_schedules_remove (self, "gone", error, sizeof error), 1);
    assert_int_equal (fling_store_commit (self->store), 0);
    self = bare_restart (self, dir);
    assert_int_equal (fling_schedules_count (self->schedules), 1);
    uint64_t most = fire_compacting (self, 3000);
    segment_bytes = 0;
    assert_true (most <= 4);
    bare_destroy (self);
    store_dir_remove (dir);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse),
        cmocka_unit_test (test_add_replace_bound),
        cmocka_unit_test (test_fires_on_time_once),
        cmocka_unit_test (test_restart),
        cmocka_unit_test (test_compaction),
        cmocka_unit_test (test_large_restart),
        cmocka_unit_test (test_removed_restart_compacts),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
