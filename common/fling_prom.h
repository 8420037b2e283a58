/*  fling_prom.h - writes metrics in the Prometheus text exposition format
    (version 0.0.4), the format every Prometheus server and most other
    collectors scrape.

    A family is announced once (# HELP, # TYPE), then its samples follow,
    each with up to FLING_PROM_LABELS_MAX label pairs. Label values are
    escaped as the format wants (backslash, double quote, newline); names
    are the caller's constants. Numbers are written exactly: integers as
    integers, durations as seconds with microsecond precision.

        fling_prom_t *prom = fling_prom_new ();
        fling_prom_family (prom, "fling_tasks_done_total", "counter", "Tasks done.");
        fling_prom_sample (prom, "fling_tasks_done_total", 42, "name", "email.send", NULL);
        char *text = fling_prom_take (&prom, &size);   // malloc'd, NUL-terminated

    Out of memory is sticky: later calls do nothing and fling_prom_take
    returns NULL.
*/
#ifndef FLING_PROM_H_INCLUDED
#define FLING_PROM_H_INCLUDED

#include "fling_histogram.h"

#include <stddef.h>
#include <stdint.h>

#define FLING_PROM_LABELS_MAX   4
#define FLING_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct fling_prom fling_prom_t;

fling_prom_t *fling_prom_new (void);
void fling_prom_destroy (fling_prom_t **self_p);

/*  # HELP and # TYPE lines; `type` is "counter", "gauge" or "histogram". */
void fling_prom_family (fling_prom_t *self, const char *name, const char *type, const char *help);

/*  One sample: `name`, then label name / value pairs, NULL-terminated. */
void fling_prom_sample (fling_prom_t *self, const char *name, uint64_t value, ...)
    __attribute__ ((sentinel));

/*  The same with a value in seconds, given in microseconds. */
void fling_prom_seconds (fling_prom_t *self, const char *name, uint64_t us, ...)
    __attribute__ ((sentinel));

/*  The _bucket (cumulative, le in seconds), _sum and _count samples of a
    histogram family `name`, with label pairs as above. */
void fling_prom_histogram (fling_prom_t *self, const char *name, const fling_histogram_t *histogram,
                           ...) __attribute__ ((sentinel));

/*  The text so far (NUL-terminated, `*size` bytes without the NUL), the
    writer destroyed. NULL if memory ran out. free() it. */
char *fling_prom_take (fling_prom_t **self_p, size_t *size);

#endif
