/*  fling_load_acks.c - see fling_load_acks.h.

    The ack callback runs on the producer's I/O thread and is the only
    writer of the ledger; the main thread's periodic flush touches the
    same FILE*, hence the mutex. The counters are C11 atomics.
*/
#include "fling_load_acks.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_proto.h"

struct fling_load_acks {
    char *ledger_path;
    FILE *ledger;
    pthread_mutex_t ledger_lock;
    atomic_uint_fast64_t accepted, rejected, dropped;
};

fling_load_acks_t *fling_load_acks_new (const char *ledger_path)
{
    fling_load_acks_t *self = (fling_load_acks_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->ledger_lock, NULL);
    if (!ledger_path)
        return self;
    self->ledger_path = strdup (ledger_path);
    self->ledger = fopen (ledger_path, "w");
    if (!self->ledger) {
        fprintf (stderr, "fling-load: cannot open ledger %s: %s\n", ledger_path, strerror (errno));
        fling_load_acks_destroy (&self);
        return NULL;
    }
    setvbuf (self->ledger, NULL, _IOFBF, 1 << 16);
    return self;
}

int fling_load_acks_destroy (fling_load_acks_t **self_p)
{
    fling_load_acks_t *self = *self_p;
    if (!self)
        return 0;
    int rc = 0;
    if (self->ledger && fclose (self->ledger) != 0) {
        fprintf (stderr, "fling-load: writing ledger %s: %s\n", self->ledger_path,
                 strerror (errno));
        rc = -1;
    }
    pthread_mutex_destroy (&self->ledger_lock);
    free (self->ledger_path);
    free (self);
    *self_p = NULL;
    return rc;
}

/* The broker's reason word for a refusal code, for the ledger. */
static const char *reason_word (int err)
{
    for (int reason = FLING_REASON_QUEUE_FULL; reason <= FLING_REASON_TOO_LARGE; reason++)
        if (fling_reason_errno (reason) == err)
            return fling_reason_name (reason);
    return err == FLING_EPROTO ? "PROTO" : "ERROR";
}

void fling_load_acks_on_ack (const char *task_id, fling_ack_t ack, int err, void *arg)
{
    fling_load_acks_t *self = (fling_load_acks_t *)arg;
    if (ack == FLING_ACK_ACCEPTED)
        atomic_fetch_add (&self->accepted, 1);
    else if (ack == FLING_ACK_REJECTED)
        atomic_fetch_add (&self->rejected, 1);
    else
        atomic_fetch_add (&self->dropped, 1);
    if (!self->ledger)
        return;
    pthread_mutex_lock (&self->ledger_lock);
    if (ack == FLING_ACK_ACCEPTED)
        fprintf (self->ledger, "accepted %s\n", task_id);
    else if (ack == FLING_ACK_REJECTED)
        fprintf (self->ledger, "rejected %s %s\n", task_id, reason_word (err));
    else
        fprintf (self->ledger, "dropped %s\n", task_id);
    pthread_mutex_unlock (&self->ledger_lock);
}

void fling_load_acks_flush (fling_load_acks_t *self)
{
    if (!self->ledger)
        return;
    pthread_mutex_lock (&self->ledger_lock);
    fflush (self->ledger);
    pthread_mutex_unlock (&self->ledger_lock);
}

uint64_t fling_load_acks_accepted (fling_load_acks_t *self)
{
    return atomic_load (&self->accepted);
}

uint64_t fling_load_acks_rejected (fling_load_acks_t *self)
{
    return atomic_load (&self->rejected);
}

uint64_t fling_load_acks_dropped (fling_load_acks_t *self)
{
    return atomic_load (&self->dropped);
}
