/*  fling_schedules_admin.h - where schedules come from: the admin requests
    schedule_add, schedule_list and schedule_remove (proto/SPEC.md §5.3,
    FLP/1.2) and the file of --schedules, read at start. Both go through
    fling_schedules.h.
*/
#ifndef FLING_SCHEDULES_ADMIN_H_INCLUDED
#define FLING_SCHEDULES_ADMIN_H_INCLUDED

#include "fling_state.h"

#include <jansson.h>

/*  The reply to a schedule_* request, or NULL when `op` is not one. A
    change is committed to the store before the reply says so. */
json_t *fling_schedules_admin (fling_broker_t *self, const char *op, const json_t *request);

/*  At start, after recovery: the schedules of `path`, one SCHEDULE a line
    (blank lines and lines starting with '#' skipped); each replaces a
    stored one of its name. Any bad line: every bad line logged with its
    number and why, nothing of the file applied, -1 (the broker must not
    start: fail closed). */
int fling_schedules_load_file (fling_broker_t *self, const char *path);

#endif
