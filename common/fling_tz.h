/*  fling_tz.h - an IANA time zone read from the system's tz database
    (TZif files, RFC 8536), for the cron module (fling_cron.h).

    Why not localtime_r with TZ set: the zone of the C library is one per
    process (setenv + tzset), and the broker needs many at once, one per
    schedule. Why not ICU: it carries its own copy of the tz data, older
    than the system's (Debian updates `tzdata` in stable releases).

    The transitions in the file are used as they are; past the last one
    (a "slim" file, or after 2037) the rule of the file's footer (a POSIX
    TZ string, RFC 8536 §3.3, `Mm.w.d` rules) continues them.
*/
#ifndef FLING_TZ_H_INCLUDED
#define FLING_TZ_H_INCLUDED

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_tz fling_tz_t;

/*  Reads the zone `name` ("Europe/Berlin", "UTC") from $TZDIR or
    /usr/share/zoneinfo. NULL with errno: EINVAL for a name that is not a
    zone name (empty, absolute, "..") or a file that is not TZif, ENOENT
    when there is no such zone. */
fling_tz_t *fling_tz_new (const char *name);
void fling_tz_destroy (fling_tz_t **self_p);

/*  The zone's name, as given. */
const char *fling_tz_name (const fling_tz_t *self);

/*  The offset from UTC, in seconds, at the instant `utc_s` (seconds since
    the epoch): local time = UTC + offset. */
int32_t fling_tz_offset (const fling_tz_t *self, int64_t utc_s);

/*  The instants at which the local wall time `local_s` (seconds since the
    epoch, read as if it were UTC) occurs, earliest first: returns 0 (a
    time a change skips), 1, or 2 (a time a change repeats). */
int fling_tz_resolve (const fling_tz_t *self, int64_t local_s, int64_t instants[2]);

/*  The first instant after `utc_s` at which the offset changes, found
    between `utc_s` and `limit_s` (when the offsets at both differ);
    limit_s when they do not. */
int64_t fling_tz_change_after (const fling_tz_t *self, int64_t utc_s, int64_t limit_s);

#ifdef __cplusplus
}
#endif

#endif
