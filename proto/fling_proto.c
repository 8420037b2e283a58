/*  fling_proto.c - encoder and decoder for FLP/1.1 and FLP/1 (proto/SPEC.md).

    Integers on the wire are big-endian (network order), as in the ZeroMQ
    RFCs. Every read is bounds-checked against its frame: a peer controls
    every byte we parse here.
*/
#include "fling_proto.h"
#include "fling_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HEADER_SIZE 4 /* 'F' 'L' version command (SPEC.md §2.2) */

/* ---- byte order helpers ------------------------------------------------ */

static void put_u16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64 (uint8_t *p, uint64_t v)
{
    put_u32 (p, (uint32_t)(v >> 32));
    put_u32 (p + 4, (uint32_t)v);
}

static uint16_t get_u16 (const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_u32 (const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get_u64 (const uint8_t *p)
{
    return ((uint64_t)get_u32 (p) << 32) | get_u32 (p + 4);
}

/* ---- task ids ---------------------------------------------------------- */

void fling_task_id_make (fling_task_id_t *id, uint64_t producer, uint64_t seq)
{
    put_u64 (id->bytes, producer);
    put_u64 (id->bytes + 8, seq);
}

uint64_t fling_task_id_producer (const fling_task_id_t *id)
{
    return get_u64 (id->bytes);
}

uint64_t fling_task_id_seq (const fling_task_id_t *id)
{
    return get_u64 (id->bytes + 8);
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

size_t fling_record_write (uint8_t *dest, const fling_task_id_t *id, uint16_t attempt,
                           uint16_t max_attempts, uint32_t timeout_ms, uint32_t backoff_ms,
                           const char *name, size_t name_size, const char *payload,
                           size_t payload_size)
{
    size_t total = fling_record_size (name_size, payload_size);
    put_u32 (dest, (uint32_t)(total - 4));
    memcpy (dest + REC_ID, id->bytes, FLING_TASK_ID_SIZE);
    put_u16 (dest + REC_ATTEMPT, attempt);
    put_u16 (dest + REC_MAX_ATTEMPTS, max_attempts);
    put_u32 (dest + REC_TIMEOUT, timeout_ms);
    put_u32 (dest + REC_BACKOFF, backoff_ms);
    dest[REC_NAME_SIZE] = (uint8_t)name_size;
    memcpy (dest + REC_NAME, name, name_size);
    dest[REC_NAME + name_size] = 0;
    put_u32 (dest + REC_PAYLOAD_SIZE + name_size, (uint32_t)payload_size);
    memcpy (dest + REC_PAYLOAD + name_size, payload, payload_size);
    dest[REC_PAYLOAD + name_size + payload_size] = 0;
    return total;
}

/* A name already found valid in this batch; batches mostly repeat one. */
typedef struct {
    const char *name;
    size_t size;
} valid_name_t;

static bool s_name_valid_cached (const char *name, size_t size, valid_name_t *cache)
{
    if (cache->name && cache->size == size && memcmp (cache->name, name, size) == 0)
        return true;
    if (!fling_name_valid (name, size))
        return false;
    cache->name = name;
    cache->size = size;
    return true;
}

/* The framing of the record at `p`: its length prefix must cover at least
   the fixed part and stay inside the frame. 1 (with *total, the record's
   bytes, prefix included), 0 at the end, -1 when broken. */
static int s_record_frame (const uint8_t *p, const uint8_t *end, size_t *total)
{
    if (p == end)
        return 0;
    size_t avail = (size_t)(end - p);
    if (avail < FLING_RECORD_OVERHEAD)
        return -1;
    *total = (size_t)get_u32 (p) + 4;
    return *total >= FLING_RECORD_OVERHEAD && *total <= avail ? 1 : -1;
}

/* The content of a framed record of `total` bytes: OK, TOO_LARGE or
   BAD_TASK (with *problem). A producer's record (`submitted`) must also
   carry attempt 0 and a sequence that is not 0 (SPEC.md §3.1). */
static fling_reason_t s_record_content (const uint8_t *p, size_t total, bool submitted,
                                        valid_name_t *names, const char **problem)
{
    size_t name_size = p[REC_NAME_SIZE];
    *problem = "task record: name or payload length disagrees with the record length";
    if (FLING_RECORD_OVERHEAD + name_size > total)
        return FLING_REASON_BAD_TASK;
    size_t payload_size = get_u32 (p + REC_PAYLOAD_SIZE + name_size);
    if (payload_size > FLING_PAYLOAD_MAX) {
        *problem = "task record: payload above 1 MiB";
        return FLING_REASON_TOO_LARGE;
    }
    if (FLING_RECORD_OVERHEAD + name_size + payload_size != total)
        return FLING_REASON_BAD_TASK;
    *problem = "task record: no zero byte after the name or the payload";
    if (p[REC_NAME + name_size] != 0 || p[REC_PAYLOAD + name_size + payload_size] != 0)
        return FLING_REASON_BAD_TASK;
    *problem = "task record: name empty, longer than 127 bytes or not [A-Za-z0-9._:-]";
    if (!s_name_valid_cached ((const char *)p + REC_NAME, name_size, names))
        return FLING_REASON_BAD_TASK;
    if (submitted) {
        *problem = "task record: attempt must be 0 in a SUBMIT";
        if (get_u16 (p + REC_ATTEMPT) != 0)
            return FLING_REASON_BAD_TASK;
        *problem = "task record: task id sequence 0 (sequences count from 1)";
        if (get_u64 (p + REC_ID + 8) == 0)
            return FLING_REASON_BAD_TASK;
    }
    *problem = NULL;
    return FLING_REASON_OK;
}

static int s_record_next (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                          fling_reason_t *reason, valid_name_t *names)
{
    size_t total;
    const char *problem;
    int rc = s_record_frame (*cursor, end, &total);
    if (rc <= 0) {
        *reason = FLING_REASON_BAD_TASK;
        return rc;
    }
    *reason = s_record_content (*cursor, total, false, names, &problem);
    if (*reason != FLING_REASON_OK)
        return -1;
    fling_record_read (cursor, out); /* checked: now read it the one way */
    return 1;
}

int fling_record_next (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                       fling_reason_t *reason)
{
    valid_name_t none = {NULL, 0};
    return s_record_next (cursor, end, out, reason, &none);
}

int fling_submit_record_next (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                              fling_reason_t *status)
{
    size_t total;
    const char *problem;
    valid_name_t none = {NULL, 0};
    int rc = s_record_frame (*cursor, end, &total);
    if (rc <= 0)
        return rc;
    *status = s_record_content (*cursor, total, true, &none, &problem);
    if (*status == FLING_REASON_OK)
        fling_record_read (cursor, out);
    else
        *cursor += total;
    return 1;
}

void fling_record_read (const uint8_t **cursor, fling_record_t *out)
{
    const uint8_t *p = *cursor;
    size_t total = (size_t)get_u32 (p) + 4;
    size_t name_size = p[REC_NAME_SIZE];
    out->raw = p;
    out->raw_size = total;
    memcpy (out->id.bytes, p + REC_ID, FLING_TASK_ID_SIZE);
    out->attempt = get_u16 (p + REC_ATTEMPT);
    out->max_attempts = get_u16 (p + REC_MAX_ATTEMPTS);
    out->timeout_ms = get_u32 (p + REC_TIMEOUT);
    out->backoff_ms = get_u32 (p + REC_BACKOFF);
    out->name = (const char *)p + REC_NAME;
    out->name_size = name_size;
    out->payload = (const char *)p + REC_PAYLOAD + name_size;
    out->payload_size = get_u32 (p + REC_PAYLOAD_SIZE + name_size);
    *cursor = p + total;
}

void fling_record_set_attempt (uint8_t *raw, uint16_t attempt)
{
    put_u16 (raw + REC_ATTEMPT, attempt);
}

void fling_record_id (const uint8_t *raw, fling_task_id_t *id)
{
    memcpy (id->bytes, raw + REC_ID, FLING_TASK_ID_SIZE);
}

uint32_t fling_record_timeout_ms (const uint8_t *raw)
{
    return get_u32 (raw + REC_TIMEOUT);
}

void fling_record_set_timeout_ms (uint8_t *raw, uint32_t timeout_ms)
{
    put_u32 (raw + REC_TIMEOUT, timeout_ms);
}

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
    put_u16 (dest + RES_ATTEMPT, result->attempt);
    dest[RES_OUTCOME] = result->outcome;
    put_u32 (dest + RES_RETRY_DELAY, result->retry_delay_ms);
    put_u16 (dest + RES_ERROR_SIZE, (uint16_t)error_size);
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
    size_t error_size = get_u16 (p + RES_ERROR_SIZE);
    if (error_size > FLING_ERROR_TEXT_MAX || FLING_RESULT_OVERHEAD + error_size > avail)
        return -1;
    if (p[RES_OUTCOME] >= FLING_OUTCOME_MAX) {
        *reason = FLING_REASON_BAD_FIELD;
        return -1;
    }
    memcpy (out->id.bytes, p, FLING_TASK_ID_SIZE);
    out->attempt = get_u16 (p + RES_ATTEMPT);
    out->outcome = p[RES_OUTCOME];
    out->retry_delay_ms = get_u32 (p + RES_RETRY_DELAY);
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
    put_u16 (dest + FLING_TASK_ID_SIZE, attempt);
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
    *attempt = get_u16 (p + FLING_TASK_ID_SIZE);
    *cursor = p + FLING_LEASE_SIZE;
    return 1;
}

/* ---- READY names: u8 class, u8 length, name -------------------------------- */

/* The READY name at `p`: 1, 0 at the end, -1 (with *reason, *problem). */
static int s_ready_name_check (const uint8_t *p, const uint8_t *end, fling_reason_t *reason,
                               const char **problem)
{
    if (p == end)
        return 0;
    *reason = FLING_REASON_MALFORMED;
    *problem = "READY names: an entry runs past the end of its frame";
    if (end - p < 2 || (size_t)(end - p) < 2u + p[1])
        return -1;
    *reason = FLING_REASON_BAD_FIELD;
    *problem = "READY names: class must be 0 (loop) or 1 (pool)";
    if (p[0] >= FLING_CLASS_COUNT)
        return -1;
    *reason = FLING_REASON_BAD_TASK;
    *problem = "READY names: a task name is empty or not [A-Za-z0-9._:-]";
    if (!fling_name_valid ((const char *)p + 2, p[1]))
        return -1;
    *reason = FLING_REASON_OK;
    return 1;
}

int fling_ready_name_next (const uint8_t **cursor, const uint8_t *end, fling_class_t *cls,
                           const char **name, size_t *name_size)
{
    const uint8_t *p = *cursor;
    fling_reason_t reason;
    const char *problem;
    int rc = s_ready_name_check (p, end, &reason, &problem);
    if (rc <= 0)
        return rc;
    *cls = (fling_class_t)p[0];
    *name = (const char *)p + 2;
    *name_size = p[1];
    *cursor = p + 2 + p[1];
    return 1;
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct {
    zframe_t *frames[FLING_FRAMES_MAX];
    size_t count;
} frame_list_t;

static int fail (fling_msg_t *out, fling_reason_t *reason, fling_reason_t why, const char *problem)
{
    *reason = why;
    out->problem = problem;
    return -1;
}

/* Walks `count` records and checks that they fill the body exactly. In a
   DISPATCH every record must be sound. In a SUBMIT only the framing must
   be: a record whose content is bad is counted in out->bad_records and
   refused on its own (its status in the ACK). */
static int check_records (fling_msg_t *out, uint32_t count, fling_reason_t *reason)
{
    const uint8_t *cursor = out->body, *end = out->body + out->body_size;
    bool submitted = out->cmd == FLING_CMD_SUBMIT;
    valid_name_t names = {NULL, 0};
    uint32_t seen = 0;
    size_t total;
    int rc;
    while ((rc = s_record_frame (cursor, end, &total)) == 1) {
        const char *problem;
        fling_reason_t status = s_record_content (cursor, total, submitted, &names, &problem);
        if (status != FLING_REASON_OK) {
            if (!submitted)
                return fail (out, reason, status, problem);
            out->bad_records++;
        }
        cursor += total;
        seen++;
    }
    if (rc < 0)
        return fail (out, reason, submitted ? FLING_REASON_MALFORMED : FLING_REASON_BAD_TASK,
                     "task records: a length prefix runs past the body or under 35");
    if (seen != count)
        return fail (out, reason, FLING_REASON_MALFORMED,
                     "task records: their number is not the count field");
    return 0;
}

static int check_results (fling_msg_t *out, fling_reason_t *reason)
{
    const uint8_t *cursor = out->body, *end = out->body + out->body_size;
    fling_result_t result;
    uint32_t seen = 0;
    int rc;
    while ((rc = fling_result_next (&cursor, end, &result, reason)) == 1)
        seen++;
    if (rc < 0)
        return fail (out, reason, *reason,
                     *reason == FLING_REASON_BAD_FIELD
                         ? "result record: outcome above 4"
                         : "result record: error text above 1024 bytes or past the body");
    if (seen != out->count)
        return fail (out, reason, FLING_REASON_MALFORMED,
                     "result records: their number is not the count field");
    return 0;
}

static int check_names (fling_msg_t *out, fling_reason_t *reason)
{
    const uint8_t *cursor = out->body, *end = out->body + out->body_size;
    uint32_t seen = 0;
    int rc;
    const char *problem = NULL;
    while ((rc = s_ready_name_check (cursor, end, reason, &problem)) == 1) {
        cursor += 2 + cursor[1];
        seen++;
    }
    if (rc < 0)
        return fail (out, reason, *reason, problem);
    if (seen != out->count)
        return fail (out, reason, FLING_REASON_MALFORMED,
                     "READY names: their number is not name_count");
    return 0;
}

/* Expected frame count (header included) and size of the fields frame
   (0: free, or no fields frame), in version 2. Version 1 differs only in
   ERROR (reason alone) and RESULT (count alone), and has neither WELCOME
   nor RESULT_ACK. */
static const struct {
    uint8_t frames;
    uint8_t fields_size;
} shape[FLING_CMD_MAX] = {
    [FLING_CMD_SUBMIT] = {3, 12}, [FLING_CMD_ACK] = {3, 12},      [FLING_CMD_PING] = {1, 0},
    [FLING_CMD_PONG] = {1, 0},    [FLING_CMD_READY] = {4, 22},    [FLING_CMD_DISPATCH] = {3, 4},
    [FLING_CMD_RESULT] = {3, 12}, [FLING_CMD_CAPACITY] = {2, 16}, [FLING_CMD_BYE] = {1, 0},
    [FLING_CMD_ERROR] = {3, 11},  [FLING_CMD_ADMIN] = {2, 0},     [FLING_CMD_ADMIN_REPLY] = {2, 0},
    [FLING_CMD_HOLDING] = {3, 4}, [FLING_CMD_WELCOME] = {2, 8},   [FLING_CMD_RESULT_ACK] = {2, 8},
};

static size_t fields_size_of (fling_cmd_t cmd, uint8_t version)
{
    if (version == 1 && cmd == FLING_CMD_ERROR)
        return 2;
    if (version == 1 && cmd == FLING_CMD_RESULT)
        return 4;
    return shape[cmd].fields_size;
}

/* READY and CAPACITY carry, per class in the order pool then loop, the
   capacity at the start of the fields and the slots at `slots_at`. */
static const fling_class_t wire_classes[FLING_CLASS_COUNT] = {FLING_CLASS_POOL, FLING_CLASS_LOOP};

/* -1 if a class runs more tasks at once than it holds. */
static int read_capacity (fling_msg_t *out, const uint8_t *fields, size_t slots_at)
{
    for (size_t i = 0; i < FLING_CLASS_COUNT; i++) {
        fling_class_t cls = wire_classes[i];
        out->capacity[cls] = get_u32 (fields + 4 * i);
        out->slots[cls] = get_u32 (fields + slots_at + 4 * i);
        if (out->slots[cls] > out->capacity[cls])
            return -1;
    }
    return 0;
}

static void write_capacity (uint8_t *fields, size_t slots_at,
                            const uint32_t capacity[FLING_CLASS_COUNT],
                            const uint32_t slots[FLING_CLASS_COUNT])
{
    for (size_t i = 0; i < FLING_CLASS_COUNT; i++) {
        fling_class_t cls = wire_classes[i];
        put_u32 (fields + 4 * i, capacity[cls]);
        put_u32 (fields + slots_at + 4 * i, slots ? slots[cls] : capacity[cls]);
    }
}

/* A worker name: at most 127 bytes, no control characters (it shows in
   logs and in stats). Multi-byte UTF-8 is let through as bytes. */
static bool worker_name_valid (const char *name, size_t size)
{
    if (size > FLING_NAME_MAX)
        return false;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static int batch_count_check (fling_msg_t *out, fling_reason_t *reason)
{
    if (out->count == 0 || out->count > FLING_BATCH_TASKS_MAX)
        return fail (out, reason, FLING_REASON_BAD_FIELD, "count must be 1 to 1000");
    return 0;
}

static int decode_ready (fling_msg_t *out, const uint8_t *fields, frame_list_t *list,
                         fling_reason_t *reason)
{
    out->pid = get_u32 (fields + 8);
    out->count = get_u16 (fields + 12);
    if (out->count == 0 || out->count > FLING_NAMES_MAX)
        return fail (out, reason, FLING_REASON_BAD_FIELD, "READY: name_count must be 1 to 256");
    if (read_capacity (out, fields, 14))
        return fail (out, reason, FLING_REASON_BAD_FIELD, "READY: slots above capacity");
    out->worker_name = (const char *)out->body;
    out->worker_name_size = out->body_size;
    if (!worker_name_valid (out->worker_name, out->worker_name_size))
        return fail (out, reason, FLING_REASON_BAD_FIELD,
                     "READY: worker name longer than 127 bytes or with control characters");
    out->body = zframe_data (list->frames[3]);
    out->body_size = zframe_size (list->frames[3]);
    return check_names (out, reason);
}

static int decode_body (fling_msg_t *out, frame_list_t *list, fling_reason_t *reason)
{
    const uint8_t *fields = list->count > 1 ? zframe_data (list->frames[1]) : NULL;
    size_t fields_size = list->count > 1 ? zframe_size (list->frames[1]) : 0;
    size_t expected = fields_size_of (out->cmd, out->version);
    if (expected && fields_size != expected)
        return fail (out, reason, FLING_REASON_MALFORMED, "fields frame of the wrong size");
    if (list->count > 2) {
        out->body = zframe_data (list->frames[2]);
        out->body_size = zframe_size (list->frames[2]);
    }
    switch (out->cmd) {
    case FLING_CMD_SUBMIT:
    case FLING_CMD_ACK:
        out->batch_seq = get_u64 (fields);
        out->count = get_u32 (fields + 8);
        if (batch_count_check (out, reason))
            return -1;
        if (out->cmd == FLING_CMD_ACK)
            return out->body_size == out->count ? 0
                                                : fail (out, reason, FLING_REASON_MALFORMED,
                                                        "ACK: not one status byte per task");
        return check_records (out, out->count, reason);
    case FLING_CMD_HOLDING:
        out->count = get_u32 (fields);
        if (batch_count_check (out, reason))
            return -1;
        return out->body_size == (size_t)out->count * FLING_LEASE_SIZE
                   ? 0
                   : fail (out, reason, FLING_REASON_MALFORMED,
                           "HOLDING: body is not count x 18 bytes");
    case FLING_CMD_DISPATCH:
        out->count = get_u32 (fields);
        if (batch_count_check (out, reason))
            return -1;
        return check_records (out, out->count, reason);
    case FLING_CMD_RESULT:
        if (out->version >= 2) {
            out->batch_seq = get_u64 (fields);
            fields += 8;
        }
        out->count = get_u32 (fields);
        if (batch_count_check (out, reason))
            return -1;
        return check_results (out, reason);
    case FLING_CMD_READY:
        return decode_ready (out, fields, list, reason);
    case FLING_CMD_CAPACITY:
        return read_capacity (out, fields, 8)
                   ? fail (out, reason, FLING_REASON_BAD_FIELD, "CAPACITY: slots above capacity")
                   : 0;
    case FLING_CMD_ERROR:
        out->reason = get_u16 (fields);
        if (out->version >= 2) {
            out->refused_cmd = fields[2];
            out->batch_seq = get_u64 (fields + 3);
        }
        out->text = (const char *)out->body;
        out->text_size = out->body_size;
        out->body = NULL;
        out->body_size = 0;
        return out->text_size <= FLING_ERROR_TEXT_MAX
                   ? 0
                   : fail (out, reason, FLING_REASON_MALFORMED, "ERROR: text above 1024 bytes");
    case FLING_CMD_WELCOME:
        out->heartbeat_ms = get_u32 (fields);
        out->worker_timeout_ms = get_u32 (fields + 4);
        return 0;
    case FLING_CMD_RESULT_ACK:
        out->batch_seq = get_u64 (fields);
        return 0;
    case FLING_CMD_ADMIN:
    case FLING_CMD_ADMIN_REPLY:
        out->text = (const char *)fields;
        out->text_size = fields_size;
        return 0;
    default:
        return 0;
    }
}

/* A SUBMIT refused as a whole is still answered with an ACK for its batch
   once batch_seq and count can be read (SPEC.md §4.1). */
static void peek_batch (fling_msg_t *out, const frame_list_t *list)
{
    if (out->cmd != FLING_CMD_SUBMIT || list->count < 2 || zframe_size (list->frames[1]) != 12)
        return;
    const uint8_t *fields = zframe_data (list->frames[1]);
    out->batch_seq = get_u64 (fields);
    out->count = get_u32 (fields + 8);
    out->has_batch = out->count >= 1 && out->count <= FLING_BATCH_TASKS_MAX;
}

int fling_msg_decode (zmsg_t *msg, fling_msg_t *out, fling_reason_t *reason)
{
    memset (out, 0, sizeof *out);
    frame_list_t list = {.count = 0};
    size_t total = 0;
    for (zframe_t *frame = zmsg_first (msg); frame; frame = zmsg_next (msg)) {
        if (list.count == FLING_FRAMES_MAX)
            return fail (out, reason, FLING_REASON_MALFORMED, "more than 16 frames");
        total += zframe_size (frame);
        list.frames[list.count++] = frame;
    }
    if (list.count == 0)
        return fail (out, reason, FLING_REASON_BAD_SIGNATURE, "empty message");
    const uint8_t *header = zframe_data (list.frames[0]);
    if (zframe_size (list.frames[0]) != HEADER_SIZE || header[0] != 'F' || header[1] != 'L')
        return fail (out, reason, FLING_REASON_BAD_SIGNATURE, "first frame is not F L v c");
    if (header[2] < FLING_PROTO_VERSION_MIN || header[2] > FLING_PROTO_VERSION)
        return fail (out, reason, FLING_REASON_BAD_VERSION, "versions 1 and 2 are spoken");
    out->version = header[2];
    if (header[3] == 0 || header[3] >= FLING_CMD_MAX ||
        (out->version == 1 && header[3] >= FLING_CMD_WELCOME))
        return fail (out, reason, FLING_REASON_BAD_COMMAND, "unknown command");
    out->cmd = (fling_cmd_t)header[3];
    peek_batch (out, &list);
    if (total > FLING_MSG_BYTES_MAX)
        return fail (out, reason, FLING_REASON_TOO_LARGE, "message above 8 MiB");
    if (list.count != shape[out->cmd].frames)
        return fail (out, reason, FLING_REASON_MALFORMED, "wrong number of frames");
    *reason = FLING_REASON_OK;
    return decode_body (out, &list, reason);
}

/* ---- encoding ---------------------------------------------------------- */

static zmsg_t *msg_start_version (fling_cmd_t cmd, uint8_t version)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg)
        return NULL;
    uint8_t header[HEADER_SIZE] = {'F', 'L', version, (uint8_t)cmd};
    if (zmsg_addmem (msg, header, sizeof header)) {
        zmsg_destroy (&msg);
        return NULL;
    }
    return msg;
}

static zmsg_t *msg_start (fling_cmd_t cmd)
{
    return msg_start_version (cmd, FLING_PROTO_VERSION);
}

void fling_msg_set_version (zmsg_t *msg, uint8_t version)
{
    zframe_t *header = msg ? zmsg_first (msg) : NULL;
    if (header && zframe_size (header) == HEADER_SIZE)
        zframe_data (header)[2] = version;
}

static zmsg_t *msg_add (zmsg_t *msg, const void *data, size_t size)
{
    if (msg && zmsg_addmem (msg, data, size))
        zmsg_destroy (&msg);
    return msg;
}

static zmsg_t *seq_count_body (fling_cmd_t cmd, uint64_t seq, uint32_t count, const void *body,
                               size_t size)
{
    uint8_t fields[12];
    put_u64 (fields, seq);
    put_u32 (fields + 8, count);
    zmsg_t *msg = msg_add (msg_start (cmd), fields, sizeof fields);
    return msg_add (msg, body, size);
}

static zmsg_t *count_body (fling_cmd_t cmd, uint32_t count, const void *body, size_t size)
{
    uint8_t fields[4];
    put_u32 (fields, count);
    zmsg_t *msg = msg_add (msg_start (cmd), fields, sizeof fields);
    return msg_add (msg, body, size);
}

zmsg_t *fling_msg_submit (uint64_t batch_seq, uint32_t count, const void *records, size_t size)
{
    return seq_count_body (FLING_CMD_SUBMIT, batch_seq, count, records, size);
}

zmsg_t *fling_msg_ack (uint64_t batch_seq, uint32_t count, const uint8_t *statuses)
{
    return seq_count_body (FLING_CMD_ACK, batch_seq, count, statuses, count);
}

zmsg_t *fling_msg_ping (void)
{
    return msg_start (FLING_CMD_PING);
}

zmsg_t *fling_msg_pong (void)
{
    return msg_start (FLING_CMD_PONG);
}

zmsg_t *fling_msg_bye (void)
{
    return msg_start (FLING_CMD_BYE);
}

zmsg_t *fling_msg_dispatch (uint32_t count, const void *records, size_t size)
{
    return count_body (FLING_CMD_DISPATCH, count, records, size);
}

zmsg_t *fling_msg_dispatch_frame (uint32_t count, zframe_t **body_p)
{
    zframe_t *body = *body_p;
    *body_p = NULL;
    uint8_t fields[4];
    put_u32 (fields, count);
    zmsg_t *msg = body ? msg_add (msg_start (FLING_CMD_DISPATCH), fields, sizeof fields) : NULL;
    if (!msg || zmsg_append (msg, &body)) {
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
    return msg;
}

zmsg_t *fling_msg_holding (uint32_t count, const void *leases, size_t size)
{
    return count_body (FLING_CMD_HOLDING, count, leases, size);
}

zmsg_t *fling_msg_result (uint64_t result_seq, uint32_t count, const void *results, size_t size)
{
    return seq_count_body (FLING_CMD_RESULT, result_seq, count, results, size);
}

int fling_msg_send_result (void *socket, uint64_t result_seq, uint32_t count, void *body,
                           size_t size, zmq_free_fn *free_fn, void *hint)
{
    zmq_msg_t frame;
    if (zmq_msg_init_data (&frame, body, size, free_fn, hint)) {
        free_fn (body, hint);
        errno = ENOMEM;
        return -1;
    }
    uint8_t header[HEADER_SIZE] = {'F', 'L', FLING_PROTO_VERSION, (uint8_t)FLING_CMD_RESULT};
    uint8_t fields[12];
    put_u64 (fields, result_seq);
    put_u32 (fields + 8, count);
    /* Only the first frame can meet the high-water mark: once it is in,
       libzmq takes the rest of the message. */
    if (zmq_send (socket, header, sizeof header, ZMQ_SNDMORE | ZMQ_DONTWAIT) != sizeof header ||
        zmq_send (socket, fields, sizeof fields, ZMQ_SNDMORE | ZMQ_DONTWAIT) != sizeof fields ||
        zmq_msg_send (&frame, socket, ZMQ_DONTWAIT) == -1) {
        int saved = zmq_errno ();
        zmq_msg_close (&frame); /* calls free_fn */
        errno = saved;
        return -1;
    }
    return 0;
}

zmsg_t *fling_msg_ready (const uint32_t capacity[FLING_CLASS_COUNT],
                         const uint32_t slots[FLING_CLASS_COUNT], uint32_t pid,
                         const char *worker_name, size_t name_count, const char *const *names,
                         const fling_class_t *classes)
{
    uint8_t fields[22];
    write_capacity (fields, 14, capacity, slots);
    put_u32 (fields + 8, pid);
    put_u16 (fields + 12, (uint16_t)name_count);
    size_t packed_size = 0;
    for (size_t i = 0; i < name_count; i++)
        packed_size += 2 + strlen (names[i]);
    uint8_t *packed = (uint8_t *)malloc (packed_size ? packed_size : 1);
    if (!packed)
        return NULL;
    uint8_t *p = packed;
    for (size_t i = 0; i < name_count; i++) {
        size_t len = strlen (names[i]);
        p[0] = (uint8_t)classes[i];
        p[1] = (uint8_t)len;
        memcpy (p + 2, names[i], len);
        p += 2 + len;
    }
    zmsg_t *msg = msg_add (msg_start (FLING_CMD_READY), fields, sizeof fields);
    msg = msg_add (msg, worker_name, strlen (worker_name));
    msg = msg_add (msg, packed, packed_size);
    free (packed);
    return msg;
}

zmsg_t *fling_msg_capacity (const uint32_t capacity[FLING_CLASS_COUNT],
                            const uint32_t slots[FLING_CLASS_COUNT])
{
    uint8_t fields[16];
    write_capacity (fields, 8, capacity, slots);
    return msg_add (msg_start (FLING_CMD_CAPACITY), fields, sizeof fields);
}

zmsg_t *fling_msg_error (uint8_t version, fling_reason_t reason, uint8_t refused_cmd,
                         uint64_t batch_seq, const char *text)
{
    uint8_t fields[11];
    put_u16 (fields, (uint16_t)reason);
    fields[2] = refused_cmd;
    put_u64 (fields + 3, batch_seq);
    size_t text_size = text ? strlen (text) : 0;
    if (text_size > FLING_ERROR_TEXT_MAX)
        text_size = FLING_ERROR_TEXT_MAX;
    zmsg_t *msg = msg_add (msg_start_version (FLING_CMD_ERROR, version), fields,
                           version >= 2 ? sizeof fields : 2);
    return msg_add (msg, text ? text : "", text_size);
}

zmsg_t *fling_msg_welcome (uint32_t heartbeat_ms, uint32_t worker_timeout_ms)
{
    uint8_t fields[8];
    put_u32 (fields, heartbeat_ms);
    put_u32 (fields + 4, worker_timeout_ms);
    return msg_add (msg_start (FLING_CMD_WELCOME), fields, sizeof fields);
}

zmsg_t *fling_msg_result_ack (uint64_t result_seq)
{
    uint8_t fields[8];
    put_u64 (fields, result_seq);
    return msg_add (msg_start (FLING_CMD_RESULT_ACK), fields, sizeof fields);
}

zmsg_t *fling_msg_admin (const char *json)
{
    return msg_add (msg_start (FLING_CMD_ADMIN), json, strlen (json));
}

zmsg_t *fling_msg_admin_reply (const char *json)
{
    return msg_add (msg_start (FLING_CMD_ADMIN_REPLY), json, strlen (json));
}

/* ---- names for logs ---------------------------------------------------- */

const char *fling_cmd_name (int cmd)
{
    static const char *names[FLING_CMD_MAX] = {
        "?",        "SUBMIT", "ACK",   "PING",  "PONG",        "READY",   "DISPATCH", "RESULT",
        "CAPACITY", "BYE",    "ERROR", "ADMIN", "ADMIN_REPLY", "HOLDING", "WELCOME",  "RESULT_ACK",
    };
    return cmd > 0 && cmd < FLING_CMD_MAX ? names[cmd] : "UNKNOWN";
}

const char *fling_reason_name (int reason)
{
    switch (reason) {
    case FLING_REASON_OK:
        return "OK";
    case FLING_REASON_DUPLICATE:
        return "DUPLICATE";
    case FLING_REASON_QUEUE_FULL:
        return "QUEUE_FULL";
    case FLING_REASON_STORE_FULL:
        return "STORE_FULL";
    case FLING_REASON_UNAVAILABLE:
        return "UNAVAILABLE";
    case FLING_REASON_BAD_TASK:
        return "BAD_TASK";
    case FLING_REASON_TOO_LARGE:
        return "TOO_LARGE";
    case FLING_REASON_BAD_SIGNATURE:
        return "BAD_SIGNATURE";
    case FLING_REASON_BAD_VERSION:
        return "BAD_VERSION";
    case FLING_REASON_BAD_COMMAND:
        return "BAD_COMMAND";
    case FLING_REASON_MALFORMED:
        return "MALFORMED";
    case FLING_REASON_BAD_FIELD:
        return "BAD_FIELD";
    case FLING_REASON_BAD_STATE:
        return "BAD_STATE";
    case FLING_REASON_UNKNOWN_PEER:
        return "UNKNOWN_PEER";
    case FLING_REASON_FORBIDDEN:
        return "FORBIDDEN";
    default:
        return "UNKNOWN_REASON";
    }
}

const char *fling_outcome_name (int outcome)
{
    static const char *names[FLING_OUTCOME_MAX] = {"DONE", "RETRY", "FAIL", "RELEASED", "TIMEOUT"};
    return outcome >= 0 && outcome < FLING_OUTCOME_MAX ? names[outcome] : "UNKNOWN";
}

const char *fling_class_name (int cls)
{
    return cls == FLING_CLASS_LOOP ? "loop" : cls == FLING_CLASS_POOL ? "pool" : "unknown";
}

int fling_reason_errno (int reason)
{
    switch (reason) {
    case FLING_REASON_OK:
    case FLING_REASON_DUPLICATE:
        return 0;
    case FLING_REASON_QUEUE_FULL:
        return FLING_EQUEUEFULL;
    case FLING_REASON_STORE_FULL:
        return FLING_ESTOREFULL;
    case FLING_REASON_UNAVAILABLE:
        return FLING_EUNAVAILABLE;
    case FLING_REASON_BAD_TASK:
        return FLING_EBADNAME;
    case FLING_REASON_TOO_LARGE:
        return FLING_ETOOLARGE;
    case FLING_REASON_FORBIDDEN:
        return FLING_EFORBIDDEN;
    default:
        return FLING_EPROTO;
    }
}
