/*  fling_log.h - one event a line, for the daemons and the worker library.

    Format: "2026-11-25T12:00:00.123Z broker INFO worker joined name=w1 pid=42"
    on stderr, so a supervisor (systemd, docker) collects it; or logfmt or
    JSON (fling_log_set_format, fling_logfmt.h). A message is words, then
    key=value pairs; a value with spaces or peer text goes through
    fling_logfmt_quote. Levels below the threshold cost one comparison.
*/
#ifndef FLING_LOG_H_INCLUDED
#define FLING_LOG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum {
    FLING_LOG_DEBUG = 0,
    FLING_LOG_INFO,
    FLING_LOG_WARN,
    FLING_LOG_ERROR
} fling_log_level_t;

/* Sets the component name printed in every line ("broker", "worker"; NULL
   keeps the current one, at first "fling") and the threshold. */
void fling_log_init (const char *component, fling_log_level_t level);

/* Lines as text (the default), logfmt or JSON (fling_logfmt.h: a
   fling_log_format_t). Set once, at start. */
void fling_log_set_format (int format);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int fling_log_level_parse (const char *text);
/* The other way: "debug" for FLING_LOG_DEBUG... */
const char *fling_log_level_name (fling_log_level_t level);
fling_log_level_t fling_log_level (void);

void fling_log (fling_log_level_t level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#define fling_debug(...)                                                                           \
    do {                                                                                           \
        if (fling_log_level () <= FLING_LOG_DEBUG)                                                 \
            fling_log (FLING_LOG_DEBUG, __VA_ARGS__);                                              \
    } while (0)
#define fling_info(...)  fling_log (FLING_LOG_INFO, __VA_ARGS__)
#define fling_warn(...)  fling_log (FLING_LOG_WARN, __VA_ARGS__)
#define fling_error(...) fling_log (FLING_LOG_ERROR, __VA_ARGS__)

/* Copies peer-sent text for a log line: printable ASCII only (space, '"'
   and the rest become '_'), so a peer cannot forge log lines or break
   key=value parsing. Always terminates `out`. */
void fling_log_printable (char *out, size_t out_size, const char *text, size_t size);

/* Milliseconds of CLOCK_MONOTONIC: for leases, heartbeats and timeouts. */
int64_t fling_clock_ms (void);
/* Microseconds of CLOCK_MONOTONIC. */
int64_t fling_clock_us (void);
/* CLOCK_MONOTONIC `ms` from now, for pthread_cond_timedwait on a
   condition variable that uses CLOCK_MONOTONIC. */
struct timespec fling_clock_deadline (unsigned ms);

#endif
