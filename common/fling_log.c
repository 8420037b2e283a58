/*  fling_log.c - see fling_log.h. */
#include "fling_log.h"
#include "fling_logfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static char log_component[32] = "fling";
static fling_log_level_t log_threshold = FLING_LOG_INFO;
static int log_format = FLING_LOG_FORMAT_TEXT;

void fling_log_set_format (int format)
{
    log_format = format;
}

void fling_log_init (const char *component, fling_log_level_t level)
{
    if (component)
        snprintf (log_component, sizeof log_component, "%s", component);
    log_threshold = level;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int fling_log_level_parse (const char *text)
{
    for (int i = 0; i < 4; i++)
        if (strcmp (text, level_names[i]) == 0)
            return i;
    return -1;
}

const char *fling_log_level_name (fling_log_level_t level)
{
    return level >= FLING_LOG_DEBUG && level <= FLING_LOG_ERROR ? level_names[level] : "unknown";
}

fling_log_level_t fling_log_level (void)
{
    return log_threshold;
}

void fling_log (fling_log_level_t level, const char *format, ...)
{
    static const char *labels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < log_threshold)
        return;
    struct timeval now;
    gettimeofday (&now, NULL);
    struct tm utc;
    gmtime_r (&now.tv_sec, &utc);
    char line[1024];
    int n = (int)strftime (line, sizeof line, "%Y-%m-%dT%H:%M:%S", &utc);
    n += snprintf (line + n, sizeof line - (size_t)n, ".%03dZ %s %s ", (int)(now.tv_usec / 1000),
                   log_component, labels[level]);
    va_list args;
    va_start (args, format);
    int body = vsnprintf (line + n, sizeof line - (size_t)n, format, args);
    va_end (args);
    if (log_format != FLING_LOG_FORMAT_TEXT && body >= 0) {
        char stamp[40], out[2048];
        snprintf (stamp, sizeof stamp, "%.*s", (int)strcspn (line, " "), line);
        fling_logfmt_line (out, sizeof out - 1, (fling_log_format_t)log_format, stamp,
                           level_names[level], log_component, line + n);
        size_t size = strlen (out);
        out[size++] = '\n';
        fwrite (out, 1, size, stderr); /* one write per line, as below */
        fflush (stderr);
        return;
    }
    n = body < 0 ? n : (n + body >= (int)sizeof line - 1 ? (int)sizeof line - 2 : n + body);
    line[n++] = '\n';
    /* One write per line, so lines from threads and processes never interleave. */
    fwrite (line, 1, (size_t)n, stderr);
    fflush (stderr);
}

int64_t fling_clock_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fling_clock_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec fling_clock_deadline (unsigned ms)
{
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

void fling_log_printable (char *out, size_t out_size, const char *text, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < size && n + 1 < out_size; i++) {
        unsigned char c = (unsigned char)text[i];
        out[n++] = c > ' ' && c < 127 && c != '"' ? (char)c : '_';
    }
    out[n] = '\0';
}
