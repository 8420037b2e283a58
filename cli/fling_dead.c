/*  fling_dead.c - `fling dead list|retry|purge`: the broker's dead-letter
    queue, through ADMIN requests on the producer endpoint:

      {"op":"dead_list","name":NAME?,"limit":N?}
          -> {"dead":[{"id","name","attempts","crashes","reason","error",
                       "payload"}...],"total":N}
      {"op":"dead_retry"|"dead_purge","id":ID | "name":NAME | "all":true}
          -> {"retried":N} | {"purged":N}

    and `fling queue purge NAME`: {"op":"queue_purge","name":NAME} ->
    {"purged":N,"in_flight":M}: the waiting tasks of one name, gone.

    Any reply holding {"error": TEXT} fails the command with that text.
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_cli.h"
#include "fling_proto.h"

#define ERROR_SHOWN 60 /* characters of a dead task's error in the table */
#define CELL_SIZE   256

/* ---- the request -------------------------------------------------------- */

static int usage (const char *text)
{
    fprintf (stderr, "fling: %s\nTry 'fling --help'.\n", text);
    return FLING_CLI_EXIT_USAGE;
}

/* Checks the selectors for `action`; 0 or an exit code. */
static int check (const fling_cli_t *cli, bool list)
{
    if (list) {
        if (cli->id || cli->all)
            return usage ("dead list takes --name and --limit, not --id or --all");
        return 0;
    }
    int selectors = (cli->id != NULL) + (cli->name != NULL) + (cli->all ? 1 : 0);
    if (selectors != 1)
        return usage ("dead retry/purge: give exactly one of --id ID, --name NAME, --all");
    if (cli->limit_set)
        return usage ("--limit is for dead list only");
    fling_task_id_t id;
    if (cli->id && fling_task_id_parse (&id, cli->id))
        return usage ("--id: not a task id (16 hex digits ':' sequence)");
    if (cli->name && !fling_name_valid (cli->name, strlen (cli->name)))
        return usage ("--name: not a valid task name");
    return 0;
}

/* The request as JSON text (free() it), or NULL. */
static char *request_json (const fling_cli_t *cli, const char *op)
{
    json_t *request = json_pack ("{ss}", "op", op);
    if (!request)
        return NULL;
    if (cli->name)
        json_object_set_new (request, "name", json_string (cli->name));
    if (cli->id)
        json_object_set_new (request, "id", json_string (cli->id));
    if (cli->all)
        json_object_set_new (request, "all", json_true ());
    if (cli->limit_set)
        json_object_set_new (request, "limit", json_integer ((json_int_t)cli->limit));
    char *text = json_dumps (request, JSON_COMPACT);
    json_decref (request);
    return text;
}

/* ---- the reply ------------------------------------------------------------ */

/* Copies `text` into `out` on one line (control characters become spaces),
   cut to `max` characters (UTF-8 sequences kept whole) with "..." if
   longer. */
static void clip (const char *text, char *out, size_t out_size, size_t max)
{
    size_t chars = 0, used = 0, i = 0;
    size_t cut_used = 0; /* bytes used when `max - 3` characters were copied */
    for (; text[i] && used + 5 < out_size; chars++) {
        if (chars == max - 3)
            cut_used = used;
        if (chars == max)
            break;
        size_t len = 1;
        while (((unsigned char)text[i + len] & 0xC0) == 0x80)
            len++;
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7F)
            out[used++] = ' ';
        else {
            memcpy (out + used, text + i, len);
            used += len;
        }
        i += len;
    }
    if (text[i]) { /* more left: show where it was cut */
        used = cut_used ? cut_used : used;
        memcpy (out + used, "...", 3);
        used += 3;
    }
    out[used] = '\0';
}

static const char *cell_text (const json_t *value, char *buf, size_t size)
{
    if (json_is_string (value))
        snprintf (buf, size, "%s", json_string_value (value));
    else if (json_is_integer (value))
        snprintf (buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
    else
        snprintf (buf, size, "-");
    return buf;
}

enum { COL_ID, COL_NAME, COL_ATTEMPTS, COL_CRASHES, COL_REASON, COL_ERROR, COLS };

static void row (const json_t *entry, char cells[COLS][CELL_SIZE])
{
    static const char *const keys[COLS] = {"id", "name", "attempts", "crashes", "reason", NULL};
    for (int c = 0; c < COL_ERROR; c++)
        cell_text (json_object_get (entry, keys[c]), cells[c], CELL_SIZE);
    char error[CELL_SIZE];
    clip (cell_text (json_object_get (entry, "error"), error, sizeof error), cells[COL_ERROR],
          CELL_SIZE, ERROR_SHOWN);
    if (!cells[COL_ERROR][0])
        snprintf (cells[COL_ERROR], CELL_SIZE, "-");
}

static void print_row (char cells[COLS][CELL_SIZE], const size_t *width)
{
    for (int c = 0; c < COLS; c++) {
        bool number = c == COL_ATTEMPTS || c == COL_CRASHES;
        if (c == COLS - 1)
            printf ("%s\n", cells[c]);
        else if (number)
            printf ("%*s  ", (int)width[c], cells[c]);
        else
            printf ("%-*s  ", (int)width[c], cells[c]);
    }
}

static int print_list (const json_t *reply)
{
    const json_t *dead = json_object_get (reply, "dead");
    if (!json_is_array (dead)) {
        fprintf (stderr, "fling: the broker's reply has no \"dead\" list\n");
        return FLING_CLI_EXIT_FAIL;
    }
    size_t rows = json_array_size (dead);
    char (*cells)[COLS][CELL_SIZE] = calloc (rows + 1, sizeof *cells);
    if (!cells) {
        fprintf (stderr, "fling: out of memory\n");
        return FLING_CLI_EXIT_FAIL;
    }
    static const char *const head[COLS] = {"ID", "NAME", "ATTEMPTS", "CRASHES", "REASON", "ERROR"};
    size_t width[COLS] = {0};
    for (int c = 0; c < COLS; c++)
        snprintf (cells[0][c], CELL_SIZE, "%s", head[c]);
    for (size_t r = 0; r < rows; r++)
        row (json_array_get (dead, r), cells[r + 1]);
    for (size_t r = 0; r <= rows; r++)
        for (int c = 0; c < COLS; c++)
            if (strlen (cells[r][c]) > width[c])
                width[c] = strlen (cells[r][c]);
    if (rows)
        for (size_t r = 0; r <= rows; r++)
            print_row (cells[r], width);
    free (cells);
    const json_t *total = json_object_get (reply, "total");
    if (!rows && (!json_is_integer (total) || json_integer_value (total) == 0))
        printf ("no dead tasks\n");
    else if (json_is_integer (total))
        printf ("%s%zu of %" JSON_INTEGER_FORMAT " dead tasks shown\n", rows ? "\n" : "", rows,
                json_integer_value (total));
    return fflush (stdout) == 0 ? FLING_CLI_EXIT_OK : FLING_CLI_EXIT_FAIL;
}

static int print_count (const json_t *reply, const char *key)
{
    const json_t *count = json_object_get (reply, key);
    if (!json_is_integer (count)) {
        fprintf (stderr, "fling: the broker's reply has no \"%s\" count\n", key);
        return FLING_CLI_EXIT_FAIL;
    }
    printf ("%s %" JSON_INTEGER_FORMAT "\n", key, json_integer_value (count));
    return fflush (stdout) == 0 ? FLING_CLI_EXIT_OK : FLING_CLI_EXIT_FAIL;
}

/* Reads the reply; an {"error":...} one fails with its text. */
static int answer (const fling_cli_t *cli, bool list, const char *count_key, const char *text,
                   size_t size)
{
    json_error_t error;
    json_t *reply = json_loadb (text, size, 0, &error);
    if (!json_is_object (reply)) {
        fprintf (stderr, "fling: the broker's reply is not a JSON object: %s\n",
                 reply ? "other JSON type" : error.text);
        json_decref (reply);
        return FLING_CLI_EXIT_FAIL;
    }
    int rc;
    const json_t *err = json_object_get (reply, "error");
    if (err) {
        char buf[1024];
        fprintf (stderr, "fling: broker: %s\n",
                 json_is_string (err) ? json_string_value (err) : cell_text (err, buf, sizeof buf));
        rc = FLING_CLI_EXIT_FAIL;
    } else if (cli->json)
        rc = fling_cli_print_json (text, size);
    else
        rc = list ? print_list (reply) : print_count (reply, count_key);
    json_decref (reply);
    return rc;
}

int fling_cli_dead (const fling_cli_t *cli, const char *action)
{
    const char *op, *count_key = NULL;
    if (strcmp (action, "list") == 0)
        op = "dead_list";
    else if (strcmp (action, "retry") == 0)
        op = "dead_retry", count_key = "retried";
    else if (strcmp (action, "purge") == 0)
        op = "dead_purge", count_key = "purged";
    else
        return usage ("usage: fling dead list|retry|purge [--name NAME] [--id ID] [--all]");
    bool list = count_key == NULL;
    int rc = check (cli, list);
    if (rc)
        return rc;
    char *request = request_json (cli, op);
    if (!request) {
        fprintf (stderr, "fling: out of memory\n");
        return FLING_CLI_EXIT_FAIL;
    }
    char *reply;
    size_t size;
    rc = fling_cli_admin (cli, request, &reply, &size);
    if (rc == FLING_CLI_EXIT_OK)
        rc = answer (cli, list, count_key, reply, size);
    free (reply);
    free (request);
    return rc;
}

int fling_cli_queue (const fling_cli_t *cli, const char *action, const char *name)
{
    if (strcmp (action, "purge") != 0)
        return usage ("usage: fling queue purge NAME");
    if (!fling_name_valid (name, strlen (name)))
        return usage ("queue purge: not a valid task name");
    json_t *request = json_pack ("{ss ss}", "op", "queue_purge", "name", name);
    char *text = request ? json_dumps (request, JSON_COMPACT) : NULL;
    json_decref (request);
    if (!text) {
        fprintf (stderr, "fling: out of memory\n");
        return FLING_CLI_EXIT_FAIL;
    }
    char *reply;
    size_t size;
    int rc = fling_cli_admin (cli, text, &reply, &size);
    if (rc == FLING_CLI_EXIT_OK)
        rc = answer (cli, false, "purged", reply, size);
    free (reply);
    free (text);
    return rc;
}
