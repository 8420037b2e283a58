/*  store_disk_fixture.c - see store_disk_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_disk_fixture.h"
#include "store_fixture.h"

static disk_entry_t *entry_of (disk_table_t *t, const fling_task_id_t *id)
{
    uint64_t seq = fling_task_id_seq (id);
    assert_true (seq < DISK_MAX_TASKS);
    t->entries[seq].seq = seq;
    return &t->entries[seq];
}

static void apply_state (disk_entry_t *e, const fling_store_task_t *task)
{
    e->attempt = task->attempt;
    e->crashes = task->crashes;
    e->reason = task->reason;
    e->leased = task->leased;
    e->due_ms = task->due_ms;
    snprintf (e->error, sizeof e->error, "%.*s", (int)task->error_size, task->error);
}

static int on_event (const fling_store_event_t *event, void *arg)
{
    disk_table_t *t = (disk_table_t *)arg;
    if (event->kind == FLING_STORE_EV_NOTE)
        return 0; /* not tasks: schedules, a pause or a key's TTL */
    disk_entry_t *e = entry_of (t, &event->id);
    switch (event->kind) {
    case FLING_STORE_EV_TASK:
        if (!e->live)
            t->live++;
        e->live = true;
        e->segment = event->segment;
        apply_state (e, &event->task);
        break;
    case FLING_STORE_EV_STATE:
        if (e->live)
            apply_state (e, &event->task);
        break;
    case FLING_STORE_EV_DONE:
        t->done_events++;
        if (e->live)
            t->live--;
        e->live = false;
        break;
    default:
        break;
    }
    return 0;
}

int disk_setup (void **state)
{
    disk_t *d = calloc (1, sizeof *d);
    assert_non_null (d);
    d->dir = store_dir_new ("store");
    *state = d;
    return 0;
}

/* Runs after a failed test too: no directory is left behind. */
int disk_teardown (void **state)
{
    disk_t *d = *state;
    store_dir_remove (d->dir);
    free (d);
    return 0;
}

fling_store_t *disk_open_store (disk_t *d, size_t segment, uint64_t max_bytes, const fling_io_t *io)
{
    d->segment_bytes = segment;
    d->max_bytes = max_bytes;
    fling_store_options_t options;
    fling_store_options_init (&options);
    snprintf (options.dir, sizeof options.dir, "%s", d->dir);
    options.wal.segment_bytes = segment;
    options.wal.max_bytes = max_bytes;
    options.wal.free_floor_bytes = 0;
    options.wal.io = io;
    fling_store_t *store = fling_store_open ("disk", &options);
    assert_non_null (store);
    memset (&d->table, 0, sizeof d->table);
    assert_int_equal (fling_store_recover (store, on_event, &d->table), 0);
    return store;
}

/* A restart: closes *store and opens the directory again with the same
   limits and plain I/O, as a broker would after a crash or a stop. */
void disk_reopen_store (disk_t *d, fling_store_t **store)
{
    fling_store_destroy (store);
    *store = disk_open_store (d, d->segment_bytes, d->max_bytes, NULL);
}

typedef struct {
    uint8_t raw[256];
    size_t size;
    fling_task_id_t id;
} disk_rec_t;

static void disk_make_record (disk_rec_t *r, uint64_t seq)
{
    fling_task_id_make (&r->id, 0xabcdef, seq);
    r->size = fling_record_write (r->raw, &r->id, 0, 0, 1000, 0, "email", 5,
                                  "{\"to\":\"someone@example.com\",\"n\":12345678}", 40);
}

/* fling_store_put of task `seq` at `attempt`: what it returns, errno as
   it left it, for the tests that expect a refusal. */
int disk_put_attempt (fling_store_t *store, uint64_t seq, uint16_t attempt, uint32_t *segment)
{
    disk_rec_t r;
    disk_make_record (&r, seq);
    fling_store_task_t task = {.record = r.raw, .record_size = r.size, .attempt = attempt};
    return fling_store_put (store, &r.id, &task, segment);
}

/* Puts task `seq`; returns its segment. */
uint32_t disk_put_task (fling_store_t *store, uint64_t seq)
{
    uint32_t segment = 0;
    assert_int_equal (disk_put_attempt (store, seq, 0, &segment), 0);
    assert_true (segment > 0);
    return segment;
}

/* Puts tasks `first`, `first` + 1, ... until the store refuses one, which
   must be for want of room (ENOSPC); commits after each seq that
   `commit_every` divides (0: never). Returns how many it took; seg[seq]
   is the segment of each. */
uint64_t disk_put_until_full (fling_store_t *store, uint64_t first, uint32_t *seg,
                              uint64_t commit_every)
{
    uint64_t accepted = 0;
    for (uint64_t i = first; i < DISK_MAX_TASKS; i++) {
        seg[i] = 0;
        if (disk_put_attempt (store, i, 0, &seg[i])) {
            assert_int_equal (errno, ENOSPC);
            break;
        }
        accepted++;
        if (commit_every && i % commit_every == 0)
            assert_int_equal (fling_store_commit (store), 0);
    }
    return accepted;
}

void disk_complete_task (fling_store_t *store, uint64_t seq, uint32_t segment)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0xabcdef, seq);
    assert_int_equal (fling_store_complete (store, &id, segment, fling_store_wall_ms ()), 0);
}

void disk_set_state (fling_store_t *store, uint64_t seq, uint16_t attempt, uint8_t crashes,
                     uint8_t reason, const char *error, bool leased)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0xabcdef, seq);
    fling_store_task_t task = {.attempt = attempt,
                               .crashes = crashes,
                               .reason = reason,
                               .leased = leased,
                               .error = error,
                               .error_size = error ? strlen (error) : 0};
    assert_int_equal (fling_store_state (store, &id, &task), 0);
}

void disk_set_due (fling_store_t *store, uint64_t seq, uint16_t attempt, uint8_t crashes,
                   int64_t due_ms)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0xabcdef, seq);
    fling_store_task_t task = {.attempt = attempt, .crashes = crashes, .due_ms = due_ms};
    assert_int_equal (fling_store_state (store, &id, &task), 0);
}
