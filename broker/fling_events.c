/*  fling_events.c - see fling_events.h. */
#include "fling_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_LIMIT 1000

typedef struct {
    uint64_t seq;
    int64_t wall_ms;
    const fling_queue_t *queue; /* task events; queues live as long as the broker */
    fling_task_id_t id;
    uint32_t pid;
    uint16_t attempt;
    uint8_t kind;
    char worker[FLING_NAME_MAX + 1];
} event_t;

struct fling_events {
    struct fling_events_gate gate; /* first: fling_events_on() reads it */
    event_t *ring;                 /* FLING_EVENTS_MAX, allocated at the first read */
    uint64_t next_seq;             /* of the next event; events 1 .. next_seq - 1 happened */
};

static const char *const kind_names[FLING_EVENT_KINDS] = {
    "accepted",    "leased",       "done",    "failed",        "dead",
    "requeued",    "dead_retried", "purged",  "worker_joined", "worker_left",
    "worker_lost", "rejected",     "crashed", "suspected"};

fling_events_t *fling_events_new (void)
{
    fling_events_t *self = (fling_events_t *)calloc (1, sizeof *self);
    if (self)
        self->next_seq = 1;
    return self;
}

void fling_events_destroy (fling_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->ring);
    free (*self_p);
    *self_p = NULL;
}

static event_t *append (fling_events_t *self, fling_event_kind_t kind, int64_t wall_ms)
{
    if (!self->ring)
        return NULL;
    uint64_t seq = self->next_seq++;
    event_t *event = &self->ring[seq % FLING_EVENTS_MAX];
    memset (event, 0, offsetof (event_t, worker) + 1);
    event->seq = seq;
    event->kind = (uint8_t)kind;
    event->wall_ms = wall_ms;
    return event;
}

void fling_events_task (fling_events_t *self, fling_event_kind_t kind, const fling_btask_t *task,
                        const char *worker, int64_t wall_ms)
{
    event_t *event = append (self, kind, wall_ms);
    if (!event)
        return;
    event->queue = task->queue;
    fling_btask_id (task, &event->id);
    event->attempt = task->attempt;
    if (worker)
        snprintf (event->worker, sizeof event->worker, "%s", worker);
}

void fling_events_worker (fling_events_t *self, fling_event_kind_t kind, const char *worker,
                          uint32_t pid, int64_t wall_ms)
{
    event_t *event = append (self, kind, wall_ms);
    if (!event)
        return;
    event->pid = pid;
    snprintf (event->worker, sizeof event->worker, "%s", worker);
}

static json_t *event_json (const event_t *event)
{
    json_t *out = json_pack ("{sI sI ss}", "seq", (json_int_t)event->seq, "time_ms",
                             (json_int_t)event->wall_ms, "event", kind_names[event->kind]);
    if (!out)
        return NULL;
    if (event->queue) {
        char id[FLING_TASK_ID_TEXT_SIZE];
        json_object_set_new (out, "id", json_string (fling_task_id_format (&event->id, id)));
        json_object_set_new (out, "name", json_string (fling_queue_name (event->queue)));
        json_object_set_new (out, "attempt", json_integer (event->attempt));
    } else
        json_object_set_new (out, "pid", json_integer (event->pid));
    if (event->worker[0])
        json_object_set_new (out, "worker", json_string (event->worker));
    return out;
}

json_t *fling_events_read (fling_events_t *self, json_t *request, int64_t now_ms)
{
    json_t *after_value = json_object_get (request, "after");
    json_t *limit_value = json_object_get (request, "limit");
    const char *name = json_string_value (json_object_get (request, "name"));
    json_int_t limit = limit_value ? json_integer_value (limit_value) : READ_LIMIT;
    if ((after_value && (!json_is_integer (after_value) || json_integer_value (after_value) < 0)) ||
        (limit_value && !json_is_integer (limit_value)) || limit < 1 || limit > READ_LIMIT)
        return json_pack ("{ss}", "error",
                          "\"after\" must be a sequence number (from \"next\"), \"limit\" 1-1000");
    if (!self->ring && !(self->ring = (event_t *)calloc (FLING_EVENTS_MAX, sizeof *self->ring)))
        return json_pack ("{ss}", "error", "out of memory");
    /* Nobody asked for a while: what happened meanwhile was not recorded. */
    bool lapsed = after_value && now_ms >= self->gate.listening_until_ms;
    self->gate.listening_until_ms = now_ms + FLING_EVENTS_LISTEN_MS;
    uint64_t from = after_value ? (uint64_t)json_integer_value (after_value) + 1 : self->next_seq;
    if (from > self->next_seq)
        from = self->next_seq; /* a broker restarted since: start afresh */
    uint64_t oldest = self->next_seq > FLING_EVENTS_MAX ? self->next_seq - FLING_EVENTS_MAX : 1;
    uint64_t dropped = from < oldest ? oldest - from : 0;
    if (from < oldest)
        from = oldest;
    json_t *events = json_array ();
    uint64_t seq = from;
    for (; events && seq < self->next_seq && (json_int_t)json_array_size (events) < limit; seq++) {
        const event_t *event = &self->ring[seq % FLING_EVENTS_MAX];
        if (name && (!event->queue || strcmp (fling_queue_name (event->queue), name) != 0))
            continue;
        json_array_append_new (events, event_json (event));
    }
    return json_pack ("{so sI sI sb}", "events", events ? events : json_array (), "next",
                      (json_int_t)(seq - 1), "dropped", (json_int_t)dropped, "unrecorded", lapsed);
}
