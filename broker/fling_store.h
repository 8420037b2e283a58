/*  fling_store.h - where the broker keeps accepted tasks until they finish.

    The broker talks to a store only through this interface; a store is a
    table of functions plus its private state inside an opaque
    fling_store_t. "memory" keeps nothing (the broker's own tables are the
    only copy); "disk" (fling_store_disk.c) writes every state change to an
    append-only log (fling_wal.h). The broker holds every live task in
    memory, so a store never has to read a task back except at recovery.

    - put(id, task, &segment): stage a task's full state (record bytes,
      attempt, crash count, dead-letter reason and error). Used for a new
      task (before its ACK) and to move a live task out of an old segment
      (compaction). *segment is the locator of the task's current live
      record (0 = none; the broker keeps it in the task header) and gets
      the new one. -1 + ENOSPC when the store has no room for the task
      and its later completion; -1 + EMSGSIZE for a task larger than one
      segment can hold; -1 + EIO when the store failed.
    - state(id, task): the task's attempt / crash count / dead-letter state
      / leased flag / due time changed (task->record is ignored). Rides
      along with the next commit; losing it re-runs a task (or runs a retry
      before its wait ended), never loses one.
    - complete(id, segment, wall_ms): the task left the broker (done or
      purged). Made durable by a later commit; `wall_ms` (CLOCK_REALTIME)
      lets a restart refill the duplicate window.
    - commit(): group commit. Makes everything staged since the last commit
      durable with ONE flush, then returns 0. The broker acknowledges a
      SUBMIT only after the commit that follows its put returned 0. On -1
      nothing staged since the last good commit may be acknowledged and
      the store never reports success again (broker/STORE.md, "Rules").
    - recover(fn): once at start, before any other call: fn(event) for
      every record in log order (see fling_store_event_t). The broker
      applies them to its own tables and calls unpin() for a task record
      that a later one superseded or ended. fn returning -1 stops the walk.
    - compaction_candidate(): a segment whose few live task records the
      broker should put() again (every task whose locator equals it), so
      that the segment can be deleted; -1 if none.
    - note(type, body, flags, &segment): a record of the broker's own
      (proto/SPEC.md §6.8): a unique key kept for its TTL, a paused name,
      a periodic schedule's definition and mark, a schedule's removal.
      *segment gets the note's locator. FLING_STORE_NOTE_PIN: it keeps its
      segment until release(segment) (the broker puts it again when
      compaction names that segment; a note that supersedes a pinned one
      is written first, then the old one released); FLING_STORE_NOTE_ESSENTIAL:
      it may use the room kept for ending tasks (it ends or shrinks
      something, or records what a just-accepted task proved room for).
      -1 + EMSGSIZE for a body over its type's limit (note_max below).
      Rides with the next commit. recover() gives each back as
      FLING_STORE_EV_NOTE, pinned: the broker releases those it does not
      keep.
    - release(segment): ends a note's pin (0: none).
    - maintain(now_ms): deletes emptied segments and re-checks free space
      (about once a second). Slow-ish: the broker calls it after the ACKs.

    Calls come from the broker's one thread only. Every call returns 0, or
    -1 with errno (ENOSPC for a full store, EIO for a failed one).
*/
#ifndef FLING_STORE_H_INCLUDED
#define FLING_STORE_H_INCLUDED

#include "fling_proto.h"
#include "fling_wal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_store fling_store_t;

/*  Dead-letter reasons (0 = alive). */
typedef enum {
    FLING_DEAD_NONE = 0,
    FLING_DEAD_FAILED = 1,  /* handler failed on its last attempt */
    FLING_DEAD_TIMEOUT = 2, /* last attempt overran its deadline */
    FLING_DEAD_CRASHED = 3  /* its workers died running it poison_limit times */
} fling_dead_reason_t;

const char *fling_dead_reason_name (int reason); /* "failed", "timeout", "crashed" */

/*  A task's state as the store keeps it. */
typedef struct {
    const uint8_t *record; /* the task record, length prefix included */
    size_t record_size;
    uint16_t attempt;
    uint8_t crashes;
    uint8_t reason;    /* fling_dead_reason_t */
    bool leased;       /* in flight when this was written */
    const char *error; /* dead-letter error text, error_size bytes */
    size_t error_size;
    /* Waiting for a retry (or a due time): when it is due, UTC wall-clock
       ms (CLOCK_REALTIME); 0 = not waiting. state() only (put ignores it). */
    int64_t due_ms;
} fling_store_task_t;

typedef enum {
    FLING_STORE_EV_TASK = 1, /* task: every field; segment: where it lives */
    FLING_STORE_EV_STATE,    /* task: attempt, crashes, reason, leased, error, due_ms */
    FLING_STORE_EV_DONE,     /* the task ended at wall_ms */
    FLING_STORE_EV_NOTE      /* note_type, note: a note() record; segment: where it lives */
} fling_store_event_kind_t;

/*  Record types of notes (the disk store's types 4 to 7; the bodies are
    the broker's) and their flags. */
#define FLING_STORE_NOTE_KEY              4 /* a unique key in its TTL (fling_unique.c) */
#define FLING_STORE_NOTE_PAUSE            5 /* a name paused or resumed (fling_pause.c) */
#define FLING_STORE_NOTE_SCHEDULE         6 /* a schedule's mark + definition (fling_schedules.c) */
#define FLING_STORE_NOTE_SCHEDULE_REMOVED 7 /* the name of a schedule removed */
#define FLING_STORE_NOTE_PIN              1u
#define FLING_STORE_NOTE_ESSENTIAL        2u
#define FLING_STORE_NOTE_MAX              512 /* body bytes of a small note (all but SCHEDULE) */

/*  The largest body a note of `type` may have, for note() and replay
    alike: FLING_STORE_NOTE_MAX, except SCHEDULE, whose definition carries
    a payload of up to FLING_PAYLOAD_MAX (1 MiB) and an unbounded cron or
    tz text: SIZE_MAX there (a record still has to fit in one segment:
    EMSGSIZE). 0 for a type that is no note. */
size_t fling_store_note_max (uint8_t type);

typedef struct {
    fling_store_event_kind_t kind;
    fling_task_id_t id;
    fling_store_task_t task;
    uint32_t segment;
    int64_t wall_ms;
    uint8_t note_type; /* FLING_STORE_EV_NOTE */
    const uint8_t *note;
    size_t note_size;
} fling_store_event_t;

typedef int (fling_store_recover_fn) (const fling_store_event_t *event, void *arg);

typedef struct {
    uint64_t bytes_on_disk;
    uint64_t segments;
    uint64_t commits;
    bool failed;
    bool full;
    /* from the last recover() */
    uint64_t records;
    uint64_t corrupt_records;  /* damaged stretches of once-durable records, skipped */
    uint64_t torn_bytes;       /* cut off the newest segment's tail (a write a crash cut short) */
    uint32_t damaged_segments; /* segments not read in full: kept, quarantined once empty */
    uint32_t quarantined;      /* files in the quarantine waiting for an operator */
} fling_store_status_t;

/*  What a store implements. Every member is required; `state` is the
    pointer given to fling_store_new. */
typedef struct {
    int (*put) (void *state, const fling_task_id_t *id, const fling_store_task_t *task,
                uint32_t *segment);
    int (*state) (void *state, const fling_task_id_t *id, const fling_store_task_t *task);
    int (*complete) (void *state, const fling_task_id_t *id, uint32_t segment, int64_t wall_ms);
    int (*commit) (void *state);
    int (*recover) (void *state, fling_store_recover_fn *fn, void *arg);
    void (*unpin) (void *state, uint32_t segment);
    int64_t (*compaction_candidate) (void *state);
    void (*maintain) (void *state, int64_t now_ms);
    int (*note) (void *state, uint8_t type, const void *body, size_t size, unsigned flags,
                 uint32_t *segment);
    void (*release) (void *state, uint32_t segment);
    void (*status) (void *state, fling_store_status_t *status);
    void (*destroy) (void *state);
} fling_store_ops_t;

/*  Options of the disk store (ignored by "memory"). */
typedef struct {
    char dir[1024];
    fling_wal_options_t wal; /* segment size, cap, free floor, I/O table, read_only */
} fling_store_options_t;

void fling_store_options_init (fling_store_options_t *options);

/*  Wraps an implementation. `kind` ("memory", "disk") is copied; `ops` must
    outlive the store (a static table). The store owns `state` and frees it
    through ops->destroy. NULL + errno. */
fling_store_t *fling_store_new (const char *kind, const fling_store_ops_t *ops, void *state);

/*  Opens the store named by `kind` ("memory" or "disk"; options may be
    NULL for the defaults). NULL + errno (EINVAL for an unknown kind).
    (fling_store_open.c) */
fling_store_t *fling_store_open (const char *kind, const fling_store_options_t *options);

/*  The memory store (fling_store.c): nothing survives a restart. */
fling_store_t *fling_store_memory_open (void);

/*  The disk store (fling_store_disk.c). */
fling_store_t *fling_store_disk_open (const fling_store_options_t *options);

/*  True if `kind` names a store this build has. */
bool fling_store_kind_valid (const char *kind);

/*  Frees the store. Does NOT commit: whatever was staged since the last
    commit is lost, as in a crash (the broker commits before it stops). */
void fling_store_destroy (fling_store_t **self_p);
const char *fling_store_kind (const fling_store_t *self);

int fling_store_put (fling_store_t *self, const fling_task_id_t *id, const fling_store_task_t *task,
                     uint32_t *segment);
int fling_store_state (fling_store_t *self, const fling_task_id_t *id,
                       const fling_store_task_t *task);
int fling_store_complete (fling_store_t *self, const fling_task_id_t *id, uint32_t segment,
                          int64_t wall_ms);
int fling_store_commit (fling_store_t *self);
int fling_store_recover (fling_store_t *self, fling_store_recover_fn *fn, void *arg);
void fling_store_unpin (fling_store_t *self, uint32_t segment);
int64_t fling_store_compaction_candidate (fling_store_t *self);
void fling_store_maintain (fling_store_t *self, int64_t now_ms);
void fling_store_status (fling_store_t *self, fling_store_status_t *status);
int fling_store_note (fling_store_t *self, uint8_t type, const void *body, size_t size,
                      unsigned flags, uint32_t *segment);
void fling_store_release (fling_store_t *self, uint32_t segment);

/*  Milliseconds of CLOCK_REALTIME (completion times in the log). */
int64_t fling_store_wall_ms (void);

#ifdef __cplusplus
}
#endif

#endif
