/*  fling_alarm.c - see fling_alarm.h. */
#include "fling_alarm.h"

#include "fling_log.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct fling_alarm {
    zloop_t *loop;
    int fd;
    /* Pending alarms, ascending, no repeats; [0] is the one armed. */
    int64_t pending[FLING_ALARM_PENDING_MAX];
    size_t count;
};

static int on_alarm (zloop_t *loop, zmq_pollitem_t *item, void *arg);

fling_alarm_t *fling_alarm_new (zloop_t *loop)
{
    fling_alarm_t *self = (fling_alarm_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    zmq_pollitem_t item = {NULL, self->fd, ZMQ_POLLIN, 0};
    if (self->fd < 0 || zloop_poller (loop, &item, on_alarm, self)) {
        int saved = errno;
        if (self->fd >= 0)
            close (self->fd);
        free (self);
        errno = saved ? saved : ENOMEM;
        return NULL;
    }
    return self;
}

void fling_alarm_destroy (fling_alarm_t **self_p)
{
    fling_alarm_t *self = *self_p;
    if (!self)
        return;
    zmq_pollitem_t item = {NULL, self->fd, ZMQ_POLLIN, 0};
    zloop_poller_end (self->loop, &item);
    close (self->fd);
    free (self);
    *self_p = NULL;
}

/* Arms the timerfd for the first pending alarm, or disarms it. */
static void arm (fling_alarm_t *self)
{
    struct itimerspec spec;
    memset (&spec, 0, sizeof spec);
    if (self->count) {
        spec.it_value.tv_sec = self->pending[0] / 1000;
        spec.it_value.tv_nsec = (long)(self->pending[0] % 1000) * 1000000L;
    }
    if (timerfd_settime (self->fd, TFD_TIMER_ABSTIME, &spec, NULL))
        fling_debug ("alarm: timerfd_settime failed: %s", strerror (errno));
}

void fling_alarm_at (fling_alarm_t *self, int64_t ms)
{
    if (ms <= fling_clock_ms ())
        return;
    size_t at = self->count;
    while (at > 0 && self->pending[at - 1] > ms)
        at--;
    if ((at > 0 && self->pending[at - 1] == ms) || at == FLING_ALARM_PENDING_MAX)
        return;
    if (self->count == FLING_ALARM_PENDING_MAX)
        self->count--; /* the latest goes */
    memmove (&self->pending[at + 1], &self->pending[at], (self->count - at) * sizeof (int64_t));
    self->pending[at] = ms;
    self->count++;
    if (at == 0)
        arm (self);
}

size_t fling_alarm_pending (const fling_alarm_t *self)
{
    return self->count;
}

int64_t fling_alarm_next (const fling_alarm_t *self)
{
    return self->count ? self->pending[0] : -1;
}

/* The poll woke: zloop fires the timers now due on this same turn. */
static int on_alarm (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fling_alarm_t *self = (fling_alarm_t *)arg;
    uint64_t expirations;
    if (read (self->fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        fling_debug ("alarm: read failed: %s", strerror (errno));
    int64_t now = fling_clock_ms ();
    size_t done = 0;
    while (done < self->count && self->pending[done] <= now)
        done++;
    if (done) {
        memmove (&self->pending[0], &self->pending[done], (self->count - done) * sizeof (int64_t));
        self->count -= done;
        arm (self);
    }
    return 0;
}
