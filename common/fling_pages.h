/*  fling_pages.h - anonymous memory mapped in whole pages.

    For buffers that must stay out of the malloc heap: the worker's async
    task slabs (fling_blockpool.c) and its RESULT buffers (fling_results.c).
    A large malloc on the worker's loop thread makes glibc consolidate every
    small free chunk its heap holds, and blocks malloc'd between zloop's
    timers spread them over more cache lines (bench/README.md, W3).
*/
#ifndef FLING_PAGES_H
#define FLING_PAGES_H

#include <stdbool.h>
#include <stddef.h>

/*  Maps at least *size bytes, read-write, zero-filled; *size becomes the
    mapped size (whole pages). populate: fault the pages in now, in one
    call, instead of one fault per page on first touch (~1.5 us each on a
    VM). NULL + ENOMEM. */
void *fling_pages_map (size_t *size, bool populate);

/*  Unmaps what fling_pages_map returned, with the size it reported.
    NULL-safe. */
void fling_pages_unmap (void *map, size_t size);

#endif
