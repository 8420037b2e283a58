/*  fling_task_id.c - task ids and their text form (proto/SPEC.md §3.1). */
#include "fling_proto.h"
#include "fling_proto_internal.h"
#include "fling_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- task ids ---------------------------------------------------------- */

void fling_task_id_make (fling_task_id_t *id, uint64_t producer, uint64_t seq)
{
    fling_put_u64 (id->bytes, producer);
    fling_put_u64 (id->bytes + 8, seq);
}

uint64_t fling_task_id_producer (const fling_task_id_t *id)
{
    return fling_get_u64 (id->bytes);
}

uint64_t fling_task_id_seq (const fling_task_id_t *id)
{
    return fling_get_u64 (id->bytes + 8);
}

/* The text form is "%016" PRIx64 ":%" PRIu64, written by hand: the
   worker formats one per task and snprintf costs ten times as much. */
_Static_assert(FLING_TASK_ID_TEXT_SIZE >= 16 + 1 + 20 + 1, "id text buffer too small");

char *fling_task_id_format (const fling_task_id_t *id, char buf[FLING_TASK_ID_TEXT_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) { /* the producer half, big-endian in the id */
        buf[2 * i] = hex[id->bytes[i] >> 4];
        buf[2 * i + 1] = hex[id->bytes[i] & 15];
    }
    buf[16] = ':';
    char digits[20]; /* UINT64_MAX has 20 */
    size_t n = 0;
    uint64_t seq = fling_task_id_seq (id);
    do {
        digits[n++] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq);
    for (size_t i = 0; i < n; i++)
        buf[17 + i] = digits[n - 1 - i];
    buf[17 + n] = '\0';
    return buf;
}

int fling_task_id_parse (fling_task_id_t *id, const char *text)
{
    uint64_t producer = 0, seq = 0;
    int i;
    for (i = 0; i < 16; i++) {
        char c = text[i];
        int digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else
            return -1;
        producer = (producer << 4) | (uint64_t)digit;
    }
    /* One text form per id: no empty sequence, no leading zeros. */
    if (text[16] != ':' || text[17] == '\0' || (text[17] == '0' && text[18] != '\0'))
        return -1;
    for (i = 17; text[i]; i++) {
        if (text[i] < '0' || text[i] > '9' || i > 17 + 19)
            return -1;
        uint64_t next = seq * 10 + (uint64_t)(text[i] - '0');
        if (next / 10 != seq)
            return -1;
        seq = next;
    }
    fling_task_id_make (id, producer, seq);
    return 0;
}
