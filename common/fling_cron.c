/*  fling_cron.c - see fling_cron.h.

    A field is a bit set of the values it matches. The next fire time is
    found day by day in the zone's civil calendar: a day that matches the
    month and day fields gives a wall time per matching hour and minute,
    and each wall time becomes zero, one or two instants (fling_tz_resolve)
    as the DST rule of fling_cron.h says. A year has at most a few hundred
    matching days, and the search stops at the first day that has a fire
    time, so a call costs microseconds for usual expressions.
*/
#include "fling_cron.h"
#include "fling_timetext.h"
#include "fling_tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S       86400
#define SEARCH_DAYS (8 * 366) /* "0 0 29 2 *" fires every 4 years, sometimes 8 */
#define FIELD_TEXT  64

typedef enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT } field_t;

static const struct {
    const char *name;
    int min, max;
} limits[F_COUNT] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day of month", 1, 31},
    {"month", 1, 12},  {"day of week", 0, 7},
};

struct fling_cron {
    uint64_t bits[F_COUNT]; /* bit v set: value v matches */
    bool star[F_COUNT];     /* the field starts with '*' (Vixie's *_STAR flags) */
    fling_tz_t *tz;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct {
    const char *macro, *expression;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* A value at *p: digits, or a name of the month or weekday field. */
static bool parse_value (const char **p, field_t field, int *out)
{
    if (isdigit ((unsigned char)**p)) {
        int v = 0;
        for (; isdigit ((unsigned char)**p) && v < 1000; (*p)++)
            v = v * 10 + (**p - '0');
        *out = v;
        return true;
    }
    const char *const *names = field == F_MONTH ? month_names : field == F_DOW ? day_names : NULL;
    int count = field == F_MONTH ? 12 : 7, base = field == F_MONTH ? 1 : 0;
    for (int i = 0; names && i < count; i++)
        if (strncasecmp (*p, names[i], 3) == 0) {
            *p += 3;
            *out = base + i;
            return true;
        }
    return false;
}

/* One item of a list: "*", "a", "a-b", each with an optional "/step". */
static bool parse_item (const char *p, field_t field, uint64_t *bits)
{
    int lo = limits[field].min, hi = limits[field].max, step = 1;
    bool range = true;
    if (*p == '*')
        p++;
    else if (!parse_value (&p, field, &lo))
        return false;
    else if (*p == '-') {
        p++;
        if (!parse_value (&p, field, &hi))
            return false;
    } else
        range = false, hi = lo;
    if (*p == '/') {
        p++;
        if (!parse_value (&p, F_MINUTE, &step) || step == 0)
            return false;
        if (!range) /* "a/n": from a to the field's end, as croniter and cronie */
            hi = limits[field].max;
    }
    if (*p || lo < limits[field].min || hi > limits[field].max || lo > hi)
        return false;
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << v;
    return true;
}

static bool parse_field (const char *text, field_t field, fling_cron_t *self)
{
    char copy[FIELD_TEXT];
    if (strlen (text) >= sizeof copy)
        return false;
    strcpy (copy, text);
    self->star[field] = text[0] == '*';
    char *save = NULL;
    int items = 0;
    for (char *item = strtok_r (copy, ",", &save); item;
         item = strtok_r (NULL, ",", &save), items++)
        if (!parse_item (item, field, &self->bits[field]))
            return false;
    if (field == F_DOW && (self->bits[F_DOW] & (1ULL << 7)))
        self->bits[F_DOW] = (self->bits[F_DOW] | 1) & 0x7f; /* 7 is Sunday too */
    /* "1,,2" or a trailing comma: strtok_r skips empty items, so count them. */
    int commas = 0;
    for (const char *c = text; *c; c++)
        commas += *c == ',';
    return items == commas + 1;
}

static int parse (fling_cron_t *self, const char *expression, char *error, size_t error_size)
{
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        if (strcasecmp (expression, macros[i].macro) == 0)
            expression = macros[i].expression;
    char fields[F_COUNT + 1][FIELD_TEXT];
    int n = sscanf (expression, "%63s %63s %63s %63s %63s %63s", fields[0], fields[1], fields[2],
                    fields[3], fields[4], fields[5]);
    if (n != F_COUNT) {
        snprintf (error, error_size, "%s fields, not 5 (minute hour day month weekday)",
                  n > F_COUNT ? "more than 5" : "fewer than 5");
        return -1;
    }
    for (int f = 0; f < F_COUNT; f++)
        if (!parse_field (fields[f], (field_t)f, self)) {
            snprintf (error, error_size, "bad %s field \"%s\"", limits[f].name, fields[f]);
            return -1;
        }
    return 0;
}

fling_cron_t *fling_cron_new (const char *expression, const char *tz, char *error,
                              size_t error_size)
{
    if (error_size)
        error[0] = 0;
    fling_cron_t *self = (fling_cron_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (!expression || parse (self, expression, error, error_size)) {
        if (!expression)
            snprintf (error, error_size, "no expression");
        free (self);
        errno = EINVAL;
        return NULL;
    }
    self->tz = fling_tz_new (tz ? tz : "UTC");
    if (!self->tz) {
        int err = errno;
        snprintf (error, error_size, "unknown time zone \"%s\"", tz ? tz : "UTC");
        free (self);
        errno = err;
        return NULL;
    }
    return self;
}

void fling_cron_destroy (fling_cron_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_tz_destroy (&(*self_p)->tz);
    free (*self_p);
    *self_p = NULL;
}

static bool has (const fling_cron_t *self, field_t field, int value)
{
    return (self->bits[field] >> value) & 1;
}

/* Vixie cron: both day fields restricted -> either may match. */
static bool day_matches (const fling_cron_t *self, int64_t days)
{
    int year, month, day;
    fling_civil_from_days (days, &year, &month, &day);
    if (!has (self, F_MONTH, month))
        return false;
    bool dom = has (self, F_DOM, day), dow = has (self, F_DOW, fling_weekday_of_days (days));
    return self->star[F_DOM] || self->star[F_DOW] ? dom && dow : dom || dow;
}

/* The instant a wall time fires at, the earliest after `after_s`, or
   INT64_MAX (fling_cron.h has the rule). */
static int64_t fire_at (const fling_cron_t *self, int64_t local_s, int64_t after_s)
{
    int64_t at[2];
    int n = fling_tz_resolve (self->tz, local_s, at);
    bool wild = self->star[F_MINUTE] || self->star[F_HOUR];
    if (n == 0) {
        if (wild)
            return INT64_MAX;
        /* Skipped: the first instant after the change. */
        int32_t before = fling_tz_offset (self->tz, local_s - DAY_S);
        int32_t later = fling_tz_offset (self->tz, local_s + DAY_S);
        at[0] = fling_tz_change_after (self->tz, local_s - later, local_s - before);
        n = 1;
    } else if (!wild)
        n = 1; /* repeated: the first occurrence only */
    for (int i = 0; i < n; i++)
        if (at[i] > after_s)
            return at[i];
    return INT64_MAX;
}

/* The earliest fire time of local day `days` after `after_s`, or INT64_MAX. */
static int64_t day_first (const fling_cron_t *self, int64_t days, int64_t after_s)
{
    int64_t best = INT64_MAX;
    for (int h = 0; h < 24; h++) {
        if (!has (self, F_HOUR, h))
            continue;
        for (int m = 0; m < 60; m++) {
            if (!has (self, F_MINUTE, m))
                continue;
            int64_t at = fire_at (self, days * DAY_S + h * 3600 + m * 60, after_s);
            if (at < best)
                best = at;
        }
    }
    return best;
}

int64_t fling_cron_next (const fling_cron_t *self, int64_t after_ms)
{
    int64_t after_s = after_ms >= 0 ? after_ms / 1000 : -((-after_ms + 999) / 1000);
    int64_t local = after_s + fling_tz_offset (self->tz, after_s);
    int64_t first_day = (local >= 0 ? local / DAY_S : -((-local + DAY_S - 1) / DAY_S)) - 1;
    int64_t best = INT64_MAX;
    for (int64_t d = first_day; d < first_day + SEARCH_DAYS; d++) {
        if (!day_matches (self, d))
            continue;
        int64_t at = day_first (self, d, after_s);
        if (at < best)
            best = at;
        /* A repeated hour can put a wall time of day d after the first of
           day d + 1: look one day further before answering. */
        if (best != INT64_MAX && d > first_day && day_matches (self, d + 1)) {
            int64_t next = day_first (self, d + 1, after_s);
            return (next < best ? next : best) * 1000;
        }
        if (best != INT64_MAX && d > first_day)
            return best * 1000;
    }
    return best == INT64_MAX ? -1 : best * 1000;
}
