/*  fling_validate.h - checks a task in the caller's thread before it is
    queued, so nothing invalid ever leaves the process.

    Cost matters: fling_send() pays for this on every call. The payload
    check is fling_json_check: one pass, no allocation (~0.1 us for 100
    bytes, against ~1.4 us for a jansson parse). jansson stays as the
    reference (fling_validate_payload_reference): the check must give the
    same accept/refuse and errno on every input (fuzz/fuzz_json.c,
    tests/unit/test_validate.c). jansson is also the fallback when more
    keys are open at once than the check's FLING_JSON_KEY_SLOTS (128).
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
    or -1 with errno; fling_last_error() then has the reason and the
    position (line, column in bytes, byte offset). */
int fling_validate_payload (const char *json, size_t json_size);

/*  The same rules the old way: a bracket prescan, then jansson's
    json_loadb (JSON_REJECT_DUPLICATES). Same acceptance and errno as
    fling_validate_payload, ~10x slower; for tests, the fuzzer and the
    rare payloads fling_json_check leaves undecided. */
int fling_validate_payload_reference (const char *json, size_t json_size);

/*  Both checks. `name` and `json` are NUL-terminated; json_size 0 means
    strlen(json). On success the measured sizes are stored in *name_size
    and *json_size_out (either may be NULL). */
int fling_validate_task (const char *name, const char *json, size_t json_size, size_t *name_size,
                         size_t *json_size_out);

#ifdef __cplusplus
}
#endif

#endif
