/*  fling_store_lock.h - one broker per store directory.

    Two brokers appending to one log overwrite each other's records and
    never see each other's tasks: acknowledged tasks are lost in silence.
    So the disk store holds a lock on the file "broker.lock" in its
    directory for as long as it is open:

    - a broker takes it exclusive; a second broker (another process,
      another container on the same volume, or the same process twice)
      is refused at once;
    - the offline checker (fling-broker --check-store) takes it shared,
      so it never reads a log that a broker is writing, and a broker
      never starts while a check runs;
    - it is an flock(2) lock: the kernel drops it when its holder dies,
      however it dies, so a SIGKILLed broker never blocks its own restart.
      Not fcntl(F_SETLK): those locks vanish when the process closes ANY
      descriptor of the file, and are shared by a process's threads.

    The exclusive holder writes "pid=<pid> host=<hostname>" into the file
    (never synced: it only names the holder for the refusal message; the
    pid is as seen in the holder's own pid namespace, e.g. 1 in a
    container). The lock works where flock does between the processes
    involved: one kernel (local disks, bind mounts and Docker volumes
    shared by containers). On NFS it relies on the server's lock manager.
*/
#ifndef FLING_STORE_LOCK_H_INCLUDED
#define FLING_STORE_LOCK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define FLING_STORE_LOCK_FILE "broker.lock"

typedef struct fling_store_lock fling_store_lock_t;

/*  Locks `dir` (exclusive, or shared when `shared`). An exclusive lock
    creates the directory and the lock file if needed; a shared one creates
    nothing: with no lock file it returns a lock that holds nothing (no
    broker of this version ever opened the directory).
    NULL + errno on failure: EBUSY when another process holds it, with a
    sentence for the operator in `error` naming the directory and, where
    the lock file tells, the holder's pid and host. */
fling_store_lock_t *fling_store_lock_new (const char *dir, bool shared, char *error,
                                          size_t error_size);

/*  Releases the lock (the file stays). */
void fling_store_lock_destroy (fling_store_lock_t **self_p);

#endif
