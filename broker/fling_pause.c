/*  fling_pause.c - see fling_pause.h.

    The note: paused u8 (1 = paused, 0 = resumed), then the name. A pause
    pins its segment until the resume (or a newer copy) releases it; a
    resume pins nothing, it only has to outlive the pause it ends, and
    segments go oldest first (fling_wal_sweep), so it does.
*/
#include "fling_pause.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_names.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

static size_t paused_count (const fling_broker_t *self)
{
    size_t count = 0;
    for (size_t i = 0; i < self->queue_count; i++)
        count += fling_queue_settings (self->queues[i])->paused;
    return count;
}

/* Stages the note of `queue`'s new state. */
static int write_note (fling_broker_t *self, fling_queue_t *queue, bool pause, uint32_t *segment)
{
    uint8_t body[1 + FLING_NAME_MAX];
    const char *name = fling_queue_name (queue);
    size_t size = strlen (name);
    body[0] = pause;
    memcpy (body + 1, name, size);
    /* A resume only ends something: it may use the room kept for that. */
    unsigned flags = pause ? FLING_STORE_NOTE_PIN : FLING_STORE_NOTE_ESSENTIAL;
    if (fling_store_note (self->store, FLING_STORE_NOTE_PAUSE, body, 1 + size, flags, segment))
        return -1;
    self->store_dirty = true;
    return 0;
}

/* The admin's answer waits for nothing else: the change is made durable
   now. A failed commit is left for the end of the turn to find (the store
   stays failed), which refuses the turn's batches as it does for any. */
static int commit_now (fling_broker_t *self)
{
    if (fling_store_commit (self->store)) {
        self->store_dirty = true;
        return -1;
    }
    self->store_dirty = false;
    return 0;
}

static json_t *reply (fling_queue_t *queue, bool paused)
{
    return json_pack ("{sb sI}", "paused", paused, "queued",
                      (json_int_t)(queue ? fling_queue_queued (queue) : 0));
}

static json_t *refusal (const char *text)
{
    return json_pack ("{ss}", "error", text);
}

json_t *fling_pause_request (fling_broker_t *self, json_t *request, bool pause)
{
    const char *name = json_string_value (json_object_get (request, "name"));
    if (!name || !fling_name_valid (name, strlen (name)))
        return refusal (pause ? "queue_pause needs \"name\": a task name"
                              : "queue_resume needs \"name\": a task name");
    if (self->store_failed)
        return refusal ("the store failed: the broker is read-only until restarted");
    fling_queue_t *queue = fling_names_queue (self, name, strlen (name),
                                              pause ? FLING_QUEUE_FOR_TASK : FLING_QUEUE_FIND);
    if (!queue)
        return pause ? refusal ("the name table is full (--max-names)") : reply (NULL, false);
    fling_queue_settings_t *settings = fling_queue_settings (queue);
    if (settings->paused == pause)
        return reply (queue, pause); /* already so: nothing to write */
    if (pause && paused_count (self) >= FLING_PAUSED_MAX)
        return refusal ("too many paused names (1024)");
    uint32_t segment = 0;
    if (write_note (self, queue, pause, &segment) || commit_now (self)) {
        bool full = errno == ENOSPC;
        fling_error ("queue %s name=%s not stored: %s", pause ? "pause" : "resume", name,
                     fling_strerror (errno));
        return refusal (full ? "the store is full" : "the store failed");
    }
    if (pause) {
        settings->pause_segment = segment;
    } else {
        fling_store_release (self->store, settings->pause_segment);
        settings->pause_segment = 0;
        self->dispatch_needed = true;
        self->names_sweep = true; /* it may hold nothing else */
    }
    settings->paused = pause;
    fling_info ("queue %s name=%s queued=%zu", pause ? "paused" : "resumed", name,
                fling_queue_queued (queue));
    return reply (queue, pause);
}

int fling_pause_recover (fling_broker_t *self, const fling_store_event_t *event)
{
    const uint8_t *note = event->note;
    size_t size = event->note_size;
    if (size < 2 || note[0] > 1 || !fling_name_valid ((const char *)note + 1, size - 1)) {
        fling_error ("store: bad pause record in segment %u; skipped", (unsigned)event->segment);
        fling_store_release (self->store, event->segment);
        return 0;
    }
    fling_queue_t *queue = fling_names_queue (self, (const char *)note + 1, size - 1,
                                              note[0] ? FLING_QUEUE_RECOVERED : FLING_QUEUE_FIND);
    if (!queue) {
        fling_store_release (self->store, event->segment);
        return note[0] ? -1 : 0; /* a resume of a name not held: nothing to do */
    }
    fling_queue_settings_t *settings = fling_queue_settings (queue);
    if (settings->paused) /* an older copy, or the pause this ends */
        fling_store_release (self->store, settings->pause_segment);
    settings->paused = note[0] != 0;
    settings->pause_segment = note[0] ? event->segment : 0;
    if (!note[0])
        fling_store_release (self->store, event->segment); /* a resume keeps nothing */
    return 0;
}

void fling_pause_compact (fling_broker_t *self, uint32_t segment)
{
    for (size_t i = 0; i < self->queue_count; i++) {
        fling_queue_settings_t *settings = fling_queue_settings (self->queues[i]);
        if (!settings->paused || settings->pause_segment != segment)
            continue;
        uint32_t moved = 0;
        if (write_note (self, self->queues[i], true, &moved))
            return; /* full or failed: the next compaction tries again */
        fling_store_release (self->store, settings->pause_segment);
        settings->pause_segment = moved;
    }
}
