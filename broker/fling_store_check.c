/*  fling_store_check.c - `fling-broker --check-store DIR [--ids]`: replays a
    disk store read-only (nothing truncated, moved or created), under a
    shared lock (never beside a running broker), and prints what a
    restarted broker would recover, as one JSON line:
      {"records":..,"live_tasks":..,"dead_tasks":..,"corrupt_records":..,
       "torn_bytes":..,"segments":..,"damaged_segments":..,"quarantined":..}
    Each finding is also an ERROR line on stderr (segment, offset, why).
    With --ids, one more line per live task: its id (fault tests use it to
    tell "lost in storage" from "stuck in the broker").
*/
#include "fling_idmap.h"
#include "fling_store.h"
#include "fling_store_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fling_task_id_t id;
    uint8_t dead;
} entry_t;

typedef struct {
    fling_idmap_t *live;
    bool oom;
} check_t;

static void entry_key (const void *value, fling_task_id_t *id)
{
    *id = ((const entry_t *)value)->id;
}

static int on_event (const fling_store_event_t *event, void *arg)
{
    check_t *check = (check_t *)arg;
    entry_t *entry = (entry_t *)fling_idmap_lookup (check->live, &event->id);
    switch (event->kind) {
    case FLING_STORE_EV_TASK:
        if (!entry) {
            entry = (entry_t *)calloc (1, sizeof *entry);
            if (!entry || fling_idmap_insert (check->live, &event->id, entry)) {
                free (entry);
                check->oom = true;
                return -1;
            }
            entry->id = event->id;
        }
        entry->dead = event->task.reason != FLING_DEAD_NONE;
        return 0;
    case FLING_STORE_EV_STATE:
        if (entry)
            entry->dead = event->task.reason != FLING_DEAD_NONE;
        return 0;
    case FLING_STORE_EV_DONE:
        if (entry)
            free (fling_idmap_remove (check->live, &event->id));
        return 0;
    case FLING_STORE_EV_NOTE:
        return 0; /* a pause, a key's TTL, a schedule: no task */
    }
    return 0;
}

int fling_store_check (const char *dir, bool list_ids, FILE *out)
{
    fling_store_options_t options;
    fling_store_options_init (&options);
    snprintf (options.dir, sizeof options.dir, "%s", dir);
    options.wal.read_only = true;
    options.wal.free_floor_bytes = 0;
    fling_store_t *store = fling_store_disk_open (&options);
    if (!store) {
        fprintf (stderr, "fling-broker: cannot open the store in %s: %s\n", dir, strerror (errno));
        return 1;
    }
    check_t check = {.live = fling_idmap_new (entry_key, NULL)};
    if (!check.live || fling_store_recover (store, on_event, &check)) {
        fprintf (stderr, "fling-broker: cannot replay the store in %s: %s\n", dir,
                 check.oom ? "out of memory" : strerror (errno));
        fling_store_destroy (&store);
        fling_idmap_destroy (&check.live);
        return 1;
    }
    fling_store_status_t status;
    fling_store_status (store, &status);
    size_t live = 0, dead = 0, slots = fling_idmap_slots (check.live);
    for (size_t i = 0; i < slots; i++) {
        const entry_t *entry = (const entry_t *)fling_idmap_slot_value (check.live, i);
        if (entry)
            entry->dead ? dead++ : live++;
    }
    fprintf (out,
             "{\"records\":%" PRIu64
             ",\"live_tasks\":%zu,\"dead_tasks\":%zu,\"corrupt_records\":%" PRIu64
             ",\"torn_bytes\":%" PRIu64 ",\"segments\":%" PRIu64 ",\"damaged_segments\":%" PRIu32
             ",\"quarantined\":%" PRIu32 "}\n",
             status.records, live, dead, status.corrupt_records, status.torn_bytes, status.segments,
             status.damaged_segments, status.quarantined);
    for (size_t i = 0; i < slots; i++) {
        entry_t *entry = (entry_t *)fling_idmap_slot_value (check.live, i);
        if (!entry)
            continue;
        char text[FLING_TASK_ID_TEXT_SIZE];
        if (list_ids)
            fprintf (out, "%s%s\n", fling_task_id_format (&entry->id, text),
                     entry->dead ? " dead" : "");
    }
    for (size_t i = 0; i < slots; i++)
        free (fling_idmap_slot_value (check.live, i));
    fling_idmap_destroy (&check.live);
    fling_store_destroy (&store);
    if (status.corrupt_records || status.damaged_segments || status.quarantined) {
        fprintf (stderr,
                 "fling-broker: the store in %s is damaged: %" PRIu64 " corrupt records, %" PRIu32
                 " segments not read in full, %" PRIu32 " quarantined files (see broker/STORE.md, "
                 "\"Damaged segments\")\n",
                 dir, status.corrupt_records, status.damaged_segments, status.quarantined);
        return 2;
    }
    return 0;
}
