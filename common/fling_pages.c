/*  fling_pages.c - see fling_pages.h. */
#include "fling_pages.h"

#include <errno.h>
#include <sys/mman.h>

#define PAGE 4096u

void *fling_pages_map (size_t *size, bool populate)
{
    size_t bytes = (*size + PAGE - 1) & ~(size_t)(PAGE - 1);
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0);
    void *map = mmap (NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (map == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    *size = bytes;
    return map;
}

void fling_pages_unmap (void *map, size_t size)
{
    if (map)
        munmap (map, size);
}
