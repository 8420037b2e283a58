/*  fling_timetext.h - times and durations as people write them, and the
    civil calendar under them (proleptic Gregorian, UTC).

    Used by the command line (`fling send --delay 5s --at 2026-12-07T18:00:00Z`)
    and by the cron module (fling_cron.h), which works in civil time.
    Functions return 0, or -1 with errno EINVAL; nothing here allocates.
*/
#ifndef FLING_TIMETEXT_H_INCLUDED
#define FLING_TIMETEXT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  A duration: one or more groups of decimal digits and a unit, ms, s, m,
    h or d ("250ms", "5s", "1h30m"), or "0". At most `max_ms`. */
int fling_duration_parse (const char *text, uint64_t max_ms, uint64_t *ms);

/*  An RFC 3339 time: YYYY-MM-DDTHH:MM:SS, an optional fraction of a second
    (milliseconds are kept, further digits dropped), then Z or +HH:MM /
    -HH:MM. Years 1970-9999; a leap second (:60) is refused. *ms: since
    the Unix epoch. */
int fling_utc_parse (const char *text, int64_t *ms);

/*  Writes `ms` (since the epoch, >= 0) as YYYY-MM-DDTHH:MM:SS.mmmZ into
    `buf` (FLING_UTC_TEXT_SIZE bytes); returns buf. */
#define FLING_UTC_TEXT_SIZE 25
char *fling_utc_format (int64_t ms, char buf[FLING_UTC_TEXT_SIZE]);

/*  Days since 1970-01-01 of a civil date (month 1-12, day 1-31, not
    checked), and back. After Howard Hinnant's days_from_civil, exact for
    every year of int32. */
int64_t fling_days_from_civil (int year, int month, int day);
void fling_civil_from_days (int64_t days, int *year, int *month, int *day);

/*  Days in a month of a year (28-31). */
int fling_days_in_month (int year, int month);

/*  Day of the week of a day count: 0 Sunday .. 6 Saturday. */
int fling_weekday_of_days (int64_t days);

#ifdef __cplusplus
}
#endif

#endif
