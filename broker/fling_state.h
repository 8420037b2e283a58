/*  fling_state.h - the broker's tables, as its modules read them.

    Not an API, and no code: the struct that the loop (fling_broker.c)
    owns and passes to the modules it calls. Data flows one way: the loop
    calls intake (fling_producers), the worker table (fling_workers,
    fling_reaper), dispatch (fling_dispatch, fling_deliver), the doors
    (fling_access) and admin (fling_admin, fling_lookup, fling_ops,
    fling_metrics); these call the layers below them: task placement
    (fling_tasks), the name table (fling_names), sending (fling_wire);
    none calls back into the loop. Recovery (fling_recover) fills the
    tables at start. fling_suspects.c (groups of suspects) is a module of
    its own that they use.
*/
#ifndef FLING_STATE_H_INCLUDED
#define FLING_STATE_H_INCLUDED

#include "fling_auth.h"
#include "fling_broker_config.h"
#include "fling_conns.h"
#include "fling_dedup.h"
#include "fling_events.h"
#include "fling_histogram.h"
#include "fling_idmap.h"
#include "fling_keys.h"
#include "fling_limits.h"
#include "fling_owners.h"
#include "fling_proto.h"
#include "fling_queue.h"
#include "fling_store.h"
#include "fling_suspects.h"

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*  The broker (fling_broker.h names it; this is its inside). Declared here
    again, not by including fling_broker.h: the modules below the loop
    must not depend on the loop's file. */
typedef struct fling_broker fling_broker_t;

#define FLING_ROUTING_ID_MAX     255          /* libzmq's limit for a routing id */
#define FLING_BROKER_DRAIN_MAX   1000         /* messages read per socket per turn */
#define FLING_DISPATCH_BYTES_MAX (256 * 1024) /* record bytes in one DISPATCH */
#define FLING_DELAY_MAX_MS       (1u << 30)   /* `due` wraps at 2^32 ms: stay far below */
#define FLING_TASKPOOL_BYTES     (4u << 20)   /* freed task blocks kept for reuse */

/*  Who sent a message: the ROUTER routing id, kept by value so a reply
    never needs a frame; the file descriptor of its connection (-1 if
    unknown), so the broker can close it (fling_conns); and with CURVE the
    key it authenticated with (NULL without). */
typedef struct {
    uint8_t bytes[FLING_ROUTING_ID_MAX];
    uint8_t size;
    int fd;
    const fling_principal_t *principal;
} fling_peer_t;

#define FLING_PEER_HEX_SIZE (2 * FLING_ROUTING_ID_MAX + 1)

typedef struct {
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected;
    uint64_t dispatched;
    uint64_t done;
    uint64_t failed;
    uint64_t retried;
    uint64_t requeued;
    uint64_t stale_results;
    uint64_t worker_lost; /* workers declared dead: silence or a dead connection */
    uint64_t router_unroutable;
    uint64_t dead_lettered;   /* tasks moved to the dead-letter queue, any reason */
    uint64_t crashed;         /* crashes charged: a worker died holding only that task */
    uint64_t suspected;       /* tasks put in a suspect group by a worker's death */
    uint64_t trials;          /* trials sent: suspects run on a worker holding nothing else */
    uint64_t probes;          /* PINGs sent to find out if a silent worker is gone */
    uint64_t timed_out;       /* TIMEOUT results + lease deadlines passed */
    uint64_t lease_expired;   /* of which the broker's lease deadline */
    uint64_t store_full;      /* tasks refused STORE_FULL */
    uint64_t unavailable;     /* tasks refused UNAVAILABLE */
    uint64_t holding_leased;  /* HOLDING leases applied */
    uint64_t holding_ignored; /* HOLDING leases that matched nothing */
    uint64_t dead_retried;
    uint64_t dead_purged;
    uint64_t forbidden_ids;  /* tasks refused: id prefix not the sending key's tag */
    uint64_t producer_full;  /* tasks refused QUEUE_FULL: their key holds its share */
    uint64_t names_refused;  /* names a READY or SUBMIT could not add */
    uint64_t names_freed;    /* names forgotten: no task, no worker */
    uint64_t credit_capped;  /* READY/CAPACITY asking more than --max-worker-credit */
    uint64_t deaf_closed;    /* peers closed for not reading what they asked for */
    uint64_t queue_purged;   /* tasks removed by queue_purge */
    uint64_t key_duplicates; /* tasks refused DUPLICATE: their unique key was held */
} fling_broker_counters_t;

/*  The retry set: a pairing min-heap of DELAYED tasks keyed on `due`,
    threaded through their links (fling_tasks.c). */
typedef struct {
    fling_btask_t *root;
    size_t count;
    /* While many tasks enter at once (recovery, fling_tasks_bulk_begin):
       trees of 2^i tasks, melded like a binary counter, so the heap is
       balanced when they join it and no pop has to pair them all. */
    fling_btask_t *ranks[64];
    bool bulk;
} fling_delayheap_t;

/*  A registered worker, keyed by its routing id. */
struct fling_bworker {
    fling_peer_t peer;
    char key[FLING_PEER_HEX_SIZE]; /* routing id in hex: the table key */
    char name[FLING_NAME_MAX + 1]; /* printable copy of the READY name */
    uint32_t pid;
    uint8_t version; /* its READY's: what it is sent in */
    uint32_t capacity[FLING_CLASS_COUNT];
    /* The most tasks it said it runs at once since its READY: if it dies,
       that many of its oldest leases per class count as running, the rest
       were waiting (prefetch). The largest, not the last: a drain's
       CAPACITY(0, 0) does not stop what already runs. */
    uint32_t slots[FLING_CLASS_COUNT];
    uint32_t inflight[FLING_CLASS_COUNT];
    /* Leases that passed their deadline without a word from it: their
       DISPATCH may still sit unread in its queue, so they keep counting
       against its credit until a result comes back for one (security:
       a worker never holds more than its credit there). */
    uint32_t stuck[FLING_CLASS_COUNT];
    uint64_t done;
    int64_t last_seen_ms;
    int64_t probed_ms; /* last probe PING (fling_reaper_reap) */
    /* FLP/1.1: the highest result_seq read from it, and the highest
       acknowledged (RESULT_ACK goes out after the turn's store commit). */
    uint64_t result_seq_seen;
    uint64_t result_seq_acked;
    fling_tasklist_t leased; /* tasks it holds, oldest first */
    /* A prover runs trials of suspects (fling_dispatch.c) and nothing else:
       it gets no other work, and a trial goes out only once it holds
       nothing. `trial`: tasks of the trial it was sent last (0 = none yet);
       while it holds any of them, its leases are exactly that trial's. */
    bool prover;
    uint32_t trial;
    size_t reg_count;
    struct {
        fling_queue_t *queue;
        uint8_t cls;
    } regs[FLING_NAMES_MAX]; /* names it serves */
};

struct pending_ack;     /* fling_producers.c */
struct fling_ops;       /* fling_ops.c */
struct fling_schedules; /* fling_schedules.c */

/*  A DISPATCH built this turn, sent once the store commit has made its
    leases durable (fling_deliver_send). */
typedef struct {
    fling_bworker_t *worker;
    zmsg_t *msg;
    uint32_t count; /* its tasks: the last `count` of the worker's leases */
} fling_held_dispatch_t;

struct fling_broker {
    fling_broker_config_t config;
    zsock_t *producer_sock;
    zsock_t *worker_sock;
    fling_auth_t *auth;     /* CURVE keys and roles; NULL = CURVE off */
    fling_limits_t *limits; /* per producer key (CURVE) and the name log */
    fling_owners_t *owners; /* CURVE: the key that held a dead worker's tasks */
    bool names_sweep;       /* a name may have lost its last task or worker */
    int64_t names_swept_ms;
    size_t names_swept_last; /* names the last sweep freed */
    fling_conns_t *conns;    /* connections and their limits */
    atomic_int rescan;       /* SIGHUP: read the allowed directory again */
    int64_t next_rescan_ms;
    int64_t next_tick_ms;                       /* connection timeouts */
    char producer_endpoint[FLING_ENDPOINT_MAX]; /* as bound */
    char worker_endpoint[FLING_ENDPOINT_MAX];
    fling_store_t *store;
    bool store_dirty;   /* something staged since the last commit */
    bool store_failed;  /* a commit or write failed: read-only until restart */
    bool shutting_down; /* stop requested: refuse SUBMITs (UNAVAILABLE) */

    fling_delayheap_t delayed; /* tasks waiting for their retry time */
    fling_tasklist_t parked;   /* recovered in-flight tasks waiting for HOLDING */
    int64_t parked_until_ms;   /* then they are queued */
    fling_dedup_t *dedup;      /* ids of tasks that ended recently */
    fling_keys_t *keys;        /* unique keys held (fling_unique.c) */
    bool keys_used;            /* a key was ever held: tasks' ends look them up */
    uint64_t rng;              /* jitter */

    fling_suspects_t *suspects; /* groups waiting for a trial (fling_dispatch.c) */
    size_t provers;             /* workers with `prover` set */

    fling_blockpool_t *pool; /* freed task blocks, shared by every queue */
    fling_idmap_t *ids;      /* every task held, by id */
    uint64_t bytes;          /* record bytes held */
    zhashx_t *queue_index;   /* name -> fling_queue_t */
    fling_queue_t **queues;  /* same queues, in creation order */
    size_t queue_count;
    size_t queue_alloc;
    size_t dispatch_cursor; /* queue dispatch starts from, rotating */
    bool dispatch_needed;   /* tasks or credit changed since the last dispatch */
    int64_t rate_wake_ms;   /* a rate-limited name gets its next token then; 0 = none */
    bool results_to_ack;    /* a worker sent a RESULT this turn (fling_workers_ack_results) */

    zhashx_t *workers; /* hex routing id -> fling_bworker_t */

    struct pending_ack *acks[FLING_BROKER_DRAIN_MAX]; /* SUBMITs of this turn */
    size_t ack_count;
    fling_held_dispatch_t *held; /* DISPATCHes of this turn, in the order built */
    size_t held_count;
    size_t held_alloc;

    fling_broker_counters_t counters;
    uint64_t refused[FLING_REASON_MAX];       /* messages refused, by reason */
    uint64_t refused_quiet[FLING_REASON_MAX]; /* refusals not logged yet */
    int64_t refused_logged_ms[FLING_REASON_MAX];
    uint64_t rejected[FLING_REASON_MAX]; /* tasks refused in ACKs, by status */
    struct fling_ops *ops;         /* HTTP port, connection counts, orphan queues (fling_ops.h) */
    fling_histogram_t commit_time; /* store commits (write + fdatasync), for the metrics */
    fling_events_t *events;        /* lifecycle events while someone reads them */
    struct fling_schedules *schedules; /* periodic schedules (fling_schedules.h) */

    int64_t started_ms;
    bool store_had_records; /* a restart: the last run may have spent rate tokens */
    int64_t now_ms;         /* clock at the start of this turn */
    int64_t wall_ms;        /* wall clock of this turn for the store; 0 = not read yet */
    int64_t next_reap_ms;
    atomic_int stopping; /* set by fling_broker_stop, any thread */
};

/*  The wall clock of this turn (read once per turn, when first needed). */
static inline int64_t fling_state_wall_ms (fling_broker_t *self)
{
    if (!self->wall_ms)
        self->wall_ms = fling_store_wall_ms ();
    return self->wall_ms;
}

/*  Lifecycle events (fling_events.h): recorded only while someone reads
    them; otherwise one comparison. */
#define FLING_EVENT_TASK(self, kind, task, worker_name)                                            \
    do {                                                                                           \
        if (fling_events_on ((self)->events, (self)->now_ms))                                      \
            fling_events_task ((self)->events, (kind), (task), (worker_name),                      \
                               fling_state_wall_ms (self));                                        \
    } while (0)
#define FLING_EVENT_WORKER(self, kind, worker)                                                     \
    do {                                                                                           \
        if (fling_events_on ((self)->events, (self)->now_ms))                                      \
            fling_events_worker ((self)->events, (kind), (worker)->name, (worker)->pid,            \
                                 fling_state_wall_ms (self));                                      \
    } while (0)

/*  Wrapping millisecond times in fling_btask_t.due. */
static inline uint32_t fling_due_in (int64_t now_ms, uint32_t delay_ms)
{
    return (uint32_t)((uint64_t)now_ms + delay_ms);
}

static inline bool fling_due_passed (uint32_t due, int64_t now_ms)
{
    return (int32_t)((uint32_t)now_ms - due) >= 0;
}

#endif
