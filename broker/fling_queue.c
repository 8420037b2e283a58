/*  fling_queue.c - see fling_queue.h. */
#include "fling_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fling_bworker_t *worker;
    uint8_t cls;
} server_t;

/* One waiting list per priority level (SPEC.md §6.8), each in the order
   its tasks entered it, and `levels` the bit of each level that holds a
   task: a queue of plain tasks (level 0 alone) picks its head with one
   test, and the aging rule looks at ten heads at most. A QUEUED task's
   `due` holds when it entered its queue (fling_queue.h). */
struct fling_queue {
    fling_blockpool_t *pool; /* may be NULL */
    fling_tasklist_t waiting[FLING_PRIORITY_LEVELS];
    size_t queued;
    uint32_t levels;
    uint32_t age_ms;       /* 0 = no aging */
    const int64_t *now_ms; /* the broker's turn clock; NULL = time stands at 0 */
    fling_tasklist_t dead;
    fling_queue_counters_t counters;
    fling_queue_settings_t settings;
    fling_bucket_t bucket;
    server_t *servers;
    size_t server_count;
    size_t server_alloc;
    char name[FLING_NAME_MAX + 1];
};

/* ---- tasks ------------------------------------------------------------- */

static fling_blockpool_t *pool_of (const fling_queue_t *queue)
{
    return queue ? queue->pool : NULL;
}

fling_btask_t *fling_btask_new (const fling_record_t *record, fling_queue_t *queue,
                                uint16_t attempt, uint32_t timeout_ms)
{
    if (record->raw_size > FLING_BTASK_SIZE_MAX) {
        errno = EINVAL;
        return NULL;
    }
    fling_btask_t *self =
        (fling_btask_t *)fling_blockpool_take (pool_of (queue), sizeof *self + record->raw_size);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    memset (self, 0, sizeof *self);
    self->queue = queue;
    self->size = (uint32_t)record->raw_size & FLING_BTASK_SIZE_MAX;
    self->priority = record->ext.priority & 15u;
    self->attempt = attempt;
    memcpy (self->raw, record->raw, record->raw_size);
    if (record->timeout_ms == 0 && timeout_ms != 0)
        fling_record_set_timeout_ms (self->raw, timeout_ms);
    return self;
}

void fling_btask_destroy (fling_btask_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_btask_t *self = *self_p;
    fling_btask_revive (self);
    fling_blockpool_give (pool_of (self->queue), self, sizeof *self + self->size);
    *self_p = NULL;
}

int fling_btask_kill (fling_btask_t *self, uint8_t reason, const char *error, size_t error_size)
{
    if (error_size > FLING_ERROR_TEXT_MAX)
        error_size = FLING_ERROR_TEXT_MAX;
    fling_dead_t *dead = (fling_dead_t *)malloc (sizeof *dead + error_size + 1);
    if (!dead) {
        errno = ENOMEM;
        return -1;
    }
    dead->reason = reason;
    dead->error_size = (uint16_t)error_size;
    if (error_size)
        memcpy (dead->error, error, error_size);
    dead->error[error_size] = '\0';
    self->dead = dead;
    fling_btask_set_state (self, FLING_TASK_DEAD);
    return 0;
}

void fling_btask_revive (fling_btask_t *self)
{
    if (fling_btask_state (self) != FLING_TASK_DEAD)
        return;
    free (self->dead);
    self->dead = NULL;
    fling_btask_set_state (self, FLING_TASK_QUEUED);
}

/* The record was validated when it came in (decode or store replay), so it
   is read without checking it again; the codec stays the only code that
   knows the record layout. */
static void read_record (const fling_btask_t *self, fling_record_t *record)
{
    const uint8_t *cursor = self->raw;
    fling_record_read (&cursor, record);
}

void fling_btask_record (const fling_btask_t *self, fling_record_t *record)
{
    read_record (self, record);
}

void fling_btask_id (const fling_btask_t *self, fling_task_id_t *id)
{
    fling_record_id (self->raw, id); /* per probe hit of the id index: no full read */
}

uint32_t fling_btask_timeout_ms (const fling_btask_t *self)
{
    return fling_record_timeout_ms (self->raw); /* once per dispatch: no full read */
}

uint16_t fling_btask_max_attempts (const fling_btask_t *self)
{
    fling_record_t record;
    read_record (self, &record);
    return record.max_attempts;
}

/* ---- queues ------------------------------------------------------------ */

fling_queue_t *fling_queue_new (const char *name, size_t name_size)
{
    if (name_size == 0 || name_size > FLING_NAME_MAX) {
        errno = EINVAL;
        return NULL;
    }
    fling_queue_t *self = (fling_queue_t *)calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy (self->name, name, name_size);
    return self;
}

void fling_queue_destroy (fling_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_queue_t *self = *self_p;
    fling_btask_t *task;
    for (int level = 0; level < FLING_PRIORITY_LEVELS; level++)
        while ((task = fling_tasklist_pop_head (&self->waiting[level])))
            fling_btask_destroy (&task);
    while ((task = fling_tasklist_pop_head (&self->dead)))
        fling_btask_destroy (&task);
    free (self->servers);
    free (self);
    *self_p = NULL;
}

void fling_queue_set_pool (fling_queue_t *self, fling_blockpool_t *pool)
{
    self->pool = pool;
}

const char *fling_queue_name (const fling_queue_t *self)
{
    return self->name;
}

void fling_queue_set_aging (fling_queue_t *self, const int64_t *now_ms, uint32_t age_ms)
{
    self->now_ms = now_ms;
    self->age_ms = age_ms;
}

size_t fling_queue_queued (const fling_queue_t *self)
{
    return self->queued;
}

size_t fling_queue_queued_at (const fling_queue_t *self, unsigned priority)
{
    return priority < FLING_PRIORITY_LEVELS ? self->waiting[priority].count : 0;
}

fling_queue_counters_t *fling_queue_counters (fling_queue_t *self)
{
    return &self->counters;
}

fling_queue_settings_t *fling_queue_settings (fling_queue_t *self)
{
    return &self->settings;
}

fling_bucket_t *fling_queue_bucket (fling_queue_t *self)
{
    return &self->bucket;
}

size_t fling_queue_held (const fling_queue_t *self)
{
    return self->queued + self->dead.count + (size_t)self->counters.inflight +
           (size_t)self->counters.delayed + (size_t)self->counters.suspects;
}

fling_tasklist_t *fling_queue_dead (fling_queue_t *self)
{
    return &self->dead;
}

static uint32_t clock_now (const fling_queue_t *self)
{
    return self->now_ms ? (uint32_t)*self->now_ms : 0;
}

static void level_added (fling_queue_t *self, unsigned level)
{
    self->levels |= 1u << level;
    self->queued++;
}

void fling_queue_push_tail (fling_queue_t *self, fling_btask_t *task)
{
    unsigned level = task->priority;
    task->due = clock_now (self);
    fling_tasklist_push_tail (&self->waiting[level], task);
    level_added (self, level);
}

void fling_queue_push_head (fling_queue_t *self, fling_btask_t *task)
{
    unsigned level = task->priority;
    const fling_btask_t *head = fling_tasklist_head (&self->waiting[level]);
    uint32_t now = clock_now (self);
    /* Ahead of its level, and as old as its head: each list stays in the
       order of its entry times, so its head is its best task. */
    task->due = head && (int32_t)(head->due - now) < 0 ? head->due : now;
    fling_tasklist_push_head (&self->waiting[level], task);
    level_added (self, level);
}

unsigned fling_queue_effective (unsigned priority, uint32_t waited_ms, uint32_t age_ms)
{
    if (age_ms == 0 || priority >= FLING_PRIORITY_MAX)
        return priority;
    uint32_t steps = waited_ms / age_ms;
    return steps >= FLING_PRIORITY_MAX - priority ? FLING_PRIORITY_MAX : priority + steps;
}

/* The head with the highest effective priority; among equals the one
   that entered first, then the higher level (SPEC.md §6.8). Apart from
   pick's test, so that a queue of plain tasks pays no more than that. */
static fling_btask_t *pick_aged (const fling_queue_t *self)
{
    uint32_t now = clock_now (self);
    fling_btask_t *best = NULL;
    unsigned best_effective = 0;
    uint32_t best_waited = 0;
    for (int level = FLING_PRIORITY_MAX; level >= 0; level--) {
        fling_btask_t *head = fling_tasklist_head (&self->waiting[level]);
        if (!head)
            continue;
        int32_t since = (int32_t)(now - head->due);
        uint32_t waited = since > 0 ? (uint32_t)since : 0;
        unsigned effective = fling_queue_effective ((unsigned)level, waited, self->age_ms);
        if (!best || effective > best_effective ||
            (effective == best_effective && waited > best_waited)) {
            best = head;
            best_effective = effective;
            best_waited = waited;
        }
    }
    return best;
}

void fling_queue_remove (fling_queue_t *self, fling_btask_t *task)
{
    unsigned level = task->priority;
    fling_tasklist_remove (&self->waiting[level], task);
    self->queued--;
    if (!self->waiting[level].count)
        self->levels &= ~(1u << level);
}

static inline fling_btask_t *pick (const fling_queue_t *self)
{
    if (self->levels <= 1) /* plain tasks only, or none */
        return fling_tasklist_head (&self->waiting[0]);
    return pick_aged (self);
}

fling_btask_t *fling_queue_pop (fling_queue_t *self)
{
    fling_btask_t *task = pick (self);
    if (task)
        fling_queue_remove (self, task);
    return task;
}

fling_btask_t *fling_queue_pop_within (fling_queue_t *self, size_t room, size_t *wire)
{
    fling_btask_t *task = pick (self);
    if (!task)
        return NULL;
    *wire = fling_record_wire_size (task->raw);
    if (*wire > room)
        return NULL;
    if (self->levels > 1) {
        fling_queue_remove (self, task);
        return task;
    }
    /* Plain tasks only: the head of level 0, as fling_queue_pop took it
       before there were priorities. */
    fling_tasklist_pop_head (&self->waiting[0]);
    self->queued--;
    if (!self->waiting[0].count)
        self->levels = 0;
    return task;
}

fling_btask_t *fling_queue_peek (const fling_queue_t *self)
{
    return pick (self);
}

/* ---- servers ----------------------------------------------------------- */

static server_t *find_server (const fling_queue_t *self, const fling_bworker_t *worker)
{
    for (size_t i = 0; i < self->server_count; i++)
        if (self->servers[i].worker == worker)
            return &self->servers[i];
    return NULL;
}

int fling_queue_add_server (fling_queue_t *self, fling_bworker_t *worker, fling_class_t cls)
{
    server_t *server = find_server (self, worker);
    if (server) {
        server->cls = (uint8_t)cls;
        return 0;
    }
    if (self->server_count == self->server_alloc) {
        size_t alloc = self->server_alloc ? self->server_alloc * 2 : 4;
        server_t *grown = (server_t *)realloc (self->servers, alloc * sizeof *grown);
        if (!grown) {
            errno = ENOMEM;
            return -1;
        }
        self->servers = grown;
        self->server_alloc = alloc;
    }
    self->servers[self->server_count++] = (server_t){.worker = worker, .cls = (uint8_t)cls};
    self->counters.registrations++;
    return 0;
}

void fling_queue_remove_server (fling_queue_t *self, fling_bworker_t *worker)
{
    server_t *server = find_server (self, worker);
    if (!server)
        return;
    /* Order does not matter: dispatch picks by free credit. */
    *server = self->servers[--self->server_count];
}

size_t fling_queue_server_count (const fling_queue_t *self)
{
    return self->server_count;
}

int fling_queue_server_class (const fling_queue_t *self, const fling_bworker_t *worker)
{
    const server_t *server = find_server (self, worker);
    return server ? server->cls : -1;
}

fling_bworker_t *fling_queue_server (const fling_queue_t *self, size_t index, fling_class_t *cls)
{
    if (index >= self->server_count)
        return NULL;
    if (cls)
        *cls = (fling_class_t)self->servers[index].cls;
    return self->servers[index].worker;
}
