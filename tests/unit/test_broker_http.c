/*  test_broker_http.c - the broker's HTTP port, with the broker on a thread
    of its own (tests/unit/broker_fixture): scrapes and JSON requests from
    several threads while a producer floods it are answered by the broker's
    thread with a consistent picture (every scrape: accepted = held, as
    nothing runs), the dead-letter endpoints work and refuse what they must,
    and stopping the broker with clients connected is clean. Meant for
    ThreadSanitizer too: tools/test --tsan -R test_broker_http. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker_fixture.h"
#include "fling_producer.h"
#include "http_client.h"

#if defined(__SANITIZE_THREAD__)
/* A TSan broker spends its time in reports it then suppresses (libzmq's
   buffers are not instrumented): a flood would only time out. */
#define TASKS 300
#else
#define TASKS 20000
#endif
#define CLIENTS 4

/* The value of the first line starting with `series` + " ", or -1. */
static long long metric (const char *text, const char *series)
{
    size_t size = strlen (series);
    for (const char *line = text; line && *line;
         line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
        if (strncmp (line, series, size) == 0 && line[size] == ' ')
            return atoll (line + size + 1);
    return -1;
}

typedef struct {
    int port;
    atomic_int *stop;
    int scrapes;
    int consistent;
    long long last_accepted;
    int monotonic;
} scraper_t;

static void *scrape_run (void *arg)
{
    scraper_t *s = (scraper_t *)arg;
    http_reply_t *reply = malloc (sizeof *reply);
    s->monotonic = 1;
    while (!atomic_load (s->stop)) {
        http_get (s->port, "/metrics", NULL, reply);
        if (reply->status != 200)
            continue;
        s->scrapes++;
        long long held = metric (reply->body, "fling_held_tasks");
        long long accepted = metric (reply->body, "fling_tasks_accepted_total{name=\"t.x\"}");
        long long queued = metric (reply->body, "fling_queue_tasks{name=\"t.x\",state=\"queued\"}");
        /* Before the first task there is no queue yet. */
        s->consistent += accepted < 0 ? held == 0 : (held == accepted && queued == accepted);
        if (accepted < s->last_accepted)
            s->monotonic = 0;
        s->last_accepted = accepted;
        http_get (s->port, "/api/stats", NULL, reply);
        s->consistent -= reply->status != 200 || !strstr (reply->body, "\"uptime_ms\"");
    }
    free (reply);
    return NULL;
}

static void test_scrapes_under_load (void **state)
{
    fixture_t *f = fixture_new (30000);
    strcpy (f->config.http_addr, "127.0.0.1:0");
    fixture_launch (f);
    const char *address = fling_broker_endpoint (f->broker, "http");
    assert_non_null (address);
    atomic_int stop = 0;
    scraper_t scrapers[CLIENTS];
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        scrapers[i] = (scraper_t){.port = http_port (address), .stop = &stop, .last_accepted = -1};
        pthread_create (&threads[i], NULL, scrape_run, &scrapers[i]);
    }
    fling_producer_options_t options;
    fling_producer_options_init (&options);
    options.endpoint = fling_broker_endpoint (f->broker, "producer");
    fling_producer_t *producer = fling_producer_new (&options);
    assert_non_null (producer);
    for (int i = 0; i < TASKS; i++)
        while (fling_send (producer, "t.x", "{\"n\":1}") != 0)
            assert_int_equal (fling_producer_flush (producer, 30000), 0);
    assert_int_equal (fling_producer_flush (producer, 60000), 0);
    fling_producer_destroy (&producer);
    fixture_wait_stat (f, NULL, "tasks", TASKS);
    atomic_store (&stop, 1);
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join (threads[i], NULL);
        assert_true (scrapers[i].scrapes > 0);
        assert_int_equal (scrapers[i].consistent, scrapers[i].scrapes);
        assert_true (scrapers[i].monotonic);
    }
    http_reply_t *reply = malloc (sizeof *reply);
    http_get (http_port (address), "/metrics", NULL, reply);
    assert_int_equal (metric (reply->body, "fling_held_tasks"), TASKS);
    assert_int_equal (metric (reply->body, "fling_orphan_queued_tasks{name=\"t.x\"}"), TASKS);
    free (reply);
    fixture_destroy (&f);
}

static void test_dead_letter_endpoints (void **state)
{
    fixture_t *f = fixture_new (5000);
    strcpy (f->config.http_addr, "127.0.0.1:0");
    fixture_launch (f);
    int port = http_port (fling_broker_endpoint (f->broker, "http"));
    http_reply_t *reply = malloc (sizeof *reply);
    http_get (port, "/api/dead?limit=5", NULL, reply);
    assert_int_equal (reply->status, 200);
    assert_string_equal (reply->body, "{\"dead\":[],\"total\":0}");
    http_get (port, "/api/dead?limit=x", NULL, reply);
    assert_int_equal (reply->status, 400);
    http_post (port, "/api/dead/retry", "application/json", NULL, "{\"all\":true}", reply);
    assert_int_equal (reply->status, 200);
    assert_string_equal (reply->body, "{\"retried\":0}");
    http_post (port, "/api/dead/purge", "application/json", NULL, "{}", reply); /* no selector */
    assert_int_equal (reply->status, 400);
    http_post (port, "/api/dead/purge", "application/json", NULL, "[1,2]", reply);
    assert_int_equal (reply->status, 400);
    http_post (port, "/api/dead/purge", "application/json", NULL, "{\"id\":\"nonsense\"}", reply);
    assert_int_equal (reply->status, 400);
    http_get (port, "/api/dead/retry", NULL, reply);
    assert_int_equal (reply->status, 405);
    http_get (port, "/nowhere", NULL, reply);
    assert_int_equal (reply->status, 404);
    http_get (port, "/healthz", "broker.internal", reply);
    assert_int_equal (reply->status, 200);
    http_get (port, "/api/stats", "broker.internal", reply);
    assert_int_equal (reply->status, 403);
    free (reply);
    fixture_destroy (&f);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_scrapes_under_load),
        cmocka_unit_test (test_dead_letter_endpoints),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
