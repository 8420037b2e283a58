/*  fling_load_options.c - fling-load's command line (see fling_load.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_load.h"

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
             "  --curve-broker-key K  CURVE: the broker's .pub file or Z85 public key\n"
             "                        (env FLING_CURVE_BROKER_KEY)\n"
             "  --curve-key FILE      CURVE: this producer's NAME.secret (env FLING_CURVE_KEY)\n"
             "  --version, -h/--help\n"
             "Exit status: 0 if every task was accepted, 1 otherwise, 2 usage error.\n");
}

static int parse_u64 (const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno || end == text || *end || text[0] == '-')
        return -1;
    *out = value;
    return 0;
}

static int parse_bounded (const char *text, uint64_t max, uint64_t *out)
{
    return parse_u64 (text, out) || *out > max ? -1 : 0;
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
        if (cfg->name_count == FLING_NAMES_MAX || fling_task_validate (name, "{}", 2)) {
            fprintf (stderr, "fling-load: bad task name '%s'\n", name);
            return -1;
        }
        cfg->names[cfg->name_count++] = name;
    }
    return cfg->name_count ? 0 : -1;
}

enum {
    OPT_ENDPOINT = 256,
    OPT_COUNT,
    OPT_NAME,
    OPT_MS,
    OPT_PAYLOAD,
    OPT_RATE,
    OPT_THREADS,
    OPT_LEDGER,
    OPT_PROGRESS,
    OPT_FLUSH,
    OPT_LATENCY,
    OPT_OUTBOX,
    OPT_OVERFLOW,
    OPT_JSON,
    OPT_EXTRA,
    OPT_CURVE_BROKER_KEY,
    OPT_CURVE_KEY,
    OPT_VERSION
};

static const struct option long_options[] = {
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"count", required_argument, NULL, OPT_COUNT},
    {"name", required_argument, NULL, OPT_NAME},
    {"ms", required_argument, NULL, OPT_MS},
    {"payload-bytes", required_argument, NULL, OPT_PAYLOAD},
    {"rate", required_argument, NULL, OPT_RATE},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"ledger", required_argument, NULL, OPT_LEDGER},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"flush-timeout-ms", required_argument, NULL, OPT_FLUSH},
    {"latency", no_argument, NULL, OPT_LATENCY},
    {"outbox-max", required_argument, NULL, OPT_OUTBOX},
    {"overflow", required_argument, NULL, OPT_OVERFLOW},
    {"json-summary", no_argument, NULL, OPT_JSON},
    {"payload-extra", required_argument, NULL, OPT_EXTRA},
    {"curve-broker-key", required_argument, NULL, OPT_CURVE_BROKER_KEY},
    {"curve-key", required_argument, NULL, OPT_CURVE_KEY},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one option; returns 0, or -1 for a bad value. */
static int apply_option (fling_load_config_t *cfg, int opt, const char *arg)
{
    uint64_t n = 0;
    char *end;
    switch (opt) {
    case OPT_ENDPOINT:
        cfg->endpoint = arg;
        return *arg ? 0 : -1;
    case OPT_CURVE_BROKER_KEY:
        cfg->curve_broker_key = arg;
        return 0;
    case OPT_CURVE_KEY:
        cfg->curve_key = arg;
        return 0;
    case OPT_COUNT:
        return parse_u64 (arg, &cfg->count);
    case OPT_NAME:
        return split_names (cfg, arg);
    case OPT_MS:
        if (parse_bounded (arg, UINT32_MAX, &n))
            return -1;
        cfg->ms = (unsigned)n;
        return 0;
    case OPT_PAYLOAD:
        if (parse_bounded (arg, FLING_PAYLOAD_MAX, &n))
            return -1;
        cfg->payload_bytes = (size_t)n;
        return 0;
    case OPT_RATE:
        cfg->rate = strtod (arg, &end);
        return *arg && !*end && cfg->rate >= 0 && isfinite (cfg->rate) ? 0 : -1;
    case OPT_THREADS:
        if (parse_bounded (arg, THREADS_MAX, &n) || n == 0)
            return -1;
        cfg->threads = (unsigned)n;
        return 0;
    case OPT_LEDGER:
        cfg->ledger_path = arg;
        return 0;
    case OPT_PROGRESS:
        cfg->progress = true;
        return 0;
    case OPT_FLUSH:
        if (parse_bounded (arg, UINT32_MAX, &n))
            return -1;
        cfg->flush_timeout_ms = (unsigned)n;
        return 0;
    case OPT_LATENCY:
        cfg->latency = true;
        return 0;
    case OPT_OUTBOX:
        if (parse_u64 (arg, &n) || n == 0)
            return -1;
        cfg->outbox_max = (size_t)n;
        return 0;
    case OPT_OVERFLOW:
        if (strcmp (arg, "fail") && strcmp (arg, "drop"))
            return -1;
        cfg->overflow = strcmp (arg, "drop") == 0 ? FLING_OVERFLOW_DROP : FLING_OVERFLOW_FAIL;
        return 0;
    case OPT_EXTRA:
        cfg->payload_extra = arg; /* fling_send validates the result: bad JSON fails loudly */
        return strlen (arg) < 4096 ? 0 : -1;
    case OPT_JSON:
        cfg->json_summary = true;
        return 0;
    default:
        return -1;
    }
}

/* Returns -1 to go on, or the exit code to leave with. */
int fling_load_parse_args (fling_load_config_t *cfg, int argc, char **argv)
{
    *cfg = (fling_load_config_t){.count = 100000,
                                 .payload_bytes = 100,
                                 .threads = 1,
                                 .flush_timeout_ms = 60000,
                                 .overflow = FLING_OVERFLOW_FAIL};
    int opt;
    while ((opt = getopt_long (argc, argv, "h", long_options, NULL)) != -1) {
        if (opt == 'h') {
            usage (stdout);
            return 0;
        }
        if (opt == OPT_VERSION) {
            printf ("fling-load %s\n", FLING_VERSION);
            return 0;
        }
        if (opt == '?' || apply_option (cfg, opt, optarg)) {
            if (opt != '?')
                fprintf (stderr, "fling-load: bad value '%s' for --%s\n", optarg,
                         long_options[opt - OPT_ENDPOINT].name);
            fprintf (stderr, "Try 'fling-load --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "fling-load: unexpected argument '%s'\nTry 'fling-load --help'.\n",
                 argv[optind]);
        return 2;
    }
    if (!cfg->name_count && split_names (cfg, "test.noop"))
        return 2;
    if (!cfg->endpoint) {
        const char *env = getenv ("FLING_PRODUCER_ENDPOINT");
        cfg->endpoint = env && *env ? env : DEFAULT_ENDPOINT;
    }
    return -1;
}

void fling_load_config_fini (fling_load_config_t *cfg)
{
    free (cfg->names_text);
    cfg->names_text = NULL;
}
