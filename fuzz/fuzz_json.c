/*  fuzz_json.c - differential libFuzzer target for the payload check.

    Feeds the same bytes to fling_validate_payload (the single-pass check,
    producer/fling_json_check.c) and to fling_validate_payload_reference
    (the old rules: bracket prescan + jansson's json_loadb) and aborts when
    they disagree on accept/refuse or on errno. It also runs the check with
    very few key slots, so the "undecided" path (duplicates left to
    jansson) and the slot bookkeeping of nested objects get exercised: when
    that run decides, it must agree too. And an error's position must lie
    inside the input.
      ./bin/fuzz_json -dict=fuzz/json.dict corpus-dir fuzz/corpus/json
*/
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fling_json_check.h"
#include "fling_validate.h"

static void disagree (const char *what, const uint8_t *data, size_t size, int a, int b)
{
    fprintf (stderr, "fuzz_json: %s disagree: %d vs %d on %zu bytes: '%.*s'\n", what, a, b, size,
             (int)(size < 200 ? size : 200), (const char *)data);
    abort ();
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    errno = 0;
    int fast = fling_validate_payload (json, size);
    int fast_errno = fast ? errno : 0;
    errno = 0;
    int ref = fling_validate_payload_reference (json, size);
    int ref_errno = ref ? errno : 0;
    if (fast != ref)
        disagree ("fling_validate_payload vs reference", data, size, fast, ref);
    if (fast_errno != ref_errno)
        disagree ("errno", data, size, fast_errno, ref_errno);

    fling_json_error_t error;
    for (size_t slots = 0; slots <= 3; slots++) {
        fling_json_verdict_t v = fling_json_check (json, size, slots, &error);
        if (v == FLING_JSON_INVALID && error.offset > size)
            disagree ("error offset", data, size, (int)error.offset, (int)size);
        if (v == FLING_JSON_UNDECIDED)
            continue;
        if ((v == FLING_JSON_VALID) != (ref == 0))
            disagree ("few key slots vs reference", data, size, (int)v, ref);
    }
    return 0;
}
