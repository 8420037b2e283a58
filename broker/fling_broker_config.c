/*  fling_broker_config.c - see fling_broker_config.h. */
#include "fling_broker_config.h"
#include "fling_store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    OPT_ENDPOINT,
    OPT_STORE,
    OPT_PATH,
    OPT_QUEUE,
    OPT_U64,
    OPT_UINT,
    OPT_LEVEL,
    OPT_FD,
    OPT_BOOL /* a flag without a value; env 1/true/yes or 0/false/no */
} opt_type_t;

typedef struct {
    const char *flag;
    const char *env; /* NULL: flag only */
    opt_type_t type;
    size_t offset;
    uint64_t min, max; /* for numbers */
    const char *help;
} option_t;

#define FIELD(name) offsetof (fling_broker_config_t, name)

static const option_t options[] = {
    {"--producer-endpoint", "FLING_PRODUCER_ENDPOINT", OPT_ENDPOINT, FIELD (producer_endpoint), 0,
     0, "where producers connect (default tcp://127.0.0.1:5555)"},
    {"--worker-endpoint", "FLING_WORKER_ENDPOINT", OPT_ENDPOINT, FIELD (worker_endpoint), 0, 0,
     "where workers connect (default tcp://127.0.0.1:5556)"},
    {"--store", "FLING_STORE", OPT_STORE, FIELD (store), 0, 0,
     "task store: disk (default: survives restarts) or memory (nothing survives)"},
    {"--store-dir", "FLING_STORE_DIR", OPT_PATH, FIELD (store_dir), 0, 0,
     "directory of the disk store (default ./fling-store)"},
    {"--store-max-bytes", "FLING_STORE_MAX_BYTES", OPT_U64, FIELD (store_max_bytes), 0,
     UINT64_MAX, "cap on the disk store's files; 0 = no cap but the disk (default 0)"},
    {"--store-free-floor-bytes", "FLING_STORE_FREE_FLOOR_BYTES", OPT_U64,
     FIELD (store_free_floor_bytes), 0, UINT64_MAX,
     "refuse new tasks (STORE_FULL) when the disk has less free (default 268435456)"},
    {"--segment-bytes", "FLING_SEGMENT_BYTES", OPT_U64, FIELD (segment_bytes), 65536,
     UINT32_MAX, "size of one store log segment (default 67108864)"},
    {"--max-tasks", "FLING_MAX_TASKS", OPT_U64, FIELD (max_tasks), 1, UINT64_MAX,
     "tasks held (queued, delayed, in flight, dead), all queues (default 1000000)"},
    {"--max-queue-tasks", "FLING_MAX_QUEUE_TASKS", OPT_U64, FIELD (max_queue_tasks), 1, UINT64_MAX,
     "tasks held in one queue, dead ones included (default 1000000)"},
    {"--max-bytes", "FLING_MAX_BYTES", OPT_U64, FIELD (max_bytes), 1, UINT64_MAX,
     "task record bytes held, dead ones included (default 1073741824)"},
    {"--max-attempts", "FLING_MAX_ATTEMPTS", OPT_UINT, FIELD (max_attempts), 1, UINT16_MAX,
     "runs of a task whose record says 0 (default 3)"},
    {"--backoff-ms", "FLING_BACKOFF_MS", OPT_UINT, FIELD (backoff_ms), 0, 1u << 30,
     "first retry delay; doubles each attempt, +-20% jitter (default 1000)"},
    {"--backoff-max-ms", "FLING_BACKOFF_MAX_MS", OPT_UINT, FIELD (backoff_max_ms), 0, 1u << 30,
     "cap of the retry delay (default 60000)"},
    {"--task-timeout-ms", "FLING_TASK_TIMEOUT_MS", OPT_UINT, FIELD (task_timeout_ms), 0,
     1u << 30, "run time allowed to a task whose record says 0; 0 = none (default 300000)"},
    {"--poison-limit", "FLING_POISON_LIMIT", OPT_UINT, FIELD (poison_limit), 1, 255,
     "worker deaths while running a task before it is dead-lettered (default 3)"},
    {"--queue", "FLING_QUEUES", OPT_QUEUE, 0, 0, 0,
     "per-name settings, repeatable: NAME:max_attempts=N,backoff_ms=N,timeout_ms=N,"
     "poison_limit=N (env: ';'-separated)"},
    {"--dedup-window-ms", "FLING_DEDUP_WINDOW_MS", OPT_U64, FIELD (dedup_window_ms), 0,
     1ull << 40, "a resent id is DUPLICATE this long after its task ended (default 600000)"},
    {"--dedup-max", "FLING_DEDUP_MAX", OPT_U64, FIELD (dedup_max), 0, 100000000,
     "ended ids remembered at most, oldest forgotten first (default 200000)"},
    {"--heartbeat-ms", "FLING_HEARTBEAT_MS", OPT_UINT, FIELD (heartbeat_ms), 2, 3600000,
     "heartbeat interval (default 1000)"},
    {"--worker-timeout-ms", "FLING_WORKER_TIMEOUT_MS", OPT_UINT, FIELD (worker_timeout_ms), 1,
     86400000, "silence after which a worker is dead (default 3000)"},
    {"--curve-key", "FLING_CURVE_KEY", OPT_PATH, FIELD (curve_key), 0, 0,
     "CURVE on: the broker's secret key file (fling keygen --role broker)"},
    {"--curve-allowed", "FLING_CURVE_ALLOWED", OPT_PATH, FIELD (curve_allowed), 0, 0,
     "CURVE: directory of the public certificates (NAME.pub) of allowed clients"},
    {"--curve-rescan-ms", "FLING_CURVE_RESCAN_MS", OPT_UINT, FIELD (curve_rescan_ms), 100,
     3600000, "CURVE: re-read the allowed directory this often, also on SIGHUP (default 10000)"},
    {"--insecure-bind", "FLING_INSECURE_BIND", OPT_BOOL, FIELD (insecure_bind), 0, 0,
     "CURVE off: allow endpoints other than loopback (anyone who reaches them is trusted)"},
    {"--max-connections", "FLING_MAX_CONNECTIONS", OPT_U64, FIELD (max_connections), 0, 1000000,
     "connections held, both sockets; 0 = the fd limit less 128, at most 10000 (default 0)"},
    {"--max-key-connections", "FLING_MAX_KEY_CONNECTIONS", OPT_U64, FIELD (max_key_connections),
     1, 1000000, "connections per key (CURVE) or per client address (default 256)"},
    {"--idle-timeout-ms", "FLING_IDLE_TIMEOUT_MS", OPT_UINT, FIELD (idle_timeout_ms), 0,
     86400000, "close a connection that sends nothing this long; 0 = never (default 60000)"},
    {"--log-level", "FLING_LOG_LEVEL", OPT_LEVEL, FIELD (log_level), 0, 0,
     "debug, info, warn or error (default info)"},
    {"--ready-fd", NULL, OPT_FD, FIELD (ready_fd), 0, INT_MAX,
     "once listening, write \"ready producer=E worker=E\\n\" to this fd and close it"},
};

#define OPTION_COUNT (sizeof options / sizeof options[0])

void fling_broker_config_init (fling_broker_config_t *config)
{
    memset (config, 0, sizeof *config);
    strcpy (config->producer_endpoint, "tcp://127.0.0.1:5555");
    strcpy (config->worker_endpoint, "tcp://127.0.0.1:5556");
    strcpy (config->store, "disk");
    strcpy (config->store_dir, "./fling-store");
    config->store_free_floor_bytes = 256u << 20;
    config->segment_bytes = 64u << 20;
    config->max_tasks = 1000000;
    config->max_queue_tasks = 1000000;
    config->max_bytes = 1073741824;
    config->max_attempts = 3;
    config->backoff_ms = 1000;
    config->backoff_max_ms = 60000;
    config->task_timeout_ms = 300000;
    config->poison_limit = 3;
    config->dedup_window_ms = 600000;
    config->dedup_max = 200000;
    config->heartbeat_ms = 1000;
    config->worker_timeout_ms = 3000;
    config->log_level = FLING_LOG_INFO;
    config->ready_fd = -1;
    config->curve_rescan_ms = 10000;
    config->max_key_connections = 256;
    config->idle_timeout_ms = 60000;
}

static int parse_number (const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!*text || *text == '-' || *text == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno || *end || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

/* One "NAME:key=value,..." entry (`size` bytes of `text`). */
static int parse_queue (fling_broker_config_t *config, const char *text, size_t size)
{
    const char *colon = memchr (text, ':', size);
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof config->queues[0].name ||
        config->queue_count >= FLING_QUEUE_SETTINGS_MAX)
        return -1;
    fling_queue_config_t entry;
    memset (&entry, 0, sizeof entry);
    memcpy (entry.name, text, (size_t)(colon - text));
    if (!fling_name_valid (entry.name, strlen (entry.name)))
        return -1;
    const char *p = colon + 1, *end = text + size;
    while (p < end) {
        const char *comma = memchr (p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *eq = memchr (p, '=', (size_t)(stop - p));
        char number[24];
        if (!eq || (size_t)(stop - eq - 1) >= sizeof number)
            return -1;
        memcpy (number, eq + 1, (size_t)(stop - eq - 1));
        number[stop - eq - 1] = '\0';
        static const struct {
            const char *key;
            unsigned bit;
            uint64_t max;
        } keys[] = {{"max_attempts", 1, UINT16_MAX},
                    {"backoff_ms", 2, 1u << 30},
                    {"timeout_ms", 4, 1u << 30},
                    {"poison_limit", 8, 255}};
        size_t k = 0, key_size = (size_t)(eq - p);
        while (k < 4 && !(strlen (keys[k].key) == key_size && memcmp (keys[k].key, p, key_size) == 0))
            k++;
        uint64_t value;
        if (k == 4 || parse_number (number, 0, keys[k].max, &value))
            return -1;
        unsigned *fields[] = {&entry.max_attempts, &entry.backoff_ms, &entry.timeout_ms,
                              &entry.poison_limit};
        *fields[k] = (unsigned)value;
        entry.set |= keys[k].bit;
        p = comma ? comma + 1 : end;
    }
    config->queues[config->queue_count++] = entry;
    return 0;
}

static int parse_queues (fling_broker_config_t *config, const char *value)
{
    const char *p = value;
    while (*p) {
        const char *semi = strchr (p, ';');
        size_t size = semi ? (size_t)(semi - p) : strlen (p);
        if (size && parse_queue (config, p, size))
            return -1;
        p += size + (semi ? 1 : 0);
    }
    return 0;
}

/* Stores `value` into the option's field; -1 with a message if it is bad. */
static int apply (fling_broker_config_t *config, const option_t *option, const char *source,
                  const char *value, char *error, size_t error_size)
{
    char *field = (char *)config + option->offset;
    uint64_t number = 0;
    int level;
    switch (option->type) {
    case OPT_ENDPOINT:
        if (!*value || strlen (value) >= FLING_ENDPOINT_MAX)
            break;
        strcpy (field, value);
        return 0;
    case OPT_STORE:
        if (!fling_store_kind_valid (value)) {
            snprintf (error, error_size, "%s: unknown store \"%s\" (this build has: disk, memory)",
                      source, value);
            return -1;
        }
        strcpy (field, value);
        return 0;
    case OPT_PATH:
        if (!*value || strlen (value) >= FLING_STORE_DIR_MAX)
            break;
        strcpy (field, value);
        return 0;
    case OPT_QUEUE:
        if (parse_queues (config, value)) {
            snprintf (error, error_size,
                      "%s: bad value \"%s\" (NAME:max_attempts=N,backoff_ms=N,timeout_ms=N,"
                      "poison_limit=N; at most %d names)",
                      source, value, FLING_QUEUE_SETTINGS_MAX);
            return -1;
        }
        return 0;
    case OPT_U64:
        if (parse_number (value, option->min, option->max, &number))
            break;
        *(uint64_t *)field = number;
        return 0;
    case OPT_UINT:
    case OPT_FD:
        if (parse_number (value, option->min, option->max, &number))
            break;
        if (option->type == OPT_FD)
            *(int *)field = (int)number;
        else
            *(unsigned *)field = (unsigned)number;
        return 0;
    case OPT_LEVEL:
        if ((level = fling_log_level_parse (value)) < 0)
            break;
        *(fling_log_level_t *)field = (fling_log_level_t)level;
        return 0;
    case OPT_BOOL:
        if (!strcmp (value, "1") || !strcmp (value, "true") || !strcmp (value, "yes"))
            *(int *)field = 1;
        else if (!strcmp (value, "0") || !strcmp (value, "false") || !strcmp (value, "no"))
            *(int *)field = 0;
        else
            break;
        return 0;
    }
    if (option->type == OPT_U64 || option->type == OPT_UINT || option->type == OPT_FD)
        snprintf (error, error_size, "%s: \"%s\" is not a number from %" PRIu64 " to %" PRIu64,
                  source, value, option->min, option->max);
    else
        snprintf (error, error_size, "%s: bad value \"%s\"", source, value);
    return -1;
}

static const option_t *find_flag (const char *arg, size_t length)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (strlen (options[i].flag) == length && strncmp (options[i].flag, arg, length) == 0)
            return &options[i];
    return NULL;
}

static int load_env (fling_broker_config_t *config, char *error, size_t error_size)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const char *value = options[i].env ? getenv (options[i].env) : NULL;
        if (value && *value &&
            apply (config, &options[i], options[i].env, value, error, error_size))
            return -1;
    }
    return 0;
}

static int load_flags (fling_broker_config_t *config, int argc, char *const argv[], char *error,
                       size_t error_size)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *equals = strchr (arg, '=');
        size_t length = equals ? (size_t)(equals - arg) : strlen (arg);
        const option_t *option = find_flag (arg, length);
        if (!option) {
            snprintf (error, error_size, "unknown option \"%s\" (try --help)", arg);
            return -1;
        }
        const char *value = equals                       ? equals + 1
                            : option->type == OPT_BOOL ? "1"
                            : i + 1 < argc             ? argv[++i]
                                                       : NULL;
        if (!value) {
            snprintf (error, error_size, "%s needs a value", option->flag);
            return -1;
        }
        if (apply (config, option, option->flag, value, error, error_size))
            return -1;
    }
    return 0;
}

int fling_broker_config_load (fling_broker_config_t *config, int argc, char *const argv[],
                              char *error, size_t error_size)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
            return 1;
    if (load_env (config, error, error_size) || load_flags (config, argc, argv, error, error_size))
        return -1;
    if (config->curve_key[0] && !config->curve_allowed[0]) {
        snprintf (error, error_size, "--curve-key needs --curve-allowed (the directory of the "
                                     "clients' public certificates)");
        return -1;
    }
    if (config->curve_allowed[0] && !config->curve_key[0]) {
        snprintf (error, error_size, "--curve-allowed needs --curve-key (the broker's secret key "
                                     "file)");
        return -1;
    }
    if (config->worker_timeout_ms < config->heartbeat_ms) {
        snprintf (error, error_size,
                  "worker timeout (%u ms) is shorter than the heartbeat interval (%u ms)",
                  config->worker_timeout_ms, config->heartbeat_ms);
        return -1;
    }
    return 0;
}

void fling_broker_config_usage (FILE *out, const char *program)
{
    fprintf (out, "Usage: %s [OPTION VALUE]...\n", program);
    fprintf (out, "The fling broker: holds background tasks from producers and hands them to "
                  "workers.\n\nOptions (a flag wins over its environment variable):\n");
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        fprintf (out, "  %-22s %s\n", options[i].flag, options[i].help);
        if (options[i].env)
            fprintf (out, "  %-22s   env %s\n", "", options[i].env);
    }
    fprintf (out, "  %-22s %s\n", "--help", "print this text and exit");
    fprintf (out, "  %-22s %s\n", "--check-store DIR", "replay a disk store read-only, print JSON"
                  " counts (add --ids to list live task ids) and exit");
    fprintf (out, "\nSIGINT or SIGTERM stops the broker: it refuses new tasks (UNAVAILABLE), commits "
                  "the store and exits 0; 1 if it cannot start.\n");
}

void fling_broker_config_log (const fling_broker_config_t *config)
{
    static const char *levels[] = {"debug", "info", "warn", "error"};
    fling_debug ("config producer_endpoint=%s worker_endpoint=%s store=%s",
                 config->producer_endpoint, config->worker_endpoint, config->store);
    fling_debug ("config max_tasks=%" PRIu64 " max_queue_tasks=%" PRIu64 " max_bytes=%" PRIu64
                 " max_attempts=%u",
                 config->max_tasks, config->max_queue_tasks, config->max_bytes,
                 config->max_attempts);
    fling_debug ("config store_dir=%s store_max_bytes=%" PRIu64 " store_free_floor_bytes=%" PRIu64
                 " segment_bytes=%" PRIu64,
                 config->store_dir, config->store_max_bytes, config->store_free_floor_bytes,
                 config->segment_bytes);
    fling_debug ("config backoff_ms=%u backoff_max_ms=%u task_timeout_ms=%u poison_limit=%u"
                 " dedup_window_ms=%" PRIu64 " dedup_max=%" PRIu64 " queue_settings=%zu",
                 config->backoff_ms, config->backoff_max_ms, config->task_timeout_ms,
                 config->poison_limit, config->dedup_window_ms, config->dedup_max,
                 config->queue_count);
    fling_debug ("config curve_key=%s curve_allowed=%s curve_rescan_ms=%u insecure_bind=%d"
                 " max_connections=%" PRIu64 " max_key_connections=%" PRIu64
                 " idle_timeout_ms=%u",
                 config->curve_key[0] ? config->curve_key : "(off)",
                 config->curve_allowed[0] ? config->curve_allowed : "-", config->curve_rescan_ms,
                 config->insecure_bind, config->max_connections, config->max_key_connections,
                 config->idle_timeout_ms);
    fling_debug ("config heartbeat_ms=%u worker_timeout_ms=%u log_level=%s ready_fd=%d",
                 config->heartbeat_ms, config->worker_timeout_ms, levels[config->log_level],
                 config->ready_fd);
}
