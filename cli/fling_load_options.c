/*  fling_load_options.c - fling-load's command line (see fling_load.h). */
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_load.h"
#include "fling_options.h"

#ifndef FLING_VERSION
#define FLING_VERSION "unknown"
#endif

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"
#define THREADS_MAX      256

static void usage (FILE *out)
{
    fprintf (out,
             "usage: fling-load [OPTIONS]\n"
             "Sends tasks {\"i\":SEQ,\"ms\":MS,\"pad\":\"x...\"} through the producer library.\n"
             "  --endpoint EP         broker's producer endpoint (env FLING_PRODUCER_ENDPOINT,\n"
             "                        default " DEFAULT_ENDPOINT ")\n"
             "  --count N             tasks to send (default 100000)\n"
             "  --name A[,B...]       task names, used round-robin (default test.noop)\n"
             "  --ms N                \"ms\" field of the payload (default 0)\n"
             "  --payload-bytes N     pad payloads to about N bytes (default 100)\n"
             "  --rate R              tasks per second, 0 = as fast as possible (default 0)\n"
             "  --threads T           sender threads sharing one producer (default 1)\n"
             "  --ledger FILE         write \"accepted ID\", \"rejected ID REASON\" or\n"
             "                        \"dropped ID\" per task\n"
             "  --progress            a progress line on stderr every 250 ms\n"
             "  --flush-timeout-ms N  wait this long for the broker's verdicts (default 60000)\n"
             "  --latency             time each fling_send; report p50/p99/p99.9 in us\n"
             "  --outbox-max N        producer outbox size in tasks\n"
             "  --overflow fail|drop  outbox overflow policy (default fail: back off, retry)\n"
             "  --json-summary        print one JSON summary line on stdout at the end\n"
             "  --payload-extra JSON  members added to every payload, e.g. '\"poison\":true'\n"
             "  --delay-ms N          tasks due N ms after the start (a due-at, FLP/1.2 broker);\n"
             "                        the payload gets \"due\":UTC_MS after \"i\"\n"
             "  --spread-ms W         due times spread evenly over W ms after that, in order\n"
             "  --curve-broker-key K  CURVE: the broker's .pub file or Z85 public key\n"
             "                        (env FLING_CURVE_BROKER_KEY)\n"
             "  --curve-key FILE      CURVE: this producer's NAME.secret (env FLING_CURVE_KEY)\n"
             "  --version, -h/--help\n"
             "Exit status: 0 if every task was accepted, 1 otherwise, 2 usage error.\n");
}

static int split_names (fling_load_config_t *cfg, const char *list)
{
    free (cfg->names_text);
    cfg->names_text = strdup (list);
    cfg->name_count = 0;
    if (!cfg->names_text)
        return -1;
    char *save = NULL;
    for (char *name = strtok_r (cfg->names_text, ",", &save); name;
         name = strtok_r (NULL, ",", &save)) {
        if (cfg->name_count == FLING_NAMES_MAX || fling_task_validate (name, "{}", 2))
            return -1;
        cfg->names[cfg->name_count++] = name;
    }
    return cfg->name_count ? 0 : -1;
}

static int parse_names (void *cfg, const char *value, bool from_env, char *why, size_t why_size)
{
    if (split_names (cfg, value) == 0)
        return 0;
    snprintf (why, why_size, "want up to %d valid task names, comma-separated", FLING_NAMES_MAX);
    return -1;
}

static int parse_rate (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    fling_load_config_t *cfg = arg;
    char *end;
    cfg->rate = strtod (value, &end);
    if (*value && !*end && cfg->rate >= 0 && isfinite (cfg->rate))
        return 0;
    snprintf (why, why_size, "not a rate (tasks per second, 0 or more)");
    return -1;
}

static int parse_overflow (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    fling_load_config_t *cfg = arg;
    if (strcmp (value, "fail") && strcmp (value, "drop")) {
        snprintf (why, why_size, "not fail or drop");
        return -1;
    }
    cfg->overflow = strcmp (value, "drop") == 0 ? FLING_OVERFLOW_DROP : FLING_OVERFLOW_FAIL;
    return 0;
}

#define FIELD(name) offsetof (fling_load_config_t, name)

/* usage() describes them. */
static const fling_option_t options[] = {
    {"--endpoint", "FLING_PRODUCER_ENDPOINT", FLING_OPT_ENDPOINT, FIELD (endpoint), 0, 0, 0, NULL,
     "EP", "", NULL},
    {"--count", NULL, FLING_OPT_U64, FIELD (count), 0, 0, UINT64_MAX, NULL, "N", "", NULL},
    {"--name", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_names, "A[,B...]", "", NULL},
    {"--ms", NULL, FLING_OPT_UINT, FIELD (ms), 0, 0, UINT32_MAX, NULL, "N", "", NULL},
    {"--payload-bytes", NULL, FLING_OPT_U64, FIELD (payload_bytes), 0, 0, FLING_PAYLOAD_MAX, NULL,
     "N", "", NULL},
    {"--rate", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_rate, "R", "", NULL},
    {"--threads", NULL, FLING_OPT_UINT, FIELD (threads), 0, 1, THREADS_MAX, NULL, "T", "", NULL},
    {"--ledger", NULL, FLING_OPT_TEXT, FIELD (ledger_path), 0, 0, 0, NULL, "FILE", "", NULL},
    {"--progress", NULL, FLING_OPT_FLAG, FIELD (progress), 0, 0, 0, NULL, NULL, "", NULL},
    {"--flush-timeout-ms", NULL, FLING_OPT_UINT, FIELD (flush_timeout_ms), 0, 0, UINT32_MAX, NULL,
     "N", "", NULL},
    {"--latency", NULL, FLING_OPT_FLAG, FIELD (latency), 0, 0, 0, NULL, NULL, "", NULL},
    {"--outbox-max", NULL, FLING_OPT_U64, FIELD (outbox_max), 0, 1, UINT32_MAX, NULL, "N", "",
     NULL},
    {"--overflow", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_overflow, "fail|drop", "", NULL},
    {"--json-summary", NULL, FLING_OPT_FLAG, FIELD (json_summary), 0, 0, 0, NULL, NULL, "", NULL},
    {"--payload-extra", NULL, FLING_OPT_TEXT, FIELD (payload_extra), 0, 0, 4095, NULL, "JSON", "",
     NULL},
    {"--delay-ms", NULL, FLING_OPT_UINT, FIELD (delay_ms), 0, 0, UINT32_MAX, NULL, "N", "", NULL},
    {"--spread-ms", NULL, FLING_OPT_UINT, FIELD (spread_ms), 0, 0, UINT32_MAX, NULL, "W", "", NULL},
    {"--version", NULL, FLING_OPT_FLAG, FIELD (version), 0, 0, 0, NULL, NULL, "", NULL},
    {"--curve-broker-key", "FLING_CURVE_BROKER_KEY", FLING_OPT_TEXT, FIELD (curve_broker_key), 0, 0,
     0, NULL, "KEY", "", NULL},
    {"--curve-key", "FLING_CURVE_KEY", FLING_OPT_TEXT, FIELD (curve_key), 0, 0, 0, NULL, "FILE", "",
     NULL},
};

/* Returns -1 to go on, or the exit code to leave with. */
int fling_load_parse_args (fling_load_config_t *cfg, int argc, char **argv)
{
    *cfg = (fling_load_config_t){.endpoint = DEFAULT_ENDPOINT,
                                 .count = 100000,
                                 .payload_bytes = 100,
                                 .threads = 1,
                                 .flush_timeout_ms = 60000,
                                 .overflow = FLING_OVERFLOW_FAIL};
    fling_options_t spec = {
        .program = "fling-load", .options = options, .count = sizeof options / sizeof options[0]};
    char error[512];
    int rc = fling_options_parse (&spec, cfg, argc, argv, error, sizeof error);
    if (rc == 1) {
        usage (stdout);
        return 0;
    }
    if (rc < 0) {
        fprintf (stderr, "fling-load: %s\nTry 'fling-load --help'.\n", error);
        return 2;
    }
    if (cfg->version) {
        printf ("fling-load %s\n", FLING_VERSION);
        return 0;
    }
    if (!cfg->name_count && split_names (cfg, "test.noop"))
        return 2;
    return -1;
}

void fling_load_config_fini (fling_load_config_t *cfg)
{
    free (cfg->names_text);
    cfg->names_text = NULL;
}
