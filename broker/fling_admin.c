/*  fling_admin.c - ADMIN requests on the producer socket (JSON in, JSON out).

    {"op":"stats"} returns the broker's counters, queues and workers;
    dead_list / dead_retry / dead_purge work on the dead-letter queue
    (proto/SPEC.md §5.3, §8). This is the only JSON the broker parses: task
    payloads stay opaque bytes (dead_list shows their first 200 bytes).
*/
#include "fling_admin.h"
#include "fling_access.h"
#include "fling_log.h"
#include "fling_lookup.h"
#include "fling_names.h"
#include "fling_pause.h"
#include "fling_ratelog.h"
#include "fling_schedules.h"
#include "fling_schedules_admin.h"
#include "fling_tasks.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define DEAD_LIST_DEFAULT  100
#define DEAD_LIST_MAX      10000
#define DEAD_PAYLOAD_SHOWN 200
#define PAGE_DEFAULT       100 /* queues and workers in one stats reply */
#define PAGE_MAX           1000
#define NAMES_SHOWN        32 /* of one worker, in stats */

/* A page of a list in a request: "<what>_offset" and "<what>_limit"
   (default PAGE_DEFAULT, at most PAGE_MAX). -1 for a bad value. */
static int page_of (json_t *request, const char *what, size_t *offset, size_t *limit)
{
    char key[64];
    snprintf (key, sizeof key, "%s_offset", what);
    json_t *o = json_object_get (request, key);
    snprintf (key, sizeof key, "%s_limit", what);
    json_t *l = json_object_get (request, key);
    json_int_t off = o ? json_integer_value (o) : 0,
               lim = l ? json_integer_value (l) : PAGE_DEFAULT;
    if ((o && !json_is_integer (o)) || (l && !json_is_integer (l)) || off < 0 || lim < 0 ||
        lim > PAGE_MAX)
        return -1;
    *offset = (size_t)off;
    *limit = (size_t)lim;
    return 0;
}

static json_t *counters_json (const fling_broker_counters_t *c)
{
    json_t *counters = json_object ();
    struct {
        const char *name;
        uint64_t value;
    } values[] = {
        {"accepted", c->accepted},
        {"duplicates", c->duplicates},
        {"rejected", c->rejected},
        {"dispatched", c->dispatched},
        {"done", c->done},
        {"failed", c->failed},
        {"retried", c->retried},
        {"requeued", c->requeued},
        {"stale_results", c->stale_results},
        {"worker_lost", c->worker_lost},
        {"router_unroutable", c->router_unroutable},
        {"dead_lettered", c->dead_lettered},
        {"crashed", c->crashed},
        {"suspected", c->suspected},
        {"trials", c->trials},
        {"probes", c->probes},
        {"timed_out", c->timed_out},
        {"lease_expired", c->lease_expired},
        {"store_full", c->store_full},
        {"unavailable", c->unavailable},
        {"holding_leased", c->holding_leased},
        {"holding_ignored", c->holding_ignored},
        {"dead_retried", c->dead_retried},
        {"dead_purged", c->dead_purged},
        {"forbidden_ids", c->forbidden_ids},
        {"producer_full", c->producer_full},
        {"names_refused", c->names_refused},
        {"names_freed", c->names_freed},
        {"credit_capped", c->credit_capped},
        {"deaf_closed", c->deaf_closed},
        {"queue_purged", c->queue_purged},
        {"key_duplicates", c->key_duplicates},
    };
    for (size_t i = 0; counters && i < sizeof values / sizeof values[0]; i++)
        json_object_set_new (counters, values[i].name, json_integer ((json_int_t)values[i].value));
    return counters;
}

static json_t *store_json (fling_broker_t *self)
{
    fling_store_status_t status;
    fling_store_status (self->store, &status);
    return json_pack (
        "{ss sI sI sI sb sb sI sI sI sI}", "kind", fling_store_kind (self->store), "bytes_on_disk",
        (json_int_t)status.bytes_on_disk, "segments", (json_int_t)status.segments, "commits",
        (json_int_t)status.commits, "failed", status.failed || self->store_failed, "full",
        status.full, "corrupt_records", (json_int_t)status.corrupt_records, "torn_bytes",
        (json_int_t)status.torn_bytes, "damaged_segments", (json_int_t)status.damaged_segments,
        "quarantined", (json_int_t)status.quarantined);
}

/* {"REASON": n} for the reasons counted at least once. */
static json_t *by_reason_json (const uint64_t counts[FLING_REASON_MAX])
{
    json_t *object = json_object ();
    for (int reason = 0; object && reason < FLING_REASON_MAX; reason++)
        if (counts[reason])
            json_object_set_new (object, fling_reason_name (reason),
                                 json_integer ((json_int_t)counts[reason]));
    return object;
}

/* Scheduling members of a queue's object (SPEC.md §8): its waiting tasks
   per priority level, and its rate limit with the tokens left when it has
   one. The queue is found by the object's name. */
static void with_scheduling (fling_broker_t *self, json_t *object)
{
    const char *name = json_string_value (json_object_get (object, "name"));
    fling_queue_t *queue =
        name ? fling_names_queue (self, name, strlen (name), FLING_QUEUE_FIND) : NULL;
    if (!queue)
        return;
    fling_bucket_t *bucket = fling_queue_bucket (queue);
    if (bucket->rate)
        json_object_set_new (object, "rate_limit",
                             json_pack ("{sI sI sI sI}", "rate", (json_int_t)bucket->rate, "per_ms",
                                        (json_int_t)bucket->period_ms, "burst",
                                        (json_int_t)bucket->burst, "tokens",
                                        (json_int_t)fling_bucket_tokens (bucket, self->now_ms)));
    json_t *levels = json_array ();
    for (unsigned level = 0; levels && level < FLING_PRIORITY_LEVELS; level++)
        json_array_append_new (levels,
                               json_integer ((json_int_t)fling_queue_queued_at (queue, level)));
    json_object_set_new (object, "queued_by_priority", levels);
}

static json_t *queues_json (fling_broker_t *self, size_t offset, size_t limit)
{
    json_t *queues = json_array ();
    for (size_t i = offset; queues && i < self->queue_count && i - offset < limit; i++) {
        fling_queue_t *queue = self->queues[i];
        const fling_queue_counters_t *c = fling_queue_counters (queue);
        json_array_append_new (
            queues,
            json_pack ("{ss sI sI sI sI sI sI sI sI sI}", "name", fling_queue_name (queue),
                       "queued", (json_int_t)fling_queue_queued (queue), "delayed",
                       (json_int_t)c->delayed, "suspects", (json_int_t)c->suspects, "inflight",
                       (json_int_t)c->inflight, "dead", (json_int_t)fling_queue_dead (queue)->count,
                       "done", (json_int_t)c->done, "failed", (json_int_t)c->failed, "retried",
                       (json_int_t)c->retried, "workers",
                       (json_int_t)fling_queue_server_count (queue)));
        json_t *entry = json_array_get (queues, json_array_size (queues) - 1);
        json_object_set_new (entry, "paused", json_boolean (fling_queue_settings (queue)->paused));
        json_object_set_new (entry, "keys", json_integer ((json_int_t)c->keys));
        /* of "delayed": waits for a retry */
        json_object_set_new (entry, "retrying", json_integer ((json_int_t)c->retrying));
    }
    for (size_t n = 0; queues && n < json_array_size (queues); n++)
        with_scheduling (self, json_array_get (queues, n));
    return queues;
}

static json_t *per_class (const uint32_t values[FLING_CLASS_COUNT])
{
    return json_pack ("{sI sI}", "pool", (json_int_t)values[FLING_CLASS_POOL], "loop",
                      (json_int_t)values[FLING_CLASS_LOOP]);
}

/* A worker, with at most NAMES_SHOWN of its names: a reply stays small
   whatever the workers registered. */
static json_t *worker_json (fling_broker_t *self, const fling_bworker_t *worker)
{
    json_t *names = json_array ();
    for (size_t i = 0; names && i < worker->reg_count && i < NAMES_SHOWN; i++)
        json_array_append_new (names, json_string (fling_queue_name (worker->regs[i].queue)));
    return json_pack ("{ss sI so so sI so sI so sb}", "name", worker->name, "pid",
                      (json_int_t)worker->pid, "capacity", per_class (worker->capacity), "inflight",
                      per_class (worker->inflight), "done", (json_int_t)worker->done, "names",
                      names, "names_total", (json_int_t)worker->reg_count, "running",
                      fling_lookup_running (self, worker), "prover", worker->prover);
}

static json_t *workers_json (fling_broker_t *self, size_t offset, size_t limit)
{
    json_t *workers = json_array ();
    size_t i = 0;
    for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers);
         workers && worker && i < offset + limit;
         worker = (fling_bworker_t *)zhashx_next (self->workers), i++)
        if (i >= offset)
            json_array_append_new (workers, worker_json (self, worker));
    return workers;
}

static size_t dead_total (fling_broker_t *self)
{
    size_t total = 0;
    for (size_t i = 0; i < self->queue_count; i++)
        total += fling_queue_dead (self->queues[i])->count;
    return total;
}

static size_t suspects_total (fling_broker_t *self)
{
    size_t total = 0;
    for (size_t i = 0; i < self->queue_count; i++)
        total += fling_queue_counters (self->queues[i])->suspects;
    return total;
}

static size_t retrying_total (fling_broker_t *self)
{
    size_t total = 0;
    for (size_t i = 0; i < self->queue_count; i++)
        total += fling_queue_counters (self->queues[i])->retrying;
    return total;
}

static json_t *error_json (const char *text);

/* Queues and workers come a page at a time (see page_of), with their
   totals, so one reply stays small whatever the broker holds. */
static json_t *stats_json (fling_broker_t *self, json_t *request)
{
    size_t q_offset, q_limit, w_offset, w_limit;
    if (page_of (request, "queues", &q_offset, &q_limit) ||
        page_of (request, "workers", &w_offset, &w_limit))
        return error_json ("queues_offset, workers_offset: integers from 0; queues_limit, "
                           "workers_limit: integers from 0 to 1000");
    json_t *stats = json_pack (
        "{sI so sI sI sI sI sI sI so so so so so so so}", "uptime_ms",
        (json_int_t)(self->now_ms - self->started_ms), "store", store_json (self), "tasks",
        (json_int_t)fling_idmap_size (self->ids), "bytes", (json_int_t)self->bytes, "dead",
        (json_int_t)dead_total (self), "delayed",
        (json_int_t)(self->delayed.count + self->parked.count), "suspects",
        (json_int_t)suspects_total (self), "dedup_ids", (json_int_t)fling_dedup_size (self->dedup),
        "counters", counters_json (&self->counters), "refused", by_reason_json (self->refused),
        "rejected", by_reason_json (self->rejected), "queues",
        queues_json (self, q_offset, q_limit), "workers", workers_json (self, w_offset, w_limit),
        "security", fling_access_security_json (self), "connections",
        fling_access_connections_json (self));
    if (stats) {
        json_object_set_new (stats, "queues_total", json_integer ((json_int_t)self->queue_count));
        json_object_set_new (stats, "retrying", json_integer ((json_int_t)retrying_total (self)));
        json_object_set_new (stats, "keys",
                             json_integer ((json_int_t)fling_keys_size (self->keys)));
        json_object_set_new (stats, "workers_total",
                             json_integer ((json_int_t)zhashx_size (self->workers)));
        json_object_set_new (stats, "schedules", fling_schedules_stats (self));
    }
    return stats;
}

static json_t *error_json (const char *text)
{
    return json_pack ("{ss}", "error", text);
}

/* Removes the waiting tasks of one name (queued, waiting for a retry, or
   recovered and not yet claimed), as dead_purge does with dead ones: they
   are gone, and their ids enter the duplicate window. Tasks in flight are
   left to finish. */
static json_t *queue_purge (fling_broker_t *self, json_t *request)
{
    const char *name = json_string_value (json_object_get (request, "name"));
    if (!name)
        return error_json ("queue_purge needs \"name\"");
    if (self->store_failed)
        return error_json ("the store failed: the broker is read-only until restarted");
    fling_queue_t *queue = fling_names_queue (self, name, strlen (name), FLING_QUEUE_FIND);
    if (!queue)
        return json_pack ("{sI sI}", "purged", (json_int_t)0, "in_flight", (json_int_t)0);
    size_t purged = fling_tasks_purge_waiting (self, queue);
    self->counters.queue_purged += purged;
    FLING_LOG_LIMITED (FLING_LOG_INFO, "queue purged name=%s tasks=%zu", name, purged);
    return json_pack ("{sI sI}", "purged", (json_int_t)purged, "in_flight",
                      (json_int_t)fling_queue_counters (queue)->inflight);
}

/* ---- the dead-letter queue ------------------------------------------------ */

static json_t *dead_entry (const fling_btask_t *task)
{
    fling_record_t record;
    char id_text[FLING_TASK_ID_TEXT_SIZE];
    fling_btask_record (task, &record);
    size_t shown =
        record.payload_size < DEAD_PAYLOAD_SHOWN ? record.payload_size : DEAD_PAYLOAD_SHOWN;
    /* Producers send valid UTF-8 JSON, but a cut may split a character and
       error text comes from handlers: json_stringn_nocheck would emit bad
       UTF-8, so fall back to a lossy copy. */
    json_t *payload = json_stringn (record.payload, shown);
    while (!payload && shown > 0)
        payload = json_stringn (record.payload, --shown);
    json_t *error = json_stringn (task->dead->error, task->dead->error_size);
    return json_pack ("{ss ss sI sI ss so so}", "id", fling_task_id_format (&record.id, id_text),
                      "name", fling_queue_name (task->queue), "attempts", (json_int_t)task->attempt,
                      "crashes", (json_int_t)task->crashes, "reason",
                      fling_dead_reason_name (task->dead->reason), "error",
                      error ? error : json_string ("(not UTF-8)"), "payload",
                      payload ? payload : json_string (""));
}

static json_t *dead_list (fling_broker_t *self, json_t *request)
{
    const char *name = json_string_value (json_object_get (request, "name"));
    json_t *limit_value = json_object_get (request, "limit");
    json_int_t limit = limit_value ? json_integer_value (limit_value) : DEAD_LIST_DEFAULT;
    if (limit < 0 || limit > DEAD_LIST_MAX || (limit_value && !json_is_integer (limit_value)))
        return error_json ("\"limit\" must be an integer from 0 to 10000");
    json_t *dead = json_array ();
    size_t total = 0;
    for (size_t i = 0; dead && i < self->queue_count; i++) {
        fling_queue_t *queue = self->queues[i];
        if (name && strcmp (name, fling_queue_name (queue)) != 0)
            continue;
        total += fling_queue_dead (queue)->count;
        for (fling_btask_t *task = fling_tasklist_head (fling_queue_dead (queue));
             task && (json_int_t)json_array_size (dead) < limit; task = fling_tasklist_next (task))
            json_array_append_new (dead, dead_entry (task));
    }
    return json_pack ("{so sI}", "dead", dead, "total", (json_int_t)total);
}

typedef enum { SELECT_ID, SELECT_NAME, SELECT_ALL } select_t;

/* Applies `retry` (else purge) to the dead tasks the request selects. */
static json_t *dead_change (fling_broker_t *self, json_t *request, bool retry)
{
    const char *id_text = json_string_value (json_object_get (request, "id"));
    const char *name = json_string_value (json_object_get (request, "name"));
    bool all = json_is_true (json_object_get (request, "all"));
    if (!id_text && !name && !all)
        return error_json ("select with \"id\", \"name\" or \"all\":true");
    if (self->store_failed)
        return error_json ("the store failed: the broker is read-only until restarted");
    size_t changed = 0;
    fling_task_id_t id;
    if (id_text && fling_task_id_parse (&id, id_text))
        return error_json ("bad task id");
    for (size_t i = 0; i < self->queue_count; i++) {
        fling_queue_t *queue = self->queues[i];
        if (name && strcmp (name, fling_queue_name (queue)) != 0)
            continue;
        fling_btask_t *task = fling_tasklist_head (fling_queue_dead (queue)), *next;
        for (; task; task = next) {
            next = fling_tasklist_next (task);
            if (id_text) {
                fling_task_id_t own;
                fling_btask_id (task, &own);
                if (memcmp (own.bytes, id.bytes, FLING_TASK_ID_SIZE) != 0)
                    continue;
            }
            fling_tasks_unlist (self, task);
            changed++;
            if (!retry) {
                fling_queue_counters (queue)->purged++;
                FLING_EVENT_TASK (self, FLING_EVENT_PURGED, task, NULL);
                fling_tasks_finish (self, task);
                continue;
            }
            fling_btask_revive (task);
            task->attempt = 0;
            task->crashes = 0;
            task->flags = FLING_TASK_QUEUED;
            fling_record_set_attempt (task->raw, 0);
            fling_tasks_store_state (self, task);
            fling_tasks_requeue (self, task, false);
            FLING_EVENT_TASK (self, FLING_EVENT_DEAD_RETRIED, task, NULL);
        }
    }
    if (retry)
        self->counters.dead_retried += changed;
    else
        self->counters.dead_purged += changed;
    if (changed)
        FLING_LOG_LIMITED (FLING_LOG_INFO, "dead-letter %s: %zu tasks", retry ? "retry" : "purge",
                           changed);
    return json_pack ("{sI}", retry ? "retried" : "purged", (json_int_t)changed);
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
        reply = stats_json (self, root);
    else if (strcmp (op, "queue_purge") == 0)
        reply = queue_purge (self, root);
    else if (strcmp (op, "dead_list") == 0)
        reply = dead_list (self, root);
    else if (strcmp (op, "dead_retry") == 0)
        reply = dead_change (self, root, true);
    else if (strcmp (op, "dead_purge") == 0)
        reply = dead_change (self, root, false);
    else if (strcmp (op, "task") == 0)
        reply = fling_lookup_task (self, root);
    else if (strcmp (op, "queue_pause") == 0 || strcmp (op, "queue_resume") == 0)
        reply = fling_pause_request (self, root, strcmp (op, "queue_pause") == 0);
    else if (strcmp (op, "events") == 0)
        reply = self->events ? fling_events_read (self->events, root, self->now_ms)
                             : error_json ("out of memory");
    else if ((reply = fling_schedules_admin (self, op, root)))
        ; /* schedule_add, schedule_list, schedule_remove (FLP/1.2) */
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
