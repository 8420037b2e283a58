/* Uses the producer and the worker API, as a handler module that sends
   follow-up tasks does: an error set by one must read back through
   fling_last_error(). Built with fling::producer and fling::worker, with
   fling::fling and with pkg-config fling: all three are libfling. */
#include <errno.h>
#include <fling_producer.h>
#include <fling_worker.h>
#include <stdio.h>
#include <string.h>

static void handler (fling_task_t *task, void *arg)
{
    fling_task_complete (task, FLING_OK);
}

int main (void)
{
    fling_worker_t *worker = fling_worker_new (NULL);
    if (!worker)
        return 1;
    /* The worker library refuses the name... */
    if (fling_worker_register_async (worker, "bad name", handler, NULL) != -1 ||
        errno != FLING_EBADNAME)
        return 2;
    if (!strstr (fling_last_error (), "invalid task name"))
        return 3;
    /* ...then the producer library refuses a payload: the text follows. */
    if (fling_task_validate ("demo.task", "{\n x}", 5) == 0 || errno != FLING_EBADJSON)
        return 4;
    if (!strstr (fling_last_error (), "line 2")) /* the detail, not just errno's text */
        return 5;
    /* The library's log: a bad level changes nothing and says why. */
    if (fling_log_configure (NULL, "loud", NULL) != -1 || errno != EINVAL ||
        !strstr (fling_last_error (), "\"loud\""))
        return 6;
    if (fling_log_configure ("consumer", "warn", "logfmt") != 0)
        return 7;
    fling_worker_destroy (&worker);
    printf ("producer and worker share one error state: %s\n", fling_last_error ());
    return 0;
}
