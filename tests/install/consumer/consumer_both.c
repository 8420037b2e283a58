/* Links both installed libraries, as a handler module that sends follow-up
   tasks does: an error set through one must read back through
   fling_last_error(), whichever library the call resolves to. */
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
    fling_worker_destroy (&worker);
    printf ("both libraries share one error state: %s\n", fling_last_error ());
    return 0;
}
