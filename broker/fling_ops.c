/*  fling_ops.c - see fling_ops.h. */
#include "fling_ops.h"
#include "fling_admin.h"
#include "fling_dashboard.h"
#include "fling_http.h"
#include "fling_log.h"
#include "fling_metrics.h"
#include "fling_names.h"
#include "fling_prom.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define HISTORY_SIZE 600 /* one sample a second: ten minutes */
#define TICK_MS      1000

/* One second of the broker's life, for the dashboard's chart. */
typedef struct {
    int64_t wall_ms;
    uint64_t accepted, done, failed, dead_lettered; /* totals so far */
    uint64_t queued, inflight;                      /* now */
} sample_t;

struct fling_ops {
    fling_http_t *http;
    int64_t next_tick_ms;
    sample_t history[HISTORY_SIZE];
    size_t history_next, history_count;
    /* orphan queues, by queue index: when last logged (0 = not orphaned) */
    int64_t *orphan_logged_ms;
    size_t orphan_alloc;
    int64_t orphan_quiet_until_ms; /* no orphan WARN before workers could reconnect */
    /* --refuse-unknown-names: log rate limit */
    int64_t unknown_logged_ms;
    uint64_t unknown_quiet;
};

/* ---- HTTP ------------------------------------------------------------------ */

static const char *const open_paths[] = {"/metrics", "/healthz", NULL};

static void reply_text (fling_http_response_t *response, int status, const char *content_type,
                        char *body, size_t size)
{
    response->status = body ? status : 503;
    response->content_type = content_type;
    response->body = body ? body : strdup ("out of memory\n");
    response->body_size = body ? size : (response->body ? strlen (response->body) : 0);
}

/* An ADMIN request through the same code as on the producer socket. */
static void reply_admin (fling_broker_t *self, json_t *request, fling_http_response_t *response)
{
    char *text = request ? json_dumps (request, JSON_COMPACT) : NULL;
    json_decref (request);
    char *reply = text ? fling_admin_handle (self, text, strlen (text)) : NULL;
    free (text);
    int status = 200;
    if (reply) {
        json_t *parsed = json_loads (reply, 0, NULL);
        if (json_object_get (parsed, "error"))
            status = 400;
        json_decref (parsed);
    }
    reply_text (response, status, "application/json", reply, reply ? strlen (reply) : 0);
}

static json_t *history_json (const struct fling_ops *ops)
{
    json_t *samples = json_array ();
    size_t start = (ops->history_next + HISTORY_SIZE - ops->history_count) % HISTORY_SIZE;
    for (size_t i = 0; samples && i < ops->history_count; i++) {
        const sample_t *s = &ops->history[(start + i) % HISTORY_SIZE];
        json_array_append_new (samples,
                               json_pack ("[I I I I I I I]", (json_int_t)s->wall_ms,
                                          (json_int_t)s->accepted, (json_int_t)s->done,
                                          (json_int_t)s->failed, (json_int_t)s->dead_lettered,
                                          (json_int_t)s->queued, (json_int_t)s->inflight));
    }
    return json_pack ("{s[sssssss] so}", "columns", "wall_ms", "accepted", "done", "failed",
                      "dead_lettered", "queued", "inflight", "samples", samples);
}

/* A POST body (a JSON object) with "op" set: the dead-letter selectors. */
static json_t *post_request (const fling_http_request_t *request, const char *op)
{
    json_t *body = json_loadb (request->body, request->body_size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object (body)) {
        json_decref (body);
        return NULL;
    }
    json_object_set_new (body, "op", json_string (op));
    return body;
}

static void bad_request (fling_http_response_t *response, int status, const char *why)
{
    json_t *error = json_pack ("{ss}", "error", why);
    char *text = error ? json_dumps (error, JSON_COMPACT) : NULL;
    json_decref (error);
    reply_text (response, status, "application/json", text, text ? strlen (text) : 0);
}

static void on_http (void *arg, const fling_http_request_t *request,
                     fling_http_response_t *response)
{
    fling_broker_t *self = (fling_broker_t *)arg;
    const char *path = request->path;
    bool post = strcmp (request->method, "POST") == 0;
    if (strcmp (path, "/metrics") == 0 && !post) {
        size_t size = 0;
        uint64_t producers = 0, workers = 0;
        fling_ops_connections (self, &producers, &workers);
        char *text = fling_metrics_render (self, producers, workers, &size);
        reply_text (response, 200, FLING_PROM_CONTENT_TYPE, text, size);
    } else if (strcmp (path, "/healthz") == 0 && !post)
        reply_text (response, 200, "text/plain; charset=utf-8", strdup ("ok\n"), 3);
    else if (strcmp (path, "/api/stats") == 0 && !post)
        reply_admin (self, json_pack ("{ss}", "op", "stats"), response);
    else if (strcmp (path, "/api/history") == 0 && !post) {
        json_t *history = history_json (self->ops);
        char *text = history ? json_dumps (history, JSON_COMPACT) : NULL;
        json_decref (history);
        reply_text (response, 200, "application/json", text, text ? strlen (text) : 0);
    } else if (strcmp (path, "/api/dead") == 0 && !post) {
        json_t *query = json_pack ("{ss}", "op", "dead_list");
        const char *name = fling_http_arg (request, "name");
        const char *limit = fling_http_arg (request, "limit");
        if (name && *name)
            json_object_set_new (query, "name", json_string (name));
        if (limit) {
            char *end = NULL;
            long long value = strtoll (limit, &end, 10);
            if (!*limit || *end) {
                json_decref (query);
                bad_request (response, 400, "limit must be a number");
                return;
            }
            json_object_set_new (query, "limit", json_integer (value));
        }
        reply_admin (self, query, response);
    } else if (strcmp (path, "/api/task") == 0 && !post) {
        const char *id = fling_http_arg (request, "id");
        reply_admin (self, json_pack ("{ss ss}", "op", "task", "id", id ? id : ""), response);
    } else if ((strcmp (path, "/api/dead/retry") == 0 || strcmp (path, "/api/dead/purge") == 0)) {
        if (!post) {
            bad_request (response, 405,
                         "POST a JSON object: {\"id\":..}, {\"name\":..} or "
                         "{\"all\":true}");
            return;
        }
        /* With CURVE, changing the broker's tasks is an admin key's right
           (SECURITY.md); the HTTP port authenticates no one. */
        if (self->auth) {
            bad_request (response, 403,
                         "with CURVE on, retry and purge need an admin key: use "
                         "fling dead retry/purge with --curve-key");
            return;
        }
        json_t *query = post_request (request, path[10] == 'r' ? "dead_retry" : "dead_purge");
        if (!query)
            bad_request (response, 400, "the body must be a JSON object");
        else
            reply_admin (self, query, response);
    } else
        bad_request (response, 404, "not found");
}

/* ---- timed duties ------------------------------------------------------------ */

static void take_sample (fling_broker_t *self, struct fling_ops *ops)
{
    sample_t *s = &ops->history[ops->history_next];
    struct timeval now;
    gettimeofday (&now, NULL);
    *s = (sample_t){.wall_ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000,
                    .accepted = self->counters.accepted,
                    .done = self->counters.done,
                    .dead_lettered = self->counters.dead_lettered};
    for (size_t i = 0; i < self->queue_count; i++) {
        const fling_queue_counters_t *c = fling_queue_counters (self->queues[i]);
        s->failed += c->run_failures + c->timed_out + c->crashed;
        s->queued += fling_queue_queued (self->queues[i]);
        s->inflight += c->inflight;
    }
    ops->history_next = (ops->history_next + 1) % HISTORY_SIZE;
    if (ops->history_count < HISTORY_SIZE)
        ops->history_count++;
}

/* No silent queues: a name with queued tasks and no worker is logged when
   found, then once per --orphan-warn-ms while it stays so. */
static void check_orphans (fling_broker_t *self, struct fling_ops *ops)
{
    if (ops->orphan_alloc < self->queue_count) {
        size_t alloc = self->queue_count + 64;
        int64_t *grown = (int64_t *)realloc (ops->orphan_logged_ms, alloc * sizeof *grown);
        if (!grown)
            return;
        memset (grown + ops->orphan_alloc, 0, (alloc - ops->orphan_alloc) * sizeof *grown);
        ops->orphan_logged_ms = grown;
        ops->orphan_alloc = alloc;
    }
    bool quiet = self->now_ms < ops->orphan_quiet_until_ms;
    for (size_t i = 0; i < self->queue_count; i++) {
        fling_queue_t *queue = self->queues[i];
        size_t queued = fling_queue_queued (queue), workers = fling_queue_server_count (queue);
        int64_t *logged = &ops->orphan_logged_ms[i];
        if (queued && !workers) {
            if (quiet || (*logged && self->now_ms - *logged < self->config.orphan_warn_ms))
                continue;
            fling_warn ("queue has no worker name=%s queued=%zu delayed=%" PRIu64
                        " registered_ever=%" PRIu64,
                        fling_queue_name (queue), queued, fling_queue_counters (queue)->delayed,
                        fling_queue_counters (queue)->registrations);
            *logged = self->now_ms;
        } else if (*logged) {
            fling_info ("queue no longer without a worker name=%s queued=%zu workers=%zu",
                        fling_queue_name (queue), queued, workers);
            *logged = 0;
        }
    }
}

void fling_ops_tick (fling_broker_t *self)
{
    struct fling_ops *ops = self->ops;
    if (!ops || self->now_ms < ops->next_tick_ms)
        return;
    ops->next_tick_ms = self->now_ms + TICK_MS;
    take_sample (self, ops);
    check_orphans (self, ops);
}

bool fling_ops_name_known (fling_broker_t *self, const char *name, size_t name_size)
{
    fling_queue_t *queue = fling_names_queue (self, name, name_size, false);
    if (queue && fling_queue_counters (queue)->registrations)
        return true;
    for (size_t i = 0; i < self->config.allow_name_count; i++)
        if (strlen (self->config.allow_names[i]) == name_size &&
            memcmp (self->config.allow_names[i], name, name_size) == 0)
            return true;
    struct fling_ops *ops = self->ops;
    if (ops) { /* one line a second at most, with the count it stands for */
        ops->unknown_quiet++;
        if (!ops->unknown_logged_ms || self->now_ms - ops->unknown_logged_ms >= 1000) {
            fling_warn ("refused task of unknown name name=%.*s count=%" PRIu64
                        " (--refuse-unknown-names; no worker registered it, not allowed"
                        " by --allow-name)",
                        (int)name_size, name, ops->unknown_quiet);
            ops->unknown_quiet = 0;
            ops->unknown_logged_ms = self->now_ms;
        }
    }
    return false;
}

/* ---- life cycle ------------------------------------------------------------- */

size_t fling_ops_poll_items (fling_broker_t *self, zmq_pollitem_t *items)
{
    struct fling_ops *ops = self->ops;
    size_t count = 0;
    if (!ops)
        return 0;
    if (ops->http)
        items[count++] = (zmq_pollitem_t){NULL, fling_http_fd (ops->http), ZMQ_POLLIN, 0};
    return count;
}

void fling_ops_handle (fling_broker_t *self, const zmq_pollitem_t *items)
{
    struct fling_ops *ops = self->ops;
    size_t i = 0;
    if (!ops)
        return;
    if (ops->http && (items[i++].revents & ZMQ_POLLIN))
        fling_http_serve (ops->http, on_http, self);
}

const char *fling_ops_http_address (const fling_broker_t *self)
{
    return self->ops && self->ops->http ? fling_http_address (self->ops->http) : NULL;
}

/* The connection table (fling_conns, fed by the sockets' monitors) counts
   them: a socket has one monitor, so the metrics read that table. */
void fling_ops_connections (const fling_broker_t *self, uint64_t *producer, uint64_t *worker)
{
    *producer = self->conns ? fling_conns_open_on (self->conns, FLING_CONNS_PRODUCER) : 0;
    *worker = self->conns ? fling_conns_open_on (self->conns, FLING_CONNS_WORKER) : 0;
}

int fling_ops_new (fling_broker_t *self)
{
    struct fling_ops *ops = (struct fling_ops *)calloc (1, sizeof *ops);
    if (!ops) {
        fling_error ("out of memory");
        return -1;
    }
    self->ops = ops;
    self->events = fling_events_new (); /* NULL: no events, the rest works */
    /* Commits are timed only where they do something (fling_producers.c). */
    if (strcmp (fling_store_kind (self->store), "disk") == 0)
        FLING_HISTOGRAM_INIT (&self->commit_time, fling_histogram_commit_bounds_us);
    ops->orphan_quiet_until_ms = self->now_ms + self->config.worker_timeout_ms;
    /* What the store gave back counts as such, so that accepted +
       recovered - done - purged = held, per name, from the start. */
    for (size_t i = 0; i < self->queue_count; i++)
        fling_queue_counters (self->queues[i])->recovered = fling_queue_held (self->queues[i]);
    if (self->config.http_addr[0]) {
        char error[256];
        fling_http_options_t options = {.address = self->config.http_addr,
                                        .files = fling_dashboard_files,
                                        .file_count = fling_dashboard_file_count,
                                        .open_paths = open_paths};
        ops->http = fling_http_new (&options, error, sizeof error);
        if (!ops->http) {
            fling_error ("cannot start the HTTP port (--http-addr): %s", error);
            return -1;
        }
    }
    return 0;
}

void fling_ops_destroy (fling_broker_t *self)
{
    fling_events_destroy (&self->events);
    struct fling_ops *ops = self->ops;
    if (!ops)
        return;
    fling_http_destroy (&ops->http);
    free (ops->orphan_logged_ms);
    free (ops);
    self->ops = NULL;
}
