/*  fling_crc32c.h - CRC-32C (Castagnoli), the checksum of every store record.
    Uses the SSE4.2 crc32 instruction where the CPU has it, a table elsewhere. */
#ifndef FLING_CRC32C_H_INCLUDED
#define FLING_CRC32C_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

/* Continues `crc` (0 to start) over `size` bytes. */
uint32_t fling_crc32c (uint32_t crc, const void *data, size_t size);

#endif
