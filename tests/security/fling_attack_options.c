/*  fling_attack_options.c - fling-attack's command line (fling_options). */
#include "fling_attack.h"
#include "fling_options.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define FIELD(name) offsetof (attack_t, name)

static const fling_option_t options[] = {
    {"--endpoint", NULL, FLING_OPT_ENDPOINT, FIELD (endpoint), 0, 0, 0, NULL, "EP", "", NULL},
    {"--worker-endpoint", NULL, FLING_OPT_ENDPOINT, FIELD (worker_endpoint), 0, 0, 0, NULL, "EP",
     "", NULL},
    {"--curve-broker-key", NULL, FLING_OPT_TEXT, FIELD (curve.broker_key), 0, 0, 0, NULL, "K", "",
     NULL},
    {"--curve-key", NULL, FLING_OPT_TEXT, FIELD (curve.key), 0, 0, 0, NULL, "F", "", NULL},
    {"--source", NULL, FLING_OPT_TEXT, FIELD (source), 0, 0, 64, NULL, "ADDR", "", NULL},
    {"--plain", NULL, FLING_OPT_TEXT, FIELD (plain), 0, 0, 0, NULL, "USER:PASS", "", NULL},
    {"--worker-curve-key", NULL, FLING_OPT_TEXT, FIELD (worker_key), 0, 0, 0, NULL, "F", "", NULL},
    {"--count", NULL, FLING_OPT_U64, FIELD (count), 0, 0, 100000000, NULL, "N", "", NULL},
    {"--names", NULL, FLING_OPT_U64, FIELD (names), 0, 0, 100000000, NULL, "N", "", NULL},
    {"--messages", NULL, FLING_OPT_U64, FIELD (messages), 0, 0, 1000000, NULL, "N", "", NULL},
    {"--connections", NULL, FLING_OPT_U64, FIELD (connections), 0, 0, 100000, NULL, "N", "", NULL},
    {"--capacity", NULL, FLING_OPT_U64, FIELD (capacity), 0, 0, UINT32_MAX, NULL, "N", "", NULL},
    {"--repeat", NULL, FLING_OPT_U64, FIELD (repeat), 0, 0, 10000000, NULL, "N", "", NULL},
    {"--hold-ms", NULL, FLING_OPT_U64, FIELD (hold_ms), 0, 0, 3600000, NULL, "N", "", NULL},
    {"--seq-start", NULL, FLING_OPT_U64, FIELD (seq_start), 0, 0, UINT64_MAX, NULL, "N", "", NULL},
    {"--timeout-ms", NULL, FLING_OPT_UINT, FIELD (timeout_ms), 0, 1, 600000, NULL, "N", "", NULL},
    {"--prefix", NULL, FLING_OPT_TEXT, FIELD (prefix), 0, 0, 16, NULL, "HEX", "", NULL},
    {"--name", NULL, FLING_OPT_TEXT, FIELD (name), 0, 0, FLING_NAME_MAX, NULL, "NAME", "", NULL},
    {"--op", NULL, FLING_OPT_TEXT, FIELD (op), 0, 0, 0, NULL, "JSON", "", NULL},
    {"--deaf", NULL, FLING_OPT_FLAG, FIELD (deaf), 0, 0, 0, NULL, NULL, "", NULL},
    {"--ping", NULL, FLING_OPT_FLAG, FIELD (ping), 0, 0, 0, NULL, NULL, "", NULL},
    {"--take", NULL, FLING_OPT_FLAG, FIELD (take), 0, 0, 0, NULL, NULL, "", NULL},
    {"--no-read", NULL, FLING_OPT_FLAG, FIELD (no_read), 0, 0, 0, NULL, NULL, "", NULL},
    {"--stop-on-silence", NULL, FLING_OPT_FLAG, FIELD (stop_on_silence), 0, 0, 0, NULL, NULL, "",
     NULL},
};

int attack_options (attack_t *a, int argc, char **argv, const char **action)
{
    memset (a, 0, sizeof *a);
    a->count = 1000;
    a->capacity = 1000;
    a->timeout_ms = 3000;
    const char *positional[1];
    fling_options_t spec = {.program = "fling-attack",
                            .options = options,
                            .count = sizeof options / sizeof options[0],
                            .positional = positional,
                            .positional_max = 1};
    char error[512];
    int rc = fling_options_parse (&spec, a, argc, argv, error, sizeof error);
    if (rc == 1) {
        printf ("usage: fling-attack ACTION --endpoint EP [options] (see fling_attack.c)\n");
        return 0;
    }
    if (rc < 0 || spec.positional_count != 1 || !a->endpoint) {
        fprintf (stderr, "fling-attack: %s\n", rc < 0 ? error : "need ACTION and --endpoint");
        return 2;
    }
    *action = positional[0];
    return -1;
}
