/*  test_options.c - the one option parser of fling's programs: a flag
    beats its environment variable (whose value is then not even read),
    numbers and endpoints are checked the same way everywhere, descriptors
    must be open, and the help prints each default from the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fling_log.h"
#include "fling_options.h"

typedef struct {
    unsigned heartbeat_ms;
    uint64_t bytes;
    const char *endpoint;
    char dir[8];
    bool verbose;
    int fd;
    fling_log_level_t level;
    char list[64]; /* custom: what parse() saw, "env:" or "flag:" + value */
} config_t;

static int parse_list (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    config_t *config = arg;
    if (strcmp (value, "bad") == 0) {
        snprintf (why, why_size, "bad on purpose");
        return -1;
    }
    size_t used = strlen (config->list);
    snprintf (config->list + used, sizeof config->list - used, "%s%s;",
              from_env ? "env:" : "flag:", value);
    return 0;
}

#define FIELD(name) offsetof (config_t, name)

static const fling_option_t options[] = {
    {"--heartbeat-ms", "T_HEARTBEAT_MS", FLING_OPT_UINT, FIELD (heartbeat_ms), 0, 10, 60000, NULL,
     "N", "ping interval", NULL},
    {"--bytes", "T_BYTES", FLING_OPT_U64, FIELD (bytes), 0, 0, UINT64_MAX, NULL, "N", "a size",
     NULL},
    {"--endpoint", "T_ENDPOINT", FLING_OPT_ENDPOINT, FIELD (endpoint), 0, 0, 0, NULL, "URL",
     "where", NULL},
    {"--dir", NULL, FLING_OPT_TEXT, FIELD (dir), sizeof ((config_t *)0)->dir, 0, 0, NULL, "DIR",
     "a directory", NULL},
    {"--verbose", "T_VERBOSE", FLING_OPT_FLAG, FIELD (verbose), 0, 0, 0, NULL, NULL, "more", NULL},
    {"--ready-fd", NULL, FLING_OPT_FD, FIELD (fd), 0, 0, 1 << 20, NULL, "FD", "ready line", ""},
    {"--log-level", "T_LEVEL", FLING_OPT_LEVEL, FIELD (level), 0, 0, 0, NULL, "LEVEL", "level",
     NULL},
    {"--item", "T_ITEMS", FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_list, "X", "repeatable\nsecond line",
     ""},
};

static void config_init (config_t *config)
{
    memset (config, 0, sizeof *config);
    config->heartbeat_ms = 1000;
    config->endpoint = "tcp://127.0.0.1:5556";
    strcpy (config->dir, "./d");
    config->fd = -1;
    config->level = FLING_LOG_INFO;
}

static const char *positional[2];
static char error[512];

static int parse (config_t *config, fling_options_t *spec, int argc, const char **argv)
{
    *spec = (fling_options_t){.program = "test",
                              .options = options,
                              .count = 8,
                              .positional = positional,
                              .positional_max = 2};
    config_init (config);
    error[0] = '\0';
    return fling_options_parse (spec, config, argc, (char *const *)argv, error, sizeof error);
}

static void clear_env (void)
{
    const char *names[] = {"T_HEARTBEAT_MS", "T_BYTES", "T_ENDPOINT",
                           "T_VERBOSE",      "T_LEVEL", "T_ITEMS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv (names[i]);
}

#define PARSE(...)                                                                                 \
    parse (&config, &spec,                                                                         \
           (int)(sizeof ((const char *[]){"test", __VA_ARGS__}) / sizeof (char *)),                \
           (const char *[]){"test", __VA_ARGS__})

static void test_flag_beats_a_bad_environment (void **state)
{
    config_t config;
    fling_options_t spec;
    clear_env ();
    setenv ("T_HEARTBEAT_MS", "abc", 1);
    /* The finding: FLING_HEARTBEAT_MS=abc stopped a worker given --heartbeat-ms. */
    assert_int_equal (PARSE ("--heartbeat-ms", "500"), 0);
    assert_int_equal (config.heartbeat_ms, 500);
    /* Without the flag, the bad variable is an error that names it. */
    assert_int_equal (PARSE ("--verbose"), -1);
    assert_non_null (strstr (error, "T_HEARTBEAT_MS"));
    setenv ("T_HEARTBEAT_MS", "700", 1);
    assert_int_equal (PARSE ("--verbose"), 0);
    assert_int_equal (config.heartbeat_ms, 700);
    assert_int_equal (PARSE ("--heartbeat-ms=800"), 0);
    assert_int_equal (config.heartbeat_ms, 800);
    clear_env ();
}

static void test_numbers_are_checked_one_way (void **state)
{
    config_t config;
    fling_options_t spec;
    clear_env ();
    const char *bad[] = {"4294967295", "9", "60001", "-5", "+5", " 5", "5 ", "0x10", "", "5ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (PARSE ("--heartbeat-ms", bad[i]), -1);
        assert_non_null (strstr (error, "--heartbeat-ms"));
    }
    assert_int_equal (PARSE ("--heartbeat-ms", "10"), 0);
    assert_int_equal (PARSE ("--heartbeat-ms", "60000"), 0);
    assert_int_equal (PARSE ("--bytes", "18446744073709551615"), 0);
    assert_true (config.bytes == UINT64_MAX);
    assert_int_equal (PARSE ("--bytes", "18446744073709551616"), -1);
}

static void test_endpoints_are_checked (void **state)
{
    char why[160];
    const char *good[] = {"tcp://127.0.0.1:5555", "tcp://*:5555",   "tcp://127.0.0.1:*",
                          "tcp://[::1]:65535",    "tcp://broker:1", "ipc:///tmp/fling.sock",
                          "inproc://fling"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal (fling_endpoint_check (good[i], why, sizeof why), 0);
    /* tcp://127.0.0.1:99999 used to bind port 34463 (libzmq takes it mod 65536). */
    const char *bad[] = {"tcp://127.0.0.1:99999",
                         "tcp://127.0.0.1:0",
                         "tcp://127.0.0.1:",
                         "tcp://:5555",
                         "tcp://127.0.0.1",
                         "tcp://::1:5555",
                         "udp://x:1",
                         "127.0.0.1:5555",
                         "ipc://",
                         "tcp://a b:5555",
                         "tcp://h:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal (fling_endpoint_check (bad[i], why, sizeof why), -1);
        assert_true (why[0] != '\0');
    }
    config_t config;
    fling_options_t spec;
    clear_env ();
    assert_int_equal (PARSE ("--endpoint", "tcp://127.0.0.1:99999"), -1);
    assert_non_null (strstr (error, "65535"));
    setenv ("T_ENDPOINT", "tcp://h:70000", 1);
    assert_int_equal (PARSE ("--verbose"), -1);
    assert_int_equal (PARSE ("--endpoint", "tcp://h:7000"), 0);
    assert_string_equal (config.endpoint, "tcp://h:7000");
    clear_env ();
}

static void test_descriptors_must_be_open (void **state)
{
    config_t config;
    fling_options_t spec;
    clear_env ();
    int fds[2];
    assert_int_equal (pipe (fds), 0);
    char text[16];
    snprintf (text, sizeof text, "%d", fds[1]);
    assert_int_equal (PARSE ("--ready-fd", text), 0);
    assert_int_equal (config.fd, fds[1]);
    close (fds[0]);
    close (fds[1]);
    assert_int_equal (PARSE ("--ready-fd", text), -1);
    assert_non_null (strstr (error, "not an open file descriptor"));
}

static void test_text_flags_levels_and_lists (void **state)
{
    config_t config;
    fling_options_t spec;
    clear_env ();
    assert_int_equal (PARSE ("--dir", "1234567"), 0);
    assert_string_equal (config.dir, "1234567");
    assert_int_equal (PARSE ("--dir", "12345678"), -1); /* one byte too long: refused, not cut */
    assert_int_equal (PARSE ("--dir", ""), -1);
    assert_int_equal (PARSE ("--verbose=1"), -1); /* a flag takes no value */
    setenv ("T_VERBOSE", "yes", 1);
    assert_int_equal (PARSE ("--dir", "x"), 0);
    assert_true (config.verbose);
    setenv ("T_VERBOSE", "maybe", 1);
    assert_int_equal (PARSE ("--dir", "x"), -1);
    unsetenv ("T_VERBOSE");
    assert_int_equal (PARSE ("--log-level", "warn"), 0);
    assert_int_equal (config.level, FLING_LOG_WARN);
    assert_int_equal (PARSE ("--log-level", "loud"), -1);
    /* A list from the environment; flags replace it, one entry each. */
    setenv ("T_ITEMS", "a,b", 1);
    assert_int_equal (PARSE ("--verbose"), 0);
    assert_string_equal (config.list, "env:a,b;");
    assert_int_equal (PARSE ("--item", "c", "--item=d"), 0);
    assert_string_equal (config.list, "flag:c;flag:d;");
    assert_int_equal (PARSE ("--item", "bad"), -1);
    assert_non_null (strstr (error, "bad on purpose"));
    clear_env ();
}

static void test_arguments_help_and_errors (void **state)
{
    config_t config;
    fling_options_t spec;
    clear_env ();
    assert_int_equal (PARSE ("one", "--verbose", "two"), 0);
    assert_int_equal (spec.positional_count, 2);
    assert_string_equal (positional[1], "two");
    assert_int_equal (PARSE ("one", "two", "three"), -1);
    assert_int_equal (PARSE ("--", "--verbose"), 0);
    assert_false (config.verbose);
    assert_string_equal (positional[0], "--verbose");
    assert_int_equal (PARSE ("--nope"), -1);
    assert_non_null (strstr (error, "unknown option"));
    assert_int_equal (PARSE ("--heartbeat-ms"), -1);
    assert_non_null (strstr (error, "needs a value"));
    assert_int_equal (PARSE ("--heartbeat-ms", "abc", "-h"), 1); /* help wins */
}

static void test_usage_prints_defaults_from_the_config (void **state)
{
    config_t defaults;
    config_init (&defaults);
    defaults.heartbeat_ms = 1234;
    fling_options_t spec = {.program = "test", .options = options, .count = 8};
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert_non_null (out);
    fling_options_usage (&spec, &defaults, out);
    fclose (out);
    assert_non_null (strstr (text, "--heartbeat-ms N"));
    assert_non_null (strstr (text, "env T_HEARTBEAT_MS; default 1234"));
    assert_non_null (strstr (text, "default tcp://127.0.0.1:5556"));
    assert_non_null (strstr (text, "default ./d"));
    assert_non_null (strstr (text, "second line"));
    assert_null (strstr (text, "default -1")); /* "" hides a default that means nothing */
    free (text);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_flag_beats_a_bad_environment),
        cmocka_unit_test (test_numbers_are_checked_one_way),
        cmocka_unit_test (test_endpoints_are_checked),
        cmocka_unit_test (test_descriptors_must_be_open),
        cmocka_unit_test (test_text_flags_levels_and_lists),
        cmocka_unit_test (test_arguments_help_and_errors),
        cmocka_unit_test (test_usage_prints_defaults_from_the_config),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
