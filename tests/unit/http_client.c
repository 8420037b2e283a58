/*  http_client.c - see http_client.h. */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int http_port (const char *address)
{
    const char *colon = strrchr (address, ':');
    return colon ? atoi (colon + 1) : 0;
}

void http_exchange (int port, const char *request, size_t size, http_reply_t *reply)
{
    reply->status = 0;
    reply->body[0] = '\0';
    reply->body_size = 0;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    /* A server that never answers fails the request (status 0) instead of
       hanging the test until CTest kills it. */
    struct timeval limit = {.tv_sec = 15};
    if (fd >= 0) {
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    }
    if (fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (fd >= 0)
            close (fd);
        return;
    }
    for (size_t sent = 0; sent < size;) {
        ssize_t n = send (fd, request + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer (413) and close before reading it all */
        sent += (size_t)n;
    }
    size_t cap = sizeof reply->body + 4096, got = 0;
    char *buf = malloc (cap);
    ssize_t n;
    while (buf && got < cap - 1 && (n = recv (fd, buf + got, cap - 1 - got, 0)) > 0)
        got += (size_t)n;
    close (fd);
    if (!buf)
        return;
    buf[got] = '\0';
    sscanf (buf, "HTTP/1.%*d %d", &reply->status);
    const char *body = strstr (buf, "\r\n\r\n");
    if (body) {
        body += 4;
        reply->body_size = got - (size_t)(body - buf);
        if (reply->body_size >= sizeof reply->body)
            reply->body_size = sizeof reply->body - 1;
        memcpy (reply->body, body, reply->body_size);
        reply->body[reply->body_size] = '\0';
    }
    free (buf);
}

void http_get (int port, const char *path, const char *host, http_reply_t *reply)
{
    char request[1024];
    int size = snprintf (request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path,
                         host ? host : "127.0.0.1");
    http_exchange (port, request, (size_t)size, reply);
}

void http_post (int port, const char *path, const char *type, const char *origin, const char *body,
                http_reply_t *reply)
{
    size_t cap = strlen (body) + 1024;
    char *request = malloc (cap);
    int size = snprintf (request, cap,
                         "POST %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\n%s%s%s"
                         "Content-Length: %zu\r\n\r\n%s",
                         path, port, type, origin ? "Origin: " : "", origin ? origin : "",
                         origin ? "\r\n" : "", strlen (body), body);
    http_exchange (port, request, (size_t)size, reply);
    free (request);
}
