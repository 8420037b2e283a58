/*  fling_schedules.c - see fling_schedules.h. */
#include "fling_schedules.h"
#include "fling_schedules_json.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_ratelog.h"
#include "fling_schedule.h"
#include "fling_timetext.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A refused firing (a full store, a limit) is tried again this much later,
   as the same fire time or, once a later one is due, that one (one task,
   as for a missed firing): never early, never twice. */
#define RETRY_MS   1000
#define STATS_NEXT 100 /* schedules shown with their next fire time in stats */
#define NEVER      INT64_MAX
/* Payload bytes all schedules may hold (each holds its payload twice: the
   definition and the text its firings copy): the table's memory stays
   bounded whatever admins send, a few hundred MiB at most. */
#define PAYLOAD_BYTES_MAX (64u << 20)

typedef struct {
    char name[FLING_NAME_MAX + 1];
    json_t *def; /* normalised SCHEDULE (fling_schedules_parse) */
    fling_schedule_t *when;
    const char *task; /* in def */
    char *payload;    /* compact JSON text */
    size_t payload_size;
    uint16_t max_attempts;
    uint32_t timeout_ms;
    uint32_t backoff_ms;
    uint8_t priority;
    int64_t mark_ms;  /* latest fire time handled (fired, or skipped at start) */
    int64_t next_ms;  /* first fire time after the mark; NEVER for none */
    int64_t retry_ms; /* wall clock: a refused firing waits until then */
    uint32_t segment; /* store locator of its live record (0 = none) */
    bool recovered;   /* from the store: its missed times are judged at the first turn */
} entry_t;

struct fling_schedules {
    zhashx_t *table; /* name -> entry_t */
    size_t max;
    size_t payload_bytes; /* of every entry (PAYLOAD_BYTES_MAX) */
    bool started;         /* the first turn ran: later firings are not "at start" */
    int64_t earliest_ms;  /* wall clock of the earliest firing or retry, NEVER for none */
    fling_schedules_counters_t counters;
};

static void entry_destroy (void **item)
{
    entry_t *e = (entry_t *)*item;
    if (!e)
        return;
    json_decref (e->def);
    fling_schedule_destroy (&e->when);
    free (e->payload);
    free (e);
    *item = NULL;
}

fling_schedules_t *fling_schedules_new (size_t max)
{
    fling_schedules_t *self = (fling_schedules_t *)calloc (1, sizeof *self);
    if (!self || !(self->table = zhashx_new ())) {
        free (self);
        errno = ENOMEM;
        return NULL;
    }
    zhashx_set_destructor (self->table, entry_destroy);
    self->max = max;
    self->earliest_ms = NEVER;
    return self;
}

void fling_schedules_destroy (fling_schedules_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->table);
    free (*self_p);
    *self_p = NULL;
}

size_t fling_schedules_count (const fling_schedules_t *self)
{
    return zhashx_size (self->table);
}

const fling_schedules_counters_t *fling_schedules_counters (const fling_schedules_t *self)
{
    return &self->counters;
}

/* A table entry for a parsed definition (taken). NULL: out of memory, or
   the definition is bad (a stored one from a broker that knew more). */
static entry_t *entry_new (json_t *def, char *error, size_t error_size)
{
    entry_t *e = (entry_t *)calloc (1, sizeof *e);
    if (!e) {
        json_decref (def);
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    e->def = def;
    snprintf (e->name, sizeof e->name, "%s", fling_schedules_json_text (def, "name", ""));
    e->task = fling_schedules_json_text (def, "task", "");
    e->payload = json_dumps (json_object_get (def, "payload"), JSON_COMPACT);
    e->priority = (uint8_t)fling_schedules_json_int (def, "priority", FLING_PRIORITY_MAX);
    e->max_attempts = (uint16_t)fling_schedules_json_int (def, "max_attempts", UINT16_MAX);
    e->timeout_ms = (uint32_t)fling_schedules_json_int (def, "timeout_ms", 1 << 30);
    e->backoff_ms = (uint32_t)fling_schedules_json_int (def, "backoff_ms", 1 << 30);
    e->when = fling_schedules_json_timing (def, error, error_size);
    e->payload_size = e->payload ? strlen (e->payload) : 0;
    if (!e->payload || !e->when) {
        void *item = e;
        entry_destroy (&item);
        return NULL;
    }
    return e;
}

/* When the entry is to be looked at again: its next fire time, or later
   while a refused firing waits. */
static int64_t due_of (const entry_t *e)
{
    return e->next_ms > e->retry_ms ? e->next_ms : e->retry_ms;
}

static void set_next (fling_schedules_t *self, entry_t *e)
{
    int64_t next = fling_schedule_next (e->when, e->mark_ms);
    e->next_ms = next < 0 ? NEVER : next;
    if (due_of (e) < self->earliest_ms)
        self->earliest_ms = due_of (e);
}

/* Puts `e` in the table in place of `old` (NULL: none), keeping the byte
   count. */
static void table_put (fling_schedules_t *self, entry_t *old, entry_t *e)
{
    self->payload_bytes += e->payload_size;
    self->payload_bytes -= old ? old->payload_size : 0;
    zhashx_update (self->table, e->name, e); /* destroys the old one */
    set_next (self, e);
}

/* ---- durability ---------------------------------------------------------- */

/* A schedule's record, a pinned SCHEDULE note: its mark (i64,
   little-endian) then its definition as compact JSON. The new note is
   written before the old one's pin ends, so a failure keeps the old one.
   `essential`: the mark of a firing whose task the store just took (it
   may use the room a full log keeps). */
static int put_record (fling_broker_t *self, entry_t *e, bool essential)
{
    char *json = json_dumps (e->def, JSON_COMPACT);
    size_t size = json ? strlen (json) : 0;
    uint8_t *body = json ? (uint8_t *)malloc (8 + size) : NULL;
    if (!body) {
        free (json);
        errno = ENOMEM;
        return -1;
    }
    memcpy (body, &e->mark_ms, 8);
    memcpy (body + 8, json, size);
    free (json);
    unsigned flags = FLING_STORE_NOTE_PIN | (essential ? FLING_STORE_NOTE_ESSENTIAL : 0u);
    uint32_t segment = 0;
    int rc =
        fling_store_note (self->store, FLING_STORE_NOTE_SCHEDULE, body, 8 + size, flags, &segment);
    int err = errno;
    free (body);
    if (rc == 0) {
        fling_store_release (self->store, e->segment);
        e->segment = segment;
        self->store_dirty = true;
    }
    errno = err;
    return rc;
}

static const char *store_problem (int err)
{
    if (err == ENOSPC)
        return "the store is full";
    if (err == EMSGSIZE)
        return "the schedule does not fit in one store segment (--segment-bytes)";
    return "the store failed: the broker is read-only until restarted";
}

int fling_schedules_add (fling_broker_t *self, const json_t *def, bool *added, bool *replaced,
                         int64_t *next_ms, char *error, size_t error_size)
{
    fling_schedules_t *table = self->schedules;
    const char *name = fling_schedules_json_text (def, "name", "");
    entry_t *old = (entry_t *)zhashx_lookup (table->table, name);
    *added = *replaced = false;
    if (old && json_equal (old->def, (json_t *)def)) {
        *next_ms = old->next_ms == NEVER ? -1 : old->next_ms;
        return 0;
    }
    if (!old && zhashx_size (table->table) >= table->max) {
        snprintf (error, error_size,
                  "the broker holds %zu schedules, its limit (--max-schedules): remove one first",
                  table->max);
        return -1;
    }
    const char *task = fling_schedules_json_text (def, "task", "");
    char *payload = json_dumps (json_object_get (def, "payload"), JSON_COMPACT);
    size_t record = payload ? fling_record_size (strlen (task), strlen (payload)) : 0;
    free (payload);
    if (record > self->config.max_bytes) {
        snprintf (error, error_size, "its task (%zu record bytes) is larger than --max-bytes",
                  record);
        return -1;
    }
    if (self->store_failed) {
        snprintf (error, error_size, "%s", store_problem (EIO));
        return -1;
    }
    entry_t *e = entry_new (json_deep_copy (def), error, error_size);
    if (!e)
        return -1;
    if (table->payload_bytes - (old ? old->payload_size : 0) + e->payload_size >
        PAYLOAD_BYTES_MAX) {
        snprintf (error, error_size, "the schedules' payloads would pass %u MiB: remove some first",
                  PAYLOAD_BYTES_MAX >> 20);
        void *item = e;
        entry_destroy (&item);
        return -1;
    }
    int64_t wall = fling_state_wall_ms (self);
    /* A new definition fires from now on: a time already passed belongs to
       the old one, or to no one. */
    e->mark_ms = old && old->mark_ms > wall ? old->mark_ms : wall;
    e->segment = old ? old->segment : 0;
    if (put_record (self, e, false)) {
        snprintf (error, error_size, "%s", store_problem (errno));
        e->segment = 0;
        void *item = e;
        entry_destroy (&item);
        return -1;
    }
    if (old)
        old->segment = 0; /* the store moved its pin to the new record */
    *replaced = old != NULL;
    *added = true;
    table_put (table, old, e);
    *next_ms = e->next_ms == NEVER ? -1 : e->next_ms;
    return 0;
}

int fling_schedules_remove (fling_broker_t *self, const char *name, char *error, size_t error_size)
{
    entry_t *e = (entry_t *)zhashx_lookup (self->schedules->table, name);
    if (!e)
        return 0;
    /* Essential and unpinned: it only ends something (the schedule's own
       note, released here). */
    uint32_t segment;
    if (self->store_failed ||
        fling_store_note (self->store, FLING_STORE_NOTE_SCHEDULE_REMOVED, e->name, strlen (e->name),
                          FLING_STORE_NOTE_ESSENTIAL, &segment)) {
        snprintf (error, error_size, "%s", store_problem (self->store_failed ? EIO : errno));
        return -1;
    }
    fling_store_release (self->store, e->segment);
    self->store_dirty = true;
    self->schedules->payload_bytes -= e->payload_size;
    zhashx_delete (self->schedules->table, name);
    return 1;
}

/* ---- recovery ------------------------------------------------------------ */

static int recover_schedule (fling_broker_t *self, const fling_store_event_t *event)
{
    fling_schedules_t *table = self->schedules;
    char error[160] = "its mark is cut off";
    entry_t *e = NULL;
    if (event->note_size > 8) {
        json_t *stored = json_loadb ((const char *)event->note + 8, event->note_size - 8,
                                     JSON_REJECT_DUPLICATES, NULL);
        json_t *def = stored ? fling_schedules_json_parse (stored, error, sizeof error) : NULL;
        json_decref (stored);
        if (!stored)
            snprintf (error, sizeof error, "not JSON");
        e = def ? entry_new (def, error, sizeof error) : NULL;
    }
    if (!e) {
        /* The CRC held: a broker that knew more wrote it, or a bug. */
        fling_error ("store: schedule record in segment %u unreadable (%s): skipped",
                     (unsigned)event->segment, error);
        fling_store_release (self->store, event->segment);
        return 0;
    }
    memcpy (&e->mark_ms, event->note, 8);
    e->segment = event->segment;
    e->recovered = true;
    entry_t *old = (entry_t *)zhashx_lookup (table->table, e->name);
    if (old) /* superseded: a later firing's mark, a replacement, a compacted copy */
        fling_store_release (self->store, old->segment);
    table_put (table, old, e);
    return 0;
}

int fling_schedules_recovered (fling_broker_t *self, const fling_store_event_t *event)
{
    if (event->note_type == FLING_STORE_NOTE_SCHEDULE)
        return recover_schedule (self, event);
    /* SCHEDULE_REMOVED: replay pinned it, but it keeps nothing alive. */
    fling_store_release (self->store, event->segment);
    char name[FLING_NAME_MAX + 1];
    if (event->note_size >= sizeof name)
        return 0;
    memcpy (name, event->note, event->note_size);
    name[event->note_size] = '\0';
    entry_t *e = (entry_t *)zhashx_lookup (self->schedules->table, name);
    if (e) {
        fling_store_release (self->store, e->segment);
        self->schedules->payload_bytes -= e->payload_size;
        zhashx_delete (self->schedules->table, name);
    }
    return 0;
}

void fling_schedules_compact (fling_broker_t *self)
{
    int64_t candidate = fling_store_compaction_candidate (self->store);
    if (candidate < 0 || self->store_failed)
        return;
    for (entry_t *e = (entry_t *)zhashx_first (self->schedules->table); e;
         e = (entry_t *)zhashx_next (self->schedules->table))
        if (e->segment == (uint32_t)candidate && put_record (self, e, false))
            break; /* full or failed: try again later */
}

/* ---- firing ---------------------------------------------------------------- */

/* The firing's task, taken by `accept`. */
static fling_reason_t fire_task (fling_broker_t *self, const entry_t *e, int64_t fire_ms,
                                 fling_schedules_accept_fn *accept)
{
    fling_task_id_t id;
    if (fling_schedule_task_id (e->name, fire_ms, &id))
        return FLING_REASON_UNAVAILABLE;
    fling_task_ext_t ext = {.priority = e->priority};
    size_t task_size = strlen (e->task), payload_size = e->payload_size;
    size_t size = fling_record_size_ext (task_size, payload_size, &ext);
    uint8_t *raw = (uint8_t *)malloc (size);
    if (!raw)
        return FLING_REASON_UNAVAILABLE;
    fling_record_write_ext (raw, &id, 0, e->max_attempts, e->timeout_ms, e->backoff_ms, e->task,
                            task_size, e->payload, payload_size, &ext);
    const uint8_t *cursor = raw;
    fling_record_t record;
    fling_record_read (&cursor, &record);
    fling_reason_t status = accept (self, &record);
    free (raw);
    return status;
}

static void fire_one (fling_broker_t *self, entry_t *e, int64_t wall, bool at_start,
                      fling_schedules_accept_fn *accept)
{
    fling_schedules_t *table = self->schedules;
    int64_t mark = e->mark_ms;
    int64_t fire = fling_schedule_due (e->when, &mark, wall, at_start);
    char when[FLING_UTC_TEXT_SIZE];
    if (fire < 0) {
        if (mark != e->mark_ms) { /* at start, missed = skip */
            table->counters.missed_skipped++;
            fling_info ("schedule %s: firings missed while the broker was down skipped, up to "
                        "%s (missed=skip)",
                        e->name, fling_utc_format (mark, when));
            e->mark_ms = mark; /* in memory: the next firing's record carries it */
        }
        return;
    }
    fling_reason_t status = fire_task (self, e, fire, accept);
    if (status != FLING_REASON_OK && status != FLING_REASON_DUPLICATE) {
        table->counters.refused++;
        e->retry_ms = wall + RETRY_MS;
        FLING_LOG_LIMITED (FLING_LOG_WARN,
                           "schedule %s: firing at %s refused (%s): tried again in %d ms (a "
                           "later fire time replaces it)",
                           e->name, fling_utc_format (fire, when), fling_reason_name (status),
                           RETRY_MS);
        return;
    }
    e->mark_ms = fire;
    e->retry_ms = 0;
    table->counters.fired++;
    table->counters.duplicates += status == FLING_REASON_DUPLICATE;
    if (at_start) {
        table->counters.missed_run++;
        fling_info ("schedule %s: the latest firing missed while the broker was down runs "
                    "now: %s (missed=once)",
                    e->name, fling_utc_format (fire, when));
    }
    /* In the same commit as its task: a restart neither loses the firing
       nor fires it again. Essential: the task just proved the room. */
    if (put_record (self, e, true))
        FLING_LOG_LIMITED (FLING_LOG_ERROR, "schedule %s: its mark was not stored: %s", e->name,
                           fling_strerror (errno));
}

void fling_schedules_fire (fling_broker_t *self, fling_schedules_accept_fn *accept)
{
    fling_schedules_t *table = self->schedules;
    bool at_start = !table->started;
    if (!zhashx_size (table->table)) {
        table->started = true;
        return;
    }
    int64_t wall = fling_state_wall_ms (self);
    if (!at_start && wall < table->earliest_ms)
        return;
    table->started = true;
    table->earliest_ms = NEVER;
    for (entry_t *e = (entry_t *)zhashx_first (table->table); e;
         e = (entry_t *)zhashx_next (table->table)) {
        /* Only a stored schedule has missed anything; one added since the
           start (a new file line, an admin) begins at its mark. */
        if (wall >= due_of (e)) {
            fire_one (self, e, wall, at_start && e->recovered, accept);
            set_next (table, e);
        } else if (due_of (e) < table->earliest_ms)
            table->earliest_ms = due_of (e);
    }
}

long fling_schedules_timeout_ms (const fling_broker_t *self, long none_ms)
{
    const fling_schedules_t *table = self->schedules;
    if (!table || !zhashx_size (table->table) || table->earliest_ms == NEVER)
        return none_ms;
    int64_t until = table->earliest_ms - fling_store_wall_ms ();
    return until < none_ms ? (long)until : none_ms;
}

/* ---- listing ---------------------------------------------------------------- */

static int by_name (const void *a, const void *b)
{
    return strcmp ((*(entry_t *const *)a)->name, (*(entry_t *const *)b)->name);
}

/* The entries sorted by name (free() the array); NULL if none or no memory. */
static entry_t **sorted (fling_schedules_t *table, size_t *count)
{
    *count = zhashx_size (table->table);
    entry_t **all = *count ? (entry_t **)malloc (*count * sizeof *all) : NULL;
    if (!all) {
        *count = 0;
        return NULL;
    }
    size_t i = 0;
    for (entry_t *e = (entry_t *)zhashx_first (table->table); e && i < *count;
         e = (entry_t *)zhashx_next (table->table))
        all[i++] = e;
    qsort (all, i, sizeof *all, by_name);
    return all;
}

static json_t *time_json (int64_t ms)
{
    return ms == NEVER || ms < 0 ? json_null () : json_integer ((json_int_t)ms);
}

json_t *fling_schedules_list (fling_broker_t *self, size_t limit)
{
    size_t count;
    entry_t **all = sorted (self->schedules, &count);
    json_t *list = json_array ();
    for (size_t i = 0; list && i < count && i < limit; i++) {
        json_t *item = json_deep_copy (all[i]->def);
        if (item) {
            json_object_set_new (item, "next_ms", time_json (all[i]->next_ms));
            json_object_set_new (item, "last_ms", time_json (all[i]->mark_ms));
        }
        json_array_append_new (list, item);
    }
    free (all);
    return json_pack ("{so sI}", "schedules", list, "total", (json_int_t)count);
}

json_t *fling_schedules_stats (fling_broker_t *self)
{
    const fling_schedules_counters_t *c = &self->schedules->counters;
    size_t count;
    entry_t **all = sorted (self->schedules, &count);
    json_t *next = json_array ();
    for (size_t i = 0; next && i < count && i < STATS_NEXT; i++)
        json_array_append_new (next, json_pack ("{ss so}", "name", all[i]->name, "next_ms",
                                                time_json (all[i]->next_ms)));
    free (all);
    return json_pack ("{sI sI sI sI sI sI so}", "total", (json_int_t)count, "fired",
                      (json_int_t)c->fired, "duplicates", (json_int_t)c->duplicates, "missed_run",
                      (json_int_t)c->missed_run, "missed_skipped", (json_int_t)c->missed_skipped,
                      "refused", (json_int_t)c->refused, "next", next);
}
