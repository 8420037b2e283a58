/*  fling_json_check.h - a strict JSON check for fling_send's hot path: one
    pass over the bytes, no allocation, no tree.

    It accepts exactly what the reference rules accept
    (fling_validate_payload_reference: jansson 2.14's json_loadb with
    JSON_REJECT_DUPLICATES, top level an object, nesting at most
    FLING_JSON_DEPTH_MAX, no NUL byte). In jansson's terms that means: RFC
    8259 syntax; only ' ', \t, \n, \r as whitespace; the whole input is the
    one value; valid UTF-8 everywhere (no overlong forms, no encoded
    surrogates, nothing above U+10FFFF); in strings no byte below 0x20, a
    \u escape of a high surrogate must be followed at once by a \u escape
    of a low one, a lone low surrogate is refused, and \u0000 is refused;
    integers (no fraction, no exponent) must fit in a signed 64-bit
    integer; reals must not overflow a double (round-to-nearest, so at or
    above 2^1024 - 2^970); duplicate keys in one object are refused, keys
    compared after unescaping ("a" and "\u0061" are the same key).

    Duplicate keys are found by comparing each key with the earlier keys of
    its object, held in `key_slots` slots on the stack (shared by all the
    objects open at once). When they run out the check cannot decide
    duplicates and says so (FLING_JSON_UNDECIDED) after checking everything
    else: the caller then asks jansson, which has the same semantics.
*/
#ifndef FLING_JSON_CHECK_H_INCLUDED
#define FLING_JSON_CHECK_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Most key slots fling_json_check uses (a larger request is clamped). */
#define FLING_JSON_KEY_SLOTS 128

typedef enum {
    FLING_JSON_VALID = 0,
    FLING_JSON_INVALID = -1,
    FLING_JSON_UNDECIDED = 1 /* all valid but duplicate keys not checked */
} fling_json_verdict_t;

typedef struct {
    size_t offset; /* byte offset where the problem was seen, 0-based */
    int line;      /* 1-based */
    int column;    /* 1-based, in bytes */
    char text[96];
} fling_json_error_t;

/*  Checks `size` bytes (no NUL terminator needed; none is read). `error`
    (may be NULL) is filled when the verdict is FLING_JSON_INVALID. The
    size cap is the caller's business (from 2 GiB on, duplicates are always
    left undecided). */
fling_json_verdict_t fling_json_check (const char *json, size_t size, size_t key_slots,
                                       fling_json_error_t *error);

#ifdef __cplusplus
}
#endif

#endif
