/*  fling_fdreserve.h - file descriptors held back for the store.

    Connections take descriptors as fast as peers open them; libzmq accepts
    them on its own thread, a moment before the broker can count and close
    the excess (fling_conns). The store must never be the one that finds
    the table full: a segment it cannot open would refuse tasks it could
    store. So the broker keeps a few descriptors open on /dev/null and the
    store's open() gives one back when the process is out of them.
    Process-wide and single-threaded (the broker's thread).
*/
#ifndef FLING_FDRESERVE_H_INCLUDED
#define FLING_FDRESERVE_H_INCLUDED

#include <sys/types.h>

#define FLING_FDRESERVE_COUNT 16

/*  Tops the reserve up to FLING_FDRESERVE_COUNT descriptors (as far as the
    process has them). Cheap when full: call it every turn. */
void fling_fdreserve_fill (void);

/*  open(2); on EMFILE or ENFILE closes one reserved descriptor and tries
    once more. */
int fling_fdreserve_open (const char *path, int flags, mode_t mode);

/*  Closes every reserved descriptor (at exit). */
void fling_fdreserve_release (void);

/*  Descriptors held now. */
int fling_fdreserve_held (void);

#endif
