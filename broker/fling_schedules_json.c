/*  fling_schedules_json.c - see fling_schedules_json.h. */
#include "fling_schedules_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const members[] = {"name",       "task",       "payload",     "cron",
                                      "every_ms",   "tz",         "missed",      "priority",
                                      "timeout_ms", "backoff_ms", "max_attempts"};

int64_t fling_schedules_json_int (const json_t *schedule, const char *key, int64_t max)
{
    const json_t *value = json_object_get (schedule, key);
    if (!value)
        return 0;
    if (!json_is_integer (value) || json_integer_value (value) < 0 ||
        json_integer_value (value) > max)
        return -1;
    return json_integer_value (value);
}

const char *fling_schedules_json_text (const json_t *schedule, const char *key,
                                       const char *fallback)
{
    const json_t *value = json_object_get (schedule, key);
    return value ? json_string_value (value) : fallback;
}

/* Checks the members a SCHEDULE may have and their types and ranges;
   NULL, or the problem. */
static const char *member_problem (const json_t *schedule)
{
    const char *key;
    const json_t *value;
    json_object_foreach ((json_t *)schedule, key, value)
    {
        size_t i = 0;
        while (i < sizeof members / sizeof members[0] && strcmp (key, members[i]) != 0)
            i++;
        if (i == sizeof members / sizeof members[0])
            return "unknown member (known: name, task, payload, cron, every_ms, tz, missed, "
                   "priority, max_attempts, timeout_ms, backoff_ms)";
    }
    const char *name = fling_schedules_json_text (schedule, "name", NULL);
    const char *task = fling_schedules_json_text (schedule, "task", NULL);
    if (!name || !fling_name_valid (name, strlen (name)))
        return "\"name\": 1-127 bytes of [A-Za-z0-9._:-]";
    if (!task || !fling_name_valid (task, strlen (task)))
        return "\"task\": a task name, 1-127 bytes of [A-Za-z0-9._:-]";
    value = json_object_get (schedule, "payload");
    if (value && !json_is_object (value))
        return "\"payload\": a JSON object";
    if (json_object_get (schedule, "cron") && !fling_schedules_json_text (schedule, "cron", NULL))
        return "\"cron\": a text";
    if (json_object_get (schedule, "tz") && !fling_schedules_json_text (schedule, "tz", NULL))
        return "\"tz\": an IANA time zone name";
    const char *missed = fling_schedules_json_text (schedule, "missed", "once");
    if (!missed || (strcmp (missed, "once") != 0 && strcmp (missed, "skip") != 0))
        return "\"missed\": \"once\" or \"skip\"";
    if (json_object_get (schedule, "cron") && json_object_get (schedule, "every_ms"))
        return "give a cron expression or an interval, not both";
    if (fling_schedules_json_int (schedule, "every_ms", FLING_EVERY_MS_MAX) < 0)
        return "\"every_ms\": an integer from 1000 to 2147483648";
    if (fling_schedules_json_int (schedule, "priority", FLING_PRIORITY_MAX) < 0)
        return "\"priority\": 0 to 9";
    if (fling_schedules_json_int (schedule, "max_attempts", UINT16_MAX) < 0)
        return "\"max_attempts\": 0 to 65535";
    if (fling_schedules_json_int (schedule, "timeout_ms", 1 << 30) < 0 ||
        fling_schedules_json_int (schedule, "backoff_ms", 1 << 30) < 0)
        return "\"timeout_ms\", \"backoff_ms\": 0 to 1073741824";
    return NULL;
}

/* The normalised copy: every member in one order, defaults written out,
   zero optional numbers left out (so one schedule has one form, and
   "identical" is json_equal). */
static json_t *normalised (const json_t *schedule, const char *payload_text)
{
    json_t *payload = json_loads (payload_text, 0, NULL);
    json_t *def =
        json_pack ("{ss ss so}", "name", fling_schedules_json_text (schedule, "name", ""), "task",
                   fling_schedules_json_text (schedule, "task", ""), "payload", payload);
    if (!def)
        return NULL;
    const char *cron = fling_schedules_json_text (schedule, "cron", NULL);
    if (cron)
        json_object_set_new (def, "cron", json_string (cron));
    else
        json_object_set_new (
            def, "every_ms",
            json_integer (fling_schedules_json_int (schedule, "every_ms", FLING_EVERY_MS_MAX)));
    json_object_set_new (
        def, "tz", json_string (cron ? fling_schedules_json_text (schedule, "tz", "UTC") : "UTC"));
    json_object_set_new (def, "missed",
                         json_string (fling_schedules_json_text (schedule, "missed", "once")));
    static const char *const numbers[] = {"priority", "max_attempts", "timeout_ms", "backoff_ms"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        json_int_t n = (json_int_t)fling_schedules_json_int (schedule, numbers[i], 1 << 30);
        if (n > 0)
            json_object_set_new (def, numbers[i], json_integer (n));
    }
    return def;
}

fling_schedule_t *fling_schedules_json_timing (const json_t *def, char *error, size_t error_size)
{
    fling_schedule_def_t timing = {
        .name = fling_schedules_json_text (def, "name", NULL),
        .cron = fling_schedules_json_text (def, "cron", NULL),
        .every_ms = (uint64_t)fling_schedules_json_int (def, "every_ms", FLING_EVERY_MS_MAX),
        .tz = fling_schedules_json_text (def, "tz", NULL),
        .missed = strcmp (fling_schedules_json_text (def, "missed", "once"), "skip") == 0
                      ? FLING_MISSED_SKIP
                      : FLING_MISSED_ONCE};
    return fling_schedule_new (&timing, error, error_size);
}

json_t *fling_schedules_json_parse (const json_t *schedule, char *error, size_t error_size)
{
    if (!json_is_object (schedule)) {
        snprintf (error, error_size, "a schedule is a JSON object");
        return NULL;
    }
    const char *problem = member_problem (schedule);
    if (problem) {
        snprintf (error, error_size, "%s", problem);
        return NULL;
    }
    const json_t *payload = json_object_get (schedule, "payload");
    char *text = payload ? json_dumps (payload, JSON_COMPACT) : strdup ("{}");
    if (!text) {
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    if (strlen (text) > FLING_PAYLOAD_MAX) {
        snprintf (error, error_size, "\"payload\": more than %d bytes", FLING_PAYLOAD_MAX);
        free (text);
        return NULL;
    }
    json_t *def = normalised (schedule, text);
    free (text);
    fling_schedule_t *timing = def ? fling_schedules_json_timing (def, error, error_size) : NULL;
    if (!def)
        snprintf (error, error_size, "out of memory");
    if (!timing) {
        json_decref (def);
        return NULL;
    }
    fling_schedule_destroy (&timing);
    return def;
}
