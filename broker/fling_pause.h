/*  fling_pause.h - paused queues (proto/SPEC.md §6.8 "Paused queues").

    queue_pause stops dispatch of one name; its tasks are still accepted,
    stored and become due. The pause is a flag in the name's settings
    (fling_queue_settings_t.paused; fling_dispatch.c skips such a queue,
    fling_names.c never forgets its name) and a store note that pins its
    segment while the pause lasts, so it survives a restart even when no
    task of the name is held; compaction puts the note again.
*/
#ifndef FLING_PAUSE_H_INCLUDED
#define FLING_PAUSE_H_INCLUDED

#include "fling_state.h"

struct json_t;

/*  Paused names held at most: each holds a name and a store note. */
#define FLING_PAUSED_MAX 1024

/*  {"op":"queue_pause"|"queue_resume","name":NAME}: the reply, once the
    change is durable (committed now, not at the end of the turn). */
struct json_t *fling_pause_request (fling_broker_t *self, struct json_t *request, bool pause);

/*  A pause note read back at start (FLING_STORE_NOTE_PAUSE): the last one
    of a name wins. -1 when its name cannot be held (out of memory). */
int fling_pause_recover (fling_broker_t *self, const fling_store_event_t *event);

/*  Puts again the pause notes that live in store segment `segment`, so
    the segment can go. Stops at the first the store refuses. */
void fling_pause_compact (fling_broker_t *self, uint32_t segment);

#endif
