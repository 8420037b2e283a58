/*  fling_validate.h - checks a task in the caller's thread before it is
    queued, so nothing invalid ever leaves the process.

    Cost matters: fling_send() pays for this on every call. One pass over the
    payload (size, NUL bytes, nesting depth) and one jansson parse; nothing
    else.
*/
#ifndef FLING_VALIDATE_H_INCLUDED
#define FLING_VALIDATE_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Deepest nesting of objects and arrays a payload may have. */
#define FLING_JSON_DEPTH_MAX 64

/*  Checks a task name: 1-127 bytes of [A-Za-z0-9._:-]. Returns 0, or -1
    with errno FLING_EBADNAME (also for NULL). */
int fling_validate_name (const char *name, size_t name_size);

/*  Checks a payload: at most FLING_PAYLOAD_MAX bytes (else FLING_ETOOLARGE),
    no NUL byte, nesting at most FLING_JSON_DEPTH_MAX, one JSON object with
    no duplicate keys and nothing after it (else FLING_EBADJSON). Returns 0,
    or -1 with errno; fling_last_error() then has jansson's text and the
    position. */
int fling_validate_payload (const char *json, size_t json_size);

/*  Both checks. `name` and `json` are NUL-terminated; json_size 0 means
    strlen(json). On success the measured sizes are stored in *name_size
    and *json_size_out (either may be NULL). */
int fling_validate_task (const char *name, const char *json, size_t json_size, size_t *name_size,
                         size_t *json_size_out);

#ifdef __cplusplus
}
#endif

#endif
