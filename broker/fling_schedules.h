/*  fling_schedules.h - the broker's periodic schedules (proto/SPEC.md §6.8,
    §5.3): the table, their durable records, and their firings.

    Each schedule (common/fling_schedule.h says when it fires) keeps a
    mark: the latest fire time it handled. A firing is one task whose id
    is deterministic (producer = the first 8 bytes of SHA-1 of
    "fling-schedule:" + name, sequence = the fire time in UTC ms), put in
    the store together with the schedule's new mark, in the same commit:
    a restart never fires a time at or before its mark again, and a copy
    of the id is a DUPLICATE anyway (§6.2).

    The loop calls fling_schedules_fire once a turn; it takes each firing's
    task through the intake function the loop hands it (so this module
    never calls the loop or intake itself). Admin requests
    (fling_schedules_admin.c), recovery and compaction call the rest. The
    table is bounded (--max-schedules); a schedule record is the
    definition as JSON (normalised) plus its mark.
*/
#ifndef FLING_SCHEDULES_H_INCLUDED
#define FLING_SCHEDULES_H_INCLUDED

#include "fling_state.h"

#include <jansson.h>

typedef struct fling_schedules fling_schedules_t;

/*  Counters since the broker started (stats, §8). */
typedef struct {
    uint64_t fired;          /* firings whose task the broker took */
    uint64_t duplicates;     /* of those, DUPLICATE: the id was held or had just ended */
    uint64_t missed_run;     /* firings run at start for times that fell while it was down */
    uint64_t missed_skipped; /* schedules whose missed times were skipped at start */
    uint64_t refused;        /* firings refused (full store, a limit): retried a second later */
} fling_schedules_counters_t;

/*  How the loop's intake takes one task record in (fling_producers_accept):
    OK, DUPLICATE, or why not. */
typedef fling_reason_t (fling_schedules_accept_fn) (fling_broker_t *self,
                                                    const fling_record_t *record);

fling_schedules_t *fling_schedules_new (size_t max);
void fling_schedules_destroy (fling_schedules_t **self_p);

/*  Schedules held, and the counters. */
size_t fling_schedules_count (const fling_schedules_t *self);
const fling_schedules_counters_t *fling_schedules_counters (const fling_schedules_t *self);

/*  Adds a checked schedule (from fling_schedules_json_parse; not taken), or
    replaces the one of its name (its mark stays, at least now: no time
    already passed fires for a changed definition). An identical one
    changes nothing. Stages its record in the store (the caller commits).
    0 with *added / *replaced / *next_ms set, or -1 with why in `error`
    (the table is full, the store is full or failed). */
int fling_schedules_add (fling_broker_t *self, const json_t *def, bool *added, bool *replaced,
                         int64_t *next_ms, char *error, size_t error_size);

/*  Removes a schedule: 1 removed, 0 none of that name, -1 the store
    refused (why in `error`). */
int fling_schedules_remove (fling_broker_t *self, const char *name, char *error, size_t error_size);

/*  The schedules by name, at most `limit`: [def + "next_ms", "last_ms"]. */
json_t *fling_schedules_list (fling_broker_t *self, size_t limit);

/*  The `schedules` object of stats (§8). */
json_t *fling_schedules_stats (fling_broker_t *self);

/*  Recovery: a SCHEDULE or SCHEDULE_REMOVED note of the store
    (FLING_STORE_EV_NOTE; the latest record of a name wins; a note it does
    not keep is released). 0, or -1 out of memory. */
int fling_schedules_recovered (fling_broker_t *self, const fling_store_event_t *event);

/*  End of turn: fires what is due by the wall clock, each firing's task
    taken through `accept`. The first call after start is "at start": a
    schedule's missed times run once (the latest) or not, by its policy. */
void fling_schedules_fire (fling_broker_t *self, fling_schedules_accept_fn *accept);

/*  Milliseconds until the earliest firing (<= 0: due), or `none_ms` when
    there is none sooner: the loop's poll sleeps no longer. */
long fling_schedules_timeout_ms (const fling_broker_t *self, long none_ms);

/*  Puts again the schedule records living in the store's compaction
    candidate (fling_tasks_compact moves the tasks). */
void fling_schedules_compact (fling_broker_t *self);

#endif
