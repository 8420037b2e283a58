/*  fling_metrics.c - see fling_metrics.h. */
#include "fling_metrics.h"
#include "fling_prom.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/time.h>

#ifndef FLING_VERSION
#define FLING_VERSION "unknown"
#endif

static void render_build (fling_broker_t *self, fling_prom_t *prom)
{
    fling_prom_family (prom, "fling_build_info", "gauge",
                       "Always 1; the labels say which fling this is.");
    fling_prom_sample (prom, "fling_build_info", 1, "version", FLING_VERSION, "component", "broker",
                       NULL);
    struct timeval now;
    gettimeofday (&now, NULL);
    int64_t wall_us = (int64_t)now.tv_sec * 1000000 + now.tv_usec;
    int64_t up_us = (self->now_ms - self->started_ms) * 1000;
    fling_prom_family (prom, "fling_broker_start_time_seconds", "gauge",
                       "When the broker started, in seconds since the Unix epoch.");
    fling_prom_seconds (prom, "fling_broker_start_time_seconds",
                        (uint64_t)(wall_us > up_us ? wall_us - up_us : 0), NULL);
}

/* ---- per task name ------------------------------------------------------- */

static void render_queue_states (fling_broker_t *self, fling_prom_t *prom)
{
    fling_prom_family (prom, "fling_queue_tasks", "gauge",
                       "Tasks held per name and state: queued (waiting for a worker), delayed "
                       "(waiting for a retry, or recovered in flight), suspect (waiting for a "
                       "trial after a worker died), inflight (leased to a worker), dead "
                       "(dead-letter queue).");
    for (size_t i = 0; i < self->queue_count; i++) {
        fling_queue_t *queue = self->queues[i];
        const fling_queue_counters_t *c = fling_queue_counters (queue);
        const char *name = fling_queue_name (queue);
        fling_prom_sample (prom, "fling_queue_tasks", fling_queue_queued (queue), "name", name,
                           "state", "queued", NULL);
        fling_prom_sample (prom, "fling_queue_tasks", c->delayed, "name", name, "state", "delayed",
                           NULL);
        fling_prom_sample (prom, "fling_queue_tasks", c->suspects, "name", name, "state", "suspect",
                           NULL);
        fling_prom_sample (prom, "fling_queue_tasks", c->inflight, "name", name, "state",
                           "inflight", NULL);
        fling_prom_sample (prom, "fling_queue_tasks", fling_queue_dead (queue)->count, "name", name,
                           "state", "dead", NULL);
    }
    fling_prom_family (prom, "fling_queue_workers", "gauge", "Workers registered for a name now.");
    for (size_t i = 0; i < self->queue_count; i++)
        fling_prom_sample (prom, "fling_queue_workers", fling_queue_server_count (self->queues[i]),
                           "name", fling_queue_name (self->queues[i]), NULL);
    fling_prom_family (prom, "fling_orphan_queued_tasks", "gauge",
                       "Queued tasks of a name no worker is registered for (only such names).");
    for (size_t i = 0; i < self->queue_count; i++) {
        fling_queue_t *queue = self->queues[i];
        if (fling_queue_queued (queue) && fling_queue_server_count (queue) == 0)
            fling_prom_sample (prom, "fling_orphan_queued_tasks", fling_queue_queued (queue),
                               "name", fling_queue_name (queue), NULL);
    }
}

/* One counter family over every queue: `field` is an offset in the queue's
   counters. */
static void render_queue_counter (fling_broker_t *self, fling_prom_t *prom, const char *family,
                                  size_t field, const char *help)
{
    fling_prom_family (prom, family, "counter", help);
    for (size_t i = 0; i < self->queue_count; i++) {
        const fling_queue_counters_t *c = fling_queue_counters (self->queues[i]);
        uint64_t value = *(const uint64_t *)((const char *)c + field);
        fling_prom_sample (prom, family, value, "name", fling_queue_name (self->queues[i]), NULL);
    }
}

#define QUEUE_FIELD(name) offsetof (fling_queue_counters_t, name)

static void render_queue_counters (fling_broker_t *self, fling_prom_t *prom)
{
    static const struct {
        const char *family;
        size_t field;
        const char *help;
    } families[] = {
        {"fling_tasks_accepted_total", QUEUE_FIELD (accepted),
         "New tasks acknowledged to a producer (stored)."},
        {"fling_tasks_recovered_total", QUEUE_FIELD (recovered),
         "Tasks the store gave back when the broker started."},
        {"fling_tasks_done_total", QUEUE_FIELD (done), "Tasks a worker finished with DONE."},
        {"fling_tasks_failed_total", QUEUE_FIELD (run_failures),
         "Runs whose handler answered FAIL or RETRY."},
        {"fling_tasks_retried_total", QUEUE_FIELD (retried),
         "Runs that ended without success and were scheduled again after a backoff."},
        {"fling_tasks_timed_out_total", QUEUE_FIELD (timed_out),
         "Runs that overran their deadline (TIMEOUT) or their lease."},
        {"fling_tasks_crashed_total", QUEUE_FIELD (crashed),
         "Runs ended by the death of their worker."},
        {"fling_tasks_dead_lettered_total", QUEUE_FIELD (failed),
         "Tasks moved to the dead-letter queue, any reason."},
        {"fling_tasks_purged_total", QUEUE_FIELD (purged), "Dead tasks purged."},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        render_queue_counter (self, prom, families[f].family, families[f].field, families[f].help);
}

/* ---- broker-wide ---------------------------------------------------------- */

static void render_holdings (fling_broker_t *self, fling_prom_t *prom)
{
    fling_prom_family (prom, "fling_held_tasks", "gauge",
                       "Tasks held, every state (counts toward --max-tasks).");
    fling_prom_sample (prom, "fling_held_tasks", fling_idmap_size (self->ids), NULL);
    fling_prom_family (prom, "fling_held_bytes", "gauge",
                       "Task record bytes held (counts toward --max-bytes).");
    fling_prom_sample (prom, "fling_held_bytes", self->bytes, NULL);
    fling_prom_family (prom, "fling_dedup_ids", "gauge",
                       "Ids of ended tasks remembered for the duplicate window.");
    fling_prom_sample (prom, "fling_dedup_ids", fling_dedup_size (self->dedup), NULL);
}

#define BROKER_FIELD(name) offsetof (fling_broker_counters_t, name)

static void render_counters (fling_broker_t *self, fling_prom_t *prom)
{
    static const struct {
        const char *family;
        size_t field;
        const char *help;
    } families[] = {
        {"fling_duplicate_tasks_total", BROKER_FIELD (duplicates),
         "Tasks answered DUPLICATE: held already or ended within the duplicate window."},
        {"fling_dispatched_tasks_total", BROKER_FIELD (dispatched), "Tasks sent to workers."},
        {"fling_requeued_tasks_total", BROKER_FIELD (requeued),
         "Tasks put back at the head of their queue (released, or their worker died)."},
        {"fling_stale_results_total", BROKER_FIELD (stale_results),
         "Results ignored: the task was not leased to that worker under that attempt."},
        {"fling_workers_lost_total", BROKER_FIELD (worker_lost),
         "Workers declared dead: a silence, or their connection found gone."},
        {"fling_crashes_charged_total", BROKER_FIELD (crashed),
         "Crashes charged to a task: its worker died holding it alone."},
        {"fling_suspected_tasks_total", BROKER_FIELD (suspected),
         "Tasks sent to a trial after a second worker died under them."},
        {"fling_trials_total", BROKER_FIELD (trials),
         "Trials sent: suspects run on a worker that holds nothing else."},
        {"fling_worker_probes_total", BROKER_FIELD (probes),
         "PINGs sent to silent workers that hold tasks, to find dead connections."},
        {"fling_unroutable_messages_total", BROKER_FIELD (router_unroutable),
         "Messages not sent: the peer was gone or not reading."},
        {"fling_lease_expired_total", BROKER_FIELD (lease_expired),
         "Leases ended by the broker's own deadline."},
        {"fling_holding_leased_total", BROKER_FIELD (holding_leased),
         "Tasks a reconnected worker claimed back (HOLDING)."},
        {"fling_holding_ignored_total", BROKER_FIELD (holding_ignored),
         "HOLDING claims that matched nothing."},
        {"fling_dead_retried_total", BROKER_FIELD (dead_retried),
         "Dead tasks put back in their queue by an operator."},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        uint64_t value = *(const uint64_t *)((const char *)&self->counters + families[f].field);
        fling_prom_family (prom, families[f].family, "counter", families[f].help);
        fling_prom_sample (prom, families[f].family, value, NULL);
    }
}

static void render_refusals (fling_broker_t *self, fling_prom_t *prom)
{
    fling_prom_family (prom, "fling_rejected_tasks_total", "counter",
                       "Tasks answered with a refusal, per reason (QUEUE_FULL, STORE_FULL, "
                       "UNAVAILABLE, TOO_LARGE, BAD_TASK).");
    for (int slot = 0; slot < FLING_REASON_MAX; slot++)
        if (self->rejected[slot])
            fling_prom_sample (prom, "fling_rejected_tasks_total", self->rejected[slot], "reason",
                               fling_reason_name (slot), NULL);
    fling_prom_family (prom, "fling_refused_messages_total", "counter",
                       "Messages refused, per reason (MALFORMED, BAD_STATE, BAD_SIGNATURE...).");
    for (int slot = 0; slot < FLING_REASON_MAX; slot++)
        if (self->refused[slot])
            fling_prom_sample (prom, "fling_refused_messages_total", self->refused[slot], "reason",
                               fling_reason_name (slot), NULL);
}

static void render_store (fling_broker_t *self, fling_prom_t *prom)
{
    fling_store_status_t status;
    fling_store_status (self->store, &status);
    const char *kind = fling_store_kind (self->store);
    fling_prom_family (prom, "fling_store_bytes", "gauge",
                       "Bytes the store's files take on disk (segments are preallocated).");
    fling_prom_sample (prom, "fling_store_bytes", status.bytes_on_disk, "store", kind, NULL);
    fling_prom_family (prom, "fling_store_segments", "gauge", "Log segments on disk.");
    fling_prom_sample (prom, "fling_store_segments", status.segments, "store", kind, NULL);
    fling_prom_family (prom, "fling_store_commits_total", "counter",
                       "Group commits that flushed something.");
    fling_prom_sample (prom, "fling_store_commits_total", status.commits, "store", kind, NULL);
    if (self->commit_time.bound_count) { /* a disk store */
        fling_prom_family (prom, "fling_store_commit_seconds", "histogram",
                           "Time of one group commit: write(2) of the turn's records, then "
                           "fdatasync.");
        fling_prom_histogram (prom, "fling_store_commit_seconds", &self->commit_time, "store", kind,
                              NULL);
    }
    fling_prom_family (prom, "fling_store_failed", "gauge",
                       "1 when a write or fdatasync failed: read-only until restarted.");
    fling_prom_sample (prom, "fling_store_failed", status.failed || self->store_failed, "store",
                       kind, NULL);
    fling_prom_family (prom, "fling_store_full", "gauge",
                       "1 while the store refuses new tasks (STORE_FULL).");
    fling_prom_sample (prom, "fling_store_full", status.full, "store", kind, NULL);
}

/* ---- peers ---------------------------------------------------------------- */

static void render_worker (fling_prom_t *prom, const char *family, const fling_bworker_t *worker,
                           const uint32_t values[FLING_CLASS_COUNT])
{
    char pid[16];
    snprintf (pid, sizeof pid, "%" PRIu32, worker->pid);
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++)
        fling_prom_sample (prom, family, values[cls], "worker", worker->name, "pid", pid, "class",
                           fling_class_name ((fling_class_t)cls), NULL);
}

static void render_workers (fling_broker_t *self, fling_prom_t *prom, uint64_t producers,
                            uint64_t workers)
{
    fling_prom_family (prom, "fling_connections", "gauge",
                       "TCP connections open on the broker's sockets (producer: producers and "
                       "fling commands; worker: workers).");
    fling_prom_sample (prom, "fling_connections", producers, "socket", "producer", NULL);
    fling_prom_sample (prom, "fling_connections", workers, "socket", "worker", NULL);
    fling_prom_family (prom, "fling_workers_registered", "gauge", "Workers registered now.");
    fling_prom_sample (prom, "fling_workers_registered", zhashx_size (self->workers), NULL);
    static const struct {
        const char *family;
        const char *help;
    } families[] = {
        {"fling_broker_worker_capacity_tasks",
         "Tasks a worker said it holds at most, per class (loop, pool)."},
        {"fling_broker_worker_slots", "Tasks a worker said it runs at once, per class."},
        {"fling_broker_worker_inflight_tasks", "Tasks leased to a worker now, per class."},
    };
    for (size_t f = 0; f < 3; f++) {
        fling_prom_family (prom, families[f].family, "gauge", families[f].help);
        for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
             worker = (fling_bworker_t *)zhashx_next (self->workers))
            render_worker (prom, families[f].family, worker,
                           f == 0   ? worker->capacity
                           : f == 1 ? worker->slots
                                    : worker->inflight);
    }
    fling_prom_family (prom, "fling_broker_worker_done_total", "counter",
                       "Tasks a worker finished with DONE since it registered.");
    for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
         worker = (fling_bworker_t *)zhashx_next (self->workers)) {
        char pid[16];
        snprintf (pid, sizeof pid, "%" PRIu32, worker->pid);
        fling_prom_sample (prom, "fling_broker_worker_done_total", worker->done, "worker",
                           worker->name, "pid", pid, NULL);
    }
}

char *fling_metrics_render (fling_broker_t *self, uint64_t producer_connections,
                            uint64_t worker_connections, size_t *size)
{
    fling_prom_t *prom = fling_prom_new ();
    if (!prom)
        return NULL;
    render_build (self, prom);
    render_queue_states (self, prom);
    render_queue_counters (self, prom);
    render_holdings (self, prom);
    render_counters (self, prom);
    render_refusals (self, prom);
    render_store (self, prom);
    render_workers (self, prom, producer_connections, worker_connections);
    return fling_prom_take (&prom, size);
}
