/*  fling_lookup.c - {"op":"task","id":ID}: where one task is now.

    Part of the broker's ADMIN surface (fling_admin.c dispatches to it; the
    HTTP port's /api/task and `fling task` use it). Everything comes from
    what the broker keeps anyway: the task's header (state, attempt,
    crashes, `due`), its queue, its owner, the duplicate window. Times go
    out as wall-clock milliseconds since the Unix epoch (the broker's own
    are monotonic) and as "in"/"for" durations, so a reader needs no clock
    of the broker's.
*/
#include "fling_lookup.h"
#include "fling_leases.h"
#include "fling_tasks.h"

#include <jansson.h>
#include <string.h>

#define POSITION_WALK_MAX 100000 /* tasks walked to say how many wait ahead */
#define PAYLOAD_SHOWN     200

/* A monotonic time of this turn as wall-clock ms. */
static json_int_t wall_of (fling_broker_t *self, int64_t mono_ms)
{
    if (!self->wall_ms)
        self->wall_ms = fling_store_wall_ms ();
    return (json_int_t)(self->wall_ms + (mono_ms - self->now_ms));
}

/* `due` (wrapping ms) as a signed distance from now. */
static int64_t due_in (const fling_broker_t *self, uint32_t due)
{
    return (int32_t)(due - (uint32_t)self->now_ms);
}

/* Tasks ahead of a queued task in its queue: the waiting tasks of higher
   priorities (aging aside) and a walk toward the head of its own level,
   stopped at POSITION_WALK_MAX. */
static json_t *queued_json (const fling_btask_t *task)
{
    size_t ahead = 0;
    for (unsigned level = task->priority + 1u; level < FLING_PRIORITY_LEVELS; level++)
        ahead += fling_queue_queued_at (task->queue, level);
    const fling_dlink_t *link = task->link.prev;
    for (; link && ahead < POSITION_WALK_MAX; link = link->prev)
        ahead++;
    return json_pack ("{sI sb}", "ahead", (json_int_t)ahead, "ahead_at_least", link != NULL);
}

/* When a leased task's lease began: `due` is that plus the lease length
   (0 without a deadline), see fling_leases_grant. */
static int64_t lease_start (const fling_broker_t *self, const fling_btask_t *task)
{
    int64_t lease_ms =
        task->flags & FLING_BTASK_DEADLINE ? fling_leases_deadline_ms (self, task) : 0;
    return self->now_ms + due_in (self, task->due) - lease_ms;
}

static json_t *leased_json (fling_broker_t *self, const fling_btask_t *task)
{
    const fling_bworker_t *worker = task->owner;
    int64_t since = lease_start (self, task);
    json_t *leased =
        json_pack ("{ss sI ss sI sI}", "worker", worker->name, "pid", (json_int_t)worker->pid,
                   "class", fling_class_name (fling_btask_cls (task)), "since_ms",
                   wall_of (self, since), "for_ms", (json_int_t)(self->now_ms - since));
    if (leased && (task->flags & FLING_BTASK_DEADLINE))
        json_object_set_new (leased, "deadline_in_ms",
                             json_integer ((json_int_t)due_in (self, task->due)));
    return leased;
}

static json_t *text_json (const char *text, size_t size)
{
    /* A cut may split a character: fall back to a shorter valid copy. */
    json_t *value = json_stringn (text, size);
    while (!value && size > 0)
        value = json_stringn (text, --size);
    return value ? value : json_string ("");
}

static const char *state_name (fling_task_state_t state)
{
    static const char *const names[] = {"queued", "inflight", "delayed",
                                        "parked", "dead",     "suspect"};
    return state <= FLING_TASK_SUSPECT ? names[state] : "unknown";
}

static json_t *held_json (fling_broker_t *self, const fling_btask_t *task, const char *id_text)
{
    fling_record_t record;
    fling_btask_record (task, &record);
    fling_task_state_t state = fling_btask_state (task);
    json_t *reply = json_pack (
        "{ss ss ss sI sI sI sI so}", "id", id_text, "name", fling_queue_name (task->queue), "state",
        state_name (state), "attempt", (json_int_t)task->attempt, "max_attempts",
        (json_int_t)fling_tasks_max_attempts (task), "crashes", (json_int_t)task->crashes,
        "timeout_ms", (json_int_t)fling_btask_timeout_ms (task), "payload",
        text_json (record.payload,
                   record.payload_size < PAYLOAD_SHOWN ? record.payload_size : PAYLOAD_SHOWN));
    if (!reply)
        return NULL;
    switch (state) {
    case FLING_TASK_QUEUED:
        json_object_set_new (reply, "queued", queued_json (task));
        break;
    case FLING_TASK_LEASED:
        json_object_set_new (reply, "inflight", leased_json (self, task));
        break;
    case FLING_TASK_DELAYED: {
        int64_t in = due_in (self, task->due);
        json_object_set_new (reply, "delayed",
                             json_pack ("{sI sI}", "until_ms", wall_of (self, self->now_ms + in),
                                        "in_ms", (json_int_t)(in > 0 ? in : 0)));
        break;
    }
    case FLING_TASK_PARKED: /* recovered in flight, waiting for its worker's HOLDING */
        json_object_set_new (reply, "parked",
                             json_pack ("{sI}", "until_ms", wall_of (self, self->parked_until_ms)));
        break;
    case FLING_TASK_SUSPECT: /* waits for a trial run apart (SPEC.md §6.4) */
        break;
    case FLING_TASK_DEAD:
        json_object_set_new (reply, "dead",
                             json_pack ("{ss so}", "reason",
                                        fling_dead_reason_name (task->dead->reason), "error",
                                        text_json (task->dead->error, task->dead->error_size)));
        break;
    }
    return reply;
}

#define RUNNING_SHOWN 3

json_t *fling_lookup_running (fling_broker_t *self, const fling_bworker_t *worker)
{
    json_t *running = json_array ();
    const fling_btask_t *task = fling_tasklist_head (&worker->leased);
    for (size_t i = 0; running && task && i < RUNNING_SHOWN;
         i++, task = fling_tasklist_next (task)) {
        fling_task_id_t id;
        char id_text[FLING_TASK_ID_TEXT_SIZE];
        fling_btask_id (task, &id);
        json_array_append_new (running,
                               json_pack ("{ss ss sI}", "id", fling_task_id_format (&id, id_text),
                                          "name", fling_queue_name (task->queue), "for_ms",
                                          (json_int_t)(self->now_ms - lease_start (self, task))));
    }
    return running;
}

json_t *fling_lookup_task (fling_broker_t *self, json_t *request)
{
    const char *id_text = json_string_value (json_object_get (request, "id"));
    fling_task_id_t id;
    if (!id_text || fling_task_id_parse (&id, id_text))
        return json_pack ("{ss}", "error", "want \"id\": a task id (16 hex digits:sequence)");
    char canonical[FLING_TASK_ID_TEXT_SIZE];
    fling_task_id_format (&id, canonical);
    const fling_btask_t *task = (const fling_btask_t *)fling_idmap_lookup (self->ids, &id);
    if (task)
        return held_json (self, task, canonical);
    int64_t ended_ms;
    if (fling_dedup_ended (self->dedup, &id, self->now_ms, &ended_ms))
        return json_pack ("{ss ss sI sI}", "id", canonical, "state", "ended", "ended_ms",
                          wall_of (self, ended_ms), "ago_ms",
                          (json_int_t)(self->now_ms - ended_ms));
    return json_pack ("{ss ss}", "id", canonical, "state", "unknown");
}
