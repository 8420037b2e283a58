/*  fling_broker_main.c - the fling-broker program.

    Exit status: 0 after a clean stop (SIGINT/SIGTERM), 1 if it cannot
    start (bad option, socket that will not bind, store that will not open
    or is locked by another broker). --check-store: see fling_store_check.h.
*/
#include "fling_broker.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_store_check.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static fling_broker_t *running; /* for the SIGHUP handler */

static void on_hup (int sig)
{
    (void)sig;
    if (running)
        fling_broker_reload (running); /* an atomic store: signal-safe */
}

int main (int argc, char *argv[])
{
    fling_broker_config_t config;
    char error[512];
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--check-store") == 0) {
            if (i + 1 >= argc) {
                fprintf (stderr, "fling-broker: --check-store needs a directory\n");
                return 1;
            }
            fling_log_init ("store-check", FLING_LOG_WARN);
            bool ids = false;
            for (int j = 1; j < argc; j++)
                ids = ids || strcmp (argv[j], "--ids") == 0;
            return fling_store_check (argv[i + 1], ids, stdout);
        }
    fling_broker_config_init (&config);
    int rc = fling_broker_config_load (&config, argc, argv, error, sizeof error);
    if (rc == 1) {
        fling_broker_config_usage (stdout, argv[0]);
        return 0;
    }
    if (rc < 0) {
        fprintf (stderr, "fling-broker: %s\n", error);
        return 1;
    }
    /* A --ready-fd reader that went away must not kill the broker. */
    signal (SIGPIPE, SIG_IGN);
    fling_log_init ("broker", config.log_level);
    fling_log_set_format (config.log_format);
    fling_broker_config_log (&config);

    fling_broker_t *broker = fling_broker_new (&config);
    if (!broker) {
        fprintf (stderr, "fling-broker: cannot start: %s\n", fling_strerror (errno));
        return 1;
    }
    /* SIGHUP: read the allowed directory again (CURVE). No SA_RESTART: the
       poll returns at once and the next turn does it. */
    running = broker;
    struct sigaction hup = {.sa_handler = on_hup};
    sigemptyset (&hup.sa_mask);
    sigaction (SIGHUP, &hup, NULL);
    fling_broker_run (broker);
    signal (SIGHUP, SIG_IGN);
    running = NULL;
    fling_broker_destroy (&broker);
    return 0;
}
