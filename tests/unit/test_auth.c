/*  test_auth.c - CURVE keys and roles: key files (common/fling_curve.c),
    the broker's allowed directory and start-up checks (broker/fling_auth.c),
    and the loopback rule without CURVE (broker/fling_access.c).
*/
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fling_auth.h"
#include "fling_access.h"
#include "fling_curve.h"
#include "fling_log.h"

typedef struct {
    char dir[256];     /* scratch directory */
    char allowed[300]; /* dir/allowed */
    char broker[300];  /* dir/broker.secret */
} scratch_t;

static void path_of (const scratch_t *s, const char *name, char *out, size_t size)
{
    snprintf (out, size, "%s/%s", s->dir, name);
}

/* Writes NAME.pub (public, with `role`) into `where` and NAME.secret into
   the scratch directory; returns the key's Z85 text in `key`. */
static void make_key (const scratch_t *s, const char *where, const char *name, const char *role,
                      char key[FLING_CURVE_KEY_TEXT])
{
    zcert_t *cert = zcert_new ();
    assert_non_null (cert);
    if (role)
        zcert_set_meta (cert, "role", "%s", role);
    zcert_set_meta (cert, "name", "%s", name);
    char path[512];
    snprintf (path, sizeof path, "%s/%s.pub", where, name);
    assert_int_equal (zcert_save_public (cert, path), 0);
    snprintf (path, sizeof path, "%s/%s.secret", s->dir, name);
    assert_int_equal (zcert_save_secret (cert, path), 0);
    chmod (path, 0600);
    if (key)
        snprintf (key, FLING_CURVE_KEY_TEXT, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
}

static int setup (void **state)
{
    scratch_t *s = (scratch_t *)calloc (1, sizeof *s);
    if (!s)
        return -1;
    snprintf (s->dir, sizeof s->dir, "/tmp/fling-test-auth-XXXXXX");
    if (!mkdtemp (s->dir)) {
        free (s);
        return -1;
    }
    snprintf (s->allowed, sizeof s->allowed, "%s/allowed", s->dir);
    mkdir (s->allowed, 0700);
    make_key (s, s->dir, "broker", "broker", NULL);
    snprintf (s->broker, sizeof s->broker, "%s/broker.secret", s->dir);
    *state = s;
    return 0;
}

static int teardown (void **state)
{
    scratch_t *s = (scratch_t *)*state;
    char command[600];
    snprintf (command, sizeof command, "rm -rf '%s'", s->dir);
    if (system (command) != 0)
        return -1;
    free (s);
    return 0;
}

/* ---- roles ---------------------------------------------------------------- */

static void test_roles_and_permissions (void **state)
{
    (void)state;
    assert_int_equal (fling_role_parse ("producer"), FLING_ROLE_PRODUCER);
    assert_int_equal (fling_role_parse ("worker"), FLING_ROLE_WORKER);
    assert_int_equal (fling_role_parse ("admin"), FLING_ROLE_ADMIN);
    assert_int_equal (fling_role_parse ("broker"), FLING_ROLE_NONE);
    assert_int_equal (fling_role_parse ("Producer"), FLING_ROLE_NONE);
    assert_int_equal (fling_role_parse (NULL), FLING_ROLE_NONE);
    /* producer socket */
    assert_true (fling_auth_permits (FLING_ROLE_PRODUCER, false, FLING_CMD_SUBMIT));
    assert_false (fling_auth_permits (FLING_ROLE_WORKER, false, FLING_CMD_SUBMIT));
    assert_false (fling_auth_permits (FLING_ROLE_ADMIN, false, FLING_CMD_SUBMIT));
    assert_true (fling_auth_permits (FLING_ROLE_ADMIN, false, FLING_CMD_ADMIN));
    assert_false (fling_auth_permits (FLING_ROLE_PRODUCER, false, FLING_CMD_ADMIN));
    assert_false (fling_auth_permits (FLING_ROLE_WORKER, false, FLING_CMD_ADMIN));
    assert_true (fling_auth_permits (FLING_ROLE_WORKER, false, FLING_CMD_PING));
    /* worker socket: workers only */
    for (int cmd = 1; cmd < FLING_CMD_MAX; cmd++) {
        assert_true (fling_auth_permits (FLING_ROLE_WORKER, true, (fling_cmd_t)cmd));
        assert_false (fling_auth_permits (FLING_ROLE_PRODUCER, true, (fling_cmd_t)cmd));
        assert_false (fling_auth_permits (FLING_ROLE_ADMIN, true, (fling_cmd_t)cmd));
        assert_true (fling_auth_permits (FLING_ROLE_NONE, false, (fling_cmd_t)cmd) ==
                     (cmd == FLING_CMD_PING || cmd == FLING_CMD_PONG || cmd == FLING_CMD_BYE ||
                      cmd == FLING_CMD_ERROR));
        assert_false (fling_auth_permits (FLING_ROLE_NONE, true, (fling_cmd_t)cmd));
    }
}

/* ---- key files -------------------------------------------------------------- */

static void test_secret_file_checks (void **state)
{
    scratch_t *s = (scratch_t *)*state;
    char error[512], path[512];
    zcert_t *cert = fling_curve_load_secret (s->broker, error, sizeof error);
    assert_non_null (cert);
    zcert_destroy (&cert);
    /* S09: readable by others: refused, and the message says why */
    chmod (s->broker, 0644);
    assert_null (fling_curve_load_secret (s->broker, error, sizeof error));
    assert_non_null (strstr (error, "open to group or others"));
    chmod (s->broker, 0640);
    assert_null (fling_curve_load_secret (s->broker, error, sizeof error));
    chmod (s->broker, 0600);
    /* a public certificate is no secret */
    path_of (s, "broker.pub", path, sizeof path);
    chmod (path, 0600);
    assert_null (fling_curve_load_secret (path, error, sizeof error));
    assert_non_null (strstr (error, "no secret key"));
    path_of (s, "missing.secret", path, sizeof path);
    assert_null (fling_curve_load_secret (path, error, sizeof error));
    assert_non_null (strstr (error, "cannot read"));
}

static void test_public_key_forms (void **state)
{
    scratch_t *s = (scratch_t *)*state;
    char error[512], key[FLING_CURVE_KEY_TEXT], path[512], from_file[FLING_CURVE_KEY_TEXT];
    make_key (s, s->dir, "p1", "producer", key);
    path_of (s, "p1.pub", path, sizeof path);
    assert_int_equal (fling_curve_load_public (path, from_file, error, sizeof error), 0);
    assert_string_equal (from_file, key);
    char from_text[FLING_CURVE_KEY_TEXT];
    assert_int_equal (fling_curve_load_public (key, from_text, error, sizeof error), 0);
    assert_string_equal (from_text, key);
    assert_int_equal (fling_curve_load_public ("not-a-key", from_text, error, sizeof error), -1);
    /* the tag is the key's first 8 bytes, either way */
    uint8_t raw[32];
    assert_non_null (zmq_z85_decode (raw, key));
    assert_true (fling_curve_tag_z85 (key) == fling_curve_tag (raw));
    assert_true ((fling_curve_tag (raw) >> 56) == raw[0]);
    assert_true (fling_curve_tag_z85 ("short") == 0);
}

static void test_client_config (void **state)
{
    scratch_t *s = (scratch_t *)*state;
    char error[512], path[512];
    uint64_t tag = 1;
    fling_curve_client_t off = {NULL, ""};
    assert_false (fling_curve_client_on (&off));
    assert_int_equal (fling_curve_client_apply (&off, NULL, &tag, error, sizeof error), 0);
    assert_true (tag == 0);
    path_of (s, "broker.pub", path, sizeof path);
    fling_curve_client_t half = {path, NULL};
    assert_int_equal (fling_curve_client_apply (&half, NULL, NULL, error, sizeof error), -1);
    assert_non_null (strstr (error, "needs both"));
    char key[FLING_CURVE_KEY_TEXT], secret[512];
    make_key (s, s->dir, "c1", "producer", key);
    path_of (s, "c1.secret", secret, sizeof secret);
    fling_curve_client_t on = {path, secret};
    assert_int_equal (fling_curve_client_apply (&on, NULL, &tag, error, sizeof error), 0);
    assert_true (tag == fling_curve_tag_z85 (key));
}

/* ---- the allowed directory ---------------------------------------------------- */

static void test_start_checks (void **state)
{
    scratch_t *s = (scratch_t *)*state;
    char error[512], path[512];
    path_of (s, "nowhere", path, sizeof path);
    assert_null (fling_auth_new (s->broker, path, error, sizeof error));
    assert_non_null (strstr (error, "not a readable directory"));
    chmod (s->allowed, 0770);
    assert_null (fling_auth_new (s->broker, s->allowed, error, sizeof error));
    assert_non_null (strstr (error, "writable by group or others"));
    chmod (s->allowed, 0700);
    chmod (s->broker, 0604);
    assert_null (fling_auth_new (s->broker, s->allowed, error, sizeof error));
    chmod (s->broker, 0600);
    fling_auth_t *auth = fling_auth_new (s->broker, s->allowed, error, sizeof error);
    assert_non_null (auth);
    fling_auth_destroy (&auth);
    assert_null (auth);
}

/* S07: without a ZAP handler libzmq admits any key; the self-test must
   catch it and refuse to start. */
static void test_self_test_catches_missing_zap_handler (void **state)
{
    scratch_t *s = (scratch_t *)*state;
    char error[512];
    setenv ("FLING_TEST_SKIP_ZAUTH", "1", 1);
    fling_auth_t *auth = fling_auth_new (s->broker, s->allowed, error, sizeof error);
    unsetenv ("FLING_TEST_SKIP_ZAUTH");
    assert_null (auth);
    assert_non_null (strstr (error, "self-test failed"));
    /* and with the handler it starts */
    auth = fling_auth_new (s->broker, s->allowed, error, sizeof error);
    assert_non_null (auth);
    fling_auth_destroy (&auth);
}

static void test_rescan_revokes_and_reroles (void **state)
{
    scratch_t *s = (scratch_t *)*state;
    char error[512], key_p[FLING_CURVE_KEY_TEXT], key_w[FLING_CURVE_KEY_TEXT], path[512];
    make_key (s, s->allowed, "p1", "producer", key_p);
    make_key (s, s->allowed, "w1", "worker", key_w);
    fling_auth_t *auth = fling_auth_new (s->broker, s->allowed, error, sizeof error);
    assert_non_null (auth);
    assert_int_equal (fling_auth_key_count (auth), 2);
    const fling_principal_t *p = fling_auth_find (auth, key_p, 0);
    const fling_principal_t *w = fling_auth_find (auth, key_w, 0);
    assert_non_null (p);
    assert_non_null (w);
    assert_int_equal (p->role, FLING_ROLE_PRODUCER);
    assert_int_equal (w->role, FLING_ROLE_WORKER);
    assert_string_equal (p->name, "p1");
    assert_true (p->tag == fling_curve_tag_z85 (key_p));
    uint32_t epoch = w->epoch;

    /* the worker's certificate leaves: revoked, epoch moved; the other stays */
    snprintf (path, sizeof path, "%s/w1.pub", s->allowed);
    assert_int_equal (unlink (path), 0);
    assert_int_equal (fling_auth_rescan (auth), 1);
    assert_true (w->revoked);
    assert_true (w->epoch != epoch);
    assert_false (p->revoked);
    assert_int_equal (fling_auth_key_count (auth), 1);
    assert_int_equal (fling_auth_rescan (auth), 0); /* nothing new */

    /* the producer key comes back as an admin: a new epoch, the new role */
    epoch = p->epoch;
    snprintf (path, sizeof path, "%s/p1.secret", s->dir);
    zcert_t *old = zcert_load (path); /* czmq cannot change a metadata value: copy the keys */
    assert_non_null (old);
    zcert_t *cert = zcert_new_from (zcert_public_key (old), zcert_secret_key (old));
    zcert_set_meta (cert, "role", "admin");
    snprintf (path, sizeof path, "%s/p1.pub", s->allowed);
    assert_int_equal (zcert_save_public (cert, path), 0);
    zcert_destroy (&cert);
    zcert_destroy (&old);
    fling_auth_rescan (auth);
    assert_int_equal (p->role, FLING_ROLE_ADMIN);
    assert_true (p->epoch != epoch);

    /* files that do not count: not .pub, writable by others, no role */
    char other[FLING_CURVE_KEY_TEXT], norole[FLING_CURVE_KEY_TEXT];
    make_key (s, s->allowed, "x1", "producer", other);
    char from[600], to[600];
    snprintf (from, sizeof from, "%s/x1.pub", s->allowed);
    snprintf (to, sizeof to, "%s/x1.cert", s->allowed);
    assert_int_equal (rename (from, to), 0);
    make_key (s, s->allowed, "g1", "producer", NULL);
    snprintf (path, sizeof path, "%s/g1.pub", s->allowed);
    chmod (path, 0666);
    make_key (s, s->allowed, "n1", NULL, norole);
    fling_auth_rescan (auth);
    assert_null (fling_auth_find (auth, other, 0));
    const fling_principal_t *n = fling_auth_find (auth, norole, 0);
    assert_non_null (n);
    assert_int_equal (n->role, FLING_ROLE_NONE);
    assert_int_equal (fling_auth_key_count (auth), 2); /* p1 (admin) and n1 */

    /* a key added after the last scan is found by the quick rescan */
    char late[FLING_CURVE_KEY_TEXT];
    make_key (s, s->allowed, "late", "worker", late);
    assert_non_null (fling_auth_find (auth, late, 10000));
    fling_auth_destroy (&auth);
}

static void test_loopback_rule (void **state)
{
    (void)state;
    assert_true (fling_endpoint_is_local ("tcp://127.0.0.1:5555"));
    assert_true (fling_endpoint_is_local ("tcp://127.0.0.1:*"));
    assert_true (fling_endpoint_is_local ("tcp://127.1.2.3:5555"));
    assert_true (fling_endpoint_is_local ("tcp://localhost:5555"));
    assert_true (fling_endpoint_is_local ("tcp://[::1]:5555"));
    assert_true (fling_endpoint_is_local ("ipc:///tmp/fling.sock"));
    assert_true (fling_endpoint_is_local ("inproc://fling"));
    assert_false (fling_endpoint_is_local ("tcp://*:5555"));
    assert_false (fling_endpoint_is_local ("tcp://0.0.0.0:5555"));
    assert_false (fling_endpoint_is_local ("tcp://10.0.0.5:5555"));
    assert_false (fling_endpoint_is_local ("tcp://eth0:5555"));
    assert_false (fling_endpoint_is_local ("tcp://127.0.0.1.evil.example:5555"));
    assert_false (fling_endpoint_is_local ("tcp://[::]:5555"));
    assert_false (fling_endpoint_is_local ("udp://127.0.0.1:5555"));
}

int main (void)
{
    fling_log_init ("test", FLING_LOG_ERROR);
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_roles_and_permissions),
        cmocka_unit_test_setup_teardown (test_secret_file_checks, setup, teardown),
        cmocka_unit_test_setup_teardown (test_public_key_forms, setup, teardown),
        cmocka_unit_test_setup_teardown (test_client_config, setup, teardown),
        cmocka_unit_test_setup_teardown (test_start_checks, setup, teardown),
        cmocka_unit_test_setup_teardown (test_self_test_catches_missing_zap_handler, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_rescan_revokes_and_reroles, setup, teardown),
        cmocka_unit_test (test_loopback_rule),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
