/*  fling_stats.c - prints the broker's stats reply as readable tables.

    The reply's shape is documented (broker/ builds it), but a newer broker
    may add fields and an older one may lack some: every field is optional
    here, missing ones print as "-", and unknown ones are printed as
    key=value rather than dropped, so the table never hides information.
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_cli.h"
#include "fling_timetext.h"

#define CELL_SIZE   512
#define COLUMNS_MAX 16

/* ---- values as text -------------------------------------------------------- */

static const char *value_text (const json_t *value, char *buf, size_t size)
{
    if (!value)
        snprintf (buf, size, "-");
    else if (json_is_integer (value))
        snprintf (buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
    else if (json_is_real (value))
        snprintf (buf, size, "%g", json_real_value (value));
    else if (json_is_string (value))
        snprintf (buf, size, "%s", json_string_value (value));
    else if (json_is_true (value) || json_is_false (value))
        snprintf (buf, size, "%s", json_is_true (value) ? "true" : "false");
    else if (json_is_null (value))
        snprintf (buf, size, "null");
    else {
        char *dump = json_dumps (value, JSON_COMPACT);
        snprintf (buf, size, "%s", dump ? dump : "?");
        free (dump);
    }
    return buf;
}

static bool in_list (const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp (key, *list) == 0)
            return true;
    return false;
}

/* Appends " key=value" for each member of `object` not in `known`. */
static void extra_fields (const json_t *object, const char *const *known, char *buf, size_t size)
{
    const char *key;
    json_t *value;
    size_t used = strlen (buf);
    json_object_foreach ((json_t *)object, key, value)
    {
        if (in_list (key, known) || used + 1 >= size)
            continue;
        char text[CELL_SIZE];
        int n = snprintf (buf + used, size - used, "%s%s=%s", used ? " " : "", key,
                          value_text (value, text, sizeof text));
        used = n < 0 ? used : strlen (buf);
    }
}

/* ---- a tiny table ----------------------------------------------------------- */

typedef struct {
    size_t columns, rows, capacity;
    bool right[COLUMNS_MAX]; /* right-align (numbers) */
    char (*cells)[COLUMNS_MAX][CELL_SIZE];
} table_t;

static int table_add (table_t *t, const char *const *cells)
{
    if (t->rows == t->capacity) {
        size_t capacity = t->capacity ? t->capacity * 2 : 16;
        void *grown = realloc (t->cells, capacity * sizeof *t->cells);
        if (!grown)
            return -1;
        t->cells = grown;
        t->capacity = capacity;
    }
    for (size_t c = 0; c < t->columns; c++)
        snprintf (t->cells[t->rows][c], CELL_SIZE, "%s", cells[c] ? cells[c] : "-");
    t->rows++;
    return 0;
}

static void table_print (const table_t *t)
{
    size_t width[COLUMNS_MAX] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (size_t c = 0; c < t->columns; c++)
            if (strlen (t->cells[r][c]) > width[c])
                width[c] = strlen (t->cells[r][c]);
    for (size_t r = 0; r < t->rows; r++) {
        /* stop after the last non-empty cell: no trailing blanks */
        size_t columns = t->columns;
        while (columns > 1 && t->cells[r][columns - 1][0] == '\0')
            columns--;
        for (size_t c = 0; c < columns; c++) {
            bool last = c + 1 == columns;
            if (t->right[c])
                printf ("%*s", (int)width[c], t->cells[r][c]);
            else
                printf ("%-*s", last ? 0 : (int)width[c], t->cells[r][c]);
            printf ("%s", last ? "\n" : "  ");
        }
    }
}

/* ---- sections ----------------------------------------------------------------- */

static void print_uptime (const json_t *uptime)
{
    if (!json_is_integer (uptime)) {
        char text[CELL_SIZE];
        printf ("uptime     %s\n", value_text (uptime, text, sizeof text));
        return;
    }
    long long s = (long long)json_integer_value (uptime) / 1000;
    printf ("uptime     %lldd %02lldh %02lldm %02llds\n", s / 86400, s / 3600 % 24, s / 60 % 60,
            s % 60);
}

static void print_pairs (const char *title, const json_t *object, const char *const *order);

/* "store" is the store's kind (older brokers) or an object with its kind,
   size and health (durable store). */
static void print_store (const json_t *store)
{
    static const char *const order[] = {"kind",   "bytes_on_disk", "segments", "commits",
                                        "failed", "full",          NULL};
    if (json_is_object (store)) {
        print_pairs ("store", store, order);
        return;
    }
    char text[CELL_SIZE];
    printf ("%-10s %s\n", "store", value_text (store, text, sizeof text));
}

static void print_summary (const json_t *root)
{
    static const char *const always[] = {"tasks", "bytes", NULL};
    static const char *const present[] = {"dead", "delayed", "retrying", "dedup_ids", "keys", NULL};
    char text[CELL_SIZE];
    print_uptime (json_object_get (root, "uptime_ms"));
    print_store (json_object_get (root, "store"));
    for (size_t i = 0; always[i]; i++)
        printf ("%-10s %s\n", always[i],
                value_text (json_object_get (root, always[i]), text, sizeof text));
    for (size_t i = 0; present[i]; i++)
        if (json_object_get (root, present[i]))
            printf ("%-10s %s\n", present[i],
                    value_text (json_object_get (root, present[i]), text, sizeof text));
}

/* Prints an object of name -> number as wrapped "name=value" pairs, known
   names first in `order` (those the object has), then the rest. */
static void print_pairs (const char *title, const json_t *object, const char *const *order)
{
    if (!json_is_object (object))
        return;
    char line[CELL_SIZE * 2] = "";
    for (size_t i = 0; order && order[i]; i++) {
        char text[CELL_SIZE];
        const json_t *value = json_object_get (object, order[i]);
        if (!value)
            continue; /* an older broker: nothing to show, not "-" */
        size_t used = strlen (line);
        snprintf (line + used, sizeof line - used, "%s%s=%s", used ? " " : "", order[i],
                  value_text (value, text, sizeof text));
    }
    extra_fields (object, order ? order : (const char *const[]){NULL}, line, sizeof line);
    /* wrap at about 80 columns on the spaces between pairs */
    printf ("%-10s", title);
    size_t col = 11;
    for (char *pair = strtok (line, " "); pair; pair = strtok (NULL, " ")) {
        if (col > 11 && col + strlen (pair) > 80) {
            printf ("\n%-10s", "");
            col = 11;
        }
        printf (" %s", pair);
        col += strlen (pair) + 1;
    }
    printf ("%s\n", line[0] ? "" : " (none)");
}

static bool any_has (const json_t *array, const char *key)
{
    size_t i;
    json_t *item;
    json_array_foreach (array, i, item)
    {
        if (json_object_get (item, key))
            return true;
    }
    return false;
}

/* Names with queued tasks and no worker: nothing will run them. */
static void print_orphans (const json_t *queues)
{
    size_t i;
    json_t *q;
    bool any = false;
    json_array_foreach (queues, i, q)
    {
        const json_t *workers = json_object_get (q, "workers");
        json_int_t queued = json_integer_value (json_object_get (q, "queued"));
        if (!json_is_integer (workers) || json_integer_value (workers) > 0 || queued == 0)
            continue;
        printf ("%s %s (%" JSON_INTEGER_FORMAT " queued)",
                any ? "," : "\nno worker for:", json_string_value (json_object_get (q, "name")),
                queued);
        any = true;
    }
    if (any)
        printf ("\n");
}

/* "priority=9:3,5:10" (queued per level, when any is above 0) and
   "rate=50/s burst=10 tokens=3" (a rate limit), into `buf`. */
static void scheduling_text (const json_t *q, char *buf, size_t size)
{
    const json_t *levels = json_object_get (q, "queued_by_priority");
    size_t used = 0, level = json_array_size (levels);
    bool any = false;
    for (size_t n = 1; n < level; n++)
        any = any || json_integer_value (json_array_get (levels, n)) > 0;
    while (any && level-- > 0 && used + 1 < size) {
        json_int_t count = json_integer_value (json_array_get (levels, level));
        if (count > 0)
            snprintf (buf + used, size - used, "%s%zu:%" JSON_INTEGER_FORMAT,
                      used ? "," : "priority=", level, count);
        used = strlen (buf);
    }
    const json_t *rate = json_object_get (q, "rate_limit");
    json_int_t per_ms = json_integer_value (json_object_get (rate, "per_ms"));
    if (json_is_object (rate) && used + 1 < size)
        snprintf (buf + used, size - used,
                  "%srate=%" JSON_INTEGER_FORMAT "/%s burst=%" JSON_INTEGER_FORMAT
                  " tokens=%" JSON_INTEGER_FORMAT,
                  used ? " " : "", json_integer_value (json_object_get (rate, "rate")),
                  per_ms == 60000 ? "m" : "s", json_integer_value (json_object_get (rate, "burst")),
                  json_integer_value (json_object_get (rate, "tokens")));
}

/* Names paused by queue_pause (FLP/1.2): their tasks wait until resumed. */
static void print_paused (const json_t *queues)
{
    size_t i;
    json_t *q;
    bool any = false;
    json_array_foreach (queues, i, q)
    {
        if (!json_is_true (json_object_get (q, "paused")))
            continue;
        printf ("%s %s", any ? "," : "paused (fling queue resume NAME):",
                json_string_value (json_object_get (q, "name")));
        any = true;
    }
    if (any)
        printf ("\n");
}

static void print_queues (const json_t *queues)
{
    /* "delayed" and "dead" come with the reliability work: columns only
       when the broker sends them. */
    static const char *const all[] = {"name", "queued", "inflight", "delayed", "retrying", "dead",
                                      "done", "failed", "retried",  "workers", NULL};
    static const char *const heads[] = {"QUEUE", "QUEUED", "INFLIGHT", "DELAYED", "RETRYING",
                                        "DEAD",  "DONE",   "FAILED",   "RETRIED", "WORKERS"};
    static const char *const shown[] = {
        "name", "queued", "inflight", "delayed", "retrying",           "dead",
        "done", "failed", "retried",  "workers", "queued_by_priority", "rate_limit",
        NULL};
    const char *keys[COLUMNS_MAX + 1] = {NULL};
    const char *head[COLUMNS_MAX] = {NULL};
    table_t t = {.columns = 0};
    for (size_t k = 0; all[k]; k++) {
        bool optional = strcmp (all[k], "delayed") == 0 || strcmp (all[k], "dead") == 0 ||
                        strcmp (all[k], "workers") == 0 || strcmp (all[k], "retrying") == 0;
        if (optional && !any_has (queues, all[k]))
            continue;
        t.right[t.columns] = k > 0;
        head[t.columns] = heads[k];
        keys[t.columns++] = all[k];
    }
    size_t extra = t.columns++; /* unknown fields as key=value */
    head[extra] = "";
    table_add (&t, head);
    size_t i;
    json_t *q;
    json_array_foreach (queues, i, q)
    {
        char cells[COLUMNS_MAX][CELL_SIZE] = {{0}};
        const char *row[COLUMNS_MAX];
        for (size_t c = 0; c < extra; c++)
            value_text (json_object_get (q, keys[c]), cells[c], CELL_SIZE);
        scheduling_text (q, cells[extra], CELL_SIZE);
        extra_fields (q, shown, cells[extra], CELL_SIZE);
        for (size_t c = 0; c < t.columns; c++)
            row[c] = cells[c];
        table_add (&t, row);
    }
    printf ("\n");
    if (json_array_size (queues))
        table_print (&t);
    else
        printf ("no queues\n");
    free (t.cells);
    print_orphans (queues);
    print_paused (queues);
}

/* "pool/loop" from an object {"pool":..,"loop":..}. */
static const char *pair_text (const json_t *object, char *buf, size_t size)
{
    char pool[64], loop[64];
    if (!json_is_object (object))
        return value_text (object, buf, size);
    snprintf (buf, size, "%s/%s", value_text (json_object_get (object, "pool"), pool, sizeof pool),
              value_text (json_object_get (object, "loop"), loop, sizeof loop));
    return buf;
}

static void names_text (const json_t *names, char *buf, size_t size)
{
    if (!json_is_array (names) || json_array_size (names) == 0) {
        value_text (names, buf, size);
        return;
    }
    size_t i, used = 0;
    json_t *name;
    buf[0] = '\0';
    json_array_foreach (names, i, name)
    {
        char text[CELL_SIZE];
        snprintf (buf + used, size - used, "%s%s", i ? "," : "",
                  value_text (name, text, sizeof text));
        used = strlen (buf);
    }
}

static void print_workers (const json_t *workers)
{
    static const char *const known[] = {"name", "pid",   "capacity", "inflight",
                                        "done", "names", "running",  NULL};
    table_t t = {.columns = 7, .right = {false, true, false, false, true, false, false}};
    const char *head[] = {"WORKER", "PID", "CAPACITY(pool/loop)", "INFLIGHT(pool/loop)", "DONE",
                          "NAMES",  ""};
    table_add (&t, head);
    size_t i;
    json_t *w;
    json_array_foreach (workers, i, w)
    {
        char cells[7][CELL_SIZE] = {{0}};
        value_text (json_object_get (w, "name"), cells[0], CELL_SIZE);
        value_text (json_object_get (w, "pid"), cells[1], CELL_SIZE);
        pair_text (json_object_get (w, "capacity"), cells[2], CELL_SIZE);
        pair_text (json_object_get (w, "inflight"), cells[3], CELL_SIZE);
        value_text (json_object_get (w, "done"), cells[4], CELL_SIZE);
        names_text (json_object_get (w, "names"), cells[5], CELL_SIZE);
        extra_fields (w, known, cells[6], CELL_SIZE);
        const char *row[7] = {cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]};
        table_add (&t, row);
    }
    printf ("\n");
    if (json_array_size (workers))
        table_print (&t);
    else
        printf ("no workers\n");
    free (t.cells);
}

static void print_others (const json_t *root)
{
    static const char *const known[] = {
        "uptime_ms",    "store",         "tasks",     "bytes",    "dead",   "delayed",
        "dedup_ids",    "counters",      "refused",   "rejected", "queues", "workers",
        "queues_total", "workers_total", "schedules", "keys",     NULL};
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)root, key, value)
    {
        if (in_list (key, known))
            continue;
        char text[CELL_SIZE];
        printf ("%-10s %s\n", key, value_text (value, text, sizeof text));
    }
}

/* FLP/1.2: the schedules' counters, then each one's next fire time. */
static void print_schedules (const json_t *schedules)
{
    static const char *const order[] = {"total",          "fired",   "duplicates", "missed_run",
                                        "missed_skipped", "refused", NULL};
    if (!json_is_object (schedules))
        return;
    json_t *counts = json_deep_copy (schedules);
    json_object_del (counts, "next");
    print_pairs ("schedules", counts, order);
    json_decref (counts);
    size_t i;
    json_t *s;
    json_array_foreach (json_object_get (schedules, "next"), i, s)
    {
        char name[CELL_SIZE], when[FLING_UTC_TEXT_SIZE] = "none";
        const json_t *next = json_object_get (s, "next_ms");
        if (json_is_integer (next))
            fling_utc_format ((int64_t)json_integer_value (next), when);
        printf ("%-10s  %s next %s\n", "",
                value_text (json_object_get (s, "name"), name, sizeof name), when);
    }
}

/* The broker sends queues and workers a page at a time: say so when some
   were left out. */
static void print_shown (const json_t *root, const char *list)
{
    char total_key[32];
    snprintf (total_key, sizeof total_key, "%s_total", list);
    size_t shown = json_array_size (json_object_get (root, list));
    json_int_t total = json_integer_value (json_object_get (root, total_key));
    if (total > (json_int_t)shown)
        printf ("(%zu of %" JSON_INTEGER_FORMAT " %s shown: the broker sends a page at a time)\n",
                shown, total, list);
}

int fling_cli_print_stats (const char *json, size_t json_size)
{
    json_error_t error;
    json_t *root = json_loadb (json, json_size, 0, &error);
    if (!json_is_object (root)) {
        fprintf (stderr, "fling: the broker's reply is not a JSON object: %s\n",
                 root ? "other JSON type" : error.text);
        json_decref (root);
        return FLING_CLI_EXIT_FAIL;
    }
    const json_t *err = json_object_get (root, "error");
    if (err) {
        char text[CELL_SIZE];
        fprintf (stderr, "fling: broker: %s\n", value_text (err, text, sizeof text));
        json_decref (root);
        return FLING_CLI_EXIT_FAIL;
    }
    static const char *const counters[] = {
        "accepted",    "duplicates",    "rejected",      "dispatched",
        "done",        "failed",        "retried",       "requeued",
        "timed_out",   "crashed",       "dead_lettered", "store_full",
        "unavailable", "stale_results", "worker_lost",   "router_unroutable",
        NULL};
    print_summary (root);
    print_pairs ("counters", json_object_get (root, "counters"), counters);
    print_pairs ("refused", json_object_get (root, "refused"), NULL);
    print_pairs ("rejected", json_object_get (root, "rejected"), NULL);
    print_others (root);
    print_schedules (json_object_get (root, "schedules"));
    print_queues (json_object_get (root, "queues"));
    print_shown (root, "queues");
    print_workers (json_object_get (root, "workers"));
    print_shown (root, "workers");
    json_decref (root);
    return fflush (stdout) == 0 ? FLING_CLI_EXIT_OK : FLING_CLI_EXIT_FAIL;
}
