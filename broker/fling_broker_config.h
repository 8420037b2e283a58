/*  fling_broker_config.h - every option of the broker, in one place.

    Each option has a flag and (except --ready-fd) an environment variable;
    the flag wins over the variable, the variable over the default. Both
    "--flag value" and "--flag=value" work. The table in the .c file and
    the shared parser (common/fling_options.h) do the work. Each default
    is written once, in fling_broker_config_init() (the store's in
    fling_store_options_init()), and --help prints them from there; the
    field comments below do not repeat them. tests/integration/
    test_config.py checks the README's table against --help.
*/
#ifndef FLING_BROKER_CONFIG_H_INCLUDED
#define FLING_BROKER_CONFIG_H_INCLUDED

#include "fling_log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLING_ENDPOINT_MAX       256
#define FLING_STORE_DIR_MAX      1024
#define FLING_QUEUE_SETTINGS_MAX 64  /* --queue entries */
#define FLING_ALLOW_NAMES_MAX    256 /* --allow-name entries */
#define FLING_HTTP_ADDR_MAX      300
#define FLING_RATE_MAX           1000000 /* --queue rate=N/..., burst=N */

/*  --queue NAME:max_attempts=5,backoff_ms=200,timeout_ms=1000,poison_limit=2
    (a key left out keeps the broker's default; 0 = that default too), and
    a rate limit: rate=100/s (or /m),burst=20 (burst: the rate's count). */
typedef struct {
    char name[128];
    unsigned max_attempts;
    unsigned backoff_ms;
    unsigned timeout_ms;
    unsigned poison_limit;
    unsigned rate; /* tokens per rate_period_ms */
    unsigned rate_period_ms;
    unsigned burst;
    unsigned set; /* bit per key given: 1 max_attempts, 2 backoff, 4 timeout, 8 poison,
                     16 rate, 32 burst */
} fling_queue_config_t;

typedef struct {
    char producer_endpoint[FLING_ENDPOINT_MAX];
    char worker_endpoint[FLING_ENDPOINT_MAX];
    char store[16]; /* "disk" or "memory" */
    char store_dir[FLING_STORE_DIR_MAX];
    uint64_t store_max_bytes; /* 0 = no cap but the disk */
    uint64_t store_free_floor_bytes;
    uint64_t segment_bytes;
    uint64_t max_tasks;       /* queued, delayed, in flight, dead: all queues */
    uint64_t max_queue_tasks; /* the same, one queue */
    uint64_t max_bytes;       /* record bytes held */
    unsigned max_attempts;    /* per task when its record says 0 */
    unsigned backoff_ms;      /* first retry delay */
    unsigned backoff_max_ms;  /* cap of the exponential backoff */
    unsigned task_timeout_ms; /* per task when its record says 0 */
    unsigned poison_limit;    /* worker deaths before dead-lettering */
    unsigned priority_age_ms; /* a waiting task's priority grows by one this often */
    uint64_t dedup_window_ms; /* ended ids remembered this long */
    uint64_t dedup_max;       /* at most this many */
    fling_queue_config_t queues[FLING_QUEUE_SETTINGS_MAX];
    size_t queue_count;
    unsigned heartbeat_ms;
    unsigned worker_timeout_ms; /* silence after which a worker is dead */
    /* Security (SECURITY.md). CURVE is on when curve_key is set. */
    char curve_key[FLING_STORE_DIR_MAX];     /* the broker's NAME.secret file */
    char curve_allowed[FLING_STORE_DIR_MAX]; /* directory of allowed NAME.pub files */
    unsigned curve_rescan_ms;                /* re-read the allowed directory this often */
    bool insecure_bind;                      /* CURVE off: allow non-loopback endpoints */
    uint64_t max_connections;                /* both sockets; 0 = from the fd limit */
    uint64_t max_key_connections;            /* per key (CURVE) or client address */
    unsigned idle_timeout_ms;                /* close a connection silent this long; 0 = never */
    uint64_t max_names;                      /* task names held (queues) */
    unsigned max_worker_names;               /* names one worker may register */
    unsigned max_worker_credit;              /* tasks a worker may hold, per class */
    uint64_t max_producer_tasks;             /* CURVE: tasks one producer key holds; 0 = half */
    uint64_t max_producer_bytes;             /* CURVE: bytes one producer key holds; 0 = half */
    uint64_t max_producer_names; /* CURVE: names one producer key holds tasks in; 0 = half */
    fling_log_level_t log_level;
    int log_format; /* fling_log_format_t: text, logfmt, json */
    int ready_fd;   /* -1 = none */
    /* operability (fling_ops.c) */
    char http_addr[FLING_HTTP_ADDR_MAX]; /* "" = no HTTP port */
    unsigned orphan_warn_ms;             /* WARN per name with queued tasks and no worker */
    bool refuse_unknown_names;           /* BAD_TASK for names no worker registered... */
    char allow_names[FLING_ALLOW_NAMES_MAX][128]; /* ...unless listed here */
    size_t allow_name_count;
    char schedules_file[FLING_STORE_DIR_MAX]; /* --schedules: read at start; "" = none */
    uint64_t max_schedules;                   /* periodic schedules held */
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
