/*  fling_overrun.h - task deadlines and what an overrun does (internal).

    Above the tasks in flight (it finishes, releases and times out tasks
    through fling_flight.h) and the broker link (CAPACITY). Loop thread
    only.
*/
#ifndef FLING_OVERRUN_H_INCLUDED
#define FLING_OVERRUN_H_INCLUDED

#include "fling_worker.h"

/*  Sets the deadline timer's callback and listens for stuck pool threads
    that end. 0, or -1 with errno. */
int fling_overrun_setup (fling_worker_t *self);
#endif
