/*  fling_results.c - see fling_results.h. */
#include "fling_results.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

struct _fling_results_t {
    uint8_t *data;
    size_t size;
    size_t capacity;
    size_t count;
};

fling_results_t *fling_results_new (void)
{
    return (fling_results_t *)calloc (1, sizeof (fling_results_t));
}

void fling_results_destroy (fling_results_t **self_p)
{
    fling_results_t *self = *self_p;
    if (!self)
        return;
    free (self->data);
    free (self);
    *self_p = NULL;
}

static int s_reserve (fling_results_t *self, size_t extra)
{
    if (self->size + extra <= self->capacity)
        return 0;
    size_t capacity = self->capacity ? self->capacity : 16384;
    while (capacity < self->size + extra)
        capacity *= 2;
    uint8_t *data = (uint8_t *)realloc (self->data, capacity);
    if (!data) {
        errno = ENOMEM;
        return -1;
    }
    self->data = data;
    self->capacity = capacity;
    return 0;
}

int fling_results_add (fling_results_t *self, const fling_result_t *result)
{
    size_t error_size = result->error_size;
    if (error_size > FLING_ERROR_TEXT_MAX)
        error_size = FLING_ERROR_TEXT_MAX;
    if (s_reserve (self, fling_result_size (error_size)))
        return -1;
    self->size += fling_result_write (self->data + self->size, result);
    self->count++;
    return 0;
}

size_t fling_results_count (fling_results_t *self)
{
    return self->count;
}

zmsg_t *fling_results_take (fling_results_t *self)
{
    if (self->count == 0)
        return NULL;
    zmsg_t *msg = fling_msg_result ((uint32_t)self->count, self->data, self->size);
    self->count = 0;
    self->size = 0;
    return msg;
}
