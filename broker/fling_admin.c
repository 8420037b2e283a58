/*  fling_admin.c - ADMIN requests on the producer socket (JSON in, JSON out).

    {"op":"stats"} returns the broker's counters, queues and workers. This
    is the only JSON the broker parses: task payloads stay opaque bytes.
*/
#include "fling_broker_private.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *counters_json (const fling_broker_counters_t *c)
{
    return json_pack ("{sI sI sI sI sI sI sI sI sI sI sI}", "accepted", (json_int_t)c->accepted,
                      "duplicates", (json_int_t)c->duplicates, "rejected", (json_int_t)c->rejected,
                      "dispatched", (json_int_t)c->dispatched, "done", (json_int_t)c->done,
                      "failed", (json_int_t)c->failed, "retried", (json_int_t)c->retried,
                      "requeued", (json_int_t)c->requeued, "stale_results",
                      (json_int_t)c->stale_results, "worker_lost", (json_int_t)c->worker_lost,
                      "router_unroutable", (json_int_t)c->router_unroutable);
}

static json_t *refused_json (const fling_broker_t *self)
{
    json_t *refused = json_object ();
    for (int slot = 0; refused && slot < FLING_REFUSED_SLOTS; slot++)
        if (self->refused[slot])
            json_object_set_new (refused, fling_broker_refusal_name (slot),
                                 json_integer ((json_int_t)self->refused[slot]));
    return refused;
}

static json_t *queues_json (fling_broker_t *self)
{
    json_t *queues = json_array ();
    for (size_t i = 0; queues && i < self->queue_count; i++) {
        fling_queue_t *queue = self->queues[i];
        const fling_queue_counters_t *c = fling_queue_counters (queue);
        json_array_append_new (
            queues, json_pack ("{ss sI sI sI sI sI}", "name", fling_queue_name (queue), "queued",
                               (json_int_t)fling_queue_queued (queue), "inflight",
                               (json_int_t)c->inflight, "done", (json_int_t)c->done, "failed",
                               (json_int_t)c->failed, "retried", (json_int_t)c->retried));
    }
    return queues;
}

static json_t *per_class (const uint32_t values[FLING_CLASS_COUNT])
{
    return json_pack ("{sI sI}", "pool", (json_int_t)values[FLING_CLASS_POOL], "loop",
                      (json_int_t)values[FLING_CLASS_LOOP]);
}

static json_t *worker_json (const fling_bworker_t *worker)
{
    json_t *names = json_array ();
    for (size_t i = 0; names && i < worker->reg_count; i++)
        json_array_append_new (names, json_string (fling_queue_name (worker->regs[i].queue)));
    return json_pack ("{ss sI so so sI so}", "name", worker->name, "pid", (json_int_t)worker->pid,
                      "capacity", per_class (worker->capacity), "inflight",
                      per_class (worker->inflight), "done", (json_int_t)worker->done, "names",
                      names);
}

static json_t *workers_json (fling_broker_t *self)
{
    json_t *workers = json_array ();
    for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers);
         workers && worker; worker = (fling_bworker_t *)zhashx_next (self->workers))
        json_array_append_new (workers, worker_json (worker));
    return workers;
}

static json_t *stats_json (fling_broker_t *self)
{
    return json_pack (
        "{sI ss sI sI so so so so}", "uptime_ms", (json_int_t)(self->now_ms - self->started_ms),
        "store", fling_store_kind (self->store), "tasks", (json_int_t)fling_idmap_size (self->ids),
        "bytes", (json_int_t)self->bytes, "counters", counters_json (&self->counters), "refused",
        refused_json (self), "queues", queues_json (self), "workers", workers_json (self));
}

static json_t *error_json (const char *text)
{
    return json_pack ("{ss}", "error", text);
}

static json_t *answer (fling_broker_t *self, const char *request, size_t size)
{
    json_error_t error;
    json_t *root = json_loadb (request, size, JSON_REJECT_DUPLICATES, &error);
    if (!root || !json_is_object (root)) {
        json_decref (root);
        return error_json ("request is not a JSON object");
    }
    const char *op = json_string_value (json_object_get (root, "op"));
    json_t *reply;
    if (!op)
        reply = error_json ("missing \"op\"");
    else if (strcmp (op, "stats") == 0)
        reply = stats_json (self);
    else
        reply = error_json ("unknown op");
    json_decref (root);
    return reply;
}

char *fling_admin_handle (fling_broker_t *self, const char *request, size_t size)
{
    json_t *reply = answer (self, request, size);
    char *text = reply ? json_dumps (reply, JSON_COMPACT) : NULL;
    json_decref (reply);
    return text;
}
