/*  fling_top.c - `fling top`: the broker's queues, rates and workers,
    redrawn in place every second, like top(1).

    One DEALER asks {"op":"stats"} each interval; rates are the differences
    of the broker's counters between two answers. Plain ANSI escapes (home,
    erase line, alternate screen), nothing else, so it works in any
    terminal and over SSH. 'q' or Ctrl-C ends it and puts the terminal back
    as it was. On a pipe (not a terminal) it prints each frame after the
    last, without escapes.
*/
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fling_cli.h"
#include "fling_log.h"

#define FRAME_LINES_MAX 200

static volatile sig_atomic_t stop_requested;

static void on_signal (int signum)
{
    (void)signum;
    stop_requested = 1;
}

static void on_winch (int signum)
{
    (void)signum; /* wakes poll(): the next frame takes the new size */
}

/* ---- the terminal ----------------------------------------------------------- */

typedef struct {
    bool tty;             /* stdout is a terminal: draw in place */
    bool raw;             /* stdin switched to raw mode (restore it) */
    struct termios saved; /* stdin's mode before */
    int rows, cols;
} screen_t;

static void screen_size (screen_t *screen)
{
    struct winsize size;
    screen->rows = 24;
    screen->cols = 80;
    if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row && size.ws_col) {
        screen->rows = size.ws_row;
        screen->cols = size.ws_col;
    }
}

static void screen_open (screen_t *screen)
{
    memset (screen, 0, sizeof *screen);
    screen->tty = isatty (STDOUT_FILENO);
    screen_size (screen);
    if (!screen->tty)
        return;
    if (isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &screen->saved) == 0) {
        struct termios raw = screen->saved;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        screen->raw = tcsetattr (STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    fputs ("\033[?1049h\033[?25l", stdout); /* alternate screen, cursor hidden */
    fflush (stdout);
}

static void screen_close (screen_t *screen)
{
    if (!screen->tty)
        return;
    fputs ("\033[?25h\033[?1049l", stdout);
    fflush (stdout);
    if (screen->raw)
        tcsetattr (STDIN_FILENO, TCSANOW, &screen->saved);
}

/* Draws `lines` (each without a newline), cut to the screen. */
static void screen_draw (screen_t *screen, char lines[][512], int count)
{
    if (!screen->tty) {
        for (int i = 0; i < count; i++)
            printf ("%s\n", lines[i]);
        printf ("\n");
        fflush (stdout);
        return;
    }
    screen_size (screen);
    fputs ("\033[H", stdout);
    for (int i = 0; i < count && i < screen->rows; i++) {
        int width = (int)strlen (lines[i]) < screen->cols ? (int)strlen (lines[i]) : screen->cols;
        printf ("%.*s\033[K%s", width, lines[i], i + 1 < screen->rows ? "\r\n" : "");
    }
    fputs ("\033[J", stdout);
    fflush (stdout);
}

/* Waits up to `ms` for 'q' (true) while signals may end the wait. */
static bool wait_for_quit (screen_t *screen, int ms)
{
    int64_t until = fling_clock_ms () + ms;
    while (!stop_requested) {
        int64_t left = until - fling_clock_ms ();
        if (left <= 0)
            return false;
        struct pollfd item = {.fd = STDIN_FILENO, .events = POLLIN};
        int rc = poll (&item, screen->raw ? 1 : 0, (int)left);
        if (rc < 0 && errno == EINTR)
            return false; /* a signal: a resize redraws now, a stop ends */
        char key;
        if (rc > 0 && read (STDIN_FILENO, &key, 1) == 1 && (key == 'q' || key == 'Q'))
            return true;
    }
    return true;
}

/* ---- one frame ---------------------------------------------------------------- */

typedef struct {
    char (*lines)[512];
    int count;
} frame_t;

static void add (frame_t *frame, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void add (frame_t *frame, const char *format, ...)
{
    if (frame->count == FRAME_LINES_MAX)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (frame->lines[frame->count++], 512, format, args);
    va_end (args);
}

static json_int_t num (const json_t *object, const char *key)
{
    return json_integer_value (json_object_get (object, key));
}

/* (now - before) / seconds of `key` in two objects; -1 without a before. */
static double rate (const json_t *now, const json_t *before, const char *key, double seconds)
{
    if (!before || seconds <= 0)
        return -1;
    return (double)(num (now, key) - num (before, key)) / seconds;
}

static const char *rate_text (double value, char *out, size_t size)
{
    if (value < 0)
        snprintf (out, size, "-");
    else
        snprintf (out, size, "%.1f", value);
    return out;
}

static const json_t *find_by (const json_t *array, const char *key, const char *value,
                              json_int_t pid)
{
    size_t i;
    json_t *item;
    json_array_foreach (array, i, item)
    {
        const char *name = json_string_value (json_object_get (item, key));
        if (name && strcmp (name, value) == 0 && (pid < 0 || num (item, "pid") == pid))
            return item;
    }
    return NULL;
}

static void header (frame_t *frame, const fling_cli_t *cli, const json_t *stats,
                    const json_t *before, double seconds)
{
    long long up = (long long)num (stats, "uptime_ms") / 1000;
    const json_t *store = json_object_get (stats, "store");
    char clock[16];
    time_t now = time (NULL);
    struct tm utc;
    gmtime_r (&now, &utc);
    strftime (clock, sizeof clock, "%H:%M:%SZ", &utc);
    add (frame, "fling top  %s  up %lldd %02lldh %02lldm %02llds  %s  (q quits)", cli->endpoint,
         up / 86400, up / 3600 % 24, up / 60 % 60, up % 60, clock);
    add (frame,
         "held %" JSON_INTEGER_FORMAT " tasks (%.1f KiB)  dead %" JSON_INTEGER_FORMAT
         "  delayed %" JSON_INTEGER_FORMAT "  store %s %.1f MiB, %" JSON_INTEGER_FORMAT
         " segments%s%s",
         num (stats, "tasks"), (double)num (stats, "bytes") / 1024, num (stats, "dead"),
         num (stats, "delayed"), json_string_value (json_object_get (store, "kind")),
         (double)num (store, "bytes_on_disk") / (1 << 20), num (store, "segments"),
         json_is_true (json_object_get (store, "full")) ? "  FULL" : "",
         json_is_true (json_object_get (store, "failed")) ? "  FAILED (read-only)" : "");
    const json_t *c = json_object_get (stats, "counters");
    const json_t *b = before ? json_object_get (before, "counters") : NULL;
    char r[6][32];
    add (frame,
         "per second: accepted %s  done %s  retried %s  timed out %s  crashed %s  dead-lettered %s",
         rate_text (rate (c, b, "accepted", seconds), r[0], 32),
         rate_text (rate (c, b, "done", seconds), r[1], 32),
         rate_text (rate (c, b, "retried", seconds), r[2], 32),
         rate_text (rate (c, b, "timed_out", seconds), r[3], 32),
         rate_text (rate (c, b, "crashed", seconds), r[4], 32),
         rate_text (rate (c, b, "dead_lettered", seconds), r[5], 32));
}

static int by_backlog (const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    json_int_t bx = num (x, "queued") + num (x, "inflight"),
               by = num (y, "queued") + num (y, "inflight");
    if (bx != by)
        return bx < by ? 1 : -1;
    return strcmp (json_string_value (json_object_get (x, "name")),
                   json_string_value (json_object_get (y, "name")));
}

static void queues (frame_t *frame, const json_t *stats, const json_t *before, double seconds,
                    int room)
{
    const json_t *list = json_object_get (stats, "queues");
    size_t count = json_array_size (list);
    add (frame, "%s", "");
    add (frame, "%-28s %9s %9s %8s %7s %9s %7s", "QUEUE", "QUEUED", "INFLIGHT", "DELAYED", "DEAD",
         "DONE/s", "WORKERS");
    const json_t **sorted = (const json_t **)calloc (count ? count : 1, sizeof *sorted);
    if (!sorted)
        return;
    for (size_t i = 0; i < count; i++)
        sorted[i] = json_array_get (list, i);
    qsort (sorted, count, sizeof *sorted, by_backlog);
    size_t shown = 0;
    for (; shown < count && (int)shown < room; shown++) {
        const json_t *q = sorted[shown];
        const char *name = json_string_value (json_object_get (q, "name"));
        const json_t *was =
            before ? find_by (json_object_get (before, "queues"), "name", name, -1) : NULL;
        char done[32];
        bool orphan =
            num (q, "queued") > 0 && json_object_get (q, "workers") && num (q, "workers") == 0;
        add (frame,
             "%-28.28s %9" JSON_INTEGER_FORMAT " %9" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT
             " %7" JSON_INTEGER_FORMAT " %9s %7" JSON_INTEGER_FORMAT "%s",
             name, num (q, "queued"), num (q, "inflight"), num (q, "delayed"), num (q, "dead"),
             rate_text (was ? rate (q, was, "done", seconds) : -1, done, sizeof done),
             num (q, "workers"), orphan ? "  no worker!" : "");
    }
    if (shown < count)
        add (frame, "... %zu more queues", count - shown);
    free (sorted);
}

static void workers (frame_t *frame, const json_t *stats, const json_t *before, double seconds)
{
    const json_t *list = json_object_get (stats, "workers");
    add (frame, "%s", "");
    add (frame, "%-20s %8s %11s %11s %9s  %s", "WORKER", "PID", "POOL in/cap", "LOOP in/cap",
         "DONE/s", "NAMES");
    size_t i;
    json_t *w;
    json_array_foreach (list, i, w)
    {
        const char *name = json_string_value (json_object_get (w, "name"));
        const json_t *was =
            before ? find_by (json_object_get (before, "workers"), "name", name, num (w, "pid"))
                   : NULL;
        const json_t *cap = json_object_get (w, "capacity"), *in = json_object_get (w, "inflight");
        char pool[32], loop[32], done[32], names[256] = "";
        snprintf (pool, sizeof pool, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                  num (in, "pool"), num (cap, "pool"));
        snprintf (loop, sizeof loop, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                  num (in, "loop"), num (cap, "loop"));
        size_t j, used = 0;
        json_t *n;
        json_array_foreach (json_object_get (w, "names"), j, n)
        {
            int wrote = snprintf (names + used, sizeof names - used, "%s%s", j ? "," : "",
                                  json_string_value (n));
            if (wrote < 0 || (size_t)wrote >= sizeof names - used)
                break;
            used += (size_t)wrote;
        }
        add (frame, "%-20.20s %8" JSON_INTEGER_FORMAT " %11s %11s %9s  %s", name, num (w, "pid"),
             pool, loop, rate_text (was ? rate (w, was, "done", seconds) : -1, done, sizeof done),
             names);
    }
    if (json_array_size (list) == 0)
        add (frame, "no workers");
}

/* ---- the loop ------------------------------------------------------------------- */

int fling_cli_top (const fling_cli_t *cli, unsigned interval_ms, unsigned count)
{
    zsock_t *sock = fling_cli_connect (cli);
    if (!sock)
        return FLING_CLI_EXIT_FAIL;
    signal (SIGINT, on_signal);
    signal (SIGTERM, on_signal);
    struct sigaction winch = {.sa_handler = on_winch}; /* no SA_RESTART: poll returns */
    sigaction (SIGWINCH, &winch, NULL);
    screen_t screen;
    screen_open (&screen);
    char (*lines)[512] = calloc (FRAME_LINES_MAX, 512);
    json_t *before = NULL;
    int64_t before_ms = 0;
    unsigned frames = 0;
    char error[1200] = "";
    while (lines && !stop_requested) {
        size_t size;
        int64_t asked_ms = fling_clock_ms ();
        char *reply = fling_cli_request (sock, "{\"op\":\"stats\"}",
                                         interval_ms < 2500 ? 5000 : 2 * interval_ms, &size, error,
                                         sizeof error);
        json_t *stats = reply ? json_loadb (reply, size, 0, NULL) : NULL;
        free (reply);
        frame_t frame = {.lines = lines};
        if (!json_is_object (stats) || json_object_get (stats, "error")) {
            add (&frame, "fling top  %s  broker not answering: %s", cli->endpoint,
                 stats ? "bad reply" : error);
            json_decref (stats);
            stats = NULL;
        } else {
            double seconds = before ? (double)(asked_ms - before_ms) / 1000 : 0;
            header (&frame, cli, stats, before, seconds);
            int room = screen.rows - frame.count - 6 -
                       (int)json_array_size (json_object_get (stats, "workers"));
            queues (&frame, stats, before, seconds, room > 3 ? room : 3);
            workers (&frame, stats, before, seconds);
            json_decref (before);
            before = stats;
            before_ms = asked_ms;
        }
        screen_draw (&screen, lines, frame.count);
        if (count && ++frames >= count)
            break;
        int64_t left = interval_ms - (fling_clock_ms () - asked_ms);
        if (wait_for_quit (&screen, left > 0 ? (int)left : 0))
            break;
    }
    screen_close (&screen);
    json_decref (before);
    free (lines);
    zsock_destroy (&sock);
    return FLING_CLI_EXIT_OK;
}
