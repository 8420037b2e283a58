/*  fling_http.h - a small HTTP server for a daemon's metrics, dashboard and
    JSON, on libmicrohttpd.

    The daemons are single-threaded loops that must never share their state
    with another thread. libmicrohttpd answers connections on a thread of
    its own, so this module splits the work:

    - the HTTP thread parses requests, serves the static files it was given
      (built into the program) and applies the rules below;
    - every other request is handed to the daemon's own thread: the HTTP
      thread queues it and wakes the daemon through an eventfd
      (fling_http_fd(), to poll beside its sockets); the daemon calls
      fling_http_serve() when that fd is readable, which runs the daemon's
      handler for each waiting request and hands the answer back. The HTTP
      thread waits for it up to `timeout_ms` (then 503), never touching the
      daemon's state itself.

    Rules the HTTP thread applies before anything reaches the daemon:
    - methods GET, HEAD and POST only (405);
    - request bodies up to FLING_HTTP_BODY_MAX bytes (413);
    - a POST must be JSON (Content-Type application/json, else 415) and,
      when the browser names an Origin, come from the page's own origin
      (403): a web page elsewhere cannot make a browser post to it;
    - except for the `open_paths`, the Host header must be an IP address
      or "localhost" (403): a DNS name pointing at the loopback address
      cannot turn a web page into a reader of the dashboard (DNS
      rebinding). Prometheus scrapes /metrics by any name, so it is open.

    Threads: new, fd, serve and destroy belong to the daemon's thread.
*/
#ifndef FLING_HTTP_H_INCLUDED
#define FLING_HTTP_H_INCLUDED

#include <stddef.h>

#define FLING_HTTP_BODY_MAX    65536
#define FLING_HTTP_ARGS_MAX    16
#define FLING_HTTP_ADDRESS_MAX 300

typedef struct fling_http fling_http_t;

/*  A file served as is by the HTTP thread (the dashboard's). */
typedef struct {
    const char *path; /* "/", "/dashboard.js" */
    const char *content_type;
    const unsigned char *data;
    size_t size;
} fling_http_file_t;

typedef struct {
    const char *address;            /* "HOST:PORT", "[::1]:PORT"; port 0 = any free one */
    const fling_http_file_t *files; /* served by the HTTP thread; may be NULL */
    size_t file_count;
    const char *const *open_paths; /* NULL-terminated; served whatever the Host header */
    unsigned timeout_ms;           /* wait for the daemon's answer; 0 = 5000 */
} fling_http_options_t;

/*  A request for the daemon's handler (valid during the call). */
typedef struct {
    const char *method; /* "GET", "HEAD" or "POST" */
    const char *path;   /* "/metrics", without the query */
    size_t arg_count;   /* query arguments, decoded */
    const char *arg_names[FLING_HTTP_ARGS_MAX];
    const char *arg_values[FLING_HTTP_ARGS_MAX]; /* "" for "?flag" */
    const char *body;                            /* NUL-terminated; "" when none */
    size_t body_size;
} fling_http_request_t;

/*  The handler's answer: status, content type (a constant string) and a
    malloc'd body that the module frees (NULL: empty). */
typedef struct {
    int status;
    const char *content_type;
    char *body;
    size_t body_size;
} fling_http_response_t;

typedef void (fling_http_handler_fn) (void *arg, const fling_http_request_t *request,
                                      fling_http_response_t *response);

/*  The value of query argument `name`, or NULL. */
const char *fling_http_arg (const fling_http_request_t *request, const char *name);

/*  Binds and starts the HTTP thread. NULL with a reason in `error` (a bad
    address, a port in use, out of memory). */
fling_http_t *fling_http_new (const fling_http_options_t *options, char *error, size_t error_size);

/*  The address it listens on, the port resolved ("127.0.0.1:41234"). */
const char *fling_http_address (const fling_http_t *self);

/*  Readable while requests wait for fling_http_serve. */
int fling_http_fd (const fling_http_t *self);

/*  Answers the waiting requests (at most 16 a call; the fd stays readable
    when more wait) with `fn`. */
void fling_http_serve (fling_http_t *self, fling_http_handler_fn *fn, void *arg);

/*  Stops the HTTP thread (a request waiting for an answer gets 503) and
    frees everything. */
void fling_http_destroy (fling_http_t **self_p);

/*  Checks a "HOST:PORT" address the way fling_http_new will read it,
    without binding: 0, or -1 with the reason in `why`. */
int fling_http_address_check (const char *address, char *why, size_t why_size);

/*  For a program's --http-addr option: checks `value` (empty = no HTTP
    port) and copies it into out[out_size]. 0, or -1 with the reason. */
int fling_http_option (char *out, size_t out_size, const char *value, char *why, size_t why_size);

#endif
