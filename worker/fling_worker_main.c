/*  fling_worker_main.c - fling-worker, the generic worker host.

    Loads handler modules (shared objects exporting fling_module_init),
    registers with the broker and runs tasks until SIGTERM or SIGINT, then
    drains: finishes what it started, hands back the rest, exits 0.

    Configuration: flags, else environment variables, else defaults; all of
    it in one struct, parsed once at start (see --help).
*/
#include "fling_http.h"
#include "fling_log.h"
#include "fling_logfmt.h"
#include "fling_options.h"
#include "fling_proto.h"
#include "fling_worker.h"
#include "fling_worker_host.h"
#include "fling_worker_http.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODULES_MAX 64

typedef struct {
    fling_worker_options_t worker;
    fling_log_level_t log_level;
    int log_format;                   /* fling_log_format_t */
    const char *modules[MODULES_MAX]; /* "PATH[:ARGS]" */
    size_t module_count;
    int ready_fd;                           /* -1: none */
    char http_addr[FLING_HTTP_ADDRESS_MAX]; /* "" = no HTTP port */
    char *env_modules;                      /* FLING_MODULES, split in place */
} config_t;

static int parse_modules (void *config, const char *value, bool from_env, char *why,
                          size_t why_size);
static int parse_http_addr (void *config, const char *value, bool from_env, char *why,
                            size_t why_size);
static int parse_log_format (void *config, const char *value, bool from_env, char *why,
                             size_t why_size);

#define FIELD(name) offsetof (config_t, name)

/* Every option, once. The defaults are set in config_init(); --help
   prints them from there. */
static const fling_option_t option_table[] = {
    {"--endpoint", "FLING_WORKER_ENDPOINT", FLING_OPT_ENDPOINT, FIELD (worker.endpoint), 0, 0, 0,
     NULL, "URL", "broker's worker endpoint", NULL},
    {"--name", "FLING_WORKER_NAME", FLING_OPT_TEXT, FIELD (worker.name), 0, 0, FLING_NAME_MAX, NULL,
     "NAME", "worker name in logs and stats", "HOSTNAME-PID"},
    {"--pool-size", "FLING_POOL_SIZE", FLING_OPT_UINT, FIELD (worker.pool_size), 0, 1, 4096, NULL,
     "N", "threads for blocking handlers", "the number of cores"},
    {"--async-limit", "FLING_ASYNC_LIMIT", FLING_OPT_UINT, FIELD (worker.async_limit), 0, 1,
     1000000, NULL, "N", "async tasks running at once", NULL},
    {"--prefetch", "FLING_PREFETCH", FLING_OPT_UINT, FIELD (worker.prefetch), 0, 0, 1000, NULL, "N",
     "tasks held per slot beyond the running ones, to refill a slot\n"
     "without a round trip to the broker; 0 for long tasks",
     NULL},
    {"--heartbeat-ms", "FLING_HEARTBEAT_MS", FLING_OPT_UINT, FIELD (worker.heartbeat_ms), 0, 10,
     60000, NULL, "N",
     "PING interval; keep it at most a third of the broker's\n"
     "--worker-timeout-ms (3000 by default) or the broker drops the worker",
     NULL},
    {"--drain-timeout-ms", "FLING_DRAIN_TIMEOUT_MS", FLING_OPT_UINT,
     FIELD (worker.drain_timeout_ms), 0, 1, 86400000, NULL, "N",
     "on stop, wait this long for running tasks", NULL},
    {"--log-level", "FLING_LOG_LEVEL", FLING_OPT_LEVEL, FIELD (log_level), 0, 0, 0, NULL, "LEVEL",
     "debug, info, warn or error", NULL},
    {"--curve-broker-key", "FLING_CURVE_BROKER_KEY", FLING_OPT_TEXT,
     FIELD (worker.curve_broker_key), 0, 0, 0, NULL, "KEY",
     "CURVE: the broker's public key (its .pub file or the Z85 text)", "off"},
    {"--curve-key", "FLING_CURVE_KEY", FLING_OPT_TEXT, FIELD (worker.curve_key), 0, 0, 0, NULL,
     "FILE", "CURVE: this worker's NAME.secret file (mode 0600)", "off"},
    {"--log-format", "FLING_LOG_FORMAT", FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_log_format, "FORMAT",
     "text (for people), logfmt or json (one object a line)", "text"},
    {"--module", "FLING_MODULES", FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_modules, "PATH[:ARGS]",
     "load a handler module; ARGS go to its init function; repeatable\n"
     "(env: comma-separated)",
     ""},
    {"--ready-fd", NULL, FLING_OPT_FD, FIELD (ready_fd), 0, 0, INT_MAX, NULL, "FD",
     "write \"ready\\n\" (\"ready http=ADDR\\n\" with an HTTP port) to this open fd\n"
     "once registered with the broker",
     ""},
    {"--http-addr", "FLING_WORKER_HTTP_ADDR", FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_http_addr,
     "HOST:PORT", "HTTP port for /metrics (Prometheus); port 0 = any free port", "none"},
};

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer builds only. libzmq is not instrumented: TSan cannot see
   how its I/O thread hands message buffers over and would report races
   in every run. Ignore the memory accesses libzmq itself makes. */
const char *__tsan_default_suppressions (void);
const char *__tsan_default_suppressions (void)
{
    return "called_from_lib:libzmq.so.5\n";
}
#endif

static fling_worker_t *running_worker;
static fling_worker_http_t *running_http;

static void on_signal (int signum)
{
    (void)signum;
    fling_worker_request_stop (running_worker);
}

static int fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

/* A configuration error: one line on stderr (logging is not set up yet). */
static int fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "fling-worker: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    return -1;
}

static int add_module (config_t *config, const char *spec, char *why, size_t why_size)
{
    if (!*spec)
        return 0;
    if (config->module_count == MODULES_MAX) {
        snprintf (why, why_size, "too many modules (at most %d)", MODULES_MAX);
        return -1;
    }
    config->modules[config->module_count++] = spec;
    return 0;
}

static int parse_http_addr (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    config_t *config = arg;
    return fling_http_option (config->http_addr, sizeof config->http_addr, value, why, why_size);
}

static int parse_log_format (void *arg, const char *value, bool from_env, char *why,
                             size_t why_size)
{
    return fling_log_format_option (&((config_t *)arg)->log_format, value, why, why_size);
}

/* One module per flag; FLING_MODULES holds a comma-separated list. */
static int parse_modules (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    config_t *config = arg;
    if (!from_env)
        return add_module (config, value, why, why_size);
    free (config->env_modules);
    config->env_modules = strdup (value);
    if (!config->env_modules) {
        snprintf (why, why_size, "out of memory");
        return -1;
    }
    char *save = NULL;
    for (char *spec = strtok_r (config->env_modules, ",", &save); spec;
         spec = strtok_r (NULL, ",", &save))
        if (add_module (config, spec, why, why_size))
            return -1;
    return 0;
}

static void config_init (config_t *config)
{
    memset (config, 0, sizeof *config);
    fling_worker_options_init (&config->worker);
    config->log_level = FLING_LOG_INFO;
    config->ready_fd = -1;
}

static fling_options_t parser (void)
{
    return (fling_options_t){.program = "fling-worker",
                             .options = option_table,
                             .count = sizeof option_table / sizeof option_table[0]};
}

static void usage (FILE *out)
{
    config_t defaults;
    config_init (&defaults);
    fling_options_t spec = parser ();
    fputs ("Usage: fling-worker --module PATH[:ARGS] [options]\n"
           "\n"
           "Runs fling task handlers from one or more modules (shared objects that\n"
           "export fling_module_init). SIGTERM or SIGINT drains and exits.\n\n",
           out);
    fling_options_usage (&spec, &defaults, out);
    fputs ("\n"
           "A task that overruns its deadline (its timeout) is reported TIMEOUT at once;\n"
           "a blocking handler stuck in it keeps its thread, which the pool replaces\n"
           "(up to --pool-size stuck threads; beyond that the capacity offered to the\n"
           "broker shrinks until they return).\n"
           "\n"
           "A flag wins over its environment variable. Exit status: 0 after a clean\n"
           "drain, 1 on a start-up error or when tasks were still running at the\n"
           "drain timeout.\n",
           out);
}

static int check_config (const config_t *config)
{
    if (config->module_count == 0)
        return fail ("no handler module given: use --module PATH[:ARGS] or FLING_MODULES");
    return 0;
}

/* Loads one "PATH[:ARGS]" module and lets it register its handlers. The
   module stays loaded until exit: its handlers are called until then. */
static int load_module (fling_worker_t *worker, const char *spec)
{
    char *path = strdup (spec);
    if (!path)
        return -1;
    char *args = strchr (path, ':');
    if (args)
        *args++ = '\0';
    else
        args = "";
    int rc = -1;
    void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fling_error ("cannot load module %s: %s", path, dlerror ());
        goto done;
    }
    fling_module_init_fn *init = (fling_module_init_fn *)dlsym (handle, FLING_MODULE_INIT_SYMBOL);
    if (!init) {
        fling_error ("module %s does not export %s()", path, FLING_MODULE_INIT_SYMBOL);
        dlclose (handle);
        goto done;
    }
    if (init (worker, args)) {
        fling_error ("module %s failed to initialise (args '%s'): %s", path, args,
                     fling_strerror (errno));
        goto done; /* stays loaded: it may have registered handlers */
    }
    fling_info ("loaded module %s", path);
    rc = 0;
done:
    free (path);
    return rc;
}

/* The harness (and systemd-style supervisors) wait for this line instead
   of sleeping. */
static void on_registered (fling_worker_t *worker, void *arg)
{
    int *fd = (int *)arg;
    if (*fd < 0)
        return;
    char line[FLING_HTTP_ADDRESS_MAX + 16];
    int size = snprintf (line, sizeof line, "ready%s%s\n", running_http ? " http=" : "",
                         running_http ? fling_worker_http_address (running_http) : "");
    ssize_t rc = write (*fd, line, (size_t)size);
    (void)rc;
    close (*fd);
    *fd = -1;
}

static int install_signals (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset (&action.sa_mask);
    action.sa_flags = SA_RESTART;
    struct sigaction ignore;
    memset (&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset (&ignore.sa_mask);
    if (sigaction (SIGTERM, &action, NULL) || sigaction (SIGINT, &action, NULL) ||
        sigaction (SIGPIPE, &ignore, NULL))
        return -1;
    return 0;
}

static void log_config (const config_t *config)
{
    fling_debug ("config endpoint=%s name=%s pool_size=%u async_limit=%u prefetch=%u "
                 "heartbeat_ms=%u drain_timeout_ms=%u modules=%zu ready_fd=%d",
                 config->worker.endpoint, config->worker.name ? config->worker.name : "(default)",
                 config->worker.pool_size, config->worker.async_limit, config->worker.prefetch,
                 config->worker.heartbeat_ms, config->worker.drain_timeout_ms, config->module_count,
                 config->ready_fd);
}

static int run (config_t *config)
{
    running_worker = fling_worker_new (&config->worker);
    if (!running_worker) {
        fling_error ("cannot create the worker: %s",
                     errno == EINVAL ? fling_last_error () : fling_strerror (errno));
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < config->module_count && rc == 0; i++)
        rc = load_module (running_worker, config->modules[i]);
    fling_worker_on_registered (running_worker, on_registered, &config->ready_fd);
    if (rc == 0 && config->http_addr[0]) {
        char error[256];
        running_http =
            fling_worker_http_new (running_worker, config->http_addr, error, sizeof error);
        if (!running_http) {
            fling_error ("cannot start the HTTP port (--http-addr): %s", error);
            rc = -1;
        } else
            fling_info ("http port listening http=%s", fling_worker_http_address (running_http));
    }
    if (rc == 0 && install_signals ()) {
        fling_error ("cannot install signal handlers: %s", strerror (errno));
        rc = -1;
    }
    if (rc == 0)
        rc = fling_worker_run (running_worker);
    fling_worker_stats_t stats;
    fling_worker_stats (running_worker, &stats);
    if (rc != 0 && stats.running)
        fling_error ("exiting with %llu tasks still running at the drain timeout; the broker "
                     "requeues them",
                     (unsigned long long)stats.running);
    fling_worker_http_destroy (&running_http);
    fling_worker_destroy (&running_worker);
    return rc == 0 ? 0 : 1;
}

int main (int argc, char **argv)
{
    /* Before czmq starts: we own SIGTERM/SIGINT, not czmq. */
    zsys_handler_set (NULL);
    config_t config;
    config_init (&config);
    fling_options_t spec = parser ();
    char error[512];
    int rc = fling_options_parse (&spec, &config, argc, argv, error, sizeof error);
    if (rc == 1) {
        usage (stdout);
        free (config.env_modules);
        return 0;
    }
    if (rc < 0)
        fail ("%s", error);
    else
        rc = check_config (&config);
    if (rc) {
        free (config.env_modules);
        return 1;
    }
    /* Two logs, set alike: this program's own lines, and libfling's (the
       worker's lines, which the modules' handlers share). */
    fling_log_init ("worker", config.log_level);
    fling_log_set_format (config.log_format);
    if (fling_log_configure ("worker", fling_log_level_name (config.log_level),
                             fling_log_format_name (config.log_format)) != 0) {
        fail ("%s", fling_last_error ());
        free (config.env_modules);
        return 1;
    }
    log_config (&config);
    rc = run (&config);
    free (config.env_modules);
    return rc;
}
