/*  fling_worker_http.h - the HTTP port of fling-worker: /metrics (the
    Prometheus text format) and /healthz.

    The host program's part, not the library's: it serves what
    fling_worker_stats() and fling_worker_metrics() say, on the worker's
    loop thread (a zloop poller on fling_http's fd), so the HTTP thread
    never reads the worker's state. Off unless --http-addr is given:
    several workers often share a host, and a default port would collide.
*/
#ifndef FLING_WORKER_HTTP_H_INCLUDED
#define FLING_WORKER_HTTP_H_INCLUDED

#include <stddef.h>

#include "fling_worker.h"

typedef struct fling_worker_http fling_worker_http_t;

/*  Listens on `address` ("HOST:PORT") for `worker`, whose loop it joins.
    NULL with the reason in `error`. */
fling_worker_http_t *fling_worker_http_new (fling_worker_t *worker, const char *address,
                                            char *error, size_t error_size);

/*  The address it listens on, the port resolved. */
const char *fling_worker_http_address (const fling_worker_http_t *self);

void fling_worker_http_destroy (fling_worker_http_t **self_p);

#endif
