/*  fling_record.c - task names and task records, FLP/1.2 extensions
    included (proto/SPEC.md §3.1, §3.6): writing, checking, reading. */
#include "fling_proto.h"
#include "fling_proto_internal.h"
#include "fling_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- names ------------------------------------------------------------- */

/* [A-Za-z0-9._:-] as a table: every record of every SUBMIT and DISPATCH
   is checked, and one load per byte costs a quarter of six range tests. */
static const uint8_t name_chars[256] = {
    ['-'] = 1, ['.'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, [':'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,
    ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
    ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1,
    ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['_'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

bool fling_name_valid (const char *name, size_t name_size)
{
    if (name_size == 0 || name_size > FLING_NAME_MAX)
        return false;
    unsigned ok = 1;
    for (size_t i = 0; i < name_size; i++)
        ok &= name_chars[(unsigned char)name[i]];
    return ok;
}

/* ---- task records (SPEC.md §3.1) ------------------------------------------

    0   u32  L, bytes that follow this field
    4   16   task id
    20  u16  attempt
    22  u16  max_attempts
    24  u32  timeout_ms
    28  u32  backoff_ms
    32  u8   N, name length
    33  N    name, then one zero byte
    34+N u32 P, payload length
    38+N P   payload, then one zero byte
*/
enum {
    REC_ID = 4,
    REC_ATTEMPT = FLING_RECORD_OFFSET_ATTEMPT,
    REC_MAX_ATTEMPTS = 22,
    REC_TIMEOUT = 24,
    REC_BACKOFF = 28,
    REC_NAME_SIZE = 32,
    REC_NAME = 33,
    REC_PAYLOAD_SIZE = 34, /* + N */
    REC_PAYLOAD = 38,      /* + N */
};
/* The two zero bytes after name and payload are the rest of the overhead. */
_Static_assert(REC_PAYLOAD + 1 == FLING_RECORD_OVERHEAD, "record layout and its overhead disagree");

size_t fling_record_size (size_t name_size, size_t payload_size)
{
    return FLING_RECORD_OVERHEAD + name_size + payload_size;
}

size_t fling_record_size_ext (size_t name_size, size_t payload_size, const fling_task_ext_t *ext)
{
    return FLING_RECORD_OVERHEAD + name_size + payload_size + fling_task_ext_size (ext);
}

size_t fling_record_write_ext (uint8_t *dest, const fling_task_id_t *id, uint16_t attempt,
                               uint16_t max_attempts, uint32_t timeout_ms, uint32_t backoff_ms,
                               const char *name, size_t name_size, const char *payload,
                               size_t payload_size, const fling_task_ext_t *ext)
{
    size_t base = fling_record_size (name_size, payload_size);
    memcpy (dest + REC_ID, id->bytes, FLING_TASK_ID_SIZE);
    fling_put_u16 (dest + REC_ATTEMPT, attempt);
    fling_put_u16 (dest + REC_MAX_ATTEMPTS, max_attempts);
    fling_put_u32 (dest + REC_TIMEOUT, timeout_ms);
    fling_put_u32 (dest + REC_BACKOFF, backoff_ms);
    dest[REC_NAME_SIZE] = (uint8_t)name_size;
    memcpy (dest + REC_NAME, name, name_size);
    dest[REC_NAME + name_size] = 0;
    fling_put_u32 (dest + REC_PAYLOAD_SIZE + name_size, (uint32_t)payload_size);
    memcpy (dest + REC_PAYLOAD + name_size, payload, payload_size);
    dest[REC_PAYLOAD + name_size + payload_size] = 0;
    size_t total = base + fling_task_ext_write (dest + base, ext);
    fling_put_u32 (dest, (uint32_t)(total - 4));
    return total;
}

size_t fling_record_write (uint8_t *dest, const fling_task_id_t *id, uint16_t attempt,
                           uint16_t max_attempts, uint32_t timeout_ms, uint32_t backoff_ms,
                           const char *name, size_t name_size, const char *payload,
                           size_t payload_size)
{
    return fling_record_write_ext (dest, id, attempt, max_attempts, timeout_ms, backoff_ms, name,
                                   name_size, payload, payload_size, NULL);
}

static bool name_valid_cached (const char *name, size_t size, fling_name_cache_t *cache)
{
    if (cache->name && cache->size == size && memcmp (cache->name, name, size) == 0)
        return true;
    if (!fling_name_valid (name, size))
        return false;
    cache->name = name;
    cache->size = size;
    return true;
}

int fling_record_frame (const uint8_t *p, const uint8_t *end, size_t *total)
{
    if (p == end)
        return 0;
    size_t avail = (size_t)(end - p);
    if (avail < FLING_RECORD_OVERHEAD)
        return -1;
    *total = (size_t)fling_get_u32 (p) + 4;
    return *total >= FLING_RECORD_OVERHEAD && *total <= avail ? 1 : -1;
}

/* The bytes of the record at `p` without its extensions. The name's
   length must fit in `total` before this is called. */
static size_t base_size (const uint8_t *p)
{
    size_t name_size = p[REC_NAME_SIZE];
    return FLING_RECORD_OVERHEAD + name_size + fling_get_u32 (p + REC_PAYLOAD_SIZE + name_size);
}

/* Lengths, zero bytes and extensions of a framed record (SPEC.md §3.1,
   §3.6). Extensions only with FLING_CHECK_EXTENSIONS; without, the record
   must end at its payload's zero byte, as in FLP/1.1. */
static fling_reason_t record_shape (const uint8_t *p, size_t total, int checks,
                                    const char **problem)
{
    size_t name_size = p[REC_NAME_SIZE];
    *problem = "task record: name or payload length disagrees with the record length";
    if (FLING_RECORD_OVERHEAD + name_size > total)
        return FLING_REASON_BAD_TASK;
    size_t payload_size = fling_get_u32 (p + REC_PAYLOAD_SIZE + name_size);
    if (payload_size > FLING_PAYLOAD_MAX) {
        *problem = "task record: payload above 1 MiB";
        return FLING_REASON_TOO_LARGE;
    }
    size_t base = FLING_RECORD_OVERHEAD + name_size + payload_size;
    if (base > total || (base < total && !(checks & FLING_CHECK_EXTENSIONS)))
        return FLING_REASON_BAD_TASK;
    *problem = "task record: no zero byte after the name or the payload";
    if (p[REC_NAME + name_size] != 0 || p[REC_PAYLOAD + name_size + payload_size] != 0)
        return FLING_REASON_BAD_TASK;
    fling_task_ext_t ext;
    if (base < total && (*problem = fling_task_ext_parse (p + base, total - base, &ext)))
        return FLING_REASON_BAD_TASK;
    return FLING_REASON_OK;
}

fling_reason_t fling_record_content (const uint8_t *p, size_t total, int checks,
                                     fling_name_cache_t *names, const char **problem)
{
    fling_reason_t shape = record_shape (p, total, checks, problem);
    if (shape != FLING_REASON_OK)
        return shape;
    *problem = "task record: name empty, longer than 127 bytes or not [A-Za-z0-9._:-]";
    if (!name_valid_cached ((const char *)p + REC_NAME, p[REC_NAME_SIZE], names))
        return FLING_REASON_BAD_TASK;
    if (checks & FLING_CHECK_SUBMITTED) {
        *problem = "task record: attempt must be 0 in a SUBMIT";
        if (fling_get_u16 (p + REC_ATTEMPT) != 0)
            return FLING_REASON_BAD_TASK;
        *problem = "task record: task id sequence 0 (sequences count from 1)";
        if (fling_get_u64 (p + REC_ID + 8) == 0)
            return FLING_REASON_BAD_TASK;
    }
    *problem = NULL;
    return FLING_REASON_OK;
}

int fling_record_next (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                       fling_reason_t *reason)
{
    size_t total;
    const char *problem;
    fling_name_cache_t none = {NULL, 0};
    int rc = fling_record_frame (*cursor, end, &total);
    if (rc <= 0) {
        *reason = FLING_REASON_BAD_TASK;
        return rc;
    }
    *reason = fling_record_content (*cursor, total, FLING_CHECK_EXTENSIONS, &none, &problem);
    if (*reason != FLING_REASON_OK)
        return -1;
    fling_record_read (cursor, out); /* checked: now read it the one way */
    return 1;
}

int fling_submit_record_next_v (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                                fling_reason_t *status, uint8_t version)
{
    size_t total;
    const char *problem;
    fling_name_cache_t none = {NULL, 0};
    int rc = fling_record_frame (*cursor, end, &total);
    if (rc <= 0)
        return rc;
    int checks = FLING_CHECK_SUBMITTED;
    if (version >= FLING_PROTO_VERSION_SCHED)
        checks |= FLING_CHECK_EXTENSIONS;
    *status = fling_record_content (*cursor, total, checks, &none, &problem);
    if (*status == FLING_REASON_OK)
        fling_record_read (cursor, out);
    else
        *cursor += total;
    return 1;
}

int fling_submit_record_next (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                              fling_reason_t *status)
{
    return fling_submit_record_next_v (cursor, end, out, status, FLING_PROTO_VERSION);
}

void fling_record_read (const uint8_t **cursor, fling_record_t *out)
{
    const uint8_t *p = *cursor;
    size_t total = (size_t)fling_get_u32 (p) + 4;
    size_t name_size = p[REC_NAME_SIZE];
    out->raw = p;
    out->raw_size = total;
    memcpy (out->id.bytes, p + REC_ID, FLING_TASK_ID_SIZE);
    out->attempt = fling_get_u16 (p + REC_ATTEMPT);
    out->max_attempts = fling_get_u16 (p + REC_MAX_ATTEMPTS);
    out->timeout_ms = fling_get_u32 (p + REC_TIMEOUT);
    out->backoff_ms = fling_get_u32 (p + REC_BACKOFF);
    out->name = (const char *)p + REC_NAME;
    out->name_size = name_size;
    out->payload = (const char *)p + REC_PAYLOAD + name_size;
    out->payload_size = fling_get_u32 (p + REC_PAYLOAD_SIZE + name_size);
    size_t base = FLING_RECORD_OVERHEAD + name_size + out->payload_size;
    out->ext_size = total - base;
    /* The common case, a record without extensions, costs one comparison. */
    if (out->ext_size)
        fling_task_ext_parse (p + base, out->ext_size, &out->ext);
    else
        memset (&out->ext, 0, sizeof out->ext);
    *cursor = p + total;
}

size_t fling_record_wire_size (const uint8_t *raw)
{
    return base_size (raw);
}

uint8_t fling_record_priority (const uint8_t *raw)
{
    size_t base = base_size (raw), total = (size_t)fling_get_u32 (raw) + 4;
    return total == base ? 0 : fling_task_ext_priority (raw + base, total - base);
}

size_t fling_record_strip_ext (uint8_t *raw)
{
    size_t base = base_size (raw);
    fling_put_u32 (raw, (uint32_t)(base - 4));
    return base;
}

void fling_record_set_attempt (uint8_t *raw, uint16_t attempt)
{
    fling_put_u16 (raw + REC_ATTEMPT, attempt);
}

void fling_record_id (const uint8_t *raw, fling_task_id_t *id)
{
    memcpy (id->bytes, raw + REC_ID, FLING_TASK_ID_SIZE);
}

uint32_t fling_record_timeout_ms (const uint8_t *raw)
{
    return fling_get_u32 (raw + REC_TIMEOUT);
}

void fling_record_set_timeout_ms (uint8_t *raw, uint32_t timeout_ms)
{
    fling_put_u32 (raw + REC_TIMEOUT, timeout_ms);
}
