/* Links the installed producer library: validates, creates and destroys a
   producer (no broker needed), exits 0 when the API behaves. */
#include <fling_producer.h>
#include <stdio.h>

int main (void)
{
    if (fling_task_validate ("demo.task", "{\"a\":1}", 7) != 0)
        return 1;
    if (fling_task_validate ("bad name", "{}", 2) == 0)
        return 2;
    fling_producer_options_t options;
    fling_producer_options_init (&options);
    options.endpoint = "tcp://127.0.0.1:1";
    options.linger_ms = 0;
    fling_producer_t *producer = fling_producer_new (&options);
    if (!producer || fling_send (producer, "demo.task", "{\"a\":1}") != 0)
        return 3;
    fling_producer_destroy (&producer);
    printf ("installed producer library works: %s\n", fling_strerror (FLING_EBADJSON));
    return 0;
}
