/*  fling_unique.c - see fling_unique.h.

    The key note: holder id[16], expires_ms i64 (wall clock), name_size
    u8, name, key. Written after the DONE of its task, so a replay first
    forgets the task (and its key), then takes the key back for its TTL.
*/
#include "fling_unique.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_names.h"
#include "fling_ratelog.h"

#include <errno.h>
#include <string.h>

#define NOTE_HEAD 25 /* id, expires_ms, name_size */

/* What the table lets go of: its name's count, and its note's segment. */
static void key_gone (void *arg, void *owner, uint32_t segment)
{
    fling_broker_t *self = (fling_broker_t *)arg;
    fling_queue_t *queue = (fling_queue_t *)owner;
    if (fling_queue_counters (queue)->keys-- == 1)
        self->names_sweep = true; /* its last key: the name may go */
    fling_store_release (self->store, segment);
}

fling_keys_t *fling_unique_table_new (fling_broker_t *self)
{
    size_t max = (size_t)self->config.max_tasks;
    return fling_keys_new (max, max / 2 ? max / 2 : 1, key_gone, self);
}

static uint64_t scope_of (const fling_broker_t *self, const fling_task_id_t *id)
{
    return self->auth ? fling_task_id_producer (id) : 0; /* CURVE: per producer key */
}

static void ref_of (const fling_broker_t *self, const fling_record_t *record, fling_key_ref_t *ref)
{
    ref->scope = scope_of (self, &record->id);
    ref->name = record->name;
    ref->name_size = record->name_size;
    ref->key = record->ext.key;
    ref->key_size = record->ext.key_size;
}

/* Every key enters the table here: from then on tasks' ends look theirs
   up (fling_unique_end). */
static fling_key_t *add_key (fling_broker_t *self, const fling_key_ref_t *ref,
                             const fling_task_id_t *holder, fling_queue_t *queue, bool limit)
{
    self->keys_used = true;
    return fling_keys_add (self->keys, ref, holder, queue, limit);
}

fling_reason_t fling_unique_take (fling_broker_t *self, const fling_record_t *record,
                                  fling_queue_t *queue)
{
    fling_key_ref_t ref;
    ref_of (self, record, &ref);
    if (fling_keys_find (self->keys, &ref, fling_state_wall_ms (self))) {
        self->counters.key_duplicates++;
        return FLING_REASON_DUPLICATE;
    }
    if (!add_key (self, &ref, &record->id, queue, true)) {
        if (errno != ENOSPC)
            return FLING_REASON_UNAVAILABLE;
        FLING_LOG_LIMITED (FLING_LOG_WARN,
                           "unique key refused: the key table is full (%zu keys; --max-tasks, "
                           "half of it per producer key)",
                           fling_keys_size (self->keys));
        return FLING_REASON_QUEUE_FULL;
    }
    fling_queue_counters (queue)->keys++;
    return FLING_REASON_OK;
}

/* The key `task` holds as a live task, or NULL (none, or not its own). */
static fling_key_t *key_held_by (fling_broker_t *self, const fling_btask_t *task,
                                 fling_record_t *record)
{
    if (fling_record_wire_size (task->raw) == task->size)
        return NULL; /* no extension: the common case */
    fling_btask_record (task, record);
    if (!record->ext.key)
        return NULL;
    fling_key_ref_t ref;
    ref_of (self, record, &ref);
    fling_key_t *key = fling_keys_find (self->keys, &ref, 0);
    if (!key || fling_key_expires (key) ||
        memcmp (fling_key_holder (key)->bytes, record->id.bytes, FLING_TASK_ID_SIZE) != 0)
        return NULL;
    return key;
}

static int write_note (fling_broker_t *self, const fling_key_t *key, unsigned flags,
                       uint32_t *segment)
{
    fling_key_ref_t ref;
    fling_key_ref (key, &ref);
    uint8_t body[NOTE_HEAD + FLING_NAME_MAX + FLING_UNIQUE_KEY_MAX];
    int64_t expires = fling_key_expires (key);
    memcpy (body, fling_key_holder (key)->bytes, FLING_TASK_ID_SIZE);
    memcpy (body + 16, &expires, 8);
    body[24] = (uint8_t)ref.name_size;
    memcpy (body + NOTE_HEAD, ref.name, ref.name_size);
    memcpy (body + NOTE_HEAD + ref.name_size, ref.key, ref.key_size);
    size_t size = NOTE_HEAD + ref.name_size + ref.key_size;
    if (fling_store_note (self->store, FLING_STORE_NOTE_KEY, body, size, flags, segment))
        return -1;
    self->store_dirty = true;
    return 0;
}

void fling_unique_end_held (fling_broker_t *self, const fling_btask_t *task)
{
    fling_record_t record;
    fling_key_t *key = key_held_by (self, task, &record);
    if (!key)
        return;
    if (!record.ext.key_ttl_ms) {
        fling_keys_remove (self->keys, key);
        return;
    }
    fling_keys_hold_until (self->keys, key,
                           fling_state_wall_ms (self) + (int64_t)record.ext.key_ttl_ms, 0);
    uint32_t segment = 0;
    /* Essential: it rides with the task's end, in the room kept for it. */
    if (!self->store_failed &&
        write_note (self, key, FLING_STORE_NOTE_PIN | FLING_STORE_NOTE_ESSENTIAL, &segment))
        FLING_LOG_LIMITED (FLING_LOG_WARN,
                           "store: key note not written (%s): the key is held "
                           "for its TTL until a restart only",
                           fling_strerror (errno));
    fling_key_set_segment (key, segment);
}

void fling_unique_drop_held (fling_broker_t *self, const fling_btask_t *task)
{
    fling_record_t record;
    fling_key_t *key = key_held_by (self, task, &record);
    if (key)
        fling_keys_remove (self->keys, key);
}

void fling_unique_recover_task (fling_broker_t *self, const fling_btask_t *task)
{
    if (fling_record_wire_size (task->raw) == task->size)
        return;
    fling_record_t record;
    fling_btask_record (task, &record);
    if (!record.ext.key)
        return;
    fling_key_ref_t ref;
    ref_of (self, &record, &ref);
    fling_key_t *key = fling_keys_find (self->keys, &ref, 0);
    if (key && fling_key_expires (key)) { /* an ended holder's TTL: the live task wins */
        fling_keys_remove (self->keys, key);
        key = NULL;
    }
    if (!key && add_key (self, &ref, &record.id, task->queue, false)) {
        fling_queue_counters (task->queue)->keys++;
        return;
    }
    if (!key || memcmp (fling_key_holder (key)->bytes, record.id.bytes, FLING_TASK_ID_SIZE))
        fling_error ("recovered task holds a unique key %s: %s",
                     key ? "another task holds" : "that cannot be held",
                     key ? "both are kept, the key stays with the first" : "out of memory");
}

int fling_unique_recover_note (fling_broker_t *self, const fling_store_event_t *event)
{
    const uint8_t *note = event->note;
    size_t size = event->note_size;
    fling_key_ref_t ref;
    fling_task_id_t id;
    int64_t expires;
    if (size < NOTE_HEAD + 2 || note[24] == 0 || (size_t)NOTE_HEAD + note[24] >= size) {
        fling_error ("store: bad key record in segment %u; skipped", (unsigned)event->segment);
        fling_store_release (self->store, event->segment);
        return 0;
    }
    memcpy (id.bytes, note, FLING_TASK_ID_SIZE);
    memcpy (&expires, note + 16, 8);
    ref.scope = scope_of (self, &id);
    ref.name = (const char *)note + NOTE_HEAD;
    ref.name_size = note[24];
    ref.key = ref.name + ref.name_size;
    ref.key_size = size - NOTE_HEAD - ref.name_size;
    fling_queue_t *queue = NULL;
    fling_key_t *key = NULL;
    if (expires > fling_store_wall_ms () &&
        (queue = fling_names_queue (self, ref.name, ref.name_size, FLING_QUEUE_RECOVERED))) {
        key = fling_keys_find (self->keys, &ref, 0);
        if (key && fling_key_expires (key) &&
            !memcmp (fling_key_holder (key)->bytes, id.bytes, FLING_TASK_ID_SIZE))
            fling_store_release (self->store, fling_key_segment (key)); /* an older copy */
        else if (key)
            key = NULL; /* held by a live task: it stays with it */
        else if ((key = add_key (self, &ref, &id, queue, false)))
            fling_queue_counters (queue)->keys++;
    }
    if (key)
        fling_keys_hold_until (self->keys, key, expires, event->segment);
    else
        fling_store_release (self->store, event->segment); /* ended, or not kept */
    return 0;
}

void fling_unique_compact (fling_broker_t *self, uint32_t segment)
{
    for (fling_key_t *key = fling_keys_first (self->keys); key;
         key = fling_keys_next (self->keys)) {
        if (!fling_key_expires (key) || fling_key_segment (key) != segment)
            continue;
        uint32_t moved = 0;
        if (write_note (self, key, FLING_STORE_NOTE_PIN, &moved))
            return; /* full or failed: the next compaction tries again */
        fling_store_release (self->store, segment);
        fling_key_set_segment (key, moved);
    }
}

void fling_unique_expire (fling_broker_t *self)
{
    if (fling_keys_size (self->keys))
        fling_keys_expire (self->keys, fling_state_wall_ms (self), FLING_UNIQUE_EXPIRE_PER_TURN);
}
