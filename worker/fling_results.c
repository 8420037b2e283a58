/*  fling_results.c - see fling_results.h. */
#include "fling_results.h"

#include "fling_pages.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A full batch of results without error text fits. */
#define FIRST_CAPACITY ((size_t)FLING_BATCH_TASKS_MAX * FLING_RESULT_OVERHEAD)
#define SPARES_MAX                                                                                 \
    32 /* buffers kept for reuse; 16 made up front: W3 had more inside libzmq at once */
#define SPARES_FIRST 16

/* Each buffer starts with this header; the records follow it. */
typedef struct buffer_head {
    struct buffer_head *next; /* on the shelf */
    size_t capacity;          /* bytes after the header */
} buffer_head_t;

#define HEAD_SIZE ((sizeof (buffer_head_t) + 15) & ~(size_t)15)

/* Where buffers come back to, from libzmq's I/O thread: the one piece of
   this module two threads touch, so it has its own lock and outlives the
   batch while buffers are still out. */
typedef struct {
    pthread_mutex_t lock;
    buffer_head_t *spares;
    size_t spare_count;
    size_t lent; /* inside libzmq */
    bool closed; /* the batch is gone: returning buffers are freed */
} shelf_t;

struct fling_results {
    uint8_t *data; /* records, after a buffer_head_t; NULL: no buffer yet */
    size_t size;
    size_t capacity;
    size_t count;
    shelf_t *shelf;
};

static buffer_head_t *head_of (uint8_t *data)
{
    return (buffer_head_t *)(void *)(data - HEAD_SIZE);
}

/* Buffers are mapped, faulted in, never taken from the heap: a malloc
   this large makes glibc consolidate every small free chunk of the loop
   thread's heap first (~100 us with a W3 worker's 10,000 zloop timers,
   2-21 times a run when the spares ran out). NULL + ENOMEM. */
static buffer_head_t *buffer_new (size_t capacity)
{
    size_t size = HEAD_SIZE + capacity;
    buffer_head_t *head = (buffer_head_t *)fling_pages_map (&size, true);
    if (!head)
        return NULL;
    head->next = NULL;
    head->capacity = size - HEAD_SIZE;
    return head;
}

static void buffer_free (buffer_head_t *head)
{
    if (head)
        fling_pages_unmap (head, HEAD_SIZE + head->capacity);
}

static void shelf_free (shelf_t *shelf)
{
    pthread_mutex_destroy (&shelf->lock);
    free (shelf);
}

/* libzmq is done with a RESULT body (its I/O thread, or the loop thread
   when a send failed). */
static void returned (void *data, void *hint)
{
    shelf_t *shelf = (shelf_t *)hint;
    buffer_head_t *head = head_of ((uint8_t *)data);
    pthread_mutex_lock (&shelf->lock);
    shelf->lent--;
    if (!shelf->closed && shelf->spare_count < SPARES_MAX) {
        head->next = shelf->spares;
        shelf->spares = head;
        shelf->spare_count++;
        head = NULL;
    }
    bool last = shelf->closed && shelf->lent == 0;
    pthread_mutex_unlock (&shelf->lock);
    buffer_free (head);
    if (last)
        shelf_free (shelf);
}

fling_results_t *fling_results_new (void)
{
    fling_results_t *self = (fling_results_t *)calloc (1, sizeof (fling_results_t));
    shelf_t *shelf = (shelf_t *)calloc (1, sizeof (shelf_t));
    if (!self || !shelf || pthread_mutex_init (&shelf->lock, NULL)) {
        free (self);
        free (shelf);
        errno = ENOMEM;
        return NULL;
    }
    self->shelf = shelf;
    for (int i = 0; i < SPARES_FIRST; i++) {
        buffer_head_t *head = buffer_new (FIRST_CAPACITY);
        if (!head)
            break; /* fine: made when needed */
        head->next = shelf->spares;
        shelf->spares = head;
        shelf->spare_count++;
    }
    return self;
}

void fling_results_destroy (fling_results_t **self_p)
{
    fling_results_t *self = *self_p;
    if (!self)
        return;
    if (self->data)
        buffer_free (head_of (self->data));
    shelf_t *shelf = self->shelf;
    pthread_mutex_lock (&shelf->lock);
    shelf->closed = true;
    buffer_head_t *spares = shelf->spares;
    shelf->spares = NULL;
    shelf->spare_count = 0;
    bool last = shelf->lent == 0;
    pthread_mutex_unlock (&shelf->lock);
    while (spares) {
        buffer_head_t *next = spares->next;
        buffer_free (spares);
        spares = next;
    }
    if (last)
        shelf_free (shelf);
    free (self);
    *self_p = NULL;
}

/* A spare buffer from the shelf, if one came back. */
static void take_spare (fling_results_t *self)
{
    pthread_mutex_lock (&self->shelf->lock);
    buffer_head_t *head = self->shelf->spares;
    if (head) {
        self->shelf->spares = head->next;
        self->shelf->spare_count--;
    }
    pthread_mutex_unlock (&self->shelf->lock);
    if (head) {
        self->data = (uint8_t *)head + HEAD_SIZE;
        self->capacity = head->capacity;
    }
}

static int reserve (fling_results_t *self, size_t extra)
{
    if (!self->data)
        take_spare (self);
    if (self->data && self->size + extra <= self->capacity)
        return 0;
    size_t capacity = FIRST_CAPACITY;
    while (capacity < self->size + extra)
        capacity *= 2;
    buffer_head_t *head = buffer_new (capacity);
    if (!head)
        return -1;
    if (self->data) {
        memcpy ((uint8_t *)head + HEAD_SIZE, self->data, self->size);
        buffer_free (head_of (self->data));
    }
    self->data = (uint8_t *)head + HEAD_SIZE;
    self->capacity = head->capacity;
    return 0;
}

int fling_results_add (fling_results_t *self, const fling_result_t *result)
{
    size_t error_size = result->error_size;
    if (error_size > FLING_ERROR_TEXT_MAX)
        error_size = FLING_ERROR_TEXT_MAX;
    if (reserve (self, fling_result_size (error_size)))
        return -1;
    self->size += fling_result_write (self->data + self->size, result);
    self->count++;
    return 0;
}

size_t fling_results_count (fling_results_t *self)
{
    return self->count;
}

const uint8_t *fling_results_data (fling_results_t *self)
{
    return self->data;
}

size_t fling_results_size (fling_results_t *self)
{
    return self->size;
}

int fling_results_send (fling_results_t *self, void *socket, uint64_t result_seq)
{
    if (self->count == 0)
        return 0;
    uint32_t count = (uint32_t)self->count;
    size_t size = self->size;
    self->count = 0;
    self->size = 0;
    if (!socket) {
        errno = ENOTCONN;
        return -1; /* the buffer stays for the next batch */
    }
    uint8_t *body = self->data;
    self->data = NULL;
    self->capacity = 0;
    pthread_mutex_lock (&self->shelf->lock);
    self->shelf->lent++;
    pthread_mutex_unlock (&self->shelf->lock);
    return fling_msg_send_result (socket, result_seq, count, body, size, returned, self->shelf);
}

size_t fling_results_lent (fling_results_t *self)
{
    pthread_mutex_lock (&self->shelf->lock);
    size_t lent = self->shelf->lent;
    pthread_mutex_unlock (&self->shelf->lock);
    return lent;
}

size_t fling_results_spares (fling_results_t *self)
{
    pthread_mutex_lock (&self->shelf->lock);
    size_t spares = self->shelf->spare_count;
    pthread_mutex_unlock (&self->shelf->lock);
    return spares;
}
