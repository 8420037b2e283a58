/*  fling_wal_format.c - see fling_wal_format.h. */
#include "fling_wal_format.h"
#include "fling_crc32c.h"
#include "fling_log.h"

#include <inttypes.h>
#include <string.h>

#define SEGMENT_MAGIC "FLINGWAL"
#define ERRORS_LOGGED 8 /* per segment; the rest are counted */

static void put_u32 (uint8_t *p, uint32_t v)
{
    memcpy (p, &v, 4); /* on-disk integers are little-endian: x86 and ARM both */
}

static uint32_t get_u32 (const uint8_t *p)
{
    uint32_t v;
    memcpy (&v, p, 4);
    return v;
}

void fling_wal_header_make (uint8_t header[FLING_WAL_SEGMENT_HEADER], uint32_t id)
{
    memset (header, 0, FLING_WAL_SEGMENT_HEADER);
    memcpy (header, SEGMENT_MAGIC, 8);
    put_u32 (header + 8, FLING_WAL_VERSION);
    put_u32 (header + 12, id);
    put_u32 (header + 16, fling_crc32c (0, header, 16));
}

static int header_version (const uint8_t *data, size_t size, uint32_t id)
{
    if (size < FLING_WAL_SEGMENT_HEADER || memcmp (data, SEGMENT_MAGIC, 8) != 0 ||
        get_u32 (data + 12) != id || get_u32 (data + 16) != fling_crc32c (0, data, 16))
        return 0;
    uint32_t version = get_u32 (data + 8);
    return version >= 1 && version <= INT32_MAX ? (int)version : 0;
}

size_t fling_wal_record_encode (uint8_t *p, uint8_t type, const void *head, size_t head_size,
                                const void *body, size_t body_size)
{
    size_t size = head_size + body_size;
    put_u32 (p + 4, (uint32_t)size);
    p[8] = type;
    if (head_size)
        memcpy (p + FLING_WAL_RECORD_HEADER, head, head_size);
    if (body_size)
        memcpy (p + FLING_WAL_RECORD_HEADER + head_size, body, body_size);
    put_u32 (p, fling_crc32c (0, p + 4, 5 + size));
    return FLING_WAL_RECORD_HEADER + size;
}

size_t fling_wal_commit_encode (uint8_t *p, uint32_t segment, uint64_t offset)
{
    uint8_t body[12];
    put_u32 (body, segment);
    memcpy (body + 4, &offset, 8);
    return fling_wal_record_encode (p, FLING_WAL_TYPE_COMMIT, NULL, 0, body, sizeof body);
}

/* ---- reading back ---------------------------------------------------------- */

/* Size of a valid record at `p` (within `avail` bytes), or 0 if none. */
static size_t record_valid (const uint8_t *p, size_t avail)
{
    if (avail < FLING_WAL_RECORD_HEADER)
        return 0;
    uint32_t size = get_u32 (p + 4);
    if (p[8] == 0 || size > FLING_WAL_RECORD_BODY_MAX ||
        FLING_WAL_RECORD_HEADER + (size_t)size > avail)
        return 0;
    if (fling_crc32c (0, p + 4, 5 + (size_t)size) != get_u32 (p))
        return 0;
    return FLING_WAL_RECORD_HEADER + size;
}

/* A marker is valid only where it was written: a copy of one inside a
   task's payload, found while resynchronising, does not count. */
static bool is_marker (const uint8_t *data, size_t at, size_t n, uint32_t id)
{
    if (data[at + 8] != FLING_WAL_TYPE_COMMIT || n != FLING_WAL_COMMIT_SIZE)
        return false;
    uint64_t offset;
    memcpy (&offset, data + at + FLING_WAL_RECORD_HEADER + 4, 8);
    return get_u32 (data + at + FLING_WAL_RECORD_HEADER) == id && offset == at;
}

/* Offset of the next valid record at or after `from`, or `size`. */
static size_t resync (const uint8_t *data, size_t size, size_t from)
{
    while (from < size && !record_valid (data + from, size - from))
        from++;
    return from;
}

static bool all_zero (const uint8_t *p, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (p[i])
            return false;
    return true;
}

/* End of the first record-like thing acknowledged after `from`, or 0:
   with markers (version 2 and later), the next valid commit marker; without (version
   1, or a header too damaged to tell), any valid record, as older brokers
   judged. */
static size_t committed_after (const uint8_t *data, size_t size, size_t from, uint32_t id,
                               int version)
{
    size_t at = resync (data, size, from);
    while (at < size) {
        size_t n = record_valid (data + at, size - at);
        if (!n) {
            at = resync (data, size, at + 1);
            continue;
        }
        if (version < 2 || is_marker (data, at, n, id))
            return at + n;
        at += n;
    }
    return 0;
}

void fling_wal_scan (const uint8_t *data, size_t size, uint32_t id, bool newest,
                     fling_wal_record_fn *fn, void *arg, fling_wal_scan_t *out)
{
    memset (out, 0, sizeof *out);
    out->version = header_version (data, size, id);
    if (out->version > FLING_WAL_VERSION)
        return; /* a newer fling's: not ours to read, nor to call damaged */
    out->damaged = out->version == 0;
    out->end = FLING_WAL_SEGMENT_HEADER;
    size_t offset = FLING_WAL_SEGMENT_HEADER; /* records start here even under a bad header */
    size_t committed = 0;                     /* everything before this was acknowledged */
    while (offset < size) {
        size_t n = record_valid (data + offset, size - offset);
        if (n) {
            if (data[offset + 8] != FLING_WAL_TYPE_COMMIT) {
                fn (data[offset + 8], data + offset + FLING_WAL_RECORD_HEADER,
                    n - FLING_WAL_RECORD_HEADER, id, arg);
                out->records++;
                out->bytes += n;
            }
            offset += n;
            out->end = offset;
            continue;
        }
        if (all_zero (data + offset, size - offset))
            break; /* the unwritten, preallocated rest */
        if (newest && offset >= committed &&
            !(committed = committed_after (data, size, offset + 1, id, out->version))) {
            size_t last = size; /* a torn write: nothing after it was acknowledged */
            while (last > offset && data[last - 1] == 0)
                last--;
            out->torn_bytes = last - offset;
            break;
        }
        size_t next = resync (data, size, offset + 1);
        if (out->corrupt_records++ < ERRORS_LOGGED)
            fling_error ("store: segment %016" PRIx32 ".seg: %zu damaged bytes at offset %zu "
                         "(once durable: not a torn write); skipped, reading on",
                         id, next - offset, offset);
        out->damaged = true;
        offset = next;
    }
}
