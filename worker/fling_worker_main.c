/*  fling_worker_main.c - fling-worker, the generic worker host.

    Loads handler modules (shared objects exporting fling_module_init),
    registers with the broker and runs tasks until SIGTERM or SIGINT, then
    drains: finishes what it started, hands back the rest, exits 0.

    Configuration: flags, else environment variables, else defaults; all of
    it in one struct, parsed once at start (see --help).
*/
#include "fling_log.h"
#include "fling_worker.h"
#include "fling_worker_host.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODULES_MAX 64

typedef struct {
    fling_worker_options_t worker;
    const char *log_level;
    const char *modules[MODULES_MAX]; /* "PATH[:ARGS]" */
    size_t module_count;
    int ready_fd;      /* -1: none */
    char *env_modules; /* FLING_MODULES, split in place */
} config_t;

static const char *s_usage =
    "Usage: fling-worker --module PATH[:ARGS] [options]\n"
    "\n"
    "Runs fling task handlers from one or more modules (shared objects that\n"
    "export fling_module_init). SIGTERM or SIGINT drains and exits.\n"
    "\n"
    "  --endpoint URL          broker's worker endpoint     $FLING_WORKER_ENDPOINT\n"
    "                          (default tcp://127.0.0.1:5556)\n"
    "  --name NAME             worker name in logs/stats    $FLING_WORKER_NAME\n"
    "                          (default HOSTNAME-PID)\n"
    "  --pool-size N           blocking threads             $FLING_POOL_SIZE (default: cores)\n"
    "  --async-limit N         async tasks at once          $FLING_ASYNC_LIMIT (default 1000)\n"
    "  --prefetch N            tasks held per slot beyond   $FLING_PREFETCH (default 1)\n"
    "                          the running ones, to refill a slot without a round\n"
    "                          trip to the broker; 0 for long tasks\n"
    "  --heartbeat-ms N        PING interval                $FLING_HEARTBEAT_MS (default 1000)\n"
    "  --drain-timeout-ms N    on stop, wait this long      $FLING_DRAIN_TIMEOUT_MS\n"
    "                          for running tasks (default 30000)\n"
    "  --log-level LEVEL       debug, info, warn, error     $FLING_LOG_LEVEL (default info)\n"
    "  --curve-broker-key K    CURVE: the broker's .pub file or Z85 public key\n"
    "                                                       $FLING_CURVE_BROKER_KEY\n"
    "  --curve-key FILE        CURVE: this worker's NAME.secret file (mode 0600)\n"
    "                                                       $FLING_CURVE_KEY\n"
    "  --module PATH[:ARGS]    load a handler module; ARGS go to its init function;\n"
    "                          repeatable                   $FLING_MODULES (comma-separated)\n"
    "  --ready-fd N            write \"ready\\n\" to fd N once registered with the broker\n"
    "  --help                  this text\n"
    "\n"
    "A task that overruns its deadline (its timeout) is reported TIMEOUT at once;\n"
    "a blocking handler stuck in it keeps its thread, which the pool replaces\n"
    "(up to --pool-size stuck threads; beyond that the capacity offered to the\n"
    "broker shrinks until they return).\n"
    "\n"
    "A flag wins over its environment variable. Exit status: 0 after a clean\n"
    "drain, 1 on a start-up error or when tasks were still running at the\n"
    "drain timeout.\n";

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

static fling_worker_t *s_worker;

static void s_on_signal (int signum)
{
    (void)signum;
    fling_worker_request_stop (s_worker);
}

static int s_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

/* A configuration error: one line on stderr (logging is not set up yet). */
static int s_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "fling-worker: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    return -1;
}

static int s_parse_unsigned (const char *what, const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul (text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value > UINT_MAX)
        return s_fail ("%s: not a number: '%s'", what, text);
    *out = (unsigned)value;
    return 0;
}

static int s_parse_fd (const char *text, int *out)
{
    unsigned fd = 0;
    if (s_parse_unsigned ("--ready-fd", text, &fd))
        return -1;
    if (fd > INT_MAX || fcntl ((int)fd, F_GETFD) == -1)
        return s_fail ("--ready-fd: %s is not an open file descriptor", text);
    *out = (int)fd;
    return 0;
}

static int s_add_module (config_t *config, const char *spec)
{
    if (!*spec)
        return 0;
    if (config->module_count == MODULES_MAX)
        return s_fail ("too many modules (at most %d)", MODULES_MAX);
    config->modules[config->module_count++] = spec;
    return 0;
}

/* Defaults, then the environment. */
static int s_config_from_env (config_t *config)
{
    fling_worker_options_init (&config->worker); /* reads FLING_WORKER_ENDPOINT */
    config->worker.name = getenv ("FLING_WORKER_NAME");
    config->log_level = getenv ("FLING_LOG_LEVEL");
    config->ready_fd = -1;
    const struct {
        const char *name;
        unsigned *out;
    } numbers[] = {
        {"FLING_POOL_SIZE", &config->worker.pool_size},
        {"FLING_ASYNC_LIMIT", &config->worker.async_limit},
        {"FLING_PREFETCH", &config->worker.prefetch},
        {"FLING_HEARTBEAT_MS", &config->worker.heartbeat_ms},
        {"FLING_DRAIN_TIMEOUT_MS", &config->worker.drain_timeout_ms},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        const char *text = getenv (numbers[i].name);
        if (text && *text && s_parse_unsigned (numbers[i].name, text, numbers[i].out))
            return -1;
    }
    const char *modules = getenv ("FLING_MODULES");
    if (modules && *modules) {
        config->env_modules = strdup (modules);
        char *save = NULL;
        for (char *spec = strtok_r (config->env_modules, ",", &save); spec;
             spec = strtok_r (NULL, ",", &save))
            if (s_add_module (config, spec))
                return -1;
    }
    return 0;
}

enum {
    OPT_ENDPOINT = 1,
    OPT_NAME,
    OPT_POOL,
    OPT_ASYNC,
    OPT_PREFETCH,
    OPT_HEARTBEAT,
    OPT_DRAIN,
    OPT_LOG,
    OPT_MODULE,
    OPT_READY_FD,
    OPT_CURVE_BROKER_KEY,
    OPT_CURVE_KEY,
    OPT_HELP
};

/* Flags, over what the environment said. Returns 0, 1 for --help, -1. */
static int s_config_from_flags (config_t *config, int argc, char **argv)
{
    static const struct option options[] = {
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"name", required_argument, NULL, OPT_NAME},
        {"pool-size", required_argument, NULL, OPT_POOL},
        {"async-limit", required_argument, NULL, OPT_ASYNC},
        {"prefetch", required_argument, NULL, OPT_PREFETCH},
        {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
        {"drain-timeout-ms", required_argument, NULL, OPT_DRAIN},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"module", required_argument, NULL, OPT_MODULE},
        {"ready-fd", required_argument, NULL, OPT_READY_FD},
        {"curve-broker-key", required_argument, NULL, OPT_CURVE_BROKER_KEY},
        {"curve-key", required_argument, NULL, OPT_CURVE_KEY},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    bool modules_from_flags = false;
    int opt, rc = 0;
    while (rc == 0 && (opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_ENDPOINT:
            config->worker.endpoint = optarg;
            break;
        case OPT_NAME:
            config->worker.name = optarg;
            break;
        case OPT_POOL:
            rc = s_parse_unsigned ("--pool-size", optarg, &config->worker.pool_size);
            break;
        case OPT_ASYNC:
            rc = s_parse_unsigned ("--async-limit", optarg, &config->worker.async_limit);
            break;
        case OPT_PREFETCH:
            rc = s_parse_unsigned ("--prefetch", optarg, &config->worker.prefetch);
            break;
        case OPT_HEARTBEAT:
            rc = s_parse_unsigned ("--heartbeat-ms", optarg, &config->worker.heartbeat_ms);
            break;
        case OPT_DRAIN:
            rc = s_parse_unsigned ("--drain-timeout-ms", optarg, &config->worker.drain_timeout_ms);
            break;
        case OPT_LOG:
            config->log_level = optarg;
            break;
        case OPT_MODULE:
            /* --module replaces the FLING_MODULES list, as any flag does. */
            if (!modules_from_flags)
                config->module_count = 0;
            modules_from_flags = true;
            rc = s_add_module (config, optarg);
            break;
        case OPT_READY_FD:
            rc = s_parse_fd (optarg, &config->ready_fd);
            break;
        case OPT_CURVE_BROKER_KEY:
            config->worker.curve_broker_key = optarg;
            break;
        case OPT_CURVE_KEY:
            config->worker.curve_key = optarg;
            break;
        case OPT_HELP:
            return 1;
        default:
            return s_fail ("unknown option (try --help)");
        }
    }
    if (rc == 0 && optind < argc)
        return s_fail ("unexpected argument '%s'", argv[optind]);
    return rc;
}

static int s_check_config (const config_t *config)
{
    if (config->module_count == 0)
        return s_fail ("no handler module given: use --module PATH[:ARGS] or FLING_MODULES");
    if (config->log_level && fling_log_level_parse (config->log_level) < 0)
        return s_fail ("unknown log level '%s' (debug, info, warn, error)", config->log_level);
    if (config->worker.heartbeat_ms == 0 || config->worker.async_limit == 0 ||
        config->worker.drain_timeout_ms == 0)
        return s_fail ("heartbeat, async limit and drain timeout must be above 0");
    return 0;
}

/* Loads one "PATH[:ARGS]" module and lets it register its handlers. The
   module stays loaded until exit: its handlers are called until then. */
static int s_load_module (fling_worker_t *worker, const char *spec)
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
static void s_on_registered (fling_worker_t *worker, void *arg)
{
    int *fd = (int *)arg;
    if (*fd < 0)
        return;
    ssize_t rc = write (*fd, "ready\n", 6);
    (void)rc;
    close (*fd);
    *fd = -1;
}

static int s_install_signals (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
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

static void s_log_config (const config_t *config)
{
    fling_debug ("config endpoint=%s name=%s pool_size=%u async_limit=%u prefetch=%u "
                 "heartbeat_ms=%u drain_timeout_ms=%u modules=%zu ready_fd=%d",
                 config->worker.endpoint, config->worker.name ? config->worker.name : "(default)",
                 config->worker.pool_size, config->worker.async_limit, config->worker.prefetch,
                 config->worker.heartbeat_ms, config->worker.drain_timeout_ms, config->module_count, config->ready_fd);
}

static int s_run (config_t *config)
{
    s_worker = fling_worker_new (&config->worker);
    if (!s_worker) {
        fling_error ("cannot create the worker: %s", fling_last_error ());
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < config->module_count && rc == 0; i++)
        rc = s_load_module (s_worker, config->modules[i]);
    fling_worker_on_registered (s_worker, s_on_registered, &config->ready_fd);
    if (rc == 0 && s_install_signals ()) {
        fling_error ("cannot install signal handlers: %s", strerror (errno));
        rc = -1;
    }
    if (rc == 0)
        rc = fling_worker_run (s_worker);
    fling_worker_stats_t stats;
    fling_worker_stats (s_worker, &stats);
    if (rc != 0 && stats.running)
        fling_error ("exiting with %llu tasks still running at the drain timeout; the broker "
                     "requeues them",
                     (unsigned long long)stats.running);
    fling_worker_destroy (&s_worker);
    return rc == 0 ? 0 : 1;
}

int main (int argc, char **argv)
{
    /* Before czmq starts: we own SIGTERM/SIGINT, not czmq. */
    zsys_handler_set (NULL);
    config_t config;
    memset (&config, 0, sizeof config);
    int rc = s_config_from_env (&config);
    if (rc == 0)
        rc = s_config_from_flags (&config, argc, argv);
    if (rc == 1) {
        fputs (s_usage, stdout);
        free (config.env_modules);
        return 0;
    }
    if (rc == 0)
        rc = s_check_config (&config);
    if (rc) {
        free (config.env_modules);
        return 1;
    }
    int level = config.log_level ? fling_log_level_parse (config.log_level) : FLING_LOG_INFO;
    fling_log_init ("worker", (fling_log_level_t)level);
    s_log_config (&config);
    rc = s_run (&config);
    free (config.env_modules);
    return rc;
}
