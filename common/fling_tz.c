/*  fling_tz.c - see fling_tz.h. The file format is RFC 8536 (TZif). */
#include "fling_tz.h"
#include "fling_timetext.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZIF_HEADER   44
#define TZIF_MAX_SIZE (1 << 20) /* a zone file is a few KiB */
#define DAY_S         86400

/* A date of the footer's rule: month m, week w (5 = last), weekday d, at
   `time_s` local time (SPEC: POSIX TZ `Mm.w.d/time`). */
typedef struct {
    int month, week, weekday;
    int32_t time_s;
} rule_date_t;

typedef struct {
    int32_t std_offset, dst_offset; /* seconds east of UTC */
    bool has_dst;
    rule_date_t start, end; /* start in standard time, end in daylight time */
} rule_t;

struct fling_tz {
    char *name;
    int64_t *times;   /* transitions, ascending */
    int32_t *offsets; /* the offset from each transition on */
    size_t count;
    int32_t first_offset; /* before the first transition */
    bool has_rule;        /* the footer continues after the last transition */
    rule_t rule;
};

/* ---- reading the file ------------------------------------------------------ */

static uint32_t be32 (const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int64_t be64 (const uint8_t *p)
{
    return (int64_t)(((uint64_t)be32 (p) << 32) | be32 (p + 4));
}

typedef struct {
    uint32_t isut, isstd, leap, time, type, chars;
} counts_t;

static bool read_counts (const uint8_t *p, size_t size, counts_t *c)
{
    if (size < TZIF_HEADER || memcmp (p, "TZif", 4) != 0)
        return false;
    c->isut = be32 (p + 20);
    c->isstd = be32 (p + 24);
    c->leap = be32 (p + 28);
    c->time = be32 (p + 32);
    c->type = be32 (p + 36);
    c->chars = be32 (p + 40);
    return c->type >= 1 && c->type <= 256 && c->time <= 100000 && c->leap <= 100000 &&
           c->chars <= 100000;
}

/* Bytes of the data block after a header, with `tsize`-byte times. */
static size_t block_size (const counts_t *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

/* The transitions and types of the block at `p` (already bounds-checked). */
static bool load_block (fling_tz_t *self, const uint8_t *p, const counts_t *c, size_t tsize)
{
    const uint8_t *idx = p + c->time * tsize, *types = idx + c->time;
    self->count = c->time;
    self->times = (int64_t *)calloc (c->time + 1, sizeof (int64_t));
    self->offsets = (int32_t *)calloc (c->time + 1, sizeof (int32_t));
    if (!self->times || !self->offsets)
        return false;
    for (size_t i = 0; i < c->time; i++) {
        if (idx[i] >= c->type)
            return false;
        self->times[i] = tsize == 8 ? be64 (p + 8 * i) : (int32_t)be32 (p + 4 * i);
        self->offsets[i] = (int32_t)be32 (types + 6 * idx[i]);
        if (i && self->times[i] <= self->times[i - 1])
            return false;
    }
    self->first_offset = (int32_t)be32 (types); /* type 0: before the first (RFC 8536 §3.2) */
    return true;
}

/* ---- the footer: a POSIX TZ string ---------------------------------------- */

/* [+-]hh[:mm[:ss]] into seconds; advances *p. */
static bool parse_hms (const char **p, int32_t *out)
{
    int sign = 1;
    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    int32_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i && **p != ':')
            break;
        if (i)
            (*p)++;
        if (**p < '0' || **p > '9')
            return false;
        for (; **p >= '0' && **p <= '9'; (*p)++)
            parts[i] = parts[i] * 10 + (**p - '0');
        if (parts[i] > 167)
            return false;
    }
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return true;
}

static bool skip_name (const char **p)
{
    const char *start = *p;
    if (**p == '<') {
        const char *close = strchr (*p, '>');
        if (!close)
            return false;
        *p = close + 1;
        return true;
    }
    while ((**p >= 'A' && **p <= 'Z') || (**p >= 'a' && **p <= 'z'))
        (*p)++;
    return *p - start >= 3;
}

/* Mm.w.d[/time]; the J and plain day-number forms are not used by any
   zone's footer in tzdata, and are refused. */
static bool parse_rule_date (const char **p, rule_date_t *d)
{
    if (**p != 'M' || sscanf (*p, "M%d.%d.%d", &d->month, &d->week, &d->weekday) != 3)
        return false;
    (*p)++;
    while ((**p >= '0' && **p <= '9') || **p == '.')
        (*p)++;
    d->time_s = 7200;
    if (**p == '/' && ((*p)++, !parse_hms (p, &d->time_s)))
        return false;
    return d->month >= 1 && d->month <= 12 && d->week >= 1 && d->week <= 5 && d->weekday >= 0 &&
           d->weekday <= 6;
}

static bool parse_footer (const char *text, rule_t *rule)
{
    const char *p = text;
    int32_t std;
    if (!skip_name (&p) || !parse_hms (&p, &std))
        return false;
    rule->std_offset = -std; /* POSIX counts west of UTC */
    rule->has_dst = false;
    if (*p == 0)
        return true;
    if (!skip_name (&p))
        return false;
    int32_t dst = std - 3600;
    if (*p != ',' && !parse_hms (&p, &dst))
        return false;
    rule->dst_offset = -dst;
    rule->has_dst = true;
    return *p++ == ',' && parse_rule_date (&p, &rule->start) && *p++ == ',' &&
           parse_rule_date (&p, &rule->end) && *p == 0;
}

/* The instant (UTC s) of a rule date in `year`, its time read at `offset`. */
static int64_t rule_instant (const rule_date_t *d, int year, int32_t offset)
{
    int64_t first = fling_days_from_civil (year, d->month, 1);
    int day = 1 + (d->weekday - fling_weekday_of_days (first) + 7) % 7 + 7 * (d->week - 1);
    while (day > fling_days_in_month (year, d->month))
        day -= 7;
    return (first + day - 1) * DAY_S + d->time_s - offset;
}

static int32_t rule_offset (const rule_t *rule, int64_t utc_s)
{
    if (!rule->has_dst)
        return rule->std_offset;
    int year, month, day;
    fling_civil_from_days ((utc_s + rule->std_offset) / DAY_S - ((utc_s + rule->std_offset) < 0),
                           &year, &month, &day);
    int64_t start = rule_instant (&rule->start, year, rule->std_offset);
    int64_t end = rule_instant (&rule->end, year, rule->dst_offset);
    bool dst = start < end ? utc_s >= start && utc_s < end : utc_s < end || utc_s >= start;
    return dst ? rule->dst_offset : rule->std_offset;
}

/* ---- the zone -------------------------------------------------------------- */

static bool name_valid (const char *name)
{
    if (!name || !*name || name[0] == '/' || strlen (name) > 200 || strstr (name, ".."))
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              strchr ("/_+-", *c)))
            return false;
    return true;
}

static uint8_t *read_file (const char *name, size_t *size)
{
    const char *dir = getenv ("TZDIR");
    char path[512];
    snprintf (path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    uint8_t *data = (uint8_t *)malloc (TZIF_MAX_SIZE);
    *size = data ? fread (data, 1, TZIF_MAX_SIZE, file) : 0;
    fclose (file);
    return data;
}

/* The zone from the bytes of its file: the 64-bit block of version 2 and
   later (RFC 8536 §3), or version 1's 32-bit one. */
static bool parse (fling_tz_t *self, const uint8_t *data, size_t size)
{
    counts_t c;
    if (!read_counts (data, size, &c) || TZIF_HEADER + block_size (&c, 4) > size)
        return false;
    if (data[4] == 0)
        return load_block (self, data + TZIF_HEADER, &c, 4);
    const uint8_t *second = data + TZIF_HEADER + block_size (&c, 4);
    size_t left = size - (size_t)(second - data);
    if (!read_counts (second, left, &c) || TZIF_HEADER + block_size (&c, 8) > left)
        return false;
    if (!load_block (self, second + TZIF_HEADER, &c, 8))
        return false;
    const char *footer = (const char *)second + TZIF_HEADER + block_size (&c, 8);
    size_t footer_size = size - (size_t)((const uint8_t *)footer - data);
    char text[128];
    if (footer_size >= 2 && footer[0] == '\n' && footer_size - 1 < sizeof text) {
        memcpy (text, footer + 1, footer_size - 1);
        text[footer_size - 1] = 0;
        char *end = strchr (text, '\n');
        if (end) {
            *end = 0;
            self->has_rule = parse_footer (text, &self->rule);
        }
    }
    return true;
}

fling_tz_t *fling_tz_new (const char *name)
{
    if (!name_valid (name)) {
        errno = EINVAL;
        return NULL;
    }
    size_t size = 0;
    uint8_t *data = read_file (name, &size);
    /* UTC needs no file: a container without tzdata still has it. */
    if (!data && (strcmp (name, "UTC") == 0 || strcmp (name, "Etc/UTC") == 0)) {
        fling_tz_t *utc = (fling_tz_t *)calloc (1, sizeof *utc);
        if (utc && !(utc->name = strdup (name)))
            fling_tz_destroy (&utc);
        return utc;
    }
    if (!data) {
        errno = ENOENT;
        return NULL;
    }
    fling_tz_t *self = (fling_tz_t *)calloc (1, sizeof *self);
    bool ok = self && (self->name = strdup (name)) && parse (self, data, size);
    free (data);
    if (!ok) {
        fling_tz_destroy (&self);
        errno = EINVAL;
        return NULL;
    }
    return self;
}

void fling_tz_destroy (fling_tz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_tz_t *self = *self_p;
    free (self->name);
    free (self->times);
    free (self->offsets);
    free (self);
    *self_p = NULL;
}

const char *fling_tz_name (const fling_tz_t *self)
{
    return self->name;
}

int32_t fling_tz_offset (const fling_tz_t *self, int64_t utc_s)
{
    if (self->count == 0 || utc_s < self->times[0])
        return self->count == 0 && self->has_rule ? rule_offset (&self->rule, utc_s)
                                                  : self->first_offset;
    size_t lo = 0, hi = self->count; /* times[lo] <= utc_s < times[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->times[mid] <= utc_s)
            lo = mid;
        else
            hi = mid;
    }
    if (lo == self->count - 1 && self->has_rule)
        return rule_offset (&self->rule, utc_s);
    return self->offsets[lo];
}

int fling_tz_resolve (const fling_tz_t *self, int64_t local_s, int64_t instants[2])
{
    /* The offsets a day before and after: a wall time is either of them
       (two changes within two days happen in no zone's history that
       matters to a schedule). */
    int32_t before = fling_tz_offset (self, local_s - DAY_S);
    int32_t after = fling_tz_offset (self, local_s + DAY_S);
    int n = 0;
    if (fling_tz_offset (self, local_s - before) == before)
        instants[n++] = local_s - before;
    if (after != before && fling_tz_offset (self, local_s - after) == after)
        instants[n++] = local_s - after;
    if (n == 2 && instants[1] < instants[0]) {
        int64_t first = instants[1];
        instants[1] = instants[0];
        instants[0] = first;
    }
    return n;
}

int64_t fling_tz_change_after (const fling_tz_t *self, int64_t utc_s, int64_t limit_s)
{
    int32_t from = fling_tz_offset (self, utc_s);
    if (fling_tz_offset (self, limit_s) == from)
        return limit_s;
    int64_t lo = utc_s, hi = limit_s; /* offset(lo) == from != offset(hi) */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (fling_tz_offset (self, mid) == from)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}
