/*  fling_store.c - the store interface and the "memory" store. */
#include "fling_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fling_store {
    const fling_store_ops_t *ops;
    void *state;
    char kind[16];
};

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

int fling_store_append (fling_store_t *self, const fling_task_id_t *id, const uint8_t *record,
                        size_t size)
{
    return self->ops->append (self->state, id, record, size);
}

int fling_store_attempt (fling_store_t *self, const fling_task_id_t *id, uint16_t attempt)
{
    return self->ops->attempt (self->state, id, attempt);
}

int fling_store_commit (fling_store_t *self)
{
    return self->ops->commit (self->state);
}

int fling_store_complete (fling_store_t *self, const fling_task_id_t *id)
{
    return self->ops->complete (self->state, id);
}

int fling_store_recover (fling_store_t *self, fling_store_recover_fn *fn, void *arg)
{
    return self->ops->recover (self->state, fn, arg);
}

/* ---- memory: the broker's tables are the only copy ---------------------- */

static int memory_append (void *state, const fling_task_id_t *id, const uint8_t *record,
                          size_t size)
{
    return 0;
}

static int memory_attempt (void *state, const fling_task_id_t *id, uint16_t attempt)
{
    return 0;
}

static int memory_commit (void *state)
{
    return 0;
}

static int memory_complete (void *state, const fling_task_id_t *id)
{
    return 0;
}

static int memory_recover (void *state, fling_store_recover_fn *fn, void *arg)
{
    return 0; /* nothing survives a restart */
}

static void memory_destroy (void *state)
{
}

static const fling_store_ops_t memory_ops = {
    .append = memory_append,
    .attempt = memory_attempt,
    .commit = memory_commit,
    .complete = memory_complete,
    .recover = memory_recover,
    .destroy = memory_destroy,
};

bool fling_store_kind_valid (const char *kind)
{
    return kind && strcmp (kind, "memory") == 0;
}

fling_store_t *fling_store_open (const char *kind)
{
    if (!fling_store_kind_valid (kind)) {
        errno = EINVAL;
        return NULL;
    }
    return fling_store_new ("memory", &memory_ops, NULL);
}
