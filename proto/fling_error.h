/*  fling_error.h - fling's error codes and their text.

    Public functions return 0 / -1 with errno, or NULL with errno, as libzmq
    and czmq do. errno holds either a system code (EAGAIN, EINVAL, ENOMEM,
    ETIMEDOUT...) or one of fling's own codes below, which sit above
    FLING_EBASE so they never collide with the system's. fling_strerror()
    turns any of them into text.
*/
#ifndef FLING_ERROR_H_INCLUDED
#define FLING_ERROR_H_INCLUDED

#include "fling_api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FLING_EBASE 0x464c0000 /* "FL" */

enum {
    FLING_EBADNAME = FLING_EBASE + 1, /* task name empty, too long or bad bytes */
    FLING_EBADJSON,                   /* payload is not one valid JSON object */
    FLING_ETOOLARGE,                  /* payload above the size cap */
    FLING_EQUEUEFULL,                 /* broker refused: a queue is at its limit */
    FLING_ESTOREFULL,                 /* broker refused: its store is full */
    FLING_EUNAVAILABLE,               /* broker refused: shutting down or store failed */
    FLING_EPROTO,                     /* malformed or unexpected protocol message */
    /* FLING_EBASE + 8 is not used: a full outbox is EAGAIN (fling_send). */
    FLING_ECLOSED = FLING_EBASE + 9, /* producer is being destroyed */
    FLING_EFORBIDDEN,                /* broker refused: this key may not do that */
    FLING_EVERSION,                  /* broker refused: it does not speak FLP/1.2, which
                                        a delay, priority or unique key needs */
    FLING_EBADTASK,                  /* broker refused the record itself (BAD_TASK): a name it
                                        refuses or an extension it does not accept */
    FLING_EMAX
};

/*  Returns a readable text for a system errno value or a fling code.
    The text is static; never free it. */
FLING_EXPORT const char *fling_strerror (int err);

/*  Returns the text of the last error the calling thread saw in fling:
    fling_strerror(errno) plus detail where fling has some (for example
    the position of a JSON syntax error). */
FLING_EXPORT const char *fling_last_error (void);

/*  Sets errno to `err` and records `detail` (may be NULL) as the calling
    thread's last error text. For fling's own libraries. */
FLING_EXPORT void fling_set_last_error (int err, const char *detail);

#ifdef __cplusplus
}
#endif

#endif
