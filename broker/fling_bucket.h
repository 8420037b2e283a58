/*  fling_bucket.h - a token bucket: the rate limit of one task name
    (proto/SPEC.md §6.8, fling-broker --queue NAME:rate=100/s,burst=20).

    `rate` tokens come every `period_ms` and at most `burst` are kept; the
    dispatch takes one per task it sends. Kept in integers, as tokens times
    `period_ms` (one ms adds `rate` units, a token is `period_ms` units),
    so no fraction of a token is ever lost or made up: over any time T the
    tokens taken are at most burst + rate * T / period_ms.

    A plain struct rather than an opaque one: one is embedded in every
    queue, with no allocation and nothing to free.
*/
#ifndef FLING_BUCKET_H_INCLUDED
#define FLING_BUCKET_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint32_t rate;      /* tokens per period; 0 = no limit */
    uint32_t period_ms; /* 1000 for N/s, 60000 for N/m */
    uint32_t burst;     /* tokens held at most (>= 1 with a rate) */
    uint64_t units;     /* tokens x period_ms */
    int64_t refilled_ms;
} fling_bucket_t;

/*  A full bucket at `now_ms`; rate 0 = no limit (burst and period unused). */
void fling_bucket_init (fling_bucket_t *self, uint32_t rate, uint32_t period_ms, uint32_t burst,
                        int64_t now_ms);

/*  Empty at `since_ms` and refilled at the rate from then on: what a
    broker restarting on its store assumes of a rate limit's bucket, whose
    tokens the last run may have spent just before it stopped (the bucket
    is not stored). */
void fling_bucket_empty_since (fling_bucket_t *self, int64_t since_ms);

/*  Whole tokens held at `now_ms` (after the refill since the last call);
    UINT64_MAX without a limit. `now_ms` never goes back (a monotonic
    clock); an earlier one refills nothing. */
uint64_t fling_bucket_tokens (fling_bucket_t *self, int64_t now_ms);

/*  True when the bucket holds all it can at `now_ms` (always without a
    limit): only then may it be forgotten and made again full, as the
    broker does with a name it no longer holds (fling_names_sweep). */
bool fling_bucket_full (fling_bucket_t *self, int64_t now_ms);

/*  Takes `count` tokens, at most what fling_bucket_tokens said. */
void fling_bucket_take (fling_bucket_t *self, uint64_t count);

/*  Milliseconds from the last refill until the next whole token (0 when
    one is held or there is no limit). */
int64_t fling_bucket_wait_ms (const fling_bucket_t *self);

#endif
