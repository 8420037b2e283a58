/*  fling_result.c - result records and leases (proto/SPEC.md §3.2, §3.3). */
#include "fling_proto.h"
#include "fling_proto_internal.h"
#include "fling_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- result records (SPEC.md §3.2) ----------------------------------------

    0   16   task id
    16  u16  attempt
    18  u8   outcome
    19  u32  retry_delay_ms
    23  u16  E, error text length
    25  E    error text (UTF-8, no terminator)
*/
enum {
    RES_ATTEMPT = 16,
    RES_OUTCOME = 18,
    RES_RETRY_DELAY = 19,
    RES_ERROR_SIZE = 23,
    RES_ERROR = 25,
};
_Static_assert(RES_ERROR == FLING_RESULT_OVERHEAD, "result layout and its overhead disagree");

size_t fling_result_size (size_t error_size)
{
    return FLING_RESULT_OVERHEAD + error_size;
}

size_t fling_result_write (uint8_t *dest, const fling_result_t *result)
{
    size_t error_size = result->error_size;
    if (error_size > FLING_ERROR_TEXT_MAX)
        error_size = FLING_ERROR_TEXT_MAX;
    memcpy (dest, result->id.bytes, FLING_TASK_ID_SIZE);
    fling_put_u16 (dest + RES_ATTEMPT, result->attempt);
    dest[RES_OUTCOME] = result->outcome;
    fling_put_u32 (dest + RES_RETRY_DELAY, result->retry_delay_ms);
    fling_put_u16 (dest + RES_ERROR_SIZE, (uint16_t)error_size);
    if (error_size)
        memcpy (dest + RES_ERROR, result->error, error_size);
    return FLING_RESULT_OVERHEAD + error_size;
}

int fling_result_next (const uint8_t **cursor, const uint8_t *end, fling_result_t *out,
                       fling_reason_t *reason)
{
    const uint8_t *p = *cursor;
    if (p == end)
        return 0;
    *reason = FLING_REASON_MALFORMED;
    size_t avail = (size_t)(end - p);
    if (avail < FLING_RESULT_OVERHEAD)
        return -1;
    size_t error_size = fling_get_u16 (p + RES_ERROR_SIZE);
    if (error_size > FLING_ERROR_TEXT_MAX || FLING_RESULT_OVERHEAD + error_size > avail)
        return -1;
    if (p[RES_OUTCOME] >= FLING_OUTCOME_MAX) {
        *reason = FLING_REASON_BAD_FIELD;
        return -1;
    }
    memcpy (out->id.bytes, p, FLING_TASK_ID_SIZE);
    out->attempt = fling_get_u16 (p + RES_ATTEMPT);
    out->outcome = p[RES_OUTCOME];
    out->retry_delay_ms = fling_get_u32 (p + RES_RETRY_DELAY);
    out->error = error_size ? (const char *)p + RES_ERROR : NULL;
    out->error_size = error_size;
    *cursor = p + FLING_RESULT_OVERHEAD + error_size;
    *reason = FLING_REASON_OK;
    return 1;
}

/* ---- leases (SPEC.md §3.3): id, u16 attempt ---------------------------- */

size_t fling_lease_write (uint8_t *dest, const fling_task_id_t *id, uint16_t attempt)
{
    memcpy (dest, id->bytes, FLING_TASK_ID_SIZE);
    fling_put_u16 (dest + FLING_TASK_ID_SIZE, attempt);
    return FLING_LEASE_SIZE;
}

int fling_lease_next (const uint8_t **cursor, const uint8_t *end, fling_task_id_t *id,
                      uint16_t *attempt)
{
    const uint8_t *p = *cursor;
    if (p == end)
        return 0;
    if (end - p < FLING_LEASE_SIZE)
        return -1;
    memcpy (id->bytes, p, FLING_TASK_ID_SIZE);
    *attempt = fling_get_u16 (p + FLING_TASK_ID_SIZE);
    *cursor = p + FLING_LEASE_SIZE;
    return 1;
}
