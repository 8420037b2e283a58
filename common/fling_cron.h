/*  fling_cron.h - cron expressions and their fire times in an IANA time
    zone (proto/SPEC.md §6.8), for the broker's schedules.

    Five fields, minute hour day-of-month month day-of-week, each `*`, a
    value, a range `a-b`, a step (a star then `/n`, `a-b/n`, or `a/n` from
    a to the field's end), or a comma list of those; months jan-dec and
    weekdays sun-sat by name (any case), weekday 0 and 7 both Sunday; or
    one of @yearly, @annually, @monthly, @weekly, @daily, @midnight,
    @hourly. When both day fields are restricted (neither starts with a
    star) a day matches if either does, as in Vixie cron.

    Daylight saving time, as Vixie cron and cronie document it (cron(8)):
    an expression whose minute and hour fields both start with a digit
    fires, for a wall time that a change skips, at the first instant after
    the change, and for a wall time that occurs twice, at its first
    occurrence only; any other expression fires at every matching wall
    time that exists, twice for a repeated one.

    No Debian package offers a kept C cron library (bookworm: Go's robfig
    cron, Perl and Ruby modules only), hence this module; its tests hold it
    to published vectors (tests/unit/test_cron.c).
*/
#ifndef FLING_CRON_H_INCLUDED
#define FLING_CRON_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_cron fling_cron_t;

/*  Parses `expression` for the zone `tz` (NULL = "UTC"). NULL with errno
    (EINVAL: a bad expression, with why in `error`; ENOENT: no such zone)
    on failure. */
fling_cron_t *fling_cron_new (const char *expression, const char *tz, char *error,
                              size_t error_size);
void fling_cron_destroy (fling_cron_t **self_p);

/*  The first fire time strictly after `after_ms` (UTC, ms since the epoch;
    fire times are whole minutes), or -1 when none falls within the next
    eight years (an expression such as "0 0 30 2 *"). */
int64_t fling_cron_next (const fling_cron_t *self, int64_t after_ms);

#ifdef __cplusplus
}
#endif

#endif
