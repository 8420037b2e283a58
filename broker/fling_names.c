/*  fling_names.c - see fling_names.h. */
#include "fling_names.h"
#include "fling_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void settings_for (const fling_broker_config_t *config, const char *name,
                          fling_queue_settings_t *out)
{
    out->max_attempts = (uint16_t)config->max_attempts;
    out->backoff_ms = config->backoff_ms;
    out->timeout_ms = config->task_timeout_ms;
    out->poison_limit = (uint8_t)config->poison_limit;
    for (size_t i = 0; i < config->queue_count; i++) { /* the last entry for a name wins */
        const fling_queue_config_t *q = &config->queues[i];
        if (strcmp (q->name, name) != 0)
            continue;
        if ((q->set & 1) && q->max_attempts)
            out->max_attempts = (uint16_t)q->max_attempts;
        if (q->set & 2)
            out->backoff_ms = q->backoff_ms;
        if (q->set & 4)
            out->timeout_ms = q->timeout_ms;
        if ((q->set & 8) && q->poison_limit)
            out->poison_limit = (uint8_t)q->poison_limit;
        if (q->set & 16) { /* rate=N/s: burst defaults to one period's tokens */
            out->rate = q->rate;
            out->rate_period_ms = q->rate_period_ms;
            out->burst = q->rate;
        }
        if (q->set & 32)
            out->burst = q->burst;
    }
}

fling_queue_t *fling_names_queue (fling_broker_t *self, const char *name, size_t name_size,
                                  fling_queue_use_t use)
{
    char key[FLING_NAME_MAX + 1];
    if (name_size > FLING_NAME_MAX) {
        errno = EINVAL;
        return NULL;
    }
    memcpy (key, name, name_size);
    key[name_size] = '\0';
    fling_queue_t *queue = (fling_queue_t *)zhashx_lookup (self->queue_index, key);
    if (queue || use == FLING_QUEUE_FIND)
        return queue;
    uint64_t room = self->config.max_names;
    if (use == FLING_QUEUE_FOR_WORKER)
        room -= room / 4;
    /* A READY may find the table full of names that READYs of this very
       turn gave up: sweep them now (again at once while sweeps free
       something, else at most every 100 ms). Only here: a SUBMIT keeps a
       queue pointer across records, a READY does not. */
    if (use == FLING_QUEUE_FOR_WORKER && self->queue_count >= room && self->names_sweep &&
        (self->names_swept_last || self->now_ms - self->names_swept_ms >= 100))
        fling_names_sweep (self);
    if (use != FLING_QUEUE_RECOVERED && self->queue_count >= room) {
        errno = ENOSPC;
        return NULL;
    }
    if (self->queue_count == self->queue_alloc) {
        size_t alloc = self->queue_alloc ? self->queue_alloc * 2 : 16;
        fling_queue_t **grown = (fling_queue_t **)realloc (self->queues, alloc * sizeof *grown);
        if (!grown) {
            errno = ENOMEM;
            return NULL;
        }
        self->queues = grown;
        self->queue_alloc = alloc;
    }
    queue = fling_queue_new (name, name_size);
    if (!queue || zhashx_insert (self->queue_index, key, queue)) {
        fling_queue_destroy (&queue);
        errno = ENOMEM;
        return NULL;
    }
    fling_queue_set_pool (queue, self->pool);
    fling_queue_set_aging (queue, &self->now_ms, self->config.priority_age_ms);
    fling_queue_settings_t *settings = fling_queue_settings (queue);
    settings_for (&self->config, key, settings);
    fling_bucket_init (fling_queue_bucket (queue), settings->rate, settings->rate_period_ms,
                       settings->burst, self->now_ms);
    if (self->store_had_records) /* exact across a restart: SPEC.md §6.8 */
        fling_bucket_empty_since (fling_queue_bucket (queue), self->started_ms);
    self->queues[self->queue_count++] = queue;
    return queue;
}

void fling_names_refused (fling_broker_t *self, const char *name, size_t name_size, const char *why)
{
    char text[FLING_NAME_MAX + 1];
    self->counters.names_refused++;
    fling_log_printable (text, sizeof text, name, name_size);
    if (fling_limits_log_name (self->limits, text, self->now_ms))
        fling_warn ("task name refused name=%s reason=\"%s\" (logged once a minute per name;"
                    " names_refused=%" PRIu64 ")",
                    text, why, self->counters.names_refused);
}

/* A name
   table filled by made-up names empties again as their peers go. A
   name's counters in stats start from zero when it comes back. */
void fling_names_sweep (fling_broker_t *self)
{
    self->names_sweep = false;
    self->names_swept_ms = self->now_ms;
    size_t kept = 0, freed = 0;
    for (size_t i = 0; i < self->queue_count; i++) {
        fling_queue_t *queue = self->queues[i];
        /* A pause, a unique key in its TTL and a rate limit's spent
           tokens hold their name too: made again, its bucket would be
           full, and every worker leaving would grant a new burst. */
        if (fling_queue_held (queue) || fling_queue_server_count (queue) ||
            fling_queue_settings (queue)->paused || fling_queue_counters (queue)->keys ||
            !fling_bucket_full (fling_queue_bucket (queue), self->now_ms)) {
            self->queues[kept++] = queue;
            continue;
        }
        zhashx_delete (self->queue_index, fling_queue_name (queue));
        fling_queue_destroy (&queue);
        freed++;
    }
    self->queue_count = kept;
    self->counters.names_freed += freed;
    self->names_swept_last = freed;
    if (freed)
        fling_debug ("task names forgotten: %zu (no task, no worker); %zu held", freed, kept);
}
