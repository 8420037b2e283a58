/*  fling_reaper.h - the broker's timed duties toward its workers: silence,
    probes, lease deadlines.
*/
#ifndef FLING_REAPER_H_INCLUDED
#define FLING_REAPER_H_INCLUDED

#include "fling_state.h"

/*  Declares dead every worker silent for longer than worker_timeout_ms,
    and every worker holding tasks whose connection is gone (probed with
    a PING after heartbeat/4 of silence). */
void fling_reaper_reap (fling_broker_t *self);

/*  Ends every lease whose deadline passed (as a TIMEOUT). */
void fling_reaper_expire_leases (fling_broker_t *self);

#endif
