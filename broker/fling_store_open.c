/*  fling_store_open.c - picks a store by its kind: above both the store
    interface with its memory store (fling_store.c) and the disk store
    (fling_store_disk.c), which builds on that interface. */
#include "fling_store.h"

#include <errno.h>
#include <string.h>

bool fling_store_kind_valid (const char *kind)
{
    return kind && (strcmp (kind, "memory") == 0 || strcmp (kind, "disk") == 0);
}

fling_store_t *fling_store_open (const char *kind, const fling_store_options_t *options)
{
    if (!fling_store_kind_valid (kind)) {
        errno = EINVAL;
        return NULL;
    }
    if (strcmp (kind, "disk") == 0) {
        fling_store_options_t defaults;
        fling_store_options_init (&defaults);
        return fling_store_disk_open (options ? options : &defaults);
    }
    return fling_store_memory_open ();
}
