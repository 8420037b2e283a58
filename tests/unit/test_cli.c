/*  test_cli.c - the `fling` command line (cli/) against a fake broker.

    The fake broker is a ROUTER socket in the test on tcp://127.0.0.1:*; the
    real `fling` binary (next to this test in bin/) runs as a child process
    with its stdout and stderr in temporary files. The test checks the
    exact ADMIN request each command sends, answers it, and checks the
    output and exit code. Every wait is bounded; the child is killed by PID
    if it overstays.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fling_log.h"
#include "fling_proto.h"

#define WAIT_MS 5000

static char fling[PATH_MAX];
static zsock_t *router;
static char endpoint[64];

/* ---- the child ------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    char out_path[64], err_path[64];
    int status;
    char out[8192], err[4096];
} child_t;

static void child_start (child_t *c, const char *const *args)
{
    const char *argv[16] = {fling, "--endpoint", endpoint, "--timeout-ms", "3000"};
    int argc = 5;
    for (; *args && argc < 15; args++)
        argv[argc++] = *args;
    argv[argc] = NULL;
    snprintf (c->out_path, sizeof c->out_path, "/tmp/test_cli_out_XXXXXX");
    snprintf (c->err_path, sizeof c->err_path, "/tmp/test_cli_err_XXXXXX");
    int out = mkstemp (c->out_path), err = mkstemp (c->err_path);
    assert_true (out >= 0 && err >= 0);
    c->pid = fork ();
    assert_true (c->pid >= 0);
    if (c->pid == 0) {
        dup2 (out, 1);
        dup2 (err, 2);
        execv (fling, (char *const *)argv);
        _exit (127);
    }
    close (out);
    close (err);
}

static void read_file (const char *path, char *buf, size_t size)
{
    FILE *f = fopen (path, "r");
    size_t n = f ? fread (buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose (f);
    unlink (path);
}

/* Waits for the child (bounded), then reads its output. Returns its exit code. */
static int child_wait (child_t *c)
{
    int64_t deadline = fling_clock_ms () + WAIT_MS;
    pid_t done = 0;
    while ((done = waitpid (c->pid, &c->status, WNOHANG)) == 0 && fling_clock_ms () < deadline)
        usleep (2000);
    if (done != c->pid) {
        kill (c->pid, SIGKILL);
        waitpid (c->pid, &c->status, 0);
        fail_msg ("fling did not exit within %d ms", WAIT_MS);
    }
    read_file (c->out_path, c->out, sizeof c->out);
    read_file (c->err_path, c->err, sizeof c->err);
    assert_true (WIFEXITED (c->status));
    return WEXITSTATUS (c->status);
}

/* ---- the fake broker --------------------------------------------------------- */

/* Receives the child's ADMIN request and returns it as parsed JSON; the
   routing frame goes to *peer. */
static json_t *expect_admin (zframe_t **peer)
{
    zsock_set_rcvtimeo (router, WAIT_MS);
    zmsg_t *msg = zmsg_recv (router);
    if (!msg)
        fail_msg ("no ADMIN from fling within %d ms", WAIT_MS);
    *peer = zmsg_pop (msg);
    fling_msg_t decoded;
    fling_reason_t reason;
    assert_int_equal (fling_msg_decode (msg, &decoded, &reason), 0);
    assert_int_equal (decoded.cmd, FLING_CMD_ADMIN);
    json_error_t error;
    json_t *request = json_loadb (decoded.text, decoded.text_size, 0, &error);
    assert_non_null (request);
    zmsg_destroy (&msg);
    return request;
}

static void reply (zframe_t **peer, const char *json)
{
    zmsg_t *msg = fling_msg_admin_reply (json);
    zmsg_prepend (msg, peer);
    assert_int_equal (zmsg_send (&msg, router), 0);
}

/* Runs `fling ARGS`, expects `request` (JSON, compared as values), answers
   `answer`, returns the exit code. */
static int run_admin (child_t *c, const char *const *args, const char *request, const char *answer)
{
    child_start (c, args);
    zframe_t *peer;
    json_t *got = expect_admin (&peer);
    json_error_t error;
    json_t *want = json_loads (request, 0, &error);
    assert_non_null (want);
    if (!json_equal (got, want)) {
        char *text = json_dumps (got, JSON_COMPACT);
        fail_msg ("request %s, expected %s", text, request);
    }
    json_decref (got);
    json_decref (want);
    reply (&peer, answer);
    int rc = child_wait (c);
    if (getenv ("TEST_CLI_VERBOSE")) /* to look at the tables */
        print_message ("$ fling %s ...\n%s%s", args[0], c->out, c->err);
    return rc;
}

static int setup (void **state)
{
    char self[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    snprintf (fling, sizeof fling, "%s/fling", dirname (self));
    zsys_handler_set (NULL);
    router = zsock_new (ZMQ_ROUTER);
    if (!router || zmq_bind (zsock_resolve (router), "tcp://127.0.0.1:*"))
        return -1;
    size_t size = sizeof endpoint;
    zmq_getsockopt (zsock_resolve (router), ZMQ_LAST_ENDPOINT, endpoint, &size);
    return 0;
}

static int teardown (void **state)
{
    zsock_destroy (&router);
    return 0;
}

#define SKIP_WITHOUT_FLING()                                                                       \
    do {                                                                                           \
        if (access (fling, X_OK)) {                                                                \
            print_message ("no %s (build the fling target): skipped\n", fling);                    \
            skip ();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- tests ------------------------------------------------------------------- */

static const char *list_reply =
    "{\"dead\":[{\"id\":\"0123456789abcdef:7\",\"name\":\"t.x\",\"attempts\":3,\"crashes\":0,"
    "\"reason\":\"failed\",\"error\":\"disk\\non fire 0123456789 0123456789 0123456789 "
    "0123456789 0123456789 0123456789 END\",\"payload\":\"{}\"},"
    "{\"id\":\"0123456789abcdef:8\",\"name\":\"t.x\",\"attempts\":1,\"crashes\":2,"
    "\"reason\":\"crashed\",\"error\":\"\",\"payload\":\"{\\\"a\\\":1}\"}],\"total\":7}";

static void test_dead_list (void **state)
{
    SKIP_WITHOUT_FLING ();
    child_t c;
    const char *args[] = {"dead", "list", "--name", "t.x", "--limit", "5", NULL};
    assert_int_equal (
        run_admin (&c, args, "{\"op\":\"dead_list\",\"name\":\"t.x\",\"limit\":5}", list_reply), 0);
    assert_non_null (strstr (c.out, "ID"));
    assert_non_null (strstr (c.out, "REASON"));
    assert_non_null (strstr (c.out, "0123456789abcdef:7"));
    assert_non_null (strstr (c.out, "crashed"));
    assert_non_null (strstr (c.out, "disk on fire")); /* newline flattened */
    assert_null (strstr (c.out, "END"));              /* cut at 60 characters... */
    assert_non_null (strstr (c.out, "..."));          /* ...visibly */
    assert_non_null (strstr (c.out, "2 of 7 dead tasks shown"));
    assert_null (strstr (c.out, " \n")); /* no trailing blanks */
    for (char *line = strtok (c.out, "\n"); line; line = strtok (NULL, "\n"))
        assert_true (strlen (line) < 140);

    /* --json: the reply as is. No selectors: only the op. */
    const char *json_args[] = {"dead", "list", "--json", NULL};
    assert_int_equal (run_admin (&c, json_args, "{\"op\":\"dead_list\"}", list_reply), 0);
    assert_int_equal (strncmp (c.out, list_reply, strlen (list_reply)), 0);

    /* Empty. */
    const char *empty_args[] = {"dead", "list", NULL};
    assert_int_equal (
        run_admin (&c, empty_args, "{\"op\":\"dead_list\"}", "{\"dead\":[],\"total\":0}"), 0);
    assert_string_equal (c.out, "no dead tasks\n");
}

static void test_dead_retry_purge (void **state)
{
    SKIP_WITHOUT_FLING ();
    child_t c;
    const char *all[] = {"dead", "retry", "--all", NULL};
    assert_int_equal (
        run_admin (&c, all, "{\"op\":\"dead_retry\",\"all\":true}", "{\"retried\":3}"), 0);
    assert_string_equal (c.out, "retried 3\n");

    const char *by_name[] = {"dead", "retry", "--name", "t.x", NULL};
    assert_int_equal (
        run_admin (&c, by_name, "{\"op\":\"dead_retry\",\"name\":\"t.x\"}", "{\"retried\":0}"), 0);
    assert_string_equal (c.out, "retried 0\n");

    const char *by_id[] = {"dead", "purge", "--id", "0123456789abcdef:7", NULL};
    assert_int_equal (run_admin (&c, by_id, "{\"op\":\"dead_purge\",\"id\":\"0123456789abcdef:7\"}",
                                 "{\"purged\":1}"),
                      0);
    assert_string_equal (c.out, "purged 1\n");

    /* An {"error":...} reply: exit 1 with its text. */
    const char *purge_all[] = {"dead", "purge", "--all", NULL};
    assert_int_equal (run_admin (&c, purge_all, "{\"op\":\"dead_purge\",\"all\":true}",
                                 "{\"error\":\"the store failed\"}"),
                      1);
    assert_non_null (strstr (c.err, "the store failed"));
    assert_string_equal (c.out, "");
}

/* Usage errors never reach the broker: exit 2 before any request. */
static void test_dead_usage (void **state)
{
    SKIP_WITHOUT_FLING ();
    const char *const cases[][8] = {
        {"dead", "retry", NULL},
        {"dead", "purge", "--all", "--name", "t.x", NULL},
        {"dead", "retry", "--id", "not-an-id", NULL},
        {"dead", "list", "--all", NULL},
        {"dead", "retry", "--all", "--limit", "3", NULL},
        {"dead", "bury", "--all", NULL},
        {"dead", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        child_t c;
        child_start (&c, cases[i]);
        assert_int_equal (child_wait (&c), 2);
        assert_non_null (strstr (c.err, "fling"));
    }
    zsock_set_rcvtimeo (router, 0);
    zmsg_t *stray = zmsg_recv (router);
    assert_null (stray);
}

static void test_stats_new_fields (void **state)
{
    SKIP_WITHOUT_FLING ();
    const char *reply_json =
        "{\"uptime_ms\":61000,\"store\":{\"kind\":\"wal\",\"bytes_on_disk\":4096,"
        "\"segments\":2,\"commits\":17,\"failed\":false,\"full\":false},\"tasks\":5,"
        "\"bytes\":100,\"dead\":2,\"delayed\":1,\"counters\":{\"accepted\":9,\"done\":4,"
        "\"dead_lettered\":2,\"crashed\":1,\"timed_out\":3,\"store_full\":0,"
        "\"unavailable\":0},\"queues\":[{\"name\":\"t.x\",\"queued\":1,\"inflight\":0,"
        "\"delayed\":1,\"dead\":2,\"done\":4,\"failed\":2,\"retried\":1}],\"workers\":[]}";
    child_t c;
    const char *args[] = {"stats", NULL};
    assert_int_equal (run_admin (&c, args, "{\"op\":\"stats\"}", reply_json), 0);
    assert_non_null (strstr (c.out, "kind=wal"));
    assert_non_null (strstr (c.out, "bytes_on_disk=4096"));
    assert_non_null (strstr (c.out, "dead_lettered=2"));
    assert_non_null (strstr (c.out, "timed_out=3"));
    assert_non_null (strstr (c.out, "crashed=1"));
    assert_non_null (strstr (c.out, "DELAYED"));
    assert_non_null (strstr (c.out, "DEAD"));

    /* An older broker's reply: no new columns, no "-" noise for new counters. */
    const char *old_json = "{\"uptime_ms\":1000,\"store\":\"memory\",\"tasks\":0,\"bytes\":0,"
                           "\"counters\":{\"accepted\":1},\"queues\":[{\"name\":\"q\","
                           "\"queued\":0,\"inflight\":0,\"done\":1,\"failed\":0,\"retried\":0}],"
                           "\"workers\":[]}";
    assert_int_equal (run_admin (&c, args, "{\"op\":\"stats\"}", old_json), 0);
    assert_non_null (strstr (c.out, "memory"));
    assert_null (strstr (c.out, "DEAD"));
    assert_null (strstr (c.out, "dead_lettered"));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_dead_list),
        cmocka_unit_test (test_dead_retry_purge),
        cmocka_unit_test (test_dead_usage),
        cmocka_unit_test (test_stats_new_fields),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
