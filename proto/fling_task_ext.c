/*  fling_task_ext.c - FLP/1.2 task extensions (proto/SPEC.md §3.6): their
    size, their bytes, and the checks a receiver runs on them.

    An extension is a type byte, a length byte and a value, in increasing
    type order, each type at most once. The order makes the encoding
    canonical (one task, one byte string: golden vectors hold) and "at most
    once" a single comparison.
*/
#include "fling_proto.h"
#include "fling_proto_internal.h"

#include <string.h>

enum {
    EXT_DELAY = 1,    /* u32 delay_ms */
    EXT_DUE_AT = 2,   /* u64 UTC ms */
    EXT_PRIORITY = 3, /* u8 0..9 */
    EXT_UNIQUE = 4,   /* u32 ttl_ms, key */
};
#define EXT_HEAD 2 /* type, length */

static bool key_valid (const char *key, size_t size)
{
    if (size == 0 || size > FLING_UNIQUE_KEY_MAX)
        return false;
    for (size_t i = 0; i < size; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return false;
    return true;
}

size_t fling_task_ext_size (const fling_task_ext_t *ext)
{
    if (!ext)
        return 0;
    size_t size = 0;
    if (ext->delay_ms)
        size += EXT_HEAD + 4;
    if (ext->due_at_ms)
        size += EXT_HEAD + 8;
    if (ext->priority)
        size += EXT_HEAD + 1;
    if (ext->key)
        size += EXT_HEAD + 4 + ext->key_size;
    return size;
}

const char *fling_task_ext_problem (const fling_task_ext_t *ext)
{
    if (!ext)
        return NULL;
    if (ext->delay_ms && ext->due_at_ms)
        return "a delay and a due time are mutually exclusive";
    if (ext->priority > FLING_PRIORITY_MAX)
        return "priority above 9";
    if (ext->key && !key_valid (ext->key, ext->key_size))
        return "unique key empty, above 128 bytes or not printable ASCII without spaces";
    return NULL;
}

size_t fling_task_ext_write (uint8_t *dest, const fling_task_ext_t *ext)
{
    uint8_t *p = dest;
    if (!ext)
        return 0;
    if (ext->delay_ms) {
        *p++ = EXT_DELAY;
        *p++ = 4;
        fling_put_u32 (p, ext->delay_ms);
        p += 4;
    }
    if (ext->due_at_ms) {
        *p++ = EXT_DUE_AT;
        *p++ = 8;
        fling_put_u64 (p, ext->due_at_ms);
        p += 8;
    }
    if (ext->priority) {
        *p++ = EXT_PRIORITY;
        *p++ = 1;
        *p++ = ext->priority;
    }
    if (ext->key) {
        *p++ = EXT_UNIQUE;
        *p++ = (uint8_t)(4 + ext->key_size);
        fling_put_u32 (p, ext->key_ttl_ms);
        memcpy (p + 4, ext->key, ext->key_size);
        p += 4 + ext->key_size;
    }
    return (size_t)(p - dest);
}

/* One extension's value into `out`; its length already matches its type. */
static const char *ext_value (uint8_t type, const uint8_t *v, uint8_t len, fling_task_ext_t *out)
{
    switch (type) {
    case EXT_DELAY:
        out->delay_ms = fling_get_u32 (v);
        return out->delay_ms ? NULL : "task extension: delay 0";
    case EXT_DUE_AT:
        out->due_at_ms = fling_get_u64 (v);
        if (out->delay_ms)
            return "task extension: a delay and a due time";
        return out->due_at_ms ? NULL : "task extension: due time 0";
    case EXT_PRIORITY:
        /* 0 is said by leaving the extension out: one task, one encoding. */
        out->priority = v[0];
        return v[0] >= 1 && v[0] <= FLING_PRIORITY_MAX ? NULL : "task extension: priority not 1..9";
    default: /* EXT_UNIQUE */
        out->key_ttl_ms = fling_get_u32 (v);
        out->key = (const char *)v + 4;
        out->key_size = (size_t)len - 4;
        return key_valid (out->key, out->key_size) ? NULL : "task extension: unique key not [!-~]";
    }
}

/* The length each type must have; 0 for a type not known. A key's is a
   range, checked by the caller. */
static bool ext_length_ok (uint8_t type, uint8_t len)
{
    switch (type) {
    case EXT_DELAY:
        return len == 4;
    case EXT_DUE_AT:
        return len == 8;
    case EXT_PRIORITY:
        return len == 1;
    case EXT_UNIQUE:
        return len >= 5 && len <= 4 + FLING_UNIQUE_KEY_MAX;
    default:
        return false;
    }
}

uint8_t fling_task_ext_priority (const uint8_t *p, size_t size)
{
    /* Checked extensions: in increasing type order, each fits. */
    for (const uint8_t *end = p + size; p < end && p[0] <= EXT_PRIORITY; p += EXT_HEAD + p[1])
        if (p[0] == EXT_PRIORITY)
            return p[EXT_HEAD];
    return 0;
}

const char *fling_task_ext_parse (const uint8_t *p, size_t size, fling_task_ext_t *out)
{
    memset (out, 0, sizeof *out);
    const uint8_t *end = p + size;
    uint8_t last = 0;
    while (p < end) {
        if (end - p < EXT_HEAD || (size_t)(end - p) < (size_t)EXT_HEAD + p[1])
            return "task extension: runs past the record";
        uint8_t type = p[0], len = p[1];
        if (type < EXT_DELAY || type > EXT_UNIQUE)
            return "task extension: a type this broker does not know";
        if (type <= last)
            return "task extension: types out of order or repeated";
        if (!ext_length_ok (type, len))
            return "task extension: wrong length for its type";
        const char *problem = ext_value (type, p + EXT_HEAD, len, out);
        if (problem)
            return problem;
        last = type;
        p += EXT_HEAD + len;
    }
    return NULL;
}
