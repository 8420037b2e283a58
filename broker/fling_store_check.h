/*  fling_store_check.h - offline replay of a disk store (fling-broker --check-store). */
#ifndef FLING_STORE_CHECK_H_INCLUDED
#define FLING_STORE_CHECK_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

/*  Prints the JSON summary (and with list_ids, one live task id a line,
    " dead" after dead-lettered ones) to `out`. Returns the exit status:
    0 for a sound store (a torn tail is not damage), 2 if it found damage
    (corrupt records, segments not read in full, quarantined files), 1 if
    the store cannot be checked (no such directory, a broker running on
    it, an unreadable segment, out of memory). */
int fling_store_check (const char *dir, bool list_ids, FILE *out);

#endif
