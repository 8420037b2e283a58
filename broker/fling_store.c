/*  fling_store.c - the store interface and the "memory" store. */
#include "fling_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fling_store {
    const fling_store_ops_t *ops;
    void *state;
    char kind[16];
};

const char *fling_dead_reason_name (int reason)
{
    switch (reason) {
    case FLING_DEAD_FAILED:
        return "failed";
    case FLING_DEAD_TIMEOUT:
        return "timeout";
    case FLING_DEAD_CRASHED:
        return "crashed";
    default:
        return "none";
    }
}

void fling_store_options_init (fling_store_options_t *options)
{
    memset (options, 0, sizeof *options);
    strcpy (options->dir, "./fling-store");
    fling_wal_options_init (&options->wal);
}

int64_t fling_store_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

fling_store_t *fling_store_new (const char *kind, const fling_store_ops_t *ops, void *state)
{
    if (!kind || !ops || strlen (kind) >= sizeof ((fling_store_t *)0)->kind) {
        errno = EINVAL;
        return NULL;
    }
    fling_store_t *self = (fling_store_t *)calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->ops = ops;
    self->state = state;
    strcpy (self->kind, kind);
    return self;
}

void fling_store_destroy (fling_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_store_t *self = *self_p;
    self->ops->destroy (self->state);
    free (self);
    *self_p = NULL;
}

const char *fling_store_kind (const fling_store_t *self)
{
    return self->kind;
}

int fling_store_put (fling_store_t *self, const fling_task_id_t *id, const fling_store_task_t *task,
                     uint32_t *segment)
{
    return self->ops->put (self->state, id, task, segment);
}

int fling_store_state (fling_store_t *self, const fling_task_id_t *id,
                       const fling_store_task_t *task)
{
    return self->ops->state (self->state, id, task);
}

int fling_store_complete (fling_store_t *self, const fling_task_id_t *id, uint32_t segment,
                          int64_t wall_ms)
{
    return self->ops->complete (self->state, id, segment, wall_ms);
}

int fling_store_commit (fling_store_t *self)
{
    return self->ops->commit (self->state);
}

int fling_store_recover (fling_store_t *self, fling_store_recover_fn *fn, void *arg)
{
    return self->ops->recover (self->state, fn, arg);
}

void fling_store_unpin (fling_store_t *self, uint32_t segment)
{
    self->ops->unpin (self->state, segment);
}

int64_t fling_store_compaction_candidate (fling_store_t *self)
{
    return self->ops->compaction_candidate (self->state);
}

void fling_store_maintain (fling_store_t *self, int64_t now_ms)
{
    self->ops->maintain (self->state, now_ms);
}

void fling_store_status (fling_store_t *self, fling_store_status_t *status)
{
    memset (status, 0, sizeof *status);
    self->ops->status (self->state, status);
}

size_t fling_store_note_max (uint8_t type)
{
    switch (type) {
    case FLING_STORE_NOTE_SCHEDULE:
        return SIZE_MAX; /* a definition with its payload: bounded by the segment */
    case FLING_STORE_NOTE_KEY:
    case FLING_STORE_NOTE_PAUSE:
    case FLING_STORE_NOTE_SCHEDULE_REMOVED:
        return FLING_STORE_NOTE_MAX;
    default:
        return 0;
    }
}

int fling_store_note (fling_store_t *self, uint8_t type, const void *body, size_t size,
                      unsigned flags, uint32_t *segment)
{
    /* Checked here for every store: replay refuses what is larger, so a
       note written must be one replay reads back. */
    if (size > fling_store_note_max (type)) {
        errno = EMSGSIZE;
        return -1;
    }
    return self->ops->note (self->state, type, body, size, flags, segment);
}

void fling_store_release (fling_store_t *self, uint32_t segment)
{
    if (segment)
        self->ops->release (self->state, segment);
}

/* ---- memory: the broker's tables are the only copy ---------------------- */

static int memory_put (void *state, const fling_task_id_t *id, const fling_store_task_t *task,
                       uint32_t *segment)
{
    *segment = 0;
    return 0;
}

static int memory_state (void *state, const fling_task_id_t *id, const fling_store_task_t *task)
{
    return 0;
}

static int memory_complete (void *state, const fling_task_id_t *id, uint32_t segment,
                            int64_t wall_ms)
{
    return 0;
}

static int memory_commit (void *state)
{
    return 0;
}

static int memory_recover (void *state, fling_store_recover_fn *fn, void *arg)
{
    return 0; /* nothing survives a restart */
}

static void memory_unpin (void *state, uint32_t segment)
{
}

static int64_t memory_candidate (void *state)
{
    return -1;
}

static void memory_maintain (void *state, int64_t now_ms)
{
}

static void memory_status (void *state, fling_store_status_t *status)
{
}

static int memory_note (void *state, uint8_t type, const void *body, size_t size, unsigned flags,
                        uint32_t *segment)
{
    *segment = 0;
    return 0;
}

static void memory_release (void *state, uint32_t segment)
{
}

static void memory_destroy (void *state)
{
}

static const fling_store_ops_t memory_ops = {
    .put = memory_put,
    .state = memory_state,
    .complete = memory_complete,
    .commit = memory_commit,
    .recover = memory_recover,
    .unpin = memory_unpin,
    .compaction_candidate = memory_candidate,
    .maintain = memory_maintain,
    .status = memory_status,
    .note = memory_note,
    .release = memory_release,
    .destroy = memory_destroy,
};

fling_store_t *fling_store_memory_open (void)
{
    return fling_store_new ("memory", &memory_ops, NULL);
}
