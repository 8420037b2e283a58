/*  fling_load.h - fling-load's configuration, parsed from its command line
    by fling_load_options.c and run by fling_load.c.
*/
#ifndef FLING_LOAD_H_INCLUDED
#define FLING_LOAD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fling_producer.h"
#include "fling_proto.h"

typedef struct {
    const char *endpoint;
    uint64_t count;
    char *names_text; /* the --name list, split in place */
    const char *names[FLING_NAMES_MAX];
    size_t name_count;
    unsigned ms;
    uint64_t payload_bytes;
    const char *payload_extra; /* JSON members added to every payload, or NULL */
    /* --delay-ms / --spread-ms: task SEQ is due at start + delay + spread *
       SEQ / count (UTC, sent as a due-at), its payload says when ("due"). */
    unsigned delay_ms, spread_ms;
    double rate;
    unsigned threads;
    const char *ledger_path;
    bool progress, latency, json_summary, version;
    unsigned flush_timeout_ms;
    uint64_t outbox_max;
    fling_overflow_t overflow;
    const char *curve_broker_key; /* NULL = the producer's default ($FLING_CURVE_BROKER_KEY) */
    const char *curve_key;        /* NULL = the producer's default ($FLING_CURVE_KEY) */
} fling_load_config_t;

/*  Fills `cfg` from the command line. Returns -1 to go on and run, or the
    exit code to leave with at once (0 after --help/--version, 2 for a usage
    error, already reported on stderr). */
int fling_load_parse_args (fling_load_config_t *cfg, int argc, char **argv);

/*  Frees what parsing allocated. */
void fling_load_config_fini (fling_load_config_t *cfg);

#endif
