/*  fling_schedules_admin.c - see fling_schedules_admin.h. */
#include "fling_schedules_admin.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_ratelog.h"
#include "fling_schedules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT  100
#define LIST_MAX      10000
#define FILE_ERRORS   20                         /* bad lines logged, then only counted */
#define FILE_LINE_MAX (FLING_PAYLOAD_MAX + 4096) /* a SCHEDULE with the largest payload */

static json_t *error_json (const char *text)
{
    return json_pack ("{ss}", "error", text);
}

/* The admin's change is durable before the reply says so: a commit now
   (it also carries whatever this turn staged before; the end of the turn
   commits the rest, and fails the turn's SUBMITs if this one failed). */
static int commit_now (fling_broker_t *self)
{
    if (fling_store_commit (self->store) == 0)
        return 0;
    fling_error ("store commit failed: %s; the broker is read-only until restarted",
                 fling_strerror (errno));
    self->store_failed = true;
    return -1;
}

static json_t *add (fling_broker_t *self, const json_t *request)
{
    char error[200];
    json_t *def =
        fling_schedules_parse (json_object_get (request, "schedule"), error, sizeof error);
    if (!def) {
        char text[260];
        snprintf (text, sizeof text, "bad schedule: %s", error);
        return error_json (text);
    }
    bool added, replaced;
    int64_t next_ms;
    int rc = fling_schedules_add (self, def, &added, &replaced, &next_ms, error, sizeof error);
    const char *name = json_string_value (json_object_get (def, "name"));
    if (rc == 0 && added && commit_now (self))
        snprintf (error, sizeof error, "the store failed: the broker is read-only until restarted");
    else if (rc == 0 && added)
        FLING_LOG_LIMITED (FLING_LOG_INFO, "schedule %s name=%s", replaced ? "replaced" : "added",
                           name);
    json_decref (def);
    if (rc || (added && self->store_failed))
        return error_json (error);
    return json_pack ("{sb sb so}", "added", added, "replaced", replaced, "next_ms",
                      next_ms < 0 ? json_null () : json_integer ((json_int_t)next_ms));
}

static json_t *remove_one (fling_broker_t *self, const json_t *request)
{
    const char *name = json_string_value (json_object_get (request, "name"));
    if (!name)
        return error_json ("schedule_remove needs \"name\"");
    char error[200];
    int rc = fling_schedules_remove (self, name, error, sizeof error);
    if (rc < 0)
        return error_json (error);
    if (rc == 1 && commit_now (self))
        return error_json ("the store failed: the broker is read-only until restarted");
    if (rc == 1)
        FLING_LOG_LIMITED (FLING_LOG_INFO, "schedule removed name=%s", name);
    return json_pack ("{sb}", "removed", rc == 1);
}

static json_t *list (fling_broker_t *self, const json_t *request)
{
    const json_t *limit = json_object_get (request, "limit");
    json_int_t n = limit ? json_integer_value (limit) : LIST_DEFAULT;
    if ((limit && !json_is_integer (limit)) || n < 0 || n > LIST_MAX)
        return error_json ("\"limit\" must be an integer from 0 to 10000");
    return fling_schedules_list (self, (size_t)n);
}

json_t *fling_schedules_admin (fling_broker_t *self, const char *op, const json_t *request)
{
    if (strcmp (op, "schedule_add") == 0)
        return add (self, request);
    if (strcmp (op, "schedule_list") == 0)
        return list (self, request);
    if (strcmp (op, "schedule_remove") == 0)
        return remove_one (self, request);
    return NULL;
}

/* ---- the file of --schedules ------------------------------------------------ */

static bool blank (const char *line)
{
    line += strspn (line, " \t\r\n");
    return *line == '\0' || *line == '#';
}

/* Parses every line of `file` into `defs` (an array); -1 after logging
   every bad line. */
static int read_defs (FILE *file, const char *path, json_t *defs)
{
    char *line = NULL;
    size_t alloc = 0, number = 0, bad = 0;
    ssize_t size;
    while ((size = getline (&line, &alloc, file)) >= 0) {
        number++;
        if (blank (line))
            continue;
        char error[200];
        json_error_t json_error;
        json_t *parsed = NULL, *def = NULL;
        if ((size_t)size > FILE_LINE_MAX)
            snprintf (error, sizeof error, "line longer than %d bytes", FILE_LINE_MAX);
        else if (!(parsed = json_loadb (line, (size_t)size, JSON_REJECT_DUPLICATES, &json_error)))
            snprintf (error, sizeof error, "not JSON: %s", json_error.text);
        else
            def = fling_schedules_parse (parsed, error, sizeof error);
        json_decref (parsed);
        const char *name = def ? json_string_value (json_object_get (def, "name")) : NULL;
        for (size_t i = 0; def && i < json_array_size (defs); i++)
            if (strcmp (name, json_string_value (
                                  json_object_get (json_array_get (defs, i), "name"))) == 0) {
                snprintf (error, sizeof error, "schedule \"%s\" given twice", name);
                json_decref (def);
                def = NULL;
            }
        if (def)
            json_array_append_new (defs, def);
        else if (++bad <= FILE_ERRORS)
            fling_error ("--schedules %s line %zu: %s", path, number, error);
    }
    free (line);
    if (ferror (file)) {
        fling_error ("--schedules %s: cannot read: %s", path, strerror (errno));
        return -1;
    }
    if (bad)
        fling_error ("--schedules %s: %zu bad lines: no schedule of the file applied; the broker "
                     "does not start (proto/SPEC.md §5.3 has the SCHEDULE format)",
                     path, bad);
    return bad ? -1 : 0;
}

static int apply_defs (fling_broker_t *self, const char *path, json_t *defs)
{
    size_t added = 0, replaced = 0, i;
    json_t *def;
    json_array_foreach (defs, i, def)
    {
        bool was_added, was_replaced;
        int64_t next_ms;
        char error[200];
        if (fling_schedules_add (self, def, &was_added, &was_replaced, &next_ms, error,
                                 sizeof error)) {
            fling_error ("--schedules %s: schedule %s: %s; the broker does not start", path,
                         json_string_value (json_object_get (def, "name")), error);
            return -1;
        }
        added += was_added && !was_replaced;
        replaced += was_replaced;
    }
    if (commit_now (self))
        return -1;
    fling_info ("schedules from %s: %zu in the file, %zu added, %zu replaced, %zu held", path,
                json_array_size (defs), added, replaced, fling_schedules_count (self->schedules));
    return 0;
}

int fling_schedules_load_file (fling_broker_t *self, const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fling_error ("--schedules %s: %s", path, strerror (errno));
        return -1;
    }
    json_t *defs = json_array ();
    int rc = defs ? read_defs (file, path, defs) : -1;
    fclose (file);
    if (rc == 0)
        rc = apply_defs (self, path, defs);
    json_decref (defs);
    if (rc)
        errno = EINVAL;
    return rc;
}
