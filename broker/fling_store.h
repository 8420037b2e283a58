/*  fling_store.h - where the broker keeps accepted tasks until they finish.

    The broker talks to a store only through this interface; a store is a
    table of functions plus its private state inside an opaque
    fling_store_t. "memory" keeps nothing (the broker's own tables are the
    only copy); a durable store implements the same contract:

    - append(id, record): stage one accepted task (the raw record bytes as
      the producer sent them, attempt 0). Staged is not durable.
    - attempt(id, n): the task was handed to a worker for the n-th time (or
      rolled back to n after a release). Rides along with the next commit;
      losing it re-runs a task, never loses one. It is what makes a poison
      task's crash count survive a broker restart.
    - commit(): group commit. Makes everything staged since the last commit
      durable with ONE flush, then returns 0. The broker acknowledges a
      SUBMIT only after the commit that follows its append returned 0. On
      -1, nothing staged since the last good commit may be acknowledged
      (the broker answers UNAVAILABLE and drops those tasks), and the store
      must not report success later for the same data (never retry a
      failed fsync and call it good: RELIABILITY.md §3.3).
    - complete(id): the task left the broker (done, or failed for good).
      May be lazy: it is made durable by a later commit, and losing it only
      runs the task once more.
    - recover(fn): called once at start, before any other call: fn(record,
      size, attempt) for every task appended and not completed, in append
      order. fn returning -1 stops the walk and recover returns -1.

    Calls come from the broker's one thread only. Every call returns 0, or
    -1 with errno (ENOSPC for a full store, EIO for a failed write...).
*/
#ifndef FLING_STORE_H_INCLUDED
#define FLING_STORE_H_INCLUDED

#include "fling_proto.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_store fling_store_t;

typedef int (fling_store_recover_fn) (const uint8_t *record, size_t size, uint16_t attempt,
                                      void *arg);

/*  What a store implements. Every member is required; `state` is the
    pointer given to fling_store_new. */
typedef struct {
    int (*append) (void *state, const fling_task_id_t *id, const uint8_t *record, size_t size);
    int (*attempt) (void *state, const fling_task_id_t *id, uint16_t attempt);
    int (*commit) (void *state);
    int (*complete) (void *state, const fling_task_id_t *id);
    int (*recover) (void *state, fling_store_recover_fn *fn, void *arg);
    void (*destroy) (void *state);
} fling_store_ops_t;

/*  Wraps an implementation. `kind` ("memory", "disk") is copied; `ops` must
    outlive the store (a static table). The store owns `state` and frees it
    through ops->destroy. NULL + errno. */
fling_store_t *fling_store_new (const char *kind, const fling_store_ops_t *ops, void *state);

/*  Opens the store named by `kind`: "memory" only, for now. NULL + EINVAL
    for an unknown kind. */
fling_store_t *fling_store_open (const char *kind);

/*  True if `kind` names a store this build has. */
bool fling_store_kind_valid (const char *kind);

void fling_store_destroy (fling_store_t **self_p);
const char *fling_store_kind (const fling_store_t *self);

int fling_store_append (fling_store_t *self, const fling_task_id_t *id, const uint8_t *record,
                        size_t size);
int fling_store_attempt (fling_store_t *self, const fling_task_id_t *id, uint16_t attempt);
int fling_store_commit (fling_store_t *self);
int fling_store_complete (fling_store_t *self, const fling_task_id_t *id);
int fling_store_recover (fling_store_t *self, fling_store_recover_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
