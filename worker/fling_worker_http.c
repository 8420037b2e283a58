/*  fling_worker_http.c - see fling_worker_http.h. */
#include "fling_worker_http.h"
#include "fling_http.h"
#include "fling_prom.h"
#include "fling_worker_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FLING_VERSION
#define FLING_VERSION "unknown"
#endif

struct fling_worker_http {
    fling_worker_t *worker;
    fling_http_t *http;
    zmq_pollitem_t item;
};

static const char *const open_paths[] = {"/metrics", "/healthz", NULL};

static void render_outcomes (fling_prom_t *prom, const fling_worker_stats_t *stats)
{
    fling_prom_family (prom, "fling_worker_tasks_total", "counter",
                       "Tasks this worker reported, per outcome (done, failed, retried, "
                       "timed_out, released: handed back unstarted).");
    const struct {
        const char *outcome;
        uint64_t value;
    } outcomes[] = {{"done", stats->done},
                    {"failed", stats->failed},
                    {"retried", stats->retried},
                    {"timed_out", stats->timed_out},
                    {"released", stats->released}};
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        fling_prom_sample (prom, "fling_worker_tasks_total", outcomes[i].value, "outcome",
                           outcomes[i].outcome, NULL);
    const struct {
        const char *family, *help;
        uint64_t value;
    } counters[] = {
        {"fling_worker_received_tasks_total", "Tasks received from the broker.", stats->dispatched},
        {"fling_worker_reconnects_total",
         "Broker connections replaced after a silence or UNKNOWN_PEER.", stats->reconnects},
        {"fling_worker_bad_messages_total", "Messages from the broker that did not decode.",
         stats->bad_messages},
        {"fling_worker_send_failures_total",
         "Messages to the broker dropped because the socket would block.", stats->send_failures},
        {"fling_worker_holding_sent_total", "Leases named in HOLDING after registering again.",
         stats->holding_sent},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        fling_prom_family (prom, counters[i].family, "counter", counters[i].help);
        fling_prom_sample (prom, counters[i].family, counters[i].value, NULL);
    }
    fling_prom_family (prom, "fling_worker_stuck_threads", "gauge",
                       "Pool threads detached while stuck in a handler past its deadline.");
    fling_prom_sample (prom, "fling_worker_stuck_threads", stats->stuck_threads, NULL);
}

static void render_classes (fling_prom_t *prom, const fling_worker_metrics_t *metrics)
{
    static const struct {
        const char *family, *help;
    } gauges[] = {
        {"fling_worker_capacity_tasks",
         "Tasks announced to the broker per class (slots plus prefetch)."},
        {"fling_worker_slots", "Tasks run at once per class (pool threads, async limit)."},
        {"fling_worker_inflight_tasks", "Tasks in this worker's hands per class, started or not."},
        {"fling_worker_waiting_tasks", "Tasks received and not started yet (prefetched)."},
    };
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        fling_prom_family (prom, gauges[g].family, "gauge", gauges[g].help);
        for (int cls = 0; cls < FLING_CLASS_COUNT; cls++) {
            const fling_worker_class_metrics_t *m = &metrics->classes[cls];
            uint64_t values[] = {m->capacity, m->slots, m->inflight, m->waiting};
            fling_prom_sample (prom, gauges[g].family, values[g], "class",
                               fling_class_name ((fling_class_t)cls), NULL);
        }
    }
    fling_prom_family (prom, "fling_worker_task_run_seconds", "histogram",
                       "Handler run time per class. pool: every task, timed on its thread. "
                       "loop: one task in 64, from its start to fling_task_complete, in "
                       "whole milliseconds.");
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++)
        fling_prom_histogram (prom, "fling_worker_task_run_seconds",
                              &metrics->classes[cls].run_time, "class",
                              fling_class_name ((fling_class_t)cls), NULL);
}

static char *render (fling_worker_t *worker, size_t *size)
{
    fling_worker_stats_t stats;
    fling_worker_metrics_t metrics;
    fling_worker_stats (worker, &stats);
    fling_worker_metrics (worker, &metrics);
    fling_prom_t *prom = fling_prom_new ();
    fling_prom_family (prom, "fling_build_info", "gauge",
                       "Always 1; the labels say which fling this is.");
    fling_prom_sample (prom, "fling_build_info", 1, "version", FLING_VERSION, "component", "worker",
                       NULL);
    fling_prom_family (prom, "fling_worker_registered", "gauge",
                       "1 while the broker has confirmed this worker's registration.");
    fling_prom_sample (prom, "fling_worker_registered", metrics.registered, NULL);
    render_outcomes (prom, &stats);
    render_classes (prom, &metrics);
    return fling_prom_take (&prom, size);
}

static void on_request (void *arg, const fling_http_request_t *request,
                        fling_http_response_t *response)
{
    fling_worker_http_t *self = (fling_worker_http_t *)arg;
    bool get = strcmp (request->method, "POST") != 0;
    response->content_type = "text/plain; charset=utf-8";
    if (get && strcmp (request->path, "/metrics") == 0) {
        response->body = render (self->worker, &response->body_size);
        response->content_type = FLING_PROM_CONTENT_TYPE;
        response->status = response->body ? 200 : 503;
    } else if (get && strcmp (request->path, "/healthz") == 0) {
        response->body = strdup ("ok\n");
        response->body_size = 3;
        response->status = 200;
    } else {
        response->body = strdup ("not found\n");
        response->body_size = response->body ? strlen (response->body) : 0;
        response->status = 404;
    }
}

static int on_ready (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fling_worker_http_t *self = (fling_worker_http_t *)arg;
    fling_http_serve (self->http, on_request, self);
    return 0;
}

fling_worker_http_t *fling_worker_http_new (fling_worker_t *worker, const char *address,
                                            char *error, size_t error_size)
{
    fling_worker_http_t *self = (fling_worker_http_t *)calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    self->worker = worker;
    fling_http_options_t options = {.address = address, .open_paths = open_paths};
    self->http = fling_http_new (&options, error, error_size);
    if (!self->http) {
        free (self);
        return NULL;
    }
    self->item = (zmq_pollitem_t){NULL, fling_http_fd (self->http), ZMQ_POLLIN, 0};
    if (zloop_poller (fling_worker_loop (worker), &self->item, on_ready, self)) {
        snprintf (error, error_size, "cannot add the HTTP port to the worker's loop");
        fling_worker_http_destroy (&self);
        return NULL;
    }
    return self;
}

const char *fling_worker_http_address (const fling_worker_http_t *self)
{
    return fling_http_address (self->http);
}

void fling_worker_http_destroy (fling_worker_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_worker_http_t *self = *self_p;
    zloop_poller_end (fling_worker_loop (self->worker), &self->item);
    fling_http_destroy (&self->http);
    free (self);
    *self_p = NULL;
}
