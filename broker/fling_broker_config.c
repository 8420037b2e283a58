/*  fling_broker_config.c - see fling_broker_config.h. */
#include "fling_broker_config.h"
#include "fling_http.h"
#include "fling_logfmt.h"
#include "fling_options.h"
#include "fling_store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The parsers of the two options with a syntax of their own. */
static int parse_store (void *config, const char *value, bool from_env, char *why, size_t why_size);
static int parse_queues (void *config, const char *value, bool from_env, char *why,
                         size_t why_size);
static int parse_http_addr (void *config, const char *value, bool from_env, char *why,
                            size_t why_size);
static int parse_allow_names (void *config, const char *value, bool from_env, char *why,
                              size_t why_size);
static int parse_log_format (void *config, const char *value, bool from_env, char *why,
                             size_t why_size);

/* The defaults that --help shows as text (their options parse a syntax
   of their own, so the help cannot print the field): used by the table
   and by fling_broker_config_init alike, so each is written once. */
#define DEFAULT_STORE     "disk"
#define DEFAULT_HTTP_ADDR "127.0.0.1:5557"

#define FIELD(name) offsetof (fling_broker_config_t, name)
#define TEXT(name)  FIELD (name), sizeof ((fling_broker_config_t *)0)->name

/* Every option, once: flag, env, type, field, bounds, help. The defaults
   are in fling_broker_config_init(); --help prints them from there. */
static const fling_option_t options[] = {
    {"--producer-endpoint", "FLING_PRODUCER_ENDPOINT", FLING_OPT_ENDPOINT, TEXT (producer_endpoint),
     0, 0, NULL, "URL", "where producers connect", NULL},
    {"--worker-endpoint", "FLING_WORKER_ENDPOINT", FLING_OPT_ENDPOINT, TEXT (worker_endpoint), 0, 0,
     NULL, "URL", "where workers connect", NULL},
    {"--store", "FLING_STORE", FLING_OPT_CUSTOM, FIELD (store), 0, 0, 0, parse_store, "KIND",
     "task store: disk (survives restarts) or memory (nothing survives)", DEFAULT_STORE},
    {"--store-dir", "FLING_STORE_DIR", FLING_OPT_TEXT, TEXT (store_dir), 0, 0, NULL, "DIR",
     "directory of the disk store", NULL},
    {"--store-max-bytes", "FLING_STORE_MAX_BYTES", FLING_OPT_U64, FIELD (store_max_bytes), 0, 0,
     UINT64_MAX, NULL, "N", "cap on the disk store's files; 0 = no cap but the disk", NULL},
    {"--store-free-floor-bytes", "FLING_STORE_FREE_FLOOR_BYTES", FLING_OPT_U64,
     FIELD (store_free_floor_bytes), 0, 0, UINT64_MAX, NULL, "N",
     "refuse new tasks (STORE_FULL) when the disk has less free", NULL},
    {"--segment-bytes", "FLING_SEGMENT_BYTES", FLING_OPT_U64, FIELD (segment_bytes), 0, 65536,
     UINT32_MAX, NULL, "N", "size of one store log segment", NULL},
    {"--max-tasks", "FLING_MAX_TASKS", FLING_OPT_U64, FIELD (max_tasks), 0, 1, UINT64_MAX, NULL,
     "N", "tasks held (queued, delayed, in flight, dead), all queues", NULL},
    {"--max-queue-tasks", "FLING_MAX_QUEUE_TASKS", FLING_OPT_U64, FIELD (max_queue_tasks), 0, 1,
     UINT64_MAX, NULL, "N", "tasks held in one queue, dead ones included", NULL},
    {"--max-bytes", "FLING_MAX_BYTES", FLING_OPT_U64, FIELD (max_bytes), 0, 1, UINT64_MAX, NULL,
     "N", "task record bytes held, dead ones included", NULL},
    {"--max-attempts", "FLING_MAX_ATTEMPTS", FLING_OPT_UINT, FIELD (max_attempts), 0, 1, UINT16_MAX,
     NULL, "N", "runs of a task whose record says 0", NULL},
    {"--backoff-ms", "FLING_BACKOFF_MS", FLING_OPT_UINT, FIELD (backoff_ms), 0, 0, 1u << 30, NULL,
     "N", "first retry delay; doubles each attempt, +-20% jitter", NULL},
    {"--backoff-max-ms", "FLING_BACKOFF_MAX_MS", FLING_OPT_UINT, FIELD (backoff_max_ms), 0, 0,
     1u << 30, NULL, "N", "cap of the retry delay", NULL},
    {"--task-timeout-ms", "FLING_TASK_TIMEOUT_MS", FLING_OPT_UINT, FIELD (task_timeout_ms), 0, 0,
     1u << 30, NULL, "N", "run time allowed to a task whose record says 0; 0 = none", NULL},
    {"--poison-limit", "FLING_POISON_LIMIT", FLING_OPT_UINT, FIELD (poison_limit), 0, 1, 255, NULL,
     "N", "crashes charged to a task (a worker died holding it alone)\nbefore it is dead-lettered",
     NULL},
    {"--priority-age-ms", "FLING_PRIORITY_AGE_MS", FLING_OPT_UINT, FIELD (priority_age_ms), 0, 1,
     86400000, NULL, "N",
     "a waiting task's priority grows by one each N ms it waits (at most\nto 9), so none starves",
     NULL},
    {"--queue", "FLING_QUEUES", FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_queues, "NAME:KEY=N,...",
     "per-name settings, repeatable; keys max_attempts, backoff_ms,\n"
     "timeout_ms, poison_limit, rate (N/s or N/m: a rate limit), burst\n"
     "(env: entries separated by ';')",
     ""},
    {"--dedup-window-ms", "FLING_DEDUP_WINDOW_MS", FLING_OPT_U64, FIELD (dedup_window_ms), 0, 0,
     1ull << 40, NULL, "N", "a resent id is DUPLICATE this long after its task ended", NULL},
    {"--dedup-max", "FLING_DEDUP_MAX", FLING_OPT_U64, FIELD (dedup_max), 0, 0, 100000000, NULL, "N",
     "ended ids remembered at most, oldest forgotten first", NULL},
    {"--heartbeat-ms", "FLING_HEARTBEAT_MS", FLING_OPT_UINT, FIELD (heartbeat_ms), 0, 2, 3600000,
     NULL, "N", "heartbeat interval", NULL},
    {"--worker-timeout-ms", "FLING_WORKER_TIMEOUT_MS", FLING_OPT_UINT, FIELD (worker_timeout_ms), 0,
     1, 86400000, NULL, "N", "silence after which a worker is dead", NULL},
    {"--curve-key", "FLING_CURVE_KEY", FLING_OPT_TEXT, TEXT (curve_key), 0, 0, NULL, "FILE",
     "CURVE on: the broker's secret key file (fling keygen --role broker);\n"
     "needs --curve-allowed",
     "off"},
    {"--curve-allowed", "FLING_CURVE_ALLOWED", FLING_OPT_TEXT, TEXT (curve_allowed), 0, 0, NULL,
     "DIR",
     "CURVE: directory of the allowed clients' public certificates\n(NAME.pub, with their role)",
     ""},
    {"--curve-rescan-ms", "FLING_CURVE_RESCAN_MS", FLING_OPT_UINT, FIELD (curve_rescan_ms), 0, 100,
     3600000, NULL, "N", "CURVE: read the allowed directory again this often (and on SIGHUP)",
     NULL},
    {"--insecure-bind", "FLING_INSECURE_BIND", FLING_OPT_FLAG, FIELD (insecure_bind), 0, 0, 0, NULL,
     NULL,
     "CURVE off: allow endpoints other than loopback (anyone who reaches\nthem may submit or take "
     "tasks)",
     ""},
    {"--max-connections", "FLING_MAX_CONNECTIONS", FLING_OPT_U64, FIELD (max_connections), 0, 0,
     1000000, NULL, "N",
     "connections held, both endpoints; 0 = the fd limit less 128, at most 10000", NULL},
    {"--max-key-connections", "FLING_MAX_KEY_CONNECTIONS", FLING_OPT_U64,
     FIELD (max_key_connections), 0, 1, 1000000, NULL, "N",
     "connections per key (CURVE) or per client address", NULL},
    {"--idle-timeout-ms", "FLING_IDLE_TIMEOUT_MS", FLING_OPT_UINT, FIELD (idle_timeout_ms), 0, 0,
     86400000, NULL, "N", "close a connection that sends nothing this long; 0 = never", NULL},
    {"--max-names", "FLING_MAX_NAMES", FLING_OPT_U64, FIELD (max_names), 0, 16, 10000000, NULL, "N",
     "task names held at once; a worker may add names only while\nthree quarters are free "
     "of workers' names",
     NULL},
    {"--max-worker-names", "FLING_MAX_WORKER_NAMES", FLING_OPT_UINT, FIELD (max_worker_names), 0, 1,
     FLING_NAMES_MAX, NULL, "N", "task names one worker may register", NULL},
    {"--max-worker-credit", "FLING_MAX_WORKER_CREDIT", FLING_OPT_UINT, FIELD (max_worker_credit), 0,
     1, 10000000, NULL, "N", "tasks one worker may hold per class, whatever it asks for", NULL},
    {"--max-producer-tasks", "FLING_MAX_PRODUCER_TASKS", FLING_OPT_U64, FIELD (max_producer_tasks),
     0, 0, UINT64_MAX, NULL, "N", "CURVE: tasks one producer key may hold; 0 = half of --max-tasks",
     NULL},
    {"--max-producer-bytes", "FLING_MAX_PRODUCER_BYTES", FLING_OPT_U64, FIELD (max_producer_bytes),
     0, 0, UINT64_MAX, NULL, "N",
     "CURVE: task bytes one producer key may hold; 0 = half of --max-bytes", NULL},
    {"--max-producer-names", "FLING_MAX_PRODUCER_NAMES", FLING_OPT_U64, FIELD (max_producer_names),
     0, 0, UINT64_MAX, NULL, "N",
     "CURVE: task names one producer key may hold tasks under; 0 = half\nof --max-names", NULL},
    {"--log-level", "FLING_LOG_LEVEL", FLING_OPT_LEVEL, FIELD (log_level), 0, 0, 0, NULL, "LEVEL",
     "debug, info, warn or error", NULL},
    {"--log-format", "FLING_LOG_FORMAT", FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_log_format, "FORMAT",
     "text (for people), logfmt or json (one object a line)", "text"},
    {"--ready-fd", NULL, FLING_OPT_FD, FIELD (ready_fd), 0, 0, INT_MAX, NULL, "FD",
     "once listening, write \"ready producer=E worker=E http=ADDR\\n\" to this open\nfd and "
     "close it (http= only with an HTTP port)",
     ""},
    {"--http-addr", "FLING_HTTP_ADDR", FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_http_addr, "HOST:PORT",
     "HTTP port: /metrics (Prometheus), the dashboard and its JSON;\n"
     "\"\" = none; port 0 = any free port",
     DEFAULT_HTTP_ADDR},
    {"--orphan-warn-ms", "FLING_ORPHAN_WARN_MS", FLING_OPT_UINT, FIELD (orphan_warn_ms), 0, 1000,
     86400000, NULL, "N",
     "a name with queued tasks and no worker is logged (WARN) when\nfound, then at most this "
     "often",
     NULL},
    {"--refuse-unknown-names", "FLING_REFUSE_UNKNOWN_NAMES", FLING_OPT_FLAG,
     FIELD (refuse_unknown_names), 0, 0, 0, NULL, NULL,
     "refuse (BAD_TASK) a task whose name no worker registered since\nthe start and "
     "--allow-name does not list",
     ""},
    {"--allow-name", "FLING_ALLOW_NAMES", FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_allow_names, "NAME",
     "a name always accepted with --refuse-unknown-names; repeatable\n(env: comma-separated)", ""},
    {"--schedules", "FLING_SCHEDULES", FLING_OPT_TEXT, TEXT (schedules_file), 0, 0, NULL, "FILE",
     "periodic schedules to hold, one SCHEDULE JSON a line, read at start;\neach replaces "
     "a stored one of its name; a bad line stops the start",
     ""},
    {"--max-schedules", "FLING_MAX_SCHEDULES", FLING_OPT_U64, FIELD (max_schedules), 0, 0, 100000,
     NULL, "N", "periodic schedules held (schedule_add beyond it is refused)", NULL},
};

void fling_broker_config_init (fling_broker_config_t *config)
{
    memset (config, 0, sizeof *config);
    strcpy (config->producer_endpoint, "tcp://127.0.0.1:5555");
    strcpy (config->worker_endpoint, "tcp://127.0.0.1:5556");
    strcpy (config->store, DEFAULT_STORE);
    /* The disk store's own defaults (fling_store_options_init). */
    fling_store_options_t store;
    fling_store_options_init (&store);
    snprintf (config->store_dir, sizeof config->store_dir, "%s", store.dir);
    config->store_max_bytes = store.wal.max_bytes;
    config->store_free_floor_bytes = store.wal.free_floor_bytes;
    config->segment_bytes = store.wal.segment_bytes;
    config->max_tasks = 1000000;
    config->max_queue_tasks = 1000000;
    config->max_bytes = 1073741824;
    config->max_attempts = 3;
    config->backoff_ms = 1000;
    config->backoff_max_ms = 60000;
    config->task_timeout_ms = 300000;
    config->poison_limit = 3;
    config->priority_age_ms = 10000;
    config->dedup_window_ms = 600000;
    config->dedup_max = 200000;
    config->heartbeat_ms = 1000;
    config->worker_timeout_ms = 3000;
    config->log_level = FLING_LOG_INFO;
    config->ready_fd = -1;
    strcpy (config->http_addr, DEFAULT_HTTP_ADDR);
    config->orphan_warn_ms = 60000;
    config->curve_rescan_ms = 10000;
    config->max_key_connections = 256;
    config->idle_timeout_ms = 60000;
    config->max_names = 10000;
    config->max_worker_names = FLING_NAMES_MAX;
    config->max_worker_credit = 100000;
    config->max_schedules = 1000;
}

static int parse_http_addr (void *config, const char *value, bool from_env, char *why,
                            size_t why_size)
{
    fling_broker_config_t *broker = config;
    return fling_http_option (broker->http_addr, sizeof broker->http_addr, value, why, why_size);
}

static int parse_log_format (void *config, const char *value, bool from_env, char *why,
                             size_t why_size)
{
    return fling_log_format_option (&((fling_broker_config_t *)config)->log_format, value, why,
                                    why_size);
}

static int parse_allow_names (void *config, const char *value, bool from_env, char *why,
                              size_t why_size)
{
    fling_broker_config_t *broker = config;
    const char *p = value;
    while (*p) {
        const char *comma = from_env ? strchr (p, ',') : NULL;
        size_t size = comma ? (size_t)(comma - p) : strlen (p);
        if (size) {
            if (size >= sizeof broker->allow_names[0] || !fling_name_valid (p, size) ||
                broker->allow_name_count == FLING_ALLOW_NAMES_MAX) {
                snprintf (why, why_size,
                          "want task names (1-127 bytes of A-Za-z0-9._:-), at most %d",
                          FLING_ALLOW_NAMES_MAX);
                return -1;
            }
            memcpy (broker->allow_names[broker->allow_name_count], p, size);
            broker->allow_names[broker->allow_name_count++][size] = '\0';
        }
        p += size + (comma ? 1 : 0);
    }
    return 0;
}

/* The keys of a rate limit: rate=N/s or N/m (N/s when the unit is left
   out) and burst=N. 1 when `key` is neither, 0 when set, -1 when bad. */
static int parse_rate_key (fling_queue_config_t *entry, const char *key, size_t key_size,
                           char *value)
{
    bool rate = key_size == 4 && memcmp (key, "rate", 4) == 0;
    if (!rate && !(key_size == 5 && memcmp (key, "burst", 5) == 0))
        return 1;
    unsigned period = 1000;
    char *slash = strchr (value, '/');
    if (slash) {
        if (!rate || (strcmp (slash + 1, "s") != 0 && strcmp (slash + 1, "m") != 0))
            return -1;
        period = slash[1] == 's' ? 1000 : 60000;
        *slash = '\0';
    }
    uint64_t count;
    if (fling_number_parse (value, 1, FLING_RATE_MAX, &count))
        return -1;
    if (rate) {
        entry->rate = (unsigned)count;
        entry->rate_period_ms = period;
        entry->set |= 16;
    } else {
        entry->burst = (unsigned)count;
        entry->set |= 32;
    }
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
        int rate = parse_rate_key (&entry, p, (size_t)(eq - p), number);
        if (rate < 0)
            return -1;
        if (rate == 0) {
            p = comma ? comma + 1 : end;
            continue;
        }
        static const struct {
            const char *key;
            unsigned bit;
            uint64_t max;
        } keys[] = {{"max_attempts", 1, UINT16_MAX},
                    {"backoff_ms", 2, 1u << 30},
                    {"timeout_ms", 4, 1u << 30},
                    {"poison_limit", 8, 255}};
        size_t k = 0, key_size = (size_t)(eq - p);
        while (k < 4 &&
               !(strlen (keys[k].key) == key_size && memcmp (keys[k].key, p, key_size) == 0))
            k++;
        uint64_t value;
        if (k == 4 || fling_number_parse (number, 0, keys[k].max, &value))
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

static int parse_queues (void *config, const char *value, bool from_env, char *why, size_t why_size)
{
    /* One entry per flag; the environment holds a ';'-separated list. */
    const char *p = value;
    while (*p) {
        const char *semi = from_env ? strchr (p, ';') : NULL;
        size_t size = semi ? (size_t)(semi - p) : strlen (p);
        if (size && parse_queue (config, p, size)) {
            snprintf (why, why_size,
                      "want NAME:max_attempts=N,backoff_ms=N,timeout_ms=N,poison_limit=N,"
                      "rate=N/s|N/m,burst=N; at most %d names",
                      FLING_QUEUE_SETTINGS_MAX);
            return -1;
        }
        p += size + (semi ? 1 : 0);
    }
    return 0;
}

static int parse_store (void *config, const char *value, bool from_env, char *why, size_t why_size)
{
    fling_broker_config_t *broker = config;
    if (!fling_store_kind_valid (value) || strlen (value) >= sizeof broker->store) {
        snprintf (why, why_size, "unknown store (this build has: disk, memory)");
        return -1;
    }
    strcpy (broker->store, value);
    return 0;
}

static fling_options_t parser (void)
{
    return (fling_options_t){
        .program = "fling-broker", .options = options, .count = sizeof options / sizeof options[0]};
}

int fling_broker_config_load (fling_broker_config_t *config, int argc, char *const argv[],
                              char *error, size_t error_size)
{
    fling_options_t spec = parser ();
    int rc = fling_options_parse (&spec, config, argc, argv, error, error_size);
    if (rc)
        return rc;
    if (!config->curve_key[0] != !config->curve_allowed[0]) {
        snprintf (error, error_size,
                  "CURVE needs both --curve-key (the broker's secret key file) "
                  "and --curve-allowed (the directory of allowed clients)");
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
    fling_broker_config_t defaults;
    fling_broker_config_init (&defaults);
    fling_options_t spec = parser ();
    fling_options_usage (&spec, &defaults, out);
    fprintf (out, "  %-28s %s\n", "--check-store DIR [--ids]",
             "replay a disk store read-only, print JSON counts\n"
             "                               (--ids: list live task ids) and exit: 0 sound,\n"
             "                               2 damaged, 1 cannot check (a broker runs on it...)");
    fprintf (out,
             "\nSIGINT or SIGTERM stops the broker: it refuses new tasks (UNAVAILABLE), commits "
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
                 " max_connections=%" PRIu64 " max_key_connections=%" PRIu64 " idle_timeout_ms=%u",
                 config->curve_key[0] ? config->curve_key : "(off)",
                 config->curve_allowed[0] ? config->curve_allowed : "-", config->curve_rescan_ms,
                 (int)config->insecure_bind, config->max_connections, config->max_key_connections,
                 config->idle_timeout_ms);
    fling_debug ("config max_names=%" PRIu64 " max_worker_names=%u max_worker_credit=%u"
                 " max_producer_tasks=%" PRIu64 " max_producer_bytes=%" PRIu64
                 " max_producer_names=%" PRIu64,
                 config->max_names, config->max_worker_names, config->max_worker_credit,
                 config->max_producer_tasks, config->max_producer_bytes,
                 config->max_producer_names);
    fling_debug ("config heartbeat_ms=%u worker_timeout_ms=%u log_level=%s ready_fd=%d",
                 config->heartbeat_ms, config->worker_timeout_ms, levels[config->log_level],
                 config->ready_fd);
    char http_addr[FLING_HTTP_ADDR_MAX + 16];
    fling_debug ("config http_addr=%s orphan_warn_ms=%u refuse_unknown_names=%d"
                 " allow_names=%zu log_format=%d",
                 fling_logfmt_quote (http_addr, sizeof http_addr, config->http_addr,
                                     strlen (config->http_addr)),
                 config->orphan_warn_ms, (int)config->refuse_unknown_names,
                 config->allow_name_count, config->log_format);
}
