/* Links the installed worker library (compile and link check). */
#include <fling_worker.h>

static fling_status_t handler (fling_task_t *task, void *arg)
{
    return FLING_OK;
}

int main (void)
{
    fling_worker_t *worker = fling_worker_new (NULL);
    if (!worker)
        return 1;
    int rc = fling_worker_register_blocking (worker, "demo.task", handler, NULL);
    fling_worker_destroy (&worker);
    return rc == 0 ? 0 : 2;
}
