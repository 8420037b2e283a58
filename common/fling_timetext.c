/*  fling_timetext.c - see fling_timetext.h. */
#include "fling_timetext.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_DAY 86400000LL

static int invalid (void)
{
    errno = EINVAL;
    return -1;
}

int64_t fling_days_from_civil (int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void fling_civil_from_days (int64_t days, int *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(yoe + era * 400 + (m <= 2));
    *month = m;
    *day = d;
}

int fling_days_in_month (int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int fling_weekday_of_days (int64_t days)
{
    /* 1970-01-01 was a Thursday (4). */
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

/* Exactly `count` digits at *p into *out; advances *p. */
static bool digits (const char **p, int count, int *out)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + (c - '0');
    }
    *p += count;
    *out = value;
    return true;
}

static bool expect (const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Z, z, or +HH:MM / -HH:MM into *offset_ms (local = UTC + offset). */
static bool zone_offset (const char **p, int64_t *offset_ms)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *offset_ms = 0;
        return true;
    }
    char sign = **p;
    int hh, mm;
    if (sign != '+' && sign != '-')
        return false;
    (*p)++;
    if (!digits (p, 2, &hh) || !expect (p, ':') || !digits (p, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *offset_ms = ((int64_t)hh * 60 + mm) * 60000 * (sign == '-' ? -1 : 1);
    return true;
}

/* A fraction of a second after the '.': milliseconds, the rest dropped. */
static bool fraction_ms (const char **p, int *ms)
{
    if (**p < '0' || **p > '9')
        return false;
    int value = 0, scale = 100;
    for (; **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
        value += (**p - '0') * scale;
    *ms = value;
    return true;
}

int fling_utc_parse (const char *text, int64_t *ms)
{
    if (!text)
        return invalid ();
    const char *p = text;
    int year, month, day, hour, minute, second, millis = 0;
    int64_t offset_ms;
    if (!digits (&p, 4, &year) || !expect (&p, '-') || !digits (&p, 2, &month) ||
        !expect (&p, '-') || !digits (&p, 2, &day))
        return invalid ();
    if (*p != 'T' && *p != 't')
        return invalid ();
    p++;
    if (!digits (&p, 2, &hour) || !expect (&p, ':') || !digits (&p, 2, &minute) ||
        !expect (&p, ':') || !digits (&p, 2, &second))
        return invalid ();
    if (*p == '.' && (p++, !fraction_ms (&p, &millis)))
        return invalid ();
    if (!zone_offset (&p, &offset_ms) || *p != 0)
        return invalid ();
    if (year < 1970 || month < 1 || month > 12 || day < 1 ||
        day > fling_days_in_month (year, month) || hour > 23 || minute > 59 || second > 59)
        return invalid ();
    int64_t local = fling_days_from_civil (year, month, day) * MS_PER_DAY +
                    (((int64_t)hour * 60 + minute) * 60 + second) * 1000 + millis;
    if (local - offset_ms < 0)
        return invalid ();
    *ms = local - offset_ms;
    return 0;
}

char *fling_utc_format (int64_t ms, char buf[FLING_UTC_TEXT_SIZE])
{
    int64_t days = ms / MS_PER_DAY, rest = ms % MS_PER_DAY;
    int year, month, day;
    fling_civil_from_days (days, &year, &month, &day);
    unsigned hms = (unsigned)(rest / 1000);
    snprintf (buf, FLING_UTC_TEXT_SIZE, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
              (unsigned)year % 10000u, (unsigned)month % 100u, (unsigned)day % 100u,
              hms / 3600u % 100u, hms / 60u % 60u, hms % 60u, (unsigned)(rest % 1000));
    return buf;
}

/* The unit at *p: its milliseconds, 0 if none. "ms" before "m". */
static uint64_t unit_ms (const char **p)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t n = strlen (units[i].name);
        if (strncmp (*p, units[i].name, n) == 0) {
            *p += n;
            return units[i].ms;
        }
    }
    return 0;
}

int fling_duration_parse (const char *text, uint64_t max_ms, uint64_t *ms)
{
    if (!text || !*text)
        return invalid ();
    if (strcmp (text, "0") == 0) {
        *ms = 0;
        return 0;
    }
    uint64_t total = 0;
    for (const char *p = text; *p;) {
        uint64_t value = 0;
        const char *start = p;
        for (; *p >= '0' && *p <= '9'; p++) {
            value = value * 10 + (uint64_t)(*p - '0');
            if (value > max_ms)
                return invalid ();
        }
        uint64_t unit = p > start ? unit_ms (&p) : 0;
        if (!unit || value > (max_ms - total) / unit)
            return invalid ();
        total += value * unit;
    }
    *ms = total;
    return 0;
}
