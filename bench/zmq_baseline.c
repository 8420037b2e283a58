/*  zmq_baseline.c - raw libzmq throughput, the yardstick for bench/run.

    Usage: zmq_baseline direct|hop|hop-curve COUNT PAYLOAD_BYTES

    direct     sender PUSH --tcp--> receiver PULL
    hop        sender PUSH --tcp--> proxy PULL | zmq_proxy | PUSH --tcp--> receiver PULL
    hop-curve  the same with CurveZMQ on both links (the proxy and the receiver
               are CURVE servers, each with its key pair): the yardstick for
               fling with CURVE on. No ZAP handler: authentication costs only
               at the handshake, encryption on every message, as in fling.

    Each role is its own process (fork), as fling's producer, broker and
    worker are, all on 127.0.0.1 with ports the kernel picked. One message
    per task (no application batching) of PAYLOAD_BYTES bytes, default
    high-water marks. Throughput = COUNT / (receiver's last message - sender's
    first send), both read from CLOCK_MONOTONIC, which every process shares.

    Prints one JSON line: {"mode":..,"count":..,"bytes":..,"seconds":..,"throughput":..}
    Exit status 0 when the receiver got COUNT messages of the right size.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static int64_t now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CURVE keys (hop-curve): made before the roles fork, so each has them. */
static bool curve;
static char server_public[41], server_secret[41], client_public[41], client_secret[41];

static void die (const char *what);

static void curve_server (void *sock)
{
    int on = 1;
    if (curve && (zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &on, sizeof on) ||
                  zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, server_secret, 40)))
        die ("CURVE server options");
}

static void curve_client (void *sock)
{
    if (curve && (zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_public, 40) ||
                  zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, client_public, 40) ||
                  zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, client_secret, 40)))
        die ("CURVE client options");
}

static void die (const char *what)
{
    fprintf (stderr, "zmq_baseline: %s: %s\n", what, zmq_strerror (errno));
    exit (2);
}

/* Binds to a kernel-chosen port and returns the endpoint it got. */
static void bind_any (void *sock, char *endpoint, size_t size)
{
    if (zmq_bind (sock, "tcp://127.0.0.1:*") != 0)
        die ("zmq_bind");
    if (zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, endpoint, &size) != 0)
        die ("ZMQ_LAST_ENDPOINT");
}

/* The receiver binds, so it exists before anyone sends; it reports its
   endpoint, then the instant of its last message, on `report`. */
static void receiver (int report, long count, size_t bytes)
{
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    char endpoint[256];
    curve_server (pull);
    bind_any (pull, endpoint, sizeof endpoint);
    if (write (report, endpoint, sizeof endpoint) != (ssize_t)sizeof endpoint)
        die ("report endpoint");
    char *buf = malloc (bytes + 1);
    long good = 0;
    for (long i = 0; i < count; i++) {
        int n = zmq_recv (pull, buf, bytes + 1, 0);
        if (n < 0)
            die ("zmq_recv");
        good += (size_t)n == bytes;
    }
    int64_t last = now_ns ();
    int64_t result[2] = {last, good};
    if (write (report, result, sizeof result) != (ssize_t)sizeof result)
        die ("report result");
    free (buf);
    zmq_close (pull);
    zmq_ctx_term (ctx);
}

/* PULL (bound) -> PUSH (connected to the receiver); runs until killed. */
static void proxy (int report, const char *downstream)
{
    void *ctx = zmq_ctx_new ();
    void *front = zmq_socket (ctx, ZMQ_PULL);
    void *back = zmq_socket (ctx, ZMQ_PUSH);
    curve_client (back);
    if (zmq_connect (back, downstream) != 0)
        die ("zmq_connect proxy");
    char endpoint[256];
    curve_server (front);
    bind_any (front, endpoint, sizeof endpoint);
    if (write (report, endpoint, sizeof endpoint) != (ssize_t)sizeof endpoint)
        die ("report endpoint");
    zmq_proxy (front, back, NULL);
    _exit (0);
}

static int64_t sender (const char *upstream, long count, size_t bytes)
{
    void *ctx = zmq_ctx_new ();
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    int linger = -1;
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    curve_client (push);
    if (zmq_connect (push, upstream) != 0)
        die ("zmq_connect");
    char *payload = malloc (bytes);
    memset (payload, 'x', bytes);
    /* PUSH queues until the connection is up; wait so the handshake is
       not counted as send time. */
    struct timespec settle = {0, 100000000L};
    nanosleep (&settle, NULL);
    int64_t first = now_ns ();
    for (long i = 0; i < count; i++)
        if (zmq_send (push, payload, bytes, 0) != (int)bytes)
            die ("zmq_send");
    free (payload);
    zmq_close (push);
    zmq_ctx_term (ctx); /* linger -1: returns once everything went out */
    return first;
}

static pid_t spawn (int *report_read, void (*role) (int, long, size_t), long count, size_t bytes)
{
    int fds[2];
    if (pipe (fds) != 0)
        die ("pipe");
    pid_t pid = fork ();
    if (pid < 0)
        die ("fork");
    if (pid == 0) {
        close (fds[0]);
        role (fds[1], count, bytes);
        _exit (0);
    }
    close (fds[1]);
    *report_read = fds[0];
    return pid;
}

static int read_all (int fd, void *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read (fd, (char *)buf + got, size - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int main (int argc, char **argv)
{
    if (argc != 4 ||
        (strcmp (argv[1], "direct") && strcmp (argv[1], "hop") && strcmp (argv[1], "hop-curve"))) {
        fprintf (stderr, "usage: zmq_baseline direct|hop|hop-curve COUNT PAYLOAD_BYTES\n");
        return 2;
    }
    curve = strcmp (argv[1], "hop-curve") == 0;
    if (curve && (zmq_curve_keypair (server_public, server_secret) ||
                  zmq_curve_keypair (client_public, client_secret)))
        die ("zmq_curve_keypair");
    long count = atol (argv[2]);
    size_t bytes = (size_t)atol (argv[3]);
    if (count <= 0 || bytes == 0) {
        fprintf (stderr, "zmq_baseline: COUNT and PAYLOAD_BYTES must be positive\n");
        return 2;
    }
    int recv_fd, proxy_fd = -1;
    char recv_ep[256], target[256];
    pid_t recv_pid = spawn (&recv_fd, receiver, count, bytes), proxy_pid = -1;
    if (read_all (recv_fd, recv_ep, sizeof recv_ep))
        die ("receiver endpoint");
    memcpy (target, recv_ep, sizeof target);
    if (strcmp (argv[1], "direct") != 0) {
        int fds[2];
        if (pipe (fds) != 0)
            die ("pipe");
        proxy_pid = fork ();
        if (proxy_pid == 0) {
            close (fds[0]);
            proxy (fds[1], recv_ep);
        }
        close (fds[1]);
        proxy_fd = fds[0];
        if (read_all (proxy_fd, target, sizeof target))
            die ("proxy endpoint");
    }
    int64_t first = sender (target, count, bytes);
    int64_t result[2];
    int rc = read_all (recv_fd, result, sizeof result);
    waitpid (recv_pid, NULL, 0);
    if (proxy_pid > 0) {
        kill (proxy_pid, SIGKILL);
        waitpid (proxy_pid, NULL, 0);
    }
    if (rc || result[1] != count) {
        fprintf (stderr, "zmq_baseline: receiver got %" PRId64 " of %ld messages\n",
                 rc ? 0 : result[1], count);
        return 1;
    }
    double seconds = (double)(result[0] - first) / 1e9;
    printf ("{\"mode\":\"%s\",\"count\":%ld,\"bytes\":%zu,\"seconds\":%.6f,\"throughput\":%.1f}\n",
            argv[1], count, bytes, seconds, (double)count / seconds);
    return 0;
}
