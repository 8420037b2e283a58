/*  fling_wal_format.h - the bytes of the broker's log, and reading them back.

    A segment file ("<16 hex digits>.seg", preallocated) starts with a
    32-byte header:

        "FLINGWAL"  u32 version  u32 segment id  u32 crc32c of the 16 bytes before  12 zero bytes

    then records, back to back, then zeros (the preallocated rest):

        u32 crc32c   of everything after this field
        u32 size     of the body
        u8  type     1..254 for the caller's records, 255 for a commit marker
        ... body

    Integers are little-endian. Version 2 logs end each commit's records
    with a commit marker (body: u32 segment id, u64 its own offset), written
    in the same fdatasync as the records. Version 1 (older brokers) has no
    markers; both are read.

    Why markers: they tell a torn tail from damage. Bytes after the newest
    segment's last marker belong to a commit whose fdatasync may never have
    finished (nothing in it was acknowledged): a bad record there is a torn
    write and is cut off. A bad record before a marker, or anywhere in an
    older segment (each one was fdatasynced when the log moved past it), was
    durable once: that is damage, never dropped in silence.
*/
#ifndef FLING_WAL_FORMAT_H_INCLUDED
#define FLING_WAL_FORMAT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLING_WAL_SEGMENT_HEADER  32
#define FLING_WAL_RECORD_HEADER   9 /* crc u32, size u32, type u8 */
#define FLING_WAL_RECORD_BODY_MAX (16u << 20)
#define FLING_WAL_TYPE_COMMIT     255
#define FLING_WAL_COMMIT_SIZE     (FLING_WAL_RECORD_HEADER + 12)
#define FLING_WAL_VERSION         3

/*  Called for each valid record of the caller's (markers are not),
    oldest first; `segment` is where it lives. */
typedef void (fling_wal_record_fn) (uint8_t type, const uint8_t *body, size_t size,
                                    uint32_t segment, void *arg);

void fling_wal_header_make (uint8_t header[FLING_WAL_SEGMENT_HEADER], uint32_t id);

/*  Writes one record at `p` (head then body, `head` may be NULL); returns
    its size on disk. */
size_t fling_wal_record_encode (uint8_t *p, uint8_t type, const void *head, size_t head_size,
                                const void *body, size_t body_size);

/*  Writes the commit marker that sits at `offset` of segment `segment`. */
size_t fling_wal_commit_encode (uint8_t *p, uint32_t segment, uint64_t offset);

/*  What fling_wal_scan found in one segment. */
typedef struct {
    size_t end;               /* end of the last valid record: where appends would go */
    uint64_t records;         /* valid records handed over (markers not counted) */
    uint64_t bytes;           /* their bytes on disk */
    uint64_t corrupt_records; /* bad stretches of once-durable data, each skipped */
    uint64_t torn_bytes;      /* non-zero bytes of a torn tail (newest segment only) */
    int version;              /* of the header; 0: bad header (wrong magic, id or crc);
                                 above FLING_WAL_VERSION: a newer format, nothing read */
    bool damaged;             /* bad header or corrupt records: not read in full */
} fling_wal_scan_t;

/*  Reads segment `id`'s bytes: hands every valid record to fn, skipping
    bad stretches (resynchronising on the next record whose crc holds: a
    bad header or a damaged record hides nothing after it). `newest`: this
    is the log's newest segment, the only one that can have a torn tail.
    Each bad stretch taken for damage is logged at ERROR (the first few of
    a segment; all are counted). */
void fling_wal_scan (const uint8_t *data, size_t size, uint32_t id, bool newest,
                     fling_wal_record_fn *fn, void *arg, fling_wal_scan_t *out);

#endif
