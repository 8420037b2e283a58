/*  fling_logfmt.h - log lines for machines: logfmt and JSON.

    The daemons write one event a line as "message key=value key=value";
    values that may hold spaces or peer text are quoted with
    fling_logfmt_quote, so the line parses without guessing. Under
    --log-format logfmt or json, fling_log turns each such line into
        time=2026-12-07T13:20:35.123Z level=warn component=broker msg="task dead-lettered"
   id=9f86d081884c7d65:42 name=email.send error="always fails"
        {"time":"2026-12-07T13:20:35.123Z","level":"warn","component":"broker","msg":"task
   dead-lettered","id":"9f86d081884c7d65:42","name":"email.send","error":"always fails"} The message
   ends at the first word that looks like key=value.
*/
#ifndef FLING_LOGFMT_H_INCLUDED
#define FLING_LOGFMT_H_INCLUDED

#include <stddef.h>

typedef enum {
    FLING_LOG_FORMAT_TEXT = 0, /* 2026-12-07T13:20:35.123Z broker WARN message key=value */
    FLING_LOG_FORMAT_LOGFMT,
    FLING_LOG_FORMAT_JSON
} fling_log_format_t;

/*  "text", "logfmt", "json"; -1 if unknown. */
int fling_log_format_parse (const char *text);
/*  The other way: "logfmt" for FLING_LOG_FORMAT_LOGFMT... */
const char *fling_log_format_name (int format);

/*  For a program's --log-format option: *out = the format of `value`, 0;
    or -1 with the reason in `why`. */
int fling_log_format_option (int *out, const char *value, char *why, size_t why_size);

/*  Writes `size` bytes of `text` as a double-quoted value that logfmt and
    JSON both read back exactly: '"' '\' and control characters escaped
    (\n \r \t \" \\ \u00XX), valid UTF-8 kept, invalid bytes as \ufffd.
    Cut (still closed by '"') when `out` is too small. Returns `out`. */
char *fling_logfmt_quote (char *out, size_t out_size, const char *text, size_t size);

/*  The line for `body` ("message key=value ...") in `format` (logfmt or
    json), without a newline, into out[out_size] (cut when too long). */
void fling_logfmt_line (char *out, size_t out_size, fling_log_format_t format, const char *time,
                        const char *level, const char *component, const char *body);

#endif
