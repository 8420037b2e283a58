/*  fling_http.c - see fling_http.h.

    The hand-over: a request waiting for the daemon is a `pending_t` on a
    list under `lock`. The HTTP thread appends it, bumps the eventfd and
    waits on `answered`; the daemon's thread takes it off the list, runs
    the handler without the lock, then stores the answer and signals. If
    the HTTP thread gave up waiting (timeout) before the daemon took the
    request, it removes it itself; after, it marks it abandoned and the
    daemon frees it with its answer. Nothing else is shared.
*/
#include "fling_http.h"
#include "fling_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define SERVE_PER_CALL     16
#define CONNECTIONS_MAX    64
#define IDLE_TIMEOUT_S     10
#define DEFAULT_TIMEOUT_MS 5000

typedef struct pending {
    struct pending *next;
    fling_http_request_t request;
    char *strings; /* method, path, args: one block */
    char *body;
    fling_http_response_t response;
    bool taken; /* the daemon is answering it */
    bool answered;
    bool abandoned; /* the HTTP thread stopped waiting: the daemon frees it */
} pending_t;

/* One request's upload, collected across calls of the access handler. */
typedef struct {
    char *body;
    size_t size;
    bool too_large;
} upload_t;

struct fling_http {
    struct MHD_Daemon *daemon;
    fling_http_options_t options;
    char address[FLING_HTTP_ADDRESS_MAX];
    int fd; /* eventfd: requests wait */
    pthread_mutex_t lock;
    pthread_cond_t answered;
    pending_t *head, *tail;
    bool closing;
};

const char *fling_http_arg (const fling_http_request_t *request, const char *name)
{
    for (size_t i = 0; i < request->arg_count; i++)
        if (strcmp (request->arg_names[i], name) == 0)
            return request->arg_values[i];
    return NULL;
}

/* ---- addresses ------------------------------------------------------------ */

/* "HOST:PORT" or "[V6]:PORT" into host and port texts. */
static int split_address (const char *address, char *host, size_t host_size, char *port,
                          size_t port_size, char *why, size_t why_size)
{
    const char *colon = strrchr (address, ':');
    const char *start = address, *end = colon;
    if (address[0] == '[') {
        const char *close = strchr (address, ']');
        if (!close || close[1] != ':') {
            snprintf (why, why_size, "want [IPV6]:PORT");
            return -1;
        }
        start = address + 1;
        end = close;
        colon = close + 1;
    }
    if (!colon || end == start) {
        snprintf (why, why_size, "want HOST:PORT (e.g. 127.0.0.1:5557)");
        return -1;
    }
    size_t host_len = (size_t)(end - start), port_len = strlen (colon + 1);
    if (host_len >= host_size || port_len == 0 || port_len >= port_size ||
        strspn (colon + 1, "0123456789") != port_len || atol (colon + 1) > 65535) {
        snprintf (why, why_size, "want HOST:PORT with a port from 0 to 65535");
        return -1;
    }
    memcpy (host, start, host_len);
    host[host_len] = '\0';
    memcpy (port, colon + 1, port_len + 1);
    return 0;
}

static struct addrinfo *resolve (const char *address, char *host, size_t host_size, char *why,
                                 size_t why_size)
{
    char port[8];
    if (split_address (address, host, host_size, port, sizeof port, why, why_size))
        return NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (host, port, &hints, &found);
    if (rc != 0) {
        snprintf (why, why_size, "cannot resolve %s: %s", host, gai_strerror (rc));
        return NULL;
    }
    return found;
}

int fling_http_address_check (const char *address, char *why, size_t why_size)
{
    char host[256];
    struct addrinfo *found = resolve (address, host, sizeof host, why, why_size);
    if (!found)
        return -1;
    freeaddrinfo (found);
    return 0;
}

int fling_http_option (char *out, size_t out_size, const char *value, char *why, size_t why_size)
{
    if (strlen (value) >= out_size) {
        snprintf (why, why_size, "longer than %zu bytes", out_size - 1);
        return -1;
    }
    if (*value && fling_http_address_check (value, why, why_size))
        return -1;
    strcpy (out, value);
    return 0;
}

/* The Host header names an address or localhost (DNS rebinding, see .h). */
static bool host_is_address (const char *header)
{
    if (!header)
        return false;
    char host[256];
    const char *end;
    if (header[0] == '[') {
        end = strchr (header, ']');
        if (!end || (size_t)(end - header - 1) >= sizeof host)
            return false;
        memcpy (host, header + 1, (size_t)(end - header - 1));
        host[end - header - 1] = '\0';
        unsigned char addr[16];
        return inet_pton (AF_INET6, host, addr) == 1;
    }
    end = strchr (header, ':');
    size_t len = end ? (size_t)(end - header) : strlen (header);
    if (len >= sizeof host)
        return false;
    memcpy (host, header, len);
    host[len] = '\0';
    unsigned char addr[4];
    return strcasecmp (host, "localhost") == 0 || inet_pton (AF_INET, host, addr) == 1;
}

/* ---- answers from the HTTP thread ---------------------------------------- */

static enum MHD_Result respond (struct MHD_Connection *connection, int status,
                                const char *content_type, void *body, size_t size,
                                enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        size, body ? body : (void *)"", body ? mode : MHD_RESPMEM_PERSISTENT);
    if (!response) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, "Content-Type", content_type);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    /* The dashboard's buttons change state: never inside another site's frame. */
    MHD_add_response_header (response, "X-Frame-Options", "DENY");
    MHD_add_response_header (response, "Content-Security-Policy",
                             "default-src 'self'; frame-ancestors 'none'");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, "Allow", "GET, HEAD, POST");
    enum MHD_Result rc = MHD_queue_response (connection, (unsigned)status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result respond_text (struct MHD_Connection *connection, int status,
                                     const char *text)
{
    return respond (connection, status, "text/plain; charset=utf-8", (void *)text, strlen (text),
                    MHD_RESPMEM_PERSISTENT);
}

/* ---- handing a request to the daemon -------------------------------------- */

typedef struct {
    pending_t *pending;
    size_t used;
    size_t size;
} args_t;

static enum MHD_Result count_arg (void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    size_t *bytes = (size_t *)cls;
    *bytes += strlen (key) + 1 + (value ? strlen (value) : 0) + 1;
    return MHD_YES;
}

static enum MHD_Result copy_arg (void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    args_t *args = (args_t *)cls;
    fling_http_request_t *request = &args->pending->request;
    if (request->arg_count == FLING_HTTP_ARGS_MAX)
        return MHD_NO;
    char *out = args->pending->strings + args->used;
    size_t key_size = strlen (key) + 1, value_size = (value ? strlen (value) : 0) + 1;
    memcpy (out, key, key_size);
    memcpy (out + key_size, value ? value : "", value_size);
    request->arg_names[request->arg_count] = out;
    request->arg_values[request->arg_count++] = out + key_size;
    args->used += key_size + value_size;
    return MHD_YES;
}

static pending_t *pending_new (struct MHD_Connection *connection, const char *method,
                               const char *path, upload_t *upload)
{
    size_t bytes = strlen (method) + 1 + strlen (path) + 1;
    MHD_get_connection_values (connection, MHD_GET_ARGUMENT_KIND, count_arg, &bytes);
    pending_t *pending = (pending_t *)calloc (1, sizeof *pending);
    if (!pending || !(pending->strings = (char *)malloc (bytes))) {
        free (pending);
        return NULL;
    }
    size_t method_size = strlen (method) + 1;
    memcpy (pending->strings, method, method_size);
    memcpy (pending->strings + method_size, path, strlen (path) + 1);
    pending->request.method = pending->strings;
    pending->request.path = pending->strings + method_size;
    args_t args = {pending, method_size + strlen (path) + 1, bytes};
    MHD_get_connection_values (connection, MHD_GET_ARGUMENT_KIND, copy_arg, &args);
    pending->body = upload->body; /* taken */
    upload->body = NULL;
    pending->request.body = pending->body ? pending->body : "";
    pending->request.body_size = pending->body ? upload->size : 0;
    return pending;
}

static void pending_destroy (pending_t *pending)
{
    free (pending->strings);
    free (pending->body);
    free (pending->response.body);
    free (pending);
}

static void unlink_pending (fling_http_t *self, pending_t *pending)
{
    pending_t **link = &self->head, *prev = NULL;
    while (*link && *link != pending) {
        prev = *link;
        link = &(*link)->next;
    }
    if (!*link)
        return;
    *link = pending->next;
    if (self->tail == pending)
        self->tail = prev;
}

static void wake_daemon (fling_http_t *self)
{
    uint64_t one = 1;
    ssize_t rc = write (self->fd, &one, sizeof one);
    (void)rc; /* EAGAIN: the counter is full, the daemon is awake anyway */
}

/* Queues the request for the daemon and waits for its answer. */
static enum MHD_Result forward (fling_http_t *self, struct MHD_Connection *connection,
                                const char *method, const char *path, upload_t *upload)
{
    pending_t *pending = pending_new (connection, method, path, upload);
    if (!pending)
        return respond_text (connection, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    struct timespec deadline = fling_clock_deadline (self->options.timeout_ms);
    pthread_mutex_lock (&self->lock);
    if (self->closing) {
        pthread_mutex_unlock (&self->lock);
        pending_destroy (pending);
        return respond_text (connection, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
    }
    if (self->tail)
        self->tail->next = pending;
    else
        self->head = pending;
    self->tail = pending;
    wake_daemon (self);
    while (!pending->answered && !self->closing)
        if (pthread_cond_timedwait (&self->answered, &self->lock, &deadline) == ETIMEDOUT)
            break;
    fling_http_response_t answer = {0};
    bool answered = pending->answered;
    if (answered) {
        answer = pending->response;
        pending->response.body = NULL;
        pending_destroy (pending);
    } else if (pending->taken)
        pending->abandoned = true;
    else {
        unlink_pending (self, pending);
        pending_destroy (pending);
    }
    pthread_mutex_unlock (&self->lock);
    if (!answered)
        return respond_text (connection, MHD_HTTP_SERVICE_UNAVAILABLE,
                             "no answer from the daemon in time\n");
    return respond (connection, answer.status ? answer.status : MHD_HTTP_OK,
                    answer.content_type ? answer.content_type : "text/plain; charset=utf-8",
                    answer.body, answer.body_size, MHD_RESPMEM_MUST_FREE);
}

/* ---- the access handler ---------------------------------------------------- */

static bool is_open (const fling_http_t *self, const char *path)
{
    for (const char *const *open = self->options.open_paths; open && *open; open++)
        if (strcmp (*open, path) == 0)
            return true;
    return false;
}

/* A POST from a browser page elsewhere (CSRF) or not JSON: refused. */
static int post_refusal (struct MHD_Connection *connection, const char **why)
{
    const char *type = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Content-Type");
    if (!type || strncasecmp (type, "application/json", 16) != 0) {
        *why = "a POST must carry Content-Type: application/json\n";
        return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    const char *origin = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Host");
    if (origin &&
        (!host || strncasecmp (origin, "http://", 7) != 0 || strcasecmp (origin + 7, host) != 0)) {
        *why = "cross-origin POST refused\n";
        return MHD_HTTP_FORBIDDEN;
    }
    return 0;
}

static enum MHD_Result answer (fling_http_t *self, struct MHD_Connection *connection,
                               const char *url, const char *method, upload_t *upload)
{
    bool get = strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;
    bool post = strcmp (method, "POST") == 0;
    if (!get && !post)
        return respond_text (connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (upload->too_large)
        return respond_text (connection, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
    if (!is_open (self, url) &&
        !host_is_address (MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Host")))
        return respond_text (connection, MHD_HTTP_FORBIDDEN,
                             "the Host header must be an IP address or localhost\n");
    if (post) {
        const char *why = NULL;
        int status = post_refusal (connection, &why);
        if (status)
            return respond_text (connection, status, why);
    }
    for (size_t i = 0; get && i < self->options.file_count; i++) {
        const fling_http_file_t *file = &self->options.files[i];
        if (strcmp (file->path, url) == 0)
            return respond (connection, MHD_HTTP_OK, file->content_type, (void *)file->data,
                            file->size, MHD_RESPMEM_PERSISTENT);
    }
    return forward (self, connection, method, url, upload);
}

static enum MHD_Result on_request (void *cls, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    fling_http_t *self = (fling_http_t *)cls;
    upload_t *upload = (upload_t *)*con_cls;
    if (!upload) { /* headers only: the body, if any, comes in later calls */
        upload = (upload_t *)calloc (1, sizeof *upload);
        if (!upload)
            return MHD_NO;
        *con_cls = upload;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t more = *upload_data_size;
        *upload_data_size = 0;
        if (upload->too_large)
            return MHD_YES;
        if (upload->size + more > FLING_HTTP_BODY_MAX) {
            upload->too_large = true; /* read and dropped; 413 at the end */
            free (upload->body);
            upload->body = NULL;
            return MHD_YES;
        }
        char *grown = (char *)realloc (upload->body, upload->size + more + 1);
        if (!grown)
            return MHD_NO;
        memcpy (grown + upload->size, upload_data, more);
        upload->size += more;
        grown[upload->size] = '\0';
        upload->body = grown;
        return MHD_YES;
    }
    return answer (self, connection, url, method, upload);
}

static void on_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    upload_t *upload = (upload_t *)*con_cls;
    if (upload) {
        free (upload->body);
        free (upload);
        *con_cls = NULL;
    }
}

static void on_log (void *cls, const char *format, va_list args)
{
    char line[512];
    vsnprintf (line, sizeof line, format, args);
    size_t len = strlen (line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    fling_warn ("http: %s", line);
}

/* ---- the daemon's side ------------------------------------------------------ */

int fling_http_fd (const fling_http_t *self)
{
    return self->fd;
}

const char *fling_http_address (const fling_http_t *self)
{
    return self->address;
}

void fling_http_serve (fling_http_t *self, fling_http_handler_fn *fn, void *arg)
{
    uint64_t count;
    ssize_t rc = read (self->fd, &count, sizeof count); /* resets it */
    (void)rc;
    for (int served = 0; served < SERVE_PER_CALL; served++) {
        pthread_mutex_lock (&self->lock);
        pending_t *pending = self->head;
        if (pending) {
            self->head = pending->next;
            if (!self->head)
                self->tail = NULL;
            pending->taken = true;
        }
        pthread_mutex_unlock (&self->lock);
        if (!pending)
            return;
        fling_http_response_t response = {0};
        fn (arg, &pending->request, &response);
        pthread_mutex_lock (&self->lock);
        pending->response = response;
        if (pending->abandoned)
            pending_destroy (pending);
        else {
            pending->answered = true;
            pthread_cond_broadcast (&self->answered);
        }
        pthread_mutex_unlock (&self->lock);
    }
    pthread_mutex_lock (&self->lock);
    if (self->head)
        wake_daemon (self); /* more wait: come back after the daemon's other work */
    pthread_mutex_unlock (&self->lock);
}

static int start_daemon (fling_http_t *self, char *error, size_t error_size)
{
    char host[256];
    struct addrinfo *found = resolve (self->options.address, host, sizeof host, error, error_size);
    if (!found)
        return -1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (found->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port =
        ntohs (found->ai_family == AF_INET6 ? ((struct sockaddr_in6 *)found->ai_addr)->sin6_port
                                            : ((struct sockaddr_in *)found->ai_addr)->sin_port);
    self->daemon = MHD_start_daemon (
        flags, port, NULL, NULL, on_request, self, MHD_OPTION_EXTERNAL_LOGGER, on_log, self,
        MHD_OPTION_SOCK_ADDR, found->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, self, MHD_OPTION_END);
    int err = errno;
    freeaddrinfo (found);
    if (!self->daemon) {
        snprintf (error, error_size, "cannot listen on %s: %s", self->options.address,
                  strerror (err ? err : EADDRINUSE));
        return -1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : port;
    snprintf (self->address, sizeof self->address, strchr (host, ':') ? "[%s]:%u" : "%s:%u", host,
              bound);
    return 0;
}

fling_http_t *fling_http_new (const fling_http_options_t *options, char *error, size_t error_size)
{
    fling_http_t *self = (fling_http_t *)calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    self->options = *options;
    if (!self->options.timeout_ms)
        self->options.timeout_ms = DEFAULT_TIMEOUT_MS;
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC); /* fling_clock_deadline's clock */
    pthread_cond_init (&self->answered, &attr);
    pthread_condattr_destroy (&attr);
    pthread_mutex_init (&self->lock, NULL);
    self->fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->fd < 0) {
        snprintf (error, error_size, "eventfd: %s", strerror (errno));
        fling_http_destroy (&self);
        return NULL;
    }
    if (start_daemon (self, error, error_size)) {
        fling_http_destroy (&self);
        return NULL;
    }
    return self;
}

void fling_http_destroy (fling_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_http_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->closing = true; /* a request waiting for us gets 503 now */
    pthread_cond_broadcast (&self->answered);
    pthread_mutex_unlock (&self->lock);
    if (self->daemon)
        MHD_stop_daemon (self->daemon); /* joins the HTTP thread */
    pending_t *pending;
    while ((pending = self->head)) { /* left by waiters that gave up */
        self->head = pending->next;
        pending_destroy (pending);
    }
    if (self->fd >= 0)
        close (self->fd);
    pthread_cond_destroy (&self->answered);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}
