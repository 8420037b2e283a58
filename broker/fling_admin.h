/*  fling_admin.h - ADMIN requests on the producer socket (JSON in, JSON out).
 */
#ifndef FLING_ADMIN_H_INCLUDED
#define FLING_ADMIN_H_INCLUDED

#include "fling_state.h"

/*  Answers an ADMIN request (JSON text, not NUL-terminated). Returns a new
    JSON string (free() it), or NULL when out of memory. */
char *fling_admin_handle (fling_broker_t *self, const char *request, size_t size);

#endif
