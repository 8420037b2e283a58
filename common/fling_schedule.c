/*  fling_schedule.c - see fling_schedule.h. */
#include "fling_schedule.h"
#include "fling_cron.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (86400LL * 1000)

struct fling_schedule {
    fling_cron_t *cron; /* NULL for an interval */
    int64_t every_ms;
    fling_missed_t missed;
};

fling_schedule_t *fling_schedule_new (const fling_schedule_def_t *def, char *error,
                                      size_t error_size)
{
    errno = EINVAL;
    if (!def->name || !fling_name_valid (def->name, strlen (def->name))) {
        snprintf (error, error_size, "schedule name: 1-127 bytes of [A-Za-z0-9._:-]");
        return NULL;
    }
    if (!def->cron == !def->every_ms) {
        snprintf (error, error_size, "give a cron expression or an interval, not both");
        return NULL;
    }
    if (def->every_ms &&
        (def->every_ms < FLING_EVERY_MS_MIN || def->every_ms > FLING_EVERY_MS_MAX)) {
        snprintf (error, error_size, "interval outside 1 s to 2^31 ms");
        return NULL;
    }
    if (def->missed != FLING_MISSED_ONCE && def->missed != FLING_MISSED_SKIP) {
        snprintf (error, error_size, "missed: once or skip");
        return NULL;
    }
    fling_schedule_t *self = (fling_schedule_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->every_ms = (int64_t)def->every_ms;
    self->missed = def->missed;
    if (def->cron && !(self->cron = fling_cron_new (def->cron, def->tz, error, error_size))) {
        int err = errno;
        free (self);
        errno = err;
        return NULL;
    }
    return self;
}

void fling_schedule_destroy (fling_schedule_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_cron_destroy (&(*self_p)->cron);
    free (*self_p);
    *self_p = NULL;
}

int64_t fling_schedule_next (const fling_schedule_t *self, int64_t after_ms)
{
    if (self->cron)
        return fling_cron_next (self->cron, after_ms);
    /* Multiples of the interval since the epoch: every broker and every
       admin agree on them. */
    int64_t k = after_ms >= 0 ? after_ms / self->every_ms : -1;
    return (k + 1) * self->every_ms;
}

/* The latest fire time in (from_ms, now_ms], or -1. For a cron expression
   the search starts a day back, then a month, a year, eight years (a
   yearly schedule's latest fire time may be far back), never before
   from_ms. */
static int64_t latest_at_or_before (const fling_schedule_t *self, int64_t from_ms, int64_t now_ms)
{
    if (!self->cron) {
        int64_t latest = now_ms / self->every_ms * self->every_ms;
        return latest > from_ms ? latest : -1;
    }
    static const int64_t windows[] = {DAY_MS, 32 * DAY_MS, 366 * DAY_MS, 8 * 366 * DAY_MS};
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        int64_t start = now_ms - windows[w] > from_ms ? now_ms - windows[w] : from_ms;
        int64_t latest = -1;
        for (int64_t t = fling_cron_next (self->cron, start); t >= 0 && t <= now_ms;
             t = fling_cron_next (self->cron, t))
            latest = t;
        if (latest >= 0 || start == from_ms)
            return latest;
    }
    return -1;
}

int64_t fling_schedule_due (const fling_schedule_t *self, int64_t *mark_ms, int64_t now_ms,
                            bool at_start)
{
    int64_t next = fling_schedule_next (self, *mark_ms);
    if (next < 0 || next > now_ms)
        return -1;
    int64_t latest = latest_at_or_before (self, *mark_ms, now_ms);
    if (latest < 0)
        return -1;
    *mark_ms = latest;
    return at_start && self->missed == FLING_MISSED_SKIP ? -1 : latest;
}

int fling_schedule_task_id (const char *name, int64_t fire_ms, fling_task_id_t *id)
{
    static const char prefix[] = "fling-schedule:";
    zdigest_t *digest = zdigest_new ();
    if (!digest) {
        errno = ENOMEM;
        return -1;
    }
    zdigest_update (digest, (const byte *)prefix, sizeof prefix - 1);
    zdigest_update (digest, (const byte *)name, strlen (name));
    const byte *sha1 = zdigest_data (digest);
    uint64_t producer = 0;
    for (int i = 0; i < 8; i++)
        producer = producer << 8 | sha1[i];
    zdigest_destroy (&digest);
    fling_task_id_make (id, producer, (uint64_t)fire_ms);
    return 0;
}
