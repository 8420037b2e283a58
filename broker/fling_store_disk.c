/*  fling_store_disk.c - the "disk" store: every task state change is one
    record in the append-only log (fling_wal.h).

    Records (integers little-endian, as in fling_wal.c):
      TASK  (1): attempt u16, crashes u8, reason u8, error_size u16, error,
                 task record. A task's live record: it pins its segment.
                 Written when the task is accepted and again when
                 compaction moves it; the latest one wins at replay.
      STATE (2): id[16], attempt u16, crashes u8, reason u8, leased u8,
                 error_size u16, error. Dispatch, crash, dead-letter,
                 dead_retry: rides along with the next commit.
      DONE  (3): id[16], wall_ms i64. The task ended (done or purged).
      STATE_DUE (8): id[16], attempt u16, crashes u8, due_ms i64. A STATE
                 of a task waiting for its retry (alive, not leased, no
                 error): due_ms is when it is due, UTC wall-clock ms, so a
                 restart holds it until then (proto/SPEC.md §6.8).
      KEY (4), PAUSE (5), SCHEDULE (6), SCHEDULE_REMOVED (7): notes of
                 the broker (fling_store.h, note()); their bodies are the
                 broker's (fling_unique.c, fling_pause.c,
                 fling_schedules.c). A pinning note keeps its segment.
    Replay hands them to the broker in log order; it keeps the state.
*/
#include "fling_log.h"
#include "fling_store.h"
#include "fling_store_lock.h"
#include "fling_wal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REC_TASK  1
#define REC_STATE 2
#define REC_DONE  3
/* 4-7: notes (FLING_STORE_NOTE_*): unique keys, paused queues, schedules. */
#define REC_STATE_DUE 8 /* a retry's wait */

#define TASK_HEAD    6
#define STATE_HEAD   23
#define DONE_SIZE    24
#define WAL_OVERHEAD FLING_WAL_RECORD_OVERHEAD

#define STATE_DUE_SIZE 27
/* Kept for each live task's end: its DONE record, and the commit marker
   that may follow it (a full log may end one task per commit). */
#define DONE_RESERVE (WAL_OVERHEAD + DONE_SIZE + FLING_WAL_COMMIT_SIZE)

typedef struct {
    fling_store_lock_t *lock; /* held while the store is open: one broker per directory */
    fling_wal_t *wal;
    int64_t next_space_check_ms;
    fling_wal_replay_stats_t replay;
    /* during recover */
    fling_store_recover_fn *fn;
    void *arg;
    bool stopped;
} disk_t;

static void put_u16 (uint8_t *p, uint16_t v)
{
    memcpy (p, &v, 2);
}

static uint16_t get_u16 (const uint8_t *p)
{
    uint16_t v;
    memcpy (&v, p, 2);
    return v;
}

static size_t error_size (const fling_store_task_t *task)
{
    return task->error_size > FLING_ERROR_TEXT_MAX ? FLING_ERROR_TEXT_MAX : task->error_size;
}

static int refuse_if_failed (disk_t *self)
{
    if (!fling_wal_failed (self->wal))
        return 0;
    errno = EIO;
    return -1;
}

static int disk_put (void *state, const fling_task_id_t *id, const fling_store_task_t *task,
                     uint32_t *segment)
{
    disk_t *self = (disk_t *)state;
    if (refuse_if_failed (self))
        return -1;
    uint8_t head[TASK_HEAD + FLING_ERROR_TEXT_MAX];
    size_t errors = error_size (task);
    put_u16 (head, task->attempt);
    head[2] = task->crashes;
    head[3] = task->reason;
    put_u16 (head + 4, (uint16_t)errors);
    if (errors)
        memcpy (head + TASK_HEAD, task->error, errors);
    size_t size = TASK_HEAD + errors + task->record_size;
    /* Room for the task AND its completion: a full log must still be able
       to end every task it holds, or it could never empty. */
    if (!fling_wal_has_room (self->wal, size, *segment ? 0 : DONE_RESERVE))
        return -1; /* errno: ENOSPC, EMSGSIZE or EIO */
    int64_t at = fling_wal_append (self->wal, REC_TASK, false, head, TASK_HEAD + errors,
                                   task->record, task->record_size);
    if (at < 0)
        return -1;
    if (*segment)
        fling_wal_segment_live (self->wal, *segment, -1);
    else
        fling_wal_reserve (self->wal, DONE_RESERVE); /* a new live task */
    fling_wal_segment_live (self->wal, (uint32_t)at, +1);
    *segment = (uint32_t)at;
    return 0;
}

/* A retry's wait: the short record with its due time (STATE_DUE). */
static int disk_state_due (disk_t *self, const fling_task_id_t *id, const fling_store_task_t *task)
{
    uint8_t body[STATE_DUE_SIZE];
    memcpy (body, id->bytes, FLING_TASK_ID_SIZE);
    put_u16 (body + 16, task->attempt);
    body[18] = task->crashes;
    memcpy (body + 19, &task->due_ms, 8);
    if (!fling_wal_has_room (self->wal, sizeof body, 0))
        return -1; /* not reserved: as disk_state says */
    return fling_wal_append (self->wal, REC_STATE_DUE, false, NULL, 0, body, sizeof body) < 0 ? -1
                                                                                              : 0;
}

static int disk_state (void *state, const fling_task_id_t *id, const fling_store_task_t *task)
{
    disk_t *self = (disk_t *)state;
    if (refuse_if_failed (self))
        return -1;
    if (task->due_ms && task->reason == FLING_DEAD_NONE && !task->leased)
        return disk_state_due (self, id, task);
    uint8_t head[STATE_HEAD];
    size_t errors = error_size (task);
    memcpy (head, id->bytes, FLING_TASK_ID_SIZE);
    put_u16 (head + 16, task->attempt);
    head[18] = task->crashes;
    head[19] = task->reason;
    head[20] = task->leased;
    put_u16 (head + 21, (uint16_t)errors);
    /* Not reserved: in a full log a state record may be refused (ENOSPC);
       then a restart sees an older attempt or crash count (the task may run
       again), never loses the task. The room kept for completions is not
       touched. */
    if (!fling_wal_has_room (self->wal, sizeof head + errors, 0))
        return -1;
    return fling_wal_append (self->wal, REC_STATE, false, head, sizeof head, task->error, errors) <
                   0
               ? -1
               : 0;
}

static int disk_complete (void *state, const fling_task_id_t *id, uint32_t segment, int64_t wall_ms)
{
    disk_t *self = (disk_t *)state;
    if (refuse_if_failed (self))
        return -1;
    uint8_t body[DONE_SIZE];
    memcpy (body, id->bytes, FLING_TASK_ID_SIZE);
    memcpy (body + 16, &wall_ms, 8);
    fling_wal_reserve (self->wal, -(int64_t)DONE_RESERVE); /* about to use it */
    if (fling_wal_append (self->wal, REC_DONE, true, NULL, 0, body, sizeof body) < 0)
        return -1;
    if (segment)
        fling_wal_segment_live (self->wal, segment, -1);
    return 0;
}

static int disk_note (void *state, uint8_t type, const void *body, size_t size, unsigned flags,
                      uint32_t *segment)
{
    disk_t *self = (disk_t *)state;
    if (refuse_if_failed (self))
        return -1;
    bool essential = (flags & FLING_STORE_NOTE_ESSENTIAL) != 0;
    if (!essential && !fling_wal_has_room (self->wal, size, 0))
        return -1;
    int64_t at = fling_wal_append (self->wal, type, essential, NULL, 0, body, size);
    if (at < 0)
        return -1;
    if (flags & FLING_STORE_NOTE_PIN)
        fling_wal_segment_live (self->wal, (uint32_t)at, +1);
    *segment = (uint32_t)at;
    return 0;
}

static void disk_release (void *state, uint32_t segment)
{
    fling_wal_segment_live (((disk_t *)state)->wal, segment, -1);
}

static int disk_commit (void *state)
{
    return fling_wal_commit (((disk_t *)state)->wal);
}

/* ---- recovery --------------------------------------------------------------- */

static bool decode_task (const uint8_t *body, size_t size, fling_store_event_t *event)
{
    if (size < TASK_HEAD)
        return false;
    size_t errors = get_u16 (body + 4);
    if (errors > FLING_ERROR_TEXT_MAX || TASK_HEAD + errors > size)
        return false;
    event->task.attempt = get_u16 (body);
    event->task.crashes = body[2];
    event->task.reason = body[3];
    event->task.error = (const char *)body + TASK_HEAD;
    event->task.error_size = errors;
    event->task.record = body + TASK_HEAD + errors;
    event->task.record_size = size - TASK_HEAD - errors;
    const uint8_t *cursor = event->task.record;
    fling_record_t record;
    fling_reason_t reason;
    if (fling_record_next (&cursor, cursor + event->task.record_size, &record, &reason) != 1 ||
        cursor != event->task.record + event->task.record_size)
        return false;
    event->id = record.id;
    return true;
}

static bool decode_state (const uint8_t *body, size_t size, fling_store_event_t *event)
{
    if (size < STATE_HEAD)
        return false;
    size_t errors = get_u16 (body + 21);
    if (errors > FLING_ERROR_TEXT_MAX || STATE_HEAD + errors != size)
        return false;
    memcpy (event->id.bytes, body, FLING_TASK_ID_SIZE);
    event->task.attempt = get_u16 (body + 16);
    event->task.crashes = body[18];
    event->task.reason = body[19];
    event->task.leased = body[20] != 0;
    event->task.error = (const char *)body + STATE_HEAD;
    event->task.error_size = errors;
    return true;
}

static bool decode_state_due (const uint8_t *body, size_t size, fling_store_event_t *event)
{
    if (size != STATE_DUE_SIZE)
        return false;
    memcpy (event->id.bytes, body, FLING_TASK_ID_SIZE);
    event->task.attempt = get_u16 (body + 16);
    event->task.crashes = body[18];
    memcpy (&event->task.due_ms, body + 19, 8);
    return event->task.due_ms != 0;
}

static void on_record (uint8_t type, const uint8_t *body, size_t size, uint32_t segment, void *arg)
{
    disk_t *self = (disk_t *)arg;
    if (self->stopped)
        return;
    fling_store_event_t event;
    memset (&event, 0, sizeof event);
    bool ok = false;
    switch (type) {
    case REC_TASK:
        event.kind = FLING_STORE_EV_TASK;
        event.segment = segment;
        if ((ok = decode_task (body, size, &event))) {
            fling_wal_segment_live (self->wal, segment, +1);
            fling_wal_reserve (self->wal, DONE_RESERVE);
        }
        break;
    case REC_STATE:
        event.kind = FLING_STORE_EV_STATE;
        ok = decode_state (body, size, &event);
        break;
    case REC_STATE_DUE:
        event.kind = FLING_STORE_EV_STATE;
        ok = decode_state_due (body, size, &event);
        break;
    case REC_DONE:
        event.kind = FLING_STORE_EV_DONE;
        if ((ok = size == DONE_SIZE)) {
            memcpy (event.id.bytes, body, FLING_TASK_ID_SIZE);
            memcpy (&event.wall_ms, body + 16, 8);
        }
        break;
    case FLING_STORE_NOTE_KEY:
    case FLING_STORE_NOTE_PAUSE:
    case FLING_STORE_NOTE_SCHEDULE:
    case FLING_STORE_NOTE_SCHEDULE_REMOVED:
        event.kind = FLING_STORE_EV_NOTE;
        event.segment = segment;
        event.note_type = type;
        event.note = body;
        event.note_size = size;
        /* A schedule's notes are never empty (a mark, a name). */
        ok = size <= fling_store_note_max (type) && (size > 0 || type < FLING_STORE_NOTE_SCHEDULE);
        if (ok)
            fling_wal_segment_live (self->wal, segment, +1); /* the broker releases what it drops */
        break;
    }
    if (!ok) {
        /* The CRC matched, so a writer of another version or a bug. */
        self->replay.corrupt_records++;
        fling_error ("store: undecodable record type=%u size=%zu in segment %u; skipped",
                     (unsigned)type, size, (unsigned)segment);
        return;
    }
    if (self->fn (&event, self->arg) != 0)
        self->stopped = true;
}

static int disk_recover (void *state, fling_store_recover_fn *fn, void *arg)
{
    disk_t *self = (disk_t *)state;
    self->fn = fn;
    self->arg = arg;
    self->stopped = false;
    uint64_t undecodable = self->replay.corrupt_records;
    fling_wal_replay_stats_t stats;
    int rc = fling_wal_replay (self->wal, on_record, self, &stats);
    stats.corrupt_records += self->replay.corrupt_records - undecodable;
    self->replay = stats;
    self->fn = NULL;
    if (rc == 0 && self->stopped) {
        errno = ECANCELED;
        return -1;
    }
    return rc;
}

/* ---- upkeep ----------------------------------------------------------------- */

static void disk_unpin (void *state, uint32_t segment)
{
    disk_t *self = (disk_t *)state;
    fling_wal_reserve (self->wal, -(int64_t)DONE_RESERVE);
    if (segment)
        fling_wal_segment_live (self->wal, segment, -1);
}

static int64_t disk_candidate (void *state)
{
    return fling_wal_compaction_candidate (((disk_t *)state)->wal);
}

static void disk_maintain (void *state, int64_t now_ms)
{
    disk_t *self = (disk_t *)state;
    fling_wal_sweep (self->wal);
    if (now_ms >= self->next_space_check_ms) {
        fling_wal_check_space (self->wal);
        self->next_space_check_ms = now_ms + 1000;
    }
}

static void disk_status (void *state, fling_store_status_t *status)
{
    disk_t *self = (disk_t *)state;
    fling_wal_stats_t stats;
    fling_wal_stats (self->wal, &stats);
    status->bytes_on_disk = stats.bytes_on_disk;
    status->segments = stats.segments;
    status->commits = stats.commits;
    status->failed = fling_wal_failed (self->wal);
    status->full = fling_wal_full (self->wal);
    status->records = self->replay.records;
    status->corrupt_records = self->replay.corrupt_records;
    status->torn_bytes = self->replay.torn_bytes;
    status->damaged_segments = self->replay.damaged_segments;
    status->quarantined = self->replay.quarantined;
}

static void disk_destroy (void *state)
{
    disk_t *self = (disk_t *)state;
    fling_wal_destroy (&self->wal);
    fling_store_lock_destroy (&self->lock); /* after the last write */
    free (self);
}

static const fling_store_ops_t disk_ops = {
    .put = disk_put,
    .state = disk_state,
    .complete = disk_complete,
    .commit = disk_commit,
    .recover = disk_recover,
    .unpin = disk_unpin,
    .compaction_candidate = disk_candidate,
    .maintain = disk_maintain,
    .status = disk_status,
    .note = disk_note,
    .release = disk_release,
    .destroy = disk_destroy,
};

fling_store_t *fling_store_disk_open (const fling_store_options_t *options)
{
    disk_t *self = (disk_t *)calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    fling_wal_options_t wal = options->wal;
    wal.spare_segment = !wal.read_only;
    /* The lock before anything reads or writes the directory: a second
       broker must leave every file as it found it. */
    char error[1024];
    self->lock = fling_store_lock_new (options->dir, wal.read_only, error, sizeof error);
    if (self->lock)
        self->wal = fling_wal_open (options->dir, &wal);
    else
        fling_error ("%s", error);
    if (!self->wal) {
        int err = errno;
        disk_destroy (self);
        errno = err;
        return NULL;
    }
    fling_store_t *store = fling_store_new ("disk", &disk_ops, self);
    if (!store) {
        disk_destroy (self);
        errno = ENOMEM;
    }
    return store;
}
