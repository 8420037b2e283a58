/*  fling_bucket.c - see fling_bucket.h. */
#include "fling_bucket.h"

void fling_bucket_init (fling_bucket_t *self, uint32_t rate, uint32_t period_ms, uint32_t burst,
                        int64_t now_ms)
{
    self->rate = rate;
    self->period_ms = period_ms ? period_ms : 1000;
    self->burst = burst ? burst : 1;
    self->units = (uint64_t)self->burst * self->period_ms;
    self->refilled_ms = now_ms;
}

void fling_bucket_empty_since (fling_bucket_t *self, int64_t since_ms)
{
    self->units = 0;
    self->refilled_ms = since_ms;
}

uint64_t fling_bucket_tokens (fling_bucket_t *self, int64_t now_ms)
{
    if (!self->rate)
        return UINT64_MAX;
    uint64_t full = (uint64_t)self->burst * self->period_ms;
    if (now_ms > self->refilled_ms) {
        /* Capped before the multiplication: a bucket idle for years
           cannot overflow, and once full the time idle does not matter. */
        uint64_t elapsed = (uint64_t)(now_ms - self->refilled_ms);
        uint64_t room = full - self->units;
        uint64_t need = (room + self->rate - 1) / self->rate;
        self->units = elapsed >= need ? full : self->units + elapsed * self->rate;
        self->refilled_ms = now_ms;
    }
    return self->units / self->period_ms;
}

bool fling_bucket_full (fling_bucket_t *self, int64_t now_ms)
{
    return !self->rate || fling_bucket_tokens (self, now_ms) >= self->burst;
}

void fling_bucket_take (fling_bucket_t *self, uint64_t count)
{
    if (!self->rate)
        return;
    uint64_t units = count * self->period_ms;
    self->units = units < self->units ? self->units - units : 0;
}

int64_t fling_bucket_wait_ms (const fling_bucket_t *self)
{
    if (!self->rate || self->units >= self->period_ms)
        return 0;
    uint64_t missing = self->period_ms - self->units;
    return (int64_t)((missing + self->rate - 1) / self->rate);
}
