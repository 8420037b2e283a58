/*  http_client.h - a blocking HTTP/1.0 client for the unit tests of the
    HTTP port (test_http.c, test_broker_http.c): one request per
    connection, the whole answer read until the server closes. */
#ifndef HTTP_CLIENT_H_INCLUDED
#define HTTP_CLIENT_H_INCLUDED

#include <stddef.h>

typedef struct {
    int status; /* 0: no answer */
    char body[1 << 18];
    size_t body_size;
} http_reply_t;

/*  The port of "host:port". */
int http_port (const char *address);

/*  Sends `request` as is to 127.0.0.1:port and reads the answer. */
void http_exchange (int port, const char *request, size_t size, http_reply_t *reply);

/*  GET `path` with a Host header (127.0.0.1 when NULL). */
void http_get (int port, const char *path, const char *host, http_reply_t *reply);

/*  POST `body` to `path` with a Content-Type and, when not NULL, an Origin. */
void http_post (int port, const char *path, const char *type, const char *origin, const char *body,
                http_reply_t *reply);

#endif
