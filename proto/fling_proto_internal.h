/*  fling_proto_internal.h - what the files of the codec share and nothing
    else may use: the byte order helpers and the record checks that both
    record iteration (fling_record.c) and message decoding (fling_decode.c)
    run. Not installed; not included outside proto/.

    Integers on the wire are big-endian (network order), as in the ZeroMQ
    RFCs. Every read is bounds-checked against its frame by the caller: a
    peer controls every byte parsed here.
*/
#ifndef FLING_PROTO_INTERNAL_H_INCLUDED
#define FLING_PROTO_INTERNAL_H_INCLUDED

#include "fling_proto.h"

#define FLING_HEADER_SIZE 4 /* 'F' 'L' version command (SPEC.md §2.2) */

/* ---- byte order helpers ------------------------------------------------ */

static inline void fling_put_u16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void fling_put_u32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void fling_put_u64 (uint8_t *p, uint64_t v)
{
    fling_put_u32 (p, (uint32_t)(v >> 32));
    fling_put_u32 (p + 4, (uint32_t)v);
}

static inline uint16_t fling_get_u16 (const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t fling_get_u32 (const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t fling_get_u64 (const uint8_t *p)
{
    return ((uint64_t)fling_get_u32 (p) << 32) | fling_get_u32 (p + 4);
}

/* READY and CAPACITY carry, per class in the order pool then loop, the
   capacity at the start of the fields and the slots at `slots_at`: the
   class of the i-th entry. */
static inline fling_class_t fling_wire_class (size_t i)
{
    return i == 0 ? FLING_CLASS_POOL : FLING_CLASS_LOOP;
}

/* A name already found valid in this batch; batches mostly repeat one. */
typedef struct {
    const char *name;
    size_t size;
} fling_name_cache_t;

/* The framing of the record at `p`: its length prefix must cover at least
   the fixed part and stay inside the frame. 1 (with *total, the record's
   bytes, prefix included), 0 at the end, -1 when broken. */
int fling_record_frame (const uint8_t *p, const uint8_t *end, size_t *total);

/* What a record check allows beyond FLP/1.1's rules. */
#define FLING_CHECK_SUBMITTED  1 /* a producer's: attempt 0, sequence not 0 */
#define FLING_CHECK_EXTENSIONS 2 /* FLP/1.2 extensions after the payload (SPEC.md §3.6) */

/* The content of a framed record of `total` bytes: OK, TOO_LARGE or
   BAD_TASK (with *problem, static text). */
fling_reason_t fling_record_content (const uint8_t *p, size_t total, int checks,
                                     fling_name_cache_t *names, const char **problem);

/* Writes the extensions of a valid `ext` at `dest`; returns the bytes. */
size_t fling_task_ext_write (uint8_t *dest, const fling_task_ext_t *ext);

/* Reads and checks `size` bytes of extensions into `out` (zeroed first):
   NULL, or what is wrong (static text; the record is BAD_TASK). */
const char *fling_task_ext_parse (const uint8_t *p, size_t size, fling_task_ext_t *out);

/* The priority in `size` bytes of checked extensions: 0 when none is
   there (no parse of the others). */
uint8_t fling_task_ext_priority (const uint8_t *p, size_t size);

#endif
