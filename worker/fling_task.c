/*  fling_task.c - task construction and the public task accessors. */
#include "fling_task.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ID_NONE, ID_BUSY, ID_READY }; /* id_state */

fling_task_t *fling_task_new (fling_worker_t *worker, fling_blockpool_t *blocks,
                              const fling_record_t *record, struct fling_handler *handler,
                              fling_class_t cls)
{
    if (record->raw_size > UINT32_MAX) {
        errno = EINVAL;
        return NULL;
    }
    fling_task_t *self =
        (fling_task_t *)fling_blockpool_take (blocks, sizeof *self + record->raw_size);
    if (!self)
        return NULL;
    memset (self, 0, sizeof *self);
    self->handler = handler;
    self->cls = cls;
    memcpy (self->record, record->raw, record->raw_size);
    self->record_size = (uint32_t)record->raw_size;
    self->worker = worker;
    self->blocks = blocks;
    self->id = record->id;
    self->attempt = record->attempt;
    self->timeout_ms = record->timeout_ms;
    self->status = FLING_FAIL;
    /* Same offsets as in the frame: the zero bytes come along with the copy. */
    self->name = (const char *)self->record + (record->name - (const char *)record->raw);
    self->payload = (const char *)self->record + (record->payload - (const char *)record->raw);
    self->payload_size = record->payload_size;
    atomic_init (&self->id_state, ID_NONE);
    return self;
}

void fling_task_destroy (fling_task_t **self_p)
{
    fling_task_t *self = *self_p;
    if (!self)
        return;
    free (self->error);
    fling_blockpool_give (self->blocks, self, sizeof *self + self->record_size);
    *self_p = NULL;
}

void fling_task_free (fling_task_t **self_p)
{
    fling_task_t *self = *self_p;
    if (!self)
        return;
    free (self->error);
    free (self); /* a blocking task's block is a malloc'd block */
    *self_p = NULL;
}

const char *fling_task_name (const fling_task_t *task)
{
    return task->name;
}

const char *fling_task_payload (const fling_task_t *task)
{
    return task->payload;
}

size_t fling_task_payload_size (const fling_task_t *task)
{
    return task->payload_size;
}

/* The first caller formats, any later one waits for it. Atomic because
   two threads may ask first at once: a blocking handler on its pool
   thread and the loop thread logging an overrun or a drain timeout. */
static void format_id (fling_task_t *self)
{
    unsigned char expected = ID_NONE;
    if (atomic_compare_exchange_strong_explicit (&self->id_state, &expected, ID_BUSY,
                                                 memory_order_acquire, memory_order_acquire)) {
        fling_task_id_format (&self->id, self->id_text);
        atomic_store_explicit (&self->id_state, ID_READY, memory_order_release);
        return;
    }
    while (atomic_load_explicit (&self->id_state, memory_order_acquire) != ID_READY)
        sched_yield (); /* the other thread needs nanoseconds, unless preempted */
}

const char *fling_task_id (const fling_task_t *task)
{
    /* The cache is the one thing written through a const task: tasks are
       always heap objects, never const ones. */
    fling_task_t *self = (fling_task_t *)task;
    if (atomic_load_explicit (&self->id_state, memory_order_acquire) != ID_READY)
        format_id (self);
    return self->id_text;
}

unsigned fling_task_attempt (const fling_task_t *task)
{
    return task->attempt;
}

fling_worker_t *fling_task_worker (const fling_task_t *task)
{
    return task->worker;
}

/* Cuts `size` back to FLING_ERROR_TEXT_MAX without splitting a UTF-8
   sequence, so the broker stores valid text. */
static size_t clip_utf8 (const char *text, size_t size)
{
    if (size <= FLING_ERROR_TEXT_MAX)
        return size;
    size = FLING_ERROR_TEXT_MAX;
    while (size > 0 && ((unsigned char)text[size] & 0xC0) == 0x80)
        size--;
    return size;
}

void fling_task_set_error (fling_task_t *task, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = NULL;
    int size = vasprintf (&text, format, args);
    va_end (args);
    if (size < 0)
        return; /* out of memory: keep the previous text, if any */
    free (task->error);
    task->error = text;
    task->error_size = clip_utf8 (text, (size_t)size);
    text[task->error_size] = '\0';
}
