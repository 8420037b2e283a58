/*  fling_ratelog.h - log lines a peer can trigger, rate-limited.

    A hostile peer must not be able to fill the disk with the broker's log
    or spend its CPU on formatting: every line whose cause lies in a peer's
    input goes through FLING_LOG_LIMITED, which lets at most
    FLING_RATELOG_LINES lines a second through per call site and adds to
    the next line let through how many were held back ("suppressed=N").
    One thread only (the broker's): the state is a static per call site.
*/
#ifndef FLING_RATELOG_H_INCLUDED
#define FLING_RATELOG_H_INCLUDED

#include "fling_log.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#define FLING_RATELOG_LINES     5 /* lines per window and call site */
#define FLING_RATELOG_WINDOW_MS 1000

typedef struct {
    int64_t window_ms;   /* start of the current window */
    unsigned lines;      /* let through in it */
    uint64_t suppressed; /* held back since the last line let through */
} fling_ratelog_t;

/*  True if a line may go out now; then *suppressed is how many were held
    back since the last one (and the count restarts). */
static inline bool fling_ratelog_allow (fling_ratelog_t *self, uint64_t *suppressed)
{
    int64_t now = fling_clock_ms ();
    if (now - self->window_ms >= FLING_RATELOG_WINDOW_MS) {
        self->window_ms = now;
        self->lines = 0;
    }
    if (self->lines >= FLING_RATELOG_LINES) {
        self->suppressed++;
        return false;
    }
    self->lines++;
    *suppressed = self->suppressed;
    self->suppressed = 0;
    return true;
}

/*  fling_log with a per-call-site limit; `format` must be a literal. */
#define FLING_LOG_LIMITED(level, format, ...)                                                      \
    do {                                                                                           \
        static fling_ratelog_t ratelog_;                                                           \
        uint64_t suppressed_;                                                                      \
        if (fling_log_level () <= (level) && fling_ratelog_allow (&ratelog_, &suppressed_))        \
            fling_log ((level), format " suppressed=%" PRIu64, __VA_ARGS__, suppressed_);          \
    } while (0)

#endif
