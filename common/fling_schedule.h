/*  fling_schedule.h - a periodic schedule owned by the broker (proto/SPEC.md
    §6.8): its fire times (a cron expression in a time zone, or an interval
    aligned on the Unix epoch), which fire time is due now, and the
    deterministic id of each firing's task.

    Pure logic, no I/O: the broker keeps each schedule's mark (the latest
    fire time it handled, fired or skipped) durably and asks
    fling_schedule_due() on every turn; the command line uses the same
    module to check a schedule and show its next fire times.
*/
#ifndef FLING_SCHEDULE_H_INCLUDED
#define FLING_SCHEDULE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fling_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FLING_EVERY_MS_MIN 1000
#define FLING_EVERY_MS_MAX 2147483648u /* 2^31 ms, about 24.8 days */

/*  A firing that fell while the broker was down: run once, or not. */
typedef enum { FLING_MISSED_ONCE = 0, FLING_MISSED_SKIP = 1 } fling_missed_t;

typedef struct {
    const char *name;  /* 1-127 bytes of [A-Za-z0-9._:-]: the schedule's identity */
    const char *cron;  /* a cron expression (fling_cron.h), or NULL ... */
    uint64_t every_ms; /* ... an interval, FLING_EVERY_MS_MIN..MAX; exactly one of the two */
    const char *tz;    /* IANA zone of `cron`; NULL = "UTC" */
    fling_missed_t missed;
} fling_schedule_def_t;

typedef struct fling_schedule fling_schedule_t;

/*  NULL with errno (EINVAL with why in `error`, ENOENT for an unknown
    zone). */
fling_schedule_t *fling_schedule_new (const fling_schedule_def_t *def, char *error,
                                      size_t error_size);
void fling_schedule_destroy (fling_schedule_t **self_p);

/*  The first fire time strictly after `after_ms`, or -1 when there is none
    within eight years. */
int64_t fling_schedule_next (const fling_schedule_t *self, int64_t after_ms);

/*  What to fire at `now_ms`, given *mark_ms, the latest fire time already
    handled (a new schedule starts with its mark at the time it was added,
    so that nothing before that fires). Returns the fire time to fire now,
    or -1 for none; moves *mark_ms to the latest fire time at or before
    now. Several fire times passed since the mark (the broker was down or
    stalled) give one firing, the latest; at start (`at_start`) a schedule
    whose `missed` is SKIP fires none of them. */
int64_t fling_schedule_due (const fling_schedule_t *self, int64_t *mark_ms, int64_t now_ms,
                            bool at_start);

/*  The task id of the firing of schedule `name` at `fire_ms`: producer id
    the first 8 bytes of SHA-1("fling-schedule:" name), sequence the fire
    time. The same schedule added twice, or fired again after a restart,
    makes the same id: the broker's duplicate check runs it once. 0, or -1
    with errno ENOMEM. */
int fling_schedule_task_id (const char *name, int64_t fire_ms, fling_task_id_t *id);

#ifdef __cplusplus
}
#endif

#endif
