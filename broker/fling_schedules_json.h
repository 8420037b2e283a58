/*  fling_schedules_json.h - a SCHEDULE (proto/SPEC.md §5.3) as JSON: checked
    and normalised (every default written out, members in one order, so that
    one schedule has one form and "identical" is json_equal), and its
    fields read back. For the broker's schedules (fling_schedules.c), its
    admin requests and its --schedules file (fling_schedules_admin.c).
*/
#ifndef FLING_SCHEDULES_JSON_H_INCLUDED
#define FLING_SCHEDULES_JSON_H_INCLUDED

#include "fling_proto.h"
#include "fling_schedule.h"

#include <jansson.h>
#include <stdint.h>

/*  Parses and checks a SCHEDULE: its members (unknown ones refused), their
    types and ranges, the cron expression, zone or interval. A new
    normalised object, or NULL with why in `error`. */
json_t *fling_schedules_json_parse (const json_t *schedule, char *error, size_t error_size);

/*  An optional integer member in [0, max]: 0 when absent, -1 when bad. */
int64_t fling_schedules_json_int (const json_t *schedule, const char *key, int64_t max);

/*  A text member, `fallback` when absent, NULL when not a text. */
const char *fling_schedules_json_text (const json_t *schedule, const char *key,
                                       const char *fallback);

/*  The timing of a normalised SCHEDULE (fling_schedule.h): NULL with errno
    and why in `error` when it is bad. */
fling_schedule_t *fling_schedules_json_timing (const json_t *def, char *error, size_t error_size);

#endif
