/*  fling_broker_config.h - every option of the broker, in one place.

    Each option has a flag and (except --ready-fd) an environment variable;
    the flag wins over the variable, the variable over the default. Both
    "--flag value" and "--flag=value" work. fling_broker_config_usage()
    prints the list; keep it and the README in step.
*/
#ifndef FLING_BROKER_CONFIG_H_INCLUDED
#define FLING_BROKER_CONFIG_H_INCLUDED

#include "fling_log.h"

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLING_ENDPOINT_MAX 256

typedef struct {
    char producer_endpoint[FLING_ENDPOINT_MAX]; /* tcp://127.0.0.1:5555 */
    char worker_endpoint[FLING_ENDPOINT_MAX];   /* tcp://127.0.0.1:5556 */
    char store[16];                             /* "memory" */
    uint64_t max_tasks;                         /* queued + in flight, all queues */
    uint64_t max_queue_tasks;                   /* queued + in flight, one queue */
    uint64_t max_bytes;                         /* record bytes held */
    unsigned max_attempts;                      /* per task when its record says 0 */
    unsigned heartbeat_ms;
    unsigned worker_timeout_ms; /* silence after which a worker is dead */
    fling_log_level_t log_level;
    int ready_fd; /* -1 = none */
} fling_broker_config_t;

/*  Fills `config` with the defaults. */
void fling_broker_config_init (fling_broker_config_t *config);

/*  Applies the environment, then the flags in argv[1..argc-1], to `config`
    (which holds the defaults). Returns 0; 1 if --help was given (nothing
    else is checked); -1 on a bad flag or value, with a readable message in
    `error`. */
int fling_broker_config_load (fling_broker_config_t *config, int argc, char *const argv[],
                              char *error, size_t error_size);

/*  Prints the --help text. */
void fling_broker_config_usage (FILE *out, const char *program);

/*  Logs every option at DEBUG level. */
void fling_broker_config_log (const fling_broker_config_t *config);

#ifdef __cplusplus
}
#endif

#endif
