/*  fling_error.c - text for fling's error codes. */
#include "fling_error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *fling_texts[FLING_EMAX - FLING_EBASE] = {
    [FLING_EBADNAME - FLING_EBASE] = "invalid task name (1-127 bytes of A-Z a-z 0-9 . _ : -)",
    [FLING_EBADJSON - FLING_EBASE] = "payload is not a valid JSON object",
    [FLING_ETOOLARGE - FLING_EBASE] = "payload too large",
    [FLING_EQUEUEFULL - FLING_EBASE] = "broker refused the task: queue full",
    [FLING_ESTOREFULL - FLING_EBASE] = "broker refused the task: store full",
    [FLING_EUNAVAILABLE - FLING_EBASE] = "broker refused the task: broker unavailable",
    [FLING_EPROTO - FLING_EBASE] = "protocol error",
    [FLING_ECLOSED - FLING_EBASE] = "producer is closing",
    [FLING_EFORBIDDEN - FLING_EBASE] = "broker refused: this key may not do that (SECURITY.md)",
    [FLING_EVERSION - FLING_EBASE] = "broker refused the task: it does not speak FLP/1.2, which "
                                     "a delay, a due time, a priority or a unique key needs "
                                     "(upgrade the broker)",
    [FLING_EBADTASK - FLING_EBASE] = "broker refused the task (BAD_TASK): a name it does not know "
                                     "(--refuse-unknown-names) or an option it does not support",
};

const char *fling_strerror (int err)
{
    if (err > FLING_EBASE && err < FLING_EMAX && fling_texts[err - FLING_EBASE])
        return fling_texts[err - FLING_EBASE];
    if (err == EAGAIN)
        return "resource temporarily unavailable (outbox full)";
    return strerror (err);
}

/* Detail for the last error, per thread; set by fling_set_last_error(),
   with the code it describes: most functions set errno alone, and the
   detail of an earlier error must not describe theirs. */
static _Thread_local char last_detail[256];
static _Thread_local int last_detail_err;

void fling_set_last_error (int err, const char *detail)
{
    if (detail && *detail)
        snprintf (last_detail, sizeof last_detail, "%s: %s", fling_strerror (err), detail);
    else
        snprintf (last_detail, sizeof last_detail, "%s", fling_strerror (err));
    last_detail_err = err;
    errno = err;
}

const char *fling_last_error (void)
{
    if (!last_detail[0] || errno != last_detail_err)
        return fling_strerror (errno);
    return last_detail;
}
