/*  test_http.c - the daemons' HTTP port (common/fling_http): requests reach
    the owner's thread and only it; static files, query arguments and bodies
    arrive intact; the rules (methods, body size, JSON POSTs from the page's
    own origin, Host an address) hold; an owner that does not answer in
    time yields 503 and loses nothing; many clients at once, and a destroy
    with a request waiting, are clean (run it under TSan: tools/test --tsan). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fling_http.h"
#include "fling_log.h"
#include "http_client.h"

static const unsigned char page[] = "<html>hello</html>";
static const fling_http_file_t files[] = {
    {"/", "text/html; charset=utf-8", page, sizeof page - 1},
};
static const char *const open_paths[] = {"/metrics", NULL};

/* ---- the owner's side: a thread that plays the daemon ---------------------- */

typedef struct {
    fling_http_t *http;
    atomic_int stop;
    atomic_int paused; /* do not serve: requests time out */
    int served;        /* owner thread only, read after join */
} owner_t;

static void handler (void *arg, const fling_http_request_t *request,
                     fling_http_response_t *response)
{
    owner_t *owner = (owner_t *)arg;
    owner->served++;
    char text[2048];
    const char *who = fling_http_arg (request, "who");
    snprintf (text, sizeof text, "%s %s who=%s body=%s", request->method, request->path,
              who ? who : "(none)", request->body);
    response->status = strcmp (request->path, "/missing") == 0 ? 404 : 200;
    response->content_type = "text/plain";
    response->body = strdup (text);
    response->body_size = strlen (text);
}

static void *owner_run (void *arg)
{
    owner_t *owner = (owner_t *)arg;
    struct pollfd item = {.fd = fling_http_fd (owner->http), .events = POLLIN};
    while (!atomic_load (&owner->stop)) {
        if (atomic_load (&owner->paused)) {
            usleep (1000);
            continue;
        }
        if (poll (&item, 1, 10) > 0)
            fling_http_serve (owner->http, handler, owner);
    }
    return NULL;
}

static fling_http_t *start (unsigned timeout_ms)
{
    char error[256] = "";
    fling_http_options_t options = {.address = "127.0.0.1:0",
                                    .files = files,
                                    .file_count = 1,
                                    .open_paths = open_paths,
                                    .timeout_ms = timeout_ms};
    fling_http_t *http = fling_http_new (&options, error, sizeof error);
    if (!http)
        fail_msg ("fling_http_new: %s", error);
    return http;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_routes_and_rules (void **state)
{
    owner_t owner = {.http = start (5000)};
    pthread_t thread;
    pthread_create (&thread, NULL, owner_run, &owner);
    int port = http_port (fling_http_address (owner.http));
    http_reply_t reply;

    http_get (port, "/", NULL, &reply); /* a static file: never reaches the owner */
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, "<html>hello</html>");
    http_get (port, "/hello?who=J%C3%BCrgen&x", "localhost:1", &reply);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, "GET /hello who=J\xc3\xbcrgen body=");
    http_get (port, "/missing", "[::1]:80", &reply);
    assert_int_equal (reply.status, 404);

    /* DNS rebinding: a name is refused except on the open paths. */
    http_get (port, "/hello", "evil.example:8080", &reply);
    assert_int_equal (reply.status, 403);
    http_get (port, "/", "evil.example", &reply);
    assert_int_equal (reply.status, 403);
    http_get (port, "/metrics", "broker.internal:5557", &reply);
    assert_int_equal (reply.status, 200);
    http_get (port, "/hello", NULL, &reply);

    http_post (port, "/act", "application/json", NULL, "{\"id\":\"x\"}", &reply);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, "POST /act who=(none) body={\"id\":\"x\"}");
    char origin[64];
    snprintf (origin, sizeof origin, "http://127.0.0.1:%d", port);
    http_post (port, "/act", "application/json; charset=utf-8", origin, "{}", &reply);
    assert_int_equal (reply.status, 200);
    http_post (port, "/act", "application/json", "http://evil.example", "{}", &reply); /* CSRF */
    assert_int_equal (reply.status, 403);
    http_post (port, "/act", "application/x-www-form-urlencoded", NULL, "all=1", &reply);
    assert_int_equal (reply.status, 415);

    const char put[] = "PUT /act HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    http_exchange (port, put, sizeof put - 1, &reply);
    assert_int_equal (reply.status, 405);
    const char garbage[] = "\x01\x02 not http at all\r\n\r\n";
    http_exchange (port, garbage, sizeof garbage - 1, &reply);
    assert_int_equal (reply.status / 100, 4);

    /* A body above the cap is read and dropped: 413, nothing reaches the owner. */
    size_t big = FLING_HTTP_BODY_MAX + 1;
    char *request = malloc (big + 256);
    int head = snprintf (request, 256,
                         "POST /act HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: "
                         "application/json\r\nContent-Length: %zu\r\n\r\n",
                         big);
    memset (request + head, 'x', big);
    int before = owner.served;
    http_exchange (port, request, (size_t)head + big, &reply);
    free (request);
    assert_int_equal (reply.status, 413);

    atomic_store (&owner.stop, 1);
    pthread_join (thread, NULL);
    assert_int_equal (owner.served, before); /* the 413 did not reach it */
    fling_http_destroy (&owner.http);
    assert_null (owner.http);
}

/* The owner stops answering: 503 after the timeout, and the requests it
   picks up later (abandoned by then) are freed with their answers. */
static void test_owner_too_slow (void **state)
{
    owner_t owner = {.http = start (200)};
    atomic_store (&owner.paused, 1);
    pthread_t thread;
    pthread_create (&thread, NULL, owner_run, &owner);
    int port = http_port (fling_http_address (owner.http));
    http_reply_t reply;
    http_get (port, "/slow", NULL, &reply);
    assert_int_equal (reply.status, 503);
    atomic_store (&owner.paused, 0);
    http_get (port, "/fast", NULL, &reply);
    assert_int_equal (reply.status, 200);
    atomic_store (&owner.stop, 1);
    pthread_join (thread, NULL);
    fling_http_destroy (&owner.http);
}

typedef struct {
    int port;
    int ok;
} client_t;

static void *client_run (void *arg)
{
    client_t *client = (client_t *)arg;
    for (int i = 0; i < 40; i++) {
        http_reply_t reply;
        char path[64];
        snprintf (path, sizeof path, "/n?who=%d", i);
        http_get (client->port, path, NULL, &reply);
        char want[128];
        snprintf (want, sizeof want, "GET /n who=%d body=", i);
        client->ok += reply.status == 200 && strcmp (reply.body, want) == 0;
    }
    return NULL;
}

static void test_many_clients (void **state)
{
    owner_t owner = {.http = start (5000)};
    pthread_t thread, clients[8];
    client_t args[8];
    pthread_create (&thread, NULL, owner_run, &owner);
    for (int i = 0; i < 8; i++) {
        args[i] = (client_t){.port = http_port (fling_http_address (owner.http))};
        pthread_create (&clients[i], NULL, client_run, &args[i]);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join (clients[i], NULL);
        ok += args[i].ok;
    }
    atomic_store (&owner.stop, 1);
    pthread_join (thread, NULL);
    assert_int_equal (ok, 8 * 40);
    assert_int_equal (owner.served, 8 * 40);
    fling_http_destroy (&owner.http);
}

/* Destroyed while a request waits for the owner: the client gets 503 and
   the destroy does not wait for the timeout. */
static void *late_client (void *arg)
{
    http_reply_t *reply = (http_reply_t *)arg;
    http_get (reply->status, "/never", NULL, reply);
    return NULL;
}

static void test_destroy_while_waiting (void **state)
{
    fling_http_t *http = start (60000);
    http_reply_t reply = {.status = http_port (fling_http_address (http))};
    pthread_t thread;
    pthread_create (&thread, NULL, late_client, &reply);
    struct pollfd item = {.fd = fling_http_fd (http), .events = POLLIN};
    assert_int_equal (poll (&item, 1, 5000), 1); /* the request is queued */
    int64_t started = fling_clock_ms ();
    fling_http_destroy (&http);
    pthread_join (thread, NULL);
    assert_true (reply.status == 503 || reply.status == 0); /* answered, or cut */
    assert_true (fling_clock_ms () - started < 5000);
}

static void test_bad_addresses (void **state)
{
    char why[256];
    assert_int_equal (fling_http_address_check ("127.0.0.1:0", why, sizeof why), 0);
    assert_int_equal (fling_http_address_check ("[::1]:5557", why, sizeof why), 0);
    assert_int_equal (fling_http_address_check ("127.0.0.1", why, sizeof why), -1);
    assert_int_equal (fling_http_address_check ("127.0.0.1:65536", why, sizeof why), -1);
    assert_int_equal (fling_http_address_check (":80", why, sizeof why), -1);
    assert_int_equal (fling_http_address_check ("127.0.0.1:8o", why, sizeof why), -1);
    assert_int_equal (fling_http_address_check ("no.such.host.invalid:80", why, sizeof why), -1);
    /* A port in use: a clear error, no daemon. */
    fling_http_t *first = start (1000);
    char address[FLING_HTTP_ADDRESS_MAX], error[256];
    snprintf (address, sizeof address, "%s", fling_http_address (first));
    fling_http_options_t options = {.address = address};
    assert_null (fling_http_new (&options, error, sizeof error));
    assert_non_null (strstr (error, "cannot listen"));
    fling_http_destroy (&first);
}

int main (void)
{
    fling_log_init ("test", FLING_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_routes_and_rules), cmocka_unit_test (test_owner_too_slow),
        cmocka_unit_test (test_many_clients),     cmocka_unit_test (test_destroy_while_waiting),
        cmocka_unit_test (test_bad_addresses),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
