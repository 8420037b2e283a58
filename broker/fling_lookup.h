/*  fling_lookup.h - {"op":"task","id":ID}: where one task is now.
 */
#ifndef FLING_LOOKUP_H_INCLUDED
#define FLING_LOOKUP_H_INCLUDED

#include "fling_state.h"

struct json_t;

/*  {"op":"task","id":ID}: where that task is (proto/SPEC.md §5.3). */
struct json_t *fling_lookup_task (fling_broker_t *self, struct json_t *request);

/*  The oldest few tasks leased to `worker`: [{"id","name","for_ms"}], for
    the stats reply (what each worker runs, and for how long). */
struct json_t *fling_lookup_running (fling_broker_t *self, const fling_bworker_t *worker);

#endif
