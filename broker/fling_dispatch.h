/*  fling_dispatch.h - handing waiting tasks to workers with free credit.
 */
#ifndef FLING_DISPATCH_H_INCLUDED
#define FLING_DISPATCH_H_INCLUDED

#include "fling_state.h"

/*  Hands waiting tasks to workers with free credit, and suspects to
    provers (see fling_dispatch.c). */
void fling_dispatch (fling_broker_t *self);

#endif
