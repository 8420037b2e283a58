/*  fling_store_check.h - offline replay of a disk store (fling-broker --check-store). */
#ifndef FLING_STORE_CHECK_H_INCLUDED
#define FLING_STORE_CHECK_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

/*  Prints the JSON summary (and with list_ids, one live task id a line,
    " dead" after dead-lettered ones) to `out`. Returns the exit status:
    0, or 1 if the store cannot be opened or replayed. */
int fling_store_check (const char *dir, bool list_ids, FILE *out);

#endif
