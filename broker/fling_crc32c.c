/*  fling_crc32c.c - see fling_crc32c.h. */
#include "fling_crc32c.h"

#include <string.h>

static uint32_t table[256];
static int table_ready;

static void table_init (void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        table[i] = crc;
    }
    table_ready = 1;
}

static uint32_t crc_table (uint32_t crc, const uint8_t *p, size_t size)
{
    if (!table_ready)
        table_init (); /* idempotent: a race writes the same values twice */
    while (size--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__ ((target ("sse4.2"))) static uint32_t crc_sse42 (uint32_t crc, const uint8_t *p,
                                                               size_t size)
{
    uint64_t c = crc;
    while (size >= 8) {
        uint64_t word;
        memcpy (&word, p, 8);
        c = __builtin_ia32_crc32di (c, word);
        p += 8;
        size -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (size--)
        c32 = __builtin_ia32_crc32qi (c32, *p++);
    return c32;
}
#endif

uint32_t fling_crc32c (uint32_t crc, const void *data, size_t size)
{
    crc = ~crc;
#if defined(__x86_64__)
    static int has_sse42 = -1;
    if (has_sse42 < 0)
        has_sse42 = __builtin_cpu_supports ("sse4.2") ? 1 : 0;
    if (has_sse42)
        return ~crc_sse42 (crc, (const uint8_t *)data, size);
#endif
    return ~crc_table (crc, (const uint8_t *)data, size);
}
