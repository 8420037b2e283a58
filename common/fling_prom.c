/*  fling_prom.c - see fling_prom.h. */
#include "fling_prom.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fling_prom {
    char *text;
    size_t size;
    size_t alloc;
    bool failed;
};

fling_prom_t *fling_prom_new (void)
{
    fling_prom_t *self = (fling_prom_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->alloc = 16384;
    self->text = (char *)malloc (self->alloc);
    if (!self->text) {
        free (self);
        return NULL;
    }
    self->text[0] = '\0';
    return self;
}

void fling_prom_destroy (fling_prom_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->text);
    free (*self_p);
    *self_p = NULL;
}

static bool reserve (fling_prom_t *self, size_t more)
{
    if (self->failed)
        return false;
    if (self->size + more + 1 <= self->alloc)
        return true;
    size_t alloc = self->alloc;
    while (self->size + more + 1 > alloc)
        alloc *= 2;
    char *grown = (char *)realloc (self->text, alloc);
    if (!grown) {
        self->failed = true;
        return false;
    }
    self->text = grown;
    self->alloc = alloc;
    return true;
}

static void append (fling_prom_t *self, const char *text, size_t size)
{
    if (!reserve (self, size))
        return;
    memcpy (self->text + self->size, text, size);
    self->size += size;
    self->text[self->size] = '\0';
}

static void append_str (fling_prom_t *self, const char *text)
{
    append (self, text, strlen (text));
}

static void appendf (fling_prom_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void appendf (fling_prom_t *self, const char *format, ...)
{
    char line[128];
    va_list args;
    va_start (args, format);
    int n = vsnprintf (line, sizeof line, format, args);
    va_end (args);
    if (n > 0)
        append (self, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* HELP text escapes backslash and newline; label values also '"'. */
static void append_escaped (fling_prom_t *self, const char *text, bool quote)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            append (self, "\\\\", 2);
        else if (*p == '\n')
            append (self, "\\n", 2);
        else if (*p == '"' && quote)
            append (self, "\\\"", 2);
        else
            append (self, p, 1);
    }
}

void fling_prom_family (fling_prom_t *self, const char *name, const char *type, const char *help)
{
    if (!self)
        return;
    appendf (self, "# HELP %s ", name);
    append_escaped (self, help, false);
    appendf (self, "\n# TYPE %s %s\n", name, type);
}

/* name{k="v",...,extra_key="extra_value"} -- extra (le) may be NULL. */
static void append_series (fling_prom_t *self, const char *name, const char *suffix,
                           const char *const *labels, size_t pairs, const char *extra_key,
                           const char *extra_value)
{
    append_str (self, name);
    append_str (self, suffix);
    if (!pairs && !extra_key)
        return;
    append (self, "{", 1);
    for (size_t i = 0; i < pairs; i++) {
        if (i)
            append (self, ",", 1);
        append_str (self, labels[2 * i]);
        append (self, "=\"", 2);
        append_escaped (self, labels[2 * i + 1] ? labels[2 * i + 1] : "", true);
        append (self, "\"", 1);
    }
    if (extra_key) {
        if (pairs)
            append (self, ",", 1);
        appendf (self, "%s=\"%s\"", extra_key, extra_value);
    }
    append (self, "}", 1);
}

static size_t collect_labels (va_list args, const char *labels[2 * FLING_PROM_LABELS_MAX])
{
    size_t pairs = 0;
    const char *key;
    while ((key = va_arg (args, const char *)) != NULL) {
        const char *value = va_arg (args, const char *);
        if (pairs < FLING_PROM_LABELS_MAX) {
            labels[2 * pairs] = key;
            labels[2 * pairs + 1] = value;
            pairs++;
        }
    }
    return pairs;
}

/* Seconds with six decimals, trailing zeros cut: 0.0025, 1, 300. */
static void format_seconds (char *out, size_t size, uint64_t us)
{
    int n = snprintf (out, size, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
}

void fling_prom_sample (fling_prom_t *self, const char *name, uint64_t value, ...)
{
    if (!self)
        return;
    const char *labels[2 * FLING_PROM_LABELS_MAX];
    va_list args;
    va_start (args, value);
    size_t pairs = collect_labels (args, labels);
    va_end (args);
    append_series (self, name, "", labels, pairs, NULL, NULL);
    appendf (self, " %" PRIu64 "\n", value);
}

void fling_prom_seconds (fling_prom_t *self, const char *name, uint64_t us, ...)
{
    if (!self)
        return;
    const char *labels[2 * FLING_PROM_LABELS_MAX];
    va_list args;
    va_start (args, us);
    size_t pairs = collect_labels (args, labels);
    va_end (args);
    char seconds[48];
    format_seconds (seconds, sizeof seconds, us);
    append_series (self, name, "", labels, pairs, NULL, NULL);
    appendf (self, " %s\n", seconds);
}

void fling_prom_histogram (fling_prom_t *self, const char *name, const fling_histogram_t *histogram,
                           ...)
{
    if (!self)
        return;
    const char *labels[2 * FLING_PROM_LABELS_MAX];
    va_list args;
    va_start (args, histogram);
    size_t pairs = collect_labels (args, labels);
    va_end (args);
    uint64_t cumulative = 0;
    char le[48];
    for (size_t i = 0; i <= histogram->bound_count; i++) {
        cumulative += histogram->counts[i];
        if (i < histogram->bound_count)
            format_seconds (le, sizeof le, histogram->bounds_us[i]);
        else
            strcpy (le, "+Inf");
        append_series (self, name, "_bucket", labels, pairs, "le", le);
        appendf (self, " %" PRIu64 "\n", cumulative);
    }
    char sum[48];
    format_seconds (sum, sizeof sum, histogram->sum_us);
    append_series (self, name, "_sum", labels, pairs, NULL, NULL);
    appendf (self, " %s\n", sum);
    append_series (self, name, "_count", labels, pairs, NULL, NULL);
    appendf (self, " %" PRIu64 "\n", histogram->count);
}

char *fling_prom_take (fling_prom_t **self_p, size_t *size)
{
    if (!self_p || !*self_p)
        return NULL;
    fling_prom_t *self = *self_p;
    char *text = self->failed ? NULL : self->text;
    if (text)
        self->text = NULL;
    if (size)
        *size = text ? self->size : 0;
    fling_prom_destroy (self_p);
    return text;
}
