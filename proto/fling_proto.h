/*  fling_proto.h - the one codec of the fling wire protocol (FLP/1.1).

    Every frame that crosses a socket between a producer, the broker and a
    worker is built and parsed here and nowhere else, so proto/SPEC.md and
    the code cannot drift apart. Section numbers below refer to SPEC.md.

    Decoding never copies: a decoded fling_msg_t points into the frames of
    the zmsg_t it came from, which must outlive it. Decoding never trusts the
    peer: every length is checked against the frame it sits in, and a bad
    message yields -1 and a reason code (FLING_REASON_*), never an assert.
*/
#ifndef FLING_PROTO_H_INCLUDED
#define FLING_PROTO_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fling_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The version byte of the header (SPEC.md §2.2, §2.3). fling's producers and
    workers speak version 2 (FLP/1.1); the broker also serves version 1
    (FLP/1) peers, answering each in the version it used. */
#define FLING_PROTO_VERSION     2
#define FLING_PROTO_VERSION_MIN 1
/*  FLP/1.2 (SPEC.md §2.3, §3.6): FLP/1.1 plus task extensions in SUBMIT.
    A SUBMIT carries this version only when a record of it has extensions;
    fling_msg_decode_v decodes it for a peer that opts in. */
#define FLING_PROTO_VERSION_SCHED 3

/*  Limits (SPEC.md §2.4). A peer that exceeds one gets FLING_REASON_*. */
#define FLING_NAME_MAX        127       /* bytes in a task name */
#define FLING_PAYLOAD_MAX     (1 << 20) /* bytes in one JSON payload */
#define FLING_BATCH_TASKS_MAX 1000      /* tasks in one SUBMIT/DISPATCH */
#define FLING_FRAMES_MAX      16        /* frames in one message */
#define FLING_MSG_BYTES_MAX   (8 << 20) /* bytes in one message, all frames */
#define FLING_ERROR_TEXT_MAX  1024      /* bytes of a RESULT's error text */
#define FLING_NAMES_MAX       256       /* task names one worker serves */
#define FLING_TASK_ID_SIZE    16
#define FLING_PRIORITY_MAX    9   /* task priorities are 0..9, 9 served first */
#define FLING_UNIQUE_KEY_MAX  128 /* bytes in a unique key */

/*  Commands (SPEC.md §4). */
typedef enum {
    FLING_CMD_SUBMIT = 1,       /* producer -> broker: a batch of tasks */
    FLING_CMD_ACK = 2,          /* broker -> producer: one status per task */
    FLING_CMD_PING = 3,         /* any -> peer: heartbeat */
    FLING_CMD_PONG = 4,         /* answer to PING */
    FLING_CMD_READY = 5,        /* worker -> broker: register names, capacity */
    FLING_CMD_DISPATCH = 6,     /* broker -> worker: a batch of leased tasks */
    FLING_CMD_RESULT = 7,       /* worker -> broker: a batch of outcomes */
    FLING_CMD_CAPACITY = 8,     /* worker -> broker: new capacity (drain = 0) */
    FLING_CMD_BYE = 9,          /* worker -> broker: I am leaving */
    FLING_CMD_ERROR = 10,       /* broker -> client: a message of yours was refused */
    FLING_CMD_ADMIN = 11,       /* client -> broker: JSON request (stats...) */
    FLING_CMD_ADMIN_REPLY = 12, /* broker -> client: JSON reply */
    FLING_CMD_HOLDING = 13,     /* worker -> broker: tasks I am still running (after re-READY) */
    FLING_CMD_WELCOME = 14,     /* broker -> worker: READY accepted, the broker's timings (v2) */
    FLING_CMD_RESULT_ACK = 15,  /* broker -> worker: RESULTs up to a result_seq are applied (v2) */
    FLING_CMD_MAX
} fling_cmd_t;

/*  Reasons, used as per-task status in ACK and as the code in ERROR
    (SPEC.md §3.5). 0 is success. */
typedef enum {
    FLING_REASON_OK = 0,
    FLING_REASON_DUPLICATE = 1, /* accepted earlier; stored once */
    FLING_REASON_QUEUE_FULL = 2,
    FLING_REASON_STORE_FULL = 3,
    FLING_REASON_UNAVAILABLE = 4, /* shutting down, store failed */
    FLING_REASON_BAD_TASK = 5,    /* record malformed or name bad */
    FLING_REASON_TOO_LARGE = 6,
    FLING_REASON_BAD_SIGNATURE = 20,
    FLING_REASON_BAD_VERSION = 21,
    FLING_REASON_BAD_COMMAND = 22,
    FLING_REASON_MALFORMED = 23,    /* frame count or field size wrong */
    FLING_REASON_BAD_FIELD = 24,    /* field value out of range */
    FLING_REASON_BAD_STATE = 25,    /* command not valid in this state */
    FLING_REASON_UNKNOWN_PEER = 26, /* broker does not know you: send READY */
    FLING_REASON_FORBIDDEN = 27,
    FLING_REASON_MAX
} fling_reason_t;

/*  Handler classes: where a worker runs a task (SPEC.md §3.4). */
typedef enum {
    FLING_CLASS_LOOP = 0, /* async handler on the worker's event loop */
    FLING_CLASS_POOL = 1, /* blocking handler on the thread pool */
    FLING_CLASS_COUNT = 2
} fling_class_t;

/*  Task outcomes a worker reports (SPEC.md §3.2). */
typedef enum {
    FLING_OUTCOME_DONE = 0,
    FLING_OUTCOME_RETRY = 1,    /* handler asked for a retry */
    FLING_OUTCOME_FAIL = 2,     /* handler failed; retried while attempts last */
    FLING_OUTCOME_RELEASED = 3, /* never started; give it to someone else */
    FLING_OUTCOME_TIMEOUT = 4,  /* overran its deadline */
    FLING_OUTCOME_MAX
} fling_outcome_t;

/*  A task id: 8 bytes of producer id (random per producer instance) and a
    64-bit sequence number, big-endian, so ids sort by producer then seq. */
typedef struct {
    uint8_t bytes[FLING_TASK_ID_SIZE];
} fling_task_id_t;

/*  Text form: 16 hex digits, ':', decimal sequence. Up to 37 bytes + NUL
    (FLING_TASK_ID_TEXT_SIZE, fling_api.h). */
void fling_task_id_make (fling_task_id_t *id, uint64_t producer, uint64_t seq);
uint64_t fling_task_id_producer (const fling_task_id_t *id);
uint64_t fling_task_id_seq (const fling_task_id_t *id);
char *fling_task_id_format (const fling_task_id_t *id, char buf[FLING_TASK_ID_TEXT_SIZE]);
int fling_task_id_parse (fling_task_id_t *id, const char *text);

/*  Task extensions (SPEC.md §3.6, FLP/1.2): what a producer asks of the
    broker beyond FLP/1.1. All zero means none, and a record without any is
    an FLP/1.1 record, byte for byte. */
typedef struct {
    uint32_t delay_ms;   /* hold it this long after the broker accepts it; 0 = none */
    uint64_t due_at_ms;  /* or until this UTC time, ms since the epoch; 0 = none */
    uint8_t priority;    /* 0..FLING_PRIORITY_MAX within its name; 0 = the default */
    uint32_t key_ttl_ms; /* how long the unique key outlives its task */
    const char *key;     /* unique key: key_size bytes of [!-~]; NULL = none */
    size_t key_size;
} fling_task_ext_t;

/*  Bytes the extensions take in a record: 0 when `ext` is NULL or asks
    for nothing. */
size_t fling_task_ext_size (const fling_task_ext_t *ext);

/*  NULL when `ext` (may be NULL) can be sent, else what is wrong (static
    text): a priority above 9, both a delay and a due-at, a key that is
    empty, too long or not printable ASCII. */
const char *fling_task_ext_problem (const fling_task_ext_t *ext);

/*  One task record as it travels in SUBMIT and DISPATCH (SPEC.md §3.1).
    The broker keeps records as opaque bytes and rewrites only `attempt`.
    Views point into the frame the record came from; name and payload are
    each followed by a zero byte on the wire, so they are C strings. */
typedef struct {
    const uint8_t *raw; /* whole record, length prefix included */
    size_t raw_size;
    fling_task_id_t id;
    uint16_t attempt;      /* 0 from producers; 1.. from the broker */
    uint16_t max_attempts; /* 0 = the queue's default */
    uint32_t timeout_ms;   /* 0 = the queue's default */
    uint32_t backoff_ms;   /* 0 = the queue's default */
    const char *name;
    size_t name_size;
    const char *payload;
    size_t payload_size;
    fling_task_ext_t ext; /* FLP/1.2 extensions; `key` points into the record */
    size_t ext_size;      /* their bytes at the record's end; 0 = none */
} fling_record_t;

/*  Fixed part of a record: everything but the name and payload bytes. */
#define FLING_RECORD_OVERHEAD       39
#define FLING_RECORD_OFFSET_ATTEMPT 20

/*  Size in bytes of the record for a name and a payload of these sizes. */
size_t fling_record_size (size_t name_size, size_t payload_size);

/*  Writes one record at `dest` (which has room for fling_record_size()).
    Returns the bytes written. */
size_t fling_record_write (uint8_t *dest, const fling_task_id_t *id, uint16_t attempt,
                           uint16_t max_attempts, uint32_t timeout_ms, uint32_t backoff_ms,
                           const char *name, size_t name_size, const char *payload,
                           size_t payload_size);

/*  Size and writer of a record with extensions (`ext` may be NULL: then
    the same as fling_record_size and fling_record_write). `ext` must be
    valid (fling_task_ext_problem). */
size_t fling_record_size_ext (size_t name_size, size_t payload_size, const fling_task_ext_t *ext);
size_t fling_record_write_ext (uint8_t *dest, const fling_task_id_t *id, uint16_t attempt,
                               uint16_t max_attempts, uint32_t timeout_ms, uint32_t backoff_ms,
                               const char *name, size_t name_size, const char *payload,
                               size_t payload_size, const fling_task_ext_t *ext);

/*  Drops the extensions of a checked record in place (rewrites its length
    prefix: SPEC.md §4.7, a DISPATCH never carries them). Returns the
    record's new size. */
size_t fling_record_strip_ext (uint8_t *raw);
/*  The size of a checked record without its extensions: what goes in a
    DISPATCH. Two field reads: for the dispatch path. */
size_t fling_record_wire_size (const uint8_t *raw);
/*  The priority (SPEC.md §3.6) of a checked record: 0 without one. Three
    field reads for a record without extensions. */
uint8_t fling_record_priority (const uint8_t *raw);

/*  Reads the record at *cursor (before `end`) into `out` and advances
    *cursor. Returns 1 for a record, 0 at the end, -1 for a malformed record
    (and sets *reason). Checks lengths, zero terminators, the name's
    characters and any extensions (SPEC.md §3.6); never looks inside the
    payload. */
int fling_record_next (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                       fling_reason_t *reason);

/*  The next record of a SUBMIT body, judged on its own (SPEC.md §4.1):
    returns 0 at the end, -1 when the length prefixes do not frame the
    body (fling_msg_decode refuses such a SUBMIT whole), else 1 with the
    cursor past the record and *status OK (`out` filled in), BAD_TASK or
    TOO_LARGE (`out` untouched). A producer's record must also carry
    attempt 0 and a task id whose sequence is not 0. */
int fling_submit_record_next (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                              fling_reason_t *status);
/*  The same for a SUBMIT of header version `version`: from
    FLING_PROTO_VERSION_SCHED on, records may carry extensions (`out->ext`);
    before it, a record with any is BAD_TASK (fling_submit_record_next is
    this with version FLING_PROTO_VERSION). */
int fling_submit_record_next_v (const uint8_t **cursor, const uint8_t *end, fling_record_t *out,
                                fling_reason_t *status, uint8_t version);

/*  Reads a record that was already checked (by fling_msg_decode or
    fling_record_next) and advances *cursor. No checks: for trusted bytes
    only, on hot paths that must not validate the same record twice. */
void fling_record_read (const uint8_t **cursor, fling_record_t *out);

/*  Rewrites the attempt field of a record in place. */
void fling_record_set_attempt (uint8_t *raw, uint16_t attempt);

/*  Single fields of a record that was already checked, read or written in
    place: for hot paths that need one field, not the whole view that
    fling_record_read fills in. */
void fling_record_id (const uint8_t *raw, fling_task_id_t *id);
uint32_t fling_record_timeout_ms (const uint8_t *raw);
void fling_record_set_timeout_ms (uint8_t *raw, uint32_t timeout_ms);

/*  True if `name` (of name_size bytes) is a valid task name: 1 to
    FLING_NAME_MAX bytes of [A-Za-z0-9._:-]. */
bool fling_name_valid (const char *name, size_t name_size);

/*  One result as it travels in RESULT (SPEC.md §3.2). */
typedef struct {
    fling_task_id_t id;
    uint16_t attempt;
    uint8_t outcome;         /* fling_outcome_t */
    uint32_t retry_delay_ms; /* handler's wish for RETRY, 0 = default */
    const char *error;       /* not NUL-terminated; error_size bytes */
    size_t error_size;
} fling_result_t;

#define FLING_RESULT_OVERHEAD 25
size_t fling_result_size (size_t error_size);
size_t fling_result_write (uint8_t *dest, const fling_result_t *result);
int fling_result_next (const uint8_t **cursor, const uint8_t *end, fling_result_t *out,
                       fling_reason_t *reason);

/*  One lease as it travels in HOLDING (SPEC.md §3.3): id + attempt. */
#define FLING_LEASE_SIZE 18
size_t fling_lease_write (uint8_t *dest, const fling_task_id_t *id, uint16_t attempt);
/*  Reads the lease at *cursor; 1, 0 at end, -1 if fewer than 18 bytes remain. */
int fling_lease_next (const uint8_t **cursor, const uint8_t *end, fling_task_id_t *id,
                      uint16_t *attempt);

/*  A decoded message. Which fields are set depends on `cmd`; pointers
    point into the zmsg_t that was decoded. */
typedef struct {
    fling_cmd_t cmd;
    uint8_t version; /* the header's: FLING_PROTO_VERSION_MIN..FLING_PROTO_VERSION */

    /* SUBMIT, ACK: batch sequence and task count. RESULT (v2): the
       result_seq. RESULT_ACK: the result_seq acknowledged. ERROR (v2):
       the batch_seq or result_seq of the message refused, 0 if none. */
    uint64_t batch_seq;
    uint32_t count;

    /* SUBMIT, DISPATCH: packed task records (count of them).
       RESULT: packed result records. ACK: `count` status bytes.
       HOLDING: `count` leases of FLING_LEASE_SIZE bytes. */
    const uint8_t *body;
    size_t body_size;
    /* SUBMIT: records framed right whose content is not (each is refused
       on its own, fling_submit_record_next says why); 0 on the fast path. */
    uint32_t bad_records;

    /* READY, CAPACITY: per class, the tasks the worker holds at most
       (capacity) and of those, the ones it runs at once (slots, at most
       capacity); the rest wait in the worker (prefetch) */
    uint32_t capacity[FLING_CLASS_COUNT];
    uint32_t slots[FLING_CLASS_COUNT];
    /* READY: worker's pid and name (worker_name_size bytes, no terminator) */
    uint32_t pid;
    const char *worker_name;
    size_t worker_name_size;
    /* READY: packed names: u8 class, u8 length, name bytes; `count` of them */

    /* WELCOME: the broker's heartbeat interval and worker timeout */
    uint32_t heartbeat_ms;
    uint32_t worker_timeout_ms;

    /* ERROR: reason code, the command refused (v2; 0 = not known) and
       text; ADMIN, ADMIN_REPLY: JSON text */
    uint16_t reason;
    uint8_t refused_cmd;
    const char *text;
    size_t text_size;

    /* Set by a failed fling_msg_decode: what was wrong (static text) and
       whether batch_seq and count of a SUBMIT could be read all the same
       (then the broker answers that batch with an ACK, not an ERROR). */
    const char *problem;
    bool has_batch;
} fling_msg_t;

/*  Decodes `msg` (without any ROUTER routing frame) into `out`. Returns 0,
    or -1 and sets *reason (and out->problem, out->cmd and out->version as
    far as they could be read). `out` points into `msg`. Accepts versions
    FLING_PROTO_VERSION_MIN to FLING_PROTO_VERSION. */
int fling_msg_decode (zmsg_t *msg, fling_msg_t *out, fling_reason_t *reason);
/*  The same, accepting versions up to `max_version` (FLING_PROTO_VERSION or
    FLING_PROTO_VERSION_SCHED): a peer opts in to FLP/1.2 only once it does
    what the extensions ask (SPEC.md §2.3); until then a version-3 SUBMIT is
    BAD_VERSION, as at an FLP/1.1 broker. */
int fling_msg_decode_v (zmsg_t *msg, fling_msg_t *out, fling_reason_t *reason, uint8_t max_version);

/*  Iterates the names of a decoded READY. Returns 1, 0 at end, -1 malformed
    (fling_msg_decode already checked them, so -1 means a codec bug). */
int fling_ready_name_next (const uint8_t **cursor, const uint8_t *end, fling_class_t *cls,
                           const char **name, size_t *name_size);

/*  Encoders. Each returns a new zmsg_t (header frame first, version
    FLING_PROTO_VERSION unless it takes one), or NULL when out of memory.
    `body` bytes are copied. The caller sends it with zmsg_send(),
    prepending the routing frame on a ROUTER. */
zmsg_t *fling_msg_submit (uint64_t batch_seq, uint32_t count, const void *records, size_t size);
zmsg_t *fling_msg_ack (uint64_t batch_seq, uint32_t count, const uint8_t *statuses);
zmsg_t *fling_msg_ping (void);
zmsg_t *fling_msg_pong (void);
zmsg_t *fling_msg_dispatch (uint32_t count, const void *records, size_t size);

/*  Rewrites the version byte of a message built by an encoder above, for
    a version 1 peer: only for the commands whose frames are the same in
    both versions (SUBMIT, ACK, PING, PONG, READY, DISPATCH, CAPACITY, BYE,
    ADMIN, ADMIN_REPLY, HOLDING). NULL-safe. */
void fling_msg_set_version (zmsg_t *msg, uint8_t version);

/*  DISPATCH whose body the caller wrote straight into a frame (made with
    zframe_new (NULL, size)), so the records are copied once, not into a
    buffer and again into the frame. Takes *body_p (nulls it), even on
    failure (NULL). */
zmsg_t *fling_msg_dispatch_frame (uint32_t count, zframe_t **body_p);
/*  RESULT number `result_seq` (a worker counts its RESULTs from 1). */
zmsg_t *fling_msg_result (uint64_t result_seq, uint32_t count, const void *results, size_t size);
/*  Sends a RESULT of `count` result records in `body` (`size` bytes) on a
    libzmq socket (a DEALER: no routing frame) without copying the body:
    libzmq owns it from here and calls free_fn (body, hint) once it is done
    with it, on its I/O thread, or before this returns if the send failed.
    Never blocks. 0, or -1 with errno (EAGAIN: at the high-water mark).
    Why not fling_msg_result: its copy is a malloc of the whole body on the
    caller's thread, and a malloc that large makes glibc consolidate every
    small free chunk it holds (a worker whose handlers arm zloop timers
    holds thousands): ~40,000 instructions per RESULT in W3 (callgrind). */
int fling_msg_send_result (void *socket, uint64_t result_seq, uint32_t count, void *body,
                           size_t size, zmq_free_fn *free_fn, void *hint);
zmsg_t *fling_msg_holding (uint32_t count, const void *leases, size_t size);

/*  READY: names[i] served by class classes[i]. READY and CAPACITY: `slots`
    NULL means the same as `capacity` (no prefetch). */
zmsg_t *fling_msg_ready (const uint32_t capacity[FLING_CLASS_COUNT],
                         const uint32_t slots[FLING_CLASS_COUNT], uint32_t pid,
                         const char *worker_name, size_t name_count, const char *const *names,
                         const fling_class_t *classes);
zmsg_t *fling_msg_capacity (const uint32_t capacity[FLING_CLASS_COUNT],
                            const uint32_t slots[FLING_CLASS_COUNT]);
zmsg_t *fling_msg_bye (void);
/*  ERROR in `version`'s layout: version 1 carries the reason and text
    only; version 2 also the command refused and its batch_seq or
    result_seq (0 when there is none). */
zmsg_t *fling_msg_error (uint8_t version, fling_reason_t reason, uint8_t refused_cmd,
                         uint64_t batch_seq, const char *text);
zmsg_t *fling_msg_admin (const char *json);
zmsg_t *fling_msg_admin_reply (const char *json);
zmsg_t *fling_msg_welcome (uint32_t heartbeat_ms, uint32_t worker_timeout_ms);
zmsg_t *fling_msg_result_ack (uint64_t result_seq);

/*  Names for logs: "SUBMIT", "QUEUE_FULL", "DONE", "loop"... */
const char *fling_cmd_name (int cmd);
const char *fling_reason_name (int reason);
const char *fling_outcome_name (int outcome);
const char *fling_class_name (int cls);

/*  The fling error code (fling_error.h) that a refusal reason maps to. */
int fling_reason_errno (int reason);

#ifdef __cplusplus
}
#endif

#endif
